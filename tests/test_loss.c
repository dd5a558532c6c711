/* Losses: PyTorch goldens (tests/ref/loss_ref.h from tests/ref/gen_loss.py), finite-difference
   gradient checks, and error paths. */
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"
#include <stdlib.h>
#include "ref/loss_ref.h"

/* ---------------------------------------------------------------- goldens */

/* Tolerance: |got - ref| <= 1e-5 |ref| + 1e-6 per element (NaN must match NaN, inf inf).
   The relative 1e-5 is ~80 float32 ulp: we sum in double and evaluate the same formulas, torch
   sums in float32. The absolute floor 1e-6 (~8 ulp of 1) covers results that cancel to near 0
   from O(1) terms in float32 (softmax - onehot, exp(lp) - posterior in CTC, sigmoid - y),
   where torch's own rounding error is a few ulp of the terms, not of the result. A wrong
   convention (tie, clamp, divisor) changes elements by far more than either bound. */
static int close_arr(const char *what, const char *name, const float *got, const float *ref, size_t n) {
    double worst = 0;
    size_t i, wi = 0;
    int bad = 0;
    for (i = 0; i < n; i++) {
        double a = got[i], b = ref[i], tol = 1e-5 * fabs(b) + 1e-6, ex;
        if (isnan(b) || isinf(b)) {
            if (!(isnan(b) ? isnan(a) : a == b)) { bad = 1; wi = i; worst = INFINITY; }
            continue;
        }
        ex = fabs(a - b) - tol;
        if (!(ex <= 0)) { bad = 1; if (!(ex <= worst)) { worst = ex; wi = i; } }
    }
    if (bad)
        printf("  %s %s: element %zu got %.9g expected %.9g (of %zu)\n", name, what, wi, (double)got[wi],
               (double)ref[wi], n);
    return !bad;
}

static tt_tensor *call_loss(tt_ctx *ctx, const loss_ref_case *c, tt_tensor **T) {
    tt_reduction red = (tt_reduction)c->red;
    const float *w1 = T[1] ? T[1]->data : NULL, *w2 = T[2] ? T[2]->data : NULL;
    tt_cross_entropy_opts ce = tt_cross_entropy_opts_init();
    tt_ctc_opts ctc = tt_ctc_opts_init();
    tt_poisson_nll_opts po = tt_poisson_nll_opts_init();
    tt_gaussian_nll_opts go = tt_gaussian_nll_opts_init();
    tt_multi_margin_opts mo = tt_multi_margin_opts_init();
    tt_triplet_margin_opts to = tt_triplet_margin_opts_init();
    size_t n0 = (size_t)c->ni[0];
    ce.reduction = red;
    ce.ignore_index = c->iopt[1]; /* the literal value torch used (-100 where it was the default) */
    ce.label_smoothing = c->fopt[0];
    po.log_input = c->iopt[0]; po.full = c->iopt[1]; po.eps = c->fopt[0]; po.reduction = red;
    go.full = c->iopt[0]; go.eps = c->fopt[0]; go.reduction = red;
    mo.p = c->iopt[0]; mo.margin = c->fopt[0]; mo.weight = w1; mo.reduction = red;
    to.margin = c->fopt[0]; to.p = c->fopt[1]; to.eps = c->fopt[2]; to.swap = c->iopt[0]; to.reduction = red;
    switch (c->kind) {
    case LK_L1: return tt_l1_loss(ctx, T[0], T[1], red);
    case LK_MSE: return tt_mse_loss(ctx, T[0], T[1], red);
    case LK_HUBER: return tt_huber_loss(ctx, T[0], T[1], c->fopt[0], red);
    case LK_SMOOTH_L1: return tt_smooth_l1_loss(ctx, T[0], T[1], c->fopt[0], red);
    case LK_BCE: return tt_bce_loss(ctx, T[0], T[1], T[2], red);
    case LK_BCE_LOGITS: return tt_bce_with_logits_loss(ctx, T[0], T[1], T[2], T[3], red);
    case LK_KL: return tt_kl_div_loss(ctx, T[0], T[1], c->iopt[0], red);
    case LK_POISSON: return tt_poisson_nll_loss(ctx, T[0], T[1], &po);
    case LK_GAUSS: return tt_gaussian_nll_loss(ctx, T[0], T[1], T[2], &go);
    case LK_HINGE: return tt_hinge_embedding_loss(ctx, T[0], n0, c->iv[0], c->fopt[0], red);
    case LK_MARGIN_RANK: return tt_margin_ranking_loss(ctx, T[0], T[1], n0, c->iv[0], c->fopt[0], red);
    case LK_SOFT_MARGIN: return tt_soft_margin_loss(ctx, T[0], T[1], red);
    case LK_ML_SOFT_MARGIN: return tt_multilabel_soft_margin_loss(ctx, T[0], T[1], w2, red);
    case LK_MULTI_MARGIN: return tt_multi_margin_loss(ctx, T[0], n0, c->iv[0], &mo);
    case LK_ML_MARGIN: return tt_multilabel_margin_loss(ctx, T[0], n0, c->iv[0], red);
    case LK_COSINE: return tt_cosine_embedding_loss(ctx, T[0], T[1], n0, c->iv[0], c->fopt[0], red);
    case LK_TRIPLET: return tt_triplet_margin_loss(ctx, T[0], T[1], T[2], &to);
    case LK_CE: ce.weight = w1; return tt_cross_entropy(ctx, T[0], n0, c->iv[0], &ce);
    case LK_NLL: ce.weight = w1; return tt_nll_loss(ctx, T[0], n0, c->iv[0], &ce);
    case LK_CE_PROBS: ce.weight = w2; return tt_cross_entropy_probs(ctx, T[0], T[1], &ce);
    case LK_CTC:
        ctc.reduction = red;
        ctc.blank = c->iopt[0];
        ctc.zero_infinity = c->iopt[1];
        ctc.targets_padded = c->iopt[2];
        return tt_ctc_loss(ctx, T[0], n0, c->iv[0], (size_t)c->ni[1], c->iv[1], c->iv[2], &ctc);
    }
    return NULL;
}

