/* demo: train a small classifier on built-in data and report its accuracy.

   The data is the classic "three spirals" set (300 points in 2-D, three interleaved arms,
   generated here from a fixed seed). A 2-64-64-3 MLP with ReLU is trained by plain SGD on the
   cross-entropy loss. A linear model cannot separate the arms (about 50% accuracy); the MLP
   reaches nearly 100% on the training points and on a fresh test set from the same spirals.

   Build and run:  make demo */
#define TINYTRAIN_IMPLEMENTATION
#include "tinytrain.h"
#include <stdio.h>

enum { PER_CLASS = 100, CLASSES = 3, N = PER_CLASS * CLASSES, HIDDEN = 64, STEPS = 3000 };

/* Point i of class c: radius grows along the arm, angle turns with the radius, plus noise. */
static void make_spirals(tt_rng *rng, float *x, int *y) {
    int c, i;
    for (c = 0; c < CLASSES; c++)
        for (i = 0; i < PER_CLASS; i++) {
            float r = (float)i / PER_CLASS;
            float a = (float)c * 4.0f + 4.0f * r + 0.2f * tt_rng_normal(rng);
            int k = c * PER_CLASS + i;
            x[2 * k] = r * sinf(a);
            x[2 * k + 1] = r * cosf(a);
            y[k] = c;
        }
}

static float accuracy(tt_ctx *ctx, tt_tensor *logits, const int *y) {
    tt_tensor *pred = tt_argmax(ctx, logits, 1, 0);
    int i, right = 0;
    if (!pred) return 0;
    for (i = 0; i < logits->shape[0]; i++) right += (int)pred->data[i] == y[i];
    return (float)right / (float)logits->shape[0];
}

typedef struct mlp {
    tt_tensor *w1, *b1, *w2, *b2, *w3, *b3;
} mlp;

static tt_tensor *forward(tt_ctx *ctx, const mlp *m, tt_tensor *x) {
    tt_tensor *h = tt_relu(ctx, tt_linear(ctx, x, m->w1, m->b1));
    h = tt_relu(ctx, tt_linear(ctx, h, m->w2, m->b2));
    return tt_linear(ctx, h, m->w3, m->b3);
}

static tt_tensor *linear_param(tt_ctx *ctx, const char *name, int out, int in, tt_tensor **bias) {
    int ws[2], bs[1];
    tt_tensor *w;
    ws[0] = out; ws[1] = in; bs[0] = out;
    w = tt_param(ctx, name, 2, ws);
    *bias = tt_param(ctx, name, 1, bs);
    tt_init_torch_default(ctx, w, in); /* as torch.nn.Linear */
    tt_init_torch_default(ctx, *bias, in);
    return w;
}

int main(void) {
    tt_desc desc;
    tt_ctx ctx;
    mlp m;
    float xtrain[2 * N], xtest[2 * N];
    int ytrain[N], ytest[N], xs[2] = {N, 2}, step;
    tt_tensor *x, *logits, *loss;
    tt_rng data_rng;

    memset(&desc, 0, sizeof desc);
    desc.seed = 42;
    desc.max_params = 8192;
    desc.scratch_bytes = 4 << 20;
    if (tt_ctx_init(&ctx, &desc) != TT_OK) {
        printf("init failed: %s\n", tt_error_message(&ctx));
        return 1;
    }
    tt_rng_seed(&data_rng, 7);
    make_spirals(&data_rng, xtrain, ytrain);
    make_spirals(&data_rng, xtest, ytest);
    m.w1 = linear_param(&ctx, "fc1", HIDDEN, 2, &m.b1);
    m.w2 = linear_param(&ctx, "fc2", HIDDEN, HIDDEN, &m.b2);
    m.w3 = linear_param(&ctx, "fc3", CLASSES, HIDDEN, &m.b3);
    printf("three spirals: %d points, MLP 2-%d-%d-%d (%zu parameters), SGD lr 0.5, full batch\n", N, HIDDEN,
           HIDDEN, CLASSES, ctx.n_params);

    for (step = 0; step <= STEPS; step++) {
        tt_scratch_reset(&ctx); /* activations and tape from the last step are gone */
        x = tt_tensor_from(&ctx, 2, xs, xtrain);
        logits = forward(&ctx, &m, x);
        loss = tt_cross_entropy(&ctx, logits, ytrain, NULL);
        tt_zero_grad(&ctx);
        if (tt_backward(&ctx, loss) != TT_OK || tt_sgd_step_simple(&ctx, 0.5f) != TT_OK) {
            printf("step %d failed: %s\n", step, tt_error_message(&ctx));
            return 1;
        }
        if (step % 500 == 0)
            printf("step %4d  loss %.4f  train accuracy %.1f%%\n", step, (double)loss->data[0],
                   100.0 * accuracy(&ctx, logits, ytrain));
    }

    tt_scratch_reset(&ctx);
    tt_set_grad_enabled(&ctx, 0);
    logits = forward(&ctx, &m, tt_tensor_from(&ctx, 2, xs, xtest));
    printf("test accuracy on %d fresh points: %.1f%%\n", N, 100.0 * accuracy(&ctx, logits, ytest));
    tt_ctx_free(&ctx);
    return 0;
}
