/* tinytrain.h - v0.1.0 - neural-network training in one C header - MIT or public domain (see end)

   Do this:
       #define TINYTRAIN_IMPLEMENTATION
   before you include this file in *one* C or C++ file to create the implementation.
   Every other file includes it plainly for the declarations.

   QUICK START

       tt_desc desc = {0};                       // zero means "default" everywhere
       tt_ctx ctx;
       if (tt_ctx_init(&ctx, &desc) != TT_OK) return 1;
       int ws[2] = {1, 2}, bs[1] = {1};
       tt_tensor *w = tt_param(&ctx, "w", 2, ws);  // parameters live in persistent memory
       tt_tensor *b = tt_param(&ctx, "b", 1, bs);
       tt_init_uniform(&ctx, w, -0.5f, 0.5f);
       for (int step = 0; step < 100; step++) {
           tt_scratch_reset(&ctx);               // activations and the tape are rewound
           tt_tensor *x = tt_tensor_from(&ctx, 2, (int[]){4, 2}, xdata);
           tt_tensor *y = tt_tensor_from(&ctx, 2, (int[]){4, 1}, ydata);
           tt_tensor *loss = tt_mse_loss(&ctx, tt_linear(&ctx, x, w, b), y, TT_REDUCTION_MEAN);
           tt_zero_grad(&ctx);
           if (tt_backward(&ctx, loss) != TT_OK) { puts(tt_error_message(&ctx)); break; }
           tt_sgd_step_simple(&ctx, 0.1f);       // or any optimizer of the optimizer section
       }
       tt_ctx_free(&ctx);

   CONFIGURATION MACROS (define before including the implementation)

       TT_MALLOC(sz), TT_FREE(p)   default allocator; define both or neither
       TT_ASSERT(x)                internal invariants (default: assert); never used on user input
       TT_STATIC                   make every function static (private to one translation unit)
       TT_API                      decoration of public functions (default: extern)
       TT_NO_STDIO                 no <stdio.h>: drops the FILE-based helpers (checkpoints, data
                                   loaders); memory-based versions remain
       TT_NO_SIMD                  only the portable scalar kernels (no intrinsics at all)
       TT_NO_THREADS               no pthreads: every kernel runs on the calling thread
       TT_MAX_DIMS                 most dimensions a tensor may have (default 6)

   TINYTRAIN DOES NOT
       - call exit() or abort(), or print anything (messages go to the log callback, if given)
       - keep mutable global state: everything lives in a tt_ctx that you own
       - allocate behind your back: one allocation at tt_ctx_init (none if you give it memory),
         nothing per training step
       - use fast-math; results are reproducible bit for bit for a given build, machine,
         seed and thread count (see DETERMINISM)

   MEMORY
       A context owns one block, carved at init into
         - parameter storage: data and gradients of every parameter, in two arrays with the same
           layout (tt_desc.max_params floats each); zeroing all gradients is one memset and an
           optimizer step is a flat loop;
         - persistent storage (tt_desc.persist_bytes): parameter headers, optimizer state, kernel
           workspaces; taken once, never freed before tt_ctx_free;
         - scratch storage (tt_desc.scratch_bytes): activations, their gradients and the autograd
           tape. tt_scratch_reset() rewinds it at the start of every step.
       tt_ctx_memory_size() says how many bytes a desc needs; give that many bytes in
       tt_desc.memory and the library never calls an allocator at all.
       Running out of any region is an error (TT_ERR_OUT_OF_MEMORY) naming the region and the op.

   ERRORS
       Functions that can fail return tt_result (TT_OK == 0, errors negative), or a pointer that
       is NULL on failure. The first error is kept in the context ("sticky"): tt_error() returns
       its code, tt_error_message() a message that names the op and the shapes involved. An op
       given a NULL input after an error returns NULL without a new message, so a forward pass
       can be written straight through and checked once at the end. tt_clear_error() resets.
       Errors never modify the inputs of the failing call. tt_set_anomaly_mode() additionally
       reports the first op that produces NaN or Inf, forward or backward.

   THREADS
       A context is used by one thread at a time; different contexts are independent. With
       tt_desc.threads > 1 the context owns a small pthread pool used by the matrix multiply for
       large problems only.

   DETERMINISM
       Same build, same machine, same seed, same inputs: same bits. The scalar, AVX2, AVX-512 and
       NEON matrix kernels round differently from each other (FMA and summation order), so results
       differ between kernels in the last bits. See the matmul section for thread counts.
*/
#ifndef TINYTRAIN_H
#define TINYTRAIN_H

#define TT_VERSION_MAJOR 0
#define TT_VERSION_MINOR 1
#define TT_VERSION_PATCH 0
#define TT_VERSION_STRING "0.1.0"

#include <stddef.h>
#include <stdint.h>

#ifndef TT_API
#ifdef TT_STATIC
#define TT_API static
#else
#define TT_API extern
#endif
#endif

#ifndef TT_MAX_DIMS
#define TT_MAX_DIMS 6
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ==================================================================================== >>api_base
   Result codes, allocator, logging, the context. */

typedef enum tt_result {
    TT_OK = 0,
    TT_ERR_INVALID_ARGS = -1,   /* NULL pointer, bad flag or hyperparameter */
    TT_ERR_SHAPE = -2,          /* shapes that do not fit the op */
    TT_ERR_INDEX = -3,          /* an index (class label, embedding row, gather) out of range */
    TT_ERR_OUT_OF_MEMORY = -4,  /* allocator failed or an arena is full */
    TT_ERR_NONFINITE = -5,      /* NaN or Inf where it is not allowed (or anomaly mode) */
    TT_ERR_STATE = -6,          /* the call makes no sense now (e.g. backward on a non-scalar) */
    TT_ERR_IO = -7,             /* a file could not be read or written */
    TT_ERR_FORMAT = -8,         /* a file or buffer is not in the expected format */
    TT_ERR_UNSUPPORTED = -9,    /* not available in this build or on this CPU */
    TT_ERR_GRADCHECK = -10      /* tt_gradcheck found a gradient that disagrees */
} tt_result;

/* Allocator hooks. alloc(size, user) returns memory aligned for any type or NULL. */
typedef struct tt_allocator {
    void *(*alloc)(size_t size, void *user);
    void (*free)(void *ptr, void *user);
    void *user;
} tt_allocator;

typedef enum tt_log_level {
    TT_LOG_ERROR = 1,
    TT_LOG_WARN = 2,
    TT_LOG_INFO = 3
} tt_log_level;

/* Log callback: called for every error (and warnings). msg is valid during the call only. */
typedef void (*tt_log_fn)(void *user, tt_log_level level, tt_result code, const char *msg);

/* Matrix-multiply kernels. AUTO picks the fastest the CPU supports. */
typedef enum tt_kernel {
    TT_KERNEL_AUTO = 0,
    TT_KERNEL_SCALAR = 1,  /* portable blocked C */
    TT_KERNEL_AVX2 = 2,    /* x86-64 AVX2 + FMA */
    TT_KERNEL_AVX512 = 3,  /* x86-64 AVX-512F */
    TT_KERNEL_NEON = 4,    /* aarch64 NEON */
    TT_KERNEL_COUNT_
} tt_kernel;

/* Seeded random numbers (xoshiro128+-style generator, deterministic on every platform). */
typedef struct tt_rng {
    uint32_t s[4];
} tt_rng;

/* Context description. Zero-initialise and set what you need: zero means default. */
typedef struct tt_desc {
    size_t max_params;      /* floats of parameter storage (default 1 << 20) */
    int max_param_tensors;  /* parameter tensors (default 256) */
    size_t persist_bytes;   /* optimizer state and other long-lived data (default 16 MiB) */
    size_t scratch_bytes;   /* activations + tape per step (default 64 MiB) */
    uint64_t seed;          /* RNG seed (default 0 is a valid seed: same as seed 0) */
    int threads;            /* matmul threads (default 1) */
    tt_kernel kernel;       /* matmul kernel (default AUTO) */
    tt_allocator allocator; /* default TT_MALLOC / TT_FREE */
    tt_log_fn log;          /* default: silent */
    void *log_user;
    void *memory;           /* optional caller-owned block of tt_ctx_memory_size() bytes, */
    size_t memory_bytes;    /* aligned to 64 bytes: then no allocator is ever called */
} tt_desc;

struct tt_tensor;
struct tt__node;
struct tt__gemm_state;

/* A bump region. */
typedef struct tt_arena {
    unsigned char *base;
    size_t size;
    size_t used;
    size_t peak;
} tt_arena;

/* The context: everything the library knows lives here. Caller-owned; do not copy after init. */
typedef struct tt_ctx {
    tt_desc desc;                 /* desc with every default resolved */
    void *block;                  /* the one memory block */
    int owns_block;               /* block came from the allocator */
    float *param_data;            /* [max_params] parameter values */
    float *param_grad;            /* [max_params] parameter gradients, same layout */
    size_t n_params;              /* floats in use in param_data / param_grad */
    struct tt_tensor *params;     /* [max_param_tensors] parameter headers */
    int n_param_tensors;
    tt_arena persist;             /* optimizer state, workspaces */
    tt_arena scratch;             /* activations, tape; rewound every step */
    struct tt__node *tape_last;   /* newest node of the tape (linked list backwards) */
    int n_nodes;
    tt_rng rng;
    int grad_enabled;             /* 0 inside no-grad regions */
    int training;                 /* 1 = training mode (dropout, batchnorm) */
    int anomaly;                  /* check every op output/grad for NaN/Inf */
    tt_kernel kernel;             /* resolved matmul kernel */
    struct tt__gemm_state *gemm;  /* matmul workspace and thread pool */
    tt_result err;                /* first error since the last tt_clear_error */
    char err_msg[256];
} tt_ctx;

/* Bytes of memory that tt_ctx_init needs for this desc (for tt_desc.memory). */
TT_API tt_result tt_ctx_memory_size(const tt_desc *desc, size_t *bytes);
/* Initialise a context: one allocation (or none with tt_desc.memory). */
TT_API tt_result tt_ctx_init(tt_ctx *ctx, const tt_desc *desc);
/* Release the context's memory and threads. Safe on a zeroed or failed context. */
TT_API void tt_ctx_free(tt_ctx *ctx);
/* Human-readable name of a result code. */
TT_API const char *tt_result_string(tt_result r);
/* First error since the last clear (TT_OK if none), and its message ("" if none). */
TT_API tt_result tt_error(const tt_ctx *ctx);
TT_API const char *tt_error_message(const tt_ctx *ctx);
/* Forget the sticky error. */
TT_API void tt_clear_error(tt_ctx *ctx);
/* Runtime version string, e.g. "0.1.0". */
TT_API const char *tt_version(void);

/* ==================================================================================== >>api_rng */

/* Seed a generator; every seed (0 included) gives a distinct, reproducible stream. */
TT_API void tt_rng_seed(tt_rng *rng, uint64_t seed);
/* Next 32 random bits. */
TT_API uint32_t tt_rng_u32(tt_rng *rng);
/* Uniform float in [0, 1). */
TT_API float tt_rng_uniform(tt_rng *rng);
/* Standard normal float (Box-Muller). */
TT_API float tt_rng_normal(tt_rng *rng);

/* ==================================================================================== >>api_tensor
   float32 tensors, row-major and contiguous. */

enum {
    TT_REQUIRES_GRAD = 1u << 0,  /* gradients flow into this tensor */
    TT_PARAM = 1u << 1,          /* lives in parameter storage */
    TT_NO_DECAY = 1u << 2,       /* optimizers skip weight decay (biases, norm scales) */
    TT_VIEW = 1u << 3            /* shares data with another tensor (reshape) */
};

typedef struct tt_tensor {
    float *data;              /* numel floats */
    float *grad;              /* numel floats, or NULL when no gradient is tracked */
    int ndim;                 /* 0 (scalar) .. TT_MAX_DIMS */
    int shape[TT_MAX_DIMS];
    size_t numel;
    unsigned flags;           /* TT_REQUIRES_GRAD, TT_PARAM, TT_NO_DECAY, TT_VIEW */
    struct tt__node *node;    /* op that produced it (NULL for leaves) */
    size_t offset;            /* parameters: index of data[0] in ctx->param_data */
    int group;                /* parameters: optimizer parameter group (default 0) */
    const char *name;         /* parameters: name given to tt_param (not copied) */
} tt_tensor;

/* New scratch tensor filled with zeros. ndim 0 makes a scalar (shape may be NULL). */
TT_API tt_tensor *tt_tensor_new(tt_ctx *ctx, int ndim, const int *shape);
/* New scratch tensor holding a copy of data (numel floats). */
TT_API tt_tensor *tt_tensor_from(tt_ctx *ctx, int ndim, const int *shape, const float *data);
/* New scratch scalar. */
TT_API tt_tensor *tt_scalar(tt_ctx *ctx, float value);
/* New scratch tensor filled with value / U[lo,hi) / N(mean,std^2) from the context RNG. */
TT_API tt_tensor *tt_tensor_full(tt_ctx *ctx, int ndim, const int *shape, float value);
TT_API tt_tensor *tt_tensor_rand(tt_ctx *ctx, int ndim, const int *shape, float lo, float hi);
TT_API tt_tensor *tt_tensor_randn(tt_ctx *ctx, int ndim, const int *shape, float mean, float std);
/* Make a scratch leaf track gradients (allocates a zeroed grad). Returns t or NULL. */
TT_API tt_tensor *tt_requires_grad(tt_ctx *ctx, tt_tensor *t);
/* A tensor sharing t's data that is cut from the graph (no grad). */
TT_API tt_tensor *tt_detach(tt_ctx *ctx, tt_tensor *t);
/* Copy t into a new scratch tensor, cut from the graph. */
TT_API tt_tensor *tt_clone(tt_ctx *ctx, tt_tensor *t);
/* Element count of a shape; 1 for ndim 0. */
TT_API size_t tt_shape_numel(int ndim, const int *shape);
/* 1 if the two tensors have the same shape. */
TT_API int tt_same_shape(const tt_tensor *a, const tt_tensor *b);

/* New parameter (zero-initialised, requires grad) in parameter storage. name is kept by pointer
   (use a string literal or storage that outlives the context); it names the tensor in errors and
   checkpoints. Parameters can only be added, never removed. */
TT_API tt_tensor *tt_param(tt_ctx *ctx, const char *name, int ndim, const int *shape);
/* New persistent tensor that is not trained (batchnorm running statistics and the like):
   zero-initialised, no gradient, lives until tt_ctx_free. */
TT_API tt_tensor *tt_buffer(tt_ctx *ctx, const char *name, int ndim, const int *shape);
/* Fill a tensor in place (parameters or scratch tensors), RNG from the context. */
TT_API tt_result tt_init_const(tt_ctx *ctx, tt_tensor *t, float value);
TT_API tt_result tt_init_uniform(tt_ctx *ctx, tt_tensor *t, float lo, float hi);
TT_API tt_result tt_init_normal(tt_ctx *ctx, tt_tensor *t, float mean, float std);
/* PyTorch's nn.Linear / nn.Conv default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
TT_API tt_result tt_init_torch_default(tt_ctx *ctx, tt_tensor *t, int fan_in);
/* Xavier/Glorot uniform and Kaiming/He normal (fan_in mode, gain for ReLU). */
TT_API tt_result tt_init_xavier_uniform(tt_ctx *ctx, tt_tensor *t, int fan_in, int fan_out);
TT_API tt_result tt_init_kaiming_normal(tt_ctx *ctx, tt_tensor *t, int fan_in);
/* Copy n floats into a tensor's data (n must equal numel). */
TT_API tt_result tt_tensor_set(tt_ctx *ctx, tt_tensor *t, const float *data, size_t n);
/* Number of parameter tensors, and the i-th one. */
TT_API int tt_param_count(const tt_ctx *ctx);
TT_API tt_tensor *tt_param_at(tt_ctx *ctx, int i);

/* ==================================================================================== >>api_autograd */

/* Start a step: rewind scratch memory and the tape. Every scratch tensor becomes invalid. */
TT_API void tt_scratch_reset(tt_ctx *ctx);
/* Save / restore a scratch position (to evaluate inside a step without growing scratch). */
TT_API size_t tt_scratch_mark(const tt_ctx *ctx);
TT_API void tt_scratch_rewind(tt_ctx *ctx, size_t mark);
/* Backpropagate from a scalar: d(loss)/d(x) is added to x->grad for every tensor x that
   requires grad. Parameter gradients accumulate across calls until tt_zero_grad; intermediate
   gradients are recomputed on every call, so calling it twice adds the gradient twice. */
TT_API tt_result tt_backward(tt_ctx *ctx, tt_tensor *loss);
/* Backpropagate from any tensor with an explicit output gradient (numel floats). */
TT_API tt_result tt_backward_seed(tt_ctx *ctx, tt_tensor *out, const float *seed);
/* Zero every parameter gradient (one memset). */
TT_API void tt_zero_grad(tt_ctx *ctx);
/* Enable/disable graph recording (no-grad mode). Returns the previous setting. */
TT_API int tt_set_grad_enabled(tt_ctx *ctx, int enabled);
/* Training (1) or evaluation (0) mode for dropout and batchnorm. Returns the previous setting. */
TT_API int tt_set_training(tt_ctx *ctx, int training);
/* Anomaly mode: check every op's output and every backward gradient for NaN/Inf and fail with
   TT_ERR_NONFINITE naming the first op that produced one. Returns the previous setting. */
TT_API int tt_set_anomaly_mode(tt_ctx *ctx, int on);

/* Gradient check: compares the gradients of fn (by backprop) with central finite differences.
   fn builds an output from the inputs; the checker reduces it with fixed random weights w to
   s = sum(w * out) (in double), so every output element is tested. Each input that requires
   grad is perturbed element by element by +-eps; the difference quotient and the comparison are
   computed in double. An element passes if |analytic - numeric| <= atol + rtol * |numeric|.
   Defaults (zero fields): eps 1e-2 (relative to max(1,|x|)), atol 1e-3, rtol 1e-2. */
typedef tt_tensor *(*tt_gradcheck_fn)(tt_ctx *ctx, tt_tensor **inputs, void *user);
typedef struct tt_gradcheck_opts {
    double eps, atol, rtol;
} tt_gradcheck_opts;
typedef struct tt_gradcheck_report {
    double max_abs_err;       /* worst |analytic - numeric| */
    double max_rel_err;       /* worst |analytic - numeric| / max(|numeric|, 1e-8)... */
    double worst_excess;      /* worst (|a-n| - (atol + rtol|n|)); > 0 means fail */
    int worst_input;          /* index of the input holding the worst element */
    size_t worst_index;       /* its element index */
    double worst_analytic, worst_numeric;
    size_t n_checked;         /* elements compared */
} tt_gradcheck_report;
/* Returns TT_OK if every element passes, TT_ERR_GRADCHECK if one fails, or another error if fn
   fails. report may be NULL; opts may be NULL. Uses the scratch region (rewound after). */
TT_API tt_result tt_gradcheck(tt_ctx *ctx, tt_gradcheck_fn fn, int n_inputs, tt_tensor **inputs,
                              void *user, const tt_gradcheck_opts *opts,
                              tt_gradcheck_report *report);

/* ==================================================================================== >>api_matmul
   C = alpha * op(A) * op(B) + beta * C, row-major, op(X) = X or X^T (trans != 0).
   m, n, k may be 0. beta == 0 ignores C's previous contents (NaN included), as in BLAS. */

/* Portable reference: the triple loop, for teaching and testing. */
TT_API tt_result tt_sgemm_naive(int trans_a, int trans_b, int m, int n, int k, float alpha,
                                const float *a, int lda, const float *b, int ldb, float beta,
                                float *c, int ldc);
/* Fastest kernel for this CPU, one thread. */
TT_API tt_result tt_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
                          const float *a, int lda, const float *b, int ldb, float beta,
                          float *c, int ldc);
/* The context's kernel, workspace and threads (no allocation). Used by every autograd op. */
TT_API tt_result tt_ctx_sgemm(tt_ctx *ctx, int trans_a, int trans_b, int m, int n, int k,
                              float alpha, const float *a, int lda, const float *b, int ldb,
                              float beta, float *c, int ldc);
/* Kernel the CPU supports best (what AUTO resolves to), and whether a kernel can run here. */
TT_API tt_kernel tt_kernel_best(void);
TT_API int tt_kernel_supported(tt_kernel k);
TT_API const char *tt_kernel_name(tt_kernel k);

/* ==================================================================================== >>api_ops_basic
   Elementwise ops broadcast as NumPy/PyTorch do. Each returns a new scratch tensor, or NULL on
   error (the context holds the error). */

TT_API tt_tensor *tt_add(tt_ctx *ctx, tt_tensor *a, tt_tensor *b);      /* a + b */
TT_API tt_tensor *tt_mul(tt_ctx *ctx, tt_tensor *a, tt_tensor *b);      /* a * b */
TT_API tt_tensor *tt_relu(tt_ctx *ctx, tt_tensor *x);                   /* max(x, 0) */
TT_API tt_tensor *tt_sum(tt_ctx *ctx, tt_tensor *x);                    /* sum of all elements */
/* (..., k) x (k, n), (b, m, k) x (b, k, n) with broadcast batch dims. */
TT_API tt_tensor *tt_matmul(tt_ctx *ctx, tt_tensor *a, tt_tensor *b);
/* x (..., in) * w(out, in)^T + b(out); b may be NULL. */
TT_API tt_tensor *tt_linear(tt_ctx *ctx, tt_tensor *x, tt_tensor *w, tt_tensor *b);
/* Plain SGD without state: p -= lr * grad for every parameter. */
TT_API tt_result tt_sgd_step_simple(tt_ctx *ctx, float lr);


