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
   m, n, k may be 0 (k == 0 gives C = beta * C). beta == 0 ignores C's previous contents (NaN
   included) and alpha == 0 reads neither A nor B, as in BLAS. Errors (TT_ERR_INVALID_ARGS):
   negative sizes, lda < (trans_a ? m : k), ldb < (trans_b ? k : n), ldc < n (each at least 1),
   NULL matrices with nonzero sizes.

   Kernels: packed BLIS-style micro-kernels for AVX-512F, AVX2+FMA (x86-64, chosen at run time
   from cpuid, no -march needed), NEON (aarch64) and portable blocked C. TT_NO_SIMD (or a
   compiler other than gcc/clang) leaves only the portable one.
   Determinism: for a given kernel, every element of C is computed by the same sequence of
   operations whatever the thread count, so results with 1, 2 or N threads are bit-identical.
   Different kernels round differently (last bits). */

/* Portable reference: the triple loop, for teaching and testing. */
TT_API tt_result tt_sgemm_naive(int trans_a, int trans_b, int m, int n, int k, float alpha,
                                const float *a, int lda, const float *b, int ldb, float beta,
                                float *c, int ldc);
/* Fastest kernel for this CPU, one thread, no allocation: uses about 50 KiB of stack (one
   320 x 32 sliver of B and one 320 x 8 sliver of A); A is read in place. For large matrices
   tt_ctx_sgemm is faster (it packs whole cache blocks in the context's workspace). */
TT_API tt_result tt_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
                          const float *a, int lda, const float *b, int ldb, float beta,
                          float *c, int ldc);
/* The context's kernel, workspace and threads (no allocation). Used by every autograd op.
   Uses the thread pool only for problems of about 1M multiply-adds and more. The workspace
   lives in the context block: about 1.5 MiB per thread (tt_desc.threads). */
TT_API tt_result tt_ctx_sgemm(tt_ctx *ctx, int trans_a, int trans_b, int m, int n, int k,
                              float alpha, const float *a, int lda, const float *b, int ldb,
                              float beta, float *c, int ldc);
/* Threads tt_ctx_sgemm may use from now on: 1 .. tt_desc.threads (the pool is started once,
   at tt_ctx_init). Results do not change with it. */
TT_API tt_result tt_ctx_set_threads(tt_ctx *ctx, int threads);
/* Switch the context's matmul kernel (AUTO = tt_kernel_best()); TT_ERR_UNSUPPORTED if this
   CPU or build lacks it (the context keeps its kernel then). */
TT_API tt_result tt_ctx_set_kernel(tt_ctx *ctx, tt_kernel kernel);
/* Kernel the CPU supports best (what AUTO resolves to), and whether a kernel can run here. */
TT_API tt_kernel tt_kernel_best(void);
TT_API int tt_kernel_supported(tt_kernel k);
/* "auto", "scalar", "avx2", "avx512", "neon". */
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
   Matrix multiply, BLIS/OpenBLAS style, in three layers a student can read separately:

   1. Micro-kernel (tt__ukr_*): computes one MR x NR tile of C from a KC-long sliver of A (MR
      rows, any strides) and a packed sliver of B (KC rows of NR floats). The tile is held in
      registers (AVX2 6x16 = 12 ymm, AVX-512 6x32 = 12 zmm, NEON 8x8 = 16 q registers, scalar
      4x8), each step is one broadcast of A per row and one FMA per register. At the end
      C_tile = alpha * acc + beta * C_tile (C is not read when beta == 0). Partial tiles at the
      edges go through a local MR x NR copy with the very same instructions.
   2. Packing (tt__pack_a / tt__pack_b): copies a block of op(A) / op(B) into MR-row / NR-column
      panels, zero-padded, so the micro-kernel streams contiguous memory whatever the transposes.
   3. Drivers: the "packed" driver (large problems) loops jc (NC columns) > pc (KC depth, B packed
      once, L3) > ic (MC rows, A packed once, L2) > jr > ir (micro-tiles; the B sliver stays in
      L1). The "light" driver (small/skinny problems, and tt_sgemm without a context) does not
      pack A at all (the micro-kernel reads it through its strides) and packs only one KC x NR
      sliver of B at a time into a small buffer.

   Determinism: every C element is computed by the same instruction sequence in both drivers and
   for every tile position: the k loop is cut at the same multiples of KC (a kernel constant), the
   partial sums are added to C in that order, and padding never touches real elements. Threads
   split C into whole tiles, so results are bit-identical for every thread count and both paths.
   They differ between kernels (FMA vs separate multiply-add, vector widths do not matter). */

#if !defined(TT_NO_SIMD) && (defined(__GNUC__) || defined(__clang__)) && !defined(__TINYC__) && \
    defined(__x86_64__)
#define TT__GEMM_X86 1
#include <immintrin.h>
#endif
#if !defined(TT_NO_SIMD) && (defined(__GNUC__) || defined(__clang__)) && !defined(__TINYC__) && \
    defined(__aarch64__)
#define TT__GEMM_NEON 1
#include <arm_neon.h>
#endif
#ifndef TT_NO_THREADS
#include <pthread.h>
#endif

/* C = alpha * acc + beta * C for one tile; mr x nr valid of MR x NR; a at a[i*rsa + p*csa]. */
typedef void (*tt__ukr_fn)(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, float *c,
                           ptrdiff_t ldc, float alpha, float beta, int mr, int nr);
