/* The transformer-step fast paths (docs/bench_train.md) must give exactly the bits of the plain
   code they replace. Each test recomputes the plain formula here, element by element in the
   original order, and compares bit patterns (tolerance 0: the fast paths do the same IEEE
   operations in the same order; NaNs would only need to be NaN, none occur here).
     - tt__binary: same shape, row-vector (bias-like) and scalar broadcasting of either operand,
       forward and backward (the reduction over broadcast rows), and the odometer fallback;
     - permute with a contiguous last dim (attention heads): gather forward, scatter-add backward;
     - layernorm with weight and bias: forward and backward;
     - tt_backward's zeroing of intermediate gradients (skipped when they are still fresh):
       a second backward adds the same gradient again, a seeded backward of an intermediate
       followed by the full one, and ops appended after a backward. */
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"


static void init_ctx(tt_ctx *ctx) {
    tt_desc d;
    memset(&d, 0, sizeof d);
    d.max_params = 1 << 12;
    d.scratch_bytes = 1 << 22;
    d.persist_bytes = 1 << 16;
    CHECK(tt_ctx_init(ctx, &d) == TT_OK);
}

static tt_tensor *randn_grad(tt_ctx *ctx, tt_rng *r, int nd, const int *shape) {
    tt_tensor *t = tt_tensor_new(ctx, nd, shape);
    size_t i;
    if (!t) return NULL;
    for (i = 0; i < t->numel; i++) t->data[i] = 2.0f * tt_rng_normal(r);
    return tt_requires_grad(ctx, t);
}

/* right-aligned broadcast strides of a shape (nd, s) inside the output shape (ond, os) */
static void strides(int nd, const int *s, int ond, const int *os, size_t *st) {
    size_t k = 1;
    int i;
    for (i = ond - 1; i >= 0; i--) {
        int d = i - (ond - nd), sz = d >= 0 ? s[d] : 1;
        st[i] = (sz == 1 && os[i] != 1) ? 0 : k;
        if (d >= 0) k *= (size_t)sz;
    }
}

enum { ADD, SUB, MUL, DIV };

static void check_binary(int op, int na, const int *sa, int nb, const int *sb, int same) {
    tt_ctx ctx;
    tt_rng r;
    tt_tensor *a, *b, *y;
    size_t sta[TT_MAX_DIMS], stb[TT_MAX_DIMS], i;
    float seed[512], ga[512], gb[512], yr[512];
    init_ctx(&ctx);
    tt_rng_seed(&r, 7u + (unsigned)op);
    a = randn_grad(&ctx, &r, na, sa);
    b = same ? a : randn_grad(&ctx, &r, nb, sb);
    if (!b) return;
    for (i = 0; i < b->numel; i++) b->data[i] += b->data[i] >= 0 ? 0.5f : -0.5f; /* keep divisors away from 0 */
    y = op == ADD ? tt_add(&ctx, a, b) : op == SUB ? tt_sub(&ctx, a, b) : op == MUL ? tt_mul(&ctx, a, b) : tt_div(&ctx, a, b);
    CHECK(y != NULL && y->numel <= 512);
    if (!y || y->numel > 512) { tt_ctx_free(&ctx); return; }
    for (i = 0; i < y->numel; i++) seed[i] = tt_rng_normal(&r);
    CHECK(tt_backward_seed(&ctx, y, seed) == TT_OK);
    /* plain odometer reference, in output order */
    strides(a->ndim, a->shape, y->ndim, y->shape, sta);
    strides(b->ndim, b->shape, y->ndim, y->shape, stb);
    memset(ga, 0, sizeof ga);
    memset(gb, 0, sizeof gb);
    for (i = 0; i < y->numel; i++) {
        size_t oa = 0, ob = 0, rest = i;
        int d;
        float av, bv, da, db;
        for (d = y->ndim - 1; d >= 0; d--) {
            size_t c = rest % (size_t)y->shape[d];
            rest /= (size_t)y->shape[d];
            oa += c * sta[d];
            ob += c * stb[d];
        }
        av = a->data[oa]; bv = b->data[ob];
        switch (op) {
        case ADD: yr[i] = av + bv; da = 1; db = 1; break;
        case SUB: yr[i] = av - bv; da = 1; db = -1; break;
        case MUL: yr[i] = av * bv; da = bv; db = av; break;
        default: yr[i] = av / bv; da = 1.0f / bv; db = -av / (bv * bv); break;
        }
        if (same) { ga[oa] += seed[i] * da; ga[ob] += seed[i] * db; }
        else { ga[oa] += seed[i] * da; gb[ob] += seed[i] * db; }
    }
    CHECK_MSG(same_bits(y->data, yr, y->numel), "op %d forward", op);
    CHECK_MSG(same_bits(a->grad, ga, a->numel), "op %d grad of a", op);
    if (!same) CHECK_MSG(same_bits(b->grad, gb, b->numel), "op %d grad of b", op);
    tt_ctx_free(&ctx);
}

