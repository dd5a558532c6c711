/* Shape ops, gather, embedding: exact forward checks on hand-computed cases, gradient checks over
   many shapes and every axis, PyTorch goldens (tests/ref/gen_ops_shape.py) and error paths. */
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"
#include "ref/ops_shape_ref.h"

static tt_ctx g_ctx;

static void ctx_open(void) {
    tt_desc d;
    memset(&d, 0, sizeof d);
    d.scratch_bytes = (size_t)8 << 20;
    d.persist_bytes = (size_t)1 << 20;
    d.max_params = 4096;
    d.seed = 42;
    CHECK(tt_ctx_init(&g_ctx, &d) == TT_OK);
}

static tt_tensor *mk(int ndim, const int *shape, const float *v) {
    return tt_tensor_from(&g_ctx, ndim, shape, v);
}

/* exact comparison: these ops only move floats, so no rounding is involved */
static int same(const float *a, const float *b, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static int shape_is(const tt_tensor *t, int ndim, int s0, int s1, int s2, int s3) {
    int s[4], i;
    s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3;
    if (!t || t->ndim != ndim) return 0;
    for (i = 0; i < ndim && i < 4; i++)
        if (t->shape[i] != s[i]) return 0;
    return 1;
}

static const float iota24[24] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23};

/* ============================================================ forward, exact */

static void test_reshape_view(void) {
    int s23[2] = {2, 3}, s_inf[3] = {3, -1, 1}, s6[1] = {6};
    tt_tensor *x, *y, *z, *h, *loss;
    float seed[6] = {1, 2, 3, 4, 5, 6};
    ctx_open();
    x = tt_requires_grad(&g_ctx, mk(2, s23, iota24));
    y = tt_reshape(&g_ctx, x, 3, s_inf);
    CHECK(shape_is(y, 3, 3, 2, 1, 0));
    CHECK(y && y->data == x->data);            /* shares data */
    CHECK(y && (y->flags & TT_VIEW));
    CHECK(y && y->grad && y->grad != x->grad); /* but has its own grad */
    /* backward: the view's grad lands in x->grad (added, not overwritten) */
    x->grad[0] = 100.0f;
    CHECK(tt_backward_seed(&g_ctx, y, seed) == TT_OK);
    CHECK(x->grad[0] == 101.0f && x->grad[5] == 6.0f);
    /* view of an intermediate: tt_backward zeroes every op output's grad, the view's included */
    h = tt_mul(&g_ctx, x, x);
    z = tt_reshape(&g_ctx, h, 1, s6);
    loss = tt_sum(&g_ctx, z);
    memset(x->grad, 0, 6 * sizeof(float));
    CHECK(tt_backward(&g_ctx, loss) == TT_OK);
    CHECK(x->grad[3] == 6.0f && x->grad[5] == 10.0f);
    CHECK(tt_backward(&g_ctx, loss) == TT_OK);  /* twice adds twice, as documented */
    CHECK(x->grad[3] == 12.0f);
    /* no grad mode: a plain view, no node */
    {
        int old = tt_set_grad_enabled(&g_ctx, 0), nodes = g_ctx.n_nodes;
        z = tt_reshape(&g_ctx, x, 1, s6);
        CHECK(z && z->node == NULL && z->grad == NULL && z->data == x->data && g_ctx.n_nodes == nodes);
        tt_set_grad_enabled(&g_ctx, old);
    }
    /* scalar <-> shape [1,1]; empty tensors reshape with -1 when the rest is non-zero */
    {
        int s11[2] = {1, 1}, s03[2] = {0, 3}, sm3[2] = {-1, 3};
        tt_tensor *sc = tt_scalar(&g_ctx, 7.0f), *e;
        z = tt_reshape(&g_ctx, sc, 2, s11);
        CHECK(shape_is(z, 2, 1, 1, 0, 0) && z->data[0] == 7.0f);
        CHECK(tt_reshape(&g_ctx, z, 0, NULL) != NULL);
        e = tt_tensor_new(&g_ctx, 2, s03);
        z = tt_reshape(&g_ctx, e, 2, sm3);
        CHECK(shape_is(z, 2, 0, 3, 0, 0));
    }
    CHECK(tt_error(&g_ctx) == TT_OK);
    tt_ctx_free(&g_ctx);
}

static void test_flatten(void) {
    int s[4] = {2, 3, 1, 4}, s0[3] = {2, 0, 3};
    tt_tensor *x, *y;
    ctx_open();
    x = mk(4, s, iota24);
    y = tt_flatten(&g_ctx, x, 1);
    CHECK(shape_is(y, 2, 2, 12, 0, 0) && y->data == x->data);
    y = tt_flatten(&g_ctx, x, 0);
    CHECK(shape_is(y, 1, 24, 0, 0, 0));
    y = tt_flatten(&g_ctx, x, -1);
    CHECK(shape_is(y, 4, 2, 3, 1, 4));
    y = tt_flatten(&g_ctx, x, -2);
    CHECK(shape_is(y, 3, 2, 3, 4, 0));
    y = tt_flatten(&g_ctx, tt_scalar(&g_ctx, 3.0f), 0); /* torch: a scalar flattens to [1] */
    CHECK(shape_is(y, 1, 1, 0, 0, 0) && y->data[0] == 3.0f);
    y = tt_flatten(&g_ctx, tt_tensor_new(&g_ctx, 3, s0), 2); /* from the last dim: unchanged */
    CHECK(shape_is(y, 3, 2, 0, 3, 0));
    y = tt_flatten(&g_ctx, tt_tensor_new(&g_ctx, 3, s0), 1); /* (2,0,3) -> (2,0): -1 cannot be inferred */
    CHECK(shape_is(y, 2, 2, 0, 0, 0));
    CHECK(tt_error(&g_ctx) == TT_OK);
    tt_ctx_free(&g_ctx);
}

