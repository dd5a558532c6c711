/* ops_nn: batchnorm, layernorm, groupnorm, rmsnorm, dropout, attention, LSTM and GRU cells.
   - gradient checks (tt_gradcheck, default tolerances: atol 1e-3, rtol 1e-2 against central
     differences with step 1e-2 in float32, see tinytrain.h) over several shapes, odd sizes,
     with and without weight/bias, causal or not, T != S;
   - PyTorch goldens (tests/ref/gen_ops_nn.py -> tests/ref/ops_nn_ref.h): forward values, input
     and weight gradients, batchnorm running statistics over two steps;
   - dropout statistics and mask/grad consistency; error paths. */
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"
#include <float.h>
#include <stdlib.h>
#include "ref/ops_nn_ref.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Golden tolerance: |got - ref| <= GOLD_TOL * (1 + |ref|). The references are exact (float64
   from the same float32 inputs); tinytrain computes in float32 (statistics in double), so each
   value carries a few float32 roundings (eps 6e-8) amplified by short sums (<= 60 terms) and by
   the cancellation in the normalisation backward formulas: the worst error observed is 1.7e-7
   (attention dq), and 1e-5 still catches any formula slip (those are O(1e-2) or larger). */
#define GOLD_TOL 1e-5

static void check_arr(const char *what, const float *got, const float *ref, size_t n) {
    size_t i, worst = 0;
    double we = 0;
    for (i = 0; i < n; i++) {
        double e = fabs((double)got[i] - (double)ref[i]) / (1.0 + fabs((double)ref[i]));
        if (!(e <= we)) { we = e; worst = i; }
    }
    CHECK_MSG(we <= GOLD_TOL, "%s: worst scaled error %.3g at %u (got %.9g, expected %.9g)", what, we,
              (unsigned)worst, n ? got[worst] : 0.0f, n ? ref[worst] : 0.0f);
}

static tt_tensor *mk(tt_ctx *ctx, int ndim, const int *shape, const float *data, int grad) {
    tt_tensor *t = tt_tensor_from(ctx, ndim, shape, data);
    return grad ? tt_requires_grad(ctx, t) : t;
}

static void init_ctx(tt_ctx *ctx) {
    tt_desc d;
    memset(&d, 0, sizeof d);
    d.scratch_bytes = (size_t)16 << 20;
    d.persist_bytes = (size_t)1 << 20;
    d.max_params = 1 << 16;
    d.seed = 42;
    if (tt_ctx_init(ctx, &d) != TT_OK) printf("  tt_ctx_init failed\n");
}

/* ================================================================ gradient checks */

typedef struct gc_cfg {
    int op, has_w, has_b, arg; /* arg: norm_dims / groups / causal */
    float scale;
    tt_tensor *rm, *rv;        /* batchnorm running statistics (eval mode) */
    tt_tensor *k;              /* lstm: constant mixing tensor */
} gc_cfg;
enum { OP_BN, OP_LN, OP_GN, OP_RMS, OP_ATT, OP_LSTM_HC, OP_LSTM_H, OP_LSTM_C, OP_GRU, OP_DROP };

static tt_tensor *gc_fn(tt_ctx *ctx, tt_tensor **in, void *user) {
    gc_cfg *c = (gc_cfg *)user;
    tt_tensor *w = c->has_w ? in[1] : NULL, *b = c->has_b ? in[1 + c->has_w] : NULL, *h = NULL, *cc = NULL;
    tt_rnn_cell_weights wts;
    switch (c->op) {
    case OP_BN: return tt_batchnorm(ctx, in[0], w, b, c->rm, c->rv, NULL);
    case OP_LN: return tt_layernorm(ctx, in[0], c->arg, w, b, 1e-5f);
    case OP_GN: return tt_groupnorm(ctx, in[0], c->arg, w, b, 1e-5f);
    case OP_RMS: return tt_rmsnorm(ctx, in[0], w, FLT_EPSILON);
    case OP_ATT:
        return c->scale != 0.0f ? tt_attention_ex(ctx, in[0], in[1], in[2], c->arg, c->scale)
                                : tt_attention(ctx, in[0], in[1], in[2], c->arg);
    case OP_GRU:
        wts.w_ih = in[2]; wts.w_hh = in[3]; wts.b_ih = c->has_b ? in[4] : NULL; wts.b_hh = c->has_b ? in[5] : NULL;
        return tt_gru_cell(ctx, in[0], in[1], &wts, &h) == TT_OK ? h : NULL;
    case OP_DROP: return tt_dropout(ctx, in[0], c->scale);
    default:
        wts.w_ih = in[3]; wts.w_hh = in[4]; wts.b_ih = c->has_b ? in[5] : NULL; wts.b_hh = c->has_b ? in[6] : NULL;
        if (tt_lstm_cell(ctx, in[0], in[1], in[2], &wts, &h, &cc) != TT_OK)
            return NULL;
        if (c->op == OP_LSTM_H) return h;
        if (c->op == OP_LSTM_C) return cc;
        return tt_add(ctx, h, tt_mul(ctx, cc, c->k));
    }
}

static void run_gc(tt_ctx *ctx, const char *what, gc_cfg *cfg, int n, tt_tensor **in) {
    tt_gradcheck_report rep;
    tt_result r;
    int k;
    for (k = 0; k < n; k++) CHECK_MSG(in[k] != NULL, "%s: input %d not created: %s", what, k, tt_error_message(ctx));
    r = tt_gradcheck(ctx, gc_fn, n, in, cfg, NULL, &rep);
    CHECK_MSG(r == TT_OK, "%s: %s (input %d elem %u: analytic %.6g numeric %.6g) %s", what, tt_result_string(r),
              rep.worst_input, (unsigned)rep.worst_index, rep.worst_analytic, rep.worst_numeric, tt_error_message(ctx));
    tt_clear_error(ctx);
    tt_scratch_reset(ctx);
}

static tt_tensor *rg(tt_ctx *ctx, int ndim, const int *shape, float lo, float hi) {
    return tt_requires_grad(ctx, tt_tensor_rand(ctx, ndim, shape, lo, hi));
}

