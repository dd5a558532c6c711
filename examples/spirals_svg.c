/* spirals_svg: train a classifier on the three spirals and draw its decision regions.

   Data: three interleaved spiral arms in 2-D (100 points each, fixed seed), as in demo.c.
   Model: MLP 2-32-32-3 with ReLU, logits -> softmax cross-entropy (tt_cross_entropy),
   full-batch gradient descent.

   After training, the plane [-1.1, 1.1]^2 is cut into a grid of cells; the model classifies
   each cell's centre (one batched forward pass in no-grad mode) and the cell is coloured by
   the predicted class. A ReLU network is piecewise linear, so the regions are bounded by
   straight pieces: with enough of them it follows the curved arms.

   Usage:  ./build/spirals_svg [out.svg]   train, print a summary and a character map, and write
                                           the picture (default spirals.svg)
   The SVG is drawn with tt_chart_svg: one <rect> per grid cell (the chart's background), one dot
   per point, a frame with ticks, a title with the accuracy and a legend of the classes. Open it
   in any web browser. */
#define TINYTRAIN_IMPLEMENTATION
#include "tinytrain.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

enum {
    PER_CLASS = 100, CLASSES = 3, N = PER_CLASS * CLASSES, HIDDEN = 32, STEPS = 1500,
    GRID = 48,            /* SVG: GRID x GRID cells */
    MAP_W = 60, MAP_H = 26, /* character map */
    SVG_PX = 512
};
static const float LR = 0.5f, EXTENT = 1.1f;

static const char *const REGION_COLOUR[CLASSES] = {"#fbb4ae", "#b3cde3", "#ccebc5"};
static const char *const POINT_COLOUR[CLASSES] = {"#e41a1c", "#377eb8", "#4daf4a"};

/* Point i of class c: radius grows along the arm, angle turns with the radius, plus noise. */
static void make_spirals(tt_rng *rng, float *x, int *y) {
    int c, i;
    for (c = 0; c < CLASSES; c++)
        for (i = 0; i < PER_CLASS; i++) {
            float r = (float)i / PER_CLASS;
            float a = (float)c * 4.0f + 4.0f * r + 0.2f * tt_rng_normal(rng);
            int k = c * PER_CLASS + i;
            x[2 * k] = r * sinf(a);
            x[2 * k + 1] = r * cosf(a);
            y[k] = c;
        }
}

typedef struct mlp {
    tt_tensor *w1, *b1, *w2, *b2, *w3, *b3;
} mlp;

static tt_tensor *forward(tt_ctx *ctx, const mlp *m, tt_tensor *x) {
    tt_tensor *h = tt_relu(ctx, tt_linear(ctx, x, m->w1, m->b1));
    h = tt_relu(ctx, tt_linear(ctx, h, m->w2, m->b2));
    return tt_linear(ctx, h, m->w3, m->b3);
}

static tt_tensor *linear_param(tt_ctx *ctx, const char *name, int out, int in, tt_tensor **bias) {
    int ws[2], bs[1];
    tt_tensor *w;
    ws[0] = out; ws[1] = in; bs[0] = out;
    w = tt_param(ctx, name, 2, ws);
    *bias = tt_param(ctx, name, 1, bs);
    tt_init_torch_default(ctx, w, *bias); /* as torch.nn.Linear: fan_in from w's shape */
    return w;
}

/* Predicted class of n points (n x 2 floats) into cls; returns 0 on success. Scratch is rewound
   afterwards, so it can be called between training steps or after them. */
static int classify(tt_ctx *ctx, const mlp *m, int n, const float *pts, int *cls) {
    size_t mark = tt_scratch_mark(ctx);
    int xs[2], old = tt_set_grad_enabled(ctx, 0);
    tt_result r;
    xs[0] = n; xs[1] = 2;
    r = tt_argmax(ctx, forward(ctx, m, tt_tensor_from(ctx, 2, xs, pts)), 1, (size_t)n, cls);
    tt_set_grad_enabled(ctx, old);
    tt_scratch_rewind(ctx, mark);
    return r == TT_OK ? 0 : -1;
}

/* The picture, drawn with tinytrain's chart writer (tt_chart_svg): the training points as one
   dot series per class (the legend), the decision regions as the chart's background (a draw
   callback that writes one <rect> per grid cell), axes with ticks at the same scale on x1 and
   x2, and a title with the training accuracy. */
