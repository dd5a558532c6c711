/* The CNN fast paths against their references, bit for bit (tolerance 0: they copy the same
   values, or do the same IEEE operations in the same order, so nothing may change).
   - im2col / col2im (edge ranges instead of per-element bounds tests, memcpy / vector adds for
     stride 1) against the element-by-element loops they replaced, kept here as the reference;
   - max / avg pooling forward and backward with an AVX2 (or AVX-512) context kernel, whose
     interior runs 8 outputs at a time, against the same ops in a TT_KERNEL_SCALAR context (the
     window-by-window reference, itself checked against PyTorch in test_ops_conv.c): outputs,
     argmax positions and input gradients.
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
static void fill(tt_rng *r, float *v, size_t n, int specials) {
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
        fill(&r, x, nx, 1);
        fill(&r, dx, nx, 0);
        memcpy(dxr, dx, nx * sizeof(float));
        memset(col, 0x7f, ncol * sizeof(float)); /* garbage that im2col must overwrite everywhere */
        tt__im2col(&g, g.c, x, col);
        ref_im2col(&g, g.c, x, colr);
        CHECK_MSG(bits_equal(col, colr, ncol * sizeof(float)), "im2col c%d %dx%d k%dx%d s%dx%d p%dx%d d%dx%d", g.c,
                  g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw);
        fill(&r, col, ncol, 0);
        tt__col2im(&g, g.c, col, dx);
        ref_col2im(&g, g.c, col, dxr);
        CHECK_MSG(bits_equal(dx, dxr, nx * sizeof(float)), "col2im c%d %dx%d k%dx%d s%dx%d p%dx%d d%dx%d", g.c, g.h,
                  g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw);
        cases++;
    }
    CHECK(cases > 500);
}

/* ---- pooling: AVX2 context against a scalar-kernel context ---- */

static int init_ctx(tt_ctx *ctx, tt_kernel k) {
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
    fill(r, xv, nx, !avg);
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
    fill(r, gy, ys->numel, 0);
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
    if (!init_ctx(&cs, TT_KERNEL_SCALAR) || !init_ctx(&cv, best)) { CHECK(0); return; }
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

int main(void) {
    tt_kernel best = tt_kernel_best();
    RUN(test_im2col_col2im_bits);
    if (best == TT_KERNEL_AVX2 || best == TT_KERNEL_AVX512) {
        RUN(test_max_pool_fast_bits);
        RUN(test_avg_pool_fast_bits);
    } else {
        SKIP("test_max_pool_fast_bits", "no AVX2 on this CPU or build");
        SKIP("test_avg_pool_fast_bits", "no AVX2 on this CPU or build");
    }
    TEST_EXIT();
}