static void test_gradcheck_batchnorm(void) {
    tt_ctx ctx;
    static const int shapes[4][4] = {{3, 2, 0, 0}, {4, 3, 5, 0}, {2, 5, 3, 3}, {1, 1, 7, 0}};
    static const int nds[4] = {2, 3, 4, 3};
    int s, aff;
    init_ctx(&ctx);
    for (s = 0; s < 4; s++)
        for (aff = 0; aff < 4; aff++) {
            gc_cfg cfg;
            tt_tensor *in[3];
            int n = 0, c = shapes[s][1];
            memset(&cfg, 0, sizeof cfg);
            cfg.op = OP_BN; cfg.has_w = aff & 1; cfg.has_b = (aff >> 1) & 1;
            in[n++] = rg(&ctx, nds[s], shapes[s], -2, 2);
            if (cfg.has_w) in[n++] = rg(&ctx, 1, &c, 0.5f, 1.5f);
            if (cfg.has_b) in[n++] = rg(&ctx, 1, &c, -1, 1);
            run_gc(&ctx, "batchnorm train", &cfg, n, in);
            /* eval mode with running statistics */
            cfg.rm = tt_buffer(&ctx, "rm", 1, &c);
            cfg.rv = tt_buffer(&ctx, "rv", 1, &c);
            tt_init_uniform(&ctx, cfg.rm, -1, 1);
            tt_init_uniform(&ctx, cfg.rv, 0.5f, 2);
            in[0] = rg(&ctx, nds[s], shapes[s], -2, 2);
            if (cfg.has_w) in[1] = rg(&ctx, 1, &c, 0.5f, 1.5f);
            if (cfg.has_b) in[n - 1] = rg(&ctx, 1, &c, -1, 1);
            tt_set_training(&ctx, 0);
            run_gc(&ctx, "batchnorm eval", &cfg, n, in);
            tt_set_training(&ctx, 1);
        }
    tt_ctx_free(&ctx);
}

static void test_gradcheck_layernorm(void) {
    tt_ctx ctx;
    static const int shapes[4][3] = {{3, 5, 0}, {2, 3, 4}, {1, 17, 0}, {4, 1, 9}};
    static const int nds[4] = {2, 3, 2, 3}, ndims[4] = {1, 2, 1, 1};
    int s, aff;
    init_ctx(&ctx);
    for (s = 0; s < 4; s++)
        for (aff = 0; aff < 4; aff++) {
            gc_cfg cfg;
            tt_tensor *in[3];
            int n = 0, first = nds[s] - ndims[s];
            memset(&cfg, 0, sizeof cfg);
            cfg.op = OP_LN; cfg.has_w = aff & 1; cfg.has_b = (aff >> 1) & 1; cfg.arg = ndims[s];
            in[n++] = rg(&ctx, nds[s], shapes[s], -2, 2);
            if (cfg.has_w) in[n++] = rg(&ctx, ndims[s], shapes[s] + first, 0.5f, 1.5f);
            if (cfg.has_b) in[n++] = rg(&ctx, ndims[s], shapes[s] + first, -1, 1);
            run_gc(&ctx, "layernorm", &cfg, n, in);
        }
    tt_ctx_free(&ctx);
}

static void test_gradcheck_groupnorm(void) {
    tt_ctx ctx;
    static const int shapes[4][4] = {{2, 6, 3, 0}, {1, 4, 0, 0}, {3, 6, 2, 3}, {2, 5, 3, 0}};
    static const int nds[4] = {3, 2, 4, 3}, groups[4] = {3, 2, 2, 5};
    int s, aff;
    init_ctx(&ctx);
    for (s = 0; s < 4; s++)
        for (aff = 0; aff < 4; aff++) {
            gc_cfg cfg;
            tt_tensor *in[3];
            int n = 0, c = shapes[s][1];
            memset(&cfg, 0, sizeof cfg);
            cfg.op = OP_GN; cfg.has_w = aff & 1; cfg.has_b = (aff >> 1) & 1; cfg.arg = groups[s];
            in[n++] = rg(&ctx, nds[s], shapes[s], -2, 2);
            if (cfg.has_w) in[n++] = rg(&ctx, 1, &c, 0.5f, 1.5f);
            if (cfg.has_b) in[n++] = rg(&ctx, 1, &c, -1, 1);
            run_gc(&ctx, "groupnorm", &cfg, n, in);
        }
    tt_ctx_free(&ctx);
}

static void test_gradcheck_rmsnorm(void) {
    tt_ctx ctx;
    static const int shapes[3][3] = {{3, 5, 0}, {2, 3, 17}, {1, 1, 0}};
    static const int nds[3] = {2, 3, 2};
    int s, aff;
    init_ctx(&ctx);
    for (s = 0; s < 3; s++)
        for (aff = 0; aff < 2; aff++) {
            gc_cfg cfg;
            tt_tensor *in[2];
            int n = 0;
            memset(&cfg, 0, sizeof cfg);
            cfg.op = OP_RMS; cfg.has_w = aff;
            in[n++] = rg(&ctx, nds[s], shapes[s], -2, 2);
            if (cfg.has_w) in[n++] = rg(&ctx, 1, &shapes[s][nds[s] - 1], 0.5f, 1.5f);
            run_gc(&ctx, "rmsnorm", &cfg, n, in);
        }
    tt_ctx_free(&ctx);
}

static void test_gradcheck_attention(void) {
    tt_ctx ctx;
    /* B, H, T, S, D, Dv */
    static const int cases[5][6] = {{1, 1, 4, 4, 3, 2}, {2, 3, 3, 5, 4, 3}, {1, 2, 5, 3, 2, 5}, {2, 1, 1, 1, 1, 1},
                                    {1, 1, 9, 17, 5, 3}};
    int s, causal;
    init_ctx(&ctx);
    for (s = 0; s < 5; s++)
        for (causal = 0; causal < 2; causal++) {
            const int *c = cases[s];
            int qs[4], ks[4], vs[4];
            gc_cfg cfg;
            tt_tensor *in[3];
            memset(&cfg, 0, sizeof cfg);
            qs[0] = ks[0] = vs[0] = c[0]; qs[1] = ks[1] = vs[1] = c[1];
            qs[2] = c[2]; ks[2] = vs[2] = c[3]; qs[3] = ks[3] = c[4]; vs[3] = c[5];
            cfg.op = OP_ATT; cfg.arg = causal; cfg.scale = s == 2 ? 0.8f : 0.0f;
            in[0] = rg(&ctx, 4, qs, -1.5f, 1.5f);
            in[1] = rg(&ctx, 4, ks, -1.5f, 1.5f);
            in[2] = rg(&ctx, 4, vs, -1.5f, 1.5f);
            run_gc(&ctx, causal ? "attention causal" : "attention", &cfg, 3, in);
        }
    tt_ctx_free(&ctx);
}

