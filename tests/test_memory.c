/* Memory: allocation counting, bring-your-own buffer, arena exhaustion, determinism. */
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"
#include <stdlib.h>

typedef struct counter { int allocs, frees; } counter;
static void *count_alloc(size_t n, void *user) { ((counter *)user)->allocs++; return malloc(n); }
static void count_free(void *p, void *user) { ((counter *)user)->frees++; free(p); }

/* A 2-layer MLP step on fixed data: forward, loss = sum((y - t)^2), backward, SGD. */
static tt_result mlp_step(tt_ctx *ctx, tt_tensor *w1, tt_tensor *b1, tt_tensor *w2, tt_tensor *b2,
                          const float *x, const float *t, float *loss_out) {
    int xs[2] = {8, 5}, ts[2] = {8, 3};
    tt_tensor *X, *T, *h, *y, *d, *loss;
    tt_scratch_reset(ctx);
    X = tt_tensor_from(ctx, 2, xs, x);
    T = tt_tensor_from(ctx, 2, ts, t);
    h = tt_relu(ctx, tt_linear(ctx, X, w1, b1));
    y = tt_linear(ctx, h, w2, b2);
    d = tt_add(ctx, y, tt_mul(ctx, T, tt_scalar(ctx, -1.0f)));
    loss = tt_sum(ctx, tt_mul(ctx, d, d));
    if (!loss) return tt_error(ctx);
    *loss_out = loss->data[0];
    tt_zero_grad(ctx);
    if (tt_backward(ctx, loss) != TT_OK) return tt_error(ctx);
    return tt_sgd_step_simple(ctx, 0.01f);
}

static void make_data(float *x, float *t) {
    int i;
    for (i = 0; i < 40; i++) x[i] = (float)((i * 37) % 11) / 11.0f - 0.5f;
    for (i = 0; i < 24; i++) t[i] = (float)((i * 13) % 7) / 7.0f;
}

static void make_mlp(tt_ctx *ctx, tt_tensor **w1, tt_tensor **b1, tt_tensor **w2, tt_tensor **b2) {
    int s1[2] = {16, 5}, sb1[1] = {16}, s2[2] = {3, 16}, sb2[1] = {3};
    *w1 = tt_param(ctx, "w1", 2, s1);
    *b1 = tt_param(ctx, "b1", 1, sb1);
    *w2 = tt_param(ctx, "w2", 2, s2);
    *b2 = tt_param(ctx, "b2", 1, sb2);
    tt_init_torch_default(ctx, *w1, *b1);
    tt_init_torch_default(ctx, *w2, *b2);
}

static void test_zero_allocations_per_step_mlp(void) {
    counter c = {0, 0};
    tt_desc d;
    tt_ctx ctx;
    tt_tensor *w1, *b1, *w2, *b2;
    float x[40], t[24], loss0 = 0, loss = 0;
    int step, allocs_after_first;
    memset(&d, 0, sizeof d);
    d.allocator.alloc = count_alloc;
    d.allocator.free = count_free;
    d.allocator.user = &c;
    d.max_params = 4096;
    d.scratch_bytes = 1 << 20;
    d.persist_bytes = 1 << 16;
    make_data(x, t);
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    make_mlp(&ctx, &w1, &b1, &w2, &b2);
    CHECK(mlp_step(&ctx, w1, b1, w2, b2, x, t, &loss0) == TT_OK);
    allocs_after_first = c.allocs;
    for (step = 0; step < 50; step++) CHECK(mlp_step(&ctx, w1, b1, w2, b2, x, t, &loss) == TT_OK);
    CHECK_MSG(c.allocs == allocs_after_first, "%d allocations during 50 steps", c.allocs - allocs_after_first);
    CHECK(c.allocs == 1); /* the whole context is one block */
    CHECK(loss < loss0);  /* it trains */
    tt_ctx_free(&ctx);
    CHECK(c.frees == 1);
}

/* A small CNN: conv - batchnorm - relu - maxpool - conv - relu - global avg pool - linear - CE. */
typedef struct cnn {
    tt_tensor *c1w, *c1b, *bnw, *bnb, *rm, *rv, *c2w, *c2b, *fcw, *fcb;
} cnn;

