/* safetensors: the PyTorch round trip in both directions (tests/ref/gen_safetensors.py ->
   tests/ref/safetensors_ref.h), the format's validation rules, metadata, the model unchanged on
   every error. With TT_ST_WRITE=<path> it also writes its model's file (used by the generator). */
#define _POSIX_C_SOURCE 200809L
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"
#include <stdlib.h>
#include <unistd.h>
#include "ref/safetensors_ref.h"

static float f32(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }

/* The torch module of the generator: fc1 (4 -> 8), bn1 (8), relu, fc2 (8 -> 3). */
typedef struct net {
    tt_ctx ctx;
    tt_tensor *w1, *b1, *g, *be, *w2, *b2, *rm, *rv, *nbt;
    tt_tensor *bufs[3];
} net;

static int net_init(net *m, uint64_t seed) {
    tt_desc d = {0};
    int s84[2] = {8, 4}, s8[1] = {8}, s38[2] = {3, 8}, s3[1] = {3};
    int i;
    memset(m, 0, sizeof *m);
    d.max_params = 1024;
    d.persist_bytes = 1 << 16;
    d.scratch_bytes = 1 << 18;
    d.seed = seed;
    if (tt_ctx_init(&m->ctx, &d) != TT_OK) return 0;
    m->w1 = tt_param(&m->ctx, "fc1.weight", 2, s84);
    m->b1 = tt_param(&m->ctx, "fc1.bias", 1, s8);
    m->g = tt_param(&m->ctx, "bn1.weight", 1, s8);
    m->be = tt_param(&m->ctx, "bn1.bias", 1, s8);
    m->w2 = tt_param(&m->ctx, "fc2.weight", 2, s38);
    m->b2 = tt_param(&m->ctx, "fc2.bias", 1, s3);
    m->rm = tt_buffer(&m->ctx, "bn1.running_mean", 1, s8);
    m->rv = tt_buffer(&m->ctx, "bn1.running_var", 1, s8);
    m->nbt = tt_buffer(&m->ctx, "bn1.num_batches_tracked", 0, NULL);
    if (!m->nbt) return 0;
    m->bufs[0] = m->rm; m->bufs[1] = m->rv; m->bufs[2] = m->nbt;
    tt_init_torch_default(&m->ctx, m->w1, m->b1);
    tt_init_uniform(&m->ctx, m->g, 0.5f, 1.5f);
    tt_init_uniform(&m->ctx, m->be, -0.2f, 0.2f);
    tt_init_torch_default(&m->ctx, m->w2, m->b2);
    for (i = 0; i < 8; i++) { m->rm->data[i] = 0.05f * (float)(i - 3); m->rv->data[i] = 0.5f + 0.125f * (float)i; }
    m->nbt->data[0] = 7.0f;
    return 1;
}

static tt_safetensors_opts net_opts(net *m) {
    tt_safetensors_opts o = tt_safetensors_opts_init();
    o.buffers = m->bufs;
    o.n_buffers = 3;
    return o;
}

/* eval-mode forward of 5 rows */
static int net_forward(net *m, const uint32_t *xbits, float *out) {
    float x[20];
    int i, xs[2] = {5, 4};
    tt_tensor *h;
    tt_ctx *c = &m->ctx;
    for (i = 0; i < 20; i++) x[i] = f32(xbits[i]);
    tt_set_training(c, 0);
    tt_scratch_reset(c);
    h = tt_linear(c, tt_tensor_from(c, 2, xs, x), m->w1, m->b1);
    h = tt_relu(c, tt_batchnorm(c, h, m->g, m->be, m->rm, m->rv, NULL));
    h = tt_linear(c, h, m->w2, m->b2);
    if (!h) return 0;
    memcpy(out, h->data, 15 * sizeof(float));
    return 1;
}

static unsigned char g_buf[1 << 16];

#ifndef ST_REF_PLACEHOLDER
/* Outputs agree to 1e-5 absolute + 1e-5 relative: the same float32 formulas, but torch's and
   tinytrain's matmul kernels sum the length-4 and length-8 dot products in different orders
   (a few ulps of values of order 1). */
static void check_out(const float *got, const uint32_t *want) {
    int i;
    for (i = 0; i < 15; i++) CHECK_CLOSE(got[i], f32(want[i]), 1e-5, 1e-5);
}

static int g_meta_ok;
static void meta_cb(void *user, const char *k, const char *v) {
    (void)user;
    if ((strcmp(k, "source") == 0 && strcmp(v, "torch") == 0) || strcmp(k, "dtype") == 0) g_meta_ok++;
}

