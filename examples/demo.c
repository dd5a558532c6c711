/* demo: what `make demo` runs. A multilayer perceptron (784 -> 256 -> 128 -> 10, the layers of
   tinytrain) learns Fashion-MNIST with the progress line on stderr, then
     - prints the test accuracy and the confusion matrix,
     - writes demo_curves.svg (training and validation loss, validation accuracy) and
       demo_log.csv (one row per epoch),
     - saves demo.ckpt, loads it into a freshly built model in a new context and shows that the
       reloaded model has exactly the same test accuracy.
   Without the data set it prints how to get it and exits with status 2 (make demo then trains
   the spirals example instead).

   Usage: ./build/demo [epochs (default 12)] */
#define _POSIX_C_SOURCE 200809L
#define TINYTRAIN_IMPLEMENTATION
#include "tinytrain.h"
#include "fashion_data.h"

typedef struct net {
    tt_nn nn;
    tt_nn_linear fc1, fc2, fc3;
} net;

static tt_tensor *net_forward(tt_ctx *ctx, tt_tensor *x, void *model) {
    net *m = (net *)model;
    tt_tensor *h = tt_relu(ctx, tt_nn_linear_forward(ctx, &m->fc1, x));
    h = tt_relu(ctx, tt_nn_linear_forward(ctx, &m->fc2, h));
    return tt_nn_linear_forward(ctx, &m->fc3, h);
}

static int net_build(tt_ctx *ctx, net *m, uint64_t seed) {
    tt_desc d;
    memset(&d, 0, sizeof d);
    d.seed = seed;
    d.max_params = 240000;
    d.persist_bytes = (size_t)4 << 20;
    d.scratch_bytes = (size_t)16 << 20;
    if (tt_ctx_init(ctx, &d) != TT_OK) return 0;
    tt_nn_init(&m->nn, ctx);
    tt_nn_linear_init(&m->nn, &m->fc1, "fc1", 784, 256, 1);
    tt_nn_linear_init(&m->nn, &m->fc2, "fc2", 256, 128, 1);
    tt_nn_linear_init(&m->nn, &m->fc3, "fc3", 128, 10, 1);
    return tt_error(ctx) == TT_OK;
}

/* mean cross-entropy on a data set (evaluation mode, chunks of 100) */
static double mean_loss(tt_ctx *ctx, const tt_dataset *ds, net *m) {
    int was_training = tt_set_training(ctx, 0), was_grad = tt_set_grad_enabled(ctx, 0), start;
    double sum = 0;
    tt_scratch_reset(ctx);
    for (start = 0; start < ds->desc.n; start += 100) {
        size_t mark = tt_scratch_mark(ctx);
        tt_batch b;
        tt_tensor *x, *l;
        const int *y;
        tt_cross_entropy_opts o;
        o = tt_cross_entropy_opts_init();
        o.reduction = TT_REDUCTION_SUM;
        b.idx = NULL; b.pos = start; b.epoch = 0;
        b.count = ds->desc.n - start < 100 ? ds->desc.n - start : 100;
        if (tt_dataset_gather(ctx, ds, &b, NULL, &x, &y, NULL) != TT_OK || !(l = tt_cross_entropy(ctx, net_forward(ctx, x, m), b.count, y, &o)))
            return NAN;
        sum += l->data[0];
        tt_scratch_rewind(ctx, mark);
    }
    tt_set_training(ctx, was_training);
    tt_set_grad_enabled(ctx, was_grad);
    return sum / ds->desc.n;
}