static void make_cnn(tt_ctx *ctx, cnn *m) {
    int c1[4] = {6, 1, 3, 3}, c6[1] = {6}, c2[4] = {8, 6, 3, 3}, c8[1] = {8}, fc[2] = {4, 8}, c4[1] = {4};
    m->c1w = tt_param(ctx, "c1w", 4, c1);
    m->c1b = tt_param(ctx, "c1b", 1, c6);
    m->bnw = tt_param(ctx, "bnw", 1, c6);
    m->bnb = tt_param(ctx, "bnb", 1, c6);
    m->rm = tt_buffer(ctx, "bn_mean", 1, c6);
    m->rv = tt_buffer(ctx, "bn_var", 1, c6);
    m->c2w = tt_param(ctx, "c2w", 4, c2);
    m->c2b = tt_param(ctx, "c2b", 1, c8);
    m->fcw = tt_param(ctx, "fcw", 2, fc);
    m->fcb = tt_param(ctx, "fcb", 1, c4);
    tt_init_torch_default(ctx, m->c1w, NULL);
    tt_init_torch_default(ctx, m->c2w, NULL);
    tt_init_torch_default(ctx, m->fcw, NULL);
    tt_init_const(ctx, m->bnw, 1.0f);
    tt_init_const(ctx, m->rv, 1.0f);
}

static tt_result cnn_step(tt_ctx *ctx, const cnn *m, const float *x, const int *y, float *loss_out) {
    int xs[4] = {4, 1, 12, 12};
    tt_pool_opts pool = tt_pool_opts_init(2, 2);
    tt_conv_opts pad = tt_conv_opts_init();
    tt_tensor *h, *loss;
    pad.padding[0] = pad.padding[1] = 1;
    tt_scratch_reset(ctx);
    h = tt_conv2d(ctx, tt_tensor_from(ctx, 4, xs, x), m->c1w, m->c1b, &pad);
    h = tt_batchnorm(ctx, h, m->bnw, m->bnb, m->rm, m->rv, NULL);
    h = tt_max_pool2d(ctx, tt_relu(ctx, h), &pool);
    h = tt_relu(ctx, tt_conv2d(ctx, h, m->c2w, m->c2b, NULL));
    h = tt_linear(ctx, tt_global_avg_pool2d(ctx, h), m->fcw, m->fcb);
    loss = tt_cross_entropy(ctx, h, 4, y, NULL);
    if (!loss) return tt_error(ctx);
    *loss_out = loss->data[0];
    tt_zero_grad(ctx);
    if (tt_backward(ctx, loss) != TT_OK) return tt_error(ctx);
    return tt_sgd_step_simple(ctx, 0.05f);
}

static void test_zero_allocations_per_step_cnn(void) {
    counter c = {0, 0};
    tt_desc d;
    tt_ctx ctx;
    cnn m;
    float x[4 * 144], loss0 = 0, loss = 0;
    int y[4] = {0, 1, 2, 3}, i, step, allocs_after_first;
    memset(&d, 0, sizeof d);
    d.allocator.alloc = count_alloc;
    d.allocator.free = count_free;
    d.allocator.user = &c;
    d.max_params = 4096;
    d.scratch_bytes = 1 << 20;
    d.persist_bytes = 1 << 16;
    for (i = 0; i < 4 * 144; i++) x[i] = (float)((i * 29 + i / 144 * 7) % 17) / 17.0f - 0.5f;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    make_cnn(&ctx, &m);
    CHECK(cnn_step(&ctx, &m, x, y, &loss0) == TT_OK);
    allocs_after_first = c.allocs;
    for (step = 0; step < 30; step++) CHECK(cnn_step(&ctx, &m, x, y, &loss) == TT_OK);
    CHECK_MSG(c.allocs == allocs_after_first, "%d allocations during 30 steps", c.allocs - allocs_after_first);
    CHECK(c.allocs == 1);
    CHECK(loss < loss0);
    if (tt_error(&ctx)) printf("  %s\n", tt_error_message(&ctx));
    tt_ctx_free(&ctx);
    CHECK(c.frees == 1);
}

static void test_bring_your_own_buffer(void) {
    /* no allocator may be called: a poisoned allocator fails the test if it is */
    counter c = {0, 0};
    tt_desc d;
    tt_ctx ctx;
    size_t need = 0;
    void *block;
    tt_tensor *w1, *b1, *w2, *b2;
    float x[40], t[24], loss0 = 0, loss = 0;
    int step;
    memset(&d, 0, sizeof d);
    d.max_params = 1024;
    d.max_param_tensors = 8;
    d.small_matmul_workspace = 1;
    d.scratch_bytes = 64 << 10;
    d.persist_bytes = 4 << 10;
    d.allocator.alloc = count_alloc;
    d.allocator.free = count_free;
    d.allocator.user = &c;
    CHECK(tt_ctx_memory_size(&d, &need) == TT_OK);
    CHECK(need > 0 && need < (1 << 20));
    block = malloc(need + 64);
    d.memory = (void *)(((uintptr_t)block + 63) & ~(uintptr_t)63);
    d.memory_bytes = need;
    make_data(x, t);
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    make_mlp(&ctx, &w1, &b1, &w2, &b2);
    CHECK(mlp_step(&ctx, w1, b1, w2, b2, x, t, &loss0) == TT_OK);
    for (step = 0; step < 30; step++) CHECK(mlp_step(&ctx, w1, b1, w2, b2, x, t, &loss) == TT_OK);
    CHECK(loss < loss0);
    tt_ctx_free(&ctx);
    CHECK(c.allocs == 0 && c.frees == 0);
    /* one byte short is refused with a clear error, nothing allocated */
    d.memory_bytes = need - 1;
    CHECK(tt_ctx_init(&ctx, &d) == TT_ERR_OUT_OF_MEMORY);
    CHECK(strstr(tt_error_message(&ctx), "tt_ctx_memory_size") != NULL);
    CHECK(c.allocs == 0);
    free(block);
}

