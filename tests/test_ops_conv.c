/* Convolution and pooling: PyTorch goldens (forward and gradients), gradient checks over many
   configurations, torch's output-size rules, and error handling. */
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"
#include "ref/ops_conv_ref.h"

/* scratch blocks start on 64-byte boundaries (TT__ALIGN in the implementation) */
static size_t align64(size_t v) { return (v + 63) & ~(size_t)63; }

enum { OP_CONV2D, OP_CONV1D, OP_MAX2D, OP_MAX1D, OP_AVG2D, OP_AVG1D, OP_ADAPTIVE, OP_GLOBAL };

/* One op with its options, so goldens and gradchecks share the dispatch. */
typedef struct conv_case {
    int op;
    tt_conv_opts conv;
    tt_pool_opts pool;
    int out[2];
} conv_case;

static tt_tensor *apply(tt_ctx *ctx, const conv_case *c, tt_tensor *x, tt_tensor *w, tt_tensor *b) {
    switch (c->op) {
    case OP_CONV2D: return tt_conv2d(ctx, x, w, b, &c->conv);
    case OP_CONV1D: return tt_conv1d(ctx, x, w, b, &c->conv);
    case OP_MAX2D: return tt_max_pool2d(ctx, x, &c->pool);
    case OP_MAX1D: return tt_max_pool1d(ctx, x, &c->pool);
    case OP_AVG2D: return tt_avg_pool2d(ctx, x, &c->pool);
    case OP_AVG1D: return tt_avg_pool1d(ctx, x, &c->pool);
    case OP_ADAPTIVE: return tt_adaptive_avg_pool2d(ctx, x, c->out[0], c->out[1]);
    default: return tt_global_avg_pool2d(ctx, x);
    }
}

static int init_ctx(tt_ctx *ctx) {
    tt_desc d;
    memset(&d, 0, sizeof d);
    d.scratch_bytes = (size_t)8 << 20;
    d.persist_bytes = (size_t)1 << 20;
    d.max_params = 4096;
    return tt_ctx_init(ctx, &d) == TT_OK;
}

/* ---------------------------------------------------------------- PyTorch goldens */

/* Tolerance: |ours - torch| <= 1e-5 + 1e-5 * |torch|. Values are O(1) sums of at most ~50
   float products; we accumulate in a different order than torch (im2col + our sgemm vs. oneDNN /
   torch's kernels), which moves results by a few float ulps (~1e-7 relative per term, ~1e-6 in
   the worst cancelling sums); 1e-5 leaves a margin while still catching any indexing error. */
#define REF_TOL 1e-5

static int compare(const char *case_name, const char *what, const float *got, const float *want, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        double a = got[i], b = want[i];
        if (!(fabs(a - b) <= REF_TOL + REF_TOL * fabs(b))) {
            printf("  %s: %s[%zu] = %.9g, torch %.9g\n", case_name, what, i, a, b);
            return 0;
        }
    }
    return 1;
}

static void test_torch_goldens(void) {
    tt_ctx ctx;
    int ci;
    CHECK(init_ctx(&ctx));
    for (ci = 0; ci < OPS_CONV_REF_N; ci++) {
        const ops_conv_ref_case *r = &ops_conv_ref_cases[ci];
        conv_case c;
        tt_tensor *x, *w = NULL, *b = NULL, *y;
        int k;
        memset(&c, 0, sizeof c);
        c.op = r->op;
        for (k = 0; k < 2; k++) {
            c.conv.stride[k] = r->stride[k];
            c.conv.padding[k] = r->padding[k];
            c.conv.dilation[k] = r->dilation[k];
            c.pool.kernel[k] = r->kernel[k];
            c.pool.stride[k] = r->stride[k];
            c.pool.padding[k] = r->padding[k];
            c.pool.dilation[k] = r->dilation[k];
            c.out[k] = r->out[k];
        }
        c.conv.groups = r->groups;
        c.pool.ceil_mode = r->ceil_mode;
        c.pool.count_include_pad = r->count_include_pad;
        tt_scratch_reset(&ctx);
        x = tt_requires_grad(&ctx, tt_tensor_from(&ctx, r->x_ndim, r->x_shape, r->x));
        if (r->w) w = tt_requires_grad(&ctx, tt_tensor_from(&ctx, r->w_ndim, r->w_shape, r->w));
        if (r->b) b = tt_requires_grad(&ctx, tt_tensor_from(&ctx, 1, r->w_shape, r->b));
        y = apply(&ctx, &c, x, w, b);
        CHECK_MSG(y != NULL, "%s: %s", r->name, tt_error_message(&ctx));
        if (!y) { tt_clear_error(&ctx); continue; }
        CHECK_MSG(y->ndim == r->y_ndim && memcmp(y->shape, r->y_shape, sizeof(int) * (size_t)y->ndim) == 0,
                  "%s: output shape differs from torch", r->name);
        if (y->numel != tt_shape_numel(r->y_ndim, r->y_shape)) continue;
        CHECK(compare(r->name, "y", y->data, r->y, y->numel));
        CHECK(tt_backward_seed(&ctx, y, r->gy) == TT_OK);
        CHECK(compare(r->name, "grad x", x->grad, r->gx, x->numel));
        if (w) CHECK(compare(r->name, "grad w", w->grad, r->gw, w->numel));
        if (b) CHECK(compare(r->name, "grad b", b->grad, r->gb, b->numel));
    }
    tt_ctx_free(&ctx);
}