int main(int argc, char **argv) {
    static fashion_data fd;
    static net m, m2;
    static double tr_loss[100], va_loss[100], va_acc[100];
    static int conf[10][10], conf2[10][10];
    int epochs = argc > 1 ? atoi(argv[1]) : 12, epoch, r, steps;
    tt_ctx ctx, ctx2;
    tt_optim opt;
    tt_batch_iter it;
    tt_batch b;
    tt_progress pr;
    tt_csv_log log;
    tt_ckpt ck;
    double acc, acc2, t0 = fashion_now();
    static const char *cols[6] = {"epoch", "train_loss", "val_loss", "val_acc", "lr", "time_s"};
    if (epochs < 1 || epochs > 100) { fprintf(stderr, "usage: %s [epochs 1..100]\n", argv[0]); return 1; }
    if ((r = fashion_load(&fd, 1, 5000)) != 0) return r;
    printf("Fashion-MNIST: %d training, %d validation, %d test images\n", fd.train.desc.n, fd.val.desc.n, fd.test.desc.n);
    if (!net_build(&ctx, &m, 1) || !fashion_adam(&ctx, &opt, 1e-3) ||   /* torch's defaults, lr 1e-3 */
        tt_batch_iter_init(&ctx, &it, fd.train.desc.n, 64, 1, 0, NULL) != TT_OK ||
        tt_csv_log_open(&ctx, &log, "demo_log.csv", 6, cols) != TT_OK) {
        fprintf(stderr, "demo: %s\n", tt_error_message(&ctx));
        return 1;
    }
    steps = tt_batch_iter_batches(&it);
    pr = tt_progress_init(epochs, steps, 64);
    for (epoch = 0; epoch < epochs; epoch++) {
        double loss_sum = 0, row[6];
        float lr = fashion_lr(1e-3f, epoch, epochs);
        char extra[96];
        int n = 0;
        tt_optim_set_lr(&ctx, &opt, 0, lr);
        tt_progress_epoch_begin(&pr, epoch);
        while (tt_batch_iter_next(&it, &b)) {
            tt_tensor *x, *loss;
            const int *y;
            tt_scratch_reset(&ctx);
            if (tt_dataset_gather(&ctx, &fd.train, &b, NULL, &x, &y, NULL) != TT_OK ||
                !(loss = tt_cross_entropy(&ctx, net_forward(&ctx, x, &m), b.count, y, NULL))) break;
            tt_zero_grad(&ctx);
            if (tt_backward(&ctx, loss) != TT_OK || tt_optim_step(&ctx, &opt) != TT_OK) break;
            loss_sum += loss->data[0];
            n++;
            tt_progress_step(&pr, loss->data[0]);
        }
        if (tt_error(&ctx) != TT_OK) { fprintf(stderr, "demo: %s\n", tt_error_message(&ctx)); return 1; }
        tr_loss[epoch] = loss_sum / n;
        va_loss[epoch] = mean_loss(&ctx, &fd.val, &m);
        va_acc[epoch] = fashion_evaluate(&ctx, &fd.val, net_forward, &m, NULL);
        snprintf(extra, sizeof extra, "val_loss %.4f  val_acc %.2f%%", va_loss[epoch], 100 * va_acc[epoch]);
        tt_progress_epoch_end(&pr, extra);
        row[0] = epoch + 1; row[1] = tr_loss[epoch]; row[2] = va_loss[epoch]; row[3] = va_acc[epoch];
        row[4] = lr; row[5] = fashion_now() - t0;
        tt_csv_log_row(&ctx, &log, row);
    }
    tt_csv_log_close(&ctx, &log);
    acc = fashion_evaluate(&ctx, &fd.test, net_forward, &m, conf);
    fashion_print_confusion(conf);
    printf("test accuracy %.2f%% after %d epochs\n", 100 * acc, epochs);
    {
        tt_chart_series s[2];
        tt_chart_opts o = tt_chart_opts_init();
        s[0].label = "training loss"; s[0].y = tr_loss; s[0].x = NULL; s[0].n = epochs;
        s[1].label = "validation loss"; s[1].y = va_loss; s[1].x = NULL; s[1].n = epochs;
        o.title = "Fashion-MNIST MLP: loss"; o.xlabel = "epoch"; o.ylabel = "cross-entropy"; o.log_y = 1;
        if (tt_chart_svg(&ctx, "demo_curves.svg", &o, 2, s) != TT_OK) fprintf(stderr, "demo: %s\n", tt_error_message(&ctx));
        s[0].label = "validation accuracy"; s[0].y = va_acc;
        o.title = "Fashion-MNIST MLP: validation accuracy"; o.ylabel = "accuracy"; o.log_y = 0;
        if (tt_chart_svg(&ctx, "demo_accuracy.svg", &o, 1, s) != TT_OK) fprintf(stderr, "demo: %s\n", tt_error_message(&ctx));
    }
    ck = tt_ckpt_init();
    ck.optim = &opt; ck.iter = &it; ck.step = (int64_t)epochs * steps;
    if (tt_ckpt_save(&ctx, &ck, "demo.ckpt") != TT_OK) { fprintf(stderr, "demo: %s\n", tt_error_message(&ctx)); return 1; }
    /* a new model in a new context, with other random weights, restored from the file */
    ck = tt_ckpt_init();
    if (!net_build(&ctx2, &m2, 999) || tt_ckpt_load(&ctx2, &ck, "demo.ckpt") != TT_OK) {
        fprintf(stderr, "demo: reload: %s\n", tt_error_message(&ctx2));
        return 1;
    }
    acc2 = fashion_evaluate(&ctx2, &fd.test, net_forward, &m2, conf2);
    printf("wrote demo_curves.svg, demo_accuracy.svg, demo_log.csv, demo.ckpt\n");
    printf("reloaded demo.ckpt (step %ld) into a new model: test accuracy %.2f%% (%s)\n", (long)ck.step, 100 * acc2,
           acc2 == acc && memcmp(conf, conf2, sizeof conf) == 0 ? "identical" : "DIFFERENT");
    tt_ctx_free(&ctx2);
    tt_ctx_free(&ctx);
    tt_ctx_free(&fd.ctx);
    return acc2 == acc ? 0 : 1;
}