static void torch_file(const unsigned char *file, size_t n, const uint32_t *want) {
    static net m;
    float out[15];
    tt_safetensors_opts o;
    CHECK(net_init(&m, 5));
    o = net_opts(&m);
    o.on_meta = meta_cb;
    g_meta_ok = 0;
    CHECK_MSG(tt_safetensors_load_mem(&m.ctx, &o, file, n) == TT_OK, "%s", tt_error_message(&m.ctx));
    CHECK(g_meta_ok == 2);
    CHECK(m.nbt->data[0] == 3.0f); /* torch's num_batches_tracked (I64) after 3 training steps */
    CHECK(net_forward(&m, st_ref_x, out));
    check_out(out, want);
    tt_ctx_free(&m.ctx);
}
static void test_torch_to_tinytrain_f32(void) { torch_file(st_ref_torch_f32, sizeof st_ref_torch_f32, st_ref_out_f32); }
static void test_torch_to_tinytrain_f16(void) { torch_file(st_ref_torch_f16, sizeof st_ref_torch_f16, st_ref_out_f16); }
static void test_torch_to_tinytrain_bf16(void) { torch_file(st_ref_torch_bf16, sizeof st_ref_torch_bf16, st_ref_out_bf16); }

static void test_tinytrain_to_torch(void) {
    static net m;
    float out[15];
    size_t n = 0;
    tt_safetensors_opts o;
    CHECK(net_init(&m, 2026));
    o = net_opts(&m);
    CHECK(tt_safetensors_save_mem(&m.ctx, &o, g_buf, sizeof g_buf, &n) == TT_OK);
    /* the very file torch loaded with load_state_dict(strict=True) */
    CHECK(n == sizeof st_ref_tinytrain && memcmp(g_buf, st_ref_tinytrain, n) == 0);
    CHECK(net_forward(&m, st_ref_x, out));
    check_out(out, st_ref_out_tinytrain);
    /* header: 8-byte length, a multiple of 8, padded with spaces */
    {
        size_t hl = (size_t)g_buf[0] | (size_t)g_buf[1] << 8;
        CHECK(hl % 8 == 0 && g_buf[8] == '{' && (g_buf[8 + hl - 1] == '}' || g_buf[8 + hl - 1] == ' '));
    }
    tt_ctx_free(&m.ctx);
}
#endif

/* The half / bfloat16 conversions (private) are checked in tests/test_core.c. */

/* Build a file from a header string and n data bytes. */
static size_t mkfile(unsigned char *out, const char *json, size_t data) {
    size_t hl = strlen(json), i;
    for (i = 0; i < 8; i++) out[i] = (unsigned char)(hl >> (8 * i));
    memcpy(out + 8, json, hl);
    for (i = 0; i < data; i++) out[8 + hl + i] = (unsigned char)(i * 7);
    return 8 + hl + data;
}

/* a one-tensor model "w" of shape [2,2] */
static void expect_bad(const char *json, size_t data, tt_result code, tt_io_error det, const char *frag) {
    static unsigned char f[4096];
    tt_ctx ctx;
    tt_desc d = {0};
    int s[2] = {2, 2};
    tt_tensor *w;
    tt_safetensors_opts o = tt_safetensors_opts_init();
    size_t n = mkfile(f, json, data);
    float before[4];
    d.max_params = 64; d.scratch_bytes = 1 << 16; d.persist_bytes = 4096;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    w = tt_param(&ctx, "w", 2, s);
    tt_init_uniform(&ctx, w, -1, 1);
    memcpy(before, w->data, sizeof before);
    CHECK_MSG(tt_safetensors_load_mem(&ctx, &o, f, n) == code, "%s: %s", json, tt_error_message(&ctx));
    CHECK_MSG(o.error == det, "%s: detail %s (%s)", json, tt_io_error_string(o.error), tt_error_message(&ctx));
    CHECK_MSG(!frag || strstr(tt_error_message(&ctx), frag), "%s: message '%s' lacks '%s'", json, tt_error_message(&ctx), frag);
    if (code != TT_OK) CHECK(memcmp(before, w->data, sizeof before) == 0);
    CHECK(ctx.scratch.used == 0);
    tt_ctx_free(&ctx);
}

#define WJ "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}"

