/* Fan-out: every differentiable op is gradient-checked with its input also feeding a second
   consumer that is recorded after the op, so the second consumer's backward runs first and the
   op's backward must ADD into the input's gradient. An op whose backward overwrites (or zeroes)
   the input gradient instead of accumulating fails here, even though a plain single-use
   gradcheck passes.
   Combination: when f(x) has x's shape, out = f(x) * x (elementwise); otherwise
   out = sum(f(x) * u) * sum(x * v) with fixed constants u, v (a product, so each branch scales
   the other's gradient and neither can be dropped). The oracle is tt_gradcheck's central
   differences in double (defaults: eps 1e-2 relative, atol 1e-3, rtol 1e-2); inputs are drawn
   away from kinks. */
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"

typedef struct fo_case {
    const char *name;
    int ndim, shape[4];
    float lo, hi;
    tt_tensor *(*f)(tt_ctx *ctx, tt_tensor *x);
} fo_case;

/* fixed inputs of the other operands: deterministic values from a local generator */
static tt_tensor *konst(tt_ctx *ctx, int ndim, const int *shape, float lo, float hi, uint64_t seed) {
    tt_rng r;
    tt_tensor *t = tt_tensor_new(ctx, ndim, shape);
    size_t i;
    if (!t) return NULL;
    tt_rng_seed(&r, seed);
    for (i = 0; i < t->numel; i++) t->data[i] = lo + (hi - lo) * tt_rng_uniform(&r);
    return t;
}
static tt_tensor *k1(tt_ctx *c, int a, float lo, float hi) { int s[1]; s[0] = a; return konst(c, 1, s, lo, hi, 11); }
static tt_tensor *k2(tt_ctx *c, int a, int b, float lo, float hi) {
    int s[2]; s[0] = a; s[1] = b; return konst(c, 2, s, lo, hi, 12);
}
static tt_tensor *k4(tt_ctx *c, int a, int b, int d, int e, float lo, float hi) {
    int s[4]; s[0] = a; s[1] = b; s[2] = d; s[3] = e; return konst(c, 4, s, lo, hi, 13);
}

