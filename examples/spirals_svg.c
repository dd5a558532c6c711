/* spirals_svg: train a classifier on the three spirals and draw its decision regions.

   Data: three interleaved spiral arms in 2-D (100 points each, fixed seed), as in demo.c.
   Model: MLP 2-32-32-3 with ReLU, logits -> softmax cross-entropy (tt_cross_entropy),
   full-batch gradient descent.

   After training, the plane [-1.1, 1.1]^2 is cut into a grid of cells; the model classifies
   each cell's centre (one batched forward pass in no-grad mode) and the cell is coloured by
   the predicted class. A ReLU network is piecewise linear, so the regions are bounded by
   straight pieces: with enough of them it follows the curved arms.

   Usage:  ./build/spirals_svg               train and print a summary and a character map
           ./build/spirals_svg spirals.svg   also write the picture to spirals.svg
   The SVG is written by hand (a few fprintf calls): one <rect> per grid cell, one <circle> per
   point. Open it in any web browser. */
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

static int write_svg(const char *path, const int *cells, const float *x, const int *y) {
    FILE *f = fopen(path, "w");
    const double cell = (double)SVG_PX / GRID;
    int r, c, k, bad;
    if (!f) return -1;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n",
            SVG_PX, SVG_PX, SVG_PX, SVG_PX);
    fprintf(f, "<!-- three spirals: decision regions of a 2-%d-%d-%d MLP trained by tinytrain -->\n", HIDDEN,
            HIDDEN, CLASSES);
    /* regions: row 0 is the top (largest x2); cells slightly oversized to avoid hairline gaps */
    for (r = 0; r < GRID; r++)
        for (c = 0; c < GRID; c++)
            fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"/>\n", c * cell,
                    r * cell, cell + 0.5, cell + 0.5, REGION_COLOUR[cells[r * GRID + c]]);
    for (k = 0; k < N; k++) {
        double px = (x[2 * k] + EXTENT) / (2 * EXTENT) * SVG_PX;
        double py = (EXTENT - x[2 * k + 1]) / (2 * EXTENT) * SVG_PX;
        fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3.5\" fill=\"%s\" stroke=\"black\" stroke-width=\"0.5\"/>\n",
                px, py, POINT_COLOUR[y[k]]);
    }
    fprintf(f, "</svg>\n");
    bad = ferror(f); /* any failed write so far */
    return fclose(f) != 0 || bad ? -1 : 0;
}

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

    if (argc > 1) {
        if (write_svg(argv[1], cells, x, y)) {
            printf("could not write %s\n", argv[1]);
            tt_ctx_free(&ctx);
            return 1;
        }
        printf("wrote %s (%d rects, %d circles)\n", argv[1], GRID * GRID, N);
    } else {
        printf("(give an output path, e.g. ./build/spirals_svg spirals.svg, to write the picture)\n");
    }
    tt_ctx_free(&ctx);
    return 0;
fail:
    printf("failed: %s\n", tt_error_message(&ctx));
    tt_ctx_free(&ctx);
    return 1;
}
