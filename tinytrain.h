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
/* Optimizers numerically the same as torch.optim (plus Lion and LAMB from their authors' code).

   Usage:
       tt_optim opt;                                   // caller-owned, no heap
       tt_optim_desc od = {0};                         // zero means the PyTorch default
       od.kind = TT_OPTIM_ADAMW;
       od.hp.lr = 3e-4f;
       if (tt_optim_init(&ctx, &opt, &od) != TT_OK) ...   // state taken once from persist memory
       ... each step: forward, tt_zero_grad, tt_backward, then tt_optim_step(&ctx, &opt);

   - The optimizer covers the parameters that exist when tt_optim_init is called (create the model
     first), restricted to the groups in desc.group_mask (0 = every group). Its state arrays have
     the layout of ctx->param_data, so most updates are one flat loop.
   - Every covered parameter is updated on every step; a parameter that got no gradient is treated
     as having a zero gradient (torch skips parameters whose .grad is None).
   - Hyperparameters: a zero field means the PyTorch default of that optimizer. To ask for a
     literal zero where the default is not zero (AdamW weight_decay, beta1 = 0, ...), write
     TT_OPTIM_ZERO. Boolean switches are tri-state: 0 = default, 1 = on, -1 = off.
   - Parameter groups: a parameter's `group` (tt_param_set_group) selects desc.groups[group];
     each non-zero field there overrides desc.hp (like a torch param-group dict). TT_NO_DECAY on a
     parameter turns its weight decay off.
   - Errors (bad hyperparameters, Muon on a non-2-D parameter) are TT_ERR_INVALID_ARGS with a
     message naming the parameter, like torch's ValueError. */

#define TT_OPTIM_MAX_GROUPS 8
/* "Zero, not the default" for hyperparameter fields (a negative zero: it is zero in arithmetic). */
#define TT_OPTIM_ZERO (-0.0f)

typedef enum tt_optim_kind {
    TT_OPTIM_SGD = 1,      /* torch.optim.SGD        lr 1e-3, momentum 0, dampening 0, nesterov off */
    TT_OPTIM_ADAM,         /* torch.optim.Adam       lr 1e-3, betas (0.9, 0.999), eps 1e-8 */
    TT_OPTIM_ADAMW,        /* torch.optim.AdamW      as Adam, weight_decay 1e-2, decoupled */
    TT_OPTIM_ADAGRAD,      /* torch.optim.Adagrad    lr 1e-2, eps 1e-10 */
    TT_OPTIM_RMSPROP,      /* torch.optim.RMSprop    lr 1e-2, alpha 0.99, eps 1e-8 */
    TT_OPTIM_ADADELTA,     /* torch.optim.Adadelta   lr 1, rho 0.9, eps 1e-6 */
    TT_OPTIM_ADAMAX,       /* torch.optim.Adamax     lr 2e-3, betas (0.9, 0.999), eps 1e-8 */
    TT_OPTIM_NADAM,        /* torch.optim.NAdam      lr 2e-3, momentum_decay 4e-3 */
    TT_OPTIM_RADAM,        /* torch.optim.RAdam      lr 1e-3 */
    TT_OPTIM_ASGD,         /* torch.optim.ASGD       lr 1e-2, lambd 1e-4, alpha 0.75, t0 1e6 */
    TT_OPTIM_RPROP,        /* torch.optim.Rprop      lr 1e-2, etas (0.5, 1.2), step sizes (1e-6, 50) */
    TT_OPTIM_LBFGS,        /* torch.optim.LBFGS      lr 1, max_iter 20, history 100 (needs a closure) */
    TT_OPTIM_ADAFACTOR,    /* torch.optim.Adafactor  lr 1e-2, beta2_decay -0.8, eps (f32 eps, 1e-3), d 1 */
    TT_OPTIM_SPARSE_ADAM,  /* torch.optim.SparseAdam lr 1e-3 (rows with an all-zero gradient are absent) */
    TT_OPTIM_MUON,         /* torch.optim.Muon       lr 1e-3, wd 0.1, momentum 0.95, nesterov on (2-D only) */
    TT_OPTIM_LION,         /* Lion (google/automl)   lr 1e-4, betas (0.9, 0.99) */
    TT_OPTIM_LAMB,         /* LAMB (timm)            lr 1e-3, betas (0.9, 0.999), eps 1e-6, wd 0.01 */
    TT_OPTIM_KIND_COUNT_
} tt_optim_kind;

/* Muon learning-rate adjustment (torch adjust_lr_fn). */
typedef enum tt_muon_adjust {
    TT_MUON_ADJUST_ORIGINAL = 0,    /* lr * sqrt(max(1, rows/cols)) (torch default) */
    TT_MUON_ADJUST_MATCH_RMS_ADAMW  /* lr * 0.2 * sqrt(max(rows, cols)) */
} tt_muon_adjust;

/* Hyperparameters of one group. Zero = default of the optimizer kind (see tt_optim_kind). */
typedef struct tt_optim_hparams {
    float lr;
    float weight_decay;   /* L2 (coupled) or decoupled, depending on the optimizer */
    float momentum;       /* SGD, RMSprop, Muon */
    float dampening;      /* SGD */
    float beta1, beta2;   /* Adam family, Lion, LAMB (Adamax/NAdam/RAdam/SparseAdam too) */
    float eps;            /* every optimizer that has one; Adafactor: eps1 (default FLT_EPSILON) */
    float eps2;           /* Adafactor eps2 (default 1e-3) */
    float alpha;          /* RMSprop smoothing (0.99), ASGD power (0.75) */
    float rho;            /* Adadelta (0.9) */
    float lr_decay;       /* Adagrad (0) */
    float initial_accumulator_value; /* Adagrad (0) */
    float momentum_decay; /* NAdam (4e-3) */
    float lambd, t0;      /* ASGD (1e-4, 1e6) */
    float eta_minus, eta_plus, step_min, step_max; /* Rprop (0.5, 1.2, 1e-6, 50) */
    float beta2_decay;    /* Adafactor (-0.8) */
    float d;              /* Adafactor clipping threshold (1) */
    float ns_a, ns_b, ns_c; /* Muon Newton-Schulz coefficients (3.4445, -4.775, 2.0315) */
    int ns_steps;         /* Muon Newton-Schulz iterations (5) */
    tt_muon_adjust muon_adjust; /* Muon lr adjustment (original) */
    float max_grad_norm;  /* LAMB global gradient clipping (1.0; TT_OPTIM_ZERO disables) */
    /* tri-state switches: 0 = default, 1 = on, -1 = off */
    int nesterov;         /* SGD (off), Muon (on) */
    int centered;         /* RMSprop (off) */
    int amsgrad;          /* Adam, AdamW (off) */
    int decoupled_weight_decay; /* Adam (off), AdamW (on, cannot be turned off), NAdam, RAdam (off) */
    int maximize;         /* every optimizer except Muon (off) */
    int trust_clip;       /* LAMB (off) */
    int always_adapt;     /* LAMB: trust ratio even with weight_decay 0 (off) */
    int bias_correction;  /* LAMB (on) */
} tt_optim_hparams;

typedef struct tt_optim_desc {
    tt_optim_kind kind;
    tt_optim_hparams hp;                           /* every group */
    tt_optim_hparams groups[TT_OPTIM_MAX_GROUPS];  /* per-group overrides (non-zero fields) */
    unsigned group_mask;    /* bit g set: update the parameters of group g (0 = all groups) */
    int skip_nonfinite;     /* 1: a step whose gradients hold NaN/Inf changes nothing and is
                               counted in tt_optim.n_skipped (and logged as a warning) */
    /* LBFGS only. Like torch it has a single group: it uses desc.hp (groups[] and group_mask are
       ignored) and works on every parameter as one flat vector. All its memory (history,
       direction, line-search vectors) is taken at init; the closure may reset scratch memory. */
    int max_iter;           /* 20 */
    int max_eval;           /* max_iter * 5 / 4 */
    float tolerance_grad;   /* 1e-7 */
    float tolerance_change; /* 1e-9 */
    int history_size;       /* 100: 2 * history_size * n_params floats of persistent memory */
    int strong_wolfe;       /* 1: strong-Wolfe line search ("strong_wolfe"), 0: fixed step */
} tt_optim_desc;

/* Scalar state (steps, ASGD/NAdam per-group scalars, LBFGS bookkeeping). */
typedef struct tt_optim_scalars {
    int64_t step;                          /* optimizer steps taken (torch state["step"]) */
    float eta[TT_OPTIM_MAX_GROUPS];        /* ASGD eta (float32 like torch) */
    float mu[TT_OPTIM_MAX_GROUPS];         /* ASGD mu */
    float mu_product[TT_OPTIM_MAX_GROUPS]; /* NAdam mu_product */
    int64_t n_iter, func_evals;            /* LBFGS counters */
    int64_t hist_len, hist_first;          /* LBFGS history ring */
    double t, h_diag, prev_loss;           /* LBFGS */
} tt_optim_scalars;

/* The optimizer. Caller-owned; fill it with tt_optim_init; read-only afterwards. */
typedef struct tt_optim {
    tt_optim_kind kind;
    tt_optim_desc desc;                   /* as given, for reference */
    tt_optim_hparams hp[TT_OPTIM_MAX_GROUPS]; /* resolved hyperparameters of each group */
    unsigned group_mask;                  /* resolved (never 0) */
    size_t n;                             /* floats of ctx->param_data covered */
    int n_tensors;                        /* parameter tensors that existed at init */
    int n_state;                          /* state arrays of n floats */
    float *state;                         /* n_state * n floats (+ LBFGS history), persistent */
    size_t state_floats;                  /* floats in state */
    float *s[4];                          /* the state arrays (aliases into state) */
    tt_optim_scalars sc;
    int64_t n_skipped;                    /* steps skipped for non-finite gradients */
    int last_skipped;                     /* 1 if the last step was skipped */
} tt_optim;

/* Loss closure for LBFGS (and tt_optim_step_closure): zero the gradients, run forward and
   backward, return the loss. It may call tt_scratch_reset. A set context error aborts the step. */