static int run_case(tt_ctx *ctx, const loss_ref_case *c) {
    tt_tensor *T[4], *out;
    int k, ok = 1, any_grad = 0;
    tt_scratch_reset(ctx);
    for (k = 0; k < 4; k++) {
        T[k] = NULL;
        if (c->tnd[k] < 0) continue;
        T[k] = tt_tensor_from(ctx, c->tnd[k], c->tshape[k], c->t[k]);
        if (c->tgrad[k]) { tt_requires_grad(ctx, T[k]); any_grad = 1; }
    }
    out = call_loss(ctx, c, T);
    if (!out) {
        printf("  %s: %s\n", c->name, tt_error_message(ctx));
        tt_clear_error(ctx);
        return 0;
    }
    if (out->ndim != c->ond) { printf("  %s: ndim %d expected %d\n", c->name, out->ndim, c->ond); return 0; }
    for (k = 0; k < c->ond; k++)
        if (out->shape[k] != c->oshape[k]) { printf("  %s: shape mismatch in dim %d\n", c->name, k); return 0; }
    ok &= close_arr("value", c->name, out->data, c->out, out->numel);
    if (!any_grad) return ok;
    if (tt_backward_seed(ctx, out, c->seed) != TT_OK) {
        printf("  %s: backward: %s\n", c->name, tt_error_message(ctx));
        tt_clear_error(ctx);
        return 0;
    }
    for (k = 0; k < 4; k++) {
        char what[16] = "grad of input0";
        what[13] = (char)('0' + k);
        if (c->tgrad[k]) ok &= close_arr(what, c->name, T[k]->grad, c->tgrad[k], T[k]->numel);
    }
    return ok;
}

/* one PASS/FAIL line per loss kind */
static void run_kind(int kind) {
    tt_desc d = {0};
    tt_ctx ctx;
    int i, n = 0;
    d.scratch_bytes = 1 << 20;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    for (i = 0; i < LOSS_REF_N_CASES; i++) {
        if (loss_ref_cases[i].kind != kind) continue;
        n++;
        CHECK_MSG(run_case(&ctx, &loss_ref_cases[i]), "case %s", loss_ref_cases[i].name);
    }
    CHECK(n > 0);
    tt_ctx_free(&ctx);
}

#define KIND_TEST(K) static void test_torch_##K(void) { run_kind(LK_##K); }
KIND_TEST(L1) KIND_TEST(MSE) KIND_TEST(HUBER) KIND_TEST(SMOOTH_L1) KIND_TEST(BCE) KIND_TEST(BCE_LOGITS)
KIND_TEST(KL) KIND_TEST(POISSON) KIND_TEST(GAUSS) KIND_TEST(HINGE) KIND_TEST(MARGIN_RANK) KIND_TEST(SOFT_MARGIN)
KIND_TEST(ML_SOFT_MARGIN) KIND_TEST(MULTI_MARGIN) KIND_TEST(ML_MARGIN) KIND_TEST(COSINE) KIND_TEST(TRIPLET)
KIND_TEST(CE) KIND_TEST(CE_PROBS) KIND_TEST(NLL) KIND_TEST(CTC)

/* ---------------------------------------------------------------- finite differences */

/* A test-local log-softmax over the last dim, x - log(sum(exp(x))), made of public ops (the
   library's own tt_log_softmax is written elsewhere), so CTC can be checked end to end from
   logits: its torch-style gradient is exact only through one. The logits here are of order 1,
   so the sum needs no max subtracted. */
