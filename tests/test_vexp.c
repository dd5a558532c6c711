/* The vectorised exp (AVX2 + FMA) against libm: double-precision exp rounded to float is the
   reference. Bound: 1 ulp from the correctly rounded result (ulp of the reference float; 2^-149
   for subnormal and zero results), every special case exact (NaN, +-inf, -0, overflow to inf,
   underflow to 0). Inputs: every 251st float bit pattern over all 2^32 (17.1 million), every
   float within 4096 of the overflow, subnormal and zero thresholds, and specials. Also: the
   scalar reference (libm expf) agrees within 2 ulp, tails give the same bits as full blocks, and
   tt_exp uses the fast path. */
#define TINYTRAIN_IMPLEMENTATION
#include "tinytrain.h"
#include "tests/test.h"
#include <float.h>
#include <stdint.h>

/* the header #undefs its own TT__GEMM_X86 at the end; the same condition */
#if !defined(TT_NO_SIMD) && (defined(__GNUC__) || defined(__clang__)) && !defined(__TINYC__) && defined(__x86_64__)
#define HAVE_VEXP 1
#endif

#ifdef HAVE_VEXP
static float from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* error of got in ulps of the correctly rounded exp(x) (inf reference: ulp of FLT_MAX) */
static double ulp_err(float x, float got) {
    double ref = exp((double)x);
    float rf = (float)ref;
    double ulp;
    int e;
    if (x != x) return got != got ? 0 : 1e9;
    if (isinf(rf)) return isinf(got) && got > 0 ? 0 : (isinf(got) ? 1e9 : fabs((double)got - ref) / ldexp(1.0, 104));
    if (isinf(got) || got != got) return 1e9;
    if (fabs(ref) < FLT_MIN) ulp = ldexp(1.0, -149);
    else { frexp((double)rf, &e); ulp = ldexp(1.0, e - 24); }
    return fabs((double)got - ref) / ulp;
}

typedef struct { double worst; float worst_x; long n; } stats;

static void check_block(stats *s, const float *x, int n) {
    float y[8], xb[8];
    int i;
    for (i = 0; i < 8; i++) xb[i] = i < n ? x[i] : 0.0f;
    tt__vexp_avx2_8(y, xb);
    for (i = 0; i < n; i++) {
        double e = ulp_err(xb[i], y[i]);
        if (e > s->worst) { s->worst = e; s->worst_x = xb[i]; }
        s->n++;
    }
}

static void sweep_around(stats *s, float c, int k) {
    float buf[8];
    int i, m = 0;
    uint32_t u = to_bits(c);
    for (i = -k; i <= k; i++) {
        buf[m++] = from_bits(u + (uint32_t)i);
        if (m == 8) { check_block(s, buf, 8); m = 0; }
    }
    if (m) check_block(s, buf, m);
}

static void test_vexp_whole_range(void) {
    stats s = {0, 0, 0};
    float buf[8];
    uint64_t u;
    int m = 0;
    for (u = 0; u < ((uint64_t)1 << 32); u += 251) {
        buf[m++] = from_bits((uint32_t)u);
        if (m == 8) { check_block(&s, buf, 8); m = 0; }
    }
    if (m) check_block(&s, buf, m);
    sweep_around(&s, 88.7228394f, 4096);   /* overflow threshold */
    sweep_around(&s, -87.3365479f, 4096);  /* exp(x) = FLT_MIN: results turn subnormal */
    sweep_around(&s, -103.972084f, 4096);  /* exp(x) = 2^-150: results round to 0 */
    sweep_around(&s, 0.0f, 4096);          /* tiny positive inputs (and the bits above +0) */
    sweep_around(&s, -0.0f, 4096);
    sweep_around(&s, 1.0f, 4096);
    CHECK_MSG(s.worst <= 1.0, "worst error %.3f ulp at x = %.9g (%ld inputs)", s.worst, (double)s.worst_x, s.n);
    printf("  vexp: %ld inputs, worst %.3f ulp at x = %.9g\n", s.n, s.worst, (double)s.worst_x);
}

static void test_vexp_specials(void) {
    float x[8], y[8];
    x[0] = -INFINITY; x[1] = INFINITY; x[2] = NAN; x[3] = -0.0f;
    x[4] = 89.0f; x[5] = -104.0f; x[6] = FLT_MAX; x[7] = -FLT_MAX;
    tt__vexp_avx2_8(y, x);
    CHECK(y[0] == 0.0f && !signbit(y[0]));
    CHECK(isinf(y[1]) && y[1] > 0);
    CHECK(y[2] != y[2]);
    CHECK(y[3] == 1.0f);
    CHECK(isinf(y[4]) && y[4] > 0);
    CHECK(y[5] == 0.0f);
    CHECK(isinf(y[6]) && y[6] > 0);
    CHECK(y[7] == 0.0f);
    /* the largest input whose rounded exp is finite, and the next float */
    x[0] = 89.0f;
    while (isinf((float)exp((double)x[0]))) x[0] = nextafterf(x[0], 0.0f);
    x[1] = nextafterf(x[0], 100.0f);
    x[2] = -87.3365479f; x[3] = -100.0f;         /* about FLT_MIN; a subnormal result */
    x[4] = -103.278931f; x[5] = FLT_MIN; x[6] = -FLT_MIN; x[7] = 1.0f;
    tt__vexp_avx2_8(y, x);
    CHECK_MSG(y[0] == (float)exp((double)x[0]) && !isinf(y[0]), "exp(%.9g) = %.9g", (double)x[0], (double)y[0]);
    CHECK(isinf(y[1]) && isinf((float)exp((double)x[1])));
    CHECK(ulp_err(x[2], y[2]) <= 1.0);
    CHECK(y[3] > 0 && y[3] < FLT_MIN && ulp_err(x[3], y[3]) <= 1.0);
    CHECK(y[4] > 0 && ulp_err(x[4], y[4]) <= 1.0); /* exp = a few 2^-149 */
    CHECK(y[5] == 1.0f && y[6] == 1.0f);
    CHECK(y[7] == (float)exp(1.0));
}