typedef double (*tt_closure_fn)(tt_ctx *ctx, void *user);

/* Put a parameter in an optimizer group (0 .. TT_OPTIM_MAX_GROUPS-1); set before tt_optim_init. */
TT_API tt_result tt_param_set_group(tt_ctx *ctx, tt_tensor *param, int group);
/* Validate desc, resolve defaults, allocate the state (once, persistent memory). */
TT_API tt_result tt_optim_init(tt_ctx *ctx, tt_optim *opt, const tt_optim_desc *desc);
/* One update from the current gradients (ctx->param_grad). No allocation. LBFGS needs
   tt_optim_step_closure instead. Gradients are not modified. */
TT_API tt_result tt_optim_step(tt_ctx *ctx, tt_optim *opt);
/* torch's opt.step(closure): calls closure (once, or as often as LBFGS needs) and updates.
   *loss (optional) receives the first loss the closure returned. */
TT_API tt_result tt_optim_step_closure(tt_ctx *ctx, tt_optim *opt, tt_closure_fn closure, void *user, double *loss);
/* Learning rate of a group (schedules use these). set validates lr >= 0. */
TT_API tt_result tt_optim_set_lr(tt_ctx *ctx, tt_optim *opt, int group, float lr);
TT_API float tt_optim_get_lr(const tt_optim *opt, int group);
/* Human-readable name ("AdamW") of an optimizer kind. */
TT_API const char *tt_optim_name(tt_optim_kind kind);
/* ASGD: the averaged parameter values ("ax") of a parameter tensor, or NULL (not ASGD, not covered). */
TT_API const float *tt_optim_asgd_average(const tt_optim *opt, const tt_tensor *param);
/* Bytes needed by tt_optim_state_save. */
TT_API size_t tt_optim_state_size(const tt_optim *opt);
/* Copy the whole state (small header: magic, kind, tensor and float counts, step) to buf. */
TT_API tt_result tt_optim_state_save(tt_ctx *ctx, const tt_optim *opt, void *buf, size_t bytes);
/* Restore a state saved from an optimizer of the same kind over the same parameters; the buffer
   is validated (TT_ERR_FORMAT) before anything is changed. */
TT_API tt_result tt_optim_state_load(tt_ctx *ctx, tt_optim *opt, const void *buf, size_t bytes);
/* ---- (optim declarations: end) ---- */


/* ==================================================================================== >>api_sched
   Learning-rate schedules, regularization, clipping, early stopping. */

/* ---- (sched declarations: begin) ---- */
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
/* Every update below follows torch's `_single_tensor_<name>` code, operation by operation, in
   float32; scalar factors (bias corrections, step sizes) are computed in double like Python floats
   and rounded to float where torch hands them to a float kernel. */

#define TT__OPTIM_MAGIC 0x504f5454u   /* "TTOP" */
#define TT__OPTIM_VERSION 1u

static const char *const tt__optim_names[TT_OPTIM_KIND_COUNT_] = {
    "?", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta", "Adamax", "NAdam", "RAdam",
    "ASGD", "Rprop", "LBFGS", "Adafactor", "SparseAdam", "Muon", "Lion", "LAMB"};

TT__DEF const char *tt_optim_name(tt_optim_kind kind) {
    if ((int)kind <= 0 || kind >= TT_OPTIM_KIND_COUNT_) return "unknown optimizer";
    return tt__optim_names[kind];
}

TT__DEF tt_result tt_param_set_group(tt_ctx *ctx, tt_tensor *param, int group) {
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!param || !(param->flags & TT_PARAM))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_param_set_group: not a parameter");
    if (group < 0 || group >= TT_OPTIM_MAX_GROUPS)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_param_set_group '%s': group %d outside 0..%d",
                        param->name ? param->name : "", group, TT_OPTIM_MAX_GROUPS - 1);
    param->group = group;
    return TT_OK;
}

/* ---- hyperparameter resolution: a field is "set" if it is not +0 (TT_OPTIM_ZERO is -0) ---- */
static int tt__optim_isset(float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return u != 0;
}
static float tt__optim_pickf(float grp, float all, float def) {
    if (tt__optim_isset(grp)) return grp + 0.0f; /* -0 + 0 = +0 */
    if (tt__optim_isset(all)) return all + 0.0f;
    return def;
}
static int tt__optim_picki(int grp, int all, int def) { return grp ? grp : all ? all : def; }
static int tt__optim_pickb(int grp, int all, int def) { return tt__optim_picki(grp, all, def ? 1 : -1) > 0; }

/* The torch defaults of one optimizer kind. */
static void tt__optim_defaults(tt_optim_kind k, tt_optim_hparams *d) {
    memset(d, 0, sizeof *d);
    d->lr = 1e-3f;
    d->beta1 = 0.9f; d->beta2 = 0.999f; d->eps = 1e-8f;
    d->alpha = 0.99f; d->rho = 0.9f; d->momentum_decay = 4e-3f;
    d->lambd = 1e-4f; d->t0 = 1e6f;
    d->eta_minus = 0.5f; d->eta_plus = 1.2f; d->step_min = 1e-6f; d->step_max = 50.0f;
    d->beta2_decay = -0.8f; d->d = 1.0f; d->eps2 = 1e-3f;
    d->ns_a = 3.4445f; d->ns_b = -4.7750f; d->ns_c = 2.0315f; d->ns_steps = 5;
    d->max_grad_norm = 1.0f;
    d->bias_correction = 1;
    switch (k) {
    case TT_OPTIM_ADAMW: d->weight_decay = 1e-2f; d->decoupled_weight_decay = 1; break;
    case TT_OPTIM_ADAGRAD: d->lr = 1e-2f; d->eps = 1e-10f; break;
    case TT_OPTIM_RMSPROP: d->lr = 1e-2f; break;
    case TT_OPTIM_ADADELTA: d->lr = 1.0f; d->eps = 1e-6f; break;
    case TT_OPTIM_ADAMAX: case TT_OPTIM_NADAM: d->lr = 2e-3f; break;
    case TT_OPTIM_ASGD: d->lr = 1e-2f; d->alpha = 0.75f; break;
    case TT_OPTIM_RPROP: d->lr = 1e-2f; break;
    case TT_OPTIM_LBFGS: d->lr = 1.0f; break;
    case TT_OPTIM_ADAFACTOR: d->lr = 1e-2f; d->eps = FLT_EPSILON; break;
    case TT_OPTIM_MUON: d->weight_decay = 0.1f; d->momentum = 0.95f; d->nesterov = 1; d->eps = 1e-7f; break;
    case TT_OPTIM_LION: d->lr = 1e-4f; d->beta2 = 0.99f; break;
    case TT_OPTIM_LAMB: d->eps = 1e-6f; d->weight_decay = 0.01f; break;
    default: break;
    }
}

static void tt__optim_resolve(tt_optim_kind k, const tt_optim_hparams *g, const tt_optim_hparams *a,
                              tt_optim_hparams *o) {
    tt_optim_hparams d;
    tt__optim_defaults(k, &d);
#define TT__PF(f) o->f = tt__optim_pickf(g->f, a->f, d.f)
#define TT__PB(f) o->f = tt__optim_pickb(g->f, a->f, d.f)
    TT__PF(lr); TT__PF(weight_decay); TT__PF(momentum); TT__PF(dampening); TT__PF(beta1); TT__PF(beta2);
    TT__PF(eps); TT__PF(eps2); TT__PF(alpha); TT__PF(rho); TT__PF(lr_decay); TT__PF(initial_accumulator_value);
    TT__PF(momentum_decay); TT__PF(lambd); TT__PF(t0); TT__PF(eta_minus); TT__PF(eta_plus);
    TT__PF(step_min); TT__PF(step_max); TT__PF(beta2_decay); TT__PF(d); TT__PF(ns_a); TT__PF(ns_b);
    TT__PF(ns_c); TT__PF(max_grad_norm);
    TT__PB(nesterov); TT__PB(centered); TT__PB(amsgrad); TT__PB(decoupled_weight_decay); TT__PB(maximize);
    TT__PB(trust_clip); TT__PB(always_adapt); TT__PB(bias_correction);
#undef TT__PF
#undef TT__PB
    o->ns_steps = tt__optim_picki(g->ns_steps, a->ns_steps, d.ns_steps);
    o->muon_adjust = g->muon_adjust ? g->muon_adjust : a->muon_adjust;
    if (k == TT_OPTIM_ADAMW) o->decoupled_weight_decay = 1;
}