/* ==================================================================================== >>api_ops_math
   Elementwise math, activations, reductions, softmax. axis may be negative (-1 = last). */

/* ---- (ops_math declarations: begin) ---- */
TT_API tt_tensor *tt_sub(tt_ctx *ctx, tt_tensor *a, tt_tensor *b);      /* a - b */
TT_API tt_tensor *tt_div(tt_ctx *ctx, tt_tensor *a, tt_tensor *b);      /* a / b */
TT_API tt_tensor *tt_pow(tt_ctx *ctx, tt_tensor *a, tt_tensor *b);      /* a ^ b */
TT_API tt_tensor *tt_pow_scalar(tt_ctx *ctx, tt_tensor *x, float p);    /* x ^ p */
TT_API tt_tensor *tt_maximum(tt_ctx *ctx, tt_tensor *a, tt_tensor *b);  /* max(a, b) */
TT_API tt_tensor *tt_minimum(tt_ctx *ctx, tt_tensor *a, tt_tensor *b);  /* min(a, b) */
TT_API tt_tensor *tt_neg(tt_ctx *ctx, tt_tensor *x);                    /* -x */
TT_API tt_tensor *tt_scale(tt_ctx *ctx, tt_tensor *x, float s);         /* s * x */
TT_API tt_tensor *tt_add_scalar(tt_ctx *ctx, tt_tensor *x, float s);    /* x + s */
TT_API tt_tensor *tt_exp(tt_ctx *ctx, tt_tensor *x);
TT_API tt_tensor *tt_log(tt_ctx *ctx, tt_tensor *x);
TT_API tt_tensor *tt_sqrt(tt_ctx *ctx, tt_tensor *x);
TT_API tt_tensor *tt_abs(tt_ctx *ctx, tt_tensor *x);
TT_API tt_tensor *tt_clamp(tt_ctx *ctx, tt_tensor *x, float lo, float hi); /* -INFINITY/INFINITY for one side */
TT_API tt_tensor *tt_leaky_relu(tt_ctx *ctx, tt_tensor *x, float negative_slope); /* torch default 0.01 */
TT_API tt_tensor *tt_elu(tt_ctx *ctx, tt_tensor *x, float alpha);       /* torch default 1.0 */
TT_API tt_tensor *tt_selu(tt_ctx *ctx, tt_tensor *x);
TT_API tt_tensor *tt_gelu(tt_ctx *ctx, tt_tensor *x);                   /* exact, erf form */
TT_API tt_tensor *tt_gelu_tanh(tt_ctx *ctx, tt_tensor *x);              /* tanh approximation */
TT_API tt_tensor *tt_silu(tt_ctx *ctx, tt_tensor *x);
TT_API tt_tensor *tt_sigmoid(tt_ctx *ctx, tt_tensor *x);
TT_API tt_tensor *tt_tanh(tt_ctx *ctx, tt_tensor *x);
TT_API tt_tensor *tt_softplus(tt_ctx *ctx, tt_tensor *x, float beta, float threshold); /* torch 1, 20 */
TT_API tt_tensor *tt_softsign(tt_ctx *ctx, tt_tensor *x);
TT_API tt_tensor *tt_hardtanh(tt_ctx *ctx, tt_tensor *x, float min_val, float max_val); /* torch -1, 1 */
TT_API tt_tensor *tt_mish(tt_ctx *ctx, tt_tensor *x);
TT_API tt_tensor *tt_sum_axis(tt_ctx *ctx, tt_tensor *x, int axis, int keepdim);
TT_API tt_tensor *tt_mean(tt_ctx *ctx, tt_tensor *x);                   /* mean of all elements */
TT_API tt_tensor *tt_mean_axis(tt_ctx *ctx, tt_tensor *x, int axis, int keepdim);
TT_API tt_tensor *tt_var(tt_ctx *ctx, tt_tensor *x, int correction);    /* all elements; torch correction 1 */
TT_API tt_tensor *tt_var_axis(tt_ctx *ctx, tt_tensor *x, int axis, int correction, int keepdim);
TT_API tt_tensor *tt_max(tt_ctx *ctx, tt_tensor *x);                    /* all elements */
TT_API tt_tensor *tt_min(tt_ctx *ctx, tt_tensor *x);
TT_API tt_tensor *tt_max_axis(tt_ctx *ctx, tt_tensor *x, int axis, int keepdim);
TT_API tt_tensor *tt_min_axis(tt_ctx *ctx, tt_tensor *x, int axis, int keepdim);
TT_API tt_tensor *tt_argmax(tt_ctx *ctx, tt_tensor *x, int axis, int keepdim); /* indices as floats, no grad */
TT_API tt_tensor *tt_softmax(tt_ctx *ctx, tt_tensor *x, int axis);
TT_API tt_tensor *tt_log_softmax(tt_ctx *ctx, tt_tensor *x, int axis);
/* ---- (ops_math declarations: end) ---- */


/* ==================================================================================== >>api_ops_shape
   Shape ops. Indices are plain int arrays. */

/* ---- (ops_shape declarations: begin) ---- */
/* Same data, new shape (one entry may be -1). Shares data with x (a view). */
TT_API tt_tensor *tt_reshape(tt_ctx *ctx, tt_tensor *x, int ndim, const int *shape);
/* Merge dims start_dim..last into one (torch.flatten(x, start_dim)). */
TT_API tt_tensor *tt_flatten(tt_ctx *ctx, tt_tensor *x, int start_dim);
TT_API tt_tensor *tt_transpose(tt_ctx *ctx, tt_tensor *x, int dim0, int dim1);
/* perm has x->ndim entries: output dim i is input dim perm[i]. */
TT_API tt_tensor *tt_permute(tt_ctx *ctx, tt_tensor *x, const int *perm);
/* x[start:end:step] along axis (step > 0; negative start/end count from the end, clamped as Python). */
TT_API tt_tensor *tt_slice(tt_ctx *ctx, tt_tensor *x, int axis, int start, int end, int step);
TT_API tt_tensor *tt_concat(tt_ctx *ctx, int n, tt_tensor **xs, int axis);
TT_API tt_tensor *tt_stack(tt_ctx *ctx, int n, tt_tensor **xs, int axis);
/* Constant padding as torch.nn.functional.pad: pads = (left, right) for the last dim, then the
   dim before it, ... (n_pads even, <= 2*ndim, entries >= 0). */
TT_API tt_tensor *tt_pad(tt_ctx *ctx, tt_tensor *x, int n_pads, const int *pads, float value);
/* Rows index[0..n) of x along axis. */
TT_API tt_tensor *tt_index_select(tt_ctx *ctx, tt_tensor *x, int axis, int n, const int *index);
/* torch.gather: out[..i..] = x[..index[..i..]..] along axis; index has x->ndim dims, shape
   index_shape (each dim <= x's except axis). */
TT_API tt_tensor *tt_gather(tt_ctx *ctx, tt_tensor *x, int axis, const int *index, const int *index_shape);
/* Embedding lookup: weight (num, dim), ids of shape ids_shape (ndim dims) -> (*ids_shape, dim). */
TT_API tt_tensor *tt_embedding(tt_ctx *ctx, tt_tensor *weight, int ndim, const int *ids_shape, const int *ids);
/* ---- (ops_shape declarations: end) ---- */


/* ==================================================================================== >>api_ops_conv
   Convolution and pooling, channels-first (N, C, L) / (N, C, H, W). */

/* ---- (ops_conv declarations: begin) ---- */
/* Zero fields mean torch defaults: stride 1, padding 0, dilation 1, groups 1. Index 0 is
   height (or length for 1-D), index 1 width. */
typedef struct tt_conv_opts {
    int stride[2], padding[2], dilation[2], groups;
} tt_conv_opts;
/* x (N, Cin, H, W), w (Cout, Cin/groups, kH, kW), b (Cout) or NULL; opts may be NULL. */
TT_API tt_tensor *tt_conv2d(tt_ctx *ctx, tt_tensor *x, tt_tensor *w, tt_tensor *b, const tt_conv_opts *opts);
/* x (N, Cin, L), w (Cout, Cin/groups, k), b (Cout) or NULL. */
TT_API tt_tensor *tt_conv1d(tt_ctx *ctx, tt_tensor *x, tt_tensor *w, tt_tensor *b, const tt_conv_opts *opts);
/* Pooling window; stride 0 means = kernel; padding 0; dilation 0 means 1; ceil_mode as torch.
   count_include_pad_off = 1 excludes padding from avg-pool divisors (torch count_include_pad=False). */
typedef struct tt_pool_opts {
    int kernel[2], stride[2], padding[2], dilation[2];
    int ceil_mode;
    int count_include_pad_off;
} tt_pool_opts;
TT_API tt_tensor *tt_max_pool2d(tt_ctx *ctx, tt_tensor *x, const tt_pool_opts *opts);
TT_API tt_tensor *tt_avg_pool2d(tt_ctx *ctx, tt_tensor *x, const tt_pool_opts *opts);
TT_API tt_tensor *tt_max_pool1d(tt_ctx *ctx, tt_tensor *x, const tt_pool_opts *opts);
TT_API tt_tensor *tt_avg_pool1d(tt_ctx *ctx, tt_tensor *x, const tt_pool_opts *opts);
/* (N, C, H, W) -> (N, C, out_h, out_w) with torch's adaptive windows. */
TT_API tt_tensor *tt_adaptive_avg_pool2d(tt_ctx *ctx, tt_tensor *x, int out_h, int out_w);
/* (N, C, H, W) -> (N, C): mean over H and W. */
TT_API tt_tensor *tt_global_avg_pool2d(tt_ctx *ctx, tt_tensor *x);
/* ---- (ops_conv declarations: end) ---- */


/* ==================================================================================== >>api_ops_nn
   Normalisation, dropout, attention, recurrent cells. */

/* ---- (ops_nn declarations: begin) ---- */
/* Batch norm over dim 1 of x (N, C, ...). weight/bias (C) may be NULL. running_mean/var are
   tensors of C floats (tt_buffer) or NULL; in training mode batch statistics are used and the
   running ones updated with momentum (unbiased variance), in eval mode the running ones are
   used. momentum 0 means 0.1, eps 0 means 1e-5 (torch defaults). */
TT_API tt_tensor *tt_batchnorm(tt_ctx *ctx, tt_tensor *x, tt_tensor *weight, tt_tensor *bias,
                               tt_tensor *running_mean, tt_tensor *running_var, float momentum, float eps);
/* Layer norm over the last norm_dims dims; weight/bias have those dims or are NULL; eps 0 = 1e-5. */
TT_API tt_tensor *tt_layernorm(tt_ctx *ctx, tt_tensor *x, int norm_dims, tt_tensor *weight, tt_tensor *bias, float eps);
/* Group norm of x (N, C, ...) in groups of C/groups channels; weight/bias (C) or NULL; eps 0 = 1e-5. */
TT_API tt_tensor *tt_groupnorm(tt_ctx *ctx, tt_tensor *x, int groups, tt_tensor *weight, tt_tensor *bias, float eps);
/* RMS norm over the last dim; weight (last dim) or NULL; eps 0 = FLT_EPSILON (torch default). */
TT_API tt_tensor *tt_rmsnorm(tt_ctx *ctx, tt_tensor *x, tt_tensor *weight, float eps);
/* Inverted dropout with probability p in training mode; identity in eval mode. */
TT_API tt_tensor *tt_dropout(tt_ctx *ctx, tt_tensor *x, float p);
/* Scaled dot-product attention: q (B, H, T, D), k (B, H, S, D), v (B, H, S, Dv) -> (B, H, T, Dv).
   causal masks j > i (+ S - T offset as torch is_causal with T == S); scale 0 means 1/sqrt(D). */
TT_API tt_tensor *tt_attention(tt_ctx *ctx, tt_tensor *q, tt_tensor *k, tt_tensor *v, int causal, float scale);
/* LSTM cell (torch.nn.LSTMCell, gates i, f, g, o): x (B, I), h and c (B, H), w_ih (4H, I),
   w_hh (4H, H), b_ih and b_hh (4H) or NULL. Writes the new h and c. */
TT_API tt_result tt_lstm_cell(tt_ctx *ctx, tt_tensor *x, tt_tensor *h, tt_tensor *c, tt_tensor *w_ih,
                              tt_tensor *w_hh, tt_tensor *b_ih, tt_tensor *b_hh, tt_tensor **h_out, tt_tensor **c_out);
/* GRU cell (torch.nn.GRUCell, gates r, z, n): w_ih (3H, I), w_hh (3H, H), biases (3H) or NULL. */
TT_API tt_tensor *tt_gru_cell(tt_ctx *ctx, tt_tensor *x, tt_tensor *h, tt_tensor *w_ih, tt_tensor *w_hh,
                              tt_tensor *b_ih, tt_tensor *b_hh);
/* ---- (ops_nn declarations: end) ---- */


/* ==================================================================================== >>api_loss
   Losses, as in torch.nn.functional. Targets given as class indices are int arrays. */

typedef enum tt_reduction {
    TT_REDUCTION_MEAN = 0,    /* default, as torch */
    TT_REDUCTION_SUM = 1,
    TT_REDUCTION_NONE = 2,
    TT_REDUCTION_BATCHMEAN = 3 /* kl_div only */
} tt_reduction;

/* ---- (loss declarations: begin) ---- */
TT_API tt_tensor *tt_mse_loss(tt_ctx *ctx, tt_tensor *input, tt_tensor *target, tt_reduction reduction);
/* Cross-entropy with class indices. logits (N, C) or (N, C, d1, ...), target has N*d1*...
   entries. opts NULL means torch defaults. */
struct tt_cross_entropy_opts;
TT_API tt_tensor *tt_cross_entropy(tt_ctx *ctx, tt_tensor *logits, const int *target,
                                   const struct tt_cross_entropy_opts *opts);
/* ---- (loss declarations: end) ---- */


/* ==================================================================================== >>api_optim
   Optimizers. */

/* ---- (optim declarations: begin) ---- */
/* ---- (optim declarations: end) ---- */


/* ==================================================================================== >>api_sched
   Learning-rate schedules, regularization, clipping, early stopping. */

/* ---- (sched declarations: begin) ---- */
/* LEARNING-RATE SCHEDULES
   A tt_sched is a small caller-owned object, independent of any optimizer: it holds base_lr and
   the current lr. Use it as in PyTorch, stepping after the optimizer:
       tt_sched s;
       tt_sched_init_cosine(&ctx, &s, 0.1, 100, 0.0);       // CosineAnnealingLR(T_max=100)
       for (step...) { ...; my_optimizer_step(&ctx, (float)tt_sched_lr(&s)); tt_sched_step(&ctx, &s); }
   Every init performs torch's construction step (last_epoch -1 -> 0), so tt_sched_lr() is the
   lr for the first optimizer step. Values are computed in double with torch's recursive
   ("chainable") formulas, so a sequence of tt_sched_step() calls reproduces what torch's
   scheduler.step() produces, rounding included. Init functions return TT_OK or
   TT_ERR_INVALID_ARGS with a message naming the bad hyperparameter (torch's ValueErrors).
   No memory is allocated; composites keep pointers to their children (caller-owned). */

#define TT_SCHED_MAX_MILESTONES 16  /* most milestones of a MultiStepLR */
#define TT_SCHED_MAX_CHILDREN 8     /* most schedules in a SequentialLR / ChainedScheduler */

/* lr factor as a function of the epoch (torch lr_lambda). user is passed through. */
typedef double (*tt_sched_lambda_fn)(int epoch, void *user);

typedef enum tt_sched_kind {
    TT_SCHED_NONE = 0,
    TT_SCHED_LAMBDA,            /* LambdaLR */
    TT_SCHED_MULTIPLICATIVE,    /* MultiplicativeLR */
    TT_SCHED_STEP,              /* StepLR */
    TT_SCHED_MULTISTEP,         /* MultiStepLR */
    TT_SCHED_CONSTANT,          /* ConstantLR */
    TT_SCHED_LINEAR,            /* LinearLR */
    TT_SCHED_EXPONENTIAL,       /* ExponentialLR */
    TT_SCHED_POLYNOMIAL,        /* PolynomialLR */
    TT_SCHED_COSINE,            /* CosineAnnealingLR */
    TT_SCHED_COSINE_RESTARTS,   /* CosineAnnealingWarmRestarts */
    TT_SCHED_CYCLIC,            /* CyclicLR */
    TT_SCHED_ONE_CYCLE,         /* OneCycleLR */
    TT_SCHED_PLATEAU,           /* ReduceLROnPlateau */
    TT_SCHED_SEQUENTIAL,        /* SequentialLR */
    TT_SCHED_CHAINED,           /* ChainedScheduler */
    TT_SCHED_WARMUP_COSINE      /* SequentialLR([LinearLR, CosineAnnealingLR]) in one object */
} tt_sched_kind;

typedef enum tt_cyclic_mode {
    TT_CYCLIC_TRIANGULAR = 0,   /* 'triangular': constant amplitude */
    TT_CYCLIC_TRIANGULAR2 = 1,  /* 'triangular2': amplitude halves every cycle */
    TT_CYCLIC_EXP_RANGE = 2     /* 'exp_range': amplitude * gamma^iteration */
} tt_cyclic_mode;

/* CyclicLR options; tt_cyclic_defaults() fills torch's defaults. */
typedef struct tt_cyclic_opts {
    double base_lr, max_lr;          /* lower and upper lr of the cycle */
    int step_size_up;                /* steps of the rising half (torch 2000) */
    int step_size_down;              /* steps of the falling half; 0 means = step_size_up (torch None) */
    tt_cyclic_mode mode;             /* TT_CYCLIC_TRIANGULAR */
    double gamma;                    /* exp_range factor (1.0) */
    int cycle_momentum;              /* 1: momentum cycles inversely to the lr */
    double base_momentum, max_momentum; /* 0.8, 0.9 */
} tt_cyclic_opts;

typedef enum tt_anneal {
    TT_ANNEAL_COS = 0,               /* 'cos' (default) */
    TT_ANNEAL_LINEAR = 1             /* 'linear' */
} tt_anneal;

/* OneCycleLR options; tt_one_cycle_defaults() fills torch's defaults. */
typedef struct tt_one_cycle_opts {
    double max_lr;
    int total_steps;                 /* or 0, and then epochs * steps_per_epoch */
    int epochs, steps_per_epoch;
    double pct_start;                /* fraction of steps rising (0.3) */
    tt_anneal anneal_strategy;       /* TT_ANNEAL_COS */
    int cycle_momentum;              /* 1 */
    double base_momentum, max_momentum; /* 0.85, 0.95 */
    double div_factor;               /* initial lr = max_lr / div_factor (25) */
    double final_div_factor;         /* min lr = initial lr / final_div_factor (1e4) */
    int three_phase;                 /* 0 */
} tt_one_cycle_opts;

/* ReduceLROnPlateau options; tt_plateau_defaults() fills torch's defaults. */
typedef struct tt_plateau_opts {
    int mode_max;                    /* 0: 'min' (lower metric is better), 1: 'max' */
    double factor;                   /* new lr = lr * factor (0.1); must be < 1 */
    int patience;                    /* bad epochs tolerated before reducing (10) */
    double threshold;                /* significance of an improvement (1e-4) */
    int threshold_abs;               /* 0: 'rel' (default), 1: 'abs' */
    int cooldown;                    /* epochs to wait after a reduction (0) */
    double min_lr;                   /* lower bound of the lr (0) */
    double eps;                      /* reductions smaller than eps are skipped (1e-8) */
} tt_plateau_opts;

/* The schedule object. Read it through tt_sched_lr / tt_sched_momentum; the fields are public
   for inspection (last_epoch is torch's last_epoch: steps taken since init). */
typedef struct tt_sched {
    tt_sched_kind kind;
    double base_lr;                  /* torch base_lrs[0] (initial_lr) */
    double lr;                       /* current lr */
    double momentum;                 /* current momentum (when has_momentum) */
    int has_momentum;                /* cyclic / one-cycle with cycle_momentum */
    int last_epoch;
    union {
        struct { tt_sched_lambda_fn fn; void *user; } lambda;          /* LAMBDA, MULTIPLICATIVE */
        struct { int step_size; double gamma; } step;
        struct { int n; int milestones[TT_SCHED_MAX_MILESTONES]; double gamma; } multistep;
        struct { double factor; int total_iters; } constant;
        struct { double start_factor, end_factor; int total_iters; } linear;
        struct { double gamma; } exponential;
        struct { int total_iters; double power; } polynomial;
        struct { int T_max; double eta_min; } cosine;
        struct { int T_0, T_mult; double eta_min, T_cur, T_i; } restarts;
        struct { tt_cyclic_opts o; double total_size, step_ratio; } cyclic;
        struct {
            tt_one_cycle_opts o;
            int total_steps, n_phases;
            double initial_lr, min_lr;
            double end_step[3], start_lr[3], end_lr[3], start_mom[3], end_mom[3];
        } one_cycle;
        struct { tt_plateau_opts o; double best; int num_bad_epochs, cooldown_counter; } plateau;
        struct { int n; struct tt_sched *children[TT_SCHED_MAX_CHILDREN];
                 int milestones[TT_SCHED_MAX_CHILDREN - 1]; } composite;  /* SEQUENTIAL, CHAINED */
        struct { int warmup_steps, T_max; double start_factor, eta_min; } warmup_cosine;
    } u;
} tt_sched;