static void test_transpose_permute(void) {
    int s23[2] = {2, 3}, s234[3] = {2, 3, 4}, perm[3] = {2, 0, 1}, negperm[3] = {-1, 0, -2}, i, j, k;
    float e23t[6] = {0, 3, 1, 4, 2, 5};
    tt_tensor *x, *y;
    int ok = 1;
    ctx_open();
    y = tt_transpose(&g_ctx, mk(2, s23, iota24), 0, 1);
    CHECK(shape_is(y, 2, 3, 2, 0, 0) && same(y->data, e23t, 6));
    y = tt_transpose(&g_ctx, mk(2, s23, iota24), -1, -2);
    CHECK(shape_is(y, 2, 3, 2, 0, 0) && same(y->data, e23t, 6));
    y = tt_transpose(&g_ctx, mk(2, s23, iota24), 1, 1); /* same dim: a copy */
    CHECK(shape_is(y, 2, 2, 3, 0, 0) && same(y->data, iota24, 6));
    x = mk(3, s234, iota24);
    y = tt_permute(&g_ctx, x, perm);
    CHECK(shape_is(y, 3, 4, 2, 3, 0));
    for (k = 0; y && k < 4; k++)
        for (i = 0; i < 2; i++)
            for (j = 0; j < 3; j++)
                if (y->data[(k * 2 + i) * 3 + j] != x->data[(i * 3 + j) * 4 + k]) ok = 0;
    CHECK(ok);
    CHECK(y && y->data != x->data); /* a copy, not a view */
    y = tt_permute(&g_ctx, x, negperm); /* negative entries as torch: (2, 0, 1) */
    CHECK(shape_is(y, 3, 4, 2, 3, 0));
    y = tt_transpose(&g_ctx, tt_scalar(&g_ctx, 2.0f), 0, -1);
    CHECK(y && y->ndim == 0 && y->data[0] == 2.0f);
    CHECK(tt_error(&g_ctx) == TT_OK);
    tt_ctx_free(&g_ctx);
}

/* x = 0..6 (len 7); the expected lists are Python's list(range(7))[start:end:step] */
static void test_slice_python_bounds(void) {
    int s7[1] = {7}, s27[2] = {2, 7};
    float e1[2] = {4, 6}, e2[2] = {0, 1}, e3[2] = {1, 4}, e4[7] = {0, 1, 2, 3, 4, 5, 6}, e5[1] = {6};
    float e27[4] = {1, 4, 8, 11};
    tt_tensor *x, *y;
    ctx_open();
    x = mk(1, s7, iota24);
    y = tt_slice(&g_ctx, x, 0, -3, 100, 2);   CHECK(shape_is(y, 1, 2, 0, 0, 0) && same(y->data, e1, 2));
    y = tt_slice(&g_ctx, x, 0, 5, 2, 1);      CHECK(shape_is(y, 1, 0, 0, 0, 0));
    y = tt_slice(&g_ctx, x, 0, -100, -5, 1);  CHECK(shape_is(y, 1, 2, 0, 0, 0) && same(y->data, e2, 2));
    y = tt_slice(&g_ctx, x, 0, 1, 7, 3);      CHECK(shape_is(y, 1, 2, 0, 0, 0) && same(y->data, e3, 2));
    y = tt_slice(&g_ctx, x, 0, 0, 0x7fffffff, 1); CHECK(shape_is(y, 1, 7, 0, 0, 0) && same(y->data, e4, 7));
    y = tt_slice(&g_ctx, x, -1, -1, 7, 5);    CHECK(shape_is(y, 1, 1, 0, 0, 0) && same(y->data, e5, 1));
    y = tt_slice(&g_ctx, x, 0, 9, 12, 1);     CHECK(shape_is(y, 1, 0, 0, 0, 0));
    y = tt_slice(&g_ctx, x, 0, -0x7fffffff - 1, 0x7fffffff, 0x7fffffff); /* extremes do not overflow */
    CHECK(shape_is(y, 1, 1, 0, 0, 0) && y->data[0] == 0.0f);
    y = tt_slice(&g_ctx, mk(2, s27, iota24), 1, 1, -1, 3); /* rows [0..6], [7..13]: cols 1, 4 */
    CHECK(shape_is(y, 2, 2, 2, 0, 0) && same(y->data, e27, 4));
    CHECK(tt_error(&g_ctx) == TT_OK);
    tt_ctx_free(&g_ctx);
}

static void test_concat_stack(void) {
    int s22[2] = {2, 2}, s21[2] = {2, 1}, s12[2] = {1, 2};
    float a[4] = {1, 2, 3, 4}, b[2] = {5, 6}, c[2] = {7, 8};
    float e_ax1[6] = {1, 2, 5, 3, 4, 6}, e_ax0[6] = {1, 2, 3, 4, 7, 8};
    float e_st0[8] = {1, 2, 3, 4, 1, 2, 3, 4}, e_st2[8] = {1, 1, 2, 2, 3, 3, 4, 4};
    tt_tensor *xs[2], *y;
    ctx_open();
    xs[0] = mk(2, s22, a); xs[1] = mk(2, s21, b);
    y = tt_concat(&g_ctx, 2, xs, 1);  CHECK(shape_is(y, 2, 2, 3, 0, 0) && same(y->data, e_ax1, 6));
    xs[1] = mk(2, s12, c);
    y = tt_concat(&g_ctx, 2, xs, -2); CHECK(shape_is(y, 2, 3, 2, 0, 0) && same(y->data, e_ax0, 6));
    y = tt_concat(&g_ctx, 1, xs, 0);  CHECK(shape_is(y, 2, 2, 2, 0, 0) && same(y->data, a, 4));
    xs[1] = xs[0];
    y = tt_stack(&g_ctx, 2, xs, 0);   CHECK(shape_is(y, 3, 2, 2, 2, 0) && same(y->data, e_st0, 8));
    y = tt_stack(&g_ctx, 2, xs, -1);  CHECK(shape_is(y, 3, 2, 2, 2, 0) && same(y->data, e_st2, 8));
    y = tt_stack(&g_ctx, 2, xs, 1);   CHECK(shape_is(y, 3, 2, 2, 2, 0));
    {   /* scalars stack into a vector */
        tt_tensor *sc[3];
        float e[3] = {1, 2, 3};
        sc[0] = tt_scalar(&g_ctx, 1); sc[1] = tt_scalar(&g_ctx, 2); sc[2] = tt_scalar(&g_ctx, 3);
        y = tt_stack(&g_ctx, 3, sc, 0); CHECK(shape_is(y, 1, 3, 0, 0, 0) && same(y->data, e, 3));
    }
    CHECK(tt_error(&g_ctx) == TT_OK);
    tt_ctx_free(&g_ctx);
}

