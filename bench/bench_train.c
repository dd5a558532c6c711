/* Training-step benchmark, tinytrain side (bench/bench_train_torch.py is the PyTorch side; `make
   bench-train` runs both alternately and combines medians with bench/bench_train.sh).

   Usage: bench_train [--gpu] [--flush-denormals] [threads [seconds [case]]]
   For every case (or just `case`) prints one line "RESULT <case> <threads> <steps/s> <vcs> <ivcs>"
   (vcs, ivcs: voluntary and involuntary context switches of the process per step, getrusage).
   --flush-denormals runs with tt_desc.flush_denormals = 1 and names the cases <case>_ftz.
   --gpu puts each context on the GPU (tt_ctx_use_gpu: needs tinytrain_cuda.cu linked and TT_CUDA
   defined, see `make bench-cuda`); a case with an op that does not run there prints
   "SKIP <case>: <why>". With --gpu every step ends by reading the loss (one synchronisation),
   as bench_train_torch.py --gpu does with loss.item().
   A step is the full training step: tt_scratch_reset, forward, loss, tt_zero_grad, tt_backward,
   tt_optim_step. Inputs and targets are fixed random data made once (as the PyTorch side).

   Cases (same shapes as the PyTorch side, float32):
     mlp_sgdm   MLP 784-256-128-10, relu, batch 64, cross-entropy, SGD lr 0.01 momentum 0.9
     mlp_adamw  the same with AdamW lr 1e-3
     cnn        28x28x1 batch 32: conv3x3 16 (pad 1) + batchnorm + relu + maxpool 2 + conv3x3 32
                (pad 1) + relu + global avg pool + linear 10, cross-entropy, SGD momentum 0.9
     tf         one pre-LN transformer block, vocab 256, T 64, C 128, 4 heads, batch 8: token +
                position embedding, layernorm, q/k/v linears, causal attention, proj, layernorm,
                gelu MLP (4C), final layernorm, head, cross-entropy; AdamW lr 1e-3 */
#define _DEFAULT_SOURCE
#define TINYTRAIN_IMPLEMENTATION
#include "tinytrain.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

/* context switches of the whole process (all threads) so far: voluntary (a thread blocked, e.g.
   a pool worker going to sleep or the caller waiting for one) and involuntary (preempted) */
static void ctxsw(long *vol, long *invol) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *vol = ru.ru_nvcsw;
    *invol = ru.ru_nivcsw;
}

/* parallel regions, worker sleeps, caller sleeps so far (zeros without threads) */
static void pool_counters(tt_ctx *ctx, unsigned long *c) {
    c[0] = c[1] = c[2] = 0;
#ifndef TT_NO_THREADS
    if (ctx->gemm) { c[0] = ctx->gemm->regions; c[1] = ctx->gemm->worker_sleeps; c[2] = ctx->gemm->caller_sleeps; }
#else
    (void)ctx;
#endif
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct model {
    tt_ctx ctx;
    tt_optim opt;
    tt_tensor *p[32];
    int np;
    tt_tensor *rm, *rv;      /* cnn batchnorm buffers */
    float *x;                /* input data */
    int *ids, *y;            /* token ids (tf), targets */
    size_t ny;               /* number of targets */
    int kind;                /* 0 mlp, 1 cnn, 2 tf */
    tt_tensor *loss;         /* of the last step */
} model;

static tt_tensor *P(model *m, const char *name, int ndim, int s0, int s1, int s2, int s3, int fan_in) {
    int s[4];
    tt_tensor *t;
    s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3;
    t = tt_param(&m->ctx, name, ndim, s);
    if (t) tt_init_uniform(&m->ctx, t, -1.0f / sqrtf((float)fan_in), 1.0f / sqrtf((float)fan_in)); /* torch's bound */
    m->p[m->np++] = t;
    return t;
}

static void fill(tt_rng *r, float *v, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) v[i] = tt_rng_normal(r);
}

enum { MB = 64, CB = 32, TB = 8, TT_ = 64, TC = 128, TH = 4, TV = 256 };

static int flush_denormals; /* --flush-denormals */

