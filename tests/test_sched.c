/* Learning-rate schedules, regularization penalties, gradient clipping, early stopping.
   Goldens come from PyTorch via tests/ref/gen_sched.py (tests/ref/sched_ref.h). */
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"
#include "ref/sched_ref.h"

/* Schedules are computed in double with torch's own formulas and operation order, so they
   should agree with torch to the last bits; the brief's bound 1e-6 relative (+1e-9 absolute
   for values near 0, e.g. one-cycle's final 4e-6) leaves room for libm differences in cos/pow. */
#define LR_RTOL 1e-6
#define LR_ATOL 1e-9

static int close_lr(double a, double b) { return fabs(a - b) <= LR_ATOL + LR_RTOL * fabs(b); }

/* Compare the lr (and momentum) before the first step and after each of n_steps steps. */
static void check_sched(tt_ctx *ctx, tt_sched *s, const double *ref_lr, const double *ref_mom, int n_steps,
                        const char *name) {
    int i;
    for (i = 0; i <= n_steps; i++) {
        double m = -1;
        if (i > 0 && tt_sched_step(ctx, s) != TT_OK) {
            CHECK_MSG(0, "%s: step %d failed: %s", name, i, tt_error_message(ctx));
            return;
        }
        if (!close_lr(tt_sched_lr(s), ref_lr[i])) {
            CHECK_MSG(0, "%s: lr after %d steps = %.17g, torch %.17g", name, i, tt_sched_lr(s), ref_lr[i]);
            return;
        }
        if (ref_mom) {
            if (!tt_sched_momentum(s, &m) || !close_lr(m, ref_mom[i])) {
                CHECK_MSG(0, "%s: momentum after %d steps = %.17g, torch %.17g", name, i, m, ref_mom[i]);
                return;
            }
        }
    }
}

static double lambda_095(int e, void *user) { (void)user; return pow(0.95, e); }
static double lambda_097(int e, void *user) { (void)user; (void)e; return 0.97; }

static void init_ctx(tt_ctx *ctx) {
    tt_desc d;
    memset(&d, 0, sizeof d);
    d.max_params = 4096;
    d.persist_bytes = 1 << 16;
    d.scratch_bytes = 1 << 20;
    if (tt_ctx_init(ctx, &d) != TT_OK) printf("  ctx init failed\n");
}

static void test_simple_schedules(void) {
    tt_ctx ctx;
    tt_sched s;
    int ms[4] = {2, 5, 9, 20}, dup[3] = {3, 3, 10};
    const int N = REF_SCHED_STEPS;
    init_ctx(&ctx);
    CHECK(tt_sched_init_lambda(&ctx, &s, 0.1, lambda_095, NULL) == TT_OK);
    check_sched(&ctx, &s, ref_lambda_lr, NULL, N, "LambdaLR");
    CHECK(tt_sched_init_multiplicative(&ctx, &s, 0.1, lambda_097, NULL) == TT_OK);
    check_sched(&ctx, &s, ref_multiplicative_lr, NULL, N, "MultiplicativeLR");
    CHECK(tt_sched_init_step(&ctx, &s, 0.1, 3, 0.5) == TT_OK);
    check_sched(&ctx, &s, ref_step_lr, NULL, N, "StepLR");
    CHECK(tt_sched_init_multistep(&ctx, &s, 0.1, 4, ms, 0.1) == TT_OK);
    check_sched(&ctx, &s, ref_multistep_lr, NULL, N, "MultiStepLR");
    CHECK(tt_sched_init_multistep(&ctx, &s, 0.1, 3, dup, 0.5) == TT_OK);
    check_sched(&ctx, &s, ref_multistep_dup_lr, NULL, N, "MultiStepLR duplicate milestone");
    CHECK(tt_sched_init_constant(&ctx, &s, 0.1, 1.0 / 3, 5) == TT_OK);
    check_sched(&ctx, &s, ref_constant_lr, NULL, N, "ConstantLR");
    CHECK(tt_sched_init_constant(&ctx, &s, 0.1, 0.5, 10) == TT_OK);
    check_sched(&ctx, &s, ref_constant2_lr, NULL, N, "ConstantLR 0.5");
    CHECK(tt_sched_init_linear(&ctx, &s, 0.1, 1.0 / 3, 1.0, 5) == TT_OK);
    check_sched(&ctx, &s, ref_linear_lr, NULL, N, "LinearLR");
    CHECK(tt_sched_init_linear(&ctx, &s, 0.1, 1.0, 0.1, 20) == TT_OK);
    check_sched(&ctx, &s, ref_linear_decay_lr, NULL, N, "LinearLR decay");
    CHECK(tt_sched_init_exponential(&ctx, &s, 0.1, 0.9) == TT_OK);
    check_sched(&ctx, &s, ref_exponential_lr, NULL, N, "ExponentialLR");
    CHECK(tt_sched_init_polynomial(&ctx, &s, 0.1, 5, 2.0) == TT_OK);
    check_sched(&ctx, &s, ref_poly_lr, NULL, N, "PolynomialLR");
    CHECK(tt_sched_init_polynomial(&ctx, &s, 0.1, 20, 0.5) == TT_OK);
    check_sched(&ctx, &s, ref_poly2_lr, NULL, N, "PolynomialLR 0.5");
    CHECK(tt_error(&ctx) == TT_OK);
    tt_ctx_free(&ctx);
}

static void test_cosine_schedules(void) {
    tt_ctx ctx;
    tt_sched s;
    int i;
    const int N = REF_SCHED_STEPS;
    init_ctx(&ctx);
    /* past T_max the recursive form rises again: 40 steps cover 4 half-periods */
    CHECK(tt_sched_init_cosine(&ctx, &s, 0.1, 5, 0.01) == TT_OK);
    check_sched(&ctx, &s, ref_cosine_lr, NULL, N, "CosineAnnealingLR T=5");
    CHECK(tt_sched_init_cosine(&ctx, &s, 0.1, 10, 0.0) == TT_OK);
    check_sched(&ctx, &s, ref_cosine2_lr, NULL, N, "CosineAnnealingLR T=10");
    CHECK(tt_sched_init_cosine_restarts(&ctx, &s, 0.1, 3, 2, 0.01) == TT_OK);
    check_sched(&ctx, &s, ref_restarts_lr, NULL, N, "CosineAnnealingWarmRestarts(3,2)");
    CHECK(tt_sched_init_cosine_restarts(&ctx, &s, 0.1, 5, 1, 0.0) == TT_OK);
    check_sched(&ctx, &s, ref_restarts1_lr, NULL, N, "CosineAnnealingWarmRestarts(5,1)");
    /* fractional epochs via step_to */
    CHECK(tt_sched_init_cosine_restarts(&ctx, &s, 0.1, 2, 2, 0.001) == TT_OK);
    CHECK_CLOSE(tt_sched_lr(&s), ref_restarts_frac_lr[0], LR_ATOL, LR_RTOL);
    for (i = 0; i < N; i++) {
        CHECK(tt_sched_step_to(&ctx, &s, ref_restarts_frac_epochs[i]) == TT_OK);
        CHECK_CLOSE(tt_sched_lr(&s), ref_restarts_frac_lr[i + 1], LR_ATOL, LR_RTOL);
    }
    CHECK(tt_sched_init_cosine_restarts(&ctx, &s, 0.1, 3, 1, 0.0) == TT_OK);
    for (i = 0; i < N; i++) {
        CHECK(tt_sched_step_to(&ctx, &s, ref_restarts_frac_epochs[i]) == TT_OK);
        CHECK_CLOSE(tt_sched_lr(&s), ref_restarts_frac1_lr[i + 1], LR_ATOL, LR_RTOL);
    }
    /* step_to on a closed-form schedule: StepLR at epoch 7 = 0.1 * 0.5^2 */
    CHECK(tt_sched_init_step(&ctx, &s, 0.1, 3, 0.5) == TT_OK);
    CHECK(tt_sched_step_to(&ctx, &s, 7) == TT_OK);
    CHECK_CLOSE(tt_sched_lr(&s), 0.025, 1e-15, 1e-12);
    CHECK(s.last_epoch == 7);
    CHECK(tt_error(&ctx) == TT_OK);
    tt_ctx_free(&ctx);
}

