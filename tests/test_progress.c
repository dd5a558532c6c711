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

int main(void) {
    RUN(test_progress_line);
    RUN(test_progress_cheap_and_silent);
    RUN(test_progress_redraw_bytes);
    RUN(test_csv_log);
    RUN(test_svg_chart);
    TEST_EXIT();
}
