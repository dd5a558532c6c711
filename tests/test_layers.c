/* Layers against PyTorch (tests/ref/gen_layers.py -> tests/ref/layers_ref.h): state_dict names
   (torch's weights load with strict names), forward outputs for given weights, and the default
   initialisation of every layer and of the init functions (sample statistics against torch's). */
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"
#include "ref/layers_ref.h"

static float f32(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }

typedef struct model {
    tt_ctx ctx;
    tt_nn nn;
    tt_nn_linear lin;
    tt_nn_conv conv1, conv2;
    tt_nn_batchnorm bn1, bn2;
    tt_nn_norm ln, gn, rms;
    tt_nn_embedding emb;
    tt_nn_rnn lstm, gru;
    tt_nn_attention attn;
    tt_nn_block block;
} model;

static int model_init(model *m) {
    tt_desc d = {0};
    tt_conv_opts c1, c2;
    memset(m, 0, sizeof *m);
    d.max_params = 1 << 16;
    d.scratch_bytes = 1 << 22;
    d.persist_bytes = 1 << 20;
    if (tt_ctx_init(&m->ctx, &d) != TT_OK) return 0;
    tt_nn_init(&m->nn, &m->ctx);
    c1 = tt_conv_opts_init(); c1.stride[0] = 2; c1.padding[0] = 1;
    c2 = tt_conv_opts_init(); c2.padding[0] = 1; c2.groups = 2;
    tt_nn_linear_init(&m->nn, &m->lin, "lin", 5, 7, 1);
    tt_nn_conv1d_init(&m->nn, &m->conv1, "conv1", 3, 4, 3, &c1, 1);
    tt_nn_conv2d_init(&m->nn, &m->conv2, "conv2", 2, 4, 3, 2, &c2, 1);
    tt_nn_batchnorm_init(&m->nn, &m->bn1, "bn1", 4);
    tt_nn_batchnorm_init(&m->nn, &m->bn2, "bn2", 3);
    tt_nn_layernorm_init(&m->nn, &m->ln, "ln", 6);
    tt_nn_groupnorm_init(&m->nn, &m->gn, "gn", 2, 4);
    tt_nn_rmsnorm_init(&m->nn, &m->rms, "rms", 6);
    tt_nn_embedding_init(&m->nn, &m->emb, "emb", 10, 4);
    tt_nn_lstm_init(&m->nn, &m->lstm, "lstm", 3, 5, 1);
    tt_nn_gru_init(&m->nn, &m->gru, "gru", 3, 5, 1);
    tt_nn_attention_init(&m->nn, &m->attn, "attn", 8, 2);
    tt_nn_block_init(&m->nn, &m->block, tt_nn_name_index(&m->nn, "blocks", 0), 8, 2);
    return tt_error(&m->ctx) == TT_OK;
}

static tt_tensor *input(tt_ctx *ctx, const uint32_t *bits, int ndim, const int *shape) {
    float buf[256];
    size_t n = tt_shape_numel(ndim, shape), i;
    for (i = 0; i < n; i++) buf[i] = f32(bits[i]);
    return tt_tensor_from(ctx, ndim, shape, buf);
}

/* 1e-5 absolute + 1e-4 relative: float32 formulas of the same definition; torch and tinytrain sum
   dot products, means and variances in different orders (and the block stacks ~6 of them), a
   few ulps each. */
static void check_out(const char *what, const tt_tensor *y, const uint32_t *want, size_t n) {
    size_t i;
    int bad = 0;
    if (!y) { CHECK_MSG(0, "%s: no output", what); return; }
    CHECK_MSG(y->numel == n, "%s: %zu values, expected %zu", what, y->numel, n);
    for (i = 0; i < n && i < y->numel && bad < 3; i++) {
        double a = y->data[i], b = f32(want[i]);
        if (!(fabs(a - b) <= 1e-5 + 1e-4 * fabs(b))) { CHECK_MSG(0, "%s[%zu] = %.9g, torch %.9g", what, i, a, b); bad++; }
    }
}
#define OUT(what, y, arr) check_out(what, y, arr, sizeof arr / sizeof arr[0])

