/* linear_regression: fit a straight line by gradient descent, and check it against the exact
   least-squares answer.

   Data: N points x in [-1, 1), y = 3 x + 2 + noise (noise ~ N(0, 0.2^2), fixed seed).
   Model: y_hat = w x + b, two parameters.
   Loss:  L(w, b) = 1/N sum_i (w x_i + b - y_i)^2            (mean squared error)

   Gradient descent repeats  w -= lr dL/dw,  b -= lr dL/db  with
       dL/dw = 2/N sum_i (w x_i + b - y_i) x_i
       dL/db = 2/N sum_i (w x_i + b - y_i)
   tinytrain computes these two numbers by reverse-mode autograd (tt_backward); the program
   also evaluates them by hand at the first step to show they are the same.

   Setting both derivatives to zero gives the closed-form least-squares solution
       w* = cov(x, y) / var(x),   b* = mean(y) - w* mean(x)
   and gradient descent walks towards it. L is a quadratic bowl with Hessian
       H = 2 [[mean(x^2), mean(x)], [mean(x), 1]],
   so with learning rate lr the distance to (w*, b*) shrinks at least by the factor
   max |1 - lr lambda| per step (lambda: eigenvalues of H), and lr > 2 / lambda_max diverges.

   Build and run:  make build/linear_regression && ./build/linear_regression */
#define TINYTRAIN_IMPLEMENTATION
#include "tinytrain.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

enum { N = 50, STEPS = 200 };
static const float LR = 0.1f;

int main(void) {
    tt_desc desc;
    tt_ctx ctx;
    tt_rng rng;
    float x[N], y[N];
    int xs[2] = {N, 1}, ws[2] = {1, 1}, bs[1] = {1}, i, step;
    double mx = 0, my = 0, sxx = 0, sxy = 0, mxx, w_star, b_star, lmin, lmax;
    tt_tensor *w, *b;

    memset(&desc, 0, sizeof desc); /* zero = defaults; keep the context small */
    desc.max_params = 16;
    desc.scratch_bytes = 1 << 16;
    desc.persist_bytes = 1 << 16;
    if (tt_ctx_init(&ctx, &desc) != TT_OK) {
        printf("init failed: %s\n", tt_error_message(&ctx));
        return 1;
    }

    /* the data: a line plus Gaussian noise */
    tt_rng_seed(&rng, 1);
    for (i = 0; i < N; i++) {
        x[i] = 2.0f * tt_rng_uniform(&rng) - 1.0f;
        y[i] = 3.0f * x[i] + 2.0f + 0.2f * tt_rng_normal(&rng);
    }
    printf("linear regression: %d points, y = 3 x + 2 + N(0, 0.2^2) noise\n", N);
    printf("model y_hat = w x + b, loss L = mean((w x + b - y)^2), gradient descent lr %.2f\n\n", (double)LR);

    /* closed form, in double: the point where both derivatives vanish */
    for (i = 0; i < N; i++) { mx += x[i]; my += y[i]; }
    mx /= N; my /= N;
    for (i = 0; i < N; i++) {
        sxx += (x[i] - mx) * (x[i] - mx);
        sxy += (x[i] - mx) * (y[i] - my);
    }
    w_star = sxy / sxx;
    b_star = my - w_star * mx;
    /* eigenvalues of the Hessian H = 2 [[mxx, mx], [mx, 1]] (a symmetric 2x2 matrix) */
    mxx = sxx / N + mx * mx;
    {
        double tr = 2 * (mxx + 1), det = 4 * (mxx - mx * mx);
        double disc = sqrt(tr * tr / 4 - det);
        lmax = tr / 2 + disc;
        lmin = tr / 2 - disc;
    }
    printf("closed form:  w* = cov(x,y)/var(x) = %.6f   b* = mean(y) - w* mean(x) = %.6f\n", w_star, b_star);
    printf("Hessian eigenvalues %.3f and %.3f: lr %.2f shrinks the error by >= %.4f per step;\n",
           lmin, lmax, (double)LR, 1 - LR * lmin);
    printf("any lr above 2/lambda_max = %.3f would diverge.\n\n", 2 / lmax);

    /* the parameters start at zero (tt_param zero-initialises) */
    w = tt_param(&ctx, "w", 2, ws);
    b = tt_param(&ctx, "b", 1, bs);
    if (!w || !b) {
        printf("tt_param failed: %s\n", tt_error_message(&ctx));
        return 1;
    }

    printf(" step        w          b        loss\n");
    for (step = 0; step <= STEPS; step++) {
        tt_tensor *xt, *yt, *pred, *loss;
        tt_scratch_reset(&ctx);
        xt = tt_tensor_from(&ctx, 2, xs, x);
        yt = tt_tensor_from(&ctx, 2, xs, y);
        pred = tt_linear(&ctx, xt, w, b); /* (N,1) x (1,1)^T + b */
        loss = tt_mse_loss(&ctx, pred, yt, TT_REDUCTION_MEAN);
        tt_zero_grad(&ctx);
        if (tt_backward(&ctx, loss) != TT_OK) {
            printf("step %d failed: %s\n", step, tt_error_message(&ctx));
            return 1;
        }
        if (step < 5 || step % 20 == 0)
            printf("%5d  %9.6f  %9.6f  %9.6f\n", step, (double)w->data[0], (double)b->data[0],
                   (double)loss->data[0]);
        if (step == 0) {
            /* the same derivatives by hand, at w = b = 0 */
            double gw = 0, gb = 0;
            for (i = 0; i < N; i++) {
                double r = (double)w->data[0] * x[i] + b->data[0] - y[i];
                gw += 2.0 / N * r * x[i];
                gb += 2.0 / N * r;
            }
            printf("    (at step 0: autograd dL/dw = %.6f, by hand %.6f;  dL/db = %.6f, by hand %.6f)\n",
                   (double)w->grad[0], gw, (double)b->grad[0], gb);
        }
        if (step < STEPS && tt_sgd_step_simple(&ctx, LR) != TT_OK) {
            printf("sgd failed: %s\n", tt_error_message(&ctx));
            return 1;
        }
    }

    printf("\nafter %d steps: w = %.6f (w* %.6f, |diff| %.1e),  b = %.6f (b* %.6f, |diff| %.1e)\n", STEPS,
           (double)w->data[0], w_star, fabs(w->data[0] - w_star), (double)b->data[0], b_star,
           fabs(b->data[0] - b_star));
    printf("gradient descent reached the least-squares solution; neither is exactly (3, 2) because of the noise.\n");
    tt_ctx_free(&ctx);
    return 0;
}
