/* The fast paths added for the training benchmark (bench/bench_train.c) must give exactly the
   bits of the plain scalar formulas they replace: relu forward/backward, the SGD (momentum,
   nesterov, weight decay, maximize) and Adam/AdamW updates, gelu forward/backward. Each test
   recomputes the scalar formula here, element by element, and compares bit patterns (tolerance
   0: the vector code uses the same IEEE operations in the same order; NaNs only need to be NaN). Sizes 1, 3, 4, 37 cover
   the vector body and the scalar tail; inputs include -0, +0, NaN and infinities. */
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"

/* the constants of tinytrain's gelu (>>ops_math; #undef'd at the end of that section) */
#define SQRT1_2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f


static void init_ctx(tt_ctx *ctx) {
    tt_desc d;
    memset(&d, 0, sizeof d);
    d.max_params = 1 << 12;
    d.scratch_bytes = 1 << 20;
    d.persist_bytes = 1 << 16;
    CHECK(tt_ctx_init(ctx, &d) == TT_OK);
}

static void fill_special(tt_rng *r, float *v, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) v[i] = 2.0f * tt_rng_normal(r);
    if (n > 1) v[1] = -0.0f;
    if (n > 2) v[2] = 0.0f;
    if (n > 5) v[5] = NAN;
    if (n > 6) v[6] = -INFINITY;
    if (n > 7) v[7] = INFINITY;
}

static void test_relu_bits(void) {
    static const int sizes[4] = {1, 3, 4, 37};
    int s;
    tt_ctx ctx;
    tt_rng r;
    init_ctx(&ctx);
    tt_rng_seed(&r, 7);
    for (s = 0; s < 4; s++) {
        float xv[37], gy[37], gx0[37], ref[37], refg[37];
        size_t i, n = (size_t)sizes[s];
        tt_tensor *x, *y;
        tt_scratch_reset(&ctx);
        fill_special(&r, xv, n);
        fill_special(&r, gy, n);
        fill_special(&r, gx0, n);
        gx0[0] = -0.0f; /* an existing -0 gradient must stay -0 where nothing is added */
        x = tt_requires_grad(&ctx, tt_tensor_from(&ctx, 1, sizes + s, xv));
        CHECK(x != NULL);
        if (!x) return;
        memcpy(x->grad, gx0, n * sizeof(float));
        y = tt_relu(&ctx, x);
        CHECK(y != NULL);
        if (!y) return;
        for (i = 0; i < n; i++) ref[i] = xv[i] > 0 ? xv[i] : 0.0f;
        CHECK(same_bits(y->data, ref, n));
        CHECK(tt_backward_seed(&ctx, y, gy) == TT_OK);
        for (i = 0; i < n; i++) refg[i] = xv[i] > 0 ? gx0[i] + gy[i] : gx0[i];
        CHECK(same_bits(x->grad, refg, n));
    }
    tt_ctx_free(&ctx);
}

static void test_gelu_bits(void) {
    static const int n37[1] = {37};
    float xv[37], gy[37], ref[37], refg[37];
    size_t i;
    tt_ctx ctx;
    tt_rng r;
    tt_tensor *x, *y;
    init_ctx(&ctx);
    /* the scalar kernel keeps libm's erff / expf (the AVX2 path's vectorised erf and exp are
       checked against this formula in tests/test_vmath.c) */
    CHECK(tt_ctx_set_kernel(&ctx, TT_KERNEL_SCALAR) == TT_OK);
    tt_rng_seed(&r, 8);
    fill_special(&r, xv, 37);
    fill_special(&r, gy, 37);
    x = tt_requires_grad(&ctx, tt_tensor_from(&ctx, 1, n37, xv));
    y = tt_gelu(&ctx, x);
    CHECK(y != NULL && tt_backward_seed(&ctx, y, gy) == TT_OK);
    if (!y) return;
    for (i = 0; i < 37; i++) {
        float v = xv[i];
        ref[i] = 0.5f * v * (1.0f + erff(v * SQRT1_2));
        refg[i] = 0.0f + gy[i] * (0.5f * (1.0f + erff(v * SQRT1_2)) + v * expf(-0.5f * v * v) * INV_SQRT_2PI);
    }
    CHECK(same_bits(y->data, ref, 37));
    /* NaN payloads compare by bits too: same operations give the same NaN */
    CHECK(same_bits(x->grad, refg, 37));
    tt_ctx_free(&ctx);
}

