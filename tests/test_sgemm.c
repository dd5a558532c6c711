/* Matrix multiply: every kernel the CPU supports, both drivers (light / packed), threads,
   transposes, alpha/beta, leading dimensions, edge sizes and invalid arguments, against a
   double-precision reference.

   Tolerance: for each element, |c - ref| <= (k + 3) * 2^-24 * (|alpha| sum_p |a_ip b_pj| + |beta c0|)
   + 1e-30. This is the classic worst-case bound gamma_(k+2) for a float dot product of length k
   followed by the alpha/beta update (any summation order, with or without FMA), so a correct
   kernel can never exceed it, while a wrong index, a dropped or doubled term changes the result
   by about sum/k, far above the bound (e.g. k = 513: bound 3e-5 * sum, one term ~2e-3 * sum). */
#include <stdlib.h>
static long g_mallocs; /* counts allocator calls: tt_ctx_sgemm must make none */
static void *count_malloc(size_t n) { g_mallocs++; return malloc(n); }
#define TT_MALLOC(sz) count_malloc(sz)
#define TT_FREE(p) free(p)
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"

#if defined(__SANITIZE_ADDRESS__)
#define SLOW_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLOW_BUILD 1
#endif
#endif
#ifndef SLOW_BUILD
#define SLOW_BUILD 0
#endif

static tt_rng g_rng;

static float frand(void) { return tt_rng_uniform(&g_rng) * 2.0f - 1.0f; }

typedef struct problem {
    int ta, tb, m, n, k, lda, ldb, ldc;
    float alpha, beta;
    float *a, *b, *c0; /* c0: C before the call */
    size_t na, nb, nc;
} problem;

static const float ab_vals[][2] = {{1, 0}, {1, 1}, {-0.5f, 2}, {2.5f, -1}, {0, 0.5f}, {1, 0}, {0.75f, 0}};

/* Random problem; padding of lda/ldb/ldc is random (0..4 extra). NaN-filled C when beta == 0. */
static void make_problem(problem *p, int ta, int tb, int m, int n, int k, int ab) {
    size_t i;
    int ra, rb;
    p->ta = ta; p->tb = tb; p->m = m; p->n = n; p->k = k;
    p->alpha = ab_vals[ab][0]; p->beta = ab_vals[ab][1];
    p->lda = (ta ? m : k) + (int)(tt_rng_u32(&g_rng) % 5u); if (p->lda < 1) p->lda = 1;
    p->ldb = (tb ? k : n) + (int)(tt_rng_u32(&g_rng) % 5u); if (p->ldb < 1) p->ldb = 1;
    p->ldc = n + (int)(tt_rng_u32(&g_rng) % 5u); if (p->ldc < 1) p->ldc = 1;
    ra = ta ? k : m; rb = tb ? n : k;
    p->na = (size_t)ra * p->lda + 1; p->nb = (size_t)rb * p->ldb + 1; p->nc = (size_t)m * p->ldc + 1;
    p->a = (float *)malloc(p->na * sizeof(float));
    p->b = (float *)malloc(p->nb * sizeof(float));
    p->c0 = (float *)malloc(p->nc * sizeof(float));
    for (i = 0; i < p->na; i++) p->a[i] = frand();
    for (i = 0; i < p->nb; i++) p->b[i] = frand();
    for (i = 0; i < p->nc; i++) p->c0[i] = p->beta == 0.0f ? NAN : frand();
}
static void free_problem(problem *p) { free(p->a); free(p->b); free(p->c0); }