static void test_gradcheck_cells(void) {
    tt_ctx ctx;
    static const int cases[3][3] = {{2, 3, 4}, {1, 1, 1}, {3, 5, 7}}; /* B, I, H */
    int s, bias, which;
    init_ctx(&ctx);
    for (s = 0; s < 3; s++)
        for (bias = 0; bias < 2; bias++) {
            int B = cases[s][0], I = cases[s][1], H = cases[s][2];
            int xs[2], hs[2], wi[2], wh[2], bs[1];
            gc_cfg cfg;
            tt_tensor *in[7];
            xs[0] = B; xs[1] = I; hs[0] = B; hs[1] = H;
            for (which = 0; which < 3; which++) {
                memset(&cfg, 0, sizeof cfg);
                cfg.op = which == 0 ? OP_LSTM_HC : which == 1 ? OP_LSTM_H : OP_LSTM_C;
                cfg.has_b = bias;
                cfg.k = tt_tensor_rand(&ctx, 2, hs, -2, 2);
                wi[0] = wh[0] = bs[0] = 4 * H; wi[1] = I; wh[1] = H;
                in[0] = rg(&ctx, 2, xs, -1, 1); in[1] = rg(&ctx, 2, hs, -1, 1); in[2] = rg(&ctx, 2, hs, -1, 1);
                in[3] = rg(&ctx, 2, wi, -0.7f, 0.7f); in[4] = rg(&ctx, 2, wh, -0.7f, 0.7f);
                in[5] = rg(&ctx, 1, bs, -0.5f, 0.5f); in[6] = rg(&ctx, 1, bs, -0.5f, 0.5f);
                run_gc(&ctx, "lstm_cell", &cfg, bias ? 7 : 5, in);
            }
            memset(&cfg, 0, sizeof cfg);
            cfg.op = OP_GRU; cfg.has_b = bias;
            wi[0] = wh[0] = bs[0] = 3 * H; wi[1] = I; wh[1] = H;
            in[0] = rg(&ctx, 2, xs, -1, 1); in[1] = rg(&ctx, 2, hs, -1, 1);
            in[2] = rg(&ctx, 2, wi, -0.7f, 0.7f); in[3] = rg(&ctx, 2, wh, -0.7f, 0.7f);
            in[4] = rg(&ctx, 1, bs, -0.5f, 0.5f); in[5] = rg(&ctx, 1, bs, -0.5f, 0.5f);
            run_gc(&ctx, "gru_cell", &cfg, bias ? 6 : 4, in);
        }
    tt_ctx_free(&ctx);
}

static void test_gradcheck_dropout_identity(void) {
    /* the mask is random, so finite differences only make sense where dropout is the identity */
    tt_ctx ctx;
    int shape[3] = {2, 3, 5};
    gc_cfg cfg;
    tt_tensor *in[1];
    init_ctx(&ctx);
    memset(&cfg, 0, sizeof cfg);
    cfg.op = OP_DROP;
    cfg.scale = 0.0f; /* p = 0 in training mode */
    in[0] = rg(&ctx, 3, shape, -1, 1);
    CHECK(tt_dropout(&ctx, in[0], 0.0f) == in[0]);
    run_gc(&ctx, "dropout p=0", &cfg, 1, in);
    cfg.scale = 0.5f; /* eval mode */
    tt_set_training(&ctx, 0);
    in[0] = rg(&ctx, 3, shape, -1, 1);
    CHECK(tt_dropout(&ctx, in[0], 0.5f) == in[0]);
    run_gc(&ctx, "dropout eval", &cfg, 1, in);
    tt_ctx_free(&ctx);
}

/* ================================================================ PyTorch goldens */

static void test_golden_batchnorm(void) {
    tt_ctx ctx;
    int s3[3] = {4, 3, 5}, c = 3, s2[2] = {6, 4}, c2 = 4;
    tt_tensor *x, *w, *b, *rm, *rv, *y;
    tt_batchnorm_opts bo;
    init_ctx(&ctx);
    rm = tt_buffer(&ctx, "rm", 1, &c);
    rv = tt_buffer(&ctx, "rv", 1, &c);
    w = tt_param(&ctx, "w", 1, &c);
    b = tt_param(&ctx, "b", 1, &c);
    tt_tensor_set(&ctx, rm, bn_rm0, 3);
    tt_tensor_set(&ctx, rv, bn_rv0, 3);
    tt_tensor_set(&ctx, w, bn_w, 3);
    tt_tensor_set(&ctx, b, bn_b, 3);
    /* step 1: training, gradients */
    x = mk(&ctx, 3, s3, bn_x1, 1);
    y = tt_batchnorm(&ctx, x, w, b, rm, rv, NULL);
    CHECK(y != NULL);
    if (!y) { tt_ctx_free(&ctx); return; }
    check_arr("bn y1", y->data, bn_y1, 60);
    check_arr("bn running_mean step 1", rm->data, bn_rm1, 3);
    check_arr("bn running_var step 1", rv->data, bn_rv1, 3);
    CHECK(tt_backward_seed(&ctx, y, bn1_gy) == TT_OK);
    check_arr("bn dx", x->grad, bn1_dx, 60);
    check_arr("bn dw", w->grad, bn1_dw, 3);
    check_arr("bn db", b->grad, bn1_db, 3);
    /* step 2 */
    tt_scratch_reset(&ctx);
    tt_zero_grad(&ctx);
    x = mk(&ctx, 3, s3, bn_x2, 1);
    y = tt_batchnorm(&ctx, x, w, b, rm, rv, NULL);
    CHECK(y != NULL);
    if (y) check_arr("bn y2", y->data, bn_y2, 60);
    check_arr("bn running_mean step 2", rm->data, bn_rm2, 3);
    check_arr("bn running_var step 2", rv->data, bn_rv2, 3);
    /* eval mode uses the running statistics and leaves them alone */
    tt_scratch_reset(&ctx);
    tt_set_training(&ctx, 0);
    x = mk(&ctx, 3, s3, bn_x2, 1);
    y = tt_batchnorm(&ctx, x, w, b, rm, rv, NULL);
    CHECK(y != NULL);
    if (y) {
        check_arr("bn eval y", y->data, bn_ye, 60);
        CHECK(tt_backward_seed(&ctx, y, bne_gy) == TT_OK);
        check_arr("bn eval dx", x->grad, bne_dx, 60);
        check_arr("bn eval dw", w->grad, bne_dw, 3);
        check_arr("bn eval db", b->grad, bne_db, 3);
    }
    check_arr("bn running_mean after eval", rm->data, bn_rm2, 3);
    tt_set_training(&ctx, 1);
    /* (N, C) input, no affine, momentum 0.3, eps 1e-3 */
    tt_scratch_reset(&ctx);
    rm = tt_buffer(&ctx, "rm2", 1, &c2);
    rv = tt_buffer(&ctx, "rv2", 1, &c2);
    tt_init_const(&ctx, rv, 1.0f);
    x = mk(&ctx, 2, s2, bn2_x, 1);
    bo = tt_batchnorm_opts_init();
    bo.momentum = 0.3f;
    bo.eps = 1e-3f;
    bo.affine = 0;
    y = tt_batchnorm(&ctx, x, NULL, NULL, rm, rv, &bo);
    CHECK(y != NULL);
    if (y) {
        check_arr("bn2 y", y->data, bn2_y, 24);
        check_arr("bn2 running_mean", rm->data, bn2_rm, 4);
        check_arr("bn2 running_var", rv->data, bn2_rv, 4);
        CHECK(tt_backward_seed(&ctx, y, bn2_gy) == TT_OK);
        check_arr("bn2 dx", x->grad, bn2_dx, 24);
    }
    CHECK(tt_error(&ctx) == TT_OK);
    tt_ctx_free(&ctx);
}

