/* TT_NO_MALLOC: the implementation references no allocator (run.sh checks the object's undefined
   symbols), a desc without memory or allocator is refused with a message naming the switch, and
   a caller-owned buffer works. */
#define TT_NO_MALLOC
#define TT_NO_THREADS
#define TINYTRAIN_IMPLEMENTATION
#include "../../tinytrain.h"

static unsigned char block[1 << 18] __attribute__((aligned(64)));

int main(void) {
    tt_desc d = tt_desc_init();
    tt_ctx ctx;
    size_t need = 0;
    int shape[1] = {3};
    if (tt_ctx_init(&ctx, &d) != TT_ERR_INVALID_ARGS) return 1;
    if (!strstr(tt_error_message(&ctx), "TT_NO_MALLOC")) return 2;
    d.max_params = 64;
    d.max_param_tensors = 4;
    d.persist_bytes = 1 << 12;
    d.scratch_bytes = 1 << 14;
    d.small_matmul_workspace = 1;
    if (tt_ctx_memory_size(&d, &need) != TT_OK || need > sizeof block) return 3;
    d.memory = block;
    d.memory_bytes = sizeof block;
    if (tt_ctx_init(&ctx, &d) != TT_OK) return 4;
    if (!tt_param(&ctx, "p", 1, shape)) return 5;
    tt_ctx_free(&ctx);
    return 0;
}
