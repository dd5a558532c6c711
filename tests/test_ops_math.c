/* ops_math: elementwise math, activations, reductions, softmax.
   - golden: forward values and input gradients against PyTorch (tests/ref/gen_ops_math.py);
   - gradcheck: every op over several random shapes (size 1, odd sizes, broadcasting, every
     axis and keepdim), inputs kept away from kinks;
   - kinks: the gradient conventions at 0 / at the bounds, with exact expected values;
   - edges and errors: empty reductions, NaN, huge logits, bad arguments. */
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"
#include "ref/ops_math_ref.h"

/* ------------------------------------------------------------------ one dispatcher for all ops */

/* What an op needs besides its inputs (mirrors ops_math_ref_case). */
typedef struct op_spec {
    const char *name;
    float p0, p1;
    int i0, i1, i2;
} op_spec;

static int is_binary(const char *name) {
    return !strcmp(name, "sub") || !strcmp(name, "div") || !strcmp(name, "pow") || !strcmp(name, "maximum") ||
           !strcmp(name, "minimum");
}

static tt_tensor *apply(tt_ctx *ctx, const op_spec *s, tt_tensor *a, tt_tensor *b) {
    const char *n = s->name;
    if (!strcmp(n, "sub")) return tt_sub(ctx, a, b);
    if (!strcmp(n, "div")) return tt_div(ctx, a, b);
    if (!strcmp(n, "pow")) return tt_pow(ctx, a, b);
    if (!strcmp(n, "maximum")) return tt_maximum(ctx, a, b);
    if (!strcmp(n, "minimum")) return tt_minimum(ctx, a, b);
    if (!strcmp(n, "neg")) return tt_neg(ctx, a);
    if (!strcmp(n, "scale")) return tt_scale(ctx, a, s->p0);
    if (!strcmp(n, "add_scalar")) return tt_add_scalar(ctx, a, s->p0);
    if (!strcmp(n, "pow_scalar")) return tt_pow_scalar(ctx, a, s->p0);
    if (!strcmp(n, "exp")) return tt_exp(ctx, a);
    if (!strcmp(n, "log")) return tt_log(ctx, a);
    if (!strcmp(n, "sqrt")) return tt_sqrt(ctx, a);
    if (!strcmp(n, "abs")) return tt_abs(ctx, a);
    if (!strcmp(n, "clamp")) return tt_clamp(ctx, a, s->p0, s->p1);
    if (!strcmp(n, "leaky_relu")) return tt_leaky_relu_ex(ctx, a, s->p0);
    if (!strcmp(n, "elu")) return tt_elu_ex(ctx, a, s->p0);
    if (!strcmp(n, "selu")) return tt_selu(ctx, a);
    if (!strcmp(n, "gelu")) return tt_gelu(ctx, a);
    if (!strcmp(n, "gelu_tanh")) return tt_gelu_tanh(ctx, a);
    if (!strcmp(n, "silu")) return tt_silu(ctx, a);
    if (!strcmp(n, "sigmoid")) return tt_sigmoid(ctx, a);
    if (!strcmp(n, "tanh")) return tt_tanh(ctx, a);
    if (!strcmp(n, "softplus")) return tt_softplus_ex(ctx, a, s->p0, s->p1);
    if (!strcmp(n, "softsign")) return tt_softsign(ctx, a);
    if (!strcmp(n, "hardtanh")) return tt_hardtanh_ex(ctx, a, s->p0, s->p1);
    if (!strcmp(n, "mish")) return tt_mish(ctx, a);
    if (!strcmp(n, "sum")) return tt_sum(ctx, a);
    if (!strcmp(n, "sum_axis")) return tt_sum_axis(ctx, a, s->i0, s->i1);
    if (!strcmp(n, "mean")) return tt_mean(ctx, a);
    if (!strcmp(n, "mean_axis")) return tt_mean_axis(ctx, a, s->i0, s->i1);
    if (!strcmp(n, "var")) return tt_var(ctx, a, s->i0);
    if (!strcmp(n, "var_axis")) return tt_var_axis(ctx, a, s->i0, s->i2, s->i1);
    if (!strcmp(n, "max")) return tt_max(ctx, a);
    if (!strcmp(n, "min")) return tt_min(ctx, a);
    if (!strcmp(n, "max_axis")) return tt_max_axis(ctx, a, s->i0, s->i1);
    if (!strcmp(n, "min_axis")) return tt_min_axis(ctx, a, s->i0, s->i1);
    if (!strcmp(n, "softmax")) return tt_softmax(ctx, a, s->i0);
    if (!strcmp(n, "log_softmax")) return tt_log_softmax(ctx, a, s->i0);
    return NULL;
}

/* ------------------------------------------------------------------ PyTorch goldens */

/* Tolerance against torch float32: |ours - torch| <= 1e-7 + 1e-6 |torch|.
   Both sides evaluate the same float32 formula; they differ only in the libm / SLEEF rounding of
   exp, log, erf, tanh, pow (each <= ~1-2 ulp = 1.2e-7 relative) and in summation order (we sum
   in double, torch in float: a few ulp for the <= 30-element rows here), so a few ulp, i.e.
   1e-6 relative, covers them. The absolute 1e-7 covers results that cancel to near 0 where one
   ulp of an O(1) intermediate is ~6e-8 (sigmoid'(30) = y(1-y), 1 + erf(x) in gelu for x < 0,
   x - max in log_softmax). The generator prints how far torch float32 itself is from float64. */
