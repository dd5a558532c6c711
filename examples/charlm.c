/* charlm: a character-level transformer that learns to make up English-looking words.

   Trains on a word list (Debian's wamerican: /usr/share/dict/words) with the layers of tinytrain
   (token and position embeddings, pre-norm transformer blocks, a linear head), AdamW with a
   warmup-cosine schedule, and the progress line; prints training and validation loss, saves a
   checkpoint every few hundred steps, and samples new words with a temperature and top-k.

       ./build/charlm [--words FILE] [--steps N] [--temp T] [--topk K] [--ckpt FILE] [--resume] [--stop-at N]

   --resume continues from the checkpoint bit for bit (model, optimizer, schedule, the context
   RNG and the data sampler's RNG, stored in the checkpoint's extra record): a run stopped with
   --stop-at and resumed ends with the same checkpoint file, byte for byte, as one that was
   never interrupted. */
#define TINYTRAIN_IMPLEMENTATION
#include "tinytrain.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { V = 27, T = 16, D = 64, HEADS = 4, LAYERS = 2, B = 32 };

typedef struct model {
    tt_nn_embedding tok, pos;
    tt_nn_block blocks[LAYERS];
    tt_nn_norm ln_f;
    tt_nn_linear head;
} model;

/* The word list as one token stream: 0 = end of word, 1..26 = 'a'..'z'. */
static unsigned char *load_words(const char *path, size_t *n_train, size_t *n_total) {
    FILE *f = fopen(path, "rb");
    unsigned char *s;
    size_t cap = 1 << 20, n = 0, words = 0, split = 0;
    char line[256];
    if (!f) return NULL;
    s = (unsigned char *)malloc(cap);
    if (!s) { fclose(f); return NULL; }
    s[n++] = 0;
    while (fgets(line, sizeof line, f)) {
        size_t i, len = strcspn(line, "\r\n");
        int ok = len >= 2;
        for (i = 0; i < len && ok; i++) ok = line[i] >= 'a' && line[i] <= 'z';
        if (!ok) continue;
        if (n + len + 1 > cap) {
            unsigned char *g = (unsigned char *)realloc(s, cap *= 2);
            if (!g) { free(s); fclose(f); return NULL; }
            s = g;
        }
        /* every tenth word goes to the validation part, kept at the end of the buffer later */
        for (i = 0; i < len; i++) s[n++] = (unsigned char)(line[i] - 'a' + 1);
        s[n++] = 0;
        if (++words % 10 == 0) split++;
    }
    fclose(f);
    *n_total = n;
    *n_train = n - n / 10;  /* the list is sorted: the last tenth (by letters) is held out */
    (void)split;
    return s;
}

static void model_init(tt_nn *nn, model *m) {
    int i;
    tt_nn_embedding_init(nn, &m->tok, "tok_emb", V, D);
    tt_nn_embedding_init(nn, &m->pos, "pos_emb", T, D);
    for (i = 0; i < LAYERS; i++) tt_nn_block_init(nn, &m->blocks[i], tt_nn_name_index(nn, "blocks", i), D, HEADS);
    tt_nn_layernorm_init(nn, &m->ln_f, "ln_f", D);
    tt_nn_linear_init(nn, &m->head, "head", D, V, 1);
}

/* logits (b, t, V) of token ids (b, t) */
static tt_tensor *forward(tt_ctx *ctx, model *m, int b, int t, const int *ids) {
    int ids_shape[2], pos[T], i;
    tt_tensor *x;
    ids_shape[0] = b; ids_shape[1] = t;
    for (i = 0; i < t; i++) pos[i] = i;
    x = tt_nn_embedding_forward(ctx, &m->tok, 2, ids_shape, (size_t)b * (size_t)t, ids);
    x = tt_add(ctx, x, tt_nn_embedding_forward(ctx, &m->pos, 1, &t, (size_t)t, pos));
    for (i = 0; i < LAYERS; i++) x = tt_nn_block_forward(ctx, &m->blocks[i], x);
    return tt_nn_linear_forward(ctx, &m->head, tt_nn_norm_forward(ctx, &m->ln_f, x));
}