/* Packs kc x nc of op(B) = B^T (element (p, j) at b[j*ldb + p]) into NR-column panels. */
typedef void (*tt__pack_bt_fn)(int kc, int nc, const float *b, ptrdiff_t ldb, float *pb);
typedef struct tt__gemm_kern {
    tt__ukr_fn ukr;
    tt__pack_bt_fn pack_bt; /* SIMD transposing packer for op(B) = B^T, or NULL (portable one) */
    int mr, nr;      /* register tile */
    int kc, mc, nc;  /* cache blocks: KC depth (L1), MC rows of A (L2), NC columns of B (L3) */
} tt__gemm_kern;

/* Largest blocks over all kernels of this build: they size the workspaces. */
#define TT__GEMM_KC 320
#define TT__GEMM_MC 120
#define TT__GEMM_NC 1024
#define TT__GEMM_MR_MAX 8
#define TT__GEMM_NR_MAX 32
#define TT__GEMM_MAX_THREADS 64
/* tt_sgemm's stack buffer: one B sliver and one A sliver, 320 * (32 + 8) floats = 50 KiB. */
#define TT__GEMM_STACK_FLOATS (TT__GEMM_KC * (TT__GEMM_NR_MAX + TT__GEMM_MR_MAX))

/* Copy the valid mr x nr part of C into a tile (zero elsewhere) and back: edge tiles. */
static void tt__tile_load(float *t, int ldt, const float *c, ptrdiff_t ldc, int mr, int nr, int MR, int NR) {
    int i, j;
    for (i = 0; i < MR; i++)
        for (j = 0; j < NR; j++) t[i * ldt + j] = (i < mr && j < nr) ? c[i * ldc + j] : 0.0f;
}
static void tt__tile_store(const float *t, int ldt, float *c, ptrdiff_t ldc, int mr, int nr) {
    int i, j;
    for (i = 0; i < mr; i++)
        for (j = 0; j < nr; j++) c[i * ldc + j] = t[i * ldt + j];
}

/* ---- portable scalar micro-kernel, 4 x 8 ---- */
#define TT__S_MR 4
#define TT__S_NR 8
static void tt__ukr_scalar(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, float *c,
                           ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {
    float acc[TT__S_MR][TT__S_NR], tile[TT__S_MR * TT__S_NR], *cp = c;
    ptrdiff_t ld = ldc;
    int i, j, p;
    for (i = 0; i < TT__S_MR; i++)
        for (j = 0; j < TT__S_NR; j++) acc[i][j] = 0.0f;
    for (p = 0; p < kc; p++, a += csa, b += TT__S_NR)
        for (i = 0; i < TT__S_MR; i++) {
            float ai = a[i * rsa];
            for (j = 0; j < TT__S_NR; j++) acc[i][j] += ai * b[j];
        }
    if (mr < TT__S_MR || nr < TT__S_NR) {
        cp = tile; ld = TT__S_NR;
        if (beta != 0.0f) tt__tile_load(tile, TT__S_NR, c, ldc, mr, nr, TT__S_MR, TT__S_NR);
    }
    for (i = 0; i < TT__S_MR; i++)
        for (j = 0; j < TT__S_NR; j++) {
            float r = alpha * acc[i][j];
            if (beta != 0.0f) r += beta * cp[i * ld + j];
            cp[i * ld + j] = r;
        }
    if (cp == tile) tt__tile_store(tile, TT__S_NR, c, ldc, mr, nr);
}

#ifdef TT__GEMM_X86
/* ---- x86-64 AVX2 + FMA micro-kernel, 6 x 16 (12 accumulators, 2 B vectors, 1 broadcast) ---- */
#define TT__ROW2(i, x0, x1)                                                           \
    do {                                                                                  \
        float *r_ = cp + (i) * ld;                                                        \
        __m256 y0_ = _mm256_mul_ps(va, x0), y1_ = _mm256_mul_ps(va, x1);                  \
        if (beta != 0.0f) {                                                               \
            y0_ = _mm256_add_ps(y0_, _mm256_mul_ps(vb, _mm256_loadu_ps(r_)));             \
            y1_ = _mm256_add_ps(y1_, _mm256_mul_ps(vb, _mm256_loadu_ps(r_ + 8)));         \
        }                                                                                 \
        _mm256_storeu_ps(r_, y0_);                                                        \
        _mm256_storeu_ps(r_ + 8, y1_);                                                    \
    } while (0)
__attribute__((target("avx2,fma")))
static void tt__ukr_avx2(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, float *c,
                         ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, va, vb;
    ptrdiff_t r2 = 2 * rsa, r3 = 3 * rsa, r4 = 4 * rsa, r5 = 5 * rsa, ld = ldc;
    float tile[6 * 16], *cp = c;
    int p;
    for (p = 0; p < kc; p++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), x;
        x = _mm256_broadcast_ss(a);      c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
        x = _mm256_broadcast_ss(a + rsa); c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
        x = _mm256_broadcast_ss(a + r2); c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
        x = _mm256_broadcast_ss(a + r3); c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
        x = _mm256_broadcast_ss(a + r4); c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);
        x = _mm256_broadcast_ss(a + r5); c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);
        a += csa;
        b += 16;
    }
    if (mr < 6 || nr < 16) {
        cp = tile; ld = 16;
        if (beta != 0.0f) tt__tile_load(tile, 16, c, ldc, mr, nr, 6, 16);
    }
    va = _mm256_set1_ps(alpha);
    vb = _mm256_set1_ps(beta);
    TT__ROW2(0, c00, c01); TT__ROW2(1, c10, c11); TT__ROW2(2, c20, c21);
    TT__ROW2(3, c30, c31); TT__ROW2(4, c40, c41); TT__ROW2(5, c50, c51);
    if (cp == tile) tt__tile_store(tile, 16, c, ldc, mr, nr);
}
#undef TT__ROW2