static int setup(model *m, const char *name, int threads) {
    tt_desc d;
    tt_optim_desc od;
    tt_rng r;
    int i;
    memset(m, 0, sizeof *m);
    memset(&d, 0, sizeof d);
    d.max_params = 1 << 20;
    d.scratch_bytes = (size_t)256 << 20;
    d.persist_bytes = (size_t)32 << 20;
    d.threads = threads;
    d.flush_denormals = flush_denormals;
    if (tt_ctx_init(&m->ctx, &d) != TT_OK) return 0;
    tt_rng_seed(&r, 1);
    memset(&od, 0, sizeof od);
    if (!strcmp(name, "mlp_sgdm") || !strcmp(name, "mlp_adamw")) {
        m->kind = 0;
        P(m, "w1", 2, 256, 784, 0, 0, 784); P(m, "b1", 1, 256, 0, 0, 0, 784);
        P(m, "w2", 2, 128, 256, 0, 0, 256); P(m, "b2", 1, 128, 0, 0, 0, 256);
        P(m, "w3", 2, 10, 128, 0, 0, 128); P(m, "b3", 1, 10, 0, 0, 0, 128);
        m->x = (float *)malloc(sizeof(float) * MB * 784);
        m->ny = MB;
        m->y = (int *)malloc(sizeof(int) * MB);
        fill(&r, m->x, (size_t)MB * 784);
        for (i = 0; i < MB; i++) m->y[i] = (int)(tt_rng_u32(&r) % 10);
        if (!strcmp(name, "mlp_sgdm")) { od = tt_optim_desc_init(TT_OPTIM_SGD); od.hp.lr = 0.01; od.hp.momentum = 0.9f; }
        else { od = tt_optim_desc_init(TT_OPTIM_ADAMW); od.hp.lr = 1e-3; }
    } else if (!strcmp(name, "cnn")) {
        int cs[1] = {16};
        m->kind = 1;
        P(m, "c1w", 4, 16, 1, 3, 3, 9); P(m, "c1b", 1, 16, 0, 0, 0, 9);
        P(m, "bnw", 1, 16, 0, 0, 0, 1); P(m, "bnb", 1, 16, 0, 0, 0, 1);
        tt_init_const(&m->ctx, m->p[2], 1.0f); tt_init_const(&m->ctx, m->p[3], 0.0f);
        P(m, "c2w", 4, 32, 16, 3, 3, 144); P(m, "c2b", 1, 32, 0, 0, 0, 144);
        P(m, "fcw", 2, 10, 32, 0, 0, 32); P(m, "fcb", 1, 10, 0, 0, 0, 32);
        m->rm = tt_buffer(&m->ctx, "rm", 1, cs);
        m->rv = tt_buffer(&m->ctx, "rv", 1, cs);
        if (m->rv) tt_init_const(&m->ctx, m->rv, 1.0f);
        m->x = (float *)malloc(sizeof(float) * CB * 28 * 28);
        m->ny = CB;
        m->y = (int *)malloc(sizeof(int) * CB);
        fill(&r, m->x, (size_t)CB * 28 * 28);
        for (i = 0; i < CB; i++) m->y[i] = (int)(tt_rng_u32(&r) % 10);
        od = tt_optim_desc_init(TT_OPTIM_SGD); od.hp.lr = 0.01; od.hp.momentum = 0.9f;
    } else if (!strcmp(name, "tf")) {
        m->kind = 2;
        P(m, "tok", 2, TV, TC, 0, 0, 1); P(m, "pos", 2, TT_, TC, 0, 0, 1);
        P(m, "l1w", 1, TC, 0, 0, 0, 1); P(m, "l1b", 1, TC, 0, 0, 0, 1);
        P(m, "qw", 2, TC, TC, 0, 0, TC); P(m, "qb", 1, TC, 0, 0, 0, TC);
        P(m, "kw", 2, TC, TC, 0, 0, TC); P(m, "kb", 1, TC, 0, 0, 0, TC);
        P(m, "vw", 2, TC, TC, 0, 0, TC); P(m, "vb", 1, TC, 0, 0, 0, TC);
        P(m, "pw", 2, TC, TC, 0, 0, TC); P(m, "pb", 1, TC, 0, 0, 0, TC);
        P(m, "l2w", 1, TC, 0, 0, 0, 1); P(m, "l2b", 1, TC, 0, 0, 0, 1);
        P(m, "fw", 2, 4 * TC, TC, 0, 0, TC); P(m, "fb", 1, 4 * TC, 0, 0, 0, TC);
        P(m, "f2w", 2, TC, 4 * TC, 0, 0, 4 * TC); P(m, "f2b", 1, TC, 0, 0, 0, 4 * TC);
        P(m, "lfw", 1, TC, 0, 0, 0, 1); P(m, "lfb", 1, TC, 0, 0, 0, 1);
        P(m, "hw", 2, TV, TC, 0, 0, TC); P(m, "hb", 1, TV, 0, 0, 0, TC);
        for (i = 0; i < m->np; i++) /* layernorm scales 1, shifts 0 */
            if (m->p[i] && m->p[i]->name[0] == 'l') tt_init_const(&m->ctx, m->p[i], m->p[i]->name[2] == 'w' ? 1.0f : 0.0f);
        m->ids = (int *)malloc(sizeof(int) * TB * TT_);
        m->ny = (size_t)TB * TT_;
        m->y = (int *)malloc(sizeof(int) * TB * TT_);
        for (i = 0; i < TB * TT_; i++) { m->ids[i] = (int)(tt_rng_u32(&r) % TV); m->y[i] = (int)(tt_rng_u32(&r) % TV); }
        od = tt_optim_desc_init(TT_OPTIM_ADAMW); od.hp.lr = 1e-3;
    } else {
        fprintf(stderr, "unknown case %s\n", name);
        return 0;
    }
    if (tt_optim_init(&m->ctx, &m->opt, &od) != TT_OK) return 0;
    return tt_error(&m->ctx) == TT_OK;
}

