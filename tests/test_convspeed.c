/* The CNN fast paths against their references, bit for bit (tolerance 0: they copy the same
   values, or do the same IEEE operations in the same order, so nothing may change).
   - im2col / col2im (edge ranges instead of per-element bounds tests, memcpy / vector adds for
     stride 1) against the element-by-element loops they replaced, kept here as the reference;
   - max / avg pooling forward and backward with an AVX2 (or AVX-512) context kernel, whose
     interior runs 8 outputs at a time, against the same ops in a TT_KERNEL_SCALAR context (the
     window-by-window reference, itself checked against PyTorch in test_ops_conv.c): outputs,
     argmax positions and input gradients;
   - the row sums in double, 4 rows at once (tt__rows: conv bias gradient, batchnorm statistics and
     gradient sums, global average pooling) against the one-row-at-a-time loops
     (tt__row_ref_kernels), and batchnorm's elementwise loops against their formulas;
   - whole ops (conv2d with bias, batchnorm, global_avg_pool2d: forward and backward) against
     plain loops of the formulas the library used before, in the same order.
   Shapes: odd and even H/W (1 .. 33), kernels 1-5, strides 1-3, padding, dilation, ceil_mode,
   count_include_pad 0/1, channel counts that are not multiples of 8; data with ties, -0, +-inf
   and NaN. */
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"

/* ---- the element-by-element reference loops ---- */

static void ref_im2col(const tt__conv_geom *g, int cg, const float *x, float *col) {
    int c, ki, kj, oy, ox, p = g->oh * g->ow;
    for (c = 0; c < cg; c++)
        for (ki = 0; ki < g->kh; ki++)
            for (kj = 0; kj < g->kw; kj++)
                for (oy = 0; oy < g->oh; oy++)
                    for (ox = 0; ox < g->ow; ox++) {
                        int iy = oy * g->sh - g->ph + ki * g->dh, ix = ox * g->sw - g->pw + kj * g->dw;
                        float v = 0.0f;
                        if (iy >= 0 && iy < g->h && ix >= 0 && ix < g->w) v = x[((size_t)c * g->h + iy) * g->w + ix];
                        col[((size_t)(c * g->kh + ki) * g->kw + kj) * p + (size_t)oy * g->ow + ox] = v;
                    }
}

static void ref_col2im(const tt__conv_geom *g, int cg, const float *col, float *dx) {
    int c, ki, kj, oy, ox, p = g->oh * g->ow;
    for (c = 0; c < cg; c++)
        for (ki = 0; ki < g->kh; ki++)
            for (kj = 0; kj < g->kw; kj++)
                for (oy = 0; oy < g->oh; oy++)
                    for (ox = 0; ox < g->ow; ox++) {
                        int iy = oy * g->sh - g->ph + ki * g->dh, ix = ox * g->sw - g->pw + kj * g->dw;
                        if (iy >= 0 && iy < g->h && ix >= 0 && ix < g->w)
                            dx[((size_t)c * g->h + iy) * g->w + ix] +=
                                col[((size_t)(c * g->kh + ki) * g->kw + kj) * p + (size_t)oy * g->ow + ox];
                    }
}

/* values on a coarse grid (so windows have ties), with -0, +0 and, if specials, NaN and +-inf */
static void cs_fill(tt_rng *r, float *v, size_t n, int specials) {
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned u = tt_rng_u32(r) % 64;
        v[i] = (float)((int)(tt_rng_u32(r) % 9) - 4) * 0.5f + 0.125f * (float)(tt_rng_u32(r) % 3);
        if (u == 0) v[i] = -0.0f;
        else if (u == 1) v[i] = 0.0f;
        else if (specials && u == 2) v[i] = NAN;
        else if (specials && u == 3) v[i] = -INFINITY;
        else if (specials && u == 4) v[i] = INFINITY;
    }
}