static void draw_regions(void *user, const tt_chart_frame *f, tt_write_fn write, void *wuser) {
    const int *cells = (const int *)user;
    double cw = f->width / GRID, ch = f->height / GRID;
    char buf[160];
    int r, c, n;
    /* row 0 is the top (largest x2); cells slightly oversized to avoid hairline gaps */
    for (r = 0; r < GRID; r++)
        for (c = 0; c < GRID; c++) {
            n = snprintf(buf, sizeof buf, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"/>\n",
                         tt_chart_px(f, -EXTENT + 2.0 * EXTENT * c / GRID), tt_chart_py(f, EXTENT - 2.0 * EXTENT * r / GRID),
                         cw + 0.5, ch + 0.5, REGION_COLOUR[cells[r * GRID + c]]);
            write(wuser, buf, (size_t)n);
        }
}

static int write_svg(tt_ctx *ctx, const char *path, const int *cells, const float *x, const int *y, double accuracy) {
    static double px[CLASSES][PER_CLASS], py[CLASSES][PER_CLASS];
    static const char *const labels[CLASSES] = {"class 0", "class 1", "class 2"};
    static const tt_chart_style dots[CLASSES] = {TT_CHART_DOTS, TT_CHART_DOTS, TT_CHART_DOTS};
    tt_chart_series s[CLASSES];
    tt_chart_opts o = tt_chart_opts_init();
    char title[128];
    int k, n[CLASSES] = {0, 0, 0};
    for (k = 0; k < N; k++) {
        px[y[k]][n[y[k]]] = x[2 * k];
        py[y[k]][n[y[k]]] = x[2 * k + 1];
        n[y[k]]++;
    }
    for (k = 0; k < CLASSES; k++) { s[k].label = labels[k]; s[k].x = px[k]; s[k].y = py[k]; s[k].n = n[k]; }
    snprintf(title, sizeof title, "Three spirals: a 2-%d-%d-%d MLP, training accuracy %.1f%%", HIDDEN, HIDDEN, CLASSES,
             100.0 * accuracy);
    o.title = title; o.xlabel = "x1"; o.ylabel = "x2";
    o.width = SVG_PX + 92; o.height = SVG_PX + 92;   /* a square frame of SVG_PX */
    o.fixed_x = o.fixed_y = 1;
    o.x_min = o.y_min = -EXTENT; o.x_max = o.y_max = EXTENT;
    o.colors = POINT_COLOUR; o.styles = dots;
    o.draw = draw_regions; o.draw_user = (void *)cells;
    return tt_chart_svg(ctx, path, &o, CLASSES, s) == TT_OK ? 0 : -1;
}

