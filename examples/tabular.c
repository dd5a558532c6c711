// cc -std=c99 -O2 -I. examples/tabular.c -o tabular -lm -lpthread && ./tabular data/wine.csv
/* tabular: from a CSV file with missing values to a classification report on held-out data,
   the workflow of a first machine-learning course, on the Wine data (data/wine.csv: 178 wines,
   13 chemical measurements, 3 cultivars; origin and licence in data/README.md).

     1. read the CSV: a header row, the class in column "cultivar" (names mapped to ids),
        empty, NA and ? fields read as missing (NaN)
     2. stratified train / validation / test split, 60 / 20 / 20, class proportions kept
     3. impute each missing value with its feature's mean          (sklearn SimpleImputer)
     4. standardize every feature to mean 0, std 1                  (sklearn StandardScaler)
     5. train three models on the training split, choose on the validation split:
          - logistic regression: softmax + cross-entropy, L2 penalty on the weights
          - linear SVM: multi-class hinge loss (torch MultiMarginLoss) + L2 penalty
          - MLP 13-32-3 with ReLU, stopped early when the validation loss stops improving
            (the weights of the best epoch are kept)
     6. the chosen model's classification report on the test split (sklearn's layout)

   Steps 3 and 4 are fitted on the training rows only and then applied to all three splits:
   fitting them on everything would let test-set statistics leak into training. The test
   split is looked at exactly once, at the end.

   Every model is trained by full-batch gradient descent (the training split has ~107 rows),
   each in its own tinytrain context. Run with a path to use another CSV whose class column is
   called "cultivar", or edit LABEL_COLUMN. */
#define TINYTRAIN_IMPLEMENTATION
#include "tinytrain.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LABEL_COLUMN "cultivar"

enum { MODEL_LOGREG, MODEL_SVM, MODEL_MLP, N_MODELS, HIDDEN = 32 };
static const char *model_names[N_MODELS] = {"logistic regression", "linear SVM (hinge)", "MLP 32 ReLU, early stop"};

typedef struct tab_settings {
    int linear_epochs;   /* gradient steps of the two linear models */
    int mlp_max_epochs;  /* upper bound for the MLP (early stopping ends it sooner) */
    int patience;        /* epochs without a better validation loss before stopping */
    double min_delta;    /* "better" means lower by more than this */
    float lr;
    float l2;            /* penalty l2 * sum(W^2) on the weight matrices */
    uint64_t seed;
    int verbose;
    const tt_allocator *allocator; /* for the models' contexts; NULL: the default (malloc) */
} tab_settings;
static tab_settings tab_default_settings(void) {
    tab_settings s;
    s.linear_epochs = 300;
    s.mlp_max_epochs = 2000;
    s.patience = 20;
    s.min_delta = 1e-3;
    s.lr = 0.1f;
    s.l2 = 1e-3f;
    s.seed = 42;
    s.verbose = 1;
    s.allocator = NULL;
    return s;
}

/* One split after preprocessing: n rows of d standardized features and their classes. */
typedef struct tab_split {
    int n;
    float *x;
    int *y;
} tab_split;

typedef struct tab_model {
    int kind;
    tt_ctx ctx;
    tt_tensor *w1, *b1, *w2, *b2;  /* linear models use w1, b1 only */
    int epochs_run;
    double val_loss, val_acc;
} tab_model;

/* Logits (n x classes) of a split, in the model's scratch memory. */
static tt_tensor *tab_logits(tab_model *m, const tab_split *s, int d) {
    int shape[2];
    tt_tensor *x, *h;
    shape[0] = s->n;
    shape[1] = d;
    x = tt_tensor_from(&m->ctx, 2, shape, s->x);
    h = tt_linear(&m->ctx, x, m->w1, m->b1);
    if (m->kind == MODEL_MLP) h = tt_linear(&m->ctx, tt_relu(&m->ctx, h), m->w2, m->b2);
    return h;
}

/* The training objective of the model on a split (mean over rows). */
static tt_tensor *tab_loss(tab_model *m, const tab_split *s, int d, float l2) {
    tt_tensor *z = tab_logits(m, s, d), *loss;
    if (m->kind == MODEL_SVM) loss = tt_multi_margin_loss(&m->ctx, z, (size_t)s->n, s->y, NULL);
    else loss = tt_cross_entropy(&m->ctx, z, (size_t)s->n, s->y, NULL);
    if (m->kind != MODEL_MLP && l2 > 0)
        loss = tt_add(&m->ctx, loss, tt_scale(&m->ctx, tt_sum(&m->ctx, tt_mul(&m->ctx, m->w1, m->w1)), l2));
    return loss;
}

