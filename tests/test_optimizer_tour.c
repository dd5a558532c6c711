/* The optimizer tour (examples/optimizer_tour.c): its key claims at small scale, and its SVG
   writer. The example is included with OPTIMIZER_TOUR_NO_MAIN, so these tests call the same
   functions (tour_run_one, tour_write_svg, tour_contour_cell) with the same settings (the
   tour_opts table) as the example, without its main(). Everything is deterministic (fixed start,
   fixed noise seed), so the margins below only absorb rounding differences between compilers
   and matmul kernels (none is used here) or small changes in an optimizer's float order. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, rmdir */
#define OPTIMIZER_TOUR_NO_MAIN
#include "../examples/optimizer_tour.c"
#include "test.h"
#include <stdlib.h>
#include <unistd.h>

static tour_run runs[TOUR_N_OPTS]; /* ~8 KB each */

static const tour_opt *find_opt(const char *name) {
    int o;
    for (o = 0; o < TOUR_N_OPTS; o++)
        if (strcmp(tour_opts[o].name, name) == 0) return &tour_opts[o];
    return NULL;
}

/* Final exact loss of optimizer `name` (with the tour's lr) after `steps` steps; -1 on error. */
static double run_named(const char *name, int problem, int steps) {
    tour_run *R = &runs[0];
    R->opt = find_opt(name);
    if (!R->opt) return -1;
    R->problem = problem;
    R->lr = R->opt->lr[problem];
    R->steps = steps;
    if (tour_run_one(R) != 0 || R->diverged || R->n_points != steps + 1) return -1;
    return R->final_loss;
}

/* The claim of the Rosenbrock picture: in the curved valley, momentum and Adam beat plain SGD by
   far and LBFGS (curvature from its history + line search) beats everything. From f = 12.5:
   measured after 200 steps: SGD 5.3, SGD momentum 0.14, Adam 0.34; LBFGS 1.4e-14 within 50.
   The bounds leave a factor 3 or more of margin (1e4 for LBFGS). */
static void test_rosenbrock_claims(void) {
    double f0 = tour_f(TOUR_ROSENBROCK, -1.5, 2.0);
    double sgd = run_named("SGD", TOUR_ROSENBROCK, 200);
    double mom = run_named("SGD momentum 0.9", TOUR_ROSENBROCK, 200);
    double adam = run_named("Adam", TOUR_ROSENBROCK, 200);
    double lbfgs = run_named("LBFGS (strong Wolfe)", TOUR_ROSENBROCK, 50);
    CHECK_CLOSE(f0, 12.5, 1e-12, 0);
    CHECK(sgd >= 0 && mom >= 0 && adam >= 0 && lbfgs >= 0); /* all ran the full number of steps */
    CHECK_MSG(mom < f0 / 10, "SGD momentum: %g after 200 steps, wanted < %g", mom, f0 / 10);
    CHECK_MSG(adam < f0 / 10, "Adam: %g after 200 steps, wanted < %g", adam, f0 / 10);
    CHECK_MSG(lbfgs < f0 * 1e-10, "LBFGS: %g after 50 steps, wanted < %g", lbfgs, f0 * 1e-10);
    /* plain SGD at its stable lr crawls: less than a 3x reduction, 4x worse than momentum */
    CHECK_MSG(sgd > f0 / 3 && sgd > 4 * mom, "SGD: %g after 200 steps (momentum %g)", sgd, mom);
}

/* The claim of the quadratic picture: despite the noise (sigma 1) SGD and Adam get from 98 to
   near the minimum in 200 steps (measured 0.018 and 0.021; bound 0.1, i.e. 1000x). The same
   noise seed gives the same result on every run. */
static void test_quadratic_claims(void) {
    double f0 = tour_f(TOUR_QUADRATIC, -4.0, 3.0);
    double sgd = run_named("SGD", TOUR_QUADRATIC, 200);
    double adam = run_named("Adam", TOUR_QUADRATIC, 200);
    double adam2 = run_named("Adam", TOUR_QUADRATIC, 200);
    CHECK_CLOSE(f0, 98.0, 1e-12, 0);
    CHECK_MSG(sgd >= 0 && sgd < f0 / 1000, "SGD: %g after 200 steps", sgd);
    CHECK_MSG(adam >= 0 && adam < f0 / 1000, "Adam: %g after 200 steps", adam);
    CHECK(adam == adam2); /* fixed noise seed: reproducible bit for bit */
}