/* B^T packing for NR = 16 with 8 x 8 register transposes: op(B) = B^T is the slow case to
   pack (B's rows are op(B)'s columns), and with few rows of A (batch 64) it is paid per flop. */
__attribute__((target("avx2,fma")))
static void tt__pack_bt_avx2(int kc, int nc, const float *b, ptrdiff_t ldb, float *pb) {
    int jr, p, j, h;
    for (jr = 0; jr < nc; jr += 16, pb += (size_t)16 * kc) {
        int cols = TT__MIN(16, nc - jr), p8 = cols == 16 ? kc & ~7 : 0;
        const float *bj = b + jr * ldb;
        for (p = 0; p < p8; p += 8)
            for (h = 0; h < 2; h++) {
                const float *r = bj + h * 8 * ldb + p;
                __m256 r0 = _mm256_loadu_ps(r), r1 = _mm256_loadu_ps(r + ldb), r2 = _mm256_loadu_ps(r + 2 * ldb);
                __m256 r3 = _mm256_loadu_ps(r + 3 * ldb), r4 = _mm256_loadu_ps(r + 4 * ldb);
                __m256 r5 = _mm256_loadu_ps(r + 5 * ldb), r6 = _mm256_loadu_ps(r + 6 * ldb);
                __m256 r7 = _mm256_loadu_ps(r + 7 * ldb);
                __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
                __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
                __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
                __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
                __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
                __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
                __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
                __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
                float *o = pb + (size_t)p * 16 + h * 8;
                _mm256_storeu_ps(o, _mm256_permute2f128_ps(s0, s4, 0x20));
                _mm256_storeu_ps(o + 16, _mm256_permute2f128_ps(s1, s5, 0x20));
                _mm256_storeu_ps(o + 32, _mm256_permute2f128_ps(s2, s6, 0x20));
                _mm256_storeu_ps(o + 48, _mm256_permute2f128_ps(s3, s7, 0x20));
                _mm256_storeu_ps(o + 64, _mm256_permute2f128_ps(s0, s4, 0x31));
                _mm256_storeu_ps(o + 80, _mm256_permute2f128_ps(s1, s5, 0x31));
                _mm256_storeu_ps(o + 96, _mm256_permute2f128_ps(s2, s6, 0x31));
                _mm256_storeu_ps(o + 112, _mm256_permute2f128_ps(s3, s7, 0x31));
            }
        for (p = p8; p < kc; p++)
            for (j = 0; j < 16; j++) pb[(size_t)p * 16 + j] = j < cols ? bj[j * ldb + p] : 0.0f;
    }
}

/* ---- x86-64 AVX-512F micro-kernel, 6 x 32 ---- */
#define TT__ROW2(i, x0, x1)                                                           \
    do {                                                                                  \
        float *r_ = cp + (i) * ld;                                                        \
        __m512 y0_ = _mm512_mul_ps(va, x0), y1_ = _mm512_mul_ps(va, x1);                  \
        if (beta != 0.0f) {                                                               \
            y0_ = _mm512_add_ps(y0_, _mm512_mul_ps(vb, _mm512_loadu_ps(r_)));             \
            y1_ = _mm512_add_ps(y1_, _mm512_mul_ps(vb, _mm512_loadu_ps(r_ + 16)));        \
        }                                                                                 \
        _mm512_storeu_ps(r_, y0_);                                                        \
        _mm512_storeu_ps(r_ + 16, y1_);                                                   \
    } while (0)
__attribute__((target("avx512f")))
static void tt__ukr_avx512(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, float *c,
                           ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, va, vb;
    ptrdiff_t r2 = 2 * rsa, r3 = 3 * rsa, r4 = 4 * rsa, r5 = 5 * rsa, ld = ldc;
    float tile[6 * 32], *cp = c;
    int p;
    for (p = 0; p < kc; p++) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16), x;
        x = _mm512_set1_ps(a[0]);  c00 = _mm512_fmadd_ps(x, b0, c00); c01 = _mm512_fmadd_ps(x, b1, c01);
        x = _mm512_set1_ps(a[rsa]); c10 = _mm512_fmadd_ps(x, b0, c10); c11 = _mm512_fmadd_ps(x, b1, c11);
        x = _mm512_set1_ps(a[r2]); c20 = _mm512_fmadd_ps(x, b0, c20); c21 = _mm512_fmadd_ps(x, b1, c21);
        x = _mm512_set1_ps(a[r3]); c30 = _mm512_fmadd_ps(x, b0, c30); c31 = _mm512_fmadd_ps(x, b1, c31);
        x = _mm512_set1_ps(a[r4]); c40 = _mm512_fmadd_ps(x, b0, c40); c41 = _mm512_fmadd_ps(x, b1, c41);
        x = _mm512_set1_ps(a[r5]); c50 = _mm512_fmadd_ps(x, b0, c50); c51 = _mm512_fmadd_ps(x, b1, c51);
        a += csa;
        b += 32;
    }
    if (mr < 6 || nr < 32) {
        cp = tile; ld = 32;
        if (beta != 0.0f) tt__tile_load(tile, 32, c, ldc, mr, nr, 6, 32);
    }
    va = _mm512_set1_ps(alpha);
    vb = _mm512_set1_ps(beta);
    TT__ROW2(0, c00, c01); TT__ROW2(1, c10, c11); TT__ROW2(2, c20, c21);
    TT__ROW2(3, c30, c31); TT__ROW2(4, c40, c41); TT__ROW2(5, c50, c51);
    if (cp == tile) tt__tile_store(tile, 32, c, ldc, mr, nr);
}
#undef TT__ROW2

