/* The vectorised erf and tanh (AVX2 + FMA) against libm in double (erf, tanh rounded to float
   are the reference), the double-precision exp used by the losses against libm's exp, and the
   fast paths built on them against their scalar references:
   - erf, tanh: within 2 ulp of the correctly rounded result (ulp of the reference float; 2^-149
     for subnormal results). Inputs: every 509th float bit pattern over all 2^32 (8.4 million),
     +-4096 floats around each branch point (erf 0.875 and the clamp at 4, tanh 0.75), around 0,
     1 and the point where the result rounds to 1, and the specials (+-0 keep their sign, +-inf,
     NaN, denormals, FLT_MAX). An exhaustive run over all 2^32 floats measured 1.063 ulp (erf)
     and 1.057 ulp (tanh).
   - libm's erff / tanhf (the scalar path) and the fast path: within 3 (erf) and 5 (tanh) ulp of
     each other (each side within its own bound of the exact value: libm measured 1 and 2.2 ulp).
   - gelu, gelu_tanh forward and backward, tanh, softmax and log_softmax forward and backward,
     and cross-entropy: with an AVX2 context bit-identical to the scalar formula evaluated with
     the vectorised erf / tanh / exp (recomputed here element by element), and close to the
     scalar-kernel context (libm) within an error model: erf / tanh within 5 ulp (3e-7 absolute,
     |f| < 1) and exp within 2 ulp of libm's, each times its factor in the formula (so
     0.5 |x| 3e-7 for gelu's y; cancellation near gelu's and tanh's flat parts is allowed for);
     softmax within 4 ulp per element (exp 1 ulp each side, then the division) and its backward
     within what that error of y gives; cross-entropy (libm's exp in double on both
     paths) loss within 1e-6 relative and gradients within 1 ulp.
   - the shared loss backward's fast path (reduced, no broadcast) gives the bits of the general
     path (reduction NONE, then sum); cross-entropy without weights gives the bits of weights of
     1. */
#define TINYTRAIN_IMPLEMENTATION
#include "tinytrain.h"
#include "tests/test.h"
#include <float.h>
#include <stdint.h>

/* the header's conditions for TT__GEMM_X86 / TT__GEMM_NEON (it #undefs its own at the end) */
#if !defined(TT_NO_SIMD) && (defined(__GNUC__) || defined(__clang__)) && !defined(__TINYC__) && defined(__x86_64__)
#define HAVE_VMATH 1
#define FAST_KERNEL TT_KERNEL_AVX2
#endif
#if !defined(TT_NO_SIMD) && (defined(__GNUC__) || defined(__clang__)) && !defined(__TINYC__) && defined(__aarch64__)
#define HAVE_VMATH 1
#define FAST_KERNEL TT_KERNEL_NEON
#endif

#ifdef HAVE_VMATH
static float vm_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t vm_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* error of got in vm_ulps of the correctly rounded ref (2^-149 below FLT_MIN) */
static double vm_ulp_err(double ref, float got) {
    float rf = (float)ref;
    int e;
    if (ref != ref) return got != got ? 0 : 1e9;
    if (isinf(rf) || isinf(got) || got != got) return got == rf ? 0 : 1e9;
    if (fabs(ref) < FLT_MIN) return fabs((double)got - ref) / ldexp(1.0, -149);
    frexp((double)rf, &e);
    return fabs((double)got - ref) / ldexp(1.0, e - 24);
}

/* error of got in vm_ulps of want (float) */
static double vm_ulps(float got, float want) {
    int e;
    if (want != want) return got != got ? 0 : 1e9;
    if (isinf(want) || isinf(got)) return got == want ? 0 : 1e9;
    if (fabsf(want) < FLT_MIN) return fabs((double)got - want) / ldexp(1.0, -149);
    frexp((double)want, &e);
    return fabs((double)got - want) / ldexp(1.0, e - 24);
}

typedef struct { double worst[2]; float wx[2]; long n; } vm_stats;

static void vm_check_block(vm_stats *s, const float *x, int n) {
    float xb[8], ye[8], yt[8];
    int i;
    for (i = 0; i < 8; i++) xb[i] = i < n ? x[i] : 0.0f;
    tt__verf8(ye, xb);
    tt__vtanh8(yt, xb);
    for (i = 0; i < n; i++) {
        double e0 = vm_ulp_err(erf((double)xb[i]), ye[i]), e1 = vm_ulp_err(tanh((double)xb[i]), yt[i]);
        if (e0 > s->worst[0]) { s->worst[0] = e0; s->wx[0] = xb[i]; }
        if (e1 > s->worst[1]) { s->worst[1] = e1; s->wx[1] = xb[i]; }
        s->n++;
    }
}