static void test_cyclic(void) {
    tt_ctx ctx;
    tt_sched s;
    tt_sched_cyclic_opts o;
    const int N = REF_SCHED_STEPS;
    init_ctx(&ctx);
    o = tt_sched_cyclic_opts_init(0.01, 0.1);
    o.step_size_up = o.step_size_down = 3;
    CHECK(tt_sched_init_cyclic(&ctx, &s, &o) == TT_OK);
    check_sched(&ctx, &s, ref_cyclic_tri_lr, ref_cyclic_tri_mom, N, "CyclicLR triangular");
    o.step_size_up = 2;
    o.step_size_down = 5;
    CHECK(tt_sched_init_cyclic(&ctx, &s, &o) == TT_OK);
    check_sched(&ctx, &s, ref_cyclic_tri_asym_lr, ref_cyclic_tri_asym_mom, N, "CyclicLR asymmetric");
    o = tt_sched_cyclic_opts_init(0.001, 0.1);
    o.step_size_up = 2;
    o.step_size_down = 3;
    o.mode = TT_CYCLIC_TRIANGULAR2;
    o.base_momentum = 0.7;
    o.max_momentum = 0.95;
    CHECK(tt_sched_init_cyclic(&ctx, &s, &o) == TT_OK);
    check_sched(&ctx, &s, ref_cyclic_tri2_lr, ref_cyclic_tri2_mom, N, "CyclicLR triangular2");
    o = tt_sched_cyclic_opts_init(0.01, 0.1);
    o.step_size_up = o.step_size_down = 4;
    o.mode = TT_CYCLIC_EXP_RANGE;
    o.gamma = 0.97;
    CHECK(tt_sched_init_cyclic(&ctx, &s, &o) == TT_OK);
    check_sched(&ctx, &s, ref_cyclic_exp_lr, ref_cyclic_exp_mom, N, "CyclicLR exp_range");
    /* without momentum cycling */
    o.cycle_momentum = 0;
    CHECK(tt_sched_init_cyclic(&ctx, &s, &o) == TT_OK);
    CHECK(tt_sched_momentum(&s, NULL) == 0);
    CHECK(tt_error(&ctx) == TT_OK);
    tt_ctx_free(&ctx);
}

static void test_one_cycle(void) {
    tt_ctx ctx;
    tt_sched s, before;
    tt_sched_one_cycle_opts o;
    const int N = REF_SCHED_STEPS;
    init_ctx(&ctx);
    o = tt_sched_one_cycle_opts_init(1.0, N);
    CHECK(tt_sched_init_one_cycle(&ctx, &s, &o) == TT_OK);
    check_sched(&ctx, &s, ref_onecycle_cos_lr, ref_onecycle_cos_mom, N, "OneCycleLR cos");
    /* like torch, step total_steps + 1 raises; the schedule is unchanged */
    before = s;
    CHECK(tt_sched_step(&ctx, &s) == TT_ERR_STATE);
    CHECK(strstr(tt_error_message(&ctx), "OneCycleLR") != NULL);
    CHECK(memcmp(&before, &s, sizeof s) == 0);
    tt_clear_error(&ctx);
    o = tt_sched_one_cycle_opts_init(0.5, N);
    o.anneal_strategy = TT_ANNEAL_LINEAR;
    o.pct_start = 0.25;
    CHECK(tt_sched_init_one_cycle(&ctx, &s, &o) == TT_OK);
    check_sched(&ctx, &s, ref_onecycle_lin_lr, ref_onecycle_lin_mom, N, "OneCycleLR linear");
    o = tt_sched_one_cycle_opts_init(1.0, N);
    o.three_phase = 1;
    CHECK(tt_sched_init_one_cycle(&ctx, &s, &o) == TT_OK);
    check_sched(&ctx, &s, ref_onecycle_3cos_lr, ref_onecycle_3cos_mom, N, "OneCycleLR three-phase cos");
    o = tt_sched_one_cycle_opts_init(0.2, 4 * 10); /* torch epochs=4, steps_per_epoch=10 */
    o.anneal_strategy = TT_ANNEAL_LINEAR;
    o.three_phase = 1;
    o.div_factor = 10.0;
    o.final_div_factor = 100.0;
    o.base_momentum = 0.8;
    o.max_momentum = 0.9;
    CHECK(tt_sched_init_one_cycle(&ctx, &s, &o) == TT_OK);
    check_sched(&ctx, &s, ref_onecycle_3lin_lr, ref_onecycle_3lin_mom, N, "OneCycleLR three-phase linear");
    o = tt_sched_one_cycle_opts_init(1.0, 13);
    CHECK(tt_sched_init_one_cycle(&ctx, &s, &o) == TT_OK);
    check_sched(&ctx, &s, ref_onecycle_13_lr, NULL, 12, "OneCycleLR T=13 (reference vector)");
    CHECK(tt_error(&ctx) == TT_OK);
    tt_ctx_free(&ctx);
}

static void check_plateau(tt_ctx *ctx, tt_sched *s, const double *metrics, const double *ref, const char *name) {
    int i;
    CHECK_CLOSE(tt_sched_lr(s), ref[0], LR_ATOL, LR_RTOL);
    for (i = 0; i < REF_SCHED_STEPS; i++) {
        CHECK(tt_sched_step_metric(ctx, s, metrics[i]) == TT_OK);
        if (!close_lr(tt_sched_lr(s), ref[i + 1])) {
            CHECK_MSG(0, "%s: lr after metric %d = %.17g, torch %.17g", name, i, tt_sched_lr(s), ref[i + 1]);
            return;
        }
    }
}