/* Predicted classes of a split; returns 0 or -1 on error. */
static int tab_predict(tab_model *m, const tab_split *s, int d, int classes, int *pred) {
    tt_tensor *z;
    int i, c, prev = tt_set_grad_enabled(&m->ctx, 0);
    tt_scratch_reset(&m->ctx);
    z = tab_logits(m, s, d);
    tt_set_grad_enabled(&m->ctx, prev);
    if (!z) return -1;
    for (i = 0; i < s->n; i++) {
        int best = 0;
        for (c = 1; c < classes; c++)
            if (z->data[i * classes + c] > z->data[i * classes + best]) best = c;
        pred[i] = best;
    }
    return 0;
}

/* Validation loss (the model's own objective without the penalty) and accuracy. */
static int tab_validate(tab_model *m, const tab_split *va, int d, int classes, int *pred, double *loss, double *acc) {
    tt_tensor *l;
    int prev = tt_set_grad_enabled(&m->ctx, 0);
    tt_scratch_reset(&m->ctx);
    l = tab_loss(m, va, d, 0.0f);
    tt_set_grad_enabled(&m->ctx, prev);
    if (!l) return -1;
    *loss = l->data[0];
    if (tab_predict(m, va, d, classes, pred)) return -1;
    return tt_accuracy(&m->ctx, va->y, pred, (size_t)va->n, acc) == TT_OK ? 0 : -1;
}

static int tab_train(tab_model *m, int kind, const tab_split *tr, const tab_split *va, int d, int classes,
                     const tab_settings *st, int *pred_buf) {
    tt_desc desc;
    int shape[2], epoch, max_epochs = kind == MODEL_MLP ? st->mlp_max_epochs : st->linear_epochs;
    float *best = NULL;
    tt_early_stop es;
    memset(&desc, 0, sizeof desc);
    desc.max_params = 4096;
    desc.persist_bytes = 1 << 16;
    desc.scratch_bytes = 1 << 20;
    desc.seed = st->seed;
    if (st->allocator) desc.allocator = *st->allocator;
    memset(m, 0, sizeof *m);
    m->kind = kind;
    if (tt_ctx_init(&m->ctx, &desc) != TT_OK) return -1;
    shape[0] = kind == MODEL_MLP ? HIDDEN : classes;
    shape[1] = d;
    m->w1 = tt_param(&m->ctx, "w1", 2, shape);
    m->b1 = tt_param(&m->ctx, "b1", 1, shape);
    tt_init_torch_default(&m->ctx, m->w1, m->b1); /* nn.Linear's initialisation */
    if (kind == MODEL_MLP) {
        shape[0] = classes;
        shape[1] = HIDDEN;
        m->w2 = tt_param(&m->ctx, "w2", 2, shape);
        m->b2 = tt_param(&m->ctx, "b2", 1, shape);
        tt_init_torch_default(&m->ctx, m->w2, m->b2);
        tt_early_stop_init(&m->ctx, &es, st->patience, st->min_delta, TT_METRIC_MIN);
        best = (float *)malloc(m->ctx.n_params * sizeof(float));
        if (!best) return -1;
    }
    for (epoch = 0; epoch < max_epochs; epoch++) {
        tt_tensor *loss;
        tt_scratch_reset(&m->ctx);
        loss = tab_loss(m, tr, d, st->l2);
        tt_zero_grad(&m->ctx);
        if (!loss || tt_backward(&m->ctx, loss) != TT_OK || tt_sgd_step_simple(&m->ctx, st->lr) != TT_OK) break;
        m->epochs_run = epoch + 1;
        if (kind == MODEL_MLP) {
            double vl, va_acc;
            int stop;
            if (tab_validate(m, va, d, classes, pred_buf, &vl, &va_acc)) break;
            stop = tt_early_stop_update(&es, vl);
            if (es.best_epoch == es.epoch - 1) /* improved now: remember these weights */
                memcpy(best, m->ctx.param_data, m->ctx.n_params * sizeof(float));
            if (stop) break;
        }
    }
    if (kind == MODEL_MLP) { /* back to the weights of the best validation loss */
        if (es.best_epoch >= 0) memcpy(m->ctx.param_data, best, m->ctx.n_params * sizeof(float));
        free(best);
    }
    if (tt_error(&m->ctx)) {
        fprintf(stderr, "%s: %s\n", model_names[kind], tt_error_message(&m->ctx));
        return -1;
    }
    return tab_validate(m, va, d, classes, pred_buf, &m->val_loss, &m->val_acc);
}