static void vm_sweep_around(vm_stats *s, float c, int k) {
    float buf[8];
    int i, m = 0, sg;
    for (sg = 0; sg < 2; sg++) {
        uint32_t u = vm_to_bits(sg ? -c : c);
        for (i = -k; i <= k; i++) {
            buf[m++] = vm_from_bits(u + (uint32_t)i);
            if (m == 8) { vm_check_block(s, buf, 8); m = 0; }
        }
    }
    if (m) vm_check_block(s, buf, m);
}

static void test_erf_tanh_whole_range(void) {
    vm_stats s;
    float buf[8];
    uint64_t u;
    int m = 0;
    memset(&s, 0, sizeof s);
    for (u = 0; u < ((uint64_t)1 << 32); u += 509) {
        buf[m++] = vm_from_bits((uint32_t)u);
        if (m == 8) { vm_check_block(&s, buf, 8); m = 0; }
    }
    if (m) vm_check_block(&s, buf, m);
    vm_sweep_around(&s, 0.875f, 4096);      /* erf: the two branches */
    vm_sweep_around(&s, 4.0f, 4096);        /* erf: the clamp */
    vm_sweep_around(&s, 3.9192059f, 4096);  /* erf rounds to 1 from here */
    vm_sweep_around(&s, 0.75f, 4096);       /* tanh: the two branches */
    vm_sweep_around(&s, 9.01091290f, 4096); /* tanh rounds to 1 */
    vm_sweep_around(&s, 44.3614197f, 4096); /* tanh: exp(2x) overflows */
    vm_sweep_around(&s, 1.0f, 4096);
    vm_sweep_around(&s, FLT_MIN, 4096);     /* normal / subnormal */
    vm_sweep_around(&s, vm_from_bits(4096), 4096); /* the smallest subnormals (and +0 / -0) */
    CHECK_MSG(s.worst[0] <= 2.0, "erf: worst %.3f ulp at x = %.9g (%ld inputs)", s.worst[0], (double)s.wx[0], s.n);
    CHECK_MSG(s.worst[1] <= 2.0, "tanh: worst %.3f ulp at x = %.9g (%ld inputs)", s.worst[1], (double)s.wx[1], s.n);
    printf("  erf: %ld inputs, worst %.3f ulp at x = %.9g\n", s.n, s.worst[0], (double)s.wx[0]);
    printf("  tanh: %ld inputs, worst %.3f ulp at x = %.9g\n", s.n, s.worst[1], (double)s.wx[1]);
}

static void test_erf_tanh_specials(void) {
    float x[8], y[8];
    int f;
    x[0] = 0.0f; x[1] = -0.0f; x[2] = INFINITY; x[3] = -INFINITY;
    x[4] = NAN; x[5] = FLT_MAX; x[6] = -FLT_MAX; x[7] = vm_from_bits(1); /* the smallest subnormal */
    for (f = 0; f < 2; f++) {
        if (f == 0) tt__verf8(y, x);
        else tt__vtanh8(y, x);
        CHECK(y[0] == 0.0f && !signbit(y[0]));
        CHECK(y[1] == 0.0f && signbit(y[1]));
        CHECK(y[2] == 1.0f && y[3] == -1.0f);
        CHECK(y[4] != y[4]);
        CHECK(y[5] == 1.0f && y[6] == -1.0f);
        CHECK_MSG(vm_to_bits(y[7]) == vm_to_bits((float)(f ? tanh(ldexp(1.0, -149)) : erf(ldexp(1.0, -149)))),
                  "%s(2^-149) = %a", f ? "tanh" : "erf", (double)y[7]);
    }
    x[0] = -NAN; x[1] = 3.9192059f; x[2] = 100.0f; x[3] = -5.0f;
    x[4] = 0.875f; x[5] = nextafterf(0.875f, 0.0f); x[6] = 0.75f; x[7] = nextafterf(0.75f, 0.0f);
    tt__verf8(y, x);
    CHECK(y[0] != y[0] && y[2] == 1.0f && y[3] == -1.0f);
    CHECK(vm_ulp_err(erf((double)x[1]), y[1]) <= 2.0 && vm_ulp_err(erf((double)x[4]), y[4]) <= 2.0 &&
          vm_ulp_err(erf((double)x[5]), y[5]) <= 2.0);
    tt__vtanh8(y, x);
    CHECK(y[0] != y[0] && y[2] == 1.0f && y[3] == (float)tanh(-5.0));
    CHECK(vm_ulp_err(tanh((double)x[6]), y[6]) <= 2.0 && vm_ulp_err(tanh((double)x[7]), y[7]) <= 2.0);
}