static void test_pad(void) {
    int s2[1] = {2}, s22[2] = {2, 2}, p1[2] = {1, 2}, p2[4] = {0, 1, 1, 0}, p0[4] = {0, 0, 0, 0};
    float a[2] = {1, 2}, e1[5] = {9, 1, 2, 9, 9};
    float m[4] = {1, 2, 3, 4}, e2[9] = {-1, -1, -1, 1, 2, -1, 3, 4, -1};
    tt_tensor *y;
    ctx_open();
    y = tt_pad(&g_ctx, mk(1, s2, a), 2, p1, 9.0f);    CHECK(shape_is(y, 1, 5, 0, 0, 0) && same(y->data, e1, 5));
    /* (0, 1) pads the last dim on the right, (1, 0) the first dim on top */
    y = tt_pad(&g_ctx, mk(2, s22, m), 4, p2, -1.0f);  CHECK(shape_is(y, 2, 3, 3, 0, 0) && same(y->data, e2, 9));
    y = tt_pad(&g_ctx, mk(2, s22, m), 4, p0, 5.0f);   CHECK(shape_is(y, 2, 2, 2, 0, 0) && same(y->data, m, 4));
    y = tt_pad(&g_ctx, mk(2, s22, m), 0, NULL, 5.0f); CHECK(shape_is(y, 2, 2, 2, 0, 0) && same(y->data, m, 4));
    CHECK(tt_error(&g_ctx) == TT_OK);
    tt_ctx_free(&g_ctx);
}

static void test_index_gather_embedding(void) {
    int s23[2] = {2, 3}, s22[2] = {2, 2}, idx[4] = {2, 0, 2, 1}, gi[4] = {0, 0, 1, 0}, ws[2] = {3, 2};
    int ids_shape[2] = {2, 2}, ids[4] = {2, 0, 2, 2};
    float e_is1[8] = {2, 0, 2, 1, 5, 3, 5, 4}, e_is0[6] = {3, 4, 5, 0, 1, 2};
    float t[4] = {1, 2, 3, 4}, e_g1[4] = {1, 1, 4, 3}, e_g0[4] = {1, 2, 3, 2};
    float w[6] = {1, 2, 3, 4, 5, 6}, e_emb[8] = {5, 6, 1, 2, 5, 6, 5, 6};
    float seed[8] = {1, 10, 100, 1000, 1, 1, 1, 1}, e_gw[6] = {100, 1000, 0, 0, 3, 12};
    tt_tensor *y, *wt;
    ctx_open();
    y = tt_index_select(&g_ctx, mk(2, s23, iota24), 1, 4, idx);
    CHECK(shape_is(y, 2, 2, 4, 0, 0) && same(y->data, e_is1, 8));
    y = tt_index_select(&g_ctx, mk(2, s23, iota24), 0, 2, idx + 2); /* rows 1, 0... idx+2 = {2,1}: invalid for 2 rows */
    CHECK(y == NULL && tt_error(&g_ctx) == TT_ERR_INDEX);
    tt_clear_error(&g_ctx);
    {
        int rows[2] = {1, 0};
        y = tt_index_select(&g_ctx, mk(2, s23, iota24), -2, 2, rows);
        CHECK(shape_is(y, 2, 2, 3, 0, 0) && same(y->data, e_is0, 6));
        y = tt_index_select(&g_ctx, mk(2, s23, iota24), 0, 0, NULL); /* empty selection */
        CHECK(shape_is(y, 2, 0, 3, 0, 0));
    }
    /* torch.gather docs: t = [[1,2],[3,4]], gather(t, 1, [[0,0],[1,0]]) = [[1,1],[4,3]] */
    y = tt_gather(&g_ctx, mk(2, s22, t), 1, s22, 4, gi);  CHECK(shape_is(y, 2, 2, 2, 0, 0) && same(y->data, e_g1, 4));
    y = tt_gather(&g_ctx, mk(2, s22, t), 0, s22, 4, gi);  CHECK(shape_is(y, 2, 2, 2, 0, 0) && same(y->data, e_g0, 4));
    {   /* a smaller index than x on the other dim, larger on axis */
        int gs[2] = {1, 3}, g3[3] = {1, 1, 0};
        float e[3] = {2, 2, 1};
        y = tt_gather(&g_ctx, mk(2, s22, t), 1, gs, 3, g3); CHECK(shape_is(y, 2, 1, 3, 0, 0) && same(y->data, e, 3));
    }
    /* embedding: repeated ids accumulate their gradients */
    wt = tt_requires_grad(&g_ctx, mk(2, ws, w));
    y = tt_embedding(&g_ctx, wt, 2, ids_shape, 4, ids);
    CHECK(shape_is(y, 3, 2, 2, 2, 0) && same(y->data, e_emb, 8));
    CHECK(tt_backward_seed(&g_ctx, y, seed) == TT_OK);
    CHECK(same(wt->grad, e_gw, 6));
    y = tt_embedding(&g_ctx, wt, 0, NULL, 1, ids); /* one id, 0-d ids: output (dim) */
    CHECK(shape_is(y, 1, 2, 0, 0, 0) && y->data[0] == 5 && y->data[1] == 6);
    CHECK(tt_error(&g_ctx) == TT_OK);
    tt_ctx_free(&g_ctx);
}

/* ============================================================ gradient checks */

enum { OP_RESHAPE, OP_FLATTEN, OP_TRANSPOSE, OP_PERMUTE, OP_SLICE, OP_CONCAT, OP_STACK, OP_PAD, OP_INDEX_SELECT,
       OP_GATHER, OP_EMBEDDING, OP_VIEW_CHAIN };

typedef struct gc_args {
    int op, axis, a, b, c, n, twice;
    int ints[1024]; /* index arrays: at most 5*5*5*3 (gather) */
    int shape[TT_MAX_DIMS];
    int ndim;
} gc_args;

