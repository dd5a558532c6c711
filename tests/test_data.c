/* Data readers and datasets: inflate/gzip against gzip(1) and Python's gzip/zlib output
   (tests/ref/gen_gzip.py), every malformed-input path of the gzip, IDX and CSV readers (a clear
   TT_ERR_FORMAT naming the byte offset, caller memory untouched), CSV parsing against hand-written
   expectations, the batch iterator (permutations, resume), gathering and augmentation (against a
   direct pad-and-crop written here), and the Fashion-MNIST files when installed. */
#define _POSIX_C_SOURCE 200809L
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"
#include "ref/gzip_ref.h"
#include <unistd.h>
#include <stdlib.h>

static const char *VOCAB[16] = {"the ", "tensor ", "gradient ", "of ", "a ", "loss ", "step ", "batch ",
                                "\n", "epoch ", "mean ", "x", "0123456789", "adam ", ", ", "layer "};
/* Mirror of sample_bytes in gen_gzip.py. */
static void sample_bytes(unsigned char *out, size_t n, unsigned long seed) {
    size_t len = 0;
    unsigned long s = seed;
    while (len < n) {
        s = (s * 1103515245ul + 12345ul) & 0x7ffffffful;
        if (len % 97 == 0) out[len++] = (unsigned char)((s >> 8) & 0xff);
        else {
            const char *w = VOCAB[(s >> 16) % 16];
            while (*w && len < n) out[len++] = (unsigned char)*w++;
            if (*w) break;
        }
    }
}
/* The expected contents of gz_case `which` (see gzip_ref.h). */
static size_t expected(int which, unsigned char *out) {
    if (which == 0) { sample_bytes(out, 40000, 7); return 40000; }
    if (which == 1) { sample_bytes(out, 3000, 11); return 3000; }
    if (which == 2) { sample_bytes(out, 3000, 11); sample_bytes(out + 3000, 5000, 13); return 8000; }
    if (which == 4) { memset(out, 0, 5000); sample_bytes(out + 5000, 3000, 11); return 8000; }
    return 0;
}

static int new_ctx(tt_ctx *ctx) {
    tt_desc d;
    memset(&d, 0, sizeof d);
    d.max_params = 1024;
    d.scratch_bytes = 1 << 20;
    d.persist_bytes = 1 << 20;
    d.seed = 5;
    return tt_ctx_init(ctx, &d) == TT_OK;
}
static int all_bytes(const unsigned char *p, size_t n, unsigned char v) {
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] != v) return 0;
    return 1;
}
/* The last error is TT_ERR_FORMAT and its message contains `what`; clears it. */
static int format_error(tt_ctx *ctx, tt_result r, const char *what) {
    int ok = r == TT_ERR_FORMAT && tt_error(ctx) == TT_ERR_FORMAT && strstr(tt_error_message(ctx), what) != NULL;
    if (!ok) printf("  got %d \"%s\", wanted FORMAT with \"%s\"\n", (int)r, tt_error_message(ctx), what);
    tt_clear_error(ctx);
    return ok;
}

static unsigned char big_out[48000], big_ref[48000];

/* ---- gzip ---- */
static void test_gunzip_reference_files(void) {
    tt_ctx ctx;
    size_t i;
    if (!new_ctx(&ctx)) { CHECK(0); return; }
    /* the C mirror of the generator must reproduce the data whose CRC Python recorded */
    for (i = 0; i < sizeof gz_cases / sizeof gz_cases[0]; i++) {
        const gz_case *c = &gz_cases[i];
        size_t n = expected(c->which, big_ref), size = 12345, got = 0;
        CHECK(n == c->len);
        CHECK_MSG(tt_crc32(0, big_ref, n) == c->crc, "%s: generator mirror differs", c->name);
        CHECK_MSG(tt_gunzip_size(&ctx, c->gz, c->gz_len, &size) == TT_OK && size == c->len, "%s: size %zu: %s", c->name,
                  size, tt_error_message(&ctx));
        memset(big_out, 0xAA, sizeof big_out);
        CHECK_MSG(tt_gunzip(&ctx, c->gz, c->gz_len, big_out, sizeof big_out, &got) == TT_OK && got == c->len, "%s: %s",
                  c->name, tt_error_message(&ctx));
        CHECK_MSG(memcmp(big_out, big_ref, n) == 0, "%s: contents differ", c->name);
        CHECK(all_bytes(big_out + n, sizeof big_out - n, 0xAA));
        tt_clear_error(&ctx);
    }
    CHECK(tt_is_gzip(gz_gzip9, sizeof gz_gzip9) && !tt_is_gzip(idx_img, sizeof idx_img) && !tt_is_gzip(NULL, 0));
    CHECK(ctx.scratch.used == 0); /* the window is given back */
    tt_ctx_free(&ctx);
}

/* Every truncation of a small member (and a sample of the large ones) fails cleanly. */
static void test_gunzip_truncated(void) {
    tt_ctx ctx;
    size_t i, k, out;
    if (!new_ctx(&ctx)) { CHECK(0); return; }
    for (i = 0; i < sizeof gz_cases / sizeof gz_cases[0]; i++) {
        const gz_case *c = &gz_cases[i];
        size_t step = c->gz_len > 2000 ? 97 : 1;
        for (k = 0; k < c->gz_len; k += step) {
            tt_result r;
            memset(big_out, 0x55, 64);
            r = tt_gunzip(&ctx, c->gz, k, big_out, sizeof big_out, &out);
            /* the two-member case cut exactly after its first member is a valid gzip file */
            if (c->which == 2 && r == TT_OK) { CHECK(out == 3000); continue; }
            CHECK_MSG(r == TT_ERR_FORMAT && strstr(tt_error_message(&ctx), "at byte"), "%s cut at %zu: %d %s", c->name, k,
                      (int)r, tt_error_message(&ctx));
            CHECK(all_bytes(big_out, 64, 0x55));
            tt_clear_error(&ctx);
        }
    }
    tt_ctx_free(&ctx);
}

