/* Misuse that must be refused cleanly (each test failed, crashed or corrupted memory before the
   checks it covers were added; this file also runs under ASan+UBSan):
   - tensors kept past tt_scratch_reset / tt_scratch_rewind ("stale"), or from another context;
   - an optimizer stepped with a context other than its own;
   - a failing tt_backward must leave parameter gradients exactly as they were;
   - zero-size dimensions in forward and backward of every op;
   - sizes that overflow int / size_t (conv output, tt_shape_numel, tt_desc.threads);
   - tt_sgemm_naive with alpha == 0 must not read A or B. */
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"
#include <limits.h>
#include <stdint.h>

static int small_ctx(tt_ctx *ctx, size_t scratch) {
    tt_desc d;
    memset(&d, 0, sizeof d);
    d.max_params = 4096;
    d.max_param_tensors = 16;
    d.persist_bytes = 1 << 16;
    d.scratch_bytes = scratch;
    d.small_matmul_workspace = 1;
    return tt_ctx_init(ctx, &d) == TT_OK;
}

static int has(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

/* A scratch tensor whose data bytes are all `byte`: laid over freed headers it makes them
   garbage (0x7f: ndim 2139062143, pointers 0x7f7f...). */
static tt_tensor *garbage(tt_ctx *ctx, int n, unsigned char byte) {
    static float buf[8192];
    int s[1];
    s[0] = n;
    memset(buf, byte, sizeof buf);
    return tt_tensor_from(ctx, 1, s, buf);
}

/* ---- 1. stale tensors ---- */

/* The loop mistake: the loss of the previous step is backpropagated after the next forward
   pass. Before: heap-buffer-overflow in tt__putshape, segfaults or a silent TT_OK. */
static void test_stale_loss_after_next_forward(void) {
    tt_ctx ctx;
    int ws[2] = {3, 2}, xs[2] = {4, 3};
    tt_tensor *w, *x, *loss;
    size_t i;
    if (!small_ctx(&ctx, 1 << 16)) { CHECK(0); return; }
    w = tt_param(&ctx, "w", 2, ws);
    tt_init_const(&ctx, w, 0.5f);
    tt_scratch_reset(&ctx);
    x = tt_tensor_full(&ctx, 2, xs, 1.0f);
    loss = tt_sum(&ctx, tt_matmul(&ctx, x, w));
    CHECK(loss != NULL);
    tt_scratch_reset(&ctx);
    CHECK(garbage(&ctx, 4096, 0x7f) != NULL); /* the next step's data now covers the old headers */
    tt_zero_grad(&ctx);
    CHECK(tt_backward(&ctx, loss) == TT_ERR_STATE);
    CHECK_MSG(has(tt_error_message(&ctx), "earlier step"), "message: %s", tt_error_message(&ctx));
    for (i = 0; i < w->numel; i++) CHECK(w->grad[i] == 0.0f);
    tt_clear_error(&ctx);
    /* the same without anything allocated over it */
    tt_scratch_reset(&ctx);
    x = tt_tensor_full(&ctx, 2, xs, 1.0f);
    loss = tt_sum(&ctx, tt_matmul(&ctx, x, w));
    tt_scratch_reset(&ctx);
    CHECK(tt_backward(&ctx, loss) == TT_ERR_STATE);
    tt_clear_error(&ctx);
    /* a fresh step works */
    x = tt_tensor_full(&ctx, 2, xs, 1.0f);
    loss = tt_sum(&ctx, tt_matmul(&ctx, x, w));
    CHECK(tt_backward(&ctx, loss) == TT_OK);
    CHECK(w->grad[0] == 4.0f);
    tt_ctx_free(&ctx);
}

typedef tt_tensor *(*op1_fn)(tt_ctx *ctx, tt_tensor *stale, tt_tensor *fresh);
static tt_tensor *o_add_l(tt_ctx *c, tt_tensor *s, tt_tensor *f) { return tt_add(c, s, f); }
static tt_tensor *o_add_r(tt_ctx *c, tt_tensor *s, tt_tensor *f) { return tt_add(c, f, s); }
static tt_tensor *o_mul(tt_ctx *c, tt_tensor *s, tt_tensor *f) { return tt_mul(c, f, s); }
static tt_tensor *o_relu(tt_ctx *c, tt_tensor *s, tt_tensor *f) { (void)f; return tt_relu(c, s); }
static tt_tensor *o_sum(tt_ctx *c, tt_tensor *s, tt_tensor *f) { (void)f; return tt_sum(c, s); }
static tt_tensor *o_exp(tt_ctx *c, tt_tensor *s, tt_tensor *f) { (void)f; return tt_exp(c, s); }
static tt_tensor *o_mean_axis(tt_ctx *c, tt_tensor *s, tt_tensor *f) { (void)f; return tt_mean_axis(c, s, 0, 0); }
static tt_tensor *o_softmax(tt_ctx *c, tt_tensor *s, tt_tensor *f) { (void)f; return tt_softmax(c, s, -1); }
static tt_tensor *o_reshape(tt_ctx *c, tt_tensor *s, tt_tensor *f) { int sh[1] = {-1}; (void)f; return tt_reshape(c, s, 1, sh); }
static tt_tensor *o_transpose(tt_ctx *c, tt_tensor *s, tt_tensor *f) { (void)f; return tt_transpose(c, s, 0, 1); }
static tt_tensor *o_matmul(tt_ctx *c, tt_tensor *s, tt_tensor *f) { return tt_matmul(c, f, s); }
static tt_tensor *o_linear_b(tt_ctx *c, tt_tensor *s, tt_tensor *f) { return tt_linear(c, f, f, s); }
static tt_tensor *o_layernorm_w(tt_ctx *c, tt_tensor *s, tt_tensor *f) { return tt_layernorm(c, f, 1, s, NULL, 0); }
static tt_tensor *o_bn_stats(tt_ctx *c, tt_tensor *s, tt_tensor *f) { return tt_batchnorm(c, f, NULL, NULL, s, s, NULL); }
static tt_tensor *o_mse(tt_ctx *c, tt_tensor *s, tt_tensor *f) { return tt_mse_loss(c, f, s, TT_REDUCTION_MEAN); }
static tt_tensor *o_bce_w(tt_ctx *c, tt_tensor *s, tt_tensor *f) { return tt_bce_loss(c, f, f, s, TT_REDUCTION_MEAN); }
static tt_tensor *o_concat(tt_ctx *c, tt_tensor *s, tt_tensor *f) { tt_tensor *xs[2]; xs[0] = f; xs[1] = s; return tt_concat(c, 2, xs, 0); }
static tt_tensor *o_requires_grad(tt_ctx *c, tt_tensor *s, tt_tensor *f) { (void)f; return tt_requires_grad(c, s); }
static tt_tensor *o_detach(tt_ctx *c, tt_tensor *s, tt_tensor *f) { (void)f; return tt_detach(c, s); }
static tt_tensor *o_clone(tt_ctx *c, tt_tensor *s, tt_tensor *f) { (void)f; return tt_clone(c, s); }
static tt_tensor *o_init(tt_ctx *c, tt_tensor *s, tt_tensor *f) { (void)f; return tt_init_const(c, s, 1.0f) == TT_OK ? s : NULL; }
static tt_tensor *o_set(tt_ctx *c, tt_tensor *s, tt_tensor *f) { float v[4] = {0}; (void)f; return tt_tensor_set(c, s, v, 4) == TT_OK ? s : NULL; }
static tt_tensor *o_seed(tt_ctx *c, tt_tensor *s, tt_tensor *f) { float v[4] = {1, 1, 1, 1}; (void)f; return tt_backward_seed(c, s, v) == TT_OK ? s : NULL; }

/* Every kind of op input (first, second, optional, variadic, running statistics) refuses a
   tensor from an earlier step whose header now lies under other data. Before: segfaults or
   garbage reads (ASan: heap-buffer-overflow). */
static void test_stale_input_refused_by_every_op(void) {
    static const struct { const char *name; op1_fn fn; } ops[] = {
        {"add(stale, x)", o_add_l}, {"add(x, stale)", o_add_r}, {"mul", o_mul}, {"relu", o_relu}, {"sum", o_sum},
        {"exp", o_exp}, {"mean_axis", o_mean_axis}, {"softmax", o_softmax}, {"reshape", o_reshape},
        {"transpose", o_transpose}, {"matmul", o_matmul}, {"linear bias", o_linear_b}, {"layernorm weight", o_layernorm_w},
        {"batchnorm running stats", o_bn_stats}, {"mse target", o_mse}, {"bce weight", o_bce_w}, {"concat", o_concat},
        {"requires_grad", o_requires_grad}, {"detach", o_detach}, {"clone", o_clone}, {"init_const", o_init},
        {"tensor_set", o_set}, {"backward_seed", o_seed}};
    tt_ctx ctx;
    int s2[2] = {2, 2};
    size_t k;
    if (!small_ctx(&ctx, 1 << 17)) { CHECK(0); return; }
    for (k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        tt_tensor *stale, *fresh, *y;
        unsigned char byte;
        for (byte = 0; byte < 2; byte++) { /* garbage 0x7f..., and zeros (a NULL-looking header) */
            tt_scratch_reset(&ctx);
            CHECK(tt_scalar(&ctx, 0.0f) != NULL); /* so that `stale` does not start the region */
            stale = tt_requires_grad(&ctx, tt_tensor_full(&ctx, 2, s2, 0.5f));
            CHECK(stale != NULL);
            tt_scratch_reset(&ctx);
            CHECK(garbage(&ctx, 4096, byte ? 0x00 : 0x7f) != NULL);
            fresh = tt_tensor_full(&ctx, 2, s2, 0.25f);
            y = ops[k].fn(&ctx, stale, fresh);
            CHECK_MSG(y == NULL && tt_error(&ctx) == TT_ERR_STATE, "%s: result %p, error %d (%s)", ops[k].name, (void *)y,
                      (int)tt_error(&ctx), tt_error_message(&ctx));
            CHECK_MSG(has(tt_error_message(&ctx), "earlier step"), "%s: %s", ops[k].name, tt_error_message(&ctx));
            tt_clear_error(&ctx);
        }
    }
    tt_ctx_free(&ctx);
}

/* tt_scratch_rewind: tensors made before the mark stay valid, those after it are refused, with
   or without new data over them. */
static void test_rewind_keeps_older_tensors(void) {
    tt_ctx ctx;
    int s2[2] = {2, 2}, s64[1] = {64};
    size_t mark;
    tt_tensor *a, *b, *y;
    if (!small_ctx(&ctx, 1 << 16)) { CHECK(0); return; }
    tt_scratch_reset(&ctx);
    a = tt_requires_grad(&ctx, tt_tensor_full(&ctx, 2, s2, 1.0f));
    mark = tt_scratch_mark(&ctx);
    CHECK(tt_scalar(&ctx, 0.0f) != NULL); /* b is not the first header above the mark */
    b = tt_tensor_full(&ctx, 2, s2, 2.0f);
    y = tt_add(&ctx, a, b);
    CHECK(y != NULL);
    tt_scratch_rewind(&ctx, mark);
    CHECK(tt_relu(&ctx, b) == NULL && tt_error(&ctx) == TT_ERR_STATE); /* above the fill level */
    tt_clear_error(&ctx);
    tt_scratch_rewind(&ctx, mark);
    CHECK(tt_tensor_new(&ctx, 1, s64) != NULL); /* header, then zeroed data over b's old place */
    CHECK(tt_relu(&ctx, b) == NULL && tt_error(&ctx) == TT_ERR_STATE);
    tt_clear_error(&ctx);
    CHECK(tt_backward(&ctx, tt_sum(&ctx, y)) == TT_ERR_STATE); /* y is from before the rewind too */
    tt_clear_error(&ctx);
    y = tt_sum(&ctx, tt_mul(&ctx, a, a));
    CHECK(y != NULL && tt_backward(&ctx, y) == TT_OK);
    CHECK(a->grad[0] == 2.0f);
    tt_ctx_free(&ctx);
}

/* Found by fuzz_api: tt_requires_grad on a tensor made before a mark takes its grad above the
   mark; after tt_scratch_rewind the grad pointed into memory given to the next tensors, and a
   backward wrote into their data. The rewind now takes that grad away. */
static void test_rewind_drops_late_grad(void) {
    tt_ctx ctx;
    int s4[1] = {4};
    size_t mark, i;
    tt_tensor *a, *b;
    if (!small_ctx(&ctx, 1 << 16)) { CHECK(0); return; }
    tt_scratch_reset(&ctx);
    a = tt_tensor_full(&ctx, 1, s4, 3.0f);
    mark = tt_scratch_mark(&ctx);
    CHECK(tt_requires_grad(&ctx, a) == a && a->grad != NULL);
    tt_scratch_rewind(&ctx, mark);
    CHECK(a->grad == NULL && !(a->flags & TT_REQUIRES_GRAD));
    b = tt_tensor_full(&ctx, 1, s4, 1.0f);
    CHECK(tt_requires_grad(&ctx, a) == a); /* a gets a fresh grad */
    CHECK(tt_backward(&ctx, tt_sum(&ctx, tt_mul(&ctx, a, b))) == TT_OK);
    for (i = 0; i < 4; i++) CHECK(b->data[i] == 1.0f && a->grad[i] == 1.0f && a->data[i] == 3.0f);
    tt_ctx_free(&ctx);
}

/* Found by fuzz_api: a tensor creation that ran out of scratch after taking its header left a
   header of the current step with no shape at the old address of a kept tensor, which was then
   accepted (ndim 0, numel 0). */
static void test_half_made_header_not_live(void) {
    tt_ctx ctx;
    int s1[1] = {1}, big[1] = {100000};
    tt_tensor *old;
    if (!small_ctx(&ctx, 2048)) { CHECK(0); return; }
    old = tt_tensor_new(&ctx, 1, s1);
    tt_scratch_reset(&ctx);
    CHECK(tt_tensor_new(&ctx, 1, big) == NULL && tt_error(&ctx) == TT_ERR_OUT_OF_MEMORY); /* header at old's address */
    tt_clear_error(&ctx);
    CHECK(tt_requires_grad(&ctx, old) == NULL && tt_error(&ctx) == TT_ERR_STATE);
    tt_ctx_free(&ctx);
}

/* Parameters and buffers are never stale; tensors of another context are refused. */
static void test_params_live_foreign_refused(void) {
    tt_ctx a, b;
    int s2[2] = {2, 2};
    tt_tensor *p, *buf, *ta;
    int i;
    if (!small_ctx(&a, 1 << 16) || !small_ctx(&b, 1 << 16)) { CHECK(0); return; }
    p = tt_param(&a, "p", 2, s2);
    buf = tt_buffer(&a, "buf", 2, s2);
    for (i = 0; i < 3; i++) {
        tt_scratch_reset(&a);
        CHECK(garbage(&a, 256, 0x7f) != NULL);
        CHECK(tt_add(&a, p, buf) != NULL && tt_error(&a) == TT_OK);
    }
    ta = tt_tensor_full(&a, 2, s2, 1.0f);
    CHECK(tt_relu(&b, ta) == NULL && tt_error(&b) == TT_ERR_STATE);
    CHECK_MSG(has(tt_error_message(&b), "did not make"), "%s", tt_error_message(&b));
    tt_clear_error(&b);
    CHECK(tt_add(&b, p, p) == NULL && tt_error(&b) == TT_ERR_STATE); /* a's parameter in b */
    tt_ctx_free(&a);
    tt_ctx_free(&b);
}

/* The message formatter's guard against a bad ndim (tt__fail, private) is checked in
   tests/test_core.c. */

/* ---- 2. an optimizer belongs to its context ---- */

/* Before: a second context with at least as many parameters had its weights updated by the
   first one's optimizer, and Adam read and wrote past its state (heap-buffer-overflow). */
static void test_optimizer_other_context_refused(void) {
    tt_ctx a, b;
    tt_optim opt;
    tt_optim_desc od;
    int sa[1] = {4}, sb[1] = {64};
    tt_tensor *pb;
    float before[64], buf[1024];
    size_t i;
    if (!small_ctx(&a, 1 << 14) || !small_ctx(&b, 1 << 14)) { CHECK(0); return; }
    CHECK(tt_param(&a, "pa", 1, sa) != NULL);
    pb = tt_param(&b, "pb", 1, sb);
    tt_init_const(&b, pb, 1.0f);
    for (i = 0; i < pb->numel; i++) pb->grad[i] = 1.0f;
    memcpy(before, pb->data, sizeof before);
    od = tt_optim_desc_init(TT_OPTIM_ADAM);
    CHECK(tt_optim_init(&a, &opt, &od) == TT_OK);
    CHECK(tt_optim_step(&b, &opt) == TT_ERR_STATE);
    CHECK_MSG(has(tt_error_message(&b), "another context"), "%s", tt_error_message(&b));
    CHECK(memcmp(before, pb->data, sizeof before) == 0);
    tt_clear_error(&b);
    CHECK(tt_optim_set_lr(&b, &opt, 0, 0.5f) == TT_ERR_STATE);
    tt_clear_error(&b);
    CHECK(tt_optim_state_save(&b, &opt, buf, sizeof buf) == TT_ERR_STATE);
    tt_clear_error(&b);
    CHECK(tt_optim_state_load(&b, &opt, buf, sizeof buf) == TT_ERR_STATE);
    tt_clear_error(&b);
    CHECK(tt_optim_step(&a, &opt) == TT_OK); /* its own context still works */
    tt_ctx_free(&a);
    tt_ctx_free(&b);
}

/* ---- 3. all-or-nothing backward ---- */

/* loss = sum(sqrt(w2 * 0)) + sum(w1 * x): the backward pass reaches w1 first, then sqrt's
   gradient at 0 is inf and anomaly mode stops it. Before: w1's gradient stayed accumulated. */
static void test_backward_all_or_nothing_anomaly(void) {
    tt_ctx ctx;
    int s[1] = {3};
    tt_tensor *w1, *w2, *loss;
    float g1[3], g2[3];
    int pass;
    if (!small_ctx(&ctx, 1 << 16)) { CHECK(0); return; }
    w1 = tt_param(&ctx, "w1", 1, s);
    w2 = tt_param(&ctx, "w2", 1, s);
    tt_init_const(&ctx, w1, 1.0f);
    tt_init_const(&ctx, w2, 1.0f);
    tt_zero_grad(&ctx);
    for (pass = 0; pass < 2; pass++) { /* zeroed gradients, then accumulated ones */
        tt_tensor *zero, *x;
        if (pass == 1) { /* one good backward first: gradients now 2, 2, 2 for w1 */
            tt_scratch_reset(&ctx);
            x = tt_tensor_full(&ctx, 1, s, 2.0f);
            CHECK(tt_backward(&ctx, tt_sum(&ctx, tt_mul(&ctx, w1, x))) == TT_OK);
            w2->grad[1] = -7.0f;
        }
        memcpy(g1, w1->grad, sizeof g1);
        memcpy(g2, w2->grad, sizeof g2);
        tt_scratch_reset(&ctx);
        tt_set_anomaly_mode(&ctx, 1);
        zero = tt_tensor_full(&ctx, 1, s, 0.0f);
        x = tt_tensor_full(&ctx, 1, s, 2.0f);
        loss = tt_add(&ctx, tt_sum(&ctx, tt_sqrt(&ctx, tt_mul(&ctx, w2, zero))), tt_sum(&ctx, tt_mul(&ctx, w1, x)));
        CHECK(loss != NULL);
        CHECK(tt_backward(&ctx, loss) == TT_ERR_NONFINITE);
        CHECK_MSG(has(tt_error_message(&ctx), "backward pass"), "%s", tt_error_message(&ctx));
        CHECK_MSG(same_bits(g1, w1->grad, 3) && same_bits(g2, w2->grad, 3), "pass %d: w1.grad %g %g %g", pass,
                  (double)w1->grad[0], (double)w1->grad[1], (double)w1->grad[2]);
        tt_clear_error(&ctx);
        tt_set_anomaly_mode(&ctx, 0);
    }
    tt_ctx_free(&ctx);
}

/* conv2d backward needs scratch temporaries; a context with just enough scratch for the forward
   pass fails there, after the linear layer's backward has run. Before: the linear parameters'
   gradients stayed accumulated. */
static tt_tensor *conv_net(tt_ctx *ctx, tt_tensor *w, tt_tensor *lw) {
    int xs[4] = {2, 2, 8, 8}, fs[2] = {2, 72};
    tt_conv_opts co;
    tt_tensor *x = tt_tensor_full(ctx, 4, xs, 0.5f), *h;
    co = tt_conv_opts_init();
    h = tt_reshape(ctx, tt_conv2d(ctx, x, w, NULL, &co), 2, fs);
    return tt_sum(ctx, tt_linear(ctx, h, lw, NULL));
}

static void test_backward_all_or_nothing_out_of_memory(void) {
    int ws[4] = {2, 2, 3, 3}, ls[2] = {4, 72}, accumulate;
    size_t fwd;
    for (accumulate = 0; accumulate < 2; accumulate++) {
        tt_ctx ctx;
        tt_tensor *w, *lw, *loss;
        static float gw[36], gl[4 * 72];
        /* measure the forward pass's scratch, then make a context with exactly that much */
        if (!small_ctx(&ctx, 1 << 20)) { CHECK(0); return; }
        w = tt_param(&ctx, "w", 4, ws);
        lw = tt_param(&ctx, "lw", 2, ls);
        tt_scratch_reset(&ctx);
        CHECK(conv_net(&ctx, w, lw) != NULL);
        fwd = ctx.scratch.peak; /* the forward pass's temporaries included */
        tt_ctx_free(&ctx);
        if (!small_ctx(&ctx, fwd)) { CHECK(0); return; }
        w = tt_param(&ctx, "w", 4, ws);
        lw = tt_param(&ctx, "lw", 2, ls);
        tt_init_const(&ctx, w, 0.1f);
        tt_init_const(&ctx, lw, 0.1f);
        tt_zero_grad(&ctx);
        if (accumulate) { w->grad[0] = 3.0f; lw->grad[5] = -2.0f; } /* gradients written by hand: not known zero */
        if (accumulate) ctx.grads_zero = 0;
        memcpy(gw, w->grad, sizeof gw);
        memcpy(gl, lw->grad, sizeof gl);
        tt_scratch_reset(&ctx);
        loss = conv_net(&ctx, w, lw);
        CHECK(loss != NULL);
        CHECK(tt_backward(&ctx, loss) == TT_ERR_OUT_OF_MEMORY);
        CHECK_MSG(has(tt_error_message(&ctx), "tt_backward"), "%s", tt_error_message(&ctx));
        CHECK(same_bits(gw, w->grad, 36) && same_bits(gl, lw->grad, 4 * 72));
        tt_ctx_free(&ctx);
    }
}

/* ---- 4. zero-size dimensions ---- */

/* Before: tt_ctx_sgemm refused the empty dA / dB products with "invalid arguments". */
static void test_matmul_empty_contraction_backward(void) {
    tt_ctx ctx;
    int as[2] = {1, 0}, bs[2] = {0, 5}, i;
    tt_tensor *a, *b, *y;
    if (!small_ctx(&ctx, 1 << 16)) { CHECK(0); return; }
    a = tt_param(&ctx, "a", 2, as);
    b = tt_param(&ctx, "b", 2, bs);
    tt_scratch_reset(&ctx);
    y = tt_matmul(&ctx, a, b);
    CHECK(y && y->ndim == 2 && y->shape[0] == 1 && y->shape[1] == 5);
    for (i = 0; y && i < 5; i++) CHECK(y->data[i] == 0.0f); /* torch: zeros */
    CHECK_MSG(tt_backward(&ctx, tt_sum(&ctx, y)) == TT_OK, "%s", tt_error_message(&ctx));
    CHECK(a->numel == 0 && b->numel == 0);
    tt_ctx_free(&ctx);
}

/* Every op given an input with a zero-size dimension either returns a result whose element count
   matches its shape (and then backward of its sum works) or fails with a message: never a crash
   or a sanitizer report. Element-wise ops keep the shape, sum gives 0. */
typedef tt_tensor *(*zop_fn)(tt_ctx *ctx, tt_tensor *x);
static tt_tensor *z_relu(tt_ctx *c, tt_tensor *x) { return tt_relu(c, x); }
static tt_tensor *z_exp(tt_ctx *c, tt_tensor *x) { return tt_exp(c, x); }
static tt_tensor *z_gelu(tt_ctx *c, tt_tensor *x) { return tt_gelu(c, x); }
static tt_tensor *z_add(tt_ctx *c, tt_tensor *x) { return tt_add(c, x, x); }
static tt_tensor *z_div(tt_ctx *c, tt_tensor *x) { return tt_div(c, x, x); }
static tt_tensor *z_sum_axis(tt_ctx *c, tt_tensor *x) { return tt_sum_axis(c, x, 0, 1); }
static tt_tensor *z_mean_axis(tt_ctx *c, tt_tensor *x) { return tt_mean_axis(c, x, 1, 0); }
static tt_tensor *z_var_axis(tt_ctx *c, tt_tensor *x) { return tt_var_axis(c, x, 1, 1, 0); }
static tt_tensor *z_max_axis(tt_ctx *c, tt_tensor *x) { return tt_max_axis(c, x, 1, 0); }
static tt_tensor *z_softmax(tt_ctx *c, tt_tensor *x) { return tt_softmax(c, x, -1); }
static tt_tensor *z_log_softmax(tt_ctx *c, tt_tensor *x) { return tt_log_softmax(c, x, 0); }
static tt_tensor *z_transpose(tt_ctx *c, tt_tensor *x) { return tt_transpose(c, x, 0, 1); }
static tt_tensor *z_flatten(tt_ctx *c, tt_tensor *x) { return tt_flatten(c, x, 0); }
static tt_tensor *z_slice(tt_ctx *c, tt_tensor *x) { return tt_slice(c, x, 0, 0, 1, 1); }
static tt_tensor *z_concat(tt_ctx *c, tt_tensor *x) { tt_tensor *xs[2]; xs[0] = x; xs[1] = x; return tt_concat(c, 2, xs, 0); }
static tt_tensor *z_stack(tt_ctx *c, tt_tensor *x) { tt_tensor *xs[2]; xs[0] = x; xs[1] = x; return tt_stack(c, 2, xs, 0); }
static tt_tensor *z_matmul_l(tt_ctx *c, tt_tensor *x) { return tt_matmul(c, x, tt_transpose(c, x, 0, 1)); }
static tt_tensor *z_matmul_r(tt_ctx *c, tt_tensor *x) { return tt_matmul(c, tt_transpose(c, x, 0, 1), x); }
static tt_tensor *z_linear(tt_ctx *c, tt_tensor *x) { return tt_linear(c, x, tt_tensor_new(c, 2, (int[]){3, x->shape[1]}), NULL); }
static tt_tensor *z_layernorm(tt_ctx *c, tt_tensor *x) { return tt_layernorm(c, x, 1, NULL, NULL, 0); }
static tt_tensor *z_mse(tt_ctx *c, tt_tensor *x) { return tt_mse_loss(c, x, x, TT_REDUCTION_SUM); }
static tt_tensor *z_dropout(tt_ctx *c, tt_tensor *x) { return tt_dropout(c, x, 0.5f); }
static tt_tensor *z_clamp(tt_ctx *c, tt_tensor *x) { return tt_clamp(c, x, -1.0f, 1.0f); }
static tt_tensor *z_pad(tt_ctx *c, tt_tensor *x) { int p[4] = {1, 1, 0, 0}; return tt_pad(c, x, 4, p, 0.0f); }
static tt_tensor *z_index_select(tt_ctx *c, tt_tensor *x) { int i[1] = {0}; return tt_index_select(c, x, 1, 0, i); }
static tt_tensor *z_attention(tt_ctx *c, tt_tensor *x) { return tt_attention(c, x, x, x, 0); }

static void test_zero_size_every_op(void) {
    static const struct { const char *name; zop_fn fn; int same_shape; } ops[] = {
        {"relu", z_relu, 1}, {"exp", z_exp, 1}, {"gelu", z_gelu, 1}, {"add", z_add, 1}, {"div", z_div, 1},
        {"sum_axis", z_sum_axis, 0}, {"mean_axis", z_mean_axis, 0}, {"var_axis", z_var_axis, 0},
        {"max_axis", z_max_axis, 0}, {"softmax", z_softmax, 1}, {"log_softmax", z_log_softmax, 1},
        {"transpose", z_transpose, 0}, {"flatten", z_flatten, 0}, {"slice", z_slice, 0}, {"concat", z_concat, 0},
        {"stack", z_stack, 0}, {"matmul x xT", z_matmul_l, 0}, {"matmul xT x", z_matmul_r, 0}, {"linear", z_linear, 0},
        {"layernorm", z_layernorm, 1}, {"mse", z_mse, 0}, {"dropout", z_dropout, 1}, {"clamp", z_clamp, 1},
        {"pad", z_pad, 0}, {"index_select", z_index_select, 0}, {"attention", z_attention, 0}};
    static const int shapes[3][2] = {{0, 3}, {2, 0}, {0, 0}};
    tt_ctx ctx;
    size_t k;
    int si;
    if (!small_ctx(&ctx, 1 << 18)) { CHECK(0); return; }
    for (k = 0; k < sizeof ops / sizeof ops[0]; k++)
        for (si = 0; si < 3; si++) {
            int s[2];
            tt_tensor *x, *y;
            s[0] = shapes[si][0]; s[1] = shapes[si][1];
            tt_scratch_reset(&ctx);
            tt_clear_error(&ctx);
            x = tt_requires_grad(&ctx, tt_tensor_new(&ctx, 2, s));
            y = ops[k].fn(&ctx, x);
            if (!y) {
                CHECK_MSG(tt_error(&ctx) != TT_OK && tt_error_message(&ctx)[0], "%s [%d,%d]: NULL without error", ops[k].name,
                          s[0], s[1]);
                continue;
            }
            CHECK_MSG(tt_error(&ctx) == TT_OK, "%s [%d,%d]: %s", ops[k].name, s[0], s[1], tt_error_message(&ctx));
            CHECK_MSG(y->numel == tt_shape_numel(y->ndim, y->shape), "%s [%d,%d]", ops[k].name, s[0], s[1]);
            if (ops[k].same_shape) CHECK_MSG(tt_same_shape(x, y), "%s [%d,%d]: shape %d", ops[k].name, s[0], s[1], y->ndim);
            if (y->flags & TT_REQUIRES_GRAD) {
                tt_tensor *l = tt_sum(&ctx, y);
                CHECK_MSG(l && tt_backward(&ctx, l) == TT_OK, "%s [%d,%d] backward: %s", ops[k].name, s[0], s[1],
                          tt_error_message(&ctx));
            }
        }
    /* sum of nothing is 0, as torch */
    tt_scratch_reset(&ctx);
    tt_clear_error(&ctx);
    {
        int s[2] = {0, 3};
        tt_tensor *y = tt_sum(&ctx, tt_tensor_new(&ctx, 2, s));
        CHECK(y && y->data[0] == 0.0f);
    }
    tt_ctx_free(&ctx);
}

/* ---- 5. sizes computed in 64 bits must fit an int ---- */

/* Before: padding INT_MAX gave a [1,3,1,1] tensor with no error, 2^30-1 a negative size. */
static void test_conv_output_size_too_large(void) {
    tt_ctx ctx;
    int xs1[3] = {1, 1, 4}, ws1[3] = {3, 1, 1}, xs2[4] = {1, 1, 4, 4}, ws2[4] = {3, 1, 1, 1};
    int pads[2] = {INT_MAX, (1 << 30) - 1}, i;
    if (!small_ctx(&ctx, 1 << 16)) { CHECK(0); return; }
    for (i = 0; i < 2; i++) {
        tt_conv_opts o;
        tt_tensor *y;
        o = tt_conv_opts_init();
        o.padding[0] = pads[i];
        tt_scratch_reset(&ctx);
        y = tt_conv1d(&ctx, tt_tensor_new(&ctx, 3, xs1), tt_tensor_new(&ctx, 3, ws1), NULL, &o);
        CHECK(y == NULL && tt_error(&ctx) == TT_ERR_SHAPE);
        CHECK_MSG(has(tt_error_message(&ctx), "too large"), "%s", tt_error_message(&ctx));
        tt_clear_error(&ctx);
        o.padding[1] = pads[i];
        y = tt_conv2d(&ctx, tt_tensor_new(&ctx, 4, xs2), tt_tensor_new(&ctx, 4, ws2), NULL, &o);
        CHECK(y == NULL && tt_error(&ctx) == TT_ERR_SHAPE);
        CHECK_MSG(has(tt_error_message(&ctx), "too large"), "%s", tt_error_message(&ctx));
        tt_clear_error(&ctx);
    }
    tt_ctx_free(&ctx);
}

/* ---- 6. alpha == 0 reads neither A nor B ---- */
static void test_sgemm_naive_alpha_zero(void) {
    float a[4], b[4], c[4] = {1, 2, 3, 4};
    int i;
    for (i = 0; i < 4; i++) { a[i] = NAN; b[i] = INFINITY; }
    CHECK(tt_sgemm_naive(0, 0, 2, 2, 2, 0.0f, a, 2, b, 2, 2.0f, c, 2) == TT_OK);
    CHECK(c[0] == 2.0f && c[1] == 4.0f && c[2] == 6.0f && c[3] == 8.0f);
    CHECK(tt_sgemm_naive(0, 0, 2, 2, 2, 0.0f, a, 2, b, 2, 0.0f, c, 2) == TT_OK);
    for (i = 0; i < 4; i++) CHECK(c[i] == 0.0f);
    /* the fast kernel agrees */
    c[0] = 5.0f;
    CHECK(tt_sgemm(0, 0, 2, 2, 2, 0.0f, a, 2, b, 2, 1.0f, c, 2) == TT_OK && c[0] == 5.0f);
}

/* ---- 7. tt_shape_numel saturates; threads above TT_MAX_THREADS are refused ---- */
static void test_shape_numel_saturates(void) {
    int big[3] = {INT_MAX, INT_MAX, INT_MAX}, big0[4] = {INT_MAX, INT_MAX, INT_MAX, 0};
    int huge_empty[4] = {0, INT_MAX, INT_MAX, INT_MAX};
    tt_ctx ctx;
    CHECK(tt_shape_numel(3, big) == SIZE_MAX);
    CHECK(tt_shape_numel(4, big0) == 0);
    CHECK(tt_shape_numel(2, big) == (size_t)INT_MAX * (size_t)INT_MAX);
    if (!small_ctx(&ctx, 1 << 12)) { CHECK(0); return; }
    /* an empty tensor whose other dimensions multiply past SIZE_MAX / 4 is refused */
    CHECK(tt_tensor_new(&ctx, 4, huge_empty) == NULL && tt_error(&ctx) == TT_ERR_SHAPE);
    tt_clear_error(&ctx);
    tt_ctx_free(&ctx);
}

/* Found by fuzz_api: cross_entropy on logits [2^31-1, 2^31-1, 0, 2^31-1] looped 2^62 times over
   the empty tensor. An empty shape's nonzero dimensions may now multiply to at most the floats
   of the largest memory region. */
static void test_empty_shape_bounded(void) {
    int big[4] = {INT_MAX, INT_MAX, 0, INT_MAX}, fits[3] = {4, 0, 5}, edge[2] = {0, 16384}, over[2] = {0, 16385};
    int mid[4] = {INT_MAX, 2, 0, 3};
    tt_ctx ctx;
    tt_tensor *t;
    if (!small_ctx(&ctx, 1 << 12)) { CHECK(0); return; } /* largest region: persist, 1 << 16 bytes */
    CHECK(tt_tensor_new(&ctx, 4, big) == NULL && tt_error(&ctx) == TT_ERR_SHAPE);
    tt_clear_error(&ctx);
    CHECK(tt_tensor_new(&ctx, 4, mid) == NULL && tt_error(&ctx) == TT_ERR_SHAPE);
    CHECK_MSG(has(tt_error_message(&ctx), "empty shape too large"), "%s", tt_error_message(&ctx));
    tt_clear_error(&ctx);
    t = tt_tensor_new(&ctx, 3, fits);
    CHECK(t && t->numel == 0 && t->shape[2] == 5);
    CHECK(tt_tensor_new(&ctx, 2, edge) != NULL);
    /* a view cannot make one either (found by fuzz_api: reshape of a [4, 0] tensor) */
    CHECK(tt_reshape(&ctx, t, 4, big) == NULL && tt_error(&ctx) == TT_ERR_SHAPE);
    tt_clear_error(&ctx);
    CHECK(tt_tensor_new(&ctx, 2, over) == NULL && tt_error(&ctx) == TT_ERR_SHAPE);
    tt_ctx_free(&ctx);
}

static void test_threads_above_max_refused(void) {
    tt_desc d;
    tt_ctx ctx;
    size_t bytes;
    memset(&d, 0, sizeof d);
    d.threads = TT_MAX_THREADS + 1;
    CHECK(tt_ctx_memory_size(&d, &bytes) == TT_ERR_INVALID_ARGS);
    CHECK(tt_ctx_init(&ctx, &d) == TT_ERR_INVALID_ARGS);
    CHECK_MSG(has(tt_error_message(&ctx), "threads"), "%s", tt_error_message(&ctx));
    tt_ctx_free(&ctx);
}

/* argument: run only the test of that name */
#define RUN1(fn) if (argc < 2 || !strcmp(argv[1], #fn)) RUN(fn)
int main(int argc, char **argv) {
    RUN1(test_stale_loss_after_next_forward);
    RUN1(test_stale_input_refused_by_every_op);
    RUN1(test_rewind_keeps_older_tensors);
    RUN1(test_rewind_drops_late_grad);
    RUN1(test_half_made_header_not_live);
    RUN1(test_params_live_foreign_refused);
    RUN1(test_optimizer_other_context_refused);
    RUN1(test_backward_all_or_nothing_anomaly);
    RUN1(test_backward_all_or_nothing_out_of_memory);
    RUN1(test_matmul_empty_contraction_backward);
    RUN1(test_zero_size_every_op);
    RUN1(test_conv_output_size_too_large);
    RUN1(test_sgemm_naive_alpha_zero);
    RUN1(test_shape_numel_saturates);
    RUN1(test_empty_shape_bounded);
    RUN1(test_threads_above_max_refused);
    TEST_EXIT();
}