/* LambdaLR: lr = base_lr * fn(epoch, user). */
TT_API tt_result tt_sched_init_lambda(tt_ctx *ctx, tt_sched *s, double base_lr, tt_sched_lambda_fn fn, void *user);
/* MultiplicativeLR: lr = previous lr * fn(epoch, user) for epoch > 0. */
TT_API tt_result tt_sched_init_multiplicative(tt_ctx *ctx, tt_sched *s, double base_lr, tt_sched_lambda_fn fn, void *user);
/* StepLR: lr = base_lr * gamma^floor(epoch / step_size) (torch default gamma 0.1). */
TT_API tt_result tt_sched_init_step(tt_ctx *ctx, tt_sched *s, double base_lr, int step_size, double gamma);
/* MultiStepLR: lr *= gamma at each milestone (non-decreasing; a repeated milestone applies gamma
   once per repetition, as torch's Counter). milestones is copied (at most TT_SCHED_MAX_MILESTONES). */
TT_API tt_result tt_sched_init_multistep(tt_ctx *ctx, tt_sched *s, double base_lr, int n_milestones,
                                         const int *milestones, double gamma);
/* ConstantLR: lr = base_lr * factor for epoch < total_iters, then base_lr (torch 1/3, 5). */
TT_API tt_result tt_sched_init_constant(tt_ctx *ctx, tt_sched *s, double base_lr, double factor, int total_iters);
/* LinearLR: factor moves linearly from start_factor to end_factor over total_iters (torch 1/3, 1, 5). */
TT_API tt_result tt_sched_init_linear(tt_ctx *ctx, tt_sched *s, double base_lr, double start_factor,
                                      double end_factor, int total_iters);
/* ExponentialLR: lr = base_lr * gamma^epoch. */
TT_API tt_result tt_sched_init_exponential(tt_ctx *ctx, tt_sched *s, double base_lr, double gamma);
/* PolynomialLR: lr = base_lr * (1 - min(epoch, total_iters) / total_iters)^power (torch 5, 1.0). */
TT_API tt_result tt_sched_init_polynomial(tt_ctx *ctx, tt_sched *s, double base_lr, int total_iters, double power);
/* CosineAnnealingLR: eta_min + (base_lr - eta_min)(1 + cos(pi epoch / T_max)) / 2 via torch's
   recursive form, which keeps going periodically past T_max (it rises again). */
TT_API tt_result tt_sched_init_cosine(tt_ctx *ctx, tt_sched *s, double base_lr, int T_max, double eta_min);
/* CosineAnnealingWarmRestarts: cosine over T_i steps, restarting with T_i *= T_mult (torch 1, 0).
   Fractional epochs: tt_sched_step_to(). */
TT_API tt_result tt_sched_init_cosine_restarts(tt_ctx *ctx, tt_sched *s, double base_lr, int T_0, int T_mult,
                                               double eta_min);
/* torch's CyclicLR defaults for the given lr range. */
TT_API tt_cyclic_opts tt_cyclic_defaults(double base_lr, double max_lr);
/* CyclicLR. base_lr of the schedule is opts->base_lr; momentum cycles when opts->cycle_momentum. */
TT_API tt_result tt_sched_init_cyclic(tt_ctx *ctx, tt_sched *s, const tt_cyclic_opts *opts);
/* torch's OneCycleLR defaults for max_lr and total_steps. */
TT_API tt_one_cycle_opts tt_one_cycle_defaults(double max_lr, int total_steps);
/* OneCycleLR (two or three phases, cos or linear). base_lr is max_lr / div_factor. Like torch,
   total_steps steps may be taken; the next tt_sched_step fails with TT_ERR_STATE. */
TT_API tt_result tt_sched_init_one_cycle(tt_ctx *ctx, tt_sched *s, const tt_one_cycle_opts *opts);
/* torch's ReduceLROnPlateau defaults. */
TT_API tt_plateau_opts tt_plateau_defaults(void);
/* ReduceLROnPlateau (opts NULL: defaults). Step it with tt_sched_step_metric, not tt_sched_step. */
TT_API tt_result tt_sched_init_plateau(tt_ctx *ctx, tt_sched *s, double base_lr, const tt_plateau_opts *opts);
/* SequentialLR: children[0] until milestones[0], then children[1], ... (n children, n - 1 strictly
   increasing milestones >= 1). The children are (re)started by this call and must not be stepped
   directly afterwards; the lr starts from children[0]->base_lr (torch's initial_lr), so give every
   child the same base_lr as in torch. Children may not be plateau or composite schedules. */
TT_API tt_result tt_sched_init_sequential(tt_ctx *ctx, tt_sched *s, int n, tt_sched **children,
                                          const int *milestones);
/* ChainedScheduler: every step steps all n children in order on the same lr, so their factors
   compose multiplicatively. Same rules for the children as tt_sched_init_sequential. */
TT_API tt_result tt_sched_init_chained(tt_ctx *ctx, tt_sched *s, int n, tt_sched **children);
/* Linear warmup into cosine in one object: identical to torch's
   SequentialLR([LinearLR(start_factor, 1.0, warmup_steps),
                 CosineAnnealingLR(total_steps - warmup_steps, eta_min)], milestones=[warmup_steps]).
   warmup_steps 0 is plain cosine. */
TT_API tt_result tt_sched_warmup_cosine(tt_ctx *ctx, tt_sched *s, double base_lr, int warmup_steps,
                                        int total_steps, double start_factor, double eta_min);

/* Advance one step (torch scheduler.step(), called after the optimizer step). On error (e.g.
   one-cycle past total_steps, plateau without a metric) the schedule is left unchanged. */
TT_API tt_result tt_sched_step(tt_ctx *ctx, tt_sched *s);
/* ReduceLROnPlateau step with the validation metric of the epoch just finished. */
TT_API tt_result tt_sched_step_metric(tt_ctx *ctx, tt_sched *s, double metric);
/* torch scheduler.step(epoch): jump to an epoch. Warm restarts accept fractional epochs (e.g.
   epoch + batch / n_batches); other simple schedules take whole epochs >= 0 and use torch's
   closed form (_get_closed_form_lr) where it has one. Not for plateau or composites. */
TT_API tt_result tt_sched_step_to(tt_ctx *ctx, tt_sched *s, double epoch);
/* Current lr (0 for NULL). */
TT_API double tt_sched_lr(const tt_sched *s);
/* Current momentum of cyclic / one-cycle (torch writes it into the optimizer's momentum or
   beta1). Returns 1 and sets *momentum if the schedule cycles momentum, else 0. For a composite,
   the last child that cycles momentum (chained) or the active child (sequential). */
TT_API int tt_sched_momentum(const tt_sched *s, double *momentum);

/* REGULARIZATION AND TRAINING CONTROLS
   params/n: an explicit list of tensors, or NULL and 0 for "every parameter of the context"
   (for the penalties: every parameter not flagged TT_NO_DECAY). */

/* coef * sum |p| as a scalar autograd op (d|p|/dp = sign(p), 0 at 0, as torch). */
TT_API tt_tensor *tt_l1_penalty(tt_ctx *ctx, float coef, int n, tt_tensor **params);
/* coef * sum p^2 as a scalar autograd op. coef = weight_decay / 2 gives the gradient of SGD's
   coupled weight decay. */
TT_API tt_tensor *tt_l2_penalty(tt_ctx *ctx, float coef, int n, tt_tensor **params);
/* torch.nn.utils.clip_grad_norm_: total = (sum over all gradients of |g|^p)^(1/p) (norm_type p > 0,
   or INFINITY for max |g|); every gradient is scaled by min(1, max_norm / (total + 1e-6)).
   *total_norm (may be NULL) receives the norm before clipping. With error_if_nonfinite a NaN/Inf
   norm fails with TT_ERR_NONFINITE and leaves the gradients alone; without it they are scaled
   anyway (and become NaN), as in torch. Tensors without a gradient are skipped. */
TT_API tt_result tt_clip_grad_norm(tt_ctx *ctx, int n, tt_tensor **params, double max_norm, double norm_type,
                                   int error_if_nonfinite, double *total_norm);
/* torch.nn.utils.clip_grad_value_: clamp every gradient to [-clip_value, clip_value].
   *total_norm (may be NULL) receives the L2 norm of the gradients before clipping. */
TT_API tt_result tt_clip_grad_value(tt_ctx *ctx, int n, tt_tensor **params, double clip_value, double *total_norm);
/* Flag (no_decay 1) or unflag a parameter as TT_NO_DECAY: optimizers skip its weight decay and
   the penalties above skip it. */
TT_API tt_result tt_set_no_decay(tt_ctx *ctx, tt_tensor *param, int no_decay);
/* 1 if every parameter gradient of the context is finite (no NaN/Inf), else 0. */
TT_API int tt_grads_finite(const tt_ctx *ctx);

/* Early stopping on a validation metric (as Keras / Lightning EarlyStopping): an epoch improves
   if metric < best - min_delta ('min') or metric > best + min_delta ('max'); training should
   stop once `patience` epochs in a row did not improve. Epochs count from 0. */
typedef struct tt_early_stop {
    int mode_max;          /* 0: lower is better, 1: higher is better */
    int patience;
    double min_delta;
    double best;           /* best metric so far (+-inf before the first update) */
    int best_epoch;        /* epoch of best (-1 before the first improvement) */
    int epoch;             /* epochs seen */
    int bad_epochs;        /* epochs since the last improvement */
    int should_stop;       /* sticky once set */
} tt_early_stop;
/* patience >= 0, min_delta >= 0. */
TT_API tt_result tt_early_stop_init(tt_ctx *ctx, tt_early_stop *es, int patience, double min_delta, int mode_max);
/* Feed one epoch's metric; returns 1 if training should stop now (and from then on), else 0.
   NaN never counts as an improvement. */
TT_API int tt_early_stop_update(tt_early_stop *es, double metric);
/* ---- (sched declarations: end) ---- */


#ifdef __cplusplus
}
#endif
#endif /* TINYTRAIN_H */

/* ############################################################################################
   IMPLEMENTATION
   ############################################################################################ */
#ifdef TINYTRAIN_IMPLEMENTATION
#ifndef TINYTRAIN_IMPLEMENTATION_INCLUDED
#define TINYTRAIN_IMPLEMENTATION_INCLUDED

/* ==================================================================================== >>config */

#if defined(TT_MALLOC) != defined(TT_FREE)
#error "tinytrain: define both TT_MALLOC and TT_FREE, or neither"
#endif
#ifndef TT_MALLOC
#include <stdlib.h>
#define TT_MALLOC(sz) malloc(sz)
#define TT_FREE(p) free(p)
#endif
#ifndef TT_ASSERT
#include <assert.h>
#define TT_ASSERT(x) assert(x)
#endif

#include <string.h>
#include <math.h>
#include <float.h>
#ifndef TT_NO_STDIO
#include <stdio.h>
#endif
#include <stdarg.h>

#if !defined(TT_NO_THREADS) && !(defined(__unix__) || defined(__APPLE__))
#define TT_NO_THREADS
#endif

#define TT__ALIGN 64
#define TT__MIN(a, b) ((a) < (b) ? (a) : (b))
#define TT__MAX(a, b) ((a) > (b) ? (a) : (b))

#ifdef TT_STATIC
#define TT__DEF static
#else
#define TT__DEF
#endif

/* Tape node: one recorded op. Forward saves what backward needs in i/f/saved. */
#define TT__MAX_IN 4
typedef void (*tt__backward_fn)(tt_ctx *ctx, struct tt__node *n);
typedef struct tt__node {
    const char *op;              /* op name, for messages */
    tt__backward_fn backward;    /* adds d(out)/d(in) * out->grad into each in->grad */
    struct tt__node *prev;       /* previous node of the tape */
    tt_tensor *out;
    tt_tensor *in[TT__MAX_IN];   /* inputs (unused slots NULL) */
    tt_tensor **ins;             /* variadic inputs (concat, stack), n_ins of them */
    int n_ins;
    int i[8];                    /* integer arguments */
    float f[4];                  /* float arguments */
    void *saved;                 /* op-specific saved data (scratch) */
} tt__node;

/* ==================================================================================== >>util
   Messages (a tiny formatter so no stdio is needed), errors, arenas. */

typedef struct tt__buf {
    char *p;
    size_t n, cap;
} tt__buf;

static void tt__putc(tt__buf *b, char c) {
    if (b->n + 1 < b->cap) b->p[b->n++] = c;
}
static void tt__puts(tt__buf *b, const char *s) {
    if (!s) s = "(null)";
    while (*s) tt__putc(b, *s++);
}
static void tt__putu(tt__buf *b, unsigned long long v) {
    char tmp[24];
    int n = 0;
    do { tmp[n++] = (char)('0' + (int)(v % 10u)); v /= 10u; } while (v);
    while (n) tt__putc(b, tmp[--n]);
}
static void tt__puti(tt__buf *b, long long v) {
    if (v < 0) { tt__putc(b, '-'); tt__putu(b, (unsigned long long)(-(v + 1)) + 1u); }
    else tt__putu(b, (unsigned long long)v);
}
static void tt__putg(tt__buf *b, double v) {
    /* about 6 significant digits, enough for messages */
    int e = 0, i;
    double m;
    if (v != v) { tt__puts(b, "nan"); return; }
    if (v < 0) { tt__putc(b, '-'); v = -v; }
    if (v > DBL_MAX) { tt__puts(b, "inf"); return; }
    if (v == 0) { tt__putc(b, '0'); return; }
    m = v;
    while (m >= 10.0) { m /= 10.0; e++; }
    while (m < 1.0) { m *= 10.0; e--; }
    if (e >= -4 && e < 6) {
        double ip = floor(v), fp = v - ip;
        int digits = 5 - e;
        tt__putu(b, (unsigned long long)ip);
        if (digits > 0 && fp > 0) {
            char tmp[16];
            int n = 0, last = 0;
            for (i = 0; i < digits && i < 15; i++) {
                fp *= 10.0;
                tmp[n] = (char)('0' + (int)fp);
                fp -= (int)fp;
                n++;
                if (tmp[n - 1] != '0') last = n;
            }
            if (last) { tt__putc(b, '.'); for (i = 0; i < last; i++) tt__putc(b, tmp[i]); }
        }
    } else {
        int d = (int)(m * 100000.0 + 0.5);
        if (d >= 1000000) { d /= 10; e++; }
        tt__putc(b, (char)('0' + d / 100000));
        d %= 100000;
        if (d) {
            tt__putc(b, '.');
            for (i = 10000; i > 0 && d; i /= 10) { tt__putc(b, (char)('0' + d / i)); d %= i; }
        }
        tt__putc(b, 'e');
        tt__puti(b, e);
    }
}
static void tt__putshape(tt__buf *b, const tt_tensor *t) {
    int i;
    if (!t) { tt__puts(b, "NULL"); return; }
    tt__putc(b, '[');
    for (i = 0; i < t->ndim; i++) {
        if (i) tt__putc(b, ',');
        tt__puti(b, t->shape[i]);
    }
    tt__putc(b, ']');
}
/* Formats %s %d %u (unsigned) %z (size_t) %g (double) %S (tensor shape) %%. */
static void tt__vformat(char *out, size_t cap, const char *fmt, va_list ap) {
    tt__buf b;
    b.p = out; b.n = 0; b.cap = cap;
    for (; *fmt; fmt++) {
        if (*fmt != '%') { tt__putc(&b, *fmt); continue; }
        fmt++;
        switch (*fmt) {
        case 's': tt__puts(&b, va_arg(ap, const char *)); break;
        case 'd': tt__puti(&b, va_arg(ap, int)); break;
        case 'u': tt__putu(&b, va_arg(ap, unsigned)); break;
        case 'z': tt__putu(&b, (unsigned long long)va_arg(ap, size_t)); break;
        case 'g': tt__putg(&b, va_arg(ap, double)); break;
        case 'S': tt__putshape(&b, va_arg(ap, const tt_tensor *)); break;
        case '%': tt__putc(&b, '%'); break;
        case 0: fmt--; break;
        default: tt__putc(&b, '%'); tt__putc(&b, *fmt); break;
        }
    }
    if (cap) out[b.n < cap ? b.n : cap - 1] = 0;
}

static void tt__log(tt_ctx *ctx, tt_log_level level, tt_result code, const char *msg) {
    if (ctx && ctx->desc.log) ctx->desc.log(ctx->desc.log_user, level, code, msg);
}

/* Record an error (the first one sticks) and log it. Returns code. */
static tt_result tt__fail(tt_ctx *ctx, tt_result code, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    if (!ctx) return code;
    va_start(ap, fmt);
    tt__vformat(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ctx->err == TT_OK) {
        ctx->err = code;
        memcpy(ctx->err_msg, msg, sizeof msg);
    }
    tt__log(ctx, TT_LOG_ERROR, code, msg);
    return code;
}

/* Warnings go to the log only. */
static void tt__warn(tt_ctx *ctx, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    if (!ctx || !ctx->desc.log) return;
    va_start(ap, fmt);
    tt__vformat(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tt__log(ctx, TT_LOG_WARN, TT_OK, msg);
}

static size_t tt__align_up(size_t v) { return (v + (TT__ALIGN - 1)) & ~(size_t)(TT__ALIGN - 1); }

/* a*b with overflow check: returns 0 on overflow. */
static int tt__mul_ok(size_t a, size_t b, size_t *out) {
    if (a && b > (size_t)-1 / a) return 0;
    *out = a * b;
    return 1;
}

static void *tt__arena_alloc(tt_arena *a, size_t bytes) {
    size_t need = tt__align_up(bytes);
    void *p;
    if (need < bytes || a->size - a->used < need) return NULL;
    p = a->base + a->used;
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

/* Scratch allocation for op `op`; sets the error on failure. */
static void *tt__scratch(tt_ctx *ctx, const char *op, size_t bytes) {
    void *p = tt__arena_alloc(&ctx->scratch, bytes);
    if (!p)
        tt__fail(ctx, TT_ERR_OUT_OF_MEMORY,
                 "%s: scratch memory full (need %z bytes, %z of %z used); raise tt_desc.scratch_bytes",
                 op, bytes, ctx->scratch.used, ctx->scratch.size);
    return p;
}
static float *tt__scratch_floats(tt_ctx *ctx, const char *op, size_t n) {
    size_t bytes;
    if (!tt__mul_ok(n, sizeof(float), &bytes)) {
        tt__fail(ctx, TT_ERR_OUT_OF_MEMORY, "%s: size overflow (%z floats)", op, n);
        return NULL;
    }
    return (float *)tt__scratch(ctx, op, bytes);
}
/* Persistent allocation (optimizer state, workspaces); never freed before tt_ctx_free. */
static void *tt__persist(tt_ctx *ctx, const char *op, size_t bytes) {
    void *p = tt__arena_alloc(&ctx->persist, bytes);
    if (!p)
        tt__fail(ctx, TT_ERR_OUT_OF_MEMORY,
                 "%s: persistent memory full (need %z bytes, %z of %z used); raise tt_desc.persist_bytes",
                 op, bytes, ctx->persist.used, ctx->persist.size);
    return p;
}

static int tt__all_finite(const float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (!(x[i] - x[i] == 0.0f)) return 0;
    return 1;
}

TT__DEF const char *tt_result_string(tt_result r) {
    switch (r) {
    case TT_OK: return "ok";
    case TT_ERR_INVALID_ARGS: return "invalid arguments";
    case TT_ERR_SHAPE: return "shape mismatch";
    case TT_ERR_INDEX: return "index out of range";
    case TT_ERR_OUT_OF_MEMORY: return "out of memory";
    case TT_ERR_NONFINITE: return "non-finite value";
    case TT_ERR_STATE: return "invalid state";
    case TT_ERR_IO: return "i/o error";
    case TT_ERR_FORMAT: return "bad format";
    case TT_ERR_UNSUPPORTED: return "unsupported";
    case TT_ERR_GRADCHECK: return "gradient check failed";
    }
    return "unknown result";
}

TT__DEF const char *tt_version(void) { return TT_VERSION_STRING; }

/* ==================================================================================== >>rng
   xoshiro128+ seeded through splitmix64: fast, small, identical on every platform. */

static uint64_t tt__splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

TT__DEF void tt_rng_seed(tt_rng *rng, uint64_t seed) {
    uint64_t x = seed, a = tt__splitmix64(&x), b = tt__splitmix64(&x);
    rng->s[0] = (uint32_t)a;
    rng->s[1] = (uint32_t)(a >> 32);
    rng->s[2] = (uint32_t)b;
    rng->s[3] = (uint32_t)(b >> 32);
    if (!(rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3])) rng->s[0] = 1;
}

TT__DEF uint32_t tt_rng_u32(tt_rng *rng) {
    uint32_t *s = rng->s, r = s[0] + s[3], t = s[1] << 9;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 11) | (s[3] >> 21);
    return r;
}

