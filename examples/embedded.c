/* embedded: training on a device without an operating system.

   A 2-16-1 MLP learns XOR-like data from one static buffer: no malloc (the allocator macros
   are stubs that always fail, so a hidden allocation would be caught), no stdio (TT_NO_STDIO),
   no threads. After training it saves a checkpoint into a static byte buffer (where a device
   would write it to flash), clobbers the weights, restores them from the buffer and checks the
   predictions. The exit status says how it went (0 = trained and restored).

   Host:       make build/embedded && ./build/embedded; echo $?
   Cortex-M4:  make embedded-m4   (arm-none-eabi-gcc -mcpu=cortex-m4 -mfloat-abi=hard
               -mfpu=fpv4-sp-d16, newlib nosys stubs; prints the code and data size) */
#define TT_NO_STDIO
#define TT_NO_THREADS
#define TT_MALLOC(sz) ((void)(sz), (void *)0)
#define TT_FREE(p) ((void)(p))
#define TINYTRAIN_IMPLEMENTATION
#include "tinytrain.h"

static unsigned char arena[112 * 1024] __attribute__((aligned(64)));
static unsigned char flash[2048];  /* stands in for a flash page */

static const float xs[8][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}, {0.1f, 0.9f}, {0.9f, 0.1f}, {0.9f, 0.9f}, {0.1f, 0.1f}};
static const float ys[8] = {0, 1, 1, 0, 1, 1, 0, 0};

static int correct(tt_ctx *ctx, tt_tensor *w1, tt_tensor *b1, tt_tensor *w2, tt_tensor *b2) {
    int xshape[2] = {8, 2}, i, ok = 0;
    tt_tensor *p;
    tt_scratch_reset(ctx);
    p = tt_sigmoid(ctx, tt_linear(ctx, tt_tanh(ctx, tt_linear(ctx, tt_tensor_from(ctx, 2, xshape, &xs[0][0]), w1, b1)), w2, b2));
    if (!p) return -1;
    for (i = 0; i < 8; i++) ok += (p->data[i] > 0.5f) == (ys[i] > 0.5f);
    return ok;
}

int main(void) {
    tt_desc d;
    tt_ctx ctx;
    tt_optim opt;
    tt_optim_desc od;
    tt_ckpt ck;
    size_t need = 0, used = 0;
    int s1[2] = {16, 2}, s2[1] = {16}, s3[2] = {1, 16}, s4[1] = {1}, xshape[2] = {8, 2}, yshape[2] = {8, 1}, step;
    tt_tensor *w1, *b1, *w2, *b2;
    float first = 0, last = 0;
    memset(&d, 0, sizeof d);
    d.max_params = 128;
    d.max_param_tensors = 4;
    d.persist_bytes = 4096;
    d.scratch_bytes = 32 * 1024;
    d.small_matmul_workspace = 1;
    d.seed = 3;
    if (tt_ctx_memory_size(&d, &need) != TT_OK || need > sizeof arena) return 1;
    d.memory = arena;
    d.memory_bytes = sizeof arena;
    if (tt_ctx_init(&ctx, &d) != TT_OK) return 2;
    w1 = tt_param(&ctx, "fc1.weight", 2, s1);
    b1 = tt_param(&ctx, "fc1.bias", 1, s2);
    w2 = tt_param(&ctx, "fc2.weight", 2, s3);
    b2 = tt_param(&ctx, "fc2.bias", 1, s4);
    tt_init_torch_default(&ctx, w1, b1);
    tt_init_torch_default(&ctx, w2, b2);
    od = tt_optim_desc_init(TT_OPTIM_ADAM);
    od.hp.lr = 0.05;
    if (tt_optim_init(&ctx, &opt, &od) != TT_OK) return 3;
    for (step = 0; step < 300; step++) {
        tt_tensor *x, *y, *loss;
        tt_scratch_reset(&ctx);
        x = tt_tensor_from(&ctx, 2, xshape, &xs[0][0]);
        y = tt_tensor_from(&ctx, 2, yshape, ys);
        loss = tt_bce_with_logits_loss(&ctx, tt_linear(&ctx, tt_tanh(&ctx, tt_linear(&ctx, x, w1, b1)), w2, b2), y, NULL, NULL,
                                       TT_REDUCTION_MEAN);
        tt_zero_grad(&ctx);
        if (tt_backward(&ctx, loss) != TT_OK || tt_optim_step(&ctx, &opt) != TT_OK) return 4;
        if (step == 0) first = loss->data[0];
        last = loss->data[0];
    }
    if (!(last < 0.1f * first) || correct(&ctx, w1, b1, w2, b2) != 8) return 5;
    /* save to "flash", wreck the model, restore */
    ck = tt_ckpt_init();
    ck.optim = &opt;
    ck.step = 300;
    if (tt_ckpt_save_mem(&ctx, &ck, flash, sizeof flash, &used) != TT_OK) return 6;
    tt_init_const(&ctx, w1, 0.0f);
    tt_init_const(&ctx, w2, 0.0f);
    if (tt_ckpt_load_mem(&ctx, &ck, flash, used) != TT_OK || ck.step != 300) return 7;
    if (correct(&ctx, w1, b1, w2, b2) != 8) return 8;
    /* a corrupted page is refused and changes nothing */
    flash[used / 2] ^= 0x40;
    if (tt_ckpt_load_mem(&ctx, &ck, flash, used) != TT_ERR_FORMAT || ck.error != TT_IO_BAD_CRC) return 9;
    if (correct(&ctx, w1, b1, w2, b2) != 8) return 10;
    tt_ctx_free(&ctx);
    return 0;
}