/* (B*T, C) -> (B, H, T, C/H) */
static tt_tensor *heads(tt_ctx *ctx, tt_tensor *t) {
    int s[4] = {TB, TT_, TH, TC / TH}, perm[4] = {0, 2, 1, 3};
    return tt_permute(ctx, tt_reshape(ctx, t, 4, s), perm);
}

static int step(model *m) {
    tt_ctx *ctx = &m->ctx;
    tt_tensor **p = m->p, *x, *h, *a, *logits, *loss;
    tt_scratch_reset(ctx);
    if (m->kind == 0) {
        int xs[2] = {MB, 784};
        x = tt_tensor_from(ctx, 2, xs, m->x);
        h = tt_relu(ctx, tt_linear(ctx, x, p[0], p[1]));
        h = tt_relu(ctx, tt_linear(ctx, h, p[2], p[3]));
        logits = tt_linear(ctx, h, p[4], p[5]);
    } else if (m->kind == 1) {
        int xs[4] = {CB, 1, 28, 28};
        tt_conv_opts pad1 = tt_conv_opts_init();
        tt_pool_opts pool2 = tt_pool_opts_init(2, 2);
        pad1.padding[0] = pad1.padding[1] = 1;
        x = tt_tensor_from(ctx, 4, xs, m->x);
        h = tt_conv2d(ctx, x, p[0], p[1], &pad1);
        h = tt_max_pool2d(ctx, tt_relu(ctx, tt_batchnorm(ctx, h, p[2], p[3], m->rm, m->rv, NULL)), &pool2);
        h = tt_relu(ctx, tt_conv2d(ctx, h, p[4], p[5], &pad1));
        h = tt_global_avg_pool2d(ctx, h);
        logits = tt_linear(ctx, h, p[6], p[7]);
    } else {
        int ids[2] = {TB, TT_}, sBT_C[2] = {TB * TT_, TC}, perm[4] = {0, 2, 1, 3};
        x = tt_add(ctx, tt_embedding(ctx, p[0], 2, ids, (size_t)TB * TT_, m->ids), p[1]);
        x = tt_reshape(ctx, x, 2, sBT_C);
        h = tt_layernorm(ctx, x, 1, p[2], p[3], 1e-5f);
        a = tt_attention(ctx, heads(ctx, tt_linear(ctx, h, p[4], p[5])), heads(ctx, tt_linear(ctx, h, p[6], p[7])),
                         heads(ctx, tt_linear(ctx, h, p[8], p[9])), 1);
        a = tt_reshape(ctx, tt_permute(ctx, a, perm), 2, sBT_C);
        x = tt_add(ctx, x, tt_linear(ctx, a, p[10], p[11]));
        h = tt_linear(ctx, tt_gelu(ctx, tt_linear(ctx, tt_layernorm(ctx, x, 1, p[12], p[13], 1e-5f), p[14], p[15])),
                      p[16], p[17]);
        x = tt_add(ctx, x, h);
        logits = tt_linear(ctx, tt_layernorm(ctx, x, 1, p[18], p[19], 1e-5f), p[20], p[21]);
    }
    loss = m->loss = tt_cross_entropy(ctx, logits, m->ny, m->y, NULL);
    tt_zero_grad(ctx);
    if (!loss || tt_backward(ctx, loss) != TT_OK) return 0;
    return tt_optim_step(ctx, &m->opt) == TT_OK;
}