/* One optimizer over a parameter of n floats for 3 steps, against the scalar formulas. */
static void run_optim(tt_optim_kind kind, float wd, int nesterov, int maximize, int decoupled, int n) {
    tt_ctx ctx;
    tt_optim opt;
    tt_optim_desc od;
    tt_rng r;
    float x[37], m[37], v[37], g[37];
    int shape[1], t, i;
    tt_tensor *p;
    init_ctx(&ctx);
    tt_rng_seed(&r, 9);
    shape[0] = n;
    p = tt_param(&ctx, "p", 1, shape);
    CHECK(p != NULL);
    if (!p) return;
    for (i = 0; i < n; i++) x[i] = p->data[i] = tt_rng_normal(&r);
    memset(m, 0, sizeof m);
    memset(v, 0, sizeof v);
    od = tt_optim_desc_init(kind);
    od.hp.lr = 0.05f;
    od.hp.weight_decay = wd;
    if (kind == TT_OPTIM_SGD) { od.hp.momentum = 0.9f; od.hp.nesterov = nesterov; }
    od.hp.maximize = maximize;
    if (kind == TT_OPTIM_ADAM) od.hp.decoupled_weight_decay = decoupled;
    CHECK(tt_optim_init(&ctx, &opt, &od) == TT_OK);
    for (t = 1; t <= 3; t++) {
        float gs = maximize ? -1.0f : 1.0f, lr = 0.05f;
        for (i = 0; i < n; i++) g[i] = p->grad[i] = tt_rng_normal(&r);
        if (t == 2 && n > 1) g[1] = p->grad[1] = 0.0f;
        CHECK(tt_optim_step(&ctx, &opt) == TT_OK);
        for (i = 0; i < n; i++) { /* the scalar reference formulas of tt__upd_sgd / tt__upd_adam */
            float gi = gs * g[i];
            if (kind == TT_OPTIM_SGD) {
                float b;
                if (wd != 0) gi = gi + wd * x[i];
                b = t == 1 ? gi : m[i] * 0.9f + 1.0f * gi;
                m[i] = b;
                gi = nesterov ? gi + 0.9f * b : b;
                x[i] = x[i] + (-lr) * gi;
            } else {
                double bc1 = 1.0 - pow((double)0.9f, (double)t), bc2 = 1.0 - pow((double)0.999f, (double)t);
                float step = (float)((double)lr / bc1), bc2s = (float)sqrt(bc2), w1 = (float)(1.0 - (double)0.9f);
                float w2 = (float)(1.0 - (double)0.999f), decay = (float)(1.0 - (double)lr * (double)wd), den;
                if (wd != 0) {
                    if (decoupled) x[i] *= decay;
                    else gi = gi + wd * x[i];
                }
                m[i] = m[i] + w1 * (gi - m[i]);
                v[i] = v[i] * 0.999f + w2 * (gi * gi);
                den = sqrtf(v[i]) / bc2s + 1e-8f;
                x[i] = x[i] + (-step) * m[i] / den;
            }
        }
        CHECK(same_bits(p->data, x, (size_t)n));
    }
    tt_ctx_free(&ctx);
}

static void test_optim_bits(void) {
    static const int sizes[4] = {1, 3, 4, 37};
    int s;
    for (s = 0; s < 4; s++) {
        run_optim(TT_OPTIM_SGD, 0.0f, 0, 0, 0, sizes[s]);
        run_optim(TT_OPTIM_SGD, 0.01f, 1, 0, 0, sizes[s]);
        run_optim(TT_OPTIM_SGD, 0.01f, 0, 1, 0, sizes[s]);
        run_optim(TT_OPTIM_ADAMW, 0.01f, 0, 0, 1, sizes[s]);
        run_optim(TT_OPTIM_ADAMW, 0.01f, 0, 1, 1, sizes[s]);
        run_optim(TT_OPTIM_ADAM, 0.01f, 0, 0, 0, sizes[s]);
        run_optim(TT_OPTIM_ADAM, 0.0f, 0, 0, 0, sizes[s]);
    }
}

