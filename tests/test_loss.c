/* Losses: PyTorch goldens (tests/ref/loss_ref.h from tests/ref/gen_loss.py), finite-difference
   gradient checks, and error paths. */
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"
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
    tt_cross_entropy_opts ce;
    tt_ctc_opts ctc;
    memset(&ce, 0, sizeof ce);
    ce.reduction = red;
    ce.has_ignore_index = c->iopt[0];
    ce.ignore_index = c->iopt[1];
    ce.label_smoothing = c->fopt[0];
    switch (c->kind) {
    case LK_L1: return tt_l1_loss(ctx, T[0], T[1], red);
    case LK_MSE: return tt_mse_loss(ctx, T[0], T[1], red);
    case LK_HUBER: return tt_huber_loss(ctx, T[0], T[1], c->fopt[0], red);
    case LK_SMOOTH_L1: return tt_smooth_l1_loss(ctx, T[0], T[1], c->fopt[0], red);
    case LK_BCE: return tt_bce_loss(ctx, T[0], T[1], T[2], red);
    case LK_BCE_LOGITS: return tt_bce_with_logits_loss(ctx, T[0], T[1], T[2], T[3], red);
    case LK_KL: return tt_kl_div_loss(ctx, T[0], T[1], c->iopt[0], red);
    case LK_POISSON: return tt_poisson_nll_loss(ctx, T[0], T[1], c->iopt[0], c->iopt[1], c->fopt[0], red);
    case LK_GAUSS: return tt_gaussian_nll_loss(ctx, T[0], T[1], T[2], c->iopt[0], c->fopt[0], red);
    case LK_HINGE: return tt_hinge_embedding_loss(ctx, T[0], c->iv[0], c->fopt[0], red);
    case LK_MARGIN_RANK: return tt_margin_ranking_loss(ctx, T[0], T[1], c->iv[0], c->fopt[0], red);
    case LK_SOFT_MARGIN: return tt_soft_margin_loss(ctx, T[0], T[1], red);
    case LK_ML_SOFT_MARGIN: return tt_multilabel_soft_margin_loss(ctx, T[0], T[1], w2, red);
    case LK_MULTI_MARGIN: return tt_multi_margin_loss(ctx, T[0], c->iv[0], c->iopt[0], c->fopt[0], w1, red);
    case LK_ML_MARGIN: return tt_multilabel_margin_loss(ctx, T[0], c->iv[0], red);
    case LK_COSINE: return tt_cosine_embedding_loss(ctx, T[0], T[1], c->iv[0], c->fopt[0], red);
    case LK_TRIPLET:
        return tt_triplet_margin_loss(ctx, T[0], T[1], T[2], c->fopt[0], c->fopt[1], c->fopt[2], c->iopt[0], red);
    case LK_CE: ce.weight = w1; return tt_cross_entropy(ctx, T[0], c->iv[0], &ce);
    case LK_NLL: ce.weight = w1; return tt_nll_loss(ctx, T[0], c->iv[0], &ce);
    case LK_CE_PROBS: ce.has_ignore_index = 0; ce.weight = w2; return tt_cross_entropy_probs(ctx, T[0], T[1], &ce);
    case LK_CTC:
        memset(&ctc, 0, sizeof ctc);
        ctc.reduction = red;
        ctc.blank = c->iopt[0];
        ctc.zero_infinity = c->iopt[1];
        ctc.target_stride = c->iopt[2];
        return tt_ctc_loss(ctx, T[0], c->iv[0], c->iv[1], c->iv[2], &ctc);
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

int main(void) {
    RUN(test_torch_L1); RUN(test_torch_MSE); RUN(test_torch_HUBER); RUN(test_torch_SMOOTH_L1);
    RUN(test_torch_BCE); RUN(test_torch_BCE_LOGITS); RUN(test_torch_KL); RUN(test_torch_POISSON);
    RUN(test_torch_GAUSS); RUN(test_torch_HINGE); RUN(test_torch_MARGIN_RANK); RUN(test_torch_SOFT_MARGIN);
    RUN(test_torch_ML_SOFT_MARGIN); RUN(test_torch_MULTI_MARGIN); RUN(test_torch_ML_MARGIN);
    RUN(test_torch_COSINE); RUN(test_torch_TRIPLET); RUN(test_torch_CE); RUN(test_torch_CE_PROBS);
    RUN(test_torch_NLL); RUN(test_torch_CTC);
    TEST_EXIT();
}