/* mean cross-entropy of next-character prediction on windows starting at the given offsets */
static tt_tensor *batch_loss(tt_ctx *ctx, model *m, const unsigned char *s, const size_t *start, int b) {
    static int x[B * T], y[B * T];
    int i, j, flat[2];
    tt_tensor *logits;
    for (i = 0; i < b; i++)
        for (j = 0; j < T; j++) { x[i * T + j] = s[start[i] + (size_t)j]; y[i * T + j] = s[start[i] + (size_t)j + 1]; }
    logits = forward(ctx, m, b, T, x);
    flat[0] = b * T; flat[1] = V;
    return tt_cross_entropy(ctx, tt_reshape(ctx, logits, 2, flat), (size_t)b * T, y, NULL);
}

static double val_loss(tt_ctx *ctx, model *m, const unsigned char *s, size_t lo, size_t hi) {
    size_t start[B];
    double sum = 0;
    int k, i, was = tt_set_training(ctx, 0), g = tt_set_grad_enabled(ctx, 0);
    for (k = 0; k < 8; k++) {
        tt_tensor *l;
        for (i = 0; i < B; i++) start[i] = lo + ((size_t)(k * B + i) * 7919u) % (hi - lo - T - 1);
        tt_scratch_reset(ctx);
        l = batch_loss(ctx, m, s, start, B);
        sum += l ? l->data[0] : NAN;
    }
    tt_set_training(ctx, was);
    tt_set_grad_enabled(ctx, g);
    return sum / 8;
}

/* one new word: temperature-scaled softmax restricted to the top-k characters */
static void sample_word(tt_ctx *ctx, model *m, tt_rng *rng, float temp, int topk, char *out) {
    int ctxt[T], n = 1, len = 0;
    ctxt[0] = 0;
    tt_set_training(ctx, 0);
    tt_set_grad_enabled(ctx, 0);
    while (len < 24) {
        float p[V], mx = -1e30f, sum = 0, r, kth;
        int i, start = n > T ? n - T : 0, c;
        tt_tensor *lg;
        float sorted[V];
        tt_scratch_reset(ctx);
        lg = forward(ctx, m, 1, n - start, ctxt + start);
        if (!lg) break;
        for (i = 0; i < V; i++) { p[i] = lg->data[(size_t)(n - start - 1) * V + (size_t)i] / temp; mx = p[i] > mx ? p[i] : mx; }
        memcpy(sorted, p, sizeof p);
        for (i = 0; i < topk && i < V; i++) { /* partial selection sort: the k-th largest */
            int j, best = i;
            for (j = i + 1; j < V; j++) if (sorted[j] > sorted[best]) best = j;
            { float t = sorted[i]; sorted[i] = sorted[best]; sorted[best] = t; }
        }
        kth = sorted[(topk < V ? topk : V) - 1];
        for (i = 0; i < V; i++) { p[i] = p[i] >= kth ? expf(p[i] - mx) : 0.0f; sum += p[i]; }
        r = tt_rng_uniform(rng) * sum;
        for (c = 0; c < V - 1 && r >= p[c]; c++) r -= p[c];
        if (c == 0) break;
        out[len++] = (char)('a' + c - 1);
        if (n == T * 4) break;
        if (n < T) ctxt[n++] = c;
        else { memmove(ctxt, ctxt + 1, sizeof(int) * (T - 1)); ctxt[T - 1] = c; }
    }
    out[len] = 0;
}

