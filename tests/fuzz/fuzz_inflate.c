/* libFuzzer harness for the gzip/inflate reader: the input as a gzip file, and the input as a
   raw deflate stream wrapped in a gzip header and an all-zero trailer (so every block type is
   reached even when the fuzzer does not find the header). A success must decode to exactly the
   announced size, twice the same. */
#define TINYTRAIN_IMPLEMENTATION
#include "../../tinytrain.h"
#include <stdlib.h>

static tt_ctx ctx;
static int ready;

static void check(const unsigned char *data, size_t size) {
    size_t n = 0, got = 0;
    if (tt_gunzip_size(&ctx, data, size, &n) == TT_OK && n <= ((size_t)1 << 24)) {
        unsigned char *out = (unsigned char *)malloc(n + 1);
        if (tt_gunzip(&ctx, data, size, out, n, &got) != TT_OK || got != n) abort();
        free(out);
    }
    tt_clear_error(&ctx);
    if (ctx.scratch.used != 0) abort(); /* the window is given back */
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    unsigned char *w;
    if (!ready) {
        tt_desc d;
        memset(&d, 0, sizeof d);
        d.max_params = 16;
        d.scratch_bytes = 1 << 17;
        d.persist_bytes = 1 << 12;
        if (tt_ctx_init(&ctx, &d) != TT_OK) abort();
        ready = 1;
    }
    check(data, size);
    w = (unsigned char *)malloc(size + 18);
    memset(w, 0, size + 18);
    w[0] = 0x1f; w[1] = 0x8b; w[2] = 8;
    if (size) memcpy(w + 10, data, size);
    check(w, size + 18);
    free(w);
    return 0;
}
