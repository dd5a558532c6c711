/* Progress line (fake clock, captured lines), CSV log, SVG chart. */
#define _POSIX_C_SOURCE 200809L
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"
#include <stdlib.h>
#include <unistd.h>

static double g_now;
static long g_clock_calls;
static double fake_clock(void *user) { (void)user; g_clock_calls++; return g_now; }

static char g_lines[64][256];
static int g_final[64], g_n;
static void capture(void *user, const char *line, int final) {
    (void)user;
    if (g_n < 64) { snprintf(g_lines[g_n], sizeof g_lines[0], "%s", line); g_final[g_n] = final; }
    g_n++;
}

static void test_progress_line(void) {
    tt_progress p = tt_progress_init(10, 100, 32);
    char buf[200];
    int i;
    p.clock = fake_clock; p.line_fn = capture; p.mode = TT_PROGRESS_LINES; p.line_s = 0.2;
    g_now = 1000.0; g_n = 0;
    tt_progress_epoch_begin(&p, 0);
    for (i = 0; i < 40; i++) { g_now += 0.01; tt_progress_step(&p, 2.0 + (i % 2)); }
    tt_progress_format(&p, g_now, buf, sizeof buf);
    /* 40 steps in 0.4 s: 100 steps/s, 3200 samples/s; 60 + 9 * 100 steps left: 9.6 s */
    CHECK_MSG(strcmp(buf, "epoch 1/10  step 40/100  loss 2.5  3200 samples/s  ETA 0:10") == 0, "%s", buf);
    /* periodic plain lines: about one per 0.2 s */
    CHECK_MSG(g_n == 1 || g_n == 2, "%d lines", g_n);
    CHECK(g_n > 0 && strncmp(g_lines[0], "epoch 1/10  step ", 17) == 0 && !g_final[0]);
    for (; i < 100; i++) { g_now += 0.01; tt_progress_step(&p, 1.0); }
    g_n = 0;
    tt_progress_epoch_end(&p, "val_loss 0.5  acc 91.0%");
    CHECK(g_n == 1 && g_final[0]);
    CHECK_MSG(strcmp(g_lines[0], "epoch 1/10  step 100/100  loss 1.6  3200 samples/s  val_loss 0.5  acc 91.0%") == 0, "%s", g_lines[0]);
    /* ETA over hours */
    p.epoch = 0; p.step = 1; p.t_epoch = 0; p.loss_sum = 1;
    tt_progress_format(&p, 2.0, buf, sizeof buf);
    CHECK_MSG(strstr(buf, "ETA 33:18") != NULL, "%s", buf); /* 999 steps left at 0.5 steps/s */
    p.epochs = 0; p.steps_per_epoch = 0; p.batch_size = 0;
    tt_progress_format(&p, 2.0, buf, sizeof buf);
    CHECK_MSG(strcmp(buf, "epoch 1  step 1  loss 1  1 steps/s") == 0, "%s", buf);
}

static void test_progress_cheap_and_silent(void) {
    tt_progress p = tt_progress_init(1, 100000, 1);
    long i;
    p.clock = fake_clock; p.line_fn = capture; p.mode = TT_PROGRESS_REDRAW; p.redraw_s = 0.1;
    g_now = 0; g_n = 0; g_clock_calls = 0;
    tt_progress_epoch_begin(&p, 0);
    for (i = 0; i < 100000; i++) { g_now += 1e-5; tt_progress_step(&p, 1.0); }
    /* 1 s of 10-microsecond steps: the clock is read every few hundred steps, not every step */
    CHECK_MSG(g_clock_calls < 1000, "%ld clock reads for 100000 steps", g_clock_calls);
    CHECK_MSG(g_n >= 5 && g_n <= 12, "%d redraws in 1 s at 0.1 s", g_n);
    p = tt_progress_init(1, 10, 1);
    p.clock = fake_clock; p.line_fn = capture; p.mode = TT_PROGRESS_SILENT;
    g_n = 0; g_clock_calls = 0;
    tt_progress_epoch_begin(&p, 0);
    for (i = 0; i < 10; i++) { g_now += 1.0; tt_progress_step(&p, 1.0); }
    tt_progress_epoch_end(&p, "x");
    CHECK(g_n == 0 && g_clock_calls <= 1);
}