static void test_binary_broadcast_bits(void) {
    static const int s235[3] = {2, 3, 5}, s35[2] = {3, 5}, s5[1] = {5}, s7[1] = {7}, s1[1] = {1}, s11[2] = {1, 1},
                     s49[2] = {4, 9}, s37[1] = {37}, s215[3] = {2, 1, 5}, s41[2] = {4, 1}, s14[2] = {1, 4},
                     s1_37[2] = {1, 37}, s3_37[2] = {3, 37};
    int op;
    for (op = ADD; op <= DIV; op++) {
        check_binary(op, 3, s235, 2, s35, 0);   /* b a row block repeated (tok + pos) */
        check_binary(op, 3, s235, 1, s5, 0);    /* b a row vector (bias-like) */
        check_binary(op, 2, s35, 3, s235, 0);   /* a broadcast instead */
        check_binary(op, 1, s7, 1, s1, 0);      /* scalar b */
        check_binary(op, 2, s11, 2, s49, 0);    /* scalar a with ndim 2 */
        check_binary(op, 0, s1, 2, s49, 0);     /* ndim-0 scalar a */
        check_binary(op, 1, s37, 1, s37, 0);    /* same shape, odd size (vector body + tail) */
        check_binary(op, 2, s3_37, 2, s1_37, 0); /* leading 1 stripped */
        check_binary(op, 1, s37, 1, s37, 1);    /* a op a */
        check_binary(op, 3, s235, 3, s215, 0);  /* middle-dim broadcast: odometer fallback */
        check_binary(op, 2, s41, 2, s14, 0);    /* outer product: odometer fallback */
    }
}

static void test_permute_bits(void) {
    tt_ctx ctx;
    tt_rng r;
    static const int s[4] = {2, 3, 4, 5}, perm[4] = {0, 2, 1, 3}, perm_t[4] = {0, 1, 3, 2};
    int k;
    init_ctx(&ctx);
    tt_rng_seed(&r, 3);
    for (k = 0; k < 2; k++) { /* contiguous last dim (fast rows) and a transposed last dim */
        const int *p = k ? perm_t : perm;
        tt_tensor *x = randn_grad(&ctx, &r, 4, s), *y;
        float seed[120], ref[120], gref[120];
        int i[4], o[4], d;
        size_t st[4] = {60, 20, 5, 1}, n = 0;
        y = tt_permute(&ctx, x, p);
        CHECK(y != NULL);
        if (!y) break;
        for (n = 0; n < 120; n++) seed[n] = tt_rng_normal(&r);
        CHECK(tt_backward_seed(&ctx, y, seed) == TT_OK);
        memset(gref, 0, sizeof gref);
        n = 0;
        for (o[0] = 0; o[0] < y->shape[0]; o[0]++)
            for (o[1] = 0; o[1] < y->shape[1]; o[1]++)
                for (o[2] = 0; o[2] < y->shape[2]; o[2]++)
                    for (o[3] = 0; o[3] < y->shape[3]; o[3]++, n++) {
                        size_t at = 0;
                        for (d = 0; d < 4; d++) i[p[d]] = o[d];
                        for (d = 0; d < 4; d++) at += (size_t)i[d] * st[d];
                        ref[n] = x->data[at];
                        gref[at] += seed[n];
                    }
        CHECK(same_bits(y->data, ref, 120));
        CHECK(same_bits(x->grad, gref, 120));
    }
    tt_ctx_free(&ctx);
}

/* layernorm over the last dim with weight and bias, the plain formulas of >>ops_nn */
static void test_layernorm_affine_bits(void) {
    tt_ctx ctx;
    tt_rng r;
    /* rows 4, 5, 6: the four-row blocks of the AVX2 path and the rows after them */
    static const int cases[4][2] = {{4, 37}, {3, 128}, {5, 1}, {6, 100}};
    int c;
    init_ctx(&ctx);
    tt_rng_seed(&r, 11);
    for (c = 0; c < 4; c++) {
        int rows = cases[c][0], m = cases[c][1], xs[2], ws[1];
        tt_tensor *x, *w, *b, *y;
        float seed[640], yr[640], gx[640], gw[128], gbr[128];
        int i, j;
        xs[0] = rows; xs[1] = m; ws[0] = m;
        x = randn_grad(&ctx, &r, 2, xs);
        w = randn_grad(&ctx, &r, 1, ws);
        b = randn_grad(&ctx, &r, 1, ws);
        y = tt_layernorm(&ctx, x, 1, w, b, 1e-5f);
        CHECK(y != NULL);
        if (!y) break;
        for (i = 0; i < rows * m; i++) seed[i] = tt_rng_normal(&r);
        CHECK(tt_backward_seed(&ctx, y, seed) == TT_OK);
        memset(gx, 0, sizeof gx);
        memset(gw, 0, sizeof gw);
        memset(gbr, 0, sizeof gbr);
        for (i = 0; i < rows; i++) {
            const float *xp = x->data + i * m, *gp = seed + i * m;
            double sum = 0, sq = 0, dm, sg = 0, sgx = 0;
            float mean, invstd, mg, mgx;
            for (j = 0; j < m; j++) sum += xp[j];
            dm = sum / (double)m;
            for (j = 0; j < m; j++) sq += (xp[j] - dm) * (xp[j] - dm);
            mean = (float)dm;
            invstd = (float)(1.0 / sqrt(sq / (double)m + (double)1e-5f));
            for (j = 0; j < m; j++) yr[i * m + j] = (xp[j] - mean) * invstd * w->data[j] + b->data[j];
            for (j = 0; j < m; j++) {
                float xhat = (xp[j] - mean) * invstd, g = gp[j] * w->data[j];
                sg += g;
                sgx += (double)g * xhat;
                gw[j] += gp[j] * xhat;
                gbr[j] += gp[j];
            }
            mg = (float)(sg / (double)m);
            mgx = (float)(sgx / (double)m);
            for (j = 0; j < m; j++) {
                float xhat = (xp[j] - mean) * invstd, g = gp[j] * w->data[j];
                gx[i * m + j] += invstd * (g - mg - xhat * mgx);
            }
        }
        CHECK_MSG(same_bits(y->data, yr, (size_t)(rows * m)), "forward %dx%d", rows, m);
        CHECK_MSG(same_bits(x->grad, gx, (size_t)(rows * m)), "dx %dx%d", rows, m);
        CHECK_MSG(same_bits(w->grad, gw, (size_t)m), "dw %dx%d", rows, m);
        CHECK_MSG(same_bits(b->grad, gbr, (size_t)m), "db %dx%d", rows, m);
    }
    tt_ctx_free(&ctx);
}