/* ---------------------------------------------------------------- gradient checks */

static tt_tensor *gc_fn(tt_ctx *ctx, tt_tensor **in, void *user) {
    const conv_case *c = (const conv_case *)user;
    int conv = c->op == OP_CONV2D || c->op == OP_CONV1D;
    return apply(ctx, c, in[0], conv ? in[1] : NULL, conv ? in[2] : NULL);
}

/* Random inputs; for max pooling a shuffled grid of values 0.05 apart, so that the finite
   difference step (1e-3 * max(1,|x|) <= 0.005 here) never changes which element is the max. */
static int gradcheck_case(const char *name, conv_case *c, int xnd, const int *xs, int wnd, const int *ws, int bias) {
    tt_ctx ctx;
    tt_tensor *in[3];
    tt_gradcheck_opts o;
    tt_gradcheck_report rep;
    tt_result r;
    int n_in = 1, ok;
    if (!init_ctx(&ctx)) return 0;
    o = tt_gradcheck_opts_init(); /* eps 1e-2, atol 1e-3, rtol 1e-2 (conv/avg are linear in each input) */
    in[0] = tt_requires_grad(&ctx, tt_tensor_randn(&ctx, xnd, xs, 0, 1));
    in[1] = in[2] = NULL;
    if (c->op == OP_MAX2D || c->op == OP_MAX1D) {
        size_t i, n = in[0]->numel;
        for (i = 0; i < n; i++) in[0]->data[i] = ((float)i - (float)n / 2) * 0.05f;
        for (i = n - 1; i > 0; i--) { /* Fisher-Yates with the context RNG */
            size_t j = tt_rng_u32(&ctx.rng) % (i + 1);
            float t = in[0]->data[i];
            in[0]->data[i] = in[0]->data[j];
            in[0]->data[j] = t;
        }
        o.eps = 1e-3;
    }
    if (wnd) {
        in[1] = tt_requires_grad(&ctx, tt_tensor_randn(&ctx, wnd, ws, 0, 1));
        n_in = 2;
        if (bias) {
            in[2] = tt_requires_grad(&ctx, tt_tensor_randn(&ctx, 1, ws, 0, 1));
            n_in = 3;
        }
    }
    r = tt_gradcheck(&ctx, gc_fn, n_in, in, c, &o, &rep);
    ok = r == TT_OK;
    if (!ok)
        printf("  %s: %s (%s) worst input %d [%zu]: analytic %.6g numeric %.6g\n", name, tt_result_string(r),
               tt_error_message(&ctx), rep.worst_input, rep.worst_index, rep.worst_analytic, rep.worst_numeric);
    tt_ctx_free(&ctx);
    return ok;
}

/* Cases below write 0 for an option a 1-D op does not read (index 1) and for "torch's default"
   in the dilation / groups columns; mk_conv and mk_pool turn those 0s into the _init() values. */
static int or_one(int v) { return v ? v : 1; }

static conv_case mk_conv(int op, int sh, int sw, int ph, int pw, int dh, int dw, int groups) {
    conv_case c;
    memset(&c, 0, sizeof c);
    c.op = op;
    sh = or_one(sh); sw = or_one(sw); dh = or_one(dh); dw = or_one(dw); groups = or_one(groups);
    c.conv.stride[0] = sh; c.conv.stride[1] = sw;
    c.conv.padding[0] = ph; c.conv.padding[1] = pw;
    c.conv.dilation[0] = dh; c.conv.dilation[1] = dw;
    c.conv.groups = groups;
    return c;
}