static void test_names_and_forward(void) {
    static model m;
    tt_ctx *c;
    tt_safetensors_opts o;
    CHECK(model_init(&m));
    c = &m.ctx;
    /* torch's state_dict, strict: every name of each side is on the other */
    o = tt_safetensors_opts_init();
    o.buffers = m.nn.buffers; o.n_buffers = m.nn.n_buffers;
    CHECK_MSG(tt_safetensors_load_mem(c, &o, layers_ref_weights, sizeof layers_ref_weights) == TT_OK, "%s", tt_error_message(c));
    CHECK(strcmp(m.block.attn.qkv.weight->name, "blocks.0.attn.qkv.weight") == 0);
    CHECK(strcmp(m.block.proj.bias->name, "blocks.0.mlp.proj.bias") == 0);
    CHECK(m.bn2.num_batches_tracked->data[0] == 4.0f);
    tt_set_training(c, 0);
    {
        int s[4];
        s[0] = 3; s[1] = 5;
        OUT("linear", tt_nn_linear_forward(c, &m.lin, input(c, layers_ref_x_lin, 2, s)), layers_ref_out_lin);
        s[0] = 2; s[1] = 3; s[2] = 7;
        OUT("conv1d", tt_nn_conv_forward(c, &m.conv1, input(c, layers_ref_x_conv1, 3, s)), layers_ref_out_conv1);
        s[0] = 1; s[1] = 2; s[2] = 4; s[3] = 3;
        OUT("conv2d", tt_nn_conv_forward(c, &m.conv2, input(c, layers_ref_x_conv2, 4, s)), layers_ref_out_conv2);
        s[0] = 2; s[1] = 3; s[2] = 4; s[3] = 4;
        OUT("batchnorm2d eval", tt_nn_batchnorm_forward(c, &m.bn2, input(c, layers_ref_x_bn2, 4, s)), layers_ref_out_bn2);
        s[0] = 3; s[1] = 6;
        OUT("layernorm", tt_nn_norm_forward(c, &m.ln, input(c, layers_ref_x_ln, 2, s)), layers_ref_out_ln);
        OUT("rmsnorm", tt_nn_norm_forward(c, &m.rms, input(c, layers_ref_x_rms, 2, s)), layers_ref_out_rms);
        s[0] = 2; s[1] = 4; s[2] = 3;
        OUT("groupnorm", tt_nn_norm_forward(c, &m.gn, input(c, layers_ref_x_gn, 3, s)), layers_ref_out_gn);
        {
            int ids[6] = {1, 9, 0, 3, 3, 7}, is[2] = {2, 3};
            OUT("embedding", tt_nn_embedding_forward(c, &m.emb, 2, is, 6, ids), layers_ref_out_emb);
        }
        {
            tt_tensor *h = NULL, *cc = NULL;
            s[0] = 4; s[1] = 2; s[2] = 3;
            OUT("lstm", tt_nn_rnn_forward(c, &m.lstm, input(c, layers_ref_x_lstm, 3, s), NULL, NULL, &h, &cc), layers_ref_out_lstm);
            OUT("lstm h_n", h, layers_ref_out_lstm_h);
            OUT("lstm c_n", cc, layers_ref_out_lstm_c);
            OUT("gru", tt_nn_rnn_forward(c, &m.gru, input(c, layers_ref_x_gru, 3, s), NULL, NULL, &h, NULL), layers_ref_out_gru);
            OUT("gru h_n", h, layers_ref_out_gru_h);
        }
        s[0] = 2; s[1] = 5; s[2] = 8;
        OUT("causal self-attention", tt_nn_attention_forward(c, &m.attn, input(c, layers_ref_x_attn, 3, s)), layers_ref_out_attn);
        OUT("transformer block", tt_nn_block_forward(c, &m.block, input(c, layers_ref_x_blocks_0, 3, s)), layers_ref_out_blocks_0);
        /* batchnorm in training mode: batch statistics, running statistics updated */
        tt_set_training(c, 1);
        s[0] = 6; s[1] = 4;
        OUT("batchnorm1d train", tt_nn_batchnorm_forward(c, &m.bn1, input(c, layers_ref_x_bn1, 2, s)), layers_ref_out_bn1);
        OUT("batchnorm1d running_mean", m.bn1.running_mean, layers_ref_out_bn1_rm);
        OUT("batchnorm1d running_var", m.bn1.running_var, layers_ref_out_bn1_rv);
        CHECK(m.bn1.num_batches_tracked->data[0] == 1.0f);
    }
    CHECK_MSG(tt_error(c) == TT_OK, "%s", tt_error_message(c));
    /* a gradient flows through every layer of the block */
    {
        int s[3] = {2, 5, 8};
        tt_tensor *y;
        tt_scratch_reset(c);
        y = tt_nn_block_forward(c, &m.block, input(c, layers_ref_x_blocks_0, 3, s));
        tt_zero_grad(c);
        CHECK(tt_backward(c, tt_sum(c, tt_mul(c, y, y))) == TT_OK);
        CHECK(m.block.attn.qkv.weight->grad[0] != 0 && m.block.ln1.weight->grad[0] != 0);
    }
    tt_ctx_free(c);
}

/* ---- default initialisation against torch's sample statistics ---- */