#define GOLD_ATOL 1e-7
#define GOLD_RTOL 1e-6

/* gelu: torch's float32 erf is ~1 ulp off near erf = -1, where 1 + erf(x / sqrt 2) cancels:
   the generator measures torch's gelu(-3) 1.8e-7 away from the float64 value (ours is within 1e-9
   of it), so gelu values get an absolute 3e-7. */
#define GOLD_ATOL_GELU 3e-7

static int same_value(float got, float want, double atol, double *excess) {
    if (want != want) return got != got;
    if (isinf(want)) return got == want;
    if (got != got || isinf(got)) return 0;
    {
        double e = fabs((double)got - (double)want) - (atol + GOLD_RTOL * fabs((double)want));
        if (e > *excess) *excess = e;
        return e <= 0;
    }
}

static int compare(const char *what, int ci, const float *got, const float *want, size_t n) {
    size_t i;
    int bad = 0;
    double excess = -1, atol = strcmp(ops_math_ref_cases[ci].name, "gelu") ? GOLD_ATOL : GOLD_ATOL_GELU;
    for (i = 0; i < n; i++)
        if (!same_value(got[i], want[i], atol, &excess)) {
            if (bad < 3)
                printf("  case %d (%s %s) %s[%u]: got %.9g, torch %.9g\n", ci, ops_math_ref_cases[ci].name,
                       what, what, (unsigned)i, got[i], want[i]);
            bad++;
        }
    return bad;
}

static void test_golden_torch(void) {
    tt_desc d = {0};
    tt_ctx ctx;
    int ci, n_cases = (int)(sizeof ops_math_ref_cases / sizeof ops_math_ref_cases[0]);
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    for (ci = 0; ci < n_cases; ci++) {
        const ops_math_ref_case *c = &ops_math_ref_cases[ci];
        const float *D = ops_math_ref_data;
        op_spec s;
        tt_tensor *a, *b = NULL, *y;
        int argmax = !strcmp(c->name, "argmax");
        tt_scratch_reset(&ctx);
        s.name = c->name; s.p0 = c->p0; s.p1 = c->p1; s.i0 = c->i0; s.i1 = c->i1; s.i2 = c->i2;
        a = tt_requires_grad(&ctx, tt_tensor_from(&ctx, c->ndim_a, c->shape_a, D + c->off_a));
        if (c->ndim_b >= 0) b = tt_requires_grad(&ctx, tt_tensor_from(&ctx, c->ndim_b, c->shape_b, D + c->off_b));
        if (argmax) { /* integer indices; torch's are compared as the floats the generator stored */
            int idx[64];
            float fidx[64];
            size_t n = tt_shape_numel(c->ndim_y, c->shape_y), i;
            CHECK(n <= 64 && tt_argmax(&ctx, a, c->i0, n, idx) == TT_OK);
            for (i = 0; i < n && i < 64; i++) fidx[i] = (float)idx[i];
            CHECK(compare("y", ci, fidx, D + c->off_y, n) == 0);
            if (n > 0) CHECK(tt_argmax(&ctx, a, c->i0, n - 1, idx) == TT_ERR_SHAPE); /* one int short */
            tt_clear_error(&ctx);
            continue;
        }
        y = apply(&ctx, &s, a, b);
        CHECK_MSG(y != NULL, "case %d %s: %s", ci, c->name, tt_error_message(&ctx));
        if (!y) { tt_clear_error(&ctx); continue; }
        CHECK_MSG(y->ndim == c->ndim_y && !memcmp(y->shape, c->shape_y, sizeof(int) * (size_t)c->ndim_y),
                  "case %d %s: output shape", ci, c->name);
        if (y->ndim != c->ndim_y) continue;
        CHECK(compare("y", ci, y->data, D + c->off_y, y->numel) == 0);
        CHECK(tt_backward_seed(&ctx, y, D + c->off_gy) == TT_OK);
        CHECK(compare("grad_a", ci, a->grad, D + c->off_ga, a->numel) == 0);
        if (b) CHECK(compare("grad_b", ci, b->grad, D + c->off_gb, b->numel) == 0);
    }
    CHECK(tt_error(&ctx) == TT_OK);
    tt_ctx_free(&ctx);
}

/* ------------------------------------------------------------------ gradient checks */

static tt_tensor *gc_fn(tt_ctx *ctx, tt_tensor **in, void *user) {
    const op_spec *s = (const op_spec *)user;
    return apply(ctx, s, in[0], is_binary(s->name) ? in[1] : NULL);
}

/* How to draw inputs for an op. */
enum { DRAW_ANY, DRAW_POS, DRAW_SPACED, DRAW_QUARTER, DRAW_HALF, DRAW_NONZERO };

/* DRAW_ANY: U(-3, 3) pushed at least 0.1 away from the kinks k0, k1 (and 0);
   DRAW_POS: U(0.5, 3); DRAW_SPACED: distinct values at least 0.37 apart (max/min: FD steps
   never swap the order); DRAW_QUARTER / DRAW_HALF: odd multiples of 0.25 vs multiples of 0.5
   (maximum/minimum: never within 0.25 of each other); DRAW_NONZERO: |x| in [0.5, 2]. */
