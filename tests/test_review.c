/* Review: behaviour shared by every op after the header clean-up.
   - tt_backward frees the scratch each backward takes (attention, GRU, conv) and never loses a
     tape node; a graph dropped by tt_scratch_rewind is refused, not walked;
   - grad mode is restored after backward;
   - a bad axis is TT_ERR_INVALID_ARGS in every op that takes one, the message names op and axis;
   - the shared softmax row kernel gives attention the same probabilities as tt_softmax. */
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"

static void init_ctx(tt_ctx *ctx) {
    tt_desc d;
    memset(&d, 0, sizeof d);
    CHECK(tt_ctx_init(ctx, &d) == TT_OK);
}

/* a loss through attention, a GRU cell and a conv: their backwards all take scratch */
static tt_tensor *build_loss(tt_ctx *ctx, tt_tensor *q, tt_tensor *w_ih, tt_tensor *w_hh, tt_tensor *cw) {
    int hs[2] = {3, 4}, xs[4] = {1, 1, 5, 6};
    tt_tensor *a = tt_attention(ctx, q, q, q, 1);                       /* (3, 5, 4) */
    tt_tensor *x = tt_reshape(ctx, tt_slice(ctx, a, 1, 0, 1, 1), 2, hs); /* (3, 4) */
    tt_rnn_cell_weights wts = {NULL, NULL, NULL, NULL};
    tt_tensor *h = NULL;
    int flat[1] = {60};
    tt_tensor *img, *c;
    wts.w_ih = w_ih;
    wts.w_hh = w_hh;
    tt_gru_cell(ctx, x, tt_tensor_new(ctx, 2, hs), &wts, &h);
    img = tt_reshape(ctx, tt_slice(ctx, tt_reshape(ctx, a, 1, flat), 0, 0, 30, 1), 4, xs);
    c = tt_conv2d(ctx, img, cw, NULL, NULL);
    return tt_add(ctx, tt_sum(ctx, h), tt_sum(ctx, c));
}

static void test_backward_scratch(void) {
    tt_ctx ctx;
    int qs[3] = {3, 5, 4}, ws[2] = {12, 4}, cs[4] = {2, 1, 3, 3};
    tt_tensor *q, *w_ih, *w_hh, *cw, *loss;
    size_t before;
    float g1, g2;
    init_ctx(&ctx);
    w_ih = tt_param(&ctx, "w_ih", 2, ws);
    w_hh = tt_param(&ctx, "w_hh", 2, ws);
    cw = tt_param(&ctx, "cw", 4, cs);
    CHECK(tt_init_normal(&ctx, w_ih, 0, 0.5f) == TT_OK && tt_init_normal(&ctx, w_hh, 0, 0.5f) == TT_OK);
    CHECK(tt_init_normal(&ctx, cw, 0, 0.5f) == TT_OK);
    q = tt_requires_grad(&ctx, tt_tensor_randn(&ctx, 3, qs, 0, 1));
    loss = build_loss(&ctx, q, w_ih, w_hh, cw);
    CHECK(loss != NULL);
    if (!loss) { tt_ctx_free(&ctx); return; }
    /* every backward temporary is given back: the scratch level is unchanged */
    before = tt_scratch_mark(&ctx);
    CHECK(tt_backward(&ctx, loss) == TT_OK);
    CHECK(tt_scratch_mark(&ctx) == before);
    g1 = q->grad[7];
    /* the tape is intact: a second backward adds exactly the same amount again */
    CHECK(tt_backward(&ctx, loss) == TT_OK);
    g2 = q->grad[7];
    CHECK(g1 != 0.0f && g2 == 2.0f * g1);
    /* grad mode is back on after backward */
    CHECK(tt_set_grad_enabled(&ctx, 1) == 1);
    tt_ctx_free(&ctx);
}

