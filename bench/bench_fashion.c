/* One training epoch of the Fashion-MNIST examples (examples/fashion_mlp.c, fashion_cnn.c),
   timed with the examples' own code; bench/bench_fashion.py runs it next to the same models in
   PyTorch. Usage: bench_fashion mlp|cnn [threads]. Prints "RESULT <model> <threads> <samples/s>",
   or "SKIP ..." and exits 0 when the data set is not installed. */
#define FASHION_MLP_NO_MAIN
#define FASHION_CNN_NO_MAIN
#include "../examples/fashion_mlp.c"
#include "../examples/fashion_cnn.c"

int main(int argc, char **argv) {
    static fashion_data fd;
    fashion_cfg cfg;
    fashion_result res;
    int cnn = argc > 1 && strcmp(argv[1], "cnn") == 0, r;
    (void)fashion_print_confusion; /* shared with the examples, unused here */
    memset(&cfg, 0, sizeof cfg);
    cfg.epochs = 1;
    cfg.threads = argc > 2 ? atoi(argv[2]) : 1;
    cfg.seed = 1;
    if (!fashion_find_dir()) { printf("SKIP bench fashion: Fashion-MNIST not installed\n"); return 0; }
    if ((r = fashion_load(&fd, cnn ? 3 : 1, 5000)) != 0) return r;
    fd.val.desc.n = 100; /* evaluation is not timed: keep it short */
    fd.test.desc.n = 100;
    r = cnn ? fashion_cnn_run(&fd, &cfg, 0, &res) : fashion_mlp_run(&fd, &cfg, &res);
    if (r == 0)
        printf("RESULT %s %d %.1f\n", cnn ? "cnn" : "mlp", cfg.threads, (double)fd.train.desc.n / res.train_seconds);
    tt_ctx_free(&fd.ctx);
    return r;
}