TT__DEF float tt_rng_uniform(tt_rng *rng) {
    return (float)(tt_rng_u32(rng) >> 8) * (1.0f / 16777216.0f);
}

TT__DEF float tt_rng_normal(tt_rng *rng) {
    /* Box-Muller in double for accuracy; u1 in (0, 1] so log is finite */
    double u1 = ((double)(tt_rng_u32(rng) >> 8) + 1.0) / 16777216.0;
    double u2 = (double)(tt_rng_u32(rng) >> 8) / 16777216.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* ==================================================================================== >>ctx */

static size_t tt__gemm_state_bytes(const tt_desc *d);       /* >>matmul */
static tt_result tt__gemm_init(tt_ctx *ctx, void *mem);      /* >>matmul */
static void tt__gemm_free(tt_ctx *ctx);                      /* >>matmul */

static void tt__resolve_desc(tt_desc *d, const tt_desc *in) {
    *d = *in;
    if (!d->max_params) d->max_params = (size_t)1 << 20;
    if (!d->max_param_tensors) d->max_param_tensors = 256;
    if (!d->persist_bytes) d->persist_bytes = (size_t)16 << 20;
    if (!d->scratch_bytes) d->scratch_bytes = (size_t)64 << 20;
    if (d->threads <= 0) d->threads = 1;
}

/* Layout of the block: [param_data | param_grad | param headers | gemm | persist | scratch]. */
static int tt__layout(const tt_desc *d, size_t *off) {
    size_t pbytes, hbytes, total = 0, parts[6];
    int i;
    if (!tt__mul_ok(d->max_params, sizeof(float), &pbytes)) return 0;
    if (!tt__mul_ok((size_t)d->max_param_tensors, sizeof(tt_tensor), &hbytes)) return 0;
    parts[0] = pbytes; parts[1] = pbytes; parts[2] = hbytes;
    parts[3] = tt__gemm_state_bytes(d); parts[4] = d->persist_bytes; parts[5] = d->scratch_bytes;
    for (i = 0; i < 6; i++) {
        size_t a = tt__align_up(parts[i]);
        off[i] = total;
        if (a < parts[i] || total + a < total) return 0;
        total += a;
    }
    off[6] = total;
    return 1;
}

TT__DEF tt_result tt_ctx_memory_size(const tt_desc *desc, size_t *bytes) {
    tt_desc d;
    size_t off[7];
    if (!desc || !bytes) return TT_ERR_INVALID_ARGS;
    if (desc->threads < 0 || desc->max_param_tensors < 0 || (int)desc->kernel < 0 ||
        desc->kernel >= TT_KERNEL_COUNT_)
        return TT_ERR_INVALID_ARGS;
    tt__resolve_desc(&d, desc);
    if (!tt__layout(&d, off)) return TT_ERR_OUT_OF_MEMORY;
    *bytes = off[6];
    return TT_OK;
}

TT__DEF tt_result tt_ctx_init(tt_ctx *ctx, const tt_desc *desc) {
    size_t off[7];
    unsigned char *m;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    memset(ctx, 0, sizeof *ctx);
    if (!desc) return TT_ERR_INVALID_ARGS;
    tt__resolve_desc(&ctx->desc, desc);
    if (desc->threads < 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_ctx_init: threads must be >= 0, got %d", desc->threads);
    if (desc->max_param_tensors < 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_ctx_init: max_param_tensors must be >= 0");
    if ((int)desc->kernel < 0 || desc->kernel >= TT_KERNEL_COUNT_)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_ctx_init: unknown kernel %d", (int)desc->kernel);
    if ((desc->allocator.alloc == NULL) != (desc->allocator.free == NULL))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_ctx_init: allocator needs both alloc and free");
    if (!tt__layout(&ctx->desc, off))
        return tt__fail(ctx, TT_ERR_OUT_OF_MEMORY, "tt_ctx_init: requested sizes overflow");
    if (desc->memory) {
        if (desc->memory_bytes < off[6])
            return tt__fail(ctx, TT_ERR_OUT_OF_MEMORY, "tt_ctx_init: memory holds %z bytes, needs %z (tt_ctx_memory_size)",
                            desc->memory_bytes, off[6]);
        if (((uintptr_t)desc->memory & (TT__ALIGN - 1)) != 0)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_ctx_init: memory must be aligned to %d bytes", TT__ALIGN);
        m = (unsigned char *)desc->memory;
    } else {
        /* over-allocate so the block can be aligned to TT__ALIGN */
        void *raw = desc->allocator.alloc ? desc->allocator.alloc(off[6] + TT__ALIGN, desc->allocator.user)
                                          : TT_MALLOC(off[6] + TT__ALIGN);
        if (!raw) return tt__fail(ctx, TT_ERR_OUT_OF_MEMORY, "tt_ctx_init: allocation of %z bytes failed", off[6] + TT__ALIGN);
        ctx->block = raw;
        ctx->owns_block = 1;
        m = (unsigned char *)raw + (TT__ALIGN - ((uintptr_t)raw & (TT__ALIGN - 1)));
    }
    ctx->param_data = (float *)(m + off[0]);
    ctx->param_grad = (float *)(m + off[1]);
    ctx->params = (tt_tensor *)(m + off[2]);
    ctx->persist.base = m + off[4];
    ctx->persist.size = ctx->desc.persist_bytes;
    ctx->scratch.base = m + off[5];
    ctx->scratch.size = ctx->desc.scratch_bytes;
    ctx->grad_enabled = 1;
    ctx->training = 1;
    tt_rng_seed(&ctx->rng, ctx->desc.seed);
    r = tt__gemm_init(ctx, m + off[3]);
    if (r != TT_OK) {
        tt_ctx_free(ctx);
        return r;
    }
    return TT_OK;
}

TT__DEF void tt_ctx_free(tt_ctx *ctx) {
    if (!ctx) return;
    if (ctx->gemm) tt__gemm_free(ctx);
    if (ctx->owns_block && ctx->block) {
        if (ctx->desc.allocator.free) ctx->desc.allocator.free(ctx->block, ctx->desc.allocator.user);
        else TT_FREE(ctx->block);
    }
    ctx->block = NULL;
    ctx->owns_block = 0;
    ctx->gemm = NULL;
}

TT__DEF tt_result tt_error(const tt_ctx *ctx) { return ctx ? ctx->err : TT_ERR_INVALID_ARGS; }
TT__DEF const char *tt_error_message(const tt_ctx *ctx) { return ctx ? ctx->err_msg : "NULL context"; }
TT__DEF void tt_clear_error(tt_ctx *ctx) {
    if (!ctx) return;
    ctx->err = TT_OK;
    ctx->err_msg[0] = 0;
}

/* ==================================================================================== >>tensor */

TT__DEF size_t tt_shape_numel(int ndim, const int *shape) {
    size_t n = 1;
    int i;
    for (i = 0; i < ndim; i++) n *= (size_t)(shape[i] > 0 ? shape[i] : 0);
    return n;
}

TT__DEF int tt_same_shape(const tt_tensor *a, const tt_tensor *b) {
    int i;
    if (!a || !b || a->ndim != b->ndim) return 0;
    for (i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

/* Validate a shape given by the caller; numel out. */
static int tt__check_shape(tt_ctx *ctx, const char *op, int ndim, const int *shape, size_t *numel) {
    size_t n = 1;
    int i;
    if (ndim < 0 || ndim > TT_MAX_DIMS) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: ndim %d outside 0..%d", op, ndim, TT_MAX_DIMS);
        return 0;
    }
    if (ndim > 0 && !shape) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: shape is NULL", op);
        return 0;
    }
    for (i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            tt__fail(ctx, TT_ERR_SHAPE, "%s: dimension %d is negative (%d)", op, i, shape[i]);
            return 0;
        }
        if (!tt__mul_ok(n, (size_t)shape[i], &n)) {
            tt__fail(ctx, TT_ERR_SHAPE, "%s: shape too large", op);
            return 0;
        }
    }
    *numel = n;
    return 1;
}

/* A scratch tensor header + data (uninitialised data unless zero). */
static tt_tensor *tt__tensor_alloc(tt_ctx *ctx, const char *op, int ndim, const int *shape, int zero) {
    tt_tensor *t;
    size_t numel;
    int i;
    if (!tt__check_shape(ctx, op, ndim, shape, &numel)) return NULL;
    t = (tt_tensor *)tt__scratch(ctx, op, sizeof(tt_tensor));
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->data = tt__scratch_floats(ctx, op, numel ? numel : 1);
    if (!t->data) return NULL;
    if (zero) memset(t->data, 0, numel * sizeof(float));
    t->ndim = ndim;
    for (i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    return t;
}

static tt_result tt__ensure_grad(tt_ctx *ctx, const char *op, tt_tensor *t) {
    if (t->grad) return TT_OK;
    t->grad = tt__scratch_floats(ctx, op, t->numel ? t->numel : 1);
    if (!t->grad) return ctx->err;
    memset(t->grad, 0, t->numel * sizeof(float));
    return TT_OK;
}

TT__DEF tt_tensor *tt_tensor_new(tt_ctx *ctx, int ndim, const int *shape) {
    if (!ctx) return NULL;
    return tt__tensor_alloc(ctx, "tt_tensor_new", ndim, shape, 1);
}

TT__DEF tt_tensor *tt_tensor_from(tt_ctx *ctx, int ndim, const int *shape, const float *data) {
    tt_tensor *t;
    if (!ctx) return NULL;
    if (!data) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_tensor_from: data is NULL");
        return NULL;
    }
    t = tt__tensor_alloc(ctx, "tt_tensor_from", ndim, shape, 0);
    if (t) memcpy(t->data, data, t->numel * sizeof(float));
    return t;
}

TT__DEF tt_tensor *tt_scalar(tt_ctx *ctx, float value) {
    tt_tensor *t;
    if (!ctx) return NULL;
    t = tt__tensor_alloc(ctx, "tt_scalar", 0, NULL, 0);
    if (t) t->data[0] = value;
    return t;
}

TT__DEF tt_tensor *tt_tensor_full(tt_ctx *ctx, int ndim, const int *shape, float value) {
    tt_tensor *t;
    if (!ctx) return NULL;
    t = tt__tensor_alloc(ctx, "tt_tensor_full", ndim, shape, 0);
    if (t) tt_init_const(ctx, t, value);
    return t;
}

TT__DEF tt_tensor *tt_tensor_rand(tt_ctx *ctx, int ndim, const int *shape, float lo, float hi) {
    tt_tensor *t;
    if (!ctx) return NULL;
    t = tt__tensor_alloc(ctx, "tt_tensor_rand", ndim, shape, 0);
    if (t && tt_init_uniform(ctx, t, lo, hi) != TT_OK) return NULL;
    return t;
}

TT__DEF tt_tensor *tt_tensor_randn(tt_ctx *ctx, int ndim, const int *shape, float mean, float std) {
    tt_tensor *t;
    if (!ctx) return NULL;
    t = tt__tensor_alloc(ctx, "tt_tensor_randn", ndim, shape, 0);
    if (t && tt_init_normal(ctx, t, mean, std) != TT_OK) return NULL;
    return t;
}

TT__DEF tt_tensor *tt_requires_grad(tt_ctx *ctx, tt_tensor *t) {
    if (!ctx) return NULL;
    if (!t) {
        if (ctx->err == TT_OK) tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_requires_grad: tensor is NULL");
        return NULL;
    }
    if (tt__ensure_grad(ctx, "tt_requires_grad", t) != TT_OK) return NULL;
    t->flags |= TT_REQUIRES_GRAD;
    return t;
}

TT__DEF tt_tensor *tt_detach(tt_ctx *ctx, tt_tensor *t) {
    tt_tensor *d;
    if (!ctx || !t) {
        if (ctx && ctx->err == TT_OK) tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_detach: tensor is NULL");
        return NULL;
    }
    d = (tt_tensor *)tt__scratch(ctx, "tt_detach", sizeof(tt_tensor));
    if (!d) return NULL;
    *d = *t;
    d->grad = NULL;
    d->node = NULL;
    d->flags = TT_VIEW;
    d->name = NULL;
    return d;
}

TT__DEF tt_tensor *tt_clone(tt_ctx *ctx, tt_tensor *t) {
    if (!ctx || !t) {
        if (ctx && ctx->err == TT_OK) tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_clone: tensor is NULL");
        return NULL;
    }
    return tt_tensor_from(ctx, t->ndim, t->shape, t->data);
}

TT__DEF tt_tensor *tt_param(tt_ctx *ctx, const char *name, int ndim, const int *shape) {
    tt_tensor *t;
    size_t numel;
    int i;
    if (!ctx) return NULL;
    if (!tt__check_shape(ctx, "tt_param", ndim, shape, &numel)) return NULL;
    if (ctx->n_param_tensors >= ctx->desc.max_param_tensors) {
        tt__fail(ctx, TT_ERR_OUT_OF_MEMORY, "tt_param '%s': more than %d parameter tensors; raise tt_desc.max_param_tensors",
                 name ? name : "", ctx->desc.max_param_tensors);
        return NULL;
    }
    if (ctx->desc.max_params - ctx->n_params < numel) {
        tt__fail(ctx, TT_ERR_OUT_OF_MEMORY, "tt_param '%s': needs %z floats, %z of %z used; raise tt_desc.max_params",
                 name ? name : "", numel, ctx->n_params, ctx->desc.max_params);
        return NULL;
    }
    t = &ctx->params[ctx->n_param_tensors++];
    memset(t, 0, sizeof *t);
    t->data = ctx->param_data + ctx->n_params;
    t->grad = ctx->param_grad + ctx->n_params;
    memset(t->data, 0, numel * sizeof(float));
    memset(t->grad, 0, numel * sizeof(float));
    t->ndim = ndim;
    for (i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    t->flags = TT_REQUIRES_GRAD | TT_PARAM;
    t->offset = ctx->n_params;
    t->name = name;
    ctx->n_params += numel;
    return t;
}

TT__DEF tt_tensor *tt_buffer(tt_ctx *ctx, const char *name, int ndim, const int *shape) {
    tt_tensor *t;
    size_t numel;
    int i;
    if (!ctx) return NULL;
    if (!tt__check_shape(ctx, "tt_buffer", ndim, shape, &numel)) return NULL;
    t = (tt_tensor *)tt__persist(ctx, "tt_buffer", sizeof(tt_tensor));
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->data = (float *)tt__persist(ctx, "tt_buffer", (numel ? numel : 1) * sizeof(float));
    if (!t->data) return NULL;
    memset(t->data, 0, numel * sizeof(float));
    t->ndim = ndim;
    for (i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    t->name = name;
    return t;
}

TT__DEF int tt_param_count(const tt_ctx *ctx) { return ctx ? ctx->n_param_tensors : 0; }
TT__DEF tt_tensor *tt_param_at(tt_ctx *ctx, int i) {
    if (!ctx || i < 0 || i >= ctx->n_param_tensors) return NULL;
    return &ctx->params[i];
}

static tt_result tt__check_init(tt_ctx *ctx, const char *op, tt_tensor *t) {
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!t) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: tensor is NULL", op);
    return TT_OK;
}

TT__DEF tt_result tt_init_const(tt_ctx *ctx, tt_tensor *t, float value) {
    size_t i;
    tt_result r = tt__check_init(ctx, "tt_init_const", t);
    if (r != TT_OK) return r;
    for (i = 0; i < t->numel; i++) t->data[i] = value;
    return TT_OK;
}

TT__DEF tt_result tt_init_uniform(tt_ctx *ctx, tt_tensor *t, float lo, float hi) {
    size_t i;
    tt_result r = tt__check_init(ctx, "tt_init_uniform", t);
    if (r != TT_OK) return r;
    if (!(lo <= hi)) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_init_uniform: need lo <= hi, got %g and %g", (double)lo, (double)hi);
    for (i = 0; i < t->numel; i++) t->data[i] = lo + (hi - lo) * tt_rng_uniform(&ctx->rng);
    return TT_OK;
}

TT__DEF tt_result tt_init_normal(tt_ctx *ctx, tt_tensor *t, float mean, float std) {
    size_t i;
    tt_result r = tt__check_init(ctx, "tt_init_normal", t);
    if (r != TT_OK) return r;
    if (!(std >= 0)) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_init_normal: std must be >= 0, got %g", (double)std);
    for (i = 0; i < t->numel; i++) t->data[i] = mean + std * tt_rng_normal(&ctx->rng);
    return TT_OK;
}

TT__DEF tt_result tt_init_torch_default(tt_ctx *ctx, tt_tensor *t, int fan_in) {
    float bound;
    if (fan_in <= 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_init_torch_default: fan_in must be > 0, got %d", fan_in);
    bound = 1.0f / sqrtf((float)fan_in);
    return tt_init_uniform(ctx, t, -bound, bound);
}

TT__DEF tt_result tt_init_xavier_uniform(tt_ctx *ctx, tt_tensor *t, int fan_in, int fan_out) {
    float bound;
    if (fan_in <= 0 || fan_out <= 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_init_xavier_uniform: fans must be > 0, got %d and %d", fan_in, fan_out);
    bound = sqrtf(6.0f / (float)(fan_in + fan_out));
    return tt_init_uniform(ctx, t, -bound, bound);
}

TT__DEF tt_result tt_init_kaiming_normal(tt_ctx *ctx, tt_tensor *t, int fan_in) {
    if (fan_in <= 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_init_kaiming_normal: fan_in must be > 0, got %d", fan_in);
    return tt_init_normal(ctx, t, 0.0f, sqrtf(2.0f / (float)fan_in));
}

TT__DEF tt_result tt_tensor_set(tt_ctx *ctx, tt_tensor *t, const float *data, size_t n) {
    tt_result r = tt__check_init(ctx, "tt_tensor_set", t);
    if (r != TT_OK) return r;
    if (!data) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_tensor_set: data is NULL");
    if (n != t->numel) return tt__fail(ctx, TT_ERR_SHAPE, "tt_tensor_set: %z values for a tensor of shape %S", n, t);
    memcpy(t->data, data, n * sizeof(float));
    return TT_OK;
}

/* ==================================================================================== >>autograd
   How an op is written (see tt_relu for the smallest example):
     1. validate inputs with tt__in(): NULL after an error propagates silently;
     2. y = tt__out(ctx, op, ndim, shape, n_in, inputs): allocates y (uninitialised data) and,
        when grad mode is on and an input requires grad, a zeroed y->grad and a tape node;
     3. compute y->data; if y->node, save what backward needs in y->node->i / f / saved and set
        y->node->backward;
     4. return tt__done(ctx, y) (anomaly check).
   A backward function reads n->out->grad and ADDS into n->in[k]->grad where that is non-NULL. */

/* Input check: returns 1 if usable. A NULL input after an earlier error is silent. */
static int tt__in(tt_ctx *ctx, const char *op, const tt_tensor *t) {
    if (!ctx) return 0;
    if (t) return 1;
    if (ctx->err == TT_OK) tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: input is NULL", op);
    return 0;
}

static int tt__needs_grad(const tt_ctx *ctx, const tt_tensor *t) {
    return ctx->grad_enabled && t && (t->flags & TT_REQUIRES_GRAD);
}

/* Allocate an op output. in: the inputs that gradients may flow to (n_in of them, NULL allowed).
   n_in may exceed TT__MAX_IN (concat): then the array itself is kept in node->ins. */
static tt_tensor *tt__out_n(tt_ctx *ctx, const char *op, int ndim, const int *shape, int n_in, tt_tensor **in) {
    tt_tensor *y = tt__tensor_alloc(ctx, op, ndim, shape, 0);
    int k, track = 0;
    if (!y) return NULL;
    for (k = 0; k < n_in; k++) track |= tt__needs_grad(ctx, in[k]);
    if (track) {
        tt__node *n = (tt__node *)tt__scratch(ctx, op, sizeof(tt__node));
        if (!n || tt__ensure_grad(ctx, op, y) != TT_OK) return NULL;
        memset(n, 0, sizeof *n);
        n->op = op;
        n->out = y;
        for (k = 0; k < n_in && k < TT__MAX_IN; k++) n->in[k] = in[k];
        if (n_in > TT__MAX_IN) {
            n->ins = (tt_tensor **)tt__scratch(ctx, op, sizeof(tt_tensor *) * (size_t)n_in);
            if (!n->ins) return NULL;
            memcpy(n->ins, in, sizeof(tt_tensor *) * (size_t)n_in);
        }
        n->n_ins = n_in;
        n->prev = ctx->tape_last;
        ctx->tape_last = n;
        ctx->n_nodes++;
        y->node = n;
        y->flags |= TT_REQUIRES_GRAD;
    }
    return y;
}

static tt_tensor *tt__out(tt_ctx *ctx, const char *op, int ndim, const int *shape, tt_tensor *a, tt_tensor *b,
                          tt_tensor *c) {
    tt_tensor *in[3];
    in[0] = a; in[1] = b; in[2] = c;
    return tt__out_n(ctx, op, ndim, shape, 3, in);
}

/* k-th input of a node */
static tt_tensor *tt__node_in(const tt__node *n, int k) {
    return n->n_ins > TT__MAX_IN ? n->ins[k] : n->in[k];
}

/* Finish an op: anomaly check on the output. */
static tt_tensor *tt__done(tt_ctx *ctx, tt_tensor *y) {
    if (y && ctx->anomaly && !tt__all_finite(y->data, y->numel)) {
        tt__fail(ctx, TT_ERR_NONFINITE, "anomaly: op '%s' produced NaN/Inf in its output of shape %S",
                 y->node ? y->node->op : "(untracked op)", y);
        return NULL;
    }
    return y;
}

TT__DEF void tt_scratch_reset(tt_ctx *ctx) {
    if (!ctx) return;
    ctx->scratch.used = 0;
    ctx->tape_last = NULL;
    ctx->n_nodes = 0;
}

TT__DEF size_t tt_scratch_mark(const tt_ctx *ctx) { return ctx ? ctx->scratch.used : 0; }

TT__DEF void tt_scratch_rewind(tt_ctx *ctx, size_t mark) {
    if (!ctx || mark > ctx->scratch.used) return;
    ctx->scratch.used = mark;
    /* drop tape nodes that lived above the mark */
    while (ctx->tape_last && (size_t)((unsigned char *)ctx->tape_last - ctx->scratch.base) >= mark) {
        ctx->tape_last = ctx->tape_last->prev;
        ctx->n_nodes--;
    }
}

TT__DEF tt_result tt_backward_seed(tt_ctx *ctx, tt_tensor *out, const float *seed) {
    tt__node *n;
    size_t i;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (ctx->err != TT_OK) return ctx->err;
    if (!out) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_backward: tensor is NULL");
    if (!seed) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_backward: seed is NULL");
    if (!(out->flags & TT_REQUIRES_GRAD) || !out->grad)
        return tt__fail(ctx, TT_ERR_STATE, "tt_backward: tensor of shape %S does not require grad (no parameter or "
                                           "grad-tracking input reaches it, or it was built in no-grad mode)", out);
    /* intermediate gradients restart from zero, so a second call adds the same amount again */
    for (n = ctx->tape_last; n; n = n->prev) memset(n->out->grad, 0, n->out->numel * sizeof(float));
    for (i = 0; i < out->numel; i++) out->grad[i] += seed[i];
    /* the tape is in creation order, so walking back from out's node visits every node that
       can reach out after all of its consumers */
    for (n = out->node; n; n = n->prev) {
        int k;
        if (!n->backward) continue; /* an op that failed half-way */
        n->backward(ctx, n);
        if (ctx->err != TT_OK) return ctx->err;
        if (!ctx->anomaly) continue;
        for (k = 0; k < n->n_ins; k++) {
            tt_tensor *x = tt__node_in(n, k);
            if (x && x->grad && !tt__all_finite(x->grad, x->numel))
                return tt__fail(ctx, TT_ERR_NONFINITE,
                                "anomaly: backward of op '%s' produced NaN/Inf in the gradient of input %d (shape %S)",
                                n->op, k, x);
        }
    }
    return TT_OK;
}

TT__DEF tt_result tt_backward(tt_ctx *ctx, tt_tensor *loss) {
    float one = 1.0f;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (ctx->err != TT_OK) return ctx->err;
    if (!loss) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_backward: loss is NULL");
    if (loss->numel != 1)
        return tt__fail(ctx, TT_ERR_STATE, "tt_backward: loss must have one element, got shape %S (use tt_backward_seed)", loss);
    return tt_backward_seed(ctx, loss, &one);
}

TT__DEF void tt_zero_grad(tt_ctx *ctx) {
    if (ctx && ctx->n_params) memset(ctx->param_grad, 0, ctx->n_params * sizeof(float));
}

TT__DEF int tt_set_grad_enabled(tt_ctx *ctx, int enabled) {
    int old;
    if (!ctx) return 0;
    old = ctx->grad_enabled;
    ctx->grad_enabled = enabled != 0;
    return old;
}

TT__DEF int tt_set_training(tt_ctx *ctx, int training) {
    int old;
    if (!ctx) return 0;
    old = ctx->training;
    ctx->training = training != 0;
    return old;
}

TT__DEF int tt_set_anomaly_mode(tt_ctx *ctx, int on) {
    int old;
    if (!ctx) return 0;
    old = ctx->anomaly;
    ctx->anomaly = on != 0;
    return old;
}

/* ==================================================================================== >>gradcheck */

/* s = sum(w * out) in double */
static double tt__weighted_sum(const tt_tensor *out, const float *w) {
    double s = 0;
    size_t i;
    for (i = 0; i < out->numel; i++) s += (double)w[i] * (double)out->data[i];
    return s;
}

TT__DEF tt_result tt_gradcheck(tt_ctx *ctx, tt_gradcheck_fn fn, int n_inputs, tt_tensor **inputs, void *user,
                               const tt_gradcheck_opts *opts, tt_gradcheck_report *report) {
    tt_gradcheck_report rep;
    double eps = 1e-2, atol = 1e-3, rtol = 1e-2;
    size_t mark, wmark;
    tt_tensor *out;
    float *w, **saved;
    int k;
    tt_result result = TT_OK;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (ctx->err != TT_OK) return ctx->err;
    if (!fn || n_inputs <= 0 || !inputs) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_gradcheck: need fn and at least one input");
    for (k = 0; k < n_inputs; k++)
        if (!inputs[k]) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_gradcheck: input %d is NULL", k);
    if (opts) {
        if (opts->eps > 0) eps = opts->eps;
        if (opts->atol > 0) atol = opts->atol;
        if (opts->rtol > 0) rtol = opts->rtol;
    }
    memset(&rep, 0, sizeof rep);
    rep.worst_excess = -1e300;
    rep.worst_input = -1;

    /* analytic gradients, with grads of the inputs saved aside */
    saved = (float **)tt__scratch(ctx, "tt_gradcheck", sizeof(float *) * (size_t)n_inputs);
    if (!saved) return ctx->err;
    for (k = 0; k < n_inputs; k++) {
        saved[k] = NULL;
        if (inputs[k]->flags & TT_REQUIRES_GRAD) {
            saved[k] = tt__scratch_floats(ctx, "tt_gradcheck", inputs[k]->numel + 1);
            if (!saved[k]) return ctx->err;
        }
    }
    wmark = tt_scratch_mark(ctx);
    out = fn(ctx, inputs, user);
    if (!out) return ctx->err != TT_OK ? ctx->err : tt__fail(ctx, TT_ERR_STATE, "tt_gradcheck: fn returned NULL");
    {
        /* weights live below the mark so they survive rewinds */
        size_t n = out->numel, i;
        tt_scratch_rewind(ctx, wmark);
        w = tt__scratch_floats(ctx, "tt_gradcheck", n + 1);
        if (!w) return ctx->err;
        for (i = 0; i < n; i++) w[i] = tt_rng_uniform(&ctx->rng) * 2.0f - 1.0f;
    }
    mark = tt_scratch_mark(ctx);
    for (k = 0; k < n_inputs; k++)
        if (saved[k]) memset(inputs[k]->grad, 0, inputs[k]->numel * sizeof(float));
    out = fn(ctx, inputs, user);
    if (!out) return ctx->err != TT_OK ? ctx->err : tt__fail(ctx, TT_ERR_STATE, "tt_gradcheck: fn returned NULL");
    if (tt_backward_seed(ctx, out, w) != TT_OK) return ctx->err;
    for (k = 0; k < n_inputs; k++)
        if (saved[k]) memcpy(saved[k], inputs[k]->grad, inputs[k]->numel * sizeof(float));
    tt_scratch_rewind(ctx, mark);

    /* numeric gradients, no graph needed */
    {
        int old = tt_set_grad_enabled(ctx, 0);
        for (k = 0; k < n_inputs && result == TT_OK; k++) {
            tt_tensor *x = inputs[k];
            size_t i;
            if (!saved[k]) continue;
            for (i = 0; i < x->numel; i++) {
                float x0 = x->data[i];
                double h = eps * (fabs((double)x0) > 1.0 ? fabs((double)x0) : 1.0);
                float xp = (float)((double)x0 + h), xm = (float)((double)x0 - h);
                double fp, fm, num, ana, err, excess;
                x->data[i] = xp;
                out = fn(ctx, inputs, user);
                if (!out) { x->data[i] = x0; result = ctx->err; break; }
                fp = tt__weighted_sum(out, w);
                tt_scratch_rewind(ctx, mark);
                x->data[i] = xm;
                out = fn(ctx, inputs, user);
                if (!out) { x->data[i] = x0; result = ctx->err; break; }
                fm = tt__weighted_sum(out, w);
                tt_scratch_rewind(ctx, mark);
                x->data[i] = x0;
                num = (fp - fm) / ((double)xp - (double)xm); /* the step actually taken in float */
                ana = (double)saved[k][i];
                err = fabs(ana - num);
                excess = err - (atol + rtol * fabs(num));
                rep.n_checked++;
                if (err > rep.max_abs_err) rep.max_abs_err = err;
                if (err / (fabs(num) > 1e-8 ? fabs(num) : 1e-8) > rep.max_rel_err)
                    rep.max_rel_err = err / (fabs(num) > 1e-8 ? fabs(num) : 1e-8);
                if (excess > rep.worst_excess) {
                    rep.worst_excess = excess;
                    rep.worst_input = k;
                    rep.worst_index = i;
                    rep.worst_analytic = ana;
                    rep.worst_numeric = num;
                }
            }
        }
        tt_set_grad_enabled(ctx, old);
    }
    /* restore the analytic gradients so the caller can inspect them */
    for (k = 0; k < n_inputs; k++)
        if (saved[k]) memcpy(inputs[k]->grad, saved[k], inputs[k]->numel * sizeof(float));
    tt_scratch_rewind(ctx, wmark);
    if (report) *report = rep;
    if (result != TT_OK) return result;
    if (rep.n_checked == 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_gradcheck: no input requires grad");
    return rep.worst_excess > 0 ? TT_ERR_GRADCHECK : TT_OK;
}

/* ==================================================================================== >>matmul
   Placeholder blocked kernel; the packed SIMD kernels replace it. */

struct tt__gemm_state { float *work; };
static size_t tt__gemm_state_bytes(const tt_desc *d) { (void)d; return sizeof(struct tt__gemm_state); }
static tt_result tt__gemm_init(tt_ctx *ctx, void *mem) {
    ctx->gemm = (struct tt__gemm_state *)mem;
    ctx->gemm->work = (float *)tt__persist(ctx, "tt_ctx_init", 64);
    if (!ctx->gemm->work) return ctx->err;
    ctx->kernel = TT_KERNEL_SCALAR;
    return TT_OK;
}
static void tt__gemm_free(tt_ctx *ctx) { ctx->gemm = NULL; }

static tt_result tt__sgemm_check(int ta, int tb, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                                 const float *c, int ldc) {
    if (m < 0 || n < 0 || k < 0) return TT_ERR_INVALID_ARGS;
    if (lda < TT__MAX(1, ta ? m : k) || ldb < TT__MAX(1, tb ? k : n) || ldc < TT__MAX(1, n)) return TT_ERR_INVALID_ARGS;
    if ((m && n && !c) || (m && n && k && (!a || !b))) return TT_ERR_INVALID_ARGS;
    return TT_OK;
}

TT__DEF tt_result tt_sgemm_naive(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                                 const float *b, int ldb, float beta, float *c, int ldc) {
    int i, j, p;
    tt_result r = tt__sgemm_check(ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
    if (r != TT_OK) return r;
    for (i = 0; i < m; i++)
        for (j = 0; j < n; j++) {
            float s = 0;
            for (p = 0; p < k; p++) s += (ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p]) *
                                         (tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j]);
            c[(size_t)i * ldc + j] = alpha * s + (beta == 0.0f ? 0.0f : beta * c[(size_t)i * ldc + j]);
        }
    return TT_OK;
}

TT__DEF tt_result tt_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                           const float *b, int ldb, float beta, float *c, int ldc) {
    return tt_sgemm_naive(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

TT__DEF tt_result tt_ctx_sgemm(tt_ctx *ctx, int ta, int tb, int m, int n, int k, float alpha, const float *a,
                               int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    r = tt_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    if (r != TT_OK) return tt__fail(ctx, r, "tt_sgemm: invalid arguments (m=%d n=%d k=%d lda=%d ldb=%d ldc=%d)", m, n, k, lda, ldb, ldc);
    return TT_OK;
}

TT__DEF tt_kernel tt_kernel_best(void) { return TT_KERNEL_SCALAR; }
TT__DEF int tt_kernel_supported(tt_kernel k) { return k == TT_KERNEL_SCALAR || k == TT_KERNEL_AUTO; }
TT__DEF const char *tt_kernel_name(tt_kernel k) {
    switch (k) {
    case TT_KERNEL_AUTO: return "auto";
    case TT_KERNEL_SCALAR: return "scalar";
    case TT_KERNEL_AVX2: return "avx2";
    case TT_KERNEL_AVX512: return "avx512";
    case TT_KERNEL_NEON: return "neon";
    default: return "unknown";
    }
}

/* ==================================================================================== >>ops_basic */

/* ---- broadcasting helpers ---- */

/* Broadcast shape of a and b (right-aligned); 0 if incompatible. */
static int tt__broadcast_shape(const tt_tensor *a, const tt_tensor *b, int *ndim, int *shape) {
    int nd = TT__MAX(a->ndim, b->ndim), i;
    for (i = 0; i < nd; i++) {
        int da = i - (nd - a->ndim), db = i - (nd - b->ndim);
        int sa = da >= 0 ? a->shape[da] : 1, sb = db >= 0 ? b->shape[db] : 1;
        if (sa != sb && sa != 1 && sb != 1) return 0;
        shape[i] = sa == 1 ? sb : sa;
    }
    *ndim = nd;
    return 1;
}

/* Strides of t seen with the output's ndim (0 where t broadcasts). */
static void tt__bstrides(const tt_tensor *t, int nd, const int *oshape, size_t *st) {
    size_t s = 1;
    int i;
    for (i = nd - 1; i >= 0; i--) {
        int d = i - (nd - t->ndim);
        int sz = d >= 0 ? t->shape[d] : 1;
        st[i] = (sz == 1 && oshape[i] != 1) ? 0 : s;
        if (d >= 0) s *= (size_t)sz;
    }
}

/* Offsets of a and b for every output element, in order (odometer over the output shape). */
typedef struct tt__bcast {
    int nd, shape[TT_MAX_DIMS], idx[TT_MAX_DIMS];
    size_t sa[TT_MAX_DIMS], sb[TT_MAX_DIMS], oa, ob;
} tt__bcast;

static void tt__bcast_init(tt__bcast *it, const tt_tensor *a, const tt_tensor *b, int nd, const int *shape) {
    int i;
    it->nd = nd;
    for (i = 0; i < nd; i++) { it->shape[i] = shape[i]; it->idx[i] = 0; }
    tt__bstrides(a, nd, shape, it->sa);
    tt__bstrides(b, nd, shape, it->sb);
    it->oa = it->ob = 0;
}
static void tt__bcast_next(tt__bcast *it) {
    int i;
    for (i = it->nd - 1; i >= 0; i--) {
        it->oa += it->sa[i];
        it->ob += it->sb[i];
        if (++it->idx[i] < it->shape[i]) return;
        it->oa -= it->sa[i] * (size_t)it->shape[i];
        it->ob -= it->sb[i] * (size_t)it->shape[i];
        it->idx[i] = 0;
    }
}

/* Binary op kinds share one forward and one backward. */
enum { TT__BIN_ADD, TT__BIN_SUB, TT__BIN_MUL, TT__BIN_DIV, TT__BIN_POW, TT__BIN_MAX, TT__BIN_MIN };

static float tt__bin_f(int op, float a, float b) {
    switch (op) {
    case TT__BIN_ADD: return a + b;
    case TT__BIN_SUB: return a - b;
    case TT__BIN_MUL: return a * b;
    case TT__BIN_DIV: return a / b;
    case TT__BIN_POW: return powf(a, b);
    case TT__BIN_MAX: return a >= b ? a : b;
    default: return a <= b ? a : b;
    }
}

/* partial derivatives of op at (a, b) with output y */
static void tt__bin_df(int op, float a, float b, float y, float *da, float *db) {
    switch (op) {
    case TT__BIN_ADD: *da = 1; *db = 1; break;
    case TT__BIN_SUB: *da = 1; *db = -1; break;
    case TT__BIN_MUL: *da = b; *db = a; break;
    case TT__BIN_DIV: *da = 1.0f / b; *db = -a / (b * b); break;
    case TT__BIN_POW:
        /* PyTorch: d/da = b*a^(b-1) (0 when b == 0); d/db = y*log(a), 0 where a == 0 and b >= 0 */
        *da = b == 0.0f ? 0.0f : b * powf(a, b - 1.0f);
        *db = (a == 0.0f && b >= 0.0f) ? 0.0f : y * logf(a);
        break;
    case TT__BIN_MAX: /* ties split the gradient evenly, as PyTorch does */
        *da = a > b ? 1.0f : (a == b ? 0.5f : 0.0f); *db = 1.0f - *da; break;
    default:
        *da = a < b ? 1.0f : (a == b ? 0.5f : 0.0f); *db = 1.0f - *da; break;
    }
}

static void tt__binary_backward(tt_ctx *ctx, tt__node *n) {
    tt_tensor *a = n->in[0], *b = n->in[1], *y = n->out;
    int op = n->i[0];
    tt__bcast it;
    size_t i;
    (void)ctx;
    tt__bcast_init(&it, a, b, y->ndim, y->shape);
    for (i = 0; i < y->numel; i++, tt__bcast_next(&it)) {
        float da, db, g = y->grad[i];
        tt__bin_df(op, a->data[it.oa], b->data[it.ob], y->data[i], &da, &db);
        if (a->grad) a->grad[it.oa] += g * da;
        if (b->grad) b->grad[it.ob] += g * db;
    }
}

static tt_tensor *tt__binary(tt_ctx *ctx, const char *op, int kind, tt_tensor *a, tt_tensor *b) {
    int nd, shape[TT_MAX_DIMS];
    tt_tensor *y;
    size_t i;
    if (!tt__in(ctx, op, a) || !tt__in(ctx, op, b)) return NULL;
    if (!tt__broadcast_shape(a, b, &nd, shape)) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: shapes %S and %S do not broadcast", op, a, b);
        return NULL;
    }
    y = tt__out(ctx, op, nd, shape, a, b, NULL);
    if (!y) return NULL;
    if (tt_same_shape(a, b)) {
        for (i = 0; i < y->numel; i++) y->data[i] = tt__bin_f(kind, a->data[i], b->data[i]);
    } else {
        tt__bcast it;
        tt__bcast_init(&it, a, b, nd, shape);
        for (i = 0; i < y->numel; i++, tt__bcast_next(&it)) y->data[i] = tt__bin_f(kind, a->data[it.oa], b->data[it.ob]);
    }
    if (y->node) {
        y->node->i[0] = kind;
        y->node->backward = tt__binary_backward;
    }
    return tt__done(ctx, y);
}

TT__DEF tt_tensor *tt_add(tt_ctx *ctx, tt_tensor *a, tt_tensor *b) { return tt__binary(ctx, "add", TT__BIN_ADD, a, b); }
TT__DEF tt_tensor *tt_mul(tt_ctx *ctx, tt_tensor *a, tt_tensor *b) { return tt__binary(ctx, "mul", TT__BIN_MUL, a, b); }

/* ---- relu: the smallest complete op ---- */
static void tt__relu_backward(tt_ctx *ctx, tt__node *n) {
    tt_tensor *x = n->in[0], *y = n->out;
    size_t i;
    (void)ctx;
    if (!x->grad) return;
    for (i = 0; i < y->numel; i++)
        if (x->data[i] > 0) x->grad[i] += y->grad[i];
}

TT__DEF tt_tensor *tt_relu(tt_ctx *ctx, tt_tensor *x) {
    tt_tensor *y;
    size_t i;
    if (!tt__in(ctx, "relu", x)) return NULL;
    y = tt__out(ctx, "relu", x->ndim, x->shape, x, NULL, NULL);
    if (!y) return NULL;
    for (i = 0; i < x->numel; i++) y->data[i] = x->data[i] > 0 ? x->data[i] : 0.0f;
    if (y->node) y->node->backward = tt__relu_backward;
    return tt__done(ctx, y);
}

/* ---- sum of everything ---- */
static void tt__sum_backward(tt_ctx *ctx, tt__node *n) {
    tt_tensor *x = n->in[0];
    float g = n->out->grad[0];
    size_t i;
    (void)ctx;
    if (!x->grad) return;
    for (i = 0; i < x->numel; i++) x->grad[i] += g;
}

TT__DEF tt_tensor *tt_sum(tt_ctx *ctx, tt_tensor *x) {
    tt_tensor *y;
    double s = 0;
    size_t i;
    if (!tt__in(ctx, "sum", x)) return NULL;
    y = tt__out(ctx, "sum", 0, NULL, x, NULL, NULL);
    if (!y) return NULL;
    for (i = 0; i < x->numel; i++) s += x->data[i];
    y->data[0] = (float)s;
    if (y->node) y->node->backward = tt__sum_backward;
    return tt__done(ctx, y);
}

/* ---- matmul: (..., m, k) x (..., k, n) with broadcast batch dims; 1-D b as (k, 1) not supported ---- */

/* batch offsets: for output batch index bi, the batch index into a and b */
static size_t tt__batch_index(const tt_tensor *t, const int *oshape, int obd, size_t bi) {
    /* t has t->ndim - 2 batch dims, right-aligned with obd output batch dims */
    int tbd = t->ndim - 2, i;
    size_t idx = 0, stride = 1;
    for (i = obd - 1; i >= 0; i--) {
        int coord = (int)(bi % (size_t)oshape[i]);
        int d = i - (obd - tbd);
        bi /= (size_t)oshape[i];
        if (d >= 0) {
            if (t->shape[d] != 1) idx += (size_t)coord * stride;
            stride *= (size_t)t->shape[d];
        }
    }
    return idx;
}

static void tt__matmul_backward(tt_ctx *ctx, tt__node *n) {
    tt_tensor *a = n->in[0], *b = n->in[1], *y = n->out;
    int m = n->i[0], k = n->i[1], nn = n->i[2], obd = y->ndim - 2;
    size_t nb = tt_shape_numel(obd, y->shape), bi;
    if (m == 0 || nn == 0) return;
    for (bi = 0; bi < nb; bi++) {
        size_t ia = tt__batch_index(a, y->shape, obd, bi), ib = tt__batch_index(b, y->shape, obd, bi);
        const float *gy = y->grad + bi * (size_t)m * nn;
        /* dA = dY B^T ; dB = A^T dY (accumulate: beta = 1) */
        if (a->grad) tt_ctx_sgemm(ctx, 0, 1, m, k, nn, 1.0f, gy, nn, b->data + ib * (size_t)k * nn, nn, 1.0f, a->grad + ia * (size_t)m * k, k);
        if (b->grad) tt_ctx_sgemm(ctx, 1, 0, k, nn, m, 1.0f, a->data + ia * (size_t)m * k, k, gy, nn, 1.0f, b->grad + ib * (size_t)k * nn, nn);
    }
}

TT__DEF tt_tensor *tt_matmul(tt_ctx *ctx, tt_tensor *a, tt_tensor *b) {
    int shape[TT_MAX_DIMS], abd, bbd, obd, i, m, k, nn;
    tt_tensor *y;
    size_t nb, bi;
    if (!tt__in(ctx, "matmul", a) || !tt__in(ctx, "matmul", b)) return NULL;
    if (a->ndim < 2 || b->ndim < 2 || a->shape[a->ndim - 1] != b->shape[b->ndim - 2]) {
        tt__fail(ctx, TT_ERR_SHAPE, "matmul: shapes %S and %S do not fit (need (...,m,k) x (...,k,n))", a, b);
        return NULL;
    }
    m = a->shape[a->ndim - 2]; k = a->shape[a->ndim - 1]; nn = b->shape[b->ndim - 1];
    abd = a->ndim - 2; bbd = b->ndim - 2; obd = TT__MAX(abd, bbd);
    for (i = 0; i < obd; i++) {
        int da = i - (obd - abd), db = i - (obd - bbd);
        int sa = da >= 0 ? a->shape[da] : 1, sb = db >= 0 ? b->shape[db] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            tt__fail(ctx, TT_ERR_SHAPE, "matmul: batch dimensions of %S and %S do not broadcast", a, b);
            return NULL;
        }
        shape[i] = sa == 1 ? sb : sa;
    }
    shape[obd] = m; shape[obd + 1] = nn;
    y = tt__out(ctx, "matmul", obd + 2, shape, a, b, NULL);
    if (!y) return NULL;
    nb = tt_shape_numel(obd, shape);
    for (bi = 0; bi < nb; bi++) {
        size_t ia = tt__batch_index(a, shape, obd, bi), ib = tt__batch_index(b, shape, obd, bi);
        if (tt_ctx_sgemm(ctx, 0, 0, m, nn, k, 1.0f, a->data + ia * (size_t)m * k, TT__MAX(k, 1),
                         b->data + ib * (size_t)k * nn, TT__MAX(nn, 1), 0.0f, y->data + bi * (size_t)m * nn,
                         TT__MAX(nn, 1)) != TT_OK)
            return NULL;
    }
    if (y->node) {
        y->node->i[0] = m; y->node->i[1] = k; y->node->i[2] = nn;
        y->node->backward = tt__matmul_backward;
    }
    return tt__done(ctx, y);
}

/* ---- linear: y = x W^T + b over the last dim of x ---- */
static void tt__linear_backward(tt_ctx *ctx, tt__node *n) {
    tt_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2], *y = n->out;
    int rows = n->i[0], in = n->i[1], out = n->i[2], r, j;
    if (rows == 0) return;
    if (x->grad) tt_ctx_sgemm(ctx, 0, 0, rows, in, out, 1.0f, y->grad, TT__MAX(out, 1), w->data, TT__MAX(in, 1), 1.0f, x->grad, TT__MAX(in, 1));
    if (w->grad) tt_ctx_sgemm(ctx, 1, 0, out, in, rows, 1.0f, y->grad, TT__MAX(out, 1), x->data, TT__MAX(in, 1), 1.0f, w->grad, TT__MAX(in, 1));
    if (b && b->grad)
        for (r = 0; r < rows; r++)
            for (j = 0; j < out; j++) b->grad[j] += y->grad[(size_t)r * out + j];
}

TT__DEF tt_tensor *tt_linear(tt_ctx *ctx, tt_tensor *x, tt_tensor *w, tt_tensor *b) {
    int shape[TT_MAX_DIMS], in, out, rows, i, j;
    tt_tensor *y;
    if (!tt__in(ctx, "linear", x) || !tt__in(ctx, "linear", w)) return NULL;
    if (x->ndim < 1 || w->ndim != 2 || x->shape[x->ndim - 1] != w->shape[1] ||
        (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))) {
        tt__fail(ctx, TT_ERR_SHAPE, "linear: x %S, weight %S, bias %S do not fit (need x (...,in), weight (out,in), bias (out))",
                 x, w, b);
        return NULL;
    }
    in = w->shape[1]; out = w->shape[0];
    rows = (int)(x->numel / (size_t)(in ? in : 1));
    if (in == 0) rows = (int)tt_shape_numel(x->ndim - 1, x->shape);
    for (i = 0; i < x->ndim - 1; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = out;
    y = tt__out(ctx, "linear", x->ndim, shape, x, w, b);
    if (!y) return NULL;
    if (b)
        for (i = 0; i < rows; i++)
            for (j = 0; j < out; j++) y->data[(size_t)i * out + j] = b->data[j];
    if (rows && out &&
        tt_ctx_sgemm(ctx, 0, 1, rows, out, in, 1.0f, x->data, TT__MAX(in, 1), w->data, TT__MAX(in, 1), b ? 1.0f : 0.0f,
                     y->data, TT__MAX(out, 1)) != TT_OK)
        return NULL;
    if (y->node) {
        y->node->i[0] = rows; y->node->i[1] = in; y->node->i[2] = out;
        y->node->backward = tt__linear_backward;
    }
    return tt__done(ctx, y);
}

TT__DEF tt_result tt_sgd_step_simple(tt_ctx *ctx, float lr) {
    size_t i;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!(lr >= 0)) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_sgd_step_simple: lr must be >= 0, got %g", (double)lr);
    if (ctx->n_params == 0) tt__warn(ctx, "tt_sgd_step_simple: the context has no parameters");
    for (i = 0; i < ctx->n_params; i++) ctx->param_data[i] -= lr * ctx->param_grad[i];
    return TT_OK;
}


/* ==================================================================================== >>ops_math */

/* ---- (ops_math implementation: begin) ---- */
/* ---- (ops_math implementation: end) ---- */


/* ==================================================================================== >>ops_shape */

/* ---- (ops_shape implementation: begin) ---- */
/* ---- (ops_shape implementation: end) ---- */


/* ==================================================================================== >>ops_conv */

/* ---- (ops_conv implementation: begin) ---- */
/* ---- (ops_conv implementation: end) ---- */


/* ==================================================================================== >>ops_nn */

/* ---- (ops_nn implementation: begin) ---- */
/* ---- (ops_nn implementation: end) ---- */


/* ==================================================================================== >>loss */

/* ---- (loss implementation: begin) ---- */
/* ---- (loss implementation: end) ---- */


/* ==================================================================================== >>optim */

/* ---- (optim implementation: begin) ---- */
/* ---- (optim implementation: end) ---- */


/* ==================================================================================== >>sched */

/* ---- (sched implementation: begin) ---- */
/* Schedules follow torch/optim/lr_scheduler.py line by line:
     tt__sched_start  = the construction step (_initial_step: last_epoch 0, "is_initial" mode)
     tt__sched_advance = step(): last_epoch + 1, then the chainable get_lr() on the current lr
     tt__sched_reset0 = _update_lr(0), used by SequentialLR at a milestone: the closed form
                        (_get_closed_form_lr) at epoch 0 where torch has one, else get_lr()
   lr_in is torch's group["lr"]: the lr before this call. For a single schedule it is its own lr;
   a ChainedScheduler passes one lr through all its children, which is how torch composes them.
   Everything is computed in double, with the same operation order as torch's Python code. */

static int tt__sched_finite(double v) { return v - v == 0.0; }

static const char *tt__sched_name(tt_sched_kind k) {
    switch (k) {
    case TT_SCHED_LAMBDA: return "LambdaLR";
    case TT_SCHED_MULTIPLICATIVE: return "MultiplicativeLR";
    case TT_SCHED_STEP: return "StepLR";
    case TT_SCHED_MULTISTEP: return "MultiStepLR";
    case TT_SCHED_CONSTANT: return "ConstantLR";
    case TT_SCHED_LINEAR: return "LinearLR";
    case TT_SCHED_EXPONENTIAL: return "ExponentialLR";
    case TT_SCHED_POLYNOMIAL: return "PolynomialLR";
    case TT_SCHED_COSINE: return "CosineAnnealingLR";
    case TT_SCHED_COSINE_RESTARTS: return "CosineAnnealingWarmRestarts";
    case TT_SCHED_CYCLIC: return "CyclicLR";
    case TT_SCHED_ONE_CYCLE: return "OneCycleLR";
    case TT_SCHED_PLATEAU: return "ReduceLROnPlateau";
    case TT_SCHED_SEQUENTIAL: return "SequentialLR";
    case TT_SCHED_CHAINED: return "ChainedScheduler";
    case TT_SCHED_WARMUP_COSINE: return "warmup_cosine";
    default: return "uninitialised schedule";
    }
}

static int tt__sched_is_composite(tt_sched_kind k) {
    return k == TT_SCHED_SEQUENTIAL || k == TT_SCHED_CHAINED || k == TT_SCHED_WARMUP_COSINE;
}

/* Python's a % b for b > 0 (never negative). */
static int tt__sched_pymod(int a, int b) {
    int r = a % b;
    return r < 0 ? r + b : r;
}

/* bisect.bisect_right: how many of the sorted values are <= t. */
static int tt__sched_bisect_right(const int *v, int n, int t) {
    int i = 0;
    while (i < n && v[i] <= t) i++;
    return i;
}

/* LinearLR, recursive get_lr (also used by warmup_cosine). */
static double tt__sched_linear_get(double start, double end, int total, int t, int initial, double lr) {
    if (t == 0) return lr * start;
    if (initial || t > total) return lr;
    return lr * (1.0 + (end - start) / (total * start + (t - 1) * (end - start)));
}

/* CosineAnnealingLR, recursive get_lr (torch's _step_count == 1 resume branch never applies). */
static double tt__sched_cosine_get(double base, double eta_min, int T_max, int t, int initial, double lr) {
    const double pi = 3.141592653589793;
    if (initial) return lr;
    if (tt__sched_pymod(t - 1 - T_max, 2 * T_max) == 0)
        return lr + (base - eta_min) * (1 - cos(pi / T_max)) / 2;
    return (1 + cos(pi * t / T_max)) / (1 + cos(pi * (t - 1) / T_max)) * (lr - eta_min) + eta_min;
}

static double tt__sched_cosine_closed(double base, double eta_min, int T_max, int t) {
    const double pi = 3.141592653589793;
    return eta_min + (base - eta_min) * (1 + cos(pi * t / T_max)) / 2;
}

/* OneCycleLR annealing from start to end, pct in [0, 1]. */
static double tt__sched_anneal(tt_anneal how, double start, double end, double pct) {
    const double pi = 3.141592653589793;
    if (how == TT_ANNEAL_LINEAR) return (end - start) * pct + start;
    return end + (start - end) / 2.0 * (cos(pi * pct) + 1);
}

/* torch get_lr() (closed = 0) or _get_closed_form_lr() (closed = 1, kinds that have one) at
   t = s->last_epoch, given the current lr. Cyclic / one-cycle also set s->momentum. */
static tt_result tt__sched_get(tt_ctx *ctx, tt_sched *s, double lr, int initial, int closed, double *out) {
    const double base = s->base_lr;
    const int t = s->last_epoch;
    switch (s->kind) {
    case TT_SCHED_LAMBDA:
        *out = base * s->u.lambda.fn(t, s->u.lambda.user);
        return TT_OK;
    case TT_SCHED_MULTIPLICATIVE:
        *out = initial ? lr : lr * s->u.lambda.fn(t, s->u.lambda.user);
        return TT_OK;
    case TT_SCHED_STEP: {
        int k = s->u.step.step_size;
        if (closed) *out = base * pow(s->u.step.gamma, (double)(t / k));
        else *out = (t == 0 || t % k != 0) ? lr : lr * s->u.step.gamma;
        return TT_OK;
    }
    case TT_SCHED_MULTISTEP: {
        int i, count = 0;
        if (closed) {
            *out = base * pow(s->u.multistep.gamma,
                              (double)tt__sched_bisect_right(s->u.multistep.milestones, s->u.multistep.n, t));
            return TT_OK;
        }
        for (i = 0; i < s->u.multistep.n; i++) count += s->u.multistep.milestones[i] == t;
        *out = count == 0 ? lr : lr * pow(s->u.multistep.gamma, (double)count);
        return TT_OK;
    }
    case TT_SCHED_CONSTANT: {
        double f = s->u.constant.factor;
        int total = s->u.constant.total_iters;
        if (closed) *out = base * (f + (t >= total ? 1 - f : 0.0));
        else if (t == 0) *out = lr * f;
        else *out = t != total ? lr : lr * (1.0 / f);
        return TT_OK;
    }
    case TT_SCHED_LINEAR: {
        double a = s->u.linear.start_factor, b = s->u.linear.end_factor;
        int total = s->u.linear.total_iters;
        if (closed) *out = base * (a + (b - a) * TT__MIN(total, t) / total);
        else *out = tt__sched_linear_get(a, b, total, t, initial, lr);
        return TT_OK;
    }
    case TT_SCHED_EXPONENTIAL:
        if (closed) *out = base * pow(s->u.exponential.gamma, (double)t);
        else *out = initial ? lr : lr * s->u.exponential.gamma;
        return TT_OK;
    case TT_SCHED_POLYNOMIAL: {
        int total = s->u.polynomial.total_iters;
        double p = s->u.polynomial.power;
        if (closed) *out = base * pow(1.0 - (double)TT__MIN(total, t) / total, p);
        else if (initial || t > total) *out = lr;
        else *out = lr * pow((1.0 - (double)t / total) / (1.0 - (double)(t - 1) / total), p);
        return TT_OK;
    }
    case TT_SCHED_COSINE:
        if (closed) *out = tt__sched_cosine_closed(base, s->u.cosine.eta_min, s->u.cosine.T_max, t);
        else *out = tt__sched_cosine_get(base, s->u.cosine.eta_min, s->u.cosine.T_max, t, initial, lr);
        return TT_OK;
    case TT_SCHED_COSINE_RESTARTS: {
        const double pi = 3.141592653589793, eta = s->u.restarts.eta_min;
        *out = eta + (base - eta) * (1 + cos(pi * s->u.restarts.T_cur / s->u.restarts.T_i)) / 2;
        return TT_OK;
    }
    case TT_SCHED_CYCLIC: {
        const tt_cyclic_opts *o = &s->u.cyclic.o;
        double total = s->u.cyclic.total_size, ratio = s->u.cyclic.step_ratio;
        double cycle = floor(1 + t / total), x = 1.0 + t / total - cycle, scale, f;
        scale = x <= ratio ? x / ratio : (x - 1) / (ratio - 1);
        if (o->mode == TT_CYCLIC_TRIANGULAR) f = 1.0;
        else if (o->mode == TT_CYCLIC_TRIANGULAR2) f = 1 / pow(2.0, cycle - 1);
        else f = pow(o->gamma, (double)t); /* exp_range scales by iterations */
        *out = o->base_lr + (o->max_lr - o->base_lr) * scale * f;
        if (o->cycle_momentum) s->momentum = o->max_momentum - (o->max_momentum - o->base_momentum) * scale * f;
        return TT_OK;
    }
    case TT_SCHED_ONE_CYCLE: {
        double start_step = 0.0;
        int i, n = s->u.one_cycle.n_phases;
        if (t > s->u.one_cycle.total_steps)
            return tt__fail(ctx, TT_ERR_STATE, "OneCycleLR: tried to step %d times; the specified number of total steps is %d",
                            t, s->u.one_cycle.total_steps);
        for (i = 0; i < n; i++) {
            double end_step = s->u.one_cycle.end_step[i], pct;
            if (t <= end_step || i == n - 1) {
                tt_anneal how = s->u.one_cycle.o.anneal_strategy;
                if (end_step - start_step == 0.0)
                    return tt__fail(ctx, TT_ERR_INVALID_ARGS,
                                    "OneCycleLR: phase %d has zero length (pct_start %g, total_steps %d): division by zero",
                                    i + 1, s->u.one_cycle.o.pct_start, s->u.one_cycle.total_steps);
                pct = (t - start_step) / (end_step - start_step);
                *out = tt__sched_anneal(how, s->u.one_cycle.start_lr[i], s->u.one_cycle.end_lr[i], pct);
                if (s->u.one_cycle.o.cycle_momentum)
                    s->momentum = tt__sched_anneal(how, s->u.one_cycle.start_mom[i], s->u.one_cycle.end_mom[i], pct);
                return TT_OK;
            }
            start_step = end_step;
        }
        return TT_OK; /* not reached: the last phase always matches */
    }
    default:
        return tt__fail(ctx, TT_ERR_STATE, "tt_sched: %s has no per-step formula", tt__sched_name(s->kind));
    }
}

static tt_result tt__sched_start(tt_ctx *ctx, tt_sched *s, double lr_in, double *out);

/* Shared by composites: momentum of the active child (sequential) or the last cycling one. */
static void tt__sched_take_momentum(tt_sched *s, const tt_sched *child) {
    if (child->has_momentum) { s->momentum = child->momentum; s->has_momentum = 1; }
}

/* SequentialLR milestone: _update_lr(0). */
static tt_result tt__sched_reset0(tt_ctx *ctx, tt_sched *s, double lr_in, double *out) {
    tt_result r;
    int closed = s->kind == TT_SCHED_STEP || s->kind == TT_SCHED_MULTISTEP || s->kind == TT_SCHED_CONSTANT ||
                 s->kind == TT_SCHED_LINEAR || s->kind == TT_SCHED_EXPONENTIAL || s->kind == TT_SCHED_POLYNOMIAL ||
                 s->kind == TT_SCHED_COSINE;
    s->last_epoch = 0;
    if ((r = tt__sched_get(ctx, s, lr_in, 0, closed, out)) != TT_OK) return r;
    s->lr = *out;
    return TT_OK;
}

/* The construction step; also resets all state, so a composite can restart its children. */
static tt_result tt__sched_start(tt_ctx *ctx, tt_sched *s, double lr_in, double *out) {
    tt_result r;
    int i;
    double lr = lr_in, dummy;
    s->last_epoch = 0;
    switch (s->kind) {
    case TT_SCHED_COSINE_RESTARTS: /* torch: step(epoch=0) */
        s->u.restarts.T_i = s->u.restarts.T_0;
        s->u.restarts.T_cur = 0;
        break;
    case TT_SCHED_PLATEAU: /* no construction step in torch */
        s->u.plateau.best = s->u.plateau.o.mode_max ? -INFINITY : INFINITY;
        s->u.plateau.num_bad_epochs = 0;
        s->u.plateau.cooldown_counter = 0;
        *out = s->lr = s->base_lr;
        return TT_OK;
    case TT_SCHED_SEQUENTIAL:
        /* torch: every child was constructed, the lr reset to initial_lr, the first restarted */
        for (i = 0; i < s->u.composite.n; i++)
            if ((r = tt__sched_start(ctx, s->u.composite.children[i], s->base_lr, &dummy)) != TT_OK) return r;
        if ((r = tt__sched_start(ctx, s->u.composite.children[0], s->base_lr, out)) != TT_OK) return r;
        s->has_momentum = 0;
        tt__sched_take_momentum(s, s->u.composite.children[0]);
        s->lr = *out;
        return TT_OK;
    case TT_SCHED_CHAINED:
        s->has_momentum = 0;
        lr = s->base_lr;
        for (i = 0; i < s->u.composite.n; i++) {
            if ((r = tt__sched_start(ctx, s->u.composite.children[i], lr, &lr)) != TT_OK) return r;
            tt__sched_take_momentum(s, s->u.composite.children[i]);
        }
        *out = s->lr = lr;
        return TT_OK;
    case TT_SCHED_WARMUP_COSINE:
        lr = s->base_lr;
        *out = s->lr = s->u.warmup_cosine.warmup_steps > 0 ? lr * s->u.warmup_cosine.start_factor : lr;
        return TT_OK;
    case TT_SCHED_CYCLIC: /* torch sets the lr to base_lr before its construction step */
        lr = s->base_lr;
        break;
    default:
        break;
    }
    if ((r = tt__sched_get(ctx, s, lr, 1, 0, out)) != TT_OK) return r;
    s->lr = *out;
    return TT_OK;
}

/* step(): advance one epoch from the current lr lr_in. */
static tt_result tt__sched_advance(tt_ctx *ctx, tt_sched *s, double lr_in, double *out) {
    tt_result r;
    int i;
    switch (s->kind) {
    case TT_SCHED_PLATEAU:
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_sched_step: ReduceLROnPlateau needs the metric: use tt_sched_step_metric");
    case TT_SCHED_SEQUENTIAL: {
        int t = s->last_epoch + 1;
        int idx = tt__sched_bisect_right(s->u.composite.milestones, s->u.composite.n - 1, t);
        tt_sched *child = s->u.composite.children[idx];
        r = (idx > 0 && s->u.composite.milestones[idx - 1] == t) ? tt__sched_reset0(ctx, child, lr_in, out)
                                                                 : tt__sched_advance(ctx, child, lr_in, out);
        if (r != TT_OK) return r;
        s->last_epoch = t;
        s->has_momentum = 0;
        tt__sched_take_momentum(s, child);
        s->lr = *out;
        return TT_OK;
    }
    case TT_SCHED_CHAINED: {
        double lr = lr_in;
        s->has_momentum = 0;
        for (i = 0; i < s->u.composite.n; i++) {
            if ((r = tt__sched_advance(ctx, s->u.composite.children[i], lr, &lr)) != TT_OK) return r;
            tt__sched_take_momentum(s, s->u.composite.children[i]);
        }
        s->last_epoch++;
        *out = s->lr = lr;
        return TT_OK;
    }
    case TT_SCHED_WARMUP_COSINE: {
        int t = s->last_epoch + 1, w = s->u.warmup_cosine.warmup_steps, T = s->u.warmup_cosine.T_max;
        double eta = s->u.warmup_cosine.eta_min;
        if (t < w) *out = tt__sched_linear_get(s->u.warmup_cosine.start_factor, 1.0, w, t, 0, lr_in);
        else if (t == w) *out = tt__sched_cosine_closed(s->base_lr, eta, T, 0);
        else *out = tt__sched_cosine_get(s->base_lr, eta, T, t - w, 0, lr_in);
        s->last_epoch = t;
        s->lr = *out;
        return TT_OK;
    }
    case TT_SCHED_COSINE_RESTARTS:
        s->u.restarts.T_cur += 1;
        if (s->u.restarts.T_cur >= s->u.restarts.T_i) {
            s->u.restarts.T_cur = fmod(s->u.restarts.T_cur, s->u.restarts.T_i);
            s->u.restarts.T_i *= s->u.restarts.T_mult;
        }
        break;
    default:
        break;
    }
    s->last_epoch++;
    if ((r = tt__sched_get(ctx, s, lr_in, 0, 0, out)) != TT_OK) return r;
    s->lr = *out;
    return TT_OK;
}

/* ---- construction ---- */

/* Common checks; on success *t is a zeroed schedule of that kind. */
static tt_result tt__sched_begin(tt_ctx *ctx, const char *op, tt_sched *s, tt_sched *t, tt_sched_kind kind, double base_lr) {
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!s) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: schedule is NULL", op);
    if (!tt__sched_finite(base_lr) || base_lr < 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: base_lr must be finite and >= 0, got %g", op, base_lr);
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->base_lr = base_lr;
    return TT_OK;
}

/* Construction step on the local copy, then publish it (s untouched on error). */
static tt_result tt__sched_finish(tt_ctx *ctx, tt_sched *s, tt_sched *t) {
    tt_result r;
    double lr;
    t->has_momentum = (t->kind == TT_SCHED_CYCLIC && t->u.cyclic.o.cycle_momentum) ||
                      (t->kind == TT_SCHED_ONE_CYCLE && t->u.one_cycle.o.cycle_momentum);
    if ((r = tt__sched_start(ctx, t, t->base_lr, &lr)) != TT_OK) return r;
    *s = *t;
    return TT_OK;
}

TT__DEF tt_result tt_sched_init_lambda(tt_ctx *ctx, tt_sched *s, double base_lr, tt_sched_lambda_fn fn, void *user) {
    tt_result r;
    tt_sched t;
    if ((r = tt__sched_begin(ctx, "LambdaLR", s, &t, TT_SCHED_LAMBDA, base_lr)) != TT_OK) return r;
    if (!fn) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "LambdaLR: lr_lambda is NULL");
    t.u.lambda.fn = fn;
    t.u.lambda.user = user;
    return tt__sched_finish(ctx, s, &t);
}

TT__DEF tt_result tt_sched_init_multiplicative(tt_ctx *ctx, tt_sched *s, double base_lr, tt_sched_lambda_fn fn, void *user) {
    tt_result r;
    tt_sched t;
    if ((r = tt__sched_begin(ctx, "MultiplicativeLR", s, &t, TT_SCHED_MULTIPLICATIVE, base_lr)) != TT_OK) return r;
    if (!fn) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "MultiplicativeLR: lr_lambda is NULL");
    t.u.lambda.fn = fn;
    t.u.lambda.user = user;
    return tt__sched_finish(ctx, s, &t);
}

TT__DEF tt_result tt_sched_init_step(tt_ctx *ctx, tt_sched *s, double base_lr, int step_size, double gamma) {
    tt_result r;
    tt_sched t;
    if ((r = tt__sched_begin(ctx, "StepLR", s, &t, TT_SCHED_STEP, base_lr)) != TT_OK) return r;
    if (step_size <= 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "StepLR: step_size must be > 0, got %d", step_size);
    if (!tt__sched_finite(gamma) || gamma <= 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "StepLR: gamma must be > 0, got %g", gamma);
    t.u.step.step_size = step_size;
    t.u.step.gamma = gamma;
    return tt__sched_finish(ctx, s, &t);
}

TT__DEF tt_result tt_sched_init_multistep(tt_ctx *ctx, tt_sched *s, double base_lr, int n_milestones,
                                          const int *milestones, double gamma) {
    tt_sched t;
    tt_result r;
    int i;
    if ((r = tt__sched_begin(ctx, "MultiStepLR", s, &t, TT_SCHED_MULTISTEP, base_lr)) != TT_OK) return r;
    if (n_milestones < 0 || n_milestones > TT_SCHED_MAX_MILESTONES)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "MultiStepLR: milestones count must be 0..%d, got %d", TT_SCHED_MAX_MILESTONES, n_milestones);
    if (n_milestones > 0 && !milestones) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "MultiStepLR: milestones is NULL");
    for (i = 0; i < n_milestones; i++) {
        if (milestones[i] < 0)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "MultiStepLR: milestones[%d] must be >= 0, got %d", i, milestones[i]);
        if (i > 0 && milestones[i] < milestones[i - 1])
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "MultiStepLR: milestones must be increasing, got %d after %d",
                            milestones[i], milestones[i - 1]);
        t.u.multistep.milestones[i] = milestones[i];
    }
    if (!tt__sched_finite(gamma) || gamma <= 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "MultiStepLR: gamma must be > 0, got %g", gamma);
    t.u.multistep.n = n_milestones;
    t.u.multistep.gamma = gamma;
    return tt__sched_finish(ctx, s, &t);
}