static void test_golden_norms(void) {
    tt_ctx ctx;
    int ls[3] = {3, 4, 5}, l2[2] = {5, 7}, gs[4] = {2, 6, 3, 2}, c6 = 6, rs[3] = {3, 4, 7}, c7 = 7;
    tt_tensor *x, *w, *b, *y;
    init_ctx(&ctx);
    x = mk(&ctx, 3, ls, ln_x, 1); w = mk(&ctx, 2, ls + 1, ln_w, 1); b = mk(&ctx, 2, ls + 1, ln_b, 1);
    y = tt_layernorm(&ctx, x, 2, w, b, 1e-5f);
    if (y && tt_backward_seed(&ctx, y, ln_gy) == TT_OK) {
        check_arr("ln y", y->data, ln_y, 60);
        check_arr("ln dx", x->grad, ln_dx, 60);
        check_arr("ln dw", w->grad, ln_dw, 20);
        check_arr("ln db", b->grad, ln_db, 20);
    } else CHECK_MSG(0, "layernorm failed: %s", tt_error_message(&ctx));
    x = mk(&ctx, 2, l2, ln2_x, 1);
    y = tt_layernorm(&ctx, x, 1, NULL, NULL, 1e-5f);
    if (y && tt_backward_seed(&ctx, y, ln2_gy) == TT_OK) {
        check_arr("ln2 y", y->data, ln2_y, 35);
        check_arr("ln2 dx", x->grad, ln2_dx, 35);
    } else CHECK_MSG(0, "layernorm failed: %s", tt_error_message(&ctx));
    x = mk(&ctx, 4, gs, gn_x, 1); w = mk(&ctx, 1, &c6, gn_w, 1); b = mk(&ctx, 1, &c6, gn_b, 1);
    y = tt_groupnorm(&ctx, x, 3, w, b, 1e-5f);
    if (y && tt_backward_seed(&ctx, y, gn_gy) == TT_OK) {
        check_arr("gn y", y->data, gn_y, 72);
        check_arr("gn dx", x->grad, gn_dx, 72);
        check_arr("gn dw", w->grad, gn_dw, 6);
        check_arr("gn db", b->grad, gn_db, 6);
    } else CHECK_MSG(0, "groupnorm failed: %s", tt_error_message(&ctx));
    x = mk(&ctx, 3, rs, rms_x, 1); w = mk(&ctx, 1, &c7, rms_w, 1);
    y = tt_rmsnorm(&ctx, x, w, FLT_EPSILON); /* torch's eps=None */
    if (y && tt_backward_seed(&ctx, y, rms_gy) == TT_OK) {
        check_arr("rms y", y->data, rms_y, 84);
        check_arr("rms dx", x->grad, rms_dx, 84);
        check_arr("rms dw", w->grad, rms_dw, 7);
    } else CHECK_MSG(0, "rmsnorm failed: %s", tt_error_message(&ctx));
    tt_ctx_free(&ctx);
}

static void test_golden_attention(void) {
    tt_ctx ctx;
    /* as in gen_ops_nn.py: (causal, T, S, D, Dv, scale), B = H = 2 */
    static const int cfg[3][5] = {{1, 3, 5, 4, 3}, {1, 5, 3, 4, 2}, {0, 4, 4, 6, 5}};
    static const float scales[3] = {0.0f, 0.7f, 0.0f};
    const float *ref[3][8] = {{at0_q, at0_k, at0_v, at0_y, at0_gy, at0_dq, at0_dk, at0_dv},
                              {at1_q, at1_k, at1_v, at1_y, at1_gy, at1_dq, at1_dk, at1_dv},
                              {at2_q, at2_k, at2_v, at2_y, at2_gy, at2_dq, at2_dk, at2_dv}};
    int i;
    init_ctx(&ctx);
    for (i = 0; i < 3; i++) {
        int qs[4] = {2, 2, 0, 0}, ks[4] = {2, 2, 0, 0}, vs[4] = {2, 2, 0, 0};
        tt_tensor *q, *k, *v, *y;
        qs[2] = cfg[i][1]; qs[3] = cfg[i][3]; ks[2] = cfg[i][2]; ks[3] = cfg[i][3]; vs[2] = cfg[i][2]; vs[3] = cfg[i][4];
        q = mk(&ctx, 4, qs, ref[i][0], 1); k = mk(&ctx, 4, ks, ref[i][1], 1); v = mk(&ctx, 4, vs, ref[i][2], 1);
        y = scales[i] != 0.0f ? tt_attention_ex(&ctx, q, k, v, cfg[i][0], scales[i]) /* 0: torch's scale=None */
                              : tt_attention(&ctx, q, k, v, cfg[i][0]);
        if (y && tt_backward_seed(&ctx, y, ref[i][4]) == TT_OK) {
            check_arr("attention y", y->data, ref[i][3], y->numel);
            check_arr("attention dq", q->grad, ref[i][5], q->numel);
            check_arr("attention dk", k->grad, ref[i][6], k->numel);
            check_arr("attention dv", v->grad, ref[i][7], v->numel);
        } else CHECK_MSG(0, "attention %d failed: %s", i, tt_error_message(&ctx));
    }
    tt_ctx_free(&ctx);
}