static void draw(tt_ctx *ctx, tt_tensor *t, int how, float k0, float k1) {
    size_t i;
    for (i = 0; i < t->numel; i++) {
        float u = tt_rng_uniform(&ctx->rng), v;
        switch (how) {
        case DRAW_POS: v = 0.5f + 2.5f * u; break;
        case DRAW_SPACED: v = 0.37f * (float)((i * 11u + 3u) % t->numel) - 2.0f; break; /* 11 is coprime to every size used */
        case DRAW_QUARTER: v = 0.25f * (float)(2 * (int)(u * 16.0f) - 15); break;
        case DRAW_HALF: v = 0.5f * (float)((int)(u * 9.0f) - 4); break;
        case DRAW_NONZERO: v = (0.5f + 1.5f * u) * (tt_rng_uniform(&ctx->rng) < 0.5f ? -1.0f : 1.0f); break;
        default:
            v = 6.0f * u - 3.0f;
            if (fabsf(v) < 0.1f || fabsf(v - k0) < 0.1f || fabsf(v - k1) < 0.1f) v += 0.25f;
            break;
        }
        t->data[i] = v;
    }
}

static int gc_run(tt_ctx *ctx, const op_spec *s, int nda, const int *sa, int how_a, int ndb, const int *sb,
                  int how_b) {
    tt_tensor *in[2];
    tt_gradcheck_report rep;
    tt_result r;
    int n = is_binary(s->name) ? 2 : 1;
    /* kinks to stay away from: the bounds of clamp / hardtanh, and for softplus x = threshold / beta
       (where torch switches to the identity: a jump of the value, not only of the slope) */
    float k0 = s->p0, k1 = s->p1;
    if (!strcmp(s->name, "softplus")) k0 = k1 = s->p1 / s->p0;
    tt_scratch_reset(ctx);
    in[0] = tt_requires_grad(ctx, tt_tensor_new(ctx, nda, sa));
    if (in[0]) draw(ctx, in[0], how_a, k0, k1);
    in[1] = NULL;
    if (n == 2) {
        in[1] = tt_requires_grad(ctx, tt_tensor_new(ctx, ndb, sb));
        if (in[1]) draw(ctx, in[1], how_b, 0, 0);
    }
    if (!in[0] || (n == 2 && !in[1])) return 0;
    /* default tolerances (atol 1e-3, rtol 1e-2, eps 1e-2 relative): the central difference of a
       float32 function with step 1e-2 has truncation error ~1e-4 |f'''| and rounding error
       ~1e-7 |f| / 1e-2, both well inside; a wrong derivative is off by O(1). */
    r = tt_gradcheck(ctx, gc_fn, n, in, (void *)s, NULL, &rep);
    if (r != TT_OK)
        printf("  gradcheck %s (p %g %g, i %d %d %d) shape a ndim %d: %s; input %d elem %u analytic %g numeric %g\n",
               s->name, s->p0, s->p1, s->i0, s->i1, s->i2, nda, tt_error_message(ctx), rep.worst_input,
               (unsigned)rep.worst_index, rep.worst_analytic, rep.worst_numeric);
    tt_clear_error(ctx);
    return r == TT_OK;
}

static const int S1[1] = {1}, S7[1] = {7}, S35[2] = {3, 5}, S2317[3] = {2, 3, 17}, S235[3] = {2, 3, 5};

