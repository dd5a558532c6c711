/* Initialisers against torch.nn.init: fans from the tensor's shape as
   torch.nn.init._calculate_fan_in_and_fan_out, gains as calculate_gain, and bounds / moments of
   the drawn values against torch's formulas. The expected fans and gains are torch's outputs
   (torch 2.15, printed by python3 -c "import torch.nn.init as I; ...") written in as literals. */
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"

static void init_ctx(tt_ctx *ctx) {
    tt_desc d;
    memset(&d, 0, sizeof d);
    d.seed = 7;
    CHECK(tt_ctx_init(ctx, &d) == TT_OK);
}

static void test_fans_as_torch(void) {
    /* shape -> (fan_in, fan_out) from torch */
    static const int shapes[5][5] = {{5, 3}, {8, 3, 3, 3}, {4, 2, 7}, {6, 1}, {2, 3, 4, 5, 6}};
    static const int nds[5] = {2, 4, 3, 2, 5}, fin[5] = {3, 27, 14, 1, 360}, fout[5] = {5, 72, 28, 6, 240};
    tt_ctx ctx;
    int i, fi, fo, s1 = 4;
    init_ctx(&ctx);
    for (i = 0; i < 5; i++) {
        tt_tensor *t = tt_tensor_new(&ctx, nds[i], shapes[i]);
        fi = fo = -1;
        CHECK(tt_init_fans(t, &fi, &fo) == TT_OK);
        CHECK_MSG(fi == fin[i] && fo == fout[i], "shape %d: fans %d %d, torch %d %d", i, fi, fo, fin[i], fout[i]);
    }
    /* fewer than 2 dims: no fans (torch raises ValueError) */
    CHECK(tt_init_fans(tt_tensor_new(&ctx, 1, &s1), &fi, &fo) == TT_ERR_SHAPE);
    CHECK(tt_init_xavier_uniform(&ctx, tt_tensor_new(&ctx, 1, &s1), NULL) == TT_ERR_SHAPE);
    CHECK(strcmp(tt_error_site(&ctx), "tt_init_xavier_uniform") == 0);
    tt_clear_error(&ctx);
    CHECK(tt_init_torch_default(&ctx, tt_tensor_new(&ctx, 1, &s1), NULL) == TT_ERR_SHAPE);
    tt_ctx_free(&ctx);
}

static void test_gains_as_torch(void) {
    CHECK(tt_calculate_gain(TT_NONLIN_LINEAR, 0) == 1.0);
    CHECK(tt_calculate_gain(TT_NONLIN_SIGMOID, 0) == 1.0);
    CHECK_CLOSE(tt_calculate_gain(TT_NONLIN_TANH, 0), 1.6666666666666667, 0, 1e-15);
    CHECK_CLOSE(tt_calculate_gain(TT_NONLIN_RELU, 0), 1.4142135623730951, 0, 1e-15);
    CHECK_CLOSE(tt_calculate_gain(TT_NONLIN_LEAKY_RELU, 0.2), 1.3867504905630728, 0, 1e-15);
    CHECK_CLOSE(tt_calculate_gain(TT_NONLIN_LEAKY_RELU, 0.01), 1.4141428569978354, 0, 1e-15);
    CHECK(tt_calculate_gain(TT_NONLIN_SELU, 0) == 0.75);
}

/* max |v|, mean and (population) variance of n floats */
static void moments(const float *v, size_t n, double *amax, double *mean, double *var) {
    double s = 0, q = 0, m = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        s += v[i];
        if (fabs(v[i]) > m) m = fabs(v[i]);
    }
    s /= (double)n;
    for (i = 0; i < n; i++) q += (v[i] - s) * (v[i] - s);
    *amax = m; *mean = s; *var = q / (double)n;
}

/* Uniform U(-b, b): every value within b (float rounding of b allowed), the largest within 1%
   of b (n >= 4096 draws: P(max < 0.99 b) = 0.99^4096 < 1e-17), variance b^2/3 within 6% (the
   standard error of a sample variance of n uniforms is ~0.9/sqrt(n) relative = 1.4% here, so
   6% is over 4 standard errors; a wrong fan (e.g. fan_in instead of fan_out, or missing the
   receptive field) changes b^2 by a factor >= 2). */
static void check_uniform(const char *what, const tt_tensor *t, double b) {
    double amax, mean, var;
    moments(t->data, t->numel, &amax, &mean, &var);
    CHECK_MSG(amax <= b * (1 + 1e-6) && amax >= 0.99 * b, "%s: max |v| %g, bound %g", what, amax, b);
    CHECK_MSG(fabs(var / (b * b / 3.0) - 1.0) < 0.06, "%s: variance %g, expected %g", what, var, b * b / 3.0);
    CHECK_MSG(fabs(mean) < 4.0 * b / sqrt(3.0 * (double)t->numel), "%s: mean %g", what, mean);
}

