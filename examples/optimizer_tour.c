/* A tour of the optimizers: every optimizer of tinytrain walks two 2-D landscapes, and we draw
   where each one went.

     1. Rosenbrock  f(x, y) = (1 - x)^2 + 100 (y - x^2)^2, from (-1.5, 2). The minimum (1, 1) lies
        at the end of a long, curved, narrow valley: the step that is safe across the valley is
        tiny along it, so plain gradient descent crawls, momentum and adaptive methods do better,
        and a quasi-Newton method (LBFGS) that learns the curvature gets there in a few dozen steps.
     2. A noisy ill-conditioned quadratic f(x, y) = 0.5 (x^2 + 20 y^2), from (-4, 3), where every
        gradient the optimizer sees carries Gaussian noise (sigma 1, fixed seed): the condition
        number 20 makes y oscillate if the step is too large, the noise keeps every optimizer
        jittering around the minimum (0, 0), and the size of that jitter is set by the step size.

   Both functions are built from autograd ops (tt_slice, tt_mul, tt_add, ...) on one 2-element
   parameter, so the optimizers see exactly what they would see in a network. Each optimizer gets
   a fresh context, the same start and the same noise, and runs a fixed number of steps with its
   own learning rate (see the table `tour_opts` for how each was chosen).

   Usage:  ./build/optimizer_tour            prints the table only
           ./build/optimizer_tour out/       also writes out/rosenbrock.svg and out/quadratic.svg
                                             (the directory must exist)
           ./build/optimizer_tour --sweep    the learning-rate sweep behind tour_opts
   Each SVG has one panel per optimizer (small multiples, drawn with tt_chart_grid_svg): the
   contour lines (marching squares, below), the path, the start and the minimum, axes with ticks,
   the final loss. Nothing else is written anywhere. */
#define TINYTRAIN_IMPLEMENTATION
#include "tinytrain.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define TOUR_MAX_STEPS 1000 /* longest run (the trajectory is kept in full) */
#define TOUR_GRID 120       /* contour sampling: TOUR_GRID x TOUR_GRID cells over the view */
#define TOUR_PANEL_W 300    /* width of one panel in SVG pixels; the height keeps the view's aspect */
#define TOUR_COLUMNS 6      /* panels per row */
#define TOUR_MAX_OPTS 24    /* panels per picture at most */

/* ------------------------------------------------------------------------------------------
   The two problems */

enum { TOUR_ROSENBROCK = 0, TOUR_QUADRATIC = 1, TOUR_N_PROBLEMS = 2 };

typedef struct tour_problem {
    const char *name;     /* table heading and SVG title */
    const char *file;     /* SVG file name inside the output directory */
    double x0, y0;        /* start */
    double xopt, yopt;    /* the minimum */
    double view[4];       /* xmin, xmax, ymin, ymax of the picture */
    int steps;            /* optimizer steps (every optimizer gets the same number) */
    int n_levels;
    double levels[12];    /* contour levels (roughly geometric: the function spans decades) */
} tour_problem;

static const tour_problem tour_problems[TOUR_N_PROBLEMS] = {
    {"Rosenbrock (1-x)^2 + 100(y-x^2)^2", "rosenbrock.svg", -1.5, 2.0, 1.0, 1.0,
     {-2.0, 2.0, -1.0, 3.0}, 1000, 11,
     {0.1, 0.5, 2, 5, 10, 25, 50, 100, 250, 500, 1000}},
    {"noisy quadratic 0.5(x^2 + 20y^2), sigma 1", "quadratic.svg", -4.0, 3.0, 0.0, 0.0,
     {-5.0, 5.0, -3.5, 3.5}, 200, 9,
     {0.1, 0.5, 1, 2, 4, 8, 16, 32, 64}},
};

#define TOUR_QUAD_A 1.0f     /* curvature along x */
#define TOUR_QUAD_B 20.0f    /* curvature along y: condition number 20 */
#define TOUR_NOISE 1.0f      /* standard deviation of the gradient noise */
#define TOUR_NOISE_SEED 1234 /* every optimizer sees the same noise sequence */