static void test_gradcheck_unary(void) {
    static const op_spec ops[] = {
        {"neg", 0, 0, 0, 0, 0}, {"scale", -1.5f, 0, 0, 0, 0}, {"add_scalar", 0.75f, 0, 0, 0, 0},
        {"exp", 0, 0, 0, 0, 0}, {"abs", 0, 0, 0, 0, 0}, {"clamp", -1.0f, 1.5f, 0, 0, 0},
        {"clamp", -INFINITY, 0.5f, 0, 0, 0}, {"leaky_relu", 0.01f, 0, 0, 0, 0}, {"leaky_relu", 0.3f, 0, 0, 0, 0},
        {"elu", 1.0f, 0, 0, 0, 0}, {"elu", 0.4f, 0, 0, 0, 0}, {"selu", 0, 0, 0, 0, 0}, {"gelu", 0, 0, 0, 0, 0},
        {"gelu_tanh", 0, 0, 0, 0, 0}, {"silu", 0, 0, 0, 0, 0}, {"sigmoid", 0, 0, 0, 0, 0},
        {"tanh", 0, 0, 0, 0, 0}, {"softplus", 1.0f, 20.0f, 0, 0, 0}, {"softplus", 2.0f, 3.0f, 0, 0, 0},
        {"softsign", 0, 0, 0, 0, 0}, {"hardtanh", -1.0f, 1.0f, 0, 0, 0}, {"hardtanh", -2.0f, 0.5f, 0, 0, 0},
        {"mish", 0, 0, 0, 0, 0},
    };
    static const op_spec pos_ops[] = {
        {"log", 0, 0, 0, 0, 0}, {"sqrt", 0, 0, 0, 0, 0}, {"pow_scalar", 2.0f, 0, 0, 0, 0},
        {"pow_scalar", -1.5f, 0, 0, 0, 0}, {"pow_scalar", 0.5f, 0, 0, 0, 0}, {"pow_scalar", 3.3f, 0, 0, 0, 0},
    };
    tt_desc d = {0};
    tt_ctx ctx;
    size_t k;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    for (k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        op_spec s = ops[k];
        CHECK_MSG(gc_run(&ctx, &s, 1, S1, DRAW_ANY, 0, NULL, 0), "%s size 1", s.name);
        CHECK_MSG(gc_run(&ctx, &s, 1, S7, DRAW_ANY, 0, NULL, 0), "%s (7)", s.name);
        CHECK_MSG(gc_run(&ctx, &s, 2, S35, DRAW_ANY, 0, NULL, 0), "%s (3,5)", s.name);
        CHECK_MSG(gc_run(&ctx, &s, 3, S2317, DRAW_ANY, 0, NULL, 0), "%s (2,3,17)", s.name);
        CHECK_MSG(gc_run(&ctx, &s, 0, NULL, DRAW_ANY, 0, NULL, 0), "%s scalar", s.name);
    }
    for (k = 0; k < sizeof pos_ops / sizeof pos_ops[0]; k++) {
        CHECK_MSG(gc_run(&ctx, &pos_ops[k], 1, S1, DRAW_POS, 0, NULL, 0), "%s size 1", pos_ops[k].name);
        CHECK_MSG(gc_run(&ctx, &pos_ops[k], 2, S35, DRAW_POS, 0, NULL, 0), "%s (3,5)", pos_ops[k].name);
        CHECK_MSG(gc_run(&ctx, &pos_ops[k], 3, S2317, DRAW_POS, 0, NULL, 0), "%s (2,3,17)", pos_ops[k].name);
    }
    tt_ctx_free(&ctx);
}

static void test_gradcheck_binary(void) {
    /* shape pairs: same, trailing broadcast, both sides broadcast, size 1, scalar, outer product */
    static const int pa[6][4] = {{3, 4}, {3, 4}, {2, 1, 3}, {1}, {0}, {5, 1}};
    static const int pb[6][4] = {{3, 4}, {4}, {4, 1}, {2, 3}, {5}, {1, 6}};
    static const int na[6] = {2, 2, 3, 1, 0, 2}, nb[6] = {2, 1, 2, 2, 1, 2};
    tt_desc d = {0};
    tt_ctx ctx;
    int k;
    op_spec s = {"sub", 0, 0, 0, 0, 0};
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    for (k = 0; k < 6; k++) {
        s.name = "sub"; CHECK_MSG(gc_run(&ctx, &s, na[k], pa[k], DRAW_ANY, nb[k], pb[k], DRAW_ANY), "sub pair %d", k);
        s.name = "div"; CHECK_MSG(gc_run(&ctx, &s, na[k], pa[k], DRAW_ANY, nb[k], pb[k], DRAW_NONZERO), "div pair %d", k);
        s.name = "pow"; CHECK_MSG(gc_run(&ctx, &s, na[k], pa[k], DRAW_POS, nb[k], pb[k], DRAW_ANY), "pow pair %d", k);
        s.name = "maximum"; CHECK_MSG(gc_run(&ctx, &s, na[k], pa[k], DRAW_QUARTER, nb[k], pb[k], DRAW_HALF), "maximum pair %d", k);
        s.name = "minimum"; CHECK_MSG(gc_run(&ctx, &s, na[k], pa[k], DRAW_QUARTER, nb[k], pb[k], DRAW_HALF), "minimum pair %d", k);
    }
    tt_ctx_free(&ctx);
}

static void test_gradcheck_reductions(void) {
    static const char *axis_ops[] = {"sum_axis", "mean_axis", "var_axis", "max_axis", "min_axis", "softmax", "log_softmax"};
    const int *shapes[4] = {S1, S7, S35, S235};
    int nds[4] = {1, 1, 2, 3}, si, ax, kd, k, c;
    tt_desc d = {0};
    tt_ctx ctx;
    op_spec s = {"sum", 0, 0, 0, 0, 0};
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    for (si = 0; si < 4; si++) {
        int nd = nds[si];
        static const char *all_ops[] = {"mean", "var", "max", "min"};
        for (k = 0; k < 4; k++) {
            s.name = all_ops[k];
            for (c = 0; c <= (k == 1 ? 2 : 0); c++) {
                s.i0 = c;
                if (k == 1 && c >= (int)tt_shape_numel(nd, shapes[si])) continue; /* var needs n > correction */
                CHECK_MSG(gc_run(&ctx, &s, nd, shapes[si], k >= 2 ? DRAW_SPACED : DRAW_ANY, 0, NULL, 0), "%s c %d shape %d", s.name, c, si);
            }
        }
        for (k = 0; k < 7; k++)
            for (ax = -nd; ax < nd; ax++)
                for (kd = 0; kd <= 1; kd++)
                    for (c = 0; c <= (k == 2 ? 1 : 0); c++) {
                        int how = (k == 3 || k == 4) ? DRAW_SPACED : DRAW_ANY;
                        if (k >= 5 && kd) continue; /* softmax has no keepdim */
                        if (k == 2 && shapes[si][ax < 0 ? ax + nd : ax] <= c) continue;
                        s.name = axis_ops[k]; s.i0 = ax; s.i1 = kd; s.i2 = c;
                        CHECK_MSG(gc_run(&ctx, &s, nd, shapes[si], how, 0, NULL, 0), "%s axis %d keepdim %d c %d shape %d",
                                  s.name, ax, kd, c, si);
                    }
    }
    /* 0-dim input: axis 0 and -1 are accepted (as torch) */
    for (k = 0; k < 7; k++)
        for (ax = -1; ax <= 0; ax++) {
            s.name = axis_ops[k]; s.i0 = ax; s.i1 = 0; s.i2 = 0;
            CHECK_MSG(gc_run(&ctx, &s, 0, NULL, DRAW_ANY, 0, NULL, 0), "%s scalar axis %d", s.name, ax);
        }
    tt_ctx_free(&ctx);
}