/* Redrawn in place on a terminal: a carriage return, the line, erase-to-end; a newline at the end. */
static void test_progress_redraw_bytes(void) {
    char path[64], got[512];
    FILE *f;
    size_t n;
    tt_progress p = tt_progress_init(1, 4, 1);
    snprintf(path, sizeof path, "/tmp/tt_progress_%d.txt", (int)getpid());
    f = fopen(path, "w+");
    p.out = f; p.clock = fake_clock; p.mode = TT_PROGRESS_REDRAW; p.redraw_s = 0.5;
    g_now = 0;
    tt_progress_epoch_begin(&p, 0);
    g_now = 1.0; tt_progress_step(&p, 4.0);
    tt_progress_epoch_end(&p, NULL);
    rewind(f);
    n = fread(got, 1, sizeof got - 1, f);
    got[n] = 0;
    fclose(f);
    remove(path);
    CHECK_MSG(strcmp(got, "\repoch 1/1  step 1/4  loss 4  1 samples/s  ETA 0:03\033[K"
                          "\repoch 1/1  step 1/4  loss 4  1 samples/s  ETA 0:03\033[K\n") == 0, "%s", got);
}

static void test_csv_log(void) {
    tt_ctx ctx;
    tt_desc d = {0};
    tt_csv_log log;
    const char *cols[4] = {"epoch", "train_loss", "val_acc", "note,with comma"};
    double r1[4] = {1, 0.5, 0.875, NAN}, r2[4] = {2, 0.25, 0.9, 3};
    char path[64], got[256];
    FILE *f;
    size_t n;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    snprintf(path, sizeof path, "/tmp/tt_csv_%d.csv", (int)getpid());
    CHECK(tt_csv_log_open(&ctx, &log, path, 4, cols) == TT_OK);
    CHECK(tt_csv_log_row(&ctx, &log, r1) == TT_OK);
    CHECK(tt_csv_log_row(&ctx, &log, r2) == TT_OK);
    CHECK(tt_csv_log_close(&ctx, &log) == TT_OK);
    f = fopen(path, "rb");
    n = f ? fread(got, 1, sizeof got - 1, f) : 0;
    got[n] = 0;
    if (f) fclose(f);
    remove(path);
    CHECK_MSG(strcmp(got, "epoch,train_loss,val_acc,\"note,with comma\"\n1,0.5,0.875,\n2,0.25,0.9,3\n") == 0, "%s", got);
    CHECK(tt_csv_log_open(&ctx, &log, "/tmp/no/such/dir/x.csv", 4, cols) == TT_ERR_IO);
    CHECK(strstr(tt_error_message(&ctx), "No such file") != NULL);
    tt_ctx_free(&ctx);
}

static char g_svg[1 << 16];
static size_t g_svg_n;
static size_t svg_sink(void *user, const void *data, size_t n) {
    (void)user;
    if (g_svg_n + n >= sizeof g_svg) return 0;
    memcpy(g_svg + g_svg_n, data, n);
    g_svg_n += n;
    g_svg[g_svg_n] = 0;
    return n;
}
static int count(const char *s, const char *sub) {
    int c = 0;
    for (s = strstr(s, sub); s; s = strstr(s + 1, sub)) c++;
    return c;
}