/* Flipping any bit after the header of a member is caught (by the decoder or the CRC). */
static void test_gunzip_corrupted(void) {
    tt_ctx ctx;
    unsigned char buf[1024];
    size_t k, n = sizeof gz_py9_small, size;
    int b, caught = 0, total = 0;
    if (!new_ctx(&ctx)) { CHECK(0); return; }
    CHECK(n <= sizeof buf);
    sample_bytes(big_ref, 3000, 11);
    for (k = 10; k < n; k++)
        for (b = 0; b < 8; b += 3) {
            tt_result r;
            memcpy(buf, gz_py9_small, n);
            buf[k] ^= (unsigned char)(1u << b);
            r = tt_gunzip(&ctx, buf, n, big_out, sizeof big_out, &size);
            total++;
            /* a flipped distance bit may point at an identical copy of the same bytes (the text
               repeats words): then the output is unchanged and valid */
            if (r == TT_ERR_FORMAT && strstr(tt_error_message(&ctx), "at byte")) caught++;
            else if (r == TT_OK && size == 3000 && memcmp(big_out, big_ref, 3000) == 0) caught++;
            else printf("  flip at %zu bit %d: %d %s\n", k, b, (int)r, tt_error_message(&ctx));
            tt_clear_error(&ctx);
        }
    CHECK(caught == total);
    tt_ctx_free(&ctx);
}

static size_t put_le32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
    return 4;
}

/* Hand-made members for each header and block error. */
static void test_gunzip_errors(void) {
    tt_ctx ctx;
    unsigned char m[64], out[16];
    size_t size;
    static const unsigned char hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    if (!new_ctx(&ctx)) { CHECK(0); return; }
    /* a valid stored member holding "hi": header, 01 0200 fdff 'h' 'i', CRC, ISIZE */
    memcpy(m, hdr, 10);
    m[10] = 1; m[11] = 2; m[12] = 0; m[13] = 0xfd; m[14] = 0xff; m[15] = 'h'; m[16] = 'i';
    put_le32(m + 17, 0x00000000u);
    put_le32(m + 17, tt_crc32(0, "hi", 2)); /* tt_crc32 is checked against the standard check value in test_core */
    put_le32(m + 21, 2);
    memset(out, 0x33, sizeof out);
    CHECK(tt_gunzip(&ctx, m, 25, out, sizeof out, &size) == TT_OK && size == 2 && out[0] == 'h' && out[1] == 'i');
    CHECK(out[2] == 0x33);
    /* dst too small: refused, untouched */
    memset(out, 0x33, sizeof out);
    CHECK(tt_gunzip(&ctx, m, 25, out, 1, &size) == TT_ERR_INVALID_ARGS && out[0] == 0x33);
    tt_clear_error(&ctx);
    m[0] = 0x1e;
    CHECK(format_error(&ctx, tt_gunzip_size(&ctx, m, 25, &size), "magic 1f 8b) at byte 0"));
    m[0] = 0x1f; m[2] = 7;
    CHECK(format_error(&ctx, tt_gunzip_size(&ctx, m, 25, &size), "not deflate at byte 2"));
    m[2] = 8; m[3] = 0x20;
    CHECK(format_error(&ctx, tt_gunzip_size(&ctx, m, 25, &size), "reserved header flags set at byte 3"));
    m[3] = 0x02; /* FHCRC with a wrong CRC16 */
    CHECK(format_error(&ctx, tt_gunzip_size(&ctx, m, 25, &size), "header CRC mismatch at byte 10"));
    m[3] = 0x08; /* FNAME never terminated */
    CHECK(format_error(&ctx, tt_gunzip_size(&ctx, m, 10, &size), "truncated gzip file name at byte 10"));
    m[3] = 0;
    m[13] = 0xfe; /* NLEN != ~LEN */
    CHECK(format_error(&ctx, tt_gunzip_size(&ctx, m, 25, &size), "stored block length check failed at byte 11"));
    m[13] = 0xfd;
    m[17] ^= 1;
    CHECK(format_error(&ctx, tt_gunzip_size(&ctx, m, 25, &size), "CRC-32 mismatch at byte 17"));
    m[17] ^= 1;
    m[21] = 3;
    CHECK(format_error(&ctx, tt_gunzip_size(&ctx, m, 25, &size), "ISIZE mismatch at byte 21"));
    m[21] = 2;
    m[25] = 0; /* trailing garbage after the member */
    CHECK(format_error(&ctx, tt_gunzip_size(&ctx, m, 26, &size), "unexpected data after the gzip member at byte 25"));
    m[10] = 7; /* BFINAL 1, BTYPE 3 */
    CHECK(format_error(&ctx, tt_gunzip_size(&ctx, m, 25, &size), "invalid block type 3 at byte 10"));
    /* fixed block: literal 'a' then a match at distance 2 with only 1 byte out.
       bits: 1 (final), 01 (fixed); 'a' = 0x61 -> 8-bit code 0x30+0x61 = 0x91; length 3 = code 257
       (7 bits 0000001); distance code 1 (5 bits 00001) = distance 2. */
    {
        unsigned char d[8] = {0};
        unsigned bitpos = 0, i;
        unsigned long codes[4][2] = {{1, 1}, {1, 2}, {0x91, 8}, {1, 7}}; /* value, bits (Huffman codes MSB first) */
        /* BFINAL and BTYPE are plain LSB-first fields; Huffman codes go MSB first */
        d[0] |= 1; bitpos = 1;             /* BFINAL */
        d[0] |= 1 << 1; bitpos = 3;        /* BTYPE = 01 */
        for (i = 2; i < 4; i++) {
            int b;
            for (b = (int)codes[i][1] - 1; b >= 0; b--, bitpos++)
                if ((codes[i][0] >> b) & 1u) d[bitpos / 8] |= (unsigned char)(1u << (bitpos % 8));
        }
        { int b; for (b = 4; b >= 0; b--, bitpos++) if ((1u >> b) & 1u) d[bitpos / 8] |= (unsigned char)(1u << (bitpos % 8)); }
        memcpy(m + 10, d, 4);
        CHECK(format_error(&ctx, tt_gunzip_size(&ctx, m, 25, &size), "distance too far back at byte"));
    }
    CHECK(tt_gunzip_size(&ctx, NULL, 0, &size) == TT_ERR_FORMAT);
    tt_clear_error(&ctx);
    CHECK(tt_gunzip_size(&ctx, m, 25, NULL) == TT_ERR_INVALID_ARGS);
    tt_ctx_free(&ctx);
}

