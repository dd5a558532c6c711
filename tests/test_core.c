/* Core: context, memory, tensors, autograd plumbing, errors. */
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"

static tt_tensor *fn_lin(tt_ctx *ctx, tt_tensor **in, void *user) {
    (void)user;
    return tt_relu(ctx, tt_add(ctx, tt_matmul(ctx, in[0], in[1]), in[2]));
}

static void test_gradcheck_matmul_add_relu(void) {
    tt_desc d = {0};
    tt_ctx ctx;
    int sa[2] = {3, 5}, sb[2] = {5, 4}, sc[1] = {4};
    tt_tensor *in[3];
    tt_gradcheck_report rep;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    in[0] = tt_requires_grad(&ctx, tt_tensor_randn(&ctx, 2, sa, 0, 1));
    in[1] = tt_requires_grad(&ctx, tt_tensor_randn(&ctx, 2, sb, 0, 1));
    in[2] = tt_requires_grad(&ctx, tt_tensor_randn(&ctx, 1, sc, 0, 1));
    CHECK(tt_gradcheck(&ctx, fn_lin, 3, in, NULL, NULL, &rep) == TT_OK);
    CHECK(rep.n_checked == 15 + 20 + 4);
    tt_ctx_free(&ctx);
}

static void test_shape_error_message(void) {
    tt_desc d = {0};
    tt_ctx ctx;
    int sa[2] = {2, 3}, sb[2] = {4, 3};
    tt_tensor *a, *b;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    a = tt_tensor_new(&ctx, 2, sa);
    b = tt_tensor_new(&ctx, 2, sb);
    CHECK(tt_add(&ctx, a, b) == NULL);
    CHECK(tt_error(&ctx) == TT_ERR_SHAPE);
    CHECK(strstr(tt_error_message(&ctx), "add") != NULL);
    CHECK(strstr(tt_error_message(&ctx), "[2,3]") != NULL);
    CHECK(strstr(tt_error_message(&ctx), "[4,3]") != NULL);
    /* NULL after an error propagates silently and keeps the first message */
    CHECK(tt_relu(&ctx, NULL) == NULL);
    CHECK(strstr(tt_error_message(&ctx), "add") != NULL);
    tt_ctx_free(&ctx);
}

int main(void) {
    RUN(test_gradcheck_matmul_add_relu);
    RUN(test_shape_error_message);
    TEST_EXIT();
}