/* libm (the scalar path) against the fast path through tt__vec_math; tails give block bits */
static void test_erf_tanh_vs_libm(void) {
    enum { N = 4099 };
    static float x[N], y[N];
    tt_ctx ctx;
    tt_desc d;
    tt_rng r;
    int i, f;
    tt_rng_seed(&r, 5);
    for (i = 0; i < N; i++) x[i] = (tt_rng_uniform(&r) * 2.0f - 1.0f) * (i % 3 ? 4.0f : 12.0f);
    memset(&d, 0, sizeof d);
    d.kernel = FAST_KERNEL;
    if (tt_ctx_init(&ctx, &d) != TT_OK) { CHECK(0); return; }
    for (f = 0; f < 2; f++) {
        double worst = 0;
        int kind = f ? TT__VM_TANH : TT__VM_ERF;
        float t[8], yt[8];
        tt__vec_math(&ctx, kind, y, x, N);
        for (i = 0; i < N; i++) {
            double e = vm_ulps(y[i], f ? tanhf(x[i]) : erff(x[i]));
            if (e > worst) worst = e;
        }
        CHECK_MSG(worst <= (f ? 5.0 : 3.0), "%s: worst %.3f ulp against libm", f ? "tanh" : "erf", worst);
        for (i = 1; i <= 7; i++) {
            memcpy(t, x + 16, sizeof t);
            tt__vec_math(&ctx, kind, yt, t, (size_t)i);
            CHECK_MSG(same_bits(yt, y + 16, (size_t)i), "tail of %d", i);
        }
    }
    tt_ctx_free(&ctx);
}

static void vm_test_ctx(tt_ctx *ctx, tt_kernel k) {
    tt_desc d;
    memset(&d, 0, sizeof d);
    d.kernel = k;
    d.scratch_bytes = (size_t)16 << 20;
    CHECK(tt_ctx_init(ctx, &d) == TT_OK);
}

/* float helpers: the scalar formulas of tt__unary_f / tt__unary_df with the vector functions */
static float vm_vexp1(float x) { float b[8] = {0}, y[8]; b[0] = x; tt__vexp8(y, b); return y[0]; }

#ifdef __x86_64__ /* the AVX2-only part: gelu's fused kernels */
static float vm_verf1(float x) { float b[8] = {0}, y[8]; b[0] = x; tt__verf8(y, b); return y[0]; }
static float vm_vtanh1(float x) { float b[8] = {0}, y[8]; b[0] = x; tt__vtanh8(y, b); return y[0]; }
/* the same bits, or both NaN (NaN payloads may differ with the order of operands) */
static int vm_same_or_nan(float a, float b) { return vm_to_bits(a) == vm_to_bits(b) || (a != a && b != b); }
static int vm_close_or_same(float a, float b) { return a == b || (a != a && b != b); }

enum { VM_GN = 1000 };
/* the header's constants (it #undefs its own). This file's own names start with vm_ / VM_:
   the test bundle (build/test_internals) compiles it in one unit with the other tests */
#define VM_SQRT1_2 0.70710678118654752440f
#define VM_INV_SQRT_2PI 0.39894228040143267794f
#define VM_SQRT_2_PI 0.79788456080286535588f
#define VM_KAPPA 0.044715f

/* gelu, gelu_tanh, tanh on both paths: forward and x->grad after backward with dy = x / 3 */
static void vm_gelu_run(tt_kernel kern, int kind, const float *xv, float *y, float *gx) {
    tt_ctx ctx;
    int sh[1] = {VM_GN};
    tt_tensor *x, *out;
    static float dy[VM_GN];
    int i;
    for (i = 0; i < VM_GN; i++) dy[i] = xv[i] * (1.0f / 3.0f);
    vm_test_ctx(&ctx, kern);
    x = tt_param(&ctx, "x", 1, sh);
    if (!x) { CHECK(0); tt_ctx_free(&ctx); return; }
    memcpy(x->data, xv, sizeof(float) * VM_GN);
    out = kind == 0 ? tt_gelu(&ctx, x) : kind == 1 ? tt_gelu_tanh(&ctx, x) : tt_tanh(&ctx, x);
    CHECK(out && tt_backward_seed(&ctx, out, dy) == TT_OK);
    if (out) memcpy(y, out->data, sizeof(float) * VM_GN);
    memcpy(gx, x->grad, sizeof(float) * VM_GN);
    tt_ctx_free(&ctx);
}

