/* Shared by examples/fashion_mlp.c and examples/fashion_cnn.c: finding and loading Fashion-MNIST
   with the IDX reader, accuracy and the confusion matrix on a dataset, and the run settings.

   Fashion-MNIST (Zalando Research, MIT licence): 28x28 grey images of 10 kinds of clothing,
   60,000 for training and 10,000 for testing, as four gzipped IDX files. The loader keeps the
   images as uint8 (47 MB for the training set) in a tt_dataset; batches are scaled to [0, 1]
   when they are gathered. The last n_val training images are held out for validation. */
#ifndef FASHION_DATA_H
#define FASHION_DATA_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>

static const char *FASHION_FILES[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                                       "t10k-labels-idx1-ubyte"};
static const char *FASHION_CLASSES[10] = {"T-shirt", "Trouser", "Pullover", "Dress", "Coat",
                                          "Sandal",  "Shirt",   "Sneaker",  "Bag",   "Boot"};

typedef struct fashion_data {
    tt_ctx ctx;             /* holds the images and labels (persistent region) */
    tt_dataset train, val, test;
} fashion_data;

/* Settings of a training run (see each example's defaults). */
typedef struct fashion_cfg {
    int epochs;
    long max_steps;         /* stop after this many steps (0: run every epoch in full) */
    int threads;
    uint64_t seed;
    int verbose;
    tt_allocator allocator; /* for the model's context (a zeroed one: malloc/free) */
    void (*on_step)(void *user, long step); /* called after every optimizer step, or NULL */
    void *user;
    int gpu;                /* 1: train and evaluate on GPU 0 (tt_ctx_use_gpu; needs tinytrain_cuda.cu) */
    float *step_losses;     /* when not NULL (and max_steps > 0): receives each step's loss (room for max_steps) */
} fashion_cfg;

typedef struct fashion_result {
    double val_acc, test_acc;   /* accuracy of the last epoch on validation, then on test */
    long steps;
    double train_seconds;       /* training loops only (no evaluation, no loading) */
    int confusion[10][10];      /* test set: [true class][predicted class] */
} fashion_result;

static double fashion_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Path of file `i` in dir, with or without ".gz"; 0 if neither exists. */
static int fashion_path(const char *dir, int i, char *out, size_t cap) {
    static const char *ext[2] = {".gz", ""};
    int e;
    for (e = 0; e < 2; e++) {
        FILE *f;
        snprintf(out, cap, "%s/%s%s", dir, FASHION_FILES[i], ext[e]);
        if ((f = fopen(out, "rb")) != NULL) { fclose(f); return 1; }
    }
    return 0;
}

/* The directory holding all four files: $FASHION_MNIST_DIR when it is set (only there: setting
   it to an empty or missing directory runs the examples as on a machine without the data), else
   the Debian package's directory, else data/. */
static const char *fashion_find_dir(void) {
    static const char *dirs[3];
    char p[512];
    int d, i, n = 2;
    dirs[0] = "/usr/share/datasets/fashion-mnist";
    dirs[1] = "data";
    if (getenv("FASHION_MNIST_DIR")) { dirs[0] = getenv("FASHION_MNIST_DIR"); n = 1; }
    for (d = 0; d < n; d++) {
        for (i = 0; i < 4 && fashion_path(dirs[d], i, p, sizeof p); i++) {}
        if (i == 4) return dirs[d];
    }
    return NULL;
}

static void fashion_print_howto(void) {
    int i;
    if (getenv("FASHION_MNIST_DIR")) fprintf(stderr, "FASHION_MNIST_DIR=%s: the four files are not there.\n", getenv("FASHION_MNIST_DIR"));
    fprintf(stderr, "Fashion-MNIST not found. Either install it:\n"
                    "    apt-get install dataset-fashion-mnist     (files in /usr/share/datasets/fashion-mnist)\n"
                    "or put these four files in data/ (or in $FASHION_MNIST_DIR), gzipped or not:\n");
    for (i = 0; i < 4; i++) fprintf(stderr, "    %s.gz\n", FASHION_FILES[i]);
    fprintf(stderr, "(from https://github.com/zalandoresearch/fashion-mnist, directory data/fashion)\n");
}

/* Read an image file and its label file into a uint8 dataset of n samples (from the
   persistent region). ndim 1: samples of 784 values (MLP); 3: (1, 28, 28) (CNN). */
static int fashion_read(tt_ctx *ctx, const char *dir, int img, int lab, int ndim, tt_dataset *ds) {
    char p[512];
    tt_idx_info info;
    tt_dataset_desc dd = tt_dataset_desc_init();
    if (!fashion_path(dir, img, p, sizeof p) || tt_idx_info_file(ctx, p, &info) != TT_OK) return 0;
    if (info.ndim != 3 || info.dims[1] != 28 || info.dims[2] != 28 || info.type != TT_IDX_U8) {
        fprintf(stderr, "%s: not 28x28 uint8 images\n", p);
        return 0;
    }
    dd.n = info.dims[0];
    dd.type = TT_DATA_U8;
    dd.u8_scale = 1.0f / 255.0f;
    dd.n_classes = 10;
    dd.ndim = ndim;
    if (ndim == 1) dd.shape[0] = 784;
    else { dd.shape[0] = 1; dd.shape[1] = 28; dd.shape[2] = 28; }
    if (tt_dataset_alloc(ctx, ds, &dd, NULL, 0) != TT_OK) return 0;
    if (tt_idx_read_u8_file(ctx, p, ds->x_u8, (size_t)dd.n * 784) != TT_OK) return 0;
    if (!fashion_path(dir, lab, p, sizeof p) || tt_idx_read_int_file(ctx, p, ds->y, (size_t)dd.n) != TT_OK) return 0;
    return tt_dataset_check(ctx, ds) == TT_OK;
}