static tt_tensor *test_log_softmax(tt_ctx *ctx, tt_tensor *x) {
    if (!x) return NULL;
    return tt_sub(ctx, x, tt_log(ctx, tt_sum_axis(ctx, tt_exp(ctx, x), x->ndim - 1, 1)));
}

typedef struct gc_user {
    int kind;
    size_t n_labels;
    const int *labels, *lens_in, *lens_tgt;
    const float *weight;
} gc_user;

static tt_tensor *gc_fn(tt_ctx *ctx, tt_tensor **in, void *user) {
    gc_user *u = (gc_user *)user;
    tt_cross_entropy_opts ce = tt_cross_entropy_opts_init();
    tt_ctc_opts ctc = tt_ctc_opts_init();
    tt_gaussian_nll_opts go = tt_gaussian_nll_opts_init();
    tt_triplet_margin_opts to = tt_triplet_margin_opts_init();
    tt_multi_margin_opts mo = tt_multi_margin_opts_init();
    tt_poisson_nll_opts po = tt_poisson_nll_opts_init();
    ce.reduction = TT_REDUCTION_NONE;
    switch (u->kind) {
    case 0:
        ce.weight = u->weight; ce.label_smoothing = 0.1f;
        return tt_cross_entropy(ctx, in[0], u->n_labels, u->labels, &ce);
    case 1: ce.weight = u->weight; ce.label_smoothing = 0.2f; return tt_cross_entropy_probs(ctx, in[0], in[1], &ce);
    case 2: return tt_bce_with_logits_loss(ctx, in[0], in[1], in[2], in[3], TT_REDUCTION_MEAN);
    case 3: return tt_huber_loss(ctx, in[0], in[1], 0.7f, TT_REDUCTION_NONE);
    case 4: go.full = 1; go.reduction = TT_REDUCTION_SUM; return tt_gaussian_nll_loss(ctx, in[0], in[1], in[2], &go);
    case 5: return tt_cosine_embedding_loss(ctx, in[0], in[1], u->n_labels, u->labels, 0.1f, TT_REDUCTION_NONE);
    case 6:
        to.p = 3.0f; to.swap = 1; to.reduction = TT_REDUCTION_NONE;
        return tt_triplet_margin_loss(ctx, in[0], in[1], in[2], &to);
    case 7:
        ctc.reduction = TT_REDUCTION_NONE;
        return tt_ctc_loss(ctx, test_log_softmax(ctx, in[0]), u->n_labels, u->labels, 2, u->lens_in, u->lens_tgt, &ctc);
    case 8:
        mo.p = 2; mo.margin = 0.8f; mo.weight = u->weight; mo.reduction = TT_REDUCTION_NONE;
        return tt_multi_margin_loss(ctx, in[0], u->n_labels, u->labels, &mo);
    case 9: return tt_multilabel_soft_margin_loss(ctx, in[0], in[1], u->weight, TT_REDUCTION_NONE);
    case 10: return tt_kl_div_loss(ctx, in[0], in[1], 1, TT_REDUCTION_BATCHMEAN);
    case 11:
        po.log_input = 0; po.full = 1; po.reduction = TT_REDUCTION_NONE;
        return tt_poisson_nll_loss(ctx, in[0], in[1], &po);
    default: return tt_bce_loss(ctx, in[0], in[1], in[2], TT_REDUCTION_NONE);
    }
}

/* tt_gradcheck defaults (eps 1e-2 relative, atol 1e-3, rtol 1e-2): central differences in
   double of float32 losses. Inputs are random (fixed seed) away from kinks of the margin losses
   (a kink within eps of a point would make the difference quotient meaningless). */
static tt_tensor *grad_tensor(tt_ctx *ctx, int nd, const int *shape, float lo, float hi) {
    return tt_requires_grad(ctx, tt_tensor_rand(ctx, nd, shape, lo, hi));
}

