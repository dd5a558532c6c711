/* tt_desc.flush_denormals: subnormal results and inputs become zero with the flag, stay exact
   without it; the caller's floating-point control word is unchanged after every call; training on
   data without subnormals is bit-identical with and without the flag. */
#define TINYTRAIN_IMPLEMENTATION
#include "tinytrain.h"
#include "tests/test.h"
#include <float.h>

#if (defined(__x86_64__) || defined(_M_X64)) && !defined(__TINYC__)
#include <xmmintrin.h>
#define HAVE_MODE 1
/* control bits only: the exception flags (bits 0-5) are sticky status, not mode */
static unsigned long long fp_mode(void) { return _mm_getcsr() & ~0x3fu; }
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_MODE 1
static unsigned long long fp_mode(void) {
    unsigned long long m;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(m));
    return m;
}
#endif
#ifdef HAVE_MODE
static unsigned long long g_mode0; /* the mode at program start: no test may change it */
#define MODE_UNCHANGED() CHECK(fp_mode() == g_mode0)
#else
#define MODE_UNCHANGED() ((void)0)
#endif

static int ctx_open(tt_ctx *ctx, int flush, int threads) {
    tt_desc d;
    memset(&d, 0, sizeof d);
    d.flush_denormals = flush;
    d.threads = threads;
    d.max_params = 1 << 16;
    d.persist_bytes = (size_t)1 << 20;
    d.scratch_bytes = (size_t)8 << 20;
    return tt_ctx_init(ctx, &d) == TT_OK;
}

static void test_flush_desc_checks(void) {
    tt_ctx ctx;
    tt_desc d;
    memset(&d, 0, sizeof d);
    d.flush_denormals = 2;
    CHECK(tt_ctx_init(&ctx, &d) == TT_ERR_INVALID_ARGS);
    CHECK(strstr(tt_error_message(&ctx), "flush_denormals") != NULL);
    tt_ctx_free(&ctx);
    d.flush_denormals = 1;
    CHECK(tt_ctx_init(&ctx, &d) == (tt_fp_flush_supported() ? TT_OK : TT_ERR_UNSUPPORTED));
    tt_ctx_free(&ctx);
}

/* a = 2^-70, b = 2^-70: a*b = 2^-140 exactly, a subnormal (FLT_MIN is 2^-126) */
static void test_flush_subnormal_results(void) {
    int flush, one[1] = {1};
    float a = ldexpf(1.0f, -70), sub = ldexpf(1.0f, -140), zero = 0.0f;
    CHECK(sub > 0 && sub < FLT_MIN);
    for (flush = 0; flush <= 1; flush++) {
        tt_ctx ctx;
        tt_tensor *ta, *ts, *tz, *y;
        float c = -1.0f;
        float want = flush ? 0.0f : sub;
        if (!ctx_open(&ctx, flush, 1)) { CHECK(0); return; }
        ta = tt_tensor_from(&ctx, 1, one, &a);
        ts = tt_tensor_from(&ctx, 1, one, &sub);
        tz = tt_tensor_from(&ctx, 1, one, &zero);
        y = tt_mul(&ctx, ta, ta); /* FTZ: a subnormal result is flushed */
        CHECK(y && y->data[0] == want);
        MODE_UNCHANGED();
        y = tt_add(&ctx, ts, tz); /* DAZ: a subnormal input reads as zero */
        CHECK(y && y->data[0] == want);
        MODE_UNCHANGED();
        y = tt_scale(&ctx, ta, a); /* unary helper */
        CHECK(y && y->data[0] == want);
        MODE_UNCHANGED();
        CHECK(tt_ctx_sgemm(&ctx, 0, 0, 1, 1, 1, 1.0f, &a, 1, &a, 1, 0.0f, &c, 1) == TT_OK);
        MODE_UNCHANGED();
        CHECK_MSG(c == want, "flush %d: sgemm gave %g", flush, (double)c);
        tt_ctx_free(&ctx);
    }
}

/* a threaded product (2 threads, above the threading threshold) whose every term is subnormal:
   2^-70 * 2^-72 = 2^-142 exactly; 128 terms sum exactly to 2^-135, still subnormal. Flushed:
   every partial result is 0 (on the calling thread and on the worker). */
static void test_flush_threaded_matmul(void) {
    enum { N = 128 };
    static float a[N * N], b[N * N], c[N * N];
    int flush, i;
    for (i = 0; i < N * N; i++) { a[i] = ldexpf(1.0f, -70); b[i] = ldexpf(1.0f, -72); }
    for (flush = 0; flush <= 1; flush++) {
        tt_ctx ctx;
        int bad = 0;
        if (!ctx_open(&ctx, flush, 2)) { CHECK(0); return; }
        CHECK(tt_ctx_sgemm(&ctx, 0, 0, N, N, N, 1.0f, a, N, b, N, 0.0f, c, N) == TT_OK);
        for (i = 0; i < N * N; i++) bad += c[i] != (flush ? 0.0f : ldexpf(1.0f, -135));
        CHECK_MSG(bad == 0, "flush %d: %d of %d entries differ from the expected value", flush, bad, N * N);
        tt_ctx_free(&ctx);
    }
}