/* Validate one group's hyperparameters like torch's constructors (ValueError -> INVALID_ARGS). */
static tt_result tt__optim_check(tt_ctx *ctx, tt_optim_kind k, int grp, const tt_optim_hparams *h,
                                 const tt_optim_desc *desc) {
    const char *nm = tt_optim_name(k);
#define TT__BAD(cond, what, val)                                                                           \
    if (cond)                                                                                              \
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_init (%s, group %d): invalid %s: %g", nm, grp, \
                        what, (double)(val))
    TT__BAD(!(h->lr >= 0) || h->lr > FLT_MAX, "learning rate (lr must be >= 0)", h->lr);
    TT__BAD(!(h->weight_decay >= 0) || h->weight_decay > FLT_MAX, "weight_decay (must be >= 0)", h->weight_decay);
    TT__BAD(!(h->eps >= 0) || h->eps > FLT_MAX, "eps (must be >= 0)", h->eps);
    switch (k) {
    case TT_OPTIM_SGD:
        TT__BAD(!(h->momentum >= 0), "momentum (must be >= 0)", h->momentum);
        TT__BAD(!(h->dampening >= 0) || h->dampening > FLT_MAX, "dampening (must be >= 0)", h->dampening);
        TT__BAD(h->nesterov && !(h->momentum > 0), "nesterov (requires momentum > 0), momentum", h->momentum);
        TT__BAD(h->nesterov && h->dampening != 0, "nesterov (requires dampening = 0), dampening", h->dampening);
        break;
    case TT_OPTIM_ADAM: case TT_OPTIM_ADAMW: case TT_OPTIM_ADAMAX: case TT_OPTIM_NADAM: case TT_OPTIM_RADAM:
    case TT_OPTIM_SPARSE_ADAM: case TT_OPTIM_LAMB:
        TT__BAD(!(h->beta1 >= 0 && h->beta1 < 1), "beta1 (must be in [0, 1))", h->beta1);
        TT__BAD(!(h->beta2 >= 0 && h->beta2 < 1), "beta2 (must be in [0, 1))", h->beta2);
        if (k == TT_OPTIM_NADAM) TT__BAD(!(h->momentum_decay >= 0), "momentum_decay (must be >= 0)", h->momentum_decay);
        if (k == TT_OPTIM_LAMB) TT__BAD(!(h->max_grad_norm >= 0), "max_grad_norm (must be >= 0)", h->max_grad_norm);
        if (k == TT_OPTIM_SPARSE_ADAM) TT__BAD(h->weight_decay != 0, "weight_decay (SparseAdam has none)", h->weight_decay);
        break;
    case TT_OPTIM_LION:
        TT__BAD(!(h->beta1 >= 0 && h->beta1 <= 1), "beta1 (must be in [0, 1])", h->beta1);
        TT__BAD(!(h->beta2 >= 0 && h->beta2 <= 1), "beta2 (must be in [0, 1])", h->beta2);
        break;
    case TT_OPTIM_ADAGRAD:
        TT__BAD(!(h->lr_decay >= 0), "lr_decay (must be >= 0)", h->lr_decay);
        TT__BAD(!(h->initial_accumulator_value >= 0), "initial_accumulator_value (must be >= 0)",
                h->initial_accumulator_value);
        break;
    case TT_OPTIM_RMSPROP:
        TT__BAD(!(h->momentum >= 0), "momentum (must be >= 0)", h->momentum);
        TT__BAD(!(h->alpha >= 0), "alpha (must be >= 0)", h->alpha);
        break;
    case TT_OPTIM_ADADELTA:
        TT__BAD(!(h->rho >= 0 && h->rho <= 1), "rho (must be in [0, 1])", h->rho);
        break;
    case TT_OPTIM_ASGD:
        TT__BAD(!(h->lambd >= 0) || h->lambd > FLT_MAX, "lambd (must be >= 0)", h->lambd);
        TT__BAD(!(h->alpha == h->alpha) || h->alpha > FLT_MAX || h->alpha < -FLT_MAX, "alpha (must be finite)", h->alpha);
        TT__BAD(!(h->t0 == h->t0), "t0 (must not be NaN)", h->t0);
        break;
    case TT_OPTIM_RPROP:
        TT__BAD(!(h->eta_minus > 0 && h->eta_minus < 1), "eta_minus (need 0 < eta_minus < 1)", h->eta_minus);
        TT__BAD(!(h->eta_plus > 1) || h->eta_plus > FLT_MAX, "eta_plus (need eta_plus > 1)", h->eta_plus);
        TT__BAD(!(h->step_min >= 0), "step_min (must be >= 0)", h->step_min);
        TT__BAD(!(h->step_max >= h->step_min), "step_max (must be >= step_min)", h->step_max);
        break;
    case TT_OPTIM_ADAFACTOR:
        TT__BAD(!(h->beta2_decay <= 0), "beta2_decay (must be <= 0)", h->beta2_decay);
        TT__BAD(!(h->eps2 >= 0), "eps2 (must be >= 0)", h->eps2);
        TT__BAD(!(h->d >= 1) || h->d > FLT_MAX, "d, the clipping threshold (must be >= 1)", h->d);
        break;
    case TT_OPTIM_MUON:
        TT__BAD(!(h->momentum >= 0), "momentum (must be >= 0)", h->momentum);
        TT__BAD(h->ns_steps < 0 || h->ns_steps >= 100, "ns_steps (must be in 0..99)", h->ns_steps);
        TT__BAD(h->maximize, "maximize (Muon has no maximize)", h->maximize);
        TT__BAD((int)h->muon_adjust < 0 || h->muon_adjust > TT_MUON_ADJUST_MATCH_RMS_ADAMW, "muon_adjust",
                (int)h->muon_adjust);
        break;
    case TT_OPTIM_LBFGS:
        TT__BAD(desc->max_iter < 0, "max_iter (must be >= 1)", desc->max_iter);
        TT__BAD(desc->max_eval < 0, "max_eval (must be >= 1)", desc->max_eval);
        TT__BAD(desc->history_size < 0, "history_size (must be >= 1)", desc->history_size);
        TT__BAD(desc->tolerance_grad < 0, "tolerance_grad (must be >= 0)", desc->tolerance_grad);
        TT__BAD(desc->tolerance_change < 0, "tolerance_change (must be >= 0)", desc->tolerance_change);
        break;
    default: break;
    }
    if (k == TT_OPTIM_ADAMW && (desc->hp.decoupled_weight_decay < 0 || desc->groups[grp].decoupled_weight_decay < 0))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_init (AdamW, group %d): decoupled_weight_decay cannot be off", grp);
#undef TT__BAD
    return TT_OK;
}

static int tt__optim_covers(const tt_optim *opt, const tt_tensor *p) {
    return p->group >= 0 && p->group < TT_OPTIM_MAX_GROUPS && ((opt->group_mask >> p->group) & 1u);
}

/* State arrays of n floats per optimizer kind. */
static int tt__optim_nstate(tt_optim_kind k) {
    switch (k) {
    case TT_OPTIM_ADAM: case TT_OPTIM_ADAMW: case TT_OPTIM_RMSPROP: return 3;
    case TT_OPTIM_ADADELTA: case TT_OPTIM_ADAMAX: case TT_OPTIM_NADAM: case TT_OPTIM_RADAM:
    case TT_OPTIM_RPROP: case TT_OPTIM_ADAFACTOR: case TT_OPTIM_SPARSE_ADAM: case TT_OPTIM_LAMB: return 2;
    case TT_OPTIM_LBFGS: return 0;
    default: return 1;
    }
}

/* LBFGS flat vectors (each n floats) kept after the history: */
enum { TT__LB_D, TT__LB_G, TT__LB_PREVG, TT__LB_X, TT__LB_GPREV, TT__LB_BG0, TT__LB_BG1, TT__LB_GNEW, TT__LB_Q, TT__LB_NVEC };

static tt_result tt__optim_init(tt_ctx *ctx, tt_optim *opt, const tt_optim_desc *desc);

TT__DEF tt_result tt_optim_init(tt_ctx *ctx, tt_optim *opt, const tt_optim_desc *desc) {
    tt_result r = tt__optim_init(ctx, opt, desc);
    if (r != TT_OK && opt) opt->kind = (tt_optim_kind)0; /* a failed init leaves an unusable optimizer */
    return r;
}

static tt_result tt__optim_init(tt_ctx *ctx, tt_optim *opt, const tt_optim_desc *desc) {
    int g, i;
    size_t n, floats, bytes;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!opt || !desc) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_init: opt or desc is NULL");
    if ((int)desc->kind <= 0 || desc->kind >= TT_OPTIM_KIND_COUNT_)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_init: unknown optimizer kind %d", (int)desc->kind);
    memset(opt, 0, sizeof *opt);
    opt->kind = desc->kind;
    opt->desc = *desc;
    opt->group_mask = desc->group_mask && desc->kind != TT_OPTIM_LBFGS ? desc->group_mask : (1u << TT_OPTIM_MAX_GROUPS) - 1u;
    if (opt->group_mask >> TT_OPTIM_MAX_GROUPS)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_init (%s): group_mask %u names groups >= %d",
                        tt_optim_name(desc->kind), desc->group_mask, TT_OPTIM_MAX_GROUPS);
    for (g = 0; g < TT_OPTIM_MAX_GROUPS; g++) {
        /* LBFGS has a single group: desc.hp */
        const tt_optim_hparams *grp = desc->kind == TT_OPTIM_LBFGS ? &desc->groups[0] : &desc->groups[g];
        tt_result r;
        tt__optim_resolve(desc->kind, grp, &desc->hp, &opt->hp[g]);
        if (!((opt->group_mask >> g) & 1u)) continue;
        r = tt__optim_check(ctx, desc->kind, g, &opt->hp[g], desc);
        if (r != TT_OK) return r;
    }
    opt->n = ctx->n_params;
    opt->n_tensors = ctx->n_param_tensors;
    if (ctx->n_params == 0) tt__warn(ctx, "tt_optim_init (%s): the context has no parameters", tt_optim_name(desc->kind));
    for (i = 0; i < opt->n_tensors; i++) {
        const tt_tensor *p = &ctx->params[i];
        if (!tt__optim_covers(opt, p)) continue;
        if (desc->kind == TT_OPTIM_MUON && p->ndim != 2)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS,
                            "tt_optim_init (Muon): parameter '%s' %S is not 2-D; Muon only supports 2-D parameters "
                            "(put the others in a group excluded by group_mask)", p->name ? p->name : "", p);
    }
    n = opt->n;
    opt->n_state = tt__optim_nstate(desc->kind);
    floats = (size_t)opt->n_state * n;
    if (desc->kind == TT_OPTIM_LBFGS) {
        tt_optim_desc *od = &opt->desc;
        if (!od->max_iter) od->max_iter = 20;
        if (!od->max_eval) od->max_eval = od->max_iter * 5 / 4;
        if (!tt__optim_isset(od->tolerance_grad)) od->tolerance_grad = 1e-7f;
        if (!tt__optim_isset(od->tolerance_change)) od->tolerance_change = 1e-9f;
        od->tolerance_grad += 0.0f;
        od->tolerance_change += 0.0f;
        if (!od->history_size) od->history_size = 100;
        /* 2 history arrays (y, s) of history_size * n, ro and al, the flat work vectors */
        floats = (2 * (size_t)od->history_size + TT__LB_NVEC) * n + 2 * (size_t)od->history_size;
        if (n && floats / n < 2 * (size_t)od->history_size)
            return tt__fail(ctx, TT_ERR_OUT_OF_MEMORY, "tt_optim_init (LBFGS): history too large");
    }
    if (!tt__mul_ok(floats ? floats : 1, sizeof(float), &bytes))
        return tt__fail(ctx, TT_ERR_OUT_OF_MEMORY, "tt_optim_init (%s): state too large", tt_optim_name(desc->kind));
    opt->state = (float *)tt__persist(ctx, "tt_optim_init", bytes);
    if (!opt->state) return ctx->err;
    memset(opt->state, 0, bytes);
    opt->state_floats = floats;
    for (i = 0; i < opt->n_state && i < 4; i++) opt->s[i] = opt->state + (size_t)i * n;
    for (g = 0; g < TT_OPTIM_MAX_GROUPS; g++) opt->sc.mu_product[g] = 1.0f;
    return TT_OK;
}