static tt_tensor *gc_op(tt_ctx *ctx, tt_tensor **in, gc_args *g) {
    switch (g->op) {
    case OP_RESHAPE: return tt_reshape(ctx, in[0], g->ndim, g->shape);
    case OP_FLATTEN: return tt_flatten(ctx, in[0], g->axis);
    case OP_TRANSPOSE: return tt_transpose(ctx, in[0], g->a, g->b);
    case OP_PERMUTE: return tt_permute(ctx, in[0], g->ints);
    case OP_SLICE: return tt_slice(ctx, in[0], g->axis, g->a, g->b, g->c);
    case OP_CONCAT: return tt_concat(ctx, g->n, in, g->axis);
    case OP_STACK: return tt_stack(ctx, g->n, in, g->axis);
    case OP_PAD: return tt_pad(ctx, in[0], g->n, g->ints, 0.25f);
    case OP_INDEX_SELECT: return tt_index_select(ctx, in[0], g->axis, (size_t)g->n, g->ints);
    case OP_GATHER: return tt_gather(ctx, in[0], g->axis, g->shape, tt_shape_numel(in[0]->ndim, g->shape), g->ints);
    case OP_EMBEDDING: return tt_embedding(ctx, in[0], g->ndim, g->shape, tt_shape_numel(g->ndim, g->shape), g->ints);
    default: { /* views of an intermediate, two views of one tensor, and a view of a view */
        tt_tensor *h = tt_mul(ctx, in[0], in[0]);
        tt_tensor *v1 = tt_reshape(ctx, h, g->ndim, g->shape);
        tt_tensor *v2 = tt_flatten(ctx, tt_reshape(ctx, in[0], g->ndim, g->shape), 0);
        return tt_add(ctx, tt_flatten(ctx, v1, 0), tt_mul(ctx, v2, v2));
    }
    }
}

/* twice: the op applied two times to the same inputs and summed, so a backward that overwrites
   input gradients instead of adding to them gives half the gradient and fails the check */
static tt_tensor *gc_fn(tt_ctx *ctx, tt_tensor **in, void *user) {
    gc_args *g = (gc_args *)user;
    if (g->twice) return tt_add(ctx, gc_op(ctx, in, g), gc_op(ctx, in, g));
    return gc_op(ctx, in, g);
}

static unsigned g_lcg = 12345u;
static int rnd_int(int n) { /* 0..n-1 */
    g_lcg = g_lcg * 1664525u + 1013904223u;
    return (int)((g_lcg >> 8) % (unsigned)n);
}
static void rnd_shape(int nd, int *s) {
    static const int sizes[5] = {1, 2, 3, 5, 4};
    int d;
    for (d = 0; d < nd; d++) s[d] = sizes[rnd_int(5)];
}

static int g_gc_fail;
static size_t g_gc_checked;
/* Gradient check with the library defaults (eps 1e-2, atol 1e-3, rtol 1e-2): these ops are linear
   (or, in the view chain, quadratic) in their inputs, so central differences are exact up to
   float rounding of the inputs and outputs (~1e-6); the defaults leave a wide margin while still
   catching any gradient that lands in the wrong element (error O(1)). */
static void gc(const char *what, gc_args *g, int n_in, int nds, const int (*shapes)[TT_MAX_DIMS]) {
    tt_tensor *in[8];
    tt_gradcheck_report rep;
    tt_result r;
    int k;
    memset(&rep, 0, sizeof rep);
    tt_scratch_reset(&g_ctx);
    for (k = 0; k < n_in; k++) in[k] = tt_requires_grad(&g_ctx, tt_tensor_randn(&g_ctx, nds, shapes[k], 0, 1));
    g->twice = 0;
    r = tt_gradcheck(&g_ctx, gc_fn, n_in, in, g, NULL, &rep);
    if (r == TT_OK) {
        g->twice = 1;
        r = tt_gradcheck(&g_ctx, gc_fn, n_in, in, g, NULL, &rep);
    }
    g_gc_checked += rep.n_checked;
    if (r != TT_OK && !(r == TT_ERR_INVALID_ARGS && rep.n_checked == 0 && tt_error(&g_ctx) == TT_ERR_INVALID_ARGS)) {
        printf("  gradcheck %s (op %d, axis %d): %s; worst input %d index %u analytic %g numeric %g; %s\n", what,
               g->op, g->axis, tt_result_string(r), rep.worst_input, (unsigned)rep.worst_index, rep.worst_analytic,
               rep.worst_numeric, tt_error_message(&g_ctx));
        g_gc_fail++;
    }
    /* an empty input has nothing to check: tt_gradcheck reports that; not a failure here */
    tt_clear_error(&g_ctx);
}