static conv_case mk_pool(int op, int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw, int ceil, int cip_off) {
    conv_case c;
    memset(&c, 0, sizeof c);
    c.op = op;
    kw = or_one(kw); sh = sh ? sh : kh; sw = sw ? sw : kw; dh = or_one(dh); dw = or_one(dw);
    c.pool.kernel[0] = kh; c.pool.kernel[1] = kw;
    c.pool.stride[0] = sh; c.pool.stride[1] = sw;
    c.pool.padding[0] = ph; c.pool.padding[1] = pw;
    c.pool.dilation[0] = dh; c.pool.dilation[1] = dw;
    c.pool.ceil_mode = ceil;
    c.pool.count_include_pad = !cip_off;
    return c;
}

static void test_gradcheck_conv2d(void) {
    conv_case c;
    { int xs[4] = {2, 3, 5, 6}, ws[4] = {4, 3, 3, 3};   /* 3x3, padding 1, bias */
      c = mk_conv(OP_CONV2D, 0, 0, 1, 1, 0, 0, 0); CHECK(gradcheck_case("pad1", &c, 4, xs, 4, ws, 1)); }
    { int xs[4] = {1, 2, 7, 6}, ws[4] = {3, 2, 3, 3};   /* stride 2, asymmetric padding */
      c = mk_conv(OP_CONV2D, 2, 2, 0, 1, 0, 0, 0); CHECK(gradcheck_case("stride2", &c, 4, xs, 4, ws, 1)); }
    { int xs[4] = {1, 2, 7, 7}, ws[4] = {2, 2, 3, 2};   /* dilation 2, padding 2 */
      c = mk_conv(OP_CONV2D, 1, 1, 2, 2, 2, 2, 0); CHECK(gradcheck_case("dilation2", &c, 4, xs, 4, ws, 1)); }
    { int xs[4] = {2, 4, 5, 5}, ws[4] = {6, 2, 3, 3};   /* groups 2 */
      c = mk_conv(OP_CONV2D, 1, 1, 1, 0, 0, 0, 2); CHECK(gradcheck_case("groups2", &c, 4, xs, 4, ws, 1)); }
    { int xs[4] = {1, 3, 6, 5}, ws[4] = {3, 1, 3, 3};   /* depthwise, stride 2, no bias */
      c = mk_conv(OP_CONV2D, 2, 2, 1, 1, 0, 0, 3); CHECK(gradcheck_case("depthwise", &c, 4, xs, 4, ws, 0)); }
    { int xs[4] = {2, 5, 3, 4}, ws[4] = {3, 5, 1, 1};   /* 1x1 (direct path, no im2col) */
      c = mk_conv(OP_CONV2D, 0, 0, 0, 0, 0, 0, 0); CHECK(gradcheck_case("1x1", &c, 4, xs, 4, ws, 1)); }
    { int xs[4] = {1, 3, 5, 4}, ws[4] = {2, 3, 1, 1};   /* 1x1 with stride and padding (im2col path) */
      c = mk_conv(OP_CONV2D, 2, 2, 1, 1, 0, 0, 0); CHECK(gradcheck_case("1x1_stride2_pad1", &c, 4, xs, 4, ws, 1)); }
    { int xs[4] = {1, 2, 9, 1}, ws[4] = {3, 2, 3, 1};   /* odd sizes, width 1, no bias */
      c = mk_conv(OP_CONV2D, 3, 1, 0, 0, 0, 0, 0); CHECK(gradcheck_case("odd_w1", &c, 4, xs, 4, ws, 0)); }
    { int xs[3] = {3, 5, 5}, ws[4] = {2, 3, 2, 3};      /* unbatched input */
      c = mk_conv(OP_CONV2D, 1, 2, 1, 0, 1, 1, 0); CHECK(gradcheck_case("unbatched", &c, 3, xs, 4, ws, 1)); }
    { int xs[4] = {1, 17, 3, 3}, ws[4] = {9, 17, 2, 2}; /* channels not a multiple of 8/16 */
      c = mk_conv(OP_CONV2D, 1, 1, 0, 0, 0, 0, 0); CHECK(gradcheck_case("17ch", &c, 4, xs, 4, ws, 1)); }
}