/* The whole pipeline; *test_acc receives the chosen model's test accuracy. Returns 0 on success. */
static int tab_run(const char *path, const tab_settings *st, double *test_acc, int *chosen_out) {
    tt_ctx ctx;
    tt_desc desc;
    tt_csv csv;
    tt_csv_opts copts = tt_csv_opts_init();
    tt_split3_opts so = tt_split3_opts_init();
    tt_rng rng;
    tab_split sp[3];                                   /* train, validation, test */
    size_t *idx[3] = {NULL, NULL, NULL}, cnt[3], *work = NULL, i;
    double *mean = NULL, *var = NULL, *scale = NULL, *stats = NULL;
    float *imp_work = NULL;
    int *pred = NULL, n, d, classes, k, chosen = 0, rc = -1;
    tab_model models[N_MODELS];
    int trained = 0;

    memset(sp, 0, sizeof sp);
    memset(models, 0, sizeof models);
    memset(&desc, 0, sizeof desc);
    desc.persist_bytes = 4 << 20;
    desc.scratch_bytes = 1 << 20;
    if (tt_ctx_init(&ctx, &desc) != TT_OK) return -1;

    /* 1. read */
    copts.header = 1;
    copts.label = TT_CSV_LABEL_NAME;
    copts.label_name = LABEL_COLUMN;
    copts.label_is_class = 1;
    if (tt_csv_read_file(&ctx, path, &copts, &csv) != TT_OK) {
        fprintf(stderr, "%s\n", tt_error_message(&ctx));
        goto done;
    }
    n = csv.rows;
    d = csv.cols;
    classes = csv.n_classes;
    if (st->verbose)
        printf("%s: %d rows, %d features, %d classes, %d missing values\n", path, n, d, classes, (int)csv.n_missing);

    /* 2. stratified split: test 20%, then validation 25% of the rest */
    so.stratify = 1;
    tt_rng_seed(&rng, st->seed);
    work = (size_t *)malloc(tt_split_work_count((size_t)n, classes) * sizeof(size_t));
    for (k = 0; k < 3; k++) idx[k] = (size_t *)malloc((size_t)n * sizeof(size_t));
    pred = (int *)malloc((size_t)n * sizeof(int));
    if (!work || !idx[0] || !idx[1] || !idx[2] || !pred) goto done;
    if (tt_train_val_test_split(&ctx, &rng, (size_t)n, csv.y, classes, &so, idx[0], &cnt[0], idx[1], &cnt[1], idx[2],
                                &cnt[2], work) != TT_OK) {
        fprintf(stderr, "%s\n", tt_error_message(&ctx));
        goto done;
    }
    for (k = 0; k < 3; k++) {
        sp[k].n = (int)cnt[k];
        sp[k].x = (float *)malloc(cnt[k] * (size_t)d * sizeof(float));
        sp[k].y = (int *)malloc(cnt[k] * sizeof(int));
        if (!sp[k].x || !sp[k].y) goto done;
        tt_take_rows(&ctx, csv.x, (size_t)n, (size_t)d, idx[k], cnt[k], sp[k].x);
        tt_take_labels(&ctx, csv.y, (size_t)n, idx[k], cnt[k], sp[k].y);
    }
    if (st->verbose) printf("split (stratified): %d train, %d validation, %d test\n", sp[0].n, sp[1].n, sp[2].n);

    /* 3. impute with the training means; 4. standardize with the training mean and std */
    stats = (double *)malloc((size_t)d * sizeof(double));
    mean = (double *)malloc((size_t)d * sizeof(double));
    var = (double *)malloc((size_t)d * sizeof(double));
    scale = (double *)malloc((size_t)d * sizeof(double));
    imp_work = (float *)malloc((size_t)sp[0].n * sizeof(float));
    if (!stats || !mean || !var || !scale || !imp_work) goto done;
    {
        tt_imputer imp = tt_imputer_init((size_t)d, TT_IMPUTE_MEAN, stats);
        tt_standard_scaler sc = tt_standard_scaler_init((size_t)d, mean, var, scale);
        imp.keep_empty_features = 1; /* keep the width fixed even if a feature is empty in train */
        if (tt_imputer_fit(&ctx, &imp, sp[0].x, (size_t)sp[0].n, imp_work) != TT_OK) goto fail;
        for (k = 0; k < 3; k++)
            if (tt_imputer_apply(&ctx, &imp, sp[k].x, (size_t)sp[k].n, sp[k].x) != TT_OK) goto fail;
        if (tt_standard_scaler_fit(&ctx, &sc, sp[0].x, (size_t)sp[0].n) != TT_OK) goto fail;
        for (k = 0; k < 3; k++)
            if (tt_standard_scaler_apply(&ctx, &sc, sp[k].x, (size_t)sp[k].n, sp[k].x) != TT_OK) goto fail;
        if (st->verbose) {
            printf("fitted on the training split (first 3 features):\n");
            for (i = 0; i < 3 && i < (size_t)d; i++)
                printf("  %-22s impute %9.4f   mean %9.4f   std %9.4f\n", csv.col_names ? csv.col_names[i] : "?",
                       stats[i], mean[i], scale[i]);
        }
    }

    /* 5. three models, chosen by validation accuracy (the lower validation loss breaks ties) */
    if (st->verbose) printf("\n%-26s %8s %10s %9s\n", "model", "epochs", "val loss", "val acc");
    for (k = 0; k < N_MODELS; k++) {
        if (tab_train(&models[k], k, &sp[0], &sp[1], d, classes, st, pred)) goto fail_models;
        trained = k + 1;
        if (st->verbose)
            printf("%-26s %8d %10.4f %9.4f\n", model_names[k], models[k].epochs_run, models[k].val_loss, models[k].val_acc);
        if (models[k].val_acc > models[chosen].val_acc ||
            (models[k].val_acc == models[chosen].val_acc && models[k].val_loss < models[chosen].val_loss))
            chosen = k;
    }

    /* 6. the test split, once */
    if (tab_predict(&models[chosen], &sp[2], d, classes, pred)) goto fail_models;
    if (tt_accuracy(&ctx, sp[2].y, pred, (size_t)sp[2].n, test_acc) != TT_OK) goto fail;
    if (st->verbose) {
        tt_report_opts ro = tt_report_opts_init();
        size_t cm[64];
        int a, b;
        ro.target_names = csv.class_names;
        printf("\nchosen: %s\n\ntest split (%d rows):\n", model_names[chosen], sp[2].n);
        if (tt_classification_report_fprint(&ctx, stdout, sp[2].y, pred, (size_t)sp[2].n, classes, &ro) != TT_OK)
            goto fail;
        if (classes <= 8 && tt_confusion_matrix(&ctx, sp[2].y, pred, (size_t)sp[2].n, classes, cm) == TT_OK) {
            printf("\nconfusion matrix (rows: true, columns: predicted)\n");
            for (a = 0; a < classes; a++) {
                printf("  %-10s", csv.class_names[a]);
                for (b = 0; b < classes; b++) printf(" %4d", (int)cm[a * classes + b]);
                printf("\n");
            }
        }
    }
    if (chosen_out) *chosen_out = chosen;
    rc = 0;
    goto done_models;
fail_models:
    k = trained < N_MODELS ? trained : chosen;
    fprintf(stderr, "%s: %s\n", model_names[k], tt_error_message(&models[k].ctx));
    goto done_models;
fail:
    fprintf(stderr, "%s\n", tt_error_message(&ctx));
done_models:
    for (k = 0; k < trained; k++) tt_ctx_free(&models[k].ctx);
    if (trained < N_MODELS) tt_ctx_free(&models[trained].ctx); /* a model whose training failed */
done:
    for (k = 0; k < 3; k++) { free(idx[k]); free(sp[k].x); free(sp[k].y); }
    free(work); free(pred); free(stats); free(mean); free(var); free(scale); free(imp_work);
    tt_ctx_free(&ctx);
    return rc;
}

#ifndef TABULAR_NO_MAIN
int main(int argc, char **argv) {
    tab_settings st = tab_default_settings();
    double acc = 0;
    const char *path = argc > 1 ? argv[1] : "data/wine.csv";
    if (tab_run(path, &st, &acc, NULL) != 0) return 1;
    printf("\ntest accuracy %.4f\n", acc);
    return 0;
}
#endif
