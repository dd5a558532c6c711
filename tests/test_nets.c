/* Golden tests against PyTorch: a small MLP, a small CNN (conv, batchnorm, pooling) and a
   one-block transformer (embedding, layernorm, causal attention, gelu, linear). The same weights
   and inputs as tests/ref/gen_nets.py; forward outputs, loss and every parameter gradient are
   compared.

   Tolerance: |ours - torch| <= 1e-6 + 1e-5 * |torch|, elementwise. Both sides compute in
   float32 but sum in different orders (blocked matmul, im2col, fused norms), so results differ
   by a few ulps per accumulation chain: the worst difference seen is 2.7e-7 (a transformer
   logit, 1.7e-6 relative), so the bound leaves about 5x headroom, while a wrong formula (a
   missing term, a biased instead of unbiased variance, a transposed weight) is off by 1e-3 or
   more. The absolute floor covers gradients near zero through cancellation. */
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"
#include "ref/nets_ref.h"

#define ATOL 1e-6
#define RTOL 1e-5

static int close_arrays(const char *what, const float *ours, const float *ref, size_t n) {
    size_t i, bad = 0, worst = 0;
    double worst_err = -1;
    for (i = 0; i < n; i++) {
        double e = fabs((double)ours[i] - ref[i]) - (ATOL + RTOL * fabs(ref[i]));
        if (e > 0 || ours[i] != ours[i]) bad++;
        if (e > worst_err) { worst_err = e; worst = i; }
    }
    if (bad) printf("  %s: %zu of %zu elements off; worst [%zu] ours %.8g torch %.8g\n", what, bad, n, worst,
                    (double)ours[worst], (double)ref[worst]);
    return bad == 0;
}

static tt_tensor *param_from(tt_ctx *ctx, const char *name, int ndim, const int *shape, const float *v) {
    tt_tensor *p = tt_param(ctx, name, ndim, shape);
    if (p) tt_tensor_set(ctx, p, v, p->numel);
    return p;
}

static void init_ctx(tt_ctx *ctx) {
    tt_desc d;
    memset(&d, 0, sizeof d);
    d.max_params = 1 << 16;
    d.scratch_bytes = 8 << 20;
    d.persist_bytes = 1 << 16;
    CHECK(tt_ctx_init(ctx, &d) == TT_OK);
}

#define CHECK_ARRAY(name, t, ref) \
    CHECK((t) != NULL && (t)->numel == sizeof(ref) / sizeof(float) && close_arrays(name, (t)->data, ref, (t)->numel))
#define CHECK_GRAD(name, t, ref) \
    CHECK((t) != NULL && (t)->numel == sizeof(ref) / sizeof(float) && close_arrays(name, (t)->grad, ref, (t)->numel))

static void test_golden_mlp(void) {
    tt_ctx ctx;
    int xs[2] = {16, 20}, w1s[2] = {32, 20}, b1s[1] = {32}, w2s[2] = {10, 32}, b2s[1] = {10};
    tt_tensor *w1, *b1, *w2, *b2, *x, *logits, *loss;
    init_ctx(&ctx);
    w1 = param_from(&ctx, "w1", 2, w1s, mlp_w1);
    b1 = param_from(&ctx, "b1", 1, b1s, mlp_b1);
    w2 = param_from(&ctx, "w2", 2, w2s, mlp_w2);
    b2 = param_from(&ctx, "b2", 1, b2s, mlp_b2);
    x = tt_tensor_from(&ctx, 2, xs, mlp_x);
    logits = tt_linear(&ctx, tt_relu(&ctx, tt_linear(&ctx, x, w1, b1)), w2, b2);
    loss = tt_cross_entropy(&ctx, logits, sizeof mlp_y / sizeof mlp_y[0], mlp_y, NULL);
    CHECK(loss != NULL && tt_backward(&ctx, loss) == TT_OK);
    CHECK_ARRAY("logits", logits, mlp_logits);
    CHECK_ARRAY("loss", loss, mlp_loss);
    CHECK_GRAD("w1", w1, mlp_w1_grad);
    CHECK_GRAD("b1", b1, mlp_b1_grad);
    CHECK_GRAD("w2", w2, mlp_w2_grad);
    CHECK_GRAD("b2", b2, mlp_b2_grad);
    if (tt_error(&ctx)) printf("  %s\n", tt_error_message(&ctx));
    tt_ctx_free(&ctx);
}