static void test_gradcheck_conv1d(void) {
    conv_case c;
    { int xs[3] = {2, 3, 17}, ws[3] = {5, 3, 3};        /* stride 2, padding 1, dilation 2 */
      c = mk_conv(OP_CONV1D, 2, 0, 1, 0, 2, 0, 0); CHECK(gradcheck_case("s2p1d2", &c, 3, xs, 3, ws, 1)); }
    { int xs[3] = {1, 4, 9}, ws[3] = {4, 2, 1};         /* groups 2, kernel 1, no bias */
      c = mk_conv(OP_CONV1D, 0, 0, 0, 0, 0, 0, 2); CHECK(gradcheck_case("groups2_k1", &c, 3, xs, 3, ws, 0)); }
    { int xs[3] = {2, 2, 1}, ws[3] = {3, 2, 1};         /* length 1 */
      c = mk_conv(OP_CONV1D, 0, 0, 0, 0, 0, 0, 0); CHECK(gradcheck_case("len1", &c, 3, xs, 3, ws, 1)); }
    { int xs[3] = {1, 3, 8}, ws[3] = {3, 1, 5};         /* depthwise, padding 2 */
      c = mk_conv(OP_CONV1D, 1, 0, 2, 0, 1, 0, 3); CHECK(gradcheck_case("depthwise", &c, 3, xs, 3, ws, 1)); }
    { int xs[2] = {2, 7}, ws[3] = {3, 2, 2};            /* unbatched */
      c = mk_conv(OP_CONV1D, 2, 0, 1, 0, 0, 0, 0); CHECK(gradcheck_case("unbatched", &c, 2, xs, 3, ws, 1)); }
}

static void test_gradcheck_pools(void) {
    conv_case c;
    int x4[4] = {2, 3, 7, 8}, x4b[4] = {1, 2, 9, 8}, x4c[4] = {1, 2, 6, 7}, x3[3] = {2, 3, 11}, x3b[3] = {1, 2, 5};
    c = mk_pool(OP_MAX2D, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0); CHECK(gradcheck_case("max2d_k3s2p1", &c, 4, x4, 0, NULL, 0));
    c = mk_pool(OP_MAX2D, 2, 2, 0, 0, 0, 0, 0, 0, 1, 0); CHECK(gradcheck_case("max2d_ceil", &c, 4, x4c, 0, NULL, 0));
    c = mk_pool(OP_MAX2D, 3, 2, 2, 3, 1, 1, 2, 3, 1, 0); CHECK(gradcheck_case("max2d_dil_ceil", &c, 4, x4b, 0, NULL, 0));
    c = mk_pool(OP_MAX1D, 3, 0, 2, 0, 1, 0, 2, 0, 1, 0); CHECK(gradcheck_case("max1d_dil_ceil", &c, 3, x3, 0, NULL, 0));
    c = mk_pool(OP_MAX1D, 2, 0, 2, 0, 1, 0, 0, 0, 1, 0); CHECK(gradcheck_case("max1d_last_rule", &c, 3, x3b, 0, NULL, 0));
    c = mk_pool(OP_AVG2D, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0); CHECK(gradcheck_case("avg2d_k3s2p1", &c, 4, x4, 0, NULL, 0));
    c = mk_pool(OP_AVG2D, 3, 3, 2, 2, 1, 1, 0, 0, 0, 1); CHECK(gradcheck_case("avg2d_nopad", &c, 4, x4, 0, NULL, 0));
    c = mk_pool(OP_AVG2D, 3, 2, 2, 2, 1, 1, 0, 0, 1, 0); CHECK(gradcheck_case("avg2d_ceil", &c, 4, x4c, 0, NULL, 0));
    c = mk_pool(OP_AVG2D, 3, 2, 2, 2, 1, 1, 0, 0, 1, 1); CHECK(gradcheck_case("avg2d_ceil_nopad", &c, 4, x4c, 0, NULL, 0));
    c = mk_pool(OP_AVG1D, 4, 0, 3, 0, 2, 0, 0, 0, 1, 0); CHECK(gradcheck_case("avg1d_ceil", &c, 3, x3, 0, NULL, 0));
    c = mk_pool(OP_AVG1D, 3, 0, 1, 0, 1, 0, 0, 0, 0, 1); CHECK(gradcheck_case("avg1d_nopad", &c, 3, x3, 0, NULL, 0));
    memset(&c, 0, sizeof c);
    c.op = OP_ADAPTIVE; c.out[0] = 3; c.out[1] = 2;
    { int xs[4] = {2, 3, 7, 5}; CHECK(gradcheck_case("adaptive_down", &c, 4, xs, 0, NULL, 0)); }
    c.out[0] = 5; c.out[1] = 6;
    { int xs[4] = {1, 2, 4, 3}; CHECK(gradcheck_case("adaptive_up", &c, 4, xs, 0, NULL, 0)); }
    c.op = OP_GLOBAL;
    { int xs[4] = {2, 3, 5, 7}; CHECK(gradcheck_case("global", &c, 4, xs, 0, NULL, 0)); }
    { int xs[3] = {3, 1, 1}; CHECK(gradcheck_case("global_unbatched_1x1", &c, 3, xs, 0, NULL, 0)); }
}