static void test_golden_cells(void) {
    tt_ctx ctx;
    int xs[2] = {3, 5}, hs[2] = {3, 4}, w4i[2] = {16, 5}, w4h[2] = {16, 4}, b4 = 16, w3i[2] = {12, 5}, w3h[2] = {12, 4}, b3 = 12;
    tt_tensor *x, *h, *c, *wih, *whh, *bih, *bhh, *h1 = NULL, *c1 = NULL, *loss;
    tt_rnn_cell_weights wts;
    init_ctx(&ctx);
    x = mk(&ctx, 2, xs, lstm_x, 1); h = mk(&ctx, 2, hs, lstm_h, 1); c = mk(&ctx, 2, hs, lstm_c, 1);
    wih = mk(&ctx, 2, w4i, lstm_wih, 1); whh = mk(&ctx, 2, w4h, lstm_whh, 1);
    bih = mk(&ctx, 1, &b4, lstm_bih, 1); bhh = mk(&ctx, 1, &b4, lstm_bhh, 1);
    wts.w_ih = wih; wts.w_hh = whh; wts.b_ih = bih; wts.b_hh = bhh;
    CHECK(tt_lstm_cell(&ctx, x, h, c, &wts, &h1, &c1) == TT_OK);
    loss = tt_add(&ctx, tt_sum(&ctx, tt_mul(&ctx, h1, mk(&ctx, 2, hs, lstm_gh, 0))),
                  tt_sum(&ctx, tt_mul(&ctx, c1, mk(&ctx, 2, hs, lstm_gc, 0))));
    if (loss && tt_backward(&ctx, loss) == TT_OK) {
        check_arr("lstm h1", h1->data, lstm_h1, 12);
        check_arr("lstm c1", c1->data, lstm_c1, 12);
        check_arr("lstm dx", x->grad, lstm_dx, 15);
        check_arr("lstm dh", h->grad, lstm_dh, 12);
        check_arr("lstm dc", c->grad, lstm_dc, 12);
        check_arr("lstm dw_ih", wih->grad, lstm_dwih, 80);
        check_arr("lstm dw_hh", whh->grad, lstm_dwhh, 64);
        check_arr("lstm db_ih", bih->grad, lstm_dbih, 16);
        check_arr("lstm db_hh", bhh->grad, lstm_dbhh, 16);
    } else CHECK_MSG(0, "lstm failed: %s", tt_error_message(&ctx));
    x = mk(&ctx, 2, xs, gru_x, 1); h = mk(&ctx, 2, hs, gru_h, 1);
    wih = mk(&ctx, 2, w3i, gru_wih, 1); whh = mk(&ctx, 2, w3h, gru_whh, 1);
    bih = mk(&ctx, 1, &b3, gru_bih, 1); bhh = mk(&ctx, 1, &b3, gru_bhh, 1);
    wts.w_ih = wih; wts.w_hh = whh; wts.b_ih = bih; wts.b_hh = bhh;
    CHECK(tt_gru_cell(&ctx, x, h, &wts, &h1) == TT_OK);
    if (h1 && tt_backward_seed(&ctx, h1, gru_gy) == TT_OK) {
        check_arr("gru h1", h1->data, gru_h1, 12);
        check_arr("gru dx", x->grad, gru_dx, 15);
        check_arr("gru dh", h->grad, gru_dh, 12);
        check_arr("gru dw_ih", wih->grad, gru_dwih, 60);
        check_arr("gru dw_hh", whh->grad, gru_dwhh, 48);
        check_arr("gru db_ih", bih->grad, gru_dbih, 12);
        check_arr("gru db_hh", bhh->grad, gru_dbhh, 12);
    } else CHECK_MSG(0, "gru failed: %s", tt_error_message(&ctx));
    tt_ctx_free(&ctx);
}

/* ================================================================ dropout */

static void test_dropout_training(void) {
    tt_ctx ctx;
    int n = 100000, i, zeros = 0, bad = 0, badg = 0;
    float p = 0.3f, scale = 1.0f / (1.0f - p);
    double sum = 0, frac;
    tt_tensor *x, *y;
    float *g;
    init_ctx(&ctx);
    x = tt_requires_grad(&ctx, tt_tensor_rand(&ctx, 1, &n, 0.5f, 1.5f));
    y = tt_dropout(&ctx, x, p);
    CHECK(y != NULL && y != x);
    if (!y) { tt_ctx_free(&ctx); return; }
    g = (float *)malloc(sizeof(float) * (size_t)n);
    for (i = 0; i < n; i++) g[i] = (float)((i % 7) - 3);
    CHECK(tt_backward_seed(&ctx, y, g) == TT_OK);
    for (i = 0; i < n; i++) {
        if (y->data[i] == 0.0f) {
            zeros++;
            if (x->grad[i] != 0.0f) badg++;        /* dropped: no gradient */
        } else {
            if (y->data[i] != x->data[i] * scale) bad++;  /* kept: exactly x / (1 - p) */
            if (x->grad[i] != g[i] * scale) badg++;
        }
        sum += y->data[i];
    }
    frac = (double)zeros / n;
    /* binomial: sd of the dropped fraction = sqrt(p(1-p)/n) = 0.00145; allow 5 sd */
    CHECK_MSG(fabs(frac - p) < 0.0075, "dropped fraction %.4f, expected %.2f", frac, p);
    /* E[y] = E[x] = 1; sd of the mean <= 1.5 * sqrt(p/(1-p)/n) = 0.0031; allow 5 sd */
    CHECK_MSG(fabs(sum / n - 1.0) < 0.016, "mean %.4f, expected about 1", sum / n);
    CHECK(bad == 0);
    CHECK(badg == 0);
    free(g);
    /* the same seed gives the same mask; the stream moves on between calls */
    {
        tt_ctx c2;
        tt_tensor *x2, *y2, *y3;
        init_ctx(&c2);
        x2 = tt_tensor_rand(&c2, 1, &n, 0.5f, 1.5f);
        y2 = tt_dropout(&c2, x2, p);
        CHECK(y2 && memcmp(y2->data, y->data, sizeof(float) * (size_t)n) == 0);
        y3 = tt_dropout(&c2, x2, p);
        CHECK(y3 && memcmp(y3->data, y->data, sizeof(float) * (size_t)n) != 0);
        tt_ctx_free(&c2);
    }
    /* p == 1: all zeros, zero gradient */
    tt_scratch_reset(&ctx);
    {
        int s[2] = {3, 4};
        float ones[12];
        for (i = 0; i < 12; i++) ones[i] = 1.0f;
        x = tt_requires_grad(&ctx, tt_tensor_rand(&ctx, 2, s, -1, 1));
        y = tt_dropout(&ctx, x, 1.0f);
        CHECK(y != NULL);
        if (y) {
            CHECK(tt_backward_seed(&ctx, y, ones) == TT_OK);
            for (i = 0; i < 12; i++) CHECK(y->data[i] == 0.0f && x->grad[i] == 0.0f);
        }
        /* no-grad mode still drops */
        tt_set_grad_enabled(&ctx, 0);
        y = tt_dropout(&ctx, x, 0.5f);
        CHECK(y != NULL && y != x && y->node == NULL);
        tt_set_grad_enabled(&ctx, 1);
    }
    CHECK(tt_error(&ctx) == TT_OK);
    tt_ctx_free(&ctx);
}