TT__DEF tt_result tt_sched_init_constant(tt_ctx *ctx, tt_sched *s, double base_lr, double factor, int total_iters) {
    tt_result r;
    tt_sched t;
    if ((r = tt__sched_begin(ctx, "ConstantLR", s, &t, TT_SCHED_CONSTANT, base_lr)) != TT_OK) return r;
    /* torch accepts factor 0 but then divides by it at total_iters */
    if (!(factor > 0 && factor <= 1))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "ConstantLR: factor expected to be in (0, 1], got %g", factor);
    if (total_iters <= 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "ConstantLR: total_iters must be > 0, got %d", total_iters);
    t.u.constant.factor = factor;
    t.u.constant.total_iters = total_iters;
    return tt__sched_finish(ctx, s, &t);
}

TT__DEF tt_result tt_sched_init_linear(tt_ctx *ctx, tt_sched *s, double base_lr, double start_factor,
                                       double end_factor, int total_iters) {
    tt_sched t;
    tt_result r;
    if ((r = tt__sched_begin(ctx, "LinearLR", s, &t, TT_SCHED_LINEAR, base_lr)) != TT_OK) return r;
    if (!(start_factor > 0 && start_factor <= 1))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "LinearLR: start_factor expected to be greater than 0 and less or equal to 1, got %g",
                        start_factor);
    if (!(end_factor >= 0 && end_factor <= 1))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "LinearLR: end_factor expected to be between 0 and 1, got %g", end_factor);
    if (total_iters <= 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "LinearLR: total_iters must be > 0, got %d", total_iters);
    t.u.linear.start_factor = start_factor;
    t.u.linear.end_factor = end_factor;
    t.u.linear.total_iters = total_iters;
    return tt__sched_finish(ctx, s, &t);
}