/* The exact function in double, for the contours and the final loss in the table. */
static double tour_f(int problem, double x, double y) {
    if (problem == TOUR_ROSENBROCK) return (1 - x) * (1 - x) + 100 * (y - x * x) * (y - x * x);
    return 0.5 * (TOUR_QUAD_A * x * x + TOUR_QUAD_B * y * y);
}

/* ------------------------------------------------------------------------------------------
   The optimizers, each with its learning rate for the two problems.

   How the learning rates were chosen: for every optimizer and problem, each lr of the grid
   1e-4, 2e-4, 5e-4, 1e-3, ..., 0.5, 1 (a 1-2-5 grid) gets a score after the fixed number of steps:
   the final loss on Rosenbrock, the mean loss over the last 20 steps on the noisy quadratic (the
   last point alone is luck). We keep the lr whose worst score among itself and its two grid
   neighbours is lowest: a good lr that stays good if it were 2x off, not one at the edge of a
   cliff (SGD's lone best, 2e-3 on Rosenbrock, sits at its stability limit 2 / 1002 and 5e-3
   diverges). `./build/optimizer_tour --sweep` prints all scores and the choice. Every other
   hyperparameter is the library's default, which is PyTorch's. The notes say why the numbers
   have the size they have. */

typedef struct tour_opt {
    const char *name;      /* table and legend */
    tt_optim_kind kind;
    float lr[TOUR_N_PROBLEMS];
    float momentum;        /* SGD only (0 = none) */
} tour_opt;

static const tour_opt tour_opts[] = {
    /* Plain gradient descent is stable only for lr < 2 / (largest curvature of f): on Rosenbrock
       2 / 1902 = 1.05e-3 at the start and 2 / 1002 at the minimum (2e-3 is the cliff edge, 5e-3
       diverges); on the quadratic 2 / 20 = 0.1. Smaller lr: less noise at the end. */
    {"SGD", TT_OPTIM_SGD, {1e-3f, 2e-2f}, 0.0f},
    /* Heavy ball, momentum 0.9: the limit becomes 2 (1 + 0.9) / curvature, and the effective
       step along the valley is lr / (1 - 0.9), ten times larger. */
    {"SGD momentum 0.9", TT_OPTIM_SGD, {1e-3f, 5e-3f}, 0.9f},
    /* Adam-family steps are about lr per coordinate whatever the gradient scale: lr is a
       distance. Large lr on Rosenbrock: big early jumps, then the adaptive scaling settles. */
    {"Adam", TT_OPTIM_ADAM, {5e-1f, 1e-1f}, 0.0f},
    /* AdamW's default weight decay 0.01 pulls toward 0, which moves its fixed point off (1, 1). */
    {"AdamW (wd 0.01)", TT_OPTIM_ADAMW, {1e-1f, 1e-1f}, 0.0f},
    /* Adagrad divides by the root of the sum of all squared gradients: steps shrink like
       1/sqrt(t), so it wants a large lr. */
    {"Adagrad", TT_OPTIM_ADAGRAD, {1.0f, 1.0f}, 0.0f},
    {"RMSprop", TT_OPTIM_RMSPROP, {1e-2f, 5e-2f}, 0.0f},
    /* Adadelta's step is a ratio of running RMS values that starts at sqrt(eps) = 1e-3: lr 1
       (its default) is the largest on the grid, and it is still slow. */
    {"Adadelta", TT_OPTIM_ADADELTA, {1.0f, 1.0f}, 0.0f},
    {"Adamax", TT_OPTIM_ADAMAX, {1.0f, 2e-1f}, 0.0f},
    {"NAdam", TT_OPTIM_NADAM, {5e-2f, 1e-1f}, 0.0f},
    /* RAdam takes plain momentum-SGD steps (no division by sqrt(v)) for its first 5 steps, so
       with the Rosenbrock gradient of ~160 at the start anything above 1e-2 is thrown far away. */
    {"RAdam", TT_OPTIM_RADAM, {5e-3f, 1e-1f}, 0.0f},
    /* ASGD is SGD with a slowly decaying lr and iterate averaging (from t0 = 1e6: not here). */
    {"ASGD", TT_OPTIM_ASGD, {1e-3f, 2e-2f}, 0.0f},
    /* Rprop uses only the sign of the gradient: lr is the initial step, which then grows by 1.2
       or shrinks by 0.5 per coordinate, so the choice hardly matters. */
    {"Rprop", TT_OPTIM_RPROP, {2e-1f, 1e-3f}, 0.0f},
    /* LBFGS with the strong-Wolfe line search: lr 1 is the natural (Newton) step; one step here
       is one LBFGS iteration (max_iter 1) that may evaluate the function several times. It
       assumes exact gradients: the noise of problem 2 confuses its line search. */
    {"LBFGS (strong Wolfe)", TT_OPTIM_LBFGS, {1.0f, 1.0f}, 0.0f},
    /* Adafactor's step is relative to the parameter's RMS (at least 1e-3), capped by lr. */
    {"Adafactor", TT_OPTIM_ADAFACTOR, {1.0f, 1.0f}, 0.0f},
    /* SparseAdam: the 2 coordinates are 2 rows of a (2, 1) embedding table, looked up by id.
       Both rows get a gradient at every step, so it takes Adam's steps (but for where eps
       enters: torch's SparseAdam adds it before the bias correction). */
    {"SparseAdam (2 rows)", TT_OPTIM_SPARSE_ADAM, {5e-1f, 1e-1f}, 0.0f},
    /* Muon orthogonalises a matrix update; on a 1 x 2 parameter the orthogonalised update is the
       unit vector of the momentum, so every step has length ~lr (normalised gradient descent).
       Its default weight decay 0.1 pulls toward 0 (see the distance column). */
    {"Muon (1x2, wd 0.1)", TT_OPTIM_MUON, {1e-2f, 1e-1f}, 0.0f},
    /* Lion's update is a sign vector: every coordinate moves by exactly lr each step. */
    {"Lion", TT_OPTIM_LION, {1e-2f, 1e-1f}, 0.0f},
    /* LAMB = Adam + a trust ratio |p| / |update| per tensor (with its default weight decay 0.01)
       + gradient clipping: steps are relative to |p|, which shrinks near a minimum at 0. */
    {"LAMB (wd 0.01)", TT_OPTIM_LAMB, {2e-2f, 1e-1f}, 0.0f},
};
#define TOUR_N_OPTS ((int)(sizeof tour_opts / sizeof tour_opts[0]))