/* ================================================================ other behaviour */

static void test_batchnorm_momentum_and_noaffine_stats(void) {
    /* running stats with momentum 1 become exactly the batch mean and unbiased variance */
    tt_ctx ctx;
    int s[2] = {4, 1}, c = 1;
    float xd[4] = {1, 2, 3, 6};
    tt_tensor *rm, *rv, *y;
    tt_batchnorm_opts bo = tt_batchnorm_opts_init();
    init_ctx(&ctx);
    rm = tt_buffer(&ctx, "rm", 1, &c);
    rv = tt_buffer(&ctx, "rv", 1, &c);
    bo.momentum = 1.0f;
    y = tt_batchnorm(&ctx, tt_tensor_from(&ctx, 2, s, xd), NULL, NULL, rm, rv, &bo);
    CHECK(y != NULL);
    CHECK_CLOSE(rm->data[0], 3.0, 1e-6, 0);
    CHECK_CLOSE(rv->data[0], 14.0 / 3.0, 1e-6, 1e-6); /* (4+1+0+9)/3 */
    /* output uses the biased variance 3.5 */
    if (y) CHECK_CLOSE(y->data[3], 3.0 / sqrt(3.5 + 1e-5), 1e-6, 1e-6);
    tt_ctx_free(&ctx);
}

static void test_attention_causal_rows(void) {
    /* row 0 of a causal attention (T=3, S=4, top-left aligned) sees only key 0: output = v[0] */
    tt_ctx ctx;
    int qs[4] = {1, 1, 3, 2}, ks[4] = {1, 1, 4, 2}, vs[4] = {1, 1, 4, 3};
    tt_tensor *y, *v;
    init_ctx(&ctx);
    v = tt_tensor_randn(&ctx, 4, vs, 0, 1);
    y = tt_attention(&ctx, tt_tensor_randn(&ctx, 4, qs, 0, 1), tt_tensor_randn(&ctx, 4, ks, 0, 1), v, 1);
    CHECK(y != NULL);
    if (y) {
        CHECK_CLOSE(y->data[0], v->data[0], 1e-6, 1e-6);
        CHECK_CLOSE(y->data[2], v->data[2], 1e-6, 1e-6);
    }
    tt_ctx_free(&ctx);
}

/* ================================================================ errors */

