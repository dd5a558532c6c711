/* cc -std=c99 -O2 -I. examples/fashion_mlp.c -o fashion_mlp -lm -lpthread && ./fashion_mlp

   On an NVIDIA GPU (see tinytrain_cuda.cu):
       nvcc -O2 -arch=sm_80 -fmad=false -c tinytrain_cuda.cu
       cc -std=c99 -O2 -I. -DTT_CUDA -c examples/fashion_mlp.c
       nvcc -o fashion_mlp fashion_mlp.o tinytrain_cuda.o -lpthread && ./fashion_mlp --gpu

   fashion_mlp: a multilayer perceptron on Fashion-MNIST, from the gzipped IDX files to a
   measured test accuracy and confusion matrix.

   Model:  784 -> 256 -> 128 -> 10, ReLU between the layers, PyTorch's default initialisation
           (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases, as nn.Linear).
   Loss:   cross-entropy on the logits.
   Training: Adam (betas 0.9 / 0.999) with the learning rate annealed from 1e-3 towards 0 on a
           cosine over the epochs, mini-batches of 64 drawn in a new seeded random order every epoch, 55,000 training images; the other 5,000 are the validation set,
           evaluated after every epoch. The test set (10,000) is evaluated once, at the end.
   Memory: the images stay uint8 in memory (tt_dataset), each batch is scaled to [0, 1] when it
           is gathered into scratch memory; nothing is allocated during training.

   Usage: ./fashion_mlp [--gpu] [epochs (default 20)] [threads (default 1)]
   --gpu: the same training on GPU 0 (the batches are uploaded, the loss and the evaluation's
   logits downloaded); without tinytrain_cuda.cu linked or without a GPU it says why and exits
   with status 1.
   Needs the data set: apt-get install dataset-fashion-mnist, or the four files in data/
   (the program says which when they are missing, and exits with status 2). */
#define _POSIX_C_SOURCE 200809L
#define TINYTRAIN_IMPLEMENTATION
#include "tinytrain.h"
#include "fashion_data.h"

typedef struct mlp {
    tt_tensor *w1, *b1, *w2, *b2, *w3, *b3;
} mlp;

static tt_tensor *mlp_forward(tt_ctx *ctx, tt_tensor *x, void *model) {
    mlp *m = (mlp *)model;
    tt_tensor *h = tt_relu(ctx, tt_linear(ctx, x, m->w1, m->b1));
    h = tt_relu(ctx, tt_linear(ctx, h, m->w2, m->b2));
    return tt_linear(ctx, h, m->w3, m->b3);
}

/* nn.Linear(in, out): weight (out, in) and bias (out), both U(-1/sqrt(in), 1/sqrt(in)). */
static void mlp_layer(tt_ctx *ctx, const char *wn, const char *bn, int in, int out, tt_tensor **w, tt_tensor **b) {
    int ws[2], bs[1];
    ws[0] = out; ws[1] = in; bs[0] = out;
    *w = tt_param(ctx, wn, 2, ws);
    *b = tt_param(ctx, bn, 1, bs);
    tt_init_torch_default(ctx, *w, *b);
}

