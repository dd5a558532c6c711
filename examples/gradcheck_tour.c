/* gradcheck_tour: how to check gradients numerically with tt_gradcheck, and how to read its
   report when it fails.

   The idea. For a function f of a tensor x, backprop gives the gradient g = df/dx exactly (up to
   rounding). A finite difference estimates each component independently:
       df/dx_i  ~  (f(x + h e_i) - f(x - h e_i)) / (2 h)        (central difference)
   whose error is about h^2 f''' / 6 (truncation) plus (float rounding of f) / h. If the two
   disagree, the backward pass (or the function) has a bug. tt_gradcheck does this for every
   element of every input that requires grad. For a tensor-valued f it checks the scalar
   s = sum(w * f(x)) with fixed random weights w, so every output element matters. An element
   passes if |analytic - numeric| <= atol + rtol |numeric| (defaults 1e-3 and 1e-2, h = 1e-2 *
   max(1, |x_i|)); the report gives the worst element.

   The tour:
     1. a user-written function: softmax cross-entropy of a small MLP, checked in one call;
     2. a few ops and losses, with their worst errors;
     3. three failures and what they mean: a wrong gradient (a stop-gradient in the wrong
        place), a kink (ReLU exactly at 0), and a step h that is too small for float32.

   Build and run:  make build/gradcheck_tour && ./build/gradcheck_tour */
#define TINYTRAIN_IMPLEMENTATION
#include "tinytrain.h"
#include <stdio.h>
#include <string.h>

/* Prints one line for a check and returns its result. */
static tt_result report_line(const char *name, tt_result r, const tt_gradcheck_report *rep) {
    if (r != TT_OK && r != TT_ERR_GRADCHECK) {
        printf("  %-28s error: %s\n", name, tt_result_string(r));
        return r;
    }
    printf("  %-28s %4d  %9.2e  %9.2e   in%d[%2d]: %10.6f vs %10.6f  %s\n", name, (int)rep->n_checked,
           rep->max_abs_err, rep->max_rel_err, rep->worst_input, (int)rep->worst_index, rep->worst_analytic,
           rep->worst_numeric, r == TT_OK ? "PASS" : "FAIL");
    return r;
}

static void header(void) {
    printf("  %-28s %4s  %9s  %9s   %s\n", "function", "n", "max|a-n|", "max rel", "worst: analytic vs numeric");
}

/* ---- 1. a user-written function: inputs x (B, 3), w1 (H, 3), b1 (H), w2 (C, H), b2 (C) ---- */
enum { B = 5, IN = 3, H = 4, C = 3 };
static const int LABELS[B] = {0, 2, 1, 1, 0};

static tt_tensor *mlp_loss(tt_ctx *ctx, tt_tensor **in, void *user) {
    tt_tensor *h = tt_tanh(ctx, tt_linear(ctx, in[0], in[1], in[2]));
    tt_tensor *logits = tt_linear(ctx, h, in[3], in[4]);
    return tt_cross_entropy(ctx, logits, B, (const int *)user, NULL); /* a scalar */
}

/* ---- 2. single ops: which one is chosen by user ---- */
typedef enum which { SIGMOID, TANH, EXP, GELU, SOFTPLUS, LOG_SOFTMAX, MUL_BCAST, MATMUL, MSE, SQUARE_WRONG, RELU } which;

static tt_tensor *one_op(tt_ctx *ctx, tt_tensor **in, void *user) {
    switch (*(const which *)user) {
    case SIGMOID: return tt_sigmoid(ctx, in[0]);
    case TANH: return tt_tanh(ctx, in[0]);
    case EXP: return tt_exp(ctx, in[0]);
    case GELU: return tt_gelu(ctx, in[0]);
    case SOFTPLUS: return tt_softplus(ctx, in[0]);
    case LOG_SOFTMAX: return tt_log_softmax(ctx, in[0], -1);
    case MUL_BCAST: return tt_mul(ctx, in[0], in[1]); /* (3, 4) * (4): broadcasting */
    case MATMUL: return tt_matmul(ctx, in[0], in[1]);
    case MSE: return tt_mse_loss(ctx, in[0], in[1], TT_REDUCTION_MEAN);
    /* x^2 written as x * stop_gradient(x): the value is right, but the gradient only flows
       through the first factor, so backprop says x where the truth is 2x */
    case SQUARE_WRONG: return tt_mul(ctx, in[0], tt_detach(ctx, in[0]));
    case RELU: return tt_relu(ctx, in[0]);
    }
    return NULL;
}

/* A scratch tensor of normal random values that requires grad. */
static tt_tensor *rand_input(tt_ctx *ctx, int ndim, int d0, int d1) {
    int shape[2];
    shape[0] = d0; shape[1] = d1;
    return tt_requires_grad(ctx, tt_tensor_randn(ctx, ndim, shape, 0.0f, 1.0f));
}

static tt_result check_op(tt_ctx *ctx, const char *name, which op, tt_tensor *a, tt_tensor *b,
                          const tt_gradcheck_opts *opts) {
    tt_tensor *in[2];
    tt_gradcheck_report rep;
    tt_result r;
    in[0] = a;
    in[1] = b;
    r = tt_gradcheck(ctx, one_op, b ? 2 : 1, in, &op, opts, &rep);
    return report_line(name, r, &rep);
}