TT__DEF tt_result tt_sched_init_exponential(tt_ctx *ctx, tt_sched *s, double base_lr, double gamma) {
    tt_result r;
    tt_sched t;
    if ((r = tt__sched_begin(ctx, "ExponentialLR", s, &t, TT_SCHED_EXPONENTIAL, base_lr)) != TT_OK) return r;
    if (!tt__sched_finite(gamma) || gamma <= 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "ExponentialLR: gamma must be > 0, got %g", gamma);
    t.u.exponential.gamma = gamma;
    return tt__sched_finish(ctx, s, &t);
}

TT__DEF tt_result tt_sched_init_polynomial(tt_ctx *ctx, tt_sched *s, double base_lr, int total_iters, double power) {
    tt_result r;
    tt_sched t;
    if ((r = tt__sched_begin(ctx, "PolynomialLR", s, &t, TT_SCHED_POLYNOMIAL, base_lr)) != TT_OK) return r;
    if (total_iters <= 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "PolynomialLR: total_iters must be > 0, got %d", total_iters);
    if (!tt__sched_finite(power) || power < 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "PolynomialLR: power must be >= 0, got %g", power);
    t.u.polynomial.total_iters = total_iters;
    t.u.polynomial.power = power;
    return tt__sched_finish(ctx, s, &t);
}