static void test_validation(void) {
    /* the good file loads */
    expect_bad("{" WJ "}", 16, TT_OK, TT_IO_OK, NULL);
    expect_bad("{" WJ "}      ", 16, TT_OK, TT_IO_OK, NULL);
    expect_bad("{\"__metadata__\":{\"a\":\"b\"}," WJ "}", 16, TT_OK, TT_IO_OK, NULL);
    expect_bad("{\"w\":{\"shape\":[2,2],\"data_offsets\":[0,16],\"dtype\":\"F32\",\"extra\":[1,{\"x\":null}]}}", 16, TT_OK, TT_IO_OK, NULL);
    expect_bad("{\"\\u0077\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16, TT_OK, TT_IO_OK, NULL);
    /* truncated data, truncated header */
    expect_bad("{" WJ "}", 15, TT_ERR_FORMAT, TT_IO_TRUNCATED, "ends past the end");
    {
        static unsigned char f[64];
        tt_ctx ctx;
        tt_desc d = {0};
        tt_safetensors_opts o = tt_safetensors_opts_init();
        CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
        memset(f, 0, sizeof f);
        f[0] = 200;
        CHECK(tt_safetensors_load_mem(&ctx, &o, f, 40) == TT_ERR_FORMAT && o.error == TT_IO_TRUNCATED);
        tt_clear_error(&ctx);
        CHECK(tt_safetensors_load_mem(&ctx, &o, f, 5) == TT_ERR_FORMAT && o.error == TT_IO_TRUNCATED);
        tt_clear_error(&ctx);
        f[0] = 0; f[4] = 1; /* 2^32-byte header: over the 100 MB limit */
        CHECK(tt_safetensors_load_mem(&ctx, &o, f, 40) == TT_ERR_FORMAT && o.error == TT_IO_TOO_LARGE);
        tt_clear_error(&ctx);
        o.max_header = 8; f[4] = 0; f[0] = 16;
        CHECK(tt_safetensors_load_mem(&ctx, &o, f, 40) == TT_ERR_FORMAT && o.error == TT_IO_TOO_LARGE);
        tt_ctx_free(&ctx);
    }
    /* offsets: hole, overlap, trailing bytes, size mismatch */
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[4,20]}}", 20, TT_ERR_FORMAT, TT_IO_MALFORMED, "hole");
    expect_bad("{" WJ "}", 20, TT_ERR_FORMAT, TT_IO_MALFORMED, "after the last tensor");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 12, TT_ERR_FORMAT, TT_IO_MALFORMED, "do not hold");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,0]}}", 16, TT_ERR_FORMAT, TT_IO_MALFORMED, "do not hold");
    expect_bad("{" WJ ",\"v\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, TT_ERR_FORMAT, TT_IO_MALFORMED, "overlaps");
    /* duplicate keys, also spelled differently */
    expect_bad("{" WJ "," WJ "}", 16, TT_ERR_FORMAT, TT_IO_MALFORMED, "appears twice");
    expect_bad("{" WJ ",\"\\u0077\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,32]}}", 32, TT_ERR_FORMAT,
               TT_IO_MALFORMED, "appears twice");
    expect_bad("{\"__metadata__\":{},\"__metadata__\":{}," WJ "}", 16, TT_ERR_FORMAT, TT_IO_MALFORMED, "duplicate __metadata__");
    /* JSON and schema errors */
    expect_bad(" {" WJ "}", 16, TT_ERR_FORMAT, TT_IO_MALFORMED, "start with '{'");
    expect_bad("{" WJ, 16, TT_ERR_FORMAT, TT_IO_MALFORMED, "expected ',' or '}'");
    expect_bad("{" WJ "}x", 16, TT_ERR_FORMAT, TT_IO_MALFORMED, "after the header");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-2],\"data_offsets\":[0,16]}}", 16, TT_ERR_FORMAT, TT_IO_MALFORMED, "integer");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2.0],\"data_offsets\":[0,16]}}", 16, TT_ERR_FORMAT, TT_IO_MALFORMED, "integer");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2]}}", 16, TT_ERR_FORMAT, TT_IO_MALFORMED, "lacks");
    expect_bad("{\"w\":{\"dtype\":\"C64\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16, TT_ERR_FORMAT, TT_IO_MALFORMED, "dtype");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,99999999999999999999]}}", 16, TT_ERR_FORMAT, TT_IO_MALFORMED, "too large");
    expect_bad("{\"__metadata__\":{\"a\":1}," WJ "}", 16, TT_ERR_FORMAT, TT_IO_MALFORMED, "not a string");
    expect_bad("{\"w\x01\":{}}", 0, TT_ERR_FORMAT, TT_IO_MALFORMED, "control character");
    expect_bad("{\"\\ud800\":{}}", 0, TT_ERR_FORMAT, TT_IO_MALFORMED, "surrogate");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16],\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}",
               16, TT_ERR_FORMAT, TT_IO_MALFORMED, "too deep");
    /* model against file */
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16, TT_ERR_SHAPE, TT_IO_SHAPE, "'w' has shape [4] in the file");
    expect_bad("{\"v\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16, TT_ERR_FORMAT, TT_IO_MISSING, "'w' of the model is missing");
    expect_bad("{" WJ ",\"v\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[16,20]}}", 20, TT_ERR_FORMAT, TT_IO_EXTRA, "'v'");
}

