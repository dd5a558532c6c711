/* Threads: every op that runs on the context's pool (element-wise ops, broadcasting rows, unary
   activations, view backward, batchnorm, layernorm/groupnorm, class-index losses, SGD/Adam/AdamW
   updates) gives bit-identical outputs, gradients and updated parameters with 1, 2 and 3 threads.
   Sizes are above the parallel thresholds (32768 elements for cheap loops, 4096 for costly ones)
   and not multiples of the vector width, so pieces and scalar tails both run. The matrix product
   has its own thread test in test_sgemm.c. Correctness of each op against PyTorch is tested
   elsewhere (test_ops_*, test_loss, test_optim); this file checks only that the thread count
   never changes a bit. */
#define TINYTRAIN_IMPLEMENTATION
#include "tinytrain.h"
#include "tests/test.h"
#include <time.h>

enum { BIG = 70001, MID = 9001 };
enum { C_RELU, C_SAME, C_ROW, C_ROWGRAD, C_LINEAR, C_SCALAR, C_VIEW, C_UNARY, C_BN_TRAIN, C_BN_EVAL, C_LN, C_LN_PLAIN, C_GN, C_CE, C_NLL, C_MSE,
       C_SGD, C_ADAM, C_ADAMW, C_AMSGRAD, C_COUNT };
static const char *case_name[C_COUNT] = {"relu", "binary same shape", "binary row broadcast", "row operand gradient",
                                         "linear bias gradient", "binary scalar",
                                         "view backward", "gelu/tanh/elu", "batchnorm train", "batchnorm eval",
                                         "layernorm affine", "layernorm plain", "groupnorm", "cross_entropy",
                                         "nll_loss", "mse_loss", "sgd", "adam", "adamw", "adam amsgrad"};

typedef struct run {
    float *v; /* everything recorded, in order */
    size_t n, cap;
} run;

static void rec(run *r, const float *v, size_t n) {
    if (!v) return;
    if (r->n + n > r->cap) {
        r->cap = (r->n + n) * 2;
        r->v = (float *)realloc(r->v, r->cap * sizeof(float));
    }
    memcpy(r->v + r->n, v, n * sizeof(float));
    r->n += n;
}

static tt_tensor *param(tt_ctx *ctx, const char *name, int nd, int s0, int s1, int s2, int s3) {
    int s[4];
    tt_tensor *t;
    s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3;
    t = tt_param(ctx, name, nd, s);
    if (t) tt_init_uniform(ctx, t, -2.0f, 2.0f);
    return t;
}

/* a constant tensor like t, random values in [lo, hi] (from the context's RNG) */
static tt_tensor *like(tt_ctx *ctx, const tt_tensor *t, float lo, float hi) {
    return tt_tensor_rand(ctx, t->ndim, t->shape, lo, hi);
}

/* sum(y * w) with w random: every element of y gets its own gradient */
static tt_tensor *weigh(tt_ctx *ctx, tt_tensor *y) {
    return y ? tt_sum(ctx, tt_mul(ctx, y, like(ctx, y, -1.0f, 1.0f))) : NULL;
}

static int targets[512];