static void test_plateau(void) {
    tt_ctx ctx;
    tt_sched s;
    tt_sched_plateau_opts o;
    init_ctx(&ctx);
    o = tt_sched_plateau_opts_init();
    o.patience = 2;
    o.factor = 0.5;
    CHECK(tt_sched_init_plateau(&ctx, &s, 0.1, &o) == TT_OK);
    check_plateau(&ctx, &s, ref_plateau_metrics1, ref_plateau_min_lr, "plateau min rel");
    o = tt_sched_plateau_opts_init();
    o.mode = TT_METRIC_MAX;
    o.threshold = 0.005;
    o.threshold_mode = TT_THRESHOLD_ABS;
    o.patience = 1;
    o.cooldown = 2;
    o.factor = 0.3;
    o.min_lr = 0.002;
    CHECK(tt_sched_init_plateau(&ctx, &s, 0.1, &o) == TT_OK);
    check_plateau(&ctx, &s, ref_plateau_metrics2, ref_plateau_max_abs_lr, "plateau max abs cooldown min_lr");
    o = tt_sched_plateau_opts_init();
    o.mode = TT_METRIC_MAX;
    o.threshold = 0.01;
    o.factor = 0.9;
    o.patience = 0;
    o.eps = 0.005;
    CHECK(tt_sched_init_plateau(&ctx, &s, 0.05, &o) == TT_OK);
    check_plateau(&ctx, &s, ref_plateau_metrics2, ref_plateau_eps_lr, "plateau eps");
    /* plateau needs a metric, and the others take none */
    CHECK(tt_sched_step(&ctx, &s) == TT_ERR_INVALID_ARGS);
    CHECK(strstr(tt_error_message(&ctx), "tt_sched_step_metric") != NULL);
    tt_clear_error(&ctx);
    CHECK(tt_sched_init_exponential(&ctx, &s, 0.1, 0.9) == TT_OK);
    CHECK(tt_sched_step_metric(&ctx, &s, 1.0) == TT_ERR_INVALID_ARGS);
    tt_ctx_free(&ctx);
}

static void test_composites(void) {
    tt_ctx ctx;
    tt_sched s, a, b, c, *ch[3];
    tt_sched_warmup_cosine_opts wo;
    int ms[2];
    const int N = REF_SCHED_STEPS;
    init_ctx(&ctx);
    /* SequentialLR([LinearLR(0.1, 1, 5), CosineAnnealingLR(25, 0.001)], [5]) */
    CHECK(tt_sched_init_linear(&ctx, &a, 0.1, 0.1, 1.0, 5) == TT_OK);
    CHECK(tt_sched_init_cosine(&ctx, &b, 0.1, 25, 0.001) == TT_OK);
    ch[0] = &a; ch[1] = &b; ms[0] = 5;
    CHECK(tt_sched_init_sequential(&ctx, &s, 2, ch, ms) == TT_OK);
    check_sched(&ctx, &s, ref_seq_warm_cos_lr, NULL, N, "SequentialLR warmup+cosine");
    /* three children, two milestones */
    CHECK(tt_sched_init_constant(&ctx, &a, 0.1, 0.5, 3) == TT_OK);
    CHECK(tt_sched_init_exponential(&ctx, &b, 0.1, 0.9) == TT_OK);
    CHECK(tt_sched_init_step(&ctx, &c, 0.1, 4, 0.5) == TT_OK);
    ch[0] = &a; ch[1] = &b; ch[2] = &c; ms[0] = 6; ms[1] = 15;
    CHECK(tt_sched_init_sequential(&ctx, &s, 3, ch, ms) == TT_OK);
    check_sched(&ctx, &s, ref_seq3_lr, NULL, N, "SequentialLR x3");
    /* a recursive child after the milestone continues from the current lr */
    CHECK(tt_sched_init_linear(&ctx, &a, 0.1, 0.5, 1.0, 4) == TT_OK);
    CHECK(tt_sched_init_multiplicative(&ctx, &b, 0.1, lambda_097, NULL) == TT_OK);
    ch[0] = &a; ch[1] = &b; ms[0] = 8;
    CHECK(tt_sched_init_sequential(&ctx, &s, 2, ch, ms) == TT_OK);
    check_sched(&ctx, &s, ref_seq_mult_lr, NULL, N, "SequentialLR linear+multiplicative");
    /* ChainedScheduler */
    CHECK(tt_sched_init_constant(&ctx, &a, 0.1, 0.1, 4) == TT_OK);
    CHECK(tt_sched_init_exponential(&ctx, &b, 0.1, 0.9) == TT_OK);
    ch[0] = &a; ch[1] = &b;
    CHECK(tt_sched_init_chained(&ctx, &s, 2, ch) == TT_OK);
    check_sched(&ctx, &s, ref_chain_lr, NULL, N, "ChainedScheduler constant*exponential");
    CHECK(tt_sched_init_linear(&ctx, &a, 0.1, 0.2, 1.0, 6) == TT_OK);
    CHECK(tt_sched_init_cosine(&ctx, &b, 0.1, 12, 0.0) == TT_OK);
    CHECK(tt_sched_init_step(&ctx, &c, 0.1, 10, 0.5) == TT_OK);
    ch[0] = &a; ch[1] = &b; ch[2] = &c;
    CHECK(tt_sched_init_chained(&ctx, &s, 3, ch) == TT_OK);
    check_sched(&ctx, &s, ref_chain3_lr, NULL, N, "ChainedScheduler linear*cosine*step");
    /* the one-liner */
    wo = tt_sched_warmup_cosine_opts_init(6, 40);
    CHECK(wo.start_factor == 1.0 / 3.0 && wo.eta_min == 0.0); /* torch LinearLR / CosineAnnealingLR defaults */
    wo.start_factor = 0.01;
    wo.eta_min = 1e-4;
    CHECK(tt_sched_init_warmup_cosine(&ctx, &s, 0.1, &wo) == TT_OK);
    check_sched(&ctx, &s, ref_warmup_cosine_lr, NULL, N, "tt_sched_init_warmup_cosine");
    /* warmup 0 is plain cosine */
    wo = tt_sched_warmup_cosine_opts_init(0, 10);
    CHECK(tt_sched_init_warmup_cosine(&ctx, &s, 0.1, &wo) == TT_OK);
    check_sched(&ctx, &s, ref_cosine2_lr, NULL, N, "tt_sched_init_warmup_cosine without warmup");
    CHECK(tt_error(&ctx) == TT_OK);
    tt_ctx_free(&ctx);
}

static void test_momentum_in_composite(void) {
    tt_ctx ctx;
    tt_sched s, a, b, *ch[2];
    tt_sched_cyclic_opts o;
    double m = 0;
    init_ctx(&ctx);
    o = tt_sched_cyclic_opts_init(0.01, 0.1);
    o.step_size_up = o.step_size_down = 3;
    CHECK(tt_sched_init_cyclic(&ctx, &a, &o) == TT_OK);
    CHECK(tt_sched_init_exponential(&ctx, &b, 0.01, 1.0) == TT_OK);
    ch[0] = &a; ch[1] = &b;
    CHECK(tt_sched_init_chained(&ctx, &s, 2, ch) == TT_OK);
    CHECK(tt_sched_momentum(&s, &m) == 1);
    CHECK_CLOSE(m, ref_cyclic_tri_mom[0], LR_ATOL, LR_RTOL);
    CHECK(tt_sched_step(&ctx, &s) == TT_OK);
    CHECK(tt_sched_momentum(&s, &m) == 1);
    CHECK_CLOSE(m, ref_cyclic_tri_mom[1], LR_ATOL, LR_RTOL);
    CHECK_CLOSE(tt_sched_lr(&s), ref_cyclic_tri_lr[1], LR_ATOL, LR_RTOL);
    tt_ctx_free(&ctx);
}