/* Checks c (after the call) against the double reference; padding of C must be untouched. */
static int check_result(const problem *p, const float *c, const char *what) {
    int i, j, q, bad = 0;
    for (i = 0; i < p->m; i++) {
        for (j = 0; j < p->ldc; j++) {
            size_t ci = (size_t)i * p->ldc + j;
            double s = 0, sa = 0, ref, tol;
            if (j >= p->n) {
                /* padding: NaN stays NaN, numbers unchanged */
                if (!(c[ci] == p->c0[ci] || (c[ci] != c[ci] && p->c0[ci] != p->c0[ci]))) bad++;
                continue;
            }
            for (q = 0; q < p->k; q++) {
                double x = p->ta ? p->a[(size_t)q * p->lda + i] : p->a[(size_t)i * p->lda + q];
                double y = p->tb ? p->b[(size_t)j * p->ldb + q] : p->b[(size_t)q * p->ldb + j];
                s += x * y;
                sa += fabs(x * y);
            }
            ref = p->alpha * s + (p->beta == 0.0f ? 0.0 : p->beta * (double)p->c0[ci]);
            tol = (p->k + 3) * ldexp(1.0, -24) *
                  (fabs(p->alpha) * sa + (p->beta == 0.0f ? 0.0 : fabs(p->beta * (double)p->c0[ci]))) + 1e-30;
            if (!(fabs(c[ci] - ref) <= tol)) {
                if (bad < 3)
                    printf("  %s ta=%d tb=%d m=%d n=%d k=%d alpha=%g beta=%g: c[%d,%d] = %.9g, ref %.9g (tol %.3g)\n",
                           what, p->ta, p->tb, p->m, p->n, p->k, p->alpha, p->beta, i, j, c[ci], ref, tol);
                bad++;
            }
        }
    }
    return bad == 0;
}

/* Runs one problem through the context (current kernel, path `path`, current threads).
   Returns a malloc'ed result. */
static float *run_ctx(tt_ctx *ctx, const problem *p, int path) {
    float *c = (float *)malloc(p->nc * sizeof(float));
    tt_result r;
    long before = g_mallocs;
    memcpy(c, p->c0, p->nc * sizeof(float));
    ctx->gemm->path = path;
    r = tt_ctx_sgemm(ctx, p->ta, p->tb, p->m, p->n, p->k, p->alpha, p->a, p->lda, p->b, p->ldb, p->beta, c, p->ldc);
    CHECK_MSG(r == TT_OK, "%s", tt_error_message(ctx));
    CHECK(g_mallocs == before);
    return c;
}

/* Both paths through the context, each with op(B) = B read in place where the driver chooses to
   and always packed: each correct, and all bit-identical to each other. */
static void check_ctx(tt_ctx *ctx, const problem *p, const char *what) {
    float *c1 = run_ctx(ctx, p, TT__GEMM_PATH_LIGHT), *c2 = run_ctx(ctx, p, TT__GEMM_PATH_PACKED);
    float *c3 = run_ctx(ctx, p, TT__GEMM_PATH_AUTO);
    float *c4 = run_ctx(ctx, p, TT__GEMM_PATH_LIGHT | TT__GEMM_PATH_PACK_B);
    float *c5 = run_ctx(ctx, p, TT__GEMM_PATH_PACKED | TT__GEMM_PATH_PACK_B);
    CHECK_MSG(check_result(p, c1, what), "%s light path", what);
    CHECK_MSG(memcmp(c1, c2, p->nc * sizeof(float)) == 0, "%s: light and packed paths differ (m=%d n=%d k=%d)",
              what, p->m, p->n, p->k);
    CHECK_MSG(memcmp(c1, c3, p->nc * sizeof(float)) == 0, "%s: auto path differs", what);
    CHECK_MSG(memcmp(c1, c4, p->nc * sizeof(float)) == 0 && memcmp(c1, c5, p->nc * sizeof(float)) == 0,
              "%s: B read in place and packed B differ (m=%d n=%d k=%d)", what, p->m, p->n, p->k);
    free(c1); free(c2); free(c3); free(c4); free(c5);
}

static const int small_sizes[] = {0, 1, 2, 3, 7, 15, 16, 17, 31, 33};
static const int big_sizes[] = {63, 65, 127, 200, 513};