/* ------------------------------------------------------------------------------------------
   One run: one optimizer on one problem */

typedef struct tour_run {
    /* set by the caller */
    int problem;
    const tour_opt *opt;
    float lr;
    int steps;
    /* filled by tour_run_one */
    tt_tensor *param;                       /* (2), (1, 2) for Muon, (2, 1) for SparseAdam;
                                               valid during tour_run_one only */
    tt_rng noise;                           /* gradient noise of the quadratic */
    int n_points;                           /* path[0] is the start, path[k] after step k */
    float path[TOUR_MAX_STEPS + 1][2];
    int evals;                              /* gradient evaluations (LBFGS: several per step) */
    double final_loss, distance;            /* exact f and |p - optimum| at the last point */
    int diverged;                           /* stopped early: the point became NaN/Inf */
    char error[256];                        /* tinytrain error message, "" if none */
} tour_run;

/* The objective as the optimizers see it, written with autograd ops. Returns a scalar tensor. */
static tt_tensor *tour_objective(tt_ctx *ctx, tour_run *run) {
    int two[1] = {2}, ids[2] = {0, 1};
    tt_tensor *p = run->param, *v, *x, *y, *f;
    if (run->opt->kind == TT_OPTIM_SPARSE_ADAM)
        p = tt_embedding(ctx, p, 1, two, 2, ids); /* rows 0 and 1 of the (2, 1) table */
    v = tt_reshape(ctx, p, 1, two);             /* whatever the parameter's shape: (x, y) */
    x = tt_slice(ctx, v, 0, 0, 1, 1);
    y = tt_slice(ctx, v, 0, 1, 2, 1);
    if (run->problem == TOUR_ROSENBROCK) {
        tt_tensor *a = tt_add_scalar(ctx, tt_neg(ctx, x), 1.0f);   /* 1 - x */
        tt_tensor *b = tt_sub(ctx, y, tt_mul(ctx, x, x));          /* y - x^2 */
        f = tt_add(ctx, tt_mul(ctx, a, a), tt_scale(ctx, tt_mul(ctx, b, b), 100.0f));
    } else {
        /* 0.5 (A x^2 + B y^2) + n . (x, y) with n ~ N(0, sigma^2) drawn anew at every call:
           the extra term is linear in the parameter, so its gradient is exactly n. That is
           "Gaussian noise added to the gradient", expressed as a loss. */
        float nz[2];
        tt_tensor *ax2 = tt_scale(ctx, tt_mul(ctx, x, x), TOUR_QUAD_A);
        tt_tensor *by2 = tt_scale(ctx, tt_mul(ctx, y, y), TOUR_QUAD_B);
        nz[0] = TOUR_NOISE * tt_rng_normal(&run->noise);
        nz[1] = TOUR_NOISE * tt_rng_normal(&run->noise);
        f = tt_add(ctx, tt_scale(ctx, tt_add(ctx, ax2, by2), 0.5f),
                   tt_sum(ctx, tt_mul(ctx, v, tt_tensor_from(ctx, 1, two, nz))));
    }
    return tt_sum(ctx, f);   /* shape (1) -> scalar */
}