/* ------------------------------------------------------------------ kink conventions (exact) */

/* y = op(x) for x given, upstream gradient 1: returns the input gradient in g */
static void grad_of(tt_ctx *ctx, tt_tensor *(*op)(tt_ctx *, tt_tensor *, float, float), float p0, float p1,
                    int n, const float *x, float *y, float *g) {
    int shape[1];
    tt_tensor *t, *out;
    int i;
    shape[0] = n;
    tt_scratch_reset(ctx);
    t = tt_requires_grad(ctx, tt_tensor_from(ctx, 1, shape, x));
    out = op(ctx, t, p0, p1);
    if (!out || tt_backward(ctx, tt_sum(ctx, out)) != TT_OK) {
        for (i = 0; i < n; i++) y[i] = g[i] = -12345.0f;
        return;
    }
    for (i = 0; i < n; i++) { y[i] = out->data[i]; g[i] = t->grad[i]; }
}

static tt_tensor *k_abs(tt_ctx *c, tt_tensor *x, float a, float b) { (void)a; (void)b; return tt_abs(c, x); }
static tt_tensor *k_relu(tt_ctx *c, tt_tensor *x, float a, float b) { (void)a; (void)b; return tt_relu(c, x); }
static tt_tensor *k_leaky(tt_ctx *c, tt_tensor *x, float a, float b) { (void)b; return tt_leaky_relu_ex(c, x, a); }
static tt_tensor *k_elu(tt_ctx *c, tt_tensor *x, float a, float b) { (void)b; return tt_elu_ex(c, x, a); }
static tt_tensor *k_clamp(tt_ctx *c, tt_tensor *x, float a, float b) { return tt_clamp(c, x, a, b); }
static tt_tensor *k_hardtanh(tt_ctx *c, tt_tensor *x, float a, float b) { return tt_hardtanh_ex(c, x, a, b); }
static tt_tensor *k_sqrt(tt_ctx *c, tt_tensor *x, float a, float b) { (void)a; (void)b; return tt_sqrt(c, x); }
static tt_tensor *k_softplus(tt_ctx *c, tt_tensor *x, float a, float b) { return tt_softplus_ex(c, x, a, b); }
static tt_tensor *k_pow(tt_ctx *c, tt_tensor *x, float a, float b) { (void)b; return tt_pow_scalar(c, x, a); }

static void test_kink_conventions(void) {
    tt_desc d = {0};
    tt_ctx ctx;
    float y[4], g[4];
    const float zero[1] = {0.0f};
    const float bounds[4] = {-1.0f, 1.0f, 0.5f, -2.0f};
    const float sp[3] = {10.0f, 10.5f, 9.99f};
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    grad_of(&ctx, k_abs, 0, 0, 1, zero, y, g);      CHECK(y[0] == 0.0f && g[0] == 0.0f);       /* abs'(0) = 0 */
    grad_of(&ctx, k_relu, 0, 0, 1, zero, y, g);     CHECK(y[0] == 0.0f && g[0] == 0.0f);       /* relu'(0) = 0 */
    grad_of(&ctx, k_leaky, 0.1f, 0, 1, zero, y, g); CHECK(y[0] == 0.0f && g[0] == 0.1f);       /* torch: slope at 0 */
    grad_of(&ctx, k_elu, 2.0f, 0, 1, zero, y, g);   CHECK(y[0] == 0.0f && g[0] == 2.0f);       /* torch: alpha at 0 */
    grad_of(&ctx, k_sqrt, 0, 0, 1, zero, y, g);     CHECK(y[0] == 0.0f && isinf(g[0]) && g[0] > 0); /* sqrt'(0) = inf */
    grad_of(&ctx, k_pow, 0.0f, 0, 1, zero, y, g);   CHECK(y[0] == 1.0f && g[0] == 0.0f);       /* 0^0 = 1, grad 0 */
    /* clamp and hardtanh: gradient only strictly inside (lo, hi), 0 at the bounds. NOTE: torch
       2.15 (verified) does this for clamp with scalar bounds too, not lo <= x <= hi. */
    grad_of(&ctx, k_clamp, -1.0f, 1.0f, 4, bounds, y, g);
    CHECK(y[0] == -1.0f && y[1] == 1.0f && y[2] == 0.5f && y[3] == -1.0f);
    CHECK(g[0] == 0.0f && g[1] == 0.0f && g[2] == 1.0f && g[3] == 0.0f);
    grad_of(&ctx, k_hardtanh, -1.0f, 1.0f, 4, bounds, y, g);
    CHECK(y[0] == -1.0f && y[1] == 1.0f && y[2] == 0.5f && y[3] == -1.0f);
    CHECK(g[0] == 0.0f && g[1] == 0.0f && g[2] == 1.0f && g[3] == 0.0f);
    /* clamp with lo > hi gives hi everywhere and no gradient (torch) */
    grad_of(&ctx, k_clamp, 1.0f, -1.0f, 4, bounds, y, g);
    CHECK(y[0] == -1.0f && y[1] == -1.0f && y[2] == -1.0f && y[3] == -1.0f);
    CHECK(g[0] == 0.0f && g[1] == 0.0f && g[2] == 0.0f && g[3] == 0.0f);
    /* softplus beta 2, threshold 20: linear (grad exactly 1) where 2x > 20 */
    grad_of(&ctx, k_softplus, 2.0f, 20.0f, 3, sp, y, g);
    CHECK(y[1] == 10.5f && g[1] == 1.0f);
    /* 2 * 10 == 20 is not > 20: the log1p branch, log1p(e^20) / 2 = 10 + 1e-9 and slope
       sigmoid(20) = 1 - 2e-9, both 10 and 1 in float */
    CHECK(y[0] == 10.0f && g[0] == 1.0f);
    CHECK_CLOSE(y[2], 9.99f, 1e-6, 0);
    CHECK(tt_error(&ctx) == TT_OK);
    tt_ctx_free(&ctx);
}

