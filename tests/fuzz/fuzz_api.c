/* libFuzzer harness for the public API: random sequences of calls on two contexts.
     clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_api.c -o build/fuzz_api -lm -lpthread
     ./build/fuzz_api -max_total_time=120 tests/fuzz/corpus/api
   The input picks the arena sizes, thread count (1-2) and matmul workspace of two contexts, then
   a sequence of calls: tensor creation with random shapes (zero-size and oversized dims
   included) and values (NaN, +-inf, denormals, +-1e30), ops with random arguments and indices,
   backward, tt_zero_grad, tt_scratch_reset, mark / rewind, anomaly and grad modes, optimizers
   (initialised on one context, stepped with either). Tensors kept across a reset or rewind, and
   tensors and optimizers of the other context, are passed on purpose.
   Invariants checked after every call (a violation aborts, which libFuzzer reports):
     - a returned tensor belongs to the context and its numel matches its shape;
     - a NULL result or failing call leaves an error set (tt_error != TT_OK) with a message;
     - a failing call changes no live tensor (data or grad), parameter or parameter gradient
       (tt_backward: parameters and their gradients);
     - a tensor from an earlier step or from the other context is refused with TT_ERR_STATE. */
#define TINYTRAIN_IMPLEMENTATION
#include "../../tinytrain.h"
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <stdio.h>

static int g_op; /* the call being checked, for the report */

typedef struct {
    const uint8_t *p;
    size_t n;
} rd;

static unsigned u8(rd *r) {
    if (!r->n) return 0;
    r->n--;
    return *r->p++;
}
static int pick(rd *r, int n) { return n <= 0 ? 0 : (int)(u8(r) % (unsigned)n); }
static int chance(rd *r, int n) { return pick(r, n) == 0; } /* 1 in n */

static float fval(rd *r) {
    static const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 2.0f, 1e30f, -1e30f, 1e-40f, -1e-40f,
                                    3.4e38f, 1e-30f, 0.0f, 0.0f, 0.0f, 0.0f};
    unsigned v = u8(r);
    if (v < 16) return special[v];
    if (v == 16) return NAN;
    if (v == 17) return INFINITY;
    if (v == 18) return -INFINITY;
    return ((float)v - 137.0f) / 16.0f;
}

/* a dimension: mostly small, sometimes 0, rarely huge */
static int dimv(rd *r) {
    unsigned v = u8(r);
    if (v < 200) return (int)(v % 5);
    if (v < 250) return (int)(v % 9);
    if (v < 253) return 0;
    if (v == 253) return 1 << 20;
    if (v == 254) return 0x7fffffff;
    return -1;
}

#define MAXT 48
typedef struct {
    tt_tensor *t;
    int c;          /* context index */
    unsigned step;  /* harness's count of resets of that context when made */
    int persist;    /* parameter or buffer: never stale */
    int dead;       /* freed by a rewind */
} ent;

typedef struct {
    tt_ctx ctx[2];
    unsigned step[2];
    ent e[MAXT];
    int n;
    tt_optim opt[2];
    int opt_ok[2];
    size_t marks[2][8];  /* tt_scratch_mark values of the current step, increasing */
    int n_marks[2];
} world;

static void die(const char *why, const tt_ctx *c) {
    fprintf(stderr, "fuzz_api: invariant broken after call %d: %s (error %d: %s)\n", g_op, why,
            c ? (int)tt_error(c) : 0, c ? tt_error_message(c) : "");
    __builtin_trap();
}

static int stale(const world *w, const ent *e) { return !e->persist && (e->dead || e->step != w->step[e->c]); }

static void add(world *w, tt_tensor *t, int c, int persist) {
    ent *e;
    if (!t) return;
    if (t->owner != &w->ctx[c]) die("result owned by another context", &w->ctx[c]);
    if (t->ndim < 0 || t->ndim > TT_MAX_DIMS) die("bad ndim", &w->ctx[c]);
    if (t->numel != tt_shape_numel(t->ndim, t->shape)) die("numel does not match shape", &w->ctx[c]);
    if (w->n < MAXT) e = &w->e[w->n++];
    else {
        e = &w->e[(size_t)(t->numel + (uintptr_t)t / 64) % MAXT];
        if (e->persist) return; /* keep parameters */
    }
    e->t = t; e->c = c; e->step = w->step[c]; e->persist = persist; e->dead = 0;
}