static void test_gradcheck_losses(void) {
    tt_desc d = {0};
    tt_ctx ctx;
    tt_tensor *in[4];
    gc_user u;
    tt_gradcheck_report rep;
    int s345[3] = {3, 4, 5}, s57[2] = {5, 7}, s35[2] = {3, 5}, s31[2] = {3, 1}, s5[1] = {5}, s17[1] = {17};
    int s43[2] = {4, 3}, s41[2] = {4, 1}, s13[2] = {1, 3}, s4[1] = {4}, s59[2] = {5, 9}, s47[2] = {4, 7}, s725[3] = {7, 2, 5};
    int lab15[15] = {0, 3, 2, 1, -100, 3, 3, 0, 1, 2, 2, 1, 0, 3, 1}, lab5[5] = {1, -1, 1, -1, 1};
    int ctc_t[5] = {1, 2, 2, 4, 3}, ctc_in[2] = {7, 6}, ctc_tl[2] = {3, 2}, mm[5] = {0, 6, 3, 3, 1};
    float w4[4] = {0.5f, 1.5f, 1.0f, 2.0f}, w7[7] = {1, 2, 0.5f, 1, 1.5f, 0.7f, 1.2f};
    int k;
    d.scratch_bytes = 1 << 22;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    memset(&u, 0, sizeof u);
    for (k = 0; k <= 12; k++) {
        tt_scratch_reset(&ctx);
        u.kind = k;
        u.weight = NULL;
        memset(in, 0, sizeof in);
        switch (k) {
        case 0: in[0] = grad_tensor(&ctx, 3, s345, -3, 3); u.labels = lab15; u.n_labels = 15; u.weight = w4; break;
        case 1: in[0] = grad_tensor(&ctx, 2, s57, -3, 3); in[1] = tt_tensor_rand(&ctx, 2, s57, 0, 1); u.weight = w7; break;
        case 2:
            in[0] = grad_tensor(&ctx, 2, s35, -4, 4); in[1] = tt_tensor_rand(&ctx, 2, s35, 0, 1);
            in[2] = tt_tensor_rand(&ctx, 2, s31, 0.5f, 2); in[3] = tt_tensor_rand(&ctx, 1, s5, 0.5f, 3);
            break;
        case 3: in[0] = grad_tensor(&ctx, 1, s17, -2, 2); in[1] = grad_tensor(&ctx, 1, s17, -2, 2); break;
        case 4:
            in[0] = grad_tensor(&ctx, 2, s43, -2, 2); in[1] = grad_tensor(&ctx, 2, s43, -2, 2);
            in[2] = grad_tensor(&ctx, 2, s41, 0.3f, 2);
            break;
        case 5:
            in[0] = grad_tensor(&ctx, 2, s59, -1, 1); in[1] = grad_tensor(&ctx, 2, s59, -1, 1);
            u.labels = lab5; u.n_labels = 5;
            break;
        case 6:
            in[0] = grad_tensor(&ctx, 2, s47, -1, 1); in[1] = grad_tensor(&ctx, 2, s47, -1, 1);
            in[2] = grad_tensor(&ctx, 2, s47, -1, 1);
            break;
        case 7:
            in[0] = grad_tensor(&ctx, 3, s725, -2, 2);
            u.labels = ctc_t; u.n_labels = 5; u.lens_in = ctc_in; u.lens_tgt = ctc_tl;
            break;
        case 8: in[0] = grad_tensor(&ctx, 2, s57, -1, 1); u.labels = mm; u.n_labels = 5; u.weight = w7; break;
        case 9: in[0] = grad_tensor(&ctx, 2, s57, -3, 3); in[1] = tt_tensor_rand(&ctx, 2, s57, 0, 1); u.weight = w7; break;
        case 10: in[0] = grad_tensor(&ctx, 2, s43, -2, 0); in[1] = tt_tensor_rand(&ctx, 2, s43, -2, 0); break;
        case 11: in[0] = grad_tensor(&ctx, 1, s4, 0.5f, 3); in[1] = tt_tensor_rand(&ctx, 1, s4, 0, 4); break;
        default: /* x away from 0 and 1, where the FD truncation error (h/x)^2 would dominate */
            in[0] = grad_tensor(&ctx, 2, s43, 0.2f, 0.8f); in[1] = tt_tensor_rand(&ctx, 2, s43, 0, 1);
            in[2] = tt_tensor_rand(&ctx, 2, s13, 0.5f, 2); /* weight broadcast over rows */
            break;
        }
        {
            int n = in[3] ? 4 : in[2] ? 3 : in[1] ? 2 : 1;
            tt_result r = tt_gradcheck(&ctx, gc_fn, n, in, &u, NULL, &rep);
            CHECK_MSG(r == TT_OK, "kind %d: %s (input %d elem %zu analytic %g numeric %g) %s", k, tt_result_string(r),
                      rep.worst_input, rep.worst_index, rep.worst_analytic, rep.worst_numeric, tt_error_message(&ctx));
            tt_clear_error(&ctx);
        }
    }
    tt_ctx_free(&ctx);
}

/* ---------------------------------------------------------------- error paths */

/* The call must fail with code at site (tt_error_site: the op), and leave its inputs, their
   gradients and the tape untouched. Messages are for people and may be reworded; tests check
   the code and the site. */
#define EXPECT_ERR(call, code, site)                                                                  \
    do {                                                                                              \
        int nodes_ = ctx.n_nodes;                                                                     \
        tt_clear_error(&ctx);                                                                         \
        CHECK((call) == NULL);                                                                        \
        CHECK_MSG(tt_error(&ctx) == (code) && strcmp(tt_error_site(&ctx), site) == 0,                 \
                  "%s: code %d site '%s' (%s)", #call, (int)tt_error(&ctx), tt_error_site(&ctx),      \
                  tt_error_message(&ctx));                                                            \
        CHECK(ctx.n_nodes == nodes_);                                                                 \
    } while (0)

