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
    CHECK(strcmp(tt_error_site(&ctx), "add") == 0);
    CHECK(tt_error_message(&ctx)[0] != 0); /* worded for people (names the shapes); not compared */
    /* NULL after an error propagates silently and keeps the first error and its site */
    CHECK(tt_relu(&ctx, NULL) == NULL);
    CHECK(tt_error(&ctx) == TT_ERR_SHAPE && strcmp(tt_error_site(&ctx), "add") == 0);
    tt_clear_error(&ctx);
    CHECK(tt_error(&ctx) == TT_OK && strcmp(tt_error_site(&ctx), "") == 0);
    tt_ctx_free(&ctx);
}

static void test_accumulation_and_modes(void) {
    tt_desc d;
    tt_ctx ctx;
    int s2[2] = {2, 2};
    float wv[4] = {1, 2, 3, 4}, xv[4] = {1, -1, 0.5f, 2};
    tt_tensor *w, *x, *y, *loss;
    size_t i;
    memset(&d, 0, sizeof d);
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    w = tt_param(&ctx, "w", 2, s2);
    CHECK(tt_tensor_set(&ctx, w, wv, 4) == TT_OK);
    x = tt_tensor_from(&ctx, 2, s2, xv);
    /* shared weight used twice: loss = sum(w*x) + sum(w*w) -> dL/dw = x + 2w */
    loss = tt_add(&ctx, tt_sum(&ctx, tt_mul(&ctx, w, x)), tt_sum(&ctx, tt_mul(&ctx, w, w)));
    CHECK(tt_backward(&ctx, loss) == TT_OK);
    for (i = 0; i < 4; i++) CHECK_CLOSE(w->grad[i], xv[i] + 2 * wv[i], 0, 1e-6);
    /* a second backward adds the same gradient again (accumulation until zeroed) */
    CHECK(tt_backward(&ctx, loss) == TT_OK);
    for (i = 0; i < 4; i++) CHECK_CLOSE(w->grad[i], 2 * (xv[i] + 2 * wv[i]), 0, 1e-6);
    tt_zero_grad(&ctx);
    for (i = 0; i < 4; i++) CHECK(w->grad[i] == 0);
    /* no-grad mode records nothing */
    CHECK(tt_set_grad_enabled(&ctx, 0) == 1);
    y = tt_mul(&ctx, w, x);
    CHECK(y && y->grad == NULL && y->node == NULL && !(y->flags & TT_REQUIRES_GRAD));
    CHECK(tt_backward(&ctx, tt_sum(&ctx, y)) == TT_ERR_STATE);
    tt_clear_error(&ctx);
    tt_set_grad_enabled(&ctx, 1);
    /* detach cuts the graph: gradient only through the live path */
    loss = tt_sum(&ctx, tt_mul(&ctx, tt_detach(&ctx, w), w));
    CHECK(tt_backward(&ctx, loss) == TT_OK);
    for (i = 0; i < 4; i++) CHECK_CLOSE(w->grad[i], wv[i], 0, 1e-6);
    /* backward on a non-scalar is refused with a message */
    tt_zero_grad(&ctx);
    CHECK(tt_backward(&ctx, tt_mul(&ctx, w, x)) == TT_ERR_STATE);
    CHECK(strcmp(tt_error_site(&ctx), "tt_backward") == 0);
    for (i = 0; i < 4; i++) CHECK(w->grad[i] == 0 && w->data[i] == wv[i]);
    tt_ctx_free(&ctx);
}

static void test_anomaly_mode(void) {
    tt_desc d;
    tt_ctx ctx;
    int s1[1] = {3};
    float v[3] = {1, 0, 2}, z[3] = {0, 0, 0};
    tt_tensor *a, *b, *q;
    memset(&d, 0, sizeof d);
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    a = tt_requires_grad(&ctx, tt_tensor_from(&ctx, 1, s1, v));
    b = tt_tensor_from(&ctx, 1, s1, z);
    /* without anomaly mode inf flows silently */
    q = tt__binary(&ctx, "div", TT__BIN_DIV, a, b);
    CHECK(q != NULL && tt_error(&ctx) == TT_OK);
    CHECK(tt_set_anomaly_mode(&ctx, 1) == 0);
    q = tt__binary(&ctx, "div", TT__BIN_DIV, a, b);
    CHECK(q == NULL && tt_error(&ctx) == TT_ERR_NONFINITE);
    CHECK(strcmp(tt_error_site(&ctx), "div") == 0);
    tt_clear_error(&ctx);
    /* backward anomaly: d/dx x^0.5 at x = 0 is inf while the forward value 0 is finite */
    b = tt_requires_grad(&ctx, tt_tensor_from(&ctx, 1, s1, z));
    q = tt_sum(&ctx, tt__binary(&ctx, "pow", TT__BIN_POW, b, tt_scalar(&ctx, 0.5f)));
    CHECK(q != NULL && tt_error(&ctx) == TT_OK);
    CHECK(tt_backward(&ctx, q) == TT_ERR_NONFINITE);
    CHECK(strcmp(tt_error_site(&ctx), "pow") == 0);
    tt_ctx_free(&ctx);
}