static int bits_equal(const void *a, const void *b, size_t bytes) { return memcmp(a, b, bytes) == 0; }

/* ---- im2col / col2im ---- */

static void test_im2col_col2im_bits(void) {
    static const int hw[] = {1, 2, 5, 7, 12, 17}, ks[] = {1, 2, 3, 5}, ss[] = {1, 2, 3}, ps[] = {0, 1, 2},
                     ds[] = {1, 2}, cs[] = {1, 3};
    enum { MAXN = 3 * 17 * 17, MAXCOL = 3 * 25 * 39 * 39 };
    static float x[MAXN], col[MAXCOL], colr[MAXCOL], dx[MAXN], dxr[MAXN];
    tt_rng r;
    int ih, iw, ik, is, ip, id, ic, cases = 0;
    tt_rng_seed(&r, 3);
    for (ih = 0; ih < 6; ih++) for (iw = 0; iw < 6; iw++) for (ik = 0; ik < 4; ik++) for (is = 0; is < 3; is++)
    for (ip = 0; ip < 3; ip++) for (id = 0; id < 2; id++) for (ic = 0; ic < 2; ic++) {
        tt__conv_geom g;
        long long eh, ew;
        size_t ncol, nx;
        memset(&g, 0, sizeof g);
        g.n = 1; g.c = cs[ic]; g.h = hw[ih]; g.w = hw[(iw + ih) % 6];
        g.kh = ks[ik]; g.kw = ks[(ik + is) % 4]; g.sh = ss[is]; g.sw = ss[(is + ip) % 3];
        g.ph = ps[ip]; g.pw = ps[(ip + id) % 3]; g.dh = ds[id]; g.dw = ds[(id + ic) % 2];
        eh = (long long)g.dh * (g.kh - 1) + 1; ew = (long long)g.dw * (g.kw - 1) + 1;
        if (eh > g.h + 2 * g.ph || ew > g.w + 2 * g.pw) continue;
        g.oh = (int)((g.h + 2 * g.ph - eh) / g.sh + 1); g.ow = (int)((g.w + 2 * g.pw - ew) / g.sw + 1);
        nx = (size_t)g.c * g.h * g.w;
        ncol = (size_t)g.c * g.kh * g.kw * g.oh * g.ow;
        cs_fill(&r, x, nx, 1);
        cs_fill(&r, dx, nx, 0);
        memcpy(dxr, dx, nx * sizeof(float));
        memset(col, 0x7f, ncol * sizeof(float)); /* garbage that im2col must overwrite everywhere */
        tt__im2col(&g, g.c, x, col);
        ref_im2col(&g, g.c, x, colr);
        CHECK_MSG(bits_equal(col, colr, ncol * sizeof(float)), "im2col c%d %dx%d k%dx%d s%dx%d p%dx%d d%dx%d", g.c,
                  g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw);
        cs_fill(&r, col, ncol, 0);
        tt__col2im(&g, g.c, col, dx);
        ref_col2im(&g, g.c, col, dxr);
        CHECK_MSG(bits_equal(dx, dxr, nx * sizeof(float)), "col2im c%d %dx%d k%dx%d s%dx%d p%dx%d d%dx%d", g.c, g.h,
                  g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw);
        cases++;
    }
    CHECK(cases > 500);
}

/* ---- pooling: AVX2 context against a scalar-kernel context ---- */

static int cs_init_ctx(tt_ctx *ctx, tt_kernel k) {
    tt_desc d;
    memset(&d, 0, sizeof d);
    d.max_params = 64;
    d.scratch_bytes = (size_t)4 << 20;
    d.persist_bytes = 1 << 16;
    d.kernel = k;
    return tt_ctx_init(ctx, &d) == TT_OK;
}