/* ---------------------------------------------------------------- semantics */

/* A dilated window that lies entirely in the padding: -inf and no gradient (as torch). A NaN
   in a window is its max. */
static void test_max_pool_edge_values(void) {
    tt_ctx ctx;
    tt_pool_opts o;
    int xs[3] = {1, 1, 2}, xs2[3] = {1, 1, 4};
    float v[2] = {1.0f, 2.0f}, v2[4] = {1.0f, NAN, 3.0f, 2.0f}, one = 1.0f, seed[2] = {1.0f, 1.0f};
    tt_tensor *x, *y;
    CHECK(init_ctx(&ctx));
    o = tt_pool1d_opts_init(2);
    o.stride[0] = 1; o.padding[0] = 1; o.dilation[0] = 3; /* taps at -1 and 2 */
    x = tt_requires_grad(&ctx, tt_tensor_from(&ctx, 3, xs, v));
    y = tt_max_pool1d(&ctx, x, &o);
    CHECK(y && y->numel == 1 && isinf(y->data[0]) && y->data[0] < 0);
    if (y) {
        CHECK(tt_backward_seed(&ctx, y, &one) == TT_OK);
        CHECK(x->grad[0] == 0.0f && x->grad[1] == 0.0f);
    }
    o = tt_pool1d_opts_init(2);
    x = tt_requires_grad(&ctx, tt_tensor_from(&ctx, 3, xs2, v2));
    y = tt_max_pool1d(&ctx, x, &o);
    CHECK(y && y->numel == 2 && isnan(y->data[0]) && y->data[1] == 3.0f);
    if (y) {
        CHECK(tt_backward_seed(&ctx, y, seed) == TT_OK);
        CHECK(x->grad[0] == 0.0f && x->grad[1] == 1.0f && x->grad[2] == 1.0f && x->grad[3] == 0.0f);
    }
    tt_ctx_free(&ctx);
}

/* Ties: the gradient goes to the first maximum only. */
static void test_max_pool_tie_first(void) {
    tt_ctx ctx;
    tt_pool_opts o;
    int xs[4] = {1, 1, 2, 2};
    float v[4] = {5.0f, 5.0f, 5.0f, 1.0f}, one = 1.0f;
    tt_tensor *x, *y;
    CHECK(init_ctx(&ctx));
    o = tt_pool_opts_init(2, 2);
    x = tt_requires_grad(&ctx, tt_tensor_from(&ctx, 4, xs, v));
    y = tt_max_pool2d(&ctx, x, &o);
    CHECK(y && y->data[0] == 5.0f);
    if (y) {
        CHECK(tt_backward_seed(&ctx, y, &one) == TT_OK);
        CHECK(x->grad[0] == 1.0f && x->grad[1] == 0.0f && x->grad[2] == 0.0f);
    }
    tt_ctx_free(&ctx);
}

/* opts NULL = torch defaults; the column buffer is a temporary (scratch returns to just above
   the output); conv1d equals conv2d with H = 1; no graph in no-grad mode. */