/* Forward + backward, as torch's closure: rewinds scratch memory, so it can be called any
   number of times per step (LBFGS does). Returns the loss the optimizer sees. */
static double tour_closure(tt_ctx *ctx, void *user) {
    tour_run *run = (tour_run *)user;
    tt_tensor *loss;
    tt_scratch_reset(ctx);
    loss = tour_objective(ctx, run);
    tt_zero_grad(ctx);
    if (!loss || tt_backward(ctx, loss) != TT_OK) return 0.0;   /* the context holds the error */
    run->evals++;
    return loss->data[0];
}

/* Run run->opt on run->problem for run->steps steps (or until it diverges). 0 on success. */
static int tour_run_one(tour_run *run) {
    const tour_problem *P = &tour_problems[run->problem];
    tt_desc desc;
    tt_ctx ctx;
    tt_optim opt;
    tt_optim_desc od;
    int shape[2], ndim, s;
    float start[2];
    start[0] = (float)P->x0; start[1] = (float)P->y0;
    run->n_points = 0; run->evals = 0; run->diverged = 0; run->error[0] = '\0';
    run->final_loss = run->distance = HUGE_VAL;
    if (run->steps < 0 || run->steps > TOUR_MAX_STEPS) return 1;

    memset(&desc, 0, sizeof desc);       /* a tiny context: 2 parameters, a few KiB of memory */
    desc.max_params = 16;
    desc.max_param_tensors = 4;
    desc.persist_bytes = 1 << 16;        /* optimizer state (LBFGS history: 2 * 100 * 2 floats) */
    desc.scratch_bytes = 1 << 16;        /* one forward/backward pass: ~20 small tensors */
    desc.small_matmul_workspace = 1;     /* no matmul here */
    if (tt_ctx_init(&ctx, &desc) != TT_OK) {
        snprintf(run->error, sizeof run->error, "%s", tt_error_message(&ctx));
        return 1;
    }
    tt_rng_seed(&run->noise, TOUR_NOISE_SEED);

    /* the parameter: Muon only takes matrices, SparseAdam works on rows of a table */
    if (run->opt->kind == TT_OPTIM_MUON) { ndim = 2; shape[0] = 1; shape[1] = 2; }
    else if (run->opt->kind == TT_OPTIM_SPARSE_ADAM) { ndim = 2; shape[0] = 2; shape[1] = 1; }
    else { ndim = 1; shape[0] = 2; }
    run->param = tt_param(&ctx, "xy", ndim, shape);
    if (run->param) tt_tensor_set(&ctx, run->param, start, 2);

    od = tt_optim_desc_init(run->opt->kind); /* PyTorch's defaults of that optimizer */
    od.hp.lr = run->lr;
    if (od.kind == TT_OPTIM_SGD) od.hp.momentum = run->opt->momentum;
    if (od.kind == TT_OPTIM_LBFGS) {   /* one iteration per step, up to 25 evaluations in the line search */
        od.max_iter = 1; od.max_eval = 25; od.strong_wolfe = 1;
    }
    if (run->param) tt_optim_init(&ctx, &opt, &od);

    run->path[0][0] = start[0]; run->path[0][1] = start[1];
    run->n_points = 1;
    /* tt_optim_step_closure works for every optimizer: it calls the closure once and steps
       (LBFGS calls it as often as its line search needs), like torch's opt.step(closure) */
    for (s = 0; s < run->steps && tt_error(&ctx) == TT_OK; s++) {
        const float *p = run->param->data;
        if (tt_optim_step_closure(&ctx, &opt, tour_closure, run, NULL) != TT_OK) break;
        if (!isfinite(p[0]) || !isfinite(p[1]) || fabsf(p[0]) > 1e6f || fabsf(p[1]) > 1e6f) {
            run->diverged = 1;
            break;
        }
        run->path[run->n_points][0] = p[0];
        run->path[run->n_points][1] = p[1];
        run->n_points++;
    }
    if (tt_error(&ctx) != TT_OK) snprintf(run->error, sizeof run->error, "%s", tt_error_message(&ctx));
    {
        double x = run->path[run->n_points - 1][0], y = run->path[run->n_points - 1][1];
        run->final_loss = tour_f(run->problem, x, y);
        run->distance = sqrt((x - P->xopt) * (x - P->xopt) + (y - P->yopt) * (y - P->yopt));
    }
    tt_ctx_free(&ctx);
    return run->error[0] != '\0';
}

