/* A tour of matrix-multiply speed: C = A * B for 512 x 512 matrices, from the textbook triple
   loop to the packed, register-blocked, SIMD, threaded kernel, next to the machine's peak.
   Each step is one idea:
     naive (i-j-p)      dot products; B is walked down a column: one cache miss per multiply
     reordered (i-p-j)  same arithmetic, B and C walked along rows: the compiler can vectorize
     blocked scalar     packed panels + 4x8 register tile + cache blocking, portable C
     SIMD kernel        the same blocking with an AVX2/AVX-512/NEON micro-kernel (FMA)
     threaded           the SIMD kernel with C split between 2 threads
   Build with `make`, run ./build/matmul_tour. */
#define _POSIX_C_SOURCE 199309L
#define TINYTRAIN_IMPLEMENTATION
#include "tinytrain.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N 512

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* loop order i-p-j: the inner loop streams a row of B into a row of C */
static void matmul_ipj(int n, const float *a, const float *b, float *c) {
    int i, j, p;
    for (i = 0; i < n * n; i++) c[i] = 0.0f;
    for (i = 0; i < n; i++)
        for (p = 0; p < n; p++) {
            float aip = a[i * n + p];
            for (j = 0; j < n; j++) c[i * n + j] += aip * b[p * n + j];
        }
}

/* Peak: the micro-kernel on data that sits in L1 (a 6x16 or similar tile of independent FMAs,
   nothing but arithmetic): this is what the hardware can do, per core. */
static double peak_gflops(tt_kernel kern) {
    static float a[8 * 320], b[32 * 320], c[8 * 32];
    tt__gemm_kern K;
    double t0, t;
    int i, reps = 20000;
    if (!tt__gemm_kern_get(kern, &K)) return 0.0;
    for (i = 0; i < 8 * 320; i++) a[i] = 1e-3f;
    for (i = 0; i < 32 * 320; i++) b[i] = 1e-3f;
    K.ukr(256, a, 1, K.mr, b, c, K.nr, 1.0f, 0.0f, K.mr, K.nr);
    t0 = now();
    for (i = 0; i < reps; i++) K.ukr(256, a, 1, K.mr, b, c, K.nr, 1.0f, 0.0f, K.mr, K.nr);
    t = now() - t0;
    return 2.0 * K.mr * K.nr * 256 * reps / t * 1e-9;
}

static double gflops(double seconds) { return 2.0 * N * N * N / seconds * 1e-9; }

int main(void) {
    float *a = (float *)malloc(sizeof(float) * N * N), *b = (float *)malloc(sizeof(float) * N * N);
    float *c = (float *)malloc(sizeof(float) * N * N);
    tt_desc d;
    tt_ctx ctx;
    tt_rng rng;
    double t, best;
    int i, r;
    if (!a || !b || !c) return 1;
    tt_rng_seed(&rng, 1);
    for (i = 0; i < N * N; i++) { a[i] = tt_rng_uniform(&rng) - 0.5f; b[i] = tt_rng_uniform(&rng) - 0.5f; }
    memset(&d, 0, sizeof d);
    d.threads = 2;
    d.scratch_bytes = 1 << 16; d.persist_bytes = 1 << 16; d.max_params = 16;
    if (tt_ctx_init(&ctx, &d) != TT_OK) { printf("init: %s\n", tt_error_message(&ctx)); return 1; }

    printf("C = A * B, %d x %d, float32, GFLOP/s (higher is better)\n", N, N);
    t = now(); tt_sgemm_naive(0, 0, N, N, N, 1.0f, a, N, b, N, 0.0f, c, N);
    printf("  naive triple loop (i-j-p)        %7.1f\n", gflops(now() - t));
    t = now(); matmul_ipj(N, a, b, c);
    printf("  reordered loops (i-p-j)          %7.1f\n", gflops(now() - t));

    tt_ctx_set_threads(&ctx, 1);
    tt_ctx_set_kernel(&ctx, TT_KERNEL_SCALAR);
    for (best = 1e9, r = 0; r < 3; r++) {
        t = now(); tt_ctx_sgemm(&ctx, 0, 0, N, N, N, 1.0f, a, N, b, N, 0.0f, c, N); t = now() - t;
        if (t < best) best = t;
    }
    printf("  packed + blocked, scalar C       %7.1f\n", gflops(best));

    tt_ctx_set_kernel(&ctx, TT_KERNEL_AUTO);
    for (best = 1e9, r = 0; r < 5; r++) {
        t = now(); tt_ctx_sgemm(&ctx, 0, 0, N, N, N, 1.0f, a, N, b, N, 0.0f, c, N); t = now() - t;
        if (t < best) best = t;
    }
    printf("  + SIMD micro-kernel (%-6s)     %7.1f\n", tt_kernel_name(ctx.kernel), gflops(best));

    tt_ctx_set_threads(&ctx, 2);
    for (best = 1e9, r = 0; r < 5; r++) {
        t = now(); tt_ctx_sgemm(&ctx, 0, 0, N, N, N, 1.0f, a, N, b, N, 0.0f, c, N); t = now() - t;
        if (t < best) best = t;
    }
    printf("  + 2 threads                      %7.1f\n", gflops(best));
    printf("  peak of one core (%s FMAs in L1) %7.1f   (x2 for two cores)\n", tt_kernel_name(ctx.kernel),
           peak_gflops(ctx.kernel));
    tt_ctx_free(&ctx);
    free(a); free(b); free(c);
    return 0;
}