TT__DEF tt_result tt_sched_init_cosine(tt_ctx *ctx, tt_sched *s, double base_lr, int T_max, double eta_min) {
    tt_result r;
    tt_sched t;
    if ((r = tt__sched_begin(ctx, "CosineAnnealingLR", s, &t, TT_SCHED_COSINE, base_lr)) != TT_OK) return r;
    if (T_max <= 0 || T_max > 0x3fffffff)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "CosineAnnealingLR: T_max must be in 1..2^30-1, got %d", T_max);
    if (!tt__sched_finite(eta_min) || eta_min < 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "CosineAnnealingLR: eta_min must be finite and >= 0, got %g", eta_min);
    t.u.cosine.T_max = T_max;
    t.u.cosine.eta_min = eta_min;
    return tt__sched_finish(ctx, s, &t);
}

TT__DEF tt_result tt_sched_init_cosine_restarts(tt_ctx *ctx, tt_sched *s, double base_lr, int T_0, int T_mult,
                                                double eta_min) {
    tt_sched t;
    tt_result r;
    if ((r = tt__sched_begin(ctx, "CosineAnnealingWarmRestarts", s, &t, TT_SCHED_COSINE_RESTARTS, base_lr)) != TT_OK) return r;
    if (T_0 <= 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "CosineAnnealingWarmRestarts: expected positive integer T_0, but got %d", T_0);
    if (T_mult < 1) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "CosineAnnealingWarmRestarts: expected integer T_mult >= 1, but got %d", T_mult);
    if (!tt__sched_finite(eta_min) || eta_min < 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "CosineAnnealingWarmRestarts: eta_min must be finite and >= 0, got %g", eta_min);
    t.u.restarts.T_0 = T_0;
    t.u.restarts.T_mult = T_mult;
    t.u.restarts.eta_min = eta_min;
    return tt__sched_finish(ctx, s, &t);
}

TT__DEF tt_cyclic_opts tt_cyclic_defaults(double base_lr, double max_lr) {
    tt_cyclic_opts o;
    memset(&o, 0, sizeof o);
    o.base_lr = base_lr;
    o.max_lr = max_lr;
    o.step_size_up = 2000;
    o.step_size_down = 0;
    o.mode = TT_CYCLIC_TRIANGULAR;
    o.gamma = 1.0;
    o.cycle_momentum = 1;
    o.base_momentum = 0.8;
    o.max_momentum = 0.9;
    return o;
}

TT__DEF tt_result tt_sched_init_cyclic(tt_ctx *ctx, tt_sched *s, const tt_cyclic_opts *opts) {
    tt_result r;
    tt_sched t;
    double up, down;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!opts) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "CyclicLR: opts is NULL (use tt_cyclic_defaults)");
    if ((r = tt__sched_begin(ctx, "CyclicLR", s, &t, TT_SCHED_CYCLIC, opts->base_lr)) != TT_OK) return r;
    if (!tt__sched_finite(opts->max_lr) || opts->max_lr < 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "CyclicLR: max_lr must be finite and >= 0, got %g", opts->max_lr);
    if (opts->step_size_up <= 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "CyclicLR: step_size_up must be > 0, got %d", opts->step_size_up);
    if (opts->step_size_down < 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "CyclicLR: step_size_down must be >= 0 (0: same as step_size_up), got %d", opts->step_size_down);
    if ((int)opts->mode < 0 || opts->mode > TT_CYCLIC_EXP_RANGE)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "CyclicLR: mode %d is invalid", (int)opts->mode);
    if (!tt__sched_finite(opts->gamma) || opts->gamma <= 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "CyclicLR: gamma must be > 0, got %g", opts->gamma);
    if (opts->cycle_momentum && (!tt__sched_finite(opts->base_momentum) || !tt__sched_finite(opts->max_momentum)))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "CyclicLR: base_momentum and max_momentum must be finite");
    t.u.cyclic.o = *opts;
    up = (double)opts->step_size_up;
    down = opts->step_size_down ? (double)opts->step_size_down : up;
    t.u.cyclic.total_size = up + down;
    t.u.cyclic.step_ratio = up / t.u.cyclic.total_size;
    return tt__sched_finish(ctx, s, &t);
}

TT__DEF tt_one_cycle_opts tt_one_cycle_defaults(double max_lr, int total_steps) {
    tt_one_cycle_opts o;
    memset(&o, 0, sizeof o);
    o.max_lr = max_lr;
    o.total_steps = total_steps;
    o.pct_start = 0.3;
    o.anneal_strategy = TT_ANNEAL_COS;
    o.cycle_momentum = 1;
    o.base_momentum = 0.85;
    o.max_momentum = 0.95;
    o.div_factor = 25.0;
    o.final_div_factor = 1e4;
    o.three_phase = 0;
    return o;
}

TT__DEF tt_result tt_sched_init_one_cycle(tt_ctx *ctx, tt_sched *s, const tt_one_cycle_opts *opts) {
    tt_result r;
    tt_sched t;
    int T;
    double pct, init_lr, max_lr, min_lr, bm, mm;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!opts) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "OneCycleLR: opts is NULL (use tt_one_cycle_defaults)");
    if (!tt__sched_finite(opts->max_lr) || opts->max_lr < 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "OneCycleLR: max_lr must be finite and >= 0, got %g", opts->max_lr);
    if (!tt__sched_finite(opts->div_factor) || opts->div_factor <= 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "OneCycleLR: div_factor must be > 0, got %g", opts->div_factor);
    if (!tt__sched_finite(opts->final_div_factor) || opts->final_div_factor <= 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "OneCycleLR: final_div_factor must be > 0, got %g", opts->final_div_factor);
    if ((r = tt__sched_begin(ctx, "OneCycleLR", s, &t, TT_SCHED_ONE_CYCLE, opts->max_lr / opts->div_factor)) != TT_OK) return r;
    if (opts->total_steps != 0) {
        if (opts->total_steps < 0)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "OneCycleLR: expected positive integer total_steps, but got %d", opts->total_steps);
        T = opts->total_steps;
    } else if (opts->epochs != 0 || opts->steps_per_epoch != 0) {
        if (opts->epochs <= 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "OneCycleLR: expected positive integer epochs, but got %d", opts->epochs);
        if (opts->steps_per_epoch <= 0)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "OneCycleLR: expected positive integer steps_per_epoch, but got %d", opts->steps_per_epoch);
        if (opts->epochs > 0x7fffffff / opts->steps_per_epoch)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "OneCycleLR: epochs * steps_per_epoch overflows");
        T = opts->epochs * opts->steps_per_epoch;
    } else {
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "OneCycleLR: you must define either total_steps OR (epochs AND steps_per_epoch)");
    }
    pct = opts->pct_start;
    if (!(pct >= 0 && pct <= 1))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "OneCycleLR: expected float between 0 and 1 pct_start, but got %g", pct);
    if ((int)opts->anneal_strategy < 0 || opts->anneal_strategy > TT_ANNEAL_LINEAR)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "OneCycleLR: anneal_strategy must be cos or linear, got %d", (int)opts->anneal_strategy);
    if (opts->cycle_momentum && (!tt__sched_finite(opts->base_momentum) || !tt__sched_finite(opts->max_momentum)))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "OneCycleLR: base_momentum and max_momentum must be finite");
    t.u.one_cycle.o = *opts;
    t.u.one_cycle.total_steps = T;
    init_lr = opts->max_lr / opts->div_factor;
    max_lr = opts->max_lr;
    min_lr = init_lr / opts->final_div_factor;
    bm = opts->base_momentum;
    mm = opts->max_momentum;
    t.u.one_cycle.initial_lr = init_lr;
    t.u.one_cycle.min_lr = min_lr;
    /* phase 1: initial -> max (momentum max -> base) */
    t.u.one_cycle.end_step[0] = pct * T - 1;
    t.u.one_cycle.start_lr[0] = init_lr; t.u.one_cycle.end_lr[0] = max_lr;
    t.u.one_cycle.start_mom[0] = mm; t.u.one_cycle.end_mom[0] = bm;
    if (opts->three_phase) {
        t.u.one_cycle.n_phases = 3;
        t.u.one_cycle.end_step[1] = 2 * pct * T - 2;   /* max -> initial (base -> max) */
        t.u.one_cycle.start_lr[1] = max_lr; t.u.one_cycle.end_lr[1] = init_lr;
        t.u.one_cycle.start_mom[1] = bm; t.u.one_cycle.end_mom[1] = mm;
        t.u.one_cycle.end_step[2] = T - 1;             /* initial -> min (momentum stays max) */
        t.u.one_cycle.start_lr[2] = init_lr; t.u.one_cycle.end_lr[2] = min_lr;
        t.u.one_cycle.start_mom[2] = mm; t.u.one_cycle.end_mom[2] = mm;
    } else {
        t.u.one_cycle.n_phases = 2;
        t.u.one_cycle.end_step[1] = T - 1;             /* max -> min (base -> max) */
        t.u.one_cycle.start_lr[1] = max_lr; t.u.one_cycle.end_lr[1] = min_lr;
        t.u.one_cycle.start_mom[1] = bm; t.u.one_cycle.end_mom[1] = mm;
    }
    return tt__sched_finish(ctx, s, &t);
}

TT__DEF tt_plateau_opts tt_plateau_defaults(void) {
    tt_plateau_opts o;
    memset(&o, 0, sizeof o);
    o.mode_max = 0;
    o.factor = 0.1;
    o.patience = 10;
    o.threshold = 1e-4;
    o.threshold_abs = 0;
    o.cooldown = 0;
    o.min_lr = 0;
    o.eps = 1e-8;
    return o;
}