/* ------------------------------------------------------------------------------------------
   The picture: small multiples, one panel per optimizer, drawn with tinytrain's chart writer
   (tt_chart_grid_svg: axes with ticks, titles, paths clipped to the frame). The contour lines are
   the panels' background (a tt_chart_opts.draw callback); every panel shows the same view at
   the same size, so the first panel writes them and the others reuse them (<use>). */

/* Marching squares for one cell and one level. v[] holds the function at the cell's corners,
   counter-clockwise from the bottom-left: (x0, y0), (x0+dx, y0), (x0+dx, y0+dy), (x0, y0+dy).
   Edge e joins corner e and corner e+1. Where the level lies between an edge's two corner
   values, the contour crosses that edge, at the linearly interpolated point. A cell has 0, 2 or
   4 crossings: 2 are joined by one segment; 4 (a saddle: the corners alternate above / below)
   by two, paired according to the value at the centre. Writes SVG path commands (pixels of the
   frame F) into out (at least 128 bytes), returns their length. */
static int tour_contour_cell(char *out, size_t cap, const tt_chart_frame *F, double x0, double y0, double dx,
                             double dy, const double v[4], double level) {
    static const int cx[5] = {0, 1, 1, 0, 0}, cy[5] = {0, 0, 1, 1, 0};
    double px[4], py[4];
    int e, n = 0;
    out[0] = '\0';
    for (e = 0; e < 4; e++) {
        double a = v[e] - level, b = v[e + 1 < 4 ? e + 1 : 0] - level;
        if ((a < 0) != (b < 0)) {
            double t = a / (a - b);   /* 0..1 along the edge */
            px[n] = tt_chart_px(F, x0 + dx * (cx[e] + t * (cx[e + 1] - cx[e])));
            py[n] = tt_chart_py(F, y0 + dy * (cy[e] + t * (cy[e + 1] - cy[e])));
            n++;
        }
    }
    if (n == 2) return snprintf(out, cap, "M%.1f %.1fL%.1f %.1f", px[0], py[0], px[1], py[1]);
    if (n == 4) {
        double centre = 0.25 * (v[0] + v[1] + v[2] + v[3]);
        int a = 0, b = 1, c = 2, d = 3;              /* cut off corners 1 and 3 ... */
        if ((centre < level) == (v[1] < level)) {   /* ... unless the centre sides with them */
            a = 3; b = 0; c = 1; d = 2;              /* then cut off corners 0 and 2 */
        }
        return snprintf(out, cap, "M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f", px[a], py[a], px[b], py[b], px[c],
                        py[c], px[d], py[d]);
    }
    return 0;
}