static void test_svg_chart(void) {
    tt_ctx ctx;
    tt_desc d = {0};
    double train[6] = {2.3, 0.9, 0.5, NAN, 0.3, 0.25}, val[6] = {2.0, 1.0, 0.7, 0.6, 0.55, 0.56};
    tt_chart_series s[2];
    tt_chart_opts o = tt_chart_opts_init();
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    s[0].label = "train <loss>"; s[0].y = train; s[0].x = NULL; s[0].n = 6;
    s[1].label = "validation"; s[1].y = val; s[1].x = NULL; s[1].n = 6;
    o.title = "fashion-mlp curves"; o.xlabel = "epoch"; o.ylabel = "loss"; o.log_y = 1;
    g_svg_n = 0;
    CHECK(tt_chart_svg_stream(&ctx, &o, 2, s, svg_sink, NULL) == TT_OK);
    CHECK(strncmp(g_svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"400\"", 63) == 0);
    CHECK(g_svg_n > 100 && strcmp(g_svg + g_svg_n - 7, "</svg>\n") == 0);
    CHECK(strstr(g_svg, "<clipPath id=\"frame\">") && strstr(g_svg, "clip-path=\"url(#frame)\""));
    CHECK(strstr(g_svg, ">fashion-mlp curves</text>") && strstr(g_svg, ">train &lt;loss&gt;</text>") && strstr(g_svg, ">validation</text>"));
    CHECK(strstr(g_svg, ">loss (log scale)</text>") && strstr(g_svg, ">epoch</text>"));
    /* decades 0.1, 1, 10 on the y axis; epochs 1..6 on the x axis */
    CHECK(strstr(g_svg, "text-anchor=\"end\">0.1</text>") && strstr(g_svg, "text-anchor=\"end\">1</text>") &&
          strstr(g_svg, "text-anchor=\"end\">10</text>"));
    CHECK(strstr(g_svg, "text-anchor=\"middle\">6</text>") != NULL);
    /* the NaN breaks the training line into two pieces */
    CHECK_MSG(count(g_svg, " M") == 3, "%d moves", count(g_svg, " M"));
    CHECK(strstr(g_svg, "stroke=\"#0072B2\"") && strstr(g_svg, "stroke=\"#D55E00\""));
    /* linear axis with nice ticks */
    o.log_y = 0;
    g_svg_n = 0;
    CHECK(tt_chart_svg_stream(&ctx, &o, 2, s, svg_sink, NULL) == TT_OK);
    CHECK(strstr(g_svg, "text-anchor=\"end\">0.5</text>") && strstr(g_svg, "text-anchor=\"end\">2.5</text>"));
    CHECK(tt_chart_svg_stream(&ctx, &o, 2, NULL, svg_sink, NULL) == TT_ERR_INVALID_ARGS);
    tt_ctx_free(&ctx);
}


/* the draw callback: records the frames it is given and writes a marker */
static tt_chart_frame g_frames[4];
static int g_n_frames;
static void draw_marker(void *user, const tt_chart_frame *f, tt_write_fn write, void *wuser) {
    (void)user;
    if (g_n_frames < 4) g_frames[g_n_frames] = *f;
    g_n_frames++;
    write(wuser, "<rect id=\"marker\"/>\n", 20);
}

/* every "M x y" / "L x y" pair of the n-th <path stroke="col" ... d="..."> into xy; returns the count */
static int path_points(const char *svg, const char *col, int nth, double *xy, int cap) {
    char want[64];
    const char *p = svg, *d, *end;
    int n = 0;
    snprintf(want, sizeof want, "<path stroke=\"%s\"", col);
    for (; nth >= 0; nth--) { p = strstr(p, want); if (!p) return -1; p++; }
    d = strstr(p, " d=\"");
    if (!d) return -1;
    end = strchr(d + 4, '"');
    for (d += 4; d < end && n < cap;) {
        int used = 0;
        if (sscanf(d, " %*[ML]%lf %lf%n", &xy[2 * n], &xy[2 * n + 1], &used) != 2 || used == 0) break;
        d += used; n++;
    }
    return n;
}

/* Fixed axis ranges (the range's corners are the frame's corners, read from the frame rect the
   writer draws), lines cut at the frame (+10 px) on the true line, a point 1e30 away written
   with no huge number, per-series colours and styles (dashed, dots, crosses), unlabelled series
   left out of the legend, the background callback (its frame, its place inside the clip group),
   small multiples (layout, clip ids, the callback's chart index), and bad options refused with
   nothing written. Tolerance 0.01 px: coordinates are written with 2 decimals. */