int main(int argc, char **argv) {
    const char *words = "/usr/share/dict/words", *ckpt_path = "charlm.ckpt";
    int steps = 600, topk = 5, resume = 0, i, step = 0, stop_at = 0;
    float temp = 0.8f;
    size_t n_train = 0, n_total = 0, start[B];
    unsigned char *s;
    tt_desc d = {0};
    tt_ctx ctx;
    tt_nn nn;
    static model m;
    tt_optim opt;
    tt_optim_desc od;
    tt_sched sched;
    tt_sched_warmup_cosine_opts wo;
    tt_rng data_rng;
    tt_progress pr;
    tt_ckpt ck;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--words") && i + 1 < argc) words = argv[++i];
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--temp") && i + 1 < argc) temp = (float)atof(argv[++i]);
        else if (!strcmp(argv[i], "--topk") && i + 1 < argc) topk = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ckpt") && i + 1 < argc) ckpt_path = argv[++i];
        else if (!strcmp(argv[i], "--resume")) resume = 1;
        else if (!strcmp(argv[i], "--stop-at") && i + 1 < argc) stop_at = atoi(argv[++i]);
        else { fprintf(stderr, "usage: %s [--words FILE] [--steps N] [--temp T] [--topk K] [--ckpt FILE] [--resume] [--stop-at N]\n", argv[0]); return 2; }
    }
    if (steps < 1 || topk < 1 || topk > V || !(temp > 0)) { fprintf(stderr, "charlm: bad --steps, --topk or --temp\n"); return 2; }
    s = load_words(words, &n_train, &n_total);
    if (!s || n_total < 1000) {
        fprintf(stderr, "charlm: cannot read a word list from %s (apt-get install wamerican)\n", words);
        return 1;
    }
    d.seed = 1;
    d.max_params = 1 << 18;
    d.scratch_bytes = 64 << 20;
    if (tt_ctx_init(&ctx, &d) != TT_OK) return 1;
    tt_nn_init(&nn, &ctx);
    model_init(&nn, &m);
    od = tt_optim_desc_init(TT_OPTIM_ADAMW);
    od.hp.lr = 3e-3;
    wo = tt_sched_warmup_cosine_opts_init(steps / 10, steps);
    wo.start_factor = 0.1;
    wo.eta_min = 1e-4;
    if (tt_optim_init(&ctx, &opt, &od) != TT_OK || tt_sched_init_warmup_cosine(&ctx, &sched, 3e-3, &wo) != TT_OK) {
        fprintf(stderr, "charlm: %s\n", tt_error_message(&ctx));
        return 1;
    }
    tt_rng_seed(&data_rng, 7);
    ck = tt_ckpt_init();
    ck.buffers = nn.buffers; ck.n_buffers = nn.n_buffers;
    ck.optim = &opt; ck.sched = &sched;
    ck.extra = &data_rng; ck.extra_bytes = sizeof data_rng; ck.extra_cap = sizeof data_rng;
    if (resume) {
        if (tt_ckpt_load(&ctx, &ck, ckpt_path) != TT_OK) { fprintf(stderr, "charlm: %s\n", tt_error_message(&ctx)); return 1; }
        step = (int)ck.step;
        printf("resumed from %s at step %d\n", ckpt_path, step);
    }
    printf("%zu characters of words (%zu for training), %d parameters\n", n_total, n_train, (int)ctx.n_params);
    pr = tt_progress_init(1, steps, B);
    tt_progress_epoch_begin(&pr, 0);
    pr.step = step;
    for (; step < steps; step++) {
        tt_tensor *loss;
        for (i = 0; i < B; i++) start[i] = (size_t)(tt_rng_u32(&data_rng) % (uint32_t)(n_train - T - 1));
        tt_scratch_reset(&ctx);
        loss = batch_loss(&ctx, &m, s, start, B);
        tt_zero_grad(&ctx);
        if (!loss || tt_backward(&ctx, loss) != TT_OK) { fprintf(stderr, "charlm: %s\n", tt_error_message(&ctx)); return 1; }
        tt_optim_set_lr(&ctx, &opt, 0, (float)tt_sched_lr(&sched));
        tt_optim_step(&ctx, &opt);
        tt_sched_step(&ctx, &sched);
        tt_progress_step(&pr, loss->data[0]);
        if ((step + 1) % 200 == 0 || step + 1 == steps || step + 1 == stop_at) {
            ck.step = step + 1;
            ck.extra_bytes = sizeof data_rng;
            if (tt_ckpt_save(&ctx, &ck, ckpt_path) != TT_OK) fprintf(stderr, "charlm: %s\n", tt_error_message(&ctx));
        }
        if (step + 1 == stop_at) {
            tt_progress_epoch_end(&pr, "stopped");
            printf("stopped at step %d; continue with --resume\n", stop_at);
            free(s);
            tt_ctx_free(&ctx);
            return 0;
        }
    }
    {
        char extra[96];
        snprintf(extra, sizeof extra, "train %.4f  val %.4f", val_loss(&ctx, &m, s, 0, n_train), val_loss(&ctx, &m, s, n_train, n_total));
        tt_progress_epoch_end(&pr, extra);
        printf("%s (uniform guessing: %.4f)\n", extra, log((double)V));
    }
    printf("new words (temperature %.2f, top-%d):", temp, topk);
    {
        tt_rng sample_rng;
        tt_rng_seed(&sample_rng, 2026);
        for (i = 0; i < 12; i++) {
            char w[32];
            sample_word(&ctx, &m, &sample_rng, temp, topk, w);
            printf(" %s", w);
        }
    }
    printf("\n");
    free(s);
    tt_ctx_free(&ctx);
    return 0;
}
