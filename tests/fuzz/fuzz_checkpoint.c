/* libFuzzer harness for the checkpoint reader (tt_ckpt_load_mem): any bytes must give TT_OK or
   an error, never a crash, a read outside the buffer or a leak, and on error the model,
   optimizer, schedule, RNG and extra buffer must be exactly as before. The same bytes also go
   to the optimizer-state reader on its own (tt_optim_state_load): an error leaves the state as
   it was; a state it accepts is saved back to the same bytes.
   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_checkpoint.c -lm -lpthread */
#define TINYTRAIN_IMPLEMENTATION
#include "../../tinytrain.h"
#include <stdlib.h>

typedef struct fz {
    tt_ctx ctx;
    tt_tensor *bufs[1];
    tt_optim opt;
    tt_sched sched;
    int ready;
} fz;

static void fz_meta(void *user, const char *k, const char *v) {
    (void)user;
    if (strlen(k) + strlen(v) > (size_t)1 << 30) abort();  /* touch every byte: terminated strings */
}

static int fz_init(fz *f) {
    tt_desc d;
    tt_optim_desc od;
    int s1[2] = {3, 2}, s2[1] = {3}, s3[1] = {4};
    memset(&d, 0, sizeof d);
    d.max_params = 64; d.max_param_tensors = 4; d.persist_bytes = 1 << 16; d.scratch_bytes = 1 << 16;
    if (tt_ctx_init(&f->ctx, &d) != TT_OK) return 0;
    tt_init_uniform(&f->ctx, tt_param(&f->ctx, "fc.weight", 2, s1), -1, 1);
    tt_init_uniform(&f->ctx, tt_param(&f->ctx, "fc.bias", 1, s2), -1, 1);
    f->bufs[0] = tt_buffer(&f->ctx, "bn.running_mean", 1, s3);
    od = tt_optim_desc_init(TT_OPTIM_ADAMW);
    if (tt_optim_init(&f->ctx, &f->opt, &od) != TT_OK) return 0;
    {
        tt_sched_warmup_cosine_opts wo = tt_sched_warmup_cosine_opts_init(2, 10);
        wo.start_factor = 0.5;
        if (tt_sched_init_warmup_cosine(&f->ctx, &f->sched, 0.1, &wo) != TT_OK) return 0;
    }
    return 1;
}

/* With FUZZ_WRITE_SEED=<path>, writes a valid checkpoint of this model (a seed for the corpus). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *w = getenv("FUZZ_WRITE_SEED");
    (void)argc; (void)argv;
    if (w) {
        static fz f;
        static unsigned char ex[7] = {1, 2, 3, 4, 5, 6, 7};
        tt_meta_kv kv[1] = {{"k", "v"}};
        tt_ckpt ck = tt_ckpt_init();
        if (!fz_init(&f)) abort();
        ck.buffers = f.bufs; ck.n_buffers = 1; ck.optim = &f.opt; ck.sched = &f.sched; ck.step = 3;
        ck.meta = kv; ck.n_meta = 1; ck.extra = ex; ck.extra_bytes = sizeof ex;
        if (tt_ckpt_save(&f.ctx, &ck, w) != TT_OK) abort();
        {   /* and the optimizer state alone, as tt_optim_state_save writes it: <path>-optim */
            static unsigned char st[1 << 12];
            char p2[512];
            FILE *o;
            size_t sz = tt_optim_state_size(&f.opt);
            snprintf(p2, sizeof p2, "%s-optim", w);
            if (sz > sizeof st || tt_optim_state_save(&f.ctx, &f.opt, st, sz) != TT_OK || !(o = fopen(p2, "wb"))) abort();
            if (fwrite(st, 1, sz, o) != sz || fclose(o) != 0) abort();
        }
        tt_ctx_free(&f.ctx);
    }
    return 0;
}

/* CRCs stop random mutations at the first check; for half of the inputs, recompute them (header
   and every section the walk can find) so the fuzzer reaches the parsers behind them. */