/* A small MLP step: linear, relu, linear, mse, backward, Adam step. Writes the parameters to out. */
static int mlp_train(int flush, int threads, float *out, size_t *n_out, int check_mode) {
    enum { B = 64, IN = 48, H = 40, OUT = 8 };
    static float x[B * IN], t[B * OUT];
    int xs[2] = {B, IN}, ts[2] = {B, OUT}, w1s[2] = {H, IN}, b1s[1] = {H}, w2s[2] = {OUT, H}, b2s[1] = {OUT};
    tt_ctx ctx;
    tt_optim opt;
    tt_optim_desc od;
    tt_tensor *w1, *b1, *w2, *b2;
    int i, step, ok = 1;
    tt_rng r;
#ifdef HAVE_MODE
    unsigned long long mode = fp_mode();
#define MODE_SAME() (!check_mode || fp_mode() == mode)
#else
#define MODE_SAME() 1
    (void)check_mode;
#endif
    tt_rng_seed(&r, 7);
    for (i = 0; i < B * IN; i++) x[i] = tt_rng_uniform(&r) * 2.0f - 1.0f;
    for (i = 0; i < B * OUT; i++) t[i] = tt_rng_uniform(&r);
    if (!ctx_open(&ctx, flush, threads)) return 0;
    w1 = tt_param(&ctx, "w1", 2, w1s); b1 = tt_param(&ctx, "b1", 1, b1s);
    w2 = tt_param(&ctx, "w2", 2, w2s); b2 = tt_param(&ctx, "b2", 1, b2s);
    tt_init_uniform(&ctx, w1, -0.2f, 0.2f); tt_init_uniform(&ctx, b1, -0.2f, 0.2f);
    tt_init_uniform(&ctx, w2, -0.2f, 0.2f); tt_init_uniform(&ctx, b2, -0.2f, 0.2f);
    od = tt_optim_desc_init(TT_OPTIM_ADAM);
    od.hp.lr = 1e-2f;
    if (tt_optim_init(&ctx, &opt, &od) != TT_OK) { tt_ctx_free(&ctx); return 0; }
    tt_ctx_set_threads(&ctx, threads);
    for (step = 0; step < 5 && ok; step++) {
        tt_tensor *h, *loss;
        tt_scratch_reset(&ctx);
        h = tt_linear(&ctx, tt_tensor_from(&ctx, 2, xs, x), w1, b1);
        ok &= MODE_SAME();
        h = tt_relu(&ctx, h);
        h = tt_add_scalar(&ctx, tt_linear(&ctx, h, w2, b2), 0.0f);
        ok &= MODE_SAME();
        loss = tt_mse_loss(&ctx, h, tt_tensor_from(&ctx, 2, ts, t), TT_REDUCTION_MEAN);
        tt_zero_grad(&ctx);
        ok &= tt_backward(&ctx, loss) == TT_OK;
        ok &= MODE_SAME();
        ok &= tt_optim_step(&ctx, &opt) == TT_OK;
        ok &= MODE_SAME();
    }
#undef MODE_SAME
    *n_out = ctx.n_params;
    memcpy(out, ctx.param_data, ctx.n_params * sizeof(float));
    tt_ctx_free(&ctx);
    return ok;
}

static void test_flush_mode_restored(void) {
#ifdef HAVE_MODE
    static float p[1 << 12];
    size_t n;
    int threads;
    unsigned long long before = g_mode0;
    for (threads = 1; threads <= 2; threads++) {
        CHECK_MSG(mlp_train(1, threads, p, &n, 1), "threads %d: a call left the mode changed or failed", threads);
        CHECK(fp_mode() == before);
    }
    {   /* tt_optim_step_closure and tt_backward_seed paths too */
        tt_ctx ctx;
        int one[1] = {1};
        float v = 3.0f, seed = 1.0f;
        tt_tensor *w, *y;
        CHECK(ctx_open(&ctx, 1, 2));
        w = tt_param(&ctx, "w", 1, one);
        y = tt_mul(&ctx, w, tt_tensor_from(&ctx, 1, one, &v));
        CHECK(y && tt_backward_seed(&ctx, y, &seed) == TT_OK);
        CHECK(fp_mode() == before);
        CHECK(w->grad[0] == 3.0f);
        tt_ctx_free(&ctx);
    }
#else
    SKIP("test_flush_mode_restored", "no way to read the floating-point mode on this target");
#endif
}

static void test_flush_bit_identical(void) {
    static float p0[1 << 12], p1[1 << 12];
    size_t n0 = 0, n1 = 0;
    int threads;
    for (threads = 1; threads <= 2; threads++) {
        CHECK(mlp_train(0, threads, p0, &n0, 0));
        CHECK(mlp_train(1, threads, p1, &n1, 0));
        MODE_UNCHANGED();
        CHECK(n0 == n1 && n0 > 0);
        CHECK_MSG(same_bits(p0, p1, n0), "threads %d: parameters differ with flush_denormals", threads);
    }
}

int main(void) {
#ifdef HAVE_MODE
    g_mode0 = fp_mode();
#endif
    RUN(test_flush_desc_checks);
    if (!tt_fp_flush_supported()) {
        SKIP("test_flush_*", "no flush-to-zero on this target (x86-64 and aarch64 only)");
        TEST_EXIT();
    }
    RUN(test_flush_subnormal_results);
    RUN(test_flush_threaded_matmul);
    RUN(test_flush_mode_restored);
    RUN(test_flush_bit_identical);
    TEST_EXIT();
}