/* Every kernel of this CPU: all small shape triples, all transposes, various alpha/beta. */
static void run_kernel_suite(tt_kernel kern) {
    tt_desc d;
    tt_ctx ctx;
    int ta, tb, im, in, ik, cnt = 0, s;
    const int ns = (int)(sizeof small_sizes / sizeof small_sizes[0]);
    memset(&d, 0, sizeof d);
    d.kernel = kern;
    d.scratch_bytes = 1 << 16; d.persist_bytes = 1 << 16; d.max_params = 16;
    if (tt_ctx_init(&ctx, &d) != TT_OK) { CHECK_MSG(0, "init %s: %s", tt_kernel_name(kern), tt_error_message(&ctx)); return; }
    CHECK(ctx.kernel == kern);
    for (ta = 0; ta < 2; ta++)
        for (tb = 0; tb < 2; tb++)
            for (im = 0; im < ns; im++)
                for (in = 0; in < ns; in++)
                    for (ik = 0; ik < ns; ik++) {
                        problem p;
                        make_problem(&p, ta, tb, small_sizes[im], small_sizes[in], small_sizes[ik], cnt++ % 7);
                        check_ctx(&ctx, &p, tt_kernel_name(kern));
                        free_problem(&p);
                    }
    /* big sizes: cubes, mixed with small ones, and rectangular mixes */
    {
        static const int mix[][3] = {{513, 65, 200}, {200, 513, 63}, {127, 31, 513}, {65, 513, 127}, {1, 513, 200},
                                     {513, 1, 127}, {300, 300, 300}, {64, 256, 784}, {17, 1030, 40}, {150, 33, 7},
                                     /* small-k driver: C tiles row by row (k <= 64), B slivers packed
                                        just in time next to B read in place (m <= 48, k > 64) */
                                     {128, 256, 64}, {64, 128, 10}, {40, 100, 100}, {130, 47, 66}};
        int nb = SLOW_BUILD ? 3 : 5, nmix = SLOW_BUILD ? 4 : (int)(sizeof mix / sizeof mix[0]);
        for (s = 0; s < nb; s++)
            for (ta = 0; ta < 2; ta++)
                for (tb = 0; tb < 2; tb++) {
                    problem p;
                    int z = big_sizes[s];
                    if (z <= 200) {
                        make_problem(&p, ta, tb, z, z, z, cnt++ % 7);
                        check_ctx(&ctx, &p, tt_kernel_name(kern));
                        free_problem(&p);
                    }
                    make_problem(&p, ta, tb, z, small_sizes[(s + 4) % ns], small_sizes[(s + 7) % ns] + 1, cnt++ % 7);
                    check_ctx(&ctx, &p, tt_kernel_name(kern));
                    free_problem(&p);
                    make_problem(&p, ta, tb, 3, z, 17, cnt++ % 7);
                    check_ctx(&ctx, &p, tt_kernel_name(kern));
                    free_problem(&p);
                }
        for (s = 0; s < nmix; s++) {
            problem p;
            make_problem(&p, s & 1, (s >> 1) & 1, mix[s][0], mix[s][1], mix[s][2], cnt++ % 7);
            check_ctx(&ctx, &p, tt_kernel_name(kern));
            free_problem(&p);
        }
        /* dW = dY^T X (op(A) = A^T with rows over 64 floats apart, op(B) = B, k <= 64): the
           first tiles pack A and B while they compute; row edges of 5, 1 + 6 (4 + 3) and 2 + 6
           (4 + 4) rows, a 15-column edge */
        for (s = 0; s < 4; s++) {
            static const int dw[][3] = {{128, 256, 64}, {71, 79, 50}, {67, 40, 33}, {65, 33, 64}};
            problem p;
            make_problem(&p, 1, 0, dw[s][0], dw[s][1], dw[s][2], cnt++ % 7);
            check_ctx(&ctx, &p, tt_kernel_name(kern));
            free_problem(&p);
        }
        /* narrow C (n <= 16: the column-vector kernels of the auto path, e.g. the forward X W^T
           of a 10-class layer): every n from 1 to 17, row counts around 8 and 16 (edge panels),
           k of 1, 5, 64 and 333 (two k blocks with beta 1 on the second), all transposes */
        {
            static const int nm[] = {8, 9, 16, 23, 64, 70}, nk[] = {1, 5, 64, 333};
            int n, i = 0;
            for (n = 1; n <= 17; n++)
                for (ta = 0; ta < 2; ta++)
                    for (tb = 0; tb < 2; tb++, i++) {
                        problem p;
                        make_problem(&p, ta, tb, nm[i % 6], n, nk[(i / 6 + n) % 4], cnt++ % 7);
                        check_ctx(&ctx, &p, tt_kernel_name(kern));
                        free_problem(&p);
                    }
        }
    }
    tt_ctx_free(&ctx);
}