#define EXPECT_ERR(call, code, site)                                                            \
    do {                                                                                        \
        tt_clear_error(&ctx);                                                                   \
        CHECK((call) == NULL);                                                                  \
        CHECK_MSG(tt_error(&ctx) == (code), "%s: got %s", #call, tt_result_string(tt_error(&ctx))); \
        CHECK_MSG(strcmp(tt_error_site(&ctx), site) == 0, "%s: site '%s' (%s)", #call, tt_error_site(&ctx), \
                  tt_error_message(&ctx));                                                      \
    } while (0)

static void test_errors(void) {
    tt_ctx ctx;
    int s1[1] = {5}, s3[3] = {4, 3, 5}, c3 = 3, c2 = 2, one[2] = {1, 3};
    int q4[4] = {1, 2, 3, 4}, k4[4] = {1, 2, 5, 4}, kbad[4] = {1, 2, 5, 3}, vbad[4] = {1, 2, 4, 3};
    tt_tensor *x, *w3, *w2, *rm, *rv, *ho, *co;
    tt_batchnorm_opts bo = tt_batchnorm_opts_init();
    tt_rnn_cell_weights wts;
    float rm_before;
    init_ctx(&ctx);
    x = tt_tensor_randn(&ctx, 3, s3, 0, 1);
    w3 = tt_tensor_full(&ctx, 1, &c3, 1.0f);
    w2 = tt_tensor_full(&ctx, 1, &c2, 1.0f);
    rm = tt_buffer(&ctx, "rm", 1, &c3);
    rv = tt_buffer(&ctx, "rv", 1, &c3);
    rm->data[0] = 0.25f;
    rm_before = rm->data[0];
    /* batchnorm */
    EXPECT_ERR(tt_batchnorm(&ctx, tt_tensor_new(&ctx, 1, s1), NULL, NULL, NULL, NULL, NULL), TT_ERR_SHAPE, "batchnorm");
    EXPECT_ERR(tt_batchnorm(&ctx, x, w2, NULL, rm, rv, NULL), TT_ERR_SHAPE, "batchnorm");
    EXPECT_ERR(tt_batchnorm(&ctx, x, NULL, w2, rm, rv, NULL), TT_ERR_SHAPE, "batchnorm");
    EXPECT_ERR(tt_batchnorm(&ctx, x, NULL, NULL, rm, NULL, NULL), TT_ERR_INVALID_ARGS, "batchnorm");
    bo.momentum = 1.5f;
    EXPECT_ERR(tt_batchnorm(&ctx, x, NULL, NULL, rm, rv, &bo), TT_ERR_INVALID_ARGS, "batchnorm");
    bo.momentum = -0.0f; /* a literal zero (negative or not) is valid: frozen statistics */
    tt_clear_error(&ctx);
    CHECK(tt_batchnorm(&ctx, x, NULL, NULL, rm, rv, &bo) != NULL && rm->data[0] == rm_before);
    bo = tt_batchnorm_opts_init();
    bo.eps = -1.0f;
    EXPECT_ERR(tt_batchnorm(&ctx, x, NULL, NULL, rm, rv, &bo), TT_ERR_INVALID_ARGS, "batchnorm");
    bo.eps = NAN;
    EXPECT_ERR(tt_batchnorm(&ctx, x, NULL, NULL, rm, rv, &bo), TT_ERR_INVALID_ARGS, "batchnorm");
    bo = tt_batchnorm_opts_init();
    bo.affine = 0;
    EXPECT_ERR(tt_batchnorm(&ctx, x, w3, NULL, rm, rv, &bo), TT_ERR_INVALID_ARGS, "batchnorm");
    bo = tt_batchnorm_opts_init();
    bo.track_running_stats = 0;
    EXPECT_ERR(tt_batchnorm(&ctx, x, NULL, NULL, rm, rv, &bo), TT_ERR_INVALID_ARGS, "batchnorm");
    EXPECT_ERR(tt_batchnorm(&ctx, tt_tensor_new(&ctx, 2, one), NULL, NULL, NULL, NULL, NULL), TT_ERR_SHAPE,
               "batchnorm");
    CHECK(rm->data[0] == rm_before); /* errors leave the running stats alone */
    tt_set_training(&ctx, 0);
    EXPECT_ERR(tt_batchnorm(&ctx, x, NULL, NULL, NULL, NULL, NULL), TT_ERR_INVALID_ARGS, "batchnorm");
    tt_set_training(&ctx, 1);
    /* layernorm / groupnorm / rmsnorm */
    EXPECT_ERR(tt_layernorm(&ctx, x, 0, NULL, NULL, 1e-5f), TT_ERR_SHAPE, "layernorm");
    EXPECT_ERR(tt_layernorm(&ctx, x, 4, NULL, NULL, 1e-5f), TT_ERR_SHAPE, "layernorm");
    EXPECT_ERR(tt_layernorm(&ctx, x, 1, w3, NULL, 1e-5f), TT_ERR_SHAPE, "layernorm");
    EXPECT_ERR(tt_layernorm(&ctx, x, 1, NULL, NULL, -1e-5f), TT_ERR_INVALID_ARGS, "layernorm");
    EXPECT_ERR(tt_groupnorm(&ctx, x, 2, NULL, NULL, 1e-5f), TT_ERR_INVALID_ARGS, "groupnorm");
    EXPECT_ERR(tt_groupnorm(&ctx, x, 0, NULL, NULL, 1e-5f), TT_ERR_INVALID_ARGS, "groupnorm");
    EXPECT_ERR(tt_groupnorm(&ctx, x, 3, w2, NULL, 1e-5f), TT_ERR_SHAPE, "groupnorm");
    EXPECT_ERR(tt_rmsnorm(&ctx, x, w3, FLT_EPSILON), TT_ERR_SHAPE, "rmsnorm");
    EXPECT_ERR(tt_rmsnorm(&ctx, x, NULL, INFINITY), TT_ERR_INVALID_ARGS, "rmsnorm");
    /* dropout */
    EXPECT_ERR(tt_dropout(&ctx, x, -0.1f), TT_ERR_INVALID_ARGS, "dropout");
    EXPECT_ERR(tt_dropout(&ctx, x, 1.5f), TT_ERR_INVALID_ARGS, "dropout");
    EXPECT_ERR(tt_dropout(&ctx, x, NAN), TT_ERR_INVALID_ARGS, "dropout");
    /* attention */
    EXPECT_ERR(tt_attention(&ctx, tt_tensor_new(&ctx, 4, q4), tt_tensor_new(&ctx, 4, kbad), tt_tensor_new(&ctx, 4, k4), 0),
               TT_ERR_SHAPE, "attention");
    EXPECT_ERR(tt_attention(&ctx, tt_tensor_new(&ctx, 4, q4), tt_tensor_new(&ctx, 4, k4), tt_tensor_new(&ctx, 4, vbad), 1),
               TT_ERR_SHAPE, "attention");
    EXPECT_ERR(tt_attention_ex(&ctx, tt_tensor_new(&ctx, 4, q4), tt_tensor_new(&ctx, 4, k4), tt_tensor_new(&ctx, 4, k4), 0,
                               INFINITY), TT_ERR_INVALID_ARGS, "attention");
    EXPECT_ERR(tt_attention(&ctx, tt_tensor_new(&ctx, 4, q4), NULL, tt_tensor_new(&ctx, 4, k4), 0), TT_ERR_INVALID_ARGS,
               "attention");
    /* cells: both return a tt_result and their outputs through pointers */
    {
        int xs[2] = {2, 3}, hs[2] = {2, 4}, wi[2] = {16, 3}, wh[2] = {16, 4}, wbad[2] = {12, 4}, b16 = 16, b12 = 12;
        tt_tensor *xx = tt_tensor_new(&ctx, 2, xs), *hh = tt_tensor_new(&ctx, 2, hs);
        tt_tensor *wih = tt_tensor_new(&ctx, 2, wi), *whh = tt_tensor_new(&ctx, 2, wh), *whb = tt_tensor_new(&ctx, 2, wbad);
        tt_tensor *b1 = tt_tensor_new(&ctx, 1, &b16), *bb = tt_tensor_new(&ctx, 1, &b12);
        tt_clear_error(&ctx);
        ho = co = x;
        wts.w_ih = wih; wts.w_hh = whb; wts.b_ih = b1; wts.b_hh = b1;
        CHECK(tt_lstm_cell(&ctx, xx, hh, hh, &wts, &ho, &co) == TT_ERR_SHAPE);
        CHECK(ho == NULL && co == NULL);
        CHECK(strcmp(tt_error_site(&ctx), "lstm_cell") == 0);
        tt_clear_error(&ctx);
        wts.w_hh = whh; wts.b_ih = bb;
        CHECK(tt_lstm_cell(&ctx, xx, hh, hh, &wts, &ho, &co) == TT_ERR_SHAPE);
        tt_clear_error(&ctx);
        wts.b_ih = b1;
        CHECK(tt_lstm_cell(&ctx, xx, hh, xx, &wts, &ho, &co) == TT_ERR_SHAPE);
        tt_clear_error(&ctx);
        CHECK(tt_lstm_cell(&ctx, xx, hh, hh, &wts, NULL, &co) == TT_ERR_INVALID_ARGS);
        tt_clear_error(&ctx);
        CHECK(tt_lstm_cell(&ctx, xx, hh, hh, NULL, &ho, &co) == TT_ERR_INVALID_ARGS);
        tt_clear_error(&ctx);
        wts.b_ih = wts.b_hh = NULL;
        CHECK(tt_lstm_cell(&ctx, xx, hh, hh, &wts, &ho, &co) == TT_OK && ho && co);
        ho = x;
        wts.w_ih = tt_tensor_new(&ctx, 2, wbad); wts.w_hh = whb; wts.b_ih = b1;
        CHECK(tt_gru_cell(&ctx, xx, hh, &wts, &ho) == TT_ERR_SHAPE && ho == NULL);
        CHECK(strcmp(tt_error_site(&ctx), "gru_cell") == 0);
        tt_clear_error(&ctx);
        wts.w_ih = wih; wts.w_hh = whh; wts.b_ih = NULL;
        CHECK(tt_gru_cell(&ctx, xx, xx, &wts, &ho) == TT_ERR_SHAPE && strcmp(tt_error_site(&ctx), "gru_cell") == 0);
        tt_clear_error(&ctx);
        CHECK(tt_gru_cell(&ctx, xx, hh, &wts, NULL) == TT_ERR_INVALID_ARGS);
    }
    /* a NULL input after an error is silent and keeps the first error and its site */
    tt_clear_error(&ctx);
    CHECK(tt_layernorm(&ctx, x, 0, NULL, NULL, 1e-5f) == NULL);
    CHECK(tt_rmsnorm(&ctx, NULL, NULL, FLT_EPSILON) == NULL);
    memset(&wts, 0, sizeof wts);
    CHECK(tt_gru_cell(&ctx, NULL, NULL, &wts, &ho) == TT_ERR_SHAPE && ho == NULL);
    CHECK(tt_lstm_cell(&ctx, NULL, NULL, NULL, &wts, &ho, &co) == TT_ERR_SHAPE);
    CHECK(strcmp(tt_error_site(&ctx), "layernorm") == 0);
    tt_ctx_free(&ctx);
}

/* BatchNorm options: _init() is torch's nn.BatchNorm (eps 1e-5, momentum 0.1, affine,
   track_running_stats); momentum 0 freezes the running statistics (it used to mean 0.1);
   track_running_stats 0 uses batch statistics in eval mode too. Expected values are computed
   here from the definition in double. */
static void test_batchnorm_opts(void) {
    tt_ctx ctx;
    int s[2] = {4, 1}, c = 1;
    float xd[4] = {1, 2, 3, 6};
    tt_batchnorm_opts bo = tt_batchnorm_opts_init();
    tt_tensor *rm, *rv, *y;
    CHECK(bo.eps == 1e-5f && bo.momentum == 0.1f && bo.affine == 1 && bo.track_running_stats == 1);
    init_ctx(&ctx);
    rm = tt_buffer(&ctx, "rm", 1, &c);
    rv = tt_buffer(&ctx, "rv", 1, &c);
    rm->data[0] = 0.5f;
    rv->data[0] = 2.0f;
    bo.momentum = 0.0f;
    y = tt_batchnorm(&ctx, tt_tensor_from(&ctx, 2, s, xd), NULL, NULL, rm, rv, &bo);
    CHECK(y != NULL && rm->data[0] == 0.5f && rv->data[0] == 2.0f);
    if (y) CHECK_CLOSE(y->data[3], 3.0 / sqrt(3.5 + 1e-5), 1e-6, 1e-6); /* still the batch statistics */
    y = tt_batchnorm(&ctx, tt_tensor_from(&ctx, 2, s, xd), NULL, NULL, rm, rv, NULL); /* default momentum 0.1 */
    CHECK(y != NULL);
    CHECK_CLOSE(rm->data[0], 0.9 * 0.5 + 0.1 * 3.0, 1e-6, 1e-6);
    CHECK_CLOSE(rv->data[0], 0.9 * 2.0 + 0.1 * 14.0 / 3.0, 1e-6, 1e-6);
    tt_set_training(&ctx, 0);
    bo = tt_batchnorm_opts_init();
    bo.track_running_stats = 0;
    y = tt_batchnorm(&ctx, tt_tensor_from(&ctx, 2, s, xd), NULL, NULL, NULL, NULL, &bo);
    CHECK(y != NULL);
    if (y) CHECK_CLOSE(y->data[0], -2.0 / sqrt(3.5 + 1e-5), 1e-6, 1e-6);
    bo.eps = 0.0f; /* literal: no default substituted */
    y = tt_batchnorm(&ctx, tt_tensor_from(&ctx, 2, s, xd), NULL, NULL, NULL, NULL, &bo);
    if (y) CHECK_CLOSE(y->data[0], -2.0 / sqrt(3.5), 1e-6, 1e-6);
    tt_set_training(&ctx, 1);
    CHECK(tt_error(&ctx) == TT_OK);
    tt_ctx_free(&ctx);
}

int main(void) {
    RUN(test_gradcheck_batchnorm);
    RUN(test_gradcheck_layernorm);
    RUN(test_gradcheck_groupnorm);
    RUN(test_gradcheck_rmsnorm);
    RUN(test_gradcheck_attention);
    RUN(test_gradcheck_cells);
    RUN(test_gradcheck_dropout_identity);
    RUN(test_golden_batchnorm);
    RUN(test_golden_norms);
    RUN(test_golden_attention);
    RUN(test_golden_cells);
    RUN(test_dropout_training);
    RUN(test_batchnorm_momentum_and_noaffine_stats);
    RUN(test_attention_causal_rows);
    RUN(test_errors);
    RUN(test_batchnorm_opts);
    TEST_EXIT();
}