static void test_gelu_paths(void) {
    static float xv[VM_GN], yf[VM_GN], gf[VM_GN], ys[VM_GN], gs[VM_GN];
    tt_rng r;
    int i, kind;
    tt_rng_seed(&r, 9);
    for (i = 0; i < VM_GN; i++) xv[i] = tt_rng_normal(&r) * (i % 2 ? 1.0f : 4.0f);
    xv[0] = 0.0f; xv[1] = -0.0f; xv[2] = 20.0f; xv[3] = -20.0f; xv[4] = 1e-30f; xv[5] = -0.875f * 1.41421356f;
    xv[6] = NAN; xv[7] = INFINITY; xv[8] = -INFINITY; xv[9] = 1e-40f; xv[10] = -1e-40f; xv[11] = 7.0f;
    for (kind = 0; kind < 3; kind++) {
        int bad = 0, far = 0;
        vm_gelu_run(FAST_KERNEL, kind, xv, yf, gf);
        vm_gelu_run(TT_KERNEL_SCALAR, kind, xv, ys, gs);
        for (i = 0; i < VM_GN; i++) {
            float v = xv[i], y, g, dy = v * (1.0f / 3.0f);
            if (kind == 0) {
                float e = 1.0f + vm_verf1(v * VM_SQRT1_2);
                y = 0.5f * v * e;
                g = 0.0f + dy * (0.5f * e + v * vm_vexp1(-0.5f * v * v) * VM_INV_SQRT_2PI);
            } else if (kind == 1) {
                float t = vm_vtanh1(VM_SQRT_2_PI * (v + VM_KAPPA * v * v * v));
                y = 0.5f * v * (1.0f + t);
                g = 0.0f + dy * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * VM_SQRT_2_PI *
                                 (1.0f + 3.0f * VM_KAPPA * v * v));
            } else {
                y = vm_vtanh1(v);
                g = 0.0f + dy * (1.0f - y * y);
            }
            if (!vm_same_or_nan(y, yf[i]) || !vm_same_or_nan(g, gf[i])) bad++;
            if (vm_close_or_same(yf[i], ys[i]) && vm_close_or_same(gf[i], gs[i])) continue;
            /* error model: erf / tanh differ from libm's by E = 5 ulp <= 3e-7 absolute (|f| < 1),
               exp by 2 ulp <= 2.4e-7 relative; each enters through its factor in the formula */
            {
                float E = 3e-7f, a = fabsf(v), tol_y, tol_g;
                tol_y = (kind < 2 ? 0.5f * a : 1.0f) * E + E * fabsf(ys[i]) + 1e-30f;
                tol_g = fabsf(dy) * (kind == 0 ? 0.5f * E + a * 0.4f * 2.4e-7f
                                     : kind == 1 ? 0.5f * E + 0.5f * a * 2.0f * E * 0.8f * (1.0f + 0.134f * v * v)
                                                 : 2.0f * E) + E * fabsf(gs[i]) + 1e-30f;
                if (!(fabsf(yf[i] - ys[i]) <= tol_y && fabsf(gf[i] - gs[i]) <= tol_g)) {
                if (!far) printf("  kind %d x %.9g: y %.9g vs %.9g, g %.9g vs %.9g\n", kind, (double)v, (double)yf[i],
                                 (double)ys[i], (double)gf[i], (double)gs[i]);
                far++;
                }
            }
        }
        CHECK_MSG(bad == 0, "kind %d: %d elements differ from the formula with the vector functions", kind, bad);
        CHECK_MSG(far == 0, "kind %d: %d elements differ from the libm path beyond the error model", kind, far);
    }
}

#endif