/* ---- IDX ---- */
static void test_idx_read(void) {
    tt_ctx ctx;
    tt_idx_info info;
    unsigned char u8[64];
    float f[64];
    int lab[8], i;
    if (!new_ctx(&ctx)) { CHECK(0); return; }
    CHECK(tt_idx_info_mem(&ctx, idx_img, sizeof idx_img, &info) == TT_OK);
    CHECK(info.type == TT_IDX_U8 && info.ndim == 3 && info.dims[0] == 3 && info.dims[1] == 4 && info.dims[2] == 5);
    CHECK(info.count == 60 && info.elem_bytes == 1 && info.header_bytes == 16 && info.gzip == 0);
    CHECK(tt_idx_info_mem(&ctx, idx_img_gz, sizeof idx_img_gz, &info) == TT_OK && info.gzip == 1 && info.count == 60);
    CHECK(tt_idx_read_u8_mem(&ctx, idx_img_gz, sizeof idx_img_gz, u8, 60) == TT_OK);
    for (i = 0; i < 60; i++) CHECK(u8[i] == (i * 37 + 11) % 256);
    CHECK(tt_idx_read_f32_mem(&ctx, idx_img, sizeof idx_img, 1.0f / 255.0f, f, 64) == TT_OK);
    for (i = 0; i < 60; i++) CHECK(f[i] == (float)((i * 37 + 11) % 256) * (1.0f / 255.0f));
    CHECK(f[0] >= 0.0f && f[59] <= 1.0f);
    CHECK(tt_idx_read_int_mem(&ctx, idx_lab, sizeof idx_lab, lab, 3) == TT_OK && lab[0] == 7 && lab[1] == 0 && lab[2] == 9);
    CHECK(tt_idx_read_int_mem(&ctx, idx_i16, sizeof idx_i16, lab, 4) == TT_OK);
    CHECK(lab[0] == -300 && lab[1] == 5 && lab[2] == 32767 && lab[3] == -32768);
    CHECK(tt_idx_read_f32_mem(&ctx, idx_f32, sizeof idx_f32, 1.0f, f, 3) == TT_OK);
    CHECK(f[0] == 1.5f && f[1] == -2.25f && f[2] == 1e-3f);
    CHECK(tt_idx_read_f32_mem(&ctx, idx_f64, sizeof idx_f64, 1.0f, f, 2) == TT_OK);
    CHECK(f[0] == 0.1f && isinf(f[1]) && f[1] < 0);
    CHECK(ctx.err == TT_OK);
    tt_ctx_free(&ctx);
}

static void test_idx_errors(void) {
    tt_ctx ctx;
    tt_idx_info info;
    unsigned char b[128], u8[80];
    int lab[8];
    size_t k;
    if (!new_ctx(&ctx)) { CHECK(0); return; }
    memcpy(b, idx_img, sizeof idx_img);
    /* every truncation of the plain and the gzip file */
    for (k = 0; k < sizeof idx_img; k++) {
        memset(u8, 0x77, sizeof u8);
        CHECK_MSG(format_error(&ctx, tt_idx_read_u8_mem(&ctx, idx_img, k, u8, 80), "byte"), "cut at %zu", k);
        CHECK(all_bytes(u8, 80, 0x77));
    }
    for (k = 0; k < sizeof idx_img_gz; k++) {
        memset(u8, 0x77, sizeof u8);
        CHECK_MSG(format_error(&ctx, tt_idx_read_u8_mem(&ctx, idx_img_gz, k, u8, 80), "byte"), "gz cut at %zu", k);
        CHECK(all_bytes(u8, 80, 0x77));
    }
    b[sizeof idx_img] = 0; /* one byte too many */
    CHECK(format_error(&ctx, tt_idx_read_u8_mem(&ctx, b, sizeof idx_img + 1, u8, 80), "1 unexpected bytes from byte 76"));
    b[1] = 1;
    CHECK(format_error(&ctx, tt_idx_info_mem(&ctx, b, sizeof idx_img, &info), "bytes 0-1 are not zero"));
    b[1] = 0; b[2] = 0x0A;
    CHECK(format_error(&ctx, tt_idx_info_mem(&ctx, b, sizeof idx_img, &info), "unknown IDX element type 10 at byte 2"));
    b[2] = 0x08; b[3] = 0;
    CHECK(format_error(&ctx, tt_idx_info_mem(&ctx, b, sizeof idx_img, &info), "IDX rank 0 at byte 3"));
    b[3] = 3; b[11] = 0; /* dims[1] = 0 */
    CHECK(format_error(&ctx, tt_idx_info_mem(&ctx, b, sizeof idx_img, &info), "IDX dimension 1 is 0 at byte 8"));
    b[8] = 0x80; b[11] = 0; /* dims[1] = 2^31 */
    CHECK(format_error(&ctx, tt_idx_info_mem(&ctx, b, sizeof idx_img, &info), "IDX dimension 1 is 2147483648 at byte 8"));
    /* dims that overflow size_t: 6 dims of 2^31-1 */
    {
        unsigned char h[28] = {0, 0, 8, 6};
        for (k = 0; k < 6; k++) { h[4 + 4 * k] = 0x7f; h[5 + 4 * k] = 0xff; h[6 + 4 * k] = 0xff; h[7 + 4 * k] = 0xff; }
        CHECK(format_error(&ctx, tt_idx_info_mem(&ctx, h, 28, &info), "IDX element count overflows at byte"));
        /* a header announcing more than the buffer holds */
        h[3] = 1;
        CHECK(format_error(&ctx, tt_idx_read_u8_mem(&ctx, h, 8, u8, 80), "truncated"));
        tt_clear_error(&ctx);
    }
    /* type mismatches and a small dst */
    CHECK(format_error(&ctx, tt_idx_read_u8_mem(&ctx, idx_i16, sizeof idx_i16, u8, 80), "not uint8"));
    CHECK(format_error(&ctx, tt_idx_read_int_mem(&ctx, idx_f32, sizeof idx_f32, lab, 8), "not an integer type"));
    CHECK(tt_idx_read_int_mem(&ctx, idx_lab, sizeof idx_lab, lab, 2) == TT_ERR_INVALID_ARGS);
    tt_ctx_free(&ctx);
}