/* One pooling op in both contexts; 1 if the fast path had 8-wide rows to do. */
static int pool_case(tt_ctx *cs, tt_ctx *cv, int avg, int nsp, const int *shape, const tt_pool_opts *o, tt_rng *r) {
    static float xv[2 * 9 * 33 * 33], gy[2 * 9 * 33 * 33];
    tt_tensor *xs, *xv_t, *ys, *yv;
    size_t nx = (size_t)shape[0] * shape[1] * shape[2] * (nsp == 2 ? shape[3] : 1);
    const tt__conv_geom *gs, *gv;
    int ya, yb, xa, xb;
    tt_scratch_reset(cs);
    tt_scratch_reset(cv);
    cs_fill(r, xv, nx, !avg);
    xs = tt_requires_grad(cs, tt_tensor_from(cs, nsp + 2, shape, xv));
    xv_t = tt_requires_grad(cv, tt_tensor_from(cv, nsp + 2, shape, xv));
    if (nsp == 2) {
        ys = avg ? tt_avg_pool2d(cs, xs, o) : tt_max_pool2d(cs, xs, o);
        yv = avg ? tt_avg_pool2d(cv, xv_t, o) : tt_max_pool2d(cv, xv_t, o);
    } else {
        ys = avg ? tt_avg_pool1d(cs, xs, o) : tt_max_pool1d(cs, xs, o);
        yv = avg ? tt_avg_pool1d(cv, xv_t, o) : tt_max_pool1d(cv, xv_t, o);
    }
    if (!ys || !yv) { /* too small for the kernel: both must refuse */
        CHECK(!ys && !yv);
        tt_clear_error(cs);
        tt_clear_error(cv);
        return 0;
    }
    CHECK(ys->numel == yv->numel);
    CHECK_MSG(bits_equal(ys->data, yv->data, ys->numel * sizeof(float)), "%s forward, input %dx%dx%dx%d",
              avg ? "avg" : "max", shape[0], shape[1], shape[2], nsp == 2 ? shape[3] : 1);
    gs = (const tt__conv_geom *)ys->node->saved;
    gv = (const tt__conv_geom *)yv->node->saved;
    if (!avg) CHECK_MSG(bits_equal(gs->argmax, gv->argmax, ys->numel * sizeof(int)), "argmax");
    cs_fill(r, gy, ys->numel, 0);
    CHECK(tt_backward_seed(cs, ys, gy) == TT_OK);
    CHECK(tt_backward_seed(cv, yv, gy) == TT_OK);
    CHECK_MSG(bits_equal(xs->grad, xv_t->grad, nx * sizeof(float)), "%s backward", avg ? "avg" : "max");
    tt__pool_inner(gv->oh, gv->h, gv->kh, gv->sh, gv->ph, gv->dh, &ya, &yb);
    tt__pool_inner(gv->ow, gv->w, gv->kw, gv->sw, gv->pw, gv->dw, &xa, &xb);
    return tt__pool_simd(cv, xa, xb) && yb > ya;
}