static const layers_ref_stat *ref_stat(const char *name) {
    size_t i;
    for (i = 0; i < sizeof layers_ref_stats / sizeof layers_ref_stats[0]; i++)
        if (strcmp(layers_ref_stats[i].name, name) == 0) return &layers_ref_stats[i];
    return NULL;
}

/* Samples of n >= 4096: the standard deviations of two samples of the same distribution differ by
   less than 5% (about 3 standard errors at n = 4096, much more for larger n), their means by
   less than 5 std * sqrt(2 / n). Uniform distributions: both extremes lie within 1% of the
   range of torch's (the sample extremes of 4096+ uniform values are within 0.1% of the bound).
   A wrong bound (fan_out for fan_in, a missing sqrt(3) or gain) moves the std by 29% or more. */
static void check_stat(const char *name, const tt_tensor *t, int uniform) {
    const layers_ref_stat *r = ref_stat(name);
    double mn = 1e30, mx = -1e30, s = 0, ss = 0, mean, sd, n = (double)t->numel;
    size_t i;
    if (!r || !t) { CHECK_MSG(0, "no reference or no tensor for %s", name); return; }
    for (i = 0; i < t->numel; i++) {
        double v = t->data[i];
        mn = v < mn ? v : mn; mx = v > mx ? v : mx;
        s += v;
    }
    mean = s / n;
    for (i = 0; i < t->numel; i++) ss += (t->data[i] - mean) * (t->data[i] - mean);
    sd = sqrt(ss / (n - 1));
    CHECK_MSG(fabs(sd - r->std) <= 0.05 * r->std, "%s: std %.6g, torch %.6g", name, sd, r->std);
    CHECK_MSG(fabs(mean - r->mean) <= 5 * r->std * sqrt(2.0 / n), "%s: mean %.6g, torch %.6g", name, mean, r->mean);
    if (uniform) {
        double range = r->max - r->min;
        CHECK_MSG(fabs(mn - r->min) <= 0.01 * range && fabs(mx - r->max) <= 0.01 * range, "%s: [%.6g, %.6g], torch [%.6g, %.6g]",
                  name, mn, mx, r->min, r->max);
    }
}

static void test_default_init(void) {
    static tt_ctx ctx;
    static tt_nn nn;
    tt_desc d = {0};
    tt_nn_linear l1, l2;
    tt_nn_conv c2, c1;
    tt_nn_embedding e;
    tt_nn_rnn lstm, gru;
    tt_nn_batchnorm bn;
    tt_nn_norm ln, rms;
    tt_conv_opts g2;
    size_t i;
    d.max_params = 1 << 23;
    d.seed = 12345;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    tt_nn_init(&nn, &ctx);
    g2 = tt_conv_opts_init(); g2.groups = 2;
    CHECK(tt_nn_linear_init(&nn, &l1, "a", 256, 128, 1) == TT_OK);
    CHECK(tt_nn_linear_init(&nn, &l2, "b", 256, 4096, 1) == TT_OK);
    CHECK(tt_nn_conv2d_init(&nn, &c2, "c", 16, 32, 3, 3, NULL, 1) == TT_OK);
    CHECK(tt_nn_conv1d_init(&nn, &c1, "d", 8, 64, 5, &g2, 1) == TT_OK);
    CHECK(tt_nn_embedding_init(&nn, &e, "e", 512, 64) == TT_OK);
    CHECK(tt_nn_lstm_init(&nn, &lstm, "f", 64, 128, 1) == TT_OK);
    CHECK(tt_nn_gru_init(&nn, &gru, "g", 16, 1400, 1) == TT_OK);
    CHECK(tt_nn_batchnorm_init(&nn, &bn, "h", 16) == TT_OK);
    CHECK(tt_nn_layernorm_init(&nn, &ln, "i", 16) == TT_OK);
    CHECK(tt_nn_rmsnorm_init(&nn, &rms, "j", 16) == TT_OK);
    check_stat("linear_weight", l1.weight, 1);
    check_stat("linear_bias", l2.bias, 1);
    check_stat("conv2d_weight", c2.weight, 1);
    check_stat("conv1d_weight", c1.weight, 1);
    check_stat("embedding_weight", e.weight, 0);
    check_stat("lstm_weight_hh", lstm.weight_hh, 1);
    check_stat("gru_bias_ih", gru.bias_ih, 1);
    for (i = 0; i < 16; i++) {
        CHECK(bn.weight->data[i] == 1 && bn.bias->data[i] == 0 && bn.running_mean->data[i] == 0 && bn.running_var->data[i] == 1);
        CHECK(ln.weight->data[i] == 1 && ln.bias->data[i] == 0 && rms.weight->data[i] == 1);
    }
    CHECK(bn.num_batches_tracked->data[0] == 0 && nn.n_buffers == 3 && rms.bias == NULL);
    CHECK(rms.eps == FLT_EPSILON && ln.eps == 1e-5f && bn.eps == 1e-5f && bn.momentum == 0.1f);
    tt_ctx_free(&ctx);
}