/* Every optimizer of the tour runs the tour's full length on both problems with its lr: no
   error, no divergence, and it ends below where it started. Muon (1x2 parameter) and
   SparseAdam (2 rows) included. Exception: Adadelta barely leaves the start of the quadratic
   in 200 steps, which is still below f0. */
static void test_every_optimizer_runs(void) {
    int problem, o;
    for (problem = 0; problem < TOUR_N_PROBLEMS; problem++) {
        const tour_problem *P = &tour_problems[problem];
        double f0 = tour_f(problem, P->x0, P->y0);
        for (o = 0; o < TOUR_N_OPTS; o++) {
            tour_run *R = &runs[o];
            R->problem = problem; R->opt = &tour_opts[o]; R->lr = tour_opts[o].lr[problem];
            R->steps = P->steps;
            CHECK_MSG(tour_run_one(R) == 0, "%s: %s", R->opt->name, R->error);
            CHECK_MSG(!R->diverged && R->n_points == P->steps + 1, "%s on %s: %d points%s", R->opt->name,
                      P->name, R->n_points, R->diverged ? ", diverged" : "");
            CHECK_MSG(R->final_loss < f0, "%s on %s: final %g, start %g", R->opt->name, P->name,
                      R->final_loss, f0);
            CHECK(R->evals >= R->n_points - 1);   /* at least one gradient per step */
        }
    }
    /* SparseAdam on 2 rows that always get a gradient takes Adam's steps, up to where eps
       enters (torch's SparseAdam adds eps to sqrt(v) before the bias correction, Adam after)
       and float rounding: after 100 steps at lr 0.05 the paths differ by ~1e-6 (bound 1e-4) */
    {
        tour_run *a = &runs[0], *s = &runs[1];
        double worst = 0;
        int k;
        a->problem = s->problem = TOUR_ROSENBROCK; a->steps = s->steps = 100;
        a->opt = find_opt("Adam"); s->opt = find_opt("SparseAdam (2 rows)");
        CHECK(a->opt && s->opt);
        if (!a->opt || !s->opt) return;
        a->lr = s->lr = 0.05f;
        CHECK(tour_run_one(a) == 0 && tour_run_one(s) == 0);
        CHECK(a->n_points == 101 && s->n_points == 101);
        for (k = 0; k < 101; k++) {
            double d = fabs(a->path[k][0] - s->path[k][0]) + fabs(a->path[k][1] - s->path[k][1]);
            if (d > worst) worst = d;
        }
        CHECK_MSG(worst < 1e-4, "Adam and SparseAdam paths differ by %g", worst);
    }
}

/* Marching squares: every contour point written for a level lies on that level set. For the
   quadratic 0.5 (x^2 + 20 y^2) at level 4 on a frame of 480 px for 10 units, the error comes
   from linear interpolation along a cell edge (<= f'' h^2 / 8 = 20 * (7/120)^2 / 8 = 0.0085)
   and from rounding to 0.1 px (0.1 px = 0.0021 in x or y, times |grad f| <= 12.7: 0.027):
   tolerance 0.05. The ellipse crosses every grid column it spans twice, so there are many
   segments. A saddle cell (4 crossings) is checked by hand. */