static void test_conv_plumbing(void) {
    tt_ctx ctx;
    int xs[4] = {2, 3, 1, 20}, ws[4] = {4, 3, 1, 5}, x1[3] = {2, 3, 20}, w1[3] = {4, 3, 5}, bs[1] = {4};
    tt_tensor *x, *w, *b, *y2, *y1, *x1t, *w1t, *y0;
    tt_conv_opts o;
    size_t mark, i;
    CHECK(init_ctx(&ctx));
    x = tt_tensor_randn(&ctx, 4, xs, 0, 1);
    w = tt_tensor_randn(&ctx, 4, ws, 0, 1);
    b = tt_tensor_randn(&ctx, 1, bs, 0, 1);
    x1t = tt_tensor_from(&ctx, 3, x1, x->data);
    w1t = tt_tensor_from(&ctx, 3, w1, w->data);
    o = tt_conv_opts_init();
    o.stride[0] = 1; o.stride[1] = 2; o.padding[1] = 2; o.dilation[1] = 2;
    mark = tt_scratch_mark(&ctx);
    y2 = tt_conv2d(&ctx, x, w, b, &o);
    CHECK(y2 && y2->shape[3] == 8);
    /* scratch holds only the header and data of y (no node: nothing requires grad); the column
       buffer (15 x 8 floats) was given back */
    CHECK(y2 && tt_scratch_mark(&ctx) - mark == align64(sizeof(tt_tensor)) + align64(y2->numel * sizeof(float)));
    o.stride[0] = 2; o.padding[0] = 2; o.dilation[0] = 2; /* conv1d reads index 0 only */
    y1 = tt_conv1d(&ctx, x1t, w1t, b, &o);
    CHECK(y1 && y2 && y1->numel == y2->numel);
    for (i = 0; y1 && y2 && i < y1->numel; i++) CHECK(y1->data[i] == y2->data[i]);
    y0 = tt_conv2d(&ctx, x, w, NULL, NULL); /* stride 1, no padding: width 16 */
    CHECK(y0 && y0->shape[3] == 16 && y0->node == NULL);
    tt_ctx_free(&ctx);
}

/* Gradients only where asked: x without grad, w with grad gives the same dW as the full graph.
   An empty batch (N = 0) works and gives an empty output. */
static void test_partial_grads_and_empty_batch(void) {
    tt_ctx ctx;
    int xs[4] = {2, 3, 6, 5}, ws[4] = {4, 3, 3, 3}, x0[4] = {0, 3, 6, 5};
    tt_tensor *x, *xg, *w, *y, *x0t;
    tt_conv_opts o;
    tt_pool_opts po;
    float full[108], one = 1.0f;
    size_t i;
    CHECK(init_ctx(&ctx));
    o = tt_conv_opts_init();
    o.stride[0] = 2; o.padding[1] = 1;
    x = tt_tensor_randn(&ctx, 4, xs, 0, 1);
    w = tt_param(&ctx, "w", 4, ws);
    CHECK(w && tt_init_normal(&ctx, w, 0, 1) == TT_OK);
    xg = tt_requires_grad(&ctx, tt_clone(&ctx, x));
    y = tt_sum(&ctx, tt_conv2d(&ctx, xg, w, NULL, &o));
    CHECK(y && tt_backward(&ctx, y) == TT_OK);
    memcpy(full, w->grad, sizeof full);
    tt_zero_grad(&ctx);
    y = tt_sum(&ctx, tt_conv2d(&ctx, x, w, NULL, &o));
    CHECK(y && tt_backward(&ctx, y) == TT_OK);
    CHECK(x->grad == NULL);
    for (i = 0; i < 108; i++) CHECK(w->grad[i] == full[i]);
    x0t = tt_requires_grad(&ctx, tt_tensor_new(&ctx, 4, x0));
    y = tt_conv2d(&ctx, x0t, w, NULL, &o);
    CHECK(y && y->ndim == 4 && y->shape[0] == 0 && y->shape[1] == 4 && y->numel == 0);
    CHECK(y && tt_backward(&ctx, tt_sum(&ctx, y)) == TT_OK);
    po = tt_pool_opts_init(2, 2);
    y = tt_max_pool2d(&ctx, x0t, &po);
    CHECK(y && y->numel == 0 && y->shape[2] == 3 && y->shape[3] == 2);
    CHECK(y && tt_backward_seed(&ctx, y, &one) == TT_OK);
    tt_ctx_free(&ctx);
}

/* ---------------------------------------------------------------- errors */

/* code and site (the op) are checked; frag says what the message explains and is not compared */
static void expect_err(tt_ctx *ctx, tt_tensor *y, tt_result code, const char *op, const char *frag) {
    CHECK(y == NULL);
    CHECK_MSG(tt_error(ctx) == code, "got %s (%s)", tt_result_string(tt_error(ctx)), tt_error_message(ctx));
    CHECK_MSG(strcmp(tt_error_site(ctx), op) == 0, "site '%s', expected '%s' (%s)", tt_error_site(ctx), op,
              tt_error_message(ctx));
    (void)frag;
    tt_clear_error(ctx);
}