static void dummy_free(void *p, void *user) { (void)p; (void)user; }

static void test_bad_arguments(void) {
    tt_desc d;
    tt_ctx ctx;
    int bad[2] = {2, -1}, ok[2] = {2, 3}, many[7] = {1, 1, 1, 1, 1, 1, 1};
    memset(&d, 0, sizeof d);
    CHECK(tt_ctx_init(NULL, &d) == TT_ERR_INVALID_ARGS);
    CHECK(tt_ctx_init(&ctx, NULL) == TT_ERR_INVALID_ARGS);
    d.threads = -1;
    CHECK(tt_ctx_init(&ctx, &d) == TT_ERR_INVALID_ARGS);
    CHECK(strcmp(tt_error_site(&ctx), "tt_ctx_init") == 0);
    d.threads = 0;
    d.allocator.alloc = NULL;
    d.allocator.free = dummy_free;
    CHECK(tt_ctx_init(&ctx, &d) == TT_ERR_INVALID_ARGS);
    d.allocator.free = NULL;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    CHECK(tt_tensor_new(&ctx, 2, bad) == NULL && tt_error(&ctx) == TT_ERR_SHAPE);
    tt_clear_error(&ctx);
    CHECK(tt_tensor_new(&ctx, 7, many) == NULL && tt_error(&ctx) == TT_ERR_SHAPE);
    tt_clear_error(&ctx);
    CHECK(tt_tensor_from(&ctx, 2, ok, NULL) == NULL && tt_error(&ctx) == TT_ERR_INVALID_ARGS);
    tt_clear_error(&ctx);
    CHECK(tt_matmul(&ctx, tt_tensor_new(&ctx, 2, ok), tt_tensor_new(&ctx, 2, ok)) == NULL);
    CHECK(tt_error(&ctx) == TT_ERR_SHAPE && strcmp(tt_error_site(&ctx), "matmul") == 0);
    tt_clear_error(&ctx);
    CHECK(tt_init_uniform(&ctx, tt_tensor_new(&ctx, 2, ok), 1.0f, 0.0f) == TT_ERR_INVALID_ARGS);
    CHECK(tt_backward(&ctx, NULL) == TT_ERR_INVALID_ARGS); /* sticky error is returned first */
    tt_clear_error(&ctx);
    CHECK(tt_backward(&ctx, NULL) == TT_ERR_INVALID_ARGS);
    CHECK(strcmp(tt_result_string(TT_ERR_SHAPE), "shape mismatch") == 0);
    tt_ctx_free(&ctx);
}

/* batched and broadcast matmul against a direct loop */
static tt_tensor *fn_bmm(tt_ctx *ctx, tt_tensor **in, void *user) {
    (void)user;
    return tt_matmul(ctx, in[0], in[1]);
}

static void test_matmul_batched(void) {
    tt_desc d;
    tt_ctx ctx;
    int sa[3] = {3, 2, 4}, sb[2] = {4, 5}, sc[4] = {2, 1, 3, 4}, sd[3] = {3, 4, 2};
    tt_tensor *in[2], *y;
    int b, i, j, p;
    memset(&d, 0, sizeof d);
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    in[0] = tt_requires_grad(&ctx, tt_tensor_randn(&ctx, 3, sa, 0, 1));
    in[1] = tt_requires_grad(&ctx, tt_tensor_randn(&ctx, 2, sb, 0, 1));
    y = tt_matmul(&ctx, in[0], in[1]);
    CHECK(y && y->ndim == 3 && y->shape[0] == 3 && y->shape[1] == 2 && y->shape[2] == 5);
    for (b = 0; b < 3; b++)
        for (i = 0; i < 2; i++)
            for (j = 0; j < 5; j++) {
                double s = 0;
                for (p = 0; p < 4; p++) s += (double)in[0]->data[b * 8 + i * 4 + p] * in[1]->data[p * 5 + j];
                CHECK_CLOSE(y->data[b * 10 + i * 5 + j], s, 1e-5, 1e-5);
            }
    CHECK(tt_gradcheck(&ctx, fn_bmm, 2, in, NULL, NULL, NULL) == TT_OK);
    /* (2,1,3,4) x (3,4,2): batch dims broadcast to (2,3) */
    in[0] = tt_requires_grad(&ctx, tt_tensor_randn(&ctx, 4, sc, 0, 1));
    in[1] = tt_requires_grad(&ctx, tt_tensor_randn(&ctx, 3, sd, 0, 1));
    y = tt_matmul(&ctx, in[0], in[1]);
    CHECK(y && y->ndim == 4 && y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == 3 && y->shape[3] == 2);
    CHECK(tt_gradcheck(&ctx, fn_bmm, 2, in, NULL, NULL, NULL) == TT_OK);
    tt_ctx_free(&ctx);
}