static void test_svg_chart_options(void) {
    tt_ctx ctx;
    tt_desc d = {0};
    double x1[3] = {0, 10, 20}, y1[3] = {0, 4, 8}, x2[3] = {1, 2, 1e30}, y2[3] = {1, 2, -1e30};
    double x3[2] = {5, 50}, y3[2] = {2, 2}, xy[64], fl, ft, fw, fh;
    static const char *const cols[4] = {"#111111", "black", "red", "#222222"};
    static const tt_chart_style sty[4] = {TT_CHART_LINE, TT_CHART_DOTS, TT_CHART_CROSSES, TT_CHART_DASHED};
    tt_chart_series s[4];
    tt_chart_opts o = tt_chart_opts_init();
    tt_chart grid[3];
    const char *p;
    int n, i;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    CHECK(o.fixed_x == 0 && o.fixed_y == 0 && o.colors == NULL && o.styles == NULL && o.draw == NULL);
    s[0].label = "line"; s[0].x = x1; s[0].y = y1; s[0].n = 3;
    s[1].label = NULL; s[1].x = x3; s[1].y = y3; s[1].n = 2;         /* dots, one outside the frame */
    s[2].label = "cross"; s[2].x = x3; s[2].y = y3; s[2].n = 1;
    s[3].label = NULL; s[3].x = x2; s[3].y = y2; s[3].n = 3;         /* dashed, to a point 1e30 away */
    o.fixed_x = o.fixed_y = 1; o.x_min = 0; o.x_max = 10; o.y_min = 0; o.y_max = 4;
    o.colors = cols; o.styles = sty; o.draw = draw_marker;
    g_svg_n = 0; g_n_frames = 0;
    CHECK_MSG(tt_chart_svg_stream(&ctx, &o, 4, s, svg_sink, NULL) == TT_OK, "%s", tt_error_message(&ctx));
    /* the frame: the <rect> with fill="none" */
    p = strstr(g_svg, "\" fill=\"none\" stroke=\"#333333\"/>");
    while (p && p > g_svg && strncmp(p, "<rect x=\"", 9) != 0) p--;
    CHECK(p && sscanf(p, "<rect x=\"%lf\" y=\"%lf\" width=\"%lf\" height=\"%lf\"", &fl, &ft, &fw, &fh) == 4);
    if (!p) { tt_ctx_free(&ctx); return; }
    /* callback: once, with that frame and the fixed range, writing inside the clip group */
    CHECK(g_n_frames == 1);
    CHECK(fabs(g_frames[0].left - fl) < 0.01 && fabs(g_frames[0].top - ft) < 0.01 && fabs(g_frames[0].width - fw) < 0.01 &&
          fabs(g_frames[0].height - fh) < 0.01 && g_frames[0].x_min == 0 && g_frames[0].x_max == 10 &&
          g_frames[0].y_min == 0 && g_frames[0].y_max == 4 && g_frames[0].index == 0);
    CHECK(fabs(tt_chart_px(&g_frames[0], 5) - (fl + fw / 2)) < 1e-9 && fabs(tt_chart_py(&g_frames[0], 1) - (ft + fh * 0.75)) < 1e-9);
    CHECK(strstr(g_svg, "<g clip-path=\"url(#frame)\">\n<rect id=\"marker\"/>\n</g>") != NULL);
    /* the line: (0, 0) at the bottom-left corner, (10, 4) at the top-right corner, then cut
       where it leaves the frame + 10 px, on the same straight line */
    n = path_points(g_svg, "#111111", 0, xy, 32);
    CHECK_MSG(n == 3, "%d points", n);
    CHECK(fabs(xy[0] - fl) < 0.01 && fabs(xy[1] - (ft + fh)) < 0.01 && fabs(xy[2] - (fl + fw)) < 0.01 && fabs(xy[3] - ft) < 0.01);
    CHECK_MSG(fabs(xy[4] - (fl + fw + 10)) < 0.01 || fabs(xy[5] - (ft - 10)) < 0.01, "cut at (%g, %g)", xy[4], xy[5]);
    CHECK(fabs((xy[5] - xy[1]) * (xy[2] - xy[0]) - (xy[3] - xy[1]) * (xy[4] - xy[0])) < 0.01 * 600);  /* collinear */
    /* the dashed series: 2 points inside, then cut towards (1e30, -1e30): on the data line of
       slope -1, i.e. pixel slope +(fh / 4) / (fw / 10) (y grows downward) */
    CHECK(strstr(g_svg, "<path stroke=\"#222222\" stroke-dasharray=\"6 4\"") != NULL);
    n = path_points(g_svg, "#222222", 0, xy, 32);
    CHECK_MSG(n == 3, "%d points", n);
    for (i = 0; i < 2 * n; i += 2) CHECK(xy[i] >= fl - 10.01 && xy[i] <= fl + fw + 10.01 && xy[i + 1] >= ft - 10.01 && xy[i + 1] <= ft + fh + 10.01);
    if (n == 3) CHECK(fabs((xy[5] - xy[3]) / (xy[4] - xy[2]) - ((fh / 4) / (fw / 10))) < 1e-3 * fh / fw);
    CHECK(strstr(g_svg, "e+") == NULL && strstr(g_svg, "nan") == NULL && strstr(g_svg, "inf") == NULL);
    /* dots: the one inside only; the cross of the lone point; the legend: 2 labelled series */
    CHECK(count(g_svg, "<circle fill=\"black\" stroke=\"none\"") == 1);
    CHECK(count(g_svg, "<path stroke=\"red\" d=\"M") == 1 && strstr(g_svg, "l10 10m0 -10l-10 10") != NULL);
    CHECK(strstr(g_svg, "height=\"44\" fill=\"white\" fill-opacity") != NULL);   /* 18 * 2 + 8 */
    CHECK(strstr(g_svg, ">line</text>") && strstr(g_svg, ">cross</text>"));

    /* small multiples: 3 charts of 300 x 200, 2 per row, under a title */
    for (i = 0; i < 3; i++) {
        grid[i].opts = tt_chart_opts_init();
        grid[i].opts.width = 300; grid[i].opts.height = i == 1 ? 180 : 200;
        grid[i].opts.draw = draw_marker;
        grid[i].n_series = 1; grid[i].series = s;
    }
    g_svg_n = 0; g_n_frames = 0;
    CHECK_MSG(tt_chart_grid_svg_stream(&ctx, "three", 2, 3, grid, svg_sink, NULL) == TT_OK, "%s", tt_error_message(&ctx));
    CHECK(strncmp(g_svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"600\" height=\"436\"", 64) == 0);
    CHECK(strstr(g_svg, ">three</text>") != NULL);
    CHECK(strstr(g_svg, "<g transform=\"translate(0,36)\">") && strstr(g_svg, "<g transform=\"translate(300,36)\">") &&
          strstr(g_svg, "<g transform=\"translate(0,236)\">"));
    CHECK(strstr(g_svg, "<clipPath id=\"frame\">") && strstr(g_svg, "<clipPath id=\"frame1\">") && strstr(g_svg, "<clipPath id=\"frame2\">"));
    CHECK(g_n_frames == 3 && g_frames[0].index == 0 && g_frames[1].index == 1 && g_frames[2].index == 2);
    CHECK(count(g_svg, "<g") == count(g_svg, "</g>") && strcmp(g_svg + g_svg_n - 7, "</svg>\n") == 0);

    /* refused, nothing written */
    g_svg_n = 0; g_svg[0] = 0;
    o.x_max = 0;
    CHECK(tt_chart_svg_stream(&ctx, &o, 4, s, svg_sink, NULL) == TT_ERR_INVALID_ARGS);
    tt_clear_error(&ctx);
    o.x_max = 10; o.log_y = 1;   /* y_min 0 on a log axis */
    CHECK(tt_chart_svg_stream(&ctx, &o, 4, s, svg_sink, NULL) == TT_ERR_INVALID_ARGS);
    tt_clear_error(&ctx);
    o.log_y = 0;
    {
        static const tt_chart_style bad[4] = {TT_CHART_LINE, TT_CHART_LINE, (tt_chart_style)7, TT_CHART_LINE};
        o.styles = bad;
        CHECK(tt_chart_svg_stream(&ctx, &o, 4, s, svg_sink, NULL) == TT_ERR_INVALID_ARGS);
        tt_clear_error(&ctx);
    }
    CHECK(tt_chart_grid_svg_stream(&ctx, NULL, 0, 3, grid, svg_sink, NULL) == TT_ERR_INVALID_ARGS);
    tt_clear_error(&ctx);
    grid[2].opts.width = 100;
    CHECK(tt_chart_grid_svg_stream(&ctx, NULL, 2, 3, grid, svg_sink, NULL) == TT_ERR_INVALID_ARGS);
    CHECK(strstr(tt_error_message(&ctx), "chart 2") != NULL);
    tt_clear_error(&ctx);
    CHECK(g_svg_n == 0);
    tt_ctx_free(&ctx);
}

int main(void) {
    RUN(test_progress_line);
    RUN(test_progress_cheap_and_silent);
    RUN(test_progress_redraw_bytes);
    RUN(test_csv_log);
    RUN(test_svg_chart);
    RUN(test_svg_chart_options);
    TEST_EXIT();
}