/* f(x) = sum(gelu(x * w) + x), x and w leaves; returns the loss and its intermediate h = x * w */
static tt_tensor *small_graph(tt_ctx *ctx, tt_tensor *x, tt_tensor *w, tt_tensor **h) {
    *h = tt_mul(ctx, x, w);
    return tt_sum(ctx, tt_add(ctx, tt_gelu(ctx, *h), x));
}

static void test_backward_zeroing(void) {
    tt_ctx ctx;
    tt_rng r;
    static const int s[2] = {3, 7}, sw[1] = {7};
    tt_tensor *x, *w, *h, *loss, *loss2, *h2;
    float gx1[21], gw1[7], gh1[21], ones[21];
    int i;
    init_ctx(&ctx);
    tt_rng_seed(&r, 5);
    x = randn_grad(&ctx, &r, 2, s);
    w = randn_grad(&ctx, &r, 1, sw);
    loss = small_graph(&ctx, x, w, &h);
    CHECK(loss && tt_backward(&ctx, loss) == TT_OK);
    if (!loss) { tt_ctx_free(&ctx); return; }
    memcpy(gx1, x->grad, sizeof gx1);
    memcpy(gw1, w->grad, sizeof gw1);
    memcpy(gh1, h->grad, sizeof gh1);
    /* second backward: leaves add the same again, intermediates restart from zero (exact for h).
       Leaves: 2 g up to float reassociation (x gets two contributions per pass, w one per row),
       so 1e-5 relative; stale intermediates would give 3 g or more. */
    CHECK(tt_backward(&ctx, loss) == TT_OK);
    for (i = 0; i < 21; i++) CHECK_CLOSE(x->grad[i], 2.0f * gx1[i], 1e-6, 1e-5);
    for (i = 0; i < 7; i++) CHECK_CLOSE(w->grad[i], 2.0f * gw1[i], 1e-6, 1e-5);
    CHECK(same_bits(h->grad, gh1, 21));
    /* a seeded backward of the intermediate h, then the full one: h->grad is again gh1 */
    for (i = 0; i < 21; i++) ones[i] = 1.0f;
    CHECK(tt_backward_seed(&ctx, h, ones) == TT_OK);
    CHECK(tt_backward(&ctx, loss) == TT_OK);
    CHECK(same_bits(h->grad, gh1, 21));
    /* a second graph appended after backward: its fresh grads and the old ones both start at 0 */
    memset(x->grad, 0, sizeof gx1);
    memset(w->grad, 0, sizeof gw1);
    loss2 = small_graph(&ctx, x, w, &h2);
    CHECK(loss2 && tt_backward(&ctx, loss2) == TT_OK);
    CHECK(same_bits(x->grad, gx1, 21));
    CHECK(same_bits(w->grad, gw1, 7));
    CHECK(h2 && same_bits(h2->grad, gh1, 21));
    CHECK(tt_backward(&ctx, loss) == TT_OK);
    for (i = 0; i < 21; i++) CHECK_CLOSE(x->grad[i], 2.0f * gx1[i], 1e-6, 1e-5);
    CHECK(same_bits(h->grad, gh1, 21));
    tt_ctx_free(&ctx);
}

int main(void) {
    RUN(test_binary_broadcast_bits);
    RUN(test_permute_bits);
    RUN(test_layernorm_affine_bits);
    RUN(test_backward_zeroing);
    TEST_EXIT();
}