/* scalar reference (libm expf) vs the fast path: within 2 ulp (each within 1 of the rounded value) */
static void test_vexp_vs_libm(void) {
    static float x[4099], y[4099];
    double worst = 0;
    int i;
    tt_ctx ctx;
    tt_desc d;
    tt_rng r;
    tt_rng_seed(&r, 3);
    for (i = 0; i < 4099; i++) x[i] = (tt_rng_uniform(&r) * 2.0f - 1.0f) * 100.0f;
    memset(&d, 0, sizeof d);
    d.kernel = TT_KERNEL_AVX2;
    if (tt_ctx_init(&ctx, &d) != TT_OK) { CHECK(0); return; }
    tt__vec_exp(&ctx, y, x, 4099);
    for (i = 0; i < 4099; i++) {
        float ref = expf(x[i]);
        double e;
        int eb;
        if (ref < FLT_MIN) e = fabs((double)y[i] - ref) / ldexp(1.0, -149);
        else { frexp((double)ref, &eb); e = fabs((double)y[i] - ref) / ldexp(1.0, eb - 24); }
        if (e > worst) worst = e;
    }
    CHECK_MSG(worst <= 2.0, "worst %.3f ulp against expf", worst);
    {   /* tail elements give the bits of a full block */
        float t[8], yt[8];
        for (i = 1; i <= 7; i++) {
            memcpy(t, x + 8, sizeof t);
            tt__vec_exp(&ctx, yt, t, (size_t)i);
            CHECK_MSG(same_bits(yt, y + 8, (size_t)i), "tail of %d", i);
        }
    }
    {   /* tt_exp takes the fast path with an AVX2 kernel and libm with the scalar kernel */
        int sh[1] = {4099};
        tt_tensor *tx = tt_tensor_from(&ctx, 1, sh, x), *ty = tt_exp(&ctx, tx);
        CHECK(ty && same_bits(ty->data, y, 4099));
        CHECK(tt_ctx_set_kernel(&ctx, TT_KERNEL_SCALAR) == TT_OK);
        ty = tt_exp(&ctx, tx);
        for (i = 0; ty && i < 4099; i++) CHECK(memcmp(&ty->data[i], &(float){expf(x[i])}, 4) == 0);
    }
    tt_ctx_free(&ctx);
}

/* error of got in ulps of want (2^-149 below FLT_MIN); inf and NaN must match exactly */
static double ulps(float got, float want) {
    int e;
    if (want != want) return got != got ? 0 : 1e9;
    if (isinf(want) || isinf(got)) return got == want ? 0 : 1e9;
    if (fabsf(want) < FLT_MIN) return fabs((double)got - want) / ldexp(1.0, -149);
    frexp((double)want, &e);
    return fabs((double)got - want) / ldexp(1.0, e - 24);
}

/* sigmoid and silu on the fast exp against their scalar reference (tt__unary_f, libm): within
   4 ulp (exp within 1 ulp each side, then one add and one division each rounding; measured 3).
   Every 4099th float bit
   pattern and the specials. */
static void test_vexp_sigmoid_silu(void) {
    enum { N = 1 << 20 };
    static float x[N];
    tt_ctx ctx;
    tt_desc d;
    int k, i, sh[1] = {N};
    uint64_t u = 0;
    memset(&d, 0, sizeof d);
    d.kernel = TT_KERNEL_AVX2;
    d.scratch_bytes = (size_t)32 << 20;
    if (tt_ctx_init(&ctx, &d) != TT_OK) { CHECK(0); return; }
    for (i = 0; i < N; i++, u += 4099) x[i] = from_bits((uint32_t)u);
    x[0] = NAN; x[1] = INFINITY; x[2] = -INFINITY; x[3] = -0.0f; x[4] = 0.0f; x[5] = -88.8f; x[6] = 104.0f;
    for (k = 0; k < 2; k++) {
        int kind = k ? TT__U_SILU : TT__U_SIGMOID;
        tt_tensor *tx = tt_tensor_from(&ctx, 1, sh, x);
        tt_tensor *ty = k ? tt_silu(&ctx, tx) : tt_sigmoid(&ctx, tx);
        double worst = 0;
        float wx = 0;
        if (!ty) { CHECK(0); break; }
        for (i = 0; i < N; i++) {
            double e = ulps(ty->data[i], tt__unary_f(kind, x[i], 0, 0));
            if (e > worst) { worst = e; wx = x[i]; }
        }
        CHECK_MSG(worst <= 4.0, "%s: worst %.3f ulp at x = %.9g", k ? "silu" : "sigmoid", worst, (double)wx);
        printf("  %s: worst %.3f ulp against the libm form at x = %.9g\n", k ? "silu" : "sigmoid", worst, (double)wx);
        tt_scratch_reset(&ctx);
    }
    tt_ctx_free(&ctx);
}
#endif

int main(void) {
#ifdef HAVE_VEXP
    if (tt__x86_level() >= 1) {
        RUN(test_vexp_specials);
        RUN(test_vexp_whole_range);
        RUN(test_vexp_vs_libm);
        RUN(test_vexp_sigmoid_silu);
        TEST_EXIT();
    }
#endif
    SKIP("test_vexp", "no AVX2 + FMA in this build or on this CPU");
    return 0;
}