static void test_golden_cnn(void) {
    tt_ctx ctx;
    int xs[4] = {4, 3, 10, 10}, c1s[4] = {8, 3, 3, 3}, c8[1] = {8}, c2s[4] = {12, 8, 3, 3}, c12[1] = {12};
    int fcs[2] = {5, 12}, c5[1] = {5};
    tt_tensor *c1w, *c1b, *bnw, *bnb, *c2w, *c2b, *fcw, *fcb, *rm, *rv, *x, *h, *logits, *loss;
    tt_conv_opts pad1 = tt_conv_opts_init();
    tt_pool_opts pool2 = tt_pool_opts_init(2, 2);
    init_ctx(&ctx);
    pad1.padding[0] = pad1.padding[1] = 1;
    c1w = param_from(&ctx, "c1w", 4, c1s, cnn_c1w);
    c1b = param_from(&ctx, "c1b", 1, c8, cnn_c1b);
    bnw = param_from(&ctx, "bnw", 1, c8, cnn_bn_weight_init);
    bnb = param_from(&ctx, "bnb", 1, c8, cnn_bn_bias_init);
    c2w = param_from(&ctx, "c2w", 4, c2s, cnn_c2w);
    c2b = param_from(&ctx, "c2b", 1, c12, cnn_c2b);
    fcw = param_from(&ctx, "fcw", 2, fcs, cnn_fcw);
    fcb = param_from(&ctx, "fcb", 1, c5, cnn_fcb);
    rm = tt_buffer(&ctx, "running_mean", 1, c8);
    rv = tt_buffer(&ctx, "running_var", 1, c8);
    tt_init_const(&ctx, rv, 1.0f);
    x = tt_tensor_from(&ctx, 4, xs, cnn_x);
    h = tt_conv2d(&ctx, x, c1w, c1b, &pad1);
    h = tt_max_pool2d(&ctx, tt_relu(&ctx, tt_batchnorm(&ctx, h, bnw, bnb, rm, rv, NULL)), &pool2);
    h = tt_relu(&ctx, tt_conv2d(&ctx, h, c2w, c2b, NULL));
    h = tt_global_avg_pool2d(&ctx, h);
    logits = tt_linear(&ctx, h, fcw, fcb);
    loss = tt_cross_entropy(&ctx, logits, sizeof cnn_y / sizeof cnn_y[0], cnn_y, NULL);
    CHECK(loss != NULL && tt_backward(&ctx, loss) == TT_OK);
    CHECK_ARRAY("logits", logits, cnn_logits);
    CHECK_ARRAY("loss", loss, cnn_loss);
    CHECK_ARRAY("running_mean", rm, cnn_running_mean);
    CHECK_ARRAY("running_var", rv, cnn_running_var);
    CHECK_GRAD("c1w", c1w, cnn_c1w_grad);
    CHECK_GRAD("c1b", c1b, cnn_c1b_grad);
    CHECK_GRAD("bnw", bnw, cnn_bnw_grad);
    CHECK_GRAD("bnb", bnb, cnn_bnb_grad);
    CHECK_GRAD("c2w", c2w, cnn_c2w_grad);
    CHECK_GRAD("c2b", c2b, cnn_c2b_grad);
    CHECK_GRAD("fcw", fcw, cnn_fcw_grad);
    CHECK_GRAD("fcb", fcb, cnn_fcb_grad);
    if (tt_error(&ctx)) printf("  %s\n", tt_error_message(&ctx));
    tt_ctx_free(&ctx);
}

enum { V = 17, T = 8, B = 2, C = 16, H = 2 };

/* (B*T, C) -> (B, H, T, C/H) */
static tt_tensor *heads(tt_ctx *ctx, tt_tensor *t) {
    int s[4] = {B, T, H, C / H}, perm[4] = {0, 2, 1, 3};
    return tt_permute(ctx, tt_reshape(ctx, t, 4, s), perm);
}