/* Every invalid hyperparameter fails with TT_ERR_INVALID_ARGS, names the parameter, and leaves
   the schedule untouched. */
static void expect_bad(tt_ctx *ctx, tt_result r, const tt_sched *s, const tt_sched *before, const char *word) {
    CHECK_MSG(r == TT_ERR_INVALID_ARGS, "expected INVALID_ARGS for '%s', got %d", word, (int)r);
    CHECK_MSG(strstr(tt_error_message(ctx), word) != NULL, "message '%s' lacks '%s'", tt_error_message(ctx), word);
    CHECK(memcmp(s, before, sizeof *s) == 0);
    tt_clear_error(ctx);
}

static void test_sched_errors(void) {
    tt_ctx ctx;
    tt_sched s, before, a, b, p, *ch[2];
    tt_sched_cyclic_opts co;
    tt_sched_one_cycle_opts oo;
    tt_sched_plateau_opts po;
    tt_sched_warmup_cosine_opts wo;
    int ms_bad[3] = {5, 3, 8}, ms_neg[1] = {-1}, sq_bad[1] = {0};
    init_ctx(&ctx);
    CHECK(tt_sched_init_exponential(&ctx, &s, 0.1, 0.9) == TT_OK);
    before = s;
    expect_bad(&ctx, tt_sched_init_step(&ctx, &s, 0.1, -1, 0.1), &s, &before, "step_size");
    expect_bad(&ctx, tt_sched_init_step(&ctx, &s, 0.1, 0, 0.1), &s, &before, "step_size");
    expect_bad(&ctx, tt_sched_init_step(&ctx, &s, 0.1, 3, 0.0), &s, &before, "gamma");
    expect_bad(&ctx, tt_sched_init_step(&ctx, &s, -0.1, 3, 0.5), &s, &before, "base_lr");
    expect_bad(&ctx, tt_sched_init_step(&ctx, &s, NAN, 3, 0.5), &s, &before, "base_lr");
    expect_bad(&ctx, tt_sched_init_exponential(&ctx, &s, 0.1, -0.5), &s, &before, "gamma");
    expect_bad(&ctx, tt_sched_init_multistep(&ctx, &s, 0.1, 3, ms_bad, 0.1), &s, &before, "milestones");
    expect_bad(&ctx, tt_sched_init_multistep(&ctx, &s, 0.1, 1, ms_neg, 0.1), &s, &before, "milestones");
    expect_bad(&ctx, tt_sched_init_multistep(&ctx, &s, 0.1, 1, NULL, 0.1), &s, &before, "milestones");
    expect_bad(&ctx, tt_sched_init_constant(&ctx, &s, 0.1, 1.5, 5), &s, &before, "factor");
    expect_bad(&ctx, tt_sched_init_constant(&ctx, &s, 0.1, 0.5, 0), &s, &before, "total_iters");
    expect_bad(&ctx, tt_sched_init_linear(&ctx, &s, 0.1, 0.0, 1.0, 5), &s, &before, "start_factor");
    expect_bad(&ctx, tt_sched_init_linear(&ctx, &s, 0.1, 0.5, 1.5, 5), &s, &before, "end_factor");
    expect_bad(&ctx, tt_sched_init_linear(&ctx, &s, 0.1, 0.5, 1.0, -2), &s, &before, "total_iters");
    expect_bad(&ctx, tt_sched_init_polynomial(&ctx, &s, 0.1, 0, 1.0), &s, &before, "total_iters");
    expect_bad(&ctx, tt_sched_init_polynomial(&ctx, &s, 0.1, 5, -1.0), &s, &before, "power");
    expect_bad(&ctx, tt_sched_init_cosine(&ctx, &s, 0.1, 0, 0.0), &s, &before, "T_max");
    expect_bad(&ctx, tt_sched_init_cosine(&ctx, &s, 0.1, 10, -1.0), &s, &before, "eta_min");
    expect_bad(&ctx, tt_sched_init_cosine_restarts(&ctx, &s, 0.1, 0, 1, 0.0), &s, &before, "T_0");
    expect_bad(&ctx, tt_sched_init_cosine_restarts(&ctx, &s, 0.1, 5, 0, 0.0), &s, &before, "T_mult");
    expect_bad(&ctx, tt_sched_init_lambda(&ctx, &s, 0.1, NULL, NULL), &s, &before, "lr_lambda");
    expect_bad(&ctx, tt_sched_init_multiplicative(&ctx, &s, 0.1, NULL, NULL), &s, &before, "lr_lambda");
    co = tt_sched_cyclic_opts_init(0.01, 0.1);
    co.step_size_up = -1;
    expect_bad(&ctx, tt_sched_init_cyclic(&ctx, &s, &co), &s, &before, "step_size_up");
    co.step_size_up = 0;
    expect_bad(&ctx, tt_sched_init_cyclic(&ctx, &s, &co), &s, &before, "step_size_up");
    co = tt_sched_cyclic_opts_init(0.01, 0.1);
    co.mode = (tt_cyclic_mode)7;
    expect_bad(&ctx, tt_sched_init_cyclic(&ctx, &s, &co), &s, &before, "mode");
    expect_bad(&ctx, tt_sched_init_cyclic(&ctx, &s, NULL), &s, &before, "opts");
    oo = tt_sched_one_cycle_opts_init(1.0, 100);
    oo.pct_start = 1.5;
    expect_bad(&ctx, tt_sched_init_one_cycle(&ctx, &s, &oo), &s, &before, "pct_start");
    oo.pct_start = -0.1;
    expect_bad(&ctx, tt_sched_init_one_cycle(&ctx, &s, &oo), &s, &before, "pct_start");
    oo = tt_sched_one_cycle_opts_init(1.0, -5);
    expect_bad(&ctx, tt_sched_init_one_cycle(&ctx, &s, &oo), &s, &before, "total_steps");
    oo = tt_sched_one_cycle_opts_init(1.0, 0);
    expect_bad(&ctx, tt_sched_init_one_cycle(&ctx, &s, &oo), &s, &before, "total_steps");
    oo = tt_sched_one_cycle_opts_init(1.0, 100);
    oo.div_factor = 0;
    expect_bad(&ctx, tt_sched_init_one_cycle(&ctx, &s, &oo), &s, &before, "div_factor");
    /* pct_start 0: phase 1 ends at step -1... torch divides by zero at step 0 */
    oo = tt_sched_one_cycle_opts_init(1.0, 100);
    oo.pct_start = 0.01;
    expect_bad(&ctx, tt_sched_init_one_cycle(&ctx, &s, &oo), &s, &before, "zero length");
    po = tt_sched_plateau_opts_init();
    po.factor = 1.0;
    expect_bad(&ctx, tt_sched_init_plateau(&ctx, &s, 0.1, &po), &s, &before, "factor");
    po = tt_sched_plateau_opts_init();
    po.patience = -1;
    expect_bad(&ctx, tt_sched_init_plateau(&ctx, &s, 0.1, &po), &s, &before, "patience");
    po = tt_sched_plateau_opts_init();
    po.mode = (tt_metric_mode)2;
    expect_bad(&ctx, tt_sched_init_plateau(&ctx, &s, 0.1, &po), &s, &before, "mode");
    expect_bad(&ctx, tt_sched_init_plateau(&ctx, &s, 0.1, NULL), &s, &before, "opts");
    wo = tt_sched_warmup_cosine_opts_init(10, 10);
    expect_bad(&ctx, tt_sched_init_warmup_cosine(&ctx, &s, 0.1, &wo), &s, &before, "T_max");
    wo = tt_sched_warmup_cosine_opts_init(-1, 10);
    expect_bad(&ctx, tt_sched_init_warmup_cosine(&ctx, &s, 0.1, &wo), &s, &before, "warmup_steps");
    wo = tt_sched_warmup_cosine_opts_init(2, 10);
    wo.start_factor = 0.0;
    expect_bad(&ctx, tt_sched_init_warmup_cosine(&ctx, &s, 0.1, &wo), &s, &before, "start_factor");
    expect_bad(&ctx, tt_sched_init_warmup_cosine(&ctx, &s, 0.1, NULL), &s, &before, "opts");
    /* composites */
    CHECK(tt_sched_init_linear(&ctx, &a, 0.1, 0.5, 1.0, 4) == TT_OK);
    CHECK(tt_sched_init_cosine(&ctx, &b, 0.1, 10, 0.0) == TT_OK);
    po = tt_sched_plateau_opts_init();
    CHECK(tt_sched_init_plateau(&ctx, &p, 0.1, &po) == TT_OK);
    ch[0] = &a; ch[1] = &b;
    expect_bad(&ctx, tt_sched_init_sequential(&ctx, &s, 2, ch, sq_bad), &s, &before, "milestones");
    expect_bad(&ctx, tt_sched_init_sequential(&ctx, &s, 2, ch, NULL), &s, &before, "milestones");
    expect_bad(&ctx, tt_sched_init_sequential(&ctx, &s, 0, ch, NULL), &s, &before, "schedulers");
    ch[1] = &p;
    expect_bad(&ctx, tt_sched_init_chained(&ctx, &s, 2, ch), &s, &before, "ReduceLROnPlateau");
    {
        tt_sched comp, comp_before, c2, c2_before, *one[1];
        one[0] = &a;
        CHECK(tt_sched_init_chained(&ctx, &comp, 1, one) == TT_OK);
        CHECK(tt_sched_init_cosine(&ctx, &c2, 0.1, 10, 0.0) == TT_OK);
        comp_before = comp;
        c2_before = c2;
        ch[0] = &b; ch[1] = &comp;
        expect_bad(&ctx, tt_sched_init_chained(&ctx, &c2, 2, ch), &c2, &c2_before, "composite");
        CHECK(memcmp(&comp, &comp_before, sizeof comp) == 0);
        ch[0] = &c2; ch[1] = &c2;
        expect_bad(&ctx, tt_sched_init_chained(&ctx, &comp, 2, ch), &comp, &comp_before, "twice");
    }
    /* step_to */
    expect_bad(&ctx, tt_sched_step_to(&ctx, &s, -1.0), &s, &before, "epoch");
    expect_bad(&ctx, tt_sched_step_to(&ctx, &s, 2.5), &s, &before, "epoch");
    /* NULLs never crash */
    CHECK(tt_sched_step(&ctx, NULL) == TT_ERR_INVALID_ARGS);
    tt_clear_error(&ctx);
    CHECK(tt_sched_step(NULL, &s) == TT_ERR_INVALID_ARGS);
    CHECK(tt_sched_lr(NULL) == 0.0);
    memset(&a, 0, sizeof a);
    CHECK(tt_sched_step(&ctx, &a) == TT_ERR_INVALID_ARGS); /* never initialised */
    tt_ctx_free(&ctx);
}