static void test_idx_files(void) {
    tt_ctx ctx;
    char dir[] = "/tmp/tt_data_XXXXXX", path[256];
    unsigned char u8[64];
    tt_idx_info info;
    FILE *f;
    if (!new_ctx(&ctx) || !mkdtemp(dir)) { CHECK(0); return; }
    snprintf(path, sizeof path, "%s/img.idx.gz", dir);
    f = fopen(path, "wb");
    CHECK(f && fwrite(idx_img_gz, 1, sizeof idx_img_gz, f) == sizeof idx_img_gz);
    if (f) fclose(f);
    CHECK(tt_idx_info_file(&ctx, path, &info) == TT_OK && info.count == 60 && info.gzip);
    CHECK(tt_idx_read_u8_file(&ctx, path, u8, 60) == TT_OK && u8[1] == 48);
    CHECK(ctx.scratch.used == 0);
    remove(path);
    CHECK(tt_idx_info_file(&ctx, path, &info) == TT_ERR_IO);
    CHECK(strstr(tt_error_message(&ctx), path) && strstr(tt_error_message(&ctx), "No such file"));
    tt_clear_error(&ctx);
    rmdir(dir);
    tt_ctx_free(&ctx);
}

/* The real files, when installed: inflate of a 26 MB member against Python's gzip module. */
static const char *FM_DIR = "/usr/share/datasets/fashion-mnist";
static void test_fashion_mnist_files(void) {
#ifdef FMNIST_TRAIN_IMAGES_CRC
    tt_ctx ctx;
    tt_desc d;
    char path[256];
    unsigned char *img;
    int *lab, counts[10] = {0}, i;
    long s0 = 0, s1 = 0;
    tt_idx_info info;
    FILE *f;
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", FM_DIR);
    f = fopen(path, "rb");
    if (!f) { SKIP("test_fashion_mnist_files", "dataset-fashion-mnist not installed"); return; }
    fclose(f);
    memset(&d, 0, sizeof d);
    d.max_params = 16;
    d.scratch_bytes = (size_t)40 << 20;
    d.persist_bytes = (size_t)40 << 20; /* the gzipped file (26 MB); the decoded arrays are malloc'd */
    if (tt_ctx_init(&ctx, &d) != TT_OK) { CHECK(0); return; }
    CHECK(tt_idx_info_file(&ctx, path, &info) == TT_OK);
    CHECK(info.ndim == 3 && info.dims[0] == 60000 && info.dims[1] == 28 && info.dims[2] == 28 && info.gzip);
    img = (unsigned char *)malloc((size_t)FMNIST_TRAIN_IMAGES_LEN);
    CHECK(img && tt_idx_read_u8_file(&ctx, path, img, info.count) == TT_OK);
    if (img) {
        for (i = 0; i < 784; i++) { s0 += img[i]; s1 += img[59999 * 784 + i]; }
        CHECK(s0 == FMNIST_IMAGE0_SUM && s1 == FMNIST_IMAGE59999_SUM);
    }
    /* the whole decompressed file against Python's CRC */
    {
        void *gz;
        size_t n, out;
        if (tt_read_file_persist(&ctx, path, &gz, &n) != TT_OK || !img) { CHECK(0); free(img); tt_ctx_free(&ctx); return; }
        tt_scratch_reset(&ctx);
        CHECK(tt_gunzip(&ctx, gz, n, img, FMNIST_TRAIN_IMAGES_LEN, &out) == TT_OK && out == FMNIST_TRAIN_IMAGES_LEN);
        CHECK(tt_crc32(0, img, out) == FMNIST_TRAIN_IMAGES_CRC);
    }
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", FM_DIR);
    lab = (int *)malloc(60000 * sizeof(int));
    CHECK(lab && tt_idx_read_int_file(&ctx, path, lab, 60000) == TT_OK);
    if (lab) {
        for (i = 0; i < 10; i++) CHECK(lab[i] == fmnist_train_labels_first[i]);
        for (i = 0; i < 60000; i++) counts[lab[i] >= 0 && lab[i] < 10 ? lab[i] : 0]++;
        for (i = 0; i < 10; i++) CHECK(counts[i] == fmnist_train_label_counts[i]);
    }
    free(img);
    free(lab);
    tt_ctx_free(&ctx);
#else
    SKIP("test_fashion_mnist_files", "gzip_ref.h was generated without the data set");
#endif
}

/* ---- CSV ---- */
static unsigned char csv_mem[1 << 16];

/* Parse text with opts into caller memory (size query first). */
static tt_result csv_parse(tt_ctx *ctx, const char *text, const tt_csv_opts *o, tt_csv *out) {
    size_t bytes = 0;
    tt_result r = tt_csv_size(ctx, text, strlen(text), o, &bytes);
    if (r != TT_OK) return r;
    if (bytes > sizeof csv_mem) return TT_ERR_OUT_OF_MEMORY;
    return tt_csv_read(ctx, text, strlen(text), o, csv_mem + 1 /* unaligned on purpose */, bytes, out);
}