static void test_kernel_scalar(void) { run_kernel_suite(TT_KERNEL_SCALAR); }
static void test_kernel_avx2(void) { run_kernel_suite(TT_KERNEL_AVX2); }
static void test_kernel_avx512(void) { run_kernel_suite(TT_KERNEL_AVX512); }
static void test_kernel_neon(void) { run_kernel_suite(TT_KERNEL_NEON); }

/* tt_sgemm (no context, stack buffer) and tt_sgemm_naive on a few shapes. */
static void test_sgemm_and_naive(void) {
    static const int sh[][3] = {{0, 5, 3}, {5, 0, 3}, {4, 5, 0}, {1, 1, 1}, {7, 33, 17}, {65, 63, 200}, {200, 127, 300}, {31, 513, 3}};
    int s, t, cnt = 0;
    for (s = 0; s < (int)(sizeof sh / sizeof sh[0]); s++)
        for (t = 0; t < 4; t++) {
            problem p;
            float *c = NULL;
            make_problem(&p, t & 1, t >> 1, sh[s][0], sh[s][1], sh[s][2], cnt++ % 7);
            c = (float *)malloc(p.nc * sizeof(float));
            memcpy(c, p.c0, p.nc * sizeof(float));
            CHECK(tt_sgemm(p.ta, p.tb, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc) == TT_OK);
            CHECK_MSG(check_result(&p, c, "tt_sgemm"), "tt_sgemm");
            memcpy(c, p.c0, p.nc * sizeof(float));
            CHECK(tt_sgemm_naive(p.ta, p.tb, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc) == TT_OK);
            CHECK_MSG(check_result(&p, c, "naive"), "tt_sgemm_naive");
            free(c);
            free_problem(&p);
        }
}

/* tt_sgemm equals the context's default kernel bit for bit (same kernel, same k blocking). */
static void test_sgemm_matches_ctx(void) {
    tt_desc d;
    tt_ctx ctx;
    problem p;
    float *c, *c2;
    memset(&d, 0, sizeof d);
    d.scratch_bytes = 1 << 16; d.persist_bytes = 1 << 16; d.max_params = 16;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    CHECK(ctx.kernel == tt_kernel_best());
    make_problem(&p, 1, 0, 300, 70, 600, 1);
    c = run_ctx(&ctx, &p, TT__GEMM_PATH_PACKED);
    c2 = (float *)malloc(p.nc * sizeof(float));
    memcpy(c2, p.c0, p.nc * sizeof(float));
    CHECK(tt_sgemm(p.ta, p.tb, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c2, p.ldc) == TT_OK);
    CHECK(memcmp(c, c2, p.nc * sizeof(float)) == 0);
    free(c); free(c2); free_problem(&p);
    tt_ctx_free(&ctx);
}

/* Cache blocking: MC / NC from the cache sizes by the documented rule (A block ~30% of L2, B
   block at most half the L3 share, multiples of MR / NR, clamped), defaults when unknown, the
   same answer every time; and MC / NC never change a result (only KC cuts the k sums). */