/* ---- regularization ---- */

static tt_tensor *fn_l1(tt_ctx *ctx, tt_tensor **in, void *user) {
    (void)user;
    return tt_l1_penalty(ctx, 0.7f, 3, in);
}
static tt_tensor *fn_l2(tt_ctx *ctx, tt_tensor **in, void *user) {
    (void)user;
    return tt_l2_penalty(ctx, 0.3f, 3, in);
}
/* more than TT__MAX_IN inputs goes through the variadic input path */
static tt_tensor *fn_l2_many(tt_ctx *ctx, tt_tensor **in, void *user) {
    (void)user;
    return tt_l2_penalty(ctx, 1.5f, 6, in);
}

/* random data pushed away from 0, where |x| has a kink */
static tt_tensor *rand_away_from_zero(tt_ctx *ctx, int ndim, const int *shape) {
    tt_tensor *t = tt_tensor_rand(ctx, ndim, shape, -1.0f, 1.0f);
    size_t i;
    for (i = 0; t && i < t->numel; i++) t->data[i] += t->data[i] >= 0 ? 0.1f : -0.1f;
    return tt_requires_grad(ctx, t);
}

static void test_penalty_gradcheck(void) {
    tt_ctx ctx;
    tt_tensor *in[6];
    tt_gradcheck_report rep;
    /* shapes: scalar-ish, odd sizes, non-multiples of 8/16 */
    int s0[1] = {1}, s1[2] = {3, 5}, s2[3] = {2, 1, 17}, s3[1] = {9}, s4[2] = {4, 4}, s5[1] = {33};
    init_ctx(&ctx);
    in[0] = rand_away_from_zero(&ctx, 1, s0);
    in[1] = rand_away_from_zero(&ctx, 2, s1);
    in[2] = rand_away_from_zero(&ctx, 3, s2);
    in[3] = rand_away_from_zero(&ctx, 1, s3);
    in[4] = rand_away_from_zero(&ctx, 2, s4);
    in[5] = rand_away_from_zero(&ctx, 1, s5);
    /* default gradcheck tolerances (atol 1e-3, rtol 1e-2): the penalties are smooth away from 0
       and the eps 1e-2 central difference is exact for x^2 and |x| (no kink is crossed) */
    CHECK(tt_gradcheck(&ctx, fn_l1, 3, in, NULL, NULL, &rep) == TT_OK);
    CHECK(rep.n_checked == 1 + 15 + 34);
    CHECK(tt_gradcheck(&ctx, fn_l2, 3, in, NULL, NULL, &rep) == TT_OK);
    CHECK(tt_gradcheck(&ctx, fn_l2_many, 6, in, NULL, NULL, &rep) == TT_OK);
    CHECK(rep.n_checked == 1 + 15 + 34 + 9 + 16 + 33);
    CHECK(tt_error(&ctx) == TT_OK);
    tt_ctx_free(&ctx);
}