static void test_gradcheck_all(void) {
    int shapes[8][TT_MAX_DIMS];
    int nd, trial, ax, k, d;
    gc_args g;
    ctx_open();
    g_gc_fail = 0;
    for (nd = 1; nd <= 4; nd++)
        for (trial = 0; trial < 3; trial++) {
            rnd_shape(nd, shapes[0]);
            memset(&g, 0, sizeof g);
            /* reshape to the reversed shape with a -1, and the view chain */
            g.op = OP_RESHAPE; g.ndim = nd;
            for (d = 0; d < nd; d++) g.shape[d] = shapes[0][nd - 1 - d];
            g.shape[rnd_int(nd)] = -1;
            gc("reshape", &g, 1, nd, (const int (*)[TT_MAX_DIMS])shapes);
            g.op = OP_VIEW_CHAIN;
            gc("view chain", &g, 1, nd, (const int (*)[TT_MAX_DIMS])shapes);
            for (ax = -nd; ax < nd; ax++) {
                g.op = OP_FLATTEN; g.axis = ax;
                gc("flatten", &g, 1, nd, (const int (*)[TT_MAX_DIMS])shapes);
                g.op = OP_TRANSPOSE; g.a = ax; g.b = rnd_int(nd);
                gc("transpose", &g, 1, nd, (const int (*)[TT_MAX_DIMS])shapes);
                /* slice: random bounds in -len-2 .. len+2, step 1..3 */
                g.op = OP_SLICE; g.axis = ax;
                {
                    int len = shapes[0][ax < 0 ? ax + nd : ax];
                    g.a = rnd_int(2 * len + 5) - len - 2; g.b = rnd_int(2 * len + 5) - len - 2; g.c = 1 + rnd_int(3);
                    if (trial == 0) { g.a = 0; g.b = len; g.c = 1; }
                }
                gc("slice", &g, 1, nd, (const int (*)[TT_MAX_DIMS])shapes);
                /* concat of 2..6 inputs (beyond the node's 4 fixed slots) with different sizes on axis */
                g.op = OP_CONCAT; g.axis = ax; g.n = 2 + rnd_int(5);
                for (k = 1; k < g.n; k++) {
                    memcpy(shapes[k], shapes[0], sizeof shapes[0]);
                    shapes[k][ax < 0 ? ax + nd : ax] = 1 + rnd_int(3);
                }
                gc("concat", &g, g.n, nd, (const int (*)[TT_MAX_DIMS])shapes);
                /* index_select with repeats */
                g.op = OP_INDEX_SELECT; g.axis = ax; g.n = 1 + rnd_int(6);
                for (k = 0; k < g.n; k++) g.ints[k] = rnd_int(shapes[0][ax < 0 ? ax + nd : ax]);
                gc("index_select", &g, 1, nd, (const int (*)[TT_MAX_DIMS])shapes);
                /* gather: index no bigger than x except on axis; repeats happen */
                g.op = OP_GATHER; g.axis = ax;
                {
                    size_t n = 1, i;
                    int a = ax < 0 ? ax + nd : ax;
                    for (d = 0; d < nd; d++) {
                        g.shape[d] = d == a ? 1 + rnd_int(3) : 1 + rnd_int(shapes[0][d]);
                        n *= (size_t)g.shape[d];
                    }
                    for (i = 0; i < n; i++) g.ints[i] = rnd_int(shapes[0][a]);
                }
                gc("gather", &g, 1, nd, (const int (*)[TT_MAX_DIMS])shapes);
            }
            /* stack: every axis 0..nd, n = 1..6 */
            for (ax = -(nd + 1); ax <= nd && nd < TT_MAX_DIMS; ax++) {
                g.op = OP_STACK; g.axis = ax; g.n = 1 + rnd_int(6);
                for (k = 1; k < g.n; k++) memcpy(shapes[k], shapes[0], sizeof shapes[0]);
                gc("stack", &g, g.n, nd, (const int (*)[TT_MAX_DIMS])shapes);
            }
            /* permute: a random permutation */
            g.op = OP_PERMUTE;
            for (d = 0; d < nd; d++) g.ints[d] = d;
            for (d = nd - 1; d > 0; d--) { int j = rnd_int(d + 1), t = g.ints[d]; g.ints[d] = g.ints[j]; g.ints[j] = t; }
            gc("permute", &g, 1, nd, (const int (*)[TT_MAX_DIMS])shapes);
            /* pad: 0..nd dims padded by 0..2 each side */
            g.op = OP_PAD; g.n = 2 * rnd_int(nd + 1);
            for (k = 0; k < g.n; k++) g.ints[k] = rnd_int(3);
            gc("pad", &g, 1, nd, (const int (*)[TT_MAX_DIMS])shapes);
        }
    /* embedding: weights (num, dim) with num, dim in {1, 3, 5}, ids of 0..3 dims with repeats */
    for (trial = 0; trial < 9; trial++) {
        int ws[TT_MAX_DIMS];
        size_t n;
        memset(&g, 0, sizeof g);
        ws[0] = 1 + 2 * (trial % 3); ws[1] = 1 + 2 * (trial / 3);
        g.op = OP_EMBEDDING; g.ndim = trial % 4;
        rnd_shape(g.ndim, g.shape);
        n = tt_shape_numel(g.ndim, g.shape);
        for (k = 0; k < (int)n; k++) g.ints[k] = rnd_int(ws[0]);
        memcpy(shapes[0], ws, sizeof ws);
        gc("embedding", &g, 1, 2, (const int (*)[TT_MAX_DIMS])shapes);
    }
    CHECK(g_gc_fail == 0);
    CHECK(g_gc_checked > 5000); /* the loops above really checked elements */
    printf("  %u gradient elements checked\n", (unsigned)g_gc_checked);
    tt_ctx_free(&g_ctx);
}

/* ============================================================ PyTorch goldens */

/* Outputs are copies of inputs, so they must match exactly. Gradients are sums of a few products
   w * 1 (repeated ids, gathered twice); float summation order may differ from PyTorch's, so
   1e-6 absolute + 1e-6 relative. */
#define GOLD_TOL 1e-6

static void check_arr(const char *what, const float *got, const float *want, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (!(fabs((double)got[i] - (double)want[i]) <= GOLD_TOL + GOLD_TOL * fabs((double)want[i]))) {
            printf("  %s[%u] = %.9g, PyTorch %.9g\n", what, (unsigned)i, got[i], want[i]);
            tt_test_failed_++;
            return;
        }
}

static void test_golden_permute_slice_concat_pad(void) {
    int sx[3] = {2, 3, 4}, sy[3] = {2, 2, 5}, perm[3] = {2, 0, 1}, pads[4] = {1, 2, 0, 1}, s6[2] = {-1, 6};
    tt_tensor *x, *y, *t, *parts[2], *out;
    ctx_open();
    x = tt_requires_grad(&g_ctx, mk(3, sx, ref_a_x));
    y = tt_requires_grad(&g_ctx, mk(3, sy, ref_a_y));
    t = tt_slice(&g_ctx, tt_permute(&g_ctx, x, perm), 0, 1, 4, 2);
    parts[0] = t; parts[1] = y;
    t = tt_pad(&g_ctx, tt_concat(&g_ctx, 2, parts, 2), 4, pads, 0.5f);
    t = tt_reshape(&g_ctx, tt_transpose(&g_ctx, t, 0, 2), 2, s6);
    out = tt_flatten(&g_ctx, tt_slice(&g_ctx, t, 0, -8, -1, 3), 0);
    CHECK(out && out->numel == 18);
    if (out && out->numel == 18) {
        check_arr("out", out->data, ref_a_out, 18);
        CHECK(tt_backward_seed(&g_ctx, out, ref_a_w) == TT_OK);
        check_arr("grad x", x->grad, ref_a_gx, 24);
        check_arr("grad y", y->grad, ref_a_gy, 20);
    }
    tt_ctx_free(&g_ctx);
}

