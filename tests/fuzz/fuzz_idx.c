/* libFuzzer harness for the IDX reader (plain and gzip): the header query, then every read
   function into a buffer of exactly the announced size (bounded), which the sanitizers watch. */
#define TINYTRAIN_IMPLEMENTATION
#include "../../tinytrain.h"
#include <stdlib.h>

static tt_ctx ctx;
static int ready;

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    tt_idx_info info;
    if (!ready) {
        tt_desc d;
        memset(&d, 0, sizeof d);
        d.max_params = 16;
        d.scratch_bytes = 1 << 17;
        d.persist_bytes = 1 << 12;
        if (tt_ctx_init(&ctx, &d) != TT_OK) abort();
        ready = 1;
    }
    if (tt_idx_info_mem(&ctx, data, size, &info) == TT_OK && info.count <= ((size_t)1 << 22)) {
        float *f = (float *)malloc(info.count * sizeof(float));
        int *i = (int *)malloc(info.count * sizeof(int));
        unsigned char *u = (unsigned char *)malloc(info.count);
        tt_idx_read_f32_mem(&ctx, data, size, 1.0f / 255.0f, f, info.count);
        tt_clear_error(&ctx);
        tt_idx_read_int_mem(&ctx, data, size, i, info.count);
        tt_clear_error(&ctx);
        tt_idx_read_u8_mem(&ctx, data, size, u, info.count);
        free(f); free(i); free(u);
    }
    tt_clear_error(&ctx);
    if (ctx.scratch.used != 0) abort();
    return 0;
}
