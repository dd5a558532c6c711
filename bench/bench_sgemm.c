/* tinytrain sgemm vs OpenBLAS, same process, alternating runs, same thread count, median of
   repeats. One line per case:
   BENCH {"name": ..., "ours": GFLOPS, "ref": GFLOPS, "ratio": ours/ref, "unit": "GFLOP/s"}
   (wall-clock medians), followed by a comment line with the cores each side kept busy (process
   CPU time / wall time, medians): below the thread count means other processes took the cores,
   which explains noisy multi-thread figures, and the ratio of the CPU-time medians (ref / ours;
   on a loaded machine the one-thread figure to trust, since time spent descheduled is not
   counted). The summary at the end gives t2/t1 at 1024^3.
   OpenBLAS's idle workers busy-wait for 2^28 cycles (~0.1 s) after a call by default: in the
   same process they would take a core from the tinytrain sample that follows. `make bench`
   sets OPENBLAS_THREAD_TIMEOUT=20 (2^20 cycles, ~0.4 ms: still hot between the back-to-back
   calls of a sample; tinytrain's workers spin ~35 us). Pausing instead of that would let the
   cores clock down before the next sample. Matrices are 64-byte aligned, as tinytrain's own
   tensors are (both libraries get the same buffers). */
#define _POSIX_C_SOURCE 199309L
#define TINYTRAIN_IMPLEMENTATION
#include "tinytrain.h"
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double cpu_now(void) { /* all threads of the process */
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

enum { OURS, REF, NAIVE };

typedef struct bcase {
    int ta, tb, m, n, k;
    float beta;
    float *a, *b, *c;
    void *raw[3]; /* the allocations behind a, b, c */
} bcase;

static float *alloc64(size_t n, void **raw) { /* n floats, 64-byte aligned */
    *raw = malloc(n * sizeof(float) + 64);
    return *raw ? (float *)((char *)*raw + (64 - (uintptr_t)*raw % 64)) : NULL;
}

static void run(tt_ctx *ctx, int who, const bcase *p) {
    int lda = p->ta ? p->m : p->k, ldb = p->tb ? p->k : p->n;
    if (who == OURS)
        tt_ctx_sgemm(ctx, p->ta, p->tb, p->m, p->n, p->k, 1.0f, p->a, lda, p->b, ldb, p->beta, p->c, p->n);
    else if (who == NAIVE)
        tt_sgemm_naive(p->ta, p->tb, p->m, p->n, p->k, 1.0f, p->a, lda, p->b, ldb, p->beta, p->c, p->n);
    else
        cblas_sgemm(CblasRowMajor, p->ta ? CblasTrans : CblasNoTrans, p->tb ? CblasTrans : CblasNoTrans, p->m, p->n,
                    p->k, 1.0f, p->a, lda, p->b, ldb, p->beta, p->c, p->n);
}

static int cmp_d(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* wall seconds per call (calls repeated to fill ~15 ms); *busy = process CPU time / wall */
static double sample(tt_ctx *ctx, int who, const bcase *p, int iters, double *busy) {
    double t0 = now(), c0 = cpu_now(), t;
    int i;
    for (i = 0; i < iters; i++) run(ctx, who, p);
    t = now() - t0;
    *busy = (cpu_now() - c0) / (t > 1e-12 ? t : 1e-12);
    return t / iters;
}

static double bench(tt_ctx *ctx, const char *name, int threads, int ta, int tb, int m, int n, int k, float beta,
                  int vs_naive) {
    bcase p;
    size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n, i;
    double flops = 2.0 * m * n * k, t, ours[9], ref[9], bo[9], br[9], co[9], cr[9], go, gr;
    int iters, r, reps = 9, who = vs_naive ? NAIVE : OURS;
    tt_rng rng;
    tt_rng_seed(&rng, 7);
    p.ta = ta; p.tb = tb; p.m = m; p.n = n; p.k = k; p.beta = beta;
    p.a = alloc64(na, &p.raw[0]);
    p.b = alloc64(nb, &p.raw[1]);
    p.c = alloc64(nc, &p.raw[2]);
    for (i = 0; i < na; i++) p.a[i] = tt_rng_uniform(&rng) - 0.5f;
    for (i = 0; i < nb; i++) p.b[i] = tt_rng_uniform(&rng) - 0.5f;
    for (i = 0; i < nc; i++) p.c[i] = 0.0f;
    tt_ctx_set_threads(ctx, threads);
    openblas_set_num_threads(threads);
    /* warm up both and size a sample to ~15 ms of the faster one */
    run(ctx, OURS, &p); run(ctx, REF, &p);
    t = sample(ctx, REF, &p, 1, &bo[0]);

    iters = (int)(0.015 / (t > 1e-9 ? t : 1e-9));
    if (iters < 1) iters = 1;
    if (vs_naive) { iters = 1; reps = 3; }
    for (r = 0; r < reps; r++) {
        ours[r] = sample(ctx, who, &p, iters, &bo[r]);
        ref[r] = sample(ctx, REF, &p, iters, &br[r]);
        co[r] = ours[r] * bo[r]; /* process CPU seconds per call */
        cr[r] = ref[r] * br[r];
    }
    qsort(ours, (size_t)reps, sizeof(double), cmp_d);
    qsort(ref, (size_t)reps, sizeof(double), cmp_d);
    qsort(bo, (size_t)reps, sizeof(double), cmp_d);
    qsort(br, (size_t)reps, sizeof(double), cmp_d);
    qsort(co, (size_t)reps, sizeof(double), cmp_d);
    qsort(cr, (size_t)reps, sizeof(double), cmp_d);
    go = flops / ours[reps / 2] * 1e-9;
    gr = flops / ref[reps / 2] * 1e-9;
    printf("BENCH {\"name\": \"%s_t%d\", \"ours\": %.2f, \"ref\": %.2f, \"ratio\": %.3f, \"unit\": \"GFLOP/s\"}\n", name,
           threads, go, gr, go / gr);
    printf("#   cores busy: ours %.2f, ref %.2f; CPU-time ratio %.3f\n", bo[reps / 2], br[reps / 2],
           cr[reps / 2] / (co[reps / 2] > 0 ? co[reps / 2] : 1e-30));
    fflush(stdout);
    free(p.raw[0]); free(p.raw[1]); free(p.raw[2]);
    return go;
}

int main(void) {
    tt_desc d;
    tt_ctx ctx;
    char name[64];
    static const int sq[] = {64, 128, 256, 512, 1024, 2048};
    static const int mlp[] = {784, 256, 128, 10};
    int t, s, l, batch = 64;
    double sq1024[3] = {0, 0, 0};
    memset(&d, 0, sizeof d);
    d.threads = 2;
    d.scratch_bytes = 1 << 16; d.persist_bytes = 1 << 16; d.max_params = 16;
    if (tt_ctx_init(&ctx, &d) != TT_OK) { printf("init failed: %s\n", tt_error_message(&ctx)); return 1; }
    printf("# kernel %s, OpenBLAS core %s\n", tt_kernel_name(ctx.kernel), openblas_get_corename());
    if (!getenv("OPENBLAS_THREAD_TIMEOUT"))
        printf("# note: OPENBLAS_THREAD_TIMEOUT unset: OpenBLAS's spinning workers may slow the t2 figures\n");
    for (t = 1; t <= 2; t++) {
        for (s = 0; s < 6; s++) {
            snprintf(name, sizeof name, "square_%d", sq[s]);
            if (sq[s] == 1024) sq1024[t] = bench(&ctx, name, t, 0, 0, sq[s], sq[s], sq[s], 0.0f, 0);
            else bench(&ctx, name, t, 0, 0, sq[s], sq[s], sq[s], 0.0f, 0);
        }
        for (l = 0; l < 3; l++) {
            int in = mlp[l], out = mlp[l + 1];
            snprintf(name, sizeof name, "mlp%d_%dx%d_fwd_XWt", batch, in, out);
            bench(&ctx, name, t, 0, 1, batch, out, in, 0.0f, 0);
            snprintf(name, sizeof name, "mlp%d_%dx%d_dX_dYW", batch, in, out);
            bench(&ctx, name, t, 0, 0, batch, in, out, 1.0f, 0);
            snprintf(name, sizeof name, "mlp%d_%dx%d_dW_dYtX", batch, in, out);
            bench(&ctx, name, t, 1, 0, out, in, batch, 1.0f, 0);
        }
    }
    for (s = 0; s < 3; s++) {
        snprintf(name, sizeof name, "naive_square_%d", sq[s]);
        bench(&ctx, name, 1, 0, 0, sq[s], sq[s], sq[s], 0.0f, 1);
    }
    printf("# square_1024: ours with 2 threads / 1 thread = %.2f\n", sq1024[2] / (sq1024[1] > 0 ? sq1024[1] : 1));
    tt_ctx_free(&ctx);
    return 0;
}