static void pool_sweep(int avg) {
    static const int hw[] = {1, 7, 9, 13, 20, 33}, ks[] = {1, 2, 3, 4}, ss[] = {1, 2, 3};
    tt_ctx cs, cv;
    tt_rng r;
    int ih, ik, is, ip, id, ceil, cip, fast = 0, cases = 0;
    tt_kernel best = tt_kernel_best();
    if (!cs_init_ctx(&cs, TT_KERNEL_SCALAR) || !cs_init_ctx(&cv, best)) { CHECK(0); return; }
    tt_rng_seed(&r, 11 + (uint64_t)avg);
    for (ih = 0; ih < 6; ih++) for (ik = 0; ik < 4; ik++) for (is = 0; is < 3; is++) for (ip = 0; ip < 2; ip++)
    for (id = 0; id < (avg ? 1 : 2); id++) for (ceil = 0; ceil < 2; ceil++) for (cip = 0; cip < (avg ? 2 : 1); cip++) {
        int shape[4], nsp;
        tt_pool_opts o = tt_pool_opts_init(ks[ik], ks[(ik + is + ih) % 4]);
        o.stride[0] = ss[is]; o.stride[1] = ss[(is + ih) % 3];
        o.padding[0] = ip ? o.kernel[0] / 2 : 0; o.padding[1] = ip ? o.kernel[1] / 2 : 0;
        o.dilation[0] = 1 + id; o.dilation[1] = 1 + ((id + ik) % 2) * id;
        o.ceil_mode = ceil;
        o.count_include_pad = cip;
        shape[0] = 2; shape[1] = 1 + (ih * 4) % 9; shape[2] = hw[ih]; shape[3] = hw[(ih + ik) % 6];
        fast += pool_case(&cs, &cv, avg, 2, shape, &o, &r);
        cases++;
        /* 1-D: (N, C, L) with the width options */
        nsp = 1;
        shape[2] = shape[3];
        o.kernel[0] = o.kernel[1]; o.stride[0] = o.stride[1]; o.padding[0] = o.padding[1]; o.dilation[0] = o.dilation[1];
        fast += pool_case(&cs, &cv, avg, nsp, shape, &o, &r);
    }
    CHECK(cases > 100);
    CHECK_MSG(fast > 30, "only %d cases reached the 8-wide path", fast);
    tt_ctx_free(&cs);
    tt_ctx_free(&cv);
}

static void test_max_pool_fast_bits(void) { pool_sweep(0); }
static void test_avg_pool_fast_bits(void) { pool_sweep(1); }

/* ---- row sums ---- */

static void test_row_kernels_bits(void) {
    static const size_t ns[] = {0, 1, 3, 4, 5, 8, 37, 196};
    enum { MAXL = 200, STRIDE = 211 };
    static float x[4 * STRIDE], g[4 * STRIDE];
    tt_rng r;
    size_t in;
    int rep;
    tt_rng_seed(&r, 5);
    for (rep = 0; rep < 4; rep++)
        for (in = 0; in < sizeof ns / sizeof ns[0]; in++) {
            size_t n = ns[in], stride = rep & 1 ? STRIDE : n + (size_t)rep, j;
            double s0[4], s1[4], t0[4], t1[4], m[4];
            float mean[4], invstd[4];
            cs_fill(&r, x, 4 * STRIDE, rep == 3); /* the last repetition with NaN and infinities */
            cs_fill(&r, g, 4 * STRIDE, 0);
            for (j = 0; j < 4; j++) {
                s0[j] = s1[j] = 0.25 * (double)j; /* running sums continue from what is there */
                t0[j] = t1[j] = -0.5 * (double)j;
                m[j] = 0.1 * (double)j - 0.3;
                mean[j] = (float)m[j];
                invstd[j] = 1.5f + (float)j;
            }
            tt__rows.sum4(x, stride, n, s0);
            tt__row_ref_kernels.sum4(x, stride, n, s1);
            CHECK_MSG(bits_equal(s0, s1, sizeof s0) || rep == 3, "sum4 n %d stride %d", (int)n, (int)stride);
            tt__rows.sqdev4(x, stride, n, m, s0);
            tt__row_ref_kernels.sqdev4(x, stride, n, m, s1);
            CHECK_MSG(bits_equal(s0, s1, sizeof s0) || rep == 3, "sqdev4 n %d stride %d", (int)n, (int)stride);
            tt__rows.dot4(g, x, stride, n, mean, invstd, s0, t0);
            tt__row_ref_kernels.dot4(g, x, stride, n, mean, invstd, s1, t1);
            CHECK_MSG((bits_equal(s0, s1, sizeof s0) && bits_equal(t0, t1, sizeof t0)) || rep == 3, "dot4 n %d", (int)n);
            /* with NaN / inf inputs: NaN where the reference has NaN, else the same (which NaN
               survives an operation on two NaNs depends on the operand order the compiler picks) */
            for (j = 0; j < 4; j++)
                CHECK((s0[j] != s0[j]) == (s1[j] != s1[j]) && (s0[j] != s0[j] || s0[j] == s1[j]) &&
                      (t0[j] != t0[j]) == (t1[j] != t1[j]) && (t0[j] != t0[j] || t0[j] == t1[j]));
        }
}