static void test_contours(void) {
    static char text[1 << 18];
    const tour_problem *P = &tour_problems[TOUR_QUADRATIC];
    tt_chart_frame F;
    double dx, dy, level = 4.0, worst = 0;
    int i, j, n_seg = 0, n_pts = 0;
    size_t len = 0;
    const char *p;
    char buf[256];
    F.left = 30; F.top = 30; F.index = 0; F.log_y = 0;
    F.x_min = P->view[0]; F.x_max = P->view[1]; F.y_min = P->view[2]; F.y_max = P->view[3];
    F.width = 480; F.height = 480 * (F.y_max - F.y_min) / (F.x_max - F.x_min);
    dx = (F.x_max - F.x_min) / TOUR_GRID;
    dy = (F.y_max - F.y_min) / TOUR_GRID;
    for (j = 0; j < TOUR_GRID; j++)
        for (i = 0; i < TOUR_GRID; i++) {
            double x0 = F.x_min + i * dx, y0 = F.y_min + j * dy, v[4];
            int n;
            v[0] = tour_f(TOUR_QUADRATIC, x0, y0);
            v[1] = tour_f(TOUR_QUADRATIC, x0 + dx, y0);
            v[2] = tour_f(TOUR_QUADRATIC, x0 + dx, y0 + dy);
            v[3] = tour_f(TOUR_QUADRATIC, x0, y0 + dy);
            n = tour_contour_cell(buf, sizeof buf, &F, x0, y0, dx, dy, v, level);
            CHECK(n >= 0 && (size_t)n == strlen(buf));
            if (n > 0 && len + (size_t)n < sizeof text) { memcpy(text + len, buf, (size_t)n); len += (size_t)n; }
        }
    text[len] = '\0';
    for (p = text; *p;) {   /* "M x yL x y" segments */
        double px[2], py[2];
        int k, used = 0;
        if (sscanf(p, "M%lf %lfL%lf %lf%n", &px[0], &py[0], &px[1], &py[1], &used) != 4 || used == 0) break;
        p += used;
        n_seg++;
        for (k = 0; k < 2; k++) {
            double x = F.x_min + (px[k] - F.left) / F.width * (F.x_max - F.x_min);
            double y = F.y_max - (py[k] - F.top) / F.height * (F.y_max - F.y_min);
            double e = fabs(tour_f(TOUR_QUADRATIC, x, y) - level);
            if (e > worst) worst = e;
            n_pts++;
        }
    }
    CHECK(*p == '\0');   /* everything was parsed */
    CHECK_MSG(n_seg > 100, "%d segments", n_seg);
    CHECK_MSG(worst <= 0.05, "worst |f - level| = %g", worst);

    /* a saddle: corners 0 and 2 above the level, 1 and 3 below, centre (mean 1.25) above:
       the segments must cut off corners 1 and 3, i.e. join edge 0 with edge 1, edge 2 with 3 */
    F.x_min = 0; F.x_max = 1; F.y_min = 0; F.y_max = 1; F.width = 100; F.height = 100;
    {
        double v[4] = {3, -1, 3, 0};
        tour_contour_cell(buf, sizeof buf, &F, 0, 0, 1, 1, v, 1.0);
    }
    /* edge 0 (bottom, y = 0 -> py 130): 3 -> -1 crosses at x = 0.5; edge 1 (right, x = 1 -> px
       130): -1 -> 3 at y = 0.5; edge 2 (top): 3 -> 0 at x = 1 - 2/3; edge 3 (left): 0 -> 3 at
       y = 1 - 1/3 */
    CHECK_MSG(strcmp(buf, "M80.0 130.0L130.0 80.0M63.3 30.0L30.0 63.3") == 0, "got '%s'", buf);
}

static size_t count(const char *hay, const char *needle) {
    size_t n = 0, len = strlen(needle);
    const char *p = hay;
    while ((p = strstr(p, needle)) != NULL) { n++; p += len; }
    return n;
}

/* The SVG writer on a fresh temporary directory: one file, well-formed enough to check by text
   (opens with <svg, ends with </svg>, balanced groups, no nan/inf), one panel per optimizer in
   table order (its title, its own clip path, axis ticks), the contours written once and reused
   by the other panels, and every point of every path inside its panel's frame (+10 px: the
   writer cuts segments there, the clip path does the rest) even for runs that leave the view:
   Adafactor leaves the Rosenbrock view (Adagrad and Adamax touch its top edge), and a point
   at (1e30, -1e30) is put into SGD's path. A directory
   that does not exist gives 1, no crash and no file. */