TT__DEF tt_result tt_optim_set_lr(tt_ctx *ctx, tt_optim *opt, int group, float lr) {
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!opt || !opt->kind) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_set_lr: optimizer is NULL or not initialised");
    if (group < 0 || group >= TT_OPTIM_MAX_GROUPS)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_set_lr: group %d outside 0..%d", group, TT_OPTIM_MAX_GROUPS - 1);
    if (!(lr >= 0) || lr > FLT_MAX)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_set_lr: invalid learning rate (lr must be >= 0): %g", (double)lr);
    if (opt->kind == TT_OPTIM_LBFGS) { int g; for (g = 0; g < TT_OPTIM_MAX_GROUPS; g++) opt->hp[g].lr = lr; }
    else opt->hp[group].lr = lr;
    return TT_OK;
}

TT__DEF float tt_optim_get_lr(const tt_optim *opt, int group) {
    if (!opt || group < 0 || group >= TT_OPTIM_MAX_GROUPS) return 0.0f;
    return opt->hp[group].lr;
}

TT__DEF const float *tt_optim_asgd_average(const tt_optim *opt, const tt_tensor *param) {
    if (!opt || !param || opt->kind != TT_OPTIM_ASGD || !(param->flags & TT_PARAM)) return NULL;
    if (param->offset + param->numel > opt->n || !tt__optim_covers(opt, param)) return NULL;
    return opt->s[0] + param->offset;
}

/* ---- element-wise updates: one parameter tensor (x, g: numel floats, s0..s2 its state) ---- */

/* torch.lerp: a + w (b - a) for |w| < 0.5, else b - (b - a)(1 - w). */
static float tt__lerp(float a, float b, float w) {
    return (w < 0.5f && w > -0.5f) ? a + w * (b - a) : b - (b - a) * (1.0f - w);
}
static float tt__signf(float x) { return (float)((x > 0) - (x < 0)); }

/* Everything a tensor update needs. */
typedef struct tt__optim_job {
    const tt_optim_hparams *h;
    float wd;        /* weight decay of this tensor (0 with TT_NO_DECAY) */
    float gsign;     /* -1 with maximize */
    int64_t t;       /* step count, 1 on the first step */
    int grp;
    float *x;
    const float *g;
    float *s0, *s1, *s2;
    size_t n;
} tt__optim_job;

static void tt__upd_sgd(const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    float mom = h->momentum, damp1 = (float)(1.0 - (double)h->dampening), lr = h->lr;
    size_t i;
    for (i = 0; i < j->n; i++) {
        float g = j->gsign * j->g[i];
        if (j->wd != 0) g = g + j->wd * j->x[i];
        if (mom != 0) {
            float b = j->t == 1 ? g : j->s0[i] * mom + damp1 * g; /* buffer = grad on step 1 */
            j->s0[i] = b;
            g = h->nesterov ? g + mom * b : b;
        }
        j->x[i] = j->x[i] + (-lr) * g;
    }
}

/* Adam, AdamW (decoupled), with amsgrad. */
static void tt__upd_adam(const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    double bc1 = 1.0 - pow((double)h->beta1, (double)j->t), bc2 = 1.0 - pow((double)h->beta2, (double)j->t);
    float step_size = (float)((double)h->lr / bc1), bc2s = (float)sqrt(bc2);
    float w1 = (float)(1.0 - (double)h->beta1), b2 = h->beta2, w2 = (float)(1.0 - (double)h->beta2);
    float decay = (float)(1.0 - (double)h->lr * (double)j->wd);
    size_t i;
    for (i = 0; i < j->n; i++) {
        float g = j->gsign * j->g[i], m, v, den;
        if (j->wd != 0) {
            if (h->decoupled_weight_decay) j->x[i] *= decay;
            else g = g + j->wd * j->x[i];
        }
        m = j->s0[i] = tt__lerp(j->s0[i], g, w1);
        v = j->s1[i] = j->s1[i] * b2 + w2 * (g * g);
        if (h->amsgrad) v = j->s2[i] = TT__MAX(j->s2[i], v); /* max over the raw second moment */
        den = sqrtf(v) / bc2s + h->eps;
        j->x[i] = j->x[i] + (-step_size) * m / den;
    }
}

static void tt__upd_adagrad(const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    float clr = (float)((double)h->lr / (1.0 + (double)(j->t - 1) * (double)h->lr_decay));
    size_t i;
    if (j->t == 1)
        for (i = 0; i < j->n; i++) j->s0[i] = h->initial_accumulator_value;
    for (i = 0; i < j->n; i++) {
        float g = j->gsign * j->g[i], s;
        if (j->wd != 0) g = g + j->wd * j->x[i];
        s = j->s0[i] = j->s0[i] + g * g;
        j->x[i] = j->x[i] + (-clr) * g / (sqrtf(s) + h->eps);
    }
}

static void tt__upd_rmsprop(const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    float a = h->alpha, wa = (float)(1.0 - (double)h->alpha), lr = h->lr;
    size_t i;
    for (i = 0; i < j->n; i++) {
        float g = j->gsign * j->g[i], v, avg;
        if (j->wd != 0) g = g + j->wd * j->x[i];
        v = j->s0[i] = j->s0[i] * a + wa * (g * g);
        if (h->centered) {
            float ga = j->s1[i] = tt__lerp(j->s1[i], g, wa);
            avg = sqrtf(v + (-1.0f) * (ga * ga)) + h->eps;   /* eps outside the sqrt */
        } else {
            avg = sqrtf(v) + h->eps;
        }
        if (h->momentum > 0) {
            float b = j->s2[i] = j->s2[i] * h->momentum + g / avg;
            j->x[i] = j->x[i] + (-lr) * b;
        } else {
            j->x[i] = j->x[i] + (-lr) * g / avg;
        }
    }
}

static void tt__upd_adadelta(const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    float rho = h->rho, w = (float)(1.0 - (double)h->rho);
    size_t i;
    for (i = 0; i < j->n; i++) {
        float g = j->gsign * j->g[i], v, delta;
        if (j->wd != 0) g = g + j->wd * j->x[i];
        v = j->s0[i] = j->s0[i] * rho + w * (g * g);
        delta = sqrtf(j->s1[i] + h->eps) / sqrtf(v + h->eps) * g;
        j->s1[i] = j->s1[i] * rho + w * (delta * delta);
        j->x[i] = j->x[i] + (-h->lr) * delta;
    }
}

static void tt__upd_adamax(const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    float clr = (float)((double)h->lr / (1.0 - pow((double)h->beta1, (double)j->t)));
    float w1 = (float)(1.0 - (double)h->beta1);
    size_t i;
    for (i = 0; i < j->n; i++) {
        float g = j->gsign * j->g[i], m, u;
        if (j->wd != 0) g = g + j->wd * j->x[i];
        m = j->s0[i] = tt__lerp(j->s0[i], g, w1);
        u = j->s1[i] = TT__MAX(j->s1[i] * h->beta2, fabsf(g) + h->eps); /* eps inside the max */
        j->x[i] = j->x[i] + (-clr) * m / u;
    }
}

/* NAdam; mu_product is a float32 per group (torch keeps a float32 0-d tensor per parameter). */
static void tt__upd_nadam(const tt__optim_job *j, float mu_product) {
    const tt_optim_hparams *h = j->h;
    double t = (double)j->t, bc2 = 1.0 - pow((double)h->beta2, t);
    double mu = (double)h->beta1 * (1.0 - 0.5 * pow(0.96, t * (double)h->momentum_decay));
    double mu_next = (double)h->beta1 * (1.0 - 0.5 * pow(0.96, (t + 1.0) * (double)h->momentum_decay));
    double mpn = (double)mu_product * mu_next;
    float c_g = (float)(-(double)h->lr * (1.0 - mu) / (1.0 - (double)mu_product));
    float c_m = (float)((-(double)h->lr * mu_next) / (1.0 - mpn));
    float w1 = (float)(1.0 - (double)h->beta1), w2 = (float)(1.0 - (double)h->beta2), fbc2 = (float)bc2;
    float decay = (float)(1.0 - (double)h->lr * (double)j->wd);
    size_t i;
    for (i = 0; i < j->n; i++) {
        float g = j->gsign * j->g[i], m, v, den;
        if (j->wd != 0) {
            if (h->decoupled_weight_decay) j->x[i] *= decay;
            else g = g + j->wd * j->x[i];
        }
        m = j->s0[i] = tt__lerp(j->s0[i], g, w1);
        v = j->s1[i] = j->s1[i] * h->beta2 + w2 * (g * g);
        den = sqrtf(v / fbc2) + h->eps;
        j->x[i] = j->x[i] + c_g * g / den;
        j->x[i] = j->x[i] + c_m * m / den;
    }
}