/* softmax / log_softmax rows (attention's contiguous rows included) */
static void test_softmax_paths(void) {
    enum { R = 7, C = 150 };
    static float xv[R * C], yf[R * C], ys[R * C], gf[R * C], gs[R * C], dyv[R * C];
    tt_rng r;
    int i, lf, k;
    tt_rng_seed(&r, 11);
    for (i = 0; i < R * C; i++) xv[i] = tt_rng_normal(&r) * 5.0f;
    for (i = 0; i < R * C; i++) dyv[i] = tt_rng_normal(&r);
    xv[3] = -INFINITY; xv[C + 5] = 80.0f; xv[2 * C] = -100.0f;
    for (i = 0; i < C; i++) xv[6 * C + i] = -INFINITY; /* a fully masked row: NaN on both paths */
    xv[6 * C + 7] = -INFINITY;
    for (lf = 0; lf < 2; lf++) {
        int sh[2] = {R, C};
        double worst = 0;
        int bad = 0;
        for (k = 0; k < 2; k++) {
            tt_ctx ctx;
            tt_tensor *x, *y;
            vm_test_ctx(&ctx, k ? TT_KERNEL_SCALAR : FAST_KERNEL);
            x = tt_param(&ctx, "x", 2, sh);
            if (!x) { CHECK(0); tt_ctx_free(&ctx); return; }
            memcpy(x->data, xv, sizeof xv);
            y = lf ? tt_log_softmax(&ctx, x, 1) : tt_softmax(&ctx, x, 1);
            CHECK(y && tt_backward_seed(&ctx, y, dyv) == TT_OK);
            memcpy(k ? ys : yf, y->data, sizeof xv);
            memcpy(k ? gs : gf, x->grad, sizeof xv);
            tt_ctx_free(&ctx);
        }
        for (i = 0; i < R * C; i++) {
            double e = vm_ulps(yf[i], ys[i]);
            if (e > worst) worst = e;
            if (lf && fabsf(gf[i] - gs[i]) > 1e-6f * (fabsf(gs[i]) + 1.0f)) bad++;
            if (!lf && vm_to_bits(gf[i]) != vm_to_bits(gs[i]) && !(gf[i] != gf[i] && gs[i] != gs[i])) {
                /* softmax's backward y (dy - sum(dy y)) has no exp: it differs only through y,
                   each y_j within 4 ulp (4.8e-7 relative) */
                int row = i / C, j;
                double sy = 0, ds = 0, tol;
                for (j = 0; j < C; j++) {
                    sy += (double)dyv[row * C + j] * ys[row * C + j];
                    ds += fabs((double)dyv[row * C + j]) * 4.8e-7 * fabs((double)ys[row * C + j]);
                }
                tol = 4.8e-7 * fabs((double)ys[i]) * fabs(dyv[i] - sy) + fabs((double)ys[i]) * ds + 2.4e-7 * fabs((double)gs[i]) + 1e-30;
                if (fabs((double)gf[i] - gs[i]) > tol) bad++;
            }
        }
        if (lf) {   /* log_softmax: the same absolute error as log of the sum, relative to |y| >= 1e-7 */
            worst = 0;
            for (i = 0; i < R * C; i++) {
                double e = ys[i] != ys[i] ? (yf[i] != yf[i] ? 0 : 1e9) : fabs((double)yf[i] - ys[i]) / (fabs((double)ys[i]) + 1.0);
                if (e > worst) worst = e;
            }
            CHECK_MSG(worst <= 2.4e-7, "log_softmax: worst %.3g", worst);
        } else {
            CHECK_MSG(worst <= 4.0, "softmax: worst %.3f ulp from the libm path", worst);
        }
        CHECK_MSG(bad == 0, "%s backward: %d elements differ", lf ? "log_softmax" : "softmax", bad);
    }
    {   /* bit-identity with the scalar formula on the vector exp: rows 0 (with a -inf) and 3
           (plain), whose sums are not 1, so that the division shows */
        static const int rows[2] = {0, 3};
        tt_ctx ctx;
        vm_test_ctx(&ctx, FAST_KERNEL);
        for (k = 0; k < 2; k++) {
            const float *xr = xv + rows[k] * C;
            float yv[C], m = -INFINITY;
            double s = 0;
            int nbad = 0;
            tt__softmax_row_v(&ctx, xr, yv, C, 1, 0);
            for (i = 0; i < C; i++) if (xr[i] > m) m = xr[i];
            for (i = 0; i < C; i++) s += vm_vexp1(xr[i] - m);
            for (i = 0; i < C; i++) nbad += vm_to_bits(yv[i]) != vm_to_bits((float)((double)vm_vexp1(xr[i] - m) / s));
            CHECK_MSG(nbad == 0 && s > 1.001, "row %d: %d elements differ (sum %g)", rows[k], nbad, s);
        }
        tt_ctx_free(&ctx);
    }
}

