// Compile check: the implementation compiled as C++.
#define TINYTRAIN_IMPLEMENTATION
#include "../../tinytrain.h"

int main() {
    tt_desc d;
    tt_ctx ctx;
    memset(&d, 0, sizeof d);
    d.max_params = 64;
    d.scratch_bytes = 1 << 16;
    if (tt_ctx_init(&ctx, &d) != TT_OK) return 1;
    tt_ctx_free(&ctx);
    return 0;
}
