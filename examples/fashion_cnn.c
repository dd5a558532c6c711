/* cc -std=c99 -O2 -I. examples/fashion_cnn.c -o fashion_cnn -lm -lpthread && ./fashion_cnn

   On an NVIDIA GPU (see tinytrain_cuda.cu):
       nvcc -O2 -arch=sm_80 -fmad=false -c tinytrain_cuda.cu
       cc -std=c99 -O2 -I. -DTT_CUDA -c examples/fashion_cnn.c
       nvcc -o fashion_cnn fashion_cnn.o tinytrain_cuda.o -lpthread && ./fashion_cnn --gpu

   fashion_cnn: a small convolutional network on Fashion-MNIST (see fashion_mlp.c for the data).

   Model (PyTorch names):
       conv1 = Conv2d(1, 32, 3, padding=1)  -> BatchNorm2d(32) -> ReLU -> MaxPool2d(2)   28 -> 14
       conv2 = Conv2d(32, 64, 3, padding=1) -> BatchNorm2d(64) -> ReLU -> MaxPool2d(2)   14 -> 7
       flatten (64 * 7 * 7 = 3136) -> fc1 = Linear(3136, 128) -> ReLU -> fc2 = Linear(128, 10)
   PyTorch's default initialisation; batchnorm weight 1, bias 0, running mean 0 and variance 1,
   momentum 0.1, eps 1e-5. Batchnorm uses batch statistics while training and the running ones
   when evaluating (tt_set_training).
   Training: Adam, learning rate 1e-3 annealed on a cosine over the epochs (as fashion_mlp), batch 64, seeded shuffling; validation accuracy after every epoch,
   test accuracy and confusion matrix at the end. Optional augmentation (random crop after
   2-pixel zero padding and horizontal flips, drawn while gathering each batch): third argument 1.

   Usage: ./fashion_cnn [--gpu] [epochs (default 6)] [threads (default 1)] [augment (default 0)]
   --gpu: the same training on GPU 0 (the batches are uploaded, each step's loss and the
   evaluation's logits downloaded); without tinytrain_cuda.cu linked or without a GPU it says
   why and exits with status 1.
   Needs the data set: apt-get install dataset-fashion-mnist, or the four files in data/. */
#define _POSIX_C_SOURCE 200809L
#define TINYTRAIN_IMPLEMENTATION
#include <math.h>
#include "tinytrain.h"
#include "fashion_data.h"

typedef struct cnn {
    tt_tensor *c1w, *c1b, *bn1w, *bn1b, *bn1m, *bn1v;
    tt_tensor *c2w, *c2b, *bn2w, *bn2b, *bn2m, *bn2v;
    tt_tensor *f1w, *f1b, *f2w, *f2b;
} cnn;

static tt_tensor *cnn_block(tt_ctx *ctx, tt_tensor *x, tt_tensor *w, tt_tensor *b, tt_tensor *bw, tt_tensor *bb,
                            tt_tensor *rm, tt_tensor *rv) {
    tt_conv_opts co;
    tt_pool_opts po;
    co = tt_conv_opts_init();
    co.padding[0] = co.padding[1] = 1;
    po = tt_pool_opts_init(2, 2);
    x = tt_batchnorm(ctx, tt_conv2d(ctx, x, w, b, &co), bw, bb, rm, rv, NULL);
    return tt_max_pool2d(ctx, tt_relu(ctx, x), &po);
}

static tt_tensor *cnn_forward(tt_ctx *ctx, tt_tensor *x, void *model) {
    cnn *m = (cnn *)model;
    tt_tensor *h = cnn_block(ctx, x, m->c1w, m->c1b, m->bn1w, m->bn1b, m->bn1m, m->bn1v);
    h = cnn_block(ctx, h, m->c2w, m->c2b, m->bn2w, m->bn2b, m->bn2m, m->bn2v);
    h = tt_relu(ctx, tt_linear(ctx, tt_flatten(ctx, h, 1), m->f1w, m->f1b));
    return tt_linear(ctx, h, m->f2w, m->f2b);
}

/* for evaluation: the logits, downloaded into their host copy when the context is on a GPU (the
   caller reads logits->data) */