int main(void) {
    tt_desc desc;
    tt_ctx ctx;
    tt_gradcheck_report rep;
    tt_gradcheck_opts opts;
    tt_tensor *in[5];
    int bad = 0;

    memset(&desc, 0, sizeof desc);
    desc.seed = 5;
    desc.max_params = 16;
    desc.scratch_bytes = 1 << 20;
    desc.persist_bytes = 1 << 16;
    if (tt_ctx_init(&ctx, &desc) != TT_OK) {
        printf("init failed: %s\n", tt_error_message(&ctx));
        return 1;
    }

    printf("1. softmax cross-entropy of a %d-%d-%d tanh MLP on a batch of %d: all five inputs at once\n", IN, H, C, B);
    tt_scratch_reset(&ctx);
    in[0] = rand_input(&ctx, 2, B, IN);
    in[1] = rand_input(&ctx, 2, H, IN);
    in[2] = rand_input(&ctx, 1, H, 0);
    in[3] = rand_input(&ctx, 2, C, H);
    in[4] = rand_input(&ctx, 1, C, 0);
    header();
    if (report_line("cross_entropy(mlp(x))", tt_gradcheck(&ctx, mlp_loss, 5, in, (void *)LABELS, NULL, &rep), &rep)
        != TT_OK)
        bad++;
    printf("  (inputs: 0 = x, 1 = w1, 2 = b1, 3 = w2, 4 = b2; %d numbers checked, each with two extra forward "
           "passes)\n\n", (int)rep.n_checked);

    printf("2. some ops and losses on random inputs (default tolerances)\n");
    header();
    tt_scratch_reset(&ctx);
    bad += check_op(&ctx, "sigmoid (3,5)", SIGMOID, rand_input(&ctx, 2, 3, 5), NULL, NULL) != TT_OK;
    bad += check_op(&ctx, "tanh (3,5)", TANH, rand_input(&ctx, 2, 3, 5), NULL, NULL) != TT_OK;
    bad += check_op(&ctx, "exp (3,5)", EXP, rand_input(&ctx, 2, 3, 5), NULL, NULL) != TT_OK;
    bad += check_op(&ctx, "gelu (3,5)", GELU, rand_input(&ctx, 2, 3, 5), NULL, NULL) != TT_OK;
    bad += check_op(&ctx, "softplus (3,5)", SOFTPLUS, rand_input(&ctx, 2, 3, 5), NULL, NULL) != TT_OK;
    bad += check_op(&ctx, "log_softmax (3,5)", LOG_SOFTMAX, rand_input(&ctx, 2, 3, 5), NULL, NULL) != TT_OK;
    bad += check_op(&ctx, "mul (3,4) * (4)", MUL_BCAST, rand_input(&ctx, 2, 3, 4), rand_input(&ctx, 1, 4, 0), NULL)
           != TT_OK;
    bad += check_op(&ctx, "matmul (3,4) x (4,2)", MATMUL, rand_input(&ctx, 2, 3, 4), rand_input(&ctx, 2, 4, 2), NULL)
           != TT_OK;
    bad += check_op(&ctx, "mse_loss (2,3)", MSE, rand_input(&ctx, 2, 2, 3), rand_input(&ctx, 2, 2, 3), NULL)
           != TT_OK;
    printf("\n");

    printf("3. when the checker says FAIL\n");
    header();
    tt_scratch_reset(&ctx);
    if (check_op(&ctx, "x * detach(x)", SQUARE_WRONG, rand_input(&ctx, 1, 6, 0), NULL, NULL) == TT_ERR_GRADCHECK)
        printf("  -> a real bug: analytic is half the numeric value everywhere; the gradient of x^2 is 2x,\n"
               "     but the detached factor hides one of the two paths. Reported as (input, element).\n");
    else
        bad++;
    {
        float zero[3] = {-0.5f, 0.0f, 0.5f};
        int s[1] = {3};
        tt_tensor *x = tt_requires_grad(&ctx, tt_tensor_from(&ctx, 1, s, zero));
        if (check_op(&ctx, "relu at (-0.5, 0, 0.5)", RELU, x, NULL, NULL) == TT_ERR_GRADCHECK)
            printf("  -> not a bug: at the kink x = 0 backprop uses the convention relu'(0) = 0 (as PyTorch),\n"
                   "     while the central difference (relu(h) - relu(-h)) / 2h = 1/2 (here times the random weight\n"
                   "     of that output). Keep gradient-check inputs away from kinks.\n");
        else
            bad++;
    }
    {
        /* the same exp, checked with smaller and smaller steps h (relative to max(1, |x|)) */
        static const double steps[4] = {1e-2, 1e-4, 1e-6, 1e-7};
        static const char *const names[4] = {"exp, h = 1e-2 (default)", "exp, h = 1e-4", "exp, h = 1e-6",
                                             "exp, h = 1e-7"};
        float xs[4] = {2.0f, 2.5f, 3.0f, 3.5f};
        int s[1] = {4}, i;
        tt_result r = TT_OK;
        tt_tensor *x = tt_requires_grad(&ctx, tt_tensor_from(&ctx, 1, s, xs));
        opts = tt_gradcheck_opts_init();
        for (i = 0; i < 4; i++) {
            opts.eps = steps[i];
            r = check_op(&ctx, names[i], EXP, x, NULL, &opts);
        }
        if (r == TT_ERR_GRADCHECK)
            printf("  -> not a bug either: f is computed in float32 (about 7 digits), so f(x+h) - f(x-h) keeps\n"
                   "     fewer and fewer digits as h shrinks: the rounding error grows like 1e-7 |f| / h while\n"
                   "     the truncation error h^2 f'''/6 shrinks. For float32, h = 1e-2 .. 1e-3 works best.\n");
        else
            bad++;
    }

    printf("\n%s\n", bad ? "unexpected results above" : "all checks behaved as described");
    tt_ctx_free(&ctx);
    return bad ? 1 : 0;
}