static void test_errors(void) {
    tt_desc d = {0};
    tt_ctx ctx;
    int s23[2] = {2, 3}, s32[2] = {3, 2}, s45[2] = {4, 5}, s613[3] = {6, 1, 3}, s41[2] = {4, 1};
    float xs[6] = {0.1f, 0.5f, 0.9f, 0.2f, 0.3f, 0.4f}, bad[6] = {0.1f, 0.5f, 1.5f, 0.2f, 0.3f, 0.4f};
    int lab[4] = {0, 4, 5, 1}, neg[4] = {0, -1, 2, 1}, ok4[4] = {0, 1, 2, 3}, mlm[6] = {0, 7, -1, 1, -1, 0};
    int ctc_bad[2] = {1, 3}, il[1] = {6}, tl[1] = {2};
    tt_tensor *a, *b, *c, *x45, *v;
    tt_cross_entropy_opts o = tt_cross_entropy_opts_init();
    tt_ctc_opts co = tt_ctc_opts_init();
    tt_multi_margin_opts mo = tt_multi_margin_opts_init();
    tt_triplet_margin_opts to = tt_triplet_margin_opts_init();
    tt_gaussian_nll_opts go = tt_gaussian_nll_opts_init();
    size_t i;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    a = tt_requires_grad(&ctx, tt_tensor_from(&ctx, 2, s23, xs));
    b = tt_tensor_from(&ctx, 2, s23, xs);
    c = tt_tensor_new(&ctx, 2, s32);
    x45 = tt_requires_grad(&ctx, tt_tensor_randn(&ctx, 2, s45, 0, 1));

    /* reductions */
    EXPECT_ERR(tt_mse_loss(&ctx, a, b, (tt_reduction)7), TT_ERR_INVALID_ARGS, "mse_loss");
    EXPECT_ERR(tt_l1_loss(&ctx, a, b, TT_REDUCTION_BATCHMEAN), TT_ERR_INVALID_ARGS, "l1_loss");
    tt_clear_error(&ctx);
    CHECK(tt_kl_div_loss(&ctx, a, b, 0, TT_REDUCTION_BATCHMEAN) != NULL);
    o.reduction = (tt_reduction)-1;
    EXPECT_ERR(tt_cross_entropy(&ctx, x45, 4, ok4, &o), TT_ERR_INVALID_ARGS, "cross_entropy");
    o.reduction = TT_REDUCTION_MEAN;
    co.reduction = TT_REDUCTION_BATCHMEAN;
    EXPECT_ERR(tt_ctc_loss(&ctx, tt_tensor_new(&ctx, 3, s613), 2, ctc_bad, 1, il, tl, &co), TT_ERR_INVALID_ARGS,
               "ctc_loss");
    co.reduction = TT_REDUCTION_MEAN;

    /* labels out of range */
    EXPECT_ERR(tt_cross_entropy(&ctx, x45, 4, lab, NULL), TT_ERR_INDEX, "cross_entropy");
    EXPECT_ERR(tt_nll_loss(&ctx, x45, 4, neg, NULL), TT_ERR_INDEX, "nll_loss");
    o.ignore_index = -1; /* now -1 is ignored */
    tt_clear_error(&ctx);
    CHECK(tt_nll_loss(&ctx, x45, 4, neg, &o) != NULL);
    o.ignore_index = -100;
    EXPECT_ERR(tt_multi_margin_loss(&ctx, x45, 4, lab, NULL), TT_ERR_INDEX, "multi_margin_loss");
    EXPECT_ERR(tt_multilabel_margin_loss(&ctx, a, 6, mlm, TT_REDUCTION_MEAN), TT_ERR_INDEX, "multilabel_margin_loss");
    EXPECT_ERR(tt_ctc_loss(&ctx, tt_tensor_new(&ctx, 3, s613), 2, ctc_bad, 1, il, tl, &co), TT_ERR_INDEX, "ctc_loss");

    /* shapes */
    EXPECT_ERR(tt_mse_loss(&ctx, a, c, TT_REDUCTION_MEAN), TT_ERR_SHAPE, "mse_loss");
    EXPECT_ERR(tt_bce_with_logits_loss(&ctx, a, b, NULL, tt_tensor_new(&ctx, 1, s45), TT_REDUCTION_MEAN), TT_ERR_SHAPE,
               "bce_with_logits_loss");
    EXPECT_ERR(tt_cross_entropy_probs(&ctx, x45, a, NULL), TT_ERR_SHAPE, "cross_entropy_probs");
    EXPECT_ERR(tt_gaussian_nll_loss(&ctx, a, b, tt_tensor_new(&ctx, 2, s41), NULL), TT_ERR_SHAPE, "gaussian_nll_loss");
    EXPECT_ERR(tt_triplet_margin_loss(&ctx, a, b, c, NULL), TT_ERR_SHAPE, "triplet_margin_loss");
    EXPECT_ERR(tt_ctc_loss(&ctx, a, 2, ctc_bad, 1, il, tl, NULL), TT_ERR_SHAPE, "ctc_loss");

    /* hyperparameters */
    EXPECT_ERR(tt_huber_loss(&ctx, a, b, 0.0f, TT_REDUCTION_MEAN), TT_ERR_INVALID_ARGS, "huber_loss");
    EXPECT_ERR(tt_smooth_l1_loss(&ctx, a, b, -1.0f, TT_REDUCTION_MEAN), TT_ERR_INVALID_ARGS, "smooth_l1_loss");
    mo.p = 3;
    EXPECT_ERR(tt_multi_margin_loss(&ctx, x45, 4, ok4, &mo), TT_ERR_INVALID_ARGS, "multi_margin_loss");
    to.margin = 0.0f;
    EXPECT_ERR(tt_triplet_margin_loss(&ctx, a, b, b, &to), TT_ERR_INVALID_ARGS, "triplet_margin_loss");
    to.margin = 1.0f; to.p = -1.0f;
    EXPECT_ERR(tt_triplet_margin_loss(&ctx, a, b, b, &to), TT_ERR_INVALID_ARGS, "triplet_margin_loss");
    o.label_smoothing = 1.5f;
    EXPECT_ERR(tt_cross_entropy(&ctx, x45, 4, ok4, &o), TT_ERR_INVALID_ARGS, "cross_entropy");
    o.label_smoothing = 0.1f;
    EXPECT_ERR(tt_nll_loss(&ctx, x45, 4, ok4, &o), TT_ERR_INVALID_ARGS, "nll_loss");
    o.label_smoothing = 0;
    EXPECT_ERR(tt_bce_loss(&ctx, tt_tensor_from(&ctx, 2, s23, bad), b, NULL, TT_REDUCTION_MEAN), TT_ERR_INVALID_ARGS,
               "bce_loss");
    EXPECT_ERR(tt_bce_loss(&ctx, a, tt_tensor_from(&ctx, 2, s23, bad), NULL, TT_REDUCTION_MEAN), TT_ERR_INVALID_ARGS,
               "bce_loss");
    v = tt_tensor_full(&ctx, 2, s23, 1.0f);
    v->data[4] = -0.5f;
    EXPECT_ERR(tt_gaussian_nll_loss(&ctx, a, b, v, &go), TT_ERR_INVALID_ARGS, "gaussian_nll_loss");
    co.blank = 3;
    EXPECT_ERR(tt_ctc_loss(&ctx, tt_tensor_new(&ctx, 3, s613), 2, ok4, 1, il, tl, &co), TT_ERR_INVALID_ARGS, "ctc_loss");
    co.blank = 0;
    co.targets_padded = 2;
    EXPECT_ERR(tt_ctc_loss(&ctx, tt_tensor_new(&ctx, 3, s613), 2, ok4, 1, il, tl, &co), TT_ERR_INVALID_ARGS, "ctc_loss");
    co.targets_padded = 0;
    il[0] = 7;
    EXPECT_ERR(tt_ctc_loss(&ctx, tt_tensor_new(&ctx, 3, s613), 2, ok4, 1, il, tl, &co), TT_ERR_INVALID_ARGS, "ctc_loss");

    /* NULLs: an error, then silent propagation that keeps the first error and its site */
    EXPECT_ERR(tt_mse_loss(&ctx, NULL, b, TT_REDUCTION_MEAN), TT_ERR_INVALID_ARGS, "mse_loss");
    EXPECT_ERR(tt_cross_entropy(&ctx, x45, 4, NULL, NULL), TT_ERR_INVALID_ARGS, "cross_entropy");
    CHECK(tt_l1_loss(&ctx, NULL, b, TT_REDUCTION_MEAN) == NULL);
    CHECK(tt_error(&ctx) == TT_ERR_INVALID_ARGS && strcmp(tt_error_site(&ctx), "cross_entropy") == 0);
    tt_clear_error(&ctx);
    CHECK(tt_error(&ctx) == TT_OK && tt_error_site(&ctx)[0] == 0);

    /* the inputs of failing calls were not modified */
    for (i = 0; i < 6; i++) CHECK(a->data[i] == xs[i] && a->grad[i] == 0.0f);
    for (i = 0; i < x45->numel; i++) CHECK(x45->grad[i] == 0.0f);
    tt_ctx_free(&ctx);
}