/* max ties: full reduction splits evenly, max along an axis picks the first */
static void test_max_ties(void) {
    tt_desc d = {0};
    tt_ctx ctx;
    const float v[6] = {1, 3, 3, 2, 3, 0};
    int s1[1] = {6}, s2[2] = {2, 3};
    tt_tensor *x, *y;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    x = tt_requires_grad(&ctx, tt_tensor_from(&ctx, 1, s1, v));
    y = tt_max(&ctx, x);
    CHECK(y && y->data[0] == 3.0f && tt_backward(&ctx, y) == TT_OK);
    CHECK(x->grad[0] == 0 && x->grad[3] == 0 && x->grad[5] == 0);
    CHECK(x->grad[1] == 1.0f / 3 && x->grad[2] == 1.0f / 3 && x->grad[4] == 1.0f / 3);
    tt_scratch_reset(&ctx);
    x = tt_requires_grad(&ctx, tt_tensor_from(&ctx, 2, s2, v)); /* rows {1,3,3} and {2,3,0} */
    y = tt_max_axis(&ctx, x, 1, 0);
    CHECK(y && y->data[0] == 3 && y->data[1] == 3 && tt_backward(&ctx, tt_sum(&ctx, y)) == TT_OK);
    CHECK(x->grad[0] == 0 && x->grad[1] == 1 && x->grad[2] == 0 && x->grad[3] == 0 && x->grad[4] == 1 && x->grad[5] == 0);
    {
        int idx[2] = {-1, -1};
        CHECK(tt_argmax(&ctx, x, -1, 2, idx) == TT_OK && idx[0] == 1 && idx[1] == 1);
    }
    y = tt_min_axis(&ctx, x, 0, 0); /* columns {1,2} {3,3} {3,0}: ties pick row 0 */
    CHECK(y && y->data[0] == 1 && y->data[1] == 3 && y->data[2] == 0);
    CHECK(tt_error(&ctx) == TT_OK);
    tt_ctx_free(&ctx);
}

/* ------------------------------------------------------------------ edges and errors */