static void test_init_functions(void) {
    static tt_ctx ctx;
    tt_desc d = {0};
    int s1[2] = {256, 128}, s2[3] = {128, 64, 2}, s3[2] = {128, 256}, s4[2] = {64, 256};
    tt_tensor *a, *b, *c, *o, *t;
    size_t i, j, k;
    double worst = 0;
    tt_kaiming_opts ko;
    d.max_params = 1 << 20;
    d.seed = 99;
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    a = tt_param(&ctx, "a", 2, s1); b = tt_param(&ctx, "b", 3, s2); c = tt_param(&ctx, "c", 2, s3);
    o = tt_param(&ctx, "o", 2, s4); t = tt_param(&ctx, "t", 2, s1);
    CHECK(tt_init_xavier_normal(&ctx, a, 1.5) == TT_OK);
    check_stat("xavier_normal", a, 0);
    ko = tt_kaiming_opts_init();
    ko.nonlinearity = TT_NONLIN_RELU;
    CHECK(tt_init_kaiming_uniform(&ctx, b, &ko) == TT_OK);
    check_stat("kaiming_uniform", b, 1);
    ko.a = 0.2;
    ko.mode = TT_FAN_OUT;
    ko.nonlinearity = TT_NONLIN_LEAKY_RELU;
    CHECK(tt_init_kaiming_uniform(&ctx, c, &ko) == TT_OK);
    check_stat("kaiming_uniform_out", c, 1);
    CHECK(tt_init_orthogonal(&ctx, o, 2.0) == TT_OK);
    check_stat("orthogonal", o, 0);
    /* rows orthogonal with norm 2: W W^T = 4 I */
    for (i = 0; i < 64; i++)
        for (j = 0; j < 64; j++) {
            double dot = 0;
            for (k = 0; k < 256; k++) dot += (double)o->data[i * 256 + k] * o->data[j * 256 + k];
            dot -= i == j ? 4.0 : 0.0;
            worst = fabs(dot) > worst ? fabs(dot) : worst;
        }
    CHECK_MSG(worst < 1e-5, "W W^T - 4I: %g", worst);
    CHECK(tt_init_trunc_normal(&ctx, t, 0.5, 1.0, -1.0, 2.0) == TT_OK);
    check_stat("trunc_normal", t, 1);
    CHECK_CLOSE(tt_calculate_gain(TT_NONLIN_TANH, 0), 5.0 / 3.0, 1e-15, 0);
    CHECK_CLOSE(tt_calculate_gain(TT_NONLIN_LEAKY_RELU, 0.01), sqrt(2.0 / 1.0001), 1e-15, 0);
    /* tt__erfinv (used by trunc_normal) is checked in tests/test_core.c */
    /* errors */
    {
        int s[1] = {4};
        tt_tensor *v = tt_param(&ctx, "v", 1, s);
        CHECK(tt_init_xavier_normal(&ctx, v, 1) == TT_ERR_SHAPE);
        tt_clear_error(&ctx);
        CHECK(tt_init_trunc_normal(&ctx, v, 0, 1, 2, -2) == TT_ERR_INVALID_ARGS);
        tt_clear_error(&ctx);
    }
    tt_ctx_free(&ctx);
}

static void test_layer_errors(void) {
    static tt_ctx ctx;
    tt_nn nn;
    tt_nn_attention at;
    tt_nn_rnn r;
    tt_desc d = {0};
    int s[3] = {2, 3, 7};
    CHECK(tt_ctx_init(&ctx, &d) == TT_OK);
    tt_nn_init(&nn, &ctx);
    CHECK(tt_nn_attention_init(&nn, &at, "x", 10, 3) == TT_ERR_INVALID_ARGS);
    tt_clear_error(&ctx);
    CHECK(tt_nn_lstm_init(&nn, &r, "r", 3, 4, 1) == TT_OK);
    CHECK(tt_nn_rnn_forward(&ctx, &r, tt_tensor_new(&ctx, 3, s), NULL, NULL, NULL, NULL) == NULL);
    CHECK(tt_error(&ctx) == TT_ERR_SHAPE);
    tt_ctx_free(&ctx);
}

int main(void) {
    RUN(test_names_and_forward);
    RUN(test_default_init);
    RUN(test_init_functions);
    RUN(test_layer_errors);
    TEST_EXIT();
}