static void tt__upd_radam(const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    double t = (double)j->t, b2 = (double)h->beta2;
    double bc1 = 1.0 - pow((double)h->beta1, t), bc2 = 1.0 - pow(b2, t);
    double rho_inf = 2.0 / (1.0 - b2) - 1.0, rho_t = rho_inf - 2.0 * t * pow(b2, t) / bc2;
    int rect = rho_t > 5.0;
    float fr = rect ? (float)sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) : 1.0f;
    float fbc1 = (float)bc1, sbc2 = (float)sqrt(bc2), lr = h->lr;
    float w1 = (float)(1.0 - (double)h->beta1), w2 = (float)(1.0 - b2);
    float decay = (float)(1.0 - (double)h->lr * (double)j->wd);
    size_t i;
    for (i = 0; i < j->n; i++) {
        float g = j->gsign * j->g[i], m, v, u;
        if (j->wd != 0) {
            if (h->decoupled_weight_decay) j->x[i] *= decay;
            else g = g + j->wd * j->x[i];
        }
        m = j->s0[i] = tt__lerp(j->s0[i], g, w1);
        v = j->s1[i] = j->s1[i] * h->beta2 + w2 * (g * g);
        u = m / fbc1 * lr;
        if (rect) u = u * (sbc2 / (sqrtf(v) + h->eps)) * fr; /* eps on the uncorrected sqrt(v) */
        j->x[i] = j->x[i] - u;
    }
}

/* ASGD; eta and mu are float32 per group like torch's 0-d tensors; s0 = ax (the average). */
static void tt__upd_asgd(const tt__optim_job *j, float eta, float mu) {
    const tt_optim_hparams *h = j->h;
    float decay = (float)(1.0 - (double)h->lambd * (double)eta);
    size_t i;
    for (i = 0; i < j->n; i++) {
        float g = j->gsign * j->g[i];
        if (j->wd != 0) g = g + j->wd * j->x[i];
        j->x[i] = j->x[i] * decay;
        j->x[i] = j->x[i] + (-eta) * g;
        if (mu != 1.0f) j->s0[i] = j->s0[i] + (j->x[i] - j->s0[i]) * mu;
        else j->s0[i] = j->x[i];
    }
}

/* Rprop (iRprop-): s0 = previous gradient, s1 = per-element step size (starts at lr). */
static void tt__upd_rprop(const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    size_t i;
    if (j->t == 1)
        for (i = 0; i < j->n; i++) j->s1[i] = h->lr;
    for (i = 0; i < j->n; i++) {
        float g = j->gsign * j->g[i], s = tt__signf(g * j->s0[i]);
        float f = s > 0 ? h->eta_plus : s < 0 ? h->eta_minus : 1.0f;
        float st = j->s1[i] * f;
        st = st < h->step_min ? h->step_min : st > h->step_max ? h->step_max : st;
        j->s1[i] = st;
        if (s < 0) g = 0;
        j->x[i] = j->x[i] + (-1.0f) * (tt__signf(g) * st);
        j->s0[i] = g;
    }
}

/* SparseAdam: a "row" (slice along dim 0; the whole tensor for a scalar) whose gradient is all
   zero is absent from the sparse gradient: its moments and values are left alone ("lazy Adam"). */
static void tt__upd_sparse_adam(const tt__optim_job *j, const tt_tensor *p) {
    const tt_optim_hparams *h = j->h;
    size_t rows = p->ndim > 0 ? (size_t)p->shape[0] : 1, rl = rows ? j->n / rows : 0, r, i;
    double bc1 = 1.0 - pow((double)h->beta1, (double)j->t), bc2 = 1.0 - pow((double)h->beta2, (double)j->t);
    float step_size = (float)((double)h->lr * sqrt(bc2) / bc1);
    float w1 = (float)(1.0 - (double)h->beta1), w2 = (float)(1.0 - (double)h->beta2);
    for (r = 0; r < rows; r++) {
        size_t b = r * rl;
        int present = 0;
        for (i = b; i < b + rl; i++)
            if (j->g[i] != 0) { present = 1; break; }
        if (!present) continue;
        for (i = b; i < b + rl; i++) {
            float g = j->gsign * j->g[i];
            float dm = (g - j->s0[i]) * w1, dv = (g * g - j->s1[i]) * w2;
            float m = j->s0[i] + dm, v = j->s1[i] + dv;
            j->s0[i] = m;
            j->s1[i] = v;
            j->x[i] = j->x[i] + (-step_size) * (m / (sqrtf(v) + h->eps));
        }
    }
}

/* Lion (google/automl lion_pytorch.py): sign of the interpolated momentum, momentum after. */
static void tt__upd_lion(const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    float decay = (float)(1.0 - (double)h->lr * (double)j->wd);
    float w1 = (float)(1.0 - (double)h->beta1), w2 = (float)(1.0 - (double)h->beta2);
    size_t i;
    for (i = 0; i < j->n; i++) {
        float g = j->gsign * j->g[i];
        float c = j->s0[i] * h->beta1 + g * w1;
        j->x[i] = j->x[i] * decay;
        j->x[i] = j->x[i] + (-h->lr) * tt__signf(c);
        j->s0[i] = j->s0[i] * h->beta2 + g * w2;
    }
}

/* LAMB (timm lamb.py); clip = the global-norm divisor (1 if no clipping). Two passes over the
   tensor: the Adam direction u is recomputed from the updated moments rather than stored. */
static void tt__upd_lamb(const tt__optim_job *j, float clip) {
    const tt_optim_hparams *h = j->h;
    double t = (double)j->t;
    float bc1 = h->bias_correction ? (float)(1.0 - pow((double)h->beta1, t)) : 1.0f;
    float sbc2 = h->bias_correction ? (float)sqrt(1.0 - pow((double)h->beta2, t)) : 1.0f;
    float w1 = (float)(1.0 - (double)h->beta1), w2 = (float)(1.0 - (double)h->beta2), ratio = 1.0f;
    double wn = 0, un = 0;
    size_t i;
    for (i = 0; i < j->n; i++) {
        float g = j->gsign * j->g[i] / clip;
        j->s0[i] = j->s0[i] * h->beta1 + g * w1;
        j->s1[i] = j->s1[i] * h->beta2 + w2 * (g * g);
    }
    if (j->wd != 0 || h->always_adapt) {
        for (i = 0; i < j->n; i++) {
            float u = (j->s0[i] / bc1) / (sqrtf(j->s1[i]) / sbc2 + h->eps);
            if (j->wd != 0) u = u + j->wd * j->x[i];
            wn += (double)j->x[i] * j->x[i];
            un += (double)u * u;
        }
        wn = sqrt(wn); un = sqrt(un);
        if (wn > 0 && un > 0) ratio = (float)((float)wn / (float)un);
        if (h->trust_clip && ratio > 1.0f) ratio = 1.0f;
    }
    for (i = 0; i < j->n; i++) {
        float u = (j->s0[i] / bc1) / (sqrtf(j->s1[i]) / sbc2 + h->eps);
        if (j->wd != 0) u = u + j->wd * j->x[i];
        u = u * ratio;
        j->x[i] = j->x[i] + (-h->lr) * u;
    }
}

/* Adafactor (torch _single_tensor_adafactor). Factored over the last two dims (rows R in s0,
   columns C in s1, each laid out at the tensor's offset) for ndim >= 2, else a full V in s0.
   U is computed twice (once for RMS(U), once to apply) instead of being stored. */
static float tt__adafactor_u(const tt__optim_job *j, size_t i, size_t nr, size_t nc, const float *rmean, float eps1) {
    float g = j->gsign * j->g[i], v;
    if (nc) {
        size_t m = i % nc, rowi = i / nc, b = rowi / nr;
        v = j->s0[rowi] * j->s1[b * nc + m] / rmean[b];
    } else {
        v = j->s0[i];
    }
    v = TT__MAX(v, eps1 * eps1);
    return 1.0f / sqrtf(v) * g;
}

static void tt__upd_adafactor(tt_ctx *ctx, const tt__optim_job *j, const tt_tensor *p) {
    const tt_optim_hparams *h = j->h;
    double t = (double)j->t, w = pow(t, (double)h->beta2_decay), rho = TT__MIN((double)h->lr, 1.0 / sqrt(t));
    double xn = 0, un = 0, alpha, denom;
    float fw = (float)w, eps1 = h->eps;
    size_t i, nr = 0, nc = 0, nb = 1, b, r, c;
    float rmean_local[1];
    float *rmean = rmean_local;
    for (i = 0; i < j->n; i++) xn += (double)j->x[i] * j->x[i];
    alpha = TT__MAX((double)h->eps2, (double)(float)sqrt(xn) / sqrt((double)(j->n ? j->n : 1))) * rho;
    if (j->wd != 0) {
        float decay = (float)(1.0 - (double)h->lr * (double)j->wd);
        for (i = 0; i < j->n; i++) j->x[i] *= decay;
    }
    if (p->ndim > 1) {
        nr = (size_t)p->shape[p->ndim - 2];
        nc = (size_t)p->shape[p->ndim - 1];
        nb = (nr && nc) ? j->n / (nr * nc) : 0;
        if (nb > 1) {
            /* per-batch mean of R: a few floats of scratch (rewound by the caller) */
            rmean = tt__scratch_floats(ctx, "tt_optim_step (Adafactor)", nb);
            if (!rmean) return;
        }
        for (b = 0; b < nb; b++) {
            double rs = 0;
            for (r = 0; r < nr; r++) {
                const float *gr = j->g + (b * nr + r) * nc;
                double s = 0;
                float nrm;
                for (c = 0; c < nc; c++) s += (double)gr[c] * gr[c];
                nrm = (float)sqrt(s);
                j->s0[b * nr + r] = tt__lerp(j->s0[b * nr + r], nrm * nrm / (float)nc, fw);
                rs += j->s0[b * nr + r];
            }
            for (c = 0; c < nc; c++) {
                double s = 0;
                float nrm;
                for (r = 0; r < nr; r++) s += (double)j->g[(b * nr + r) * nc + c] * j->g[(b * nr + r) * nc + c];
                nrm = (float)sqrt(s);
                j->s1[b * nc + c] = tt__lerp(j->s1[b * nc + c], nrm * nrm / (float)nr, fw);
            }
            rmean[b] = TT__MAX((float)(rs / (double)nr), eps1);
        }
    } else {
        for (i = 0; i < j->n; i++) {
            float g = j->gsign * j->g[i];
            j->s0[i] = tt__lerp(j->s0[i], g * g, fw);
        }
    }
    for (i = 0; i < j->n; i++) {
        float u = tt__adafactor_u(j, i, nr, nc, rmean, eps1);
        un += (double)u * u;
    }
    denom = TT__MAX(1.0, (double)(float)sqrt(un) / (sqrt((double)(j->n ? j->n : 1)) * (double)h->d));
    {
        float a = (float)(-alpha / denom);
        for (i = 0; i < j->n; i++) j->x[i] = j->x[i] + a * tt__adafactor_u(j, i, nr, nc, rmean, eps1);
    }
}