static void test_conv_errors(void) {
    tt_ctx ctx;
    int xs[4] = {1, 4, 5, 5}, x2[2] = {4, 5}, ws[4] = {2, 4, 3, 3}, wg[4] = {3, 2, 3, 3}, wbig[4] = {2, 4, 6, 3};
    int bs[1] = {3}, w1[3] = {2, 4, 3};
    tt_tensor *x, *xbad, *w, *wgt, *wb, *b, *w1t;
    tt_conv_opts o;
    float before;
    CHECK(init_ctx(&ctx));
    x = tt_tensor_randn(&ctx, 4, xs, 0, 1);
    xbad = tt_tensor_randn(&ctx, 2, x2, 0, 1);
    w = tt_tensor_randn(&ctx, 4, ws, 0, 1);
    wgt = tt_tensor_randn(&ctx, 4, wg, 0, 1);
    wb = tt_tensor_randn(&ctx, 4, wbig, 0, 1);
    b = tt_tensor_randn(&ctx, 1, bs, 0, 1);
    w1t = tt_tensor_randn(&ctx, 3, w1, 0, 1);
    before = x->data[0];
    o = tt_conv_opts_init();
    expect_err(&ctx, tt_conv2d(&ctx, xbad, w, NULL, NULL), TT_ERR_SHAPE, "conv2d", "[4,5]");
    expect_err(&ctx, tt_conv2d(&ctx, x, w1t, NULL, NULL), TT_ERR_SHAPE, "conv2d", "[2,4,3]");
    expect_err(&ctx, tt_conv1d(&ctx, x, w1t, NULL, NULL), TT_ERR_SHAPE, "conv1d", "[1,4,5,5]");
    o.groups = 2; /* Cout 2 ok, but weight dim 1 is 4, not 4/2 */
    expect_err(&ctx, tt_conv2d(&ctx, x, w, NULL, &o), TT_ERR_SHAPE, "conv2d", "[2,4,3,3]");
    o.groups = 2; /* Cout 3 not divisible by 2 */
    expect_err(&ctx, tt_conv2d(&ctx, x, wgt, NULL, &o), TT_ERR_SHAPE, "conv2d", "groups 2");
    o.groups = 1;
    expect_err(&ctx, tt_conv2d(&ctx, x, w, b, NULL), TT_ERR_SHAPE, "conv2d", "bias [3]");
    expect_err(&ctx, tt_conv2d(&ctx, x, wb, NULL, NULL), TT_ERR_SHAPE, "conv2d", "larger than the padded input");
    o.dilation[1] = 3; /* 3x3 kernel dilated to 7 wide > 5 */
    expect_err(&ctx, tt_conv2d(&ctx, x, w, NULL, &o), TT_ERR_SHAPE, "conv2d", "larger than the padded input");
    o.padding[1] = 1; /* 5 + 2 = 7: fits */
    CHECK(tt_conv2d(&ctx, x, w, NULL, &o) != NULL);
    o = tt_conv_opts_init();
    o.stride[0] = -1;
    expect_err(&ctx, tt_conv2d(&ctx, x, w, NULL, &o), TT_ERR_INVALID_ARGS, "conv2d", "stride");
    o = tt_conv_opts_init();
    o.stride[1] = 0; /* taken literally: no "0 means default" */
    expect_err(&ctx, tt_conv2d(&ctx, x, w, NULL, &o), TT_ERR_INVALID_ARGS, "conv2d", "stride");
    o = tt_conv_opts_init();
    o.dilation[0] = 0;
    expect_err(&ctx, tt_conv2d(&ctx, x, w, NULL, &o), TT_ERR_INVALID_ARGS, "conv2d", "dilation");
    o = tt_conv_opts_init();
    o.padding[1] = -2;
    expect_err(&ctx, tt_conv2d(&ctx, x, w, NULL, &o), TT_ERR_INVALID_ARGS, "conv2d", "padding");
    o = tt_conv_opts_init();
    o.groups = 0;
    expect_err(&ctx, tt_conv2d(&ctx, x, w, NULL, &o), TT_ERR_INVALID_ARGS, "conv2d", "groups");
    expect_err(&ctx, tt_conv2d(&ctx, NULL, w, NULL, NULL), TT_ERR_INVALID_ARGS, "conv2d", NULL);
    CHECK(x->data[0] == before);
    /* after an error, a NULL input is silent and the first message stays */
    CHECK(tt_conv2d(&ctx, xbad, w, NULL, NULL) == NULL);
    CHECK(tt_conv2d(&ctx, NULL, w, NULL, NULL) == NULL);
    CHECK(tt_error(&ctx) == TT_ERR_SHAPE && strcmp(tt_error_site(&ctx), "conv2d") == 0);
    tt_clear_error(&ctx);
    tt_ctx_free(&ctx);
}