static void test_csv_basic(void) {
    tt_ctx ctx;
    tt_csv c;
    tt_csv_opts o = tt_csv_opts_init();
    /* BOM, CRLF, a quoted header name with a delimiter, a blank line, spaces around numbers,
       missing values in several spellings, string labels by name (sorted ids) */
    const char *text = "\xEF\xBB\xBF" "a,\"b,c\",species,d\r\n"
                       "1.5, 2 ,setosa,-3e2\r\n"
                       "\r\n"
                       ",NA,virginica,?\r\n"
                       "4,5,\"versi\"\"color\",NaN\r\n"
                       "0x10,inf,setosa,  7\t\r\n";
    if (!new_ctx(&ctx)) { CHECK(0); return; }
    CHECK(o.delimiter == ',' && o.header == 1 && o.label == TT_CSV_LABEL_NONE && o.label_is_class == 1);
    o.label = TT_CSV_LABEL_NAME;
    o.label_name = "species";
    CHECK_MSG(csv_parse(&ctx, text, &o, &c) == TT_OK, "%s", tt_error_message(&ctx));
    CHECK(c.rows == 4 && c.cols == 3 && c.label_col == 2 && c.n_classes == 3);
    CHECK(strcmp(c.col_names[0], "a") == 0 && strcmp(c.col_names[1], "b,c") == 0 && strcmp(c.col_names[2], "d") == 0);
    CHECK(strcmp(c.label_col_name, "species") == 0);
    /* sorted by bytes: setosa < versi"color < virginica */
    CHECK(strcmp(c.class_names[0], "setosa") == 0 && strcmp(c.class_names[1], "versi\"color") == 0 &&
          strcmp(c.class_names[2], "virginica") == 0);
    CHECK(c.y[0] == 0 && c.y[1] == 2 && c.y[2] == 1 && c.y[3] == 0);
    CHECK(c.x[0] == 1.5f && c.x[1] == 2.0f && c.x[2] == -300.0f);
    CHECK(isnan(c.x[3]) && isnan(c.x[4]) && isnan(c.x[5]));
    CHECK(c.x[6] == 4.0f && c.x[7] == 5.0f && isnan(c.x[8]));
    CHECK(c.x[9] == 16.0f && isinf(c.x[10]) && c.x[11] == 7.0f); /* strtod syntax */
    CHECK(c.n_missing == 4 && c.t == NULL);
    tt_ctx_free(&ctx);
}

static void test_csv_variants(void) {
    tt_ctx ctx;
    tt_csv c;
    tt_csv_opts o = tt_csv_opts_init();
    size_t used;
    if (!new_ctx(&ctx)) { CHECK(0); return; }
    /* no header, ';' delimiter, integer labels by index (id = value), LF, no final newline */
    o.header = 0; o.delimiter = ';'; o.label = TT_CSV_LABEL_INDEX; o.label_index = 0;
    CHECK_MSG(csv_parse(&ctx, "3;1,5;2\n0;\"x;y\";4\n3;1;1", &o, &c) == TT_ERR_FORMAT, "quoted text is not a number");
    tt_clear_error(&ctx);
    CHECK_MSG(csv_parse(&ctx, "3;1.5;2\n0;\"7\";4\n3;1;1", &o, &c) == TT_OK, "%s", tt_error_message(&ctx));
    CHECK(c.rows == 3 && c.cols == 2 && c.n_classes == 4 && c.col_names == NULL && c.label_col_name == NULL);
    CHECK(c.y[0] == 3 && c.y[1] == 0 && c.y[2] == 3);
    CHECK(strcmp(c.class_names[0], "0") == 0 && strcmp(c.class_names[3], "3") == 0);
    CHECK(c.x[0] == 1.5f && c.x[1] == 2.0f && c.x[2] == 7.0f && c.x[5] == 1.0f);
    /* float targets with a missing one; label in the last column; lone CR line ends */
    o = tt_csv_opts_init();
    o.label = TT_CSV_LABEL_INDEX; o.label_index = 2; o.label_is_class = 0;
    CHECK_MSG(csv_parse(&ctx, "u,v,w\r1,2,0.5\r3,4,\r", &o, &c) == TT_OK, "%s", tt_error_message(&ctx));
    CHECK(c.rows == 2 && c.cols == 2 && c.y == NULL && c.t && c.t[0] == 0.5f && isnan(c.t[1]) && c.n_missing == 0);
    /* quoted fields with embedded newlines and quotes, as labels; label text "10" mixed with
       words makes every label a string (sorted: "10" < "a\nb" < "z") */
    o = tt_csv_opts_init();
    o.label = TT_CSV_LABEL_INDEX; o.label_index = 1;
    CHECK_MSG(csv_parse(&ctx, "f,lab\n1,\"a\nb\"\n2,z\n3,10\n4,\"a\nb\"\n", &o, &c) == TT_OK, "%s", tt_error_message(&ctx));
    CHECK(c.n_classes == 3 && strcmp(c.class_names[1], "a\nb") == 0);
    CHECK(c.y[0] == 1 && c.y[1] == 2 && c.y[2] == 0 && c.y[3] == 1);
    /* no label: every column a feature; the persistent region instead of caller memory */
    o = tt_csv_opts_init();
    used = ctx.persist.used;
    CHECK(tt_csv_read(&ctx, "p,q\n1,2\n", 8, &o, NULL, 0, &c) == TT_OK);
    CHECK(c.rows == 1 && c.cols == 2 && c.x[1] == 2.0f && c.y == NULL && c.label_col == -1 && ctx.persist.used > used);
    tt_ctx_free(&ctx);
}

