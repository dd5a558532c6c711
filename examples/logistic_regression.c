/* logistic_regression: a linear classifier for two Gaussian blobs, trained with the binary
   cross-entropy on logits, and its gradient derived by hand.

   Data: N/2 points around (-1, -0.5) labelled 0 and N/2 around (1, 0.5) labelled 1, each
   coordinate with standard deviation 1 (the blobs overlap, so no line is perfect).
   Model: logit z = w1 x1 + w2 x2 + b, probability p = sigmoid(z) = 1 / (1 + e^-z).
   Loss:  L = -1/N sum_i [y_i log p_i + (1 - y_i) log(1 - p_i)]
          (tt_bce_with_logits_loss computes it from z directly, stably for large |z|).

   The gradient. Since dsigmoid(z)/dz = p (1 - p), the derivative of one term with respect to
   z_i collapses to p_i - y_i, so with X the N x 3 matrix of rows (x1, x2, 1) and
   theta = (w1, w2, b):
       dL/dtheta = X^T (sigmoid(X theta) - y) / N
   The program prints this formula next to what autograd computes.

   The decision boundary is where p = 1/2, i.e. z = 0: the line w1 x1 + w2 x2 + b = 0.
   For these blobs (equal spherical covariances) the true log-odds is exactly linear:
       log P(1|x) / P(0|x) = (mu1 - mu0) . x - (|mu1|^2 - |mu0|^2) / 2 = 2 x1 + x2
   so logistic regression can learn the best possible boundary; with finite data it gets close.

   Build and run:  make build/logistic_regression && ./build/logistic_regression */
#define TINYTRAIN_IMPLEMENTATION
#include "tinytrain.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

enum { N = 200, STEPS = 300, PLOT_W = 64, PLOT_H = 24 };
static const float LR = 1.0f;

/* X^T (sigmoid(X theta) - y) / N in double, with X's rows (x1, x2, 1). */
static void hand_gradient(const float *x, const float *y, const float *w, float b, double g[3]) {
    int i;
    g[0] = g[1] = g[2] = 0;
    for (i = 0; i < N; i++) {
        double z = (double)w[0] * x[2 * i] + (double)w[1] * x[2 * i + 1] + b;
        double r = 1 / (1 + exp(-z)) - y[i];
        g[0] += x[2 * i] * r / N;
        g[1] += x[2 * i + 1] * r / N;
        g[2] += r / N;
    }
}

static double accuracy(const float *x, const float *y, const float *w, float b) {
    int i, right = 0;
    for (i = 0; i < N; i++) {
        float z = w[0] * x[2 * i] + w[1] * x[2 * i + 1] + b;
        right += (z > 0) == (y[i] > 0.5f);
    }
    return 100.0 * right / N;
}

/* Character plot of [-3.5, 3.5]^2: 'o' class 0, 'x' class 1, '.' where the model says 1. */
static void plot(const float *x, const float *y, const float *w, float b) {
    char grid[PLOT_H][PLOT_W + 1];
    int r, c, i;
    for (r = 0; r < PLOT_H; r++) {
        for (c = 0; c < PLOT_W; c++) {
            float x1 = -3.5f + 7.0f * ((float)c + 0.5f) / PLOT_W;
            float x2 = 3.5f - 7.0f * ((float)r + 0.5f) / PLOT_H;
            grid[r][c] = w[0] * x1 + w[1] * x2 + b > 0 ? '.' : ' ';
        }
        grid[r][PLOT_W] = 0;
    }
    for (i = 0; i < N; i++) {
        c = (int)floorf((x[2 * i] + 3.5f) / 7.0f * PLOT_W);
        r = (int)floorf((3.5f - x[2 * i + 1]) / 7.0f * PLOT_H);
        if (r >= 0 && r < PLOT_H && c >= 0 && c < PLOT_W) grid[r][c] = y[i] > 0.5f ? 'x' : 'o';
    }
    printf("  +");
    for (c = 0; c < PLOT_W; c++) putchar('-');
    printf("+\n");
    for (r = 0; r < PLOT_H; r++) printf("  |%s|\n", grid[r]);
    printf("  +");
    for (c = 0; c < PLOT_W; c++) putchar('-');
    printf("+   x1 and x2 in [-3.5, 3.5]; '.' = predicted class 1\n");
}