static tt_tensor *fn_bcast(tt_ctx *ctx, tt_tensor **in, void *user) {
    (void)user;
    return tt_mul(ctx, tt_add(ctx, in[0], in[1]), in[1]);
}

static void test_broadcast_grads(void) {
    tt_desc d;
    tt_ctx ctx;
    int sa[3] = {2, 3, 1}, sb[2] = {1, 4}, sc[1] = {1}, sd[3] = {5, 1, 7};
    tt_tensor *in[2];
    memset(&d, 0, sizeof d);
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    in[0] = tt_requires_grad(&ctx, tt_tensor_randn(&ctx, 3, sa, 0, 1));
    in[1] = tt_requires_grad(&ctx, tt_tensor_randn(&ctx, 2, sb, 0, 1));
    CHECK(tt_gradcheck(&ctx, fn_bcast, 2, in, NULL, NULL, NULL) == TT_OK);
    in[0] = tt_requires_grad(&ctx, tt_tensor_randn(&ctx, 3, sd, 0, 1));
    in[1] = tt_requires_grad(&ctx, tt_tensor_randn(&ctx, 1, sc, 0, 1));
    CHECK(tt_gradcheck(&ctx, fn_bcast, 2, in, NULL, NULL, NULL) == TT_OK);
    tt_ctx_free(&ctx);
}

/* the checker itself must catch a wrong gradient */
static void tt__bad_backward(tt_ctx *ctx, tt__node *n) {
    size_t i;
    (void)ctx;
    for (i = 0; i < n->out->numel; i++) n->in[0]->grad[i] += 1.1f * n->out->grad[i] * 2.0f * n->in[0]->data[i];
}
static tt_tensor *fn_bad_square(tt_ctx *ctx, tt_tensor **in, void *user) {
    tt_tensor *x = in[0], *y;
    size_t i;
    (void)user;
    y = tt__out(ctx, "bad_square", x->ndim, x->shape, x, NULL, NULL);
    if (!y) return NULL;
    for (i = 0; i < x->numel; i++) y->data[i] = x->data[i] * x->data[i];
    if (y->node) y->node->backward = tt__bad_backward;
    return tt__done(ctx, y);
}

static void test_gradcheck_catches_errors(void) {
    tt_desc d;
    tt_ctx ctx;
    int s[1] = {6};
    tt_tensor *in[1];
    tt_gradcheck_report rep;
    memset(&d, 0, sizeof d);
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    in[0] = tt_requires_grad(&ctx, tt_tensor_rand(&ctx, 1, s, 0.5f, 2.0f));
    CHECK(tt_gradcheck(&ctx, fn_bad_square, 1, in, NULL, NULL, &rep) == TT_ERR_GRADCHECK);
    CHECK(rep.worst_excess > 0 && rep.worst_input == 0);
    CHECK_CLOSE(rep.worst_analytic / rep.worst_numeric, 1.1, 1e-2, 0);
    tt_ctx_free(&ctx);
}

/* The CRC-32 check value of "123456789" (the catalogue's CRC-32/ISO-HDLC entry) and zlib.crc32 of
   the pangram, computed by Python: both are independent of this code. Chaining must equal one call. */
static void test_crc32_check_values(void) {
    const char *a = "123456789", *b = "The quick brown fox jumps over the lazy dog";
    CHECK(tt_crc32(0, a, 9) == 0xCBF43926u);
    CHECK(tt_crc32(0, b, strlen(b)) == 0x414FA339u);
    CHECK(tt_crc32(tt_crc32(0, b, 10), b + 10, strlen(b) - 10) == 0x414FA339u);
    CHECK(tt_crc32(0, a, 0) == 0u);
}