static void test_blocking(void) {
    tt__gemm_kern K;
    tt_desc d;
    tt_ctx ctx;
    long l1a, l2a, l3a, l1b, l2b, l3b;
    int kk, s, i;
    /* values worked out by hand from the rule */
    CHECK(tt__gemm_kern_get(TT_KERNEL_SCALAR, &K));            /* KC 320, MR 4, NR 8 */
    tt__gemm_blocking(&K, 0, 0);
    CHECK(K.mc == 120 && K.nc == 1024);                          /* unknown: the Zen 3 blocks */
    tt__gemm_blocking(&K, 512 * 1024, 16L << 20);               /* 524288 / 10 * 3 / 1280 = 122 -> 120 */
    CHECK(K.mc == 120 && K.nc == 1024);
    tt__gemm_blocking(&K, 256 * 1024, 1L << 20);                /* 61 -> 60; 1048576 / 2 / 1280 = 409 -> 408 */
    CHECK_MSG(K.mc == 60 && K.nc == 408, "mc %d nc %d", K.mc, K.nc);
    tt__gemm_blocking(&K, 1000, 1000);                          /* nonsense: defaults */
    CHECK(K.mc == 120 && K.nc == 1024);
    tt__gemm_blocking(&K, 1L << 30, 1L << 30);                  /* huge: clamped to the workspace */
    CHECK(K.mc == 240 && K.nc == 1024);
    tt__gemm_blocking(&K, 40 * 1024, 300 * 1024);               /* tiny: 9 -> 8 (2 MR); 307200 / 2 / 1280 = 120 */
    CHECK_MSG(K.mc == 8 && K.nc == 120, "mc %d nc %d", K.mc, K.nc);
    tt__gemm_caches(&l1a, &l2a, &l3a);
    tt__gemm_caches(&l1b, &l2b, &l3b);
    CHECK(l1a == l1b && l2a == l2b && l3a == l3b && l1a >= 0 && l2a >= 0 && l3a >= 0);
    memset(&d, 0, sizeof d);
    d.scratch_bytes = 1 << 16; d.persist_bytes = 1 << 16; d.max_params = 16;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    for (kk = TT_KERNEL_SCALAR; kk < TT_KERNEL_COUNT_; kk++) {
        static const int sh[][5] = {{0, 0, 300, 300, 300}, {1, 1, 513, 65, 200}, {0, 1, 250, 1100, 90}, {1, 0, 130, 200, 700}};
        static const int blk[][2] = {{12, 64}, {48, 160}, {126, 512}, {240, 1024}, {96, 1024}};
        if (!tt_kernel_supported((tt_kernel)kk)) continue;
        CHECK(tt_ctx_set_kernel(&ctx, (tt_kernel)kk) == TT_OK);
        CHECK(ctx.gemm->kern.mc % ctx.gemm->kern.mr == 0 && ctx.gemm->kern.nc % ctx.gemm->kern.nr == 0);
        for (s = 0; s < 4; s++) {
            problem p;
            float *c0, *c;
            make_problem(&p, sh[s][0], sh[s][1], sh[s][2], sh[s][3], sh[s][4], s + 1);
            c0 = run_ctx(&ctx, &p, TT__GEMM_PATH_PACKED);
            CHECK_MSG(check_result(&p, c0, tt_kernel_name((tt_kernel)kk)), "%s blocking", tt_kernel_name((tt_kernel)kk));
            for (i = 0; i < 5; i++) {
                tt__gemm_kern keep = ctx.gemm->kern;
                ctx.gemm->kern.mc = blk[i][0] - blk[i][0] % keep.mr;
                ctx.gemm->kern.nc = blk[i][1] - blk[i][1] % keep.nr;
                c = run_ctx(&ctx, &p, TT__GEMM_PATH_PACKED);
                CHECK_MSG(memcmp(c0, c, p.nc * sizeof(float)) == 0, "%s: mc %d nc %d changed the result (m=%d n=%d k=%d)",
                          tt_kernel_name((tt_kernel)kk), ctx.gemm->kern.mc, ctx.gemm->kern.nc, p.m, p.n, p.k);
                ctx.gemm->kern = keep;
                free(c);
            }
            free(c0);
            free_problem(&p);
        }
    }
    tt_ctx_free(&ctx);
}

