/* Compile check: the implementation in a C translation unit, with whatever -D switches the
   caller passes (TT_STATIC, TT_NO_STDIO, TT_NO_SIMD, TT_NO_THREADS, CUSTOM_ALLOC).
   It calls the API, so a misspelt implementation macro fails to link. */
#ifdef CUSTOM_ALLOC
#include <stdlib.h>
static int n_alloc;
static void *my_malloc(size_t n) { n_alloc++; return malloc(n); }
#define TT_MALLOC(n) my_malloc(n)
#define TT_FREE(p) free(p)
#endif
#define TINYTRAIN_IMPLEMENTATION
#include "../../tinytrain.h"

int main(void) {
    tt_desc d;
    tt_ctx ctx;
    int shape[2] = {2, 3};
    tt_tensor *w;
    memset(&d, 0, sizeof d);
    d.max_params = 64;
    d.scratch_bytes = 1 << 16;
    d.persist_bytes = 1 << 12;
    if (tt_ctx_init(&ctx, &d) != TT_OK) return 1;
    w = tt_param(&ctx, "w", 2, shape);
    if (!w || tt_init_uniform(&ctx, w, -1, 1) != TT_OK) return 2;
    if (tt_backward(&ctx, tt_sum(&ctx, tt_mul(&ctx, w, w))) != TT_OK) return 3;
    tt_ctx_free(&ctx);
#ifdef CUSTOM_ALLOC
    if (n_alloc != 1) return 4;
#endif
    return 0;
}