static int g_meta_n;
static void meta_count(void *user, const char *k, const char *v) {
    (void)user;
    if ((strcmp(k, "quote\"back\\slash") == 0 && strcmp(v, "line\nfeed \xc3\xa9") == 0) || (strcmp(k, "a") == 0 && v[0] == 0))
        g_meta_n++;
}

static void test_roundtrip_metadata_and_names(void) {
    static net a, b;
    tt_meta_kv kv[2] = {{"quote\"back\\slash", "line\nfeed \xc3\xa9"}, {"a", ""}};
    tt_safetensors_opts o;
    size_t n = 0, need = 0;
    CHECK(net_init(&a, 1) && net_init(&b, 2));
    a.w1->name = "layer \"1\".weight";
    b.w1->name = "layer \"1\".weight";
    o = net_opts(&a);
    o.meta = kv; o.n_meta = 2;
    CHECK(tt_safetensors_size(&a.ctx, &o, &need) == TT_OK);
    CHECK(tt_safetensors_save_mem(&a.ctx, &o, g_buf, sizeof g_buf, &n) == TT_OK && n == need);
    CHECK(tt_safetensors_save_mem(&a.ctx, &o, g_buf, n - 1, NULL) == TT_ERR_INVALID_ARGS && o.error == TT_IO_TOO_LARGE);
    tt_clear_error(&a.ctx);
    o = net_opts(&b);
    o.on_meta = meta_count;
    g_meta_n = 0;
    CHECK_MSG(tt_safetensors_load_mem(&b.ctx, &o, g_buf, n) == TT_OK, "%s", tt_error_message(&b.ctx));
    CHECK(g_meta_n == 2);
    CHECK(memcmp(a.ctx.param_data, b.ctx.param_data, a.ctx.n_params * sizeof(float)) == 0);
    CHECK(memcmp(a.rv->data, b.rv->data, 8 * sizeof(float)) == 0 && b.nbt->data[0] == 7.0f);
    {
        static const uint32_t xb[20] = {0x3f800000u, 0xbf000000u, 0x40000000u, 0x3e800000u};
        float oa[15], ob[15];
        CHECK(net_forward(&a, xb, oa) && net_forward(&b, xb, ob) && memcmp(oa, ob, sizeof oa) == 0);
    }
    /* through a file */
    {
        char path[64];
        snprintf(path, sizeof path, "/tmp/tt_st_%d.safetensors", (int)getpid());
        o = net_opts(&a);
        CHECK(tt_safetensors_save(&a.ctx, &o, path) == TT_OK);
        tt_init_const(&b.ctx, b.w2, 0.0f);
        o = net_opts(&b);
        CHECK(tt_safetensors_load(&b.ctx, &o, path) == TT_OK);
        CHECK(memcmp(a.w2->data, b.w2->data, 24 * sizeof(float)) == 0);
        remove(path);
        CHECK(tt_safetensors_load(&b.ctx, &o, path) == TT_ERR_IO && o.error == TT_IO_OPEN_FAILED);
    }
    tt_ctx_free(&a.ctx);
    tt_ctx_free(&b.ctx);
}

int main(void) {
    const char *w = getenv("TT_ST_WRITE");
    if (w) {
        static net m;
        tt_safetensors_opts o;
        if (!net_init(&m, 2026)) return 1;
        o = net_opts(&m);
        if (tt_safetensors_save(&m.ctx, &o, w) != TT_OK) { printf("%s\n", tt_error_message(&m.ctx)); return 1; }
        return 0;
    }
#ifndef ST_REF_PLACEHOLDER
    RUN(test_torch_to_tinytrain_f32);
    RUN(test_torch_to_tinytrain_f16);
    RUN(test_torch_to_tinytrain_bf16);
    RUN(test_tinytrain_to_torch);
#else
    SKIP("torch round trip", "tests/ref/safetensors_ref.h is a placeholder: run tests/ref/gen_safetensors.py");
#endif
    RUN(test_validation);
    RUN(test_roundtrip_metadata_and_names);
    TEST_EXIT();
}
