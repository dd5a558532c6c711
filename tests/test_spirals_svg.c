/* The spirals picture (examples/spirals_svg.c, included without its main): write_svg with the
   example's 300 points and a known region pattern, read back as text. It must carry the title
   with the training accuracy, the axis labels and ticks (-1 .. 1 by 0.5 on both axes), a legend
   entry per class, one dot per point in its class colour, one rect per grid cell in the region
   colour of its class, everything in one <svg>; an unwritable path fails cleanly. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, rmdir */
#define SPIRALS_SVG_NO_MAIN
#include "../examples/spirals_svg.c"
#include "test.h"
#include <stdlib.h>
#include <unistd.h>

static size_t count(const char *hay, const char *needle) {
    size_t n = 0, len = strlen(needle);
    const char *p = hay;
    while ((p = strstr(p, needle)) != NULL) { n++; p += len; }
    return n;
}

static void test_spirals_picture(void) {
    static int cells[GRID * GRID];
    static char text[1 << 20];
    static float x[2 * N];
    static int y[N];
    char dir[] = "/tmp/tt_spirals_XXXXXX", path[256], want[128];
    tt_desc desc = tt_desc_init();
    tt_ctx ctx;
    tt_rng rng;
    size_t n;
    FILE *f;
    int i;
    CHECK(tt_ctx_init(&ctx, &desc) == TT_OK);
    tt_rng_seed(&rng, 7);
    make_spirals(&rng, x, y);
    for (i = 0; i < GRID * GRID; i++) cells[i] = i < GRID * GRID / 2 ? 0 : (i % GRID < GRID / 2 ? 1 : 2);
    if (!mkdtemp(dir)) { SKIP("test_spirals_picture", "mkdtemp failed"); tt_ctx_free(&ctx); return; }
    snprintf(path, sizeof path, "%s/s.svg", dir);
    CHECK_MSG(write_svg(&ctx, path, cells, x, y, 0.987) == 0, "%s", tt_error_message(&ctx));
    f = fopen(path, "rb");
    CHECK(f != NULL);
    n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[n] = '\0';
    CHECK(strncmp(text, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39) == 0 && n > 7 && strcmp(text + n - 7, "</svg>\n") == 0);
    CHECK(count(text, "<svg") == 1 && count(text, "<g") == count(text, "</g>"));
    CHECK(strstr(text, ">Three spirals: a 2-32-32-3 MLP, training accuracy 98.7%</text>") != NULL);
    CHECK(strstr(text, ">x1</text>") && strstr(text, ">x2</text>"));
    CHECK(strstr(text, "text-anchor=\"middle\">-1</text>") && strstr(text, "text-anchor=\"middle\">0.5</text>") &&
          strstr(text, "text-anchor=\"end\">-0.5</text>") && strstr(text, "text-anchor=\"end\">1</text>"));
    for (i = 0; i < CLASSES; i++) {
        size_t dots;
        snprintf(want, sizeof want, ">class %d</text>", i);
        CHECK_MSG(count(text, want) == 1, "legend entry %d", i);
        snprintf(want, sizeof want, "<circle fill=\"%s\" stroke=\"none\"", POINT_COLOUR[i]);
        dots = count(text, want);
        CHECK_MSG(dots == PER_CLASS, "class %d: %u dots", i, (unsigned)dots);
        snprintf(want, sizeof want, "fill=\"%s\"/>", REGION_COLOUR[i]);
        CHECK(count(text, want) == (size_t)(i == 0 ? GRID * GRID / 2 : GRID * GRID / 4));
    }
    CHECK(count(text, "nan") == 0 && count(text, "inf") == 0);
    {   /* the regions fill the frame: cell (row 0, col 0) at its top-left corner, (0, 1) one cell
           width to the right; the frame is the <rect> drawn with fill="none" (0.01 px: 2 decimals) */
        double fl = 0, ft = 0, fw = 0, fh = 0, x0, y0, w0, h0, x1, y1;
        const char *p = strstr(text, "\" fill=\"none\" stroke=\"#333333\"/>"), *r;
        while (p && p > text && strncmp(p, "<rect x=\"", 9) != 0) p--;
        CHECK(p && sscanf(p, "<rect x=\"%lf\" y=\"%lf\" width=\"%lf\" height=\"%lf\"", &fl, &ft, &fw, &fh) == 4);
        r = strstr(text, "<g clip-path=\"url(#frame)\">\n<rect x=\"");
        CHECK(r != NULL);
        if (r) {
            r = strstr(r, "<rect");
            CHECK(sscanf(r, "<rect x=\"%lf\" y=\"%lf\" width=\"%lf\" height=\"%lf\"", &x0, &y0, &w0, &h0) == 4);
            r = strstr(r + 1, "<rect");
            CHECK(r && sscanf(r, "<rect x=\"%lf\" y=\"%lf\"", &x1, &y1) == 2);
            CHECK_MSG(fabs(x0 - fl) < 0.01 && fabs(y0 - ft) < 0.01, "first cell at (%g, %g), frame at (%g, %g)", x0, y0, fl, ft);
            CHECK_MSG(fabs(x1 - (fl + fw / GRID)) < 0.01 && fabs(y1 - ft) < 0.01, "second cell at (%g, %g)", x1, y1);
            CHECK(fabs(w0 - (fw / GRID + 0.5)) < 0.01 && fabs(h0 - (fh / GRID + 0.5)) < 0.01 && fabs(fw - fh) < 0.01);
        }
    }
    CHECK(remove(path) == 0 && rmdir(dir) == 0);
    snprintf(path, sizeof path, "%s/no/such/dir/s.svg", dir);
    CHECK(write_svg(&ctx, path, cells, x, y, 0.5) == -1 && tt_error(&ctx) == TT_ERR_IO);
    tt_ctx_free(&ctx);
}

int main(void) {
    (void)&classify; (void)&linear_param;   /* the example's training helpers: not used here */
    RUN(test_spirals_picture);
    TEST_EXIT();
}
