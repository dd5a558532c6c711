/* tinytrain_cuda.cu on a real GPU (tests/cuda/run_on_gpu.sh builds and runs it, also under
   compute-sanitizer). The same checks as tests/test_cuda_harness.cc's, against the CPU path:
   the SGEMM in all transpose forms on odd sizes, and MLP training steps (SGD with momentum,
   AdamW) whose losses must match the CPU's within 1e-4 relative (see test_cuda_harness.cc for
   the justification). Prints "SKIP ...: no GPU" where there is none. With -DTT_CUDA_CUBLAS the
   training runs again on the cuBLAS path. */
#define TINYTRAIN_IMPLEMENTATION
#define TT_CUDA
#include "tinytrain.h"
#include "tests/test.h"
#include <cuda_runtime_api.h>
#include <stdlib.h>

TT_API tt_result tt_cuda_sgemm_raw(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                                   const float *b, int ldb, float beta, float *c, int ldc);
TT_API tt_result tt_cuda_use_cublas(tt_ctx *ctx, int on);
TT_API const char *tt_cuda_device_name(tt_ctx *ctx);

static int use_cublas;

static void fill(float *v, size_t n, uint32_t seed) {
    tt_rng r;
    size_t i;
    tt_rng_seed(&r, seed);
    for (i = 0; i < n; i++) v[i] = 2.0f * tt_rng_uniform(&r) - 1.0f;
}