static void test_golden_embedding_stack_index_gather(void) {
    int ws[2] = {7, 3}, ids_shape[2] = {2, 5}, gshape[4] = {2, 2, 4, 2};
    tt_tensor *w, *e[2], *t, *out;
    ctx_open();
    w = tt_param(&g_ctx, "emb", 2, ws);
    CHECK(tt_tensor_set(&g_ctx, w, ref_b_W, 21) == TT_OK);
    e[0] = tt_embedding(&g_ctx, w, 2, ids_shape, 10, ref_b_ids1);
    e[1] = tt_embedding(&g_ctx, w, 2, ids_shape, 10, ref_b_ids2);
    t = tt_index_select(&g_ctx, tt_stack(&g_ctx, 2, e, 1), 2, 4, ref_b_sel);
    out = tt_flatten(&g_ctx, tt_gather(&g_ctx, t, 3, gshape, 32, ref_b_gidx), 1);
    CHECK(out && out->numel == 32 && out->ndim == 2);
    if (out && out->numel == 32) {
        check_arr("out", out->data, ref_b_out, 32);
        tt_zero_grad(&g_ctx);
        CHECK(tt_backward_seed(&g_ctx, out, ref_b_w) == TT_OK);
        check_arr("grad W", w->grad, ref_b_gW, 21);
    }
    tt_ctx_free(&g_ctx);
}

static void test_golden_many_inputs(void) {
    tt_tensor *xs[6], *zs[5], *parts[2], *out;
    int k, s[2], m1[1] = {-1};
    size_t off = 0;
    ctx_open();
    for (k = 0; k < 6; k++) {
        s[0] = k + 1; s[1] = 3;
        xs[k] = tt_requires_grad(&g_ctx, mk(2, s, ref_c_x + off));
        off += (size_t)(k + 1) * 3;
    }
    s[0] = 2; s[1] = 3;
    for (k = 0; k < 5; k++) zs[k] = tt_requires_grad(&g_ctx, mk(2, s, ref_c_z + 6 * k));
    parts[0] = tt_reshape(&g_ctx, tt_concat(&g_ctx, 6, xs, 0), 1, m1);
    parts[1] = tt_reshape(&g_ctx, tt_stack(&g_ctx, 5, zs, -1), 1, m1);
    out = tt_concat(&g_ctx, 2, parts, 0);
    CHECK(out && out->numel == 93);
    if (out && out->numel == 93) {
        check_arr("out", out->data, ref_c_out, 93);
        CHECK(tt_backward_seed(&g_ctx, out, ref_c_w) == TT_OK);
        for (off = 0, k = 0; k < 6; k++) {
            check_arr("grad xs[k]", xs[k]->grad, ref_c_gx + off, xs[k]->numel);
            off += xs[k]->numel;
        }
        for (k = 0; k < 5; k++) check_arr("grad zs[k]", zs[k]->grad, ref_c_gz + 6 * k, 6);
    }
    tt_ctx_free(&g_ctx);
}

/* ============================================================ errors */

/* The call must fail with code at site op (tt_error_site), return NULL, add no tape node and
   leave x's data as it was (x holds iota24). `why` says what the case is about (what the
   message explains); it is not compared: messages may be reworded, code and site are stable. */
static tt_tensor *g_x;
static int g_nodes;
static void expect_err(tt_tensor *y, tt_result code, const char *op, int line) {
    if (y != NULL || tt_error(&g_ctx) != code || strcmp(tt_error_site(&g_ctx), op) != 0 ||
        g_ctx.n_nodes != g_nodes || !same(g_x->data, iota24, g_x->numel)) {
        printf("  line %d: expected %s from %s, got %s from '%s': \"%s\" (output %s)\n", line, tt_result_string(code),
               op, tt_result_string(tt_error(&g_ctx)), tt_error_site(&g_ctx), tt_error_message(&g_ctx),
               y ? "non-NULL" : "NULL");
        tt_test_failed_++;
    }
    tt_clear_error(&g_ctx);
}
#define EXPECT_ERR(call, code, op, why) expect_err((call), code, op, __LINE__)

