/* tt_desc_init: every default written out as its comment in the header documents (the expected
   values below are that documentation, typed in, not read from the library), and a context made
   from it is the same as one made from a zeroed tt_desc. */
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"

static void test_desc_init_values(void) {
    tt_desc d = tt_desc_init();
    CHECK(d.max_params == 1048576u);
    CHECK(d.max_param_tensors == 256);
    CHECK(d.persist_bytes == 16u * 1024u * 1024u);
    CHECK(d.scratch_bytes == 64u * 1024u * 1024u);
    CHECK(d.seed == 0);
    CHECK(d.threads == 1);
    CHECK(d.kernel == TT_KERNEL_AUTO);
    CHECK(d.small_matmul_workspace == 0);
    CHECK(!d.allocator.alloc && !d.allocator.free && !d.allocator.user);
    CHECK(!d.log && !d.log_user);
    CHECK(!d.memory && d.memory_bytes == 0);
}

static void test_desc_init_same_as_zeroed(void) {
    tt_desc z, d = tt_desc_init();
    tt_ctx cz, cd;
    size_t nz = 0, nd = 0;
    memset(&z, 0, sizeof z);
    CHECK(tt_ctx_memory_size(&z, &nz) == TT_OK);
    CHECK(tt_ctx_memory_size(&d, &nd) == TT_OK);
    CHECK(nz == nd && nz > 0);
    CHECK(tt_ctx_init(&cz, &z) == TT_OK);
    CHECK(tt_ctx_init(&cd, &d) == TT_OK);
    CHECK(cz.desc.max_params == cd.desc.max_params && cz.desc.max_param_tensors == cd.desc.max_param_tensors);
    CHECK(cz.desc.persist_bytes == cd.desc.persist_bytes && cz.desc.scratch_bytes == cd.desc.scratch_bytes);
    CHECK(cz.desc.seed == cd.desc.seed && cz.desc.threads == cd.desc.threads);
    CHECK(cz.desc.kernel == cd.desc.kernel && cz.desc.small_matmul_workspace == cd.desc.small_matmul_workspace);
    CHECK(cz.kernel == cd.kernel);
    tt_ctx_free(&cz);
    tt_ctx_free(&cd);
}

/* fields changed after tt_desc_init are taken as they are */
static void test_desc_init_then_change(void) {
    tt_desc d = tt_desc_init();
    tt_ctx ctx;
    d.max_params = 100;
    d.scratch_bytes = 1 << 16;
    d.persist_bytes = 1 << 12;
    d.seed = 7;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    CHECK(ctx.desc.max_params == 100 && ctx.desc.scratch_bytes == 1 << 16 && ctx.desc.persist_bytes == 1 << 12);
    CHECK(ctx.desc.seed == 7 && ctx.desc.max_param_tensors == 256 && ctx.desc.threads == 1);
    tt_ctx_free(&ctx);
}

int main(void) {
    RUN(test_desc_init_values);
    RUN(test_desc_init_same_as_zeroed);
    RUN(test_desc_init_then_change);
    TEST_EXIT();
}