static void test_golden_transformer(void) {
    tt_ctx ctx;
    int sTC[2] = {T, C}, sVC[2] = {V, C}, sC[1] = {C}, sCC[2] = {C, C}, s4C[1] = {4 * C}, sfc[2] = {4 * C, C};
    int sfc2[2] = {C, 4 * C}, shead[2] = {V, C}, sV[1] = {V}, ids[2] = {B, T}, sBTC[3] = {B * T, C};
    int perm[4] = {0, 2, 1, 3}, sBT_C[2] = {B * T, C}, sBTV[2] = {B * T, V};
    tt_tensor *pos, *tok, *l1w, *l1b, *qw, *qb, *kw, *kb, *vw, *vb, *pw, *pb, *l2w, *l2b, *fw, *fb, *f2w, *f2b;
    tt_tensor *lfw, *lfb, *hw, *hb, *x, *h, *a, *logits, *loss;
    init_ctx(&ctx);
    pos = param_from(&ctx, "pos", 2, sTC, tf_pos);
    tok = param_from(&ctx, "tok", 2, sVC, tf_tok_weight);
    l1w = param_from(&ctx, "ln1w", 1, sC, tf_ln1_weight);
    l1b = param_from(&ctx, "ln1b", 1, sC, tf_ln1_bias);
    qw = param_from(&ctx, "qw", 2, sCC, tf_q_weight);
    qb = param_from(&ctx, "qb", 1, sC, tf_q_bias);
    kw = param_from(&ctx, "kw", 2, sCC, tf_k_weight);
    kb = param_from(&ctx, "kb", 1, sC, tf_k_bias);
    vw = param_from(&ctx, "vw", 2, sCC, tf_v_weight);
    vb = param_from(&ctx, "vb", 1, sC, tf_v_bias);
    pw = param_from(&ctx, "pw", 2, sCC, tf_proj_weight);
    pb = param_from(&ctx, "pb", 1, sC, tf_proj_bias);
    l2w = param_from(&ctx, "ln2w", 1, sC, tf_ln2_weight);
    l2b = param_from(&ctx, "ln2b", 1, sC, tf_ln2_bias);
    fw = param_from(&ctx, "fw", 2, sfc, tf_fc_weight);
    fb = param_from(&ctx, "fb", 1, s4C, tf_fc_bias);
    f2w = param_from(&ctx, "f2w", 2, sfc2, tf_fc2_weight);
    f2b = param_from(&ctx, "f2b", 1, sC, tf_fc2_bias);
    lfw = param_from(&ctx, "lnfw", 1, sC, tf_lnf_weight);
    lfb = param_from(&ctx, "lnfb", 1, sC, tf_lnf_bias);
    hw = param_from(&ctx, "hw", 2, shead, tf_head_weight);
    hb = param_from(&ctx, "hb", 1, sV, tf_head_bias);
    (void)sBTC;
    /* x: (B, T, C) = tok[idx] + pos, then flattened to (B*T, C) rows */
    x = tt_add(&ctx, tt_embedding(&ctx, tok, 2, ids, sizeof tf_idx / sizeof tf_idx[0], tf_idx), pos);
    x = tt_reshape(&ctx, x, 2, sBT_C);
    h = tt_layernorm(&ctx, x, 1, l1w, l1b, 1e-5f);
    a = tt_attention(&ctx, heads(&ctx, tt_linear(&ctx, h, qw, qb)), heads(&ctx, tt_linear(&ctx, h, kw, kb)),
                     heads(&ctx, tt_linear(&ctx, h, vw, vb)), 1);
    a = tt_reshape(&ctx, tt_permute(&ctx, a, perm), 2, sBT_C);
    x = tt_add(&ctx, x, tt_linear(&ctx, a, pw, pb));
    h = tt_linear(&ctx, tt_gelu(&ctx, tt_linear(&ctx, tt_layernorm(&ctx, x, 1, l2w, l2b, 1e-5f), fw, fb)), f2w, f2b);
    x = tt_add(&ctx, x, h);
    logits = tt_linear(&ctx, tt_layernorm(&ctx, x, 1, lfw, lfb, 1e-5f), hw, hb);
    loss = tt_cross_entropy(&ctx, logits, sizeof tf_tgt / sizeof tf_tgt[0], tf_tgt, NULL);
    CHECK(loss != NULL && tt_backward(&ctx, loss) == TT_OK);
    CHECK(logits && logits->ndim == 2 && logits->shape[0] == sBTV[0] && logits->shape[1] == sBTV[1]);
    CHECK_ARRAY("logits", logits, tf_logits);
    CHECK_ARRAY("loss", loss, tf_loss);
    CHECK_GRAD("pos", pos, tf_pos_grad);
    CHECK_GRAD("tok", tok, tf_tok_weight_grad);
    CHECK_GRAD("ln1w", l1w, tf_ln1_weight_grad);
    CHECK_GRAD("ln1b", l1b, tf_ln1_bias_grad);
    CHECK_GRAD("qw", qw, tf_q_weight_grad);
    CHECK_GRAD("qb", qb, tf_q_bias_grad);
    CHECK_GRAD("kw", kw, tf_k_weight_grad);
    CHECK_GRAD("kb", kb, tf_k_bias_grad);
    CHECK_GRAD("vw", vw, tf_v_weight_grad);
    CHECK_GRAD("vb", vb, tf_v_bias_grad);
    CHECK_GRAD("pw", pw, tf_proj_weight_grad);
    CHECK_GRAD("pb", pb, tf_proj_bias_grad);
    CHECK_GRAD("ln2w", l2w, tf_ln2_weight_grad);
    CHECK_GRAD("ln2b", l2b, tf_ln2_bias_grad);
    CHECK_GRAD("fw", fw, tf_fc_weight_grad);
    CHECK_GRAD("fb", fb, tf_fc_bias_grad);
    CHECK_GRAD("f2w", f2w, tf_fc2_weight_grad);
    CHECK_GRAD("f2b", f2b, tf_fc2_bias_grad);
    CHECK_GRAD("lnfw", lfw, tf_lnf_weight_grad);
    CHECK_GRAD("lnfb", lfb, tf_lnf_bias_grad);
    CHECK_GRAD("hw", hw, tf_head_weight_grad);
    CHECK_GRAD("hb", hb, tf_head_bias_grad);
    if (tt_error(&ctx)) printf("  %s\n", tt_error_message(&ctx));
    tt_ctx_free(&ctx);
}

int main(void) {
    RUN(test_golden_mlp);
    RUN(test_golden_cnn);
    RUN(test_golden_transformer);
    TEST_EXIT();
}