static void test_errors(void) {
    int s234[3] = {2, 3, 4}, s23[2] = {2, 3}, s33[2] = {3, 3}, s5[1] = {5};
    int bad_shape[2] = {5, 5}, two_inf[2] = {-1, -1}, neg[2] = {-2, 12}, big[2] = {1 << 20, 1 << 20};
    int perm_dup[3] = {0, 0, 1}, perm_oob[3] = {0, 1, 3}, pads_neg[2] = {1, -1}, pads6[6] = {0, 0, 0, 0, 0, 0};
    int pads8[8] = {0}, idx_hi[3] = {0, 1, 3}, idx_neg[2] = {0, -1}, gshape_big[3] = {3, 3, 4}, gshape[3] = {2, 3, 1};
    int gidx[6] = {0, 1, 2, 3, 4, 0}, ids[3] = {0, 5, 1}, ids_shape[1] = {3}, ws[2] = {5, 2}, s6d[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    tt_tensor *x, *w, *xs[3], *a23, *a33;
    ctx_open();
    g_x = x = tt_requires_grad(&g_ctx, mk(3, s234, iota24));
    w = tt_requires_grad(&g_ctx, mk(2, ws, iota24));
    a23 = tt_requires_grad(&g_ctx, mk(2, s23, iota24));
    a33 = mk(2, s33, iota24);
    g_nodes = g_ctx.n_nodes;

    /* NULL inputs */
    EXPECT_ERR(tt_reshape(&g_ctx, NULL, 1, s5), TT_ERR_INVALID_ARGS, "reshape", "NULL");
    EXPECT_ERR(tt_reshape(&g_ctx, x, 2, NULL), TT_ERR_INVALID_ARGS, "reshape", "NULL");
    EXPECT_ERR(tt_flatten(&g_ctx, NULL, 0), TT_ERR_INVALID_ARGS, "flatten", NULL);
    EXPECT_ERR(tt_transpose(&g_ctx, NULL, 0, 1), TT_ERR_INVALID_ARGS, "transpose", NULL);
    EXPECT_ERR(tt_permute(&g_ctx, NULL, perm_dup), TT_ERR_INVALID_ARGS, "permute", NULL);
    EXPECT_ERR(tt_permute(&g_ctx, x, NULL), TT_ERR_INVALID_ARGS, "permute", "NULL");
    EXPECT_ERR(tt_slice(&g_ctx, NULL, 0, 0, 1, 1), TT_ERR_INVALID_ARGS, "slice", NULL);
    EXPECT_ERR(tt_concat(&g_ctx, 2, NULL, 0), TT_ERR_INVALID_ARGS, "concat", NULL);
    xs[0] = x; xs[1] = NULL;
    EXPECT_ERR(tt_concat(&g_ctx, 2, xs, 0), TT_ERR_INVALID_ARGS, "concat", "NULL");
    EXPECT_ERR(tt_stack(&g_ctx, 2, xs, 0), TT_ERR_INVALID_ARGS, "stack", "NULL");
    EXPECT_ERR(tt_pad(&g_ctx, NULL, 0, NULL, 0), TT_ERR_INVALID_ARGS, "pad", NULL);
    EXPECT_ERR(tt_pad(&g_ctx, x, 2, NULL, 0), TT_ERR_INVALID_ARGS, "pad", "NULL");
    EXPECT_ERR(tt_index_select(&g_ctx, NULL, 0, 1, idx_hi), TT_ERR_INVALID_ARGS, "index_select", NULL);
    EXPECT_ERR(tt_index_select(&g_ctx, x, 0, 2, NULL), TT_ERR_INVALID_ARGS, "index_select", "NULL");
    EXPECT_ERR(tt_gather(&g_ctx, NULL, 0, gshape, 6, gidx), TT_ERR_INVALID_ARGS, "gather", NULL);
    EXPECT_ERR(tt_gather(&g_ctx, x, 0, gshape, 6, NULL), TT_ERR_INVALID_ARGS, "gather", "NULL");
    EXPECT_ERR(tt_embedding(&g_ctx, NULL, 1, ids_shape, 3, ids), TT_ERR_INVALID_ARGS, "embedding", NULL);
    EXPECT_ERR(tt_embedding(&g_ctx, w, 1, ids_shape, 3, NULL), TT_ERR_INVALID_ARGS, "embedding", "NULL");

    /* reshape sizes */
    EXPECT_ERR(tt_reshape(&g_ctx, x, 2, bad_shape), TT_ERR_SHAPE, "reshape", "[5,5]");
    EXPECT_ERR(tt_reshape(&g_ctx, x, 2, two_inf), TT_ERR_SHAPE, "reshape", "-1");
    EXPECT_ERR(tt_reshape(&g_ctx, x, 2, neg), TT_ERR_SHAPE, "reshape", "-2");
    EXPECT_ERR(tt_reshape(&g_ctx, x, 2, big), TT_ERR_SHAPE, "reshape", "[2,3,4]");
    EXPECT_ERR(tt_reshape(&g_ctx, x, TT_MAX_DIMS + 1, s6d), TT_ERR_SHAPE, "reshape", "ndim");
    {
        int inf7[2] = {7, -1};
        EXPECT_ERR(tt_reshape(&g_ctx, x, 2, inf7), TT_ERR_SHAPE, "reshape", "infer");
    }
    /* axes */
    EXPECT_ERR(tt_flatten(&g_ctx, x, 3), TT_ERR_INVALID_ARGS, "flatten", "-3..2");
    EXPECT_ERR(tt_flatten(&g_ctx, tt_scalar(&g_ctx, 1), 1), TT_ERR_INVALID_ARGS, "flatten", "start_dim");
    EXPECT_ERR(tt_transpose(&g_ctx, x, 0, -4), TT_ERR_INVALID_ARGS, "transpose", "-4");
    EXPECT_ERR(tt_transpose(&g_ctx, x, 3, 0), TT_ERR_INVALID_ARGS, "transpose", "dim0");
    EXPECT_ERR(tt_slice(&g_ctx, x, 3, 0, 1, 1), TT_ERR_INVALID_ARGS, "slice", "axis 3");
    EXPECT_ERR(tt_slice(&g_ctx, tt_scalar(&g_ctx, 1), 0, 0, 1, 1), TT_ERR_INVALID_ARGS, "slice", "no dimensions");
    EXPECT_ERR(tt_slice(&g_ctx, x, 0, 0, 1, 0), TT_ERR_INVALID_ARGS, "slice", "step");
    EXPECT_ERR(tt_slice(&g_ctx, x, 0, 0, 1, -1), TT_ERR_INVALID_ARGS, "slice", "step");
    xs[0] = x; xs[1] = x;
    EXPECT_ERR(tt_concat(&g_ctx, 2, xs, 3), TT_ERR_INVALID_ARGS, "concat", "axis");
    EXPECT_ERR(tt_stack(&g_ctx, 2, xs, 4), TT_ERR_INVALID_ARGS, "stack", "axis");
    EXPECT_ERR(tt_stack(&g_ctx, 2, xs, -5), TT_ERR_INVALID_ARGS, "stack", "axis");
    EXPECT_ERR(tt_index_select(&g_ctx, x, -4, 1, idx_hi), TT_ERR_INVALID_ARGS, "index_select", "axis");
    EXPECT_ERR(tt_gather(&g_ctx, x, 5, gshape, 6, gidx), TT_ERR_INVALID_ARGS, "gather", "axis");
    /* perm */
    EXPECT_ERR(tt_permute(&g_ctx, x, perm_dup), TT_ERR_INVALID_ARGS, "permute", "perm[1] = 0");
    EXPECT_ERR(tt_permute(&g_ctx, x, perm_oob), TT_ERR_INVALID_ARGS, "permute", "3");
    /* concat / stack sizes */
    EXPECT_ERR(tt_concat(&g_ctx, 0, xs, 0), TT_ERR_INVALID_ARGS, "concat", "at least one");
    EXPECT_ERR(tt_stack(&g_ctx, -1, xs, 0), TT_ERR_INVALID_ARGS, "stack", "at least one");
    xs[0] = a23; xs[1] = a33;
    EXPECT_ERR(tt_concat(&g_ctx, 2, xs, 1), TT_ERR_SHAPE, "concat", "[3,3]");
    EXPECT_ERR(tt_stack(&g_ctx, 2, xs, 0), TT_ERR_SHAPE, "stack", "[2,3]");
    xs[1] = x;
    EXPECT_ERR(tt_concat(&g_ctx, 2, xs, 0), TT_ERR_SHAPE, "concat", "[2,3,4]");
    {
        tt_tensor *sc[2];
        tt_tensor *t6 = tt_tensor_new(&g_ctx, TT_MAX_DIMS, s6d);
        sc[0] = tt_scalar(&g_ctx, 1); sc[1] = sc[0];
        EXPECT_ERR(tt_concat(&g_ctx, 2, sc, 0), TT_ERR_INVALID_ARGS, "concat", "no dimensions");
        sc[0] = t6; sc[1] = t6;
        EXPECT_ERR(tt_stack(&g_ctx, 2, sc, 0), TT_ERR_SHAPE, "stack", "TT_MAX_DIMS");
    }
    /* pad */
    EXPECT_ERR(tt_pad(&g_ctx, x, 2, pads_neg, 0), TT_ERR_INVALID_ARGS, "pad", "pads[1] = -1");
    EXPECT_ERR(tt_pad(&g_ctx, x, 3, pads6, 0), TT_ERR_INVALID_ARGS, "pad", "n_pads 3");
    EXPECT_ERR(tt_pad(&g_ctx, x, -2, pads6, 0), TT_ERR_INVALID_ARGS, "pad", "n_pads");
    EXPECT_ERR(tt_pad(&g_ctx, x, 8, pads8, 0), TT_ERR_SHAPE, "pad", "8 pads");
    /* indices out of range: the op, the position, the value, the valid range */
    EXPECT_ERR(tt_index_select(&g_ctx, x, 0, 3, idx_hi), TT_ERR_INDEX, "index_select", "index[2] = 3 out of range 0..1");
    EXPECT_ERR(tt_index_select(&g_ctx, x, 1, 2, idx_neg), TT_ERR_INDEX, "index_select", "index[1] = -1 out of range 0..2");
    EXPECT_ERR(tt_index_select(&g_ctx, x, 1, (size_t)-1, idx_hi), TT_ERR_INVALID_ARGS, "index_select", "count");
    EXPECT_ERR(tt_gather(&g_ctx, x, 1, gshape, 6, gidx), TT_ERR_INDEX, "gather", "index[3] = 3 out of range 0..2");
    EXPECT_ERR(tt_gather(&g_ctx, x, 1, gshape_big, 36, gidx), TT_ERR_SHAPE, "gather", "dimension 0");
    EXPECT_ERR(tt_embedding(&g_ctx, w, 1, ids_shape, 3, ids), TT_ERR_INDEX, "embedding", "ids[1] = 5 out of range 0..4");
    {
        int idsn[2] = {1, -3}, s2[1] = {2};
        EXPECT_ERR(tt_embedding(&g_ctx, w, 1, s2, 2, idsn), TT_ERR_INDEX, "embedding", "ids[1] = -3");
    }
    EXPECT_ERR(tt_embedding(&g_ctx, x, 1, ids_shape, 3, ids), TT_ERR_SHAPE, "embedding", "(num, dim)");
    EXPECT_ERR(tt_embedding(&g_ctx, w, TT_MAX_DIMS, s6d, 1, ids), TT_ERR_SHAPE, "embedding", "ndim");
    {
        int negs[1] = {-1};
        EXPECT_ERR(tt_embedding(&g_ctx, w, 1, negs, 0, ids), TT_ERR_SHAPE, "embedding", "negative");
    }
    /* index arrays carry their length: one short (or long) is a shape error, never a read past it */
    EXPECT_ERR(tt_gather(&g_ctx, x, 1, gshape, 5, gidx), TT_ERR_SHAPE, "gather", "index count");
    EXPECT_ERR(tt_gather(&g_ctx, x, 1, gshape, 7, gidx), TT_ERR_SHAPE, "gather", "index count");
    EXPECT_ERR(tt_embedding(&g_ctx, w, 1, ids_shape, 2, ids), TT_ERR_SHAPE, "embedding", "ids count");
    /* an op after an error with a NULL input stays silent and keeps the first message */
    CHECK(tt_reshape(&g_ctx, x, 2, bad_shape) == NULL);
    CHECK(tt_flatten(&g_ctx, tt_transpose(&g_ctx, tt_permute(&g_ctx, NULL, perm_dup), 0, 1), 0) == NULL);
    CHECK(strcmp(tt_error_site(&g_ctx), "reshape") == 0);
    tt_ctx_free(&g_ctx);
}

/* Out of scratch memory in the middle of an op: an error, never a crash. */
static void test_out_of_memory(void) {
    tt_desc d;
    tt_ctx ctx;
    int s[2] = {64, 64}, perm[2] = {1, 0};
    tt_tensor *x, *y = NULL;
    int i;
    memset(&d, 0, sizeof d);
    d.scratch_bytes = 64 * 1024;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    x = tt_requires_grad(&ctx, tt_tensor_new(&ctx, 2, s));
    for (i = 0; i < 10 && tt_error(&ctx) == TT_OK; i++) y = tt_permute(&ctx, x, perm);
    CHECK(y == NULL && tt_error(&ctx) == TT_ERR_OUT_OF_MEMORY && strcmp(tt_error_site(&ctx), "permute") == 0);
    tt_ctx_free(&ctx);
}

int main(void) {
    RUN(test_reshape_view);
    RUN(test_flatten);
    RUN(test_transpose_permute);
    RUN(test_slice_python_bounds);
    RUN(test_concat_stack);
    RUN(test_pad);
    RUN(test_index_gather_embedding);
    RUN(test_gradcheck_all);
    RUN(test_golden_permute_slice_concat_pad);
    RUN(test_golden_embedding_stack_index_gather);
    RUN(test_golden_many_inputs);
    RUN(test_errors);
    RUN(test_out_of_memory);
    TEST_EXIT();
}