/* Normal N(0, s^2): sample std within 6% (standard error ~1/sqrt(2n) = 1.1% at n = 4096). */
static void check_normal(const char *what, const tt_tensor *t, double s) {
    double amax, mean, var;
    moments(t->data, t->numel, &amax, &mean, &var);
    CHECK_MSG(fabs(sqrt(var) / s - 1.0) < 0.06, "%s: std %g, expected %g", what, sqrt(var), s);
    CHECK_MSG(fabs(mean) < 5.0 * s / sqrt((double)t->numel), "%s: mean %g", what, mean);
}

static void test_torch_default(void) {
    /* nn.Conv2d(16, 32, 3) shaped weight: fan_in 16*9 = 144, bound 1/sqrt(144) = 1/12 (torch's
       kaiming_uniform_(a = sqrt(5))); the bias gets the same bound from the weight's fan_in */
    tt_ctx ctx;
    int ws[4] = {32, 16, 3, 3}, bs[1] = {4096}, ls[2] = {4096, 64};
    tt_tensor *w, *b;
    init_ctx(&ctx);
    w = tt_tensor_new(&ctx, 4, ws);
    b = tt_tensor_new(&ctx, 1, bs);
    CHECK(tt_init_torch_default(&ctx, w, b) == TT_OK);
    check_uniform("conv weight", w, 1.0 / 12.0);
    check_uniform("conv bias", b, 1.0 / 12.0);
    w = tt_tensor_new(&ctx, 2, ls); /* nn.Linear(64, 4096): fan_in 64 */
    CHECK(tt_init_torch_default(&ctx, w, NULL) == TT_OK);
    check_uniform("linear weight", w, 1.0 / 8.0);
    tt_ctx_free(&ctx);
}

static void test_xavier_kaiming(void) {
    tt_ctx ctx;
    int s3[3] = {64, 32, 3}, s2[2] = {128, 48};
    tt_tensor *t;
    tt_xavier_opts xo = tt_xavier_opts_init();
    tt_kaiming_opts ko = tt_kaiming_opts_init();
    CHECK(xo.gain == 1.0);
    CHECK(ko.a == 0.0 && ko.mode == TT_FAN_IN && ko.nonlinearity == TT_NONLIN_LEAKY_RELU);
    init_ctx(&ctx);
    /* xavier_uniform_: fans 96 and 192 (receptive field 3), b = gain sqrt(6 / 288) */
    t = tt_tensor_new(&ctx, 3, s3);
    CHECK(tt_init_xavier_uniform(&ctx, t, NULL) == TT_OK);
    check_uniform("xavier gain 1", t, sqrt(6.0 / 288.0));
    xo.gain = 5.0 / 3.0;
    CHECK(tt_init_xavier_uniform(&ctx, t, &xo) == TT_OK);
    check_uniform("xavier gain 5/3", t, 5.0 / 3.0 * sqrt(6.0 / 288.0));
    /* kaiming_normal_ defaults: a 0, fan_in, leaky_relu: std sqrt(2) / sqrt(96) */
    CHECK(tt_init_kaiming_normal(&ctx, t, NULL) == TT_OK);
    check_normal("kaiming default", t, sqrt(2.0) / sqrt(96.0));
    /* fan_out, leaky_relu slope 0.2: std gain / sqrt(192) */
    ko.a = 0.2; ko.mode = TT_FAN_OUT;
    CHECK(tt_init_kaiming_normal(&ctx, t, &ko) == TT_OK);
    check_normal("kaiming fan_out a 0.2", t, 1.3867504905630728 / sqrt(192.0));
    /* kaiming_uniform_ with tanh, fan_in 48: b = sqrt(3) * (5/3) / sqrt(48) */
    ko = tt_kaiming_opts_init();
    ko.nonlinearity = TT_NONLIN_TANH;
    t = tt_tensor_new(&ctx, 2, s2);
    CHECK(tt_init_kaiming_uniform(&ctx, t, &ko) == TT_OK);
    check_uniform("kaiming uniform tanh", t, sqrt(3.0) * (5.0 / 3.0) / sqrt(48.0));
    /* bad options are errors at the initialiser */
    ko.mode = (tt_fan_mode)7;
    CHECK(tt_init_kaiming_normal(&ctx, t, &ko) == TT_ERR_INVALID_ARGS);
    CHECK(strcmp(tt_error_site(&ctx), "tt_init_kaiming_normal") == 0);
    tt_clear_error(&ctx);
    xo.gain = -1.0;
    CHECK(tt_init_xavier_uniform(&ctx, t, &xo) == TT_ERR_INVALID_ARGS);
    tt_ctx_free(&ctx);
}

int main(void) {
    RUN(test_fans_as_torch);
    RUN(test_gains_as_torch);
    RUN(test_torch_default);
    RUN(test_xavier_kaiming);
    TEST_EXIT();
}
