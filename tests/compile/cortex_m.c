/* Compile check for an ARM Cortex-M4F (no OS): static memory only, no stdio, no threads.
   Built with arm-none-eabi-gcc; it links against newlib with nosys stubs. */
#define TT_NO_STDIO
#define TT_NO_MALLOC
#define TT_NO_THREADS
#define TINYTRAIN_IMPLEMENTATION
#include "../../tinytrain.h"

static unsigned char arena[96 * 1024] __attribute__((aligned(64)));

int main(void) {
    tt_desc d;
    tt_ctx ctx;
    int shape[2] = {4, 4};
    tt_tensor *w;
    size_t need = 0;
    memset(&d, 0, sizeof d);
    d.max_params = 256;
    d.max_param_tensors = 4;
    d.persist_bytes = 4096;
    d.scratch_bytes = 32 * 1024;
    d.small_matmul_workspace = 1;
    if (tt_ctx_memory_size(&d, &need) != TT_OK || need > sizeof arena) return 1;
    d.memory = arena;
    d.memory_bytes = sizeof arena;
    if (tt_ctx_init(&ctx, &d) != TT_OK) return 2;
    w = tt_param(&ctx, "w", 2, shape);
    tt_init_uniform(&ctx, w, -1, 1);
    tt_backward(&ctx, tt_sum(&ctx, tt_relu(&ctx, tt_matmul(&ctx, w, w))));
    tt_sgd_step_simple(&ctx, 0.1f);
    tt_ctx_free(&ctx);
    return 0;
}