/* Every loss that takes int labels gets their count: one label too few (the array a caller
   sized for a smaller batch) or too many is TT_ERR_SHAPE at the loss, before anything is read
   past the end. The arrays here are exactly n_given long, so ASan would catch a read past them. */
static void test_label_counts(void) {
    tt_desc d = {0};
    tt_ctx ctx;
    int s45[2] = {4, 5}, s613[3] = {6, 2, 3}, s5[1] = {5}, s245[3] = {2, 4, 5};
    int *lab3, *lab5, il[2] = {6, 6}, tl[2] = {1, 2}, one[1] = {1};
    tt_tensor *x45, *y45, *lp;
    tt_ctc_opts co = tt_ctc_opts_init();
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    lab3 = (int *)malloc(3 * sizeof(int));
    lab5 = (int *)malloc(5 * sizeof(int));
    lab3[0] = lab3[1] = lab3[2] = 1;
    lab5[0] = lab5[1] = lab5[2] = lab5[3] = lab5[4] = 1;
    x45 = tt_requires_grad(&ctx, tt_tensor_randn(&ctx, 2, s45, 0, 1));
    y45 = tt_tensor_randn(&ctx, 2, s45, 0, 1);
    lp = tt_tensor_new(&ctx, 3, s613);
    EXPECT_ERR(tt_cross_entropy(&ctx, x45, 3, lab3, NULL), TT_ERR_SHAPE, "cross_entropy");
    EXPECT_ERR(tt_cross_entropy(&ctx, x45, 5, lab5, NULL), TT_ERR_SHAPE, "cross_entropy");
    EXPECT_ERR(tt_cross_entropy(&ctx, tt_tensor_new(&ctx, 3, s245), 3, lab3, NULL), TT_ERR_SHAPE, "cross_entropy");
    EXPECT_ERR(tt_cross_entropy(&ctx, tt_tensor_new(&ctx, 1, s5), 3, lab3, NULL), TT_ERR_SHAPE, "cross_entropy");
    EXPECT_ERR(tt_nll_loss(&ctx, x45, 3, lab3, NULL), TT_ERR_SHAPE, "nll_loss");
    EXPECT_ERR(tt_multi_margin_loss(&ctx, x45, 3, lab3, NULL), TT_ERR_SHAPE, "multi_margin_loss");
    EXPECT_ERR(tt_multilabel_margin_loss(&ctx, x45, 5, lab5, TT_REDUCTION_MEAN), TT_ERR_SHAPE, "multilabel_margin_loss");
    EXPECT_ERR(tt_hinge_embedding_loss(&ctx, x45, 5, lab5, 1.0f, TT_REDUCTION_MEAN), TT_ERR_SHAPE,
               "hinge_embedding_loss");
    EXPECT_ERR(tt_margin_ranking_loss(&ctx, x45, y45, 5, lab5, 0.0f, TT_REDUCTION_MEAN), TT_ERR_SHAPE,
               "margin_ranking_loss");
    EXPECT_ERR(tt_cosine_embedding_loss(&ctx, x45, y45, 3, lab3, 0.0f, TT_REDUCTION_MEAN), TT_ERR_SHAPE,
               "cosine_embedding_loss");
    /* CTC: concatenated targets must add up to the target lengths; padded ones fill whole rows;
       the length arrays need one entry per sample */
    EXPECT_ERR(tt_ctc_loss(&ctx, lp, 2, lab3, 2, il, tl, &co), TT_ERR_SHAPE, "ctc_loss");
    EXPECT_ERR(tt_ctc_loss(&ctx, lp, 3, lab3, 1, il, tl, &co), TT_ERR_SHAPE, "ctc_loss");
    co.targets_padded = 1;
    EXPECT_ERR(tt_ctc_loss(&ctx, lp, 3, lab3, 2, il, tl, &co), TT_ERR_SHAPE, "ctc_loss");
    tt_clear_error(&ctx);
    co.targets_padded = 0;
    CHECK(tt_ctc_loss(&ctx, lp, 3, lab3, 2, il, tl, &co) != NULL);
    co.targets_padded = 1; /* rows of 2: (1, x) and (1, 1) */
    {
        int padded[4] = {1, 0, 1, 1};
        CHECK(tt_ctc_loss(&ctx, lp, 4, padded, 2, il, tl, &co) != NULL);
    }
    CHECK(tt_cross_entropy(&ctx, tt_tensor_new(&ctx, 1, s5), 1, one, NULL) != NULL);
    CHECK(tt_error(&ctx) == TT_OK);
    free(lab3);
    free(lab5);
    tt_ctx_free(&ctx);
}