/* threads 1 vs 2 (and 3): bit-identical, on shapes that split along n and along m. */
static void test_threads_bit_identical(void) {
    static const int sh[][3] = {{300, 300, 300}, {64, 256, 784}, {1000, 40, 200}, {256, 784, 64}, {97, 1001, 130}};
    tt_desc d;
    tt_ctx ctx;
    int s, t, kk;
    memset(&d, 0, sizeof d);
    d.threads = 3;
    d.scratch_bytes = 1 << 16; d.persist_bytes = 1 << 16; d.max_params = 16;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    for (kk = TT_KERNEL_SCALAR; kk < TT_KERNEL_COUNT_; kk++) {
        if (!tt_kernel_supported((tt_kernel)kk)) continue;
        CHECK(tt_ctx_set_kernel(&ctx, (tt_kernel)kk) == TT_OK);
        for (s = 0; s < (int)(sizeof sh / sizeof sh[0]) - (SLOW_BUILD ? 3 : 0); s++)
            for (t = 0; t < 4; t++) {
                problem p;
                float *c1, *c2, *c3;
                make_problem(&p, t & 1, t >> 1, sh[s][0], sh[s][1], sh[s][2], (s + t) % 7);
                CHECK(tt_ctx_set_threads(&ctx, 1) == TT_OK);
                c1 = run_ctx(&ctx, &p, TT__GEMM_PATH_AUTO);
                CHECK(tt_ctx_set_threads(&ctx, 2) == TT_OK);
                c2 = run_ctx(&ctx, &p, TT__GEMM_PATH_AUTO);
                CHECK(tt_ctx_set_threads(&ctx, 3) == TT_OK);
                c3 = run_ctx(&ctx, &p, TT__GEMM_PATH_AUTO);
                if (t == 0) CHECK_MSG(check_result(&p, c2, "threads"), "threads");
                CHECK_MSG(memcmp(c1, c2, p.nc * sizeof(float)) == 0, "%s %dx%dx%d: 1 vs 2 threads differ",
                          tt_kernel_name((tt_kernel)kk), p.m, p.n, p.k);
                CHECK_MSG(memcmp(c1, c3, p.nc * sizeof(float)) == 0, "1 vs 3 threads differ");
                free(c1); free(c2); free(c3);
                free_problem(&p);
            }
    }
    CHECK(tt_ctx_set_threads(&ctx, 0) == TT_ERR_INVALID_ARGS);
    tt_clear_error(&ctx);
    CHECK(tt_ctx_set_threads(&ctx, 4) == TT_ERR_INVALID_ARGS);
    CHECK(strstr(tt_error_message(&ctx), "tt_ctx_set_threads") != NULL);
    tt_ctx_free(&ctx);
}

/* BLAS edge semantics: k == 0 -> C = beta*C; alpha == 0 reads neither A nor B (NaN there is
   ignored); beta == 0 ignores NaN in C. */
static void test_edge_semantics(void) {
    float a[6] = {NAN, NAN, NAN, NAN, NAN, NAN}, b[6] = {1, 2, 3, 4, 5, 6}, c[4] = {1, 2, NAN, 4};
    float a2[2] = {1, 2}, b2[2] = {3, 4};
    CHECK(tt_sgemm(0, 0, 2, 2, 0, 1.0f, NULL, 1, NULL, 2, 2.0f, c, 2) == TT_OK);
    CHECK(c[0] == 2 && c[1] == 4 && c[2] != c[2] && c[3] == 8);
    CHECK(tt_sgemm(0, 0, 2, 2, 3, 0.0f, a, 3, b, 2, 0.0f, c, 2) == TT_OK);
    CHECK(c[0] == 0 && c[1] == 0 && c[2] == 0 && c[3] == 0);
    c[2] = NAN;
    CHECK(tt_sgemm(0, 0, 1, 1, 2, 1.0f, a2, 2, b2, 1, 0.0f, c + 2, 1) == TT_OK);
    CHECK(c[2] == 11);
    CHECK(tt_sgemm(0, 0, 0, 0, 0, 1.0f, NULL, 1, NULL, 1, 0.0f, NULL, 1) == TT_OK);
    CHECK(tt_sgemm_naive(0, 0, 3, 0, 5, 1.0f, NULL, 5, NULL, 1, 0.0f, NULL, 1) == TT_OK);
}