static void test_empty_and_nan(void) {
    tt_desc d = {0};
    tt_ctx ctx;
    int s03[2] = {0, 3}, s30[2] = {3, 0};
    float nanv[3];
    int s3[1] = {3}, s1[1] = {1};
    tt_tensor *e, *y;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    e = tt_requires_grad(&ctx, tt_tensor_new(&ctx, 2, s03));
    y = tt_sum_axis(&ctx, e, 0, 0);          /* sum over an empty axis: zeros */
    CHECK(y && y->ndim == 1 && y->shape[0] == 3 && y->data[0] == 0 && y->data[2] == 0);
    y = tt_mean_axis(&ctx, e, 0, 1);         /* mean over an empty axis: NaN */
    CHECK(y && y->ndim == 2 && y->shape[0] == 1 && y->data[1] != y->data[1]);
    y = tt_mean(&ctx, e);
    CHECK(y && y->ndim == 0 && y->data[0] != y->data[0]);
    y = tt_var(&ctx, e, 1);
    CHECK(y && y->data[0] != y->data[0]);
    y = tt_max_axis(&ctx, e, 1, 0);          /* empty output: fine (torch) */
    CHECK(y && y->numel == 0 && y->shape[0] == 0);
    y = tt_softmax(&ctx, e, 0);
    CHECK(y && y->numel == 0);
    CHECK(tt_error(&ctx) == TT_OK);
    CHECK(tt_max(&ctx, e) == NULL && tt_error(&ctx) == TT_ERR_SHAPE);
    CHECK(strcmp(tt_error_site(&ctx), "max") == 0);
    tt_clear_error(&ctx);
    CHECK(tt_max_axis(&ctx, e, 0, 0) == NULL && tt_error(&ctx) == TT_ERR_SHAPE);
    tt_clear_error(&ctx);
    {
        int idx[3];
        CHECK(tt_argmax(&ctx, tt_tensor_new(&ctx, 2, s30), 1, 3, idx) == TT_ERR_SHAPE && tt_error(&ctx) == TT_ERR_SHAPE);
        CHECK(strcmp(tt_error_site(&ctx), "argmax") == 0);
    }
    tt_clear_error(&ctx);
    /* NaN propagates through max and wins argmax (first NaN), as torch */
    nanv[0] = 1.0f; nanv[1] = NAN; nanv[2] = 3.0f;
    e = tt_tensor_from(&ctx, 1, s3, nanv);
    y = tt_max(&ctx, e);
    CHECK(y && y->data[0] != y->data[0]);
    {
        int idx[1] = {-1};
        CHECK(tt_argmax(&ctx, e, 0, 1, idx) == TT_OK && idx[0] == 1);
    }
    /* variance with n <= correction: 0/0 = NaN for one element, x/0 = inf otherwise (torch) */
    y = tt_var(&ctx, tt_tensor_from(&ctx, 1, s1, nanv + 2), 1);
    CHECK(y && y->data[0] != y->data[0]);
    nanv[1] = 5.0f;
    y = tt_var_axis(&ctx, tt_tensor_from(&ctx, 1, s3, nanv), 0, 3, 0);
    CHECK(y && isinf(y->data[0]) && y->data[0] > 0);
    CHECK(tt_error(&ctx) == TT_OK);
    tt_ctx_free(&ctx);
}

static void test_softmax_extremes(void) {
    tt_desc d = {0};
    tt_ctx ctx;
    const float v[4] = {1000.0f, -1000.0f, 999.0f, 0.0f};
    int s[1] = {4};
    tt_tensor *x, *y, *l;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    x = tt_tensor_from(&ctx, 1, s, v);
    y = tt_softmax(&ctx, x, 0);
    l = tt_log_softmax(&ctx, x, 0);
    CHECK(y && l);
    if (y && l) {
        /* exact: softmax = (1, 0, e^-1, 0) / (1 + e^-1); tolerance: a few float ulp */
        CHECK_CLOSE(y->data[0], 1.0 / (1.0 + exp(-1.0)), 0, 1e-6);
        CHECK_CLOSE(y->data[2], exp(-1.0) / (1.0 + exp(-1.0)), 0, 1e-6);
        CHECK(y->data[1] == 0.0f && y->data[3] == 0.0f);
        CHECK_CLOSE(l->data[0], -log1p(exp(-1.0)), 0, 1e-6);
        CHECK_CLOSE(l->data[1], -2000.0 - log1p(exp(-1.0)), 0, 1e-6);
        CHECK(isfinite(l->data[3]));
    }
    tt_ctx_free(&ctx);
}