/* CTC's messages name the layout in use: in concatenated mode a bad target length is not
   described in terms of the padded row length (which would read "must be in [0, 0]"). */
static void test_ctc_messages(void) {
    tt_desc d = {0};
    tt_ctx ctx;
    int s613[3] = {6, 1, 3}, t[2] = {1, 2}, il[1] = {6}, tl[1] = {-2}, tl2[1] = {3};
    tt_ctc_opts co = tt_ctc_opts_init();
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    CHECK(tt_ctc_loss(&ctx, tt_tensor_new(&ctx, 3, s613), 2, t, 1, il, tl, &co) == NULL);
    CHECK(tt_error(&ctx) == TT_ERR_INVALID_ARGS && strcmp(tt_error_site(&ctx), "ctc_loss") == 0);
    CHECK_MSG(strstr(tt_error_message(&ctx), "[0, 0]") == NULL && strstr(tt_error_message(&ctx), "stride") == NULL,
              "message '%s'", tt_error_message(&ctx));
    tt_clear_error(&ctx);
    co.targets_padded = 1; /* one row of 2 labels: a target length of 3 does not fit */
    CHECK(tt_ctc_loss(&ctx, tt_tensor_new(&ctx, 3, s613), 2, t, 1, il, tl2, &co) == NULL);
    CHECK(tt_error(&ctx) == TT_ERR_INVALID_ARGS && strcmp(tt_error_site(&ctx), "ctc_loss") == 0);
    CHECK_MSG(strstr(tt_error_message(&ctx), "[0, 2]") != NULL, "message '%s'", tt_error_message(&ctx));
    tt_ctx_free(&ctx);
}