static void test_penalty_values(void) {
    tt_ctx ctx;
    int sw[2] = {2, 2}, sb[1] = {3};
    float wv[4] = {1, -2, 3, -4}, bv[3] = {0.5f, -0.5f, 0};
    tt_tensor *w, *b, *y, *list[1];
    init_ctx(&ctx);
    w = tt_param(&ctx, "w", 2, sw);
    b = tt_param(&ctx, "b", 1, sb);
    tt_tensor_set(&ctx, w, wv, 4);
    tt_tensor_set(&ctx, b, bv, 3);
    /* all parameters: L1 = 10 + 1, L2 = 30 + 0.5 */
    y = tt_l1_penalty(&ctx, 0.5f, 0, NULL);
    CHECK(y && y->ndim == 0);
    if (y) CHECK_CLOSE(y->data[0], 5.5, 0, 1e-6);
    y = tt_l2_penalty(&ctx, 0.1f, 0, NULL);
    if (y) CHECK_CLOSE(y->data[0], 3.05, 0, 1e-6);
    /* bias flagged: it is skipped */
    CHECK(tt_param_set_decay(&ctx, b, 0) == TT_OK);
    CHECK(b->flags & TT_NO_DECAY);
    y = tt_l2_penalty(&ctx, 0.1f, 0, NULL);
    if (y) CHECK_CLOSE(y->data[0], 3.0, 0, 1e-6);
    /* gradient: d(0.1 * sum w^2)/dw = 0.2 w; b gets none; sign(0) = 0 in L1 */
    tt_zero_grad(&ctx);
    CHECK(tt_backward(&ctx, y) == TT_OK);
    CHECK_CLOSE(w->grad[3], -0.8, 0, 1e-6);
    CHECK(b->grad[0] == 0.0f);
    tt_zero_grad(&ctx);
    list[0] = b;
    y = tt_l1_penalty(&ctx, 2.0f, 1, list);
    if (y) CHECK_CLOSE(y->data[0], 2.0, 0, 1e-6);
    CHECK(tt_backward(&ctx, y) == TT_OK);
    CHECK(b->grad[0] == 2.0f && b->grad[1] == -2.0f && b->grad[2] == 0.0f);
    CHECK(tt_param_set_decay(&ctx, b, 1) == TT_OK);
    CHECK(!(b->flags & TT_NO_DECAY));
    /* errors */
    CHECK(tt_l1_penalty(&ctx, NAN, 0, NULL) == NULL);
    CHECK(tt_error(&ctx) == TT_ERR_INVALID_ARGS && strstr(tt_error_message(&ctx), "coef"));
    tt_clear_error(&ctx);
    CHECK(tt_l2_penalty(&ctx, 1.0f, 2, NULL) == NULL);
    CHECK(tt_error(&ctx) == TT_ERR_INVALID_ARGS);
    tt_clear_error(&ctx);
    list[0] = NULL;
    CHECK(tt_l2_penalty(&ctx, 1.0f, 1, list) == NULL);
    CHECK(tt_error(&ctx) == TT_ERR_INVALID_ARGS);
    tt_clear_error(&ctx);
    CHECK(tt_param_set_decay(&ctx, tt_scalar(&ctx, 1.0f), 0) == TT_ERR_INVALID_ARGS);
    tt_clear_error(&ctx);
    tt_ctx_free(&ctx);
}

/* ---- clipping ---- */

static tt_tensor *clip_params[3];

static void setup_clip(tt_ctx *ctx) {
    int s0[2] = {3, 4}, s1[1] = {5}, s2[3] = {2, 3, 2};
    clip_params[0] = tt_param(ctx, "a", 2, s0);
    clip_params[1] = tt_param(ctx, "b", 1, s1);
    clip_params[2] = tt_param(ctx, "c", 3, s2);
}

static void load_grads(tt_ctx *ctx) { memcpy(ctx->param_grad, ref_clip_in, sizeof ref_clip_in); }

/* torch computes the norm and the scaled grads in float32, we in double: they differ by float
   rounding (~1e-7 relative), inside 1e-6 relative; + 1e-7 absolute for tiny grads. */
static void check_grads(tt_ctx *ctx, const float *ref, const char *name) {
    size_t i;
    for (i = 0; i < sizeof ref_clip_in / sizeof ref_clip_in[0]; i++)
        if (!(fabs(ctx->param_grad[i] - ref[i]) <= 1e-7 + 1e-6 * fabs(ref[i]))) {
            CHECK_MSG(0, "%s: grad %d = %.9g, torch %.9g", name, (int)i, ctx->param_grad[i], ref[i]);
            return;
        }
}

static void clip_case(tt_ctx *ctx, int n, tt_tensor **params, double max_norm, double p, int err,
                      double ref_norm, const float *ref_out, const char *name) {
    tt_clip_grad_norm_opts o = tt_clip_grad_norm_opts_init(max_norm);
    double norm = 0;
    o.norm_type = p;
    o.error_if_nonfinite = err;
    load_grads(ctx);
    CHECK_MSG(tt_clip_grad_norm(ctx, n, params, &o, &norm) == TT_OK, "%s: %s", name, tt_error_message(ctx));
    CHECK_MSG(fabs(norm - ref_norm) <= 1e-6 * fabs(ref_norm), "%s: norm %.9g, torch %.9g", name, norm, ref_norm);
    check_grads(ctx, ref_out, name);
}

/* Goldens from torch.nn.utils.clip_grad_norm_ for p = 0.5, 1, 2, 3, inf (clipping and not). */
static void test_clip_grad_norm(void) {
    tt_ctx ctx;
    double norm = 0;
    tt_clip_grad_norm_opts o = tt_clip_grad_norm_opts_init(1.0);
    init_ctx(&ctx);
    setup_clip(&ctx);
    CHECK(o.max_norm == 1.0 && o.norm_type == 2.0 && o.error_if_nonfinite == 0); /* torch's defaults */
    clip_case(&ctx, 0, NULL, 1.0, 2.0, 0, ref_clip_l2_norm, ref_clip_l2_out, "clip l2");
    clip_case(&ctx, 3, clip_params, 100.0, 2.0, 1, ref_clip_l2_noclip_norm, ref_clip_l2_noclip_out, "clip l2 (no clipping)");
    clip_case(&ctx, 3, clip_params, 0.5, INFINITY, 0, ref_clip_inf_norm, ref_clip_inf_out, "clip inf");
    clip_case(&ctx, 3, clip_params, 2.0, 1.0, 0, ref_clip_l1_norm, ref_clip_l1_out, "clip l1");
    clip_case(&ctx, 3, clip_params, 1.0, 3.0, 0, ref_clip_p3_norm, ref_clip_p3_out, "clip p=3");
    clip_case(&ctx, 0, NULL, 100.0, 3.0, 1, ref_clip_p3_noclip_norm, ref_clip_p3_noclip_out, "clip p=3 (no clipping)");
    clip_case(&ctx, 3, clip_params, 20.0, 0.5, 0, ref_clip_p05_norm, ref_clip_p05_out, "clip p=0.5");
    load_grads(&ctx);
    CHECK(tt_clip_grad_value(&ctx, 0, NULL, 0.5, &norm) == TT_OK);
    CHECK_CLOSE(norm, ref_clip_l2_noclip_norm, 0, 1e-6);
    check_grads(&ctx, ref_clip_value_out, "clip value");
    CHECK(tt_error(&ctx) == TT_OK);
    tt_ctx_free(&ctx);
}