static void test_csv_errors(void) {
    tt_ctx ctx;
    tt_csv c, before;
    tt_csv_opts o = tt_csv_opts_init();
    size_t bytes;
    if (!new_ctx(&ctx)) { CHECK(0); return; }
    o.label = TT_CSV_LABEL_NAME; o.label_name = "y";
    memset(&c, 0x5A, sizeof c);
    before = c;
    memset(csv_mem, 0x11, 4096);
#define CSV_BAD(text, what)                                                                              \
    do {                                                                                                 \
        CHECK(format_error(&ctx, tt_csv_read(&ctx, text, strlen(text), &o, csv_mem, sizeof csv_mem, &c), what)); \
        CHECK(memcmp(&c, &before, sizeof c) == 0 && all_bytes(csv_mem, 4096, 0x11));                     \
    } while (0)
    CSV_BAD("a,y\n1,2\n3,\"4\n", "line 3, column 2 (byte 10): unterminated quoted field");
    CSV_BAD("a,y\n1,\"2\"x\n", "line 2, column 2 (byte 9): unexpected character after the closing quote");
    CSV_BAD("a,y\n1,2\n3\n", "line 3 (byte 8): 1 fields, expected 2");
    CSV_BAD("a,y\n1,2\n3,4,5\n", "line 3 (byte 12): 3 fields, expected 2");
    CSV_BAD("a,y\r\n1,2\r\nabc,3\r\n", "line 3, column 1 (byte 10): not a number: \"abc\"");
    CSV_BAD("a,y\n1,2\n1,NA\n", "line 3, column 2 (byte 10): missing class label");
    CSV_BAD("a,b\n1,2\n", "no column named \"y\"");
    CSV_BAD("", "no rows");
    CSV_BAD("\n\r\n", "no rows");
    o.label = TT_CSV_LABEL_INDEX; o.label_index = 5;
    CSV_BAD("a,y\n1,2\n", "label column 5, but the first row has 2 columns");
    o.label_index = 1; o.label_is_class = 0;
    CSV_BAD("a,y\n1,2\n1,x\n", "line 3, column 2 (byte 10): target is not a number: \"x\"");
    /* memory too small, bad options */
    o = tt_csv_opts_init();
    CHECK(tt_csv_size(&ctx, "a\n1\n", 4, &o, &bytes) == TT_OK);
    CHECK(tt_csv_read(&ctx, "a\n1\n", 4, &o, csv_mem, bytes - 1, &c) == TT_ERR_INVALID_ARGS);
    CHECK(memcmp(&c, &before, sizeof c) == 0 && all_bytes(csv_mem, 4096, 0x11));
    tt_clear_error(&ctx);
    o.delimiter = '"';
    CHECK(tt_csv_size(&ctx, "a\n1\n", 4, &o, &bytes) == TT_ERR_INVALID_ARGS);
    tt_clear_error(&ctx);
    o = tt_csv_opts_init();
    o.label = TT_CSV_LABEL_NAME; o.header = 0; o.label_name = "a";
    CHECK(tt_csv_size(&ctx, "a\n1\n", 4, &o, &bytes) == TT_ERR_INVALID_ARGS);
    tt_clear_error(&ctx);
    /* file wrapper: a missing file */
    o = tt_csv_opts_init();
    CHECK(tt_csv_read_file(&ctx, "/nonexistent/x.csv", &o, &c) == TT_ERR_IO && strstr(tt_error_message(&ctx), "/nonexistent/x.csv"));
    tt_ctx_free(&ctx);
#undef CSV_BAD
}

/* ---- datasets, iterator, gathering ---- */
static int count_allocs;
static void *counting_alloc(size_t n, void *user) { (void)user; count_allocs++; return malloc(n); }
static void counting_free(void *p, void *user) { (void)user; free(p); }

static void test_iterator(void) {
    tt_ctx ctx, ctx2;
    tt_batch_iter it, it2;
    tt_batch b;
    int seen[10], perm0[10], i, nb = 0, total = 0, same = 1;
    if (!new_ctx(&ctx) || !new_ctx(&ctx2)) { CHECK(0); return; }
    CHECK(tt_batch_iter_init(&ctx, &it, 10, 4, 1, 0, NULL) == TT_OK);
    CHECK(tt_batch_iter_batches(&it) == 3);
    memset(seen, 0, sizeof seen);
    while (tt_batch_iter_next(&it, &b)) {
        CHECK(b.epoch == 0 && b.pos == total && b.count == (nb < 2 ? 4 : 2));
        for (i = 0; i < b.count; i++) seen[b.idx[i]]++;
        total += b.count;
        nb++;
    }
    CHECK(nb == 3 && total == 10 && it.epoch == 1 && it.pos == 0);
    for (i = 0; i < 10; i++) CHECK(seen[i] == 1);
    /* same context seed: same order; the next epoch is another order */
    CHECK(tt_batch_iter_init(&ctx2, &it2, 10, 4, 1, 0, NULL) == TT_OK);
    memcpy(perm0, it2.perm, sizeof perm0);
    CHECK(it2.seed == it.seed);
    for (i = 0; i < 10; i++) same &= it.perm[i] == perm0[i];
    CHECK(!same);
    /* resume: a fresh iterator with the saved seed, seeked to (epoch 1, pos 8), continues with
       the batches of the run that got there */
    CHECK(tt_batch_iter_next(&it, &b) && tt_batch_iter_next(&it, &b)); /* epoch 1, pos 0 and 4 */
    it2.seed = it.seed;
    CHECK(tt_batch_iter_seek(&ctx2, &it2, 1, 8) == TT_OK);
    {
        tt_batch b2;
        CHECK(tt_batch_iter_next(&it2, &b2) && b2.pos == 8 && b2.count == 2 && b2.epoch == 1);
        CHECK(tt_batch_iter_next(&it, &b) && b.pos == 8 && memcmp(b.idx, b2.idx, 2 * sizeof(int)) == 0);
    }
    /* drop_last and no shuffle */
    CHECK(tt_batch_iter_init(&ctx, &it, 10, 4, 0, 1, perm0) == TT_OK && it.perm == perm0);
    CHECK(tt_batch_iter_batches(&it) == 2);
    nb = 0;
    while (tt_batch_iter_next(&it, &b)) { CHECK(b.count == 4 && b.idx[0] == 4 * nb); nb++; }
    CHECK(nb == 2 && it.epoch == 1);
    CHECK(tt_batch_iter_init(&ctx, &it, 0, 4, 0, 1, NULL) == TT_ERR_INVALID_ARGS);
    tt_clear_error(&ctx);
    CHECK(tt_batch_iter_seek(&ctx, &it, 0, 11) == TT_ERR_INVALID_ARGS);
    tt_ctx_free(&ctx);
    tt_ctx_free(&ctx2);
}