static tt_tensor *cnn_forward_host(tt_ctx *ctx, tt_tensor *x, void *model) {
    tt_tensor *y = cnn_forward(ctx, x, model);
    if (y && ctx->backend && tt_tensor_to_host(ctx, y, y->data, y->numel) != TT_OK) return NULL;
    return y;
}

static tt_tensor *cnn_param(tt_ctx *ctx, const char *name, int ndim, int d0, int d1, int d2, int d3, int fan_in) {
    int s[4];
    tt_tensor *t;
    s[0] = d0; s[1] = d1; s[2] = d2; s[3] = d3;
    t = tt_param(ctx, name, ndim, s);
    /* torch's Linear/Conv default for weight and bias alike: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
    tt_init_uniform(ctx, t, (float)(-1.0 / sqrt((double)fan_in)), (float)(1.0 / sqrt((double)fan_in)));
    return t;
}

static void cnn_bn(tt_ctx *ctx, const char *w, const char *b, const char *m, const char *v, int c, tt_tensor **tw,
                   tt_tensor **tb, tt_tensor **tm, tt_tensor **tv) {
    int s[1];
    s[0] = c;
    *tw = tt_param(ctx, w, 1, s);
    *tb = tt_param(ctx, b, 1, s);
    *tm = tt_buffer(ctx, m, 1, s);
    *tv = tt_buffer(ctx, v, 1, s);
    tt_init_const(ctx, *tw, 1.0f);
    tt_init_const(ctx, *tv, 1.0f);
}

/* gpu 1: train and evaluate on GPU 0 */
static int fashion_cnn_run_on(const fashion_data *fd, const fashion_cfg *cfg, int augment, int gpu, fashion_result *res) {
    tt_ctx ctx;
    tt_desc d;
    cnn m;
    tt_optim opt;
    tt_batch_iter it;
    tt_batch b;
    tt_augment aug = tt_augment_init();
    int epoch, ok = 1;
    memset(res, 0, sizeof *res);
    memset(&d, 0, sizeof d);
    d.seed = cfg->seed;
    d.threads = cfg->threads;
    d.max_params = 430000;             /* 421,834 parameters */
    d.persist_bytes = (size_t)8 << 20;  /* Adam's moments (3.4 MB), running statistics, batch order */
    d.scratch_bytes = (size_t)96 << 20; /* one training step of batch 64 (activations and gradients) */
    d.allocator = cfg->allocator;
    if (tt_ctx_init(&ctx, &d) != TT_OK) return 1;
    m.c1w = cnn_param(&ctx, "conv1.weight", 4, 32, 1, 3, 3, 9);
    m.c1b = cnn_param(&ctx, "conv1.bias", 1, 32, 0, 0, 0, 9);
    cnn_bn(&ctx, "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", 32, &m.bn1w, &m.bn1b, &m.bn1m, &m.bn1v);
    m.c2w = cnn_param(&ctx, "conv2.weight", 4, 64, 32, 3, 3, 32 * 9);
    m.c2b = cnn_param(&ctx, "conv2.bias", 1, 64, 0, 0, 0, 32 * 9);
    cnn_bn(&ctx, "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var", 64, &m.bn2w, &m.bn2b, &m.bn2m, &m.bn2v);
    m.f1w = cnn_param(&ctx, "fc1.weight", 2, 128, 3136, 0, 0, 3136);
    m.f1b = cnn_param(&ctx, "fc1.bias", 1, 128, 0, 0, 0, 3136);
    m.f2w = cnn_param(&ctx, "fc2.weight", 2, 10, 128, 0, 0, 128);
    m.f2b = cnn_param(&ctx, "fc2.bias", 1, 10, 0, 0, 0, 128);
    if (augment) { aug.crop_padding = 2; aug.flip_p = 0.5f; aug.seed = cfg->seed + 1; }
    if (!fashion_adam(&ctx, &opt, 1e-3) ||
        tt_batch_iter_init(&ctx, &it, fd->train.desc.n, 64, 1, 0, NULL) != TT_OK) {
        fprintf(stderr, "setup failed: %s\n", tt_error_message(&ctx));
        tt_ctx_free(&ctx);
        return 1;
    }
    if (gpu && tt_ctx_use_gpu(&ctx, 0) != TT_OK) { /* after the parameters and the optimizer exist */
        fprintf(stderr, "--gpu: %s\n", tt_error_message(&ctx));
        tt_ctx_free(&ctx);
        return 1;
    }
    for (epoch = 0; epoch < cfg->epochs && ok; epoch++) {
        double t0 = fashion_now(), loss_sum = 0;
        long n_loss = 0;
        tt_optim_set_lr(&ctx, &opt, 0, fashion_lr(1e-3, epoch, cfg->epochs));
        tt_set_training(&ctx, 1);
        while (tt_batch_iter_next(&it, &b)) {
            tt_tensor *x, *loss;
            const int *y;
            float lv;
            tt_scratch_reset(&ctx);
            if (tt_dataset_gather(&ctx, &fd->train, &b, augment ? &aug : NULL, &x, &y, NULL) != TT_OK ||
                !(loss = tt_cross_entropy(&ctx, cnn_forward(&ctx, x, &m), b.count, y, NULL))) { ok = 0; break; }
            tt_zero_grad(&ctx);
            if (tt_backward(&ctx, loss) != TT_OK || tt_optim_step(&ctx, &opt) != TT_OK ||
                tt_tensor_to_host(&ctx, loss, &lv, 1) != TT_OK) { ok = 0; break; } /* on a GPU: the step's one download */
            loss_sum += lv;
            n_loss++;
            res->steps++;
            if (cfg->on_step) cfg->on_step(cfg->user, res->steps);
            if (cfg->max_steps && res->steps >= cfg->max_steps) break;
        }
        res->train_seconds += fashion_now() - t0;
        if (!ok) break;
        res->val_acc = fashion_evaluate(&ctx, &fd->val, cnn_forward_host, &m, NULL);
        if (cfg->verbose)
            printf("epoch %2d  train loss %.4f  validation accuracy %.2f%%  (%.1f s)\n", epoch + 1,
                   n_loss ? loss_sum / (double)n_loss : 0.0, 100.0 * res->val_acc, fashion_now() - t0);
        fflush(stdout);
        if (cfg->max_steps && res->steps >= cfg->max_steps) break;
    }
    if (ok) res->test_acc = fashion_evaluate(&ctx, &fd->test, cnn_forward_host, &m, res->confusion);
    if (!ok || res->test_acc < 0) fprintf(stderr, "training failed: %s\n", tt_error_message(&ctx));
    ok = ok && res->test_acc >= 0;
    tt_ctx_free(&ctx);
    return ok ? 0 : 1;
}

#ifdef FASHION_CNN_NO_MAIN /* the test and the benchmark: on the CPU */
static int fashion_cnn_run(const fashion_data *fd, const fashion_cfg *cfg, int augment, fashion_result *res) {
    return fashion_cnn_run_on(fd, cfg, augment, 0, res);
}
#endif

#ifndef FASHION_CNN_NO_MAIN
int main(int argc, char **argv) {
    static fashion_data fd;
    fashion_cfg cfg;
    fashion_result res;
    double t0 = fashion_now();
    int r, a = 1, gpu = 0, augment;
    if (argc > 1 && !strcmp(argv[1], "--gpu")) { gpu = 1; a = 2; }
    augment = argc > a + 2 ? atoi(argv[a + 2]) : 0;
    memset(&cfg, 0, sizeof cfg);
    cfg.epochs = argc > a ? atoi(argv[a]) : 6;
    cfg.threads = argc > a + 1 ? atoi(argv[a + 1]) : 1;
    cfg.seed = 1;
    cfg.verbose = 1;
    if ((r = fashion_load(&fd, 3, 5000)) != 0) return r;
    printf("Fashion-MNIST: %d training, %d validation, %d test images (loaded in %.1f s)\n", fd.train.desc.n,
           fd.val.desc.n, fd.test.desc.n, fashion_now() - t0);
    r = fashion_cnn_run_on(&fd, &cfg, augment, gpu, &res);
    if (r == 0) {
        fashion_print_confusion(res.confusion);
        printf("test accuracy %.2f%% after %d epochs (%ld steps, %.1f s of training, %.0f samples/s%s)\n",
               100.0 * res.test_acc, cfg.epochs, res.steps, res.train_seconds, (double)res.steps * 64 / res.train_seconds,
               gpu ? ", GPU" : "");
    }
    tt_ctx_free(&fd.ctx);
    return r;
}
#endif