/* Define SPIRALS_SVG_NO_MAIN to include this file elsewhere (tests/test_spirals_svg.c does). */
#ifndef SPIRALS_SVG_NO_MAIN
int main(int argc, char **argv) {
    static float grid_pts[2 * GRID * GRID], map_pts[2 * MAP_W * MAP_H];
    static int cells[GRID * GRID], map_cls[MAP_W * MAP_H];
    tt_desc desc;
    tt_ctx ctx;
    mlp m;
    float x[2 * N];
    int y[N], pred[N], xs[2] = {N, 2}, step, i, r, c, right;
    tt_rng data_rng;

    memset(&desc, 0, sizeof desc);
    desc.seed = 42;
    desc.max_params = 4096;
    desc.scratch_bytes = 4 << 20;
    desc.persist_bytes = 1 << 20;
    if (tt_ctx_init(&ctx, &desc) != TT_OK) {
        printf("init failed: %s\n", tt_error_message(&ctx));
        return 1;
    }
    tt_rng_seed(&data_rng, 7);
    make_spirals(&data_rng, x, y);
    m.w1 = linear_param(&ctx, "fc1", HIDDEN, 2, &m.b1);
    m.w2 = linear_param(&ctx, "fc2", HIDDEN, HIDDEN, &m.b2);
    m.w3 = linear_param(&ctx, "fc3", CLASSES, HIDDEN, &m.b3);
    printf("three spirals: %d points, MLP 2-%d-%d-%d (%zu parameters), cross-entropy, SGD lr %.1f\n", N, HIDDEN,
           HIDDEN, CLASSES, ctx.n_params, (double)LR);

    for (step = 0; step <= STEPS; step++) {
        tt_tensor *loss;
        tt_scratch_reset(&ctx);
        loss = tt_cross_entropy(&ctx, forward(&ctx, &m, tt_tensor_from(&ctx, 2, xs, x)), N, y, NULL);
        tt_zero_grad(&ctx);
        if (tt_backward(&ctx, loss) != TT_OK) goto fail;
        if (step % 300 == 0) {
            if (classify(&ctx, &m, N, x, pred)) goto fail;
            for (i = 0, right = 0; i < N; i++) right += pred[i] == y[i];
            printf("step %4d  loss %.4f  accuracy %5.1f%%\n", step, (double)loss->data[0], 100.0 * right / N);
        }
        if (step < STEPS && tt_sgd_step_simple(&ctx, LR) != TT_OK) goto fail;
    }

    /* classify the centres of the SVG grid cells (row 0 at the top) and of the character map */
    tt_scratch_reset(&ctx);
    for (r = 0; r < GRID; r++)
        for (c = 0; c < GRID; c++) {
            grid_pts[2 * (r * GRID + c)] = -EXTENT + 2 * EXTENT * ((float)c + 0.5f) / GRID;
            grid_pts[2 * (r * GRID + c) + 1] = EXTENT - 2 * EXTENT * ((float)r + 0.5f) / GRID;
        }
    for (r = 0; r < MAP_H; r++)
        for (c = 0; c < MAP_W; c++) {
            map_pts[2 * (r * MAP_W + c)] = -EXTENT + 2 * EXTENT * ((float)c + 0.5f) / MAP_W;
            map_pts[2 * (r * MAP_W + c) + 1] = EXTENT - 2 * EXTENT * ((float)r + 0.5f) / MAP_H;
        }
    if (classify(&ctx, &m, GRID * GRID, grid_pts, cells) || classify(&ctx, &m, MAP_W * MAP_H, map_pts, map_cls))
        goto fail;
    {
        int count[CLASSES] = {0, 0, 0};
        for (i = 0; i < GRID * GRID; i++) count[cells[i]]++;
        printf("\ndecision regions on a %dx%d grid over [-%.1f, %.1f]^2: class 0 %.0f%%, class 1 %.0f%%, class 2 "
               "%.0f%% of the area\n", GRID, GRID, (double)EXTENT, (double)EXTENT, 100.0 * count[0] / (GRID * GRID),
               100.0 * count[1] / (GRID * GRID), 100.0 * count[2] / (GRID * GRID));
    }
    printf("character map (regions a, b, c; training points A, B, C):\n");
    {
        char map[MAP_H][MAP_W + 1];
        for (r = 0; r < MAP_H; r++) {
            for (c = 0; c < MAP_W; c++) map[r][c] = (char)('a' + map_cls[r * MAP_W + c]);
            map[r][MAP_W] = 0;
        }
        for (i = 0; i < N; i++) {
            c = (int)((x[2 * i] + EXTENT) / (2 * EXTENT) * MAP_W);
            r = (int)((EXTENT - x[2 * i + 1]) / (2 * EXTENT) * MAP_H);
            if (r >= 0 && r < MAP_H && c >= 0 && c < MAP_W) map[r][c] = (char)('A' + y[i]);
        }
        for (r = 0; r < MAP_H; r++) printf("  %s\n", map[r]);
    }

    {
        const char *path = argc > 1 ? argv[1] : "spirals.svg";
        if (classify(&ctx, &m, N, x, pred)) goto fail;
        for (i = 0, right = 0; i < N; i++) right += pred[i] == y[i];
        if (write_svg(&ctx, path, cells, x, y, (double)right / N)) {
            printf("could not write %s: %s\n", path, tt_error_message(&ctx));
            tt_ctx_free(&ctx);
            return 1;
        }
        printf("training accuracy %.1f%%; wrote %s%s\n", 100.0 * right / N, path,
               argc > 1 ? "" : " in the current directory (give another path as the first argument)");
    }
    tt_ctx_free(&ctx);
    return 0;
fail:
    printf("failed: %s\n", tt_error_message(&ctx));
    tt_ctx_free(&ctx);
    return 1;
}
#endif