/* ---- the ops (x: the input under test) ---- */
#define OP(name, ...) static tt_tensor *f_##name(tt_ctx *c, tt_tensor *x) { __VA_ARGS__ }
OP(add, return tt_add(c, x, k2(c, 3, 4, -1, 1));)
OP(add_b, return tt_add(c, k2(c, 3, 4, -1, 1), x);)
OP(mul, return tt_mul(c, x, k2(c, 3, 4, -1, 1));)
OP(relu, return tt_relu(c, x);)
OP(sum, return tt_sum(c, x);)
OP(matmul, return tt_matmul(c, x, k2(c, 4, 5, -1, 1));)
OP(matmul_b, return tt_matmul(c, k2(c, 5, 3, -1, 1), x);)
OP(linear, return tt_linear(c, x, k2(c, 5, 4, -1, 1), k1(c, 5, -1, 1));)
OP(linear_w, return tt_linear(c, k2(c, 2, 4, -1, 1), x, NULL);)
OP(sub, return tt_sub(c, x, k2(c, 3, 4, -1, 1));)
OP(div, return tt_div(c, x, k2(c, 3, 4, 1, 2));)
OP(div_b, return tt_div(c, k2(c, 3, 4, -1, 1), x);)
OP(pow, return tt_pow(c, x, k2(c, 3, 4, 0.5f, 2));)
OP(pow_b, return tt_pow(c, k2(c, 3, 4, 0.5f, 2), x);)
OP(pow_scalar, return tt_pow_scalar(c, x, 2.5f);)
OP(maximum, return tt_maximum(c, x, k2(c, 3, 4, -1, 1));)
OP(minimum, return tt_minimum(c, x, k2(c, 3, 4, -1, 1));)
OP(neg, return tt_neg(c, x);)
OP(scale, return tt_scale(c, x, -1.5f);)
OP(add_scalar, return tt_add_scalar(c, x, 0.75f);)
OP(exp, return tt_exp(c, x);)
OP(log, return tt_log(c, x);)
OP(sqrt, return tt_sqrt(c, x);)
OP(abs, return tt_abs(c, x);)
OP(clamp, return tt_clamp(c, x, -0.5f, 0.6f);)
OP(leaky_relu, return tt_leaky_relu_ex(c, x, 0.2f);)
OP(elu, return tt_elu(c, x);)
OP(selu, return tt_selu(c, x);)
OP(gelu, return tt_gelu(c, x);)
OP(gelu_tanh, return tt_gelu_tanh(c, x);)
OP(silu, return tt_silu(c, x);)
OP(sigmoid, return tt_sigmoid(c, x);)
OP(tanh, return tt_tanh(c, x);)
OP(softplus, return tt_softplus_ex(c, x, 2.0f, 20.0f);)
OP(softsign, return tt_softsign(c, x);)
OP(hardtanh, return tt_hardtanh_ex(c, x, -0.5f, 0.6f);)
OP(mish, return tt_mish(c, x);)
OP(sum_axis, return tt_sum_axis(c, x, 1, 0);)
OP(mean, return tt_mean(c, x);)
OP(mean_axis, return tt_mean_axis(c, x, 0, 1);)
OP(var, return tt_var(c, x, 1);)
OP(var_axis, return tt_var_axis(c, x, 1, 0, 0);)
OP(max, return tt_max(c, x);)
OP(min, return tt_min(c, x);)
OP(max_axis, return tt_max_axis(c, x, 1, 0);)
OP(min_axis, return tt_min_axis(c, x, 0, 1);)
OP(softmax, return tt_softmax(c, x, 1);)
OP(log_softmax, return tt_log_softmax(c, x, 0);)
OP(reshape, { int s[2] = {4, 3}; return tt_reshape(c, x, 2, s); })
OP(flatten, return tt_flatten(c, x, 0);)
OP(transpose, return tt_transpose(c, x, 0, 1);)
OP(permute, { int p[2] = {1, 0}; return tt_permute(c, x, p); })
OP(slice, return tt_slice(c, x, 1, 1, 4, 2);)
OP(concat, { tt_tensor *xs[2]; xs[0] = x; xs[1] = k2(c, 2, 4, -1, 1); return tt_concat(c, 2, xs, 0); })
OP(stack, { tt_tensor *xs[2]; xs[0] = k2(c, 3, 4, -1, 1); xs[1] = x; return tt_stack(c, 2, xs, 1); })
OP(pad, { int p[4] = {1, 2, 0, 1}; return tt_pad(c, x, 4, p, 0.5f); })
OP(index_select, { int i[4] = {2, 0, 2, 1}; return tt_index_select(c, x, 0, 4, i); })
OP(gather, { int s[2] = {3, 2}, i[6] = {3, 0, 1, 1, 2, 3}; return tt_gather(c, x, 1, s, 6, i); })
OP(embedding, { int s[1] = {5}, i[5] = {0, 2, 2, 1, 0}; return tt_embedding(c, x, 1, s, 5, i); })
OP(conv2d, return tt_conv2d(c, x, k4(c, 3, 2, 2, 2, -1, 1), k1(c, 3, -1, 1), NULL);)
OP(conv2d_w, { int s[4] = {1, 2, 4, 4}; return tt_conv2d(c, konst(c, 4, s, -1, 1, 21), x, NULL, NULL); })
OP(conv1d, { int s[3] = {3, 2, 2}; return tt_conv1d(c, x, konst(c, 3, s, -1, 1, 22), NULL, NULL); })
OP(max_pool2d, { tt_pool_opts o = tt_pool_opts_init(2, 2); return tt_max_pool2d(c, x, &o); })
OP(avg_pool2d, { tt_pool_opts o = tt_pool_opts_init(2, 2); o.stride[0] = 1; return tt_avg_pool2d(c, x, &o); })
OP(max_pool1d, { tt_pool_opts o = tt_pool1d_opts_init(2); return tt_max_pool1d(c, x, &o); })
OP(avg_pool1d, { tt_pool_opts o = tt_pool1d_opts_init(3); o.stride[0] = 1; return tt_avg_pool1d(c, x, &o); })
OP(adaptive_avg_pool2d, return tt_adaptive_avg_pool2d(c, x, 3, 2);)
OP(global_avg_pool2d, return tt_global_avg_pool2d(c, x);)
OP(batchnorm, return tt_batchnorm(c, x, k1(c, 4, 0.5f, 1.5f), k1(c, 4, -1, 1), NULL, NULL, NULL);)
OP(layernorm, return tt_layernorm(c, x, 1, k1(c, 4, 0.5f, 1.5f), k1(c, 4, -1, 1), 1e-5f);)
OP(groupnorm, return tt_groupnorm(c, x, 2, NULL, NULL, 1e-5f);)
OP(rmsnorm, return tt_rmsnorm(c, x, k1(c, 4, 0.5f, 1.5f), FLT_EPSILON);)
OP(dropout, return tt_dropout(c, x, 0.0f);)
OP(attention, { int s[3] = {2, 5, 4}; return tt_attention(c, x, konst(c, 3, s, -1, 1, 31), konst(c, 3, s, -1, 1, 32), 1); })
OP(lstm_cell, {
    tt_rnn_cell_weights w;
    tt_tensor *h = NULL, *cc = NULL;
    w.w_ih = k2(c, 12, 4, -0.5f, 0.5f); w.w_hh = k2(c, 12, 3, -0.5f, 0.5f); w.b_ih = k1(c, 12, -0.5f, 0.5f); w.b_hh = NULL;
    if (tt_lstm_cell(c, x, k2(c, 3, 3, -1, 1), k2(c, 3, 3, -1, 1), &w, &h, &cc) != TT_OK) return NULL;
    return tt_add(c, h, cc);
})
OP(gru_cell, {
    tt_rnn_cell_weights w;
    tt_tensor *h = NULL;
    w.w_ih = k2(c, 9, 4, -0.5f, 0.5f); w.w_hh = k2(c, 9, 3, -0.5f, 0.5f); w.b_ih = NULL; w.b_hh = k1(c, 9, -0.5f, 0.5f);
    return tt_gru_cell(c, x, k2(c, 3, 3, -1, 1), &w, &h) == TT_OK ? h : NULL;
})
/* losses (reduction NONE where it keeps more structure) */
static const int LAB3[3] = {1, 0, 3}, PM12[12] = {1, -1, 1, 1, -1, -1, 1, -1, 1, 1, -1, 1}, PM3[3] = {1, -1, 1};
static const int MLM12[12] = {0, 2, -1, 0, 3, -1, 0, 0, 1, -1, 0, 0};
OP(l1_loss, return tt_l1_loss(c, x, k2(c, 3, 4, -1, 1), TT_REDUCTION_NONE);)
OP(mse_loss, return tt_mse_loss(c, x, k2(c, 3, 4, -1, 1), TT_REDUCTION_NONE);)
OP(huber_loss, return tt_huber_loss(c, x, k2(c, 3, 4, -1, 1), 0.5f, TT_REDUCTION_NONE);)
OP(smooth_l1_loss, return tt_smooth_l1_loss(c, x, k2(c, 3, 4, -1, 1), 0.5f, TT_REDUCTION_NONE);)
OP(cross_entropy, {
    tt_cross_entropy_opts o = tt_cross_entropy_opts_init();
    o.label_smoothing = 0.1f;
    return tt_cross_entropy(c, x, 3, LAB3, &o);
})
OP(cross_entropy_probs, return tt_cross_entropy_probs(c, x, k2(c, 3, 4, 0, 1), NULL);)
OP(nll_loss, return tt_nll_loss(c, x, 3, LAB3, NULL);)
OP(bce_loss, return tt_bce_loss(c, x, k2(c, 3, 4, 0, 1), NULL, TT_REDUCTION_NONE);)
OP(bce_with_logits_loss, return tt_bce_with_logits_loss(c, x, k2(c, 3, 4, 0, 1), NULL, k1(c, 4, 0.5f, 2), TT_REDUCTION_NONE);)
OP(kl_div_loss, return tt_kl_div_loss(c, x, k2(c, 3, 4, 0.1f, 1), 0, TT_REDUCTION_NONE);)
OP(poisson_nll_loss, return tt_poisson_nll_loss(c, x, k2(c, 3, 4, 0, 3), NULL);)
OP(gaussian_nll_loss, return tt_gaussian_nll_loss(c, x, k2(c, 3, 4, -1, 1), k2(c, 3, 4, 0.5f, 2), NULL);)
OP(gaussian_nll_var, { /* the variance as the input under test */
    int s[2] = {3, 4};
    return tt_gaussian_nll_loss(c, konst(c, 2, s, -1, 1, 41), konst(c, 2, s, -1, 1, 42), x, NULL);
})
OP(hinge_embedding_loss, return tt_hinge_embedding_loss(c, x, 12, PM12, 1.5f, TT_REDUCTION_NONE);)
OP(margin_ranking_loss, return tt_margin_ranking_loss(c, x, k2(c, 3, 4, -1, 1), 12, PM12, 0.1f, TT_REDUCTION_NONE);)
OP(soft_margin_loss, return tt_soft_margin_loss(c, x, k2(c, 3, 4, -1, 1), TT_REDUCTION_NONE);)
OP(multilabel_soft_margin_loss, return tt_multilabel_soft_margin_loss(c, x, k2(c, 3, 4, 0, 1), NULL, TT_REDUCTION_NONE);)
OP(multi_margin_loss, {
    tt_multi_margin_opts o = tt_multi_margin_opts_init();
    o.p = 2; o.reduction = TT_REDUCTION_NONE;
    return tt_multi_margin_loss(c, x, 3, LAB3, &o);
})
OP(multilabel_margin_loss, return tt_multilabel_margin_loss(c, x, 12, MLM12, TT_REDUCTION_NONE);)
OP(cosine_embedding_loss, return tt_cosine_embedding_loss(c, x, k2(c, 3, 4, -1, 1), 3, PM3, -0.2f, TT_REDUCTION_NONE);)
OP(triplet_margin_loss, {
    tt_triplet_margin_opts o = tt_triplet_margin_opts_init();
    o.margin = 5.0f; o.reduction = TT_REDUCTION_NONE;
    return tt_triplet_margin_loss(c, x, k2(c, 3, 4, -1, 1), konst(c, 2, x->shape, -1, 1, 51), &o);
})
OP(ctc_loss, {
    int t[3] = {1, 2, 1}, il[2] = {5, 4}, tl[2] = {2, 1};
    tt_ctc_opts o = tt_ctc_opts_init();
    o.reduction = TT_REDUCTION_NONE;
    return tt_ctc_loss(c, tt_log_softmax(c, x, 2), 3, t, 2, il, tl, &o);
})