/* One case at `threads` threads; records outputs, gradients (and parameters after 3 steps). */
static int run_case(int c, int threads, run *out) {
    tt_ctx ctx;
    tt_desc d = tt_desc_init();
    tt_tensor *p[4] = {NULL, NULL, NULL, NULL}, *y = NULL, *loss = NULL, *rm = NULL, *rv = NULL;
    int i, steps = 1, ok = 1;
    tt_optim opt;
    d.threads = 3;
    d.max_params = 1 << 20;
    d.persist_bytes = (size_t)16 << 20;
    d.scratch_bytes = (size_t)32 << 20;
    d.seed = 42;
    if (tt_ctx_init(&ctx, &d) != TT_OK) return 0;
    if (tt_ctx_set_threads(&ctx, threads) != TT_OK) { tt_ctx_free(&ctx); return 0; }
    switch (c) {
    case C_MSE: p[0] = param(&ctx, "a", 1, BIG, 0, 0, 0); p[1] = param(&ctx, "t", 1, MID, 0, 0, 0); break;
    case C_RELU: case C_SAME: case C_SCALAR: case C_SGD: case C_ADAM: case C_ADAMW: case C_AMSGRAD:
        p[0] = param(&ctx, "a", 1, BIG, 0, 0, 0);
        p[1] = param(&ctx, "b", 2, 71, 73, 0, 0); /* 5183: above the costly threshold only */
        break;
    case C_ROW: case C_VIEW: p[0] = param(&ctx, "a", 2, 300, 257, 0, 0); break;
    case C_ROWGRAD: p[0] = param(&ctx, "a", 3, 3, 100, 257, 0); p[1] = param(&ctx, "r", 2, 100, 257, 0, 0); break;
    case C_LINEAR:
        p[0] = param(&ctx, "x", 2, 600, 64, 0, 0);
        p[1] = param(&ctx, "w", 2, 257, 64, 0, 0);
        p[2] = param(&ctx, "b", 1, 257, 0, 0, 0);
        break;
    case C_UNARY: p[0] = param(&ctx, "a", 1, MID, 0, 0, 0); break;
    case C_BN_TRAIN: case C_BN_EVAL: {
        int cs[1] = {16};
        p[0] = param(&ctx, "x", 4, 32, 16, 13, 13);
        p[1] = param(&ctx, "w", 1, 16, 0, 0, 0);
        p[2] = param(&ctx, "b", 1, 16, 0, 0, 0);
        rm = tt_buffer(&ctx, "rm", 1, cs);
        rv = tt_buffer(&ctx, "rv", 1, cs);
        if (rm) tt_init_uniform(&ctx, rm, -0.5f, 0.5f);
        if (rv) tt_init_uniform(&ctx, rv, 0.5f, 2.0f);
        break;
    }
    case C_LN: case C_LN_PLAIN:
        p[0] = param(&ctx, "x", 2, 512, 129, 0, 0);
        if (c == C_LN) { p[1] = param(&ctx, "w", 1, 129, 0, 0, 0); p[2] = param(&ctx, "b", 1, 129, 0, 0, 0); }
        break;
    case C_GN:
        p[0] = param(&ctx, "x", 4, 8, 16, 11, 11);
        p[1] = param(&ctx, "w", 1, 16, 0, 0, 0);
        p[2] = param(&ctx, "b", 1, 16, 0, 0, 0);
        break;
    default: /* C_CE, C_NLL */
        p[0] = param(&ctx, "x", 2, 512, 37, 0, 0);
        for (i = 0; i < 512; i++) targets[i] = (i * 7) % 37;
        targets[5] = targets[300] = -100; /* ignored */
        break;
    }
    if (c >= C_SGD) {
        tt_optim_desc od = tt_optim_desc_init(c == C_SGD ? TT_OPTIM_SGD : c == C_ADAMW ? TT_OPTIM_ADAMW : TT_OPTIM_ADAM);
        od.hp.lr = 0.01;
        od.hp.weight_decay = 0.01f;
        if (c == C_SGD) { od.hp.momentum = 0.9f; od.hp.nesterov = 1; }
        if (c == C_AMSGRAD) od.hp.amsgrad = 1;
        if (tt_optim_init(&ctx, &opt, &od) != TT_OK) ok = 0;
        steps = 3;
    }
    if (c == C_BN_EVAL) tt_set_training(&ctx, 0);
    for (i = 0; ok && i < steps; i++) {
        tt_scratch_reset(&ctx);
        tt_zero_grad(&ctx);
        switch (c) {
        case C_RELU: y = tt_relu(&ctx, p[0]); break;
        case C_SAME: /* add, sub, mul, div of same-shape operands */
            y = tt_add(&ctx, tt_sub(&ctx, tt_mul(&ctx, p[0], p[0]), tt_div(&ctx, p[0], like(&ctx, p[0], 1.0f, 2.0f))), p[0]);
            break;
        case C_ROW: { /* (300, 257) op (257): forward in rows, backward to the full operand in rows */
            int s1[1] = {257};
            tt_tensor *r = tt_tensor_rand(&ctx, 1, s1, 1.0f, 2.0f);
            y = tt_add(&ctx, tt_mul(&ctx, p[0], r), tt_div(&ctx, p[0], r));
            break;
        }
        case C_ROWGRAD: /* (3, 100, 257) op (100, 257): the second operand's gradient sums over rows */
            y = tt_add(&ctx, tt_mul(&ctx, p[0], p[1]), tt_sub(&ctx, p[0], p[1]));
            break;
        case C_LINEAR: y = tt_linear(&ctx, p[0], p[1], p[2]); break;
        case C_SCALAR: {
            int s1[1] = {1};
            tt_tensor *r = tt_tensor_rand(&ctx, 1, s1, 1.0f, 2.0f);
            y = tt_sub(&ctx, tt_mul(&ctx, p[0], r), r);
            break;
        }
        case C_VIEW: {
            int s2[2] = {257, 300};
            y = tt_reshape(&ctx, p[0], 2, s2);
            break;
        }
        case C_UNARY: y = tt_add(&ctx, tt_gelu(&ctx, p[0]), tt_add(&ctx, tt_tanh(&ctx, p[0]), tt_elu(&ctx, p[0]))); break;
        case C_BN_TRAIN: case C_BN_EVAL: y = tt_batchnorm(&ctx, p[0], p[1], p[2], rm, rv, NULL); break;
        case C_LN: case C_LN_PLAIN: y = tt_layernorm(&ctx, p[0], 1, p[1], p[2], 1e-5f); break;
        case C_GN: y = tt_groupnorm(&ctx, p[0], 4, p[1], p[2], 1e-5f); break;
        case C_CE: {
            static float w[37];
            tt_cross_entropy_opts o = tt_cross_entropy_opts_init();
            int k;
            for (k = 0; k < 37; k++) w[k] = 0.5f + 0.03f * (float)k;
            o.weight = w;
            o.label_smoothing = 0.1f;
            y = tt_cross_entropy(&ctx, p[0], 512, targets, &o);
            break;
        }
        case C_NLL: y = tt_nll_loss(&ctx, tt_log_softmax(&ctx, p[0], 1), 512, targets, NULL); break;
        case C_MSE: /* gradients to input and target */
            y = tt_add(&ctx, tt_mse_loss(&ctx, p[0], tt_relu(&ctx, p[0]), TT_REDUCTION_SUM),
                       tt_huber_loss(&ctx, tt_reshape(&ctx, p[1], 1, &p[1]->shape[0]), tt_tanh(&ctx, p[1]), 0.5f,
                                     TT_REDUCTION_MEAN));
            break;
        default: /* optimizers: gradients from a non-linear loss, then the update */
            y = tt_add(&ctx, tt_sum(&ctx, tt_tanh(&ctx, p[0])), tt_sum(&ctx, tt_mul(&ctx, p[1], p[1])));
            break;
        }
        loss = y && y->numel > 1 ? weigh(&ctx, y) : y;
        if (!loss || tt_backward(&ctx, loss) != TT_OK) { ok = 0; break; }
        if (c >= C_SGD && tt_optim_step(&ctx, &opt) != TT_OK) { ok = 0; break; }
    }
    if (ok) {
        rec(out, y->data, y->numel);
        for (i = 0; i < 4; i++)
            if (p[i]) { rec(out, p[i]->grad, p[i]->numel); rec(out, p[i]->data, p[i]->numel); }
        if (rm) { rec(out, rm->data, rm->numel); rec(out, rv->data, rv->numel); }
    } else {
        printf("  %s, %d threads: %s\n", case_name[c], threads, tt_error_message(&ctx));
    }
    tt_ctx_free(&ctx);
    return ok;
}