/* Round a float to bfloat16 (round to nearest even), kept in a float. */
static float tt__bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) == 0x7f800000u) {
        if (u & 0x007fffffu) u |= 0x00400000u; /* keep NaN a NaN */
    } else {
        u += 0x7fffu + ((u >> 16) & 1u);
    }
    u &= 0xffff0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* C = bf16(alpha * A B + beta * C0) with A (m x k), B (k x n) given by element strides, accumulated
   in float like torch's CPU bfloat16 gemm. C0 may be NULL (beta ignored). */
static void tt__bf16_gemm(size_t m, size_t n, size_t k, const float *a, size_t ars, size_t acs,
                          const float *bm, size_t brs, size_t bcs, float alpha, float beta, const float *c0, float *c) {
    size_t i, jj, l;
    for (i = 0; i < m; i++)
        for (jj = 0; jj < n; jj++) {
            float s = 0;
            for (l = 0; l < k; l++) s += a[i * ars + l * acs] * bm[l * brs + jj * bcs];
            s = alpha * s;
            if (c0) s = s + beta * c0[i * n + jj];
            c[i * n + jj] = tt__bf16(s);
        }
}

/* Muon for one 2-D tensor; s0 = momentum buffer. Newton-Schulz runs on bfloat16-rounded values
   (every op result rounded to bf16) like torch, which computes it in torch.bfloat16. */
static tt_result tt__upd_muon(tt_ctx *ctx, const tt__optim_job *j, const tt_tensor *p) {
    const tt_optim_hparams *h = j->h;
    size_t rows = (size_t)p->shape[0], cols = (size_t)p->shape[1], m, k, i, jj, it;
    int tr = rows > cols;
    float mom = h->momentum, w = (float)(1.0 - (double)h->momentum), nrm;
    float *X, *X2, *A, *B;
    double ss = 0, adj;
    m = tr ? cols : rows;
    k = tr ? rows : cols;
    X = tt__scratch_floats(ctx, "tt_optim_step (Muon)", m * k + 1);
    X2 = tt__scratch_floats(ctx, "tt_optim_step (Muon)", m * k + 1);
    A = tt__scratch_floats(ctx, "tt_optim_step (Muon)", m * m + 1);
    B = tt__scratch_floats(ctx, "tt_optim_step (Muon)", m * m + 1);
    if (!X || !X2 || !A || !B) return ctx->err;
    for (i = 0; i < rows; i++)
        for (jj = 0; jj < cols; jj++) {
            size_t e = i * cols + jj;
            float g = j->g[e], b, u;
            b = j->s0[e] = tt__lerp(j->s0[e], g, w);
            u = h->nesterov ? tt__lerp(g, b, mom) : b;
            if (tr) X[jj * k + i] = tt__bf16(u);
            else X[i * k + jj] = tt__bf16(u);
        }
    for (i = 0; i < m * k; i++) ss += (double)X[i] * X[i];
    nrm = tt__bf16(TT__MAX(tt__bf16((float)sqrt(ss)), h->eps));
    for (i = 0; i < m * k; i++) X[i] = tt__bf16(X[i] / nrm);
    for (it = 0; it < (size_t)h->ns_steps; it++) {
        float *tmp;
        tt__bf16_gemm(m, m, k, X, k, 1, X, 1, k, 1.0f, 0.0f, NULL, A);          /* A = X X^T */
        tt__bf16_gemm(m, m, m, A, m, 1, A, m, 1, h->ns_c, h->ns_b, A, B);      /* B = b A + c A A */
        tt__bf16_gemm(m, k, m, B, m, 1, X, k, 1, 1.0f, h->ns_a, X, X2);        /* X = a X + B X */
        tmp = X; X = X2; X2 = tmp;
    }
    if (h->muon_adjust == TT_MUON_ADJUST_MATCH_RMS_ADAMW)
        adj = 0.2 * sqrt((double)TT__MAX(rows, cols));
    else
        adj = sqrt(TT__MAX(1.0, (double)rows / (double)cols));
    {
        float decay = (float)(1.0 - (double)h->lr * (double)j->wd), a = (float)(-(double)h->lr * adj);
        for (i = 0; i < rows; i++)
            for (jj = 0; jj < cols; jj++) {
                size_t e = i * cols + jj;
                float u = tr ? X[jj * k + i] : X[i * k + jj];
                j->x[e] = j->x[e] * decay;
                j->x[e] = j->x[e] + a * u;
            }
    }
    return TT_OK;
}

static tt_result tt__optim_ready(tt_ctx *ctx, tt_optim *opt, const char *op) {
    if (!opt || (int)opt->kind <= 0 || opt->kind >= TT_OPTIM_KIND_COUNT_ || (!opt->state && opt->n))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: optimizer is NULL or not initialised", op);
    if (opt->n > ctx->n_params || opt->n_tensors > ctx->n_param_tensors)
        return tt__fail(ctx, TT_ERR_STATE, "%s: the optimizer does not belong to this context", op);
    return TT_OK;
}

TT__DEF tt_result tt_optim_step(tt_ctx *ctx, tt_optim *opt) {
    int ti, g;
    float lamb_clip = 1.0f;
    size_t mark;
    tt_result res = TT_OK;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if ((res = tt__optim_ready(ctx, opt, "tt_optim_step")) != TT_OK) return res;
    if (opt->kind == TT_OPTIM_LBFGS)
        return tt__fail(ctx, TT_ERR_STATE, "tt_optim_step: LBFGS needs a closure; use tt_optim_step_closure");
    opt->last_skipped = 0;
    if (opt->desc.skip_nonfinite) {
        for (ti = 0; ti < opt->n_tensors; ti++) {
            const tt_tensor *p = &ctx->params[ti];
            if (tt__optim_covers(opt, p) && !tt__all_finite(ctx->param_grad + p->offset, p->numel)) {
                opt->last_skipped = 1;
                opt->n_skipped++;
                tt__warn(ctx, "tt_optim_step (%s): gradient of '%s' is not finite; step skipped",
                         tt_optim_name(opt->kind), p->name ? p->name : "");
                return TT_OK;
            }
        }
    }
    opt->sc.step++;
    if (opt->kind == TT_OPTIM_LAMB) {
        /* timm: one global gradient norm over every parameter the optimizer covers */
        double s = 0;
        float gn, mx = opt->hp[0].max_grad_norm;
        for (ti = 0; ti < opt->n_tensors; ti++) {
            const tt_tensor *p = &ctx->params[ti];
            size_t i;
            if (!tt__optim_covers(opt, p)) continue;
            for (i = 0; i < p->numel; i++) s += (double)ctx->param_grad[p->offset + i] * ctx->param_grad[p->offset + i];
        }
        gn = (float)sqrt(s);
        if (mx > 0 && gn > mx) lamb_clip = gn / mx;
    }
    if (opt->kind == TT_OPTIM_NADAM || opt->kind == TT_OPTIM_ASGD) {
        for (g = 0; g < TT_OPTIM_MAX_GROUPS; g++) {
            const tt_optim_hparams *h = &opt->hp[g];
            if (opt->sc.step == 1) { opt->sc.eta[g] = h->lr; opt->sc.mu[g] = 1.0f; }
            if (opt->kind == TT_OPTIM_NADAM) {
                double mu = (double)h->beta1 * (1.0 - 0.5 * pow(0.96, (double)opt->sc.step * (double)h->momentum_decay));
                opt->sc.mu_product[g] = opt->sc.mu_product[g] * (float)mu;
            }
        }
    }
    mark = tt_scratch_mark(ctx);
    for (ti = 0; ti < opt->n_tensors && res == TT_OK; ti++) {
        tt_tensor *p = &ctx->params[ti];
        tt__optim_job j;
        size_t o = p->offset;
        if (!tt__optim_covers(opt, p) || p->numel == 0) continue;
        j.grp = p->group;
        j.h = &opt->hp[p->group];
        j.wd = (p->flags & TT_NO_DECAY) ? 0.0f : j.h->weight_decay;
        j.gsign = j.h->maximize ? -1.0f : 1.0f;
        j.t = opt->sc.step;
        j.x = ctx->param_data + o;
        j.g = ctx->param_grad + o;
        j.s0 = opt->s[0] ? opt->s[0] + o : NULL;
        j.s1 = opt->s[1] ? opt->s[1] + o : NULL;
        j.s2 = opt->s[2] ? opt->s[2] + o : NULL;
        j.n = p->numel;
        switch (opt->kind) {
        case TT_OPTIM_SGD: tt__upd_sgd(&j); break;
        case TT_OPTIM_ADAM: case TT_OPTIM_ADAMW: tt__upd_adam(&j); break;
        case TT_OPTIM_ADAGRAD: tt__upd_adagrad(&j); break;
        case TT_OPTIM_RMSPROP: tt__upd_rmsprop(&j); break;
        case TT_OPTIM_ADADELTA: tt__upd_adadelta(&j); break;
        case TT_OPTIM_ADAMAX: tt__upd_adamax(&j); break;
        case TT_OPTIM_NADAM: tt__upd_nadam(&j, opt->sc.mu_product[j.grp]); break;
        case TT_OPTIM_RADAM: tt__upd_radam(&j); break;
        case TT_OPTIM_ASGD: tt__upd_asgd(&j, opt->sc.eta[j.grp], opt->sc.mu[j.grp]); break;
        case TT_OPTIM_RPROP: tt__upd_rprop(&j); break;
        case TT_OPTIM_ADAFACTOR: tt__upd_adafactor(ctx, &j, p); res = ctx->err; break;
        case TT_OPTIM_SPARSE_ADAM: tt__upd_sparse_adam(&j, p); break;
        case TT_OPTIM_MUON: res = tt__upd_muon(ctx, &j, p); break;
        case TT_OPTIM_LION: tt__upd_lion(&j); break;
        case TT_OPTIM_LAMB: tt__upd_lamb(&j, lamb_clip); break;
        default: break;
        }
        tt_scratch_rewind(ctx, mark);
    }
    if (opt->kind == TT_OPTIM_ASGD) {
        /* eta_t = lr / (1 + lambd lr t)^alpha, mu_t = 1 / max(1, t - t0), stored as float32 */
        for (g = 0; g < TT_OPTIM_MAX_GROUPS; g++) {
            const tt_optim_hparams *h = &opt->hp[g];
            double t = (double)opt->sc.step;
            opt->sc.eta[g] = (float)((double)h->lr / pow(1.0 + (double)h->lambd * (double)h->lr * t, (double)h->alpha));
            opt->sc.mu[g] = (float)(1.0 / TT__MAX(1.0, t - (double)h->t0));
        }
    }
    return res;
}