int main(int argc, char **argv) {
    static const char *cases[] = {"mlp_sgdm", "mlp_adamw", "cnn", "tf"};
    int gpu = 0, c, a = 1;
    int threads;
    double seconds;
    const char *only;
    for (; a < argc && argv[a][0] == '-' && argv[a][1] == '-'; a++) {
        if (!strcmp(argv[a], "--gpu")) gpu = 1;
        else if (!strcmp(argv[a], "--flush-denormals")) flush_denormals = 1;
        else { printf("ERROR unknown option %s\n", argv[a]); return 1; }
    }
    threads = argc > a ? atoi(argv[a]) : 1;
    seconds = argc > a + 1 ? atof(argv[a + 1]) : 1.0;
    only = argc > a + 2 ? argv[a + 2] : NULL;
    for (c = 0; c < 4; c++) {
        model m;
        int n = 0, i;
        long v0, iv0, v1, iv1;
        unsigned long pool0[3] = {0, 0, 0};
        double t0, t;
        if (only && strcmp(only, cases[c])) continue;
        if (!setup(&m, cases[c], threads)) {
            printf("ERROR %s: %s\n", cases[c], tt_error_message(&m.ctx));
            return 1;
        }
        if (gpu && (tt_ctx_use_gpu(&m.ctx, 0) != TT_OK || !step(&m))) {
            printf("SKIP %s: %s\n", cases[c], tt_error_message(&m.ctx));
            free(m.x); free(m.y); free(m.ids);
            tt_ctx_free(&m.ctx);
            continue;
        }
        for (i = 0; i < 3; i++) step(&m); /* warm-up */
        ctxsw(&v0, &iv0);
        pool_counters(&m.ctx, pool0);
        t0 = now();
        do {
            if (!step(&m)) { printf("ERROR %s: %s\n", cases[c], tt_error_message(&m.ctx)); return 1; }
            n++;
            if (gpu) { /* wait for the queued work: read the loss */
                float l;
                if (tt_tensor_to_host(&m.ctx, m.loss, &l, 1) != TT_OK) { printf("ERROR %s: %s\n", cases[c], tt_error_message(&m.ctx)); return 1; }
            }
            t = now() - t0;
        } while (t < seconds || n < 3);
        ctxsw(&v1, &iv1);
        if (getenv("BENCH_POOL")) { /* the pool's own counters per step (see >>matmul) */
            unsigned long pool1[3];
            pool_counters(&m.ctx, pool1);
            printf("POOL %s %d regions %.1f worker_sleeps %.2f caller_sleeps %.2f\n", cases[c], threads,
                   (double)(pool1[0] - pool0[0]) / n, (double)(pool1[1] - pool0[1]) / n, (double)(pool1[2] - pool0[2]) / n);
        }
        /* then voluntary and involuntary context switches per step (bench_train.sh reads only
           the steps/s field) */
        printf("RESULT %s%s %d %.3f %.2f %.2f\n", cases[c], flush_denormals ? "_ftz" : "", threads, n / t,
               (double)(v1 - v0) / n, (double)(iv1 - iv0) / n);
        fflush(stdout);
        free(m.x); free(m.y); free(m.ids);
        tt_ctx_free(&m.ctx);
    }
    return 0;
}