static void test_ops_bit_identical_across_threads(void) {
    int c, t;
    for (c = 0; c < C_COUNT; c++) {
        run r[4];
        size_t i, nonzero = 0;
        memset(r, 0, sizeof r);
        for (t = 1; t <= 3; t++) CHECK_MSG(run_case(c, t, &r[t]), "%s: %d threads failed", case_name[c], t);
        for (i = 0; i < r[1].n; i++) nonzero += r[1].v[i] != 0.0f;
        CHECK_MSG(r[1].n > 1000 && nonzero > r[1].n / 4, "%s: too few values recorded (%d of %d nonzero)", case_name[c],
                  (int)nonzero, (int)r[1].n);
        for (t = 2; t <= 3; t++) {
            size_t first = r[1].n;
            for (i = 0; i < r[1].n && i < r[t].n; i++)
                if (memcmp(&r[1].v[i], &r[t].v[i], sizeof(float)) != 0) { first = i; break; }
            CHECK_MSG(r[t].n == r[1].n && first == r[1].n, "%s: 1 vs %d threads differ at value %d of %d (%.9g vs %.9g)",
                      case_name[c], t, (int)first, (int)r[1].n, first < r[1].n ? (double)r[1].v[first] : 0.0,
                      first < r[1].n && first < r[t].n ? (double)r[t].v[first] : 0.0);
        }
        for (t = 1; t <= 3; t++) free(r[t].v);
    }
}

/* Many short regions back to back and a context used again after an idle pause: the pool wakes
   its workers each time (no lost wake-up: the test would hang) and results stay the same. */
static void test_pool_many_regions(void) {
    tt_ctx ctx;
    tt_desc d = tt_desc_init();
    int s[1] = {BIG}, i;
    tt_tensor *a, *y;
    float first = 0;
    d.threads = 2;
    d.scratch_bytes = (size_t)8 << 20;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    for (i = 0; i < 400; i++) {
        tt_scratch_reset(&ctx);
        a = tt_tensor_full(&ctx, 1, s, (float)(i % 7) - 3.0f);
        y = tt_sum(&ctx, tt_relu(&ctx, tt_add(&ctx, a, a)));
        CHECK(y != NULL);
        if (!y) break;
        if (i == 6) first = y->data[0];
        if (i % 7 == 6) CHECK(y->data[0] == first);
        if (i == 200) { /* let the workers fall asleep (their spin is far below 20 ms), then wake them */
            clock_t t0 = clock();
            while (clock() - t0 < CLOCKS_PER_SEC / 50) {
            }
        }
    }
    CHECK(first == 6.0f * (float)BIG);
    tt_ctx_free(&ctx);
}