/* ---------------------------------------------------------------- private helpers
   Checks that need the implementation's private (tt__) names. They live here, in the one test
   that always compiles the implementation in its own translation unit, so that the tests they
   belong to (test_layers, test_misuse, test_safetensors, test_optim) link against
   build/tinytrain.o instead of compiling the library again (see the Makefile). */

/* inverse error function (trunc_normal's sampler, tests/test_layers.c); values from scipy */
static void test_erfinv_values(void) {
    CHECK_CLOSE(tt__erfinv(0.5), 0.4769362762044699, 1e-14, 0);
    CHECK_CLOSE(tt__erfinv(-0.999), -2.326753765513525, 1e-12, 0);
}

/* The message formatter never trusts a header's ndim (it printed past shape[] before). */
static void test_format_bad_ndim(void) {
    tt_ctx ctx;
    tt_tensor bad;
    tt_desc d;
    memset(&d, 0, sizeof d);
    d.max_params = 4096;
    d.max_param_tensors = 16;
    d.persist_bytes = 1 << 16;
    d.scratch_bytes = 1 << 12;
    d.small_matmul_workspace = 1;
    if (tt_ctx_init(&ctx, &d) != TT_OK) { CHECK(0); return; }
    memset(&bad, 0x7f, sizeof bad);
    tt__fail(&ctx, TT_ERR_SHAPE, "x %S", &bad);
    CHECK_MSG(strcmp(tt_error_message(&ctx), "x [?]") == 0, "%s", tt_error_message(&ctx));
    tt_ctx_free(&ctx);
}

/* Exactly representable half / bfloat16 values, subnormals, infinities. */
static void test_half_conversion(void) {
    CHECK(tt__half_to_float(0x3C00u) == 1.0f);
    CHECK(tt__half_to_float(0xC000u) == -2.0f);
    CHECK(tt__half_to_float(0x7BFFu) == 65504.0f);
    CHECK(tt__half_to_float(0x0001u) == 5.9604644775390625e-8f);   /* smallest subnormal, 2^-24 */
    CHECK(tt__half_to_float(0x03FFu) == 6.09755516052246094e-5f);  /* largest subnormal */
    CHECK(tt__half_to_float(0x0400u) == 6.103515625e-5f);          /* smallest normal, 2^-14 */
    CHECK(tt__half_to_float(0x3555u) == 0.333251953125f);
    CHECK(isinf(tt__half_to_float(0x7C00u)) && tt__half_to_float(0xFC00u) < 0);
    CHECK(isnan(tt__half_to_float(0x7E00u)));
    {
        unsigned char b[2] = {0x80, 0x3F}; /* bf16 1.0 */
        CHECK(tt__st_value(b, 2) == 1.0f);
    }
}

/* Every optimizer kind: tt_optim_init gives the state size its table row states, and the row
   sits at its kind's index (tests/test_optim.c runs each kind). */
static void test_optim_state_sizes(void) {
    int k;
    for (k = 1; k < TT_OPTIM_KIND_COUNT_; k++) {
        tt_ctx ctx;
        tt_desc d;
        tt_optim opt;
        tt_optim_desc od = tt_optim_desc_init((tt_optim_kind)k);
        int s[2] = {3, 4};
        memset(&d, 0, sizeof d);
        d.max_params = 64;
        d.persist_bytes = 1 << 16;
        d.scratch_bytes = 1 << 16;
        CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
        CHECK(tt_param(&ctx, "w", 2, s) != NULL); /* 2-D: Muon takes matrices only */
        CHECK_MSG(tt_optim_init(&ctx, &opt, &od) == TT_OK, "%s: %s", tt_optim_name((tt_optim_kind)k), tt_error_message(&ctx));
        CHECK(opt.n_state == tt__optim_table[k].n_state && tt__optim_table[k].kind == (tt_optim_kind)k);
        tt_ctx_free(&ctx);
    }
}

int main(void) {
    RUN(test_accumulation_and_modes);
    RUN(test_anomaly_mode);
    RUN(test_bad_arguments);
    RUN(test_matmul_batched);
    RUN(test_broadcast_grads);
    RUN(test_gradcheck_catches_errors);
    RUN(test_gradcheck_matmul_add_relu);
    RUN(test_shape_error_message);
    RUN(test_crc32_check_values);
    RUN(test_erfinv_values);
    RUN(test_format_bad_ndim);
    RUN(test_half_conversion);
    RUN(test_optim_state_sizes);
    TEST_EXIT();
}