/* The background of a panel: contour lines of the problem's function, lower levels darker.
   Panel 0 writes them as <g id="contours">, the others refer to that group. */
static void tour_draw_contours(void *user, const tt_chart_frame *F, tt_write_fn write, void *wuser) {
    static double grid[TOUR_GRID + 1][TOUR_GRID + 1];   /* f at the grid nodes, [row j][col i] */
    const tour_problem *P = (const tour_problem *)user;
    int problem = (int)(P - tour_problems), i, j, k;
    double dx = (F->x_max - F->x_min) / TOUR_GRID, dy = (F->y_max - F->y_min) / TOUR_GRID;
    char buf[256];
    if (F->index > 0) {
        write(wuser, "<use href=\"#contours\"/>\n", 24);
        return;
    }
    for (j = 0; j <= TOUR_GRID; j++)
        for (i = 0; i <= TOUR_GRID; i++) grid[j][i] = tour_f(problem, F->x_min + i * dx, F->y_min + j * dy);
    write(wuser, "<g id=\"contours\" fill=\"none\" stroke-width=\"0.8\">\n", 49);
    for (k = 0; k < P->n_levels; k++) {
        int grey = 110 + 120 * k / P->n_levels, n;
        n = snprintf(buf, sizeof buf, "<path stroke=\"rgb(%d,%d,%d)\" d=\"", grey, grey, grey);
        write(wuser, buf, (size_t)n);
        for (j = 0; j < TOUR_GRID; j++)
            for (i = 0; i < TOUR_GRID; i++) {
                double v[4];
                v[0] = grid[j][i]; v[1] = grid[j][i + 1]; v[2] = grid[j + 1][i + 1]; v[3] = grid[j + 1][i];
                n = tour_contour_cell(buf, sizeof buf, F, F->x_min + i * dx, F->y_min + j * dy, dx, dy, v, P->levels[k]);
                if (n > 0) write(wuser, buf, (size_t)n);
            }
        n = snprintf(buf, sizeof buf, "\"><title>f = %g</title></path>\n", P->levels[k]);
        write(wuser, buf, (size_t)n);
    }
    write(wuser, "</g>\n", 5);
}

/* Writes one SVG: a panel per run (in the order of runs[]), TOUR_COLUMNS per row, each with the
   contours, the path taken (points closer than about a third of a pixel to the last one kept
   are left out), the start (black dot) and the minimum (red cross). Returns 0 on success, 1 if
   the file could not be written (the reason in tour_svg_error). */
