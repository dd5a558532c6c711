/* libFuzzer harness for the safetensors reader (tt_safetensors_load_mem): any bytes must give
   TT_OK or an error, never a crash, a read outside the buffer or a leak; on error the model is
   unchanged and the scratch memory the loader took is given back.
   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_safetensors.c -lm -lpthread */
#define TINYTRAIN_IMPLEMENTATION
#include "../../tinytrain.h"
#include <stdlib.h>

static tt_ctx g_ctx;
static tt_tensor *g_bufs[1];
static int g_ready;

static void fz_meta(void *user, const char *k, const char *v) {
    (void)user;
    if (strlen(k) + strlen(v) > (size_t)1 << 30) abort();
}

static int fz_init(void) {
    tt_desc d;
    int s1[2] = {2, 2}, s2[1] = {2};
    memset(&d, 0, sizeof d);
    d.max_params = 64; d.max_param_tensors = 4; d.persist_bytes = 1 << 14; d.scratch_bytes = 1 << 22;
    if (tt_ctx_init(&g_ctx, &d) != TT_OK) return 0;
    tt_init_uniform(&g_ctx, tt_param(&g_ctx, "w", 2, s1), -1, 1);
    tt_init_uniform(&g_ctx, tt_param(&g_ctx, "b", 1, s2), -1, 1);
    g_bufs[0] = tt_buffer(&g_ctx, "n", 0, NULL);
    return g_bufs[0] != NULL;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    static float before[64];
    float nb;
    tt_safetensors_opts o;
    unsigned char *copy;
    if (!g_ready) { if (!fz_init()) abort(); g_ready = 1; }
    copy = (unsigned char *)malloc(size ? size : 1);
    if (size) memcpy(copy, data, size);
    memcpy(before, g_ctx.param_data, g_ctx.n_params * sizeof(float));
    nb = g_bufs[0]->data[0];
    o = tt_safetensors_opts_init();
    o.buffers = g_bufs; o.n_buffers = 1; o.on_meta = fz_meta;
    o.strict = (int)(size & 1);
    if (tt_safetensors_load_mem(&g_ctx, &o, copy, size) != TT_OK) {
        if (memcmp(before, g_ctx.param_data, g_ctx.n_params * sizeof(float)) || memcmp(&nb, g_bufs[0]->data, 4)) abort();
        if (o.error == TT_IO_OK && tt_error(&g_ctx) != TT_ERR_OUT_OF_MEMORY) abort();
    }
    if (g_ctx.scratch.used != 0) abort(); /* the header table is given back */
    tt_clear_error(&g_ctx);
    free(copy);
    return 0;
}