static void test_dataset_gather(void) {
    tt_ctx ctx;
    tt_desc d;
    tt_dataset ds, dsf;
    tt_dataset_desc dd = tt_dataset_desc_init();
    unsigned char px[6 * 2 * 3];
    float fx[6 * 2], tg[6];
    int y[6] = {0, 1, 2, 0, 1, 2}, idx[3] = {5, 0, 2}, i;
    const int *lab;
    tt_tensor *x, *t;
    tt_batch b;
    size_t bytes;
    void *mem;
    for (i = 0; i < 36; i++) px[i] = (unsigned char)(i * 7);
    for (i = 0; i < 12; i++) fx[i] = (float)i - 0.5f;
    for (i = 0; i < 6; i++) tg[i] = (float)i * 10;
    memset(&d, 0, sizeof d);
    d.max_params = 16; d.scratch_bytes = 1 << 20; d.persist_bytes = 1 << 20;
    d.allocator.alloc = counting_alloc; d.allocator.free = counting_free;
    count_allocs = 0;
    if (tt_ctx_init(&ctx, &d) != TT_OK) { CHECK(0); return; }
    CHECK(dd.ndim == 1 && dd.type == TT_DATA_F32 && dd.target == TT_TARGET_CLASS && dd.n_classes == 10 && dd.u8_scale == 1.0f / 255.0f);
    dd.n = 6; dd.ndim = 2; dd.shape[0] = 2; dd.shape[1] = 3; dd.type = TT_DATA_U8; dd.n_classes = 3;
    CHECK(tt_dataset_init(&ctx, &ds, &dd, px, y) == TT_OK && ds.sample_numel == 6 && ds.x_u8 == px);
    b.idx = idx; b.count = 3; b.epoch = 0; b.pos = 0;
    CHECK(tt_dataset_gather(&ctx, &ds, &b, NULL, &x, &lab, NULL) == TT_OK);
    CHECK(x->ndim == 3 && x->shape[0] == 3 && x->shape[1] == 2 && x->shape[2] == 3);
    for (i = 0; i < 6; i++) {
        CHECK(x->data[i] == (float)px[30 + i] * (1.0f / 255.0f));
        CHECK(x->data[6 + i] == (float)px[i] * (1.0f / 255.0f));
    }
    CHECK(lab[0] == 2 && lab[1] == 0 && lab[2] == 2);
    /* an evaluation range: idx NULL */
    b.idx = NULL; b.pos = 4; b.count = 2;
    CHECK(tt_dataset_gather(&ctx, &ds, &b, NULL, &x, &lab, NULL) == TT_OK && x->data[0] == (float)px[24] / 255.0f && lab[1] == 2);
    b.pos = 5;
    CHECK(tt_dataset_gather(&ctx, &ds, &b, NULL, &x, &lab, NULL) == TT_ERR_INDEX);
    tt_clear_error(&ctx);
    /* float features and float targets, storage from the persistent region */
    dd = tt_dataset_desc_init();
    dd.n = 6; dd.shape[0] = 2; dd.target = TT_TARGET_FLOAT; dd.target_dim = 1;
    CHECK(tt_dataset_memory_size(&dd, &bytes) == TT_OK && bytes == 64 + 64);
    CHECK(tt_dataset_alloc(&ctx, &dsf, &dd, NULL, 0) == TT_OK && dsf.x && dsf.t && !dsf.y);
    memcpy(dsf.x, fx, sizeof fx);
    memcpy(dsf.t, tg, sizeof tg);
    b.idx = idx; b.count = 3; b.pos = 0;
    CHECK(tt_dataset_gather(&ctx, &dsf, &b, NULL, &x, NULL, &t) == TT_OK);
    CHECK(x->shape[1] == 2 && x->data[0] == fx[10] && x->data[1] == fx[11] && t->data[0] == 50.0f && t->data[2] == 20.0f);
    /* caller memory must be aligned and large enough */
    mem = malloc(256);
    CHECK(tt_dataset_alloc(&ctx, &dsf, &dd, mem, 100) == TT_ERR_INVALID_ARGS);
    tt_clear_error(&ctx);
    free(mem);
    /* labels are checked; a crop of 1-D samples is refused */
    dd = tt_dataset_desc_init();
    dd.n = 6; dd.n_classes = 2;
    CHECK(tt_dataset_init(&ctx, &ds, &dd, fx, y) == TT_ERR_INDEX && strstr(tt_error_message(&ctx), "sample 2 has class label 2"));
    tt_clear_error(&ctx);
    dd.n_classes = 3;
    CHECK(tt_dataset_init(&ctx, &ds, &dd, fx, y) == TT_OK);
    {
        tt_augment a = tt_augment_init();
        CHECK(a.crop_padding == 0 && a.flip_p == 0.0f && a.noise_std == 0.0f);
        a.crop_padding = 1;
        CHECK(tt_dataset_gather(&ctx, &ds, &b, &a, &x, NULL, NULL) == TT_ERR_SHAPE);
        tt_clear_error(&ctx);
        a.crop_padding = 0; a.flip_p = 1.5f;
        CHECK(tt_dataset_gather(&ctx, &ds, &b, &a, &x, NULL, NULL) == TT_ERR_INVALID_ARGS);
        tt_clear_error(&ctx);
    }
    CHECK(count_allocs == 1); /* the context's block, nothing else */
    tt_ctx_free(&ctx);
}