static int sgemm_case(int ta, int tb, int m, int n, int k, int pad) {
    int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad, bad = 0, i, j;
    size_t na = (size_t)(ta ? k : m) * lda, nb = (size_t)(tb ? n : k) * ldb, nc = (size_t)m * ldc;
    float *a = malloc(na * 4), *b = malloc(nb * 4), *c = malloc(nc * 4), *ref = malloc(nc * 4);
    float *da, *db, *dc;
    fill(a, na, 1); fill(b, nb, 2); fill(c, nc, 3);
    memcpy(ref, c, nc * 4);
    cudaMalloc((void **)&da, na * 4); cudaMalloc((void **)&db, nb * 4); cudaMalloc((void **)&dc, nc * 4);
    cudaMemcpy(da, a, na * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(db, b, nb * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(dc, c, nc * 4, cudaMemcpyHostToDevice);
    if (tt_cuda_sgemm_raw(ta, tb, m, n, k, 0.5f, da, lda, db, ldb, 1.5f, dc, ldc) != TT_OK) bad++;
    if (cudaMemcpy(c, dc, nc * 4, cudaMemcpyDeviceToHost) != cudaSuccess) bad++;
    tt_sgemm_naive(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 1.5f, ref, ldc);
    for (i = 0; i < m; i++)
        for (j = 0; j < n; j++) {
            double g = c[(size_t)i * ldc + j], r = ref[(size_t)i * ldc + j];
            if (!(fabs(g - r) <= 1e-5 + 1e-5 * fabs(r))) bad++;
        }
    cudaFree(da); cudaFree(db); cudaFree(dc);
    free(a); free(b); free(c); free(ref);
    return bad;
}

static void test_gpu_sgemm(void) {
    static const int sizes[][3] = {{67, 131, 45}, {1, 1, 1}, {129, 3, 17}, {130, 129, 44}, {257, 255, 300}};
    int ta, tb, s, pad;
    for (ta = 0; ta < 2; ta++)
        for (tb = 0; tb < 2; tb++)
            for (s = 0; s < 5; s++)
                for (pad = 0; pad < 2; pad++)
                    CHECK_MSG(sgemm_case(ta, tb, sizes[s][0], sizes[s][1], sizes[s][2], pad) == 0, "ta=%d tb=%d size %d pad %d", ta,
                              tb, s, pad);
}

static int train(int gpu, tt_optim_kind kind, float *losses, int steps) {
    tt_ctx ctx;
    tt_desc d;
    tt_optim opt;
    tt_optim_desc od;
    int s[6][2] = {{256, 784}, {256, 0}, {128, 256}, {128, 0}, {10, 128}, {10, 0}}, fan[6] = {784, 784, 256, 256, 128, 128};
    tt_tensor *P[6];
    float *x = malloc(sizeof(float) * 64 * 784);
    int y[64], i, st;
    memset(&d, 0, sizeof d);
    d.seed = 3;
    if (tt_ctx_init(&ctx, &d) != TT_OK) return 0;
    for (i = 0; i < 6; i++) P[i] = tt_param(&ctx, "p", i % 2 ? 1 : 2, s[i]);
    for (i = 0; i < 6; i += 2) tt_init_torch_default(&ctx, P[i], P[i + 1]); /* fan_in from the weight */
    (void)fan;
    od = tt_optim_desc_init(kind);
    od.hp.lr = kind == TT_OPTIM_SGD ? 0.05f : 1e-3f;
    od.hp.momentum = kind == TT_OPTIM_SGD ? 0.9f : 0.0f;
    if (tt_optim_init(&ctx, &opt, &od) != TT_OK) return 0;
    if (gpu && (tt_ctx_use_gpu(&ctx, 0) != TT_OK || (use_cublas && tt_cuda_use_cublas(&ctx, 1) != TT_OK))) {
        printf("  %s\n", tt_error_message(&ctx));
        return 0;
    }
    for (st = 0; st < steps; st++) {
        int xs[2] = {64, 784};
        tt_tensor *h, *loss;
        fill(x, (size_t)64 * 784, 500 + (uint32_t)(st % 2));
        for (i = 0; i < 64; i++) y[i] = (i * 3 + st % 2) % 10;
        tt_scratch_reset(&ctx);
        h = tt_tensor_from(&ctx, 2, xs, x);
        h = tt_relu(&ctx, tt_linear(&ctx, h, P[0], P[1]));
        h = tt_relu(&ctx, tt_linear(&ctx, h, P[2], P[3]));
        loss = tt_cross_entropy(&ctx, tt_linear(&ctx, h, P[4], P[5]), 64, y, NULL);
        tt_zero_grad(&ctx);
        if (tt_backward(&ctx, loss) != TT_OK || tt_optim_step(&ctx, &opt) != TT_OK ||
            tt_tensor_to_host(&ctx, loss, &losses[st], 1) != TT_OK) {
            printf("  %s\n", tt_error_message(&ctx));
            return 0;
        }
    }
    tt_ctx_free(&ctx);
    free(x);
    return 1;
}

static void test_gpu_mlp_training_matches_cpu(void) {
    tt_optim_kind kinds[2] = {TT_OPTIM_SGD, TT_OPTIM_ADAMW};
    int k, i;
    for (k = 0; k < 2; k++) {
        float lc[8], lg[8];
        CHECK(train(0, kinds[k], lc, 8));
        CHECK(train(1, kinds[k], lg, 8));
        for (i = 0; i < 8; i++) CHECK_CLOSE(lg[i], lc[i], 0, 1e-4);
    }
}

/* A small CNN (conv2d 1 -> 8, 3x3, padding 1; batchnorm with running statistics; relu; 2x2 max
   pooling; linear 8*14*14 -> 10; cross-entropy), batch 16 of 28 x 28: losses per step and the
   running variance after the steps; the same 1e-4 relative tolerance as the MLP. */
static int train_cnn(int gpu, tt_optim_kind kind, float *losses, int steps, float *run_var) {
    tt_ctx ctx;
    tt_desc d;
    tt_optim opt;
    tt_optim_desc od;
    tt_conv_opts co = tt_conv_opts_init();
    tt_pool_opts po = tt_pool_opts_init(2, 2);
    int cw[4] = {8, 1, 3, 3}, c8[1] = {8}, fw[2] = {10, 8 * 14 * 14}, f10[1] = {10}, y[16], i, st;
    tt_tensor *w1, *b1, *g1, *h1, *rm, *rv, *w2, *b2;
    float *x = malloc(sizeof(float) * 16 * 784);
    memset(&d, 0, sizeof d);
    d.seed = 5;
    d.scratch_bytes = (size_t)32 << 20;
    if (!x || tt_ctx_init(&ctx, &d) != TT_OK) return 0;
    w1 = tt_param(&ctx, "conv.weight", 4, cw); b1 = tt_param(&ctx, "conv.bias", 1, c8);
    g1 = tt_param(&ctx, "bn.weight", 1, c8); h1 = tt_param(&ctx, "bn.bias", 1, c8);
    rm = tt_buffer(&ctx, "bn.running_mean", 1, c8); rv = tt_buffer(&ctx, "bn.running_var", 1, c8);
    w2 = tt_param(&ctx, "fc.weight", 2, fw); b2 = tt_param(&ctx, "fc.bias", 1, f10);
    tt_init_torch_default(&ctx, w1, b1);
    tt_init_torch_default(&ctx, w2, b2);
    tt_init_const(&ctx, g1, 1.0f); tt_init_const(&ctx, h1, 0.0f);
    tt_init_const(&ctx, rm, 0.0f); tt_init_const(&ctx, rv, 1.0f);
    od = tt_optim_desc_init(kind);
    od.hp.lr = kind == TT_OPTIM_SGD ? 0.05f : 1e-3f;
    od.hp.momentum = kind == TT_OPTIM_SGD ? 0.9f : 0.0f;
    co.padding[0] = co.padding[1] = 1;
    if (tt_optim_init(&ctx, &opt, &od) != TT_OK) return 0;
    if (gpu && (tt_ctx_use_gpu(&ctx, 0) != TT_OK || (use_cublas && tt_cuda_use_cublas(&ctx, 1) != TT_OK))) {
        printf("  %s\n", tt_error_message(&ctx));
        return 0;
    }
    for (st = 0; st < steps; st++) {
        int xs[4] = {16, 1, 28, 28};
        tt_tensor *h, *loss;
        fill(x, (size_t)16 * 784, 700 + (uint32_t)(st % 2));
        for (i = 0; i < 16; i++) y[i] = (i * 3 + st % 2) % 10;
        tt_scratch_reset(&ctx);
        h = tt_tensor_from(&ctx, 4, xs, x);
        h = tt_batchnorm(&ctx, tt_conv2d(&ctx, h, w1, b1, &co), g1, h1, rm, rv, NULL);
        h = tt_max_pool2d(&ctx, tt_relu(&ctx, h), &po);
        loss = tt_cross_entropy(&ctx, tt_linear(&ctx, tt_flatten(&ctx, h, 1), w2, b2), 16, y, NULL);
        tt_zero_grad(&ctx);
        if (tt_backward(&ctx, loss) != TT_OK || tt_optim_step(&ctx, &opt) != TT_OK ||
            tt_tensor_to_host(&ctx, loss, &losses[st], 1) != TT_OK) {
            printf("  %s\n", tt_error_message(&ctx));
            return 0;
        }
    }
    if (tt_tensor_to_host(&ctx, rv, run_var, 8) != TT_OK) return 0;
    tt_ctx_free(&ctx);
    free(x);
    return 1;
}

static void test_gpu_cnn_training_matches_cpu(void) {
    tt_optim_kind kinds[2] = {TT_OPTIM_SGD, TT_OPTIM_ADAM};
    int k, i;
    for (k = 0; k < 2; k++) {
        float lc[6], lg[6], vc[8], vg[8];
        CHECK(train_cnn(0, kinds[k], lc, 6, vc));
        CHECK(train_cnn(1, kinds[k], lg, 6, vg));
        for (i = 0; i < 6; i++) CHECK_CLOSE(lg[i], lc[i], 0, 1e-4);
        for (i = 0; i < 8; i++) CHECK_CLOSE(vg[i], vc[i], 0, 1e-4);
    }
}

int main(void) {
    tt_ctx ctx;
    tt_desc d;
    tt_result r;
    memset(&d, 0, sizeof d);
    d.scratch_bytes = 1 << 20;
    tt_ctx_init(&ctx, &d);
    r = tt_ctx_use_gpu(&ctx, 0);
    if (r != TT_OK) {
        printf("SKIP test_gpu: no GPU (%s)\n", tt_error_message(&ctx));
        tt_ctx_free(&ctx);
        return 0;
    }
    printf("device: %s\n", tt_cuda_device_name(&ctx));
    tt_ctx_free(&ctx);
    RUN(test_gpu_sgemm);
    RUN(test_gpu_mlp_training_matches_cpu);
    RUN(test_gpu_cnn_training_matches_cpu);
#ifdef TT_CUDA_CUBLAS
    use_cublas = 1;
    RUN(test_gpu_mlp_training_matches_cpu);
    RUN(test_gpu_cnn_training_matches_cpu);
#endif
    (void)use_cublas;
    TEST_EXIT();
}