static char tour_svg_error[512];
static int tour_write_svg(const char *path, int problem, const tour_run *runs, int n_runs) {
    static double xs[TOUR_MAX_OPTS][TOUR_MAX_STEPS + 1], ys[TOUR_MAX_OPTS][TOUR_MAX_STEPS + 1];
    static tt_chart charts[TOUR_MAX_OPTS];
    static tt_chart_series series[TOUR_MAX_OPTS][3];
    static char titles[TOUR_MAX_OPTS][96], xlabels[TOUR_MAX_OPTS][64];
    static const char *const colors[3] = {"#0072B2", "black", "#D00000"};
    static const tt_chart_style styles[3] = {TT_CHART_LINE, TT_CHART_DOTS, TT_CHART_CROSSES};
    const tour_problem *P = &tour_problems[problem];
    double start[2], opt[2], aspect = (P->view[3] - P->view[2]) / (P->view[1] - P->view[0]);
    double min_step = 0.35 * (P->view[1] - P->view[0]) / (TOUR_PANEL_W - 92);   /* ~0.35 px in x */
    char title[160];
    tt_desc desc;
    tt_ctx ctx;
    int r, k, failed;
    if (n_runs < 1 || n_runs > TOUR_MAX_OPTS) return 1;
    start[0] = P->x0; start[1] = P->y0; opt[0] = P->xopt; opt[1] = P->yopt;
    for (r = 0; r < n_runs; r++) {
        const tour_run *R = &runs[r];
        tt_chart *c = &charts[r];
        int n = 0;
        for (k = 0; k < R->n_points; k++) {   /* keep the first, the last, and moves of >= min_step */
            double x = R->path[k][0], y = R->path[k][1];
            if (k == 0 || k == R->n_points - 1 || fabs(x - xs[r][n - 1]) + fabs(y - ys[r][n - 1]) >= min_step) {
                xs[r][n] = x; ys[r][n] = y; n++;
            }
        }
        series[r][0].label = NULL; series[r][0].x = xs[r]; series[r][0].y = ys[r]; series[r][0].n = n;
        series[r][1].label = NULL; series[r][1].x = &start[0]; series[r][1].y = &start[1]; series[r][1].n = 1;
        series[r][2].label = NULL; series[r][2].x = &opt[0]; series[r][2].y = &opt[1]; series[r][2].n = 1;
        snprintf(titles[r], sizeof titles[r], "%s, lr %g", R->opt->name, (double)R->lr);
        if (R->diverged) snprintf(xlabels[r], sizeof xlabels[r], "x   (diverged after %d steps)", R->n_points - 1);
        else snprintf(xlabels[r], sizeof xlabels[r], "x   (final f = %.2g)", R->final_loss);
        c->opts = tt_chart_opts_init();
        c->opts.title = titles[r]; c->opts.xlabel = xlabels[r]; c->opts.ylabel = "y";
        c->opts.width = TOUR_PANEL_W;
        c->opts.height = (int)((TOUR_PANEL_W - 92) * aspect + 92 + 0.5);   /* same scale on x and y */
        c->opts.fixed_x = c->opts.fixed_y = 1;
        c->opts.x_min = P->view[0]; c->opts.x_max = P->view[1]; c->opts.y_min = P->view[2]; c->opts.y_max = P->view[3];
        c->opts.colors = colors; c->opts.styles = styles;
        c->opts.draw = tour_draw_contours; c->opts.draw_user = (void *)P;
        c->n_series = 3; c->series = series[r];
    }
    snprintf(title, sizeof title, "%s: %d steps from the black dot (the red cross is the minimum)", P->name, P->steps);
    memset(&desc, 0, sizeof desc);   /* a tiny context: only for the writer's error message */
    desc.max_params = 1; desc.persist_bytes = 1024; desc.scratch_bytes = 1024; desc.small_matmul_workspace = 1;
    if (tt_ctx_init(&ctx, &desc) != TT_OK) return 1;
    failed = tt_chart_grid_svg(&ctx, path, title, TOUR_COLUMNS, n_runs, charts) != TT_OK;
    snprintf(tour_svg_error, sizeof tour_svg_error, "%s", failed ? tt_error_message(&ctx) : "");
    tt_ctx_free(&ctx);
    return failed;
}

/* ------------------------------------------------------------------------------------------
   main: the table, and the pictures when a directory is given. Define OPTIMIZER_TOUR_NO_MAIN to
   include this file elsewhere (tests/test_optimizer_tour.c does) without main. */
#ifndef OPTIMIZER_TOUR_NO_MAIN

static tour_run tour_runs[TOUR_N_OPTS];   /* ~8 KB per run: kept off the stack */

/* The score that picked the learning rates: final loss (Rosenbrock), or mean loss over the last
   20 points (noisy quadratic). A run that diverged or failed scores infinity. */
static double tour_score(const tour_run *R) {
    double sum = 0;
    int k, first = R->n_points - 20;
    if (R->diverged || R->error[0] || R->n_points != R->steps + 1) return HUGE_VAL;
    if (R->problem == TOUR_ROSENBROCK) return R->final_loss;
    if (first < 0) first = 0;
    for (k = first; k < R->n_points; k++) sum += tour_f(R->problem, R->path[k][0], R->path[k][1]);
    return sum / (R->n_points - first);
}