/* ---- LBFGS (torch/optim/lbfgs.py), flat vectors over ctx->param_data[0 .. n) ---- */

static double tt__dot(const float *a, const float *b, size_t n) {
    double s = 0;
    size_t i;
    for (i = 0; i < n; i++) s += (double)a[i] * b[i];
    return (double)(float)s; /* torch returns a float32 0-d tensor */
}
static double tt__absmax(const float *a, size_t n) {
    float m = 0;
    size_t i;
    for (i = 0; i < n; i++) m = TT__MAX(m, fabsf(a[i]));
    return m;
}

typedef struct tt__lbfgs {
    tt_ctx *ctx;
    tt_optim *opt;
    tt_closure_fn fn;
    void *user;
    size_t n;
    int maximize;
    float *v[TT__LB_NVEC];
} tt__lbfgs;

/* closure(): loss (negated with maximize), flat gradient copied to out. */
static tt_result tt__lbfgs_eval(tt__lbfgs *L, double *loss, float *out) {
    size_t i;
    double f = L->fn(L->ctx, L->user);
    if (L->ctx->err != TT_OK) return L->ctx->err;
    *loss = L->maximize ? -f : f;
    for (i = 0; i < L->n; i++) out[i] = L->maximize ? -L->ctx->param_grad[i] : L->ctx->param_grad[i];
    return TT_OK;
}
static void tt__lbfgs_add(tt__lbfgs *L, double t, const float *d) {
    size_t i;
    float ft = (float)t;
    for (i = 0; i < L->n; i++) L->ctx->param_data[i] = L->ctx->param_data[i] + ft * d[i];
}
/* Evaluate at x + t d, then put the parameters back to x. */
static tt_result tt__lbfgs_dir_eval(tt__lbfgs *L, double t, double *f, float *g) {
    tt_result r;
    tt__lbfgs_add(L, t, L->v[TT__LB_D]);
    r = tt__lbfgs_eval(L, f, g);
    memcpy(L->ctx->param_data, L->v[TT__LB_X], L->n * sizeof(float));
    return r;
}

/* torch _cubic_interpolate. In torch the directional derivatives g1, g2 are float32 0-d tensors,
   which makes d1, d2 and the returned step float32 too: emulated by rounding to float. */
static double tt__cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2,
                                    int has_bounds, double lo, double hi) {
    float d1, d2s;
    if (!has_bounds) { lo = x1 <= x2 ? x1 : x2; hi = x1 <= x2 ? x2 : x1; }
    d1 = ((float)g1 + (float)g2) - (float)(3 * (f1 - f2) / (x1 - x2));
    d2s = d1 * d1 - (float)g1 * (float)g2;
    if (d2s >= 0) {
        float d2 = sqrtf(d2s), mp;
        if (x1 <= x2) mp = (float)x2 - ((float)x2 - (float)x1) * (((float)g2 + d2 - d1) / ((float)g2 - (float)g1 + 2 * d2));
        else mp = (float)x1 - ((float)x1 - (float)x2) * (((float)g1 + d2 - d1) / ((float)g1 - (float)g2 + 2 * d2));
        return TT__MIN(TT__MAX((double)mp, lo), hi);
    }
    return (lo + hi) / 2.0;
}

/* torch's sufficient-decrease test f_new > f + c1 t gtd: the right side is a float32 tensor. */
static int tt__armijo_fails(double f_new, double f, double c1, double t, double gtd) {
    float rhs = (float)f + (float)(c1 * t) * (float)gtd;
    return (float)f_new > rhs;
}

/* torch _strong_wolfe. In: t, f, g (= v[G]), gtd. Out: f_new, g_new (copied into v[G]), t, evals. */
static tt_result tt__strong_wolfe(tt__lbfgs *L, double *t_io, double f, double gtd, int max_ls,
                                  double tol_change, double *f_out, int *evals) {
    const double c1 = 1e-4, c2 = 0.9;
    size_t n = L->n, vb = n * sizeof(float);
    float *g = L->v[TT__LB_G], *g_new = L->v[TT__LB_GNEW], *g_prev = L->v[TT__LB_GPREV];
    float *bg[2];
    double t = *t_io, d_norm = tt__absmax(L->v[TT__LB_D], n), f_new, gtd_new, t_prev = 0, f_prev = f, gtd_prev = gtd;
    double br[2] = {0, 0}, bf[2] = {0, 0}, bgtd[2] = {0, 0};
    int nb = 0, done = 0, ls_iter = 0, low = 0, high = 1, insuf = 0;
    tt_result r;
    bg[0] = L->v[TT__LB_BG0];
    bg[1] = L->v[TT__LB_BG1];
    memcpy(g_prev, g, vb);
    if ((r = tt__lbfgs_dir_eval(L, t, &f_new, g_new)) != TT_OK) return r;
    *evals = 1;
    gtd_new = tt__dot(g_new, L->v[TT__LB_D], n);
    while (ls_iter < max_ls) {
        if (tt__armijo_fails(f_new, f, c1, t, gtd) || (ls_iter > 1 && f_new >= f_prev)) {
            nb = 2; br[0] = t_prev; br[1] = t; bf[0] = f_prev; bf[1] = f_new;
            memcpy(bg[0], g_prev, vb); memcpy(bg[1], g_new, vb); bgtd[0] = gtd_prev; bgtd[1] = gtd_new;
            break;
        }
        if (fabs(gtd_new) <= -c2 * gtd) {
            nb = 1; br[0] = t; bf[0] = f_new; memcpy(bg[0], g_new, vb);
            done = 1;
            break;
        }
        if (gtd_new >= 0) {
            nb = 2; br[0] = t_prev; br[1] = t; bf[0] = f_prev; bf[1] = f_new;
            memcpy(bg[0], g_prev, vb); memcpy(bg[1], g_new, vb); bgtd[0] = gtd_prev; bgtd[1] = gtd_new;
            break;
        }
        {
            double min_step = t + 0.01 * (t - t_prev), max_step = t * 10, tmp = t;
            t = tt__cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, 1, min_step, max_step);
            t_prev = tmp;
        }
        f_prev = f_new;
        memcpy(g_prev, g_new, vb);
        gtd_prev = gtd_new;
        if ((r = tt__lbfgs_dir_eval(L, t, &f_new, g_new)) != TT_OK) return r;
        (*evals)++;
        gtd_new = tt__dot(g_new, L->v[TT__LB_D], n);
        ls_iter++;
    }
    if (ls_iter == max_ls) {
        nb = 2; br[0] = 0; br[1] = t; bf[0] = f; bf[1] = f_new;
        memcpy(bg[0], g, vb); memcpy(bg[1], g_new, vb);
    }
    if (nb == 2) { low = bf[0] <= bf[1] ? 0 : 1; high = 1 - low; }
    else { low = 0; high = 1; }
    while (!done && ls_iter < max_ls) {
        double lo_b, hi_b, eps;
        if (fabs(br[1] - br[0]) * d_norm < tol_change) break;
        t = tt__cubic_interpolate(br[0], bf[0], bgtd[0], br[1], bf[1], bgtd[1], 0, 0, 0);
        hi_b = TT__MAX(br[0], br[1]);
        lo_b = TT__MIN(br[0], br[1]);
        eps = 0.1 * (hi_b - lo_b);
        if (TT__MIN(hi_b - t, t - lo_b) < eps) {
            if (insuf || t >= hi_b || t <= lo_b) {
                t = fabs(t - hi_b) < fabs(t - lo_b) ? hi_b - eps : lo_b + eps;
                insuf = 0;
            } else {
                insuf = 1;
            }
        } else {
            insuf = 0;
        }
        if ((r = tt__lbfgs_dir_eval(L, t, &f_new, g_new)) != TT_OK) return r;
        (*evals)++;
        gtd_new = tt__dot(g_new, L->v[TT__LB_D], n);
        ls_iter++;
        if (tt__armijo_fails(f_new, f, c1, t, gtd) || f_new >= bf[low]) {
            br[high] = t; bf[high] = f_new; memcpy(bg[high], g_new, vb); bgtd[high] = gtd_new;
            low = bf[0] <= bf[1] ? 0 : 1;
            high = 1 - low;
        } else {
            if (fabs(gtd_new) <= -c2 * gtd) done = 1;
            else if (gtd_new * (br[high] - br[low]) >= 0) {
                br[high] = br[low]; bf[high] = bf[low]; memcpy(bg[high], bg[low], vb); bgtd[high] = bgtd[low];
            }
            br[low] = t; bf[low] = f_new; memcpy(bg[low], g_new, vb); bgtd[low] = gtd_new;
        }
    }
    *t_io = br[low];
    *f_out = bf[low];
    memcpy(g, bg[low], vb);
    return TT_OK;
}