static void fix_crcs(unsigned char *p, size_t n) {
    size_t pos = 32;
    if (n < 32) return;
    tt__put32(p + 28, tt_crc32(0, p, 28));
    while (n - pos >= 20) {
        uint64_t len = tt__get64(p + pos + 8), padded = (len + 3u) & ~(uint64_t)3u;
        if (len > n || padded + 20 > n - pos) return;
        tt__put32(p + pos + 16 + (size_t)padded, tt_crc32(0, p + pos, 16 + (size_t)padded));
        pos += 20 + (size_t)padded;
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    static fz f;
    static unsigned char before_p[64 * 4], before_b[16], before_o[1 << 12], ex[16], ex0[16];
    static tt_sched s0;
    static tt_rng r0;
    size_t n;
    tt_ckpt ck;
    unsigned char *copy;
    if (!f.ready) { if (!fz_init(&f)) abort(); f.ready = 1; }
    /* an exact-size heap copy, so ASan sees any read past the end */
    copy = (unsigned char *)malloc(size ? size : 1);
    if (size) memcpy(copy, data, size);
    if (size & 2) fix_crcs(copy, size);
    n = f.ctx.n_params * sizeof(float);
    memcpy(before_p, f.ctx.param_data, n);
    memcpy(before_b, f.bufs[0]->data, 16);
    tt_optim_state_save(&f.ctx, &f.opt, before_o, sizeof before_o);
    s0 = f.sched; r0 = f.ctx.rng;
    memset(ex, 0x5A, sizeof ex); memcpy(ex0, ex, sizeof ex);
    ck = tt_ckpt_init();
    ck.buffers = f.bufs; ck.n_buffers = 1; ck.optim = &f.opt; ck.sched = &f.sched;
    ck.extra = ex; ck.extra_cap = sizeof ex; ck.on_meta = fz_meta;
    ck.strict = (int)(size & 1);
    if (tt_ckpt_load_mem(&f.ctx, &ck, copy, size) != TT_OK) {
        static unsigned char after_o[1 << 12];
        if (ck.error == TT_IO_OK || !tt_error_message(&f.ctx)[0]) abort(); /* errors carry a detail and a message */
        tt_clear_error(&f.ctx); /* the optimizer's state is read only from a context without an error */
        tt_optim_state_save(&f.ctx, &f.opt, after_o, sizeof after_o);
        if (memcmp(before_p, f.ctx.param_data, n) || memcmp(before_b, f.bufs[0]->data, 16) ||
            memcmp(before_o, after_o, tt_optim_state_size(&f.opt)) || memcmp(&s0, &f.sched, sizeof s0) ||
            memcmp(&r0, &f.ctx.rng, sizeof r0) || memcmp(ex, ex0, sizeof ex))
            abort(); /* a failed load changed the model */
    }
    tt_clear_error(&f.ctx);
    {   /* the optimizer-state reader on the raw bytes */
        static unsigned char st0[1 << 12], st1[1 << 12];
        size_t sz = tt_optim_state_size(&f.opt);
        memcpy(copy, data, size); /* without the CRC fixes */
        if (sz > sizeof st0 || tt_optim_state_save(&f.ctx, &f.opt, st0, sz) != TT_OK) abort();
        if (tt_optim_state_load(&f.ctx, &f.opt, copy, size) != TT_OK) {
            if (!tt_error_message(&f.ctx)[0]) abort();
            tt_clear_error(&f.ctx);
            if (tt_optim_state_save(&f.ctx, &f.opt, st1, sz) != TT_OK || memcmp(st0, st1, sz)) abort(); /* changed on error */
        } else {
            if (size < sz || tt_optim_state_save(&f.ctx, &f.opt, st1, sz) != TT_OK || memcmp(copy, st1, sz)) abort(); /* not the same bytes */
            if (tt_optim_state_load(&f.ctx, &f.opt, st0, sz) != TT_OK) abort();   /* back to where it was */
        }
        tt_clear_error(&f.ctx);
    }
    free(copy);
    return 0;
}