int main(void) {
    tt_desc desc;
    tt_ctx ctx;
    tt_rng rng;
    float x[2 * N], y[N];
    int xs[2] = {N, 2}, ys[2] = {N, 1}, ws[2] = {1, 2}, bs[1] = {1}, i, step;
    tt_tensor *w, *b;

    memset(&desc, 0, sizeof desc);
    desc.max_params = 16;
    desc.scratch_bytes = 1 << 18;
    desc.persist_bytes = 1 << 16;
    if (tt_ctx_init(&ctx, &desc) != TT_OK) {
        printf("init failed: %s\n", tt_error_message(&ctx));
        return 1;
    }
    tt_rng_seed(&rng, 3);
    for (i = 0; i < N; i++) {
        int cls = i % 2;
        float sign = cls ? 1.0f : -1.0f;
        x[2 * i] = sign * 1.0f + tt_rng_normal(&rng);
        x[2 * i + 1] = sign * 0.5f + tt_rng_normal(&rng);
        y[i] = (float)cls;
    }
    printf("logistic regression: %d points, class 0 ~ N((-1,-0.5), I), class 1 ~ N((1,0.5), I)\n", N);
    printf("model p = sigmoid(w1 x1 + w2 x2 + b), loss = binary cross-entropy, gradient descent lr %.1f\n\n",
           (double)LR);

    w = tt_param(&ctx, "w", 2, ws); /* zero-initialised: p = 0.5 for every point at the start */
    b = tt_param(&ctx, "b", 1, bs);
    printf(" step      w1        w2        b       loss   accuracy\n");
    for (step = 0; step <= STEPS; step++) {
        tt_tensor *logits, *loss;
        tt_scratch_reset(&ctx);
        logits = tt_linear(&ctx, tt_tensor_from(&ctx, 2, xs, x), w, b); /* (N, 1) */
        loss = tt_bce_with_logits_loss(&ctx, logits, tt_tensor_from(&ctx, 2, ys, y), NULL, NULL,
                                       TT_REDUCTION_MEAN);
        tt_zero_grad(&ctx);
        if (tt_backward(&ctx, loss) != TT_OK) {
            printf("step %d failed: %s\n", step, tt_error_message(&ctx));
            return 1;
        }
        if (step <= 2 || step % 50 == 0)
            printf("%5d  %8.4f  %8.4f  %8.4f  %7.4f  %6.1f%%\n", step, (double)w->data[0], (double)w->data[1],
                   (double)b->data[0], (double)loss->data[0], accuracy(x, y, w->data, b->data[0]));
        if (step == 0 || step == 10) {
            double g[3];
            hand_gradient(x, y, w->data, b->data[0], g);
            printf("       gradient at step %d: autograd   (%.7f, %.7f, %.7f)\n", step, (double)w->grad[0],
                   (double)w->grad[1], (double)b->grad[0]);
            printf("                  X^T (sigmoid(X theta) - y) / N (%.7f, %.7f, %.7f)\n", g[0], g[1], g[2]);
        }
        if (step < STEPS && tt_sgd_step_simple(&ctx, LR) != TT_OK) {
            printf("sgd failed: %s\n", tt_error_message(&ctx));
            return 1;
        }
    }

    printf("\ndecision boundary (p = 0.5): %.3f x1 + %.3f x2 + %.3f = 0", (double)w->data[0], (double)w->data[1],
           (double)b->data[0]);
    if (fabsf(w->data[1]) > 1e-6f)
        printf(",  i.e. x2 = %.3f x1 %c %.3f", -(double)w->data[0] / w->data[1],
               -b->data[0] / w->data[1] < 0 ? '-' : '+', fabs((double)b->data[0] / w->data[1]));
    /* the best line misclassifies a point when its noise along mu1 - mu0 exceeds half the distance
       |mu1 - mu0| / 2 = sqrt(5) / 2: probability Phi(-sqrt(5) / 2) = erfc(sqrt(5) / (2 sqrt(2))) / 2 */
    printf("\nbest possible (true log-odds of the blobs): 2 x1 + 1 x2 + 0 = 0, expected accuracy %.1f%%\n",
           100.0 * (1 - 0.5 * erfc(sqrt(5.0) / (2 * sqrt(2.0)))));
    printf("training accuracy %.1f%%\n\n", accuracy(x, y, w->data, b->data[0]));
    plot(x, y, w->data, b->data[0]);
    tt_ctx_free(&ctx);
    return 0;
}