static void test_out_of_memory(void) {
    tt_desc d;
    tt_ctx ctx;
    int big[2] = {1000, 1000}, s[1] = {10};
    tt_tensor *a;
    memset(&d, 0, sizeof d);
    d.max_params = 16;
    d.scratch_bytes = 1 << 16;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    CHECK(tt_tensor_new(&ctx, 2, big) == NULL);
    CHECK(tt_error(&ctx) == TT_ERR_OUT_OF_MEMORY);
    CHECK(strstr(tt_error_message(&ctx), "scratch_bytes") != NULL);
    tt_clear_error(&ctx);
    CHECK(tt_param(&ctx, "p", 1, s) != NULL);
    CHECK(tt_param(&ctx, "q", 1, s) == NULL); /* 20 > 16 floats */
    CHECK(tt_error(&ctx) == TT_ERR_OUT_OF_MEMORY);
    CHECK(strstr(tt_error_message(&ctx), "max_params") != NULL);
    CHECK(strstr(tt_error_message(&ctx), "'q'") != NULL);
    tt_clear_error(&ctx);
    /* the context still works after an error */
    a = tt_tensor_new(&ctx, 1, s);
    CHECK(a != NULL && tt_error(&ctx) == TT_OK);
    tt_ctx_free(&ctx);
    /* allocator failure */
    d.max_params = (size_t)1 << 62;
    CHECK(tt_ctx_init(&ctx, &d) == TT_ERR_OUT_OF_MEMORY);
    tt_ctx_free(&ctx);
}

static void test_determinism_same_seed_same_bits(void) {
    /* run 0 and 1: same settings; run 2: the small matmul workspace (light path only), which
       computes every element with the same operations, so the bits match too */
    float out[3][24];
    int run;
    for (run = 0; run < 3; run++) {
        tt_desc d;
        tt_ctx ctx;
        tt_tensor *w1, *b1, *w2, *b2;
        float x[40], t[24], loss;
        int step;
        memset(&d, 0, sizeof d);
        d.seed = 1234;
        d.small_matmul_workspace = run == 2;
        d.max_params = 4096;
        d.scratch_bytes = 1 << 20;
        d.persist_bytes = 1 << 16;
        make_data(x, t);
        CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
        make_mlp(&ctx, &w1, &b1, &w2, &b2);
        for (step = 0; step < 10; step++) CHECK(mlp_step(&ctx, w1, b1, w2, b2, x, t, &loss) == TT_OK);
        memcpy(out[run], w2->data, sizeof out[run] < w2->numel * 4 ? sizeof out[run] : w2->numel * 4);
        tt_ctx_free(&ctx);
    }
    CHECK(memcmp(out[0], out[1], sizeof out[0]) == 0);
    CHECK(memcmp(out[0], out[2], sizeof out[0]) == 0);
}

static void test_rng_streams(void) {
    tt_rng a, b;
    int i, same = 0;
    double mean = 0, var = 0;
    tt_rng_seed(&a, 0);
    tt_rng_seed(&b, 1);
    for (i = 0; i < 100; i++) same += tt_rng_u32(&a) == tt_rng_u32(&b);
    CHECK(same < 3);
    tt_rng_seed(&a, 7);
    for (i = 0; i < 20000; i++) {
        float z = tt_rng_normal(&a);
        mean += z;
        var += (double)z * z;
    }
    mean /= 20000;
    var = var / 20000 - mean * mean;
    /* standard error of the mean is 1/sqrt(20000) = 0.007; 5 sigma bounds */
    CHECK(fabs(mean) < 0.035);
    CHECK(fabs(var - 1.0) < 0.05);
    for (i = 0; i < 1000; i++) {
        float u = tt_rng_uniform(&a);
        CHECK(u >= 0.0f && u < 1.0f);
    }
}

int main(void) {
    RUN(test_zero_allocations_per_step_mlp);
    RUN(test_zero_allocations_per_step_cnn);
    RUN(test_bring_your_own_buffer);
    RUN(test_out_of_memory);
    RUN(test_determinism_same_seed_same_bits);
    RUN(test_rng_streams);
    TEST_EXIT();
}