/* Zero allocations per training step with the pool at work: the parallel regions use stack
   descriptors and the context's memory only (the allocator is called once, for the context). */
typedef struct counter { int allocs, frees; } counter;
static void *count_alloc(size_t n, void *user) { ((counter *)user)->allocs++; return malloc(n); }
static void count_free(void *p, void *user) { ((counter *)user)->frees++; free(p); }

static void test_zero_allocations_per_step_threads(void) {
    counter cnt = {0, 0};
    tt_ctx ctx;
    tt_desc d = tt_desc_init();
    tt_optim opt;
    tt_optim_desc od = tt_optim_desc_init(TT_OPTIM_ADAMW);
    tt_tensor *w, *x, *h, *loss;
    int xs[2] = {64, 512}, step, allocs = 0;
    int y[64];
    for (step = 0; step < 64; step++) y[step] = step % 10;
    d.allocator.alloc = count_alloc;
    d.allocator.free = count_free;
    d.allocator.user = &cnt;
    d.threads = 2;
    d.scratch_bytes = (size_t)8 << 20;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    w = param(&ctx, "w", 2, 512, 512, 0, 0);
    CHECK(tt_optim_init(&ctx, &opt, &od) == TT_OK);
    for (step = 0; step < 20; step++) {
        tt_scratch_reset(&ctx);
        x = tt_tensor_rand(&ctx, 2, xs, -1.0f, 1.0f);
        h = tt_gelu(&ctx, tt_matmul(&ctx, x, w));                               /* 32K elements */
        h = tt_layernorm(&ctx, tt_add(&ctx, h, tt_relu(&ctx, x)), 1, NULL, NULL, 1e-5f); /* rows */
        loss = tt_cross_entropy(&ctx, tt_reshape(&ctx, h, 2, xs), 64, y, NULL);
        tt_zero_grad(&ctx);
        CHECK(loss && tt_backward(&ctx, loss) == TT_OK && tt_optim_step(&ctx, &opt) == TT_OK); /* 262K Adam */
        if (step == 0) allocs = cnt.allocs;
    }
    CHECK_MSG(cnt.allocs == allocs && allocs == 1, "%d allocations (1 expected, for the context)", cnt.allocs);
    tt_ctx_free(&ctx);
    CHECK(cnt.frees == 1);
}

/* With tt_desc.flush_denormals a worker runs its parts in the caller's mode of that op: an op
   outside the flushed list (layernorm forward) on subnormal inputs gives the same bits with 1,
   2 and 3 threads (a worker that flushed on its own would zero its rows' subnormals). */
static void test_flush_mode_follows_caller(void) {
    static float out[2][512 * 129];
    int t, xs[2] = {512, 129}, i;
    static float x[512 * 129];
    if (!tt_fp_flush_supported()) { SKIP("test_flush_mode_follows_caller", "no flush-to-zero on this target"); return; }
    for (i = 0; i < 512 * 129; i++) /* even rows all subnormal (normalised to about +-1, or 0 when flushed) */
        x[i] = (i / 129) % 2 ? 0.25f * (float)(i % 5) : 1e-39f * (float)(i % 13);
    for (t = 1; t <= 3; t++) {
        tt_ctx ctx;
        tt_desc d = tt_desc_init();
        tt_tensor *y;
        int rep;
        d.threads = 3;
        d.flush_denormals = 1;
        d.scratch_bytes = (size_t)8 << 20;
        CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
        CHECK(tt_ctx_set_threads(&ctx, t) == TT_OK);
        /* repeated: on a busy machine the caller may run every part of one region itself */
        for (rep = 0; rep < 40; rep++) {
            tt_scratch_reset(&ctx);
            y = tt_layernorm(&ctx, tt_tensor_from(&ctx, 2, xs, x), 1, NULL, NULL, 1e-5f);
            CHECK(y != NULL);
            if (!y) break;
            if (t == 1 && rep == 0) memcpy(out[1], y->data, sizeof out[1]);
            else CHECK_MSG(same_bits(out[1], y->data, 512 * 129), "flush_denormals: 1 vs %d threads differ", t);
        }
        tt_ctx_free(&ctx);
    }
}

int main(void) {
    RUN(test_ops_bit_identical_across_threads);
    RUN(test_flush_mode_follows_caller);
    RUN(test_zero_allocations_per_step_threads);
    RUN(test_pool_many_regions);
    TEST_EXIT();
}