/* Train and evaluate; 0 on success. */
static int fashion_mlp_run(const fashion_data *fd, const fashion_cfg *cfg, fashion_result *res) {
    tt_ctx ctx;
    tt_desc d;
    mlp m;
    tt_optim opt;
    tt_batch_iter it;
    tt_batch b;
    int epoch, ok = 1;
    memset(res, 0, sizeof *res);
    memset(&d, 0, sizeof d);
    d.seed = cfg->seed;
    d.threads = cfg->threads;
    d.max_params = 240000;           /* 235,146 parameters */
    d.persist_bytes = (size_t)4 << 20; /* Adam's two moments (1.9 MB) and the batch order */
    d.scratch_bytes = (size_t)16 << 20; /* one step of batch 64, or an evaluation chunk of 100 */
    d.allocator = cfg->allocator;
    if (tt_ctx_init(&ctx, &d) != TT_OK) return 1;
    mlp_layer(&ctx, "fc1.weight", "fc1.bias", 784, 256, &m.w1, &m.b1);
    mlp_layer(&ctx, "fc2.weight", "fc2.bias", 256, 128, &m.w2, &m.b2);
    mlp_layer(&ctx, "fc3.weight", "fc3.bias", 128, 10, &m.w3, &m.b3);
    if (!fashion_adam(&ctx, &opt, 1e-3) ||
        tt_batch_iter_init(&ctx, &it, fd->train.desc.n, 64, 1, 0, NULL) != TT_OK) {
        fprintf(stderr, "setup failed: %s\n", tt_error_message(&ctx));
        tt_ctx_free(&ctx);
        return 1;
    }
    if (cfg->gpu && tt_ctx_use_gpu(&ctx, 0) != TT_OK) { /* after the parameters and the optimizer exist */
        fprintf(stderr, "--gpu: %s\n", tt_error_message(&ctx));
        tt_ctx_free(&ctx);
        return 1;
    }
    for (epoch = 0; epoch < cfg->epochs && ok; epoch++) {
        double t0 = fashion_now(), loss_sum = 0;
        long n_loss = 0;
        tt_optim_set_lr(&ctx, &opt, 0, fashion_lr(1e-3, epoch, cfg->epochs));
        while (tt_batch_iter_next(&it, &b)) {
            tt_tensor *x, *loss;
            const int *y;
            float lv;
            tt_scratch_reset(&ctx);
            if (tt_dataset_gather(&ctx, &fd->train, &b, NULL, &x, &y, NULL) != TT_OK ||
                !(loss = tt_cross_entropy(&ctx, mlp_forward(&ctx, x, &m), b.count, y, NULL))) { ok = 0; break; }
            tt_zero_grad(&ctx);
            if (tt_backward(&ctx, loss) != TT_OK || tt_optim_step(&ctx, &opt) != TT_OK ||
                tt_tensor_to_host(&ctx, loss, &lv, 1) != TT_OK) { ok = 0; break; } /* the loss: the step's one download */
            loss_sum += lv;
            if (cfg->step_losses && res->steps < cfg->max_steps) cfg->step_losses[res->steps] = lv;
            n_loss++;
            res->steps++;
            if (cfg->on_step) cfg->on_step(cfg->user, res->steps);
            if (cfg->max_steps && res->steps >= cfg->max_steps) break;
        }
        res->train_seconds += fashion_now() - t0;
        if (!ok) break;
        res->val_acc = fashion_evaluate(&ctx, &fd->val, mlp_forward, &m, NULL);
        if (cfg->verbose)
            printf("epoch %2d  train loss %.4f  validation accuracy %.2f%%  (%.1f s)\n", epoch + 1,
                   n_loss ? loss_sum / (double)n_loss : 0.0, 100.0 * res->val_acc, fashion_now() - t0);
        if (cfg->max_steps && res->steps >= cfg->max_steps) break;
    }
    if (ok) res->test_acc = fashion_evaluate(&ctx, &fd->test, mlp_forward, &m, res->confusion);
    if (!ok || res->test_acc < 0) fprintf(stderr, "training failed: %s\n", tt_error_message(&ctx));
    ok = ok && res->test_acc >= 0;
    tt_ctx_free(&ctx);
    return ok ? 0 : 1;
}

#ifndef FASHION_MLP_NO_MAIN
int main(int argc, char **argv) {
    static fashion_data fd;
    fashion_cfg cfg;
    fashion_result res;
    double t0 = fashion_now();
    int r, a = 1;
    memset(&cfg, 0, sizeof cfg);
    if (argc > 1 && !strcmp(argv[1], "--gpu")) { cfg.gpu = 1; a = 2; }
    cfg.epochs = argc > a ? atoi(argv[a]) : 20;
    cfg.threads = argc > a + 1 ? atoi(argv[a + 1]) : 1;
    cfg.seed = 1;
    cfg.verbose = 1;
    if ((r = fashion_load(&fd, 1, 5000)) != 0) return r;
    printf("Fashion-MNIST: %d training, %d validation, %d test images (loaded in %.1f s)\n", fd.train.desc.n,
           fd.val.desc.n, fd.test.desc.n, fashion_now() - t0);
    r = fashion_mlp_run(&fd, &cfg, &res);
    if (r == 0) {
        fashion_print_confusion(res.confusion);
        printf("test accuracy %.2f%% after %d epochs (%ld steps, %.1f s of training, %.0f samples/s%s)\n",
               100.0 * res.test_acc, cfg.epochs, res.steps, res.train_seconds, (double)res.steps * 64 / res.train_seconds,
               cfg.gpu ? ", GPU" : "");
    }
    tt_ctx_free(&fd.ctx);
    return r;
}
#endif