/* Load everything. Returns 0 on success, 2 if the files are missing (after saying how to get
   them), 1 on another error. */
static int fashion_load(fashion_data *fd, int ndim, int n_val) {
    const char *dir = fashion_find_dir();
    tt_desc d;
    tt_dataset_desc vd;
    memset(fd, 0, sizeof *fd);
    if (!dir) { fashion_print_howto(); return 2; }
    memset(&d, 0, sizeof d);
    d.max_params = 1;
    d.persist_bytes = (size_t)56 << 20; /* 70,000 images of 784 bytes + labels */
    d.scratch_bytes = (size_t)27 << 20; /* one gzipped file at a time (26.4 MB the largest) */
    if (tt_ctx_init(&fd->ctx, &d) != TT_OK) return 1;
    if (!fashion_read(&fd->ctx, dir, 0, 1, ndim, &fd->train) || !fashion_read(&fd->ctx, dir, 2, 3, ndim, &fd->test)) {
        fprintf(stderr, "loading Fashion-MNIST from %s failed: %s\n", dir, tt_error_message(&fd->ctx));
        return 1;
    }
    /* validation: a view of the last n_val training samples; training keeps the others */
    vd = fd->train.desc;
    vd.n = n_val;
    fd->train.desc.n -= n_val;
    if (tt_dataset_init(&fd->ctx, &fd->val, &vd, fd->train.x_u8 + (size_t)fd->train.desc.n * 784,
                        fd->train.y + fd->train.desc.n) != TT_OK)
        return 1;
    return 0;
}

/* Model forward pass: logits (count, 10) for a batch x. */
typedef tt_tensor *(*fashion_forward_fn)(tt_ctx *ctx, tt_tensor *x, void *model);

/* Accuracy on a whole dataset in evaluation mode without the graph (scratch reset first, then chunks of 100 samples,
   scratch rewound after each), and the confusion matrix when conf is not NULL. */
static double fashion_evaluate(tt_ctx *ctx, const tt_dataset *ds, fashion_forward_fn fwd, void *model, int conf[10][10]) {
    int was_training = tt_set_training(ctx, 0), was_grad = tt_set_grad_enabled(ctx, 0), start;
    long correct = 0;
    float lg[100 * 10]; /* a chunk's logits, on the host */
    if (conf) memset(conf, 0, sizeof(int) * 100);
    tt_scratch_reset(ctx); /* called between training steps: the last step is done with */
    for (start = 0; start < ds->desc.n; start += 100) {
        size_t mark = tt_scratch_mark(ctx);
        tt_batch b;
        tt_tensor *x, *logits;
        const int *y;
        int i, c;
        b.idx = NULL; b.pos = start; b.epoch = 0;
        b.count = ds->desc.n - start < 100 ? ds->desc.n - start : 100;
        if (tt_dataset_gather(ctx, ds, &b, NULL, &x, &y, NULL) != TT_OK || !(logits = fwd(ctx, x, model))) {
            correct = -1;
            break;
        }
        if (tt_tensor_to_host(ctx, logits, lg, logits->numel <= 1000 ? logits->numel : 0) != TT_OK) { /* GPU: download */
            correct = -1;
            break;
        }
        for (i = 0; i < b.count; i++) {
            const float *row = lg + (size_t)i * 10;
            int best = 0;
            for (c = 1; c < 10; c++)
                if (row[c] > row[best]) best = c;
            correct += best == y[i];
            if (conf) conf[y[i]][best]++;
        }
        tt_scratch_rewind(ctx, mark);
    }
    tt_set_training(ctx, was_training);
    tt_set_grad_enabled(ctx, was_grad);
    return correct < 0 ? -1.0 : (double)correct / ds->desc.n;
}

static void fashion_print_confusion(int conf[10][10]) {
    int i, j;
    printf("confusion matrix on the test set (rows: true class, columns: predicted)\n%9s", "");
    for (j = 0; j < 10; j++) printf(" %5.5s", FASHION_CLASSES[j]);
    printf("\n");
    for (i = 0; i < 10; i++) {
        printf("%9s", FASHION_CLASSES[i]);
        for (j = 0; j < 10; j++) printf(" %5d", conf[i][j]);
        printf("\n");
    }
}

/* Learning rate of an epoch: cosine annealing from lr0 towards 0 over the run, stepped once per
   epoch (torch's CosineAnnealingLR(T_max=epochs, eta_min=0) with scheduler.step() per epoch). */
static double fashion_lr(double lr0, int epoch, int epochs) {
    return 0.5 * lr0 * (1.0 + cos(3.141592653589793 * epoch / epochs));
}

/* Adam with torch's defaults and learning rate lr over every parameter of the context. */
static int fashion_adam(tt_ctx *ctx, tt_optim *opt, double lr) {
    tt_optim_desc od = tt_optim_desc_init(TT_OPTIM_ADAM);
    od.hp.lr = lr;
    return tt_optim_init(ctx, opt, &od) == TT_OK;
}
#endif
