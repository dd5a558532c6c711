/* Tuning harness: thread CPU time (immune to other processes stealing the core) of tinytrain vs
   OpenBLAS, one thread, alternating, median of 15. Usage: [TTTHR=2] [TTPATH=1|2] prof_sgemm [case-filter];
   TTTHR=2 measures two threads with the wall clock. Tuning knobs: TTKERNEL=avx2|avx512|scalar|neon,
   TTSHAPE=ta,tb,m,n,k,beta runs one case, TTKC / TTMC / TTNC override the kernel's cache blocks (checked against the workspaces). */
#define _POSIX_C_SOURCE 199309L
#define TINYTRAIN_IMPLEMENTATION
#include "tinytrain.h"
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int nthr = 1; /* TTTHR=2: two threads, wall clock */
static double cpu(void) {
    struct timespec ts;
    clock_gettime(nthr > 1 ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static int cmp_d(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}
static void one(tt_ctx *ctx, const char *name, int ta, int tb, int m, int n, int k, float beta) {
    int lda = ta ? m : k, ldb = tb ? k : n, i, r, it, iters;
    float *a = (float *)malloc(sizeof(float) * (size_t)m * k), *b = (float *)malloc(sizeof(float) * (size_t)k * n);
    float *c = (float *)calloc((size_t)m * n, sizeof(float));
    double to[15], tr[15], t0, fl = 2.0 * m * n * k;
    for (i = 0; i < m * k; i++) a[i] = (float)(i % 7) * 0.1f;
    for (i = 0; i < k * n; i++) b[i] = (float)(i % 5) * 0.1f;
    iters = (int)(3e7 / fl) + 1;
    for (r = 0; r < 15; r++) {
        t0 = cpu();
        for (it = 0; it < iters; it++) tt_ctx_sgemm(ctx, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, n);
        to[r] = (cpu() - t0) / iters;
        t0 = cpu();
        for (it = 0; it < iters && !getenv("TTNOREF"); it++)
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a,
                        lda, b, ldb, beta, c, n);
        tr[r] = (cpu() - t0) / iters;
    }
    qsort(to, 15, sizeof(double), cmp_d);
    qsort(tr, 15, sizeof(double), cmp_d);
    printf("%-28s ours %6.1f  ref %6.1f  ratio %.3f  (best %.3f)\n", name, fl / to[7] * 1e-9, fl / tr[7] * 1e-9,
           tr[7] / to[7], tr[0] / to[0]);
    fflush(stdout);
    free(a); free(b); free(c);
}
int main(int argc, char **argv) {
    tt_desc d;
    tt_ctx ctx;
    const char *f = argc > 1 ? argv[1] : "";
    memset(&d, 0, sizeof d);
    if (getenv("TTTHR")) nthr = atoi(getenv("TTTHR"));
    d.threads = nthr; d.scratch_bytes = 1 << 16; d.persist_bytes = 1 << 16; d.max_params = 16;
    if (tt_ctx_init(&ctx, &d) != TT_OK) return 1;
    openblas_set_num_threads(nthr);
    if (getenv("TTPATH")) ctx.gemm->path = atoi(getenv("TTPATH"));
    if (getenv("TTKERNEL")) {
        tt_kernel kk;
        for (kk = TT_KERNEL_AUTO; strcmp(tt_kernel_name(kk), getenv("TTKERNEL")) && kk <= TT_KERNEL_NEON; kk++) {}
        if (tt_ctx_set_kernel(&ctx, kk) != TT_OK) return 1;
    }
    if (getenv("TTKC")) ctx.gemm->kern.kc = atoi(getenv("TTKC"));
    if (getenv("TTMC")) ctx.gemm->kern.mc = atoi(getenv("TTMC"));
    if (getenv("TTNC")) ctx.gemm->kern.nc = atoi(getenv("TTNC"));
    { /* the overrides must fit the context's workspaces */
        const tt__gemm_kern *K = &ctx.gemm->kern;
        if (K->kc < 1 || K->mc < K->mr || K->nc < K->nr || (size_t)((K->mc + K->mr - 1) / K->mr * K->mr) * K->kc > tt__gemm_pa_floats() ||
            (size_t)(K->nc + K->nr) * K->kc > tt__gemm_pb_floats()) {
            fprintf(stderr, "TTKC / TTMC / TTNC outside the workspace: mc (rounded up to mr) * kc <= %d, (nc + nr) * kc <= %d\n",
                    (int)tt__gemm_pa_floats(), (int)tt__gemm_pb_floats());
            return 1;
        }
    }
    printf("# kernel %s kc %d mc %d nc %d\n", tt_kernel_name(ctx.kernel), ctx.gemm->kern.kc, ctx.gemm->kern.mc,
           ctx.gemm->kern.nc);
    if (getenv("TTSHAPE")) { /* TTSHAPE=ta,tb,m,n,k,beta: one case of any shape */
        int ta, tb, m, n, k;
        float be;
        if (sscanf(getenv("TTSHAPE"), "%d,%d,%d,%d,%d,%f", &ta, &tb, &m, &n, &k, &be) == 6) one(&ctx, getenv("TTSHAPE"), ta, tb, m, n, k, be);
        tt_ctx_free(&ctx);
        return 0;
    }
#define C(nm, ta, tb, m, n, k, be) if (strstr(nm, f)) one(&ctx, nm, ta, tb, m, n, k, be)
    C("sq2048", 0, 0, 2048, 2048, 2048, 0.0f);
    C("sq1024", 0, 0, 1024, 1024, 1024, 0.0f);
    C("sq512", 0, 0, 512, 512, 512, 0.0f);
    C("sq64", 0, 0, 64, 64, 64, 0.0f);
    C("sq1000", 0, 0, 1000, 1000, 1000, 0.0f);
    C("sq1024k", 0, 0, 1024, 1024, 256, 0.0f);
    C("sq256", 0, 0, 256, 256, 256, 0.0f);
    C("mlpA_fwd", 0, 1, 64, 256, 784, 0.0f);
    C("mlpA_dX", 0, 0, 64, 784, 256, 1.0f);
    C("mlpA_dW", 1, 0, 256, 784, 64, 1.0f);
    C("mlpB_fwd", 0, 1, 64, 128, 256, 0.0f);
    C("mlpB_dX", 0, 0, 64, 256, 128, 1.0f);
    C("mlpB_dW", 1, 0, 128, 256, 64, 1.0f);
    C("mlpC_fwd", 0, 1, 64, 10, 128, 0.0f);
    C("mlpC_dX", 0, 0, 64, 128, 10, 1.0f);
    C("mlpC_dW", 1, 0, 10, 128, 64, 1.0f);
    tt_ctx_free(&ctx);
    return 0;
}