/* tt_clip_grad_norm with the options of torch's positional arguments. */
static tt_result clip_opts(tt_ctx *ctx, int n, tt_tensor **params, double max_norm, double p, int err, double *norm) {
    tt_clip_grad_norm_opts o = tt_clip_grad_norm_opts_init(max_norm);
    o.norm_type = p;
    o.error_if_nonfinite = err;
    return tt_clip_grad_norm(ctx, n, params, &o, norm);
}

static void test_clip_nonfinite_and_errors(void) {
    tt_ctx ctx;
    double norm = 0;
    float g1;
    init_ctx(&ctx);
    setup_clip(&ctx);
    load_grads(&ctx);
    CHECK(tt_grads_finite(&ctx) == 1);
    ctx.param_grad[7] = NAN;
    CHECK(tt_grads_finite(&ctx) == 0);
    g1 = ctx.param_grad[1];
    CHECK(clip_opts(&ctx, 0, NULL, 1.0, 2.0, 1, &norm) == TT_ERR_NONFINITE);
    CHECK(norm != norm);
    CHECK(strstr(tt_error_message(&ctx), "non-finite") != NULL);
    CHECK(ctx.param_grad[1] == g1); /* untouched on error */
    tt_clear_error(&ctx);
    /* without error_if_nonfinite torch scales by NaN */
    CHECK(clip_opts(&ctx, 0, NULL, 1.0, 2.0, 0, &norm) == TT_OK);
    CHECK(ctx.param_grad[1] != ctx.param_grad[1]);
    load_grads(&ctx);
    ctx.param_grad[3] = INFINITY;
    CHECK(tt_grads_finite(&ctx) == 0);
    CHECK(clip_opts(&ctx, 0, NULL, 1.0, INFINITY, 1, &norm) == TT_ERR_NONFINITE);
    tt_clear_error(&ctx);
    CHECK(clip_opts(&ctx, 0, NULL, -1.0, 2.0, 0, NULL) == TT_ERR_INVALID_ARGS);
    CHECK(strstr(tt_error_message(&ctx), "max_norm") != NULL);
    tt_clear_error(&ctx);
    CHECK(clip_opts(&ctx, 0, NULL, 1.0, 0.0, 0, NULL) == TT_ERR_INVALID_ARGS);
    CHECK(strstr(tt_error_message(&ctx), "norm_type") != NULL);
    tt_clear_error(&ctx);
    CHECK(tt_clip_grad_value(&ctx, 0, NULL, -0.5, NULL) == TT_ERR_INVALID_ARGS);
    CHECK(strstr(tt_error_message(&ctx), "clip_value") != NULL);
    tt_clear_error(&ctx);
    CHECK(clip_opts(&ctx, -1, clip_params, 1.0, 2.0, 0, NULL) == TT_ERR_INVALID_ARGS);
    tt_clear_error(&ctx);
    CHECK(clip_opts(NULL, 0, NULL, 1.0, 2.0, 0, NULL) == TT_ERR_INVALID_ARGS);
    CHECK(clip_opts(&ctx, 0, NULL, 1.0, 2.0, 2, NULL) == TT_ERR_INVALID_ARGS); /* a switch is 0 or 1 */
    CHECK(strstr(tt_error_message(&ctx), "error_if_nonfinite") != NULL);
    tt_clear_error(&ctx);
    CHECK(tt_clip_grad_norm(&ctx, 0, NULL, NULL, NULL) == TT_ERR_INVALID_ARGS);
    tt_clear_error(&ctx);
    CHECK(tt_grads_finite(NULL) == 0);
    /* the scratch used for the parameter list is given back */
    CHECK(ctx.scratch.used == 0);
    tt_ctx_free(&ctx);
}

/* ---- early stopping ---- */

static void test_early_stop(void) {
    tt_ctx ctx;
    tt_early_stop es;
    double loss[8] = {1.0, 0.8, 0.79, 0.85, 0.7, 0.71, 0.72, 0.73};
    double acc[6] = {0.5, 0.6, 0.605, 0.61, 0.612, 0.9};
    int i, stop = 0;
    init_ctx(&ctx);
    /* min mode, patience 2, min_delta 0.05: 0.79 is not better than 0.8 by 0.05 */
    CHECK(tt_early_stop_init(&ctx, &es, 2, 0.05, TT_METRIC_MIN) == TT_OK);
    for (i = 0; i < 8 && !stop; i++) stop = tt_early_stop_update(&es, loss[i]);
    /* epochs 0 (1.0) and 1 (0.8) improve; 2 (0.79) and 3 (0.85) do not -> stop after epoch 3 */
    CHECK(stop == 1 && i == 4);
    CHECK(es.best_epoch == 1);
    CHECK(es.best == 0.8);
    CHECK(tt_early_stop_update(&es, 0.1) == 1); /* sticky */
    /* max mode, patience 3, no min_delta */
    CHECK(tt_early_stop_init(&ctx, &es, 3, 0.0, TT_METRIC_MAX) == TT_OK);
    stop = 0;
    for (i = 0; i < 6 && !stop; i++) stop = tt_early_stop_update(&es, acc[i]);
    CHECK(stop == 0 && es.best_epoch == 5 && es.best == 0.9 && es.bad_epochs == 0);
    /* NaN never improves; patience 0 stops at the first non-improvement */
    CHECK(tt_early_stop_init(&ctx, &es, 0, 0.0, TT_METRIC_MIN) == TT_OK);
    CHECK(tt_early_stop_update(&es, 1.0) == 0);
    CHECK(tt_early_stop_update(&es, NAN) == 1);
    CHECK(es.best_epoch == 0);
    /* errors */
    CHECK(tt_early_stop_init(&ctx, &es, -1, 0.0, TT_METRIC_MIN) == TT_ERR_INVALID_ARGS);
    CHECK(strstr(tt_error_message(&ctx), "patience") != NULL);
    tt_clear_error(&ctx);
    CHECK(tt_early_stop_init(&ctx, &es, 1, -0.1, TT_METRIC_MIN) == TT_ERR_INVALID_ARGS);
    CHECK(strstr(tt_error_message(&ctx), "min_delta") != NULL);
    tt_clear_error(&ctx);
    CHECK(tt_early_stop_init(&ctx, NULL, 1, 0.0, TT_METRIC_MIN) == TT_ERR_INVALID_ARGS);
    CHECK(tt_early_stop_update(NULL, 1.0) == 0);
    tt_ctx_free(&ctx);
}

/* Option structs: the *_opts_init functions give torch's defaults (the same goldens as torch's
   default schedules, tolerance LR_RTOL/LR_ATOL as above), and every field is literal: zeros
   where torch's default is not zero need no special value; switches are 0 or 1. */