static void test_svg_writer(void) {
    char dir[] = "/tmp/tt_tour_XXXXXX", path[256];
    static char text[1 << 21];
    int o, outside_view = 0;
    size_t n;
    FILE *f;
    const tour_problem *P = &tour_problems[TOUR_ROSENBROCK];
    for (o = 0; o < TOUR_N_OPTS; o++) {   /* the runs of the picture */
        tour_run *R = &runs[o];
        int k;
        R->problem = TOUR_ROSENBROCK; R->opt = &tour_opts[o]; R->lr = tour_opts[o].lr[TOUR_ROSENBROCK];
        R->steps = P->steps;
        CHECK(tour_run_one(R) == 0);
        for (k = 0; k < R->n_points; k++)
            if (R->path[k][0] < P->view[0] || R->path[k][0] > P->view[1] || R->path[k][1] < P->view[2] || R->path[k][1] > P->view[3]) {
                outside_view++;
                break;
            }
    }
    CHECK_MSG(outside_view >= 1, "%d runs leave the view", outside_view);   /* the clipping is exercised */
    runs[0].path[5][0] = 1e30f; runs[0].path[5][1] = -1e30f;   /* and a point very far out (SGD's panel) */
    if (!mkdtemp(dir)) { SKIP("test_svg_writer", "mkdtemp failed"); return; }
    snprintf(path, sizeof path, "%s/%s", dir, P->file);
    CHECK(tour_write_svg(path, TOUR_ROSENBROCK, runs, TOUR_N_OPTS) == 0);
    f = fopen(path, "rb");
    CHECK(f != NULL);
    n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[n] = '\0';
    CHECK(n > 1000 && n < sizeof text - 1);
    CHECK(strncmp(text, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39) == 0);
    CHECK(n >= 7 && strcmp(text + n - 7, "</svg>\n") == 0);
    CHECK(count(text, "<svg") == 1 && count(text, "</svg>") == 1);
    CHECK(count(text, "<g") == count(text, "</g>"));
    CHECK(count(text, "nan") == 0 && count(text, "inf") == 0 && count(text, "NaN") == 0);
    CHECK(count(text, "<clipPath id=\"frame") == (size_t)TOUR_N_OPTS);
    CHECK(count(text, "<g id=\"contours\"") == 1 && count(text, "<use href=\"#contours\"/>") == (size_t)TOUR_N_OPTS - 1);
    CHECK(count(text, "<path stroke=\"rgb") == (size_t)P->n_levels);
    CHECK(count(text, "<path stroke=\"#0072B2\"") == (size_t)TOUR_N_OPTS);   /* one path per panel */
    CHECK(count(text, "<circle fill=\"black\"") == (size_t)TOUR_N_OPTS);      /* the start */
    {   /* panels in table order; inside each, ticks -2 .. 2 on x, -1 .. 3 on y, and every path
           point inside the frame: left 72, top 40, width 300 - 92 = 208, height 208 */
        const char *p = text;
        for (o = 0; o < TOUR_N_OPTS && p; o++) {
            char want[128];
            const char *d, *end;
            snprintf(want, sizeof want, ">%s, lr %g</text>", tour_opts[o].name, (double)tour_opts[o].lr[TOUR_ROSENBROCK]);
            p = strstr(p, want);
            CHECK_MSG(p != NULL, "panel %d (%s) missing or out of order", o, tour_opts[o].name);
            if (!p) break;
            CHECK(strstr(p, "text-anchor=\"middle\">-2</text>") && strstr(p, "text-anchor=\"end\">3</text>"));
            d = strstr(p, "<path stroke=\"#0072B2\"");
            d = d ? strstr(d, " d=\"") : NULL;
            end = d ? strchr(d + 4, '"') : NULL;
            CHECK(d && end);
            if (d && end) {
                const char *q = d + 4;
                int points = 0;
                while (q < end) {
                    double x, y;
                    int used = 0;
                    if (sscanf(q, " %*[ML]%lf %lf%n", &x, &y, &used) != 2 || used == 0) break;
                    CHECK_MSG(x >= 62 - 1e-9 && x <= 290 + 1e-9 && y >= 30 - 1e-9 && y <= 258 + 1e-9,
                              "%s: point (%g, %g) outside the frame", tour_opts[o].name, x, y);
                    points++;
                    q += used;
                }
                CHECK_MSG(q == end, "%s: unparsed path text", tour_opts[o].name);
                CHECK_MSG(points >= 2, "%s: %d points", tour_opts[o].name, points);
            }
            p++;
        }
    }
    CHECK(remove(path) == 0);
    CHECK(rmdir(dir) == 0);

    /* a directory that does not exist: an error, no crash, no file */
    snprintf(path, sizeof path, "%s/no/such/dir/x.svg", dir);
    CHECK(tour_write_svg(path, TOUR_QUADRATIC, runs, TOUR_N_OPTS) == 1);
}

int main(void) {
    RUN(test_rosenbrock_claims);
    RUN(test_quadratic_claims);
    RUN(test_every_optimizer_runs);
    RUN(test_contours);
    RUN(test_svg_writer);
    TEST_EXIT();
}