/* ---- whole ops against the formulas, element by element in the old order ---- */

static void test_batchnorm_bits(void) {
    enum { N = 3, C = 11, L = 37 }; /* C = 2 groups of 4 channels and 3 single ones; L = 9 blocks of 4 + 1 */
    static float xv[N * C * L], gy[N * C * L], y[N * C * L], dx[N * C * L];
    float w[C], b[C], zeros[C] = {0};
    int shape[3] = {N, C, L}, cs[1] = {C};
    tt_ctx ctx;
    tt_rng r;
    tt_tensor *x, *wt, *bt, *yt, *rm, *rv;
    size_t n, c, l, m = N * L;
    tt_rng_seed(&r, 9);
    if (!cs_init_ctx(&ctx, TT_KERNEL_AUTO)) { CHECK(0); return; }
    cs_fill(&r, xv, N * C * L, 0);
    cs_fill(&r, gy, N * C * L, 0);
    for (c = 0; c < C; c++) { w[c] = 0.5f + 0.125f * (float)c; b[c] = 0.25f * (float)c - 1.0f; }
    x = tt_requires_grad(&ctx, tt_tensor_from(&ctx, 3, shape, xv));
    wt = tt_requires_grad(&ctx, tt_tensor_from(&ctx, 1, cs, w));
    bt = tt_requires_grad(&ctx, tt_tensor_from(&ctx, 1, cs, b));
    rm = tt_tensor_from(&ctx, 1, cs, zeros);
    rv = tt_tensor_from(&ctx, 1, cs, zeros);
    yt = tt_batchnorm(&ctx, x, wt, bt, rm, rv, NULL);
    CHECK(yt != NULL);
    if (!yt) { tt_ctx_free(&ctx); return; }
    CHECK(tt_backward_seed(&ctx, yt, gy) == TT_OK);
    for (c = 0; c < C; c++) { /* the loops tt_batchnorm and its backward had, one channel at a time */
        double sum = 0, sq = 0, dm, sum_dy = 0, sum_dy_xhat = 0;
        float mean, invstd, mdy, mdyx, dw, db;
        for (n = 0; n < N; n++)
            for (l = 0; l < L; l++) sum += xv[(n * C + c) * L + l];
        dm = sum / (double)m;
        for (n = 0; n < N; n++)
            for (l = 0; l < L; l++) {
                double d = xv[(n * C + c) * L + l] - dm;
                sq += d * d;
            }
        mean = (float)dm;
        invstd = (float)(1.0 / sqrt(sq / (double)m + 1e-5));
        for (n = 0; n < N; n++)
            for (l = 0; l < L; l++) {
                size_t i = (n * C + c) * L + l;
                y[i] = (xv[i] - mean) * invstd * w[c] + b[c];
                sum_dy += gy[i];
                sum_dy_xhat += (double)gy[i] * ((xv[i] - mean) * invstd);
            }
        mdy = (float)(sum_dy / (double)m);
        mdyx = (float)(sum_dy_xhat / (double)m);
        for (n = 0; n < N; n++)
            for (l = 0; l < L; l++) {
                size_t i = (n * C + c) * L + l;
                float xhat = (xv[i] - mean) * invstd;
                dx[i] = 0.0f;
                dx[i] += w[c] * invstd * (gy[i] - mdy - xhat * mdyx);
            }
        dw = 0.0f; dw += (float)sum_dy_xhat;
        db = 0.0f; db += (float)sum_dy;
        CHECK_MSG(bits_equal(&wt->grad[c], &dw, sizeof dw) && bits_equal(&bt->grad[c], &db, sizeof db), "channel %d", (int)c);
        CHECK(rm->data[c] == 0.9f * 0.0f + 0.1f * mean);
    }
    CHECK(bits_equal(yt->data, y, sizeof y));
    CHECK(bits_equal(x->grad, dx, sizeof dx));
    tt_ctx_free(&ctx);
}