#define C2(name, lo, hi) {#name, 2, {3, 4, 0, 0}, lo, hi, f_##name}
static const fo_case CASES[] = {
    C2(add, -2, 2), C2(add_b, -2, 2), C2(mul, -2, 2), C2(relu, 0.1f, 2), C2(sum, -2, 2), C2(matmul, -2, 2),
    {"matmul_b", 2, {3, 2, 0, 0}, -2, 2, f_matmul_b}, C2(linear, -2, 2), {"linear_w", 2, {3, 4, 0, 0}, -2, 2, f_linear_w},
    C2(sub, -2, 2), C2(div, -2, 2), C2(div_b, 0.5f, 2), C2(pow, 0.3f, 2), C2(pow_b, -1, 1), C2(pow_scalar, 0.3f, 2),
    C2(maximum, -2, 2), C2(minimum, -2, 2), C2(neg, -2, 2), C2(scale, -2, 2), C2(add_scalar, -2, 2), C2(exp, -2, 1),
    C2(log, 0.5f, 2), C2(sqrt, 0.5f, 2), C2(abs, 0.2f, 2), C2(clamp, -0.4f, 0.5f), C2(leaky_relu, 0.2f, 2),
    C2(elu, -2, -0.2f), C2(selu, -2, -0.2f), C2(gelu, -2, 2), C2(gelu_tanh, -2, 2), C2(silu, -2, 2), C2(sigmoid, -2, 2),
    C2(tanh, -2, 2), C2(softplus, -2, 2), C2(softsign, 0.2f, 2), C2(hardtanh, -0.4f, 0.5f), C2(mish, -2, 2),
    C2(sum_axis, -2, 2), C2(mean, -2, 2), C2(mean_axis, -2, 2), C2(var, -2, 2), C2(var_axis, -2, 2), C2(max, -2, 2),
    C2(min, -2, 2), C2(max_axis, -2, 2), C2(min_axis, -2, 2), C2(softmax, -2, 2), C2(log_softmax, -2, 2),
    C2(reshape, -2, 2), C2(flatten, -2, 2), C2(transpose, -2, 2), C2(permute, -2, 2), C2(slice, -2, 2),
    {"concat", 2, {2, 4, 0, 0}, -2, 2, f_concat}, C2(stack, -2, 2), C2(pad, -2, 2), C2(index_select, -2, 2),
    C2(gather, -2, 2), C2(embedding, -2, 2),
    {"conv2d", 4, {1, 2, 4, 4}, -2, 2, f_conv2d}, {"conv2d_w", 4, {3, 2, 2, 2}, -2, 2, f_conv2d_w},
    {"conv1d", 3, {2, 2, 5, 0}, -2, 2, f_conv1d}, {"max_pool2d", 4, {1, 2, 4, 4}, -2, 2, f_max_pool2d},
    {"avg_pool2d", 4, {1, 2, 4, 4}, -2, 2, f_avg_pool2d}, {"max_pool1d", 3, {2, 2, 6, 0}, -2, 2, f_max_pool1d},
    {"avg_pool1d", 3, {2, 2, 6, 0}, -2, 2, f_avg_pool1d}, {"adaptive_avg_pool2d", 4, {1, 2, 5, 4}, -2, 2, f_adaptive_avg_pool2d},
    {"global_avg_pool2d", 4, {2, 3, 2, 3}, -2, 2, f_global_avg_pool2d}, C2(batchnorm, -2, 2), C2(layernorm, -2, 2),
    {"groupnorm", 3, {2, 4, 3, 0}, -2, 2, f_groupnorm}, C2(rmsnorm, -2, 2), C2(dropout, -2, 2),
    {"attention", 3, {2, 3, 4, 0}, -1, 1, f_attention}, C2(lstm_cell, -1, 1), C2(gru_cell, -1, 1),
    C2(l1_loss, -2, 2), C2(mse_loss, -2, 2), C2(huber_loss, -2, 2), C2(smooth_l1_loss, -2, 2), C2(cross_entropy, -2, 2),
    C2(cross_entropy_probs, -2, 2), C2(nll_loss, -2, 0), C2(bce_loss, 0.2f, 0.8f), C2(bce_with_logits_loss, -2, 2),
    C2(kl_div_loss, -2, 0), C2(poisson_nll_loss, -1, 1), C2(gaussian_nll_loss, -2, 2), C2(gaussian_nll_var, 0.5f, 2),
    C2(hinge_embedding_loss, -2, 2), C2(margin_ranking_loss, -2, 2), C2(soft_margin_loss, -2, 2),
    C2(multilabel_soft_margin_loss, -2, 2), C2(multi_margin_loss, -2, 2), C2(multilabel_margin_loss, -2, 2),
    C2(cosine_embedding_loss, -2, 2), C2(triplet_margin_loss, -2, 2), {"ctc_loss", 3, {5, 2, 4, 0}, -2, 2, f_ctc_loss},
};