static void test_errors(void) {
    tt_desc d = {0};
    tt_ctx ctx;
    int s23[2] = {2, 3}, s4[1] = {4};
    tt_tensor *x, *b;
    float before[6];
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    x = tt_requires_grad(&ctx, tt_tensor_randn(&ctx, 2, s23, 0, 1));
    memcpy(before, x->data, sizeof before);
#define EXPECT_ERR(call, code, site)                                                              \
    do {                                                                                          \
        CHECK((call) == NULL);                                                                    \
        CHECK_MSG(tt_error(&ctx) == (code), "%s: got %d", #call, (int)tt_error(&ctx));            \
        CHECK_MSG(strcmp(tt_error_site(&ctx), site) == 0, "%s: site '%s' (%s)", #call,            \
                  tt_error_site(&ctx), tt_error_message(&ctx));                                   \
        tt_clear_error(&ctx);                                                                     \
    } while (0)
    EXPECT_ERR(tt_exp(&ctx, NULL), TT_ERR_INVALID_ARGS, "exp");
    EXPECT_ERR(tt_softmax(&ctx, NULL, 0), TT_ERR_INVALID_ARGS, "softmax");
    EXPECT_ERR(tt_sum_axis(&ctx, x, 2, 0), TT_ERR_INVALID_ARGS, "sum_axis");
    EXPECT_ERR(tt_mean_axis(&ctx, x, -3, 0), TT_ERR_INVALID_ARGS, "mean_axis");
    EXPECT_ERR(tt_var_axis(&ctx, x, 5, 1, 0), TT_ERR_INVALID_ARGS, "var_axis");
    EXPECT_ERR(tt_max_axis(&ctx, x, -3, 1), TT_ERR_INVALID_ARGS, "max_axis");
    EXPECT_ERR(tt_min_axis(&ctx, x, 2, 1), TT_ERR_INVALID_ARGS, "min_axis");
    CHECK(tt_argmax(&ctx, x, 2, 0, NULL) == TT_ERR_INVALID_ARGS && strcmp(tt_error_site(&ctx), "argmax") == 0);
    tt_clear_error(&ctx);
    EXPECT_ERR(tt_log_softmax(&ctx, x, 2), TT_ERR_INVALID_ARGS, "log_softmax");
    EXPECT_ERR(tt_sum_axis(&ctx, tt_scalar(&ctx, 1.0f), 1, 0), TT_ERR_INVALID_ARGS, "sum_axis");
    EXPECT_ERR(tt_hardtanh_ex(&ctx, x, 1.0f, -1.0f), TT_ERR_INVALID_ARGS, "hardtanh");
    EXPECT_ERR(tt_softplus_ex(&ctx, x, 0.0f, 20.0f), TT_ERR_INVALID_ARGS, "softplus");
    EXPECT_ERR(tt_softplus_ex(&ctx, x, 1.0f, NAN), TT_ERR_INVALID_ARGS, "softplus");
    EXPECT_ERR(tt_clamp(&ctx, x, NAN, 1.0f), TT_ERR_INVALID_ARGS, "clamp");
    EXPECT_ERR(tt_leaky_relu_ex(&ctx, x, INFINITY), TT_ERR_INVALID_ARGS, "leaky_relu");
    EXPECT_ERR(tt_elu_ex(&ctx, x, NAN), TT_ERR_INVALID_ARGS, "elu");
    b = tt_tensor_new(&ctx, 1, s4);
    EXPECT_ERR(tt_sub(&ctx, x, b), TT_ERR_SHAPE, "sub");
    EXPECT_ERR(tt_maximum(&ctx, x, b), TT_ERR_SHAPE, "maximum");
    EXPECT_ERR(tt_div(&ctx, NULL, b), TT_ERR_INVALID_ARGS, "div");
    CHECK(memcmp(before, x->data, sizeof before) == 0); /* inputs untouched by failing calls */
    /* after an error, NULL inputs propagate silently and keep the first message */
    CHECK(tt_softmax(&ctx, x, 9) == NULL);
    CHECK(tt_sigmoid(&ctx, NULL) == NULL && tt_mean(&ctx, NULL) == NULL);
    CHECK(strcmp(tt_error_site(&ctx), "softmax") == 0);
    tt_clear_error(&ctx);
    /* NULL context: no crash */
    CHECK(tt_tanh(NULL, x) == NULL && tt_max_axis(NULL, x, 0, 0) == NULL && tt_var(NULL, x, 1) == NULL);
    tt_ctx_free(&ctx);
}

/* no-grad mode builds no tape; a constant input gets no gradient */
static void test_no_grad(void) {
    tt_desc d = {0};
    tt_ctx ctx;
    int s[2] = {3, 4};
    tt_tensor *x, *c, *y;
    int old;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    x = tt_requires_grad(&ctx, tt_tensor_randn(&ctx, 2, s, 0, 1));
    c = tt_tensor_randn(&ctx, 2, s, 0, 1);
    old = tt_set_grad_enabled(&ctx, 0);
    y = tt_softmax(&ctx, tt_gelu(&ctx, x), 1);
    CHECK(y && y->node == NULL && y->grad == NULL && ctx.n_nodes == 0);
    tt_set_grad_enabled(&ctx, old);
    y = tt_mean(&ctx, tt_mul(&ctx, tt_sub(&ctx, x, c), tt_max_axis(&ctx, c, 1, 1)));
    CHECK(y && tt_backward(&ctx, y) == TT_OK && c->grad == NULL);
    tt_ctx_free(&ctx);
}

/* The plain activation calls use torch's default parameters (leaky_relu slope 0.01, elu alpha 1,
   hardtanh [-1, 1], softplus beta 1 threshold 20): values checked against the formulas in
   double, tolerance 2 float ulp. */
static void test_activation_defaults(void) {
    tt_desc d = {0};
    tt_ctx ctx;
    const float v[6] = {-3.0f, -0.5f, 0.0f, 0.25f, 1.5f, 25.0f};
    int s[1] = {6}, i;
    tt_tensor *x, *lr, *el, *ht, *sp;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    x = tt_tensor_from(&ctx, 1, s, v);
    lr = tt_leaky_relu(&ctx, x);
    el = tt_elu(&ctx, x);
    ht = tt_hardtanh(&ctx, x);
    sp = tt_softplus(&ctx, x);
    CHECK(lr && el && ht && sp);
    for (i = 0; lr && el && ht && sp && i < 6; i++) {
        double xv = v[i];
        CHECK_CLOSE(lr->data[i], xv > 0 ? xv : 0.01 * xv, 0, 2.4e-7);
        CHECK_CLOSE(el->data[i], xv > 0 ? xv : exp(xv) - 1.0, 0, 2.4e-7);
        CHECK_CLOSE(ht->data[i], xv < -1 ? -1.0 : xv > 1 ? 1.0 : xv, 0, 0);
        CHECK_CLOSE(sp->data[i], xv > 20 ? xv : log1p(exp(xv)), 0, 2.4e-7);
    }
    tt_ctx_free(&ctx);
}

int main(void) {
    RUN(test_golden_torch);
    RUN(test_activation_defaults);
    RUN(test_gradcheck_unary);
    RUN(test_gradcheck_binary);
    RUN(test_gradcheck_reductions);
    RUN(test_kink_conventions);
    RUN(test_max_ties);
    RUN(test_empty_and_nan);
    RUN(test_softmax_extremes);
    RUN(test_errors);
    RUN(test_no_grad);
    TEST_EXIT();
}