static void test_conv_bias_and_global_pool_bits(void) {
    enum { N = 2, CI = 3, CO = 7, H = 9, W = 11 }; /* CO = one group of 4 channels and 3 single ones */
    static float xv[N * CI * H * W], wv[CO * CI * 9], gy[N * CO * H * W], gp[N * CO];
    float bv[CO];
    int xs[4] = {N, CI, H, W}, ws[4] = {CO, CI, 3, 3}, bs[1] = {CO};
    tt_conv_opts o = tt_conv_opts_init();
    tt_ctx ctx;
    tt_rng r;
    tt_tensor *x, *w, *b, *y, *p;
    size_t n, c, i, ip = H * W;
    tt_rng_seed(&r, 13);
    if (!cs_init_ctx(&ctx, TT_KERNEL_AUTO)) { CHECK(0); return; }
    cs_fill(&r, xv, sizeof xv / sizeof xv[0], 0);
    cs_fill(&r, wv, sizeof wv / sizeof wv[0], 0);
    cs_fill(&r, bv, CO, 0);
    cs_fill(&r, gp, N * CO, 0);
    o.padding[0] = o.padding[1] = 1;
    x = tt_tensor_from(&ctx, 4, xs, xv);
    w = tt_requires_grad(&ctx, tt_tensor_from(&ctx, 4, ws, wv));
    b = tt_requires_grad(&ctx, tt_tensor_from(&ctx, 1, bs, bv));
    y = tt_conv2d(&ctx, x, w, b, &o);
    p = tt_global_avg_pool2d(&ctx, y);
    CHECK(y && p);
    if (!y || !p) { tt_ctx_free(&ctx); return; }
    for (n = 0; n < N * CO; n++) { /* global average: the plane's sum in double, in order */
        double s = 0;
        float e;
        for (i = 0; i < ip; i++) s += y->data[n * ip + i];
        e = (float)(s / (double)ip);
        CHECK(bits_equal(&p->data[n], &e, sizeof e));
    }
    CHECK(tt_backward_seed(&ctx, p, gp) == TT_OK);
    for (n = 0; n < N * CO; n++) /* its backward adds g / (H*W) to the zeroed gradient (-0 becomes +0) */
        for (i = 0; i < ip; i++) { gy[n * ip + i] = 0.0f; gy[n * ip + i] += gp[n] / (float)ip; }
    CHECK(bits_equal(y->grad, gy, sizeof gy));
    for (c = 0; c < CO; c++) { /* bias gradient: per item the plane sum in double, added in item order */
        float e = 0.0f;
        for (n = 0; n < N; n++) {
            double s = 0;
            for (i = 0; i < ip; i++) s += gy[(n * CO + c) * ip + i];
            e += (float)s;
        }
        CHECK_MSG(bits_equal(&b->grad[c], &e, sizeof e), "bias grad %d", (int)c);
    }
    tt_ctx_free(&ctx);
}

int main(void) {
    tt_kernel best = tt_kernel_best();
    RUN(test_im2col_col2im_bits);
    RUN(test_row_kernels_bits);
    RUN(test_batchnorm_bits);
    RUN(test_conv_bias_and_global_pool_bits);
    if (best == TT_KERNEL_AVX2 || best == TT_KERNEL_AVX512) {
        RUN(test_max_pool_fast_bits);
        RUN(test_avg_pool_fast_bits);
    } else {
        SKIP("test_max_pool_fast_bits", "no AVX2 on this CPU or build");
        SKIP("test_avg_pool_fast_bits", "no AVX2 on this CPU or build");
    }
    TEST_EXIT();
}