/* --sweep: the score of every optimizer for every lr of the grid ("inf": diverged). */
static void tour_sweep(void) {
    static const float grid[] = {1e-4f, 2e-4f, 5e-4f, 1e-3f, 2e-3f, 5e-3f, 1e-2f, 2e-2f, 5e-2f,
                                 1e-1f, 2e-1f, 5e-1f, 1.0f};
    const int n_grid = (int)(sizeof grid / sizeof grid[0]);
    tour_run *R = &tour_runs[0];
    int problem, o, g;
    for (problem = 0; problem < TOUR_N_PROBLEMS; problem++) {
        printf("%s: score for lr =\n%-22s", tour_problems[problem].name, "");
        for (g = 0; g < n_grid; g++) printf(" %8g", (double)grid[g]);
        printf("   chosen\n");
        for (o = 0; o < TOUR_N_OPTS; o++) {
            double score[16], best = HUGE_VAL;
            int best_g = 0;
            printf("%-22s", tour_opts[o].name);
            for (g = 0; g < n_grid; g++) {
                R->problem = problem; R->opt = &tour_opts[o]; R->lr = grid[g];
                R->steps = tour_problems[problem].steps;
                tour_run_one(R);
                score[g] = tour_score(R);
                printf(" %8.2g", score[g]);
            }
            /* robust choice: the worst score of an lr and its grid neighbours is lowest */
            for (g = 0; g < n_grid; g++) {
                double worst = score[g];
                if (g > 0 && score[g - 1] > worst) worst = score[g - 1];
                if (g + 1 < n_grid && score[g + 1] > worst) worst = score[g + 1];
                if (worst < best) { best = worst; best_g = g; }
            }
            printf("   %g%s\n", (double)grid[best_g],
                   grid[best_g] == tour_opts[o].lr[problem] ? "" : "  (differs from tour_opts)");
        }
        printf("\n");
    }
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : NULL;
    int problem, o, failed = 0;
    if (argc > 2 || (dir && dir[0] == '-' && strcmp(dir, "--sweep") != 0)) {
        fprintf(stderr, "usage: %s [output-directory | --sweep]\n", argv[0]);
        return 2;
    }
    if (dir && strcmp(dir, "--sweep") == 0) {
        tour_sweep();
        return 0;
    }
    for (problem = 0; problem < TOUR_N_PROBLEMS; problem++) {
        const tour_problem *P = &tour_problems[problem];
        printf("%s, from (%g, %g), minimum (%g, %g), f(start) = %.4g, %d steps\n", P->name, P->x0,
               P->y0, P->xopt, P->yopt, tour_f(problem, P->x0, P->y0), P->steps);
        printf("  %-22s %7s %11s %11s %6s %6s\n", "optimizer", "lr", "final loss", "distance", "steps", "evals");
        for (o = 0; o < TOUR_N_OPTS; o++) {
            tour_run *R = &tour_runs[o];
            R->problem = problem;
            R->opt = &tour_opts[o];
            R->lr = tour_opts[o].lr[problem];
            R->steps = P->steps;
            if (tour_run_one(R) != 0) {
                printf("  %-22s error: %s\n", R->opt->name, R->error);
                failed = 1;
                continue;
            }
            printf("  %-22s %7g %11.3g %11.3g %6d %6d%s\n", R->opt->name, (double)R->lr, R->final_loss,
                   R->distance, R->n_points - 1, R->evals, R->diverged ? "  diverged" : "");
        }
        if (dir) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, P->file);
            if (tour_write_svg(path, problem, tour_runs, TOUR_N_OPTS) != 0) {
                fprintf(stderr, "cannot write %s: %s\n", path, tour_svg_error);
                failed = 1;
            } else {
                printf("  wrote %s\n", path);
            }
        }
        printf("\n");
    }
    printf("distance: to the minimum. evals: gradient evaluations (LBFGS: one step is one iteration,\n"
           "max_iter 1, whose line search may evaluate several times).\n"
           "Muon runs on a 1x2 parameter: it orthogonalises matrix updates (a 1x2 update becomes\n"
           "a unit vector). SparseAdam runs on the 2 rows of a (2, 1) embedding table.\n");
    return failed;
}
#endif