/* Every (reference, SIMD twin) pair registered in the optimizer table: the twin followed by the
   reference on the remainder (what tt_optim_step does) against the reference alone, bit for bit,
   over hyperparameter variants and sizes 1..37, 4 steps with state carried. */
static void test_optim_simd_pairs(void) {
    int k, pairs = 0;
    for (k = 1; k < TT_OPTIM_KIND_COUNT_; k++) {
        const tt__optim_row *row = &tt__optim_table[k];
        int var, n;
        CHECK(row->kind == (tt_optim_kind)k);
        if (!row->vec) continue;
        pairs++;
        for (var = 0; var < 16; var++)
            for (n = 1; n <= 37; n += (n < 9 ? 1 : 7)) {
                tt_optim_hparams h = tt_optim_desc_init((tt_optim_kind)k).hp;
                float x[2][37], s[2][3][37], g[37];
                tt_rng r;
                int t, i, c;
                h.lr = 0.05;
                h.maximize = var & 1;
                h.momentum = (var & 2) ? 0.9f : 0.0f;
                h.nesterov = (var & 2) && (var & 4);
                h.dampening = (var & 2) && !(var & 4) ? 0.1f : 0.0f;
                h.amsgrad = (var & 8) != 0;
                if (k == TT_OPTIM_ADAM) h.decoupled_weight_decay = (var & 4) != 0;
                if (var & 4) { h.beta1 = 0.3f; h.beta2 = 0.9f; } /* the other lerp branch is covered by var & 2 below */
                if (var & 2) h.beta1 = 0.0f;
                tt_rng_seed(&r, (uint64_t)(100 + var));
                for (i = 0; i < n; i++) x[0][i] = x[1][i] = tt_rng_normal(&r);
                memset(s, 0, sizeof s);
                for (t = 1; t <= 4; t++) {
                    for (i = 0; i < n; i++) g[i] = tt_rng_normal(&r);
                    if (t == 2) g[0] = 0.0f;
                    for (c = 0; c < 2; c++) {
                        tt__optim_job j;
                        size_t done = 0;
                        memset(&j, 0, sizeof j);
                        j.h = &h;
                        j.wd = (var & 4) ? 0.01f : 0.0f;
                        j.gsign = h.maximize ? -1.0f : 1.0f;
                        j.t = t;
                        j.clip = 1.0f;
                        j.x = x[c]; j.g = g; j.s0 = s[c][0]; j.s1 = s[c][1]; j.s2 = s[c][2];
                        j.n = (size_t)n;
                        if (c == 1) done = row->vec(&j);
                        CHECK(done <= j.n && done % 4 == 0);
                        j.x += done; j.g += done; j.s0 += done; j.s1 += done; j.s2 += done; j.n -= done;
                        if (j.n) CHECK(row->update(NULL, &j) == TT_OK);
                    }
                    if (!(same_bits(x[1], x[0], (size_t)n) && same_bits(s[1][0], s[0][0], (size_t)n) &&
                          same_bits(s[1][1], s[0][1], (size_t)n) && same_bits(s[1][2], s[0][2], (size_t)n))) {
                        CHECK_MSG(0, "%s: SIMD twin differs from the reference (variant %d, n %d, step %d)", row->name, var, n, t);
                        return; /* one report is enough */
                    }
                }
            }
    }
#if !defined(TT_NO_SIMD) && (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
    CHECK(pairs >= 3); /* SGD, Adam, AdamW have SSE twins (TT__VEC_SSE is undefined after the implementation) */
#endif
    printf("  %d (reference, SIMD) optimizer pairs checked\n", pairs);
}

int main(void) {
    RUN(test_relu_bits);
    RUN(test_gelu_bits);
    RUN(test_optim_bits);
    RUN(test_optim_simd_pairs);
    TEST_EXIT();
}