static void test_opts_literal(void) {
    tt_ctx ctx;
    tt_sched s, before;
    const int N = REF_SCHED_STEPS;
    init_ctx(&ctx);
    {
        tt_sched_cyclic_opts o = tt_sched_cyclic_opts_init(0.01, 0.1); /* CyclicLR(opt, 0.01, 0.1) */
        CHECK(o.step_size_up == 2000 && o.step_size_down == 2000 && o.mode == TT_CYCLIC_TRIANGULAR);
        CHECK(o.gamma == 1.0 && o.cycle_momentum == 1 && o.base_momentum == 0.8 && o.max_momentum == 0.9);
        CHECK(tt_sched_init_cyclic(&ctx, &s, &o) == TT_OK);
        check_sched(&ctx, &s, ref_cyclic_default_lr, ref_cyclic_default_mom, N, "CyclicLR defaults");
        o.step_size_up = 3;
        o.step_size_down = 0;                     /* torch step_size_down=0 (sawtooth) */
        o.cycle_momentum = 0;
        CHECK(tt_sched_init_cyclic(&ctx, &s, &o) == TT_OK);
        CHECK(tt_sched_momentum(&s, NULL) == 0);
        check_sched(&ctx, &s, ref_cyclic_down0_lr, NULL, N, "CyclicLR step_size_down 0");
        o.cycle_momentum = 1;
        o.base_lr = 0.0;
        o.base_momentum = 0.0;                    /* a literal 0 momentum */
        o.step_size_down = 3;                     /* torch None: = step_size_up */
        CHECK(tt_sched_init_cyclic(&ctx, &s, &o) == TT_OK);
        check_sched(&ctx, &s, ref_cyclic_zeros_lr, ref_cyclic_zeros_mom, N, "CyclicLR base_lr 0, base_momentum 0");
        before = s;
        o.cycle_momentum = 2;
        expect_bad(&ctx, tt_sched_init_cyclic(&ctx, &s, &o), &s, &before, "cycle_momentum");
        o.cycle_momentum = -1;
        expect_bad(&ctx, tt_sched_init_cyclic(&ctx, &s, &o), &s, &before, "cycle_momentum");
        o.cycle_momentum = 0;
        o.gamma = 0.0;                            /* a literal gamma 0 is rejected (must be > 0) */
        expect_bad(&ctx, tt_sched_init_cyclic(&ctx, &s, &o), &s, &before, "gamma");
    }
    {
        tt_sched_one_cycle_opts o = tt_sched_one_cycle_opts_init(1.0, N); /* OneCycleLR(opt, 1.0, total_steps=N) */
        CHECK(o.pct_start == 0.3 && o.div_factor == 25.0 && o.final_div_factor == 1e4 && o.three_phase == 0);
        CHECK(o.base_momentum == 0.85 && o.max_momentum == 0.95 && o.cycle_momentum == 1 && o.anneal_strategy == TT_ANNEAL_COS);
        CHECK(tt_sched_init_one_cycle(&ctx, &s, &o) == TT_OK);
        check_sched(&ctx, &s, ref_onecycle_cos_lr, ref_onecycle_cos_mom, N, "OneCycleLR defaults");
        o.three_phase = 1;
        o.cycle_momentum = 0;
        CHECK(tt_sched_init_one_cycle(&ctx, &s, &o) == TT_OK);
        CHECK(tt_sched_momentum(&s, NULL) == 0);
        check_sched(&ctx, &s, ref_onecycle_3cos_lr, NULL, N, "OneCycleLR cycle_momentum 0");
        /* pct_start 0 (torch accepts it: the rising phase is empty) and base_momentum 0 */
        o = tt_sched_one_cycle_opts_init(1.0, N);
        o.pct_start = 0.0;
        o.base_momentum = 0.0;
        CHECK(tt_sched_init_one_cycle(&ctx, &s, &o) == TT_OK);
        check_sched(&ctx, &s, ref_onecycle_zeros_lr, ref_onecycle_zeros_mom, N, "OneCycleLR pct_start 0, base_momentum 0");
        before = s;
        o.three_phase = 2;
        expect_bad(&ctx, tt_sched_init_one_cycle(&ctx, &s, &o), &s, &before, "three_phase");
        o.three_phase = 0;
        o.cycle_momentum = 5;
        expect_bad(&ctx, tt_sched_init_one_cycle(&ctx, &s, &o), &s, &before, "cycle_momentum");
        o.cycle_momentum = 0;
        o.final_div_factor = 0.0;                 /* torch: division by zero */
        expect_bad(&ctx, tt_sched_init_one_cycle(&ctx, &s, &o), &s, &before, "final_div_factor");
    }
    {
        tt_sched_plateau_opts o = tt_sched_plateau_opts_init(); /* ReduceLROnPlateau(opt) */
        CHECK(o.factor == 0.1 && o.patience == 10 && o.threshold == 1e-4 && o.eps == 1e-8 && o.cooldown == 0);
        CHECK(o.mode == TT_METRIC_MIN && o.threshold_mode == TT_THRESHOLD_REL && o.min_lr == 0.0);
        CHECK(tt_sched_init_plateau(&ctx, &s, 0.1, &o) == TT_OK);
        check_plateau(&ctx, &s, ref_plateau_metrics1, ref_plateau_default_lr, "plateau defaults");
        /* literal zeros: patience 0, threshold 0, eps 0 */
        o.patience = 0; o.threshold = 0.0; o.eps = 0.0; o.factor = 0.5;
        CHECK(tt_sched_init_plateau(&ctx, &s, 0.1, &o) == TT_OK);
        check_plateau(&ctx, &s, ref_plateau_metrics1, ref_plateau_zeros_lr, "plateau literal zeros");
        /* factor 0 (torch allows it): the lr drops to min_lr = 0 */
        o = tt_sched_plateau_opts_init();
        o.patience = 3; o.factor = 0.0;
        CHECK(tt_sched_init_plateau(&ctx, &s, 0.1, &o) == TT_OK);
        check_plateau(&ctx, &s, ref_plateau_metrics1, ref_plateau_factor0_lr, "plateau factor 0");
        CHECK(tt_sched_lr(&s) == 0.0 && !signbit(tt_sched_lr(&s)));
        before = s;
        o = tt_sched_plateau_opts_init();
        o.threshold_mode = (tt_threshold_mode)2;
        expect_bad(&ctx, tt_sched_init_plateau(&ctx, &s, 0.1, &o), &s, &before, "threshold_mode");
        o = tt_sched_plateau_opts_init();
        o.cooldown = -1;
        expect_bad(&ctx, tt_sched_init_plateau(&ctx, &s, 0.1, &o), &s, &before, "cooldown");
    }
    CHECK(tt_error(&ctx) == TT_OK);
    tt_ctx_free(&ctx);
}

int main(void) {
    RUN(test_simple_schedules);
    RUN(test_cosine_schedules);
    RUN(test_cyclic);
    RUN(test_one_cycle);
    RUN(test_plateau);
    RUN(test_composites);
    RUN(test_momentum_in_composite);
    RUN(test_sched_errors);
    RUN(test_opts_literal);
    RUN(test_penalty_gradcheck);
    RUN(test_penalty_values);
    RUN(test_clip_grad_norm);
    RUN(test_clip_nonfinite_and_errors);
    RUN(test_early_stop);
    TEST_EXIT();
}