/* cpuid + xgetbv: AVX2/FMA/AVX-512F present and their registers enabled by the OS. */
static void tt__cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
    __asm__ __volatile__("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}
static int tt__x86_level(void) { /* 0 none, 1 AVX2+FMA, 2 also AVX-512F */
    unsigned r[4], lo, hi, max;
    uint64_t xcr0;
    int ecx1;
    tt__cpuid(0, 0, r);
    max = r[0];
    if (max < 7) return 0;
    tt__cpuid(1, 0, r);
    ecx1 = (int)r[2];
    if (!(ecx1 & (1 << 27)) || !(ecx1 & (1 << 28)) || !(ecx1 & (1 << 12))) return 0; /* OSXSAVE AVX FMA */
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = ((uint64_t)hi << 32) | lo;
    if ((xcr0 & 6) != 6) return 0;                            /* XMM and YMM state */
    tt__cpuid(7, 0, r);
    if (!(r[1] & (1u << 5))) return 0;                        /* AVX2 */
    if ((r[1] & (1u << 16)) && (xcr0 & 0xE6) == 0xE6) return 2; /* AVX-512F + opmask/ZMM state */
    return 1;
}
#endif /* TT__GEMM_X86 */

#ifdef TT__GEMM_NEON
/* ---- aarch64 NEON micro-kernel, 8 x 8 (16 accumulators) ---- */
#define TT__NROW(i, x0, x1)                                                               \
    do {                                                                                  \
        float *r_ = cp + (i) * ld;                                                        \
        float32x4_t y0_ = vmulq_f32(va, x0), y1_ = vmulq_f32(va, x1);                     \
        if (beta != 0.0f) {                                                               \
            y0_ = vaddq_f32(y0_, vmulq_f32(vb, vld1q_f32(r_)));                           \
            y1_ = vaddq_f32(y1_, vmulq_f32(vb, vld1q_f32(r_ + 4)));                       \
        }                                                                                 \
        vst1q_f32(r_, y0_);                                                               \
        vst1q_f32(r_ + 4, y1_);                                                           \
    } while (0)
#define TT__NSTEP(off, x0, x1)                                                            \
    do {                                                                                  \
        float32x4_t x_ = vld1q_dup_f32(a + (off));                                        \
        x0 = vfmaq_f32(x0, x_, b0); x1 = vfmaq_f32(x1, x_, b1);                            \
    } while (0)
static void tt__ukr_neon(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, float *c,
                         ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {
    float32x4_t c00 = vdupq_n_f32(0.0f), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00;
    float32x4_t c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00;
    float32x4_t c71 = c00, va, vb;
    ptrdiff_t ld = ldc;
    float tile[8 * 8], *cp = c;
    int p;
    for (p = 0; p < kc; p++) {
        float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4);
        TT__NSTEP(0, c00, c01); TT__NSTEP(rsa, c10, c11); TT__NSTEP(2 * rsa, c20, c21);
        TT__NSTEP(3 * rsa, c30, c31); TT__NSTEP(4 * rsa, c40, c41); TT__NSTEP(5 * rsa, c50, c51);
        TT__NSTEP(6 * rsa, c60, c61); TT__NSTEP(7 * rsa, c70, c71);
        a += csa;
        b += 8;
    }
    if (mr < 8 || nr < 8) {
        cp = tile; ld = 8;
        if (beta != 0.0f) tt__tile_load(tile, 8, c, ldc, mr, nr, 8, 8);
    }
    va = vdupq_n_f32(alpha);
    vb = vdupq_n_f32(beta);
    TT__NROW(0, c00, c01); TT__NROW(1, c10, c11); TT__NROW(2, c20, c21); TT__NROW(3, c30, c31);
    TT__NROW(4, c40, c41); TT__NROW(5, c50, c51); TT__NROW(6, c60, c61); TT__NROW(7, c70, c71);
    if (cp == tile) tt__tile_store(tile, 8, c, ldc, mr, nr);
}
#undef TT__NROW
#undef TT__NSTEP
#endif /* TT__GEMM_NEON */

/* Kernel table entry for k, or NULL when this build has no such kernel. */
static int tt__gemm_kern_get(tt_kernel k, tt__gemm_kern *out) {
    out->kc = TT__GEMM_KC; out->mc = TT__GEMM_MC; out->nc = TT__GEMM_NC; out->pack_bt = NULL;
    switch (k) {
    case TT_KERNEL_SCALAR: out->ukr = tt__ukr_scalar; out->mr = TT__S_MR; out->nr = TT__S_NR; return 1;
#ifdef TT__GEMM_X86
    case TT_KERNEL_AVX2: out->ukr = tt__ukr_avx2; out->mr = 6; out->nr = 16; out->pack_bt = tt__pack_bt_avx2; return 1;
    case TT_KERNEL_AVX512: out->ukr = tt__ukr_avx512; out->mr = 6; out->nr = 32; out->kc = 192; return 1;
#endif
#ifdef TT__GEMM_NEON
    case TT_KERNEL_NEON: out->ukr = tt__ukr_neon; out->mr = 8; out->nr = 8; return 1;
#endif
    default: return 0;
    }
}

TT__DEF int tt_kernel_supported(tt_kernel k) {
    tt__gemm_kern kd;
    if (k == TT_KERNEL_AUTO) return 1;
    if (!tt__gemm_kern_get(k, &kd)) return 0;
#ifdef TT__GEMM_X86
    if (k == TT_KERNEL_AVX2) return tt__x86_level() >= 1;
    if (k == TT_KERNEL_AVX512) return tt__x86_level() >= 2;
#endif
    return 1;
}

TT__DEF tt_kernel tt_kernel_best(void) {
#ifdef TT__GEMM_X86
    int lv = tt__x86_level();
    if (lv >= 2) return TT_KERNEL_AVX512;
    if (lv >= 1) return TT_KERNEL_AVX2;
#endif
#ifdef TT__GEMM_NEON
    return TT_KERNEL_NEON;
#else
    return TT_KERNEL_SCALAR;
#endif
}

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

/* ---- packing ---- */

/* op(A) block of mc x kc, element (i, p) at a[i*rsa + p*csa], into MR-row panels:
   panel r holds pa[r*MR*kc + p*MR + i]; rows past mc are zero. */
static void tt__pack_a(int mc, int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, int MR, float *pa) {
    int ir, i, p;
    for (ir = 0; ir < mc; ir += MR) {
        int rows = TT__MIN(MR, mc - ir);
        const float *ap = a + ir * rsa;
        for (p = 0; p < kc; p++, pa += MR) {
            for (i = 0; i < rows; i++) pa[i] = ap[i * rsa + p * csa];
            for (; i < MR; i++) pa[i] = 0.0f;
        }
    }
}

/* op(B) block of kc x nc, element (p, j) at b[p*rsb + j*csb], into NR-column panels:
   panel q holds pb[q*NR*kc + p*NR + j]; columns past nc are zero. */
static void tt__pack_b(int kc, int nc, const float *b, ptrdiff_t rsb, ptrdiff_t csb, int NR, float *pb) {
    int jr, j, p;
    for (jr = 0; jr < nc; jr += NR) {
        int cols = TT__MIN(NR, nc - jr);
        const float *bp = b + jr * csb;
        if (csb == 1) {
            for (p = 0; p < kc; p++, pb += NR) {
                memcpy(pb, bp + p * rsb, (size_t)cols * sizeof(float));
                for (j = cols; j < NR; j++) pb[j] = 0.0f;
            }
        } else {
            /* B transposed: walk each source row (contiguous in p), write with stride NR */
            for (j = 0; j < NR; j++)
                for (p = 0; p < kc; p++) pb[p * NR + j] = j < cols ? bp[j * csb + p * rsb] : 0.0f;
            pb += (size_t)NR * kc;
        }
    }
}

/* op(B) block through the kernel's SIMD packer where it has one. */
static void tt__pack_b_k(const tt__gemm_kern *K, int kc, int nc, const float *b, ptrdiff_t rsb, ptrdiff_t csb, float *pb) {
    if (rsb == 1 && K->pack_bt) K->pack_bt(kc, nc, b, csb, pb);
    else tt__pack_b(kc, nc, b, rsb, csb, K->nr, pb);
}

/* ---- drivers ---- */

typedef struct tt__gemm_args {
    int m, n, k;
    float alpha, beta;
    const float *a, *b;
    float *c;
    ptrdiff_t rsa, csa, rsb, csb, ldc;
} tt__gemm_args;

/* Paths: 0 chooses from the shape, 1 forces light, 2 forces packed (for tests; same results). */
enum { TT__GEMM_PATH_AUTO = 0, TT__GEMM_PATH_LIGHT = 1, TT__GEMM_PATH_PACKED = 2 };

/* Depth of the k blocks: k cut into equal blocks of at most KC (784 -> 4 x 196, not 3 x 256 +
   16, whose thin last block would pay a whole pass over C). Depends on k only: determinism. */
static int tt__gemm_kc(const tt__gemm_kern *K, int k) {
    int nb = (k + K->kc - 1) / K->kc;
    return nb > 1 ? (k + nb - 1) / nb : k;
}

/* C = beta * C (k == 0 or alpha == 0: A and B are not read, as in BLAS). */
static void tt__gemm_scale(const tt__gemm_args *g) {
    int i, j;
    for (i = 0; i < g->m; i++) {
        float *c = g->c + i * g->ldc;
        if (g->beta == 0.0f)
            for (j = 0; j < g->n; j++) c[j] = 0.0f;
        else
            for (j = 0; j < g->n; j++) c[j] *= g->beta;
    }
}

/* Light path: A read in place, one KC x NR sliver of B packed at a time into bp (KC*NR floats);
   ap (KC*MR floats) holds A slivers of edge rows only. */
static void tt__gemm_light(const tt__gemm_kern *K, const tt__gemm_args *g, float *ap, float *bp) {
    int pc, ic, jr, ir, kb = tt__gemm_kc(K, g->k);
    for (pc = 0; pc < g->k; pc += kb) {
        int kc = TT__MIN(kb, g->k - pc);
        float beta = pc == 0 ? g->beta : 1.0f;
        for (ic = 0; ic < g->m; ic += K->mc) {
            int mc = TT__MIN(K->mc, g->m - ic);
            for (jr = 0; jr < g->n; jr += K->nr) {
                int nr = TT__MIN(K->nr, g->n - jr);
                tt__pack_b_k(K, kc, nr, g->b + pc * g->rsb + jr * g->csb, g->rsb, g->csb, bp);
                for (ir = 0; ir < mc; ir += K->mr) {
                    int mr = TT__MIN(K->mr, mc - ir);
                    const float *as = g->a + (ic + ir) * g->rsa + pc * g->csa;
                    float *cs = g->c + (ic + ir) * g->ldc + jr;
                    if (mr == K->mr) {
                        K->ukr(kc, as, g->rsa, g->csa, bp, cs, g->ldc, g->alpha, beta, mr, nr);
                    } else {
                        tt__pack_a(mr, kc, as, g->rsa, g->csa, K->mr, ap);
                        K->ukr(kc, ap, 1, K->mr, bp, cs, g->ldc, g->alpha, beta, mr, nr);
                    }
                }
            }
        }
    }
}

/* Packed path: pa holds MC x KC of A, pb KC x NC of B. */
static void tt__gemm_packed(const tt__gemm_kern *K, const tt__gemm_args *g, float *pa, float *pb) {
    int jc, pc, ic, jr, ir, kb = tt__gemm_kc(K, g->k);
    for (jc = 0; jc < g->n; jc += K->nc) {
        int nc = TT__MIN(K->nc, g->n - jc);
        for (pc = 0; pc < g->k; pc += kb) {
            int kc = TT__MIN(kb, g->k - pc);
            float beta = pc == 0 ? g->beta : 1.0f;
            tt__pack_b_k(K, kc, nc, g->b + pc * g->rsb + jc * g->csb, g->rsb, g->csb, pb);
            for (ic = 0; ic < g->m; ic += K->mc) {
                int mc = TT__MIN(K->mc, g->m - ic);
                tt__pack_a(mc, kc, g->a + ic * g->rsa + pc * g->csa, g->rsa, g->csa, K->mr, pa);
                for (jr = 0; jr < nc; jr += K->nr)
                    for (ir = 0; ir < mc; ir += K->mr)
                        K->ukr(kc, pa + ir * kc, 1, K->mr, pb + jr * kc, g->c + (ic + ir) * g->ldc + jc + jr, g->ldc,
                               g->alpha, beta, TT__MIN(K->mr, mc - ir), TT__MIN(K->nr, nc - jr));
            }
        }
    }
}

/* One thread's whole problem. pa/pb: packed-path buffers (NULL: light path only, with the
   small buffers ap/bp). */
static void tt__gemm_serial(const tt__gemm_kern *K, const tt__gemm_args *g, int path, float *pa, float *pb) {
    if (g->m == 0 || g->n == 0) return;
    if (g->k == 0 || g->alpha == 0.0f) { tt__gemm_scale(g); return; }
    if (path == TT__GEMM_PATH_AUTO)
        /* Packing A pays as soon as A is reused by two or more column tiles (a contiguous panel
           streams better than MR strided rows); with a single column tile it is pure cost. */
        path = g->n <= K->nr ? TT__GEMM_PATH_LIGHT : TT__GEMM_PATH_PACKED;
    if (path == TT__GEMM_PATH_PACKED) tt__gemm_packed(K, g, pa, pb);
    else tt__gemm_light(K, g, pa, pb);
}

static tt_result tt__sgemm_check(int ta, int tb, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                                 const float *c, int ldc) {
    if (m < 0 || n < 0 || k < 0) return TT_ERR_INVALID_ARGS;
    if (lda < TT__MAX(1, ta ? m : k) || ldb < TT__MAX(1, tb ? k : n) || ldc < TT__MAX(1, n)) return TT_ERR_INVALID_ARGS;
    if ((m && n && !c) || (m && n && k && (!a || !b))) return TT_ERR_INVALID_ARGS;
    return TT_OK;
}

static void tt__gemm_args_set(tt__gemm_args *g, int ta, int tb, int m, int n, int k, float alpha, const float *a,
                              int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    g->m = m; g->n = n; g->k = k; g->alpha = alpha; g->beta = beta;
    g->a = a; g->b = b; g->c = c; g->ldc = ldc;
    g->rsa = ta ? 1 : lda; g->csa = ta ? lda : 1;  /* op(A)(i, p) = a[i*rsa + p*csa] */
    g->rsb = tb ? 1 : ldb; g->csb = tb ? ldb : 1;  /* op(B)(p, j) = b[p*rsb + j*csb] */
}

/* ---- workspace and thread pool ---- */

struct tt__gemm_state;
typedef struct tt__gemm_worker {
    struct tt__gemm_state *st;
    int index;
} tt__gemm_worker;

struct tt__gemm_state {
    tt__gemm_kern kern;     /* the context's kernel */
    int path;               /* TT__GEMM_PATH_*, AUTO unless a test forces one */
    int threads;            /* threads with a workspace (1 .. desc.threads) */
    int active;             /* threads used now (tt_ctx_set_threads) */
    float *pa[TT__GEMM_MAX_THREADS], *pb[TT__GEMM_MAX_THREADS];
    /* the current parallel job: C split into parts of whole tiles */
    tt__gemm_args job;
    int split_n, tiles, parts;
#ifndef TT_NO_THREADS
    pthread_t tid[TT__GEMM_MAX_THREADS];
    tt__gemm_worker wk[TT__GEMM_MAX_THREADS];
    int started;            /* workers running (indices 1 .. started) */
    int sync_ok;            /* mutex and conditions initialised */
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned gen;           /* bumped for every job */
    int pending, quit;
#endif
};

static int tt__gemm_nthreads(const tt_desc *d) {
#ifdef TT_NO_THREADS
    (void)d;
    return 1;
#else
    return TT__MIN(TT__MAX(d->threads, 1), TT__GEMM_MAX_THREADS);
#endif
}

/* Per thread: MC x KC for A and KC x NC for B, rounded up to whole panels. */
static size_t tt__gemm_pa_floats(void) { return (size_t)(TT__GEMM_MC + TT__GEMM_MR_MAX) * TT__GEMM_KC; }
static size_t tt__gemm_pb_floats(void) { return (size_t)(TT__GEMM_NC + TT__GEMM_NR_MAX) * TT__GEMM_KC; }

static size_t tt__gemm_state_bytes(const tt_desc *d) {
    size_t per = tt__align_up(tt__gemm_pa_floats() * sizeof(float)) + tt__align_up(tt__gemm_pb_floats() * sizeof(float));
    return tt__align_up(sizeof(struct tt__gemm_state)) + per * (size_t)tt__gemm_nthreads(d);
}

/* Run part t of the current job: a range of whole NR (or MR) tiles of C. */
static void tt__gemm_part(struct tt__gemm_state *st, int t) {
    tt__gemm_args g = st->job;
    int unit = st->split_n ? st->kern.nr : st->kern.mr;
    int t0 = (int)((long long)st->tiles * t / st->parts), t1 = (int)((long long)st->tiles * (t + 1) / st->parts);
    int lo = t0 * unit, hi = TT__MIN(t1 * unit, st->split_n ? g.n : g.m);
    if (hi <= lo) return;
    if (st->split_n) {
        g.b += lo * g.csb; g.c += lo; g.n = hi - lo;
    } else {
        g.a += lo * g.rsa; g.c += lo * g.ldc; g.m = hi - lo;
    }
    tt__gemm_serial(&st->kern, &g, st->path, st->pa[t], st->pb[t]);
}

#ifndef TT_NO_THREADS
static void *tt__gemm_worker_main(void *arg) {
    tt__gemm_worker *w = (tt__gemm_worker *)arg;
    struct tt__gemm_state *st = w->st;
    unsigned seen = 0;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        while (!st->quit && st->gen == seen) pthread_cond_wait(&st->go, &st->mu);
        if (st->quit) break;
        seen = st->gen;
        if (w->index < st->parts) {
            pthread_mutex_unlock(&st->mu);
            tt__gemm_part(st, w->index);
            pthread_mutex_lock(&st->mu);
            if (--st->pending == 0) pthread_cond_signal(&st->done);
        }
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}
#endif

static tt_result tt__gemm_init(tt_ctx *ctx, void *mem) {
    struct tt__gemm_state *st = (struct tt__gemm_state *)mem;
    unsigned char *p = (unsigned char *)mem + tt__align_up(sizeof(struct tt__gemm_state));
    int t;
    memset(st, 0, sizeof *st);
    ctx->gemm = st;
    st->threads = tt__gemm_nthreads(&ctx->desc);
    for (t = 0; t < st->threads; t++) {
        st->pa[t] = (float *)p; p += tt__align_up(tt__gemm_pa_floats() * sizeof(float));
        st->pb[t] = (float *)p; p += tt__align_up(tt__gemm_pb_floats() * sizeof(float));
    }
    ctx->kernel = ctx->desc.kernel == TT_KERNEL_AUTO ? tt_kernel_best() : ctx->desc.kernel;
    if (!tt_kernel_supported(ctx->kernel) || !tt__gemm_kern_get(ctx->kernel, &st->kern))
        return tt__fail(ctx, TT_ERR_UNSUPPORTED, "tt_ctx_init: matmul kernel %s is not supported by this %s",
                        tt_kernel_name(ctx->kernel), tt__gemm_kern_get(ctx->kernel, &st->kern) ? "CPU" : "build");
#ifndef TT_NO_THREADS
    if (st->threads > 1) {
        if (pthread_mutex_init(&st->mu, NULL) != 0) return tt__fail(ctx, TT_ERR_UNSUPPORTED, "tt_ctx_init: pthread_mutex_init failed");
        if (pthread_cond_init(&st->go, NULL) != 0) {
            pthread_mutex_destroy(&st->mu);
            return tt__fail(ctx, TT_ERR_UNSUPPORTED, "tt_ctx_init: pthread_cond_init failed");
        }
        if (pthread_cond_init(&st->done, NULL) != 0) {
            pthread_cond_destroy(&st->go);
            pthread_mutex_destroy(&st->mu);
            return tt__fail(ctx, TT_ERR_UNSUPPORTED, "tt_ctx_init: pthread_cond_init failed");
        }
        st->sync_ok = 1;
        for (t = 1; t < st->threads; t++) {
            st->wk[t].st = st;
            st->wk[t].index = t;
            if (pthread_create(&st->tid[t], NULL, tt__gemm_worker_main, &st->wk[t]) != 0) break;
            st->started = t;
        }
        if (st->started + 1 < st->threads) {
            tt__warn(ctx, "tt_ctx_init: started %d of %d matmul threads", st->started + 1, st->threads);
            st->threads = st->started + 1;
        }
    }
#endif
    st->active = st->threads;
    return TT_OK;
}

static void tt__gemm_free(tt_ctx *ctx) {
#ifndef TT_NO_THREADS
    struct tt__gemm_state *st = ctx->gemm;
    int t;
    if (st->sync_ok) {
        pthread_mutex_lock(&st->mu);
        st->quit = 1;
        pthread_cond_broadcast(&st->go);
        pthread_mutex_unlock(&st->mu);
        for (t = 1; t <= st->started; t++) pthread_join(st->tid[t], NULL);
        pthread_cond_destroy(&st->done);
        pthread_cond_destroy(&st->go);
        pthread_mutex_destroy(&st->mu);
        st->sync_ok = 0;
        st->started = 0;
    }
#endif
    ctx->gemm = NULL;
}

/* ---- public entry points ---- */

TT__DEF tt_result tt_sgemm_naive(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                                 const float *b, int ldb, float beta, float *c, int ldc) {
    int i, j, p;
    tt_result r = tt__sgemm_check(ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
    if (r != TT_OK) return r;
    for (i = 0; i < m; i++)
        for (j = 0; j < n; j++) {
            /* dot product of row i of op(A) and column j of op(B) */
            float s = 0;
            for (p = 0; p < k; p++) s += (ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p]) *
                                         (tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j]);
            c[(size_t)i * ldc + j] = alpha * s + (beta == 0.0f ? 0.0f : beta * c[(size_t)i * ldc + j]);
        }
    return TT_OK;
}