static void test_backward_after_rewind(void) {
    tt_ctx ctx;
    int s[2] = {2, 3};
    tt_tensor *x, *y;
    size_t mark;
    init_ctx(&ctx);
    x = tt_requires_grad(&ctx, tt_tensor_randn(&ctx, 2, s, 0, 1));
    mark = tt_scratch_mark(&ctx);
    y = tt_sum(&ctx, tt_relu(&ctx, x));
    CHECK(y != NULL);
    tt_scratch_rewind(&ctx, mark); /* drops y's nodes */
    CHECK(tt_backward(&ctx, y) == TT_ERR_STATE);
    CHECK(strcmp(tt_error_site(&ctx), "tt_backward") == 0); /* its message names tt_scratch_rewind */
    tt_ctx_free(&ctx);
}

#define EXPECT_AXIS_ERR(call, op)                                                                         \
    do {                                                                                                  \
        tt_clear_error(&ctx);                                                                             \
        CHECK_MSG((call) == NULL && tt_error(&ctx) == TT_ERR_INVALID_ARGS, "%s: code %d", #call,          \
                  (int)tt_error(&ctx));                                                                   \
        CHECK_MSG(strcmp(tt_error_site(&ctx), op) == 0, "%s: site '%s' (message '%s')", #call,            \
                  tt_error_site(&ctx), tt_error_message(&ctx));                                           \
    } while (0)

static void test_bad_axis_code(void) {
    tt_ctx ctx;
    int s[2] = {2, 3}, idx[1] = {0};
    tt_tensor *x, *xs[2];
    init_ctx(&ctx);
    x = tt_tensor_randn(&ctx, 2, s, 0, 1);
    xs[0] = xs[1] = x;
    EXPECT_AXIS_ERR(tt_sum_axis(&ctx, x, 2, 0), "sum_axis");
    EXPECT_AXIS_ERR(tt_max_axis(&ctx, x, -3, 0), "max_axis");
    EXPECT_AXIS_ERR(tt_softmax(&ctx, x, 2), "softmax");
    EXPECT_AXIS_ERR(tt_log_softmax(&ctx, x, -3), "log_softmax");
    EXPECT_AXIS_ERR(tt_slice(&ctx, x, 2, 0, 1, 1), "slice");
    EXPECT_AXIS_ERR(tt_concat(&ctx, 2, xs, 2), "concat");
    EXPECT_AXIS_ERR(tt_index_select(&ctx, x, 5, 1, idx), "index_select");
    tt_ctx_free(&ctx);
}

/* attention with v = identity returns its probabilities P = softmax(scale q k^T) exactly (one
   product per output, the rest adds zeros); the scores come from the same sgemm call shape, so
   P must match tt_softmax of tt_matmul(q, k^T) * scale to float rounding of the scores:
   tolerance 1e-6 absolute on values in [0, 1]. */
static void test_attention_softmax_agree(void) {
    tt_ctx ctx;
    int qs[2] = {4, 3}, is[2] = {5, 5}, ks[2] = {5, 3};
    tt_tensor *q, *k, *eye, *p, *ref;
    int i;
    init_ctx(&ctx);
    q = tt_tensor_randn(&ctx, 2, qs, 0, 1);
    k = tt_tensor_randn(&ctx, 2, ks, 0, 1);
    eye = tt_tensor_new(&ctx, 2, is);
    for (i = 0; i < 5; i++) eye->data[i * 5 + i] = 1.0f;
    p = tt_attention_ex(&ctx, q, k, eye, 0, 0.5f);
    ref = tt_softmax(&ctx, tt_scale(&ctx, tt_matmul(&ctx, q, tt_transpose(&ctx, k, 0, 1)), 0.5f), 1);
    CHECK(p != NULL && ref != NULL);
    if (p && ref)
        for (i = 0; i < 20; i++) CHECK_CLOSE(p->data[i], ref->data[i], 1e-6, 0);
    tt_ctx_free(&ctx);
}

int main(void) {
    RUN(test_backward_scratch);
    RUN(test_backward_after_rewind);
    RUN(test_bad_axis_code);
    RUN(test_attention_softmax_agree);
    TEST_EXIT();
}
