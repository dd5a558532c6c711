/* xor: the smallest problem a linear model cannot solve, learned by a 2-4-1 MLP.

   XOR: (0,0) -> 0, (0,1) -> 1, (1,0) -> 1, (1,1) -> 0.

   Why no line separates it: a linear classifier says 1 when w1 a + w2 b + c > 0. XOR needs
       (0,0): c <= 0    (1,1): w1 + w2 + c <= 0    (0,1): w2 + c > 0    (1,0): w1 + c > 0.
   Adding the last two gives w1 + w2 + 2c > 0; adding the first two gives w1 + w2 + 2c <= 0.
   Contradiction. Trained on the cross-entropy, the best linear model is w = 0, c = 0: it
   answers p = 0.5 for every input (loss log 2 = 0.693), which the program shows.

   A hidden layer bends the space: h = tanh(W1 x + b1) (4 units), then p = sigmoid(w2 . h + b2).
   The hidden units can compute, e.g., "a OR b" and "a AND b", and the output "OR and not AND".
   Both models are trained by full-batch gradient descent on the 4 rows with
   tt_bce_with_logits_loss (binary cross-entropy on the logit).

   Build and run:  make build/xor && ./build/xor */
#define TINYTRAIN_IMPLEMENTATION
#include "tinytrain.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

enum { HIDDEN = 4, STEPS = 1000 };
static const float LR = 1.0f;
static const float X[8] = {0, 0, 0, 1, 1, 0, 1, 1};
static const float Y[4] = {0, 1, 1, 0};

typedef struct model {
    tt_tensor *w1, *b1, *w2, *b2; /* w1, b1 NULL: the linear model p = sigmoid(w2 . x + b2) */
} model;

static tt_tensor *logits_of(tt_ctx *ctx, const model *m) {
    int xs[2] = {4, 2};
    tt_tensor *h = tt_tensor_from(ctx, 2, xs, X);
    if (m->w1) h = tt_tanh(ctx, tt_linear(ctx, h, m->w1, m->b1));
    return tt_linear(ctx, h, m->w2, m->b2); /* (4, 1) */
}

/* Trains with gradient descent (printing the loss now and then); returns the final loss or -1. */
static float train(tt_ctx *ctx, const model *m, const char *name) {
    int ys[2] = {4, 1}, step;
    float last = -1;
    for (step = 0; step <= STEPS; step++) {
        tt_tensor *loss;
        tt_scratch_reset(ctx);
        loss = tt_bce_with_logits_loss(ctx, logits_of(ctx, m), tt_tensor_from(ctx, 2, ys, Y), NULL, NULL,
                                       TT_REDUCTION_MEAN);
        tt_zero_grad(ctx);
        if (tt_backward(ctx, loss) != TT_OK) return -1;
        last = loss->data[0];
        if (step % 200 == 0) printf("  %s step %4d  loss %.4f\n", name, step, (double)last);
        if (step < STEPS && tt_sgd_step_simple(ctx, LR) != TT_OK) return -1;
    }
    return last;
}

/* Prints the truth table with the model's probabilities; returns how many rows are right. */
static int truth_table(tt_ctx *ctx, const model *m, const char *title) {
    tt_tensor *z;
    int i, right = 0, old = tt_set_grad_enabled(ctx, 0); /* evaluation only: no tape */
    tt_scratch_reset(ctx);
    z = logits_of(ctx, m);
    tt_set_grad_enabled(ctx, old);
    if (!z) return -1;
    printf("%s\n   a  b | xor | p(1)   answer\n", title);
    for (i = 0; i < 4; i++) {
        float p = 1.0f / (1.0f + expf(-z->data[i]));
        int answer = p > 0.5f;
        right += answer == (int)Y[i];
        printf("   %d  %d |  %d  | %.3f  %d%s\n", (int)X[2 * i], (int)X[2 * i + 1], (int)Y[i], (double)p, answer,
               answer == (int)Y[i] ? "" : "   wrong");
    }
    printf("   %d of 4 right\n\n", right);
    return right;
}

int main(void) {
    tt_desc desc;
    tt_ctx ctx;
    model mlp, lin;
    int s1[2] = {HIDDEN, 2}, s2[2] = {1, HIDDEN}, sl[2] = {1, 2}, sh[1] = {HIDDEN}, s1b[1] = {1};

    memset(&desc, 0, sizeof desc);
    desc.seed = 1; /* the initial weights come from the context RNG */
    desc.max_params = 64;
    desc.scratch_bytes = 1 << 16;
    desc.persist_bytes = 1 << 16;
    if (tt_ctx_init(&ctx, &desc) != TT_OK) {
        printf("init failed: %s\n", tt_error_message(&ctx));
        return 1;
    }
    /* both models live in the same context; each SGD step updates all parameters, but a model's
       gradients are zero while the other one trains, so it does not move */
    mlp.w1 = tt_param(&ctx, "w1", 2, s1);
    mlp.b1 = tt_param(&ctx, "b1", 1, sh);
    mlp.w2 = tt_param(&ctx, "w2", 2, s2);
    mlp.b2 = tt_param(&ctx, "b2", 1, s1b);
    lin.w1 = lin.b1 = NULL;
    lin.w2 = tt_param(&ctx, "lin_w", 2, sl);
    lin.b2 = tt_param(&ctx, "lin_b", 1, s1b);
    /* U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as nn.Linear, fan_in from the weight's shape */
    tt_init_torch_default(&ctx, mlp.w1, mlp.b1);
    tt_init_torch_default(&ctx, mlp.w2, mlp.b2);
    tt_init_torch_default(&ctx, lin.w2, lin.b2);
    if (tt_error(&ctx) != TT_OK) {
        printf("setup failed: %s\n", tt_error_message(&ctx));
        return 1;
    }

    printf("XOR with a linear model and a 2-%d-1 MLP (tanh), binary cross-entropy, gradient descent lr %.1f\n\n",
           HIDDEN, (double)LR);
    truth_table(&ctx, &lin, "linear model before training:");
    if (train(&ctx, &lin, "linear") < 0) goto fail;
    truth_table(&ctx, &lin, "linear model after training (stuck near p = 0.5, loss near log 2 = 0.693):");

    truth_table(&ctx, &mlp, "MLP before training:");
    if (train(&ctx, &mlp, "MLP") < 0) goto fail;
    truth_table(&ctx, &mlp, "MLP after training:");
    {
        int i;
        printf("what the hidden units learned, tanh(W1 x + b1) for the four inputs:\n");
        tt_set_grad_enabled(&ctx, 0);
        tt_scratch_reset(&ctx);
        for (i = 0; i < 4; i++) {
            int xs[2] = {1, 2}, j;
            tt_tensor *h = tt_tanh(&ctx, tt_linear(&ctx, tt_tensor_from(&ctx, 2, xs, X + 2 * i), mlp.w1, mlp.b1));
            if (!h) goto fail;
            printf("   (%d,%d):", (int)X[2 * i], (int)X[2 * i + 1]);
            for (j = 0; j < HIDDEN; j++) printf(" %6.3f", (double)h->data[j]);
            printf("\n");
        }
    }
    tt_ctx_free(&ctx);
    return 0;
fail:
    printf("failed: %s\n", tt_error_message(&ctx));
    tt_ctx_free(&ctx);
    return 1;
}