/* cross-entropy: fast vs scalar path; and the loss backward's fast path against the general one */
static void test_cross_entropy_paths(void) {
    enum { N = 37, C = 259 };
    static float xv[N * C], gf[N * C], gs[N * C];
    static int t[N];
    float lf = 0, ls = 0;
    tt_rng r;
    int i, k, sh[2] = {N, C};
    tt_rng_seed(&r, 13);
    for (i = 0; i < N * C; i++) xv[i] = tt_rng_normal(&r) * 3.0f;
    for (i = 0; i < N; i++) t[i] = (int)(tt_rng_u32(&r) % C);
    xv[5] = 60.0f; xv[C + 2] = -INFINITY;
    for (k = 0; k < 2; k++) {
        tt_ctx ctx;
        tt_tensor *x, *l;
        vm_test_ctx(&ctx, k ? TT_KERNEL_SCALAR : FAST_KERNEL);
        x = tt_param(&ctx, "x", 2, sh);
        if (!x) { CHECK(0); tt_ctx_free(&ctx); return; }
        memcpy(x->data, xv, sizeof xv);
        l = tt_cross_entropy(&ctx, x, N, t, NULL);
        CHECK(l && tt_backward(&ctx, l) == TT_OK);
        if (l) *(k ? &ls : &lf) = l->data[0];
        memcpy(k ? gs : gf, x->grad, sizeof xv);
        tt_ctx_free(&ctx);
    }
    CHECK_MSG(fabsf(lf - ls) <= 1e-6f * fabsf(ls), "loss %.9g vs %.9g", (double)lf, (double)ls);
    {
        double worst = 0;
        for (i = 0; i < N * C; i++) {
            double e = vm_ulps(gf[i], gs[i]);
            if (e > worst) worst = e;
        }
        CHECK_MSG(worst <= 1.0, "cross-entropy gradient: worst %.3f ulp from the libm path", worst);
    }
    {   /* SUM (fast backward) against NONE + sum (general backward): the same bits */
        float g2[N * C];
        tt_ctx ctx;
        tt_tensor *x, *l;
        tt_cross_entropy_opts o = tt_cross_entropy_opts_init();
        for (k = 0; k < 2; k++) {
            vm_test_ctx(&ctx, FAST_KERNEL);
            x = tt_param(&ctx, "x", 2, sh);
            if (!x) { CHECK(0); tt_ctx_free(&ctx); return; }
            memcpy(x->data, xv, sizeof xv);
            t[3] = -100; /* an ignored sample */
            o.reduction = k ? TT_REDUCTION_NONE : TT_REDUCTION_SUM;
            l = tt_cross_entropy(&ctx, x, N, t, &o);
            if (k) l = tt_sum(&ctx, l);
            CHECK(l && tt_backward(&ctx, l) == TT_OK);
            memcpy(k ? g2 : gf, x->grad, sizeof xv);
            tt_ctx_free(&ctx);
        }
        CHECK(same_bits(gf, g2, N * C));
    }
    {   /* no weight against weights of 1 */
        static float wts[C], g1[N * C];
        float l1 = 0, l2 = 0;
        tt_ctx ctx;
        tt_tensor *x, *l;
        tt_cross_entropy_opts o = tt_cross_entropy_opts_init();
        for (i = 0; i < C; i++) wts[i] = 1.0f;
        for (k = 0; k < 2; k++) {
            vm_test_ctx(&ctx, FAST_KERNEL);
            x = tt_param(&ctx, "x", 2, sh);
            if (!x) { CHECK(0); tt_ctx_free(&ctx); return; }
            memcpy(x->data, xv, sizeof xv);
            o.weight = k ? wts : NULL;
            l = tt_cross_entropy(&ctx, x, N, t, &o);
            CHECK(l && tt_backward(&ctx, l) == TT_OK);
            if (l) *(k ? &l2 : &l1) = l->data[0];
            memcpy(k ? g1 : gf, x->grad, sizeof xv);
            tt_ctx_free(&ctx);
        }
        CHECK(same_bits(gf, g1, N * C) && l1 == l2);
    }
}
#endif

int main(void) {
#ifdef HAVE_VMATH
#ifdef __x86_64__
    if (tt__x86_level() >= 1)
#endif
    {
        RUN(test_erf_tanh_specials);
        RUN(test_erf_tanh_whole_range);
        RUN(test_erf_tanh_vs_libm);
#ifdef __x86_64__
        RUN(test_gelu_paths);
#endif
        RUN(test_softmax_paths);
        RUN(test_cross_entropy_paths);
        TEST_EXIT();
    }
#endif
    SKIP("test_vmath", "no AVX2 + FMA in this build or on this CPU");
    return 0;
}
