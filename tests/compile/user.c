/* Compile check: a second translation unit that includes the header for declarations only and
   links against the implementation in impl_lib.c. */
#include "../../tinytrain.h"
#include <string.h>

int main(void) {
    tt_desc d;
    tt_ctx ctx;
    memset(&d, 0, sizeof d);
    d.max_params = 64;
    d.scratch_bytes = 1 << 16;
    if (tt_ctx_init(&ctx, &d) != TT_OK) return 1;
    tt_ctx_free(&ctx);
    return strcmp(tt_version(), TT_VERSION_STRING) != 0;
}