static void test_pool_errors(void) {
    tt_ctx ctx;
    int xs[4] = {1, 2, 4, 4}, x5[5] = {1, 1, 2, 4, 4}, x1[3] = {1, 2, 3}, x2[2] = {2, 3};
    tt_tensor *x, *x5t, *x1t, *x2t;
    tt_pool_opts o;
    CHECK(init_ctx(&ctx));
    x = tt_tensor_randn(&ctx, 4, xs, 0, 1);
    x5t = tt_tensor_randn(&ctx, 5, x5, 0, 1);
    x1t = tt_tensor_randn(&ctx, 3, x1, 0, 1);
    x2t = tt_tensor_randn(&ctx, 2, x2, 0, 1);
    o = tt_pool_opts_init(0, 0);
    expect_err(&ctx, tt_max_pool2d(&ctx, x, NULL), TT_ERR_INVALID_ARGS, "max_pool2d", "opts");
    expect_err(&ctx, tt_avg_pool2d(&ctx, x, &o), TT_ERR_INVALID_ARGS, "avg_pool2d", "kernel");
    o = tt_pool_opts_init(2, 2);
    expect_err(&ctx, tt_max_pool2d(&ctx, x5t, &o), TT_ERR_SHAPE, "max_pool2d", "[1,1,2,4,4]");
    o.padding[1] = 2; /* more than half the kernel (torch's rule) */
    expect_err(&ctx, tt_max_pool2d(&ctx, x, &o), TT_ERR_INVALID_ARGS, "max_pool2d", "half");
    o.padding[1] = 1;
    CHECK(tt_max_pool2d(&ctx, x, &o) != NULL);
    o.dilation[0] = 2;
    expect_err(&ctx, tt_avg_pool2d(&ctx, x, &o), TT_ERR_INVALID_ARGS, "avg_pool2d", "dilation");
    o.dilation[0] = 1;
    o.stride[1] = -1;
    expect_err(&ctx, tt_avg_pool2d(&ctx, x, &o), TT_ERR_INVALID_ARGS, "avg_pool2d", "stride");
    o.stride[1] = 0; /* taken literally: no "0 means the kernel size" */
    expect_err(&ctx, tt_avg_pool2d(&ctx, x, &o), TT_ERR_INVALID_ARGS, "avg_pool2d", "stride");
    o = tt_pool1d_opts_init(4); /* 1-D: length 3 < kernel 4 */
    expect_err(&ctx, tt_max_pool1d(&ctx, x1t, &o), TT_ERR_SHAPE, "max_pool1d", "[1,2,3]");
    o.kernel[0] = 3; o.dilation[0] = 2; /* dilated kernel 5 > 3 */
    expect_err(&ctx, tt_max_pool1d(&ctx, x1t, &o), TT_ERR_SHAPE, "max_pool1d", "too small");
    o.dilation[0] = 0;
    expect_err(&ctx, tt_max_pool1d(&ctx, x1t, &o), TT_ERR_INVALID_ARGS, "max_pool1d", "dilation");
    o.dilation[0] = 1;
    expect_err(&ctx, tt_avg_pool1d(&ctx, x, &o), TT_ERR_SHAPE, "avg_pool1d", "[1,2,4,4]");
    expect_err(&ctx, tt_adaptive_avg_pool2d(&ctx, x, 0, 2), TT_ERR_INVALID_ARGS, "adaptive_avg_pool2d", "0x2");
    expect_err(&ctx, tt_adaptive_avg_pool2d(&ctx, x2t, 1, 1), TT_ERR_SHAPE, "adaptive_avg_pool2d", "[2,3]");
    CHECK(tt_adaptive_avg_pool2d(&ctx, x, 1, 1) != NULL);
    expect_err(&ctx, tt_global_avg_pool2d(&ctx, x5t), TT_ERR_SHAPE, "global_avg_pool2d", "[1,1,2,4,4]");
    expect_err(&ctx, tt_global_avg_pool2d(&ctx, NULL), TT_ERR_INVALID_ARGS, "global_avg_pool2d", NULL);
    tt_ctx_free(&ctx);
}

int main(void) {
    RUN(test_torch_goldens);
    RUN(test_gradcheck_conv2d);
    RUN(test_gradcheck_conv1d);
    RUN(test_gradcheck_pools);
    RUN(test_max_pool_edge_values);
    RUN(test_max_pool_tie_first);
    RUN(test_conv_plumbing);
    RUN(test_partial_grads_and_empty_batch);
    RUN(test_conv_errors);
    RUN(test_pool_errors);
    TEST_EXIT();
}