static void test_invalid_args(void) {
    float a[16] = {0}, b[16] = {0}, c[16] = {0};
    tt_desc d;
    tt_ctx ctx;
    int kk;
    tt_result (*fns[2])(int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
    fns[0] = tt_sgemm; fns[1] = tt_sgemm_naive;
    for (kk = 0; kk < 2; kk++) {
        CHECK(fns[kk](0, 0, -1, 2, 2, 1, a, 2, b, 2, 0, c, 2) == TT_ERR_INVALID_ARGS);
        CHECK(fns[kk](0, 0, 2, -1, 2, 1, a, 2, b, 2, 0, c, 2) == TT_ERR_INVALID_ARGS);
        CHECK(fns[kk](0, 0, 2, 2, -1, 1, a, 2, b, 2, 0, c, 2) == TT_ERR_INVALID_ARGS);
        CHECK(fns[kk](0, 0, 2, 2, 3, 1, a, 2, b, 2, 0, c, 2) == TT_ERR_INVALID_ARGS);  /* lda < k */
        CHECK(fns[kk](1, 0, 3, 2, 2, 1, a, 2, b, 2, 0, c, 2) == TT_ERR_INVALID_ARGS);  /* lda < m */
        CHECK(fns[kk](0, 0, 2, 3, 2, 1, a, 2, b, 2, 0, c, 3) == TT_ERR_INVALID_ARGS);  /* ldb < n */
        CHECK(fns[kk](0, 1, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2) == TT_ERR_INVALID_ARGS);  /* ldb < k */
        CHECK(fns[kk](0, 0, 2, 3, 2, 1, a, 2, b, 3, 0, c, 2) == TT_ERR_INVALID_ARGS);  /* ldc < n */
        CHECK(fns[kk](0, 0, 2, 2, 2, 1, NULL, 2, b, 2, 0, c, 2) == TT_ERR_INVALID_ARGS);
        CHECK(fns[kk](0, 0, 2, 2, 2, 1, a, 2, NULL, 2, 0, c, 2) == TT_ERR_INVALID_ARGS);
        CHECK(fns[kk](0, 0, 2, 2, 2, 1, a, 2, b, 2, 0, NULL, 2) == TT_ERR_INVALID_ARGS);
        CHECK(fns[kk](0, 0, 2, 2, 0, 1, a, 0, b, 2, 0, c, 2) == TT_ERR_INVALID_ARGS);  /* lda >= 1 */
        CHECK(fns[kk](0, 0, 2, 2, 0, 1, NULL, 1, NULL, 2, 0, c, 2) == TT_OK);          /* k = 0 */
    }
    memset(&d, 0, sizeof d);
    d.scratch_bytes = 1 << 16; d.persist_bytes = 1 << 16; d.max_params = 16;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    c[0] = 7;
    CHECK(tt_ctx_sgemm(&ctx, 0, 0, 2, 2, 3, 1, a, 2, b, 2, 0, c, 2) == TT_ERR_INVALID_ARGS);
    CHECK(c[0] == 7); /* not modified on error */
    CHECK(tt_error(&ctx) == TT_ERR_INVALID_ARGS);
    CHECK(strstr(tt_error_message(&ctx), "tt_ctx_sgemm") != NULL && strstr(tt_error_message(&ctx), "lda=2") != NULL);
    tt_clear_error(&ctx);
    CHECK(tt_ctx_sgemm(&ctx, 0, 0, 2, 2, 2, 1, NULL, 2, b, 2, 0, c, 2) == TT_ERR_INVALID_ARGS);
    CHECK(strstr(tt_error_message(&ctx), "NULL") != NULL);
    tt_clear_error(&ctx);
    CHECK(tt_ctx_sgemm(NULL, 0, 0, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2) == TT_ERR_INVALID_ARGS);
    CHECK(tt_ctx_set_kernel(&ctx, (tt_kernel)99) == TT_ERR_INVALID_ARGS);
    tt_clear_error(&ctx);
    for (kk = TT_KERNEL_SCALAR; kk < TT_KERNEL_COUNT_; kk++)
        if (!tt_kernel_supported((tt_kernel)kk)) {
            tt_kernel before = ctx.kernel;
            CHECK(tt_ctx_set_kernel(&ctx, (tt_kernel)kk) == TT_ERR_UNSUPPORTED);
            CHECK(ctx.kernel == before);
            tt_clear_error(&ctx);
        }
    CHECK(tt_ctx_set_kernel(&ctx, TT_KERNEL_AUTO) == TT_OK && ctx.kernel == tt_kernel_best());
    tt_ctx_free(&ctx);
    /* an unsupported kernel requested at init */
    for (kk = TT_KERNEL_SCALAR; kk < TT_KERNEL_COUNT_; kk++)
        if (!tt_kernel_supported((tt_kernel)kk)) {
            d.kernel = (tt_kernel)kk;
            CHECK(tt_ctx_init(&ctx, &d) == TT_ERR_UNSUPPORTED);
            CHECK(strstr(tt_error_message(&ctx), tt_kernel_name((tt_kernel)kk)) != NULL);
            tt_ctx_free(&ctx);
        }
    CHECK(tt_kernel_supported(TT_KERNEL_SCALAR) && tt_kernel_supported(TT_KERNEL_AUTO));
    CHECK(tt_kernel_supported(tt_kernel_best()));
    CHECK(strcmp(tt_kernel_name(TT_KERNEL_AVX2), "avx2") == 0);
}

/* The autograd ops go through tt_ctx_sgemm: a linear layer with threads gives the same bits. */
static void test_linear_threads(void) {
    tt_desc d;
    tt_ctx c1, c2;
    int xs[2] = {64, 300}, ws[2] = {200, 300};
    tt_tensor *x1, *w1, *y1, *x2, *w2, *y2;
    memset(&d, 0, sizeof d);
    d.seed = 5;
    CHECK(tt_ctx_init(&c1, &d) == TT_OK);
    d.threads = 2;
    CHECK(tt_ctx_init(&c2, &d) == TT_OK);
    x1 = tt_tensor_randn(&c1, 2, xs, 0, 1); w1 = tt_tensor_randn(&c1, 2, ws, 0, 1);
    x2 = tt_tensor_randn(&c2, 2, xs, 0, 1); w2 = tt_tensor_randn(&c2, 2, ws, 0, 1);
    y1 = tt_linear(&c1, x1, w1, NULL);
    y2 = tt_linear(&c2, x2, w2, NULL);
    CHECK(y1 && y2 && memcmp(y1->data, y2->data, y1->numel * sizeof(float)) == 0);
    tt_ctx_free(&c1);
    tt_ctx_free(&c2);
}

int main(void) {
    tt_rng_seed(&g_rng, 1234);
    RUN(test_kernel_scalar);
    if (tt_kernel_supported(TT_KERNEL_AVX2)) RUN(test_kernel_avx2); else SKIP("test_kernel_avx2", "CPU or build lacks AVX2+FMA");
    if (tt_kernel_supported(TT_KERNEL_AVX512)) RUN(test_kernel_avx512); else SKIP("test_kernel_avx512", "CPU or build lacks AVX-512F");
    if (tt_kernel_supported(TT_KERNEL_NEON)) RUN(test_kernel_neon); else SKIP("test_kernel_neon", "not an aarch64 build");
    RUN(test_sgemm_and_naive);
    RUN(test_sgemm_matches_ctx);
    RUN(test_threads_bit_identical);
    RUN(test_blocking);
    RUN(test_edge_semantics);
    RUN(test_invalid_args);
    RUN(test_linear_threads);
    TEST_EXIT();
}