TT__DEF tt_result tt_sched_init_plateau(tt_ctx *ctx, tt_sched *s, double base_lr, const tt_plateau_opts *opts) {
    tt_result r;
    tt_sched t;
    tt_plateau_opts o = opts ? *opts : tt_plateau_defaults();
    if ((r = tt__sched_begin(ctx, "ReduceLROnPlateau", s, &t, TT_SCHED_PLATEAU, base_lr)) != TT_OK) return r;
    if (!(o.factor < 1.0)) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "ReduceLROnPlateau: factor should be < 1.0, got %g", o.factor);
    if (!(o.factor >= 0)) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "ReduceLROnPlateau: factor should be >= 0, got %g", o.factor);
    if (o.mode_max != 0 && o.mode_max != 1)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "ReduceLROnPlateau: mode_max must be 0 (min) or 1 (max), got %d", o.mode_max);
    if (o.threshold_abs != 0 && o.threshold_abs != 1)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "ReduceLROnPlateau: threshold_abs must be 0 (rel) or 1 (abs), got %d", o.threshold_abs);
    if (o.patience < 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "ReduceLROnPlateau: patience must be >= 0, got %d", o.patience);
    if (o.cooldown < 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "ReduceLROnPlateau: cooldown must be >= 0, got %d", o.cooldown);
    if (!tt__sched_finite(o.threshold) || o.threshold < 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "ReduceLROnPlateau: threshold must be finite and >= 0, got %g", o.threshold);
    if (!tt__sched_finite(o.min_lr) || o.min_lr < 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "ReduceLROnPlateau: min_lr must be finite and >= 0, got %g", o.min_lr);
    if (!tt__sched_finite(o.eps) || o.eps < 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "ReduceLROnPlateau: eps must be finite and >= 0, got %g", o.eps);
    t.u.plateau.o = o;
    return tt__sched_finish(ctx, s, &t);
}

/* Children checks shared by sequential and chained. */
static tt_result tt__sched_children(tt_ctx *ctx, const char *op, tt_sched *s, tt_sched *t, int n, tt_sched **children) {
    int i, j;
    if (n < 1 || n > TT_SCHED_MAX_CHILDREN)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: expects 1..%d schedulers, got %d", op, TT_SCHED_MAX_CHILDREN, n);
    if (!children) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: schedulers is NULL", op);
    for (i = 0; i < n; i++) {
        tt_sched *c = children[i];
        if (!c) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: scheduler %d is NULL", op, i);
        if (c == s) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: scheduler %d is the composite itself", op, i);
        if (c->kind <= TT_SCHED_NONE || c->kind > TT_SCHED_WARMUP_COSINE)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: scheduler %d is not initialised", op, i);
        if (c->kind == TT_SCHED_PLATEAU)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: does not support ReduceLROnPlateau (scheduler %d): it needs a metric", op, i);
        if (tt__sched_is_composite(c->kind))
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: scheduler %d is itself a composite (%s); nesting is not supported",
                            op, i, tt__sched_name(c->kind));
        for (j = 0; j < i; j++)
            if (children[j] == c) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: scheduler %d appears twice", op, i);
        t->u.composite.children[i] = c;
    }
    t->u.composite.n = n;
    return TT_OK;
}

/* Composites restart their children: keep copies so an error leaves everything as it was. */
static tt_result tt__sched_finish_composite(tt_ctx *ctx, tt_sched *s, tt_sched *t) {
    tt_sched saved[TT_SCHED_MAX_CHILDREN];
    int i, n = t->u.composite.n;
    tt_result r;
    for (i = 0; i < n; i++) saved[i] = *t->u.composite.children[i];
    if ((r = tt__sched_finish(ctx, s, t)) != TT_OK) {
        for (i = 0; i < n; i++) *t->u.composite.children[i] = saved[i];
        return r;
    }
    return TT_OK;
}

TT__DEF tt_result tt_sched_init_sequential(tt_ctx *ctx, tt_sched *s, int n, tt_sched **children, const int *milestones) {
    tt_result r;
    tt_sched t;
    int i;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if ((r = tt__sched_begin(ctx, "SequentialLR", s, &t, TT_SCHED_SEQUENTIAL, 0.0)) != TT_OK) return r;
    if ((r = tt__sched_children(ctx, "SequentialLR", s, &t, n, children)) != TT_OK) return r;
    if (n > 1 && !milestones) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "SequentialLR: milestones is NULL (need %d)", n - 1);
    for (i = 0; i < n - 1; i++) {
        if (milestones[i] < 1) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "SequentialLR: milestones[%d] must be >= 1, got %d", i, milestones[i]);
        if (i > 0 && milestones[i] <= milestones[i - 1])
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "SequentialLR: milestones must be strictly increasing, got %d after %d",
                            milestones[i], milestones[i - 1]);
        t.u.composite.milestones[i] = milestones[i];
    }
    t.base_lr = children[0]->base_lr;
    return tt__sched_finish_composite(ctx, s, &t);
}

TT__DEF tt_result tt_sched_init_chained(tt_ctx *ctx, tt_sched *s, int n, tt_sched **children) {
    tt_result r;
    tt_sched t;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if ((r = tt__sched_begin(ctx, "ChainedScheduler", s, &t, TT_SCHED_CHAINED, 0.0)) != TT_OK) return r;
    if ((r = tt__sched_children(ctx, "ChainedScheduler", s, &t, n, children)) != TT_OK) return r;
    t.base_lr = children[0]->base_lr;
    return tt__sched_finish_composite(ctx, s, &t);
}

TT__DEF tt_result tt_sched_warmup_cosine(tt_ctx *ctx, tt_sched *s, double base_lr, int warmup_steps, int total_steps,
                                         double start_factor, double eta_min) {
    tt_sched t;
    tt_result r;
    if ((r = tt__sched_begin(ctx, "tt_sched_warmup_cosine", s, &t, TT_SCHED_WARMUP_COSINE, base_lr)) != TT_OK) return r;
    if (warmup_steps < 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_sched_warmup_cosine: warmup_steps must be >= 0, got %d", warmup_steps);
    if (total_steps <= warmup_steps || total_steps - warmup_steps > 0x3fffffff)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_sched_warmup_cosine: total_steps (%d) must exceed warmup_steps (%d): T_max must be > 0",
                        total_steps, warmup_steps);
    if (!(start_factor > 0 && start_factor <= 1))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_sched_warmup_cosine: start_factor expected in (0, 1], got %g", start_factor);
    if (!tt__sched_finite(eta_min) || eta_min < 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_sched_warmup_cosine: eta_min must be finite and >= 0, got %g", eta_min);
    t.u.warmup_cosine.warmup_steps = warmup_steps;
    t.u.warmup_cosine.T_max = total_steps - warmup_steps;
    t.u.warmup_cosine.start_factor = start_factor;
    t.u.warmup_cosine.eta_min = eta_min;
    return tt__sched_finish(ctx, s, &t);
}

/* ---- stepping ---- */

static tt_result tt__sched_check_use(tt_ctx *ctx, const char *op, const tt_sched *s) {
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!s) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: schedule is NULL", op);
    if (s->kind <= TT_SCHED_NONE || s->kind > TT_SCHED_WARMUP_COSINE)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: schedule is not initialised", op);
    return TT_OK;
}

TT__DEF tt_result tt_sched_step(tt_ctx *ctx, tt_sched *s) {
    tt_result r;
    tt_sched saved, children[TT_SCHED_MAX_CHILDREN];
    int i, n = 0;
    double lr;
    if ((r = tt__sched_check_use(ctx, "tt_sched_step", s)) != TT_OK) return r;
    if (s->last_epoch == 0x7fffffff) return tt__fail(ctx, TT_ERR_STATE, "tt_sched_step: epoch counter overflow");
    saved = *s;
    if (s->kind == TT_SCHED_SEQUENTIAL || s->kind == TT_SCHED_CHAINED) {
        n = s->u.composite.n;
        for (i = 0; i < n; i++) children[i] = *s->u.composite.children[i];
    }
    if ((r = tt__sched_advance(ctx, s, s->lr, &lr)) != TT_OK) {
        *s = saved;
        for (i = 0; i < n; i++) *s->u.composite.children[i] = children[i];
        return r;
    }
    return TT_OK;
}

TT__DEF tt_result tt_sched_step_metric(tt_ctx *ctx, tt_sched *s, double a) {
    tt_result r;
    tt_plateau_opts *o;
    double best;
    int better;
    if ((r = tt__sched_check_use(ctx, "tt_sched_step_metric", s)) != TT_OK) return r;
    if (s->kind != TT_SCHED_PLATEAU)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_sched_step_metric: %s takes no metric (use tt_sched_step)", tt__sched_name(s->kind));
    o = &s->u.plateau.o;
    best = s->u.plateau.best;
    if (!o->mode_max) better = o->threshold_abs ? a < best - o->threshold : a < best * (1.0 - o->threshold);
    else better = o->threshold_abs ? a > best + o->threshold : a > best * (o->threshold + 1.0);
    s->last_epoch++;
    if (better) {
        s->u.plateau.best = a;
        s->u.plateau.num_bad_epochs = 0;
    } else {
        s->u.plateau.num_bad_epochs++;
    }
    if (s->u.plateau.cooldown_counter > 0) { /* bad epochs are ignored during cooldown */
        s->u.plateau.cooldown_counter--;
        s->u.plateau.num_bad_epochs = 0;
    }
    if (s->u.plateau.num_bad_epochs > o->patience) {
        double old_lr = s->lr, new_lr = TT__MAX(old_lr * o->factor, o->min_lr);
        if (old_lr - new_lr > o->eps) s->lr = new_lr;
        s->u.plateau.cooldown_counter = o->cooldown;
        s->u.plateau.num_bad_epochs = 0;
    }
    return TT_OK;
}

TT__DEF tt_result tt_sched_step_to(tt_ctx *ctx, tt_sched *s, double epoch) {
    tt_result r;
    tt_sched t;
    double lr;
    if ((r = tt__sched_check_use(ctx, "tt_sched_step_to", s)) != TT_OK) return r;
    if (!tt__sched_finite(epoch) || epoch < 0 || epoch > 2147483647.0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_sched_step_to: expected non-negative epoch, but got %g", epoch);
    if (s->kind == TT_SCHED_PLATEAU || tt__sched_is_composite(s->kind))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_sched_step_to: %s cannot jump to an epoch", tt__sched_name(s->kind));
    t = *s;
    if (t.kind == TT_SCHED_COSINE_RESTARTS) {
        /* torch CosineAnnealingWarmRestarts.step(epoch) */
        int T_0 = t.u.restarts.T_0, m = t.u.restarts.T_mult;
        if (epoch >= T_0) {
            if (m == 1) {
                t.u.restarts.T_cur = fmod(epoch, (double)T_0);
            } else {
                int k = (int)(log(epoch / T_0 * (m - 1) + 1) / log((double)m));
                t.u.restarts.T_cur = epoch - T_0 * (pow((double)m, (double)k) - 1) / (m - 1);
                t.u.restarts.T_i = T_0 * pow((double)m, (double)k);
            }
        } else {
            t.u.restarts.T_i = T_0;
            t.u.restarts.T_cur = epoch;
        }
        t.last_epoch = (int)floor(epoch);
        if ((r = tt__sched_get(ctx, &t, t.lr, 0, 0, &lr)) != TT_OK) return r;
    } else {
        int closed = t.kind != TT_SCHED_LAMBDA && t.kind != TT_SCHED_MULTIPLICATIVE && t.kind != TT_SCHED_CYCLIC &&
                     t.kind != TT_SCHED_ONE_CYCLE;
        if (epoch != floor(epoch))
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_sched_step_to: %s needs a whole epoch, got %g", tt__sched_name(t.kind), epoch);
        t.last_epoch = (int)epoch;
        if ((r = tt__sched_get(ctx, &t, t.lr, 0, closed, &lr)) != TT_OK) return r;
    }
    t.lr = lr;
    *s = t;
    return TT_OK;
}

TT__DEF double tt_sched_lr(const tt_sched *s) { return s ? s->lr : 0.0; }

TT__DEF int tt_sched_momentum(const tt_sched *s, double *momentum) {
    if (!s || !s->has_momentum) return 0;
    if (momentum) *momentum = s->momentum;
    return 1;
}

/* ---- regularization ---- */

/* The tensors a penalty or clip works on: the given list, or every parameter (skip_no_decay:
   every parameter not flagged TT_NO_DECAY) in a scratch array. */
static tt_tensor **tt__sched_param_list(tt_ctx *ctx, const char *op, int n, tt_tensor **params, int skip_no_decay, int *count) {
    int i, k = 0;
    tt_tensor **list;
    if (params || n != 0) {
        if (n < 0 || !params) {
            tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: need params != NULL and n >= 0 (or NULL and 0 for all parameters), got n = %d", op, n);
            return NULL;
        }
        for (i = 0; i < n; i++)
            if (!params[i]) {
                if (ctx->err == TT_OK) tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: params[%d] is NULL", op, i);
                return NULL;
            }
        *count = n;
        return params;
    }
    list = (tt_tensor **)tt__scratch(ctx, op, sizeof(tt_tensor *) * (size_t)(ctx->n_param_tensors + 1));
    if (!list) return NULL;
    for (i = 0; i < ctx->n_param_tensors; i++)
        if (!(skip_no_decay && (ctx->params[i].flags & TT_NO_DECAY))) list[k++] = &ctx->params[i];
    *count = k;
    return list;
}

static void tt__penalty_backward(tt_ctx *ctx, tt__node *n) {
    int k, l2 = n->i[0];
    float coef = n->f[0], g = n->out->grad[0];
    size_t i;
    (void)ctx;
    for (k = 0; k < n->n_ins; k++) {
        tt_tensor *x = tt__node_in(n, k);
        if (!x || !x->grad) continue;
        for (i = 0; i < x->numel; i++) {
            float v = x->data[i];
            if (l2) x->grad[i] += 2.0f * coef * v * g;
            else x->grad[i] += coef * (float)((v > 0) - (v < 0)) * g;
        }
    }
}

static tt_tensor *tt__penalty(tt_ctx *ctx, const char *op, int l2, float coef, int n, tt_tensor **params) {
    tt_tensor **list, *y;
    double s = 0;
    int k, count = 0;
    size_t i;
    if (!ctx) return NULL;
    if (!(coef - coef == 0.0f)) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: coef must be finite, got %g", op, (double)coef);
        return NULL;
    }
    list = tt__sched_param_list(ctx, op, n, params, 1, &count);
    if (!list) return NULL;
    y = tt__out_n(ctx, op, 0, NULL, count, list);
    if (!y) return NULL;
    for (k = 0; k < count; k++)
        for (i = 0; i < list[k]->numel; i++) {
            double v = list[k]->data[i];
            s += l2 ? v * v : fabs(v);
        }
    y->data[0] = (float)(coef * s);
    if (y->node) {
        y->node->i[0] = l2;
        y->node->f[0] = coef;
        y->node->backward = tt__penalty_backward;
    }
    return tt__done(ctx, y);
}

TT__DEF tt_tensor *tt_l1_penalty(tt_ctx *ctx, float coef, int n, tt_tensor **params) {
    return tt__penalty(ctx, "l1_penalty", 0, coef, n, params);
}

TT__DEF tt_tensor *tt_l2_penalty(tt_ctx *ctx, float coef, int n, tt_tensor **params) {
    return tt__penalty(ctx, "l2_penalty", 1, coef, n, params);
}

/* p-norm of all gradients (p = INFINITY for max |g|) in double; NaN propagates. */
static double tt__grad_norm(tt_tensor **list, int count, double p) {
    double acc = 0;
    int k, nan = 0;
    size_t i;
    for (k = 0; k < count; k++) {
        const float *g = list[k]->grad;
        if (!g) continue;
        for (i = 0; i < list[k]->numel; i++) {
            double a = fabs((double)g[i]);
            if (a != a) nan = 1;
            else if (p == INFINITY) acc = a > acc ? a : acc;
            else if (p == 2.0) acc += a * a;
            else if (p == 1.0) acc += a;
            else acc += pow(a, p);
        }
    }
    if (nan) return NAN;
    if (p == INFINITY || p == 1.0) return acc;
    if (p == 2.0) return sqrt(acc);
    return pow(acc, 1.0 / p);
}

TT__DEF tt_result tt_clip_grad_norm(tt_ctx *ctx, int n, tt_tensor **params, double max_norm, double norm_type,
                                    int error_if_nonfinite, double *total_norm) {
    const char *op = "tt_clip_grad_norm";
    tt_tensor **list;
    int k, count = 0;
    double total, coef;
    size_t mark, i;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!(max_norm >= 0)) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: max_norm must be >= 0, got %g", op, max_norm);
    if (!(norm_type > 0)) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: norm_type must be > 0 or INFINITY, got %g", op, norm_type);
    mark = tt_scratch_mark(ctx);
    list = tt__sched_param_list(ctx, op, n, params, 0, &count);
    if (!list) return ctx->err != TT_OK ? ctx->err : TT_ERR_INVALID_ARGS;
    total = tt__grad_norm(list, count, norm_type);
    if (total_norm) *total_norm = total;
    if (error_if_nonfinite && !tt__sched_finite(total)) {
        tt_scratch_rewind(ctx, mark);
        return tt__fail(ctx, TT_ERR_NONFINITE,
                        "%s: the total norm of order %g for gradients is non-finite (%g), so it cannot be clipped "
                        "(pass error_if_nonfinite = 0 to scale anyway)", op, norm_type, total);
    }
    coef = max_norm / (total + 1e-6);
    if (coef > 1.0) coef = 1.0; /* NaN stays NaN, as torch.clamp */
    for (k = 0; k < count; k++) {
        float *g = list[k]->grad;
        if (!g) continue;
        for (i = 0; i < list[k]->numel; i++) g[i] = (float)(g[i] * coef);
    }
    tt_scratch_rewind(ctx, mark);
    return TT_OK;
}

TT__DEF tt_result tt_clip_grad_value(tt_ctx *ctx, int n, tt_tensor **params, double clip_value, double *total_norm) {
    const char *op = "tt_clip_grad_value";
    tt_tensor **list;
    int k, count = 0;
    float c;
    size_t mark, i;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!(clip_value >= 0) || !tt__sched_finite(clip_value))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: clip_value must be finite and >= 0, got %g", op, clip_value);
    mark = tt_scratch_mark(ctx);
    list = tt__sched_param_list(ctx, op, n, params, 0, &count);
    if (!list) return ctx->err != TT_OK ? ctx->err : TT_ERR_INVALID_ARGS;
    if (total_norm) *total_norm = tt__grad_norm(list, count, 2.0);
    c = (float)clip_value;
    for (k = 0; k < count; k++) {
        float *g = list[k]->grad;
        if (!g) continue;
        for (i = 0; i < list[k]->numel; i++) {
            /* torch.clamp: NaN stays NaN */
            if (g[i] > c) g[i] = c;
            else if (g[i] < -c) g[i] = -c;
        }
    }
    tt_scratch_rewind(ctx, mark);
    return TT_OK;
}

TT__DEF tt_result tt_set_no_decay(tt_ctx *ctx, tt_tensor *param, int no_decay) {
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!param) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_set_no_decay: param is NULL");
    if (!(param->flags & TT_PARAM))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_set_no_decay: tensor of shape %S is not a parameter (tt_param)", param);
    if (no_decay) param->flags |= TT_NO_DECAY;
    else param->flags &= ~(unsigned)TT_NO_DECAY;
    return TT_OK;
}

TT__DEF int tt_grads_finite(const tt_ctx *ctx) {
    if (!ctx) return 0;
    return tt__all_finite(ctx->param_grad, ctx->n_params);
}

/* ---- early stopping ---- */

TT__DEF tt_result tt_early_stop_init(tt_ctx *ctx, tt_early_stop *es, int patience, double min_delta, int mode_max) {
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!es) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_early_stop_init: es is NULL");
    if (patience < 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_early_stop_init: patience must be >= 0, got %d", patience);
    if (!tt__sched_finite(min_delta) || min_delta < 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_early_stop_init: min_delta must be finite and >= 0, got %g", min_delta);
    if (mode_max != 0 && mode_max != 1)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_early_stop_init: mode_max must be 0 (min) or 1 (max), got %d", mode_max);
    memset(es, 0, sizeof *es);
    es->mode_max = mode_max;
    es->patience = patience;
    es->min_delta = min_delta;
    es->best = mode_max ? -INFINITY : INFINITY;
    es->best_epoch = -1;
    return TT_OK;
}

TT__DEF int tt_early_stop_update(tt_early_stop *es, double metric) {
    int improved;
    if (!es) return 0;
    improved = es->mode_max ? metric > es->best + es->min_delta : metric < es->best - es->min_delta;
    if (improved) {
        es->best = metric;
        es->best_epoch = es->epoch;
        es->bad_epochs = 0;
    } else {
        es->bad_epochs++;
        if (es->bad_epochs >= es->patience) es->should_stop = 1;
    }
    es->epoch++;
    return es->should_stop;
}
/* ---- (sched implementation: end) ---- */


/* ==================================================================================== >>end */

#endif /* TINYTRAIN_IMPLEMENTATION_INCLUDED */
#endif /* TINYTRAIN_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
This software is available under 2 licenses -- choose whichever you prefer.
------------------------------------------------------------------------------
ALTERNATIVE A - MIT License
Copyright (c) 2026 tinytrain authors
Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions: The above copyright notice and this
permission notice shall be included in all copies or substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT
OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
------------------------------------------------------------------------------
ALTERNATIVE B - Public Domain (www.unlicense.org)
This is free and unencumbered software released into the public domain. Anyone is free to copy,
modify, publish, use, compile, sell, or distribute this software, either in source code form or as
a compiled binary, for any purpose, commercial or non-commercial, and by any means.
------------------------------------------------------------------------------
*/