/* Every _init() returns torch's defaults (the values of torch.nn.functional's signatures,
   written out here), and a NULL opts pointer means the same as the _init() struct. */
static void test_default_opts(void) {
    tt_desc d = {0};
    tt_ctx ctx;
    int s45[2] = {4, 5}, t[4] = {0, 4, -100, 2};
    tt_cross_entropy_opts o = tt_cross_entropy_opts_init();
    tt_ctc_opts co = tt_ctc_opts_init();
    tt_poisson_nll_opts po = tt_poisson_nll_opts_init();
    tt_gaussian_nll_opts go = tt_gaussian_nll_opts_init();
    tt_multi_margin_opts mo = tt_multi_margin_opts_init();
    tt_triplet_margin_opts to = tt_triplet_margin_opts_init();
    tt_tensor *x, *l1, *l2;
    CHECK(o.reduction == TT_REDUCTION_MEAN && o.weight == NULL && o.ignore_index == -100 && o.label_smoothing == 0.0f);
    CHECK(co.reduction == TT_REDUCTION_MEAN && co.blank == 0 && co.zero_infinity == 0 && co.targets_padded == 0);
    CHECK(po.log_input == 1 && po.full == 0 && po.eps == 1e-8f && po.reduction == TT_REDUCTION_MEAN);
    CHECK(go.full == 0 && go.eps == 1e-6f && go.reduction == TT_REDUCTION_MEAN);
    CHECK(mo.p == 1 && mo.margin == 1.0f && mo.weight == NULL && mo.reduction == TT_REDUCTION_MEAN);
    CHECK(to.margin == 1.0f && to.p == 2.0f && to.eps == 1e-6f && to.swap == 0 && to.reduction == TT_REDUCTION_MEAN);
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    x = tt_tensor_randn(&ctx, 2, s45, 0, 2);
    l1 = tt_cross_entropy(&ctx, x, 4, t, NULL);
    l2 = tt_cross_entropy(&ctx, x, 4, t, &o);
    CHECK(l1 && l2 && l1->ndim == 0 && l1->data[0] == l2->data[0]);
    {   /* mean over the 3 non-ignored rows, computed here directly */
        double s = 0;
        int n, c;
        for (n = 0; n < 4; n++) {
            double m = -1e30, z = 0;
            if (t[n] == -100) continue;
            for (c = 0; c < 5; c++) if (x->data[n * 5 + c] > m) m = x->data[n * 5 + c];
            for (c = 0; c < 5; c++) z += exp(x->data[n * 5 + c] - m);
            s += m + log(z) - x->data[n * 5 + t[n]];
        }
        CHECK_CLOSE(l1->data[0], s / 3, 1e-6, 1e-5);
    }
    tt_ctx_free(&ctx);
}

int main(void) {
    RUN(test_torch_L1); RUN(test_torch_MSE); RUN(test_torch_HUBER); RUN(test_torch_SMOOTH_L1);
    RUN(test_torch_BCE); RUN(test_torch_BCE_LOGITS); RUN(test_torch_KL); RUN(test_torch_POISSON);
    RUN(test_torch_GAUSS); RUN(test_torch_HINGE); RUN(test_torch_MARGIN_RANK); RUN(test_torch_SOFT_MARGIN);
    RUN(test_torch_ML_SOFT_MARGIN); RUN(test_torch_MULTI_MARGIN); RUN(test_torch_ML_MARGIN);
    RUN(test_torch_COSINE); RUN(test_torch_TRIPLET); RUN(test_torch_CE); RUN(test_torch_CE_PROBS);
    RUN(test_torch_NLL); RUN(test_torch_CTC);
    RUN(test_gradcheck_losses);
    RUN(test_errors);
    RUN(test_label_counts);
    RUN(test_ctc_messages);
    RUN(test_default_opts);
    TEST_EXIT();
}