TT__DEF tt_result tt_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                           const float *b, int ldb, float beta, float *c, int ldc) {
    float buf[TT__GEMM_STACK_FLOATS];
    tt__gemm_kern K;
    tt__gemm_args g;
    tt_result r = tt__sgemm_check(ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
    if (r != TT_OK) return r;
    tt__gemm_kern_get(tt_kernel_best(), &K);
    tt__gemm_args_set(&g, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    if (g.m == 0 || g.n == 0) return TT_OK;
    if (g.k == 0 || g.alpha == 0.0f) { tt__gemm_scale(&g); return TT_OK; }
    tt__gemm_light(&K, &g, buf + TT__GEMM_KC * TT__GEMM_NR_MAX, buf);
    return TT_OK;
}

TT__DEF tt_result tt_ctx_sgemm(tt_ctx *ctx, int ta, int tb, int m, int n, int k, float alpha, const float *a,
                               int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    struct tt__gemm_state *st;
    tt__gemm_args g;
    int parts;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!ctx->gemm) return tt__fail(ctx, TT_ERR_STATE, "tt_ctx_sgemm: context not initialised");
    if (tt__sgemm_check(ta, tb, m, n, k, a, lda, b, ldb, c, ldc) != TT_OK)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS,
                        "tt_ctx_sgemm: invalid arguments (trans_a=%d trans_b=%d m=%d n=%d k=%d lda=%d ldb=%d ldc=%d%s)",
                        ta, tb, m, n, k, lda, ldb, ldc,
                        (m && n && !c) || (m && n && k && (!a || !b)) ? ", NULL matrix" : "");
    st = ctx->gemm;
    tt__gemm_args_set(&g, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    parts = 1;
    /* threads only pay above ~1M multiply-adds (waking a worker costs microseconds) */
    if (st->active > 1 && (double)m * n * k >= 1.0e6) {
        int tn = (n + st->kern.nr - 1) / st->kern.nr, tm = (m + st->kern.mr - 1) / st->kern.mr;
        st->split_n = tn >= tm || tn >= 4 * st->active;  /* split the dimension with more tiles */
        st->tiles = st->split_n ? tn : tm;
        parts = TT__MIN(st->active, st->tiles);
    }
    if (parts <= 1) {
        tt__gemm_serial(&st->kern, &g, st->path, st->pa[0], st->pb[0]);
        return TT_OK;
    }
#ifndef TT_NO_THREADS
    st->job = g;
    pthread_mutex_lock(&st->mu);
    st->parts = parts;
    st->pending = parts - 1;
    st->gen++;
    pthread_cond_broadcast(&st->go);
    pthread_mutex_unlock(&st->mu);
    tt__gemm_part(st, 0);
    pthread_mutex_lock(&st->mu);
    while (st->pending > 0) pthread_cond_wait(&st->done, &st->mu);
    pthread_mutex_unlock(&st->mu);
#else
    st->job = g;
    st->parts = parts;
    { int t; for (t = 0; t < parts; t++) tt__gemm_part(st, t); }
#endif
    return TT_OK;
}

TT__DEF tt_result tt_ctx_set_threads(tt_ctx *ctx, int threads) {
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!ctx->gemm) return tt__fail(ctx, TT_ERR_STATE, "tt_ctx_set_threads: context not initialised");
    if (threads < 1 || threads > ctx->desc.threads)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_ctx_set_threads: threads must be 1..%d (tt_desc.threads), got %d",
                        ctx->desc.threads, threads);
    ctx->gemm->active = TT__MIN(threads, ctx->gemm->threads); /* TT_NO_THREADS: always 1 */
    return TT_OK;
}

TT__DEF tt_result tt_ctx_set_kernel(tt_ctx *ctx, tt_kernel kernel) {
    tt__gemm_kern kd;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!ctx->gemm) return tt__fail(ctx, TT_ERR_STATE, "tt_ctx_set_kernel: context not initialised");
    if ((int)kernel < 0 || kernel >= TT_KERNEL_COUNT_)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_ctx_set_kernel: unknown kernel %d", (int)kernel);
    if (kernel == TT_KERNEL_AUTO) kernel = tt_kernel_best();
    if (!tt_kernel_supported(kernel) || !tt__gemm_kern_get(kernel, &kd))
        return tt__fail(ctx, TT_ERR_UNSUPPORTED, "tt_ctx_set_kernel: kernel %s is not supported here", tt_kernel_name(kernel));
    ctx->gemm->kern = kd;
    ctx->kernel = kernel;
    return TT_OK;
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