static tt_result tt__lbfgs_step(tt_ctx *ctx, tt_optim *opt, tt_closure_fn fn, void *user, double *loss_out) {
    tt__lbfgs L;
    const tt_optim_desc *od = &opt->desc;
    tt_optim_scalars *sc = &opt->sc;
    size_t n = opt->n, h = (size_t)od->history_size, i, k;
    float *Y = opt->state, *S = opt->state + h * n, *ro = opt->state + 2 * h * n, *al = ro + h;
    float *work = al + h, *d, *g, *prev_g, *q;
    double lr = opt->hp[0].lr, tol_grad = od->tolerance_grad, tol_change = od->tolerance_change;
    double loss, orig_loss, t = sc->t, prev_loss = sc->prev_loss, gtd;
    int n_iter = 0, current_evals = 1, opt_cond;
    tt_result r;
    L.ctx = ctx; L.opt = opt; L.fn = fn; L.user = user; L.n = n; L.maximize = opt->hp[0].maximize;
    for (k = 0; k < TT__LB_NVEC; k++) L.v[k] = work + k * n;
    d = L.v[TT__LB_D]; g = L.v[TT__LB_G]; prev_g = L.v[TT__LB_PREVG]; q = L.v[TT__LB_Q];
    if ((r = tt__lbfgs_eval(&L, &loss, g)) != TT_OK) return r;
    orig_loss = L.maximize ? -loss : loss;
    if (loss_out) *loss_out = orig_loss;
    sc->func_evals++;
    if (tt__absmax(g, n) <= tol_grad) return TT_OK;
    while (n_iter < od->max_iter) {
        int ls_evals = 0;
        n_iter++;
        sc->n_iter++;
        if (sc->n_iter == 1) {
            for (i = 0; i < n; i++) d[i] = -g[i];
            sc->hist_len = 0; sc->hist_first = 0;
            sc->h_diag = 1;
        } else {
            /* y = g - prev_g and s = d t, built in two free work vectors, kept if y.s > 1e-10 */
            float *y = L.v[TT__LB_X], *s = L.v[TT__LB_GNEW];
            double ys;
            int num;
            for (i = 0; i < n; i++) { y[i] = g[i] - prev_g[i]; s[i] = d[i] * (float)t; }
            ys = tt__dot(y, s, n);
            if (ys > 1e-10) {
                size_t slot;
                if ((size_t)sc->hist_len == h) { sc->hist_first = (sc->hist_first + 1) % (int64_t)h; sc->hist_len--; }
                slot = (size_t)((sc->hist_first + sc->hist_len) % (int64_t)h);
                memcpy(Y + slot * n, y, n * sizeof(float));
                memcpy(S + slot * n, s, n * sizeof(float));
                ro[slot] = (float)(1.0 / ys);
                sc->hist_len++;
                sc->h_diag = (double)(float)(ys / tt__dot(y, y, n));
            }
            num = (int)sc->hist_len;
            for (i = 0; i < n; i++) q[i] = -g[i];
            for (k = (size_t)num; k-- > 0;) {
                size_t sl = (size_t)((sc->hist_first + (int64_t)k) % (int64_t)h);
                float a = (float)(tt__dot(S + sl * n, q, n) * ro[sl]);
                al[sl] = a;
                for (i = 0; i < n; i++) q[i] = q[i] + (-a) * Y[sl * n + i];
            }
            for (i = 0; i < n; i++) d[i] = q[i] * (float)sc->h_diag;
            for (k = 0; k < (size_t)num; k++) {
                size_t sl = (size_t)((sc->hist_first + (int64_t)k) % (int64_t)h);
                float be = (float)(tt__dot(Y + sl * n, d, n) * ro[sl]);
                float c = al[sl] - be;
                for (i = 0; i < n; i++) d[i] = d[i] + c * S[sl * n + i];
            }
        }
        memcpy(prev_g, g, n * sizeof(float));
        prev_loss = loss;
        if (sc->n_iter == 1) {
            double s1 = 0;
            for (i = 0; i < n; i++) s1 += fabsf(g[i]);
            t = TT__MIN(1.0, (double)(float)(1.0 / (double)(float)s1)) * lr;
        } else {
            t = lr;
        }
        gtd = tt__dot(g, d, n);
        if (gtd > -tol_change) break;
        if (od->strong_wolfe) {
            memcpy(L.v[TT__LB_X], ctx->param_data, n * sizeof(float));
            r = tt__strong_wolfe(&L, &t, loss, gtd, od->max_eval - current_evals, tol_change, &loss, &ls_evals);
            if (r != TT_OK) return r;
            tt__lbfgs_add(&L, t, d);
            opt_cond = tt__absmax(g, n) <= tol_grad;
        } else {
            tt__lbfgs_add(&L, t, d);
            opt_cond = 0;
            if (n_iter != od->max_iter) {
                if ((r = tt__lbfgs_eval(&L, &loss, g)) != TT_OK) return r;
                opt_cond = tt__absmax(g, n) <= tol_grad;
                ls_evals = 1;
            }
        }
        current_evals += ls_evals;
        sc->func_evals += ls_evals;
        if (n_iter == od->max_iter) break;
        if (current_evals >= od->max_eval) break;
        if (opt_cond) break;
        {
            float mx = 0;
            for (i = 0; i < n; i++) mx = TT__MAX(mx, fabsf(d[i] * (float)t));
            if (mx <= tol_change) break;
        }
        if (fabs(loss - prev_loss) < tol_change) break;
    }
    sc->t = t;
    sc->prev_loss = prev_loss;
    return TT_OK;
}

TT__DEF tt_result tt_optim_step_closure(tt_ctx *ctx, tt_optim *opt, tt_closure_fn closure, void *user, double *loss) {
    tt_result r;
    double f;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if ((r = tt__optim_ready(ctx, opt, "tt_optim_step_closure")) != TT_OK) return r;
    if (!closure) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_step_closure: closure is NULL");
    if (opt->kind == TT_OPTIM_LBFGS) {
        if (opt->n_tensors == 0) {
            f = closure(ctx, user);
            if (loss) *loss = f;
            return ctx->err;
        }
        return tt__lbfgs_step(ctx, opt, closure, user, loss);
    }
    f = closure(ctx, user);
    if (ctx->err != TT_OK) return ctx->err;
    if (loss) *loss = f;
    return tt_optim_step(ctx, opt);
}

/* ---- state save / restore: header, tt_optim_scalars, then the state floats ---- */

typedef struct tt__optim_hdr {
    uint32_t magic, version, kind, n_tensors;
    uint64_t n, state_floats, scalars_bytes;
    int64_t step;
} tt__optim_hdr;

TT__DEF size_t tt_optim_state_size(const tt_optim *opt) {
    if (!opt) return 0;
    return sizeof(tt__optim_hdr) + sizeof(tt_optim_scalars) + opt->state_floats * sizeof(float);
}

TT__DEF tt_result tt_optim_state_save(tt_ctx *ctx, const tt_optim *opt, void *buf, size_t bytes) {
    tt__optim_hdr hd;
    unsigned char *p = (unsigned char *)buf;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!opt || !opt->kind || !buf) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_state_save: opt or buf is NULL");
    if (bytes < tt_optim_state_size(opt))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_state_save: buffer has %z bytes, needs %z", bytes,
                        tt_optim_state_size(opt));
    memset(&hd, 0, sizeof hd);
    hd.magic = TT__OPTIM_MAGIC; hd.version = TT__OPTIM_VERSION; hd.kind = (uint32_t)opt->kind;
    hd.n_tensors = (uint32_t)opt->n_tensors; hd.n = opt->n; hd.state_floats = opt->state_floats;
    hd.scalars_bytes = sizeof(tt_optim_scalars); hd.step = opt->sc.step;
    memcpy(p, &hd, sizeof hd);
    memcpy(p + sizeof hd, &opt->sc, sizeof opt->sc);
    if (opt->state_floats) memcpy(p + sizeof hd + sizeof opt->sc, opt->state, opt->state_floats * sizeof(float));
    return TT_OK;
}

TT__DEF tt_result tt_optim_state_load(tt_ctx *ctx, tt_optim *opt, const void *buf, size_t bytes) {
    tt__optim_hdr hd;
    tt_optim_scalars sc;
    const unsigned char *p = (const unsigned char *)buf;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!opt || !opt->kind || !buf) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_state_load: opt or buf is NULL");
    if (bytes < sizeof hd) return tt__fail(ctx, TT_ERR_FORMAT, "tt_optim_state_load: buffer too small (%z bytes)", bytes);
    memcpy(&hd, p, sizeof hd);
    if (hd.magic != TT__OPTIM_MAGIC || hd.version != TT__OPTIM_VERSION)
        return tt__fail(ctx, TT_ERR_FORMAT, "tt_optim_state_load: not an optimizer state (bad magic or version)");
    if (hd.kind != (uint32_t)opt->kind)
        return tt__fail(ctx, TT_ERR_FORMAT, "tt_optim_state_load: state is for %s, optimizer is %s",
                        tt_optim_name((tt_optim_kind)(hd.kind < (uint32_t)TT_OPTIM_KIND_COUNT_ ? hd.kind : 0u)),
                        tt_optim_name(opt->kind));
    if (hd.n_tensors != (uint32_t)opt->n_tensors || hd.n != opt->n || hd.state_floats != opt->state_floats ||
        hd.scalars_bytes != sizeof(tt_optim_scalars))
        return tt__fail(ctx, TT_ERR_FORMAT,
                        "tt_optim_state_load: state covers %u tensors / %z floats, optimizer %d tensors / %z floats",
                        (unsigned)hd.n_tensors, (size_t)hd.n, opt->n_tensors, opt->n);
    if (bytes < tt_optim_state_size(opt))
        return tt__fail(ctx, TT_ERR_FORMAT, "tt_optim_state_load: buffer has %z bytes, state needs %z", bytes,
                        tt_optim_state_size(opt));
    memcpy(&sc, p + sizeof hd, sizeof sc);
    if (sc.step != hd.step || sc.step < 0)
        return tt__fail(ctx, TT_ERR_FORMAT, "tt_optim_state_load: inconsistent step count");
    opt->sc = sc;
    if (opt->state_floats) memcpy(opt->state, p + sizeof hd + sizeof sc, opt->state_floats * sizeof(float));
    return TT_OK;
}
/* ---- (optim implementation: end) ---- */


/* ==================================================================================== >>sched */

/* ---- (sched implementation: begin) ---- */
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