static const fo_case *g_case;

static tt_tensor *fanout_fn(tt_ctx *ctx, tt_tensor **in, void *user) {
    tt_tensor *x = in[0], *y = g_case->f(ctx, x);
    (void)user;
    if (!y) return NULL;
    if (tt_same_shape(x, y)) return tt_mul(ctx, y, x); /* the second consumer of x */
    return tt_mul(ctx, tt_sum(ctx, tt_mul(ctx, y, konst(ctx, y->ndim, y->shape, -1, 1, 61))),
                  tt_sum(ctx, tt_mul(ctx, x, konst(ctx, x->ndim, x->shape, 0.5f, 1.5f, 62))));
}

static void test_fanout_every_op(void) {
    tt_desc d = {0};
    tt_ctx ctx;
    size_t i, n = sizeof CASES / sizeof CASES[0];
    d.scratch_bytes = (size_t)8 << 20;
    d.seed = 5;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    for (i = 0; i < n; i++) {
        tt_gradcheck_report rep;
        tt_tensor *x;
        tt_result r;
        g_case = &CASES[i];
        tt_scratch_reset(&ctx);
        x = tt_requires_grad(&ctx, tt_tensor_rand(&ctx, CASES[i].ndim, CASES[i].shape, CASES[i].lo, CASES[i].hi));
        r = tt_gradcheck(&ctx, fanout_fn, 1, &x, NULL, NULL, &rep);
        CHECK_MSG(r == TT_OK, "%s: %s (element %zu analytic %g numeric %g) %s", CASES[i].name, tt_result_string(r),
                  rep.worst_index, rep.worst_analytic, rep.worst_numeric, tt_error_message(&ctx));
        tt_clear_error(&ctx);
    }
    printf("  %zu ops checked with fan-out\n", n);
    tt_ctx_free(&ctx);
}

int main(void) {
    RUN(test_fanout_every_op);
    TEST_EXIT();
}