static uint64_t mix(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static uint64_t g_eh[2][MAXT + 2]; /* per-entry hashes of the last two state_hash calls (report) */
static int g_which;

/* hash of every live tensor (data and grad) and of both contexts' parameters */
static uint64_t state_hash(const world *w, int grads_of_scratch) {
    uint64_t h = 1469598103934665603ull;
    int i;
    for (i = 0; i < 2; i++) {
        const tt_ctx *c = &w->ctx[i];
        h = mix(h, c->param_data, c->n_params * sizeof(float));
        h = mix(h, c->param_grad, c->n_params * sizeof(float));
        g_eh[g_which][MAXT + i] = h;
    }
    for (i = 0; i < w->n; i++) {
        const ent *e = &w->e[i];
        if (stale(w, e) || e->persist) continue;
        h = mix(h, e->t->data, e->t->numel * sizeof(float));
        if (grads_of_scratch && e->t->grad) h = mix(h, e->t->grad, e->t->numel * sizeof(float));
        g_eh[g_which][i] = h;
    }
    return h;
}

/* a tensor for an op: usually a live one of context c, sometimes stale or foreign, rarely NULL */
static ent *arg(world *w, rd *r, int c) {
    int i, tries;
    if (!w->n || chance(r, 40)) return NULL;
    if (chance(r, 6)) return &w->e[pick(r, w->n)]; /* anything: stale / other context included */
    for (tries = 0; tries < 4; tries++) {
        i = pick(r, w->n);
        if (w->e[i].c == c && !stale(w, &w->e[i])) return &w->e[i];
    }
    return &w->e[pick(r, w->n)];
}

static tt_tensor *T(ent *e) { return e ? e->t : NULL; }

/* Would the library have to refuse this argument? (a stale pointer that happens to name a header
   made in the current step is legitimately that tensor: tt__live decides, see >>tensor) */
static int must_refuse(const world *w, const ent *e, int c) {
    if (!e) return 0;
    if (e->c != c) return 1;
    return stale(w, e) && !tt__live(&w->ctx[c], e->t);
}

static void new_shape(rd *r, int *nd, int *s) {
    int i;
    *nd = pick(r, 5);
    for (i = 0; i < *nd; i++) s[i] = dimv(r);
}

static tt_tensor *make(world *w, rd *r, int c) {
    int nd, s[TT_MAX_DIMS], i;
    float buf[64];
    tt_ctx *ctx = &w->ctx[c];
    new_shape(r, &nd, s);
    switch (pick(r, 4)) {
    case 0: return tt_tensor_new(ctx, nd, s);
    case 1: {
        size_t n = tt_shape_numel(nd, s);
        for (i = 0; i < 64; i++) buf[i] = fval(r);
        if (n > 64) return tt_tensor_full(ctx, nd, s, buf[0]);
        return tt_tensor_from(ctx, nd, s, buf);
    }
    case 2: return tt_tensor_rand(ctx, nd, s, fval(r), fval(r));
    default: return tt_scalar(ctx, fval(r));
    }
}

static void check_after(world *w, int c, int failed, uint64_t before, int grads_of_scratch, int refuse) {
    tt_ctx *ctx = &w->ctx[c];
    if (failed) {
        if (tt_error(ctx) == TT_OK || !tt_error_message(ctx)[0]) die("failure without an error", ctx);
        g_which = 1;
        if (state_hash(w, grads_of_scratch) != before) {
            int i;
            for (i = 0; i < MAXT + 2; i++)
                if (g_eh[0][i] != g_eh[1][i]) {
                    if (i < w->n)
                        fprintf(stderr, "entry %d (ctx %d, %p, shape ndim %d numel %zu) changed\n", i, w->e[i].c,
                                (void *)w->e[i].t, w->e[i].t->ndim, w->e[i].t->numel);
                    else fprintf(stderr, "hash slot %d changed\n", i);
                    break;
                }
            die("a failing call changed live data", ctx);
        }
        g_which = 0;
    }
    if (refuse && !failed) die("stale or foreign argument accepted", ctx);
}

static void run(world *w, rd *r) {
    int c = pick(r, 2), op = pick(r, 40), had_err;
    tt_ctx *ctx = &w->ctx[c];
    ent *a = arg(w, r, c), *b = arg(w, r, c);
    tt_tensor *y = NULL;
    uint64_t before, before0;
    int failed = 0, refuse = 0, grads = 1, produced = 0, ret = 0, single;
    tt_result res = TT_OK;
    if (chance(r, 3)) tt_clear_error(ctx);
    had_err = tt_error(ctx) != TT_OK;
    before0 = state_hash(w, 0);
    before = state_hash(w, 1);
    g_op = op;
    if (getenv("FUZZ_API_TRACE")) {
        int i;
        fprintf(stderr, "start %d ctx %d", op, c);
        if (a && !must_refuse(w, a, c)) for (i = 0, fprintf(stderr, " a"); i < a->t->ndim; i++) fprintf(stderr, " %d", a->t->shape[i]);
        if (b && !must_refuse(w, b, c)) for (i = 0, fprintf(stderr, " b"); i < b->t->ndim; i++) fprintf(stderr, " %d", b->t->shape[i]);
        fprintf(stderr, "\n");
    }
    single = (op >= 7 && op <= 16) || op == 21 || op == 22 || op == 23 || op == 24 || op == 26 || op == 27 ||
             op == 28 || op == 37;
    switch (op) {
    case 0: case 1: case 2: y = make(w, r, c); produced = 1; break;
    case 3: refuse = must_refuse(w, a, c); y = tt_add(ctx, T(a), T(b)); refuse |= must_refuse(w, b, c); produced = 2; break;
    case 4: refuse = must_refuse(w, a, c) || must_refuse(w, b, c); y = tt_mul(ctx, T(a), T(b)); produced = 2; break;
    case 5: refuse = must_refuse(w, a, c) || must_refuse(w, b, c); y = tt_div(ctx, T(a), T(b)); produced = 2; break;
    case 6: refuse = must_refuse(w, a, c) || must_refuse(w, b, c); y = tt_matmul(ctx, T(a), T(b)); produced = 2; break;
    case 7: refuse = must_refuse(w, a, c); y = tt_relu(ctx, T(a)); produced = 2; break;
    case 8: refuse = must_refuse(w, a, c); y = tt_exp(ctx, T(a)); produced = 2; break;
    case 9: refuse = must_refuse(w, a, c); y = tt_log(ctx, T(a)); produced = 2; break;
    case 10: refuse = must_refuse(w, a, c); y = tt_sum(ctx, T(a)); produced = 2; break;
    case 11: refuse = must_refuse(w, a, c); y = tt_mean_axis(ctx, T(a), pick(r, 7) - 3, pick(r, 2)); produced = 2; break;
    case 12: refuse = must_refuse(w, a, c); y = tt_softmax(ctx, T(a), pick(r, 7) - 3); produced = 2; break;
    case 13: refuse = must_refuse(w, a, c); y = tt_max_axis(ctx, T(a), pick(r, 7) - 3, pick(r, 2)); produced = 2; break;
    case 14: {
        int nd, s[TT_MAX_DIMS];
        new_shape(r, &nd, s);
        if (nd && chance(r, 2)) s[pick(r, nd)] = -1;
        refuse = must_refuse(w, a, c);
        y = tt_reshape(ctx, T(a), nd, s);
        produced = 2;
        break;
    }
    case 15: refuse = must_refuse(w, a, c); y = tt_transpose(ctx, T(a), pick(r, 7) - 3, pick(r, 7) - 3); produced = 2; break;
    case 16: refuse = must_refuse(w, a, c); y = tt_slice(ctx, T(a), pick(r, 5) - 2, pick(r, 9) - 4, pick(r, 9) - 4, pick(r, 4) - 1); produced = 2; break;
    case 17: {
        tt_tensor *xs[2];
        xs[0] = T(a); xs[1] = T(b);
        refuse = must_refuse(w, a, c) || must_refuse(w, b, c);
        y = pick(r, 2) ? tt_concat(ctx, 2, xs, pick(r, 5) - 2) : tt_stack(ctx, 2, xs, pick(r, 5) - 2);
        produced = 2;
        break;
    }
    case 18: refuse = must_refuse(w, a, c) || must_refuse(w, b, c); y = tt_linear(ctx, T(a), T(b), NULL); produced = 2; break;
    case 19: refuse = must_refuse(w, a, c) || must_refuse(w, b, c); y = tt_mse_loss(ctx, T(a), T(b), (tt_reduction)pick(r, 4)); produced = 2; break;
    case 20: {
        tt_conv_opts o;
        memset(&o, 0, sizeof o);
        o.stride[0] = pick(r, 3); o.stride[1] = pick(r, 3);
        o.padding[0] = chance(r, 8) ? 0x7fffffff : pick(r, 3); o.padding[1] = pick(r, 3);
        o.dilation[0] = pick(r, 3); o.groups = pick(r, 3);
        refuse = must_refuse(w, a, c) || must_refuse(w, b, c);
        y = pick(r, 2) ? tt_conv2d(ctx, T(a), T(b), NULL, &o) : tt_conv1d(ctx, T(a), T(b), NULL, &o);
        produced = 2;
        break;
    }
    case 21: {
        tt_pool_opts o;
        memset(&o, 0, sizeof o);
        o.kernel[0] = pick(r, 4); o.kernel[1] = pick(r, 4); o.stride[0] = pick(r, 3); o.padding[0] = pick(r, 2);
        o.ceil_mode = pick(r, 2);
        refuse = must_refuse(w, a, c);
        y = pick(r, 2) ? tt_max_pool2d(ctx, T(a), &o) : tt_avg_pool2d(ctx, T(a), &o);
        produced = 2;
        break;
    }
    case 22: refuse = must_refuse(w, a, c); y = tt_layernorm(ctx, T(a), pick(r, 3), NULL, NULL, 0.0f); produced = 2; break;
    case 23: refuse = must_refuse(w, a, c); y = tt_attention(ctx, T(a), T(a), T(a), pick(r, 2)); produced = 2; break;
    case 24: refuse = must_refuse(w, a, c); y = tt_dropout(ctx, T(a), fval(r)); produced = 2; break;
    case 25: {
        int tg[64], i;
        for (i = 0; i < 64; i++) tg[i] = pick(r, 6) - 1;
        refuse = must_refuse(w, a, c);
        if (a && !refuse && a->c == c && !stale(w, a) && a->t->numel > 64) break; /* targets for <= 64 rows */
        {
            /* the label count a caller would pass: rows of a batched input, 1 for an unbatched one */
            tt_tensor *ta = T(a);
            size_t nt = ta && ta->ndim >= 2 && ta->shape[0] >= 0 && ta->shape[0] <= 64 ? (size_t)ta->shape[0] : 1;
            y = tt_cross_entropy(ctx, ta, nt, tg, NULL);
        }
        produced = 2;
        break;
    }
    case 26: refuse = must_refuse(w, a, c); y = tt_requires_grad(ctx, T(a)); produced = 2; break;
    case 27: refuse = must_refuse(w, a, c); y = pick(r, 2) ? tt_detach(ctx, T(a)) : tt_clone(ctx, T(a)); produced = 2; break;
    case 28: { /* backward */
        tt_tensor *t = T(a);
        refuse = must_refuse(w, a, c);
        grads = 0;
        if (t && !refuse && t->numel != 1) {
            static float seed[4096];
            int i;
            for (i = 0; i < 8; i++) seed[i] = fval(r);
            res = t->numel <= 4096 ? tt_backward_seed(ctx, t, seed) : tt_backward(ctx, t);
        } else {
            res = tt_backward(ctx, t);
        }
        ret = 1;
        break;
    }
    case 29: tt_zero_grad(ctx); break;
    case 30: tt_scratch_reset(ctx); w->step[c]++; w->n_marks[c] = 0; break;
    case 31: { /* rewind to a mark taken in this step (or take one) */
        size_t m;
        int i, k;
        unsigned char *top;
        if (!w->n_marks[c] || chance(r, 2)) {
            if (w->n_marks[c] < 8) w->marks[c][w->n_marks[c]++] = tt_scratch_mark(ctx);
            break;
        }
        k = pick(r, w->n_marks[c]);
        m = w->marks[c][k];
        w->n_marks[c] = k + 1; /* later marks may now lie inside new allocations */
        tt_scratch_rewind(ctx, m);
        top = ctx->scratch.base + m;
        for (i = 0; i < w->n; i++)
            if (w->e[i].c == c && !w->e[i].persist && (unsigned char *)w->e[i].t >= top) w->e[i].dead = 1;
        break;
    }
    case 32: tt_set_anomaly_mode(ctx, pick(r, 2)); break;
    case 33: tt_set_grad_enabled(ctx, pick(r, 4) != 0); break;
    case 34: { /* optimizer init on this context */
        tt_optim_desc od;
        int k = pick(r, 2);
        od = tt_optim_desc_init((tt_optim_kind)(1 + pick(r, 4)));
        od.hp.lr = fval(r);
        res = tt_optim_init(ctx, &w->opt[k], &od);
        w->opt_ok[k] = res == TT_OK;
        grads = 0;
        ret = 1;
        if (res == TT_OK) ret = 0;
        break;
    }
    case 35: { /* optimizer step with either context */
        int k = pick(r, 2);
        refuse = w->opt_ok[k] && w->opt[k].owner != ctx;
        res = tt_optim_step(ctx, &w->opt[k]);
        ret = 1;
        break;
    }
    case 36: { /* a parameter */
        int nd, s[TT_MAX_DIMS];
        new_shape(r, &nd, s);
        y = tt_param(ctx, "p", nd, s);
        if (y) add(w, y, c, 1);
        produced = 3;
        break;
    }
    case 37: refuse = must_refuse(w, a, c); res = tt_init_uniform(ctx, T(a), fval(r), fval(r)); ret = 1; break;
    case 38: refuse = must_refuse(w, a, c); y = tt_pad(ctx, T(a), 2, (int[]){pick(r, 4) - 1, pick(r, 4) - 1}, fval(r)); produced = 2; break;
    default: res = tt_ctx_set_threads(ctx, 1 + pick(r, 3)); ret = 1; break;
    }
    if (produced) {
        failed = y == NULL;
        if (y && produced != 3) add(w, y, c, 0);
    } else if (ret) {
        failed = res != TT_OK;
    }
    if (getenv("FUZZ_API_TRACE"))
        fprintf(stderr, "call %d ctx %d a %p b %p -> %s %p used %zu err %d %s\n", op, c, (void *)T(a), (void *)T(b),
                failed ? "FAIL" : "ok", (void *)y, ctx->scratch.used, (int)tt_error(ctx), tt_error_message(ctx));
    check_after(w, c, failed, grads ? before : before0, grads, refuse);
    /* single-input calls: the refusal of a stale or foreign tensor is TT_ERR_STATE */
    if (refuse && single && !had_err && tt_error(ctx) != TT_ERR_STATE) die("refused with the wrong code", ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static world w;
    rd r;
    int i, calls = 0;
    static const size_t scratch[4] = {2048, 16384, 1 << 16, 1 << 20};
    r.p = data; r.n = size;
    memset(&w, 0, sizeof w);
    for (i = 0; i < 2; i++) {
        tt_desc d;
        memset(&d, 0, sizeof d);
        d.max_params = 4096;
        d.max_param_tensors = 8;
        d.persist_bytes = 1 << 16;
        d.scratch_bytes = scratch[pick(&r, 4)];
        d.threads = 1 + pick(&r, 2);
        d.small_matmul_workspace = pick(&r, 2);
        if (tt_ctx_init(&w.ctx[i], &d) != TT_OK) die("init", NULL);
        w.step[i] = 1;
    }
    while (r.n && calls++ < 96) run(&w, &r);
    tt_ctx_free(&w.ctx[0]);
    tt_ctx_free(&w.ctx[1]);
    return 0;
}