/* Augmentation against a direct implementation: pad with zeros, crop, flip. */
static void test_augment(void) {
    enum { N = 64, C = 2, H = 5, W = 4, P = 2 };
    static unsigned char px[N * C * H * W];
    tt_ctx ctx;
    tt_dataset ds;
    tt_dataset_desc dd = tt_dataset_desc_init();
    tt_augment a = tt_augment_init();
    tt_batch b;
    tt_tensor *x, *x2;
    int i, s, offs_seen[2 * P + 1][2 * P + 1], flips = 0, top, left, f;
    float first[C * H * W];
    if (!new_ctx(&ctx)) { CHECK(0); return; }
    for (i = 0; i < N * C * H * W; i++) px[i] = (unsigned char)(1 + (i * 13) % 250); /* never 0: padding shows */
    dd.n = N; dd.ndim = 3; dd.shape[0] = C; dd.shape[1] = H; dd.shape[2] = W; dd.type = TT_DATA_U8; dd.u8_scale = 1.0f;
    dd.target = TT_TARGET_NONE;
    CHECK(tt_dataset_init(&ctx, &ds, &dd, px, NULL) == TT_OK);
    a.crop_padding = P; a.flip_p = 0.5f; a.seed = 99;
    b.idx = NULL; b.count = N; b.pos = 0; b.epoch = 3;
    CHECK(tt_dataset_gather(&ctx, &ds, &b, &a, &x, NULL, NULL) == TT_OK);
    memset(offs_seen, 0, sizeof offs_seen);
    for (s = 0; s < N; s++) {
        const float *o = x->data + (size_t)s * C * H * W;
        int matches = 0;
        for (top = 0; top <= 2 * P; top++)
            for (left = 0; left <= 2 * P; left++)
                for (f = 0; f < 2; f++) {
                    int c, yy, xx, ok = 1;
                    for (c = 0; c < C; c++)
                        for (yy = 0; yy < H; yy++)
                            for (xx = 0; xx < W; xx++) {
                                /* padded image: (H + 2P) x (W + 2P), zero border */
                                int cx = f ? W - 1 - xx : xx, py = yy + top, pxx = cx + left;
                                float want = (py < P || py >= H + P || pxx < P || pxx >= W + P)
                                                 ? 0.0f
                                                 : (float)px[(((size_t)s * C + c) * H + (py - P)) * W + (pxx - P)];
                                if (o[(c * H + yy) * W + xx] != want) ok = 0;
                            }
                    if (ok) { matches++; offs_seen[top][left]++; flips += f; }
                }
        CHECK_MSG(matches == 1, "sample %d matches %d crops", s, matches);
    }
    /* 64 draws of 25 offsets: each corner appears with prob 1-(24/25)^64 = 0.93; demand the
       extremes in each direction and roughly half flipped (binomial(64, .5): 32 +- 4, bound 6 sd) */
    {
        int any_top0 = 0, any_top4 = 0, any_left0 = 0, any_left4 = 0, k;
        for (k = 0; k <= 2 * P; k++) {
            any_top0 += offs_seen[0][k]; any_top4 += offs_seen[2 * P][k];
            any_left0 += offs_seen[k][0]; any_left4 += offs_seen[k][2 * P];
        }
        CHECK(any_top0 && any_top4 && any_left0 && any_left4);
        CHECK(flips >= 8 && flips <= 56);
    }
    /* deterministic: the same batch again; a sub-batch at pos 1 equals samples 1.. of the batch;
       another epoch differs */
    memcpy(first, x->data + C * H * W, sizeof first);
    b.pos = 1; b.count = 1;
    CHECK(tt_dataset_gather(&ctx, &ds, &b, &a, &x2, NULL, NULL) == TT_OK && memcmp(x2->data, first, sizeof first) == 0);
    b.pos = 0; b.count = N; b.epoch = 4;
    CHECK(tt_dataset_gather(&ctx, &ds, &b, &a, &x2, NULL, NULL) == TT_OK);
    CHECK(memcmp(x2->data, x->data, (size_t)N * C * H * W * sizeof(float)) != 0);
    /* noise only: mean ~ 0, std ~ noise_std over 64*40 values (sd of the mean 0.5/50 = 0.01) */
    {
        static unsigned char zero[N * C * H * W];
        double m = 0, v = 0;
        size_t k, n = (size_t)N * C * H * W;
        CHECK(tt_dataset_init(&ctx, &ds, &dd, zero, NULL) == TT_OK);
        a = tt_augment_init();
        a.noise_std = 0.5f; a.seed = 1;
        b.epoch = 0;
        CHECK(tt_dataset_gather(&ctx, &ds, &b, &a, &x, NULL, NULL) == TT_OK);
        for (k = 0; k < n; k++) m += x->data[k];
        m /= (double)n;
        for (k = 0; k < n; k++) v += (x->data[k] - m) * (x->data[k] - m);
        v = sqrt(v / (double)(n - 1));
        CHECK(fabs(m) < 0.06 && fabs(v - 0.5) < 0.05);
    }
    tt_ctx_free(&ctx);
}

int main(void) {
    RUN(test_gunzip_reference_files);
    RUN(test_gunzip_truncated);
    RUN(test_gunzip_corrupted);
    RUN(test_gunzip_errors);
    RUN(test_idx_read);
    RUN(test_idx_errors);
    RUN(test_idx_files);
    RUN(test_fashion_mnist_files);
    RUN(test_csv_basic);
    RUN(test_csv_variants);
    RUN(test_csv_errors);
    RUN(test_iterator);
    RUN(test_dataset_gather);
    RUN(test_augment);
    TEST_EXIT();
}
