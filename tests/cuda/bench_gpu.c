/* SGEMM benchmark on a GPU: tinytrain_cuda.cu's hand-written kernel vs cuBLAS FP32 (TF32 off,
   CUBLAS_DEFAULT_MATH), square sizes 1024..8192 and the MLP / transformer training shapes.
   Prints BENCH {"name": ..., "ours": GFLOP/s, "ref": GFLOP/s, "ratio": ..., "unit": "GFLOP/s"}.
   Median of 5 timed runs (cudaEvent) after a warm-up. Benchmark only, not a test. */
#define TINYTRAIN_IMPLEMENTATION /* tinytrain_cuda.o calls into the header */
#include "tinytrain.h"
#include <cuda_runtime_api.h>
#include <cublas_v2.h>
#include <stdio.h>
#include <stdlib.h>

TT_API tt_result tt_cuda_sgemm_raw(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                                   const float *b, int ldb, float beta, float *c, int ldc);

static int cmp(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static float time_ms(int which, cublasHandle_t h, int ta, int tb, int m, int n, int k, float *a, float *b, float *c) {
    cudaEvent_t e0, e1;
    float t[5], one = 1.0f, zero = 0.0f;
    int r, lda = ta ? m : k, ldb = tb ? k : n;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    for (r = -1; r < 5; r++) {
        cudaEventRecord(e0, 0);
        if (which == 0) tt_cuda_sgemm_raw(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
        else cublasSgemm(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &one, b, ldb, a, lda, &zero, c, n);
        cudaEventRecord(e1, 0);
        cudaEventSynchronize(e1);
        if (r >= 0) cudaEventElapsedTime(&t[r], e0, e1);
    }
    qsort(t, 5, sizeof t[0], cmp);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    return t[2];
}

int main(void) {
    static const int shapes[][5] = {
        {1024, 1024, 1024, 0, 0}, {2048, 2048, 2048, 0, 0}, {4096, 4096, 4096, 0, 0}, {8192, 8192, 8192, 0, 0},
        /* MLP 784-256-128-10 batch 64: forward, dX, dW */
        {64, 256, 784, 0, 1}, {64, 784, 256, 0, 0}, {256, 784, 64, 1, 0},
        /* transformer block (B*T = 512, C = 128, 4C, vocab 256) */
        {512, 128, 128, 0, 1}, {512, 512, 128, 0, 1}, {512, 128, 512, 0, 1}, {512, 256, 128, 0, 1}, {512, 512, 128, 1, 0}};
    size_t most = (size_t)8192 * 8192;
    float *a, *b, *c;
    cublasHandle_t h;
    int i, n;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
        printf("skipped: no GPU\n");
        return 0;
    }
    if (cudaMalloc((void **)&a, most * 4) != cudaSuccess || cudaMalloc((void **)&b, most * 4) != cudaSuccess ||
        cudaMalloc((void **)&c, most * 4) != cudaSuccess || cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) {
        printf("bench_gpu: allocation failed\n");
        return 1;
    }
    cublasSetMathMode(h, CUBLAS_DEFAULT_MATH); /* FP32, TF32 off */
    cudaMemset(a, 0, most * 4);
    cudaMemset(b, 0, most * 4);
    for (i = 0; i < (int)(sizeof shapes / sizeof shapes[0]); i++) {
        const int *s = shapes[i];
        double flop = 2.0 * s[0] * s[1] * s[2];
        float ours = time_ms(0, h, s[3], s[4], s[0], s[1], s[2], a, b, c);
        float ref = time_ms(1, h, s[3], s[4], s[0], s[1], s[2], a, b, c);
        printf("BENCH {\"name\": \"sgemm_%s%s_%dx%dx%d\", \"ours\": %.1f, \"ref\": %.1f, \"ratio\": %.3f, \"unit\": \"GFLOP/s\"}\n",
               s[3] ? "T" : "N", s[4] ? "T" : "N", s[0], s[1], s[2], flop / ours * 1e-6, flop / ref * 1e-6, ref / ours);
    }
    cublasDestroy(h);
    cudaFree(a); cudaFree(b); cudaFree(c);
    return 0;
}
