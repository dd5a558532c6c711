/* tinytrain.h - v0.1.0 - neural-network training in one C header - MIT or public domain (see end)

   Do this:
       #define TINYTRAIN_IMPLEMENTATION
   before you include this file in *one* C or C++ file to create the implementation.
   Every other file includes it plainly for the declarations.

   QUICK START

       #include <stdio.h>
       tt_desc desc = tt_desc_init();            // default sizes (a zeroed tt_desc is the same)
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
           if (step % 20 == 0) printf("step %d loss %.4f\n", step, loss->data[0]);
       }
       tt_ctx_free(&ctx);

   CONVENTIONS
       Defaults. Every options struct comes from its _init() function filled with PyTorch's
       defaults: tt_conv_opts_init(), tt_pool_opts_init(kh, kw), tt_batchnorm_opts_init(),
       tt_cross_entropy_opts_init(), tt_ctc_opts_init(), tt_kaiming_opts_init() and so on.
       Change the fields you need; every value in the struct is taken literally (0 means zero,
       never "the default", and there are no sentinel values), and a NULL options pointer means
       the _init() values. An activation with a PyTorch default parameter has a plain call that
       uses it and an _ex call that takes it: tt_elu(ctx, x) is alpha 1, tt_elu_ex(ctx, x, a).
       docs/options.md lists every options struct with its _init() values next to PyTorch's.
       The one exception is tt_desc: a zeroed tt_desc means "default sizes", because its fields
       only size memory, threads and the matmul kernel and never change the maths.
       Labels and indices. An int array of class labels, +-1 labels, lengths or indices is passed
       with its length, the count first: tt_cross_entropy(ctx, logits, n, labels, opts). A count
       that does not fit the input is TT_ERR_SHAPE (nothing is read past the array); a value out
       of range is TT_ERR_INDEX. Indices that come out are ints too (tt_argmax).
       Error identity. An error is identified by its code (tt_error) and its site (tt_error_site:
       the op, "conv2d", or the public function, "tt_ctx_init"). Messages are for people and
       may be reworded between versions; programs and tests check code and site.
       Names. tt_ is public, tt__ private; options are tt_xxx_opts with tt_xxx_opts_init().

   CONFIGURATION MACROS (define before including the implementation)

       TT_MALLOC(sz), TT_FREE(p)   default allocator; define both or neither
       TT_NO_MALLOC                no default allocator at all (nothing from <stdlib.h> is
                                   linked): tt_ctx_init needs tt_desc.memory or .allocator
       TT_STATIC                   make every function static (private to one translation unit)
       TT_API                      decoration of public functions (default: extern)
       TT_NO_STDIO                 never include <stdio.h>: leaves out the functions that take a
                                   file path (they fail with TT_ERR_IO naming the path); their
                                   memory-buffer versions stay. Messages never need stdio.
       TT_NO_SIMD                  only the portable scalar kernels (no intrinsics at all)
       TT_NO_THREADS               no pthreads: every kernel runs on the calling thread
       TT_MAX_DIMS                 most dimensions a tensor may have (default 6)
       TT_NO_CONV  TT_NO_RNN       FEATURE CUTS, for small flash: leave out convolution and
       TT_NO_LBFGS TT_NO_CTC       pooling (all of >>ops_conv), the LSTM and GRU cells, the LBFGS
                                   optimizer, the CTC loss. Declarations stay; a call to a cut
                                   function is an undefined reference at link time (LBFGS:
                                   tt_optim_step_closure returns TT_ERR_UNSUPPORTED).

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

   MISUSE THAT IS DETECTED
       - Stale tensors: a scratch tensor kept past tt_scratch_reset(), or made after the mark of
         a tt_scratch_rewind(), is refused by every op, initialiser and tt_backward() with
         TT_ERR_STATE ("... from an earlier step ..."); it is never read. Tensors made before a
         rewind's mark stay valid; parameters and buffers never go stale. Each tensor header
         carries its context and step (tt_tensor.owner, .gen): a few compares per op input. A
         kept pointer equal to a tensor made in the current step names that tensor.
       - Ownership: tensors and optimizers of another context are refused (TT_ERR_STATE).
       - tt_backward() is all or nothing: when the backward pass fails, parameter gradients are
         left exactly as they were and the message says "backward pass failed at op '...'".
       - Computed sizes never wrap: too-large outputs are TT_ERR_SHAPE, tt_shape_numel saturates.

   THREADS
       A context is used by one thread at a time; different contexts are independent. With
       tt_desc.threads > 1 the context owns a small pthread pool (started by tt_ctx_init, joined
       by tt_ctx_free; nothing global) that runs the parallel parts of a training step; the
       calling thread works too, and tt_ctx_set_threads(ctx, n) changes how many threads are
       used. After each parallel region the workers spin briefly (about 35 microseconds) so
       that the next region of the same step wakes them without a system call, then sleep on a
       condition variable: an idle context uses no CPU. What runs on the pool, each above a size
       threshold (smaller work stays on the calling thread), and why the result never depends on
       the thread count:
       - matrix products of about 1M multiply-adds and more (every autograd matmul, linear,
         convolution): C is cut into whole register tiles, each computed as with one thread;
       - element-wise ops from 32K elements (relu, add/sub/mul/div of same-shape operands, of a
         row vector or of a scalar, view backward) and unary activations from 4K (gelu, tanh,
         elu, ... forward and backward): every element is computed from its own inputs;
       - batchnorm (per channel), layernorm and groupnorm forward (per row), layernorm backward
         (input gradient per row; weight and bias gradients per column, each summing its rows in
         row order, as one thread does); groupnorm backward stays serial;
       - cross-entropy and NLL with class indices (per sample; the weight sum for the mean is
         taken afterwards in sample order);
       - SGD, Adam and AdamW updates from 32K (SGD) / 4K (Adam, AdamW) elements per tensor:
         element-wise.
       No op splits a sum between threads, so results are bit-identical for every thread count
       (tests/test_threads.c: 1, 2 and 3 threads; tests/test_sgemm.c for the matmul). Whole-tensor
       reductions (sum, mean, bias gradients of broadcast adds) stay serial.

   DETERMINISM
       Same build, same machine, same seed, same inputs: same bits. Every op is a fixed sequence
       of float operations (no atomics, no data races), the RNG (xoshiro128+, seeded through
       splitmix64) is integer-only, and dropout and initialisers draw from the context's RNG in a
       fixed order. The scalar, AVX2, AVX-512 and NEON matrix kernels round differently from each
       other (FMA and summation order), so results differ between kernels in the last bits; see
       the matmul section for thread counts. With the AVX2 or AVX-512 kernel, exp, erf and tanh
       are computed 8 lanes at a time (exp within 1 ulp, erf and tanh within 2 ulp of the exact
       function) in tt_exp, tt_sigmoid, tt_silu (within 4 ulp of their libm form), tt_tanh,
       tt_gelu and tt_gelu_tanh (forward and backward), tt_softmax, tt_log_softmax and attention;
       the NEON kernel vectorises exp, erf and tanh with the same operations in tt_exp,
       tt_sigmoid, tt_silu, tt_tanh and the softmaxes. With TT_KERNEL_SCALAR (or TT_NO_SIMD)
       libm's expf, erff and tanhf are used: the last bits differ between the two, within those
       bounds. The remaining float operations of these fast paths are bit-identical with the
       scalar formulas.
       The library is never built with fast-math.

   SUBNORMAL FLOATS (tt_desc.flush_denormals)
       Off by default, so results match PyTorch bit for bit in the formulas. With
       tt_desc.flush_denormals = 1 the context's work runs with flush-to-zero and
       denormals-are-zero (MXCSR FTZ|DAZ on x86-64, FPCR.FZ on aarch64; tt_ctx_init returns
       TT_ERR_UNSUPPORTED on other targets, see tt_fp_flush_supported): subnormal results and
       inputs become 0, which avoids the slow microcode path some CPUs take on them (optimizer
       state decaying on real data). Results equal the default run on data where nothing is
       subnormal. The mode is set when a covered call starts (elementwise unary/binary ops, every
       matrix product and the ops built on it, backward, optimizer steps) and the caller's mode
       restored before it returns; the pool's workers run each region in the mode its caller
       had when the region started (so even an op outside that list, e.g. layernorm, gets the
       same bits whichever thread runs a part) and restore their own after it. So no
       thread's mode is left changed between calls, and a signal handler or callback running
       inside a call is the only code that can see it (PyTorch: torch.set_flush_denormal).

   GRADIENT CHECKING
       tt_gradcheck() compares backprop with central finite differences for any function of any
       inputs and returns pass/fail with the worst element; the test suite checks every op with it.

   FINDING YOUR WAY IN THIS FILE
       Sections start with greppable banners: ">>api_*" for declarations, then the
       implementation: >>config >>util >>rng >>ctx >>tensor >>autograd >>gradcheck >>matmul
       >>ops_basic >>ops_math >>ops_shape >>ops_conv >>ops_nn >>loss >>optim >>sched >>io (checkpoints,
       safetensors, atomic files) >>layers >>progress (progress line, CSV log, SVG charts) >>data >>prep >>metrics.
       Each op keeps its shape rule, forward and backward together; the comment at >>autograd
       says how an op is written, and tt_relu is the smallest complete example. Helpers shared
       by several op families live in the core: >>util (finiteness, sigmoid, softmax rows,
       log-sum-exp), >>tensor (axis checks, (outer, n, inner) axis views, per-channel vector
       checks), >>ops_basic (broadcasting, column sums, the elementwise kernel pairs).

   ADDING AN OP
       1. Declare it, with a comment giving shapes, torch equivalent and errors, in the matching
          >>api_ops_* section; options, if several, as a tt_xxx_opts struct with tt_xxx_opts_init()
          returning torch's defaults.
       2. Implement it in the matching >>ops_* section as >>autograd describes: check inputs
          (tt__in, shape rules; every error through tt__fail with the op name first, which makes
          it the error site), tt__out, forward, then a backward that ADDS into each input's grad,
          and tt__done. A hot elementwise loop goes through the kernel table of >>ops_basic.
       3. Test it: a PyTorch golden (tests/ref/gen_NAME.py writes tests/ref/NAME_ref.h), a
          tt_gradcheck case, a fan-out case in tests/test_fanout.c, its NULL-argument call in
          tests/test_robust.c; then a line in docs/ops.md and, for options, docs/options.md.
   ADDING A LOSS
       1. Declare it in >>api_loss (int labels as (n, labels); a reduction argument, or a field of
          its options struct).
       2. Implement it in >>loss with the shared machinery: tt__loss_begin (output and unit
          layout), per-unit losses in r.l and their derivatives in tt__loss_d arrays during the
          forward, tt__loss_end(divisor); the one backward, tt__loss_backward, applies the
          reduction. Label counts via tt__loss_count_ok, ranges as TT_ERR_INDEX.
       3. Test it: a new kind in tests/ref/gen_loss.py with its cases and one line in call_loss of
          tests/test_loss.c (values and gradients against torch), an error case with its site,
          a fan-out case, the robust call list, and the README loss table.
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
#if defined(__GNUC__) || defined(__clang__)
#define TT_API static __attribute__((unused))
#else
#define TT_API static
#endif
#else
#define TT_API extern
#endif
#endif

#ifndef TT_MAX_DIMS
#define TT_MAX_DIMS 6
#endif
/* Most threads a context's pool may have (tt_desc.threads above it is refused). */
#define TT_MAX_THREADS 64

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
    TT_ERR_IO = -7,             /* a file could not be read or written (functions that take a
                                   path; they are left out with TT_NO_STDIO) */
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
    TT_LOG_WARN = 2
} tt_log_level;

/* Log callback: called for every error (TT_LOG_ERROR, with its code) and every warning
   (TT_LOG_WARN, code TT_OK: something worked but probably not as meant, e.g. an optimizer over a
   context without parameters). msg is valid during the call only. */
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

/* Context description. Start from tt_desc_init() (or a zeroed struct: here zero means the
   default) and set what you need. */
typedef struct tt_desc {
    size_t max_params;      /* floats of parameter storage (default 1 << 20) */
    int max_param_tensors;  /* parameter tensors (default 256) */
    size_t persist_bytes;   /* optimizer state and other long-lived data (default 16 MiB) */
    size_t scratch_bytes;   /* activations + tape per step (default 64 MiB) */
    uint64_t seed;          /* RNG seed (default 0 is a valid seed: same as seed 0) */
    int threads;            /* threads of the context's pool, 1..TT_MAX_THREADS (default 1); see THREADS */
    tt_kernel kernel;       /* matmul kernel (default AUTO) */
    int small_matmul_workspace; /* 1: only ~50 KiB matmul workspace per thread instead of ~1.6 MiB
                               (no packed path: large products are slower; for small devices) */
    int flush_denormals;    /* 1: run the context's work with subnormal floats flushed to zero
                               (flush-to-zero and denormals-are-zero: MXCSR FTZ|DAZ on x86-64, FPCR.FZ
                               on aarch64; tt_ctx_init gives TT_ERR_UNSUPPORTED elsewhere). Default 0:
                               results match PyTorch. Faster when values decay into the subnormal
                               range (Adam's state on real data); results then differ wherever a
                               value is subnormal. The caller's floating-point mode is never left
                               changed: see tt_fp_flush_supported for what runs flushed. */
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
    unsigned gen;                 /* step counter: bumped by tt_scratch_reset, stamped in tensors */
    int grads_zero;               /* 1: every parameter gradient is zero (set by tt_zero_grad) */
    struct tt_tensor *scratch_last; /* newest scratch tensor header (linked list backwards) */
    int late_grads;               /* tt_requires_grad gave a scratch tensor its grad in this step */
    tt_rng rng;
    int grad_enabled;             /* 0 inside no-grad regions */
    int training;                 /* 1 = training mode (dropout, batchnorm) */
    int anomaly;                  /* check every op output/grad for NaN/Inf */
    tt_kernel kernel;             /* resolved matmul kernel */
    struct tt__gemm_state *gemm;  /* matmul workspace and thread pool */
    const struct tt_backend *backend; /* NULL: the CPU; else where data lives (see >>api_backend) */
    void *backend_state;          /* the backend's own state */
    tt_result err;                /* first error since the last tt_clear_error */
    char err_msg[256];
    char err_site[48];            /* op or public function that recorded err ("" if none) */
} tt_ctx;

/* A tt_desc with every default written out: max_params 1 << 20 floats, max_param_tensors 256,
   persist_bytes 16 MiB, scratch_bytes 64 MiB, seed 0, threads 1, kernel TT_KERNEL_AUTO,
   small_matmul_workspace 0, the default allocator (TT_MALLOC / TT_FREE), no log callback, no
   caller memory. Change the fields you need. A zeroed tt_desc gives the same context (in tt_desc
   zero stands for the default: its fields size memory and never change the maths); this is
   the spelling that is warning-free in C and C++ alike (= {0} is not, under g++ -Wextra). */
TT_API tt_desc tt_desc_init(void);
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
/* The op or public function that recorded the sticky error ("" if none): the op name as it
   appears in tape nodes and messages ("matmul", "cross_entropy", "conv2d") or the public
   function ("tt_ctx_init", "tt_optim_step"). Messages may be reworded between versions; the
   pair (tt_error, tt_error_site) is the stable identity of an error, and what tests check. */
TT_API const char *tt_error_site(const tt_ctx *ctx);
/* Forget the sticky error. */
TT_API void tt_clear_error(tt_ctx *ctx);
/* 1 when tt_desc.flush_denormals can be honoured in this build (x86-64 with gcc, clang or MSVC;
   aarch64 with gcc or clang), else 0. With the flag, flush-to-zero and denormals-are-zero are set
   on entry and the caller's mode restored before return, on the calling thread, around: the
   elementwise unary and binary ops (tt_add, tt_mul, tt_neg, tt_scale, tt_add_scalar, the activations
   of the unary helper), tt_ctx_sgemm and every op built on it (linear, matmul, conv, attention
   products), tt_backward / tt_backward_seed (every backward function) and tt_optim_step (also when
   tt_optim_step_closure calls it; not the closure, not L-BFGS). The pool's worker threads take
   the calling thread's mode for every region they work on and restore their own after. Other
   forward ops run in the caller's mode (on every thread). Nothing stays changed in any thread between calls. */
TT_API int tt_fp_flush_supported(void);
/* Runtime version string, e.g. "0.1.0". */
TT_API const char *tt_version(void);
/* CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320: the checksum of gzip, zlib and PNG) of
   n bytes, continuing from crc (start with 0): tt_crc32(tt_crc32(0, a, na), b, nb) equals the
   CRC of a followed by b. Used by the gzip reader and the checkpoint format. */
TT_API uint32_t tt_crc32(uint32_t crc, const void *data, size_t n);

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
    /* bits 16 and up are reserved for the library's own bookkeeping */
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
    /* library bookkeeping, set when the tensor is made (read-only for you): */
    unsigned gen;                /* scratch tensors: the step (tt_scratch_reset count) that made it */
    const struct tt_ctx *owner;  /* the context that made it */
    struct tt_tensor *older;     /* scratch tensors: the previous scratch tensor of the step */
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
/* Element count of a shape; 1 for ndim 0, negative dimensions count as 0. Saturates: SIZE_MAX
   when the product does not fit a size_t (no tensor can have that many elements). */
TT_API size_t tt_shape_numel(int ndim, const int *shape);
/* 1 if the two tensors have the same shape. */
TT_API int tt_same_shape(const tt_tensor *a, const tt_tensor *b);

/* New parameter (zero-initialised, requires grad) in parameter storage. name is kept by pointer
   (use a string literal or storage that outlives the context); error messages and the
   optimizers' warnings name the tensor by it, and it stays in t->name (tt_param_at lists them)
   for anything that saves or loads parameters by name. Parameters can only be added, never
   removed. */
TT_API tt_tensor *tt_param(tt_ctx *ctx, const char *name, int ndim, const int *shape);
/* New persistent tensor that is not trained (batchnorm running statistics and the like):
   zero-initialised, no gradient, lives until tt_ctx_free. */
TT_API tt_tensor *tt_buffer(tt_ctx *ctx, const char *name, int ndim, const int *shape);
/* Fill a tensor in place (parameters or scratch tensors), RNG from the context. */
TT_API tt_result tt_init_const(tt_ctx *ctx, tt_tensor *t, float value);
TT_API tt_result tt_init_uniform(tt_ctx *ctx, tt_tensor *t, float lo, float hi);
TT_API tt_result tt_init_normal(tt_ctx *ctx, tt_tensor *t, float mean, float std);
/* Initialisers as torch.nn.init: fan_in and fan_out come from the tensor's shape exactly as
   torch's _calculate_fan_in_and_fan_out: dim 0 is the output size, dim 1 the input size, and
   the product of the remaining dims (the receptive field) multiplies both. A tensor with fewer
   than 2 dims has no fans (TT_ERR_SHAPE). Random draws come from the context RNG in order. */
TT_API tt_result tt_init_fans(const tt_tensor *t, int *fan_in, int *fan_out);
typedef enum tt_nonlinearity {
    TT_NONLIN_LINEAR = 0,      /* gain 1 (also torch's conv1d/conv2d/... names) */
    TT_NONLIN_SIGMOID,         /* 1 */
    TT_NONLIN_TANH,            /* 5/3 */
    TT_NONLIN_RELU,            /* sqrt(2) */
    TT_NONLIN_LEAKY_RELU,      /* sqrt(2 / (1 + slope^2)) */
    TT_NONLIN_SELU             /* 3/4 */
} tt_nonlinearity;
/* torch.nn.init.calculate_gain; param is the leaky_relu slope (ignored by the others). */
TT_API double tt_calculate_gain(tt_nonlinearity nonlinearity, double param);
typedef enum tt_fan_mode { TT_FAN_IN = 0, TT_FAN_OUT = 1 } tt_fan_mode;
/* nn.Linear / nn.Conv*d reset_parameters: weight ~ kaiming_uniform(a = sqrt(5)), i.e.
   U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with weight's fan_in, then bias (may be NULL) ~ the same
   U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (0 bound when fan_in is 0), drawn after the weight. */
TT_API tt_result tt_init_torch_default(tt_ctx *ctx, tt_tensor *weight, tt_tensor *bias);
/* xavier_uniform_: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)). */
typedef struct tt_xavier_opts {
    double gain;                  /* 1 */
} tt_xavier_opts;
TT_API tt_xavier_opts tt_xavier_opts_init(void); /* torch's defaults */
TT_API tt_result tt_init_xavier_uniform(tt_ctx *ctx, tt_tensor *t, const tt_xavier_opts *opts); /* NULL: _init */
/* kaiming_normal_ / kaiming_uniform_: std = gain / sqrt(fan), gain = tt_calculate_gain(
   nonlinearity, a), fan = fan_in or fan_out (mode); normal N(0, std^2), uniform U(-b, b) with
   b = sqrt(3) std. */
typedef struct tt_kaiming_opts {
    double a;                     /* 0: negative slope for TT_NONLIN_LEAKY_RELU */
    tt_fan_mode mode;             /* TT_FAN_IN */
    tt_nonlinearity nonlinearity; /* TT_NONLIN_LEAKY_RELU (with a = 0 the ReLU gain sqrt(2)) */
} tt_kaiming_opts;
TT_API tt_kaiming_opts tt_kaiming_opts_init(void); /* torch's defaults */
/* opts NULL means tt_kaiming_opts_init() */
TT_API tt_result tt_init_kaiming_normal(tt_ctx *ctx, tt_tensor *t, const tt_kaiming_opts *opts);
TT_API tt_result tt_init_kaiming_uniform(tt_ctx *ctx, tt_tensor *t, const tt_kaiming_opts *opts);
/* Copy n floats into a tensor's data (n must equal numel). */
TT_API tt_result tt_tensor_set(tt_ctx *ctx, tt_tensor *t, const float *data, size_t n);
/* Number of parameter tensors, and the i-th one. */
TT_API int tt_param_count(const tt_ctx *ctx);
TT_API tt_tensor *tt_param_at(tt_ctx *ctx, int i);

/* ==================================================================================== >>api_autograd */

/* Start a step: rewind scratch memory and the tape. Every scratch tensor becomes invalid: given to
   any call afterwards it is refused with TT_ERR_STATE. */
TT_API void tt_scratch_reset(tt_ctx *ctx);
/* Save a scratch position (to evaluate inside a step without growing scratch). */
TT_API size_t tt_scratch_mark(const tt_ctx *ctx);
/* Rewind scratch to a saved position: tensors and tape nodes made after the mark are freed (and
   refused afterwards), tensors made before it stay valid; a grad that tt_requires_grad gave an
   older tensor after the mark is freed too (the tensor stops requiring grad). */
TT_API void tt_scratch_rewind(tt_ctx *ctx, size_t mark);
/* Backpropagate from a scalar: d(loss)/d(x) is added to x->grad for every tensor x that
   requires grad. Parameter gradients accumulate across calls until tt_zero_grad; intermediate
   gradients are recomputed on every call, so calling it twice adds the gradient twice. Scratch
   taken by backward temporaries is given back before it returns. A loss whose graph was freed
   by tt_scratch_rewind / tt_scratch_reset is refused with TT_ERR_STATE.
   All or nothing: if the backward pass fails (anomaly mode, scratch full in a backward
   temporary), every parameter gradient is left as it was and the message reads "tt_backward:
   backward pass failed at op '<op>' (...): <cause>". To do this the parameter gradients are copied
   to scratch first (4 bytes per parameter of scratch), except when they are known to be zero
   (tt_zero_grad since the last backward): then nothing is copied and zeros are restored. Write
   into parameter gradients yourself only after tt_backward, or a failing backward zeroes them.
   With a GPU backend only the known-zero case is covered (device gradients are not copied). */
TT_API tt_result tt_backward(tt_ctx *ctx, tt_tensor *loss);
/* Backpropagate from any tensor with an explicit output gradient (numel floats). */
TT_API tt_result tt_backward_seed(tt_ctx *ctx, tt_tensor *out, const float *seed);
/* Zero every parameter gradient (one memset); the next tt_backward then needs no copy of them. */
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
   Options from tt_gradcheck_opts_init(): eps 1e-2 (relative to max(1,|x|)), atol 1e-3, rtol
   1e-2, taken literally (eps > 0, atol and rtol >= 0); NULL opts means those values. */
typedef tt_tensor *(*tt_gradcheck_fn)(tt_ctx *ctx, tt_tensor **inputs, void *user);
typedef struct tt_gradcheck_opts {
    double eps, atol, rtol;
} tt_gradcheck_opts;
/* eps 1e-2, atol 1e-3, rtol 1e-2 (see above) */
TT_API tt_gradcheck_opts tt_gradcheck_opts_init(void);
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
   fails. report may be NULL; opts may be NULL; when given, report is filled on every return (all
   zero, worst_input -1, when the check did not run). Uses the scratch region (rewound after). */
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
   lives in the context block: about 1.6 MiB per thread (tt_desc.threads). */
TT_API tt_result tt_ctx_sgemm(tt_ctx *ctx, int trans_a, int trans_b, int m, int n, int k,
                              float alpha, const float *a, int lda, const float *b, int ldb,
                              float beta, float *c, int ldc);
/* Threads the context's ops (tt_ctx_sgemm and every op that runs on the pool, see THREADS) may
   use from now on: 1 .. tt_desc.threads (the pool is started once, at tt_ctx_init). Results do
   not change with it. */
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

/* Binary ops broadcast like tt_add. pow: d/db is 0 where a == 0 and b >= 0 (torch); maximum /
   minimum split the gradient evenly on ties (torch). */
TT_API tt_tensor *tt_sub(tt_ctx *ctx, tt_tensor *a, tt_tensor *b);      /* a - b */
TT_API tt_tensor *tt_div(tt_ctx *ctx, tt_tensor *a, tt_tensor *b);      /* a / b */
TT_API tt_tensor *tt_pow(tt_ctx *ctx, tt_tensor *a, tt_tensor *b);      /* a ^ b */
TT_API tt_tensor *tt_pow_scalar(tt_ctx *ctx, tt_tensor *x, float p);    /* x ^ p (gradient 0 for p == 0) */
TT_API tt_tensor *tt_maximum(tt_ctx *ctx, tt_tensor *a, tt_tensor *b);  /* max(a, b) */
TT_API tt_tensor *tt_minimum(tt_ctx *ctx, tt_tensor *a, tt_tensor *b);  /* min(a, b) */
/* Unary elementwise ops: same shape out; gradient conventions at kinks as torch. */
TT_API tt_tensor *tt_neg(tt_ctx *ctx, tt_tensor *x);                    /* -x */
TT_API tt_tensor *tt_scale(tt_ctx *ctx, tt_tensor *x, float s);         /* s * x */
TT_API tt_tensor *tt_add_scalar(tt_ctx *ctx, tt_tensor *x, float s);    /* x + s */
TT_API tt_tensor *tt_exp(tt_ctx *ctx, tt_tensor *x);                    /* e^x */
TT_API tt_tensor *tt_log(tt_ctx *ctx, tt_tensor *x);                    /* natural log (-inf at 0, NaN below) */
TT_API tt_tensor *tt_sqrt(tt_ctx *ctx, tt_tensor *x);                   /* square root; gradient inf at 0 */
TT_API tt_tensor *tt_abs(tt_ctx *ctx, tt_tensor *x);                    /* |x|; gradient 0 at 0 */
/* min(max(x, lo), hi); gradient 1 where lo < x < hi, 0 at the bounds (as torch 2.15 with scalar
   bounds); lo > hi gives hi everywhere (torch). */
TT_API tt_tensor *tt_clamp(tt_ctx *ctx, tt_tensor *x, float lo, float hi); /* -INFINITY/INFINITY for one side */
/* Activations with a parameter come in pairs: the plain call uses torch's default, the _ex call
   takes the parameter (any value is taken literally; non-finite ones are errors).
   x > 0 ? x : slope * x; gradient at 0 is slope (torch). tt_leaky_relu: slope 0.01. */
TT_API tt_tensor *tt_leaky_relu(tt_ctx *ctx, tt_tensor *x);
TT_API tt_tensor *tt_leaky_relu_ex(tt_ctx *ctx, tt_tensor *x, float negative_slope);
/* x > 0 ? x : alpha * (e^x - 1); gradient at 0 is alpha (torch). tt_elu: alpha 1. */
TT_API tt_tensor *tt_elu(tt_ctx *ctx, tt_tensor *x);
TT_API tt_tensor *tt_elu_ex(tt_ctx *ctx, tt_tensor *x, float alpha);
/* scale * elu(x, alpha) with torch's constants alpha = 1.67326..., scale = 1.05070... */
TT_API tt_tensor *tt_selu(tt_ctx *ctx, tt_tensor *x);
TT_API tt_tensor *tt_gelu(tt_ctx *ctx, tt_tensor *x);                   /* exact, erf form: x * Phi(x) */
TT_API tt_tensor *tt_gelu_tanh(tt_ctx *ctx, tt_tensor *x);              /* tanh approximation (approximate='tanh') */
TT_API tt_tensor *tt_silu(tt_ctx *ctx, tt_tensor *x);                   /* x * sigmoid(x) (swish) */
TT_API tt_tensor *tt_sigmoid(tt_ctx *ctx, tt_tensor *x);                /* 1 / (1 + e^-x) */
TT_API tt_tensor *tt_tanh(tt_ctx *ctx, tt_tensor *x);                   /* hyperbolic tangent */
/* log(1 + e^(beta x)) / beta, and x itself where beta * x > threshold. beta must be finite, != 0.
   tt_softplus: beta 1, threshold 20 (torch). */
TT_API tt_tensor *tt_softplus(tt_ctx *ctx, tt_tensor *x);
TT_API tt_tensor *tt_softplus_ex(tt_ctx *ctx, tt_tensor *x, float beta, float threshold);
TT_API tt_tensor *tt_softsign(tt_ctx *ctx, tt_tensor *x);               /* x / (1 + |x|) */
/* clamp to [min_val, max_val] (min_val <= max_val); gradient 0 at exactly min_val and max_val.
   tt_hardtanh: [-1, 1] (torch). */
TT_API tt_tensor *tt_hardtanh(tt_ctx *ctx, tt_tensor *x);
TT_API tt_tensor *tt_hardtanh_ex(tt_ctx *ctx, tt_tensor *x, float min_val, float max_val);
TT_API tt_tensor *tt_mish(tt_ctx *ctx, tt_tensor *x);                   /* x * tanh(softplus(x)) */
/* Reductions. keepdim != 0 keeps the reduced axis with size 1. Sums accumulate in double. */
TT_API tt_tensor *tt_sum_axis(tt_ctx *ctx, tt_tensor *x, int axis, int keepdim); /* empty axis: 0 */
TT_API tt_tensor *tt_mean(tt_ctx *ctx, tt_tensor *x);                   /* mean of all elements (empty: NaN) */
TT_API tt_tensor *tt_mean_axis(tt_ctx *ctx, tt_tensor *x, int axis, int keepdim); /* empty axis: NaN */
/* Variance = sum((x - mean)^2) / (n - correction): correction 1 unbiased (torch default), 0
   population; n <= correction gives inf or NaN as torch. */
TT_API tt_tensor *tt_var(tt_ctx *ctx, tt_tensor *x, int correction);    /* all elements; torch correction 1 */
TT_API tt_tensor *tt_var_axis(tt_ctx *ctx, tt_tensor *x, int axis, int correction, int keepdim);
/* Largest / smallest element (NaN if any is NaN). Ties share the gradient evenly (torch.max(x)).
   Empty input: TT_ERR_SHAPE. */
TT_API tt_tensor *tt_max(tt_ctx *ctx, tt_tensor *x);                    /* all elements */
TT_API tt_tensor *tt_min(tt_ctx *ctx, tt_tensor *x);                    /* all elements */
/* Max / min along axis; the gradient goes to the first extreme element (torch.max(x, dim)).
   An empty axis with a non-empty output is TT_ERR_SHAPE. */
TT_API tt_tensor *tt_max_axis(tt_ctx *ctx, tt_tensor *x, int axis, int keepdim);
TT_API tt_tensor *tt_min_axis(tt_ctx *ctx, tt_tensor *x, int axis, int keepdim);
/* Integer index of the first maximum along axis (first NaN if any), as torch.argmax(x, axis):
   writes one index per position of x's shape without that axis (x->numel / size of axis of
   them, row-major) into indices, which holds n_indices ints (fewer is TT_ERR_SHAPE). A scalar
   x has one position (index 0). No gradient, no scratch memory. */
TT_API tt_result tt_argmax(tt_ctx *ctx, tt_tensor *x, int axis, size_t n_indices, int *indices);
/* Softmax / log-softmax along axis, max-subtracted (no overflow for large inputs). */
TT_API tt_tensor *tt_softmax(tt_ctx *ctx, tt_tensor *x, int axis);
TT_API tt_tensor *tt_log_softmax(tt_ctx *ctx, tt_tensor *x, int axis);


/* ==================================================================================== >>api_ops_shape
   Shape ops. Index arrays carry their length (n_index, then the pointer). */

/* PyTorch semantics throughout; axes may be negative (-1 = last). reshape and flatten return views
   (TT_VIEW: they share x's data, so writing one writes the other); every other op returns a new
   tensor. Errors: bad axis, perm, step, pads count or sign -> TT_ERR_INVALID_ARGS; sizes that do
   not fit -> TT_ERR_SHAPE; an index outside its dimension -> TT_ERR_INDEX (negative indices are
   out of range, as in torch.gather / index_select / embedding). */

/* Same data, new shape (one entry may be -1 and is inferred). Shares data with x (a view) but has
   its own gradient, which backward adds into x's. */
TT_API tt_tensor *tt_reshape(tt_ctx *ctx, tt_tensor *x, int ndim, const int *shape);
/* Merge dims start_dim..last into one (torch.flatten(x, start_dim)); a view like tt_reshape. A
   scalar becomes shape [1]. */
TT_API tt_tensor *tt_flatten(tt_ctx *ctx, tt_tensor *x, int start_dim);
/* Swap two dimensions (x.transpose(dim0, dim1)); a contiguous copy. */
TT_API tt_tensor *tt_transpose(tt_ctx *ctx, tt_tensor *x, int dim0, int dim1);
/* perm has x->ndim entries: output dim i is input dim perm[i] (x.permute(perm)); a copy. */
TT_API tt_tensor *tt_permute(tt_ctx *ctx, tt_tensor *x, const int *perm);
/* x[start:end:step] along axis (step > 0; negative start/end count from the end, clamped as Python:
   start 0, end INT_MAX takes everything; an empty range gives size 0 on axis). */
TT_API tt_tensor *tt_slice(tt_ctx *ctx, tt_tensor *x, int axis, int start, int end, int step);
/* torch.cat: join n >= 1 tensors along an existing axis; all other sizes must be equal. */
TT_API tt_tensor *tt_concat(tt_ctx *ctx, int n, tt_tensor **xs, int axis);
/* torch.stack: join n >= 1 tensors of one shape along a new axis (-(ndim+1)..ndim). */
TT_API tt_tensor *tt_stack(tt_ctx *ctx, int n, tt_tensor **xs, int axis);
/* Constant padding as torch.nn.functional.pad: pads = (left, right) for the last dim, then the
   dim before it, ... (n_pads even, <= 2*ndim, entries >= 0). */
TT_API tt_tensor *tt_pad(tt_ctx *ctx, tt_tensor *x, int n_pads, const int *pads, float value);
/* Rows index[0..n_index) of x along axis (torch.index_select; repeats allowed, their gradients
   add). */
TT_API tt_tensor *tt_index_select(tt_ctx *ctx, tt_tensor *x, int axis, size_t n_index, const int *index);
/* torch.gather: out[..i..] = x[..index[..i..]..] along axis; index has x->ndim dims, shape
   index_shape (each dim <= x's except axis), and n_index = the product of index_shape entries
   (another count is TT_ERR_SHAPE). */
TT_API tt_tensor *tt_gather(tt_ctx *ctx, tt_tensor *x, int axis, const int *index_shape, size_t n_index,
                            const int *index);
/* Embedding lookup: weight (num, dim), ids of shape ids_shape (ndim dims, 0 allowed; n_ids =
   the product of its entries) -> (*ids_shape, dim). Backward adds each output row into its id's
   row (repeated ids accumulate). */
TT_API tt_tensor *tt_embedding(tt_ctx *ctx, tt_tensor *weight, int ndim, const int *ids_shape, size_t n_ids,
                               const int *ids);


/* ==================================================================================== >>api_ops_conv
   Convolution and pooling, channels-first (N, C, L) / (N, C, H, W). */

/* As torch.nn.functional conv1d, conv2d, max_pool1d/2d, avg_pool1d/2d, adaptive_avg_pool2d.
   Every op also accepts unbatched input ((C, L) or (C, H, W)) and then returns unbatched output,
   as torch does.
   Bad shapes give TT_ERR_SHAPE, bad options TT_ERR_INVALID_ARGS; the message names the op.

   Convolution options come from tt_conv_opts_init() (torch's defaults: stride 1, padding 0,
   dilation 1, groups 1); every field is taken literally: stride, dilation and groups must be
   >= 1, padding >= 0. A NULL opts pointer means tt_conv_opts_init(). Index 0 is height (or
   length for 1-D), index 1 width. Padding is zeros (torch padding_mode 'zeros').
   Output size per dim: (in + 2*pad - dilation*(k-1) - 1) / stride + 1. */
typedef struct tt_conv_opts {
    int stride[2], padding[2], dilation[2], groups;
} tt_conv_opts;
TT_API tt_conv_opts tt_conv_opts_init(void); /* torch's defaults */
/* x (N, Cin, H, W), w (Cout, Cin/groups, kH, kW), b (Cout) or NULL; opts may be NULL.
   -> (N, Cout, oH, oW). Computed as im2col (scratch) + tt_ctx_sgemm per batch item and group. */
TT_API tt_tensor *tt_conv2d(tt_ctx *ctx, tt_tensor *x, tt_tensor *w, tt_tensor *b, const tt_conv_opts *opts);
/* x (N, Cin, L), w (Cout, Cin/groups, k), b (Cout) or NULL -> (N, Cout, oL); opts index 0 used. */
TT_API tt_tensor *tt_conv1d(tt_ctx *ctx, tt_tensor *x, tt_tensor *w, tt_tensor *b, const tt_conv_opts *opts);
/* Pooling options (required, opts must not be NULL) come from tt_pool_opts_init(kernel_h,
   kernel_w) or, for 1-D pooling, tt_pool1d_opts_init(kernel): torch's defaults for that kernel
   size (stride = kernel, padding 0, dilation 1, ceil_mode 0, count_include_pad 1). Every field
   is taken literally. Index 0 is height (length for 1-D), index 1 width. kernel, stride and
   dilation >= 1; padding (0..kernel/2) is -inf for max pooling and zeros for average pooling;
   dilation is for max pooling only (average pooling needs 1); ceil_mode as torch (the last
   window must start inside the input or the left padding); count_include_pad 0 leaves padding
   out of average-pooling divisors. */
typedef struct tt_pool_opts {
    int kernel[2], stride[2], padding[2], dilation[2];
    int ceil_mode;            /* 0 (torch default): floor the output size; 1: ceil */
    int count_include_pad;    /* 1 (torch default): padded zeros count in average divisors */
} tt_pool_opts;
TT_API tt_pool_opts tt_pool_opts_init(int kernel_h, int kernel_w); /* torch's defaults */
TT_API tt_pool_opts tt_pool1d_opts_init(int kernel); /* torch's defaults */
/* Max pooling (N, C, H, W) -> (N, C, oH, oW); the gradient goes to the first maximum of each
   window (a NaN counts as the maximum), as torch. */
TT_API tt_tensor *tt_max_pool2d(tt_ctx *ctx, tt_tensor *x, const tt_pool_opts *opts);
/* Average pooling (N, C, H, W) -> (N, C, oH, oW), torch's divisor rules (count_include_pad,
   ceil_mode windows that run past the padding are divided by their clipped size). */
TT_API tt_tensor *tt_avg_pool2d(tt_ctx *ctx, tt_tensor *x, const tt_pool_opts *opts);
/* 1-D versions: (N, C, L) -> (N, C, oL), options at index 0. */
TT_API tt_tensor *tt_max_pool1d(tt_ctx *ctx, tt_tensor *x, const tt_pool_opts *opts);
TT_API tt_tensor *tt_avg_pool1d(tt_ctx *ctx, tt_tensor *x, const tt_pool_opts *opts);
/* (N, C, H, W) -> (N, C, out_h, out_w) with torch's adaptive windows: output row i averages input
   rows floor(i*H/out_h) .. ceil((i+1)*H/out_h) - 1 (same for columns). out_h, out_w >= 1. */
TT_API tt_tensor *tt_adaptive_avg_pool2d(tt_ctx *ctx, tt_tensor *x, int out_h, int out_w);
/* (N, C, H, W) -> (N, C): mean over H and W (= adaptive_avg_pool2d to 1x1, then flatten). */
TT_API tt_tensor *tt_global_avg_pool2d(tt_ctx *ctx, tt_tensor *x);


/* ==================================================================================== >>api_ops_nn
   Normalisation, dropout, attention, recurrent cells. */

/* Options of tt_batchnorm, from tt_batchnorm_opts_init() (torch.nn.BatchNorm defaults); every
   field is taken literally. A NULL opts pointer means tt_batchnorm_opts_init(). */
typedef struct tt_batchnorm_opts {
    float eps;                /* 1e-5: added to the variance; >= 0 and finite */
    float momentum;           /* 0.1: running = (1 - momentum) * running + momentum * batch_stat;
                                 in [0, 1]; 0 freezes the running statistics (torch's
                                 momentum=None, a cumulative average, is not provided) */
    int affine;               /* 1: scale by weight and shift by bias (C each; either may be NULL,
                                 meaning 1 and 0, as F.batch_norm); 0: no affine step, both must
                                 be NULL */
    int track_running_stats;  /* 1: running_mean/running_var (C each, both or neither) are updated
                                 in training mode and required and used in eval mode; 0: both
                                 must be NULL and the batch statistics are used in both modes
                                 (as torch with track_running_stats=False) */
} tt_batchnorm_opts;
TT_API tt_batchnorm_opts tt_batchnorm_opts_init(void); /* torch's defaults */
/* Batch norm over dim 1 of x (N, C, ...) (torch.nn.functional.batch_norm / nn.BatchNorm).
   running_mean/running_var are tensors of C floats (tt_buffer; torch initialises them to 0 and
   1). With batch statistics (training mode, or track_running_stats 0) it normalises with the
   batch mean and biased variance and needs more than one value per channel; in training mode
   the running statistics are updated with the UNBIASED batch variance. Eval mode with
   track_running_stats normalises with the running statistics. */
TT_API tt_tensor *tt_batchnorm(tt_ctx *ctx, tt_tensor *x, tt_tensor *weight, tt_tensor *bias,
                               tt_tensor *running_mean, tt_tensor *running_var, const tt_batchnorm_opts *opts);
/* The norms below take eps literally (>= 0 and finite; torch's default is named for each).
   Layer norm over the last norm_dims dims (1 .. x->ndim), biased variance; weight/bias have
   exactly those dims or are NULL. torch eps: 1e-5. */
TT_API tt_tensor *tt_layernorm(tt_ctx *ctx, tt_tensor *x, int norm_dims, tt_tensor *weight, tt_tensor *bias, float eps);
/* Group norm of x (N, C, ...) in `groups` groups of C/groups channels (C % groups == 0);
   weight/bias (C) or NULL. torch eps: 1e-5. */
TT_API tt_tensor *tt_groupnorm(tt_ctx *ctx, tt_tensor *x, int groups, tt_tensor *weight, tt_tensor *bias, float eps);
/* RMS norm over the last dim: x / sqrt(mean(x^2) + eps) * weight; weight (last dim) or NULL.
   torch eps (None): FLT_EPSILON, finfo(float32).eps. */
TT_API tt_tensor *tt_rmsnorm(tt_ctx *ctx, tt_tensor *x, tt_tensor *weight, float eps);
/* Inverted dropout: in training mode each element is zeroed with probability p (context RNG)
   and the others scaled by 1/(1-p); p == 1 gives zeros. In eval mode or with p == 0 it is the
   identity and returns x itself. p outside [0, 1] is TT_ERR_INVALID_ARGS. On a GPU context the
   mask comes from Philox4x32-10 keyed by two draws of the context RNG (the same seed gives the
   same masks; they are not the CPU's masks). */
TT_API tt_tensor *tt_dropout(tt_ctx *ctx, tt_tensor *x, float p);
/* Scaled dot-product attention: q (B, H, T, D), k (B, H, S, D), v (B, H, S, Dv) -> (B, H, T, Dv)
   (any number of leading dims >= 0, equal in q, k and v). softmax(scale * q k^T) v, max-
   subtracted. causal keeps key j for query i only when j <= i: torch's is_causal, which uses the
   top-left aligned lower triangle also when T != S. tt_attention uses torch's default scale
   1/sqrt(D) (D >= 1); tt_attention_ex takes the scale literally (finite). */
TT_API tt_tensor *tt_attention(tt_ctx *ctx, tt_tensor *q, tt_tensor *k, tt_tensor *v, int causal);
TT_API tt_tensor *tt_attention_ex(tt_ctx *ctx, tt_tensor *q, tt_tensor *k, tt_tensor *v, int causal, float scale);
/* The weights of one recurrent cell, as torch names them: w_ih (G*H, I), w_hh (G*H, H), b_ih and
   b_hh (G*H) or both NULL (torch bias=False); G = 4 gates for the LSTM, 3 for the GRU. */
typedef struct tt_rnn_cell_weights {
    tt_tensor *w_ih, *w_hh, *b_ih, *b_hh;
} tt_rnn_cell_weights;
/* The cells return alike: tt_result, new tensors (B, H) through the out pointers (set to NULL
   on error). LSTM cell (torch.nn.LSTMCell, gates i, f, g, o): x (B, I), h and c (B, H);
   c' = f * c + i * g, h' = o * tanh(c'). */
TT_API tt_result tt_lstm_cell(tt_ctx *ctx, tt_tensor *x, tt_tensor *h, tt_tensor *c, const tt_rnn_cell_weights *w,
                              tt_tensor **h_out, tt_tensor **c_out);
/* GRU cell (torch.nn.GRUCell, gates r, z, n): x (B, I), h (B, H).
   n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h. */
TT_API tt_result tt_gru_cell(tt_ctx *ctx, tt_tensor *x, tt_tensor *h, const tt_rnn_cell_weights *w,
                             tt_tensor **h_out);


/* ==================================================================================== >>api_loss
   Losses, as in torch.nn.functional. Targets given as class indices are int arrays that carry
   their length (n_target, then the pointer). */

typedef enum tt_reduction {
    TT_REDUCTION_MEAN = 0,    /* default, as torch */
    TT_REDUCTION_SUM = 1,
    TT_REDUCTION_NONE = 2,
    TT_REDUCTION_BATCHMEAN = 3 /* kl_div only */
} tt_reduction;

/* Every loss takes a tt_reduction: MEAN (0, torch's default), SUM, or NONE (the unreduced
   per-element or per-sample losses, shaped as torch returns them). MEAN and SUM return a scalar
   (ndim 0). TT_REDUCTION_BATCHMEAN is accepted by tt_kl_div_loss only.
   Gradients flow into every tensor called input (input1/input2, anchor/positive/negative, var).
   Real-valued targets are tensors; only the regression losses (L1, MSE, Huber, SmoothL1,
   Gaussian NLL) also give a gradient to the target, the others treat it as a constant.
   Class labels and +-1 labels are int arrays passed as (n_target, target): n_target must be
   exactly the number of labels the input needs (a shorter or longer array is TT_ERR_SHAPE, never
   a read past its end). Class weights are float arrays of C entries that are constants (no
   gradient). Losses with several options take an options struct from its _init() function
   (torch's defaults; every field literal; a NULL pointer means the _init() values). Bad
   reductions, hyperparameters or NULLs give TT_ERR_INVALID_ARGS, bad shapes and label counts
   TT_ERR_SHAPE, labels out of range TT_ERR_INDEX. */

/* |input - target| (torch l1_loss). input and target have the same shape. */
TT_API tt_tensor *tt_l1_loss(tt_ctx *ctx, tt_tensor *input, tt_tensor *target, tt_reduction reduction);
/* (input - target)^2 (torch mse_loss). input and target have the same shape. */
TT_API tt_tensor *tt_mse_loss(tt_ctx *ctx, tt_tensor *input, tt_tensor *target, tt_reduction reduction);
/* Huber: 0.5 z^2 if |z| < delta else delta (|z| - 0.5 delta), z = input - target. delta > 0
   (torch default 1.0). */
TT_API tt_tensor *tt_huber_loss(tt_ctx *ctx, tt_tensor *input, tt_tensor *target, float delta, tt_reduction reduction);
/* Smooth L1: 0.5 z^2 / beta if |z| < beta else |z| - 0.5 beta. beta >= 0 (torch default 1.0);
   beta 0 is the L1 loss. */
TT_API tt_tensor *tt_smooth_l1_loss(tt_ctx *ctx, tt_tensor *input, tt_tensor *target, float beta, tt_reduction reduction);

/* Options of tt_cross_entropy, tt_cross_entropy_probs and tt_nll_loss, from
   tt_cross_entropy_opts_init() (torch's defaults). */
typedef struct tt_cross_entropy_opts {
    tt_reduction reduction;   /* MEAN */
    const float *weight;      /* NULL (all 1), or C class weights */
    int ignore_index;         /* -100: class-index targets equal to it add nothing (any int;
                                 not used with probability targets, as torch) */
    float label_smoothing;    /* 0, in [0, 1] (must be 0 for tt_nll_loss) */
} tt_cross_entropy_opts;
TT_API tt_cross_entropy_opts tt_cross_entropy_opts_init(void); /* torch's defaults */
/* Cross-entropy with class indices. logits (N, C) or (N, C, d1, ...) or unbatched (C); target
   has n_target = N*d1*... entries (1 for unbatched) in [0, C) or ignore_index. MEAN divides by
   the sum of the weights of the non-ignored targets (their count without weights). As torch:
   if every target is ignored, MEAN is NaN and the input gradient is all zero; counted targets
   whose weights sum to 0 give NaN gradients. NONE returns shape (N, d1, ...), zero where
   ignored. */
TT_API tt_tensor *tt_cross_entropy(tt_ctx *ctx, tt_tensor *logits, size_t n_target, const int *target,
                                   const tt_cross_entropy_opts *opts);
/* Cross-entropy with class probabilities: target has the shape of logits (rows need not sum
   to 1); label smoothing mixes it with the uniform distribution. MEAN divides by N*d1*...
   ignore_index is not used. No gradient flows to target. */
TT_API tt_tensor *tt_cross_entropy_probs(tt_ctx *ctx, tt_tensor *logits, tt_tensor *target,
                                         const tt_cross_entropy_opts *opts);
/* Negative log-likelihood of log-probabilities (torch nll_loss): -w[t] * input[n, t]. Shapes,
   weights, ignore_index and reductions as tt_cross_entropy; label_smoothing must be 0. Only the
   target positions get a gradient (as torch). */
TT_API tt_tensor *tt_nll_loss(tt_ctx *ctx, tt_tensor *log_probs, size_t n_target, const int *target,
                              const tt_cross_entropy_opts *opts);
/* Binary cross-entropy of probabilities: -w [y log x + (1 - y) log(1 - x)], each log clamped at
   -100 (finite at x = 0 or 1), gradient w (x - y) / max(x (1 - x), 1e-12) as torch. input and
   target in [0, 1], same shape; weight NULL or broadcastable to input (a constant). */
TT_API tt_tensor *tt_bce_loss(tt_ctx *ctx, tt_tensor *input, tt_tensor *target, tt_tensor *weight,
                              tt_reduction reduction);
/* Binary cross-entropy on logits, stable form: w [(1 - y) x - (1 + (p - 1) y) logsigmoid(x)].
   weight and pos_weight (p) are NULL or broadcastable to input (pos_weight usually (C)). */
TT_API tt_tensor *tt_bce_with_logits_loss(tt_ctx *ctx, tt_tensor *input, tt_tensor *target, tt_tensor *weight,
                                          tt_tensor *pos_weight, tt_reduction reduction);
/* KL divergence, input = log-probabilities: target (log target - input), or with log_target
   exp(target) (target - input). target * log(target) is 0 where target is 0. MEAN is over all
   elements (as torch); BATCHMEAN divides the sum by input's first dimension (true KL). */
TT_API tt_tensor *tt_kl_div_loss(tt_ctx *ctx, tt_tensor *input, tt_tensor *target, int log_target,
                                 tt_reduction reduction);
/* Options of tt_poisson_nll_loss, from tt_poisson_nll_opts_init() (torch's defaults). */
typedef struct tt_poisson_nll_opts {
    int log_input;            /* 1: input is log(rate); 0: input is the rate */
    int full;                 /* 0; 1 adds the Stirling term */
    float eps;                /* 1e-8, >= 0: log(x + eps) when log_input is 0 */
    tt_reduction reduction;   /* MEAN */
} tt_poisson_nll_opts;
TT_API tt_poisson_nll_opts tt_poisson_nll_opts_init(void); /* torch's defaults */
/* Poisson NLL: log_input ? exp(x) - y x : x - y log(x + eps); full adds the Stirling term
   y log y - y + 0.5 log(2 pi y) where y > 1. */
TT_API tt_tensor *tt_poisson_nll_loss(tt_ctx *ctx, tt_tensor *input, tt_tensor *target,
                                      const tt_poisson_nll_opts *opts);
/* Options of tt_gaussian_nll_loss, from tt_gaussian_nll_opts_init() (torch's defaults). */
typedef struct tt_gaussian_nll_opts {
    int full;                 /* 0; 1 adds 0.5 log(2 pi) */
    float eps;                /* 1e-6, >= 0: var is clamped to at least eps */
    tt_reduction reduction;   /* MEAN */
} tt_gaussian_nll_opts;
TT_API tt_gaussian_nll_opts tt_gaussian_nll_opts_init(void); /* torch's defaults */
/* Gaussian NLL: 0.5 (log v + (x - y)^2 / v), v = max(var, eps), + 0.5 log(2 pi) if full.
   var has input's shape, or input's shape without the last dim, or with the last dim 1, or is
   a scalar (ndim 0); it must be >= 0. As torch, the clamp is invisible to the gradient of var. */
TT_API tt_tensor *tt_gaussian_nll_loss(tt_ctx *ctx, tt_tensor *input, tt_tensor *target, tt_tensor *var,
                                       const tt_gaussian_nll_opts *opts);
/* Hinge embedding: x where label is 1, max(0, margin - x) where label is -1 (other labels get
   both terms, as torch). n_target = input->numel. torch default margin 1.0. */
TT_API tt_tensor *tt_hinge_embedding_loss(tt_ctx *ctx, tt_tensor *input, size_t n_target, const int *target,
                                          float margin, tt_reduction reduction);
/* Margin ranking: max(0, -y (x1 - x2) + margin), y = +-1 labels (n_target = numel). input1 and
   input2 have the same shape. torch default margin 0. */
TT_API tt_tensor *tt_margin_ranking_loss(tt_ctx *ctx, tt_tensor *input1, tt_tensor *input2, size_t n_target,
                                         const int *target, float margin, tt_reduction reduction);
/* Soft margin: log(1 + exp(-y x)), computed as softplus(-y x) so it stays finite for large |x|
   (torch overflows to inf there). target: tensor of input's shape (usually +-1). */
TT_API tt_tensor *tt_soft_margin_loss(tt_ctx *ctx, tt_tensor *input, tt_tensor *target, tt_reduction reduction);
/* Multilabel soft margin: -(1/C) sum_c w_c [y_c logsigmoid(x_c) + (1 - y_c) logsigmoid(-x_c)]
   per sample; input and target (N, C) or (C); weight NULL or C floats. NONE gives (N). */
TT_API tt_tensor *tt_multilabel_soft_margin_loss(tt_ctx *ctx, tt_tensor *input, tt_tensor *target,
                                                 const float *weight, tt_reduction reduction);
/* Options of tt_multi_margin_loss, from tt_multi_margin_opts_init() (torch's defaults). */
typedef struct tt_multi_margin_opts {
    int p;                    /* 1 (1 or 2) */
    float margin;             /* 1 */
    const float *weight;      /* NULL (all 1), or C class weights */
    tt_reduction reduction;   /* MEAN */
} tt_multi_margin_opts;
TT_API tt_multi_margin_opts tt_multi_margin_opts_init(void); /* torch's defaults */
/* Multi-class margin: sum_{i != y} w_y max(0, margin - x_y + x_i)^p / C per sample. input
   (N, C) or (C); target n_target = N labels (1 unbatched) in [0, C). */
TT_API tt_tensor *tt_multi_margin_loss(tt_ctx *ctx, tt_tensor *input, size_t n_target, const int *target,
                                       const tt_multi_margin_opts *opts);
/* Multilabel margin: sum_j sum_{i not a target} max(0, 1 - (x_{y_j} - x_i)) / C per sample.
   input (N, C) or (C); target n_target = N*C ints, C per row: target labels, ended by the first
   -1 (or by the end of the row). */
TT_API tt_tensor *tt_multilabel_margin_loss(tt_ctx *ctx, tt_tensor *input, size_t n_target, const int *target,
                                            tt_reduction reduction);
/* Cosine embedding: 1 - cos(x1, x2) for label 1, max(0, cos - margin) for label -1 (other
   labels give 0). Inputs (N, D) or (D), same shape; n_target = N labels (1 for (D)); 1e-12 is
   added to each squared norm as ATen does. torch default margin 0. */
TT_API tt_tensor *tt_cosine_embedding_loss(tt_ctx *ctx, tt_tensor *input1, tt_tensor *input2, size_t n_target,
                                           const int *target, float margin, tt_reduction reduction);
/* Options of tt_triplet_margin_loss, from tt_triplet_margin_opts_init() (torch's defaults). */
typedef struct tt_triplet_margin_opts {
    float margin;             /* 1, > 0 */
    float p;                  /* 2, > 0 and finite: the norm degree */
    float eps;                /* 1e-6: added to u - v inside the norm */
    int swap;                 /* 0; 1 uses min(d(a, neg), d(pos, neg)) */
    tt_reduction reduction;   /* MEAN */
} tt_triplet_margin_opts;
TT_API tt_triplet_margin_opts tt_triplet_margin_opts_init(void); /* torch's defaults */
/* Triplet margin: max(d(a, pos) - d(a, neg) + margin, 0), d(u, v) = ||u - v + eps||_p as torch
   pairwise_distance. Inputs (N, D) or (D), same shape. */
TT_API tt_tensor *tt_triplet_margin_loss(tt_ctx *ctx, tt_tensor *anchor, tt_tensor *positive, tt_tensor *negative,
                                         const tt_triplet_margin_opts *opts);

/* Options of tt_ctc_loss, from tt_ctc_opts_init() (torch's defaults). */
typedef struct tt_ctc_opts {
    tt_reduction reduction;   /* MEAN: each loss / max(target length, 1), then the batch mean */
    int blank;                /* 0: the blank label */
    int zero_infinity;        /* 0; 1: infinite losses (impossible alignments) and their gradients
                                 become 0. With 0 the loss is inf and, as torch, that sample's
                                 gradient is NaN for t < its input length. */
    int targets_padded;       /* 0: targets concatenated, n_targets = sum of target_lengths (torch's
                                 1-D targets); 1: padded rows (N, S), S = n_targets / N (torch's
                                 2-D targets) */
} tt_ctc_opts;
TT_API tt_ctc_opts tt_ctc_opts_init(void); /* torch's defaults */
/* Connectionist temporal classification (torch ctc_loss), log-space forward-backward.
   log_probs (T, N, C) (log-softmax outputs), input_lengths N ints in [0, T], target_lengths N
   ints >= 0 (n_lengths = N for both), labels in [0, C). NONE gives (N). The gradient is torch's:
   exp(log_probs) - posterior, which is the true gradient once it flows back through a
   log-softmax; it is zero for t >= input_length. */
TT_API tt_tensor *tt_ctc_loss(tt_ctx *ctx, tt_tensor *log_probs, size_t n_targets, const int *targets, size_t n_lengths,
                              const int *input_lengths, const int *target_lengths, const tt_ctc_opts *opts);


/* ==================================================================================== >>api_optim
   Optimizers. */

/* Optimizers numerically the same as torch.optim (plus Lion and LAMB from their authors' code).

   Usage:
       tt_optim opt;                                       // caller-owned, no heap
       tt_optim_desc od = tt_optim_desc_init(TT_OPTIM_ADAMW);  // PyTorch's defaults for AdamW
       od.hp.lr = 3e-4f;                                   // every field is taken literally:
       od.hp.weight_decay = 0.0f;                          //   0 means zero
       if (tt_optim_init(&ctx, &opt, &od) != TT_OK) ...   // state taken once from persist memory
       ... each step: forward, tt_zero_grad, tt_backward, then tt_optim_step(&ctx, &opt);

   - tt_optim_desc_init(kind) returns the descriptor with torch's defaults of that optimizer (listed
     beside tt_optim_kind and in docs/options.md); change fields, then call tt_optim_init. Every
     value is used as written: there is no "zero means default". A descriptor that did not come
     from tt_optim_desc_init (e.g. `= {0}`) is rejected, since its zeros would be literal.
   - The optimizer covers the parameters that exist when tt_optim_init is called (create the model
     first), restricted to the groups whose bit is set in desc.group_mask (all groups by default).
     Its state arrays have the layout of ctx->param_data, so most updates are one flat loop.
   - Every covered parameter is updated on every step; a parameter that got no gradient is treated
     as having a zero gradient (torch skips parameters whose .grad is None).
   - Parameter groups (torch param groups): a parameter's `group` (tt_param_set_group) selects its
     hyperparameters: desc.groups[g] when bit g of desc.group_hp is set, else desc.hp.
     tt_optim_desc_group(&od, g) copies desc.hp into groups[g], sets the bit and returns it, so
     `tt_optim_desc_group(&od, 1)->lr = 0.01f;` is torch's {"params": ..., "lr": 0.01}. TT_NO_DECAY
     on a parameter turns its weight decay off.
   - Schedules: tt_optim_attach_sched makes every step take the lr (and, for OneCycle / Cyclic, the
     momentum or Adam beta1) from a schedule and advance it, as torch's opt.step(); sched.step().
   - Errors (bad hyperparameters, Muon on a non-2-D parameter) are TT_ERR_INVALID_ARGS with a
     message naming the parameter, like torch's ValueError. tt_optim_step refuses to run
     (TT_ERR_STATE) while the context holds an error: gradients computed after a failure are not
     trustworthy (tt_clear_error first).

   How to add an optimizer (one enum value, one table row, one update function):
     1. add TT_OPTIM_FOO before TT_OPTIM_KIND_COUNT_ below (any new hyperparameter goes into
        tt_optim_hparams);
     2. in >>optim write the scalar reference `static tt_result tt__upd_foo(tt_ctx *, const
        tt__optim_job *)` (one tensor: j->x parameters, j->g gradients, j->s[0..] state, j->h the
        group's hyperparameters, j->t the step), a defaults function and, if it has hyperparameters
        of its own, a check function;
     3. add its row to tt__optim_table, in enum order:
          {TT_OPTIM_FOO, "Foo", tt__def_foo, tt__chk_foo, 2, TT__MOM_BETA1, NULL, tt__upd_foo, NULL, NULL},
        (kind, name, defaults, check, state arrays of n floats, what a momentum-cycling schedule
        sets, per-step scalars hook, update, optional SIMD twin, after-step hook). The table's
        length is checked at compile time and each row's kind at tt_optim_init, so a missing or
        misplaced row cannot silently run another optimizer's update or state layout. A SIMD twin
        goes into the "SIMD twins" block and is checked bit for bit against the reference by
        tests/test_trainbench.c, which walks the table. */

#define TT_OPTIM_MAX_GROUPS 8

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

/* Hyperparameters of one group, taken literally (tt_optim_desc_init fills torch's defaults; the
   value in brackets is the default where an optimizer uses the field). Switches are 0 or 1. */
typedef struct tt_optim_hparams {
    double lr;            /* a Python float in torch: scalar factors use it in double */
    float weight_decay;   /* L2 (coupled) or decoupled, depending on the optimizer */
    float momentum;       /* SGD (0), RMSprop (0), Muon (0.95) */
    float dampening;      /* SGD (0) */
    float beta1, beta2;   /* Adam family, Lion, LAMB (Adamax/NAdam/RAdam/SparseAdam too) */
    float eps;            /* every optimizer that has one; Adafactor: eps1 (FLT_EPSILON, torch None) */
    float eps2;           /* Adafactor eps2 (1e-3) */
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
    float max_grad_norm;  /* LAMB global gradient clipping (1.0; INFINITY: no clipping, timm None) */
    int nesterov;         /* SGD (0), Muon (1) */
    int centered;         /* RMSprop (0) */
    int amsgrad;          /* Adam, AdamW (0) */
    int decoupled_weight_decay; /* Adam, NAdam, RAdam (0); AdamW (1, must stay 1: use Adam for 0) */
    int maximize;         /* every optimizer except Muon (0) */
    int trust_clip;       /* LAMB (0) */
    int always_adapt;     /* LAMB: trust ratio even with weight_decay 0 (0) */
    int bias_correction;  /* LAMB (1) */
} tt_optim_hparams;

typedef struct tt_optim_desc {
    tt_optim_kind kind;
    tt_optim_hparams hp;                           /* every group without its own */
    tt_optim_hparams groups[TT_OPTIM_MAX_GROUPS];  /* groups[g]: group g's own hyperparameters ... */
    unsigned group_hp;      /* ... used when bit g is set (tt_optim_desc_group sets it) (none) */
    unsigned group_mask;    /* bit g set: update the parameters of group g (all groups) */
    int skip_nonfinite;     /* 1: a step whose gradients hold NaN/Inf changes nothing and is
                               counted in tt_optim.n_skipped (and logged as a warning) (0) */
    /* LBFGS only. Like torch it has a single group: it uses desc.hp (groups[], group_hp and
       group_mask are ignored) and works on every parameter as one flat vector. All its memory
       (history, direction, line-search vectors) is taken at init; the closure may reset scratch. */
    int max_iter;           /* 20 */
    int max_eval;           /* 25 (torch None = max_iter * 5 / 4: set it too when changing max_iter) */
    float tolerance_grad;   /* 1e-7 */
    float tolerance_change; /* 1e-9 */
    int history_size;       /* 100: 2 * history_size * n_params floats of persistent memory */
    int strong_wolfe;       /* 1: line_search_fn="strong_wolfe"; 0: fixed step (torch None) (0) */
    unsigned init_mark;     /* set by tt_optim_desc_init; do not change */
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

struct tt_sched;

/* The optimizer. Caller-owned; fill it with tt_optim_init; read-only afterwards (change lr and
   momentum through tt_optim_set_lr / tt_optim_set_momentum or an attached schedule). */
typedef struct tt_optim {
    tt_optim_kind kind;
    tt_optim_desc desc;                   /* as given, for reference */
    tt_optim_hparams hp[TT_OPTIM_MAX_GROUPS]; /* hyperparameters of each group */
    unsigned group_mask;                  /* groups updated */
    size_t n;                             /* floats of ctx->param_data covered */
    int n_tensors;                        /* parameter tensors that existed at init */
    int n_state;                          /* state arrays of n floats */
    float *state;                         /* n_state * n floats (+ LBFGS history), persistent */
    size_t state_floats;                  /* floats in state */
    float *s[4];                          /* the state arrays (aliases into state) */
    tt_optim_scalars sc;
    int64_t n_skipped;                    /* steps skipped for non-finite gradients */
    int last_skipped;                     /* 1 if the last step was skipped */
    struct tt_sched *sched[TT_OPTIM_MAX_GROUPS]; /* schedule driving each group, or NULL */
    const struct tt_ctx *owner;           /* the context given to tt_optim_init: every other is refused */
} tt_optim;

/* Loss closure for LBFGS (and tt_optim_step_closure): zero the gradients, run forward and
   backward, return the loss. It may call tt_scratch_reset. A set context error aborts the step. */
typedef double (*tt_closure_fn)(tt_ctx *ctx, void *user);

/* Descriptor with torch's defaults for `kind` (every group, every switch; see tt_optim_kind). */
TT_API tt_optim_desc tt_optim_desc_init(tt_optim_kind kind);
/* Give group g (0 .. TT_OPTIM_MAX_GROUPS-1) its own hyperparameters: copies desc->hp into
   desc->groups[g], sets bit g of desc->group_hp and returns &desc->groups[g] (NULL for a bad
   group). Call it after setting the shared hyperparameters in desc->hp. */
TT_API tt_optim_hparams *tt_optim_desc_group(tt_optim_desc *desc, int group);
/* Put a parameter in an optimizer group (0 .. TT_OPTIM_MAX_GROUPS-1); set before tt_optim_init. */
TT_API tt_result tt_param_set_group(tt_ctx *ctx, tt_tensor *param, int group);
/* Validate desc, allocate the state (once, persistent memory). */
TT_API tt_result tt_optim_init(tt_ctx *ctx, tt_optim *opt, const tt_optim_desc *desc);
/* One update from the current gradients (ctx->param_grad). No allocation. LBFGS needs
   tt_optim_step_closure instead. Gradients are not modified. TT_ERR_STATE while the context
   holds an error. With an attached schedule: the schedule's lr (and momentum) are applied first,
   and the schedule is stepped after the update (not after a skipped step). */
TT_API tt_result tt_optim_step(tt_ctx *ctx, tt_optim *opt);
/* torch's opt.step(closure): calls closure (once, or as often as LBFGS needs) and updates.
   *loss (optional) receives the first loss the closure returned. */
TT_API tt_result tt_optim_step_closure(tt_ctx *ctx, tt_optim *opt, tt_closure_fn closure, void *user, double *loss);
/* Learning rate of a group (torch param_groups[g]["lr"]); set validates lr >= 0 and finite.
   LBFGS has one group: any group sets it. */
TT_API tt_result tt_optim_set_lr(tt_ctx *ctx, tt_optim *opt, int group, double lr);
TT_API double tt_optim_get_lr(const tt_optim *opt, int group);
/* What torch's momentum-cycling schedules write: `momentum` (SGD, RMSprop, Muon) or beta1 of
   `betas` (Adam, AdamW, Adamax, NAdam, RAdam, SparseAdam, Lion, LAMB) of a group.
   TT_ERR_INVALID_ARGS for an optimizer that has neither (torch's "optimizer must support
   momentum or beta1"). */
TT_API tt_result tt_optim_set_momentum(tt_ctx *ctx, tt_optim *opt, int group, double momentum);
/* Attach a schedule to the groups in group_mask (sched NULL detaches them): before each step
   those groups get its lr (and, if it cycles momentum, its momentum as above), and after each
   step it is stepped once (tt_sched_step; a ReduceLROnPlateau is only read: step it with
   tt_sched_step_metric). torch schedules keep one base lr per group: give groups with different
   lrs their own tt_sched. The schedule stays caller-owned and must outlive its use. */
TT_API tt_result tt_optim_attach_sched(tt_ctx *ctx, tt_optim *opt, struct tt_sched *sched, unsigned group_mask);
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


/* ==================================================================================== >>api_sched
   Learning-rate schedules, regularization, clipping, early stopping. */

/* LEARNING-RATE SCHEDULES
   A tt_sched is a small caller-owned object: it holds base_lr and the current lr (and momentum).
   Attach it to an optimizer and every tt_optim_step uses its lr and then steps it, as PyTorch's
   opt.step(); sched.step():
       tt_sched s;
       tt_sched_init_cosine(&ctx, &s, 0.1, 100, 0.0);       // CosineAnnealingLR(T_max=100)
       tt_optim_attach_sched(&ctx, &opt, &s, 1u);           // drives group 0
       for (step...) { ...; tt_optim_step(&ctx, &opt); }    // lr from s, then tt_sched_step(&s)
   It can also be used alone: read tt_sched_lr(&s), call tt_sched_step(&ctx, &s) yourself.
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

/* OPTION STRUCTS (CyclicLR, OneCycleLR, ReduceLROnPlateau, warmup-cosine) come from their
   tt_sched_*_opts_init function, filled with torch's defaults (in brackets below); the required
   values are its arguments. Every field is then taken literally (0 is zero, switches are 0 or 1):
       tt_sched_cyclic_opts o = tt_sched_cyclic_opts_init(0.01, 0.1);  // CyclicLR(opt, 0.01, 0.1)
       o.step_size_up = o.step_size_down = 500;
   Where torch has None meaning "derived from another argument" (CyclicLR step_size_down = None:
   equal to step_size_up), the init function writes the derived default: change both fields. */

/* CyclicLR options. */
typedef struct tt_sched_cyclic_opts {
    double base_lr, max_lr;          /* lower and upper lr of the cycle (arguments of the init) */
    int step_size_up;                /* steps of the rising half (2000) */
    int step_size_down;              /* steps of the falling half (2000: torch None = step_size_up;
                                        0 is a sawtooth) */
    tt_cyclic_mode mode;             /* TT_CYCLIC_TRIANGULAR */
    double gamma;                    /* exp_range factor (1.0) */
    int cycle_momentum;              /* 1: momentum (or Adam beta1) cycles inversely to the lr (1) */
    double base_momentum, max_momentum; /* (0.8, 0.9) */
} tt_sched_cyclic_opts;

typedef enum tt_anneal {
    TT_ANNEAL_COS = 0,               /* 'cos' (default) */
    TT_ANNEAL_LINEAR = 1             /* 'linear' */
} tt_anneal;

/* OneCycleLR options. */
typedef struct tt_sched_one_cycle_opts {
    double max_lr;                   /* argument of the init */
    int total_steps;                 /* argument of the init (torch: total_steps, or epochs *
                                        steps_per_epoch: pass the product) */
    double pct_start;                /* fraction of steps rising (0.3) */
    tt_anneal anneal_strategy;       /* TT_ANNEAL_COS */
    int cycle_momentum;              /* 1: momentum (or Adam beta1) cycles (1) */
    double base_momentum, max_momentum; /* (0.85, 0.95) */
    double div_factor;               /* initial lr = max_lr / div_factor (25) */
    double final_div_factor;         /* min lr = initial lr / final_div_factor (1e4) */
    int three_phase;                 /* 1: torch three_phase=True (0) */
} tt_sched_one_cycle_opts;

/* Whether a lower or a higher metric is better (ReduceLROnPlateau mode, early stopping). */
typedef enum tt_metric_mode {
    TT_METRIC_MIN = 0,               /* 'min': lower is better */
    TT_METRIC_MAX = 1                /* 'max': higher is better */
} tt_metric_mode;

/* ReduceLROnPlateau threshold_mode. */
typedef enum tt_threshold_mode {
    TT_THRESHOLD_REL = 0,            /* 'rel': best * (1 -+ threshold) */
    TT_THRESHOLD_ABS = 1             /* 'abs': best -+ threshold */
} tt_threshold_mode;

/* ReduceLROnPlateau options. */
typedef struct tt_sched_plateau_opts {
    tt_metric_mode mode;             /* (TT_METRIC_MIN) */
    double factor;                   /* new lr = lr * factor (0.1); must be < 1 */
    int patience;                    /* bad epochs tolerated before reducing (10) */
    double threshold;                /* significance of an improvement (1e-4) */
    tt_threshold_mode threshold_mode; /* (TT_THRESHOLD_REL) */
    int cooldown;                    /* epochs to wait after a reduction (0) */
    double min_lr;                   /* lower bound of the lr (0) */
    double eps;                      /* reductions smaller than eps are skipped (1e-8) */
} tt_sched_plateau_opts;

/* Linear warmup into cosine annealing (torch SequentialLR([LinearLR, CosineAnnealingLR])). */
typedef struct tt_sched_warmup_cosine_opts {
    int warmup_steps;                /* argument of the init; 0: plain cosine */
    int total_steps;                 /* argument of the init; cosine T_max = total - warmup */
    double start_factor;             /* LinearLR start_factor (1/3, torch's default) */
    double eta_min;                  /* CosineAnnealingLR eta_min (0) */
} tt_sched_warmup_cosine_opts;

/* The schedule object. Read it through tt_sched_lr / tt_sched_momentum; the fields are public
   for inspection (last_epoch is torch's last_epoch: steps taken since init). */
typedef struct tt_sched {
    tt_sched_kind kind;
    double base_lr;                  /* torch base_lrs[0] (initial_lr) */
    double lr;                       /* current lr */
    double momentum;                 /* current momentum (when cycles_momentum) */
    int cycles_momentum;             /* 1: cyclic / one-cycle with cycle_momentum (or a composite of one) */
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
        struct { tt_sched_cyclic_opts o; double total_size, step_ratio; } cyclic;
        struct {
            tt_sched_one_cycle_opts o;
            int total_steps, n_phases;
            double initial_lr, min_lr;
            double end_step[3], start_lr[3], end_lr[3], start_mom[3], end_mom[3];
        } one_cycle;
        struct { tt_sched_plateau_opts o; double best; int num_bad_epochs, cooldown_counter; } plateau;
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
/* torch's CyclicLR defaults for the lr range [base_lr, max_lr]. */
TT_API tt_sched_cyclic_opts tt_sched_cyclic_opts_init(double base_lr, double max_lr);
/* CyclicLR. base_lr of the schedule is opts->base_lr. */
TT_API tt_result tt_sched_init_cyclic(tt_ctx *ctx, tt_sched *s, const tt_sched_cyclic_opts *opts);
/* torch's OneCycleLR defaults for max_lr over total_steps steps. */
TT_API tt_sched_one_cycle_opts tt_sched_one_cycle_opts_init(double max_lr, int total_steps);
/* OneCycleLR (two or three phases, cos or linear). base_lr is max_lr / div_factor. Like torch,
   total_steps steps may be taken; the next tt_sched_step fails with TT_ERR_STATE. */
TT_API tt_result tt_sched_init_one_cycle(tt_ctx *ctx, tt_sched *s, const tt_sched_one_cycle_opts *opts);
/* torch's ReduceLROnPlateau defaults. */
TT_API tt_sched_plateau_opts tt_sched_plateau_opts_init(void);
/* ReduceLROnPlateau. Step it with tt_sched_step_metric, not tt_sched_step. */
TT_API tt_result tt_sched_init_plateau(tt_ctx *ctx, tt_sched *s, double base_lr, const tt_sched_plateau_opts *opts);
/* SequentialLR: children[0] until milestones[0], then children[1], ... (n children, n - 1 strictly
   increasing milestones >= 1). The children are (re)started by this call and must not be stepped
   directly afterwards; the lr starts from children[0]->base_lr (torch's initial_lr), so give every
   child the same base_lr as in torch. Children may not be plateau or composite schedules. */
TT_API tt_result tt_sched_init_sequential(tt_ctx *ctx, tt_sched *s, int n, tt_sched **children,
                                          const int *milestones);
/* ChainedScheduler: every step steps all n children in order on the same lr, so their factors
   compose multiplicatively. Same rules for the children as tt_sched_init_sequential. */
TT_API tt_result tt_sched_init_chained(tt_ctx *ctx, tt_sched *s, int n, tt_sched **children);
/* Warmup-cosine defaults: start_factor 1/3 (torch LinearLR), eta_min 0. */
TT_API tt_sched_warmup_cosine_opts tt_sched_warmup_cosine_opts_init(int warmup_steps, int total_steps);
/* Linear warmup into cosine in one object: identical to torch's
   SequentialLR([LinearLR(start_factor, 1.0, warmup_steps),
                 CosineAnnealingLR(total_steps - warmup_steps, eta_min)], milestones=[warmup_steps]).
   warmup_steps 0 is plain cosine. */
TT_API tt_result tt_sched_init_warmup_cosine(tt_ctx *ctx, tt_sched *s, double base_lr, const tt_sched_warmup_cosine_opts *opts);

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
/* Options of tt_clip_grad_norm (torch.nn.utils.clip_grad_norm_'s arguments). */
typedef struct tt_clip_grad_norm_opts {
    double max_norm;                 /* argument of the init (torch: required) */
    double norm_type;                /* p of the p-norm, > 0, or INFINITY for max |g| (2.0) */
    int error_if_nonfinite;          /* 1: a NaN/Inf total norm is an error (0) */
} tt_clip_grad_norm_opts;
/* torch's defaults for clipping to max_norm. */
TT_API tt_clip_grad_norm_opts tt_clip_grad_norm_opts_init(double max_norm);
/* torch.nn.utils.clip_grad_norm_: total = (sum over all gradients of |g|^p)^(1/p) (p = norm_type,
   or max |g| for INFINITY); every gradient is scaled by min(1, max_norm / (total + 1e-6)).
   *total_norm (may be NULL) receives the norm before clipping. With error_if_nonfinite a NaN/Inf
   norm fails with TT_ERR_NONFINITE and leaves the gradients alone; without it they are scaled
   anyway (and become NaN), as in torch. Tensors without a gradient are skipped. On a GPU
   context norm_type 1, 2 and INFINITY run there (others: TT_ERR_UNSUPPORTED); the norm is read
   back (a synchronisation) only when total_norm or error_if_nonfinite asks for it. */
TT_API tt_result tt_clip_grad_norm(tt_ctx *ctx, int n, tt_tensor **params, const tt_clip_grad_norm_opts *opts,
                                   double *total_norm);
/* torch.nn.utils.clip_grad_value_: clamp every gradient to [-clip_value, clip_value].
   *total_norm (may be NULL) receives the L2 norm of the gradients before clipping. */
TT_API tt_result tt_clip_grad_value(tt_ctx *ctx, int n, tt_tensor **params, double clip_value, double *total_norm);
/* decay 0: optimizers skip the parameter's weight decay and the penalties above skip it (flag
   TT_NO_DECAY); decay 1 (every parameter's initial state): both apply. */
TT_API tt_result tt_param_set_decay(tt_ctx *ctx, tt_tensor *param, int decay);
/* 1 if every parameter gradient of the context is finite (no NaN/Inf), else 0. */
TT_API int tt_grads_finite(const tt_ctx *ctx);

/* Early stopping on a validation metric (as Keras / Lightning EarlyStopping): an epoch improves
   if metric < best - min_delta (TT_METRIC_MIN) or metric > best + min_delta (TT_METRIC_MAX);
   training should stop once `patience` epochs in a row did not improve. Epochs count from 0. */
typedef struct tt_early_stop {
    tt_metric_mode mode;
    int patience;
    double min_delta;
    double best;           /* best metric so far (+-inf before the first update) */
    int best_epoch;        /* epoch of best (-1 before the first improvement) */
    int epoch;             /* epochs seen */
    int bad_epochs;        /* epochs since the last improvement */
    int should_stop;       /* sticky once set */
} tt_early_stop;
/* patience >= 0, min_delta >= 0. */
TT_API tt_result tt_early_stop_init(tt_ctx *ctx, tt_early_stop *es, int patience, double min_delta, tt_metric_mode mode);
/* Feed one epoch's metric; returns 1 if training should stop now (and from then on), else 0.
   NaN never counts as an improvement. */
TT_API int tt_early_stop_update(tt_early_stop *es, double metric);

/* ==================================================================================== >>api_backend
   Backends: where a context's floats live and which kernels run (the GPU companion,
   tinytrain_cuda.cu, is one; see its top-of-file manual).

   The header keeps tensor headers, shapes, the tape and every check; a backend keeps a device
   copy of the context's whole memory block at the same offsets, so a tensor's data pointer
   (a host-block address p) names device address dev_base + (p - host block start). Host floats
   are then a stale shadow: read results with tt_tensor_to_host / tt_ctx_params_to_host.
   The header calls the backend for: zeroing (new tensors, gradients, tt_zero_grad), uploads
   (tt_tensor_from, tt_scalar, tt_tensor_set, tt_init_*, tt_param, tt_buffer, tt_optim_init),
   the ops named in backend->ops (through `run`, forward and backward), and optimizer updates
   (`update`, one call per parameter tensor); tt_optim_state_save / _load download / upload
   the state. Every other op fails with TT_ERR_UNSUPPORTED naming it (the check is in tt__out_n,
   which every op's output goes through), as do anomaly mode, skip_nonfinite, optimizers the
   backend does not list, tt_clip_grad_value and tt_gradcheck (tt_clip_grad_norm and LAMB's
   global norm use TT_BOP_GRAD_NORM / _SCALE; views' backward uses TT_BOP_ADD_INTO).
   Keeping it working: a new op either runs on the CPU only (nothing to do: the gate refuses
   it on a backend) or gets a TT_BOP_* code, a hook after its tt__out (see tt_relu) and a case
   in the backend. A host loop over t->data outside an op must not run on a backend context. */

typedef enum tt_backend_op {
    TT_BOP_RELU = 1, TT_BOP_RELU_BWD,     /* in[0] x */
    TT_BOP_LINEAR, TT_BOP_LINEAR_BWD,     /* in x, w, b (b may be NULL); i[0] rows */
    TT_BOP_CROSS_ENTROPY, TT_BOP_CROSS_ENTROPY_BWD, /* in[0] logits (N, C); i: N, C, ignore_index;
                                             f[0]: divisor (counted targets, or 1 for SUM);
                                             p[0]: int targets, p[1]: N floats of scratch */
    TT_BOP_SUM, TT_BOP_SUM_BWD,           /* in[0] x */
    TT_BOP_BINARY, TT_BOP_BINARY_BWD,     /* in a, b broadcast to out; i[0]: 0 add, 1 sub, 2 mul, 3 div */
    TT_BOP_SOFTMAX, TT_BOP_SOFTMAX_BWD,   /* in[0] x; i: outer, len, inner (rows of len, inner apart), log_form */
    TT_BOP_LAYERNORM, TT_BOP_LAYERNORM_BWD, /* in x, w, b (w, b may be NULL); i: rows, m; f[0] eps;
                                             p[0]: 2 * rows floats of scratch (mean, invstd) */
    TT_BOP_GELU, TT_BOP_GELU_BWD,         /* in[0] x; i[0]: 0 erf form, 1 tanh form */
    TT_BOP_EMBEDDING, TT_BOP_EMBEDDING_BWD, /* in[0] weight (num, dim); i: count, dim, segments; p[0]: ints
                                             ids[count], order[count] (positions sorted by id, stable),
                                             seg_start[count + 1] (segments + 1 used), seg_id[segments] */
    TT_BOP_ADD_INTO,                      /* p[0][0..n) += p[1][0..n) */
    /* transformer ops (codes from 201; the CNN ops below use 101..114) */
    TT_BOP_RMSNORM = 201, TT_BOP_RMSNORM_BWD, /* in x, w (w may be NULL); i: rows, m; f[0] eps; p[0]: rows floats (rstd) */
    TT_BOP_STRIDED, TT_BOP_STRIDED_BWD,   /* permute / transpose / slice: in[0] x; out[i0, i1, ...] =
                                             x[base + sum ik * st[k]]; p[0]: size_t st[TT_MAX_DIMS], base */
    TT_BOP_ATTENTION, TT_BOP_ATTENTION_BWD, /* in q (bh, t, d), k (bh, s, d), v (bh, s, dv); i: t, s, d, dv;
                                             f[0] scale, f[1] causal (0 or 1); p[0]: bh*t*s + t*s floats
                                             (probabilities, then the backward's dP work area) */
    TT_BOP_DROPOUT, TT_BOP_DROPOUT_BWD,   /* in[0] x; i[0], i[1]: Philox key (low, high word); f[0] p,
                                             f[1] scale 1/(1-p) */
    TT_BOP_GRAD_NORM,                     /* not a tape op: p[0]: tt_tensor *list[i[0]] (host memory), i[1]:
                                             0 L2, 1 L1, 2 max; i[2]: 0 clip (coef = max / (norm + 1e-6),
                                             at most 1), 1 LAMB (divisor norm / max when above max);
                                             max = f[0] + f[1] (double split in two floats); p[1]: work,
                                             TT_BACKEND_NORM_WORK(i[0]) doubles: [0] norm, [1] coef */
    TT_BOP_GRAD_SCALE,                    /* not a tape op: every grad of p[0]'s i[0] tensors *= ((double *)p[1])[1] */
    TT_BOP_INDEX_SELECT = 221, TT_BOP_INDEX_SELECT_BWD, /* in[0] x viewed as (outer, len, inner); i: count,
                                             inner, segments, outer; p[0]: ints as for TT_BOP_EMBEDDING */
} tt_backend_op;
/* doubles of work area TT_BOP_GRAD_NORM needs for n tensors (partial sums, then the results) */
#define TT_BACKEND_NORM_WORK(n) (2 + 64 * (size_t)(n))
/* Forward codes are odd; the backward of op is op + 1 (called with the same fields). */

/* The CNN ops. Convolution and pooling pass their geometry as TT_BK_GEOM_INTS ints at p[0]
   (host-block scratch, read by the backend on the host): n, c, h, w, cout, groups, kh, kw,
   sh, sw, ph, pw, dh, dw, oh, ow, ceil_mode, count_include_pad (1-D ops: h = kh = 1); what
   follows the geometry in the same block is named with each op. */
enum {
    TT_BK_GEOM_INTS = 32,
    TT_BOP_CONV = 101, TT_BOP_CONV_BWD,     /* in x, w, b (b may be NULL); after the geometry: the column
                                               workspace, K * P floats (K = c/groups * kh * kw, P = oh * ow;
                                               absent for a 1x1 kernel with stride 1 and no padding) */
    TT_BOP_MAX_POOL, TT_BOP_MAX_POOL_BWD,   /* in[0] x; after the geometry: out->numel ints, the position
                                               (in its plane) of each window's maximum, -1 for none */
    TT_BOP_AVG_POOL, TT_BOP_AVG_POOL_BWD,   /* in[0] x */
    TT_BOP_BATCHNORM, TT_BOP_BATCHNORM_BWD, /* in x, w, b (w, b may be NULL); i: n, c, l (x as (n, c, l)),
                                               batch (1: the statistics came from the batch); p[0]: 5 * c
                                               floats: mean, invstd, unbiased variance, 2 * c for the backward */
    TT_BOP_BN_STATS,                        /* no backward. in x, running_mean, running_var (or NULL); i: n, c, l,
                                               mode (0: batch statistics, 1: batch statistics and update the
                                               running ones, 2: the running statistics); f: eps, momentum;
                                               p[0]: the batchnorm block above (mean, invstd, unbiased var) */
    TT_BOP_ADAPTIVE_AVG_POOL = 111, TT_BOP_ADAPTIVE_AVG_POOL_BWD, /* in[0] x; p[0]: the geometry (oh, ow: the output size) */
    TT_BOP_GLOBAL_AVG_POOL, TT_BOP_GLOBAL_AVG_POOL_BWD /* in[0] x; i: planes (n * c), plane size (h * w) */
};

typedef struct tt_backend_call {
    int op;                  /* tt_backend_op */
    tt_tensor *out;
    tt_tensor *in[3];
    int i[4];
    float f[2];
    void *p[2];              /* host-block addresses */
    size_t n;
} tt_backend_call;

/* One parameter tensor's optimizer update (the arrays are host-block addresses). */
typedef struct tt_backend_update {
    tt_optim_kind kind;
    const tt_optim_hparams *h;
    float wd, gsign;         /* weight decay of this tensor, -1 with maximize */
    int64_t t;               /* step, 1 on the first */
    float *x;
    const float *g;
    float *s0, *s1, *s2;     /* state arrays or NULL */
    size_t n;
    double *work;            /* LAMB: the step's TT_BOP_GRAD_NORM work area ([1]: the global divisor); its
                                [2, 2 + 2 * 64 + 1) is free for the update's own per-tensor norms */
} tt_backend_update;

typedef struct tt_backend {
    const char *name;
    const char *const *ops;  /* op names (as in error messages) it runs; NULL-terminated */
    tt_result (*zero)(tt_ctx *ctx, void *at, size_t bytes);
    tt_result (*upload)(tt_ctx *ctx, void *at, const void *src, size_t bytes);
    tt_result (*download)(tt_ctx *ctx, void *dst, const void *at, size_t bytes);
    tt_result (*run)(tt_ctx *ctx, const tt_backend_call *call);
    int (*optim_supported)(tt_optim_kind kind);
    tt_result (*update)(tt_ctx *ctx, const tt_backend_update *u);
    void (*release)(tt_ctx *ctx);   /* called by tt_ctx_free */
} tt_backend;

/* Put the context on GPU `device` (0 = the first). Needs tinytrain_cuda.cu linked and TT_CUDA
   defined where the implementation is compiled (with GCC or Clang on ELF systems, linking
   tinytrain_cuda.cu is enough: without TT_CUDA the call finds it through a weak reference);
   otherwise, or without a usable GPU, returns
   TT_ERR_UNSUPPORTED with a message. Call it after creating the parameters and the optimizer:
   it copies the whole context memory to the device. */
TT_API tt_result tt_ctx_use_gpu(tt_ctx *ctx, int device);
/* Copy n == t->numel floats of t's data (or gradient) to dst; works on every context. */
TT_API tt_result tt_tensor_to_host(tt_ctx *ctx, const tt_tensor *t, float *dst, size_t n);
TT_API tt_result tt_tensor_grad_to_host(tt_ctx *ctx, const tt_tensor *t, float *dst, size_t n);
/* Refresh the host copies of parameters, gradients and persistent memory (optimizer state,
   buffers) from the device; a no-op on a CPU context. Do it before reading parameter values
   on the host (checkpoints, metrics computed by hand). */
TT_API tt_result tt_ctx_params_to_host(tt_ctx *ctx);
/* For backends: set the context's sticky error (if none is set) and log it. Returns code. */
TT_API tt_result tt_backend_fail(tt_ctx *ctx, tt_result code, const char *msg);
/* Defined by tinytrain_cuda.cu (what tt_ctx_use_gpu calls with TT_CUDA). Declared extern, not
   TT_API: it lives in another translation unit even when TT_STATIC makes the rest static. */
extern tt_result tt_cuda_attach(tt_ctx *ctx, int device);


/* ==================================================================================== >>api_io
   Checkpoints (save a run, resume it bit for bit) and atomic file writes.

   A checkpoint holds everything that decides the rest of a run: parameter values, buffers
   (batchnorm running statistics and the like), optimizer state, schedule state, the context
   RNG, a step counter, user metadata (key/value strings) and an opaque "extra" record (for the
   batch iterator's epoch, position and permutation, or anything else). The byte format is
   explicit little-endian, versioned, with one CRC-32 per section: docs/checkpoint.md.

       tt_ckpt ck = tt_ckpt_init();          // every parameter, the RNG, strict names
       ck.optim = &opt;  ck.sched = &sched;  ck.step = step;
       ck.buffers = bufs;  ck.n_buffers = 2;  // tt_buffer tensors are not enumerable: list them
       if (tt_ckpt_save(&ctx, &ck, "run.ckpt") != TT_OK) puts(tt_error_message(&ctx));
       ...  // new process: build the same model, optimizer and schedule, then
       if (tt_ckpt_load(&ctx, &ck, "run.ckpt") == TT_OK) step = ck.step;

   Loading checks everything (magic, version, every CRC, the section structure, every name,
   shape and size against the file length) before it changes anything: on any error the model,
   optimizer, schedule, RNG and extra buffer are exactly as before. The error is TT_ERR_FORMAT
   (bad bytes), TT_ERR_SHAPE (a tensor's shape differs), TT_ERR_IO (files) or
   TT_ERR_INVALID_ARGS; tt_ckpt.error says which problem precisely (tt_io_error) and
   tt_ckpt.error_offset the byte offset, and the message names the section or tensor. */

/* What went wrong in a checkpoint or safetensors read/write (detail of the tt_result). */
typedef enum tt_io_error {
    TT_IO_OK = 0,
    TT_IO_TRUNCATED,      /* the bytes end before the structure they describe does */
    TT_IO_BAD_MAGIC,      /* not a file of this kind */
    TT_IO_BAD_VERSION,    /* a format version this build does not read */
    TT_IO_BAD_CRC,        /* a section's CRC-32 does not match: corrupted bytes */
    TT_IO_MALFORMED,      /* inconsistent structure: lengths, offsets, names, unknown section, JSON */
    TT_IO_SHAPE,          /* a tensor has another shape in the file than in the model */
    TT_IO_MISSING,        /* the model has a tensor (or asks for a section) that the file lacks */
    TT_IO_EXTRA,          /* the file has a tensor that the model lacks (strict loading) */
    TT_IO_MISMATCH,       /* optimizer / schedule / extra record does not fit the object given */
    TT_IO_NO_DIR,         /* the directory of the path does not exist */
    TT_IO_READ_ONLY,      /* no permission, or a read-only file system */
    TT_IO_WRITE_FAILED,   /* a write, flush, sync or rename failed (disk full, I/O error) */
    TT_IO_OPEN_FAILED,    /* the file cannot be opened or read */
    TT_IO_TOO_LARGE       /* over a limit: output buffer, extra capacity, header size */
} tt_io_error;
/* Name of a tt_io_error ("truncated", "CRC mismatch", ...). */
TT_API const char *tt_io_error_string(tt_io_error e);

/* Byte sink for streamed saves: write n bytes, return how many were written (< n = failure). */
typedef size_t (*tt_write_fn)(void *user, const void *data, size_t n);

/* A metadata pair (UTF-8 strings, NUL-terminated). */
typedef struct tt_meta_kv {
    const char *key, *value;
} tt_meta_kv;
/* Called once per metadata pair while a load is applied; the strings live during the call. */
typedef void (*tt_meta_fn)(void *user, const char *key, const char *value);

typedef struct tt_ckpt {
    tt_tensor **tensors;   /* tensors to save / restore by name; NULL with n_tensors 0: every */
    int n_tensors;         /*   parameter of the context, in creation order */
    tt_tensor **buffers;   /* further named tensors (tt_buffer: running statistics), or NULL */
    int n_buffers;
    tt_optim *optim;       /* optimizer whose state is saved / restored, or NULL */
    tt_sched *sched;       /* schedule whose state is saved / restored, or NULL (composites:
                              the children too); it must be built as for the saved run */
    int rng;               /* 1: save / restore the context RNG (default 1) */
    int strict;            /* 1: a file tensor the model lacks is an error (default 1); a model
                              tensor missing from the file is always an error */
    int64_t step;          /* saved; set by a load */
    const tt_meta_kv *meta; /* saved: n_meta pairs */
    int n_meta;
    tt_meta_fn on_meta;    /* load: receives every stored pair (NULL: ignored) */
    void *meta_user;
    struct tt_batch_iter *iter; /* batch iterator whose epoch, position and shuffle seed are saved /
                              restored (the permutation is recomputed), or NULL */
    void *extra;           /* save: extra_bytes bytes stored as they are. load: buffer of */
    size_t extra_bytes;    /*   extra_cap bytes that receives the record (extra_bytes is set to */
    size_t extra_cap;      /*   its size, 0 if the file has none); NULL: not saved / ignored */
    tt_io_error error;     /* out: detail of the last failure (TT_IO_OK after success) */
    size_t error_offset;   /* out: byte offset in the file of the problem */
} tt_ckpt;

/* Defaults: every parameter, rng 1, strict 1, nothing else. */
TT_API tt_ckpt tt_ckpt_init(void);
/* Exact size in bytes of the checkpoint tt_ckpt_save_* would write now. */
TT_API tt_result tt_ckpt_size(tt_ctx *ctx, tt_ckpt *ck, size_t *bytes);
/* Stream the checkpoint to write(user, data, n) in pieces (no allocation except, with an
   optimizer, its state copied through scratch memory, rewound afterwards). */
TT_API tt_result tt_ckpt_save_stream(tt_ctx *ctx, tt_ckpt *ck, tt_write_fn write, void *user);
/* Save into buf (cap bytes); *written (may be NULL) gets the size. TT_IO_TOO_LARGE if it does
   not fit (tt_ckpt_size says how much is needed). */
TT_API tt_result tt_ckpt_save_mem(tt_ctx *ctx, tt_ckpt *ck, void *buf, size_t cap, size_t *written);
/* Validate len bytes, then restore everything ck names. Nothing changes on error. */
TT_API tt_result tt_ckpt_load_mem(tt_ctx *ctx, tt_ckpt *ck, const void *buf, size_t len);

/* SAFETENSORS: exchange parameters and buffers with PyTorch (safetensors.torch.save_file /
   load_file, model.state_dict()). File: u64 little-endian header length N, N bytes of JSON
   {"__metadata__": {"k": "v"}, "name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}}
   padded with spaces, then the tensor bytes (little-endian, row-major). Saving writes F32 and pads
   the header to a multiple of 8 bytes. Loading accepts F32, F16, BF16, F64, I64 and I32 and
   converts to float32 (F16/BF16 exactly; F64 rounds; integers exactly up to 2^24: batchnorm's
   num_batches_tracked), and applies the format's rules: header at most max_header bytes and
   starting with '{', valid JSON, unique names, data_offsets in bounds, no overlap and no hole
   (the tensors cover the data area exactly), end - begin = numel * dtype size. Like checkpoints,
   everything is validated before the model changes; loading takes a table of the header's
   entries from scratch memory (rewound before returning). */
typedef struct tt_safetensors_opts {
    tt_tensor **tensors;   /* NULL with n_tensors 0: every parameter of the context */
    int n_tensors;
    tt_tensor **buffers;   /* further named tensors (running statistics), or NULL */
    int n_buffers;
    const tt_meta_kv *meta; /* save: the "__metadata__" pairs */
    int n_meta;
    tt_meta_fn on_meta;    /* load: receives every "__metadata__" pair (NULL: ignored) */
    void *meta_user;
    int strict;            /* 1: a file tensor the model lacks is an error (default 1) */
    size_t max_header;     /* largest JSON header accepted (default 100000000, as safetensors) */
    tt_io_error error;     /* out: detail of the last failure */
    size_t error_offset;   /* out: byte offset of the problem in the file */
} tt_safetensors_opts;

/* Defaults: every parameter, strict 1, max_header 100000000. */
TT_API tt_safetensors_opts tt_safetensors_opts_init(void);
/* Exact size of the file tt_safetensors_save_* would write now. */
TT_API tt_result tt_safetensors_size(tt_ctx *ctx, tt_safetensors_opts *o, size_t *bytes);
/* Stream the file to write(user, data, n) (no allocation). */
TT_API tt_result tt_safetensors_save_stream(tt_ctx *ctx, tt_safetensors_opts *o, tt_write_fn write, void *user);
/* Save into buf (cap bytes); *written (may be NULL) gets the size. */
TT_API tt_result tt_safetensors_save_mem(tt_ctx *ctx, tt_safetensors_opts *o, void *buf, size_t cap, size_t *written);
/* Validate len bytes, then copy every listed tensor's values. Nothing changes on error. */
TT_API tt_result tt_safetensors_load_mem(tt_ctx *ctx, tt_safetensors_opts *o, const void *buf, size_t len);
#ifndef TT_NO_STDIO
/* Atomic file save (as tt_ckpt_save) and file load. */
TT_API tt_result tt_safetensors_save(tt_ctx *ctx, tt_safetensors_opts *o, const char *path);
TT_API tt_result tt_safetensors_load(tt_ctx *ctx, tt_safetensors_opts *o, const char *path);
#endif

#ifndef TT_NO_STDIO
/* Test hook for atomic file writes: before each write of n bytes at file offset `offset`,
   accept() says how many of them the "disk" takes; fewer than n simulates a full disk. */
typedef struct tt_save_hook {
    size_t (*accept)(void *user, size_t offset, size_t n);
    void *user;
} tt_save_hook;
/* Atomic save: writes "<path>.tmp-<pid>" in the same directory, flushes and fsyncs it, renames
   it over path and fsyncs the directory; a failure at any point removes the temporary file and
   leaves an existing file at path as it was. Errors: TT_ERR_IO with TT_IO_NO_DIR,
   TT_IO_READ_ONLY or TT_IO_WRITE_FAILED and the system's reason in the message. */
TT_API tt_result tt_ckpt_save(tt_ctx *ctx, tt_ckpt *ck, const char *path);
/* tt_ckpt_save with a write hook (hook may be NULL). */
TT_API tt_result tt_ckpt_save_hooked(tt_ctx *ctx, tt_ckpt *ck, const char *path, const tt_save_hook *hook);
/* Read the file (one temporary buffer of its size from the context's allocator), then
   tt_ckpt_load_mem. TT_ERR_IO / TT_IO_OPEN_FAILED if it cannot be read. */
TT_API tt_result tt_ckpt_load(tt_ctx *ctx, tt_ckpt *ck, const char *path);
#endif


/* ==================================================================================== >>api_layers
   Layers: thin structs over the functional ops, declared as in PyTorch. Each registers its
   parameters (tt_param) and buffers (tt_buffer) under PyTorch's state_dict names ("fc1.weight",
   "bn1.running_mean", "blocks.0.attn.qkv.weight") and initialises them as the module's
   reset_parameters() does. The functional ops stay the primary API: a layer's forward is a few
   calls to them, readable in the implementation (>>layers).

       tt_nn nn;  tt_nn_init(&nn, &ctx);            // names and the list of buffers
       tt_nn_linear fc1;  tt_nn_linear_init(&nn, &fc1, "fc1", 784, 128, 1);
       tt_nn_batchnorm bn1;  tt_nn_batchnorm_init(&nn, &bn1, "bn1", 128);
       ... h = tt_nn_linear_forward(&ctx, &fc1, x); h = tt_nn_batchnorm_forward(&ctx, &bn1, h);
       ck.buffers = nn.buffers;  ck.n_buffers = nn.n_buffers;   // checkpoints, safetensors

   Default initialisation (torch 2.x reset_parameters):
     Linear, Conv1d, Conv2d   weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in =
                              in_features, or in_channels / groups * kernel size (kaiming_uniform
                              with a = sqrt(5) gives the same bound)
     BatchNorm1d/2d           weight 1, bias 0; buffers running_mean 0, running_var 1,
                              num_batches_tracked 0 (momentum 0.1, eps 1e-5)
     LayerNorm, GroupNorm     weight 1, bias 0 (eps 1e-5)
     RMSNorm                  weight 1 (eps: FLT_EPSILON, torch's eps=None)
     Embedding                weight N(0, 1)
     LSTM, GRU                every weight and bias U(-1/sqrt(hidden), 1/sqrt(hidden))
     attention, block         their Linear and LayerNorm parts as above
   Names: Linear/Conv weight, bias; norms weight, bias (+ running_mean, running_var,
   num_batches_tracked); Embedding weight; LSTM/GRU weight_ih_l0, weight_hh_l0, bias_ih_l0,
   bias_hh_l0; attention qkv.*, proj.*; block ln1.*, attn.*, ln2.*, mlp.fc.*, mlp.proj.*.
   Errors: TT_ERR_INVALID_ARGS (sizes), TT_ERR_OUT_OF_MEMORY (parameter or persistent storage). */

#define TT_NN_MAX_BUFFERS 256
typedef struct tt_nn {
    tt_ctx *ctx;
    tt_tensor *buffers[TT_NN_MAX_BUFFERS];  /* every buffer the layers made, in order */
    int n_buffers;
} tt_nn;
/* Start a model on ctx (no allocation). */
TT_API tt_result tt_nn_init(tt_nn *nn, tt_ctx *ctx);
/* "prefix.name" (or name alone if prefix is NULL or "") copied into persistent memory. */
TT_API const char *tt_nn_name(tt_nn *nn, const char *prefix, const char *name);
/* "prefix.index" ("blocks.0") in persistent memory. */
TT_API const char *tt_nn_name_index(tt_nn *nn, const char *prefix, int index);

/* Initialisers that derive fan_in / fan_out from the shape as torch does: fan_in = shape[1] *
   receptive field, fan_out = shape[0] * receptive field (receptive field = product of shape[2:]);
   tensors need at least 2 dims (orthogonal: 2 or more, flattened to shape[0] rows).
   xavier_normal: N(0, gain^2 * 2 / (fan_in + fan_out)).
   orthogonal: gain * Q of the QR decomposition of a N(0, 1) matrix, signs fixed by diag(R)
   (rows or columns orthonormal, whichever are fewer).
   trunc_normal: N(mean, std^2) restricted to [a, b] (inverse-CDF sampling as torch; torch
   defaults 0, 1, -2, 2). */
TT_API tt_result tt_init_xavier_normal(tt_ctx *ctx, tt_tensor *t, double gain);
TT_API tt_result tt_init_orthogonal(tt_ctx *ctx, tt_tensor *t, double gain);
TT_API tt_result tt_init_trunc_normal(tt_ctx *ctx, tt_tensor *t, double mean, double std, double a, double b);

/* nn.Linear(in, out, bias): x (..., in) -> (..., out). */
typedef struct tt_nn_linear {
    tt_tensor *weight, *bias;  /* (out, in), (out) or NULL */
    int in_features, out_features;
} tt_nn_linear;
/* Create the layer's parameters under name (name.weight, name.bias); forward pass. */
TT_API tt_result tt_nn_linear_init(tt_nn *nn, tt_nn_linear *m, const char *name, int in, int out, int bias);
TT_API tt_tensor *tt_nn_linear_forward(tt_ctx *ctx, const tt_nn_linear *m, tt_tensor *x);

/* nn.Conv1d / nn.Conv2d. opts NULL: stride 1, padding 0, dilation 1, groups 1. */
typedef struct tt_nn_conv {
    tt_tensor *weight, *bias;  /* (out, in/groups, k) or (out, in/groups, kh, kw); (out) or NULL */
    int dims;                  /* 1 or 2 */
    tt_conv_opts opts;
} tt_nn_conv;
/* Create a Conv1d (kernel k) or Conv2d (kernel kh x kw) under name; forward pass of either. */
TT_API tt_result tt_nn_conv1d_init(tt_nn *nn, tt_nn_conv *m, const char *name, int in, int out, int k,
                                   const tt_conv_opts *opts, int bias);
TT_API tt_result tt_nn_conv2d_init(tt_nn *nn, tt_nn_conv *m, const char *name, int in, int out, int kh, int kw,
                                   const tt_conv_opts *opts, int bias);
TT_API tt_tensor *tt_nn_conv_forward(tt_ctx *ctx, const tt_nn_conv *m, tt_tensor *x);

/* nn.BatchNorm1d / nn.BatchNorm2d (x (N, C, ...)): training mode uses batch statistics and
   updates the running ones and num_batches_tracked; eval mode uses the running ones. */
typedef struct tt_nn_batchnorm {
    tt_tensor *weight, *bias, *running_mean, *running_var, *num_batches_tracked;
    float momentum, eps;       /* 0.1, 1e-5 */
} tt_nn_batchnorm;
/* Create the parameters and buffers under name; forward pass (counts num_batches_tracked). */
TT_API tt_result tt_nn_batchnorm_init(tt_nn *nn, tt_nn_batchnorm *m, const char *name, int num_features);
TT_API tt_tensor *tt_nn_batchnorm_forward(tt_ctx *ctx, tt_nn_batchnorm *m, tt_tensor *x);

/* nn.LayerNorm(features) over the last dim, nn.GroupNorm(groups, channels), nn.RMSNorm(features). */
typedef struct tt_nn_norm {
    tt_tensor *weight, *bias;  /* bias NULL for RMSNorm */
    int groups;                /* GroupNorm; 0 for LayerNorm, -1 for RMSNorm */
    float eps;
} tt_nn_norm;
/* Create a LayerNorm, GroupNorm or RMSNorm under name; forward pass of any of them. */
TT_API tt_result tt_nn_layernorm_init(tt_nn *nn, tt_nn_norm *m, const char *name, int features);
TT_API tt_result tt_nn_groupnorm_init(tt_nn *nn, tt_nn_norm *m, const char *name, int groups, int channels);
TT_API tt_result tt_nn_rmsnorm_init(tt_nn *nn, tt_nn_norm *m, const char *name, int features);
TT_API tt_tensor *tt_nn_norm_forward(tt_ctx *ctx, const tt_nn_norm *m, tt_tensor *x);

/* nn.Embedding(num, dim): ids of shape ids_shape -> (*ids_shape, dim). */
typedef struct tt_nn_embedding {
    tt_tensor *weight;         /* (num, dim) */
} tt_nn_embedding;
/* Create name.weight (num, dim) ~ N(0, 1); look ids up. */
TT_API tt_result tt_nn_embedding_init(tt_nn *nn, tt_nn_embedding *m, const char *name, int num, int dim);
TT_API tt_tensor *tt_nn_embedding_forward(tt_ctx *ctx, const tt_nn_embedding *m, int ndim, const int *ids_shape,
                                          size_t n_ids, const int *ids);

/* nn.Dropout(p): no parameters; the context's training flag and RNG decide. */
typedef struct tt_nn_dropout {
    float p;
} tt_nn_dropout;
/* Dropout with probability m->p in training mode, the identity in evaluation mode. */
TT_API tt_tensor *tt_nn_dropout_forward(tt_ctx *ctx, const tt_nn_dropout *m, tt_tensor *x);

/* nn.LSTM / nn.GRU, one layer, batch_first = False: x (T, B, input) -> (T, B, hidden).
   h0 (and c0) (B, hidden) may be NULL (zeros); h_n / c_n (may be NULL) receive the last state. */
typedef struct tt_nn_rnn {
    tt_tensor *weight_ih, *weight_hh, *bias_ih, *bias_hh;  /* (G*H, I), (G*H, H), (G*H); G = 4 LSTM, 3 GRU */
    int input_size, hidden_size, lstm;
} tt_nn_rnn;
/* Create an LSTM or a GRU under name; run it over the sequence. */
TT_API tt_result tt_nn_lstm_init(tt_nn *nn, tt_nn_rnn *m, const char *name, int input, int hidden, int bias);
TT_API tt_result tt_nn_gru_init(tt_nn *nn, tt_nn_rnn *m, const char *name, int input, int hidden, int bias);
TT_API tt_tensor *tt_nn_rnn_forward(tt_ctx *ctx, const tt_nn_rnn *m, tt_tensor *x, tt_tensor *h0, tt_tensor *c0,
                                    tt_tensor **h_n, tt_tensor **c_n);

/* Multi-head causal self-attention (GPT style): qkv = Linear(dim, 3 dim), heads of dim / n_head,
   softmax(q k^T / sqrt(head dim)) v with a causal mask, proj = Linear(dim, dim). x (B, T, dim). */
typedef struct tt_nn_attention {
    tt_nn_linear qkv, proj;
    int dim, n_head;
} tt_nn_attention;
/* Create name.qkv and name.proj; forward pass (causal). */
TT_API tt_result tt_nn_attention_init(tt_nn *nn, tt_nn_attention *m, const char *name, int dim, int n_head);
TT_API tt_tensor *tt_nn_attention_forward(tt_ctx *ctx, const tt_nn_attention *m, tt_tensor *x);

/* Pre-norm transformer block: x + attn(ln1(x)), then + mlp.proj(gelu(mlp.fc(ln2(x)))), mlp
   width 4 dim (exact erf GELU). */
typedef struct tt_nn_block {
    tt_nn_norm ln1, ln2;
    tt_nn_attention attn;
    tt_nn_linear fc, proj;
} tt_nn_block;
/* Create name.ln1, name.attn, name.ln2, name.mlp.fc, name.mlp.proj; forward pass. */
TT_API tt_result tt_nn_block_init(tt_nn *nn, tt_nn_block *m, const char *name, int dim, int n_head);
TT_API tt_tensor *tt_nn_block_forward(tt_ctx *ctx, const tt_nn_block *m, tt_tensor *x);


/* ==================================================================================== >>api_progress
   Watching training: a progress line, a CSV log of per-epoch metrics, SVG charts. The library
   never prints by itself: these helpers write only where they are told to. */

/* SVG line chart of one or more series (training / validation curves), no dependency: axes,
   "nice" ticks (1-2-5 steps, or decades on a log scale), axis labels, a title, a legend, a
   colour-blind-safe palette (Okabe-Ito), lines clipped to the plotting frame. NaN / Inf points
   (and points <= 0 on a log scale) break the line. Series can also be dashed lines, dots
   (scatter plots) or crosses; the axes can show a fixed range; a callback can draw a background
   (contour lines, class regions) inside the frame; tt_chart_grid_svg puts several charts side by
   side in one SVG (small multiples). */
typedef struct tt_chart_series {
    const char *label;       /* legend text; NULL: not in the legend */
    const double *y;         /* n values */
    const double *x;         /* n values, or NULL for 1, 2, ..., n */
    int n;
} tt_chart_series;
typedef enum tt_chart_style {
    TT_CHART_LINE = 0,       /* a line through the points (a lone point: a dot) */
    TT_CHART_DASHED,         /* the same, dashed */
    TT_CHART_DOTS,           /* a dot at each point, no line (scatter plots, markers) */
    TT_CHART_CROSSES         /* a cross at each point, no line */
} tt_chart_style;
/* The plotting frame, as a draw callback sees it. */
typedef struct tt_chart_frame {
    double left, top, width, height;     /* the frame in pixels (y grows downward) */
    double x_min, x_max, y_min, y_max;   /* the data range it shows (on a log axis: log10 of the values) */
    int log_y;
    int index;                           /* chart number in a grid (0 for a single chart) */
} tt_chart_frame;
/* Pixel coordinates of a data point in a frame (y on a log axis: the value itself, not its log). */
TT_API double tt_chart_px(const tt_chart_frame *f, double x);
TT_API double tt_chart_py(const tt_chart_frame *f, double y);
/* A background drawn inside the frame (clipped to it), after the grid lines and before the
   series: write SVG elements (e.g. <path d="M.. L.."/>) in the frame's pixel coordinates. */
typedef void (*tt_chart_draw_fn)(void *user, const tt_chart_frame *frame, tt_write_fn write, void *write_user);
typedef struct tt_chart_opts {
    const char *title, *xlabel, *ylabel;  /* may be NULL (NULL) */
    int width, height;       /* pixels (640, 400) */
    int log_y;               /* 1: logarithmic y axis (loss curves) (0) */
    const char *const *colors; /* one SVG colour per series ("#0072B2", "black"), or NULL: the palette in order (NULL) */
    const tt_chart_style *styles; /* one style per series, or NULL: every series a line (NULL) */
    int fixed_x, fixed_y;    /* 1: the axis shows exactly x_min..x_max (y_min..y_max; > 0 on a log axis);
                                0: the data's range, rounded out to ticks on y (0, 0) */
    double x_min, x_max, y_min, y_max;   /* (0, 1, 0, 1) */
    tt_chart_draw_fn draw;   /* background callback, or NULL (NULL) */
    void *draw_user;         /* its first argument (NULL) */
} tt_chart_opts;
/* Defaults: 640 x 400, linear axes from the data, palette colours, lines, no texts. */
TT_API tt_chart_opts tt_chart_opts_init(void);
/* Write the SVG to a byte sink (works without stdio). */
TT_API tt_result tt_chart_svg_stream(tt_ctx *ctx, const tt_chart_opts *opts, int n_series, const tt_chart_series *series,
                                     tt_write_fn write, void *user);
/* One chart of a grid. */
typedef struct tt_chart {
    tt_chart_opts opts;
    int n_series;
    const tt_chart_series *series;
} tt_chart;
/* Small multiples: n_charts charts in one SVG, `columns` per row, in cells as large as the
   largest chart, under an optional title (NULL: none). */
TT_API tt_result tt_chart_grid_svg_stream(tt_ctx *ctx, const char *title, int columns, int n_charts, const tt_chart *charts,
                                          tt_write_fn write, void *user);

#ifndef TT_NO_STDIO
/* Write the SVG file (atomically, as tt_ckpt_save). */
TT_API tt_result tt_chart_svg(tt_ctx *ctx, const char *path, const tt_chart_opts *opts, int n_series,
                              const tt_chart_series *series);
TT_API tt_result tt_chart_grid_svg(tt_ctx *ctx, const char *path, const char *title, int columns, int n_charts,
                                   const tt_chart *charts);

/* Progress line:
       epoch 3/10  step 120/469  loss 0.4123  1843 samples/s  ETA 1:42
   On a terminal it is redrawn in place (carriage return) at most every redraw_s seconds; on
   anything else (CI logs, files) a plain line is printed every line_s seconds and at the end of
   each epoch. tt_progress_step costs a counter and an addition; the clock is read only every
   few steps (the interval adapts to the step time). Output goes to `out` (a FILE *, stderr by
   default) or, if line_fn is set, to line_fn(user, line, final) (final = 1 for the end-of-epoch
   line). */
typedef enum tt_progress_mode {
    TT_PROGRESS_AUTO = 0,    /* redraw if out is a terminal, plain lines otherwise */
    TT_PROGRESS_REDRAW,      /* always redraw in place */
    TT_PROGRESS_LINES,       /* always plain periodic lines */
    TT_PROGRESS_SILENT       /* nothing at all */
} tt_progress_mode;
typedef struct tt_progress {
    int epochs;              /* total epochs, 0 if unknown */
    int steps_per_epoch;     /* 0 if unknown */
    int batch_size;          /* samples per step (samples/s) */
    tt_progress_mode mode;
    double redraw_s;         /* 0.1 */
    double line_s;           /* 10 */
    void *out;               /* FILE * (NULL: stderr) */
    void (*line_fn)(void *user, const char *line, int final);
    void *user;
    double (*clock)(void *user);  /* seconds; NULL: the wall clock */
    /* state (read-only) */
    int epoch;               /* current epoch, from 0 */
    long step;               /* steps in this epoch */
    long next_check;         /* step at which the clock is read next */
    long check_every;
    long steps_total;        /* steps since tt_progress_init */
    double loss_sum;         /* sum of this epoch's losses */
    double t_start, t_epoch, t_check, t_shown;
    int redraw, drawn;
} tt_progress;
/* Defaults for a run of `epochs` epochs of `steps_per_epoch` steps of `batch_size` samples. */
TT_API tt_progress tt_progress_init(int epochs, int steps_per_epoch, int batch_size);
/* Call before the first step of each epoch (epoch counts from 0). */
TT_API void tt_progress_epoch_begin(tt_progress *p, int epoch);
/* Call after each step with its loss. */
TT_API void tt_progress_step(tt_progress *p, double loss);
/* Call at the end of an epoch; extra (may be NULL) is appended, e.g. "val_loss 0.31  acc 89.2%". */
TT_API void tt_progress_epoch_end(tt_progress *p, const char *extra);
/* The current line (the text tt_progress prints) into buf. */
TT_API void tt_progress_format(const tt_progress *p, double now, char *buf, size_t cap);

/* CSV log of per-epoch metrics: a header row of column names, then one row per call
   (values with 9 significant digits; NaN is written as an empty field). Lines end with "\n". */
typedef struct tt_csv_log {
    void *f;                 /* FILE * */
    int n_cols;
} tt_csv_log;
/* Create path and write the header row (n_cols names); append one row of n_cols values. */
TT_API tt_result tt_csv_log_open(tt_ctx *ctx, tt_csv_log *log, const char *path, int n_cols, const char *const *cols);
TT_API tt_result tt_csv_log_row(tt_ctx *ctx, tt_csv_log *log, const double *values);
/* Close the file (safe on a closed log). */
TT_API tt_result tt_csv_log_close(tt_ctx *ctx, tt_csv_log *log);
#endif


/* ==================================================================================== >>api_data
   Data: gzip (inflate), IDX and CSV readers; in-memory datasets, a mini-batch iterator with seeded
   shuffling, and batch gathering with seeded augmentation.

   READERS work on memory buffers (also with TT_NO_STDIO); the *_file wrappers read a whole file
   with stdio (TT_ERR_IO naming the path and the reason) and call the buffer version. Every size
   read from the input is checked against the buffer and against overflow; truncated, oversized
   or malformed input fails with TT_ERR_FORMAT and a message naming the byte offset (and line and
   column for CSV). A failing call leaves every caller-owned output untouched: readers check the
   whole input before they write anything.
   Memory follows the rest of the library: a size query first, then the caller's memory, or the
   context's persistent region when the memory pointer is NULL. gzip decoding borrows a 32 KiB
   window from the scratch region for the duration of the call (given back before it returns).
   No reader calls an allocator. */

/* ---- gzip (RFC 1952 members holding RFC 1951 deflate data: stored, fixed and dynamic Huffman
   blocks). Header flags FTEXT, FHCRC (checked), FEXTRA, FNAME and FCOMMENT are understood;
   CRC-32 and ISIZE of every member are checked. Concatenated members decode to the
   concatenation of their contents (as gunzip); bytes after the last member are an error. */
/* 1 if the buffer starts with the gzip magic bytes 1f 8b. */
TT_API int tt_is_gzip(const void *src, size_t src_bytes);
/* Decompressed size of a gzip buffer: decodes and checks everything, stores nothing. */
TT_API tt_result tt_gunzip_size(tt_ctx *ctx, const void *src, size_t src_bytes, size_t *out_bytes);
/* Decompress into dst (dst_bytes >= the decompressed size). The input is checked completely
   (a first decoding pass) before dst is written, so a failure leaves dst untouched.
   *out_bytes (may be NULL) receives the size. */
TT_API tt_result tt_gunzip(tt_ctx *ctx, const void *src, size_t src_bytes, void *dst, size_t dst_bytes,
                           size_t *out_bytes);

/* ---- IDX (the MNIST family): magic 00 00 <type> <ndim>, then ndim big-endian uint32 sizes,
   then the elements, big-endian, row-major. Plain or gzip (detected from the first bytes). */
typedef enum tt_idx_type {
    TT_IDX_U8 = 0x08, TT_IDX_I8 = 0x09, TT_IDX_I16 = 0x0B, TT_IDX_I32 = 0x0C, TT_IDX_F32 = 0x0D, TT_IDX_F64 = 0x0E
} tt_idx_type;
typedef struct tt_idx_info {
    tt_idx_type type;
    int ndim;                 /* 1 .. TT_MAX_DIMS */
    int dims[TT_MAX_DIMS];    /* each 1 .. INT_MAX */
    size_t count;             /* elements: product of dims */
    size_t elem_bytes;        /* 1, 2, 4 or 8 */
    size_t header_bytes;      /* 4 + 4 * ndim */
    int gzip;                 /* 1 if the buffer is gzip-compressed */
} tt_idx_info;
/* Parse the header (for gzip only the first bytes are decoded; the read calls check the rest). */
TT_API tt_result tt_idx_info_mem(tt_ctx *ctx, const void *src, size_t src_bytes, tt_idx_info *info);
/* Elements of a uint8 IDX buffer, as stored (dst_count >= info.count). TT_ERR_FORMAT if the
   element type is not uint8, or the data is not exactly header + count elements long. */
TT_API tt_result tt_idx_read_u8_mem(tt_ctx *ctx, const void *src, size_t src_bytes, unsigned char *dst, size_t dst_count);
/* Elements of any IDX type converted to float and multiplied by scale (1.0f / 255 scales
   uint8 images to [0, 1]; 1 keeps the values). float64 is rounded to float. */
TT_API tt_result tt_idx_read_f32_mem(tt_ctx *ctx, const void *src, size_t src_bytes, float scale, float *dst, size_t dst_count);
/* Integer elements (uint8, int8, int16, int32: labels) as int. */
TT_API tt_result tt_idx_read_int_mem(tt_ctx *ctx, const void *src, size_t src_bytes, int *dst, size_t dst_count);

/* ---- CSV (RFC 4180 with the usual extensions): a delimiter of choice, an optional header row,
   fields quoted with '"' that may hold delimiters, doubled quotes and line breaks, line ends
   LF, CRLF or CR, a UTF-8 byte order mark skipped, blank lines skipped. Every row must have the
   same number of fields. Feature fields are numbers (strtod syntax, surrounding spaces and tabs
   ignored; the C locale's '.' decimal point) or missing: an empty field or one of
   NA N/A n/a NaN nan -NaN -nan NULL null None #N/A <NA> ? (pandas' default set plus "?") reads as
   NaN. One column may be the label: by index or by header name, read as class ids or as float
   targets. Class labels are mapped to ids 0 .. n_classes-1: if every label is a non-negative
   integer written with digits only, the id is its value (names "0", "1", ...); otherwise the
   distinct labels sorted by their bytes (as scikit-learn's LabelEncoder on strings). A missing
   class label is an error; a missing float target is NaN. */
typedef enum tt_csv_label {
    TT_CSV_LABEL_NONE = 0,   /* every column is a feature */
    TT_CSV_LABEL_INDEX,      /* the column label_index (0-based) */
    TT_CSV_LABEL_NAME        /* the column whose header field equals label_name (needs header) */
} tt_csv_label;
typedef struct tt_csv_opts {
    char delimiter;          /* ',' */
    int header;              /* 1: the first row names the columns (pandas header=0); 0: no header */
    tt_csv_label label;      /* TT_CSV_LABEL_NONE */
    int label_index;         /* 0 */
    const char *label_name;  /* NULL */
    int label_is_class;      /* 1: class ids (int); 0: float targets */
} tt_csv_opts;
/* The defaults above. */
TT_API tt_csv_opts tt_csv_opts_init(void);
/* A parsed CSV. Everything it points to lives in the memory given to tt_csv_read (or the
   persistent region); nothing points into the input buffer. */
typedef struct tt_csv {
    int rows;                  /* data rows (header excluded) */
    int cols;                  /* feature columns (the label column excluded) */
    float *x;                  /* rows x cols, row-major, NaN where missing */
    int *y;                    /* rows class ids (label_is_class), else NULL */
    float *t;                  /* rows float targets (label, not label_is_class), else NULL */
    int n_classes;             /* class labels: number of ids */
    const char **class_names;  /* n_classes names: class_names[id] is the label text of id */
    const char **col_names;    /* cols feature names from the header, or NULL without header */
    const char *label_col_name;/* the label column's header name, or NULL */
    int label_col;             /* the label column's index in the file, or -1 without label */
    size_t n_missing;          /* feature fields read as NaN */
} tt_csv;
/* Bytes of memory tt_csv_read needs for this input (an upper bound; checks the whole input). */
TT_API tt_result tt_csv_size(tt_ctx *ctx, const void *src, size_t src_bytes, const tt_csv_opts *opts, size_t *bytes);
/* Parse into *out using mem (mem_bytes >= tt_csv_size, any alignment), or the persistent region
   when mem is NULL. On failure *out and mem are untouched. */
TT_API tt_result tt_csv_read(tt_ctx *ctx, const void *src, size_t src_bytes, const tt_csv_opts *opts, void *mem,
                             size_t mem_bytes, tt_csv *out);

#ifndef TT_NO_STDIO
/* Whole-file helpers: read the file into the scratch region (rewound before returning) and call
   the buffer version. tt_csv_read_file needs no size query: it takes its memory from the
   persistent region. A missing or unreadable file is TT_ERR_IO with the path and the reason. */
TT_API tt_result tt_idx_info_file(tt_ctx *ctx, const char *path, tt_idx_info *info);
TT_API tt_result tt_idx_read_u8_file(tt_ctx *ctx, const char *path, unsigned char *dst, size_t dst_count);
TT_API tt_result tt_idx_read_f32_file(tt_ctx *ctx, const char *path, float scale, float *dst, size_t dst_count);
TT_API tt_result tt_idx_read_int_file(tt_ctx *ctx, const char *path, int *dst, size_t dst_count);
TT_API tt_result tt_csv_read_file(tt_ctx *ctx, const char *path, const tt_csv_opts *opts, tt_csv *out);
/* Read a whole file into the persistent region (*data, *bytes); for the readers above. */
TT_API tt_result tt_read_file_persist(tt_ctx *ctx, const char *path, void **data, size_t *bytes);
#endif

/* ---- In-memory datasets.
   A dataset is n samples of one shape (D features, or C x H x W for images) stored as float, or
   as uint8 scaled to float (x * u8_scale) only when a batch is gathered (60,000 Fashion-MNIST
   images: 47 MB as uint8, 188 MB as float), with integer class labels, float targets, or
   neither. It either borrows the caller's arrays (tt_dataset_init) or owns storage taken from
   the caller's memory or the persistent region (tt_dataset_alloc) that the caller then fills
   (the IDX readers can read straight into it). */
typedef enum tt_data_type { TT_DATA_F32 = 0, TT_DATA_U8 = 1 } tt_data_type;
typedef enum tt_target_type { TT_TARGET_NONE = 0, TT_TARGET_CLASS = 1, TT_TARGET_FLOAT = 2 } tt_target_type;
typedef struct tt_dataset_desc {
    int n;                       /* samples, >= 1 */
    int ndim;                    /* sample dims: 1 (D) or 3 (C, H, W); 2 means (H, W) */
    int shape[3];                /* sample shape */
    tt_data_type type;           /* TT_DATA_F32 */
    float u8_scale;              /* TT_DATA_U8: gathered value = byte * u8_scale (1.0f / 255) */
    tt_target_type target;       /* TT_TARGET_CLASS */
    int n_classes;               /* TT_TARGET_CLASS: labels must lie in [0, n_classes) (10) */
    int target_dim;              /* TT_TARGET_FLOAT: floats per sample (1) */
} tt_dataset_desc;
/* Defaults: one float feature, class labels of 10 classes, u8_scale 1/255; set n and shape. */
TT_API tt_dataset_desc tt_dataset_desc_init(void);
typedef struct tt_dataset {
    tt_dataset_desc desc;
    size_t sample_numel;         /* product of the sample shape */
    float *x;                    /* TT_DATA_F32: n * sample_numel floats, else NULL */
    unsigned char *x_u8;         /* TT_DATA_U8: n * sample_numel bytes, else NULL */
    int *y;                      /* TT_TARGET_CLASS: n labels, else NULL */
    float *t;                    /* TT_TARGET_FLOAT: n * target_dim floats, else NULL */
} tt_dataset;
/* Borrow the caller's arrays (x: float or uint8 as desc.type; targets: int labels or floats, or
   NULL with TT_TARGET_NONE). They must outlive the dataset. Class labels are checked here. */
TT_API tt_result tt_dataset_init(tt_ctx *ctx, tt_dataset *ds, const tt_dataset_desc *desc, void *x, void *targets);
/* Bytes tt_dataset_alloc needs for desc. */
TT_API tt_result tt_dataset_memory_size(const tt_dataset_desc *desc, size_t *bytes);
/* Storage for desc from mem (mem_bytes >= tt_dataset_memory_size, 64-byte aligned), or from the
   persistent region when mem is NULL; zero-filled, for the caller to fill ds->x / x_u8 / y / t.
   Call tt_dataset_check after filling class labels. */
TT_API tt_result tt_dataset_alloc(tt_ctx *ctx, tt_dataset *ds, const tt_dataset_desc *desc, void *mem, size_t mem_bytes);
/* TT_ERR_INDEX naming the first sample whose class label is outside [0, n_classes). */
TT_API tt_result tt_dataset_check(tt_ctx *ctx, const tt_dataset *ds);

/* ---- Mini-batch iterator. Its whole state is this plain struct: to resume a run, save epoch,
   pos and seed (the permutation of an epoch is a function of seed and epoch, and
   tt_batch_iter_seek recomputes it), or save perm as well. */
typedef struct tt_batch_iter {
    int n;               /* samples */
    int batch_size;      /* >= 1 */
    int drop_last;       /* 1: the last short batch of an epoch is skipped (torch DataLoader) */
    int shuffle;         /* 1: a new seeded permutation every epoch; 0: 0, 1, ..., n-1 */
    uint64_t seed;       /* drawn from the context RNG at init */
    int64_t epoch;       /* current epoch, from 0 */
    int pos;             /* position in perm of the next sample of this epoch */
    int *perm;           /* n sample indices of this epoch (caller memory or persistent) */
} tt_batch_iter;
/* One batch: count samples idx[0 .. count-1] (or, when idx is NULL, samples pos .. pos+count-1,
   which is how to gather an evaluation range), and where it sits: epoch and pos, the position
   of its first sample within the epoch. Augmentation draws from these, so a batch is the same
   whenever it is gathered. */
typedef struct tt_batch {
    const int *idx;
    int count;
    int64_t epoch;
    int pos;
} tt_batch;
/* perm_mem: n ints, or NULL for the persistent region. Draws the seed from the context RNG (so
   a context seed gives the same order every run) and builds epoch 0's permutation. */
TT_API tt_result tt_batch_iter_init(tt_ctx *ctx, tt_batch_iter *it, int n, int batch_size, int shuffle, int drop_last,
                                    int *perm_mem);
/* Next batch of the current epoch into *b: returns 1, or 0 when the epoch is over, after which
   the iterator has moved to the next epoch (epoch + 1, pos 0, a new permutation). b->idx points
   into it->perm: gather the batch before the next call. No allocation. */
TT_API int tt_batch_iter_next(tt_batch_iter *it, tt_batch *b);
/* Batches per epoch. */
TT_API int tt_batch_iter_batches(const tt_batch_iter *it);
/* Jump to (epoch, pos): recomputes the permutation of that epoch. 0 <= pos <= n. */
TT_API tt_result tt_batch_iter_seek(tt_ctx *ctx, tt_batch_iter *it, int64_t epoch, int pos);

/* ---- Augmentation applied while gathering image batches (samples of shape (C, H, W) or
   (H, W)), as torchvision's RandomCrop(padding=crop_padding) then RandomHorizontalFlip(p=
   flip_p), then additive Gaussian noise of standard deviation noise_std. Every random draw for
   sample i of a batch comes from a generator seeded from (seed, batch epoch, batch pos + i), so
   a batch is reproducible and independent of the order batches are gathered in. Every field is
   taken literally: crop_padding 0, flip_p 0 and noise_std 0 each do nothing. */
typedef struct tt_augment {
    int crop_padding;    /* zero padding on every side, then a random crop of the original size */
    float flip_p;        /* probability of a horizontal flip, in [0, 1] */
    float noise_std;     /* >= 0 */
    uint64_t seed;
} tt_augment;
/* No augmentation: every field zero. */
TT_API tt_augment tt_augment_init(void);
/* Gather a batch into new scratch tensors: *x of shape (count, sample shape) as float (uint8
   scaled by u8_scale), and *labels (count ints in scratch; class datasets) or *targets (count x
   target_dim; float-target datasets). Pointers not wanted may be NULL. aug NULL: none.
   Scratch memory only: nothing is allocated from the heap. */
TT_API tt_result tt_dataset_gather(tt_ctx *ctx, const tt_dataset *ds, const tt_batch *b, const tt_augment *aug,
                                   tt_tensor **x, const int **labels, tt_tensor **targets);

/* ==================================================================================== >>api_prep
   Splits, k-fold, scalers, imputers, one-hot: plain arrays in and out, independent of the
   autograd, following scikit-learn (model_selection, preprocessing, impute) rule for rule.
     - Every output and workspace is the caller's (sizes are stated, or given by a *_count query);
       nothing is allocated. ctx only receives error messages and warnings: it may be NULL (the
       functions then return the code without a message).
     - Feature matrices are row-major float, n_rows x n_features. Labels are int in
       [0, n_classes). Sample indices are size_t.
     - Shuffling draws from the tt_rng you pass (&ctx->rng for the context's generator, or your
       own tt_rng_seed()ed one): same seed, same split. The permutations are tinytrain's own, so
       they differ from scikit-learn's for a given random_state; the sizes, per-class counts and
       fold assignments without shuffling are the same.

   SPLIT SIZES (sklearn _validate_shuffle_split)
       A size is a fraction in (0, 1) or a count in [1, n); TT_SIZE_NONE leaves it open.
       n_test = ceil(test_fraction * n) (rounded up), n_train = floor(train_fraction * n)
       (rounded down); an open size is the complement of the other; both open: test is 0.25.
       Errors (TT_ERR_INVALID_ARGS, sklearn's wording): a size out of range, two fractions that
       sum over 1, n_train + n_test > n, an empty train set. With stratify: a present class with
       fewer than 2 members, n_train or n_test smaller than the number of present classes, and
       shuffle 0 (not implemented in sklearn either).
   STRATIFICATION (sklearn StratifiedShuffleSplit)
       Per-class train counts are _approximate_mode(class_counts, n_train): floor of the exact
       share, then the remaining samples go to the classes with the largest fractional parts.
       Test counts are _approximate_mode(class_counts - train_counts, n_test). sklearn breaks a
       tie between equal fractional parts at random (from random_state); tinytrain breaks it
       deterministically in favour of the smaller class id, so on ties a class may get one
       sample more or less than in a given sklearn run (never a different total). */

typedef enum tt_size_kind {
    TT_SIZE_NONE = 0,      /* not given: the complement of the other size */
    TT_SIZE_FRACTION = 1,  /* value in (0, 1) */
    TT_SIZE_COUNT = 2      /* value an integer in [1, n) */
} tt_size_kind;
typedef struct tt_size {
    tt_size_kind kind;
    double value;
} tt_size;
/* A size as a fraction of the samples, or as a count of samples. */
TT_API tt_size tt_size_fraction(double fraction);
TT_API tt_size tt_size_count(size_t count);

typedef struct tt_split_opts {
    tt_size test_size;   /* default NONE (sklearn test_size=None) */
    tt_size train_size;  /* default NONE (sklearn train_size=None) */
    int shuffle;         /* default 1 */
    int stratify;        /* default 0; 1 keeps class proportions (needs labels) */
} tt_split_opts;
/* sklearn's train_test_split defaults: both sizes NONE (test 0.25), shuffle, no stratify. */
TT_API tt_split_opts tt_split_opts_init(void);

/* n_train and n_test for n samples, or an error, exactly as sklearn computes them. */
TT_API tt_result tt_split_sizes(tt_ctx *ctx, size_t n, tt_size test_size, tt_size train_size, size_t *n_train,
                                size_t *n_test);
/* size_t elements of workspace that the split functions need for n samples. */
TT_API size_t tt_split_work_count(size_t n, int n_classes);
/* Train/test split of the samples 0..n-1 (sklearn train_test_split). labels ([n], classes in
   [0, n_classes)) are needed only with stratify (may be NULL otherwise; n_classes then unused).
   train_idx and test_idx receive n_train and n_test indices (sizes from tt_split_sizes); with
   shuffle 0 they are 0..n_train-1 and n_train..n_train+n_test-1. work: tt_split_work_count. */
TT_API tt_result tt_train_test_split(tt_ctx *ctx, tt_rng *rng, size_t n, const int *labels, int n_classes,
                                     const tt_split_opts *opts, size_t *train_idx, size_t *n_train,
                                     size_t *test_idx, size_t *n_test, size_t *work);

/* Train/validation/test split: two train_test_split passes, as
       rest, test  = train_test_split(all,  test_size=test_size)
       train, val  = train_test_split(rest, test_size=val_size)
   so a val fraction is a fraction of what remains after the test set (test 0.2 and val 0.25
   give 60/20/20). Each pass follows the rules above (stratified per pass when asked). */
typedef struct tt_split3_opts {
    tt_size test_size;   /* default fraction 0.2 */
    tt_size val_size;    /* default fraction 0.25 (of the rest) */
    int shuffle;         /* default 1 */
    int stratify;        /* default 0 */
} tt_split3_opts;
/* Defaults: test fraction 0.2, validation fraction 0.25 of the rest, shuffle, no stratify. */
TT_API tt_split3_opts tt_split3_opts_init(void);
/* n_train, n_val and n_test of the two passes, or the first pass's error. */
TT_API tt_result tt_split3_sizes(tt_ctx *ctx, size_t n, tt_size test_size, tt_size val_size, size_t *n_train,
                                 size_t *n_val, size_t *n_test);
/* The split itself: indices into the three outputs (sizes from tt_split3_sizes); labels and
   n_classes as tt_train_test_split; work: tt_split_work_count(n, n_classes). */
TT_API tt_result tt_train_val_test_split(tt_ctx *ctx, tt_rng *rng, size_t n, const int *labels, int n_classes,
                                         const tt_split3_opts *opts, size_t *train_idx, size_t *n_train,
                                         size_t *val_idx, size_t *n_val, size_t *test_idx, size_t *n_test,
                                         size_t *work);

/* K-fold (sklearn KFold): fold[i] in [0, k) is the test fold of sample i. Fold sizes are n / k,
   the first n % k folds one larger; without shuffling (rng NULL) fold f is a contiguous block.
   With rng the assignment is shuffled. 2 <= k <= n. */
TT_API tt_result tt_kfold(tt_ctx *ctx, tt_rng *rng, size_t n, int k, int *fold);
/* Stratified k-fold (sklearn StratifiedKFold._make_test_folds): classes are taken in order of
   first appearance, the samples sorted by class are dealt round robin to the folds to get the
   per-class fold counts, and each class's samples get their folds in blocks in index order
   (the block order is shuffled with rng; rng NULL: exactly sklearn's shuffle=False folds).
   Errors: k < 2, k > n, every class smaller than k; a class smaller than k only warns.
   work: n + 3 * n_classes size_t. */
TT_API tt_result tt_stratified_kfold(tt_ctx *ctx, tt_rng *rng, const int *labels, size_t n, int n_classes, int k,
                                     int *fold, size_t *work);
/* The train (fold != f) and test (fold == f) indices of fold f, both in increasing order.
   train_idx and test_idx need room for n indices in the worst case (either may be NULL). */
TT_API tt_result tt_fold_indices(tt_ctx *ctx, const int *fold, size_t n, int f, size_t *train_idx, size_t *n_train,
                                 size_t *test_idx, size_t *n_test);

/* out[i] = x[idx[i]] (rows of n_cols floats / labels) for i < n_idx; indices checked against
   n_rows. out must not overlap x. */
TT_API tt_result tt_take_rows(tt_ctx *ctx, const float *x, size_t n_rows, size_t n_cols, const size_t *idx,
                              size_t n_idx, float *out);
TT_API tt_result tt_take_labels(tt_ctx *ctx, const int *y, size_t n, const size_t *idx, size_t n_idx, int *out);

/* Indices of the rows with no NaN (pandas dropna): keep_idx needs room for n_rows. Then
   tt_take_rows / tt_take_labels with them drop the incomplete rows. */
TT_API tt_result tt_complete_rows(tt_ctx *ctx, const float *x, size_t n_rows, size_t n_cols, size_t *keep_idx,
                                  size_t *n_keep);

/* One-hot rows: out[i * n_classes + c] = (labels[i] == c) (sklearn OneHotEncoder on labels,
   torch.nn.functional.one_hot). */
TT_API tt_result tt_one_hot_encode(tt_ctx *ctx, const int *labels, size_t n, int n_classes, float *out);

/* Standardize (sklearn StandardScaler): z = (x - mean) / scale. Fit ignores NaN (as sklearn)
   and keeps NaN in apply. mean and var are computed in double (var is the population
   variance, ddof 0); scale = sqrt(var), except 1 for a constant feature (sklearn's
   _is_constant_feature: var <= n*eps*var + (n*mean*eps)^2) and 1 everywhere when with_std is
   0. A feature with no non-NaN value gets mean, var and scale NaN. The arrays are
   the caller's ([n_features] each) and are the fitted state: read, save or set them. */
typedef struct tt_standard_scaler {
    size_t n_features;
    int with_mean;   /* 1: subtract the mean (sklearn default) */
    int with_std;    /* 1: divide by the std (sklearn default) */
    double *mean;    /* [n_features] mean_ */
    double *var;     /* [n_features] var_ */
    double *scale;   /* [n_features] scale_ (1 where with_std is 0) */
} tt_standard_scaler;
/* A scaler over the caller's arrays with sklearn's defaults (with_mean = with_std = 1). */
TT_API tt_standard_scaler tt_standard_scaler_init(size_t n_features, double *mean, double *var, double *scale);
TT_API tt_result tt_standard_scaler_fit(tt_ctx *ctx, tt_standard_scaler *s, const float *x, size_t n_rows);
/* out may be x. */
TT_API tt_result tt_standard_scaler_apply(tt_ctx *ctx, const tt_standard_scaler *s, const float *x, size_t n_rows,
                                          float *out);

/* Min-max scaling to [range_min, range_max] (sklearn MinMaxScaler, clip=False):
       scale = (range_max - range_min) / (data_max - data_min), min = range_min - data_min * scale,
       out = x * scale + min,
   with a data range below 10 * FLT_EPSILON (constant feature) treated as 1 (so a constant
   feature maps to range_min). NaN ignored by fit, kept by apply. */
typedef struct tt_minmax_scaler {
    size_t n_features;
    double range_min, range_max;  /* feature_range, default (0, 1) */
    double *data_min;             /* [n_features] data_min_ */
    double *data_max;             /* [n_features] data_max_ */
    double *scale;                /* [n_features] scale_ */
    double *min;                  /* [n_features] min_ */
} tt_minmax_scaler;
/* A scaler over the caller's arrays with sklearn's default range (0, 1). */
TT_API tt_minmax_scaler tt_minmax_scaler_init(size_t n_features, double *data_min, double *data_max, double *scale,
                                              double *min);
/* Fit on n_rows rows (range_min < range_max, else an error); apply to any rows (out may be x). */
TT_API tt_result tt_minmax_scaler_fit(tt_ctx *ctx, tt_minmax_scaler *s, const float *x, size_t n_rows);
TT_API tt_result tt_minmax_scaler_apply(tt_ctx *ctx, const tt_minmax_scaler *s, const float *x, size_t n_rows,
                                        float *out);

/* Imputation of missing values (NaN) per feature (sklearn SimpleImputer, missing_values=nan):
   MEAN, MEDIAN (mean of the two middle values for an even count), MOST_FREQUENT (the smallest
   of equally frequent values), CONSTANT (fill_value). A feature with no observed value in the
   fit data ("empty"): with keep_empty_features 0 (sklearn default) its statistic is NaN and
   apply drops the column, as sklearn does, so the output has tt_imputer_n_out() columns; with
   keep_empty_features 1 it is kept and filled with 0 (fill_value for CONSTANT). */
typedef enum tt_impute_strategy {
    TT_IMPUTE_MEAN = 0,
    TT_IMPUTE_MEDIAN = 1,
    TT_IMPUTE_MOST_FREQUENT = 2,
    TT_IMPUTE_CONSTANT = 3
} tt_impute_strategy;
typedef struct tt_imputer {
    size_t n_features;
    tt_impute_strategy strategy;  /* default MEAN */
    double fill_value;            /* CONSTANT only, default 0 */
    int keep_empty_features;      /* default 0 */
    double *statistics;           /* [n_features] statistics_ (the fill value of each feature) */
} tt_imputer;
/* An imputer over the caller's statistics array (fill_value 0, keep_empty_features 0). */
TT_API tt_imputer tt_imputer_init(size_t n_features, tt_impute_strategy strategy, double *statistics);
/* work: n_rows floats for MEDIAN and MOST_FREQUENT (a sorted copy of one column), else NULL. */
TT_API tt_result tt_imputer_fit(tt_ctx *ctx, tt_imputer *imp, const float *x, size_t n_rows, float *work);
/* Columns of the output: n_features less the dropped empty features. */
TT_API size_t tt_imputer_n_out(const tt_imputer *imp);
/* out: n_rows x tt_imputer_n_out(); out may be x only when no column is dropped. */
TT_API tt_result tt_imputer_apply(tt_ctx *ctx, const tt_imputer *imp, const float *x, size_t n_rows, float *out);

/* ==================================================================================== >>api_metrics
   Classification and regression metrics as scikit-learn computes them (sklearn.metrics, the
   installed 1.9 for the tests), from plain arrays: class predictions (int), scores or
   probabilities (float, row-major n x n_classes) and targets. Results are double. ctx only
   receives errors and warnings and may be NULL. No workspace is needed except for the
   ranking metrics (ROC-AUC, average precision: n size_t).
     - Classes are 0..n_classes-1, all of them, as sklearn with labels=range(n_classes): a class
       absent from both y_true and y_pred still has a row in per-class results and counts in
       the macro average (pass the number of classes the model has).
     - Empty input (n == 0) is an error (sklearn: "Found empty input array"); so are labels
       outside [0, n_classes) (TT_ERR_INDEX) and non-finite scores (TT_ERR_NONFINITE).
     - A metric that sklearn defines as NaN with a warning (ROC-AUC with one class in y_true,
       R^2 of one sample) gives NaN and a TT_LOG_WARN message, not an error.
   scikit-learn names: tt_accuracy accuracy_score, tt_top_k_accuracy top_k_accuracy_score,
   tt_confusion_matrix confusion_matrix, tt_precision_recall_fscore
   precision_recall_fscore_support (precision_score, recall_score, f1_score, fbeta_score),
   tt_balanced_accuracy balanced_accuracy_score, tt_roc_auc_binary / tt_roc_auc_ovr
   roc_auc_score, tt_average_precision_binary / _ovr average_precision_score, tt_log_loss
   log_loss, tt_mean_squared_error, tt_mean_absolute_error, tt_root_mean_squared_error, tt_r2
   r2_score, tt_classification_report classification_report. */
#ifndef TT_NO_STDIO
#include <stdio.h>
#endif

typedef enum tt_average {
    TT_AVERAGE_NONE = 0,      /* per class: outputs have n_classes entries */
    TT_AVERAGE_BINARY = 1,    /* the pos_label class only (n_classes must be 2) */
    TT_AVERAGE_MICRO = 2,     /* from the summed counts */
    TT_AVERAGE_MACRO = 3,     /* unweighted mean over classes (NaN entries skipped) */
    TT_AVERAGE_WEIGHTED = 4   /* mean weighted by support (NaN entries skipped) */
} tt_average;
/* sklearn zero_division: the value of a ratio with a zero denominator. WARN gives 0 and logs a
   warning (sklearn's default); ZERO / ONE / NAN give 0, 1, NaN silently. */
typedef enum tt_zero_division {
    TT_ZERO_DIVISION_WARN = 0,
    TT_ZERO_DIVISION_ZERO = 1,
    TT_ZERO_DIVISION_ONE = 2,
    TT_ZERO_DIVISION_NAN = 3
} tt_zero_division;

typedef struct tt_prf_opts {
    tt_average average;              /* default BINARY (sklearn average='binary') */
    int pos_label;                   /* default 1 (BINARY only) */
    double beta;                     /* default 1 (F1); +inf gives recall, 0 precision */
    tt_zero_division zero_division;  /* default WARN */
} tt_prf_opts;
/* sklearn's defaults: average BINARY, pos_label 1, beta 1, zero_division WARN. */
TT_API tt_prf_opts tt_prf_opts_init(void);

/* Fraction of y_pred[i] == y_true[i]. */
TT_API tt_result tt_accuracy(tt_ctx *ctx, const int *y_true, const int *y_pred, size_t n, double *out);
/* Fraction of samples whose true class is among the k highest scores of its row (scores
   n x n_classes). Ties as sklearn (a stable ascending sort, reversed): among equal scores the
   larger class id ranks higher. 1 <= k; k >= n_classes gives 1. */
TT_API tt_result tt_top_k_accuracy(tt_ctx *ctx, const int *y_true, const float *scores, size_t n, int n_classes,
                                   int k, double *out);
/* cm[t * n_classes + p] = number of samples with true class t predicted as p. */
TT_API tt_result tt_confusion_matrix(tt_ctx *ctx, const int *y_true, const int *y_pred, size_t n, int n_classes,
                                     size_t *cm);
/* Precision tp/(tp+fp), recall tp/(tp+fn), F-beta (1+b^2)tp/((1+b^2)tp + b^2 fn + fp) per
   class or averaged (opts->average). Each of precision, recall, fscore (n_classes entries with
   AVERAGE_NONE, else 1) and support (n_classes entries always: true count per class) may be
   NULL. opts NULL means tt_prf_opts_init(). O(n * n_classes) time, no workspace. */
TT_API tt_result tt_precision_recall_fscore(tt_ctx *ctx, const int *y_true, const int *y_pred, size_t n,
                                            int n_classes, const tt_prf_opts *opts, double *precision,
                                            double *recall, double *fscore, size_t *support);
/* Mean recall over the classes present in y_true (sklearn balanced_accuracy_score,
   adjusted=False; a predicted class absent from y_true is skipped with a warning). */
TT_API tt_result tt_balanced_accuracy(tt_ctx *ctx, const int *y_true, const int *y_pred, size_t n, int n_classes,
                                      double *out);

/* size_t elements of workspace for the ranking metrics on n samples (n). */
TT_API size_t tt_ranking_work_count(size_t n);
/* Binary ROC-AUC (y_true in {0, 1}, 1 positive; score: higher means positive). Tied scores
   form one threshold, so a positive and a negative with equal scores count 1/2 (the
   trapezoid of sklearn's roc_curve). One class only in y_true: NaN and a warning. */
TT_API tt_result tt_roc_auc_binary(tt_ctx *ctx, const int *y_true, const float *score, size_t n, size_t *work,
                                   double *out);
/* Average precision, sklearn's step sum AP = sum_k (R_k - R_{k-1}) P_k over the distinct
   thresholds from high to low (not the trapezoid). No positive: 0 (sklearn warns and sets
   recall to 1, which gives 0). */
TT_API tt_result tt_average_precision_binary(tt_ctx *ctx, const int *y_true, const float *score, size_t n,
                                             size_t *work, double *out);
/* One-vs-rest over n_classes >= 2 score columns, averaged with TT_AVERAGE_MACRO or _WEIGHTED
   (by class support; classes absent from y_true weigh 0). ROC-AUC requires each row of scores
   to sum to 1 (numpy allclose: |sum - 1| <= 1e-8 + 1e-5), as sklearn; a class absent from
   y_true makes the macro ROC-AUC NaN (with a warning), as sklearn. For average precision such a
   class scores 0 (sklearn's value on label_binarize(y_true, classes=range(n_classes)); its
   multiclass entry point raises an error instead). */
TT_API tt_result tt_roc_auc_ovr(tt_ctx *ctx, const int *y_true, const float *scores, size_t n, int n_classes,
                                tt_average average, size_t *work, double *out);
TT_API tt_result tt_average_precision_ovr(tt_ctx *ctx, const int *y_true, const float *scores, size_t n,
                                          int n_classes, tt_average average, size_t *work, double *out);
/* Mean of -log p[i, y_true[i]] over the rows of probs (n x n_classes, n_classes >= 2), each
   probability first clipped to [FLT_EPSILON, 1 - FLT_EPSILON] (sklearn >= 1.5 clips to the eps
   of the input dtype: float32 here). A value outside [0, 1] is an error; rows that do not sum
   to 1 (rtol sqrt(FLT_EPSILON)) only warn and are not renormalised, as sklearn 1.9. */
TT_API tt_result tt_log_loss(tt_ctx *ctx, const int *y_true, const float *probs, size_t n, int n_classes,
                             double *out);
/* Regression metrics over n values (sums in double). R^2 = 1 - SS_res / SS_tot; with a
   constant y_true it is 1 for a perfect prediction, else 0 (sklearn force_finite=True); one
   sample: NaN and a warning. */
TT_API tt_result tt_mean_squared_error(tt_ctx *ctx, const float *y_true, const float *y_pred, size_t n, double *out);
TT_API tt_result tt_mean_absolute_error(tt_ctx *ctx, const float *y_true, const float *y_pred, size_t n, double *out);
TT_API tt_result tt_root_mean_squared_error(tt_ctx *ctx, const float *y_true, const float *y_pred, size_t n,
                                            double *out);
TT_API tt_result tt_r2(tt_ctx *ctx, const float *y_true, const float *y_pred, size_t n, double *out);

/* Classification report, character for character sklearn's classification_report(y_true,
   y_pred, labels=range(n_classes), target_names, digits, zero_division):

                     precision    recall  f1-score   support

                  0       0.50      1.00      0.67         1
                  ...
           accuracy                           0.60         5
          macro avg       0.50      0.56      0.49         5
       weighted avg       0.70      0.60      0.61         5

   Numbers are rounded as Python's format() does (correctly rounded, ties to even). sklearn's
   own quirk is reproduced too: when no prediction at all is correct, its counts become floats
   and the support column reads "12.0". */
typedef struct tt_report_opts {
    const char *const *target_names;  /* n_classes names, or NULL for "0", "1", ... */
    int digits;                       /* default 2 (0..15) */
    tt_zero_division zero_division;   /* default WARN */
} tt_report_opts;
/* sklearn's defaults: names "0", "1", ..., 2 digits, zero_division WARN. */
TT_API tt_report_opts tt_report_opts_init(void);
/* Writes the report and a terminating NUL into buf (cap bytes); *len (if not NULL) receives
   its length without the NUL. buf NULL with cap 0 only computes *len. A buffer that is too
   small is an error (TT_ERR_INVALID_ARGS, naming the size needed) and buf is left unchanged.
   A target name may be up to 200 bytes. opts NULL means tt_report_opts_init(). */
TT_API tt_result tt_classification_report(tt_ctx *ctx, const int *y_true, const int *y_pred, size_t n,
                                          int n_classes, const tt_report_opts *opts, char *buf, size_t cap,
                                          size_t *len);
#ifndef TT_NO_STDIO
/* The same report written to a stdio stream, or to a file (created or truncated) at path;
   a failed open or write gives TT_ERR_IO with the path and reason. */
TT_API tt_result tt_classification_report_fprint(tt_ctx *ctx, FILE *f, const int *y_true, const int *y_pred,
                                                 size_t n, int n_classes, const tt_report_opts *opts);
TT_API tt_result tt_classification_report_save(tt_ctx *ctx, const char *path, const int *y_true,
                                               const int *y_pred, size_t n, int n_classes,
                                               const tt_report_opts *opts);
#endif

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
#if defined(TT_NO_MALLOC) && defined(TT_MALLOC)
#error "tinytrain: TT_NO_MALLOC leaves out the default allocator; do not define TT_MALLOC / TT_FREE with it"
#endif
#ifdef TT_NO_MALLOC /* never called: tt_ctx_init refuses a desc without memory or allocator */
#define TT_MALLOC(sz) ((void)(sz), (void *)0)
#define TT_FREE(p) ((void)(p))
#endif
#ifndef TT_MALLOC
#include <stdlib.h>
#define TT_MALLOC(sz) malloc(sz)
#define TT_FREE(p) free(p)
#endif

#include <string.h>
#include <stdlib.h> /* strtod (CSV reader) */
#include <math.h>
#include <float.h>
#ifndef TT_NO_STDIO
#include <stdio.h> /* only for the functions that take a file path */
#endif
#include <stdarg.h>

#if !defined(TT_NO_THREADS) && !(defined(__unix__) || defined(__APPLE__))
#define TT_NO_THREADS
#endif

#define TT__ALIGN 64
#define TT__MIN(a, b) ((a) < (b) ? (a) : (b))
#define TT__MAX(a, b) ((a) > (b) ? (a) : (b))

#if defined(__GNUC__) || defined(__clang__)
#define TT__MAYBE_UNUSED __attribute__((unused))
#else
#define TT__MAYBE_UNUSED
#endif
#ifdef TT_STATIC
#define TT__DEF static TT__MAYBE_UNUSED
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
    unsigned gen;                /* ctx->gen when recorded */
} tt__node;

/* tt_tensor.gen of parameters and buffers (never stale); 0 marks a freed scratch header. */
#define TT__GEN_PERSIST 0xFFFFFFFFu

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
    if (t->ndim < 0 || t->ndim > TT_MAX_DIMS) { tt__puts(b, "[?]"); return; } /* never trust a bad header */
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

static void tt__format(char *out, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    tt__vformat(out, cap, fmt, ap);
    va_end(ap);
}

static void tt__log(tt_ctx *ctx, tt_log_level level, tt_result code, const char *msg) {
    if (ctx && ctx->desc.log) ctx->desc.log(ctx->desc.log_user, level, code, msg);
}

/* Record an error (the first one sticks) and log it. Returns code. Every message starts with
   its site, the op or public function that fails ("%s: ..." with the op name, or
   "tt_ctx_init: ..."); the site is that leading identifier, kept for tt_error_site. */
static tt_result tt__fail(tt_ctx *ctx, tt_result code, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    if (!ctx) return code;
    va_start(ap, fmt);
    tt__vformat(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ctx->err == TT_OK) {
        size_t i = 0;
        ctx->err = code;
        memcpy(ctx->err_msg, msg, sizeof msg);
        while (i + 1 < sizeof ctx->err_site &&
               ((msg[i] >= 'a' && msg[i] <= 'z') || (msg[i] >= 'A' && msg[i] <= 'Z') ||
                (msg[i] >= '0' && msg[i] <= '9') || msg[i] == '_')) {
            ctx->err_site[i] = msg[i];
            i++;
        }
        ctx->err_site[i] = 0;
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

/* 1 if v is finite (not NaN, not +-inf); floats convert exactly, so this serves both types. */
static int tt__finite(double v) { return v - v == 0.0; }

static int tt__all_finite(const float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (!(x[i] - x[i] == 0.0f)) return 0;
    return 1;
}

/* lo <= v <= hi for an enum read from the user. A function, not an inline comparison, because
   compilers with short enums (-fshort-enums, ARM EABI) warn that "(int)e < 0" is always false. */
static int tt__in_range(int v, int lo, int hi) { return v >= lo && v <= hi; }

/* ---- small numeric kernels shared by the ops (math, nn, loss) ---- */

/* sigmoid as torch's CPU kernel computes it; exp overflow gives 0 or 1, never NaN. */
static float tt__sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* Softmax (log_form 0) or log-softmax (1) of the n values x[0], x[stride], ... into y at the
   same positions; y may be x. The row max is subtracted first so exp never overflows (a NaN
   anywhere makes the row NaN); the sum is accumulated in double. */
static void tt__softmax_row(const float *x, float *y, size_t n, size_t stride, int log_form) {
    float m = -INFINITY, log_s;
    double s = 0;
    size_t j;
    for (j = 0; j < n; j++) {
        float v = x[j * stride];
        if (v > m || v != v) m = v;
    }
    for (j = 0; j < n; j++) {
        float e = expf(x[j * stride] - m);
        s += e;
        if (!log_form) y[j * stride] = e;
    }
    if (log_form) {
        log_s = (float)log(s);
        for (j = 0; j < n; j++) y[j * stride] = (x[j * stride] - m) - log_s;
    } else {
        for (j = 0; j < n; j++) y[j * stride] = (float)((double)y[j * stride] / s);
    }
}

/* Backward of tt__softmax_row given its output y and the gradient dy (same layout):
     softmax:      dx = y * (dy - sum(dy * y))
     log_softmax:  dx = dy - exp(y) * sum(dy)
   added into dx when accumulate, else stored (then dx may be dy). */
static void tt__softmax_row_backward(const float *y, const float *dy, float *dx, size_t n, size_t stride, int log_form,
                                     int accumulate) {
    double s = 0;
    size_t j;
    for (j = 0; j < n; j++) s += log_form ? (double)dy[j * stride] : (double)dy[j * stride] * (double)y[j * stride];
    for (j = 0; j < n; j++) {
        size_t at = j * stride;
        float g = log_form ? dy[at] - expf(y[at]) * (float)s : y[at] * (dy[at] - (float)s);
        if (accumulate) dx[at] += g;
        else dx[at] = g;
    }
}

/* log(sum_j exp(x[j * stride])) over n values, all in double (max subtracted first). */
static double tt__logsumexp_d(const float *x, size_t n, size_t stride) {
    double m = -INFINITY, z = 0;
    size_t j;
    for (j = 0; j < n; j++)
        if (x[j * stride] > m) m = x[j * stride];
    for (j = 0; j < n; j++) z += exp((double)x[j * stride] - m);
    return m + log(z);
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

/* Four bits at a time with a 16-entry table computed from the polynomial (no global state). */
TT__DEF uint32_t tt_crc32(uint32_t crc, const void *data, size_t n) {
    static const uint32_t t[16] = {0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
                                   0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
                                   0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};
    const unsigned char *p = (const unsigned char *)data;
    size_t i;
    crc = ~crc;
    for (i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ t[crc & 15u];
        crc = (crc >> 4) ^ t[crc & 15u];
    }
    return ~crc;
}

/* ---- floating-point mode: flush-to-zero / denormals-are-zero (tt_desc.flush_denormals) ----
   tt__fp_enter(ctx) sets FTZ|DAZ when the context asks for it and returns the previous mode;
   tt__fp_leave(ctx, saved) puts that mode back. Pairs nest (an inner pair restores the mode the
   outer one set). With the flag off both do nothing, so default results never depend on this. */
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(__TINYC__)
#include <xmmintrin.h>
#define TT__FP_FLUSH 1
static unsigned long long tt__fp_get(void) { return _mm_getcsr(); }
static void tt__fp_set(unsigned long long m) { _mm_setcsr((unsigned)m); }
/* back to the saved control bits, keeping the exception flags (bits 0-5) raised meanwhile */
static void tt__fp_restore(unsigned long long m) { _mm_setcsr(((unsigned)m & ~0x3fu) | (_mm_getcsr() & 0x3fu)); }
static unsigned long long tt__fp_flush_bits(unsigned long long m) { return m | 0x8040u; } /* FTZ bit 15, DAZ bit 6 */
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#define TT__FP_FLUSH 1
static unsigned long long tt__fp_get(void) {
    unsigned long long m;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(m));
    return m;
}
static void tt__fp_set(unsigned long long m) { __asm__ __volatile__("msr fpcr, %0" : : "r"(m)); }
static void tt__fp_restore(unsigned long long m) { tt__fp_set(m); } /* FPCR holds no flags (FPSR does) */
static unsigned long long tt__fp_flush_bits(unsigned long long m) { return m | (1ull << 24); } /* FPCR.FZ */
#endif

TT__DEF int tt_fp_flush_supported(void) {
#ifdef TT__FP_FLUSH
    return 1;
#else
    return 0;
#endif
}

static unsigned long long tt__fp_enter_flag(int flush) {
#ifdef TT__FP_FLUSH
    unsigned long long m;
    if (!flush) return 0;
    m = tt__fp_get();
    tt__fp_set(tt__fp_flush_bits(m));
    return m;
#else
    (void)flush;
    return 0;
#endif
}
static void tt__fp_leave_flag(int flush, unsigned long long saved) {
#ifdef TT__FP_FLUSH
    if (flush) tt__fp_restore(saved);
#else
    (void)flush; (void)saved;
#endif
}
#define tt__fp_enter(ctx) tt__fp_enter_flag((ctx) && (ctx)->desc.flush_denormals)
#define tt__fp_leave(ctx, saved) tt__fp_leave_flag((ctx) && (ctx)->desc.flush_denormals, saved)

/* ---- little-endian bytes (files and buffers: checkpoints, optimizer state, safetensors) ---- */
static void tt__put16(unsigned char *p, unsigned v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void tt__put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}
static void tt__put64(unsigned char *p, uint64_t v) { tt__put32(p, (uint32_t)v); tt__put32(p + 4, (uint32_t)(v >> 32)); }
static unsigned tt__get16(const unsigned char *p) { return (unsigned)p[0] | ((unsigned)p[1] << 8); }
static uint32_t tt__get32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t tt__get64(const unsigned char *p) { return (uint64_t)tt__get32(p) | ((uint64_t)tt__get32(p + 4) << 32); }
static uint64_t tt__f64_bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static double tt__bits_f64(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }

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
static tt_result tt__bk_zero(tt_ctx *ctx, void *p, size_t bytes);  /* >>backend */
static tt_result tt__bk_push(tt_ctx *ctx, void *p, size_t bytes);  /* >>backend */
static int tt__bk_allows(tt_ctx *ctx, const char *op);             /* >>backend */
static tt_tensor *tt__bk_op(tt_ctx *ctx, tt_tensor *y, int op, tt_tensor *a, tt_tensor *b, tt_tensor *c, int i0); /* >>backend */
static tt_tensor *tt__bk_forward(tt_ctx *ctx, tt_tensor *y, tt_backend_call *c);                                 /* >>backend */
static tt_tensor *tt__bk_embedding(tt_ctx *ctx, tt_tensor *y, tt_tensor *w, const int *ids, size_t count);       /* >>backend */
static double *tt__bk_grad_norm(tt_ctx *ctx, const char *op, tt_tensor **list, int count, int kind, int lamb, double max_norm,
                                size_t extra); /* >>backend */
static tt_tensor *tt__bk_index_select(tt_ctx *ctx, tt_tensor *y, tt_tensor *x, int axis, const int *ids, size_t count); /* >>backend */

static void tt__resolve_desc(tt_desc *d, const tt_desc *in) {
    *d = *in;
    if (!d->max_params) d->max_params = (size_t)1 << 20;
    if (!d->max_param_tensors) d->max_param_tensors = 256;
    if (!d->persist_bytes) d->persist_bytes = (size_t)16 << 20;
    if (!d->scratch_bytes) d->scratch_bytes = (size_t)64 << 20;
    if (d->threads <= 0) d->threads = 1;
}

TT__DEF tt_desc tt_desc_init(void) {
    tt_desc zero, d;
    memset(&zero, 0, sizeof zero);
    tt__resolve_desc(&d, &zero);
    return d;
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
    if (desc->threads < 0 || desc->threads > TT_MAX_THREADS || desc->max_param_tensors < 0 ||
        (unsigned)desc->kernel >= (unsigned)TT_KERNEL_COUNT_)
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
    if (desc->threads < 0 || desc->threads > TT_MAX_THREADS)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_ctx_init: threads must be 0..%d (TT_MAX_THREADS; 0 means 1), got %d",
                        TT_MAX_THREADS, desc->threads);
    if (desc->max_param_tensors < 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_ctx_init: max_param_tensors must be >= 0");
    if ((unsigned)desc->kernel >= (unsigned)TT_KERNEL_COUNT_)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_ctx_init: unknown kernel %d", (int)desc->kernel);
    if ((desc->allocator.alloc == NULL) != (desc->allocator.free == NULL))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_ctx_init: allocator needs both alloc and free");
    if (desc->flush_denormals != 0 && desc->flush_denormals != 1)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_ctx_init: flush_denormals must be 0 or 1, got %d", desc->flush_denormals);
    if (desc->flush_denormals && !tt_fp_flush_supported())
        return tt__fail(ctx, TT_ERR_UNSUPPORTED, "tt_ctx_init: flush_denormals is not available on this CPU or compiler "
                                                 "(x86-64 and aarch64 only)");
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
#ifdef TT_NO_MALLOC
        if (!desc->allocator.alloc)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_ctx_init: built with TT_NO_MALLOC, so desc.memory or desc.allocator is needed");
#endif
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
    ctx->gen = 1;
    ctx->grads_zero = 1;
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
    if (ctx->backend && ctx->backend->release) ctx->backend->release(ctx);
    ctx->backend = NULL;
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
TT__DEF const char *tt_error_site(const tt_ctx *ctx) { return ctx ? ctx->err_site : ""; }
TT__DEF void tt_clear_error(tt_ctx *ctx) {
    if (!ctx) return;
    ctx->err = TT_OK;
    ctx->err_msg[0] = 0;
    ctx->err_site[0] = 0;
}

/* ==================================================================================== >>tensor */

/* Stale-tensor detection. Every tensor header carries the context that made it (owner) and a
   generation (gen): parameters and buffers TT__GEN_PERSIST, scratch tensors ctx->gen of the step
   that made them. tt_scratch_reset bumps ctx->gen, so every older scratch tensor stops matching;
   tt_scratch_rewind sets gen 0 in each header above its mark (it walks the list of the step's
   headers, newest first, as it drops tape nodes). A header in this context's scratch region must
   lie below the fill level and match both; anything else must be a parameter or buffer of this
   context. The header fields are only compared (never trusted) until the check passes, and the
   scratch block stays mapped, so a stale pointer is refused with a message instead of being read.
   One limit: a pointer equal to a tensor made in the current step names that tensor. */
static int tt__live(const tt_ctx *ctx, const tt_tensor *t) {
    uintptr_t p = (uintptr_t)t, b = (uintptr_t)ctx->scratch.base;
    if (p - b < ctx->scratch.size)
        return p - b + sizeof *t <= ctx->scratch.used && t->gen == ctx->gen && t->owner == ctx;
    return t->gen == TT__GEN_PERSIST && t->owner == ctx;
}

/* The error for a tensor that fails tt__live (its header is not read). */
static int tt__stale(tt_ctx *ctx, const char *op, const tt_tensor *t) {
    uintptr_t p = (uintptr_t)t, b = (uintptr_t)ctx->scratch.base;
    if (p - b < ctx->scratch.size)
        tt__fail(ctx, TT_ERR_STATE, "%s: a tensor from an earlier step was given (its memory was freed by "
                                    "tt_scratch_reset or tt_scratch_rewind); make it again in this step", op);
    else
        tt__fail(ctx, TT_ERR_STATE, "%s: a tensor that this context did not make was given (from another context, "
                                    "or not made by tinytrain)", op);
    return 0;
}

/* Input check: returns 1 if usable. A NULL input after an earlier error is silent; a tensor from
   an earlier step or another context is TT_ERR_STATE (tt__live). */
static int tt__in(tt_ctx *ctx, const char *op, const tt_tensor *t) {
    if (!ctx) return 0;
    if (t) return tt__live(ctx, t) ? 1 : tt__stale(ctx, op, t);
    if (ctx->err == TT_OK) tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: input is NULL", op);
    return 0;
}

/* An optional input: NULL is fine, anything else must pass tt__in. */
static int tt__in_opt(tt_ctx *ctx, const char *op, const tt_tensor *t) { return !t || tt__in(ctx, op, t); }

TT__DEF size_t tt_shape_numel(int ndim, const int *shape) {
    size_t n = 1;
    int i;
    for (i = 0; i < ndim; i++) {
        if (shape[i] <= 0) return 0;
        if (!tt__mul_ok(n, (size_t)shape[i], &n)) n = (size_t)-1; /* saturate (a later 0 still gives 0) */
    }
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
    int i, zero = 0;
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
        if (!shape[i]) zero = 1;
        else if (!tt__mul_ok(n, (size_t)shape[i], &n) || n > (size_t)-1 / sizeof(float)) {
            tt__fail(ctx, TT_ERR_SHAPE, "%s: shape too large (dimensions %d and before multiply past %z elements)", op, i,
                     (size_t)-1 / sizeof(float));
            return 0;
        }
    }
    /* An empty shape (a 0 dimension) needs no memory, but ops loop over its other dimensions:
       they must multiply to at most the floats the largest region holds, so that no loop over
       an empty tensor runs longer than one over a full tensor (and partial products fit). */
    if (zero) {
        size_t most = TT__MAX(TT__MAX(ctx->desc.scratch_bytes, ctx->desc.persist_bytes) / sizeof(float), ctx->desc.max_params);
        if (n > most) {
            tt__fail(ctx, TT_ERR_SHAPE, "%s: empty shape too large: its nonzero dimensions multiply to %z elements, more "
                                        "than any memory region of the context holds (%z floats)", op, n, most);
            return 0;
        }
    }
    *numel = zero ? 0 : n;
    return 1;
}

/* Resolve an axis (or dim) given by the user: -ndim..ndim-1 -> 0..ndim-1 in *out. what names
   the argument in the message; x (may be NULL) is the input whose shape the message shows.
   A bad axis is always TT_ERR_INVALID_ARGS. */
static int tt__axis(tt_ctx *ctx, const char *op, const char *what, int axis, int ndim, const tt_tensor *x, int *out) {
    if (axis >= -ndim && axis < ndim) {
        *out = axis < 0 ? axis + ndim : axis;
        return 1;
    }
    if (ndim <= 0)
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: %s %d given for a tensor with no dimensions", op, what, axis);
    else if (x)
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: %s %d out of range -%d..%d for input of shape %S", op, what, axis, ndim,
                 ndim - 1, x);
    else
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: %s %d out of range -%d..%d", op, what, axis, ndim, ndim - 1);
    return 0;
}

/* View x as (outer, n, inner) around axis ax: n = shape[ax], outer the product of the dims
   before it, inner of the dims after it, so element (o, j, k) is x[(o * n + j) * inner + k].
   ax < 0 (or a 0-dim x) views all elements as one run: outer = inner = 1, n = numel. */
static void tt__axis_split(const tt_tensor *x, int ax, size_t *outer, size_t *n, size_t *inner) {
    int d;
    if (ax < 0 || x->ndim == 0) {
        *outer = 1; *n = x->numel; *inner = 1;
        return;
    }
    *outer = 1; *inner = 1;
    for (d = 0; d < ax; d++) *outer *= (size_t)x->shape[d];
    for (d = ax + 1; d < x->ndim; d++) *inner *= (size_t)x->shape[d];
    *n = (size_t)x->shape[ax];
}

/* An optional per-channel tensor (weight, bias) of input x: NULL or 1-D of n elements. */
static int tt__vec_ok(tt_ctx *ctx, const char *op, const char *what, const tt_tensor *t, const tt_tensor *x, int n) {
    if (!t) return 1;
    if (!tt__in(ctx, op, t)) return 0;
    if (t->ndim == 1 && t->shape[0] == n) return 1;
    tt__fail(ctx, TT_ERR_SHAPE, "%s: %s %S must have shape [%d] for input %S", op, what, t, n, x);
    return 0;
}

/* A zeroed scratch tensor header, stamped with the current step and linked into the list of
   the step's headers (so tt_scratch_rewind can mark those above its mark as freed). */
static tt_tensor *tt__header(tt_ctx *ctx, const char *op) {
    tt_tensor *t = (tt_tensor *)tt__scratch(ctx, op, sizeof(tt_tensor));
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->gen = ctx->gen;
    t->owner = ctx;
    t->older = ctx->scratch_last;
    ctx->scratch_last = t;
    return t;
}

/* A scratch tensor header + data (uninitialised data unless zero). */
static tt_tensor *tt__tensor_alloc(tt_ctx *ctx, const char *op, int ndim, const int *shape, int zero) {
    tt_tensor *t;
    size_t numel;
    int i;
    if (!tt__check_shape(ctx, op, ndim, shape, &numel)) return NULL;
    t = tt__header(ctx, op);
    if (!t) return NULL;
    t->data = tt__scratch_floats(ctx, op, numel ? numel : 1);
    if (!t->data) {
        t->gen = 0; /* a half-made header is never live (a kept pointer to its address is refused) */
        return NULL;
    }
    if (zero && tt__bk_zero(ctx, t->data, numel * sizeof(float)) != TT_OK) {
        t->gen = 0;
        return NULL;
    }
    t->ndim = ndim;
    for (i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    return t;
}

static tt_result tt__ensure_grad(tt_ctx *ctx, const char *op, tt_tensor *t) {
    if (t->grad) return TT_OK;
    t->grad = tt__scratch_floats(ctx, op, t->numel ? t->numel : 1);
    if (!t->grad) return ctx->err;
    return tt__bk_zero(ctx, t->grad, t->numel * sizeof(float));
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
    if (t && tt__bk_push(ctx, t->data, t->numel * sizeof(float)) != TT_OK) return NULL;
    return t;
}

TT__DEF tt_tensor *tt_scalar(tt_ctx *ctx, float value) {
    tt_tensor *t;
    if (!ctx) return NULL;
    t = tt__tensor_alloc(ctx, "tt_scalar", 0, NULL, 0);
    if (t) t->data[0] = value;
    if (t && tt__bk_push(ctx, t->data, sizeof(float)) != TT_OK) return NULL;
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
    if (!tt__in(ctx, "tt_requires_grad", t)) return NULL;
    /* the grad may lie above a tt_scratch_mark taken after t was made: tt__rewind must then
       look at the older headers too */
    if (!t->grad) ctx->late_grads = 1;
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
    if (!tt__in(ctx, "tt_detach", t)) return NULL;
    d = tt__header(ctx, "tt_detach");
    if (!d) return NULL;
    d->data = t->data;
    d->ndim = t->ndim;
    memcpy(d->shape, t->shape, sizeof d->shape);
    d->numel = t->numel;
    d->grad = NULL;
    d->node = NULL;
    d->flags = TT_VIEW;
    d->name = NULL;
    return d;
}

TT__DEF tt_tensor *tt_clone(tt_ctx *ctx, tt_tensor *t) {
    if (!ctx || !tt__in(ctx, "tt_clone", t)) {
        if (ctx && !t && ctx->err == TT_OK) tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_clone: tensor is NULL");
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
    if (tt__bk_push(ctx, t->data, numel * sizeof(float)) != TT_OK || tt__bk_push(ctx, t->grad, numel * sizeof(float)) != TT_OK)
        return NULL;
    t->ndim = ndim;
    for (i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    t->flags = TT_REQUIRES_GRAD | TT_PARAM;
    t->gen = TT__GEN_PERSIST;
    t->owner = ctx;
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
    if (tt__bk_push(ctx, t->data, numel * sizeof(float)) != TT_OK) return NULL;
    t->ndim = ndim;
    for (i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    t->name = name;
    t->gen = TT__GEN_PERSIST;
    t->owner = ctx;
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
    if (!tt__live(ctx, t)) {
        tt__stale(ctx, op, t);
        return TT_ERR_STATE;
    }
    return TT_OK;
}

TT__DEF tt_result tt_init_const(tt_ctx *ctx, tt_tensor *t, float value) {
    size_t i;
    tt_result r = tt__check_init(ctx, "tt_init_const", t);
    if (r != TT_OK) return r;
    for (i = 0; i < t->numel; i++) t->data[i] = value;
    return tt__bk_push(ctx, t->data, t->numel * sizeof(float));
}

TT__DEF tt_result tt_init_uniform(tt_ctx *ctx, tt_tensor *t, float lo, float hi) {
    size_t i;
    tt_result r = tt__check_init(ctx, "tt_init_uniform", t);
    if (r != TT_OK) return r;
    if (!(lo <= hi)) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_init_uniform: need lo <= hi, got %g and %g", (double)lo, (double)hi);
    for (i = 0; i < t->numel; i++) t->data[i] = lo + (hi - lo) * tt_rng_uniform(&ctx->rng);
    return tt__bk_push(ctx, t->data, t->numel * sizeof(float));
}

TT__DEF tt_result tt_init_normal(tt_ctx *ctx, tt_tensor *t, float mean, float std) {
    size_t i;
    tt_result r = tt__check_init(ctx, "tt_init_normal", t);
    if (r != TT_OK) return r;
    if (!(std >= 0)) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_init_normal: std must be >= 0, got %g", (double)std);
    for (i = 0; i < t->numel; i++) t->data[i] = mean + std * tt_rng_normal(&ctx->rng);
    return tt__bk_push(ctx, t->data, t->numel * sizeof(float));
}

/* torch.nn.init._calculate_fan_in_and_fan_out */
TT__DEF tt_result tt_init_fans(const tt_tensor *t, int *fan_in, int *fan_out) {
    size_t rf = 1, fi, fo;
    int d;
    if (!t || !fan_in || !fan_out) return TT_ERR_INVALID_ARGS;
    if (t->ndim < 2) return TT_ERR_SHAPE;
    for (d = 2; d < t->ndim; d++) rf *= (size_t)t->shape[d];
    fi = (size_t)t->shape[1] * rf;
    fo = (size_t)t->shape[0] * rf;
    if (fi > 0x7fffffffu || fo > 0x7fffffffu) return TT_ERR_SHAPE;
    *fan_in = (int)fi;
    *fan_out = (int)fo;
    return TT_OK;
}

TT__DEF double tt_calculate_gain(tt_nonlinearity nonlinearity, double param) {
    switch (nonlinearity) {
    case TT_NONLIN_LINEAR: case TT_NONLIN_SIGMOID: return 1.0;
    case TT_NONLIN_TANH: return 5.0 / 3.0;
    case TT_NONLIN_RELU: return sqrt(2.0);
    case TT_NONLIN_LEAKY_RELU: return sqrt(2.0 / (1.0 + param * param));
    case TT_NONLIN_SELU: return 3.0 / 4.0;
    }
    return 1.0;
}

TT__DEF tt_xavier_opts tt_xavier_opts_init(void) {
    tt_xavier_opts o;
    o.gain = 1.0;
    return o;
}
TT__DEF tt_kaiming_opts tt_kaiming_opts_init(void) {
    tt_kaiming_opts o;
    o.a = 0.0;
    o.mode = TT_FAN_IN;
    o.nonlinearity = TT_NONLIN_LEAKY_RELU;
    return o;
}

/* The fans of t for initialiser op; sets the error when t has none. */
static tt_result tt__init_fans(tt_ctx *ctx, const char *op, tt_tensor *t, int *fan_in, int *fan_out) {
    tt_result r = tt__check_init(ctx, op, t);
    if (r != TT_OK) return r;
    if (tt_init_fans(t, fan_in, fan_out) != TT_OK)
        return tt__fail(ctx, TT_ERR_SHAPE, "%s: fan in and fan out need a tensor of at least 2 dims, got %S", op, t);
    return TT_OK;
}

TT__DEF tt_result tt_init_torch_default(tt_ctx *ctx, tt_tensor *weight, tt_tensor *bias) {
    const char *op = "tt_init_torch_default";
    int fi = 0, fo = 0;
    double bound;
    tt_result r = tt__init_fans(ctx, op, weight, &fi, &fo);
    if (r != TT_OK) return r;
    if (fi == 0) return tt__fail(ctx, TT_ERR_SHAPE, "%s: weight %S has fan_in 0", op, weight);
    /* kaiming_uniform_(a = sqrt(5)): gain sqrt(2 / 6), bound = sqrt(3) * gain / sqrt(fan_in) */
    bound = sqrt(3.0) * (sqrt(2.0 / 6.0) / sqrt((double)fi));
    r = tt_init_uniform(ctx, weight, (float)-bound, (float)bound);
    if (r != TT_OK || !bias) return r;
    bound = 1.0 / sqrt((double)fi);
    return tt_init_uniform(ctx, bias, (float)-bound, (float)bound);
}

TT__DEF tt_result tt_init_xavier_uniform(tt_ctx *ctx, tt_tensor *t, const tt_xavier_opts *opts) {
    const char *op = "tt_init_xavier_uniform";
    tt_xavier_opts o = opts ? *opts : tt_xavier_opts_init();
    int fi, fo;
    double a;
    tt_result r = tt__init_fans(ctx, op, t, &fi, &fo);
    if (r != TT_OK) return r;
    if (fi + fo == 0 || !(o.gain >= 0) || !tt__finite(o.gain))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: need fan_in + fan_out > 0 and a finite gain >= 0 (tensor %S, "
                        "gain %g)", op, t, o.gain);
    a = sqrt(3.0) * (o.gain * sqrt(2.0 / (double)(fi + fo)));
    return tt_init_uniform(ctx, t, (float)-a, (float)a);
}

/* kaiming std, or an error */
static tt_result tt__kaiming_std(tt_ctx *ctx, const char *op, tt_tensor *t, const tt_kaiming_opts *opts, double *std) {
    tt_kaiming_opts o = opts ? *opts : tt_kaiming_opts_init();
    int fi, fo, fan;
    tt_result r = tt__init_fans(ctx, op, t, &fi, &fo);
    if (r != TT_OK) return r;
    if (!tt__in_range((int)o.mode, TT_FAN_IN, TT_FAN_OUT) ||
        !tt__in_range((int)o.nonlinearity, TT_NONLIN_LINEAR, TT_NONLIN_SELU) || !tt__finite(o.a))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: unknown mode %d or nonlinearity %d, or a non-finite a", op,
                        (int)o.mode, (int)o.nonlinearity);
    fan = o.mode == TT_FAN_IN ? fi : fo;
    if (fan == 0) return tt__fail(ctx, TT_ERR_SHAPE, "%s: tensor %S has fan 0 in the chosen mode", op, t);
    *std = tt_calculate_gain(o.nonlinearity, o.a) / sqrt((double)fan);
    return TT_OK;
}

TT__DEF tt_result tt_init_kaiming_normal(tt_ctx *ctx, tt_tensor *t, const tt_kaiming_opts *opts) {
    double std = 0;
    tt_result r = tt__kaiming_std(ctx, "tt_init_kaiming_normal", t, opts, &std);
    return r != TT_OK ? r : tt_init_normal(ctx, t, 0.0f, (float)std);
}

TT__DEF tt_result tt_init_kaiming_uniform(tt_ctx *ctx, tt_tensor *t, const tt_kaiming_opts *opts) {
    double std = 0, b;
    tt_result r = tt__kaiming_std(ctx, "tt_init_kaiming_uniform", t, opts, &std);
    if (r != TT_OK) return r;
    b = sqrt(3.0) * std;
    return tt_init_uniform(ctx, t, (float)-b, (float)b);
}

TT__DEF tt_result tt_tensor_set(tt_ctx *ctx, tt_tensor *t, const float *data, size_t n) {
    tt_result r = tt__check_init(ctx, "tt_tensor_set", t);
    if (r != TT_OK) return r;
    if (!data) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_tensor_set: data is NULL");
    if (n != t->numel) return tt__fail(ctx, TT_ERR_SHAPE, "tt_tensor_set: %z values for a tensor of shape %S", n, t);
    memcpy(t->data, data, n * sizeof(float));
    return tt__bk_push(ctx, t->data, n * sizeof(float));
}

/* ==================================================================================== >>autograd
   How an op is written (see tt_relu for the smallest example):
     1. validate inputs with tt__in(): NULL after an error propagates silently, a tensor from an
        earlier step or another context is refused (TT_ERR_STATE); optional inputs: tt__in_opt();
     2. y = tt__out(ctx, op, ndim, shape, a, b, c): allocates y (uninitialised data) and,
        when grad mode is on and one of the inputs a, b, c (NULL for unused) requires grad, a
        zeroed y->grad and a tape node (tt__out_n takes an array of any length);
     3. compute y->data; if y->node, save what backward needs in y->node->i / f / saved and set
        y->node->backward;
     4. return tt__done(ctx, y) (anomaly check).
   A backward function reads n->out->grad and ADDS into n->in[k]->grad where that is non-NULL. */

/* tt__in (input check, with the stale-tensor test) is in >>tensor. */

static int tt__needs_grad(const tt_ctx *ctx, const tt_tensor *t) {
    return ctx->grad_enabled && t && (t->flags & TT_REQUIRES_GRAD);
}

/* Put y on the tape as the output of op when grad mode is on and an input requires grad:
   allocates a zeroed y->grad and the node. in: the n_in inputs gradients may flow to (NULL
   allowed); n_in may exceed TT__MAX_IN (concat): then the array is kept in node->ins.
   Returns 0 only when out of scratch memory. */
static int tt__record(tt_ctx *ctx, const char *op, tt_tensor *y, int n_in, tt_tensor **in) {
    tt__node *n;
    int k, track = 0;
    for (k = 0; k < n_in; k++) track |= tt__needs_grad(ctx, in[k]);
    if (!track) return 1;
    n = (tt__node *)tt__scratch(ctx, op, sizeof(tt__node));
    if (!n || tt__ensure_grad(ctx, op, y) != TT_OK) return 0;
    memset(n, 0, sizeof *n);
    n->op = op;
    n->gen = ctx->gen;
    n->out = y;
    for (k = 0; k < n_in && k < TT__MAX_IN; k++) n->in[k] = in[k];
    if (n_in > TT__MAX_IN) {
        n->ins = (tt_tensor **)tt__scratch(ctx, op, sizeof(tt_tensor *) * (size_t)n_in);
        if (!n->ins) return 0;
        memcpy(n->ins, in, sizeof(tt_tensor *) * (size_t)n_in);
    }
    n->n_ins = n_in;
    n->prev = ctx->tape_last;
    ctx->tape_last = n;
    ctx->n_nodes++;
    y->node = n;
    y->flags |= TT_REQUIRES_GRAD;
    return 1;
}

/* Allocate an op output (uninitialised data) and record it (tt__record). */
static tt_tensor *tt__out_n(tt_ctx *ctx, const char *op, int ndim, const int *shape, int n_in, tt_tensor **in) {
    tt_tensor *y = tt__bk_allows(ctx, op) ? tt__tensor_alloc(ctx, op, ndim, shape, 0) : NULL;
    if (!y || !tt__record(ctx, op, y, n_in, in)) return NULL;
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
    if (y && ctx->anomaly && ctx->backend) {
        tt__fail(ctx, TT_ERR_UNSUPPORTED, "anomaly mode does not run on the %s backend", ctx->backend->name);
        return NULL;
    }
    if (y && ctx->anomaly && !tt__all_finite(y->data, y->numel)) {
        tt__fail(ctx, TT_ERR_NONFINITE, "%s: anomaly mode: the op produced NaN/Inf in its output of shape %S",
                 y->node ? y->node->op : "anomaly", y);
        return NULL;
    }
    return y;
}

TT__DEF void tt_scratch_reset(tt_ctx *ctx) {
    if (!ctx) return;
    ctx->scratch.used = 0;
    ctx->tape_last = NULL;
    ctx->n_nodes = 0;
    ctx->scratch_last = NULL;
    ctx->late_grads = 0;
    /* every scratch tensor made so far stops matching (0 and TT__GEN_PERSIST are never a step) */
    if (++ctx->gen == TT__GEN_PERSIST) ctx->gen = 1;
}

TT__DEF size_t tt_scratch_mark(const tt_ctx *ctx) { return ctx ? ctx->scratch.used : 0; }

/* Rewind scratch to mark (<= used): tape nodes and tensor headers above it are dropped, and each
   dropped header is marked freed (gen 0), so a pointer kept to it is refused (tt__live). late:
   also drop grads that tt_requires_grad took above the mark for older tensors. */
static void tt__rewind(tt_ctx *ctx, size_t mark, int late) {
    unsigned char *top = ctx->scratch.base + mark;
    tt_tensor *t;
    while (ctx->scratch_last && (unsigned char *)ctx->scratch_last >= top) {
        ctx->scratch_last->gen = 0;
        ctx->scratch_last = ctx->scratch_last->older;
    }
    /* an older tensor whose grad (tt_requires_grad) was taken above the mark loses it */
    if (late && ctx->late_grads)
        for (t = ctx->scratch_last; t; t = t->older)
            if (t->grad && (unsigned char *)t->grad >= top && (unsigned char *)t->grad < ctx->scratch.base + ctx->scratch.size) {
                t->grad = NULL;
                t->flags &= ~(unsigned)TT_REQUIRES_GRAD;
            }
    ctx->scratch.used = mark;
    /* drop tape nodes that lived above the mark */
    while (ctx->tape_last && (size_t)((unsigned char *)ctx->tape_last - ctx->scratch.base) >= mark) {
        ctx->tape_last = ctx->tape_last->prev;
        ctx->n_nodes--;
    }
}

TT__DEF void tt_scratch_rewind(tt_ctx *ctx, size_t mark) {
    if (!ctx || mark > ctx->scratch.used) return;
    tt__rewind(ctx, mark, 1);
}

/* 1 if node n is on the current tape (not dropped by tt_scratch_rewind / tt_scratch_reset). */
static int tt__on_tape(const tt_ctx *ctx, const tt__node *n) {
    const tt__node *m;
    for (m = ctx->tape_last; m; m = m->prev)
        if (m == n) return 1;
    return 0;
}

/* Runs the backward functions from node `from` down the tape. Each backward may take scratch for
   temporaries: the arena is rewound to its level before the call afterwards, so temporaries never
   pile up and a backward can never free a tape node (all nodes lie below that level). Grad mode
   is off meanwhile, so a backward that calls an op records nothing onto the tape being walked. */
/* Private bit of tt_tensor.flags on op outputs: a backward pass may have written into the grad
   since tt__record allocated it zeroed (see tt_backward_seed). */
enum { TT__GRAD_WRITTEN = 1 << 30 };

static tt_result tt__run_backward(tt_ctx *ctx, tt__node *from) {
    tt__node *n, *at = NULL;
    int grad_was = ctx->grad_enabled;
    tt_result r = TT_OK;
    ctx->grad_enabled = 0;
    for (n = from; n && r == TT_OK; n = n->prev) {
        at = n;
        size_t mark = ctx->scratch.used;
        int k;
        if (!n->backward) continue; /* an op that failed half-way */
        n->backward(ctx, n);
        tt__rewind(ctx, mark, 0); /* backward functions allocate no grads */
        if ((r = ctx->err) != TT_OK || !ctx->anomaly) continue;
        for (k = 0; k < n->n_ins && r == TT_OK; k++) {
            tt_tensor *x = tt__node_in(n, k);
            if (x && x->grad && !tt__all_finite(x->grad, x->numel))
                r = tt__fail(ctx, TT_ERR_NONFINITE,
                             "%s: anomaly mode: the backward of op '%s' produced NaN/Inf in the gradient of input "
                             "%d (shape %S)", n->op, n->op, k, x);
        }
    }
    ctx->grad_enabled = grad_was;
    if (r != TT_OK && at) {
        /* say that the failure happened in the backward pass, and of which op */
        char msg[sizeof ctx->err_msg];
        memcpy(msg, ctx->err_msg, sizeof msg);
        tt__format(ctx->err_msg, sizeof ctx->err_msg,
                   "tt_backward: backward pass failed at op '%s' (parameter gradients left as they were): %s", at->op, msg);
    }
    return r;
}

TT__DEF tt_result tt_backward_seed(tt_ctx *ctx, tt_tensor *out, const float *seed) {
    tt__node *n;
    size_t i, base;
    float *snap = NULL;
    int was_zero;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (ctx->err != TT_OK) return ctx->err;
    if (!out) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_backward: tensor is NULL");
    if (!tt__in(ctx, "tt_backward", out)) return ctx->err;
    if (!seed) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_backward: seed is NULL");
    if (!(out->flags & TT_REQUIRES_GRAD) || !out->grad)
        return tt__fail(ctx, TT_ERR_STATE, "tt_backward: tensor of shape %S does not require grad (no parameter or "
                                           "grad-tracking input reaches it, or it was built in no-grad mode)", out);
    if (out->node && (out->node->gen != ctx->gen || !tt__on_tape(ctx, out->node)))
        return tt__fail(ctx, TT_ERR_STATE, "tt_backward: the graph of tensor %S was freed by tt_scratch_reset or "
                                           "tt_scratch_rewind", out);
    /* intermediate gradients restart from zero, so a second call adds the same amount again.
       tt__record allocates them zeroed, so only those a backward has already written into
       (marked TT__GRAD_WRITTEN) need clearing: the first backward after a forward skips the memset. */
    for (n = ctx->tape_last; n; n = n->prev) {
        if ((n->out->flags & TT__GRAD_WRITTEN) && tt__bk_zero(ctx, n->out->grad, n->out->numel * sizeof(float)) != TT_OK)
            return ctx->err;
        n->out->flags |= TT__GRAD_WRITTEN;
    }
    /* All or nothing: a failing backward (anomaly, scratch full in a backward temporary) must
       leave the parameter gradients as they were. They are copied to scratch first and copied
       back on failure, unless they are known to be zero (tt_zero_grad since the last backward):
       then zeroing restores them and the usual loop (zero_grad, forward, backward) copies nothing. */
    base = ctx->scratch.used;
    if (ctx->n_params && !ctx->grads_zero && !ctx->backend) { /* device gradients: not kept (see tt_backward) */
        size_t need = ctx->n_params * sizeof(float);
        snap = (float *)tt__arena_alloc(&ctx->scratch, need);
        if (!snap)
            return tt__fail(ctx, TT_ERR_OUT_OF_MEMORY,
                            "tt_backward: scratch memory full (need %z bytes to keep the accumulated parameter gradients "
                            "until the backward pass succeeds, %z of %z used); raise tt_desc.scratch_bytes or call "
                            "tt_zero_grad before the forward pass", need, ctx->scratch.used, ctx->scratch.size);
        memcpy(snap, ctx->param_grad, need);
    }
    was_zero = ctx->grads_zero;
    ctx->grads_zero = 0;
    if (ctx->backend) { /* upload the seed into scratch, add it on the device */
        tt_backend_call c;
        float *tmp = tt__scratch_floats(ctx, "tt_backward", out->numel);
        if (!tmp) return ctx->err;
        memcpy(tmp, seed, out->numel * sizeof(float));
        memset(&c, 0, sizeof c);
        c.op = TT_BOP_ADD_INTO; c.p[0] = out->grad; c.p[1] = tmp; c.n = out->numel;
        if (tt__bk_push(ctx, tmp, out->numel * sizeof(float)) != TT_OK || ctx->backend->run(ctx, &c) != TT_OK) return ctx->err;
    } else {
        for (i = 0; i < out->numel; i++) out->grad[i] += seed[i];
    }
    /* the tape is in creation order, so walking back from out's node visits every node that
       can reach out after all of its consumers */
    {
        unsigned long long fp = tt__fp_enter(ctx);
        r = tt__run_backward(ctx, out->node);
        tt__fp_leave(ctx, fp);
    }
    if (r != TT_OK) {
        if (snap) memcpy(ctx->param_grad, snap, ctx->n_params * sizeof(float));
        else if (ctx->n_params && was_zero) (void)tt__bk_zero(ctx, ctx->param_grad, ctx->n_params * sizeof(float));
        ctx->grads_zero = was_zero;
    }
    tt__rewind(ctx, base, 0);
    return r;
}

TT__DEF tt_result tt_backward(tt_ctx *ctx, tt_tensor *loss) {
    float one = 1.0f;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (ctx->err != TT_OK) return ctx->err;
    if (!loss) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_backward: loss is NULL");
    if (!tt__in(ctx, "tt_backward", loss)) return ctx->err;
    if (loss->numel != 1)
        return tt__fail(ctx, TT_ERR_STATE, "tt_backward: loss must have one element, got shape %S (use tt_backward_seed)", loss);
    return tt_backward_seed(ctx, loss, &one);
}

TT__DEF void tt_zero_grad(tt_ctx *ctx) {
    if (!ctx) return;
    if (ctx->n_params && tt__bk_zero(ctx, ctx->param_grad, ctx->n_params * sizeof(float)) != TT_OK) return;
    ctx->grads_zero = 1;
}

/* set a 0/1 switch of the context, returning the old value */
static int tt__swap_flag(int *flag, int on) {
    int old = *flag;
    *flag = on != 0;
    return old;
}

TT__DEF int tt_set_grad_enabled(tt_ctx *ctx, int enabled) { return ctx ? tt__swap_flag(&ctx->grad_enabled, enabled) : 0; }
TT__DEF int tt_set_training(tt_ctx *ctx, int training) { return ctx ? tt__swap_flag(&ctx->training, training) : 0; }
TT__DEF int tt_set_anomaly_mode(tt_ctx *ctx, int on) { return ctx ? tt__swap_flag(&ctx->anomaly, on) : 0; }

/* ==================================================================================== >>gradcheck */

/* s = sum(w * out) in double */
static double tt__weighted_sum(const tt_tensor *out, const float *w) {
    double s = 0;
    size_t i;
    for (i = 0; i < out->numel; i++) s += (double)w[i] * (double)out->data[i];
    return s;
}

TT__DEF tt_gradcheck_opts tt_gradcheck_opts_init(void) {
    tt_gradcheck_opts o;
    o.eps = 1e-2;
    o.atol = 1e-3;
    o.rtol = 1e-2;
    return o;
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
    if (report) { /* defined on every return, early errors included */
        memset(report, 0, sizeof *report);
        report->worst_input = -1;
    }
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (ctx->backend) return tt__fail(ctx, TT_ERR_UNSUPPORTED, "tt_gradcheck: does not run on the %s backend", ctx->backend->name);
    if (ctx->err != TT_OK) return ctx->err;
    if (!fn || n_inputs <= 0 || !inputs) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_gradcheck: need fn and at least one input");
    for (k = 0; k < n_inputs; k++)
        if (!inputs[k]) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_gradcheck: input %d is NULL", k);
    if (opts) {
        if (!(opts->eps > 0) || !(opts->atol >= 0) || !(opts->rtol >= 0) || opts->eps > 1e30 || opts->atol > 1e300 ||
            opts->rtol > 1e300)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_gradcheck: needs eps > 0 and atol, rtol >= 0 (finite); got eps %g, atol %g, rtol %g",
                            opts->eps, opts->atol, opts->rtol);
        eps = opts->eps;
        atol = opts->atol;
        rtol = opts->rtol;
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
                double fp, fm, num, ana, err, rel, excess;
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
                rel = err / TT__MAX(fabs(num), 1e-8);
                if (rel > rep.max_rel_err) rep.max_rel_err = rel;
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
      edges use the very same instructions: the x86 kernels store only the valid rows and mask
      the columns; the NEON and scalar kernels go through a local MR x NR copy. The x86 kernels
      prefetch the C tile first (its rows are ldc apart, often 4 KiB: no hardware prefetch).
   2. Packing (tt__pack_a / tt__pack_b): copies a block of op(A) / op(B) into MR-row / NR-column
      panels, zero-padded, so the micro-kernel streams contiguous memory whatever the transposes.
      x86 has SIMD packers for every case (8 x 8 register transposes where op(X) has to be
      transposed): with batch-64 MLP shapes packing is a visible share of the time, so with
      k <= 64 the AVX2 kernel's first tiles pack while they compute (tt__ukr_pk_fn).
   3. Drivers: the "packed" driver (large problems) loops jc (NC columns) > pc (KC depth, B packed
      once, L3) > ic (MC rows, A packed once, L2) > jr > ir (micro-tiles; the B sliver stays in
      L1). The "light" driver (small/skinny problems, and tt_sgemm without a context) does not
      pack A at all (the micro-kernel reads it through its strides) and packs only one KC x NR
      sliver of B at a time into a small buffer. The "narrow" driver (n <= 12 / 16, tt__gemm_narrow)
      turns the tile around: one vector per column of C holding 8 / 16 of its rows.
   Cache blocks: KC is a constant of each kernel (it decides where the k sums are cut); MC and
   NC are chosen per CPU at tt_ctx_init from cpuid's cache sizes (tt__gemm_blocking).

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

/* C = alpha * acc + beta * C for one tile; mr x nr valid of MR x NR; a at a[i*rsa + p*csa],
   b a packed sliver (row p at b + p*NR). */
typedef void (*tt__ukr_fn)(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, float *c,
                           ptrdiff_t ldc, float alpha, float beta, int mr, int nr);
/* The same with the rows of the B sliver ldb apart: ldb = NR reads a packed sliver, ldb = the
   row stride of B reads op(B) = B in place (whole NR-column slivers only). */
typedef void (*tt__ukr_ldb_fn)(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t ldb,
                               float *c, ptrdiff_t ldc, float alpha, float beta, int mr, int nr);
/* A whole MR x NR tile with C = alpha * acc + beta * C that also packs what it reads, for the
   tiles after it: with pbo it reads op(B) = B in place (rows ldb apart) and writes the packed
   sliver (row p at pbo + p*NR); with pao (rsa == 1 only: the MR values of step p contiguous) it
   writes the packed A panel (step p at pao + p*MR). Either may be NULL; same arithmetic as ukr. */
typedef void (*tt__ukr_pk_fn)(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t ldb,
                              float *pao, float *pbo, float *c, ptrdiff_t ldc, float alpha, float beta);
/* Narrow C (n <= nt_max): a tile of mr <= nt_mr rows and nr columns, one vector per column
   holding nt_mr rows; a: the nt_mr values of op(A) at step p at a + p*csa (contiguous), b: a
   packed B sliver (row p at b + p*ldb). Same arithmetic per element as ukr. */
typedef void (*tt__ukr_nt_fn)(int kc, const float *a, ptrdiff_t csa, const float *b, ptrdiff_t ldb, float *c,
                              ptrdiff_t ldc, float alpha, float beta, int mr, int nr);
/* Packs kc x nc of op(B) = B^T (element (p, j) at b[j*ldb + p]) into NR-column panels. */
typedef void (*tt__pack_bt_fn)(int kc, int nc, const float *b, ptrdiff_t ldb, float *pb);
/* Packs mc x kc of op(A) = A (element (i, p) at a[i*lda + p]) or, the _at variant, of
   op(A) = A^T (element (i, p) at a[p*lda + i]) into MR-row panels. */
typedef void (*tt__pack_an_fn)(int mc, int kc, const float *a, ptrdiff_t lda, float *pa);
/* Packs kc x nc of op(B) = B (element (p, j) at b[p*ldb + j]) into NR-column panels. */
typedef tt__pack_bt_fn tt__pack_bn_fn;
typedef struct tt__gemm_kern {
    tt__ukr_fn ukr;         /* packed B sliver (examples/matmul_tour.c calls it directly) */
    tt__ukr_ldb_fn ukr_ldb; /* B sliver rows ldb apart: what the drivers call */
    tt__ukr_pk_fn ukr_pk;   /* packing while computing (see tt__gemm_packed), or NULL */
    tt__pack_bt_fn pack_bt; /* SIMD transposing packer for op(B) = B^T, or NULL (portable one) */
    tt__pack_bn_fn pack_bn; /* SIMD packer for op(B) = B, or NULL */
    tt__pack_an_fn pack_an; /* SIMD transposing packer for op(A) = A, or NULL (portable one) */
    tt__pack_an_fn pack_at; /* SIMD packer for op(A) = A^T, or NULL */
    tt__ukr_nt_fn ukr_nt;   /* narrow C kernel (see tt__gemm_narrow), or NULL */
    tt__pack_an_fn pack_av; /* one nt_mr-row panel of op(A) = A for ukr_nt (step p at p*nt_mr) */
    int nt_mr;              /* ukr_nt's rows per vector */
    int nt_max, nt_pack_max; /* widest C for ukr_nt with op(A) = A^T (read in place) / otherwise (packed) */
    int mr, nr;      /* register tile */
    int split4;      /* has a cheaper loop for tiles of at most 4 rows (see tt__gemm_tail) */
    int kc, mc, nc;  /* cache blocks: KC depth (L1), MC rows of A (L2), NC columns of B (L3) */
} tt__gemm_kern;

/* Largest blocks over all kernels of this build: they size the workspaces. KC is a constant
   of each kernel (it decides where the k sums are cut, so it decides the rounding: the same
   kernel gives the same bits on every CPU); MC and NC only reorder whole tiles and are chosen
   per CPU from its cache sizes (tt__gemm_blocking), up to TT__GEMM_MC / TT__GEMM_NC. */
#define TT__GEMM_KC 320
#define TT__GEMM_MC 240
#define TT__GEMM_NC 1024
#define TT__GEMM_MC_DEFAULT 120 /* cache sizes unknown: the blocks tuned on Zen 3 (L2 512 KiB) */
#define TT__GEMM_MR_MAX 8
#define TT__GEMM_NR_MAX 32
#define TT__GEMM_MAX_THREADS TT_MAX_THREADS
/* The x86 kernels prefetch their C tile when kc >= this: with a few k steps (k = 10: the dX of
   a 10-class layer) there is no time to hide it and the prefetches cost ~5%. */
#define TT__GEMM_PREFETCH_KC 32
/* Floats of the packed path's A workspace (MC x KC, whole panels). */
#define TT__GEMM_PA_FLOATS ((size_t)(TT__GEMM_MC + TT__GEMM_MR_MAX) * TT__GEMM_KC)
/* Largest op(A) that the packed driver packs as one block for small k (tt__gemm_packed); tuned
   on Zen 3 with the 120-row A block, independent of the CPU's MC. */
#define TT__GEMM_ONE_A_FLOATS ((size_t)(TT__GEMM_MC_DEFAULT + TT__GEMM_MR_MAX) * TT__GEMM_KC)
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
static void tt__ukr_scalar_ldb(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t ldb,
                               float *c, ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {
    float acc[TT__S_MR][TT__S_NR], tile[TT__S_MR * TT__S_NR], *cp = c;
    ptrdiff_t ld = ldc;
    int i, j, p;
    for (i = 0; i < TT__S_MR; i++)
        for (j = 0; j < TT__S_NR; j++) acc[i][j] = 0.0f;
    for (p = 0; p < kc; p++, a += csa, b += ldb)
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
static void tt__ukr_scalar(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, float *c,
                           ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {
    tt__ukr_scalar_ldb(kc, a, rsa, csa, b, TT__S_NR, c, ldc, alpha, beta, mr, nr);
}

#ifdef TT__GEMM_X86
/* ---- x86-64 AVX2 + FMA micro-kernel, 6 x 16 (12 accumulators, 2 B vectors, 1 broadcast) ----
   Zen 3 / Haswell and later: 2 FMA pipes with 4-5 cycle latency need >= 10 independent
   accumulators; 12 FMAs per 2 B loads + 6 broadcasts keep the load ports below their limit.
   Edge tiles (mr < 6 or nr < 16) use the same arithmetic: rows past mr are not stored and
   columns past nr go through masked loads/stores (never touched in memory). */
/* Row i of the tile: C = acc (already times alpha) + beta * C. beta == 1 skips the multiply
   (1 * x is exact: same result, fewer instructions; autograd accumulates with beta = 1). */
#define TT__ROW2(i, x0, x1)                                                                   \
    do {                                                                                      \
        if ((i) < mr) {                                                                       \
            float *r_ = c + (i) * ldc;                                                        \
            __m256 y0_ = x0, y1_ = x1;                                                        \
            if (beta != 0.0f) {                                                               \
                __m256 z0_ = nr == 16 ? _mm256_loadu_ps(r_) : _mm256_maskload_ps(r_, m0);     \
                __m256 z1_ = nr == 16 ? _mm256_loadu_ps(r_ + 8) : _mm256_maskload_ps(r_ + 8, m1); \
                if (beta != 1.0f) { z0_ = _mm256_mul_ps(vb, z0_); z1_ = _mm256_mul_ps(vb, z1_); } \
                y0_ = _mm256_add_ps(y0_, z0_);                                                \
                y1_ = _mm256_add_ps(y1_, z1_);                                                \
            }                                                                                 \
            if (nr == 16) {                                                                   \
                _mm256_storeu_ps(r_, y0_);                                                    \
                _mm256_storeu_ps(r_ + 8, y1_);                                                \
            } else {                                                                          \
                _mm256_maskstore_ps(r_, m0, y0_);                                             \
                _mm256_maskstore_ps(r_ + 8, m1, y1_);                                         \
            }                                                                                 \
        }                                                                                     \
    } while (0)
/* The common full tile, alpha == 1 and beta 0 or 1 (every autograd product): the same
   arithmetic as TT__ROW2 without its per-row tests (C = acc, or C = acc + C), straight-line
   code; with k = 10 the tests cost ~5% of the time. */
#define TT__FULL2(i, x0, x1)                                                                  \
    do {                                                                                      \
        float *r_ = c + (i) * ldc;                                                            \
        if (beta != 0.0f) {                                                                   \
            _mm256_storeu_ps(r_, _mm256_add_ps(x0, _mm256_loadu_ps(r_)));                     \
            _mm256_storeu_ps(r_ + 8, _mm256_add_ps(x1, _mm256_loadu_ps(r_ + 8)));             \
        } else {                                                                              \
            _mm256_storeu_ps(r_, x0);                                                         \
            _mm256_storeu_ps(r_ + 8, x1);                                                     \
        }                                                                                     \
    } while (0)
/* acc *= alpha for the 12 accumulators; alpha == 1 (every autograd product) skips it (exact). */
#define TT__SCALE12(mul, va)                                                                  \
    do {                                                                                      \
        if (alpha != 1.0f) {                                                                  \
            c00 = mul(va, c00); c01 = mul(va, c01); c10 = mul(va, c10); c11 = mul(va, c11);   \
            c20 = mul(va, c20); c21 = mul(va, c21); c30 = mul(va, c30); c31 = mul(va, c31);   \
            c40 = mul(va, c40); c41 = mul(va, c41); c50 = mul(va, c50); c51 = mul(va, c51);   \
        }                                                                                     \
    } while (0)
/* One k step of the full tile: row i of A broadcast, times the two B vectors. */
#define TT__STEP6(b0, b1)                                                                                        \
    do {                                                                                                         \
        __m256 x_;                                                                                               \
        x_ = _mm256_broadcast_ss(a);       c00 = _mm256_fmadd_ps(x_, b0, c00); c01 = _mm256_fmadd_ps(x_, b1, c01); \
        x_ = _mm256_broadcast_ss(a + rsa); c10 = _mm256_fmadd_ps(x_, b0, c10); c11 = _mm256_fmadd_ps(x_, b1, c11); \
        x_ = _mm256_broadcast_ss(a + r2);  c20 = _mm256_fmadd_ps(x_, b0, c20); c21 = _mm256_fmadd_ps(x_, b1, c21); \
        x_ = _mm256_broadcast_ss(a + r3);  c30 = _mm256_fmadd_ps(x_, b0, c30); c31 = _mm256_fmadd_ps(x_, b1, c31); \
        x_ = _mm256_broadcast_ss(a + r4);  c40 = _mm256_fmadd_ps(x_, b0, c40); c41 = _mm256_fmadd_ps(x_, b1, c41); \
        x_ = _mm256_broadcast_ss(a + r5);  c50 = _mm256_fmadd_ps(x_, b0, c50); c51 = _mm256_fmadd_ps(x_, b1, c51); \
    } while (0)
/* The kernel body; with pao / pbo it is the packing kernel of tt__ukr_pk_fn (tt__ukr_avx2_ldb
   passes NULL for both, so its copy has no packing loop). */
__attribute__((target("avx2,fma"), always_inline))
static inline void tt__ukr_avx2_body(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t ldb,
                                     float *c, ptrdiff_t ldc, float alpha, float beta, int mr, int nr, float *pao, float *pbo) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, va, vb;
    __m256i m0 = _mm256_setzero_si256(), m1 = m0;
    ptrdiff_t r2 = 2 * rsa, r3 = 3 * rsa, r4 = 4 * rsa, r5 = 5 * rsa;
    int p;
    if (kc >= TT__GEMM_PREFETCH_KC) /* C rows are ldc apart (often 4 KiB): no hardware prefetcher */
        for (p = 0; p < mr; p++) {
            _mm_prefetch((const char *)(c + p * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + p * ldc + 15), _MM_HINT_T0);
        }
    if (pao || pbo) { /* full tile that packs (tt__ukr_pk_fn); the 2 extra floats that the 8-float
                         store of A step p writes are overwritten by step p + 1; the last moves 4 + 2 */
        __m256i six = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
        for (p = 0; p < kc; p++) {
            __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
            if (pbo) { _mm256_storeu_ps(pbo, b0); _mm256_storeu_ps(pbo + 8, b1); pbo += 16; }
            if (pao) {
                __m256 v = _mm256_maskload_ps(a, six);
                if (p + 1 < kc) {
                    _mm256_storeu_ps(pao, v);
                } else {
                    _mm_storeu_ps(pao, _mm256_castps256_ps128(v));
                    _mm_storel_pi((__m64 *)(void *)(pao + 4), _mm256_extractf128_ps(v, 1));
                }
                pao += 6;
            }
            TT__STEP6(b0, b1);
            a += csa;
            b += ldb;
        }
    } else if (mr > 4 && nr > 8) {
        for (p = 0; p < kc; p++) {
            __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
            TT__STEP6(b0, b1);
            a += csa;
            b += ldb;
        }
    } else if (nr > 8) { /* edge tile of at most 4 rows (batch 64 = 10 x 6 + 4): skip the 2 unused
                            rows; every stored element sees the same operations as in the full loop */
        for (p = 0; p < kc; p++) {
            __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), x;
            x = _mm256_broadcast_ss(a);      c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
            x = _mm256_broadcast_ss(a + rsa); c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
            x = _mm256_broadcast_ss(a + r2); c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
            x = _mm256_broadcast_ss(a + r3); c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
            a += csa;
            b += ldb;
        }
    } else if (mr > 4) { /* at most 8 columns: the second half is never stored */
        for (p = 0; p < kc; p++) {
            __m256 b0 = _mm256_loadu_ps(b);
            c00 = _mm256_fmadd_ps(_mm256_broadcast_ss(a), b0, c00);
            c10 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + rsa), b0, c10);
            c20 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + r2), b0, c20);
            c30 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + r3), b0, c30);
            c40 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + r4), b0, c40);
            c50 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + r5), b0, c50);
            a += csa;
            b += ldb;
        }
    } else {
        for (p = 0; p < kc; p++) {
            __m256 b0 = _mm256_loadu_ps(b);
            c00 = _mm256_fmadd_ps(_mm256_broadcast_ss(a), b0, c00);
            c10 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + rsa), b0, c10);
            c20 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + r2), b0, c20);
            c30 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + r3), b0, c30);
            a += csa;
            b += ldb;
        }
    }
    if (nr < 16) { /* lane j of m0 / m1 is all ones when column j / 8 + j is inside the tile */
        __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), lane);
        m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8), lane);
    }
    if (mr == 6 && nr == 16 && alpha == 1.0f && (beta == 1.0f || beta == 0.0f)) {
        TT__FULL2(0, c00, c01); TT__FULL2(1, c10, c11); TT__FULL2(2, c20, c21);
        TT__FULL2(3, c30, c31); TT__FULL2(4, c40, c41); TT__FULL2(5, c50, c51);
        return;
    }
    va = _mm256_set1_ps(alpha);
    vb = _mm256_set1_ps(beta);
    TT__SCALE12(_mm256_mul_ps, va);
    TT__ROW2(0, c00, c01); TT__ROW2(1, c10, c11); TT__ROW2(2, c20, c21);
    TT__ROW2(3, c30, c31); TT__ROW2(4, c40, c41); TT__ROW2(5, c50, c51);
}
#undef TT__ROW2
#undef TT__FULL2
#undef TT__STEP6
__attribute__((target("avx2,fma")))
static void tt__ukr_avx2_ldb(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t ldb,
                             float *c, ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {
    tt__ukr_avx2_body(kc, a, rsa, csa, b, ldb, c, ldc, alpha, beta, mr, nr, NULL, NULL);
}
__attribute__((target("avx2,fma")))
static void tt__ukr_avx2_pk(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t ldb,
                            float *pao, float *pbo, float *c, ptrdiff_t ldc, float alpha, float beta) {
    tt__ukr_avx2_body(kc, a, rsa, csa, b, ldb, c, ldc, alpha, beta, 6, 16, pao, pbo);
}
static void tt__ukr_avx2(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, float *c,
                         ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {
    tt__ukr_avx2_ldb(kc, a, rsa, csa, b, 16, c, ldc, alpha, beta, mr, nr);
}

/* 8 x 8 transpose in registers (named variables, an array would live in memory): on return
   r<j> holds element j of every input row, in row order. */
#define TT__TR8(r0, r1, r2, r3, r4, r5, r6, r7)                                                           \
    do {                                                                                                  \
        __m256 t0_ = _mm256_unpacklo_ps(r0, r1), t1_ = _mm256_unpackhi_ps(r0, r1);                        \
        __m256 t2_ = _mm256_unpacklo_ps(r2, r3), t3_ = _mm256_unpackhi_ps(r2, r3);                        \
        __m256 t4_ = _mm256_unpacklo_ps(r4, r5), t5_ = _mm256_unpackhi_ps(r4, r5);                        \
        __m256 t6_ = _mm256_unpacklo_ps(r6, r7), t7_ = _mm256_unpackhi_ps(r6, r7);                        \
        __m256 s0_ = _mm256_shuffle_ps(t0_, t2_, 0x44), s1_ = _mm256_shuffle_ps(t0_, t2_, 0xEE);          \
        __m256 s2_ = _mm256_shuffle_ps(t1_, t3_, 0x44), s3_ = _mm256_shuffle_ps(t1_, t3_, 0xEE);          \
        __m256 s4_ = _mm256_shuffle_ps(t4_, t6_, 0x44), s5_ = _mm256_shuffle_ps(t4_, t6_, 0xEE);          \
        __m256 s6_ = _mm256_shuffle_ps(t5_, t7_, 0x44), s7_ = _mm256_shuffle_ps(t5_, t7_, 0xEE);          \
        r0 = _mm256_permute2f128_ps(s0_, s4_, 0x20); r1 = _mm256_permute2f128_ps(s1_, s5_, 0x20);         \
        r2 = _mm256_permute2f128_ps(s2_, s6_, 0x20); r3 = _mm256_permute2f128_ps(s3_, s7_, 0x20);         \
        r4 = _mm256_permute2f128_ps(s0_, s4_, 0x31); r5 = _mm256_permute2f128_ps(s1_, s5_, 0x31);         \
        r6 = _mm256_permute2f128_ps(s2_, s6_, 0x31); r7 = _mm256_permute2f128_ps(s3_, s7_, 0x31);         \
    } while (0)

/* B^T packing with 8 x 8 register transposes, for NR = 16 (AVX2 kernel) and NR = 32 (AVX-512
   kernel, whose packers are these AVX2 ones): op(B) = B^T is the slow case to pack (B's rows are
   op(B)'s columns), and with few rows of A (batch 64) it is paid per flop. Columns past nc (edge
   panel) are transposed as zero rows; a group of 8 wholly past nc is stored as zeros. */
__attribute__((target("avx2,fma")))
static inline void tt__pack_bt8_avx2(int kc, int nc, const float *b, ptrdiff_t ldb, float *pb, int NR) {
    int jr, p, j, h, p8 = kc & ~7;
    for (jr = 0; jr < nc; jr += NR, pb += (size_t)NR * kc) {
        int cols = TT__MIN(NR, nc - jr);
        const float *bj = b + jr * ldb;
        for (p = 0; p < p8; p += 8)
            for (h = 0; h < NR / 8; h++) {
                const float *s = bj + h * 8 * ldb + p;
                float *o = pb + (size_t)p * NR + h * 8;
                __m256 r0, r1, r2, r3, r4, r5, r6, r7, z = _mm256_setzero_ps();
                int n = cols - h * 8; /* rows of this group inside B */
                if (n >= 8) {
                    r0 = _mm256_loadu_ps(s); r1 = _mm256_loadu_ps(s + ldb); r2 = _mm256_loadu_ps(s + 2 * ldb);
                    r3 = _mm256_loadu_ps(s + 3 * ldb); r4 = _mm256_loadu_ps(s + 4 * ldb);
                    r5 = _mm256_loadu_ps(s + 5 * ldb); r6 = _mm256_loadu_ps(s + 6 * ldb);
                    r7 = _mm256_loadu_ps(s + 7 * ldb);
                } else if (n > 0) {
                    r0 = _mm256_loadu_ps(s); r1 = n > 1 ? _mm256_loadu_ps(s + ldb) : z;
                    r2 = n > 2 ? _mm256_loadu_ps(s + 2 * ldb) : z; r3 = n > 3 ? _mm256_loadu_ps(s + 3 * ldb) : z;
                    r4 = n > 4 ? _mm256_loadu_ps(s + 4 * ldb) : z; r5 = n > 5 ? _mm256_loadu_ps(s + 5 * ldb) : z;
                    r6 = n > 6 ? _mm256_loadu_ps(s + 6 * ldb) : z; r7 = z;
                } else {
                    for (j = 0; j < 8; j++) _mm256_storeu_ps(o + j * NR, z);
                    continue;
                }
                TT__TR8(r0, r1, r2, r3, r4, r5, r6, r7);
                _mm256_storeu_ps(o, r0); _mm256_storeu_ps(o + NR, r1); _mm256_storeu_ps(o + 2 * NR, r2);
                _mm256_storeu_ps(o + 3 * NR, r3); _mm256_storeu_ps(o + 4 * NR, r4); _mm256_storeu_ps(o + 5 * NR, r5);
                _mm256_storeu_ps(o + 6 * NR, r6); _mm256_storeu_ps(o + 7 * NR, r7);
            }
        for (p = p8; p < kc; p++)
            for (j = 0; j < NR; j++) pb[(size_t)p * NR + j] = j < cols ? bj[j * ldb + p] : 0.0f;
    }
}
__attribute__((target("avx2,fma")))
static void tt__pack_bt_avx2(int kc, int nc, const float *b, ptrdiff_t ldb, float *pb) {
    tt__pack_bt8_avx2(kc, nc, b, ldb, pb, 16);
}
__attribute__((target("avx2,fma")))
static void tt__pack_bt32_avx2(int kc, int nc, const float *b, ptrdiff_t ldb, float *pb) {
    tt__pack_bt8_avx2(kc, nc, b, ldb, pb, 32);
}

/* A packing for MR = 6 when op(A) = A (row i of the block is contiguous in p, rows lda apart):
   6 rows (plus 2 zero rows) transposed 8 x 8 at a time; output group p is 6 floats, written by
   an 8-float store that the next group's store overlaps (the last one stores only 6). */
__attribute__((target("avx2,fma")))
static void tt__pack_a6_avx2(int mc, int kc, const float *a, ptrdiff_t lda, float *pa) {
    int ir, p, i, p8 = kc & ~7;
    for (ir = 0; ir < mc; ir += 6, pa += (size_t)6 * kc) {
        const float *ar = a + ir * lda;
        if (mc - ir < 6) { /* edge panel: portable loop, zero rows */
            for (p = 0; p < kc; p++)
                for (i = 0; i < 6; i++) pa[p * 6 + i] = ir + i < mc ? ar[i * lda + p] : 0.0f;
            continue;
        }
        for (p = 0; p < p8; p += 8) {
            const float *s = ar + p;
            float *o = pa + (size_t)p * 6;
            __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + lda), r2 = _mm256_loadu_ps(s + 2 * lda);
            __m256 r3 = _mm256_loadu_ps(s + 3 * lda), r4 = _mm256_loadu_ps(s + 4 * lda);
            __m256 r5 = _mm256_loadu_ps(s + 5 * lda), r6 = _mm256_setzero_ps(), r7 = r6;
            TT__TR8(r0, r1, r2, r3, r4, r5, r6, r7);
            _mm256_storeu_ps(o, r0); _mm256_storeu_ps(o + 6, r1); _mm256_storeu_ps(o + 12, r2);
            _mm256_storeu_ps(o + 18, r3); _mm256_storeu_ps(o + 24, r4); _mm256_storeu_ps(o + 30, r5);
            _mm256_storeu_ps(o + 36, r6);
            _mm_storeu_ps(o + 42, _mm256_castps256_ps128(r7));
            _mm_storel_pi((__m64 *)(void *)(o + 46), _mm256_extractf128_ps(r7, 1));
        }
        for (p = p8; p < kc; p++)
            for (i = 0; i < 6; i++) pa[p * 6 + i] = ar[i * lda + p];
    }
}

/* A packing for MR = 6 when op(A) = A^T (the 6 values of group p are contiguous at
   a[p*lda + i]): one 8-float move per group (its 2 extra values lie in row p or p + 1 of the
   block, and the next group's store overwrites them); the last group moves 4 + 2 floats, so
   nothing is read past the block or written past the panel. (256 x 128 dW: -2% time.) */
__attribute__((target("avx2,fma")))
static void tt__pack_at6_avx2(int mc, int kc, const float *a, ptrdiff_t lda, float *pa) {
    int ir, p, i;
    for (ir = 0; ir < mc; ir += 6, pa += (size_t)6 * kc) {
        const float *ar = a + ir;
        if (mc - ir < 6) {
            for (p = 0; p < kc; p++)
                for (i = 0; i < 6; i++) pa[p * 6 + i] = ir + i < mc ? ar[p * lda + i] : 0.0f;
            continue;
        }
        for (p = 0; p < kc - 1; p++) /* the 2 extra values are overwritten by the next group */
            _mm256_storeu_ps(pa + p * 6, _mm256_loadu_ps(ar + p * lda));
        for (; p < kc; p++) {
            const float *s = ar + p * lda;
            _mm_storeu_ps(pa + p * 6, _mm_loadu_ps(s));
            _mm_storel_pi((__m64 *)(void *)(pa + p * 6 + 4), _mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)(const void *)(s + 4)));
        }
    }
}

/* B packing when op(B) = B (rows contiguous), NR = 16 or 32: NR / 8 vector moves per row; an
   edge panel reads its columns with masked loads (lanes past nc read nothing and give 0). */
__attribute__((target("avx2,fma")))
static inline void tt__pack_bn8_avx2(int kc, int nc, const float *b, ptrdiff_t ldb, float *pb, int NR) {
    int jr, p, h;
    for (jr = 0; jr < nc; jr += NR, pb += (size_t)NR * kc) {
        const float *bj = b + jr;
        int cols = nc - jr;
        if (cols >= NR) {
            for (p = 0; p < kc; p++)
                for (h = 0; h < NR; h += 8) _mm256_storeu_ps(pb + p * NR + h, _mm256_loadu_ps(bj + p * ldb + h));
        } else {
            __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            for (h = 0; h < NR; h += 8) {
                __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols - h), lane);
                for (p = 0; p < kc; p++) _mm256_storeu_ps(pb + p * NR + h, _mm256_maskload_ps(bj + p * ldb + h, m));
            }
        }
    }
}
__attribute__((target("avx2,fma")))
static void tt__pack_bn_avx2(int kc, int nc, const float *b, ptrdiff_t ldb, float *pb) {
    tt__pack_bn8_avx2(kc, nc, b, ldb, pb, 16);
}
__attribute__((target("avx2,fma")))
static void tt__pack_bn32_avx2(int kc, int nc, const float *b, ptrdiff_t ldb, float *pb) {
    tt__pack_bn8_avx2(kc, nc, b, ldb, pb, 32);
}

/* ---- narrow C (n <= 12 on AVX2, n <= 16 on AVX-512): the tile runs down the rows ----
   With n at most NR the 6 x 16 tile wastes lanes (n = 10: 6 of 16) or, for n <= 8, keeps only 6
   accumulators (FMA-latency bound). Here one vector holds 8 (AVX-512: 16) rows of one column
   of C: per k step one load of the 8 values of op(A) at that step (an 8-row panel, contiguous
   per step: packed, or A^T read in place) and, per column of C, one broadcast of op(B) and one
   FMA. n = 10 keeps 10 accumulators with every lane used. At the end the columns are
   transposed in registers (8 x 8) into rows of C and stored through the usual epilogue. Every
   C element still sees the same operations in the same order as in the 6 x 16 kernel (FMAs
   for p = 0, 1, ... from zero, then times alpha, then plus beta C), so the results are the
   same bits. b: a packed B sliver (row p at b + p*ldb, at least nr rounded up to even floats). */
/* Row i of a narrow tile: x0 = columns 0..7, x1 = columns 8..15 (masks m0, m1), already
   times alpha; C = x + beta * C as in TT__ROW2. */
#define TT__NTROW(i, x0, x1)                                                                  \
    do {                                                                                      \
        if ((i) < mq) {                                                                       \
            float *r_ = cq + (i) * ldc;                                                        \
            __m256 y0_ = x0, y1_ = x1;                                                        \
            if (beta != 0.0f) {                                                               \
                __m256 z0_ = _mm256_maskload_ps(r_, m0), z1_ = _mm256_maskload_ps(r_ + 8, m1); \
                if (beta != 1.0f) { z0_ = _mm256_mul_ps(vb, z0_); z1_ = _mm256_mul_ps(vb, z1_); } \
                y0_ = _mm256_add_ps(y0_, z0_);                                                \
                y1_ = _mm256_add_ps(y1_, z1_);                                                \
            }                                                                                 \
            _mm256_maskstore_ps(r_, m0, y0_);                                                 \
            if (nr > 8) _mm256_maskstore_ps(r_ + 8, m1, y1_);                                 \
        }                                                                                     \
    } while (0)
/* Rows 0..7 of a narrow tile, from its 16 column vectors (8 rows each; columns past nr are
   zero): two 8 x 8 transposes, alpha, then the rows: cq points at row 0, mq <= 8 rows valid. */
#define TT__NTSTORE8(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15)  \
    do {                                                                                      \
        __m256i lane_ = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);                            \
        __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), lane_);                        \
        __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8), lane_);                    \
        __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);                        \
        TT__TR8(c0, c1, c2, c3, c4, c5, c6, c7);                                              \
        if (nr > 8) TT__TR8(c8, c9, c10, c11, c12, c13, c14, c15);                            \
        if (alpha != 1.0f) {                                                                  \
            c0 = _mm256_mul_ps(va, c0); c1 = _mm256_mul_ps(va, c1); c2 = _mm256_mul_ps(va, c2); \
            c3 = _mm256_mul_ps(va, c3); c4 = _mm256_mul_ps(va, c4); c5 = _mm256_mul_ps(va, c5); \
            c6 = _mm256_mul_ps(va, c6); c7 = _mm256_mul_ps(va, c7); c8 = _mm256_mul_ps(va, c8); \
            c9 = _mm256_mul_ps(va, c9); c10 = _mm256_mul_ps(va, c10); c11 = _mm256_mul_ps(va, c11); \
            c12 = _mm256_mul_ps(va, c12); c13 = _mm256_mul_ps(va, c13); c14 = _mm256_mul_ps(va, c14); \
            c15 = _mm256_mul_ps(va, c15);                                                     \
        }                                                                                     \
        TT__NTROW(0, c0, c8); TT__NTROW(1, c1, c9); TT__NTROW(2, c2, c10); TT__NTROW(3, c3, c11); \
        TT__NTROW(4, c4, c12); TT__NTROW(5, c5, c13); TT__NTROW(6, c6, c14); TT__NTROW(7, c7, c15); \
    } while (0)
#define TT__NTFMA(j) if (NC > j) c##j = _mm256_fmadd_ps(av, _mm256_broadcast_ss(b + j), c##j)
__attribute__((target("avx2,fma"), always_inline))
static inline void tt__ukr_nt8_body(int kc, const float *a, ptrdiff_t csa, const float *b, ptrdiff_t ldb, float *c,
                                    ptrdiff_t ldc, float alpha, float beta, int mr, int nr, const int NC) {
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    __m256 c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0;
    int p;
    for (p = 0; p < kc; p++, a += csa, b += ldb) {
        __m256 av = _mm256_loadu_ps(a);
        TT__NTFMA(0); TT__NTFMA(1); TT__NTFMA(2); TT__NTFMA(3); TT__NTFMA(4); TT__NTFMA(5);
        TT__NTFMA(6); TT__NTFMA(7); TT__NTFMA(8); TT__NTFMA(9); TT__NTFMA(10); TT__NTFMA(11);
    }
    {
        float *cq = c;
        int mq = mr;
        TT__NTSTORE8(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15);
    }
}
#undef TT__NTFMA
/* C tile of mr <= 8 rows and nr <= 12 columns; a: 8 values per step, csa apart. */
__attribute__((target("avx2,fma")))
static void tt__ukr_nt_avx2(int kc, const float *a, ptrdiff_t csa, const float *b, ptrdiff_t ldb, float *c,
                            ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {
    switch ((nr + 1) / 2) { /* the FMA count follows nr (rounded up to even: fewer copies) */
    case 1: tt__ukr_nt8_body(kc, a, csa, b, ldb, c, ldc, alpha, beta, mr, nr, 2); break;
    case 2: tt__ukr_nt8_body(kc, a, csa, b, ldb, c, ldc, alpha, beta, mr, nr, 4); break;
    case 3: tt__ukr_nt8_body(kc, a, csa, b, ldb, c, ldc, alpha, beta, mr, nr, 6); break;
    case 4: tt__ukr_nt8_body(kc, a, csa, b, ldb, c, ldc, alpha, beta, mr, nr, 8); break;
    case 5: tt__ukr_nt8_body(kc, a, csa, b, ldb, c, ldc, alpha, beta, mr, nr, 10); break;
    default: tt__ukr_nt8_body(kc, a, csa, b, ldb, c, ldc, alpha, beta, mr, nr, 12); break;
    }
}
/* Panels of MV = 8 or 16 rows for the narrow kernels when op(A) = A (rows lda apart, contiguous
   in p): 8 rows at a time transposed 8 x 8, step p of the panel at pa + p*MV; rows past mc are
   zero. One panel (mc <= MV). */
__attribute__((target("avx2,fma")))
static inline void tt__pack_av8_avx2(int mc, int kc, const float *a, ptrdiff_t lda, float *pa, int MV) {
    int h, p, i, p8 = kc & ~7;
    for (h = 0; h < MV; h += 8) {
        const float *ar = a + h * lda;
        int n = mc - h; /* rows of this group inside A */
        __m256 z = _mm256_setzero_ps();
        for (p = 0; p < p8; p += 8) {
            const float *s = ar + p;
            float *o = pa + (size_t)p * MV + h;
            __m256 r0, r1, r2, r3, r4, r5, r6, r7;
            if (n >= 8) {
                r0 = _mm256_loadu_ps(s); r1 = _mm256_loadu_ps(s + lda); r2 = _mm256_loadu_ps(s + 2 * lda);
                r3 = _mm256_loadu_ps(s + 3 * lda); r4 = _mm256_loadu_ps(s + 4 * lda);
                r5 = _mm256_loadu_ps(s + 5 * lda); r6 = _mm256_loadu_ps(s + 6 * lda);
                r7 = _mm256_loadu_ps(s + 7 * lda);
            } else {
                r0 = n > 0 ? _mm256_loadu_ps(s) : z; r1 = n > 1 ? _mm256_loadu_ps(s + lda) : z;
                r2 = n > 2 ? _mm256_loadu_ps(s + 2 * lda) : z; r3 = n > 3 ? _mm256_loadu_ps(s + 3 * lda) : z;
                r4 = n > 4 ? _mm256_loadu_ps(s + 4 * lda) : z; r5 = n > 5 ? _mm256_loadu_ps(s + 5 * lda) : z;
                r6 = n > 6 ? _mm256_loadu_ps(s + 6 * lda) : z; r7 = z;
            }
            TT__TR8(r0, r1, r2, r3, r4, r5, r6, r7);
            _mm256_storeu_ps(o, r0); _mm256_storeu_ps(o + MV, r1); _mm256_storeu_ps(o + 2 * MV, r2);
            _mm256_storeu_ps(o + 3 * MV, r3); _mm256_storeu_ps(o + 4 * MV, r4); _mm256_storeu_ps(o + 5 * MV, r5);
            _mm256_storeu_ps(o + 6 * MV, r6); _mm256_storeu_ps(o + 7 * MV, r7);
        }
        for (p = p8; p < kc; p++)
            for (i = 0; i < 8; i++) pa[p * MV + h + i] = i < n ? ar[i * lda + p] : 0.0f;
    }
}
__attribute__((target("avx2,fma")))
static void tt__pack_av_avx2(int mc, int kc, const float *a, ptrdiff_t lda, float *pa) {
    tt__pack_av8_avx2(mc, kc, a, lda, pa, 8);
}
__attribute__((target("avx2,fma")))
static void tt__pack_av16_avx2(int mc, int kc, const float *a, ptrdiff_t lda, float *pa) {
    tt__pack_av8_avx2(mc, kc, a, lda, pa, 16);
}

/* ---- x86-64 AVX-512F micro-kernel, 6 x 32: the AVX2 design with 512-bit registers (12
   accumulators, 2 B vectors, 1 broadcast per row); edge columns use AVX-512 store masks. ---- */
#define TT__ROW2(i, x0, x1)                                                                   \
    do {                                                                                      \
        if ((i) < mr) {                                                                       \
            float *r_ = c + (i) * ldc;                                                        \
            __m512 y0_ = x0, y1_ = x1;                                                        \
            if (beta != 0.0f) {                                                               \
                __m512 z0_ = _mm512_maskz_loadu_ps(m0, r_), z1_ = _mm512_maskz_loadu_ps(m1, r_ + 16); \
                if (beta != 1.0f) { z0_ = _mm512_mul_ps(vb, z0_); z1_ = _mm512_mul_ps(vb, z1_); } \
                y0_ = _mm512_add_ps(y0_, z0_);                                                \
                y1_ = _mm512_add_ps(y1_, z1_);                                                \
            }                                                                                 \
            _mm512_mask_storeu_ps(r_, m0, y0_);                                               \
            _mm512_mask_storeu_ps(r_ + 16, m1, y1_);                                          \
        }                                                                                     \
    } while (0)
#define TT__FULL2(i, x0, x1)                                                                  \
    do {                                                                                      \
        float *r_ = c + (i) * ldc;                                                            \
        if (beta != 0.0f) {                                                                   \
            _mm512_storeu_ps(r_, _mm512_add_ps(x0, _mm512_loadu_ps(r_)));                     \
            _mm512_storeu_ps(r_ + 16, _mm512_add_ps(x1, _mm512_loadu_ps(r_ + 16)));           \
        } else {                                                                              \
            _mm512_storeu_ps(r_, x0);                                                         \
            _mm512_storeu_ps(r_ + 16, x1);                                                    \
        }                                                                                     \
    } while (0)
/* The kernel body; with pao / pbo it is the packing tile of tt__ukr_pk_fn, as in the AVX2
   kernel (B stored as two 16-float vectors per step, the 6 A^T values by one 8-float store
   that the next step overwrites; the last step moves 4 + 2). */
__attribute__((target("avx512f"), always_inline))
static inline void tt__ukr_avx512_body(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t ldb,
                                       float *c, ptrdiff_t ldc, float alpha, float beta, int mr, int nr, float *pao, float *pbo) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, va, vb;
    /* bit j of m0 / m1: column j / 16 + j inside the tile */
    __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xFFFFu : (1u << nr) - 1u);
    __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xFFFFu : nr <= 16 ? 0u : (1u << (nr - 16)) - 1u);
    ptrdiff_t r2 = 2 * rsa, r3 = 3 * rsa, r4 = 4 * rsa, r5 = 5 * rsa;
    int p;
    if (kc >= TT__GEMM_PREFETCH_KC) /* C rows are ldc apart (often 4 KiB): no hardware prefetcher */
        for (p = 0; p < mr; p++) {
            _mm_prefetch((const char *)(c + p * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + p * ldc + 31), _MM_HINT_T0);
        }
    if (pao || pbo) {
        __m256i six = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
        for (p = 0; p < kc; p++) {
            __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16), x;
            if (pbo) { _mm512_storeu_ps(pbo, b0); _mm512_storeu_ps(pbo + 16, b1); pbo += 32; }
            if (pao) {
                __m256 v = _mm256_maskload_ps(a, six);
                if (p + 1 < kc) {
                    _mm256_storeu_ps(pao, v);
                } else {
                    _mm_storeu_ps(pao, _mm256_castps256_ps128(v));
                    _mm_storel_pi((__m64 *)(void *)(pao + 4), _mm256_extractf128_ps(v, 1));
                }
                pao += 6;
            }
            x = _mm512_set1_ps(a[0]);  c00 = _mm512_fmadd_ps(x, b0, c00); c01 = _mm512_fmadd_ps(x, b1, c01);
            x = _mm512_set1_ps(a[rsa]); c10 = _mm512_fmadd_ps(x, b0, c10); c11 = _mm512_fmadd_ps(x, b1, c11);
            x = _mm512_set1_ps(a[r2]); c20 = _mm512_fmadd_ps(x, b0, c20); c21 = _mm512_fmadd_ps(x, b1, c21);
            x = _mm512_set1_ps(a[r3]); c30 = _mm512_fmadd_ps(x, b0, c30); c31 = _mm512_fmadd_ps(x, b1, c31);
            x = _mm512_set1_ps(a[r4]); c40 = _mm512_fmadd_ps(x, b0, c40); c41 = _mm512_fmadd_ps(x, b1, c41);
            x = _mm512_set1_ps(a[r5]); c50 = _mm512_fmadd_ps(x, b0, c50); c51 = _mm512_fmadd_ps(x, b1, c51);
            a += csa;
            b += ldb;
        }
    } else if (mr > 4 && nr > 16) {
        for (p = 0; p < kc; p++) {
            __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16), x;
            x = _mm512_set1_ps(a[0]);  c00 = _mm512_fmadd_ps(x, b0, c00); c01 = _mm512_fmadd_ps(x, b1, c01);
            x = _mm512_set1_ps(a[rsa]); c10 = _mm512_fmadd_ps(x, b0, c10); c11 = _mm512_fmadd_ps(x, b1, c11);
            x = _mm512_set1_ps(a[r2]); c20 = _mm512_fmadd_ps(x, b0, c20); c21 = _mm512_fmadd_ps(x, b1, c21);
            x = _mm512_set1_ps(a[r3]); c30 = _mm512_fmadd_ps(x, b0, c30); c31 = _mm512_fmadd_ps(x, b1, c31);
            x = _mm512_set1_ps(a[r4]); c40 = _mm512_fmadd_ps(x, b0, c40); c41 = _mm512_fmadd_ps(x, b1, c41);
            x = _mm512_set1_ps(a[r5]); c50 = _mm512_fmadd_ps(x, b0, c50); c51 = _mm512_fmadd_ps(x, b1, c51);
            a += csa;
            b += ldb;
        }
    } else if (nr > 16) { /* edge tile of at most 4 rows, as in the AVX2 kernel */
        for (p = 0; p < kc; p++) {
            __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16), x;
            x = _mm512_set1_ps(a[0]);  c00 = _mm512_fmadd_ps(x, b0, c00); c01 = _mm512_fmadd_ps(x, b1, c01);
            x = _mm512_set1_ps(a[rsa]); c10 = _mm512_fmadd_ps(x, b0, c10); c11 = _mm512_fmadd_ps(x, b1, c11);
            x = _mm512_set1_ps(a[r2]); c20 = _mm512_fmadd_ps(x, b0, c20); c21 = _mm512_fmadd_ps(x, b1, c21);
            x = _mm512_set1_ps(a[r3]); c30 = _mm512_fmadd_ps(x, b0, c30); c31 = _mm512_fmadd_ps(x, b1, c31);
            a += csa;
            b += ldb;
        }
    } else if (mr > 4) { /* at most 16 columns (a 10-class layer): the second half is never stored */
        for (p = 0; p < kc; p++) {
            __m512 b0 = _mm512_loadu_ps(b);
            c00 = _mm512_fmadd_ps(_mm512_set1_ps(a[0]), b0, c00);
            c10 = _mm512_fmadd_ps(_mm512_set1_ps(a[rsa]), b0, c10);
            c20 = _mm512_fmadd_ps(_mm512_set1_ps(a[r2]), b0, c20);
            c30 = _mm512_fmadd_ps(_mm512_set1_ps(a[r3]), b0, c30);
            c40 = _mm512_fmadd_ps(_mm512_set1_ps(a[r4]), b0, c40);
            c50 = _mm512_fmadd_ps(_mm512_set1_ps(a[r5]), b0, c50);
            a += csa;
            b += ldb;
        }
    } else {
        for (p = 0; p < kc; p++) {
            __m512 b0 = _mm512_loadu_ps(b);
            c00 = _mm512_fmadd_ps(_mm512_set1_ps(a[0]), b0, c00);
            c10 = _mm512_fmadd_ps(_mm512_set1_ps(a[rsa]), b0, c10);
            c20 = _mm512_fmadd_ps(_mm512_set1_ps(a[r2]), b0, c20);
            c30 = _mm512_fmadd_ps(_mm512_set1_ps(a[r3]), b0, c30);
            a += csa;
            b += ldb;
        }
    }
    if (mr == 6 && nr == 32 && alpha == 1.0f && (beta == 1.0f || beta == 0.0f)) {
        TT__FULL2(0, c00, c01); TT__FULL2(1, c10, c11); TT__FULL2(2, c20, c21);
        TT__FULL2(3, c30, c31); TT__FULL2(4, c40, c41); TT__FULL2(5, c50, c51);
        return;
    }
    va = _mm512_set1_ps(alpha);
    vb = _mm512_set1_ps(beta);
    TT__SCALE12(_mm512_mul_ps, va);
    TT__ROW2(0, c00, c01); TT__ROW2(1, c10, c11); TT__ROW2(2, c20, c21);
    TT__ROW2(3, c30, c31); TT__ROW2(4, c40, c41); TT__ROW2(5, c50, c51);
}
#undef TT__ROW2
#undef TT__FULL2
#undef TT__SCALE12
__attribute__((target("avx512f")))
static void tt__ukr_avx512_ldb(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t ldb,
                               float *c, ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {
    tt__ukr_avx512_body(kc, a, rsa, csa, b, ldb, c, ldc, alpha, beta, mr, nr, NULL, NULL);
}
__attribute__((target("avx512f")))
static void tt__ukr_avx512_pk(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t ldb,
                              float *pao, float *pbo, float *c, ptrdiff_t ldc, float alpha, float beta) {
    tt__ukr_avx512_body(kc, a, rsa, csa, b, ldb, c, ldc, alpha, beta, 6, 32, pao, pbo);
}
static void tt__ukr_avx512(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, float *c,
                           ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {
    tt__ukr_avx512_ldb(kc, a, rsa, csa, b, 32, c, ldc, alpha, beta, mr, nr);
}
/* The narrow kernel with 16 rows per vector (see tt__ukr_nt_avx2): mr <= 16 rows, nr <= 16
   columns, 16 accumulators at most; a: 16 values per step, csa apart. The columns go through
   a small stack tile and are transposed 8 x 8 with the AVX2 code of the 8-row kernel. */
#define TT__NTFMA(j) if (NC > j) c##j = _mm512_fmadd_ps(av, _mm512_set1_ps(b[j]), c##j)
__attribute__((target("avx512f"), always_inline))
static inline void tt__ukr_nt16_body(int kc, const float *a, ptrdiff_t csa, const float *b, ptrdiff_t ldb, float *c,
                                     ptrdiff_t ldc, float alpha, float beta, int mr, int nr, const int NC) {
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    __m512 c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0;
    float t[16 * 16]; /* column j of the tile at t + 16 j */
    int p, h;
    for (p = 0; p < kc; p++, a += csa, b += ldb) {
        __m512 av = _mm512_loadu_ps(a);
        TT__NTFMA(0); TT__NTFMA(1); TT__NTFMA(2); TT__NTFMA(3); TT__NTFMA(4); TT__NTFMA(5); TT__NTFMA(6); TT__NTFMA(7);
        TT__NTFMA(8); TT__NTFMA(9); TT__NTFMA(10); TT__NTFMA(11); TT__NTFMA(12); TT__NTFMA(13); TT__NTFMA(14); TT__NTFMA(15);
    }
    _mm512_storeu_ps(t, c0); _mm512_storeu_ps(t + 16, c1); _mm512_storeu_ps(t + 32, c2); _mm512_storeu_ps(t + 48, c3);
    _mm512_storeu_ps(t + 64, c4); _mm512_storeu_ps(t + 80, c5); _mm512_storeu_ps(t + 96, c6); _mm512_storeu_ps(t + 112, c7);
    _mm512_storeu_ps(t + 128, c8); _mm512_storeu_ps(t + 144, c9); _mm512_storeu_ps(t + 160, c10); _mm512_storeu_ps(t + 176, c11);
    _mm512_storeu_ps(t + 192, c12); _mm512_storeu_ps(t + 208, c13); _mm512_storeu_ps(t + 224, c14); _mm512_storeu_ps(t + 240, c15);
    for (h = 0; h < 16 && h < mr; h += 8) { /* rows h .. h + 7 */
        const float *s = t + h;
        float *cq = c + h * ldc;
        int mq = mr - h;
        __m256 x0 = _mm256_loadu_ps(s), x1 = _mm256_loadu_ps(s + 16), x2 = _mm256_loadu_ps(s + 32);
        __m256 x3 = _mm256_loadu_ps(s + 48), x4 = _mm256_loadu_ps(s + 64), x5 = _mm256_loadu_ps(s + 80);
        __m256 x6 = _mm256_loadu_ps(s + 96), x7 = _mm256_loadu_ps(s + 112), x8 = _mm256_loadu_ps(s + 128);
        __m256 x9 = _mm256_loadu_ps(s + 144), x10 = _mm256_loadu_ps(s + 160), x11 = _mm256_loadu_ps(s + 176);
        __m256 x12 = _mm256_loadu_ps(s + 192), x13 = _mm256_loadu_ps(s + 208), x14 = _mm256_loadu_ps(s + 224);
        __m256 x15 = _mm256_loadu_ps(s + 240);
        TT__NTSTORE8(x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15);
    }
}
#undef TT__NTFMA
__attribute__((target("avx512f")))
static void tt__ukr_nt_avx512(int kc, const float *a, ptrdiff_t csa, const float *b, ptrdiff_t ldb, float *c,
                              ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {
    switch ((nr + 1) / 2) {
    case 1: tt__ukr_nt16_body(kc, a, csa, b, ldb, c, ldc, alpha, beta, mr, nr, 2); break;
    case 2: tt__ukr_nt16_body(kc, a, csa, b, ldb, c, ldc, alpha, beta, mr, nr, 4); break;
    case 3: tt__ukr_nt16_body(kc, a, csa, b, ldb, c, ldc, alpha, beta, mr, nr, 6); break;
    case 4: tt__ukr_nt16_body(kc, a, csa, b, ldb, c, ldc, alpha, beta, mr, nr, 8); break;
    case 5: tt__ukr_nt16_body(kc, a, csa, b, ldb, c, ldc, alpha, beta, mr, nr, 10); break;
    case 6: tt__ukr_nt16_body(kc, a, csa, b, ldb, c, ldc, alpha, beta, mr, nr, 12); break;
    case 7: tt__ukr_nt16_body(kc, a, csa, b, ldb, c, ldc, alpha, beta, mr, nr, 14); break;
    default: tt__ukr_nt16_body(kc, a, csa, b, ldb, c, ldc, alpha, beta, mr, nr, 16); break;
    }
}
#undef TT__NTSTORE8
#undef TT__NTROW

/* cpuid + xgetbv: AVX2/FMA/AVX-512F present and their registers enabled by the OS. */
static void tt__cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
    __asm__ __volatile__("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}
static int tt__x86_level(void) { /* 0 none, 1 AVX2+FMA, 2 also AVX-512F */
    unsigned r[4], lo, hi, max;
#ifdef TT__EMULATE_AVX512 /* tests/test_avx512_emu.c only: the AVX-512 intrinsics are emulated there */
    return 2;
#endif
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

/* Cache sizes from cpuid's deterministic cache parameters: leaf 4 (Intel and most others) or
   0x8000001D (AMD and Hygon, with the TopologyExtensions bit). Size = ways x partitions x line
   x sets; the L3 is divided by the logical processors that share it (cpuid's upper bound:
   a conservative share). Leaves 0 where cpuid does not say. */
static void tt__x86_caches(long *l1d, long *l2, long *l3) {
    unsigned r[4], leaf = 0, i;
    tt__cpuid(0, 0, r);
    if (r[1] == 0x68747541u || r[1] == 0x6F677948u) { /* "Auth"enticAMD, "Hygo"nGenuine */
        unsigned ext;
        tt__cpuid(0x80000000u, 0, r);
        ext = r[0];
        if (ext >= 0x8000001Du) {
            tt__cpuid(0x80000001u, 0, r);
            if (r[2] & (1u << 22)) leaf = 0x8000001Du;
        }
    } else if (r[0] >= 4) {
        leaf = 4;
    }
    for (i = 0; leaf && i < 16; i++) {
        unsigned type, level;
        uint64_t size, share;
        tt__cpuid(leaf, i, r);
        type = r[0] & 31u;
        if (type == 0) break;
        if (type != 1 && type != 3) continue; /* data or unified, not instruction */
        level = (r[0] >> 5) & 7u;
        share = ((r[0] >> 14) & 0xFFFu) + 1u;
        size = (uint64_t)(((r[1] >> 22) & 0x3FFu) + 1u) * (((r[1] >> 12) & 0x3FFu) + 1u) * ((r[1] & 0xFFFu) + 1u) *
               ((uint64_t)r[2] + 1u);
        if (size > ((uint64_t)1 << 30)) continue; /* nonsense (a hypervisor's): ignored */
        if (level == 1) *l1d = (long)size;
        else if (level == 2) *l2 = (long)size;
        else if (level == 3) *l3 = (long)(size / share);
    }
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
static void tt__ukr_neon_ldb(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t ldb,
                             float *c, ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {
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
        b += ldb;
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
static void tt__ukr_neon(int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, float *c,
                         ptrdiff_t ldc, float alpha, float beta, int mr, int nr) {
    tt__ukr_neon_ldb(kc, a, rsa, csa, b, 8, c, ldc, alpha, beta, mr, nr);
}
#undef TT__NROW
#undef TT__NSTEP
#endif /* TT__GEMM_NEON */

/* Kernel table entry for k, or NULL when this build has no such kernel. */
static int tt__gemm_kern_get(tt_kernel k, tt__gemm_kern *out) {
    out->kc = TT__GEMM_KC; out->mc = TT__GEMM_MC_DEFAULT; out->nc = TT__GEMM_NC; out->pack_bt = NULL;
    out->pack_bn = NULL; out->pack_an = NULL; out->pack_at = NULL; out->ukr_pk = NULL; out->split4 = 0;
    out->ukr_nt = NULL; out->pack_av = NULL; out->nt_mr = 0; out->nt_max = 0; out->nt_pack_max = 0;
    switch (k) {
    case TT_KERNEL_SCALAR:
        out->ukr = tt__ukr_scalar; out->ukr_ldb = tt__ukr_scalar_ldb; out->mr = TT__S_MR; out->nr = TT__S_NR;
        return 1;
#ifdef TT__GEMM_X86
    case TT_KERNEL_AVX2:
        out->ukr = tt__ukr_avx2; out->ukr_ldb = tt__ukr_avx2_ldb; out->mr = 6; out->nr = 16; out->split4 = 1;
        out->ukr_pk = tt__ukr_avx2_pk;
        out->ukr_nt = tt__ukr_nt_avx2; out->pack_av = tt__pack_av_avx2; out->nt_mr = 8; out->nt_max = 12; out->nt_pack_max = 8;
        out->pack_bt = tt__pack_bt_avx2; out->pack_bn = tt__pack_bn_avx2; out->pack_an = tt__pack_a6_avx2; out->pack_at = tt__pack_at6_avx2;
        return 1;
    case TT_KERNEL_AVX512: /* every AVX-512F CPU has AVX2 (tt__x86_level checks both) */
        out->ukr = tt__ukr_avx512; out->ukr_ldb = tt__ukr_avx512_ldb; out->mr = 6; out->nr = 32; out->kc = 192; out->split4 = 1;
        out->pack_bt = tt__pack_bt32_avx2; out->pack_bn = tt__pack_bn32_avx2; out->pack_an = tt__pack_a6_avx2; out->pack_at = tt__pack_at6_avx2;
        out->ukr_pk = tt__ukr_avx512_pk;
        out->ukr_nt = tt__ukr_nt_avx512; out->pack_av = tt__pack_av16_avx2; out->nt_mr = 16; out->nt_max = 16; out->nt_pack_max = 0;
        return 1;
#endif
#ifdef TT__GEMM_NEON
    case TT_KERNEL_NEON:
        out->ukr = tt__ukr_neon; out->ukr_ldb = tt__ukr_neon_ldb; out->mr = 8; out->nr = 8;
        return 1;
#endif
    default: return 0;
    }
}

/* This CPU's cache sizes in bytes (L1 data, L2, and the L3 share of one logical processor);
   0 where unknown (not x86, or cpuid does not say). */
static void tt__gemm_caches(long *l1d, long *l2, long *l3) {
    *l1d = 0; *l2 = 0; *l3 = 0;
#ifdef TT__GEMM_X86
    tt__x86_caches(l1d, l2, l3);
#endif
}

/* MC and NC of kernel K from the cache sizes (bytes, 0 = unknown), BLIS style: the packed
   MC x KC block of A takes ~30% of the L2 (Zen 3, L2 512 KiB, KC 320: MC 120, the value tuned
   there), the KC x NC block of B at most half of the L3 share; MC a multiple of MR in
   [2 MR, TT__GEMM_MC], NC a multiple of NR in [4 NR, TT__GEMM_NC]. A function of the cache
   sizes only, and MC / NC do not change what a tile computes (KC stays the kernel's): the
   results are the same bits whatever blocks a CPU gets. */
static void tt__gemm_blocking(tt__gemm_kern *K, long l2, long l3) {
    long kb = (long)K->kc * (long)sizeof(float), mc = TT__GEMM_MC_DEFAULT, nc = TT__GEMM_NC;
    if (l2 >= 32 * 1024) mc = l2 / 10 * 3 / kb;
    if (l3 >= 256 * 1024) nc = l3 / 2 / kb;
    mc = TT__MIN(TT__MAX(mc, 2L * K->mr), (long)TT__GEMM_MC);
    nc = TT__MIN(TT__MAX(nc, 4L * K->nr), (long)TT__GEMM_NC);
    K->mc = (int)(mc - mc % K->mr);
    K->nc = (int)(nc - nc % K->nr);
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
        if (rsa == 1 && MR == 4 && rows == 4) { /* 4 contiguous floats per step (a 4-row tail of A^T) */
            for (p = 0; p < kc; p++, pa += 4) memcpy(pa, ap + p * csa, 4 * sizeof(float));
            continue;
        }
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

/* op(A) block through the kernel's SIMD packer where it has one. */
static void tt__pack_a_k(const tt__gemm_kern *K, int mc, int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, float *pa) {
    if (csa == 1 && K->pack_an) K->pack_an(mc, kc, a, rsa, pa);
    else if (rsa == 1 && K->pack_at) K->pack_at(mc, kc, a, csa, pa);
    else tt__pack_a(mc, kc, a, rsa, csa, K->mr, pa);
}

/* op(B) block through the kernel's SIMD packer where it has one. */
static void tt__pack_b_k(const tt__gemm_kern *K, int kc, int nc, const float *b, ptrdiff_t rsb, ptrdiff_t csb, float *pb) {
    if (rsb == 1 && K->pack_bt) K->pack_bt(kc, nc, b, csb, pb);
    else if (csb == 1 && K->pack_bn) K->pack_bn(kc, nc, b, rsb, pb);
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

/* Paths: 0 chooses from the shape, 1 forces light, 2 forces packed; adding 4 always packs B
   (never reads it in place). For tests: every path gives the same results. */
enum { TT__GEMM_PATH_AUTO = 0, TT__GEMM_PATH_LIGHT = 1, TT__GEMM_PATH_PACKED = 2, TT__GEMM_PATH_PACK_B = 4 };

/* Read op(B) = B in place (the micro-kernel walks B's rows, ldb apart) instead of packing it?
   Packing copies the whole block once and is repaid by its reuse over the row tiles of C: with
   at most 8 row tiles (dW = dY^T X of a 10-class layer: 2 tiles) reading B's rows in place is
   faster (Zen 3: -25% time at m = 10, -7% at m = 36, +1% at m = 64, so 64 keeps packing).
   Edge slivers (fewer than NR columns) are still packed: a full-width load would read past
   the row. Row strides that are a multiple of 2 KiB are left to packing: their rows crowd into
   a few L1 / L2 cache sets. */
static int tt__gemm_b_inplace(const tt__gemm_kern *K, const tt__gemm_args *g, int path) {
    return !(path & TT__GEMM_PATH_PACK_B) && g->csb == 1 && g->m <= 8 * K->mr && g->rsb % 512 != 0;
}

/* Depth of the k blocks: k cut into equal blocks of at most KC (784 -> 4 x 196, not 3 x 256 +
   16, whose thin last block would pay a whole pass over C). Depends on k only: determinism. */
static int tt__gemm_kc(const tt__gemm_kern *K, int k) {
    int nb = (k + K->kc - 1) / K->kc;
    return nb > 1 ? (k + nb - 1) / nb : k;
}

/* Rows at the end of an mc-row block that are cut into two tiles of at most 4 rows (4 + 4 or
   4 + 3) instead of a full tile and an edge of 1 or 2 rows; 0: no such cut. The x86 kernels run
   a tile of at most 4 rows in a loop that is FMA-latency bound, so 2 rows cost as much as 4:
   6 + 2 rows take the time of 6 + 4, and 4 + 4 the time of 8 (m = 128: -1.5%). Tiles never
   change what an element computes, so the results are the same bits. */
static int tt__gemm_tail(const tt__gemm_kern *K, int mc) {
    int r = mc % K->mr;
    return K->split4 && mc > K->mr && r > 0 && r <= 2 ? K->mr + r : 0;
}
/* Does the kernel read exactly mr rows of A (so that A can be read in place, with no zero rows
   past the matrix): a whole tile, or a tile of 4 rows where the kernel has its short loop. */
static int tt__gemm_whole(const tt__gemm_kern *K, int mr) {
    return mr == K->mr || (K->split4 && mr == 4);
}
/* Height of the tile at row ir of an mc-row block with that tail. */
static int tt__gemm_mr(const tt__gemm_kern *K, int mc, int tail, int ir) {
    if (ir < mc - tail) return TT__MIN(K->mr, mc - ir);
    return ir == mc - tail ? 4 : mc - ir;
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

/* Light path: A read in place, one KC x NR sliver of B packed at a time into bp (KC*NR floats)
   or read in place; ap (KC*MR floats) holds A slivers of edge rows only. */
static void tt__gemm_light(const tt__gemm_kern *K, const tt__gemm_args *g, int path, float *ap, float *bp) {
    int pc, ic, jr, ir, kb = tt__gemm_kc(K, g->k), inplace = tt__gemm_b_inplace(K, g, path);
    for (pc = 0; pc < g->k; pc += kb) {
        int kc = TT__MIN(kb, g->k - pc);
        float beta = pc == 0 ? g->beta : 1.0f;
        for (ic = 0; ic < g->m; ic += K->mc) {
            int mc = TT__MIN(K->mc, g->m - ic), tail = tt__gemm_tail(K, mc), mr;
            for (jr = 0; jr < g->n; jr += K->nr) {
                int nr = TT__MIN(K->nr, g->n - jr);
                const float *bs = bp;
                ptrdiff_t ldb = K->nr;
                if (inplace && nr == K->nr) {
                    bs = g->b + pc * g->rsb + jr;
                    ldb = g->rsb;
                } else {
                    tt__pack_b_k(K, kc, nr, g->b + pc * g->rsb + jr * g->csb, g->rsb, g->csb, bp);
                }
                for (ir = 0; ir < mc; ir += mr) {
                    const float *as = g->a + (ic + ir) * g->rsa + pc * g->csa;
                    float *cs = g->c + (ic + ir) * g->ldc + jr;
                    mr = tt__gemm_mr(K, mc, tail, ir);
                    if (tt__gemm_whole(K, mr)) { /* A read in place */
                        K->ukr_ldb(kc, as, g->rsa, g->csa, bs, ldb, cs, g->ldc, g->alpha, beta, mr, nr);
                    } else {
                        tt__pack_a_k(K, mr, kc, as, g->rsa, g->csa, ap);
                        K->ukr_ldb(kc, ap, 1, K->mr, bs, ldb, cs, g->ldc, g->alpha, beta, mr, nr);
                    }
                }
            }
        }
    }
}

/* Packed path: pa holds MC x KC of A, pb KC x NC of B (or, B read in place, its edge sliver).
   Small k (the batch-64 MLP products): when the whole of op(A) fits 128 x KC floats at this
   depth it is packed once as a single block, and
   - kc <= 64 (dW = dY^T X at batch 64, k = 10): the C tiles are visited row by row (B block
     packed first). Per tile the C traffic is large next to the arithmetic; a row of tiles is
     contiguous memory, and the next tile's C rows never share the low 12 address bits with
     the rows just stored (down a column they do when ldc is 1 KiB: 4K aliasing). -1..3% time.
     A is then read in place (not packed) when op(A) = A, or op(A) = A^T with rows of at most
     64 floats: the tile's few rows of A stay in L1 while it sweeps a row of C (64^3: -12%,
     10 x 128 x 64 dW: -15%; wider A^T rows, 512 B and up apart, crowd into a few L1 sets and
     lose 5-10%, so they are packed).
     Where the kernel has a packing tile (ukr_pk: AVX2), nothing is packed ahead: the first
     row of tiles reads op(B) = B in place and writes the packed slivers as it goes, and the
     first tile of each row writes its packed A^T panel (edge and tail panels are packed
     ahead as before). The copies cost a few stores in a loop bound by its FMAs instead of a
     separate pass over memory (256 x 128 dW: -2.5% time; 784 x 256 dW: -1%).
   - kc > 64: B is packed one NR-column sliver at a time, just before its row tiles use it,
     into the same spot of pb: the sliver is written and read back in L1 instead of the whole
     block going out to L2 first (-1..3%). Row order loses here (B slivers come from L2).
   Neither changes what a tile computes (results are the same bits). */
static void tt__gemm_packed(const tt__gemm_kern *K, const tt__gemm_args *g, int path, float *pa, float *pb) {
    int jc, pc, ic, jr, ir, kb = tt__gemm_kc(K, g->k), inplace = tt__gemm_b_inplace(K, g, path);
    int mtiles = (g->m + K->mr - 1) / K->mr, one_a = (size_t)mtiles * K->mr * kb <= TT__GEMM_ONE_A_FLOATS;
    int mb = one_a ? g->m : K->mc, by_rows = one_a && kb <= 64, sliver = one_a && !by_rows;
    for (jc = 0; jc < g->n; jc += K->nc) {
        int nc = TT__MIN(K->nc, g->n - jc), nfull = inplace ? nc - nc % K->nr : 0; /* columns read in place */
        for (pc = 0; pc < g->k; pc += kb) {
            int kc = TT__MIN(kb, g->k - pc);
            float beta = pc == 0 ? g->beta : 1.0f;
            const float *bk = g->b + pc * g->rsb + jc * g->csb;
            /* by rows: B packed by the first row of tiles, as they compute (pbo) */
            int pkb = by_rows && K->ukr_pk && nfull == 0 && g->csb == 1;
            if (nfull < nc && !sliver && !pkb) tt__pack_b_k(K, kc, nc - nfull, bk + nfull * g->csb, g->rsb, g->csb, pb + nfull * kc);
            for (ic = 0; ic < g->m; ic += mb) {
                int mc = TT__MIN(mb, g->m - ic), tail = tt__gemm_tail(K, mc), mr;
                const float *ak = g->a + ic * g->rsa + pc * g->csa;
                int ain = by_rows && (g->csa == 1 || (g->rsa == 1 && g->csa <= 64)), redge = (mc - tail) % K->mr;
                /* by rows, A not in place: its whole panels packed by their first tile (pao) */
                int pka = by_rows && !ain && K->ukr_pk && g->rsa == 1;
                if (!ain && !pka)
                    tt__pack_a_k(K, mc - tail, kc, ak, g->rsa, g->csa, pa);
                else if (redge && (pka || !tt__gemm_whole(K, redge))) /* the edge tile's panel */
                    tt__pack_a_k(K, redge, kc, ak + (mc - tail - redge) * g->rsa, g->rsa, g->csa, pa + (mc - tail - redge) * kc);
                if (tail) /* two 4-row panels (the tiles of rows past mc - tail read them with csa 4) */
                    tt__pack_a(tail, kc, ak + (mc - tail) * g->rsa, g->rsa, g->csa, 4, pa + (mc - tail) * kc);
                if (by_rows) {
                    for (ir = 0; ir < mc; ir += mr) {
                        const float *as = pa + ir * kc; /* packed panel, or A itself */
                        ptrdiff_t rs = 1, cs = ir < mc - tail ? K->mr : 4;
                        int full;
                        mr = tt__gemm_mr(K, mc, tail, ir);
                        full = ir < mc - tail && mr == K->mr;
                        if (ain && ir < mc - tail && tt__gemm_whole(K, mr)) { as = ak + ir * g->rsa; rs = g->rsa; cs = g->csa; }
                        for (jr = 0; jr < nc; jr += K->nr) {
                            int nr = TT__MIN(K->nr, nc - jr), pkbj = pkb && ir == 0, pkaj = pka && full && jr == 0;
                            float *bs = pb + jr * kc, *ct = g->c + (ic + ir) * g->ldc + jc + jr;
                            if ((pkaj || pkbj) && full && nr == K->nr) {
                                K->ukr_pk(kc, pkaj ? ak + ir * g->rsa : as, pkaj ? g->rsa : rs, pkaj ? g->csa : cs,
                                          pkbj ? bk + jr : bs, pkbj ? g->rsb : K->nr, pkaj ? pa + ir * kc : NULL,
                                          pkbj ? bs : NULL, ct, g->ldc, g->alpha, beta);
                                continue;
                            }
                            if (pkbj) tt__pack_b_k(K, kc, nr, bk + jr, g->rsb, g->csb, bs); /* edge sliver, short tile */
                            if (pkaj) tt__pack_a_k(K, mr, kc, ak + ir * g->rsa, g->rsa, g->csa, pa + ir * kc);
                            K->ukr_ldb(kc, as, rs, cs, jr < nfull ? bk + jr : bs, jr < nfull ? g->rsb : K->nr, ct, g->ldc,
                                       g->alpha, beta, mr, nr);
                        }
                    }
                    continue;
                }
                for (jr = 0; jr < nc; jr += K->nr) {
                    const float *bs = jr < nfull ? bk + jr : pb + jr * kc;
                    ptrdiff_t ldb = jr < nfull ? g->rsb : K->nr;
                    if (sliver && jr >= nfull) {
                        tt__pack_b_k(K, kc, TT__MIN(K->nr, nc - jr), bk + jr * g->csb, g->rsb, g->csb, pb);
                        bs = pb;
                    }
                    for (ir = 0; ir < mc; ir += mr) {
                        mr = tt__gemm_mr(K, mc, tail, ir);
                        K->ukr_ldb(kc, pa + ir * kc, 1, ir < mc - tail ? K->mr : 4, bs, ldb,
                                   g->c + (ic + ir) * g->ldc + jc + jr, g->ldc, g->alpha, beta, mr,
                                   TT__MIN(K->nr, nc - jr));
                    }
                }
            }
        }
    }
}

/* Narrow C (n <= K->nt_max, e.g. the forward X W^T of a 10-class layer): tiles of nt_mr rows
   by all n columns, one vector per column of C (tt__ukr_nt_fn). Per KC block op(B) (kc x n) is
   packed once into one NR-wide sliver; each nt_mr-row panel of op(A) is read in place when
   op(A) = A^T (its rows are contiguous per step), else packed (8 x 8 transposes) into pa just
   before its tile, so it is written and read back in L1. Same k blocks, same beta per block
   and the same per-element arithmetic as the other drivers: the same bits. */
static void tt__gemm_narrow(const tt__gemm_kern *K, const tt__gemm_args *g, float *pa, float *pb) {
    int pc, ir, kb = tt__gemm_kc(K, g->k), MV = K->nt_mr;
    for (pc = 0; pc < g->k; pc += kb) {
        int kc = TT__MIN(kb, g->k - pc);
        float beta = pc == 0 ? g->beta : 1.0f;
        tt__pack_b_k(K, kc, g->n, g->b + pc * g->rsb, g->rsb, g->csb, pb);
        for (ir = 0; ir < g->m; ir += MV) {
            int mr = TT__MIN(MV, g->m - ir);
            const float *as = g->a + ir * g->rsa + pc * g->csa;
            float *cs = g->c + ir * g->ldc;
            if (g->rsa == 1 && mr == MV) {
                K->ukr_nt(kc, as, g->csa, pb, K->nr, cs, g->ldc, g->alpha, beta, mr, g->n);
                continue;
            }
            if (g->csa == 1) K->pack_av(mr, kc, as, g->rsa, pa);
            else tt__pack_a(mr, kc, as, g->rsa, g->csa, MV, pa);
            K->ukr_nt(kc, pa, MV, pb, K->nr, cs, g->ldc, g->alpha, beta, mr, g->n);
        }
    }
}

/* One thread's whole problem. pa/pb: packed-path buffers (NULL: light path only, with the
   small buffers ap/bp). */
static void tt__gemm_serial(const tt__gemm_kern *K, const tt__gemm_args *g, int path, float *pa, float *pb) {
    if (g->m == 0 || g->n == 0) return;
    if (g->k == 0 || g->alpha == 0.0f) { tt__gemm_scale(g); return; }
    if ((path & 3) == TT__GEMM_PATH_AUTO && K->ukr_nt && g->m >= K->nt_mr && g->n <= (g->rsa == 1 ? K->nt_max : K->nt_pack_max)) {
        tt__gemm_narrow(K, g, pa, pb);
        return;
    }
    if ((path & 3) == TT__GEMM_PATH_AUTO)
        /* Packing A pays as soon as A is reused by two or more column tiles (a contiguous panel
           streams better than MR strided rows); with a single column tile it is pure cost. */
        path |= g->n <= K->nr ? TT__GEMM_PATH_LIGHT : TT__GEMM_PATH_PACKED;
    if ((path & 3) == TT__GEMM_PATH_PACKED) tt__gemm_packed(K, g, path, pa, pb);
    else tt__gemm_light(K, g, path, pa, pb);
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

/* ---- workspace and thread pool ----
   The pool runs "parallel regions": tt__parallel(ctx, parts, fn, arg) calls fn(arg, part,
   worker) once for every part in 0 .. parts-1 and returns when all have returned. The caller
   takes parts too, one at a time like the workers, so a region never waits for a worker that
   the OS has not scheduled (shared machine): the caller then simply runs every part itself.
   `worker` (0 = the calling thread, 1 .. threads-1 the pool's) may index per-thread scratch;
   which thread runs a part must never change a result, so a part writes only its own outputs
   and computes them in an order fixed by the part alone. tt__parallel_range (below) cuts an
   index range [0, n) into chunks for elementwise and row-wise loops. Both run on the calling
   thread, in part order, with one active thread, TT_NO_THREADS, a single part, or when called
   from inside a region (nested regions are serial). Regions are for the calling thread of the
   context only (a context is used by one thread at a time). A part must not call tt_ctx_sgemm
   (it uses workspace 0); a part that needs a product calls
   tt__gemm_serial(&st->kern, &g, st->path, st->pa[worker], st->pb[worker]) itself. */

struct tt__gemm_state;
typedef struct tt__gemm_worker {
    struct tt__gemm_state *st;
    int index;
} tt__gemm_worker;
typedef void (*tt__par_fn)(void *arg, int part, int worker);

struct tt__gemm_state {
    tt__gemm_kern kern;     /* the context's kernel */
    int path;               /* TT__GEMM_PATH_*, AUTO unless a test forces one */
    int threads;            /* threads with a workspace (1 .. desc.threads) */
    int active;             /* threads used now (tt_ctx_set_threads) */
    int flush;              /* tt_desc.flush_denormals (workers take the caller's mode per region) */
    long l1d, l2, l3;       /* cache sizes read at tt_ctx_init (tt__gemm_caches): MC and NC */
    float *pa[TT__GEMM_MAX_THREADS], *pb[TT__GEMM_MAX_THREADS];
    /* the current matrix product, when it runs as a region: C split into parts of whole tiles */
    tt__gemm_args job;
    int split_n, tiles;
    /* the current region: fn(arg, part, worker) for part 0 .. parts-1 */
    tt__par_fn fn;
    void *arg;
    int parts;
    int in_region;          /* a region is running: regions requested inside it run serially */
#ifndef TT_NO_THREADS
    pthread_t tid[TT__GEMM_MAX_THREADS];
    tt__gemm_worker wk[TT__GEMM_MAX_THREADS];
    int started;            /* workers running (indices 1 .. started) */
    int sync_ok;            /* mutex and conditions initialised */
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned gen;           /* job generation, bumped for every job */
    int next, pending, quit; /* next part to claim, parts not finished yet; 1 = shut down */
    int sleepers;           /* workers blocked on `go` (the rest spin on `gen`) */
    int caller_waits;       /* the caller is blocked on `done` */
    unsigned long long claim; /* gcc/clang: generation << 32 | parts << 16 | next part (tt__gemm_claim) */
    unsigned long long fpmode; /* the caller's floating-point mode when the region started */
    /* counters (read by bench/bench_train.c): regions run on the pool, and how often a worker
       went to sleep on `go` or the caller on `done` (each a blocking wait, i.e. a context switch) */
    unsigned long regions, worker_sleeps, caller_sleeps;
#endif
};

#ifndef TT_NO_THREADS
/* Cheap wakeup: a training step runs many short regions (every matmul above the threshold,
   elementwise ops, row-wise losses and norms, optimizer updates) with short serial gaps
   between them. After a region a worker spins on the generation for a bounded time
   (TT__POOL_SPIN PAUSEs, tens of microseconds, far shorter than a scheduler tick) before it
   sleeps on the condition variable; the caller signals only when a worker sleeps (after
   unlocking, so the woken worker does not block again on the mutex), so back-to-back regions
   cost no system call, and an idle context sleeps: nothing spins while the library is not
   called. Longer spins (8000 and 32000 PAUSEs) were measured slower on a shared 2-core machine
   (docs/bench_train.md): a spinning thread there takes time slices from the one it waits for.
   Parts are claimed one at a time, the caller included.
   Writers hold the mutex; spinning readers use atomic loads (gcc/clang builtins; other
   compilers do not spin). */
#if defined(__GNUC__) || defined(__clang__)
#ifndef TT__POOL_SPIN
#define TT__POOL_SPIN 1000 /* ~35 ns per PAUSE on an idle Zen 3: about 35 us (see below) */
#endif
#define TT__ALOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define TT__ASTORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#if defined(__x86_64__) || defined(__i386__)
#define TT__PAUSE() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define TT__PAUSE() __asm__ __volatile__("yield")
#else
#define TT__PAUSE() ((void)0)
#endif
#else
#define TT__POOL_SPIN 0
#define TT__ALOAD(p) (*(p))
#define TT__ASTORE(p, v) (*(p) = (v))
#define TT__PAUSE() ((void)0)
#endif
#endif

static int tt__gemm_nthreads(const tt_desc *d) {
#ifdef TT_NO_THREADS
    (void)d;
    return 1;
#else
    return TT__MIN(TT__MAX(d->threads, 1), TT__GEMM_MAX_THREADS);
#endif
}

/* Per thread: MC x KC for A and KC x NC for B, rounded up to whole panels. */
static size_t tt__gemm_pa_floats(void) { return TT__GEMM_PA_FLOATS; }
static size_t tt__gemm_pb_floats(void) { return (size_t)(TT__GEMM_NC + TT__GEMM_NR_MAX) * TT__GEMM_KC; }

static size_t tt__gemm_state_bytes(const tt_desc *d) {
    size_t per = d->small_matmul_workspace
                     ? tt__align_up(TT__GEMM_STACK_FLOATS * sizeof(float))
                     : tt__align_up(tt__gemm_pa_floats() * sizeof(float)) + tt__align_up(tt__gemm_pb_floats() * sizeof(float));
    return tt__align_up(sizeof(struct tt__gemm_state)) + per * (size_t)tt__gemm_nthreads(d);
}

/* Run part t of the current product (a range of whole NR or MR tiles of C) in workspace w.
   Which thread runs a part does not change its result. */
static void tt__gemm_part(void *arg, int t, int w) {
    struct tt__gemm_state *st = (struct tt__gemm_state *)arg;
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
    tt__gemm_serial(&st->kern, &g, st->path, st->pa[w], st->pb[w]);
}

#ifndef TT_NO_THREADS
/* Claim the next unclaimed part of region `gen` (-1: none left, or that region is over); mark
   one finished. With gcc/clang a claim is one compare-and-swap on a word holding the region's
   generation, part count and next part, so a worker still holding an old generation can never
   claim a part of a newer region, and no lock is taken per part; the last part to finish takes
   the mutex once to wake a caller that sleeps. Other compilers take the mutex each time. */
#if defined(__GNUC__) || defined(__clang__)
#define TT__POOL_WORD(gen, parts, next) (((unsigned long long)(gen) << 32) | ((unsigned long long)(parts) << 16) | (next))
static int tt__gemm_claim(struct tt__gemm_state *st, unsigned gen) {
    unsigned long long w = __atomic_load_n(&st->claim, __ATOMIC_ACQUIRE);
    for (;;) {
        unsigned next = (unsigned)(w & 0xffffu), parts = (unsigned)((w >> 16) & 0xffffu);
        if ((unsigned)(w >> 32) != gen || next >= parts) return -1;
        if (__atomic_compare_exchange_n(&st->claim, &w, w + 1u, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return (int)next;
    }
}
static void tt__gemm_finished(struct tt__gemm_state *st) {
    if (__atomic_sub_fetch(&st->pending, 1, __ATOMIC_ACQ_REL) != 0) return;
    pthread_mutex_lock(&st->mu);
    if (st->caller_waits) pthread_cond_signal(&st->done);
    pthread_mutex_unlock(&st->mu);
}
#else
static int tt__gemm_claim(struct tt__gemm_state *st, unsigned gen) {
    int t;
    pthread_mutex_lock(&st->mu);
    t = st->gen == gen && st->next < st->parts ? st->next++ : -1;
    pthread_mutex_unlock(&st->mu);
    return t;
}
static void tt__gemm_finished(struct tt__gemm_state *st) {
    pthread_mutex_lock(&st->mu);
    st->pending--;
    if (st->pending == 0 && st->caller_waits) pthread_cond_signal(&st->done);
    pthread_mutex_unlock(&st->mu);
}
#endif

static void *tt__gemm_worker_main(void *arg) {
    tt__gemm_worker *w = (tt__gemm_worker *)arg;
    struct tt__gemm_state *st = w->st;
    unsigned seen = 0;
    int spin, t;
    for (;;) {
        for (spin = 0; spin < TT__POOL_SPIN && TT__ALOAD(&st->gen) == seen && !TT__ALOAD(&st->quit); spin++)
            TT__PAUSE();
        if (TT__ALOAD(&st->gen) != seen && !TT__ALOAD(&st->quit)) {
            seen = TT__ALOAD(&st->gen); /* woken while spinning: no lock, no system call */
        } else {
            pthread_mutex_lock(&st->mu);
            st->sleepers++;
            while (!st->quit && st->gen == seen) {
                st->worker_sleeps++;
                pthread_cond_wait(&st->go, &st->mu);
            }
            st->sleepers--;
            seen = st->gen;
            pthread_mutex_unlock(&st->mu);
        }
        if (TT__ALOAD(&st->quit)) break;
        /* a claimed part belongs to region `seen`, and that region cannot end (nor the next one
           start) before the part is finished */
        {
            /* parts run in the caller's floating-point mode of this region (flush-to-zero or
               not), so a part's result does not depend on the thread that runs it; read only
               after a claim, while the region cannot end */
            int moded = 0;
#ifdef TT__FP_FLUSH
            unsigned long long own = 0;
#endif
            while ((t = tt__gemm_claim(st, seen)) >= 0) {
#ifdef TT__FP_FLUSH
                if (!moded) { own = tt__fp_get(); tt__fp_set(st->fpmode); }
#endif
                moded = 1;
                st->fn(st->arg, t, w->index);
                tt__gemm_finished(st);
            }
#ifdef TT__FP_FLUSH
            if (moded) tt__fp_restore(own);
#else
            (void)moded;
#endif
        }
    }
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
    st->flush = ctx->desc.flush_denormals;
    for (t = 0; t < st->threads; t++) {
        if (ctx->desc.small_matmul_workspace) { /* light path only: B sliver, then A panel */
            st->pb[t] = (float *)p;
            st->pa[t] = (float *)p + TT__GEMM_KC * TT__GEMM_NR_MAX;
            p += tt__align_up(TT__GEMM_STACK_FLOATS * sizeof(float));
            continue;
        }
        st->pa[t] = (float *)p; p += tt__align_up(tt__gemm_pa_floats() * sizeof(float));
        st->pb[t] = (float *)p; p += tt__align_up(tt__gemm_pb_floats() * sizeof(float));
    }
    if (ctx->desc.small_matmul_workspace) st->path = TT__GEMM_PATH_LIGHT;
    ctx->kernel = ctx->desc.kernel == TT_KERNEL_AUTO ? tt_kernel_best() : ctx->desc.kernel;
    if (!tt_kernel_supported(ctx->kernel) || !tt__gemm_kern_get(ctx->kernel, &st->kern))
        return tt__fail(ctx, TT_ERR_UNSUPPORTED, "tt_ctx_init: matmul kernel %s is not supported by this %s",
                        tt_kernel_name(ctx->kernel), tt__gemm_kern_get(ctx->kernel, &st->kern) ? "CPU" : "build");
    tt__gemm_caches(&st->l1d, &st->l2, &st->l3);
    tt__gemm_blocking(&st->kern, st->l2, st->l3);
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
            tt__warn(ctx, "tt_ctx_init: started %d of %d pool threads", st->started + 1, st->threads);
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
        TT__ASTORE(&st->quit, 1);
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

/* Run one region on the pool (see "workspace and thread pool" above). */
#define TT__POOL_MAX_PARTS 65535 /* more parts than this run serially (16 bits in the claim word) */
static void tt__pool_run(struct tt__gemm_state *st, int parts, tt__par_fn fn, void *arg) {
    int t;
    if (parts <= 0) return;
    if (parts == 1 || st->active <= 1 || st->in_region || parts > TT__POOL_MAX_PARTS) { /* serial, in part order */
        for (t = 0; t < parts; t++) fn(arg, t, 0);
        return;
    }
#ifndef TT_NO_THREADS
    {
        int spin;
        unsigned gen = st->gen + 1u;
        int wake;
        st->in_region = 1;
        st->fn = fn;
        st->arg = arg;
#ifdef TT__FP_FLUSH
        st->fpmode = tt__fp_get();
#endif
        pthread_mutex_lock(&st->mu);
        st->parts = parts;
        st->next = 0;
        TT__ASTORE(&st->pending, parts);
#if defined(__GNUC__) || defined(__clang__)
        __atomic_store_n(&st->claim, TT__POOL_WORD(gen, parts, 0), __ATOMIC_RELEASE);
#endif
        st->regions++;
        TT__ASTORE(&st->gen, gen);
        wake = st->sleepers > 0;
        pthread_mutex_unlock(&st->mu);
        /* after unlocking: a woken worker does not block again on the mutex the caller holds */
        if (wake) pthread_cond_broadcast(&st->go);
        while ((t = tt__gemm_claim(st, gen)) >= 0) {
            fn(arg, t, 0);
            tt__gemm_finished(st);
        }
        /* a worker that claimed the last part finishes it within microseconds: spin first */
        for (spin = 0; spin < TT__POOL_SPIN && TT__ALOAD(&st->pending) > 0; spin++) TT__PAUSE();
        pthread_mutex_lock(&st->mu);
        st->caller_waits = 1;
        while (TT__ALOAD(&st->pending) > 0) {
            st->caller_sleeps++;
            pthread_cond_wait(&st->done, &st->mu);
        }
        st->caller_waits = 0;
        pthread_mutex_unlock(&st->mu);
        st->in_region = 0;
    }
#else
    for (t = 0; t < parts; t++) fn(arg, t, 0);
#endif
}

/* Parallel region on the context's pool: fn(arg, part, worker) for part 0 .. parts-1 (see
   "workspace and thread pool" for the rules). A context without a pool (not initialised, or a
   GPU backend's host side) runs the parts serially. */
static void tt__parallel(tt_ctx *ctx, int parts, tt__par_fn fn, void *arg) {
    int t;
    if (ctx->gemm) { tt__pool_run(ctx->gemm, parts, fn, arg); return; }
    for (t = 0; t < parts; t++) fn(arg, t, 0);
}

/* Range helper for loops whose iterations are independent: fn(arg, lo, hi) over pieces of
   [0, n) that together cover it once. Every element (or row) must be computed from its own
   inputs in a fixed order, so how [0, n) is cut never changes a result (bit-identical for every
   thread count); reductions across the range are not allowed here. `min_par` is the smallest n
   worth a region (below it, and with one thread, fn(arg, 0, n) runs once on the caller): set it
   from the loop's measured cost so that a region's work is some tens of microseconds (see
   TT__PAR_MIN_*). Pieces are whole multiples of `align` (e.g. 8 floats for vector loops, or 1
   for rows) except the last. */
typedef void (*tt__range_fn)(void *arg, size_t lo, size_t hi);
typedef struct tt__range_job {
    tt__range_fn fn;
    void *arg;
    size_t n, piece;
} tt__range_job;
static void tt__range_part(void *arg, int part, int worker) {
    const tt__range_job *j = (const tt__range_job *)arg;
    size_t lo = (size_t)part * j->piece, hi = TT__MIN(lo + j->piece, j->n);
    (void)worker;
    if (lo < hi) j->fn(j->arg, lo, hi);
}
/* the thresholds: elements (or rows x row length) below which a loop stays serial. Estimates,
   not yet tuned on a quiet machine: waking a spinning worker and claiming parts costs a few
   microseconds, a cheap loop (one or two flops per element, memory bound: add, relu, SGD) runs
   ~4-8 elements per ns and a costly one (divisions, square roots, libm calls: Adam, gelu,
   losses, norms) ~0.5-1, so a region of at least some microseconds of work needs ~32K and ~4K
   elements. Override at compile time to tune. */
#ifndef TT__PAR_MIN_CHEAP
#define TT__PAR_MIN_CHEAP 32768
#endif
#ifndef TT__PAR_MIN_COSTLY
#define TT__PAR_MIN_COSTLY 4096
#endif
static void tt__parallel_range(tt_ctx *ctx, size_t n, size_t min_par, size_t align, tt__range_fn fn, void *arg) {
    tt__range_job j;
    int active = ctx->gemm ? ctx->gemm->active : 1, parts;
    if (n == 0) return;
    if (active <= 1 || n < min_par || n < 2 || (ctx->gemm && ctx->gemm->in_region)) { fn(arg, 0, n); return; }
    if (align < 1) align = 1;
    /* 4 pieces per thread: a thread the OS delays leaves its pieces to the others */
    parts = 4 * active;
    j.piece = (n + (size_t)parts - 1) / (size_t)parts;
    j.piece = (j.piece + align - 1) / align * align;
    j.fn = fn; j.arg = arg; j.n = n;
    parts = (int)((n + j.piece - 1) / j.piece);
    tt__parallel(ctx, parts, tt__range_part, &j);
}

/* ---- public entry points ---- */

TT__DEF tt_result tt_sgemm_naive(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                                 const float *b, int ldb, float beta, float *c, int ldc) {
    int i, j, p;
    tt_result r = tt__sgemm_check(ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
    if (r != TT_OK) return r;
    if (alpha == 0.0f || k == 0) { /* C = beta * C: A and B are not read (BLAS rule, as the fast kernels) */
        for (i = 0; i < m; i++)
            for (j = 0; j < n; j++) c[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[(size_t)i * ldc + j];
        return TT_OK;
    }
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
    tt__gemm_light(&K, &g, TT__GEMM_PATH_LIGHT, buf + TT__GEMM_KC * TT__GEMM_NR_MAX, buf);
    return TT_OK;
}

static tt_result tt__ctx_sgemm_run(tt_ctx *ctx, int ta, int tb, int m, int n, int k, float alpha, const float *a,
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
    /* threads only pay above ~1M multiply-adds (waking a worker costs microseconds); m n k >= 1e6
       is tested in integers, so no double arithmetic reaches single-precision FPUs */
    if (st->active > 1 && k > 0 && (uint64_t)m * (uint64_t)n >= (1000000u + (uint64_t)k - 1) / (uint64_t)k) {
        int tn = (n + st->kern.nr - 1) / st->kern.nr, tm = (m + st->kern.mr - 1) / st->kern.mr;
        st->split_n = tn >= tm || tn >= 4 * st->active;  /* split the dimension with more tiles */
        st->tiles = st->split_n ? tn : tm;
        parts = TT__MIN(st->active, st->tiles);
    }
    if (parts <= 1) {
        tt__gemm_serial(&st->kern, &g, st->path, st->pa[0], st->pb[0]);
        return TT_OK;
    }
    st->job = g;
    tt__pool_run(st, parts, tt__gemm_part, st);
    return TT_OK;
}

TT__DEF tt_result tt_ctx_sgemm(tt_ctx *ctx, int ta, int tb, int m, int n, int k, float alpha, const float *a,
                               int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    unsigned long long fp = tt__fp_enter(ctx);
    tt_result r = tt__ctx_sgemm_run(ctx, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    tt__fp_leave(ctx, fp);
    return r;
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
    if ((unsigned)kernel >= (unsigned)TT_KERNEL_COUNT_)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_ctx_set_kernel: unknown kernel %d", (int)kernel);
    if (kernel == TT_KERNEL_AUTO) kernel = tt_kernel_best();
    if (!tt_kernel_supported(kernel) || !tt__gemm_kern_get(kernel, &kd))
        return tt__fail(ctx, TT_ERR_UNSUPPORTED, "tt_ctx_set_kernel: kernel %s is not supported here", tt_kernel_name(kernel));
    tt__gemm_blocking(&kd, ctx->gemm->l2, ctx->gemm->l3);
    ctx->gemm->kern = kd;
    ctx->kernel = kernel;
    return TT_OK;
}
#undef TT__GEMM_PREFETCH_KC /* private to >>matmul (the >>end list holds the older macros) */
#undef TT__GEMM_PA_FLOATS
#undef TT__GEMM_ONE_A_FLOATS

/* ==================================================================================== >>ops_basic */

/* ---- elementwise kernels: readable references, then their SIMD twins ----
   Hot elementwise loops of the ops go through the table tt__ew (below). Each entry is a pair:
   the scalar reference (tt__ew_ref_*, the definition, readable, and the fallback everywhere)
   and its vector twin (tt__ew_sse_*), which performs exactly the same IEEE operations (add,
   compare, max round the same 4-wide as one at a time), so both give the same bits; the test
   test_simd_pairs runs every pair on the same inputs (signed zeros, NaN, infinities, vector
   bodies and scalar tails) and compares bit patterns. To add a kernel: write the reference
   here, its twin in the SIMD block, and one field in tt__ew_kernels and in each table
   (tt__ew_ref_kernels, and tt__ew in both branches of the SIMD block); test_simd_pairs compares
   tt__ew with tt__ew_ref_kernels field by field. */

/* acc[i] += x[i] */
static void tt__ew_ref_add_into(float *acc, const float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) acc[i] += x[i];
}
/* acc[i] -= x[i] */
static void tt__ew_ref_sub_into(float *acc, const float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) acc[i] -= x[i];
}
/* y[i] = a[i] + b[i] */
static void tt__ew_ref_add(float *y, const float *a, const float *b, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) y[i] = a[i] + b[i];
}
/* y[i] = x[i] > 0 ? x[i] : 0 (NaN and -0 give +0) */
static void tt__ew_ref_relu(float *y, const float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0.0f;
}
/* gx[i] += gy[i] where x[i] > 0 (gx untouched elsewhere, -0 included) */
static void tt__ew_ref_relu_backward(float *gx, const float *x, const float *gy, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (x[i] > 0) gx[i] += gy[i];
}

typedef struct tt__ew_kernels {
    void (*add_into)(float *acc, const float *x, size_t n);
    void (*sub_into)(float *acc, const float *x, size_t n);
    void (*add)(float *y, const float *a, const float *b, size_t n);
    void (*relu)(float *y, const float *x, size_t n);
    void (*relu_backward)(float *gx, const float *x, const float *gy, size_t n);
} tt__ew_kernels;
static const tt__ew_kernels tt__ew_ref_kernels = {tt__ew_ref_add_into, tt__ew_ref_sub_into, tt__ew_ref_add,
                                                  tt__ew_ref_relu, tt__ew_ref_relu_backward};

/* ---- SIMD block: the vector twins ----
   The library is built with plain -O2, where gcc vectorises little and compiles `x > 0 ? x : 0`
   and `if (x > 0) g += d` as branches (mispredicted half the time on real activations). On
   x86-64 (SSE2 is part of the base ISA) the twins run 4 wide and leave the tail to the
   reference. TT_NO_SIMD (or another target) uses the references only. */
#if !defined(TT_NO_SIMD) && (defined(__GNUC__) || defined(__clang__)) && !defined(__TINYC__) && \
    defined(__x86_64__)
#define TT__VEC_SSE 1
#include <emmintrin.h>

static void tt__ew_sse_add_into(float *acc, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(acc + i, _mm_add_ps(_mm_loadu_ps(acc + i), _mm_loadu_ps(x + i)));
    tt__ew_ref_add_into(acc + i, x + i, n - i);
}
static void tt__ew_sse_sub_into(float *acc, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(acc + i, _mm_sub_ps(_mm_loadu_ps(acc + i), _mm_loadu_ps(x + i)));
    tt__ew_ref_sub_into(acc + i, x + i, n - i);
}
static void tt__ew_sse_add(float *y, const float *a, const float *b, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(y + i, _mm_add_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i)));
    tt__ew_ref_add(y + i, a + i, b + i, n - i);
}
static void tt__ew_sse_relu(float *y, const float *x, size_t n) {
    size_t i = 0;
    __m128 z = _mm_setzero_ps();
    /* maxps returns its second operand (+0) when x is NaN, -0 or below 0: x > 0 ? x : 0 */
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(y + i, _mm_max_ps(_mm_loadu_ps(x + i), z));
    tt__ew_ref_relu(y + i, x + i, n - i);
}
static void tt__ew_sse_relu_backward(float *gx, const float *x, const float *gy, size_t n) {
    size_t i = 0;
    __m128 z = _mm_setzero_ps();
    for (; i + 4 <= n; i += 4) { /* select gx + gy where x > 0, else gx itself (no add: -0 stays -0) */
        __m128 g = _mm_loadu_ps(gx + i), on = _mm_cmpgt_ps(_mm_loadu_ps(x + i), z);
        __m128 s = _mm_add_ps(g, _mm_loadu_ps(gy + i));
        _mm_storeu_ps(gx + i, _mm_or_ps(_mm_and_ps(on, s), _mm_andnot_ps(on, g)));
    }
    tt__ew_ref_relu_backward(gx + i, x + i, gy + i, n - i);
}
/* the kernels the ops use */
static const tt__ew_kernels tt__ew = {tt__ew_sse_add_into, tt__ew_sse_sub_into, tt__ew_sse_add, tt__ew_sse_relu,
                                      tt__ew_sse_relu_backward};
#else
static const tt__ew_kernels tt__ew = {tt__ew_ref_add_into, tt__ew_ref_sub_into, tt__ew_ref_add, tt__ew_ref_relu,
                                      tt__ew_ref_relu_backward};
#endif

/* ---- row sums in double, 4 rows at once ----
   The CNN reductions (conv bias gradients, batchnorm statistics and gradients, global average
   pooling) add a row's floats one by one into a double (`for (i...) s += x[i]`), a chain of
   dependent adds that runs at one element per add latency. Different rows are independent
   chains, so the SSE2 twins run 4 rows at once (2 per register, 4 floats of each row loaded and
   transposed), every lane adding its own row's terms in the reference's order with the same IEEE
   operations: bit-identical (tests/test_convspeed.c). Rows j = 0..3 start at x + j * stride. */
typedef struct tt__row_kernels {
    /* s[j] += x_j[0] + x_j[1] + ... + x_j[n-1] */
    void (*sum4)(const float *x, size_t stride, size_t n, double *s);
    /* s[j] += sum_i d * d with d = x_j[i] - m[j] (double) */
    void (*sqdev4)(const float *x, size_t stride, size_t n, const double *m, double *s);
    /* s[j] += sum_i g_j[i];  t[j] += sum_i g_j[i] * xhat, xhat = (x_j[i] - mean[j]) * invstd[j] in float */
    void (*dot4)(const float *g, const float *x, size_t stride, size_t n, const float *mean, const float *invstd,
                 double *s, double *t);
} tt__row_kernels;

static void tt__row_ref_sum4(const float *x, size_t stride, size_t n, double *s) {
    size_t i, j;
    for (j = 0; j < 4; j++)
        for (i = 0; i < n; i++) s[j] += x[j * stride + i];
}
static void tt__row_ref_sqdev4(const float *x, size_t stride, size_t n, const double *m, double *s) {
    size_t i, j;
    for (j = 0; j < 4; j++)
        for (i = 0; i < n; i++) {
            double d = x[j * stride + i] - m[j];
            s[j] += d * d;
        }
}
static void tt__row_ref_dot4(const float *g, const float *x, size_t stride, size_t n, const float *mean,
                             const float *invstd, double *s, double *t) {
    size_t i, j;
    for (j = 0; j < 4; j++)
        for (i = 0; i < n; i++) {
            s[j] += g[j * stride + i];
            t[j] += (double)g[j * stride + i] * ((x[j * stride + i] - mean[j]) * invstd[j]);
        }
}
static const tt__row_kernels tt__row_ref_kernels = {tt__row_ref_sum4, tt__row_ref_sqdev4, tt__row_ref_dot4};

#ifdef TT__VEC_SSE
/* the 4 rows' elements i .. i+3, transposed: c[k] = (x_0[i+k], x_1[i+k], x_2[i+k], x_3[i+k]) */
static inline __attribute__((always_inline)) void tt__row_cols4(const float *x, size_t stride, size_t i, __m128 *c) {
    __m128 r0 = _mm_loadu_ps(x + i), r1 = _mm_loadu_ps(x + stride + i);
    __m128 r2 = _mm_loadu_ps(x + 2 * stride + i), r3 = _mm_loadu_ps(x + 3 * stride + i);
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    c[0] = r0; c[1] = r1; c[2] = r2; c[3] = r3;
}
/* lanes 0, 1 and 2, 3 of a float vector as doubles */
#define TT__LO_PD(v) _mm_cvtps_pd(v)
#define TT__HI_PD(v) _mm_cvtps_pd(_mm_movehl_ps((v), (v)))

static void tt__row_sse_sum4(const float *x, size_t stride, size_t n, double *s) {
    __m128d s01 = _mm_loadu_pd(s), s23 = _mm_loadu_pd(s + 2);
    __m128 c[4];
    size_t i = 0;
    int k;
    for (; i + 4 <= n; i += 4) {
        tt__row_cols4(x, stride, i, c);
        for (k = 0; k < 4; k++) {
            s01 = _mm_add_pd(s01, TT__LO_PD(c[k]));
            s23 = _mm_add_pd(s23, TT__HI_PD(c[k]));
        }
    }
    _mm_storeu_pd(s, s01);
    _mm_storeu_pd(s + 2, s23);
    tt__row_ref_sum4(x + i, stride, n - i, s);
}
static void tt__row_sse_sqdev4(const float *x, size_t stride, size_t n, const double *m, double *s) {
    __m128d s01 = _mm_loadu_pd(s), s23 = _mm_loadu_pd(s + 2), m01 = _mm_loadu_pd(m), m23 = _mm_loadu_pd(m + 2);
    __m128 c[4];
    size_t i = 0;
    int k;
    for (; i + 4 <= n; i += 4) {
        tt__row_cols4(x, stride, i, c);
        for (k = 0; k < 4; k++) {
            __m128d d01 = _mm_sub_pd(TT__LO_PD(c[k]), m01), d23 = _mm_sub_pd(TT__HI_PD(c[k]), m23);
            s01 = _mm_add_pd(s01, _mm_mul_pd(d01, d01));
            s23 = _mm_add_pd(s23, _mm_mul_pd(d23, d23));
        }
    }
    _mm_storeu_pd(s, s01);
    _mm_storeu_pd(s + 2, s23);
    tt__row_ref_sqdev4(x + i, stride, n - i, m, s);
}
static void tt__row_sse_dot4(const float *g, const float *x, size_t stride, size_t n, const float *mean,
                             const float *invstd, double *s, double *t) {
    __m128d s01 = _mm_loadu_pd(s), s23 = _mm_loadu_pd(s + 2), t01 = _mm_loadu_pd(t), t23 = _mm_loadu_pd(t + 2);
    __m128 mv = _mm_loadu_ps(mean), iv = _mm_loadu_ps(invstd), cg[4], cx[4];
    size_t i = 0;
    int k;
    for (; i + 4 <= n; i += 4) {
        tt__row_cols4(g, stride, i, cg);
        tt__row_cols4(x, stride, i, cx);
        for (k = 0; k < 4; k++) {
            __m128 xh = _mm_mul_ps(_mm_sub_ps(cx[k], mv), iv);
            __m128d g01 = TT__LO_PD(cg[k]), g23 = TT__HI_PD(cg[k]);
            s01 = _mm_add_pd(s01, g01);
            s23 = _mm_add_pd(s23, g23);
            t01 = _mm_add_pd(t01, _mm_mul_pd(g01, TT__LO_PD(xh)));
            t23 = _mm_add_pd(t23, _mm_mul_pd(g23, TT__HI_PD(xh)));
        }
    }
    _mm_storeu_pd(s, s01);
    _mm_storeu_pd(s + 2, s23);
    _mm_storeu_pd(t, t01);
    _mm_storeu_pd(t + 2, t23);
    tt__row_ref_dot4(g + i, x + i, stride, n - i, mean, invstd, s, t);
}
#undef TT__LO_PD
#undef TT__HI_PD
static const tt__row_kernels tt__rows = {tt__row_sse_sum4, tt__row_sse_sqdev4, tt__row_sse_dot4};
#else
static const tt__row_kernels tt__rows = {tt__row_ref_sum4, tt__row_ref_sqdev4, tt__row_ref_dot4};
#endif

/* ---- element-wise loops on the context's pool ----
   tt__ew_par2(ctx, f, y, x, n) runs f(y, x, n) and tt__ew_par3(ctx, f, y, a, b, n) runs
   f(y, a, b, n) over pieces of [0, n) in parallel above TT__PAR_MIN_CHEAP elements (see
   tt__parallel_range in >>matmul). Each element is computed from its own inputs only, so the
   result is bit-identical for every thread count and every cut. */
typedef struct tt__ew_par {
    void (*f2)(float *y, const float *x, size_t n);
    void (*f3)(float *y, const float *a, const float *b, size_t n);
    float *y;
    const float *a, *b;
} tt__ew_par;
static void tt__ew_par_piece(void *arg, size_t lo, size_t hi) {
    const tt__ew_par *p = (const tt__ew_par *)arg;
    if (p->f2) p->f2(p->y + lo, p->a + lo, hi - lo);
    else p->f3(p->y + lo, p->a + lo, p->b + lo, hi - lo);
}
static void tt__ew_par2(tt_ctx *ctx, void (*f)(float *, const float *, size_t), float *y, const float *x, size_t n) {
    tt__ew_par p;
    p.f2 = f; p.f3 = NULL; p.y = y; p.a = x; p.b = NULL;
    tt__parallel_range(ctx, n, TT__PAR_MIN_CHEAP, 8, tt__ew_par_piece, &p);
}
static void tt__ew_par3(tt_ctx *ctx, void (*f)(float *, const float *, const float *, size_t), float *y,
                        const float *a, const float *b, size_t n) {
    tt__ew_par p;
    p.f2 = NULL; p.f3 = f; p.y = y; p.a = a; p.b = b;
    tt__parallel_range(ctx, n, TT__PAR_MIN_CHEAP, 8, tt__ew_par_piece, &p);
}

/* ---- broadcasting helpers ---- */

/* Broadcast of the shapes (na, sa) and (nb, sb), right-aligned; 0 if incompatible. */
static int tt__broadcast_dims(int na, const int *sa, int nb, const int *sb, int *ndim, int *shape) {
    int nd = TT__MAX(na, nb), i;
    for (i = 0; i < nd; i++) {
        int da = i - (nd - na), db = i - (nd - nb);
        int xa = da >= 0 ? sa[da] : 1, xb = db >= 0 ? sb[db] : 1;
        if (xa != xb && xa != 1 && xb != 1) return 0;
        shape[i] = xa == 1 ? xb : xa;
    }
    *ndim = nd;
    return 1;
}

/* Broadcast shape of a and b; 0 if incompatible. */
static int tt__broadcast_shape(const tt_tensor *a, const tt_tensor *b, int *ndim, int *shape) {
    return tt__broadcast_dims(a->ndim, a->shape, b->ndim, b->shape, ndim, shape);
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

/* Fast broadcasting without the odometer. When each of a and b is either y's shape, a suffix of
   it (a row vector, bias-like: leading dims 1 or missing) or a scalar, then with n the smallest of
   their element counts above 1 (y->numel if none), y is `rows` rows of n elements and each operand
   is either the same row layout (stride 1, row step n), one row repeated (stride 1, row step 0)
   or one value (stride 0). Returns 0 (use the odometer) for any other pattern. */
typedef struct tt__rowcast {
    size_t rows, n, sa, sb, ra, rb; /* element strides sa/sb, row steps ra/rb of a and b */
} tt__rowcast;

/* element count of t if t's shape, right-aligned without its leading 1s, equals y's trailing
   dims (t broadcasts to y by repeating whole blocks); 0 otherwise */
static size_t tt__suffix_numel(const tt_tensor *t, const tt_tensor *y) {
    int d = 0, k;
    while (d < t->ndim && t->shape[d] == 1) d++;
    if (t->ndim - d > y->ndim) return 0;
    for (k = d; k < t->ndim; k++)
        if (t->shape[k] != y->shape[y->ndim - (t->ndim - k)]) return 0;
    return t->numel;
}

static int tt__rowcast_init(tt__rowcast *rc, const tt_tensor *a, const tt_tensor *b, const tt_tensor *y) {
    size_t na = tt__suffix_numel(a, y), nb = tt__suffix_numel(b, y), n = y->numel;
    if (!na || !nb || !n) return 0;
    if (na > 1 && na < n) n = na;
    if (nb > 1 && nb < n) n = nb;
    if ((na != 1 && na != n && na != y->numel) || (nb != 1 && nb != n && nb != y->numel)) return 0;
    rc->n = n;
    rc->rows = y->numel / n;
    rc->sa = na > 1; rc->ra = na == y->numel ? n : 0;
    rc->sb = nb > 1; rc->rb = nb == y->numel ? n : 0;
    return 1;
}

/* y[j] = a[j * sa] op b[j * sb] for j < n; add, sub and mul as plain loops */
static void tt__bin_row(int op, float *y, const float *a, size_t sa, const float *b, size_t sb, size_t n) {
    size_t j;
    if (sa && sb) {
        if (op == TT__BIN_ADD) { tt__ew.add(y, a, b, n); return; }
        if (op == TT__BIN_SUB) { for (j = 0; j < n; j++) y[j] = a[j] - b[j]; return; }
        if (op == TT__BIN_MUL) { for (j = 0; j < n; j++) y[j] = a[j] * b[j]; return; }
    }
    for (j = 0; j < n; j++) y[j] = tt__bin_f(op, a[j * sa], b[j * sb]);
}

/* backward of one row: ga[j * sa] += dy[j] * da, gb[j * sb] += dy[j] * db (NULL grads skipped),
   in the element order of the odometer, so sums over broadcast rows round the same */
static void tt__bin_row_backward(int op, const float *gy, const float *y, const float *a, float *ga, size_t sa,
                                 const float *b, float *gb, size_t sb, size_t n) {
    size_t j;
    if (op == TT__BIN_ADD || op == TT__BIN_SUB) { /* d = +-1: g * 1 = g and x + g * -1 = x - g exactly */
        if (ga && sa) tt__ew.add_into(ga, gy, n);
        else if (ga) for (j = 0; j < n; j++) ga[0] += gy[j];
        if (gb && sb && op == TT__BIN_ADD) tt__ew.add_into(gb, gy, n);
        else if (gb && sb) tt__ew.sub_into(gb, gy, n);
        else if (gb && op == TT__BIN_ADD) for (j = 0; j < n; j++) gb[0] += gy[j];
        else if (gb) for (j = 0; j < n; j++) gb[0] -= gy[j];
        return;
    }
    if (op == TT__BIN_MUL) {
        if (ga) for (j = 0; j < n; j++) ga[j * sa] += gy[j] * b[j * sb];
        if (gb) for (j = 0; j < n; j++) gb[j * sb] += gy[j] * a[j * sa];
        return;
    }
    for (j = 0; j < n; j++) {
        float da, db;
        tt__bin_df(op, a[j * sa], b[j * sb], y[j], &da, &db);
        if (ga) ga[j * sa] += gy[j] * da;
        if (gb) gb[j * sb] += gy[j] * db;
    }
}

/* Rows of a rowcast on the pool: with one row (operands of y's shape or scalars) pieces of its
   elements, else pieces of whole rows. Each output element (and, in backward, each gradient
   element: only used when no operand gradient sums over rows) is computed by the same
   operations whatever the cut, so results are bit-identical for every thread count. */
typedef struct tt__bin_par {
    int op;
    const tt__rowcast *rc;
    const tt_tensor *y, *a, *b;
} tt__bin_par;
static void tt__bin_forward_piece(void *arg, size_t lo, size_t hi) {
    const tt__bin_par *p = (const tt__bin_par *)arg;
    const tt__rowcast *rc = p->rc;
    size_t i;
    if (rc->rows == 1) {
        tt__bin_row(p->op, p->y->data + lo, p->a->data + lo * rc->sa, rc->sa, p->b->data + lo * rc->sb, rc->sb, hi - lo);
        return;
    }
    for (i = lo; i < hi; i++)
        tt__bin_row(p->op, p->y->data + i * rc->n, p->a->data + i * rc->ra, rc->sa, p->b->data + i * rc->rb, rc->sb,
                    rc->n);
}
static void tt__bin_backward_piece(void *arg, size_t lo, size_t hi) {
    const tt__bin_par *p = (const tt__bin_par *)arg;
    const tt__rowcast *rc = p->rc;
    float *ga = p->a->grad, *gb = p->b->grad;
    size_t i;
    if (rc->rows == 1) { /* gradients present are of y's shape (stride 1) */
        tt__bin_row_backward(p->op, p->y->grad + lo, p->y->data + lo, p->a->data + lo * rc->sa, ga ? ga + lo : NULL,
                             rc->sa, p->b->data + lo * rc->sb, gb ? gb + lo : NULL, rc->sb, hi - lo);
        return;
    }
    for (i = lo; i < hi; i++) {
        size_t oa = i * rc->ra, ob = i * rc->rb, oy = i * rc->n;
        tt__bin_row_backward(p->op, p->y->grad + oy, p->y->data + oy, p->a->data + oa, ga ? ga + oa : NULL, rc->sa,
                             p->b->data + ob, gb ? gb + ob : NULL, rc->sb, rc->n);
    }
}
/* backward, columns [j0, j1) of every row: a row-vector operand's gradient (row step 0) sums
   its rows in row order, as the serial loop does */
static void tt__bin_backward_cols(void *arg, size_t j0, size_t j1) {
    const tt__bin_par *p = (const tt__bin_par *)arg;
    const tt__rowcast *rc = p->rc;
    float *ga = p->a->grad, *gb = p->b->grad;
    size_t i;
    for (i = 0; i < rc->rows; i++) {
        size_t oa = i * rc->ra + j0 * rc->sa, ob = i * rc->rb + j0 * rc->sb, oy = i * rc->n + j0;
        tt__bin_row_backward(p->op, p->y->grad + oy, p->y->data + oy, p->a->data + oa, ga ? ga + oa : NULL, rc->sa,
                             p->b->data + ob, gb ? gb + ob : NULL, rc->sb, j1 - j0);
    }
}
static void tt__bin_parallel(tt_ctx *ctx, tt__bin_par *bp, tt__range_fn piece) {
    const tt__rowcast *rc = bp->rc;
    if (rc->rows == 1) tt__parallel_range(ctx, rc->n, TT__PAR_MIN_CHEAP, 8, piece, bp);
    else tt__parallel_range(ctx, rc->rows, TT__PAR_MIN_CHEAP / (rc->n ? rc->n : 1) + 1, 1, piece, bp);
}

static void tt__binary_backward(tt_ctx *ctx, tt__node *n) {
    tt_tensor *a = n->in[0], *b = n->in[1], *y = n->out;
    int op = n->i[0];
    tt__bcast it;
    tt__rowcast rc;
    size_t i;
    (void)ctx;
    if ((a->grad != b->grad || tt_same_shape(a, b)) && tt__rowcast_init(&rc, a, b, y)) {
        tt__bin_par bp;
        bp.op = op; bp.rc = &rc; bp.y = y; bp.a = a; bp.b = b;
        if ((!a->grad || rc.ra) && (!b->grad || rc.rb)) { /* no gradient sums over rows: rows on the pool */
            tt__bin_parallel(ctx, &bp, tt__bin_backward_piece);
            return;
        }
        if ((!a->grad || rc.sa) && (!b->grad || rc.sb)) { /* row-vector gradients: columns on the pool */
            tt__parallel_range(ctx, rc.n, rc.rows ? TT__PAR_MIN_CHEAP / rc.rows + 1 : 1, 8, tt__bin_backward_cols, &bp);
            return;
        }
        for (i = 0; i < rc.rows; i++) {
            size_t oa = i * rc.ra, ob = i * rc.rb, oy = i * rc.n;
            tt__bin_row_backward(op, y->grad + oy, y->data + oy, a->data + oa, a->grad ? a->grad + oa : NULL, rc.sa,
                                 b->data + ob, b->grad ? b->grad + ob : NULL, rc.sb, rc.n);
        }
        return;
    }
    tt__bcast_init(&it, a, b, y->ndim, y->shape);
    for (i = 0; i < y->numel; i++, tt__bcast_next(&it)) {
        float da, db, g = y->grad[i];
        tt__bin_df(op, a->data[it.oa], b->data[it.ob], y->data[i], &da, &db);
        if (a->grad) a->grad[it.oa] += g * da;
        if (b->grad) b->grad[it.ob] += g * db;
    }
}

static tt_tensor *tt__binary_run(tt_ctx *ctx, const char *op, int kind, tt_tensor *a, tt_tensor *b) {
    int nd, shape[TT_MAX_DIMS];
    tt__rowcast rc;
    tt_tensor *y;
    size_t i;
    if (!tt__in(ctx, op, a) || !tt__in(ctx, op, b)) return NULL;
    if (!tt__broadcast_shape(a, b, &nd, shape)) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: shapes %S and %S do not broadcast", op, a, b);
        return NULL;
    }
    y = tt__out(ctx, op, nd, shape, a, b, NULL);
    if (!y) return NULL;
    if (ctx->backend) return tt__bk_op(ctx, y, TT_BOP_BINARY, a, b, NULL, kind); /* i[0]: 0 add 1 sub 2 mul 3 div */
    if (tt__rowcast_init(&rc, a, b, y)) { /* same shape, row vector, scalar: no odometer, on the pool */
        tt__bin_par bp;
        bp.op = kind; bp.rc = &rc; bp.y = y; bp.a = a; bp.b = b;
        tt__bin_parallel(ctx, &bp, tt__bin_forward_piece);
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

static tt_tensor *tt__binary(tt_ctx *ctx, const char *op, int kind, tt_tensor *a, tt_tensor *b) {
    unsigned long long fp = tt__fp_enter(ctx);
    tt_tensor *y = tt__binary_run(ctx, op, kind, a, b);
    tt__fp_leave(ctx, fp);
    return y;
}

TT__DEF tt_tensor *tt_add(tt_ctx *ctx, tt_tensor *a, tt_tensor *b) { return tt__binary(ctx, "add", TT__BIN_ADD, a, b); }
TT__DEF tt_tensor *tt_mul(tt_ctx *ctx, tt_tensor *a, tt_tensor *b) { return tt__binary(ctx, "mul", TT__BIN_MUL, a, b); }


/* ---- relu: the smallest complete op ---- */
static void tt__relu_backward(tt_ctx *ctx, tt__node *n) {
    tt_tensor *x = n->in[0], *y = n->out;
    if (!x->grad) return;
    /* for each i: if (x->data[i] > 0) x->grad[i] += y->grad[i]; */
    tt__ew_par3(ctx, tt__ew.relu_backward, x->grad, x->data, y->grad, y->numel);
}

TT__DEF tt_tensor *tt_relu(tt_ctx *ctx, tt_tensor *x) {
    tt_tensor *y;
    if (!tt__in(ctx, "relu", x)) return NULL;
    y = tt__out(ctx, "relu", x->ndim, x->shape, x, NULL, NULL);
    if (!y) return NULL;
    if (ctx->backend) return tt__bk_op(ctx, y, TT_BOP_RELU, x, NULL, NULL, 0); /* runs on the backend */
    tt__ew_par2(ctx, tt__ew.relu, y->data, x->data, x->numel); /* y->data[i] = x->data[i] > 0 ? x->data[i] : 0 */
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
    if (ctx->backend) return tt__bk_op(ctx, y, TT_BOP_SUM, x, NULL, NULL, 0);
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
    if (m == 0 || nn == 0 || k == 0) return; /* an empty dY, dA or dB: nothing to add (as torch) */
    for (bi = 0; bi < nb; bi++) {
        size_t ia = tt__batch_index(a, y->shape, obd, bi), ib = tt__batch_index(b, y->shape, obd, bi);
        const float *gy = y->grad + bi * (size_t)m * nn;
        /* dA = dY B^T ; dB = A^T dY (accumulate: beta = 1) */
        if (a->grad &&
            tt_ctx_sgemm(ctx, 0, 1, m, k, nn, 1.0f, gy, nn, b->data + ib * (size_t)k * nn, nn, 1.0f, a->grad + ia * (size_t)m * k, k) != TT_OK)
            return;
        if (b->grad &&
            tt_ctx_sgemm(ctx, 1, 0, k, nn, m, 1.0f, a->data + ia * (size_t)m * k, k, gy, nn, 1.0f, b->grad + ib * (size_t)k * nn, nn) != TT_OK)
            return;
    }
}

TT__DEF tt_tensor *tt_matmul(tt_ctx *ctx, tt_tensor *a, tt_tensor *b) {
    int shape[TT_MAX_DIMS], obd, m, k, nn;
    tt_tensor *y;
    size_t nb, bi;
    if (!tt__in(ctx, "matmul", a) || !tt__in(ctx, "matmul", b)) return NULL;
    if (a->ndim < 2 || b->ndim < 2 || a->shape[a->ndim - 1] != b->shape[b->ndim - 2]) {
        tt__fail(ctx, TT_ERR_SHAPE, "matmul: shapes %S and %S do not fit (need (...,m,k) x (...,k,n))", a, b);
        return NULL;
    }
    m = a->shape[a->ndim - 2]; k = a->shape[a->ndim - 1]; nn = b->shape[b->ndim - 1];
    if (!tt__broadcast_dims(a->ndim - 2, a->shape, b->ndim - 2, b->shape, &obd, shape)) {
        tt__fail(ctx, TT_ERR_SHAPE, "matmul: batch dimensions of %S and %S do not broadcast", a, b);
        return NULL;
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

/* Adds the column sums of g (rows, cols) into out (cols): the gradient of a broadcast bias.
   On the context's pool in pieces of columns (rows x cols above TT__PAR_MIN_CHEAP); every
   column adds its rows in row order whatever the cut, so the bits never depend on threads. */
typedef struct tt__colsum_par {
    float *out;
    const float *g;
    size_t rows, cols;
} tt__colsum_par;
static void tt__colsum_piece(void *arg, size_t j0, size_t j1) {
    const tt__colsum_par *p = (const tt__colsum_par *)arg;
    size_t r;
    for (r = 0; r < p->rows; r++) tt__ew.add_into(p->out + j0, p->g + r * p->cols + j0, j1 - j0); /* out[j] += g[r * cols + j] */
}
static void tt__colsum_add(tt_ctx *ctx, float *out, const float *g, size_t rows, size_t cols) {
    tt__colsum_par p;
    p.out = out; p.g = g; p.rows = rows; p.cols = cols;
    tt__parallel_range(ctx, cols, rows ? TT__PAR_MIN_CHEAP / rows + 1 : 1, 8, tt__colsum_piece, &p);
}

/* y (rows, out) = x (rows, in) W^T + b for W (out, in) and b (out) or NULL. The affine map of
   tt_linear, shared with the gate pre-activations of the recurrent cells. */
static tt_result tt__affine_fwd(tt_ctx *ctx, float *y, const float *x, int rows, const tt_tensor *w, const tt_tensor *b) {
    int in = w->shape[1], out = w->shape[0], r;
    if (b)
        for (r = 0; r < rows; r++) memcpy(y + (size_t)r * out, b->data, (size_t)out * sizeof(float));
    if (!rows || !out) return TT_OK;
    return tt_ctx_sgemm(ctx, 0, 1, rows, out, in, 1.0f, x, TT__MAX(in, 1), w->data, TT__MAX(in, 1), b ? 1.0f : 0.0f, y,
                        TT__MAX(out, 1));
}

/* Backward of tt__affine_fwd given dy (rows, out): adds into the grads of x, w, b that exist. */
static void tt__affine_bwd(tt_ctx *ctx, const float *dy, int rows, tt_tensor *x, tt_tensor *w, tt_tensor *b) {
    int in = w->shape[1], out = w->shape[0];
    if (rows == 0) return;
    /* dX = dY W ; dW = dY^T X ; db = column sums of dY (accumulate: beta = 1) */
    if (x->grad) tt_ctx_sgemm(ctx, 0, 0, rows, in, out, 1.0f, dy, TT__MAX(out, 1), w->data, TT__MAX(in, 1), 1.0f, x->grad, TT__MAX(in, 1));
    if (w->grad) tt_ctx_sgemm(ctx, 1, 0, out, in, rows, 1.0f, dy, TT__MAX(out, 1), x->data, TT__MAX(in, 1), 1.0f, w->grad, TT__MAX(in, 1));
    if (b && b->grad) tt__colsum_add(ctx, b->grad, dy, (size_t)rows, (size_t)out);
}

static void tt__linear_backward(tt_ctx *ctx, tt__node *n) {
    tt__affine_bwd(ctx, n->out->grad, n->i[0], n->in[0], n->in[1], n->in[2]);
}

TT__DEF tt_tensor *tt_linear(tt_ctx *ctx, tt_tensor *x, tt_tensor *w, tt_tensor *b) {
    int shape[TT_MAX_DIMS], rows, i;
    tt_tensor *y;
    if (!tt__in(ctx, "linear", x) || !tt__in(ctx, "linear", w) || !tt__in_opt(ctx, "linear", b)) return NULL;
    if (x->ndim < 1 || w->ndim != 2 || x->shape[x->ndim - 1] != w->shape[1] ||
        (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))) {
        tt__fail(ctx, TT_ERR_SHAPE, "linear: x %S, weight %S, bias %S do not fit (need x (...,in), weight (out,in), bias (out))",
                 x, w, b);
        return NULL;
    }
    if (tt_shape_numel(x->ndim - 1, x->shape) > 0x7fffffff) {
        tt__fail(ctx, TT_ERR_SHAPE, "linear: input %S has too many rows (more than 2147483647)", x);
        return NULL;
    }
    rows = (int)tt_shape_numel(x->ndim - 1, x->shape); /* x as (rows, in) */
    for (i = 0; i < x->ndim - 1; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = w->shape[0];
    y = tt__out(ctx, "linear", x->ndim, shape, x, w, b);
    if (!y) return NULL;
    if (ctx->backend) return tt__bk_op(ctx, y, TT_BOP_LINEAR, x, w, b, rows);
    if (tt__affine_fwd(ctx, y->data, x->data, rows, w, b) != TT_OK) return NULL;
    if (y->node) {
        y->node->i[0] = rows;
        y->node->backward = tt__linear_backward;
    }
    return tt__done(ctx, y);
}

TT__DEF tt_result tt_sgd_step_simple(tt_ctx *ctx, float lr) {
    size_t i;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!(lr >= 0)) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_sgd_step_simple: lr must be >= 0, got %g", (double)lr);
    if (ctx->n_params == 0) tt__warn(ctx, "tt_sgd_step_simple: the context has no parameters");
    if (ctx->backend) {
        tt_optim_hparams h;
        tt_backend_update u;
        memset(&h, 0, sizeof h); memset(&u, 0, sizeof u);
        h.lr = lr;
        u.kind = TT_OPTIM_SGD; u.h = &h; u.gsign = 1.0f; u.t = 1;
        u.x = ctx->param_data; u.g = ctx->param_grad; u.n = ctx->n_params;
        return ctx->n_params ? ctx->backend->update(ctx, &u) : TT_OK;
    }
    for (i = 0; i < ctx->n_params; i++) ctx->param_data[i] -= lr * ctx->param_grad[i];
    return TT_OK;
}


/* ==================================================================================== >>ops_math */

/* ---- binary ops: the core's broadcasting tt__binary does forward and backward ---- */

TT__DEF tt_tensor *tt_sub(tt_ctx *ctx, tt_tensor *a, tt_tensor *b) { return tt__binary(ctx, "sub", TT__BIN_SUB, a, b); }
TT__DEF tt_tensor *tt_div(tt_ctx *ctx, tt_tensor *a, tt_tensor *b) { return tt__binary(ctx, "div", TT__BIN_DIV, a, b); }
TT__DEF tt_tensor *tt_pow(tt_ctx *ctx, tt_tensor *a, tt_tensor *b) { return tt__binary(ctx, "pow", TT__BIN_POW, a, b); }
TT__DEF tt_tensor *tt_maximum(tt_ctx *ctx, tt_tensor *a, tt_tensor *b) { return tt__binary(ctx, "maximum", TT__BIN_MAX, a, b); }
TT__DEF tt_tensor *tt_minimum(tt_ctx *ctx, tt_tensor *a, tt_tensor *b) { return tt__binary(ctx, "minimum", TT__BIN_MIN, a, b); }

/* ---- vectorised exp (AVX2 + FMA; everywhere else, and as the reference, libm's expf) ----
   exp(x) = 2^n * e^r with n = round(x / ln 2), r = x - n ln 2 (two-part ln 2, FMA), |r| <= ln2/2,
   e^r = 1 + r + r^2 P(r) (Cephes expf's degree-5 P). x is clamped to [-104, 89] first (exp(-104)
   rounds to 0 and exp(89) overflows, so the clamp changes no result) and 2^n is applied as two
   factors 2^(n>>1) * 2^(n - (n>>1)), so overflow gives inf and subnormal results are rounded once.
   NaN gives NaN. Stated bound: 1 ulp from exp(x) (ulp of the correctly rounded result; 2^-149
   for subnormal results). tests/test_vexp.c checks it against double exp on every 251st float
   bit pattern of all 2^32, +-4096 floats around each threshold and the special cases: worst
   measured 0.97 ulp. libm's expf (the scalar reference) is within 1 ulp too, so the two differ
   by at most 2 ulp (tested). PyTorch's goldens for exp (rtol 1e-6, about 8 ulp) still hold. */
#ifdef TT__GEMM_X86
/* TT__KEEP(v): v is materialised in a register, so the compiler cannot fuse the multiply that
   made it with a following add (GCC contracts a * b + c into an FMA by default outside strict
   ISO modes, -std=gnu*, in these FMA-enabled functions). The fast paths below state the same
   float operations as their scalar references; without it a GNU-mode build would round
   differently (still within the bounds, but not bit-identical). Emits no instruction. */
#define TT__KEEP(v) __asm__("" : "+x"(v))

__attribute__((target("avx2,fma"), always_inline))
static inline __m256 tt__vexp_avx2(__m256 v) {
    const __m256 lo = _mm256_set1_ps(-104.0f), hi = _mm256_set1_ps(89.0f);
    __m256 nanm = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    __m256 t = _mm256_min_ps(hi, _mm256_max_ps(lo, v)); /* NaN lanes are patched at the end */
    __m256 n = _mm256_round_ps(_mm256_mul_ps(t, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), t);
    __m256 p, r2;
    __m256i ni, n1, n2;
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    r2 = _mm256_mul_ps(r, r);
    p = _mm256_fmadd_ps(_mm256_set1_ps(1.9875691500e-4f), r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_add_ps(_mm256_fmadd_ps(p, r2, r), _mm256_set1_ps(1.0f)); /* 1 + (r + r^2 P): r kept whole */
    ni = _mm256_cvtps_epi32(n);                  /* -150 .. 129 */
    n1 = _mm256_srai_epi32(ni, 1);
    n2 = _mm256_sub_epi32(ni, n1);
    p = _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23)));
    p = _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23)));
    TT__KEEP(p);
    return _mm256_blendv_ps(p, v, nanm);
}

__attribute__((target("avx2,fma")))
static void tt__vexp_avx2_8(float *y, const float *x) { _mm256_storeu_ps(y, tt__vexp_avx2(_mm256_loadu_ps(x))); }

/* ---- vectorised erf and tanh (AVX2 + FMA; the scalar reference is libm's erff / tanhf) ----
   Both work on a = |x| and put the sign back at the end (odd functions; -0 stays -0).
   erf:  a < 0.875:  erf = a + a Q(a^2), Q a degree-6 polynomial (least squares on Chebyshev
                     nodes, relative error 3e-9 before rounding);
         a >= 0.875: erf = 1 - exp(R(a)), R(a) ~ log(erfc(a)) a degree-8 polynomial in
                     a - 0.875 fitted with erfc(a) as the weight (the error of exp(R) counts
                     times erfc); a is clamped to 4, where exp(R) < 2^-25 so erf rounds to 1
                     (as it does from 3.92 on); inf gives 1, NaN gives NaN.
   tanh: a < 0.75:   tanh = a + a^3 P(a^2), P of degree 6;
         a >= 0.75:  tanh = 1 - 2 / (exp(2a) + 1) (exp overflows to inf from a = 44.4: 1).
   Stated bound: 2 ulp from the function (ulp of the correctly rounded float result; 2^-149 for
   subnormal results). tests/test_vmath.c checks it against double erf / tanh on every 509th
   float bit pattern, +-4096 floats around each branch point and the special cases; an
   exhaustive run over all 2^32 floats measured 1.063 ulp (erf, at 1.0607) and 1.057 ulp (tanh,
   at 0.8665). libm's erff and tanhf measured within 0.9 and 2.2 ulp, so the fast and the scalar
   path differ by at most 3 (erf) and 5 (tanh) ulp (tested). */
__attribute__((target("avx2,fma"), always_inline))
static inline __m256 tt__verf_avx2(__m256 x) {
    const __m256 sm = _mm256_set1_ps(-0.0f), c = _mm256_set1_ps(0.875f);
    __m256 s = _mm256_and_ps(x, sm), a = _mm256_andnot_ps(sm, x), t = _mm256_mul_ps(a, a), q, u, r;
    q = _mm256_fmadd_ps(_mm256_set1_ps(8.694667795e-05f), t, _mm256_set1_ps(-8.215559847e-04f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(5.207134257e-03f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(-2.686173980e-02f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(1.128373582e-01f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(-3.761263625e-01f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(1.283791669e-01f));
    q = _mm256_fmadd_ps(a, q, a); /* NaN stays here */
    u = _mm256_sub_ps(_mm256_min_ps(_mm256_max_ps(a, c), _mm256_set1_ps(4.0f)), c);
    r = _mm256_fmadd_ps(_mm256_set1_ps(-7.557962055e-07f), u, _mm256_set1_ps(-1.621756276e-05f));
    r = _mm256_fmadd_ps(r, u, _mm256_set1_ps(2.926789967e-04f));
    r = _mm256_fmadd_ps(r, u, _mm256_set1_ps(-2.212595188e-03f));
    r = _mm256_fmadd_ps(r, u, _mm256_set1_ps(1.135363516e-02f));
    r = _mm256_fmadd_ps(r, u, _mm256_set1_ps(-4.690344203e-02f));
    r = _mm256_fmadd_ps(r, u, _mm256_set1_ps(-8.265408202e-01f));
    r = _mm256_fmadd_ps(r, u, _mm256_set1_ps(-2.430219761e+00f));
    r = _mm256_fmadd_ps(r, u, _mm256_set1_ps(-1.532824436e+00f));
    r = _mm256_sub_ps(_mm256_set1_ps(1.0f), tt__vexp_avx2(r));
    return _mm256_or_ps(_mm256_blendv_ps(q, r, _mm256_cmp_ps(a, c, _CMP_GE_OQ)), s);
}

__attribute__((target("avx2,fma"), always_inline))
static inline __m256 tt__vtanh_avx2(__m256 x) {
    const __m256 sm = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    __m256 s = _mm256_and_ps(x, sm), a = _mm256_andnot_ps(sm, x), t = _mm256_mul_ps(a, a), p, e;
    p = _mm256_fmadd_ps(_mm256_set1_ps(-6.330923865e-04f), t, _mm256_set1_ps(2.970198991e-03f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-8.596964600e-03f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(2.180443977e-02f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-5.395958531e-02f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.333327785e-01f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-3.333333212e-01f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(a, t), p, a); /* NaN stays here */
    e = tt__vexp_avx2(_mm256_add_ps(a, a));
    e = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
    return _mm256_or_ps(_mm256_blendv_ps(p, e, _mm256_cmp_ps(a, _mm256_set1_ps(0.75f), _CMP_GE_OQ)), s);
}

__attribute__((target("avx2,fma")))
static void tt__verf_avx2_8(float *y, const float *x) { _mm256_storeu_ps(y, tt__verf_avx2(_mm256_loadu_ps(x))); }
__attribute__((target("avx2,fma")))
static void tt__vtanh_avx2_8(float *y, const float *x) { _mm256_storeu_ps(y, tt__vtanh_avx2(_mm256_loadu_ps(x))); }
#endif

#ifdef TT__GEMM_X86 /* 8 floats: the names the NEON code below shares */
static void tt__vexp8(float *y, const float *x) { tt__vexp_avx2_8(y, x); }
static void tt__verf8(float *y, const float *x) { tt__verf_avx2_8(y, x); }
static void tt__vtanh8(float *y, const float *x) { tt__vtanh_avx2_8(y, x); }
#endif

/* The same three functions for aarch64 NEON, 4 lanes: the AVX2 code's operations one for one
   (the same fused multiply-adds, round-to-nearest-even, clamps and bit tricks), so they give the
   same results as the AVX2 functions and the same bounds (tests/test_vmath.c runs under
   qemu-aarch64 in `make test-neon`). */
#ifdef TT__GEMM_NEON
static float32x4_t tt__vexp_neon(float32x4_t v) {
    uint32x4_t nanm = vmvnq_u32(vceqq_f32(v, v));
    float32x4_t t = vminq_f32(vdupq_n_f32(89.0f), vmaxq_f32(vdupq_n_f32(-104.0f), v));
    float32x4_t n = vrndnq_f32(vmulq_f32(t, vdupq_n_f32(1.44269504088896341f)));
    float32x4_t r = vfmsq_f32(t, n, vdupq_n_f32(0.693359375f)), p, r2;
    int32x4_t ni, n1, n2;
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    r2 = vmulq_f32(r, r);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), vdupq_n_f32(1.9875691500e-4f), r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    p = vaddq_f32(vfmaq_f32(r, p, r2), vdupq_n_f32(1.0f));
    ni = vcvtq_s32_f32(n);
    n1 = vshrq_n_s32(ni, 1);
    n2 = vsubq_s32(ni, n1);
    p = vmulq_f32(p, vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, vdupq_n_s32(127)), 23)));
    p = vmulq_f32(p, vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, vdupq_n_s32(127)), 23)));
    return vbslq_f32(nanm, v, p);
}

static float32x4_t tt__verf_neon(float32x4_t x) {
    const float32x4_t c = vdupq_n_f32(0.875f);
    uint32x4_t s = vandq_u32(vreinterpretq_u32_f32(x), vdupq_n_u32(0x80000000u));
    float32x4_t a = vabsq_f32(x), t = vmulq_f32(a, a), q, u, r;
    q = vfmaq_f32(vdupq_n_f32(-8.215559847e-04f), vdupq_n_f32(8.694667795e-05f), t);
    q = vfmaq_f32(vdupq_n_f32(5.207134257e-03f), q, t);
    q = vfmaq_f32(vdupq_n_f32(-2.686173980e-02f), q, t);
    q = vfmaq_f32(vdupq_n_f32(1.128373582e-01f), q, t);
    q = vfmaq_f32(vdupq_n_f32(-3.761263625e-01f), q, t);
    q = vfmaq_f32(vdupq_n_f32(1.283791669e-01f), q, t);
    q = vfmaq_f32(a, a, q);
    u = vsubq_f32(vminq_f32(vmaxq_f32(a, c), vdupq_n_f32(4.0f)), c);
    r = vfmaq_f32(vdupq_n_f32(-1.621756276e-05f), vdupq_n_f32(-7.557962055e-07f), u);
    r = vfmaq_f32(vdupq_n_f32(2.926789967e-04f), r, u);
    r = vfmaq_f32(vdupq_n_f32(-2.212595188e-03f), r, u);
    r = vfmaq_f32(vdupq_n_f32(1.135363516e-02f), r, u);
    r = vfmaq_f32(vdupq_n_f32(-4.690344203e-02f), r, u);
    r = vfmaq_f32(vdupq_n_f32(-8.265408202e-01f), r, u);
    r = vfmaq_f32(vdupq_n_f32(-2.430219761e+00f), r, u);
    r = vfmaq_f32(vdupq_n_f32(-1.532824436e+00f), r, u);
    r = vsubq_f32(vdupq_n_f32(1.0f), tt__vexp_neon(r));
    r = vbslq_f32(vcgeq_f32(a, c), r, q);
    return vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(r), s));
}

static float32x4_t tt__vtanh_neon(float32x4_t x) {
    const float32x4_t one = vdupq_n_f32(1.0f);
    uint32x4_t s = vandq_u32(vreinterpretq_u32_f32(x), vdupq_n_u32(0x80000000u));
    float32x4_t a = vabsq_f32(x), t = vmulq_f32(a, a), p, e;
    p = vfmaq_f32(vdupq_n_f32(2.970198991e-03f), vdupq_n_f32(-6.330923865e-04f), t);
    p = vfmaq_f32(vdupq_n_f32(-8.596964600e-03f), p, t);
    p = vfmaq_f32(vdupq_n_f32(2.180443977e-02f), p, t);
    p = vfmaq_f32(vdupq_n_f32(-5.395958531e-02f), p, t);
    p = vfmaq_f32(vdupq_n_f32(1.333327785e-01f), p, t);
    p = vfmaq_f32(vdupq_n_f32(-3.333333212e-01f), p, t);
    p = vfmaq_f32(a, vmulq_f32(a, t), p);
    e = tt__vexp_neon(vaddq_f32(a, a));
    e = vsubq_f32(one, vdivq_f32(vdupq_n_f32(2.0f), vaddq_f32(e, one)));
    e = vbslq_f32(vcgeq_f32(a, vdupq_n_f32(0.75f)), e, p);
    return vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(e), s));
}

static void tt__vexp8(float *y, const float *x) {
    vst1q_f32(y, tt__vexp_neon(vld1q_f32(x)));
    vst1q_f32(y + 4, tt__vexp_neon(vld1q_f32(x + 4)));
}
static void tt__verf8(float *y, const float *x) {
    vst1q_f32(y, tt__verf_neon(vld1q_f32(x)));
    vst1q_f32(y + 4, tt__verf_neon(vld1q_f32(x + 4)));
}
static void tt__vtanh8(float *y, const float *x) {
    vst1q_f32(y, tt__vtanh_neon(vld1q_f32(x)));
    vst1q_f32(y + 4, tt__vtanh_neon(vld1q_f32(x + 4)));
}
#endif

/* 1 when the vectorised exp / erf / tanh are used: the context's matmul kernel is AVX2 or
   AVX-512 (so the CPU has AVX2 + FMA) or NEON; 0 keeps libm (TT_KERNEL_SCALAR, other CPUs,
   TT_NO_SIMD). The other fast paths of this chapter and of >>ops_nn / >>loss that test it are
   x86-only (inside #ifdef TT__GEMM_X86). */
static int tt__vmath(const tt_ctx *ctx) {
#if defined(TT__GEMM_X86)
    return ctx->kernel == TT_KERNEL_AVX2 || ctx->kernel == TT_KERNEL_AVX512;
#elif defined(TT__GEMM_NEON)
    return ctx->kernel == TT_KERNEL_NEON;
#else
    (void)ctx;
    return 0;
#endif
}

enum { TT__VM_EXP, TT__VM_ERF, TT__VM_TANH };

/* y[i] = f(x[i]) for f = exp, erf or tanh (TT__VM_*); y may equal x. Vectorised when
   tt__vmath(ctx), else libm. The tail goes through a padded block, so an element's result does
   not depend on its position. */
static void tt__vec_math(const tt_ctx *ctx, int f, float *y, const float *x, size_t n) {
    size_t i = 0;
    (void)ctx;
#if defined(TT__GEMM_X86) || defined(TT__GEMM_NEON)
    if (tt__vmath(ctx)) {
        void (*k8)(float *, const float *) = f == TT__VM_EXP ? tt__vexp8 : f == TT__VM_ERF ? tt__verf8 : tt__vtanh8;
        float bx[8], by[8];
        for (; i + 8 <= n; i += 8) k8(y + i, x + i);
        if (i < n) {
            size_t k, m = n - i;
            for (k = 0; k < 8; k++) bx[k] = k < m ? x[i + k] : 0.0f;
            k8(by, bx);
            for (k = 0; k < m; k++) y[i + k] = by[k];
        }
        return;
    }
#endif
    for (; i < n; i++) y[i] = f == TT__VM_EXP ? expf(x[i]) : f == TT__VM_ERF ? erff(x[i]) : tanhf(x[i]);
}

static void tt__vec_exp(const tt_ctx *ctx, float *y, const float *x, size_t n) { tt__vec_math(ctx, TT__VM_EXP, y, x, n); }


/* y[j] = (float)((double)y[j] / s): 4 lanes of the same IEEE double division (bit-identical) */
#ifdef TT__GEMM_X86
__attribute__((target("avx2,fma")))
static void tt__div_by_d_avx2(float *y, size_t n, double s) {
    __m256d d = _mm256_set1_pd(s);
    size_t j = 0;
    for (; j + 4 <= n; j += 4) _mm_storeu_ps(y + j, _mm256_cvtpd_ps(_mm256_div_pd(_mm256_cvtps_pd(_mm_loadu_ps(y + j)), d)));
    for (; j < n; j++) y[j] = (float)((double)y[j] / s);
}
#endif

static void tt__div_by_d(float *y, size_t n, double s) { /* only called when tt__vmath */
#ifdef TT__GEMM_X86
    tt__div_by_d_avx2(y, n, s);
#else
    size_t j;
    for (j = 0; j < n; j++) y[j] = (float)((double)y[j] / s);
#endif
}

/* tt__softmax_row and tt__softmax_row_backward (>>util, the scalar reference) with the
   vectorised exp for contiguous rows (stride 1) when tt__vmath(ctx): the same operations in the
   same order (max, x - max, exp, sequential double sum, ...), only expf is replaced, so each
   element is within the exp bound of the scalar kernel (tested in tests/test_vexp.c).
   Other strides and contexts call the scalar kernels. */
static void tt__softmax_row_v(const tt_ctx *ctx, const float *x, float *y, size_t n, size_t stride, int log_form) {
    float m = -INFINITY, log_s, e[64];
    double s = 0;
    size_t j, b, k, len;
    if (stride != 1 || !tt__vmath(ctx)) {
        tt__softmax_row(x, y, n, stride, log_form);
        return;
    }
    for (j = 0; j < n; j++)
        if (x[j] > m || x[j] != x[j]) m = x[j];
    for (b = 0; b < n; b += len) {
        len = n - b < 64 ? n - b : 64;
        for (k = 0; k < len; k++) e[k] = x[b + k] - m;
        tt__vec_exp(ctx, e, e, len);
        for (k = 0; k < len; k++) {
            s += e[k];
            if (!log_form) y[b + k] = e[k];
        }
    }
    if (log_form) {
        log_s = (float)log(s);
        for (j = 0; j < n; j++) y[j] = (x[j] - m) - log_s;
    } else {
        tt__div_by_d(y, n, s);
    }
}

static void tt__softmax_row_backward_v(const tt_ctx *ctx, const float *y, const float *dy, float *dx, size_t n,
                                       size_t stride, int log_form, int accumulate) {
    float e[64];
    double s = 0;
    size_t j, b, k, len;
    if (stride != 1 || !log_form || !tt__vmath(ctx)) { /* softmax's backward has no exp */
        tt__softmax_row_backward(y, dy, dx, n, stride, log_form, accumulate);
        return;
    }
    for (j = 0; j < n; j++) s += (double)dy[j];
    for (b = 0; b < n; b += len) {
        len = n - b < 64 ? n - b : 64;
        tt__vec_exp(ctx, e, y + b, len);
        for (k = 0; k < len; k++) {
            float g = dy[b + k] - e[k] * (float)s;
            if (accumulate) dx[b + k] += g;
            else dx[b + k] = g;
        }
    }
}

/* ---- unary ops: one forward f(x) and one derivative f'(x) per kind ----
   Every elementwise op of one input is a kind below. tt__unary_f computes y = f(x) and
   tt__unary_df computes dy/dx from x and y (whichever is cheaper); the shared backward adds
   grad_y * dy/dx. p0, p1 are the op's float parameters (slope, alpha, bounds, ...).
   Formulas and edge cases are PyTorch's (float32 CPU kernels). */

enum {
    TT__U_NEG, TT__U_SCALE, TT__U_ADD_SCALAR, TT__U_POW_SCALAR, TT__U_EXP, TT__U_LOG, TT__U_SQRT,
    TT__U_ABS, TT__U_CLAMP, TT__U_LEAKY_RELU, TT__U_ELU, TT__U_SELU, TT__U_GELU, TT__U_GELU_TANH,
    TT__U_SILU, TT__U_SIGMOID, TT__U_TANH, TT__U_SOFTPLUS, TT__U_SOFTSIGN, TT__U_MISH
};

#define TT__SQRT1_2 0.70710678118654752440f      /* 1/sqrt(2) */
#define TT__INV_SQRT_2PI 0.39894228040143267794f /* 1/sqrt(2*pi): the normal density at 0 */
#define TT__SQRT_2_PI 0.79788456080286535588f    /* sqrt(2/pi), gelu tanh form */
#define TT__GELU_KAPPA 0.044715f
#define TT__SELU_ALPHA 1.6732632423543772848170429916717f
#define TT__SELU_SCALE 1.0507009873554804934193349852946f

static float tt__unary_f(int kind, float x, float p0, float p1) {
    switch (kind) {
    case TT__U_NEG: return -x;
    case TT__U_SCALE: return p0 * x;
    case TT__U_ADD_SCALAR: return x + p0;
    case TT__U_POW_SCALAR:
        if (p0 == 2.0f) return x * x; /* torch special-cases these exponents too */
        if (p0 == 0.5f) return sqrtf(x);
        return powf(x, p0);
    case TT__U_EXP: return expf(x);
    case TT__U_LOG: return logf(x);
    case TT__U_SQRT: return sqrtf(x);
    case TT__U_ABS: return fabsf(x);
    case TT__U_CLAMP: /* also hardtanh. p0 = lo, p1 = hi; lo > hi gives hi (torch); NaN stays NaN */
        x = x < p0 ? p0 : x;
        return x > p1 ? p1 : x;
    case TT__U_LEAKY_RELU: return x > 0.0f ? x : x * p0;
    case TT__U_ELU: return x > 0.0f ? x : p0 * (expf(x) - 1.0f);
    case TT__U_SELU: return x > 0.0f ? TT__SELU_SCALE * x : TT__SELU_SCALE * TT__SELU_ALPHA * (expf(x) - 1.0f);
    case TT__U_GELU: return 0.5f * x * (1.0f + erff(x * TT__SQRT1_2));
    case TT__U_GELU_TANH:
        return 0.5f * x * (1.0f + tanhf(TT__SQRT_2_PI * (x + TT__GELU_KAPPA * x * x * x)));
    case TT__U_SILU: return x / (1.0f + expf(-x));
    case TT__U_SIGMOID: return tt__sigmoid(x);
    case TT__U_TANH: return tanhf(x);
    case TT__U_SOFTPLUS: /* p0 = beta, p1 = threshold: linear where beta * x > threshold */
        return x * p0 > p1 ? x : log1pf(expf(x * p0)) / p0;
    case TT__U_SOFTSIGN: return x / (1.0f + fabsf(x));
    default: /* TT__U_MISH: x * tanh(softplus(x)) */
        return x * tanhf(log1pf(expf(x)));
    }
}

static float tt__unary_df(int kind, float x, float y, float p0, float p1) {
    switch (kind) {
    case TT__U_NEG: return -1.0f;
    case TT__U_SCALE: return p0;
    case TT__U_ADD_SCALAR: return 1.0f;
    case TT__U_POW_SCALAR: return p0 == 0.0f ? 0.0f : p0 * powf(x, p0 - 1.0f); /* 0 for p == 0, as torch */
    case TT__U_EXP: return y;
    case TT__U_LOG: return 1.0f / x;
    case TT__U_SQRT: return 0.5f / y;                                 /* inf at 0, as torch */
    case TT__U_ABS: return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f); /* abs'(0) = 0 */
    case TT__U_CLAMP: return (x > p0 && x < p1) ? 1.0f : 0.0f; /* 0 at the bounds (torch 2.15, scalar bounds) */
    case TT__U_LEAKY_RELU: return x > 0.0f ? 1.0f : p0;                 /* slope at 0, as torch */
    case TT__U_ELU: return x > 0.0f ? 1.0f : p0 * expf(x);              /* alpha at 0, as torch */
    case TT__U_SELU: return x > 0.0f ? TT__SELU_SCALE : TT__SELU_SCALE * TT__SELU_ALPHA * expf(x);
    case TT__U_GELU: /* Phi(x) + x * phi(x) */
        return 0.5f * (1.0f + erff(x * TT__SQRT1_2)) + x * expf(-0.5f * x * x) * TT__INV_SQRT_2PI;
    case TT__U_GELU_TANH: {
        float t = tanhf(TT__SQRT_2_PI * (x + TT__GELU_KAPPA * x * x * x));
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * TT__SQRT_2_PI * (1.0f + 3.0f * TT__GELU_KAPPA * x * x);
    }
    case TT__U_SILU: {
        float s = tt__sigmoid(x);
        return s * (1.0f + x * (1.0f - s));
    }
    case TT__U_SIGMOID: return y * (1.0f - y);
    case TT__U_TANH: return 1.0f - y * y;
    case TT__U_SOFTPLUS: {
        float z = expf(x * p0);
        return x * p0 > p1 ? 1.0f : z / (z + 1.0f);
    }
    case TT__U_SOFTSIGN: {
        float d = 1.0f + fabsf(x);
        return 1.0f / (d * d);
    }
    default: { /* TT__U_MISH */
        float t = tanhf(log1pf(expf(x)));
        return t + x * tt__sigmoid(x) * (1.0f - t * t);
    }
    }
}

/* ---- gelu / gelu_tanh fast paths: tt__unary_f / tt__unary_df's formulas, the same float
   operations in the same order, 8 lanes at a time; only erff / tanhf / expf are replaced by the
   vectorised functions above, so the results are within their bounds of the scalar loops (and
   bit-identical with the scalar formulas evaluated with the vectorised erf / tanh / exp: tested
   in tests/test_vexp.c). Each kernel takes 8 elements of each of its arrays; tt__run8 runs it
   over n elements with the tail in padded blocks (p[k] NULL: array k unused). */
#ifdef TT__GEMM_X86
__attribute__((target("avx2,fma")))
static void tt__gelu_fwd_8(float **p) { /* x, y, e1 = 1 + erf(x / sqrt 2) (NULL: not kept) */
    __m256 v = _mm256_loadu_ps(p[0]);
    __m256 e = _mm256_add_ps(_mm256_set1_ps(1.0f), tt__verf_avx2(_mm256_mul_ps(v, _mm256_set1_ps(TT__SQRT1_2))));
    if (p[2]) _mm256_storeu_ps(p[2], e);
    _mm256_storeu_ps(p[1], _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), e));
}

__attribute__((target("avx2,fma")))
static void tt__gelu_bwd_8(float **p) { /* x, e1, gy, gx: gx += gy (0.5 e1 + x exp(-x^2/2) / sqrt(2 pi)) */
    __m256 v = _mm256_loadu_ps(p[0]);
    __m256 ex = tt__vexp_avx2(_mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(-0.5f), v), v));
    __m256 h = _mm256_mul_ps(_mm256_set1_ps(0.5f), _mm256_loadu_ps(p[1]));
    __m256 q = _mm256_mul_ps(_mm256_mul_ps(v, ex), _mm256_set1_ps(TT__INV_SQRT_2PI)), d;
    TT__KEEP(h);
    TT__KEEP(q);
    d = _mm256_mul_ps(_mm256_loadu_ps(p[2]), _mm256_add_ps(h, q));
    TT__KEEP(d);
    _mm256_storeu_ps(p[3], _mm256_add_ps(_mm256_loadu_ps(p[3]), d));
}

__attribute__((target("avx2,fma")))
static void tt__gelu_tanh_fwd_8(float **p) { /* x, y, t = tanh(sqrt(2/pi) (x + 0.044715 x^3)) (NULL: not kept) */
    __m256 v = _mm256_loadu_ps(p[0]);
    __m256 c = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(TT__GELU_KAPPA), v), v), v), t;
    TT__KEEP(c);
    t = tt__vtanh_avx2(_mm256_mul_ps(_mm256_set1_ps(TT__SQRT_2_PI), _mm256_add_ps(v, c)));
    if (p[2]) _mm256_storeu_ps(p[2], t);
    _mm256_storeu_ps(p[1], _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), _mm256_add_ps(_mm256_set1_ps(1.0f), t)));
}

__attribute__((target("avx2,fma")))
static void tt__gelu_tanh_bwd_8(float **p) { /* x, t, gy, gx */
    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    __m256 v = _mm256_loadu_ps(p[0]), t = _mm256_loadu_ps(p[1]);
    __m256 a = _mm256_mul_ps(half, _mm256_add_ps(one, t)), tt = _mm256_mul_ps(t, t), kx, b, k, d;
    TT__KEEP(tt);
    b = _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_sub_ps(one, tt));
    kx = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(3.0f * TT__GELU_KAPPA), v), v);
    TT__KEEP(kx);
    k = _mm256_add_ps(one, kx);
    b = _mm256_mul_ps(_mm256_mul_ps(b, _mm256_set1_ps(TT__SQRT_2_PI)), k);
    TT__KEEP(a);
    TT__KEEP(b);
    d = _mm256_mul_ps(_mm256_loadu_ps(p[2]), _mm256_add_ps(a, b));
    TT__KEEP(d);
    _mm256_storeu_ps(p[3], _mm256_add_ps(_mm256_loadu_ps(p[3]), d));
}

/* Runs k over n elements of the np arrays p[0..np-1]; out has bit k set for arrays k writes. */
static void tt__run8(void (*k)(float **), float **p, int np, unsigned out, size_t n) {
    float buf[4][8], *q[4];
    size_t i, m, e;
    int a;
    for (i = 0; i + 8 <= n; i += 8) {
        for (a = 0; a < np; a++) q[a] = p[a] ? p[a] + i : NULL;
        k(q);
    }
    if (i == n) return;
    m = n - i;
    for (a = 0; a < np; a++) {
        q[a] = p[a] ? buf[a] : NULL;
        for (e = 0; p[a] && e < 8; e++) buf[a][e] = e < m ? p[a][i + e] : 0.0f;
    }
    k(q);
    for (a = 0; a < np; a++)
        for (e = 0; p[a] && (out >> a & 1u) && e < m; e++) p[a][i + e] = buf[a][e];
}
#endif

/* Pieces [lo, hi) of a unary op's forward or backward loop, run on the context's pool above
   TT__PAR_MIN_COSTLY elements (libm calls per element); every element is its own (the vector
   kernels' tails go through padded blocks), so results are bit-identical for every thread count. */
typedef struct tt__unary_par {
    int kind, fast; /* fast: tt__vmath(ctx), the 8-lane gelu kernels */
    float p0, p1;
    const tt_tensor *x, *y;
    float *e1; /* gelu: 1 + erf(x / sqrt 2), gelu_tanh: the tanh, kept for backward, or NULL */
} tt__unary_par;
static void tt__unary_backward_piece(void *arg, size_t lo, size_t hi) {
    const tt__unary_par *p = (const tt__unary_par *)arg;
    const tt_tensor *x = p->x, *y = p->y;
    int kind = p->kind;
    size_t i;
    if (kind == TT__U_GELU || kind == TT__U_GELU_TANH) {
        /* hot in transformers: the formula without the per-element switch; e1 holds
           1 + erf(x / sqrt 2) (gelu) or tanh(sqrt(2/pi) (x + 0.044715 x^3)) (gelu_tanh) */
        float *gx = x->grad, *xd = x->data, *gy = y->grad, *sv = p->e1;
#ifdef TT__GEMM_X86
        if (p->fast) {
            float *q[4];
            q[0] = xd + lo; q[1] = sv + lo; q[2] = gy + lo; q[3] = gx + lo;
            tt__run8(kind == TT__U_GELU ? tt__gelu_bwd_8 : tt__gelu_tanh_bwd_8, q, 4, 8u, hi - lo);
            return;
        }
#endif
        if (kind == TT__U_GELU)
            for (i = lo; i < hi; i++) {
                float v = xd[i];
                gx[i] += gy[i] * (0.5f * sv[i] + v * expf(-0.5f * v * v) * TT__INV_SQRT_2PI);
            }
        else
            for (i = lo; i < hi; i++) {
                float v = xd[i], t = sv[i];
                gx[i] += gy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * TT__SQRT_2_PI * (1.0f + 3.0f * TT__GELU_KAPPA * v * v));
            }
        return;
    }
    for (i = lo; i < hi; i++)
        x->grad[i] += y->grad[i] * tt__unary_df(kind, x->data[i], y->data[i], p->p0, p->p1);
}
static void tt__unary_forward_piece(void *arg, size_t lo, size_t hi) {
    const tt__unary_par *p = (const tt__unary_par *)arg;
    float *xd = p->x->data, *yd = p->y->data, *sv = p->e1;
    size_t i;
    if (p->kind == TT__U_GELU || p->kind == TT__U_GELU_TANH) { /* as tt__unary_f, without the per-element switch */
#ifdef TT__GEMM_X86
        if (p->fast) {
            float *q[3];
            q[0] = xd + lo; q[1] = yd + lo; q[2] = sv ? sv + lo : NULL;
            tt__run8(p->kind == TT__U_GELU ? tt__gelu_fwd_8 : tt__gelu_tanh_fwd_8, q, 3, 6u, hi - lo);
            return;
        }
#endif
        if (p->kind == TT__U_GELU)
            for (i = lo; i < hi; i++) {
                float e = 1.0f + erff(xd[i] * TT__SQRT1_2);
                if (sv) sv[i] = e;
                yd[i] = 0.5f * xd[i] * e;
            }
        else
            for (i = lo; i < hi; i++) {
                float v = xd[i], t = tanhf(TT__SQRT_2_PI * (v + TT__GELU_KAPPA * v * v * v));
                if (sv) sv[i] = t;
                yd[i] = 0.5f * v * (1.0f + t);
            }
        return;
    }
    for (i = lo; i < hi; i++) yd[i] = tt__unary_f(p->kind, xd[i], p->p0, p->p1);
}

static void tt__unary_backward(tt_ctx *ctx, tt__node *n) {
    tt_tensor *x = n->in[0], *y = n->out;
    tt__unary_par p;
    if (!x->grad) return;
    p.kind = n->i[0]; p.p0 = n->f[0]; p.p1 = n->f[1]; p.x = x; p.y = y;
    p.fast = tt__vmath(ctx);
    p.e1 = p.kind == TT__U_GELU || p.kind == TT__U_GELU_TANH ? (float *)n->saved : NULL;
    tt__parallel_range(ctx, y->numel, TT__PAR_MIN_COSTLY, 8, tt__unary_backward_piece, &p);
}

static tt_tensor *tt__unary_run(tt_ctx *ctx, const char *op, int kind, tt_tensor *x, float p0, float p1) {
    tt_tensor *y;
    tt__unary_par up;
    size_t i;
    if (!tt__in(ctx, op, x)) return NULL;
    y = tt__out(ctx, op, x->ndim, x->shape, x, NULL, NULL);
    if (!y) return NULL;
    if (ctx->backend) { /* of the element-wise family only gelu runs on a backend (tt__out refused the rest) */
        if (kind != TT__U_GELU && kind != TT__U_GELU_TANH) {
            tt__fail(ctx, TT_ERR_UNSUPPORTED, "%s: does not run on the %s backend", op, ctx->backend->name);
            return NULL;
        }
        return tt__bk_op(ctx, y, TT_BOP_GELU, x, NULL, NULL, kind == TT__U_GELU_TANH);
    }
    up.kind = kind; up.p0 = p0; up.p1 = p1; up.x = x; up.y = y; up.e1 = NULL; up.fast = tt__vmath(ctx);
    if (kind == TT__U_GELU || kind == TT__U_GELU_TANH) {
        /* with a tape node, keep 1 + erf(x / sqrt 2) (gelu) or the tanh (gelu_tanh) so backward
           needs no second erff / tanhf (the same float value, so the gradient is bit-identical
           with recomputing it) */
        if (y->node && !(up.e1 = tt__scratch_floats(ctx, op, x->numel ? x->numel : 1))) return NULL;
        tt__parallel_range(ctx, x->numel, TT__PAR_MIN_COSTLY, 8, tt__unary_forward_piece, &up);
        if (y->node) y->node->saved = up.e1;
    } else if (kind == TT__U_EXP || kind == TT__U_TANH) {
        tt__vec_math(ctx, kind == TT__U_EXP ? TT__VM_EXP : TT__VM_TANH, y->data, x->data, x->numel);
    } else if (kind == TT__U_SIGMOID || kind == TT__U_SILU) {
        /* tt__unary_f's formulas 1 / (1 + exp(-x)) and x / (1 + exp(-x)) with the vectorised exp:
           within 4 ulp of the libm form (tests/test_vexp.c, measured 3; goldens rtol 1e-6 hold) */
        float *yd = y->data;
        const float *xd = x->data;
        for (i = 0; i < x->numel; i++) yd[i] = -xd[i];
        tt__vec_exp(ctx, yd, yd, x->numel);
        if (kind == TT__U_SIGMOID)
            for (i = 0; i < x->numel; i++) yd[i] = 1.0f / (1.0f + yd[i]);
        else
            for (i = 0; i < x->numel; i++) yd[i] = xd[i] / (1.0f + yd[i]);
    } else {
        tt__parallel_range(ctx, x->numel, TT__PAR_MIN_COSTLY, 8, tt__unary_forward_piece, &up);
    }
    if (y->node) {
        y->node->i[0] = kind;
        y->node->f[0] = p0;
        y->node->f[1] = p1;
        y->node->backward = tt__unary_backward;
    }
    return tt__done(ctx, y);
}

static tt_tensor *tt__unary(tt_ctx *ctx, const char *op, int kind, tt_tensor *x, float p0, float p1) {
    unsigned long long fp = tt__fp_enter(ctx);
    tt_tensor *y = tt__unary_run(ctx, op, kind, x, p0, p1);
    tt__fp_leave(ctx, fp);
    return y;
}

/* Hyperparameter check shared by the activations: names the op, the parameter and the shape. */
static int tt__math_param_ok(tt_ctx *ctx, const char *op, tt_tensor *x, const char *name, float v, int ok) {
    if (!ctx || ok) return 1;
    tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: invalid %s = %g (input %S)", op, name, (double)v, x);
    return 0;
}

TT__DEF tt_tensor *tt_neg(tt_ctx *ctx, tt_tensor *x) { return tt__unary(ctx, "neg", TT__U_NEG, x, 0, 0); }
TT__DEF tt_tensor *tt_scale(tt_ctx *ctx, tt_tensor *x, float s) { return tt__unary(ctx, "scale", TT__U_SCALE, x, s, 0); }
TT__DEF tt_tensor *tt_add_scalar(tt_ctx *ctx, tt_tensor *x, float s) { return tt__unary(ctx, "add_scalar", TT__U_ADD_SCALAR, x, s, 0); }
TT__DEF tt_tensor *tt_pow_scalar(tt_ctx *ctx, tt_tensor *x, float p) { return tt__unary(ctx, "pow_scalar", TT__U_POW_SCALAR, x, p, 0); }
TT__DEF tt_tensor *tt_exp(tt_ctx *ctx, tt_tensor *x) { return tt__unary(ctx, "exp", TT__U_EXP, x, 0, 0); }
TT__DEF tt_tensor *tt_log(tt_ctx *ctx, tt_tensor *x) { return tt__unary(ctx, "log", TT__U_LOG, x, 0, 0); }
TT__DEF tt_tensor *tt_sqrt(tt_ctx *ctx, tt_tensor *x) { return tt__unary(ctx, "sqrt", TT__U_SQRT, x, 0, 0); }
TT__DEF tt_tensor *tt_abs(tt_ctx *ctx, tt_tensor *x) { return tt__unary(ctx, "abs", TT__U_ABS, x, 0, 0); }
TT__DEF tt_tensor *tt_selu(tt_ctx *ctx, tt_tensor *x) { return tt__unary(ctx, "selu", TT__U_SELU, x, 0, 0); }
TT__DEF tt_tensor *tt_gelu(tt_ctx *ctx, tt_tensor *x) { return tt__unary(ctx, "gelu", TT__U_GELU, x, 0, 0); }
TT__DEF tt_tensor *tt_gelu_tanh(tt_ctx *ctx, tt_tensor *x) { return tt__unary(ctx, "gelu_tanh", TT__U_GELU_TANH, x, 0, 0); }
TT__DEF tt_tensor *tt_silu(tt_ctx *ctx, tt_tensor *x) { return tt__unary(ctx, "silu", TT__U_SILU, x, 0, 0); }
TT__DEF tt_tensor *tt_sigmoid(tt_ctx *ctx, tt_tensor *x) { return tt__unary(ctx, "sigmoid", TT__U_SIGMOID, x, 0, 0); }
TT__DEF tt_tensor *tt_tanh(tt_ctx *ctx, tt_tensor *x) { return tt__unary(ctx, "tanh", TT__U_TANH, x, 0, 0); }
TT__DEF tt_tensor *tt_softsign(tt_ctx *ctx, tt_tensor *x) { return tt__unary(ctx, "softsign", TT__U_SOFTSIGN, x, 0, 0); }
TT__DEF tt_tensor *tt_mish(tt_ctx *ctx, tt_tensor *x) { return tt__unary(ctx, "mish", TT__U_MISH, x, 0, 0); }

TT__DEF tt_tensor *tt_clamp(tt_ctx *ctx, tt_tensor *x, float lo, float hi) {
    /* infinite bounds are allowed (one-sided clamp); lo > hi is allowed and gives hi (torch) */
    if (!tt__in(ctx, "clamp", x) || !tt__math_param_ok(ctx, "clamp", x, "lo", lo, lo == lo) ||
        !tt__math_param_ok(ctx, "clamp", x, "hi", hi, hi == hi))
        return NULL;
    return tt__unary(ctx, "clamp", TT__U_CLAMP, x, lo, hi);
}

TT__DEF tt_tensor *tt_hardtanh(tt_ctx *ctx, tt_tensor *x) { return tt_hardtanh_ex(ctx, x, -1.0f, 1.0f); }
TT__DEF tt_tensor *tt_hardtanh_ex(tt_ctx *ctx, tt_tensor *x, float min_val, float max_val) {
    if (!tt__in(ctx, "hardtanh", x) || !tt__math_param_ok(ctx, "hardtanh", x, "min_val", min_val, min_val == min_val) ||
        !tt__math_param_ok(ctx, "hardtanh", x, "max_val", max_val, max_val == max_val))
        return NULL;
    if (min_val > max_val) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "hardtanh: min_val %g is greater than max_val %g (input %S)", (double)min_val,
                 (double)max_val, x);
        return NULL;
    }
    return tt__unary(ctx, "hardtanh", TT__U_CLAMP, x, min_val, max_val); /* hardtanh is clamp */
}

TT__DEF tt_tensor *tt_leaky_relu(tt_ctx *ctx, tt_tensor *x) { return tt_leaky_relu_ex(ctx, x, 0.01f); }
TT__DEF tt_tensor *tt_leaky_relu_ex(tt_ctx *ctx, tt_tensor *x, float negative_slope) {
    if (!tt__in(ctx, "leaky_relu", x) ||
        !tt__math_param_ok(ctx, "leaky_relu", x, "negative_slope", negative_slope, tt__finite(negative_slope)))
        return NULL;
    return tt__unary(ctx, "leaky_relu", TT__U_LEAKY_RELU, x, negative_slope, 0);
}

TT__DEF tt_tensor *tt_elu(tt_ctx *ctx, tt_tensor *x) { return tt_elu_ex(ctx, x, 1.0f); }
TT__DEF tt_tensor *tt_elu_ex(tt_ctx *ctx, tt_tensor *x, float alpha) {
    if (!tt__in(ctx, "elu", x) || !tt__math_param_ok(ctx, "elu", x, "alpha", alpha, tt__finite(alpha))) return NULL;
    return tt__unary(ctx, "elu", TT__U_ELU, x, alpha, 0);
}

TT__DEF tt_tensor *tt_softplus(tt_ctx *ctx, tt_tensor *x) { return tt_softplus_ex(ctx, x, 1.0f, 20.0f); }
TT__DEF tt_tensor *tt_softplus_ex(tt_ctx *ctx, tt_tensor *x, float beta, float threshold) {
    if (!tt__in(ctx, "softplus", x) ||
        !tt__math_param_ok(ctx, "softplus", x, "beta", beta, tt__finite(beta) && beta != 0.0f) ||
        !tt__math_param_ok(ctx, "softplus", x, "threshold", threshold, threshold == threshold))
        return NULL;
    return tt__unary(ctx, "softplus", TT__U_SOFTPLUS, x, beta, threshold);
}

/* ---- reductions ----
   A reduction along axis views x as (outer, n, inner) with tt__axis_split (>>tensor): element
   (o, j, k) is at x[(o * n + j) * inner + k] and reduces into y[o * inner + k]. A reduction over
   all elements is the same with outer = inner = 1 and n = numel (axis stored as TT__ALL). */

#define TT__ALL (-1)

/* Resolve a (possibly negative) axis of x; 0-dim tensors accept 0 and -1 (as torch). */
static int tt__math_axis(tt_ctx *ctx, const char *op, const tt_tensor *x, int axis, int *ax) {
    if (x->ndim == 0 && (axis == 0 || axis == -1)) {
        *ax = TT__ALL;
        return 1;
    }
    return tt__axis(ctx, op, "axis", axis, x->ndim, x, ax);
}

/* Output shape of a reduction along ax (size 1 kept there with keepdim, dropped otherwise). */
static void tt__red_shape(const tt_tensor *x, int ax, int keepdim, int *ndim, int *shape) {
    int d, k = 0;
    for (d = 0; d < x->ndim; d++) {
        if (d != ax) shape[k++] = x->shape[d];
        else if (keepdim) shape[k++] = 1;
    }
    *ndim = k;
}

/* Backward of sum / mean: every input element gets its output's gradient (divided by n for mean). */
static void tt__sum_axis_backward(tt_ctx *ctx, tt__node *n) {
    tt_tensor *x = n->in[0], *y = n->out;
    size_t outer, len, inner, o, j, k;
    int mean = n->i[1];
    (void)ctx;
    if (!x->grad) return;
    tt__axis_split(x, n->i[0], &outer, &len, &inner);
    for (o = 0; o < outer; o++)
        for (k = 0; k < inner; k++) {
            float g = mean ? y->grad[o * inner + k] / (float)len : y->grad[o * inner + k];
            for (j = 0; j < len; j++) x->grad[(o * len + j) * inner + k] += g;
        }
}

/* sum (mean = 0) or mean (mean = 1) along ax, or over everything for TT__ALL */
static tt_tensor *tt__sum_mean(tt_ctx *ctx, const char *op, tt_tensor *x, int ax, int keepdim, int mean) {
    int nd, shape[TT_MAX_DIMS];
    size_t outer, len, inner, o, j, k;
    tt_tensor *y;
    if (ax == TT__ALL) nd = 0;
    else tt__red_shape(x, ax, keepdim, &nd, shape);
    y = tt__out(ctx, op, nd, shape, x, NULL, NULL);
    if (!y) return NULL;
    tt__axis_split(x, ax, &outer, &len, &inner);
    for (o = 0; o < outer; o++)
        for (k = 0; k < inner; k++) {
            double s = 0;
            for (j = 0; j < len; j++) s += x->data[(o * len + j) * inner + k];
            /* mean of nothing is 0/0 = NaN, as torch */
            y->data[o * inner + k] = (float)(mean ? s / (double)len : s);
        }
    if (y->node) {
        y->node->i[0] = ax;
        y->node->i[1] = mean;
        y->node->backward = tt__sum_axis_backward;
    }
    return tt__done(ctx, y);
}

TT__DEF tt_tensor *tt_sum_axis(tt_ctx *ctx, tt_tensor *x, int axis, int keepdim) {
    int ax;
    if (!tt__in(ctx, "sum_axis", x) || !tt__math_axis(ctx, "sum_axis", x, axis, &ax)) return NULL;
    return tt__sum_mean(ctx, "sum_axis", x, ax, keepdim, 0);
}

TT__DEF tt_tensor *tt_mean(tt_ctx *ctx, tt_tensor *x) {
    if (!tt__in(ctx, "mean", x)) return NULL;
    return tt__sum_mean(ctx, "mean", x, TT__ALL, 0, 1);
}

TT__DEF tt_tensor *tt_mean_axis(tt_ctx *ctx, tt_tensor *x, int axis, int keepdim) {
    int ax;
    if (!tt__in(ctx, "mean_axis", x) || !tt__math_axis(ctx, "mean_axis", x, axis, &ax)) return NULL;
    return tt__sum_mean(ctx, "mean_axis", x, ax, keepdim, 1);
}

/* mean of the (o, ., k) row in double */
static double tt__row_mean(const float *x, size_t o, size_t len, size_t inner, size_t k) {
    double s = 0;
    size_t j;
    for (j = 0; j < len; j++) s += x[(o * len + j) * inner + k];
    return s / (double)len;
}

/* d var / d x_j = 2 (x_j - mean) / (n - correction). Like torch's var(dim) backward, the divisor
   is not clamped at 0 here (only matters when n <= correction, where var itself is inf/NaN). */
static void tt__var_backward(tt_ctx *ctx, tt__node *n) {
    tt_tensor *x = n->in[0], *y = n->out;
    size_t outer, len, inner, o, j, k;
    (void)ctx;
    if (!x->grad) return;
    tt__axis_split(x, n->i[0], &outer, &len, &inner);
    for (o = 0; o < outer; o++)
        for (k = 0; k < inner; k++) {
            double m = tt__row_mean(x->data, o, len, inner, k);
            double c = 2.0 * (double)y->grad[o * inner + k] / ((double)len - (double)n->i[1]);
            for (j = 0; j < len; j++) {
                size_t at = (o * len + j) * inner + k;
                x->grad[at] += (float)(c * ((double)x->data[at] - m));
            }
        }
}

static tt_tensor *tt__var(tt_ctx *ctx, const char *op, tt_tensor *x, int ax, int correction, int keepdim) {
    int nd, shape[TT_MAX_DIMS];
    size_t outer, len, inner, o, j, k;
    tt_tensor *y;
    if (ax == TT__ALL) nd = 0;
    else tt__red_shape(x, ax, keepdim, &nd, shape);
    y = tt__out(ctx, op, nd, shape, x, NULL, NULL);
    if (!y) return NULL;
    tt__axis_split(x, ax, &outer, &len, &inner);
    for (o = 0; o < outer; o++)
        for (k = 0; k < inner; k++) {
            /* two passes in double: mean, then squared deviations (no cancellation) */
            double m = tt__row_mean(x->data, o, len, inner, k), ss = 0, dof;
            for (j = 0; j < len; j++) {
                double d = (double)x->data[(o * len + j) * inner + k] - m;
                ss += d * d;
            }
            dof = (double)len - (double)correction;
            y->data[o * inner + k] = (float)(ss / (dof > 0 ? dof : 0.0)); /* dof <= 0: inf or NaN, as torch */
        }
    if (y->node) {
        y->node->i[0] = ax;
        y->node->i[1] = correction;
        y->node->backward = tt__var_backward;
    }
    return tt__done(ctx, y);
}

TT__DEF tt_tensor *tt_var(tt_ctx *ctx, tt_tensor *x, int correction) {
    if (!tt__in(ctx, "var", x)) return NULL;
    return tt__var(ctx, "var", x, TT__ALL, correction, 0);
}

TT__DEF tt_tensor *tt_var_axis(tt_ctx *ctx, tt_tensor *x, int axis, int correction, int keepdim) {
    int ax;
    if (!tt__in(ctx, "var_axis", x) || !tt__math_axis(ctx, "var_axis", x, axis, &ax)) return NULL;
    return tt__var(ctx, "var_axis", x, ax, correction, keepdim);
}

/* ---- max / min ----
   Over everything (tt_max): the gradient is split evenly among all elements equal to the result
   (torch.max(x)). Along an axis (tt_max_axis): the gradient goes to the one selected element, the
   first occurrence (torch.max(x, dim)). NaN wins both ways, as in torch. */

/* 1 if v should replace the current best (is_max: larger; NaN beats everything, first NaN kept) */
static int tt__better(float v, float best, int is_max) {
    if (best != best) return 0;
    if (v != v) return 1;
    return is_max ? v > best : v < best;
}

static void tt__extreme_all_backward(tt_ctx *ctx, tt__node *n) {
    tt_tensor *x = n->in[0];
    float y = n->out->data[0];
    size_t i, count = 0;
    int is_nan = y != y; /* a NaN result: the NaNs share the gradient */
    (void)ctx;
    if (!x->grad) return;
    for (i = 0; i < x->numel; i++) count += is_nan ? x->data[i] != x->data[i] : x->data[i] == y;
    for (i = 0; i < x->numel; i++)
        if (is_nan ? x->data[i] != x->data[i] : x->data[i] == y) x->grad[i] += n->out->grad[0] / (float)count;
}

static tt_tensor *tt__extreme_all(tt_ctx *ctx, const char *op, tt_tensor *x, int is_max) {
    tt_tensor *y;
    size_t i;
    float best;
    if (!tt__in(ctx, op, x)) return NULL;
    if (x->numel == 0) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: input of shape %S is empty (no %s to take)", op, x, is_max ? "maximum" : "minimum");
        return NULL;
    }
    y = tt__out(ctx, op, 0, NULL, x, NULL, NULL);
    if (!y) return NULL;
    best = x->data[0];
    for (i = 1; i < x->numel; i++)
        if (tt__better(x->data[i], best, is_max)) best = x->data[i];
    y->data[0] = best;
    if (y->node) y->node->backward = tt__extreme_all_backward;
    return tt__done(ctx, y);
}

TT__DEF tt_tensor *tt_max(tt_ctx *ctx, tt_tensor *x) { return tt__extreme_all(ctx, "max", x, 1); }
TT__DEF tt_tensor *tt_min(tt_ctx *ctx, tt_tensor *x) { return tt__extreme_all(ctx, "min", x, 0); }

/* node->saved holds the selected index j (int) for every output element */
static void tt__extreme_axis_backward(tt_ctx *ctx, tt__node *n) {
    tt_tensor *x = n->in[0], *y = n->out;
    const int *sel = (const int *)n->saved;
    size_t outer, len, inner, o, k;
    (void)ctx;
    if (!x->grad) return;
    tt__axis_split(x, n->i[0], &outer, &len, &inner);
    for (o = 0; o < outer; o++)
        for (k = 0; k < inner; k++)
            x->grad[(o * len + (size_t)sel[o * inner + k]) * inner + k] += y->grad[o * inner + k];
}

/* max/min along an axis (values with gradient to the first extreme element) */
static tt_tensor *tt__extreme_axis(tt_ctx *ctx, const char *op, tt_tensor *x, int axis, int keepdim, int is_max) {
    int ax, nd, shape[TT_MAX_DIMS];
    size_t outer, len, inner, o, j, k;
    tt_tensor *y;
    int *sel = NULL;
    if (!tt__in(ctx, op, x) || !tt__math_axis(ctx, op, x, axis, &ax)) return NULL;
    if (ax == TT__ALL) nd = 0;
    else tt__red_shape(x, ax, keepdim, &nd, shape);
    tt__axis_split(x, ax, &outer, &len, &inner);
    if (len == 0 && outer * inner > 0) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: axis %d of input %S has size 0 (nothing to reduce)", op, axis, x);
        return NULL;
    }
    y = tt__out(ctx, op, nd, shape, x, NULL, NULL);
    if (!y) return NULL;
    if (y->node) {
        sel = (int *)tt__scratch(ctx, op, sizeof(int) * (y->numel ? y->numel : 1));
        if (!sel) return NULL;
    }
    for (o = 0; o < outer; o++)
        for (k = 0; k < inner; k++) {
            size_t bj = 0;
            float best = x->data[o * len * inner + k];
            for (j = 1; j < len; j++) {
                float v = x->data[(o * len + j) * inner + k];
                if (tt__better(v, best, is_max)) { best = v; bj = j; }
            }
            y->data[o * inner + k] = best;
            if (sel) sel[o * inner + k] = (int)bj;
        }
    if (y->node) {
        y->node->i[0] = ax;
        y->node->saved = sel;
        y->node->backward = tt__extreme_axis_backward;
    }
    return tt__done(ctx, y);
}

TT__DEF tt_tensor *tt_max_axis(tt_ctx *ctx, tt_tensor *x, int axis, int keepdim) {
    return tt__extreme_axis(ctx, "max_axis", x, axis, keepdim, 1);
}
TT__DEF tt_tensor *tt_min_axis(tt_ctx *ctx, tt_tensor *x, int axis, int keepdim) {
    return tt__extreme_axis(ctx, "min_axis", x, axis, keepdim, 0);
}
TT__DEF tt_result tt_argmax(tt_ctx *ctx, tt_tensor *x, int axis, size_t n_indices, int *indices) {
    const char *op = "argmax";
    int ax;
    size_t outer, len, inner, o, j, k;
    if (!tt__in(ctx, op, x) || !tt__math_axis(ctx, op, x, axis, &ax)) return ctx ? ctx->err : TT_ERR_INVALID_ARGS;
    tt__axis_split(x, ax, &outer, &len, &inner);
    if (len == 0 && outer * inner > 0)
        return tt__fail(ctx, TT_ERR_SHAPE, "%s: axis %d of input %S has size 0 (nothing to reduce)", op, axis, x);
    if (!indices && outer * inner > 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: indices is NULL", op);
    if (n_indices < outer * inner)
        return tt__fail(ctx, TT_ERR_SHAPE, "%s: indices holds %z ints, input %S needs %z along axis %d", op, n_indices, x,
                        outer * inner, axis);
    for (o = 0; o < outer; o++)
        for (k = 0; k < inner; k++) {
            size_t bj = 0;
            float best = x->data[o * len * inner + k];
            for (j = 1; j < len; j++) {
                float v = x->data[(o * len + j) * inner + k];
                if (tt__better(v, best, 1)) { best = v; bj = j; }
            }
            indices[o * inner + k] = (int)bj;
        }
    return TT_OK;
}

/* ---- softmax and log_softmax along an axis ----
   A row is the values along the axis (inner apart); the row kernels tt__softmax_row and
   tt__softmax_row_backward (>>util) subtract the row max first and are shared with attention. */

static void tt__softmax_backward(tt_ctx *ctx, tt__node *n) {
    tt_tensor *x = n->in[0], *y = n->out;
    size_t outer, len, inner, o, k;
    (void)ctx;
    if (!x->grad) return;
    tt__axis_split(x, n->i[0], &outer, &len, &inner);
    for (o = 0; o < outer; o++)
        for (k = 0; k < inner; k++) {
            size_t at = o * len * inner + k;
            tt__softmax_row_backward_v(ctx, y->data + at, y->grad + at, x->grad + at, len, inner, n->i[1], 1);
        }
}

static tt_tensor *tt__softmax(tt_ctx *ctx, const char *op, tt_tensor *x, int axis, int log_form) {
    int ax;
    size_t outer, len, inner, o, k;
    tt_tensor *y;
    if (!tt__in(ctx, op, x) || !tt__math_axis(ctx, op, x, axis, &ax)) return NULL;
    y = tt__out(ctx, op, x->ndim, x->shape, x, NULL, NULL);
    if (!y) return NULL;
    tt__axis_split(x, ax, &outer, &len, &inner);
    if (ctx->backend) { /* runs on the backend: one kernel */
        tt_backend_call c;
        memset(&c, 0, sizeof c);
        c.op = TT_BOP_SOFTMAX;
        c.in[0] = x;
        c.i[0] = (int)outer; c.i[1] = (int)len; c.i[2] = (int)inner; c.i[3] = log_form;
        return tt__bk_forward(ctx, y, &c);
    }
    for (o = 0; o < outer; o++)
        for (k = 0; k < inner; k++) {
            size_t at = o * len * inner + k; /* row start; its elements are inner apart */
            tt__softmax_row_v(ctx, x->data + at, y->data + at, len, inner, log_form);
        }
    if (y->node) {
        y->node->i[0] = ax;
        y->node->i[1] = log_form;
        y->node->backward = tt__softmax_backward;
    }
    return tt__done(ctx, y);
}

TT__DEF tt_tensor *tt_softmax(tt_ctx *ctx, tt_tensor *x, int axis) { return tt__softmax(ctx, "softmax", x, axis, 0); }
TT__DEF tt_tensor *tt_log_softmax(tt_ctx *ctx, tt_tensor *x, int axis) { return tt__softmax(ctx, "log_softmax", x, axis, 1); }
#undef TT__SQRT1_2
#undef TT__INV_SQRT_2PI
#undef TT__SQRT_2_PI
#undef TT__GELU_KAPPA
#undef TT__SELU_ALPHA
#undef TT__SELU_SCALE
#undef TT__ALL


/* ==================================================================================== >>ops_shape */

/* Every op here moves elements without arithmetic, so forward and backward are the same index
   map run in opposite directions. Most are written with one helper, tt__shape_walk, which walks
   a strided region of a bigger array (a slice, a permuted view, one input's place inside a
   concat) in row-major order next to a dense array. */

/* Contiguous (row-major) strides of a shape. */
static void tt__shape_strides(int nd, const int *shape, size_t *st) {
    size_t s = 1;
    int d;
    for (d = nd - 1; d >= 0; d--) {
        st[d] = s;
        s *= (size_t)shape[d];
    }
}

/* What tt__shape_walk does with element i of dense and its place p in strided. */
enum { TT__WALK_GATHER, TT__WALK_GATHER_ADD, TT__WALK_SCATTER, TT__WALK_SCATTER_ADD };

/* Walk the region of shape (nd, shape) whose element (i0, i1, ...) is
   strided[base + i0*st[0] + i1*st[1] + ...], next to dense[] holding the same region contiguously:
     GATHER      dense[i]  = strided[p]     GATHER_ADD   dense[i]  += strided[p]
     SCATTER     strided[p] = dense[i]      SCATTER_ADD  strided[p] += dense[i]
   Rows of the last dimension are the inner loop; an odometer steps over the other dimensions. */
static void tt__shape_walk(int mode, int nd, const int *shape, const size_t *st, size_t base, float *strided,
                           float *dense) {
    int idx[TT_MAX_DIMS], d;
    size_t n = tt_shape_numel(nd, shape), len = nd ? (size_t)shape[nd - 1] : 1, s = nd ? st[nd - 1] : 0;
    size_t rows, r, j, off = base;
    if (n == 0) return;
    rows = n / len;
    for (d = 0; d < nd; d++) idx[d] = 0;
    for (r = 0; r < rows; r++) {
        float *p = strided + off, *q = dense + r * len;
        if (s == 1) { /* contiguous rows (e.g. attention heads): copies and vector adds */
            switch (mode) {
            case TT__WALK_GATHER: memcpy(q, p, len * sizeof(float)); break;
            case TT__WALK_GATHER_ADD: tt__ew.add_into(q, p, len); break;
            case TT__WALK_SCATTER: memcpy(p, q, len * sizeof(float)); break;
            default: tt__ew.add_into(p, q, len); break;
            }
        } else {
            switch (mode) {
            case TT__WALK_GATHER: for (j = 0; j < len; j++) q[j] = p[j * s]; break;
            case TT__WALK_GATHER_ADD: for (j = 0; j < len; j++) q[j] += p[j * s]; break;
            case TT__WALK_SCATTER: for (j = 0; j < len; j++) p[j * s] = q[j]; break;
            default: for (j = 0; j < len; j++) p[j * s] += q[j]; break;
            }
        }
        for (d = nd - 2; d >= 0; d--) { /* next row: odometer over dims 0..nd-2 */
            off += st[d];
            if (++idx[d] < shape[d]) break;
            off -= st[d] * (size_t)shape[d];
            idx[d] = 0;
        }
    }
}

/* ---- reshape / flatten: views ---- */

static void tt__view_backward(tt_ctx *ctx, tt__node *n) {
    tt_tensor *x = n->in[0], *y = n->out;
    if (!x->grad) return;
    if (ctx->backend) { /* the same addition on the device */
        tt_backend_call c;
        memset(&c, 0, sizeof c);
        c.op = TT_BOP_ADD_INTO; c.p[0] = x->grad; c.p[1] = y->grad; c.n = y->numel;
        if (y->numel) ctx->backend->run(ctx, &c);
        return;
    }
    tt__ew_par2(ctx, tt__ew.add_into, x->grad, y->grad, y->numel); /* x->grad[i] += y->grad[i] */
}

/* A view of x with a new shape (same numel, checked by the caller): a header that shares x's
   data, plus, when gradients flow, its own zeroed grad and a tape node. It cannot use tt__out_n,
   which allocates data. The view needs its own grad because tt_backward zeroes the grad of every
   op output before it runs, which must not wipe x's. */
static tt_tensor *tt__view_out(tt_ctx *ctx, const char *op, tt_tensor *x, int ndim, const int *shape) {
    tt_tensor *y;
    size_t numel;
    int d;
    if (!tt__check_shape(ctx, op, ndim, shape, &numel)) return NULL; /* an empty shape's bound */
    y = tt__header(ctx, op);
    if (!y) return NULL;
    y->data = x->data;
    y->ndim = ndim;
    for (d = 0; d < ndim; d++) y->shape[d] = shape[d];
    y->numel = x->numel;
    y->flags = TT_VIEW;
    if (!tt__record(ctx, op, y, 1, &x)) return NULL;
    if (y->node) y->node->backward = tt__view_backward;
    return tt__done(ctx, y);
}

static tt_tensor *tt__reshape(tt_ctx *ctx, const char *op, tt_tensor *x, int ndim, const int *shape) {
    int out[TT_MAX_DIMS], d, infer = -1;
    size_t known = 1;
    if (!tt__in(ctx, op, x)) return NULL;
    if (ndim < 0 || ndim > TT_MAX_DIMS) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: ndim %d outside 0..%d", op, ndim, TT_MAX_DIMS);
        return NULL;
    }
    if (ndim > 0 && !shape) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: shape is NULL", op);
        return NULL;
    }
    for (d = 0; d < ndim; d++) {
        out[d] = shape[d];
        if (shape[d] == -1 && infer < 0) { infer = d; continue; }
        if (shape[d] < 0) {
            tt__fail(ctx, TT_ERR_SHAPE, "%s: dimension %d is %d (only one -1 is allowed, other sizes must be >= 0)", op, d,
                     shape[d]);
            return NULL;
        }
        if (!tt__mul_ok(known, (size_t)shape[d], &known)) known = (size_t)-1; /* cannot match numel */
    }
    if (infer >= 0) {
        if (known == 0 || x->numel % known != 0 || x->numel / known > 0x7fffffff) {
            tt__fail(ctx, TT_ERR_SHAPE, "%s: cannot infer dimension %d (-1): %z elements of %S do not split into "
                     "blocks of %z", op, infer, x->numel, x, known);
            return NULL;
        }
        out[infer] = (int)(x->numel / known);
        known = x->numel;
    }
    if (known != x->numel) {
        tt_tensor shown; /* only to print the requested shape with %S */
        memset(&shown, 0, sizeof shown);
        shown.ndim = ndim;
        for (d = 0; d < ndim; d++) shown.shape[d] = out[d];
        tt__fail(ctx, TT_ERR_SHAPE, "%s: cannot view %S (%z elements) as %S", op, x, x->numel, &shown);
        return NULL;
    }
    return tt__view_out(ctx, op, x, ndim, out);
}

TT__DEF tt_tensor *tt_reshape(tt_ctx *ctx, tt_tensor *x, int ndim, const int *shape) {
    return tt__reshape(ctx, "reshape", x, ndim, shape);
}

TT__DEF tt_tensor *tt_flatten(tt_ctx *ctx, tt_tensor *x, int start_dim) {
    int shape[TT_MAX_DIMS], d, s;
    if (!tt__in(ctx, "flatten", x)) return NULL;
    if (x->ndim == 0) { /* as torch: a scalar counts as one dimension and becomes shape [1] */
        if (start_dim != 0 && start_dim != -1) {
            tt__fail(ctx, TT_ERR_INVALID_ARGS, "flatten: start_dim %d out of range -1..0 for a scalar", start_dim);
            return NULL;
        }
        shape[0] = 1;
        return tt__reshape(ctx, "flatten", x, 1, shape);
    }
    if (!tt__axis(ctx, "flatten", "start_dim", start_dim, x->ndim, x, &s)) return NULL;
    for (d = 0; d < s; d++) shape[d] = x->shape[d];
    shape[s] = -1;
    if (tt_shape_numel(s, x->shape) == 0) { /* -1 cannot be inferred from 0 elements: count the flattened dims */
        size_t tail = tt_shape_numel(x->ndim - s, x->shape + s);
        if (tail > 0x7fffffff) {
            tt__fail(ctx, TT_ERR_SHAPE, "flatten: the flattened dimension of %S is too large (%z)", x, tail);
            return NULL;
        }
        shape[s] = (int)tail;
    }
    return tt__reshape(ctx, "flatten", x, s + 1, shape);
}

/* ---- transpose / permute / slice: copies of a strided region of x ---- */

/* What backward needs: where each output element was read from. */
typedef struct tt__strided_saved {
    size_t st[TT_MAX_DIMS];
    size_t base;
} tt__strided_saved;

static void tt__strided_backward(tt_ctx *ctx, tt__node *n) {
    tt_tensor *x = n->in[0], *y = n->out;
    const tt__strided_saved *s = (const tt__strided_saved *)n->saved;
    (void)ctx;
    if (x->grad) tt__shape_walk(TT__WALK_SCATTER_ADD, y->ndim, y->shape, s->st, s->base, x->grad, y->grad);
}

/* y of shape (nd, shape) with y[i0, i1, ...] = x->data[base + sum ik * st[k]]. */
static tt_tensor *tt__strided(tt_ctx *ctx, const char *op, tt_tensor *x, int nd, const int *shape, const size_t *st,
                              size_t base) {
    tt_tensor *y = tt__out(ctx, op, nd, shape, x, NULL, NULL);
    int d;
    if (!y) return NULL;
    if (ctx->backend) { /* runs on the backend: the strides travel in the saved record */
        tt_backend_call c;
        tt__strided_saved *s = (tt__strided_saved *)tt__scratch(ctx, op, sizeof(tt__strided_saved));
        if (!s) return NULL;
        for (d = 0; d < nd; d++) s->st[d] = st[d];
        s->base = base;
        memset(&c, 0, sizeof c);
        c.op = TT_BOP_STRIDED;
        c.in[0] = x;
        c.p[0] = s;
        return tt__bk_forward(ctx, y, &c);
    }
    tt__shape_walk(TT__WALK_GATHER, nd, shape, st, base, x->data, y->data);
    if (y->node) {
        tt__strided_saved *s = (tt__strided_saved *)tt__scratch(ctx, op, sizeof(tt__strided_saved));
        if (!s) return NULL;
        for (d = 0; d < nd; d++) s->st[d] = st[d];
        s->base = base;
        y->node->saved = s;
        y->node->backward = tt__strided_backward;
    }
    return tt__done(ctx, y);
}

/* Output dim d is input dim perm[d] (perm already checked). */
static tt_tensor *tt__permute(tt_ctx *ctx, const char *op, tt_tensor *x, const int *perm) {
    size_t xst[TT_MAX_DIMS], st[TT_MAX_DIMS];
    int shape[TT_MAX_DIMS], d;
    tt__shape_strides(x->ndim, x->shape, xst);
    for (d = 0; d < x->ndim; d++) {
        shape[d] = x->shape[perm[d]];
        st[d] = xst[perm[d]];
    }
    return tt__strided(ctx, op, x, x->ndim, shape, st, 0);
}

TT__DEF tt_tensor *tt_transpose(tt_ctx *ctx, tt_tensor *x, int dim0, int dim1) {
    int perm[TT_MAX_DIMS] = {0}, d, a, b;
    if (!tt__in(ctx, "transpose", x)) return NULL;
    for (d = 0; d < x->ndim; d++) perm[d] = d;
    if (x->ndim == 0) { /* as torch: dims -1 and 0 name the single "dimension" of a scalar */
        if ((dim0 != 0 && dim0 != -1) || (dim1 != 0 && dim1 != -1)) {
            tt__fail(ctx, TT_ERR_INVALID_ARGS, "transpose: dims %d, %d out of range -1..0 for a scalar", dim0, dim1);
            return NULL;
        }
        return tt__permute(ctx, "transpose", x, perm);
    }
    if (!tt__axis(ctx, "transpose", "dim0", dim0, x->ndim, x, &a) ||
        !tt__axis(ctx, "transpose", "dim1", dim1, x->ndim, x, &b))
        return NULL;
    perm[a] = b;
    perm[b] = a;
    return tt__permute(ctx, "transpose", x, perm);
}

TT__DEF tt_tensor *tt_permute(tt_ctx *ctx, tt_tensor *x, const int *perm) {
    int p[TT_MAX_DIMS], seen[TT_MAX_DIMS], d;
    if (!tt__in(ctx, "permute", x)) return NULL;
    if (x->ndim > 0 && !perm) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "permute: perm is NULL");
        return NULL;
    }
    for (d = 0; d < x->ndim; d++) seen[d] = 0;
    for (d = 0; d < x->ndim; d++) {
        if (!tt__axis(ctx, "permute", "perm entry", perm[d], x->ndim, x, &p[d])) return NULL;
        if (seen[p[d]]++) {
            tt__fail(ctx, TT_ERR_INVALID_ARGS, "permute: perm[%d] = %d repeats a dimension; perm must be a permutation "
                     "of 0..%d for %S", d, perm[d], x->ndim - 1, x);
            return NULL;
        }
    }
    return tt__permute(ctx, "permute", x, p);
}

/* Python's slice.indices for step > 0: negative bounds count from the end, then clamp to 0..len. */
static int tt__slice_bound(int v, int len) {
    if (v < 0) {
        v += len;
        if (v < 0) v = 0;
    }
    return v > len ? len : v;
}

TT__DEF tt_tensor *tt_slice(tt_ctx *ctx, tt_tensor *x, int axis, int start, int end, int step) {
    size_t st[TT_MAX_DIMS], base;
    int shape[TT_MAX_DIMS], a, d, len;
    if (!tt__in(ctx, "slice", x)) return NULL;
    if (!tt__axis(ctx, "slice", "axis", axis, x->ndim, x, &a)) return NULL;
    if (step <= 0) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "slice: step must be > 0, got %d", step);
        return NULL;
    }
    len = x->shape[a];
    start = tt__slice_bound(start, len);
    end = tt__slice_bound(end, len);
    tt__shape_strides(x->ndim, x->shape, st);
    for (d = 0; d < x->ndim; d++) shape[d] = x->shape[d];
    /* count of start, start+step, ... below end (in long long: end - start + step may overflow int) */
    shape[a] = end > start ? (int)(((long long)end - start + step - 1) / step) : 0;
    base = (size_t)start * st[a]; /* first element read, then every step-th along axis */
    st[a] *= (size_t)step;
    return tt__strided(ctx, "slice", x, x->ndim, shape, st, base);
}

/* ---- concat / stack: each input fills a strided region of the output ---- */

/* Where input k lies in y: its shape as seen in y (stack inserts a 1 at axis), y's strides and
   the offset of its first element. */
static void tt__cat_region(const tt__node *n, const tt_tensor *y, int k, int *shape, size_t *st, size_t *base) {
    int axis = n->i[0], stack = n->i[1], j, d;
    size_t ost[TT_MAX_DIMS], before = 0;
    const tt_tensor *x = tt__node_in(n, k);
    tt__shape_strides(y->ndim, y->shape, ost);
    for (d = 0; d < y->ndim; d++) st[d] = ost[d];
    if (stack) {
        for (d = 0; d < y->ndim; d++) shape[d] = d < axis ? x->shape[d] : d == axis ? 1 : x->shape[d - 1];
        before = (size_t)k;
    } else {
        for (d = 0; d < y->ndim; d++) shape[d] = x->shape[d];
        for (j = 0; j < k; j++) before += (size_t)tt__node_in(n, j)->shape[axis];
    }
    *base = before * ost[axis];
}

static void tt__cat_backward(tt_ctx *ctx, tt__node *n) {
    int shape[TT_MAX_DIMS], k;
    size_t st[TT_MAX_DIMS], base;
    (void)ctx;
    for (k = 0; k < n->n_ins; k++) {
        tt_tensor *x = tt__node_in(n, k);
        if (!x->grad) continue;
        tt__cat_region(n, n->out, k, shape, st, &base);
        tt__shape_walk(TT__WALK_GATHER_ADD, n->out->ndim, shape, st, base, n->out->grad, x->grad);
    }
}

static tt_tensor *tt__cat(tt_ctx *ctx, const char *op, int stack, int n, tt_tensor **xs, int axis) {
    int shape[TT_MAX_DIMS], rshape[TT_MAX_DIMS], nd, a, k, d;
    long long total;
    size_t st[TT_MAX_DIMS], base;
    tt_tensor *y, *x0;
    tt__node tmp; /* the node's layout fields, for tt__cat_region when no node is recorded */
    if (!ctx) return NULL;
    if (n <= 0 || !xs) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: need at least one input (n = %d, xs %s)", op, n, xs ? "given" : "NULL");
        return NULL;
    }
    for (k = 0; k < n; k++)
        if (!tt__in(ctx, op, xs[k])) return NULL;
    x0 = xs[0];
    nd = x0->ndim + stack;
    if (nd > TT_MAX_DIMS) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: stacking %S would need %d dimensions (TT_MAX_DIMS is %d)", op, x0, nd, TT_MAX_DIMS);
        return NULL;
    }
    if (!tt__axis(ctx, op, "axis", axis, nd, NULL, &a)) return NULL;
    total = 0;
    for (k = 0; k < n; k++) {
        const tt_tensor *x = xs[k];
        int ok = x->ndim == x0->ndim;
        for (d = 0; ok && d < x->ndim; d++)
            if (x->shape[d] != x0->shape[d] && (stack || d != a)) ok = 0;
        if (!ok) {
            tt__fail(ctx, TT_ERR_SHAPE, stack ? "%s: input %d has shape %S, input 0 has %S (all must be equal)"
                                              : "%s: input %d has shape %S, input 0 has %S (all must match except on axis %d)",
                     op, k, x, x0, a);
            return NULL;
        }
        if (!stack) total += x->shape[a];
    }
    if (stack) total = n;
    if (total > 0x7fffffff) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: output size along axis %d is too large", op, a);
        return NULL;
    }
    for (d = 0; d < nd; d++) shape[d] = stack ? (d < a ? x0->shape[d] : d == a ? n : x0->shape[d - 1]) : x0->shape[d];
    shape[a] = (int)total;
    y = tt__out_n(ctx, op, nd, shape, n, xs);
    if (!y) return NULL;
    memset(&tmp, 0, sizeof tmp);
    tmp.ins = xs;
    tmp.n_ins = n;
    if (n <= TT__MAX_IN) {
        tmp.ins = NULL;
        for (k = 0; k < n; k++) tmp.in[k] = xs[k];
    }
    tmp.i[0] = a;
    tmp.i[1] = stack;
    for (k = 0; k < n; k++) {
        tt__cat_region(&tmp, y, k, rshape, st, &base);
        tt__shape_walk(TT__WALK_SCATTER, nd, rshape, st, base, y->data, xs[k]->data);
    }
    if (y->node) {
        y->node->i[0] = a;
        y->node->i[1] = stack;
        y->node->backward = tt__cat_backward;
    }
    return tt__done(ctx, y);
}

TT__DEF tt_tensor *tt_concat(tt_ctx *ctx, int n, tt_tensor **xs, int axis) { return tt__cat(ctx, "concat", 0, n, xs, axis); }
TT__DEF tt_tensor *tt_stack(tt_ctx *ctx, int n, tt_tensor **xs, int axis) { return tt__cat(ctx, "stack", 1, n, xs, axis); }

/* ---- pad: x fills the interior of an output filled with value ---- */

static void tt__pad_backward(tt_ctx *ctx, tt__node *n) {
    tt_tensor *x = n->in[0], *y = n->out;
    const tt__strided_saved *s = (const tt__strided_saved *)n->saved;
    (void)ctx;
    if (x->grad) tt__shape_walk(TT__WALK_GATHER_ADD, x->ndim, x->shape, s->st, s->base, y->grad, x->grad);
}

TT__DEF tt_tensor *tt_pad(tt_ctx *ctx, tt_tensor *x, int n_pads, const int *pads, float value) {
    int shape[TT_MAX_DIMS], before[TT_MAX_DIMS], j, d;
    size_t st[TT_MAX_DIMS], base = 0, i;
    tt_tensor *y;
    if (!tt__in(ctx, "pad", x)) return NULL;
    if (n_pads < 0 || n_pads % 2 != 0 || (n_pads > 0 && !pads)) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "pad: need an even number of pads >= 0 and a pads array, got n_pads %d%s", n_pads,
                 pads ? "" : " and pads NULL");
        return NULL;
    }
    if (n_pads > 2 * x->ndim) {
        tt__fail(ctx, TT_ERR_SHAPE, "pad: %d pads for %S; at most 2 per dimension (%d)", n_pads, x, 2 * x->ndim);
        return NULL;
    }
    for (d = 0; d < x->ndim; d++) { shape[d] = x->shape[d]; before[d] = 0; }
    for (j = 0; j < n_pads; j++) {
        d = x->ndim - 1 - j / 2; /* pads[0], pads[1] pad the last dim, pads[2], pads[3] the one before, ... */
        if (pads[j] < 0) {
            tt__fail(ctx, TT_ERR_INVALID_ARGS, "pad: pads[%d] = %d is negative (cropping is not supported)", j, pads[j]);
            return NULL;
        }
        if ((long long)shape[d] + pads[j] > 0x7fffffff) {
            tt__fail(ctx, TT_ERR_SHAPE, "pad: padded dimension %d of %S is too large", d, x);
            return NULL;
        }
        shape[d] += pads[j];
        if (j % 2 == 0) before[d] = pads[j];
    }
    y = tt__out(ctx, "pad", x->ndim, shape, x, NULL, NULL);
    if (!y) return NULL;
    tt__shape_strides(y->ndim, y->shape, st);
    for (d = 0; d < x->ndim; d++) base += (size_t)before[d] * st[d];
    for (i = 0; i < y->numel; i++) y->data[i] = value;
    tt__shape_walk(TT__WALK_SCATTER, x->ndim, x->shape, st, base, y->data, x->data);
    if (y->node) {
        tt__strided_saved *s = (tt__strided_saved *)tt__scratch(ctx, "pad", sizeof(tt__strided_saved));
        if (!s) return NULL;
        for (d = 0; d < x->ndim; d++) s->st[d] = st[d];
        s->base = base;
        y->node->saved = s;
        y->node->backward = tt__pad_backward;
    }
    return tt__done(ctx, y);
}

/* ---- index_select, gather, embedding: integer indices ---- */

/* Check ids[0..n) against 0..size-1; names the op, the position and the value on failure. */
static int tt__check_ids(tt_ctx *ctx, const char *op, const char *what, const int *ids, size_t n, int size,
                         const tt_tensor *x, int axis) {
    size_t i;
    for (i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= size) {
            if (size == 0)
                tt__fail(ctx, TT_ERR_INDEX, "%s: %s[%z] = %d, but dimension %d of %S is empty (no valid index)", op, what, i,
                         ids[i], axis, x);
            else
                tt__fail(ctx, TT_ERR_INDEX, "%s: %s[%z] = %d out of range 0..%d (dimension %d of %S)", op, what, i, ids[i],
                         size - 1, axis, x);
            return 0;
        }
    return 1;
}

/* Copy of the caller's index array for backward (the caller may reuse its array). */
static int *tt__save_ids(tt_ctx *ctx, const char *op, const int *ids, size_t n) {
    int *p = (int *)tt__scratch(ctx, op, (n ? n : 1) * sizeof(int));
    if (p && n) memcpy(p, ids, n * sizeof(int));
    return p;
}

/* y[o, j, r] = x[o, index[j], r] with o over the dims before axis and r over the dims after. */
static void tt__index_rows(const tt_tensor *x, int axis, size_t n, const int *index, float *xs, float *ys, int add) {
    size_t outer, len, inner, o, j, r;
    tt__axis_split(x, axis, &outer, &len, &inner);
    for (o = 0; o < outer; o++)
        for (j = 0; j < n; j++) {
            float *xp = xs + (o * len + (size_t)index[j]) * inner, *yp = ys + (o * n + j) * inner;
            if (add) for (r = 0; r < inner; r++) xp[r] += yp[r]; /* backward: scatter-add */
            else memcpy(yp, xp, inner * sizeof(float));
        }
}

static void tt__index_select_backward(tt_ctx *ctx, tt__node *n) {
    tt_tensor *x = n->in[0];
    (void)ctx;
    if (x->grad) tt__index_rows(x, n->i[0], (size_t)n->i[1], (const int *)n->saved, x->grad, n->out->grad, 1);
}

TT__DEF tt_tensor *tt_index_select(tt_ctx *ctx, tt_tensor *x, int axis, size_t n_index, const int *index) {
    int shape[TT_MAX_DIMS], a, d, n;
    tt_tensor *y;
    if (!tt__in(ctx, "index_select", x)) return NULL;
    if (!tt__axis(ctx, "index_select", "axis", axis, x->ndim, x, &a)) return NULL;
    if (n_index > 0x7fffffffu || (n_index > 0 && !index)) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "index_select: need at most 2^31 - 1 indices and an index array, got %z%s",
                 n_index, index ? "" : " and index NULL");
        return NULL;
    }
    n = (int)n_index;
    if (!tt__check_ids(ctx, "index_select", "index", index, (size_t)n, x->shape[a], x, a)) return NULL;
    for (d = 0; d < x->ndim; d++) shape[d] = x->shape[d];
    shape[a] = n;
    y = tt__out(ctx, "index_select", x->ndim, shape, x, NULL, NULL);
    if (!y) return NULL;
    if (ctx->backend) return tt__bk_index_select(ctx, y, x, a, index, (size_t)n);
    tt__index_rows(x, a, (size_t)n, index, x->data, y->data, 0);
    if (y->node) {
        y->node->saved = tt__save_ids(ctx, "index_select", index, (size_t)n);
        if (!y->node->saved) return NULL;
        y->node->i[0] = a;
        y->node->i[1] = n;
        y->node->backward = tt__index_select_backward;
    }
    return tt__done(ctx, y);
}

/* For element i of the index (shape of y), the offset in x: y's coordinates with the one on
   axis replaced by index[i]. add 0: y = x[...]; add 1: x->grad[...] += y->grad. */
static void tt__gather_run(const tt_tensor *x, const tt_tensor *y, int axis, const int *index, float *xs, float *ys,
                           int add) {
    size_t xst[TT_MAX_DIMS], off = 0, i;
    int idx[TT_MAX_DIMS], nd = y->ndim, d;
    tt__shape_strides(x->ndim, x->shape, xst);
    for (d = 0; d < nd; d++) idx[d] = 0;
    for (i = 0; i < y->numel; i++) {
        size_t p = off + (size_t)index[i] * xst[axis]; /* off skips the axis coordinate */
        if (add) xs[p] += ys[i];
        else ys[i] = xs[p];
        for (d = nd - 1; d >= 0; d--) {
            if (d != axis) off += xst[d];
            if (++idx[d] < y->shape[d]) break;
            if (d != axis) off -= xst[d] * (size_t)y->shape[d];
            idx[d] = 0;
        }
    }
}

static void tt__gather_backward(tt_ctx *ctx, tt__node *n) {
    tt_tensor *x = n->in[0];
    (void)ctx;
    if (x->grad) tt__gather_run(x, n->out, n->i[0], (const int *)n->saved, x->grad, n->out->grad, 1);
}

TT__DEF tt_tensor *tt_gather(tt_ctx *ctx, tt_tensor *x, int axis, const int *index_shape, size_t n_index,
                             const int *index) {
    int a, d;
    size_t numel;
    tt_tensor *y;
    if (!tt__in(ctx, "gather", x)) return NULL;
    if (!tt__axis(ctx, "gather", "axis", axis, x->ndim, x, &a)) return NULL;
    if (!tt__check_shape(ctx, "gather", x->ndim, index_shape, &numel)) return NULL;
    if (n_index != numel) {
        tt__fail(ctx, TT_ERR_SHAPE, "gather: index has %z entries, its shape needs %z", n_index, numel);
        return NULL;
    }
    for (d = 0; d < x->ndim; d++)
        if (d != a && index_shape[d] > x->shape[d]) {
            tt__fail(ctx, TT_ERR_SHAPE, "gather: index size %d on dimension %d exceeds %S (only axis %d may be larger)",
                     index_shape[d], d, x, a);
            return NULL;
        }
    if (numel > 0 && !index) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "gather: index is NULL");
        return NULL;
    }
    if (!tt__check_ids(ctx, "gather", "index", index, numel, x->shape[a], x, a)) return NULL;
    y = tt__out(ctx, "gather", x->ndim, index_shape, x, NULL, NULL);
    if (!y) return NULL;
    tt__gather_run(x, y, a, index, x->data, y->data, 0);
    if (y->node) {
        y->node->saved = tt__save_ids(ctx, "gather", index, numel);
        if (!y->node->saved) return NULL;
        y->node->i[0] = a;
        y->node->backward = tt__gather_backward;
    }
    return tt__done(ctx, y);
}

static void tt__embedding_backward(tt_ctx *ctx, tt__node *n) {
    tt_tensor *w = n->in[0], *y = n->out;
    const int *ids = (const int *)n->saved;
    size_t dim = (size_t)w->shape[1], count = dim ? y->numel / dim : 0, i, j;
    (void)ctx;
    if (!w->grad) return;
    for (i = 0; i < count; i++) { /* repeated ids accumulate */
        float *g = w->grad + (size_t)ids[i] * dim;
        const float *gy = y->grad + i * dim;
        for (j = 0; j < dim; j++) g[j] += gy[j];
    }
}

TT__DEF tt_tensor *tt_embedding(tt_ctx *ctx, tt_tensor *weight, int ndim, const int *ids_shape, size_t n_ids,
                                const int *ids) {
    int shape[TT_MAX_DIMS], d;
    size_t count, dim, i;
    tt_tensor *y;
    if (!tt__in(ctx, "embedding", weight)) return NULL;
    if (weight->ndim != 2) {
        tt__fail(ctx, TT_ERR_SHAPE, "embedding: weight must be (num, dim), got %S", weight);
        return NULL;
    }
    if (ndim < 0 || ndim >= TT_MAX_DIMS) {
        tt__fail(ctx, TT_ERR_SHAPE, "embedding: ids ndim %d outside 0..%d (the output adds one dimension)", ndim,
                 TT_MAX_DIMS - 1);
        return NULL;
    }
    if (!tt__check_shape(ctx, "embedding", ndim, ids_shape, &count)) return NULL;
    if (n_ids != count) {
        tt__fail(ctx, TT_ERR_SHAPE, "embedding: ids has %z entries, its shape needs %z", n_ids, count);
        return NULL;
    }
    if (count > 0 && !ids) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "embedding: ids is NULL");
        return NULL;
    }
    if (!tt__check_ids(ctx, "embedding", "ids", ids, count, weight->shape[0], weight, 0)) return NULL;
    for (d = 0; d < ndim; d++) shape[d] = ids_shape[d];
    shape[ndim] = weight->shape[1];
    y = tt__out(ctx, "embedding", ndim + 1, shape, weight, NULL, NULL);
    if (!y) return NULL;
    if (ctx->backend) return tt__bk_embedding(ctx, y, weight, ids, count);
    dim = (size_t)weight->shape[1];
    for (i = 0; i < count; i++) memcpy(y->data + i * dim, weight->data + (size_t)ids[i] * dim, dim * sizeof(float));
    if (y->node) {
        y->node->saved = tt__save_ids(ctx, "embedding", ids, count);
        if (!y->node->saved) return NULL;
        y->node->backward = tt__embedding_backward;
    }
    return tt__done(ctx, y);
}


/* ==================================================================================== >>ops_conv */
#ifndef TT_NO_CONV /* the whole section (see FEATURE CUTS) */

/* Convolution: im2col + matrix multiply. For one batch item and one group, the input patch under
   every output position is copied into a column of `col` (K rows = Cin/groups * kH * kW, P columns
   = oH * oW; zero where the window hangs over the padding). Then
       forward   Y_g (Cout/g, P)  = W_g (Cout/g, K) * col (K, P)   (+ bias)
       backward  dW_g (Cout/g, K) += dY_g * col^T
                 dcol (K, P)      = W_g^T * dY_g, scattered back into dX (col2im)
   Pooling walks its windows directly. Every 1-D op runs as the 2-D op with H = 1 and a kernel
   height of 1. All ops accept unbatched input too ((C, L) / (C, H, W)), as torch does.
   Speed, all bit-identical with the plain element-by-element loops (tests/test_convspeed.c):
   im2col / col2im work on the range of output columns whose input column lies inside the row
   (no per-element bounds test; contiguous copies and vector adds for stride 1); pooling runs the
   interior (windows without padding) 8 outputs at a time with AVX2 when the context's kernel is
   AVX2 / AVX-512; the bias gradient and global average pooling sum 4 planes at once
   (tt__rows, >>ops_basic). The bias is fused into the forward product (y starts as the bias,
   sgemm adds W * col with beta 1); an activation after the conv stays its own op. */

typedef struct tt__conv_geom {
    int n, c, h, w;                  /* input: batch, channels, height, width */
    int cout, groups;                /* conv: output channels and groups */
    int kh, kw, sh, sw, ph, pw, dh, dw; /* kernel, stride, padding, dilation (height, width) */
    int oh, ow;                      /* output height and width */
    int ceil_mode, count_include_pad; /* pooling */
    int *argmax;                     /* max pooling: input index (in its plane) of each output's max */
} tt__conv_geom;

/* x as (N, C, [H,] W) or unbatched (C, [H,] W) with nsp (1 or 2) spatial dims. */
static int tt__conv_input(tt_ctx *ctx, const char *op, const tt_tensor *x, int nsp, tt__conv_geom *g) {
    int off;
    if (x->ndim != nsp + 2 && x->ndim != nsp + 1) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: input %S must have %d dims (N, C, %s) or %d unbatched", op, x, nsp + 2,
                 nsp == 2 ? "H, W" : "L", nsp + 1);
        return 0;
    }
    memset(g, 0, sizeof *g);
    off = x->ndim - nsp - 1; /* index of the channel dim */
    g->n = off ? x->shape[0] : 1;
    g->c = x->shape[off];
    g->h = nsp == 2 ? x->shape[off + 1] : 1;
    g->w = x->shape[x->ndim - 1];
    return 1;
}

/* Output shape: x's shape with channels c and spatial size oh x ow (ow only for 1-D). */
static void tt__conv_out_shape(const tt_tensor *x, int nsp, int c, const tt__conv_geom *g, int *shape) {
    int off = x->ndim - nsp - 1, i;
    for (i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[off] = c;
    if (nsp == 2) shape[off + 1] = g->oh;
    shape[x->ndim - 1] = g->ow;
}

/* Keep a copy of the geometry for backward. */
static int tt__conv_save(tt_ctx *ctx, const char *op, tt_tensor *y, const tt__conv_geom *g) {
    tt__conv_geom *s;
    if (!y->node) return 1;
    s = (tt__conv_geom *)tt__scratch(ctx, op, sizeof *s);
    if (!s) return 0;
    *s = *g;
    y->node->saved = s;
    return 1;
}

/* Stride / dilation / groups: 0 means 1 (the default), negative is an error. */
TT__DEF tt_conv_opts tt_conv_opts_init(void) {
    tt_conv_opts o;
    o.stride[0] = 1; o.stride[1] = 1;
    o.padding[0] = 0; o.padding[1] = 0;
    o.dilation[0] = 1; o.dilation[1] = 1;
    o.groups = 1;
    return o;
}

TT__DEF tt_pool_opts tt_pool_opts_init(int kernel_h, int kernel_w) {
    tt_pool_opts o;
    o.kernel[0] = kernel_h; o.kernel[1] = kernel_w;
    o.stride[0] = kernel_h; o.stride[1] = kernel_w; /* torch: stride=None means the kernel size */
    o.padding[0] = 0; o.padding[1] = 0;
    o.dilation[0] = 1; o.dilation[1] = 1;
    o.ceil_mode = 0;
    o.count_include_pad = 1;
    return o;
}
TT__DEF tt_pool_opts tt_pool1d_opts_init(int kernel) { return tt_pool_opts_init(kernel, kernel); }

/* A stride, dilation or groups value: >= 1, taken literally. */
static int tt__conv_opt(tt_ctx *ctx, const char *op, const char *what, int v, int *out) {
    if (v < 1) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: %s must be >= 1, got %d", op, what, v);
        return 0;
    }
    *out = v;
    return 1;
}

static int tt__conv_setup(tt_ctx *ctx, const char *op, const tt_tensor *x, const tt_tensor *w, const tt_tensor *b,
                          const tt_conv_opts *o, int nsp, tt__conv_geom *g) {
    tt_conv_opts opt;
    long long eh, ew, oh, ow;
    int wi = nsp == 2 ? 1 : 0; /* opts index of the width (length) */
    if (!tt__conv_input(ctx, op, x, nsp, g)) return 0;
    opt = o ? *o : tt_conv_opts_init();
    o = &opt;
    if (w->ndim != nsp + 2) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: weight %S must have %d dims (Cout, Cin/groups, %s)", op, w, nsp + 2,
                 nsp == 2 ? "kH, kW" : "k");
        return 0;
    }
    if (!tt__conv_opt(ctx, op, "groups", o->groups, &g->groups) ||
        !tt__conv_opt(ctx, op, "stride", o->stride[wi], &g->sw) ||
        !tt__conv_opt(ctx, op, "dilation", o->dilation[wi], &g->dw))
        return 0;
    g->sh = g->dh = 1;
    if (nsp == 2 && (!tt__conv_opt(ctx, op, "stride", o->stride[0], &g->sh) ||
                     !tt__conv_opt(ctx, op, "dilation", o->dilation[0], &g->dh)))
        return 0;
    g->pw = o->padding[wi];
    g->ph = nsp == 2 ? o->padding[0] : 0;
    if (g->ph < 0 || g->pw < 0) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: padding must be >= 0, got %d", op, g->ph < 0 ? g->ph : g->pw);
        return 0;
    }
    g->cout = w->shape[0];
    g->kh = nsp == 2 ? w->shape[2] : 1;
    g->kw = w->shape[w->ndim - 1];
    if (g->c < 1 || g->cout < 1 || w->shape[1] < 1 || g->kh < 1 || g->kw < 1) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: input %S and weight %S need at least one channel and kernel element", op, x, w);
        return 0;
    }
    if (g->c % g->groups || g->cout % g->groups || (long long)w->shape[1] * g->groups != g->c) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: input %S, weight %S and groups %d do not fit (need Cin and Cout divisible by "
                 "groups, weight dim 1 = Cin/groups)", op, x, w, g->groups);
        return 0;
    }
    if (!tt__vec_ok(ctx, op, "bias", b, x, g->cout)) return 0;
    /* effective (dilated) kernel against the padded input, computed without int overflow */
    eh = (long long)g->dh * (g->kh - 1) + 1;
    ew = (long long)g->dw * (g->kw - 1) + 1;
    if (eh > (long long)g->h + 2LL * g->ph || ew > (long long)g->w + 2LL * g->pw) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: kernel of weight %S (dilated %dx%d) is larger than the padded input %S "
                 "(padding %dx%d)", op, w, (int)TT__MIN(eh, 2147483647LL), (int)TT__MIN(ew, 2147483647LL), x, g->ph, g->pw);
        return 0;
    }
    /* the output sizes are computed in 64 bits and must fit a tensor dimension (int) */
    oh = ((long long)g->h + 2LL * g->ph - eh) / g->sh + 1;
    ow = ((long long)g->w + 2LL * g->pw - ew) / g->sw + 1;
    if (oh > 2147483647LL || ow > 2147483647LL) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: output size too large for input %S (padding %dx%d, stride %dx%d): a dimension "
                 "would exceed 2147483647", op, x, g->ph, g->pw, g->sh, g->sw);
        return 0;
    }
    g->oh = (int)oh;
    g->ow = (int)ow;
    if (g->oh <= 0 || g->ow <= 0) { /* cannot happen after the check above; kept as a guard */
        tt__fail(ctx, TT_ERR_SHAPE, "%s: output size %dx%d for input %S is not positive", op, g->oh, g->ow, x);
        return 0;
    }
    return 1;
}

/* 1x1 kernel, stride 1, no padding: the input plane already is the column matrix. */
static int tt__conv_direct(const tt__conv_geom *g) {
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

/* The output columns ox whose input column ix = ox*s + off (off = kernel offset - padding) lies
   inside 0 .. w-1: [*a, *b). Outside it im2col writes zeros and col2im adds nothing. */
static void tt__conv_cols(int ow, int w, int s, int off, int *a, int *b) {
    long long lo = off >= 0 ? 0 : (-(long long)off + s - 1) / s;                /* first ox with ix >= 0 */
    long long hi = (long long)w - 1 - off < 0 ? 0 : ((long long)w - 1 - off) / s + 1; /* past the last ix < w */
    *a = (int)TT__MIN(lo, (long long)ow);
    *b = (int)TT__MAX(TT__MIN(hi, (long long)ow), (long long)*a);
}

/* d[0..n-1] = s[0..n-1] and d[0..n-1] = 0, inline: im2col's rows are short (a call to memcpy /
   memset per row of 14-28 floats costs more than the copy) */
static void tt__conv_copy(float *d, const float *s, int n) {
    int i = 0;
#ifdef TT__VEC_SSE
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(d + i, _mm_loadu_ps(s + i));
#endif
    for (; i < n; i++) d[i] = s[i];
}
static void tt__conv_fill(float *d, float v, int n) {
    int i = 0;
#ifdef TT__VEC_SSE
    __m128 vv = _mm_set1_ps(v);
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(d + i, vv);
#endif
    for (; i < n; i++) d[i] = v;
}
static void tt__conv_zero(float *d, int n) { tt__conv_fill(d, 0.0f, n); }

/* col (cg*kh*kw, oh*ow) <- the windows of x (cg, h, w); zero in the padding. Per row of col:
   zeros left of the input, a copy of the input row (contiguous for stride 1), zeros right of it. */
static void tt__im2col(const tt__conv_geom *g, int cg, const float *x, float *col) {
    int c, ki, kj, oy, ox, p = g->oh * g->ow;
    for (c = 0; c < cg; c++)
        for (ki = 0; ki < g->kh; ki++)
            for (kj = 0; kj < g->kw; kj++) {
                const float *xc = x + (size_t)c * g->h * g->w;
                float *row = col + ((size_t)(c * g->kh + ki) * g->kw + kj) * p;
                int off = kj * g->dw - g->pw, a, b;
                tt__conv_cols(g->ow, g->w, g->sw, off, &a, &b);
                for (oy = 0; oy < g->oh; oy++) {
                    int iy = oy * g->sh - g->ph + ki * g->dh;
                    float *r = row + (size_t)oy * g->ow;
                    const float *xr;
                    if (iy < 0 || iy >= g->h) {
                        memset(r, 0, sizeof(float) * (size_t)g->ow);
                        continue;
                    }
                    xr = xc + (size_t)iy * g->w; /* input column of output ox: ox * sw + off */
                    tt__conv_zero(r, a);
                    if (g->sw == 1) tt__conv_copy(r + a, xr + a + off, b - a);
                    else
                        for (ox = a; ox < b; ox++) r[ox] = xr[ox * g->sw + off];
                    tt__conv_zero(r + b, g->ow - b);
                }
            }
}

/* dx (cg, h, w) += col scattered back to where im2col took it from (padding dropped). Every dx
   element receives its terms in the order of the loops (c, ki, kj, oy, ox), as a plain
   element-by-element loop would add them. */
static void tt__col2im(const tt__conv_geom *g, int cg, const float *col, float *dx) {
    int c, ki, kj, oy, ox, p = g->oh * g->ow;
    for (c = 0; c < cg; c++)
        for (ki = 0; ki < g->kh; ki++)
            for (kj = 0; kj < g->kw; kj++) {
                float *dc = dx + (size_t)c * g->h * g->w;
                const float *row = col + ((size_t)(c * g->kh + ki) * g->kw + kj) * p;
                int off = kj * g->dw - g->pw, a, b;
                tt__conv_cols(g->ow, g->w, g->sw, off, &a, &b);
                for (oy = 0; oy < g->oh; oy++) {
                    int iy = oy * g->sh - g->ph + ki * g->dh;
                    const float *r = row + (size_t)oy * g->ow;
                    float *dr;
                    if (iy < 0 || iy >= g->h || b <= a) continue;
                    dr = dc + (size_t)iy * g->w; /* input column of output ox: ox * sw + off */
                    if (g->sw == 1) tt__ew.add_into(dr + a + off, r + a, (size_t)(b - a));
                    else
                        for (ox = a; ox < b; ox++) dr[ox * g->sw + off] += r[ox];
                }
            }
}

static void tt__conv_backward(tt_ctx *ctx, tt__node *nd) {
    tt_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2], *y = nd->out;
    const tt__conv_geom *g = (const tt__conv_geom *)nd->saved;
    int cg = g->c / g->groups, cgo = g->cout / g->groups, k = cg * g->kh * g->kw, p = g->oh * g->ow;
    int direct = tt__conv_direct(g), n, gi, co, i, m;
    float *col = NULL; /* a temporary: tt_backward frees what a backward takes from scratch */
    if (b && b->grad) /* db[co] += each item's plane sum (in double), 4 channels at once (tt__rows) */
        for (n = 0; n < g->n; n++)
            for (co = 0; co < g->cout; co += m) {
                const float *dy = y->grad + ((size_t)n * g->cout + co) * p;
                double s[4] = {0, 0, 0, 0};
                m = g->cout - co >= 4 ? 4 : 1;
                if (m == 4) tt__rows.sum4(dy, (size_t)p, (size_t)p, s);
                else
                    for (i = 0; i < p; i++) s[0] += dy[i];
                for (i = 0; i < m; i++) b->grad[co + i] += (float)s[i];
            }
    if (!x->grad && !w->grad) return;
    if (!direct && !(col = tt__scratch_floats(ctx, nd->op, (size_t)k * p))) return;
    for (n = 0; n < g->n; n++)
        for (gi = 0; gi < g->groups; gi++) {
            const float *xg = x->data + ((size_t)n * g->c + (size_t)gi * cg) * g->h * g->w;
            const float *wg = w->data + (size_t)gi * cgo * k;
            const float *dyg = y->grad + ((size_t)n * g->cout + (size_t)gi * cgo) * p;
            if (w->grad) { /* dW_g += dY_g col^T */
                const float *src = xg;
                if (!direct) { tt__im2col(g, cg, xg, col); src = col; }
                tt_ctx_sgemm(ctx, 0, 1, cgo, k, p, 1.0f, dyg, p, src, p, 1.0f, w->grad + (size_t)gi * cgo * k, k);
            }
            if (x->grad) { /* dX_g += col2im(W_g^T dY_g) */
                float *dxg = x->grad + ((size_t)n * g->c + (size_t)gi * cg) * g->h * g->w;
                if (direct) {
                    tt_ctx_sgemm(ctx, 1, 0, k, p, cgo, 1.0f, wg, k, dyg, p, 1.0f, dxg, p);
                } else {
                    tt_ctx_sgemm(ctx, 1, 0, k, p, cgo, 1.0f, wg, k, dyg, p, 0.0f, col, p);
                    tt__col2im(g, cg, col, dxg);
                }
            }
        }
}

/* Conv and pooling on a backend: the geometry as TT_BK_GEOM_INTS ints in scratch, followed by
   `extra` bytes of workspace (see TT_BOP_CONV in >>api_backend). */
static tt_tensor *tt__conv_bk(tt_ctx *ctx, const char *op, tt_tensor *y, int code, tt_tensor *x, tt_tensor *w, tt_tensor *b,
                              const tt__conv_geom *g, size_t extra) {
    tt_backend_call c;
    int *gi;
    if (extra > (size_t)-1 - sizeof(int) * TT_BK_GEOM_INTS) { tt__fail(ctx, TT_ERR_OUT_OF_MEMORY, "%s: size overflow", op); return NULL; }
    gi = (int *)tt__scratch(ctx, op, sizeof(int) * TT_BK_GEOM_INTS + extra);
    if (!gi) return NULL;
    memset(gi, 0, sizeof(int) * TT_BK_GEOM_INTS);
    gi[0] = g->n; gi[1] = g->c; gi[2] = g->h; gi[3] = g->w; gi[4] = g->cout; gi[5] = g->groups;
    gi[6] = g->kh; gi[7] = g->kw; gi[8] = g->sh; gi[9] = g->sw; gi[10] = g->ph; gi[11] = g->pw;
    gi[12] = g->dh; gi[13] = g->dw; gi[14] = g->oh; gi[15] = g->ow; gi[16] = g->ceil_mode; gi[17] = g->count_include_pad;
    memset(&c, 0, sizeof c);
    c.op = code;
    c.in[0] = x; c.in[1] = w; c.in[2] = b;
    c.p[0] = gi;
    return tt__bk_forward(ctx, y, &c);
}

static tt_tensor *tt__conv(tt_ctx *ctx, const char *op, tt_tensor *x, tt_tensor *w, tt_tensor *b,
                           const tt_conv_opts *opts, int nsp) {
    tt__conv_geom g;
    int shape[TT_MAX_DIMS], cg, cgo, k, p, direct, n, gi, co;
    tt_tensor *y;
    size_t mark;
    float *col = NULL;
    if (!tt__in(ctx, op, x) || !tt__in(ctx, op, w)) return NULL;
    if (!tt__conv_setup(ctx, op, x, w, b, opts, nsp, &g)) return NULL;
    tt__conv_out_shape(x, nsp, g.cout, &g, shape);
    y = tt__out(ctx, op, x->ndim, shape, x, w, b);
    if (!y || !tt__conv_save(ctx, op, y, &g)) return NULL;
    cg = g.c / g.groups; cgo = g.cout / g.groups; k = cg * g.kh * g.kw; p = g.oh * g.ow;
    direct = tt__conv_direct(&g);
    if (ctx->backend) /* runs on the backend: geometry, then the column workspace (kept for the backward) */
        return tt__conv_bk(ctx, op, y, TT_BOP_CONV, x, w, b, &g, direct ? 0 : sizeof(float) * (size_t)k * p);
    /* the column buffer is a temporary: scratch is rewound to here when done */
    mark = tt_scratch_mark(ctx);
    if (!direct && !(col = tt__scratch_floats(ctx, op, (size_t)k * p))) return NULL;
    for (n = 0; n < g.n; n++)
        for (gi = 0; gi < g.groups; gi++) {
            const float *xg = x->data + ((size_t)n * g.c + (size_t)gi * cg) * g.h * g.w;
            float *yg = y->data + ((size_t)n * g.cout + (size_t)gi * cgo) * p;
            if (b) /* y starts as the bias, the product is added to it (beta 1) */
                for (co = 0; co < cgo; co++) tt__conv_fill(yg + (size_t)co * p, b->data[gi * cgo + co], p);
            if (!direct) tt__im2col(&g, cg, xg, col);
            if (tt_ctx_sgemm(ctx, 0, 0, cgo, p, k, 1.0f, w->data + (size_t)gi * cgo * k, k, direct ? xg : col, p,
                             b ? 1.0f : 0.0f, yg, p) != TT_OK)
                return NULL;
        }
    tt_scratch_rewind(ctx, mark);
    if (y->node) y->node->backward = tt__conv_backward;
    return tt__done(ctx, y);
}

TT__DEF tt_tensor *tt_conv2d(tt_ctx *ctx, tt_tensor *x, tt_tensor *w, tt_tensor *b, const tt_conv_opts *opts) {
    return tt__conv(ctx, "conv2d", x, w, b, opts, 2);
}

TT__DEF tt_tensor *tt_conv1d(tt_ctx *ctx, tt_tensor *x, tt_tensor *w, tt_tensor *b, const tt_conv_opts *opts) {
    return tt__conv(ctx, "conv1d", x, w, b, opts, 1);
}

/* ---- pooling ---- */

/* torch's pooling output size: floor (or ceil) division, and in ceil mode the last window must
   start inside the input or the left padding. */
static long long tt__pool_out_size(long long in, int k, int pad, int s, int d, int ceil_mode) {
    long long num = in + 2LL * pad - (long long)d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
    long long o = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1; /* floor division */
    if (ceil_mode && (o - 1) * s >= in + pad) o--;
    return o;
}

static int tt__pool_setup(tt_ctx *ctx, const char *op, const tt_tensor *x, const tt_pool_opts *o, int nsp, int avg,
                          tt__conv_geom *g) {
    int wi = nsp == 2 ? 1 : 0;
    long long oh, ow;
    if (!o) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: opts is NULL (the kernel size is required)", op);
        return 0;
    }
    if (!tt__conv_input(ctx, op, x, nsp, g)) return 0;
    g->kw = o->kernel[wi];
    g->kh = nsp == 2 ? o->kernel[0] : 1;
    if (g->kh < 1 || g->kw < 1) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: kernel size must be positive, got %d", op, g->kh < 1 ? g->kh : g->kw);
        return 0;
    }
    g->sh = 1;
    if (!tt__conv_opt(ctx, op, "stride", o->stride[wi], &g->sw) ||
        (nsp == 2 && !tt__conv_opt(ctx, op, "stride", o->stride[0], &g->sh)))
        return 0;
    g->pw = o->padding[wi];
    g->ph = nsp == 2 ? o->padding[0] : 0;
    if (g->ph < 0 || g->pw < 0 || g->ph > g->kh / 2 || g->pw > g->kw / 2) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: padding %dx%d must be >= 0 and at most half of the kernel size %dx%d", op,
                 g->ph, g->pw, g->kh, g->kw);
        return 0;
    }
    if (!tt__conv_opt(ctx, op, "dilation", o->dilation[wi], &g->dw)) return 0;
    g->dh = 1;
    if (nsp == 2 && !tt__conv_opt(ctx, op, "dilation", o->dilation[0], &g->dh)) return 0;
    if (avg && (g->dh != 1 || g->dw != 1)) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: average pooling has no dilation (got %dx%d)", op, g->dh, g->dw);
        return 0;
    }
    g->ceil_mode = o->ceil_mode != 0;
    g->count_include_pad = o->count_include_pad != 0;
    oh = tt__pool_out_size(g->h, g->kh, g->ph, g->sh, g->dh, g->ceil_mode);
    ow = tt__pool_out_size(g->w, g->kw, g->pw, g->sw, g->dw, g->ceil_mode);
    if (oh < 1 || ow < 1) {
        long long bad = oh < 1 ? oh : ow;
        tt__fail(ctx, TT_ERR_SHAPE, "%s: input %S is too small for kernel %dx%d (dilation %dx%d, padding %dx%d): "
                 "output size would be %d", op, x, g->kh, g->kw, g->dh, g->dw, g->ph, g->pw,
                 (int)(bad < -1000000000LL ? -1000000000LL : bad));
        return 0;
    }
    if (oh > 2147483647LL || ow > 2147483647LL) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: output size too large for input %S: a dimension would exceed 2147483647", op, x);
        return 0;
    }
    g->oh = (int)oh;
    g->ow = (int)ow;
    return 1;
}

/* Pooling runs window by window (the reference, kept for every output near an edge and for
   TT_KERNEL_SCALAR) and, with an AVX2 or AVX-512 matmul kernel, 8 outputs of a row at a time
   for the interior: the outputs whose whole window lies inside the input (no padding, no ceil
   mode overhang). The vector code does per lane exactly what the reference does per output, in
   the same window order, so the results are bit-identical (tests/test_convspeed.c). */

/* Interior outputs along one dim: [*a, *b), those whose window (first element o*s - pad, last
   o*s - pad + (k-1)*d) lies inside 0 .. n-1. */
static void tt__pool_inner(int on, int n, int k, int s, int pad, int d, int *a, int *b) {
    long long span = (long long)d * (k - 1);
    if (span >= n) { *a = *b = 0; return; }
    tt__conv_cols(on, n - (int)span, s, -pad, a, b);
}

/* Max pooling: each output remembers the position of its maximum (the first one; a NaN wins, and
   so does every later NaN), as torch. A window that lies entirely in the padding gives -inf and
   passes no gradient (position -1). */
static float tt__max_window(const tt__conv_geom *g, const float *xp, int oy, int ox, int *at) {
    /* window rows iy0, iy0 + dh, ... < iy1, clipped to the input (padding is -inf) */
    int iy0 = oy * g->sh - g->ph, ix0 = ox * g->sw - g->pw, iy, ix;
    int iy1 = TT__MIN(iy0 + (g->kh - 1) * g->dh + 1, g->h), ix1 = TT__MIN(ix0 + (g->kw - 1) * g->dw + 1, g->w);
    float best = -INFINITY;
    while (iy0 < 0) iy0 += g->dh;
    while (ix0 < 0) ix0 += g->dw;
    *at = (iy0 < iy1 && ix0 < ix1) ? iy0 * g->w + ix0 : -1;
    for (iy = iy0; iy < iy1; iy += g->dh)
        for (ix = ix0; ix < ix1; ix += g->dw) {
            float v = xp[(size_t)iy * g->w + ix];
            if (v > best || v != v) { best = v; *at = iy * g->w + ix; }
        }
    return best;
}

#ifdef TT__GEMM_X86
/* x[lane * s] for lanes 0..7 (reads nothing past x[7 * s]) */
__attribute__((target("avx2"), always_inline))
static inline __m256 tt__pool_load8(const float *x, int s, __m256i lane_s) {
    if (s == 1) return _mm256_loadu_ps(x);
    if (s == 2) { /* evens of x[0..7], odds of x[7..14]: (x0 x2 x8 x10 | x4 x6 x12 x14), then 64-bit pairs 0 2 1 3 */
        __m256 e = _mm256_shuffle_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 7), _MM_SHUFFLE(3, 1, 2, 0));
        return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
    }
    return _mm256_i32gather_ps(x, lane_s, 4);
}

/* The 8 outputs ox .. ox+7 of row oy of one plane (all interior): the reference's loop per lane. */
__attribute__((target("avx2")))
static void tt__max_pool8_avx2(const tt__conv_geom *g, const float *xp, int oy, int ox, float *y, int *at) {
    __m256i lane_s = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(g->sw));
    int i0 = (oy * g->sh - g->ph) * g->w + ox * g->sw - g->pw, ki, kj; /* first window element of output ox */
    __m256 best = _mm256_set1_ps(-INFINITY);
    __m256 bi = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_set1_epi32(i0), lane_s));
    for (ki = 0; ki < g->kh; ki++)
        for (kj = 0; kj < g->kw; kj++) {
            int o = i0 + ki * g->dh * g->w + kj * g->dw;
            __m256 v = tt__pool_load8(xp + o, g->sw, lane_s);
            __m256 m = _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
            best = _mm256_blendv_ps(best, v, m); /* v > best || v != v */
            bi = _mm256_blendv_ps(bi, _mm256_castsi256_ps(_mm256_add_epi32(_mm256_set1_epi32(o), lane_s)), m);
        }
    _mm256_storeu_ps(y + ox, best);
    if (at) _mm256_storeu_si256((__m256i *)(void *)(at + ox), _mm256_castps_si256(bi));
}

/* Average of the 8 interior outputs ox .. ox+7: 0 + the window in the reference's order, / kh*kw. */
__attribute__((target("avx2")))
static void tt__avg_pool8_avx2(const tt__conv_geom *g, const float *xp, int oy, int ox, float *y) {
    __m256i lane_s = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(g->sw));
    int i0 = (oy * g->sh - g->ph) * g->w + ox * g->sw - g->pw, ki, kj;
    __m256 s = _mm256_setzero_ps();
    for (ki = 0; ki < g->kh; ki++)
        for (kj = 0; kj < g->kw; kj++) s = _mm256_add_ps(s, tt__pool_load8(xp + i0 + ki * g->w + kj, g->sw, lane_s));
    _mm256_storeu_ps(y + ox, _mm256_div_ps(s, _mm256_set1_ps((float)(g->kh * g->kw))));
}

/* gv[0..7] = dy[ox .. ox+7] / kh*kw (the average-pool backward's divisions for 8 interior outputs) */
__attribute__((target("avx2")))
static void tt__avg_div8_avx2(const tt__conv_geom *g, const float *dy, float *gv) {
    _mm256_storeu_ps(gv, _mm256_div_ps(_mm256_loadu_ps(dy), _mm256_set1_ps((float)(g->kh * g->kw))));
}
#endif

/* Whether the pooling loops take the 8-wide path: an AVX2 / AVX-512 context kernel, and rows with
   at least 8 interior outputs. */
static int tt__pool_simd(const tt_ctx *ctx, int a, int b) {
#ifdef TT__GEMM_X86
    return (ctx->kernel == TT_KERNEL_AVX2 || ctx->kernel == TT_KERNEL_AVX512) && b - a >= 8;
#else
    (void)ctx; (void)a; (void)b;
    return 0;
#endif
}

/* The start of each 8-wide block of the interior [a, b) (b - a >= 8): a, a + 8, ..., and b - 8
   for the rest (its outputs may be computed twice, with the same result). */
#define TT__POOL_BLOCKS(ox, a, b) for ((ox) = (a); (ox) < (b); (ox) = ((ox) + 8 < (b) && (ox) + 16 > (b)) ? (b) - 8 : (ox) + 8)

static void tt__max_pool_backward(tt_ctx *ctx, tt__node *nd) {
    tt_tensor *x = nd->in[0], *y = nd->out;
    const tt__conv_geom *g = (const tt__conv_geom *)nd->saved;
    size_t plane, o, planes = (size_t)g->n * g->c, op = (size_t)g->oh * g->ow, ip = (size_t)g->h * g->w;
    (void)ctx;
    if (!x->grad) return;
    for (plane = 0; plane < planes; plane++) {
        const int *am = g->argmax + plane * op;
        for (o = 0; o < op; o++)
            if (am[o] >= 0) x->grad[plane * ip + (size_t)am[o]] += y->grad[plane * op + o];
    }
}

static tt_tensor *tt__max_pool(tt_ctx *ctx, const char *op, tt_tensor *x, const tt_pool_opts *opts, int nsp) {
    tt__conv_geom g;
    int shape[TT_MAX_DIMS], oy, ox, ya, yb, xa, xb, simd;
    size_t plane, planes, op_n, ip_n;
    tt_tensor *y;
    if (!tt__in(ctx, op, x) || !tt__pool_setup(ctx, op, x, opts, nsp, 0, &g)) return NULL;
    tt__conv_out_shape(x, nsp, g.c, &g, shape);
    y = tt__out(ctx, op, x->ndim, shape, x, NULL, NULL);
    if (!y) return NULL;
    if (ctx->backend) return tt__conv_bk(ctx, op, y, TT_BOP_MAX_POOL, x, NULL, NULL, &g, sizeof(int) * y->numel);
    if (y->node && !(g.argmax = (int *)tt__scratch(ctx, op, sizeof(int) * (y->numel ? y->numel : 1)))) return NULL;
    if (!tt__conv_save(ctx, op, y, &g)) return NULL;
    planes = (size_t)g.n * g.c; op_n = (size_t)g.oh * g.ow; ip_n = (size_t)g.h * g.w;
    tt__pool_inner(g.oh, g.h, g.kh, g.sh, g.ph, g.dh, &ya, &yb);
    tt__pool_inner(g.ow, g.w, g.kw, g.sw, g.pw, g.dw, &xa, &xb);
    simd = tt__pool_simd(ctx, xa, xb);
    for (plane = 0; plane < planes; plane++) {
        const float *xp = x->data + plane * ip_n;
        for (oy = 0; oy < g.oh; oy++) {
            size_t o = plane * op_n + (size_t)oy * g.ow;
            float *yr = y->data + o;
            int *ar = g.argmax ? g.argmax + o : NULL, at, vec = simd && oy >= ya && oy < yb;
#ifdef TT__GEMM_X86
            if (vec) TT__POOL_BLOCKS(ox, xa, xb) tt__max_pool8_avx2(&g, xp, oy, ox, yr, ar);
#endif
            for (ox = 0; ox < g.ow; ox++) {
                if (vec && ox == xa) ox = xb;
                if (ox == g.ow) break;
                yr[ox] = tt__max_window(&g, xp, oy, ox, &at);
                if (ar) ar[ox] = at;
            }
        }
    }
    if (y->node) y->node->backward = tt__max_pool_backward;
    return tt__done(ctx, y);
}

/* Average-pool window (clipped to the input) of output (oy, ox) and its divisor, as torch:
   with count_include_pad the divisor counts the padding but not what lies beyond it (ceil mode). */
static float tt__avg_window(const tt__conv_geom *g, int oy, int ox, int *y0, int *y1, int *x0, int *x1) {
    int hs = oy * g->sh - g->ph, ws = ox * g->sw - g->pw;
    int he = TT__MIN(hs + g->kh, g->h + g->ph), we = TT__MIN(ws + g->kw, g->w + g->pw);
    int pool = (he - hs) * (we - ws);
    *y0 = TT__MAX(hs, 0); *x0 = TT__MAX(ws, 0);
    *y1 = TT__MIN(he, g->h); *x1 = TT__MIN(we, g->w);
    return (float)(g->count_include_pad ? pool : (*y1 - *y0) * (*x1 - *x0));
}

/* dx += gv over the window of output (oy, ox) (average-pool backward, one output) */
static void tt__avg_spread(const tt__conv_geom *g, float *dx, int oy, int ox, float gv) {
    int y0, y1, x0, x1, iy, ix;
    (void)tt__avg_window(g, oy, ox, &y0, &y1, &x0, &x1);
    for (iy = y0; iy < y1; iy++)
        for (ix = x0; ix < x1; ix++) dx[(size_t)iy * g->w + ix] += gv;
}

/* gv[0..7] = dy[0..7] / kh*kw: 8 interior outputs' divisions (only reached with tt__pool_simd) */
static void tt__avg_div8(const tt__conv_geom *g, const float *dy, float *gv) {
#ifdef TT__GEMM_X86
    tt__avg_div8_avx2(g, dy, gv);
#else
    int j;
    for (j = 0; j < 8; j++) gv[j] = dy[j] / (float)(g->kh * g->kw);
#endif
}

/* Every dx element receives its terms in output order (oy, ox), in both paths. */
static void tt__avg_pool_backward(tt_ctx *ctx, tt__node *nd) {
    tt_tensor *x = nd->in[0], *y = nd->out;
    const tt__conv_geom *g = (const tt__conv_geom *)nd->saved;
    size_t plane, planes = (size_t)g->n * g->c, op_n = (size_t)g->oh * g->ow, ip_n = (size_t)g->h * g->w;
    int oy, ox, y0, y1, x0, x1, ya, yb, xa, xb, simd;
    if (!x->grad) return;
    tt__pool_inner(g->oh, g->h, g->kh, g->sh, g->ph, 1, &ya, &yb);
    tt__pool_inner(g->ow, g->w, g->kw, g->sw, g->pw, 1, &xa, &xb);
    simd = tt__pool_simd(ctx, xa, xb);
    for (plane = 0; plane < planes; plane++)
        for (oy = 0; oy < g->oh; oy++) {
            const float *dy = y->grad + plane * op_n + (size_t)oy * g->ow;
            float *dx = x->grad + plane * ip_n;
            int vec = simd && oy >= ya && oy < yb;
            for (ox = 0; ox < g->ow; ox++) {
                if (vec && ox >= xa && ox + 8 <= xb) { /* 8 divisions at once, then the same adds in order */
                    float gv[8];
                    int j;
                    tt__avg_div8(g, dy + ox, gv);
                    for (j = 0; j < 8; j++) tt__avg_spread(g, dx, oy, ox + j, gv[j]);
                    ox += 7;
                    continue;
                }
                tt__avg_spread(g, dx, oy, ox, dy[ox] / tt__avg_window(g, oy, ox, &y0, &y1, &x0, &x1));
            }
        }
}

static tt_tensor *tt__avg_pool(tt_ctx *ctx, const char *op, tt_tensor *x, const tt_pool_opts *opts, int nsp) {
    tt__conv_geom g;
    int shape[TT_MAX_DIMS], oy, ox, iy, ix, y0, y1, x0, x1, ya, yb, xa, xb, simd;
    size_t plane, planes, op_n, ip_n;
    tt_tensor *y;
    if (!tt__in(ctx, op, x) || !tt__pool_setup(ctx, op, x, opts, nsp, 1, &g)) return NULL;
    tt__conv_out_shape(x, nsp, g.c, &g, shape);
    y = tt__out(ctx, op, x->ndim, shape, x, NULL, NULL);
    if (!y) return NULL;
    if (ctx->backend) return tt__conv_bk(ctx, op, y, TT_BOP_AVG_POOL, x, NULL, NULL, &g, 0);
    if (!tt__conv_save(ctx, op, y, &g)) return NULL;
    planes = (size_t)g.n * g.c; op_n = (size_t)g.oh * g.ow; ip_n = (size_t)g.h * g.w;
    tt__pool_inner(g.oh, g.h, g.kh, g.sh, g.ph, 1, &ya, &yb);
    tt__pool_inner(g.ow, g.w, g.kw, g.sw, g.pw, 1, &xa, &xb);
    simd = tt__pool_simd(ctx, xa, xb);
    for (plane = 0; plane < planes; plane++) {
        const float *xp = x->data + plane * ip_n;
        for (oy = 0; oy < g.oh; oy++) {
            float *yr = y->data + plane * op_n + (size_t)oy * g.ow;
            int vec = simd && oy >= ya && oy < yb;
#ifdef TT__GEMM_X86
            if (vec) TT__POOL_BLOCKS(ox, xa, xb) tt__avg_pool8_avx2(&g, xp, oy, ox, yr);
#endif
            for (ox = 0; ox < g.ow; ox++) {
                float d, s = 0.0f;
                if (vec && ox == xa) ox = xb;
                if (ox == g.ow) break;
                d = tt__avg_window(&g, oy, ox, &y0, &y1, &x0, &x1);
                for (iy = y0; iy < y1; iy++)
                    for (ix = x0; ix < x1; ix++) s += xp[(size_t)iy * g.w + ix];
                yr[ox] = s / d;
            }
        }
    }
    if (y->node) y->node->backward = tt__avg_pool_backward;
    return tt__done(ctx, y);
}
#undef TT__POOL_BLOCKS

TT__DEF tt_tensor *tt_max_pool2d(tt_ctx *ctx, tt_tensor *x, const tt_pool_opts *opts) {
    return tt__max_pool(ctx, "max_pool2d", x, opts, 2);
}
TT__DEF tt_tensor *tt_max_pool1d(tt_ctx *ctx, tt_tensor *x, const tt_pool_opts *opts) {
    return tt__max_pool(ctx, "max_pool1d", x, opts, 1);
}
TT__DEF tt_tensor *tt_avg_pool2d(tt_ctx *ctx, tt_tensor *x, const tt_pool_opts *opts) {
    return tt__avg_pool(ctx, "avg_pool2d", x, opts, 2);
}
TT__DEF tt_tensor *tt_avg_pool1d(tt_ctx *ctx, tt_tensor *x, const tt_pool_opts *opts) {
    return tt__avg_pool(ctx, "avg_pool1d", x, opts, 1);
}

/* Adaptive average pooling: output row i averages input rows floor(i*H/oh) .. ceil((i+1)*H/oh)-1
   (windows may overlap when H is not a multiple of oh, or repeat rows when oh > H). */
static void tt__adaptive_window(const tt__conv_geom *g, int oy, int ox, int *y0, int *y1, int *x0, int *x1) {
    *y0 = (int)(((long long)oy * g->h) / g->oh);
    *y1 = (int)(((long long)(oy + 1) * g->h + g->oh - 1) / g->oh);
    *x0 = (int)(((long long)ox * g->w) / g->ow);
    *x1 = (int)(((long long)(ox + 1) * g->w + g->ow - 1) / g->ow);
}

static void tt__adaptive_avg_backward(tt_ctx *ctx, tt__node *nd) {
    tt_tensor *x = nd->in[0], *y = nd->out;
    const tt__conv_geom *g = (const tt__conv_geom *)nd->saved;
    size_t plane, planes = (size_t)g->n * g->c, op_n = (size_t)g->oh * g->ow, ip_n = (size_t)g->h * g->w;
    int oy, ox, iy, ix, y0, y1, x0, x1;
    (void)ctx;
    if (!x->grad) return;
    for (plane = 0; plane < planes; plane++)
        for (oy = 0; oy < g->oh; oy++)
            for (ox = 0; ox < g->ow; ox++) {
                float gv, *dx = x->grad + plane * ip_n;
                tt__adaptive_window(g, oy, ox, &y0, &y1, &x0, &x1);
                gv = y->grad[plane * op_n + (size_t)oy * g->ow + ox] / (float)((y1 - y0) * (x1 - x0));
                for (iy = y0; iy < y1; iy++)
                    for (ix = x0; ix < x1; ix++) dx[(size_t)iy * g->w + ix] += gv;
            }
}

TT__DEF tt_tensor *tt_adaptive_avg_pool2d(tt_ctx *ctx, tt_tensor *x, int out_h, int out_w) {
    const char *op = "adaptive_avg_pool2d";
    tt__conv_geom g;
    int shape[TT_MAX_DIMS], oy, ox, iy, ix, y0, y1, x0, x1;
    size_t plane, planes, op_n, ip_n;
    tt_tensor *y;
    if (!tt__in(ctx, op, x) || !tt__conv_input(ctx, op, x, 2, &g)) return NULL;
    if (out_h < 1 || out_w < 1) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: output size must be positive, got %dx%d (input %S)", op, out_h, out_w, x);
        return NULL;
    }
    if (g.h < 1 || g.w < 1) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: input %S has an empty spatial dimension", op, x);
        return NULL;
    }
    g.oh = out_h; g.ow = out_w;
    tt__conv_out_shape(x, 2, g.c, &g, shape);
    y = tt__out(ctx, op, x->ndim, shape, x, NULL, NULL);
    if (!y) return NULL;
    if (ctx->backend) return tt__conv_bk(ctx, op, y, TT_BOP_ADAPTIVE_AVG_POOL, x, NULL, NULL, &g, 0);
    if (!tt__conv_save(ctx, op, y, &g)) return NULL;
    planes = (size_t)g.n * g.c; op_n = (size_t)g.oh * g.ow; ip_n = (size_t)g.h * g.w;
    for (plane = 0; plane < planes; plane++) {
        const float *xp = x->data + plane * ip_n;
        for (oy = 0; oy < g.oh; oy++)
            for (ox = 0; ox < g.ow; ox++) {
                float s = 0.0f;
                tt__adaptive_window(&g, oy, ox, &y0, &y1, &x0, &x1);
                for (iy = y0; iy < y1; iy++)
                    for (ix = x0; ix < x1; ix++) s += xp[(size_t)iy * g.w + ix];
                y->data[plane * op_n + (size_t)oy * g.ow + ox] = s / (float)((y1 - y0) * (x1 - x0));
            }
    }
    if (y->node) y->node->backward = tt__adaptive_avg_backward;
    return tt__done(ctx, y);
}

/* Global average pooling: the mean of every (H, W) plane, accumulated in double. */
static void tt__global_avg_backward(tt_ctx *ctx, tt__node *nd) {
    tt_tensor *x = nd->in[0], *y = nd->out;
    size_t plane, i, ip_n = x->numel / (y->numel ? y->numel : 1);
    (void)ctx;
    if (!x->grad) return;
    for (plane = 0; plane < y->numel; plane++) {
        float gv = y->grad[plane] / (float)ip_n;
        for (i = 0; i < ip_n; i++) x->grad[plane * ip_n + i] += gv;
    }
}

TT__DEF tt_tensor *tt_global_avg_pool2d(tt_ctx *ctx, tt_tensor *x) {
    const char *op = "global_avg_pool2d";
    tt__conv_geom g;
    size_t plane, i, ip_n, m;
    tt_tensor *y;
    if (!tt__in(ctx, op, x) || !tt__conv_input(ctx, op, x, 2, &g)) return NULL;
    if (g.h < 1 || g.w < 1) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: input %S has an empty spatial dimension", op, x);
        return NULL;
    }
    y = tt__out(ctx, op, x->ndim - 2, x->shape, x, NULL, NULL); /* (N, C) or (C) */
    if (!y) return NULL;
    ip_n = (size_t)g.h * g.w;
    if (ctx->backend) { /* runs on the backend */
        tt_backend_call c;
        if (y->numel > 0x7fffffff || ip_n > 0x7fffffff) {
            tt__fail(ctx, TT_ERR_UNSUPPORTED, "%s: input %S too large for the %s backend", op, x, ctx->backend->name);
            return NULL;
        }
        memset(&c, 0, sizeof c);
        c.op = TT_BOP_GLOBAL_AVG_POOL;
        c.in[0] = x;
        c.i[0] = (int)y->numel; c.i[1] = (int)ip_n;
        return tt__bk_forward(ctx, y, &c);
    }
    for (plane = 0; plane < y->numel; plane += m) { /* 4 planes at once (tt__rows), each summed in order */
        double s[4] = {0, 0, 0, 0};
        m = y->numel - plane >= 4 ? 4 : 1;
        if (m == 4) tt__rows.sum4(x->data + plane * ip_n, ip_n, ip_n, s);
        else
            for (i = 0; i < ip_n; i++) s[0] += x->data[plane * ip_n + i];
        for (i = 0; i < m; i++) y->data[plane + i] = (float)(s[i] / (double)ip_n);
    }
    if (y->node) y->node->backward = tt__global_avg_backward;
    return tt__done(ctx, y);
}
#endif /* TT_NO_CONV */


/* ==================================================================================== >>ops_nn */

/* Normalisation, dropout, attention and recurrent cells. Every op here is fused: one forward that
   saves what it needs (per-row statistics, masks, probabilities, gate activations) and one
   closed-form backward. Statistics are accumulated in double. Private helpers: tt__nn_. */

/* eps is taken literally: negative or non-finite is an error. Returns 0 on error. */
static int tt__nn_eps(tt_ctx *ctx, const char *op, float eps) {
    if (!(eps >= 0.0f) || eps > FLT_MAX) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: eps must be >= 0 and finite, got %g", op, (double)eps);
        return 0;
    }
    return 1;
}

TT__DEF tt_batchnorm_opts tt_batchnorm_opts_init(void) {
    tt_batchnorm_opts o;
    o.eps = 1e-5f;
    o.momentum = 0.1f;
    o.affine = 1;
    o.track_running_stats = 1;
    return o;
}

/* ------------------------------------------------------------------------------ batchnorm */

/* Saved by batchnorm: per-channel mean and 1/sqrt(var + eps) (batch or running statistics). */
typedef struct tt__nn_bn_saved {
    size_t n, c, l; /* x viewed as (n, c, l) */
    int training;   /* statistics came from the batch (they depend on x) */
    float *mean, *invstd;
} tt__nn_bn_saved;

/* Channels c .. c+k-1 (k = 4 when that many are left before cend, else 1) of x viewed as (n, c, l): the sum of
   each channel's values and the sum of their squared deviations from mean = sum / m, in double,
   element by element in (n, l) order; 4 channels run as independent lanes (tt__rows). */
static size_t tt__nn_bn_stats(const float *x, const tt__nn_bn_saved *st, size_t c, size_t cend, double *sum, double *sq) {
    size_t n, l, j, k = cend - c >= 4 ? 4 : 1, m = st->n * st->l;
    double mean[4];
    for (j = 0; j < 4; j++) sum[j] = sq[j] = 0;
    for (n = 0; n < st->n; n++) {
        const float *xp = x + (n * st->c + c) * st->l;
        if (k == 4) tt__rows.sum4(xp, st->l, st->l, sum);
        else
            for (l = 0; l < st->l; l++) sum[0] += xp[l];
    }
    for (j = 0; j < k; j++) mean[j] = sum[j] / (double)m;
    for (n = 0; n < st->n; n++) {
        const float *xp = x + (n * st->c + c) * st->l;
        if (k == 4) tt__rows.sqdev4(xp, st->l, st->l, mean, sq);
        else
            for (l = 0; l < st->l; l++) {
                double d = xp[l] - mean[0];
                sq[0] += d * d;
            }
    }
    return k;
}

/* The backward's sums for channels c .. c+k-1 (as tt__nn_bn_stats): sum of dy and of dy * xhat. */
static size_t tt__nn_bn_grad_sums(const float *x, const float *gy, const tt__nn_bn_saved *st, size_t c, size_t cend,
                                  double *sum_dy, double *sum_dy_xhat) {
    size_t n, l, j, k = cend - c >= 4 ? 4 : 1;
    for (j = 0; j < 4; j++) sum_dy[j] = sum_dy_xhat[j] = 0;
    for (n = 0; n < st->n; n++) {
        const float *xp = x + (n * st->c + c) * st->l, *gp = gy + (n * st->c + c) * st->l;
        if (k == 4) tt__rows.dot4(gp, xp, st->l, st->l, st->mean + c, st->invstd + c, sum_dy, sum_dy_xhat);
        else
            for (l = 0; l < st->l; l++) {
                sum_dy[0] += gp[l];
                sum_dy_xhat[0] += (double)gp[l] * ((xp[l] - st->mean[c]) * st->invstd[c]);
            }
    }
    return k;
}

/* y[i] = (x[i] - mean) * invstd * w + b (SSE2: 4 at a time, same operations in the same order) */
static void tt__nn_bn_apply(float *y, const float *x, size_t n, float mean, float invstd, float w, float b) {
    size_t i = 0;
#ifdef TT__VEC_SSE
    __m128 mv = _mm_set1_ps(mean), iv = _mm_set1_ps(invstd), wv = _mm_set1_ps(w), bv = _mm_set1_ps(b);
    for (; i + 4 <= n; i += 4)
        _mm_storeu_ps(y + i, _mm_add_ps(_mm_mul_ps(_mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(x + i), mv), iv), wv), bv));
#endif
    for (; i < n; i++) y[i] = (x[i] - mean) * invstd * w + b;
}

/* dx[i] += w * invstd * (dy[i] - mdy - xhat * mdyx), xhat = (x[i] - mean) * invstd (SSE2 as above) */
static void tt__nn_bn_dx(float *dx, const float *x, const float *dy, size_t n, float mean, float invstd, float w,
                         float mdy, float mdyx) {
    size_t i = 0;
#ifdef TT__VEC_SSE
    __m128 mv = _mm_set1_ps(mean), iv = _mm_set1_ps(invstd), wi = _mm_set1_ps(w * invstd);
    __m128 dv = _mm_set1_ps(mdy), xv = _mm_set1_ps(mdyx);
    for (; i + 4 <= n; i += 4) {
        __m128 xhat = _mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(x + i), mv), iv);
        __m128 t = _mm_sub_ps(_mm_sub_ps(_mm_loadu_ps(dy + i), dv), _mm_mul_ps(xhat, xv));
        _mm_storeu_ps(dx + i, _mm_add_ps(_mm_loadu_ps(dx + i), _mm_mul_ps(wi, t)));
    }
#endif
    for (; i < n; i++) {
        float xhat = (x[i] - mean) * invstd;
        dx[i] += w * invstd * (dy[i] - mdy - xhat * mdyx);
    }
}

/* Batchnorm forward and backward work channel by channel: every channel's statistics, outputs
   and gradients are computed from that channel alone in a fixed order, so channels run in
   parallel pieces on the context's pool (above TT__PAR_MIN_COSTLY elements in all) with results
   bit-identical for every thread count. */
typedef struct tt__nn_node_io {
    tt_tensor *x, *w, *b, *y; /* input, weight and bias (or NULL), output */
} tt__nn_node_io;
typedef struct tt__bn_par {
    const tt__nn_node_io *io;
    tt__nn_bn_saved *s;
    tt_tensor *rmean, *rvar;
    float momentum, eps;
    int update;
} tt__bn_par;

static void tt__bn_backward_piece(void *arg, size_t c0, size_t c1) {
    const tt__bn_par *p = (const tt__bn_par *)arg;
    tt_tensor *x = p->io->x, *w = p->io->w, *b = p->io->b, *y = p->io->y;
    const tt__nn_bn_saved *s = p->s;
    size_t n, c, l, m = s->n * s->l, g0 = 0, g1 = c0; /* channels g0 .. g1-1 have their sums */
    double sums_dy[4], sums_dy_xhat[4];
    for (c = c0; c < c1; c++) {
        double sum_dy, sum_dy_xhat;
        float mean = s->mean[c], invstd = s->invstd[c], wc = w ? w->data[c] : 1.0f;
        if (c >= g1) g1 = (g0 = c) + tt__nn_bn_grad_sums(x->data, y->grad, s, c, c1, sums_dy, sums_dy_xhat);
        sum_dy = sums_dy[c - g0];
        sum_dy_xhat = sums_dy_xhat[c - g0];
        if (w && w->grad) w->grad[c] += (float)sum_dy_xhat;
        if (b && b->grad) b->grad[c] += (float)sum_dy;
        if (!x->grad) continue;
        for (n = 0; n < s->n; n++) {
            const float *xp = x->data + (n * s->c + c) * s->l, *gp = y->grad + (n * s->c + c) * s->l;
            float *dxp = x->grad + (n * s->c + c) * s->l;
            if (s->training) {
                /* dx = w * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)) */
                float mdy = (float)(sum_dy / (double)m), mdyx = (float)(sum_dy_xhat / (double)m);
                tt__nn_bn_dx(dxp, xp, gp, s->l, mean, invstd, wc, mdy, mdyx);
            } else {
                /* running statistics are constants: the op is affine in x */
                for (l = 0; l < s->l; l++) dxp[l] += wc * invstd * gp[l];
            }
        }
    }
}

static void tt__nn_batchnorm_backward(tt_ctx *ctx, tt__node *nd) {
    tt__nn_node_io io;
    tt__bn_par p;
    tt__nn_bn_saved *s = (tt__nn_bn_saved *)nd->saved;
    io.x = nd->in[0]; io.w = nd->in[1]; io.b = nd->in[2]; io.y = nd->out;
    memset(&p, 0, sizeof p);
    p.io = &io; p.s = s;
    tt__parallel_range(ctx, s->c, TT__PAR_MIN_COSTLY / (s->n * s->l > 0 ? s->n * s->l : 1) + 1, 1, tt__bn_backward_piece, &p);
}

static void tt__bn_forward_piece(void *arg, size_t c0, size_t c1) {
    const tt__bn_par *p = (const tt__bn_par *)arg;
    tt_tensor *x = p->io->x, *weight = p->io->w, *bias = p->io->b, *y = p->io->y;
    tt_tensor *running_mean = p->rmean, *running_var = p->rvar;
    const tt__nn_bn_saved st = *p->s;
    tt__nn_bn_saved *sv = p->s;
    float momentum = p->momentum, eps = p->eps;
    int training = st.training, update = p->update;
    size_t n, c, m = st.n * st.l, g0 = 0, g1 = c0; /* channels g0 .. g1-1 have their statistics in sums, sqs */
    double sums[4], sqs[4];
    for (c = c0; c < c1; c++) {
        float mean, invstd, wc = weight ? weight->data[c] : 1.0f, bc = bias ? bias->data[c] : 0.0f;
        if (training) {
            double sq, dm, var;
            if (c >= g1) g1 = (g0 = c) + tt__nn_bn_stats(x->data, &st, c, c1, sums, sqs);
            dm = sums[c - g0] / (double)m;
            sq = sqs[c - g0];
            var = sq / (double)m; /* biased: used for normalising */
            mean = (float)dm;
            invstd = (float)(1.0 / sqrt(var + (double)eps));
            if (update) {
                /* torch: running = (1 - momentum) * running + momentum * stat, unbiased variance */
                running_mean->data[c] = (1.0f - momentum) * running_mean->data[c] + momentum * mean;
                running_var->data[c] = (1.0f - momentum) * running_var->data[c] + momentum * (float)(sq / (double)(m - 1));
            }
        } else {
            mean = running_mean->data[c];
            invstd = (float)(1.0 / sqrt((double)running_var->data[c] + (double)eps));
        }
        sv->mean[c] = mean;
        sv->invstd[c] = invstd;
        for (n = 0; n < st.n; n++)
            tt__nn_bn_apply(y->data + (n * st.c + c) * st.l, x->data + (n * st.c + c) * st.l, st.l, mean, invstd, wc, bc);
    }
}

TT__DEF tt_tensor *tt_batchnorm(tt_ctx *ctx, tt_tensor *x, tt_tensor *weight, tt_tensor *bias,
                                tt_tensor *running_mean, tt_tensor *running_var, const tt_batchnorm_opts *opts) {
    const char *op = "batchnorm";
    tt__nn_bn_saved st, *sv;
    tt_tensor *y;
    size_t m;
    int training, update;
    tt_batchnorm_opts o = opts ? *opts : tt_batchnorm_opts_init();
    float momentum = o.momentum, eps = o.eps;
    if (!tt__in(ctx, op, x)) return NULL;
    if (!o.affine && (weight || bias)) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: affine 0 takes no weight or bias (set affine 1 to use them)", op);
        return NULL;
    }
    if (!o.track_running_stats && (running_mean || running_var)) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: track_running_stats 0 takes no running_mean / running_var", op);
        return NULL;
    }
    if (o.track_running_stats && !ctx->training && !running_mean) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: eval mode with track_running_stats needs running_mean and running_var "
                 "(input %S)", op, x);
        return NULL;
    }
    if (x->ndim < 2) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: input %S needs at least 2 dims (N, C, ...)", op, x);
        return NULL;
    }
    if (!tt__vec_ok(ctx, op, "weight", weight, x, x->shape[1]) || !tt__vec_ok(ctx, op, "bias", bias, x, x->shape[1]))
        return NULL;
    if (!tt__in_opt(ctx, op, running_mean) || !tt__in_opt(ctx, op, running_var)) return NULL;
    if ((running_mean == NULL) != (running_var == NULL)) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: give both running_mean and running_var or neither", op);
        return NULL;
    }
    if (running_mean && (running_mean->numel != (size_t)x->shape[1] || running_var->numel != (size_t)x->shape[1])) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: running_mean %S and running_var %S need %d elements for input %S", op,
                 running_mean, running_var, x->shape[1], x);
        return NULL;
    }
    if (!(momentum >= 0.0f && momentum <= 1.0f)) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: momentum must lie in [0, 1], got %g", op, (double)momentum);
        return NULL;
    }
    if (!tt__nn_eps(ctx, op, eps)) return NULL;
    training = ctx->training || !o.track_running_stats; /* normalise with the batch statistics */
    update = ctx->training && running_mean != NULL;
    st.n = (size_t)x->shape[0];
    st.c = (size_t)x->shape[1];
    st.l = tt_shape_numel(x->ndim - 2, x->shape + 2);
    st.training = training;
    m = st.n * st.l;
    if (training && m <= 1) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: expected more than 1 value per channel when training, got input %S", op, x);
        return NULL;
    }
    y = tt__out(ctx, op, x->ndim, x->shape, x, weight, bias);
    if (!y) return NULL;
    if (ctx->backend) { /* runs on the backend: statistics (and the running update), then the normalisation */
        tt_backend_call c;
        float *blk;
        if (st.n * st.c * st.l > 0x7fffffff) {
            tt__fail(ctx, TT_ERR_UNSUPPORTED, "%s: input %S too large for the %s backend", op, x, ctx->backend->name);
            return NULL;
        }
        if (!(blk = tt__scratch_floats(ctx, op, 5 * st.c + 1))) return NULL;
        memset(&c, 0, sizeof c);
        c.op = TT_BOP_BN_STATS;
        c.in[0] = x; c.in[1] = running_mean; c.in[2] = running_var;
        c.i[0] = (int)st.n; c.i[1] = (int)st.c; c.i[2] = (int)st.l; c.i[3] = !training ? 2 : update ? 1 : 0;
        c.f[0] = eps; c.f[1] = momentum;
        c.p[0] = blk;
        if (ctx->backend->run(ctx, &c) != TT_OK) return NULL;
        c.op = TT_BOP_BATCHNORM;
        c.in[1] = weight; c.in[2] = bias;
        c.i[3] = training;
        return tt__bk_forward(ctx, y, &c);
    }
    sv = (tt__nn_bn_saved *)tt__scratch(ctx, op, sizeof *sv);
    st.mean = tt__scratch_floats(ctx, op, 2 * st.c + 1);
    if (!sv || !st.mean) return NULL;
    st.invstd = st.mean + st.c;
    *sv = st;
    {
        tt__nn_node_io io;
        tt__bn_par p;
        io.x = x; io.w = weight; io.b = bias; io.y = y;
        p.io = &io; p.s = sv; p.rmean = running_mean; p.rvar = running_var;
        p.momentum = momentum; p.eps = eps; p.update = update;
        tt__parallel_range(ctx, st.c, TT__PAR_MIN_COSTLY / (m ? m : 1) + 1, 1, tt__bn_forward_piece, &p);
    }
    if (y->node) {
        y->node->saved = sv;
        y->node->backward = tt__nn_batchnorm_backward;
    }
    return tt__done(ctx, y);
}

/* ------------------------------------------------------------------------------ layer / group norm
   Both normalise contiguous rows of m elements. The affine parameters of element j of row r are
   at index (r % groups) * per_group + j / wdiv:
     layernorm: groups 1, per_group 0, wdiv 1      (weight has the row's shape)
     groupnorm: groups G, per_group C/G, wdiv L   (one weight per channel, L values per channel) */

typedef struct tt__nn_rows_saved {
    size_t rows, m, groups, per_group, wdiv;
    float *mean, *invstd;
} tt__nn_rows_saved;

/* On the context's pool (rows x m above TT__PAR_MIN_COSTLY): the forward pass and the input
   gradient work row by row (each row from itself alone); the layernorm weight and bias
   gradients are sums over rows, computed in pieces of columns, each column summing its rows in
   row order as the serial loop does. So results are bit-identical for every thread count.
   Groupnorm's backward (weights shared inside a row) stays serial. */
typedef struct tt__rownorm_par {
    tt__nn_node_io io;
    const tt__nn_rows_saved *s;
    float eps;
} tt__rownorm_par;

/* layernorm with trained affine, rows [r0, r1): the input gradient */
static void tt__rownorm_bw_rows(void *arg, size_t r0, size_t r1) {
    const tt__rownorm_par *p = (const tt__rownorm_par *)arg;
    const tt__nn_rows_saved *s = p->s;
    tt_tensor *x = p->io.x, *w = p->io.w, *y = p->io.y;
    size_t r, j;
    for (r = r0; r < r1; r++) {
        const float *xp = x->data + r * s->m, *gp = y->grad + r * s->m, *wp = w->data;
        float mean = s->mean[r], invstd = s->invstd[r], mg, mgx;
        double sum_g = 0, sum_g_xhat = 0;
        float *dxp = x->grad + r * s->m;
        for (j = 0; j < s->m; j++) {
            float xhat = (xp[j] - mean) * invstd;
            float g = gp[j] * wp[j];
            sum_g += g;
            sum_g_xhat += (double)g * xhat;
        }
        mg = (float)(sum_g / (double)s->m);
        mgx = (float)(sum_g_xhat / (double)s->m);
        for (j = 0; j < s->m; j++) {
            float xhat = (xp[j] - mean) * invstd;
            dxp[j] += invstd * (gp[j] * wp[j] - mg - xhat * mgx);
        }
    }
}
/* layernorm with trained affine, columns [j0, j1): weight and bias gradients, rows in order */
static void tt__rownorm_bw_cols(void *arg, size_t j0, size_t j1) {
    const tt__rownorm_par *p = (const tt__rownorm_par *)arg;
    const tt__nn_rows_saved *s = p->s;
    tt_tensor *x = p->io.x, *w = p->io.w, *b = p->io.b, *y = p->io.y;
    float *gw = w->grad, *gb = b->grad;
    size_t r, j;
    for (r = 0; r < s->rows; r++) {
        const float *xp = x->data + r * s->m, *gp = y->grad + r * s->m;
        float mean = s->mean[r], invstd = s->invstd[r];
        for (j = j0; j < j1; j++) {
            float xhat = (xp[j] - mean) * invstd;
            gw[j] += gp[j] * xhat;
            gb[j] += gp[j];
        }
    }
}

static void tt__nn_rownorm_backward(tt_ctx *ctx, tt__node *nd) {
    tt_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2], *y = nd->out;
    const tt__nn_rows_saved *s = (const tt__nn_rows_saved *)nd->saved;
    size_t r, j;
    if (s->wdiv == 1 && s->groups == 1 && w && b && w->grad && b->grad && s->m > 0) {
        /* layernorm with trained affine (the transformer's case): rows, then columns, on the pool */
        tt__rownorm_par p;
        p.io.x = x; p.io.w = w; p.io.b = b; p.io.y = y; p.s = s; p.eps = 0;
        if (x->grad) tt__parallel_range(ctx, s->rows, TT__PAR_MIN_COSTLY / s->m + 1, 1, tt__rownorm_bw_rows, &p);
        tt__parallel_range(ctx, s->m, s->rows ? TT__PAR_MIN_COSTLY / s->rows + 1 : 1, 8, tt__rownorm_bw_cols, &p);
        return;
    }
    for (r = 0; r < s->rows; r++) {
        const float *xp = x->data + r * s->m, *gp = y->grad + r * s->m;
        size_t woff = (r % s->groups) * s->per_group;
        float mean = s->mean[r], invstd = s->invstd[r];
        double sum_g = 0, sum_g_xhat = 0; /* sums of dxhat = dy * w and of dxhat * xhat */
        if (s->wdiv == 1 && w && b && w->grad && b->grad) {
            /* layernorm with trained affine: the loops below without index division or tests */
            const float *wp = w->data + woff;
            float *gw = w->grad + woff, *gb = b->grad + woff;
            for (j = 0; j < s->m; j++) {
                float xhat = (xp[j] - mean) * invstd;
                float g = gp[j] * wp[j];
                sum_g += g;
                sum_g_xhat += (double)g * xhat;
                gw[j] += gp[j] * xhat;
                gb[j] += gp[j];
            }
            if (x->grad) {
                float mg = (float)(sum_g / (double)s->m), mgx = (float)(sum_g_xhat / (double)s->m);
                float *dxp = x->grad + r * s->m;
                for (j = 0; j < s->m; j++) {
                    float xhat = (xp[j] - mean) * invstd;
                    dxp[j] += invstd * (gp[j] * wp[j] - mg - xhat * mgx);
                }
            }
            continue;
        }
        for (j = 0; j < s->m; j++) {
            size_t wi = woff + j / s->wdiv;
            float xhat = (xp[j] - mean) * invstd;
            float g = gp[j] * (w ? w->data[wi] : 1.0f);
            sum_g += g;
            sum_g_xhat += (double)g * xhat;
            if (w && w->grad) w->grad[wi] += gp[j] * xhat;
            if (b && b->grad) b->grad[wi] += gp[j];
        }
        if (x->grad) {
            /* dx = invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) */
            float mg = (float)(sum_g / (double)s->m), mgx = (float)(sum_g_xhat / (double)s->m);
            float *dxp = x->grad + r * s->m;
            for (j = 0; j < s->m; j++) {
                float xhat = (xp[j] - mean) * invstd;
                float g = gp[j] * (w ? w->data[woff + j / s->wdiv] : 1.0f);
                dxp[j] += invstd * (g - mg - xhat * mgx);
            }
        }
    }
}

/* rows [r0, r1) of the forward pass */
static void tt__rownorm_fw_rows(void *arg, size_t r0, size_t r1) {
    const tt__rownorm_par *pp = (const tt__rownorm_par *)arg;
    const tt__nn_rows_saved *sv = pp->s;
    tt_tensor *x = pp->io.x, *w = pp->io.w, *b = pp->io.b, *y = pp->io.y;
    size_t m = sv->m, groups = sv->groups, per_group = sv->per_group, r, j;
    float eps = pp->eps;
    for (r = r0; r < r1; r++) {
        const float *xp = x->data + r * m;
        float *yp = y->data + r * m;
        size_t woff = (r % groups) * per_group;
        double sum = 0, sq = 0, dm;
        float mean, invstd;
        for (j = 0; j < m; j++) sum += xp[j];
        dm = sum / (double)m;
        for (j = 0; j < m; j++) sq += (xp[j] - dm) * (xp[j] - dm);
        mean = (float)dm;
        invstd = (float)(1.0 / sqrt(sq / (double)m + (double)eps)); /* biased variance */
        sv->mean[r] = mean;
        sv->invstd[r] = invstd;
        if (w && b && sv->wdiv == 1) { /* layernorm with affine: no index division (same values) */
            const float *wp = w->data + woff, *bp = b->data + woff;
            for (j = 0; j < m; j++) yp[j] = (xp[j] - mean) * invstd * wp[j] + bp[j];
            continue;
        }
        for (j = 0; j < m; j++) {
            size_t wi = woff + j / sv->wdiv;
            yp[j] = (xp[j] - mean) * invstd * (w ? w->data[wi] : 1.0f) + (b ? b->data[wi] : 0.0f);
        }
    }
}

/* Shared forward of layernorm and groupnorm (shapes already validated). */
static tt_tensor *tt__nn_rownorm(tt_ctx *ctx, const char *op, tt_tensor *x, tt_tensor *w, tt_tensor *b, float eps,
                                 size_t m, size_t groups, size_t per_group, size_t wdiv) {
    tt__nn_rows_saved *sv;
    tt_tensor *y;
    y = tt__out(ctx, op, x->ndim, x->shape, x, w, b);
    if (!y) return NULL;
    sv = (tt__nn_rows_saved *)tt__scratch(ctx, op, sizeof *sv);
    if (!sv) return NULL;
    sv->rows = m ? x->numel / m : 0;
    sv->m = m;
    sv->groups = groups;
    sv->per_group = per_group;
    sv->wdiv = wdiv ? wdiv : 1;
    sv->mean = tt__scratch_floats(ctx, op, 2 * sv->rows + 1);
    if (!sv->mean) return NULL;
    sv->invstd = sv->mean + sv->rows;
    {
        tt__rownorm_par p;
        p.io.x = x; p.io.w = w; p.io.b = b; p.io.y = y; p.s = sv; p.eps = eps;
        tt__parallel_range(ctx, sv->rows, m ? TT__PAR_MIN_COSTLY / m + 1 : 1, 1, tt__rownorm_fw_rows, &p);
    }
    if (y->node) {
        y->node->saved = sv;
        y->node->backward = tt__nn_rownorm_backward;
    }
    return tt__done(ctx, y);
}


TT__DEF tt_tensor *tt_layernorm(tt_ctx *ctx, tt_tensor *x, int norm_dims, tt_tensor *weight, tt_tensor *bias, float eps) {
    const char *op = "layernorm";
    int k, first;
    if (!tt__in(ctx, op, x)) return NULL;
    if (norm_dims < 1 || norm_dims > x->ndim) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: norm_dims %d outside 1..%d for input %S", op, norm_dims, x->ndim, x);
        return NULL;
    }
    first = x->ndim - norm_dims;
    for (k = 0; k < 2; k++) {
        const tt_tensor *t = k ? bias : weight;
        int ok = 1, i;
        if (!t) continue;
        if (!tt__in(ctx, op, t)) return NULL;
        if (t->ndim != norm_dims) ok = 0;
        for (i = 0; ok && i < norm_dims; i++) ok = t->shape[i] == x->shape[first + i];
        if (!ok) {
            tt__fail(ctx, TT_ERR_SHAPE, "%s: %s %S must have the last %d dims of input %S", op, k ? "bias" : "weight", t,
                     norm_dims, x);
            return NULL;
        }
    }
    if (!tt__nn_eps(ctx, op, eps)) return NULL;
    if (ctx->backend) { /* runs on the backend */
        tt_backend_call c;
        size_t m = tt_shape_numel(norm_dims, x->shape + first), rows = m ? x->numel / m : 0;
        tt_tensor *y = tt__out(ctx, op, x->ndim, x->shape, x, weight, bias);
        float *st = y ? tt__scratch_floats(ctx, op, 2 * rows + 1) : NULL;
        if (!st) return NULL;
        memset(&c, 0, sizeof c);
        c.op = TT_BOP_LAYERNORM;
        c.in[0] = x; c.in[1] = weight; c.in[2] = bias;
        c.i[0] = (int)rows; c.i[1] = (int)m;
        c.f[0] = eps;
        c.p[0] = st;
        return tt__bk_forward(ctx, y, &c);
    }
    return tt__nn_rownorm(ctx, op, x, weight, bias, eps, tt_shape_numel(norm_dims, x->shape + first), 1, 0, 1);
}

TT__DEF tt_tensor *tt_groupnorm(tt_ctx *ctx, tt_tensor *x, int groups, tt_tensor *weight, tt_tensor *bias, float eps) {
    const char *op = "groupnorm";
    size_t l, cpg;
    if (!tt__in(ctx, op, x)) return NULL;
    if (x->ndim < 2) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: input %S needs at least 2 dims (N, C, ...)", op, x);
        return NULL;
    }
    if (groups < 1 || x->shape[1] % groups != 0) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: %d channels of input %S are not divisible into %d groups", op, x->shape[1],
                 x, groups);
        return NULL;
    }
    if (!tt__vec_ok(ctx, op, "weight", weight, x, x->shape[1]) || !tt__vec_ok(ctx, op, "bias", bias, x, x->shape[1]))
        return NULL;
    if (!tt__nn_eps(ctx, op, eps)) return NULL;
    l = tt_shape_numel(x->ndim - 2, x->shape + 2);
    cpg = (size_t)(x->shape[1] / groups);
    return tt__nn_rownorm(ctx, op, x, weight, bias, eps, cpg * l, (size_t)groups, cpg, l);
}

/* ------------------------------------------------------------------------------ rmsnorm */

typedef struct tt__nn_rms_saved {
    size_t rows, m;
    float *rstd; /* 1 / sqrt(mean(x^2) + eps) per row */
} tt__nn_rms_saved;

static void tt__nn_rmsnorm_backward(tt_ctx *ctx, tt__node *nd) {
    tt_tensor *x = nd->in[0], *w = nd->in[1], *y = nd->out;
    const tt__nn_rms_saved *s = (const tt__nn_rms_saved *)nd->saved;
    size_t r, j;
    (void)ctx;
    for (r = 0; r < s->rows; r++) {
        const float *xp = x->data + r * s->m, *gp = y->grad + r * s->m;
        float rs = s->rstd[r];
        double dot = 0; /* sum of g * x with g = dy * w */
        for (j = 0; j < s->m; j++) {
            dot += (double)gp[j] * (w ? w->data[j] : 1.0f) * xp[j];
            if (w && w->grad) w->grad[j] += gp[j] * xp[j] * rs;
        }
        if (x->grad) {
            /* dx = rs * g - x * rs^3 * sum(g * x) / m */
            float k = (float)(dot / (double)s->m) * rs * rs * rs;
            float *dxp = x->grad + r * s->m;
            for (j = 0; j < s->m; j++) dxp[j] += rs * gp[j] * (w ? w->data[j] : 1.0f) - xp[j] * k;
        }
    }
}

TT__DEF tt_tensor *tt_rmsnorm(tt_ctx *ctx, tt_tensor *x, tt_tensor *weight, float eps) {
    const char *op = "rmsnorm";
    tt__nn_rms_saved *sv;
    tt_tensor *y;
    size_t r, j;
    if (!tt__in(ctx, op, x)) return NULL;
    if (x->ndim < 1) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: input %S needs at least 1 dim", op, x);
        return NULL;
    }
    if (!tt__vec_ok(ctx, op, "weight", weight, x, x->shape[x->ndim - 1])) return NULL;
    if (!tt__nn_eps(ctx, op, eps)) return NULL;
    y = tt__out(ctx, op, x->ndim, x->shape, x, weight, NULL);
    if (!y) return NULL;
    sv = (tt__nn_rms_saved *)tt__scratch(ctx, op, sizeof *sv);
    if (!sv) return NULL;
    sv->m = (size_t)x->shape[x->ndim - 1];
    sv->rows = sv->m ? x->numel / sv->m : 0;
    sv->rstd = tt__scratch_floats(ctx, op, sv->rows + 1);
    if (!sv->rstd) return NULL;
    if (ctx->backend) { /* runs on the backend */
        tt_backend_call c;
        memset(&c, 0, sizeof c);
        c.op = TT_BOP_RMSNORM;
        c.in[0] = x; c.in[1] = weight;
        c.i[0] = (int)sv->rows; c.i[1] = (int)sv->m;
        c.f[0] = eps;
        c.p[0] = sv->rstd;
        return tt__bk_forward(ctx, y, &c);
    }
    for (r = 0; r < sv->rows; r++) {
        const float *xp = x->data + r * sv->m;
        float *yp = y->data + r * sv->m;
        double sq = 0;
        float rs;
        for (j = 0; j < sv->m; j++) sq += (double)xp[j] * xp[j];
        rs = (float)(1.0 / sqrt(sq / (double)sv->m + (double)eps));
        sv->rstd[r] = rs;
        for (j = 0; j < sv->m; j++) yp[j] = xp[j] * rs * (weight ? weight->data[j] : 1.0f);
    }
    if (y->node) {
        y->node->saved = sv;
        y->node->backward = tt__nn_rmsnorm_backward;
    }
    return tt__done(ctx, y);
}

/* ------------------------------------------------------------------------------ dropout */

static void tt__nn_dropout_backward(tt_ctx *ctx, tt__node *nd) {
    tt_tensor *x = nd->in[0], *y = nd->out;
    const float *mask = (const float *)nd->saved; /* 0 or 1/(1-p) per element */
    size_t i;
    (void)ctx;
    if (!x->grad) return;
    for (i = 0; i < x->numel; i++) x->grad[i] += y->grad[i] * mask[i];
}

TT__DEF tt_tensor *tt_dropout(tt_ctx *ctx, tt_tensor *x, float p) {
    const char *op = "dropout";
    tt_tensor *y;
    float *mask, scale;
    size_t i;
    if (!tt__in(ctx, op, x)) return NULL;
    if (!(p >= 0.0f && p <= 1.0f)) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: p must lie in [0, 1], got %g", op, (double)p);
        return NULL;
    }
    if (!ctx->training || p == 0.0f) return x; /* identity, as torch (returns the input itself) */
    y = tt__out(ctx, op, x->ndim, x->shape, x, NULL, NULL);
    if (!y) return NULL;
    if (ctx->backend) { /* runs on the backend: a Philox mask from a key drawn here (see tinytrain_cuda.cu) */
        tt_backend_call c;
        uint32_t key_lo = tt_rng_u32(&ctx->rng), key_hi = tt_rng_u32(&ctx->rng); /* in this order */
        memset(&c, 0, sizeof c);
        c.op = TT_BOP_DROPOUT;
        c.in[0] = x;
        c.i[0] = (int)key_lo; c.i[1] = (int)key_hi;
        c.f[0] = p; c.f[1] = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
        return tt__bk_forward(ctx, y, &c);
    }
    mask = tt__scratch_floats(ctx, op, x->numel + 1);
    if (!mask) return NULL;
    scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f; /* p == 1: everything dropped */
    for (i = 0; i < x->numel; i++) {
        /* keep with probability 1 - p (uniform in [0, 1) is >= p) */
        mask[i] = tt_rng_uniform(&ctx->rng) >= p ? scale : 0.0f;
        y->data[i] = x->data[i] * mask[i];
    }
    if (y->node) {
        y->node->saved = mask;
        y->node->backward = tt__nn_dropout_backward;
    }
    return tt__done(ctx, y);
}

/* ------------------------------------------------------------------------------ attention
   Per (batch, head): S = scale * Q K^T (T x S), P = softmax(S) row-wise (masked entries get
   probability 0), O = P V. Backward: dP = dO V^T, dV = P^T dO,
   dS = P * (dP - rowsum(dP * P)), dQ = scale * dS K, dK = scale * dS^T Q. */

typedef struct tt__nn_attn_saved {
    size_t bh;                 /* batch * heads */
    int t, s, d, dv, causal;
    float scale;
    float *p;                  /* (bh, t, s) probabilities */
} tt__nn_attn_saved;

static void tt__nn_attention_backward(tt_ctx *ctx, tt__node *nd) {
    tt_tensor *q = nd->in[0], *k = nd->in[1], *v = nd->in[2], *y = nd->out;
    const tt__nn_attn_saved *a = (const tt__nn_attn_saved *)nd->saved;
    size_t ts = (size_t)a->t * a->s, h;
    int i, d1 = TT__MAX(a->d, 1), dv1 = TT__MAX(a->dv, 1), s1 = TT__MAX(a->s, 1);
    float *dp;
    if (ts == 0) return;
    dp = tt__scratch_floats(ctx, "attention backward", ts);
    if (!dp) return;
    for (h = 0; h < a->bh; h++) {
        const float *p = a->p + h * ts, *go = y->grad + h * (size_t)a->t * a->dv;
        const float *qh = q->data + h * (size_t)a->t * a->d, *kh = k->data + h * (size_t)a->s * a->d;
        const float *vh = v->data + h * (size_t)a->s * a->dv;
        if (v->grad) tt_ctx_sgemm(ctx, 1, 0, a->s, a->dv, a->t, 1.0f, p, s1, go, dv1, 1.0f, v->grad + h * (size_t)a->s * a->dv, dv1);
        if (!q->grad && !k->grad) continue;
        tt_ctx_sgemm(ctx, 0, 1, a->t, a->s, a->dv, 1.0f, go, dv1, vh, dv1, 0.0f, dp, s1);
        for (i = 0; i < a->t; i++) {
            float *dr = dp + (size_t)i * a->s; /* dp becomes dS */
            tt__softmax_row_backward(p + (size_t)i * a->s, dr, dr, (size_t)a->s, 1, 0, 0);
        }
        if (q->grad) tt_ctx_sgemm(ctx, 0, 0, a->t, a->d, a->s, a->scale, dp, s1, kh, d1, 1.0f, q->grad + h * (size_t)a->t * a->d, d1);
        if (k->grad) tt_ctx_sgemm(ctx, 1, 0, a->s, a->d, a->t, a->scale, dp, s1, qh, d1, 1.0f, k->grad + h * (size_t)a->s * a->d, d1);
    }
}

TT__DEF tt_tensor *tt_attention(tt_ctx *ctx, tt_tensor *q, tt_tensor *k, tt_tensor *v, int causal) {
    if (!tt__in(ctx, "attention", q)) return NULL;
    if (q->ndim < 1 || q->shape[q->ndim - 1] == 0) {
        tt__fail(ctx, TT_ERR_SHAPE, "attention: head dim of q %S is 0: give a scale (tt_attention_ex)", q);
        return NULL;
    }
    return tt_attention_ex(ctx, q, k, v, causal, (float)(1.0 / sqrt((double)q->shape[q->ndim - 1])));
}

TT__DEF tt_tensor *tt_attention_ex(tt_ctx *ctx, tt_tensor *q, tt_tensor *k, tt_tensor *v, int causal, float scale) {
    const char *op = "attention";
    tt__nn_attn_saved *a;
    tt_tensor *y;
    int shape[TT_MAX_DIMS], nd, i, j, ok;
    size_t h, ts;
    if (!tt__in(ctx, op, q) || !tt__in(ctx, op, k) || !tt__in(ctx, op, v)) return NULL;
    nd = q->ndim;
    ok = nd >= 2 && k->ndim == nd && v->ndim == nd;
    for (i = 0; ok && i < nd - 2; i++) ok = k->shape[i] == q->shape[i] && v->shape[i] == q->shape[i];
    if (ok) ok = k->shape[nd - 1] == q->shape[nd - 1] && v->shape[nd - 2] == k->shape[nd - 2];
    if (!ok) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: q %S, k %S, v %S do not fit (need (..., T, D), (..., S, D), (..., S, Dv))", op, q, k, v);
        return NULL;
    }
    if (k->shape[nd - 2] == 0 && q->shape[nd - 2] > 0) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: no keys (k %S) for %d queries", op, k, q->shape[nd - 2]);
        return NULL;
    }
    if (!tt__finite(scale)) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: scale must be finite, got %g", op, (double)scale);
        return NULL;
    }
    for (i = 0; i < nd - 1; i++) shape[i] = q->shape[i];
    shape[nd - 1] = v->shape[nd - 1];
    y = tt__out(ctx, op, nd, shape, q, k, v);
    if (!y) return NULL;
    a = (tt__nn_attn_saved *)tt__scratch(ctx, op, sizeof *a);
    if (!a) return NULL;
    a->bh = tt_shape_numel(nd - 2, q->shape);
    a->t = q->shape[nd - 2];
    a->s = k->shape[nd - 2];
    a->d = q->shape[nd - 1];
    a->dv = v->shape[nd - 1];
    a->causal = causal != 0;
    a->scale = scale;
    ts = (size_t)a->t * a->s;
    a->p = tt__scratch_floats(ctx, op, a->bh * ts + (ctx->backend ? ts : 0) + 1);
    if (!a->p) return NULL;
    if (ctx->backend) { /* runs on the backend; the extra t*s floats are its backward's dP */
        tt_backend_call c;
        memset(&c, 0, sizeof c);
        c.op = TT_BOP_ATTENTION;
        c.in[0] = q; c.in[1] = k; c.in[2] = v;
        c.i[0] = a->t; c.i[1] = a->s; c.i[2] = a->d; c.i[3] = a->dv;
        c.f[0] = scale; c.f[1] = (float)a->causal;
        c.p[0] = a->p;
        return tt__bk_forward(ctx, y, &c);
    }
    for (h = 0; h < a->bh; h++) {
        float *p = a->p + h * ts;
        int d1 = TT__MAX(a->d, 1), dv1 = TT__MAX(a->dv, 1), s1 = TT__MAX(a->s, 1);
        if (tt_ctx_sgemm(ctx, 0, 1, a->t, a->s, a->d, scale, q->data + h * (size_t)a->t * a->d, d1,
                         k->data + h * (size_t)a->s * a->d, d1, 0.0f, p, s1) != TT_OK)
            return NULL;
        for (i = 0; i < a->t; i++) {
            float *pr = p + (size_t)i * a->s;
            int allowed = a->causal ? TT__MIN(i + 1, a->s) : a->s; /* keys 0..allowed-1 */
            tt__softmax_row_v(ctx, pr, pr, (size_t)allowed, 1, 0);
            for (j = allowed; j < a->s; j++) pr[j] = 0.0f;
        }
        if (tt_ctx_sgemm(ctx, 0, 0, a->t, a->dv, a->s, 1.0f, p, s1, v->data + h * (size_t)a->s * a->dv, dv1, 0.0f,
                         y->data + h * (size_t)a->t * a->dv, dv1) != TT_OK)
            return NULL;
    }
    if (y->node) {
        y->node->saved = a;
        y->node->backward = tt__nn_attention_backward;
    }
    return tt__done(ctx, y);
}

#ifndef TT_NO_RNN /* to the end of the section (see FEATURE CUTS) */
/* ------------------------------------------------------------------------------ recurrent cells
   Gate pre-activations: gi = x W_ih^T + b_ih and gh = h W_hh^T + b_hh, each (B, G). */

/* Checks x (B, I), h (B, H), w_ih (G, I), w_hh (G, H), biases (G) with G = gates * H. */
static int tt__nn_cell_check(tt_ctx *ctx, const char *op, int gates, tt_tensor *x, tt_tensor *h, tt_tensor *w_ih,
                             tt_tensor *w_hh, tt_tensor *b_ih, tt_tensor *b_hh) {
    int hs, g;
    if (!tt__in(ctx, op, x) || !tt__in(ctx, op, h) || !tt__in(ctx, op, w_ih) || !tt__in(ctx, op, w_hh)) return 0;
    if (x->ndim != 2 || h->ndim != 2 || h->shape[0] != x->shape[0]) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: x %S and h %S must be (B, I) and (B, H)", op, x, h);
        return 0;
    }
    hs = h->shape[1];
    g = gates * hs;
    if (w_ih->ndim != 2 || w_ih->shape[0] != g || w_ih->shape[1] != x->shape[1] || w_hh->ndim != 2 ||
        w_hh->shape[0] != g || w_hh->shape[1] != hs) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: w_ih %S and w_hh %S must be [%d,%d] and [%d,%d] for x %S, h %S", op, w_ih, w_hh,
                 g, x->shape[1], g, hs, x, h);
        return 0;
    }
    return tt__vec_ok(ctx, op, "b_ih", b_ih, x, g) && tt__vec_ok(ctx, op, "b_hh", b_hh, x, g);
}

/* LSTM, step 1: activated gates (B, 4H) = [sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)]. Its six
   inputs x, h, w_ih, w_hh, b_ih, b_hh are in node->ins (more than TT__MAX_IN). */
static void tt__nn_lstm_gates_backward(tt_ctx *ctx, tt__node *nd) {
    tt_tensor *x = nd->ins[0], *h = nd->ins[1], *w_ih = nd->ins[2], *w_hh = nd->ins[3];
    tt_tensor *b_ih = nd->ins[4], *b_hh = nd->ins[5], *y = nd->out;
    size_t bs = (size_t)y->shape[0], hs = (size_t)y->shape[1] / 4, r, j;
    float *dpre = tt__scratch_floats(ctx, "lstm_cell backward", y->numel + 1);
    if (!dpre) return;
    for (r = 0; r < bs; r++)
        for (j = 0; j < 4 * hs; j++) {
            size_t e = r * 4 * hs + j;
            float a = y->data[e];
            /* gate g (third block) is tanh, the others sigmoid */
            dpre[e] = y->grad[e] * (j / hs == 2 ? 1.0f - a * a : a * (1.0f - a));
        }
    tt__affine_bwd(ctx, dpre, x->shape[0], x, w_ih, b_ih);
    tt__affine_bwd(ctx, dpre, h->shape[0], h, w_hh, b_hh);
}

/* LSTM, step 2: c' = f * c + i * g. Inputs gates, c. */
static void tt__nn_lstm_c_backward(tt_ctx *ctx, tt__node *nd) {
    tt_tensor *gt = nd->in[0], *c = nd->in[1], *y = nd->out;
    size_t bs = (size_t)y->shape[0], hs = (size_t)y->shape[1], r, j;
    (void)ctx;
    for (r = 0; r < bs; r++)
        for (j = 0; j < hs; j++) {
            const float *g = gt->data + r * 4 * hs;
            float dy = y->grad[r * hs + j];
            if (gt->grad) {
                float *dg = gt->grad + r * 4 * hs;
                dg[j] += dy * g[2 * hs + j];              /* d/d i = g */
                dg[hs + j] += dy * c->data[r * hs + j];   /* d/d f = c */
                dg[2 * hs + j] += dy * g[j];              /* d/d g = i */
            }
            if (c->grad) c->grad[r * hs + j] += dy * g[hs + j];
        }
}

/* LSTM, step 3: h' = o * tanh(c'). Inputs gates, c'. */
static void tt__nn_lstm_h_backward(tt_ctx *ctx, tt__node *nd) {
    tt_tensor *gt = nd->in[0], *c = nd->in[1], *y = nd->out;
    size_t bs = (size_t)y->shape[0], hs = (size_t)y->shape[1], r, j;
    (void)ctx;
    for (r = 0; r < bs; r++)
        for (j = 0; j < hs; j++) {
            float t = tanhf(c->data[r * hs + j]), o = gt->data[r * 4 * hs + 3 * hs + j], dy = y->grad[r * hs + j];
            if (gt->grad) gt->grad[r * 4 * hs + 3 * hs + j] += dy * t;
            if (c->grad) c->grad[r * hs + j] += dy * o * (1.0f - t * t);
        }
}

TT__DEF tt_result tt_lstm_cell(tt_ctx *ctx, tt_tensor *x, tt_tensor *h, tt_tensor *c, const tt_rnn_cell_weights *w,
                               tt_tensor **h_out, tt_tensor **c_out) {
    const char *op = "lstm_cell";
    tt_tensor *in[6], *gates, *cn, *hn, *w_ih, *w_hh, *b_ih, *b_hh;
    int gshape[2];
    size_t bs, hs, r, j;
    float *tmp;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (h_out) *h_out = NULL;
    if (c_out) *c_out = NULL;
    if (!h_out || !c_out) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: h_out and c_out must not be NULL", op);
    if (!w) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: weights are NULL", op);
    w_ih = w->w_ih; w_hh = w->w_hh; b_ih = w->b_ih; b_hh = w->b_hh;
    if (!tt__nn_cell_check(ctx, op, 4, x, h, w_ih, w_hh, b_ih, b_hh) || !tt__in(ctx, op, c))
        return ctx->err != TT_OK ? ctx->err : TT_ERR_INVALID_ARGS;
    if (!tt_same_shape(c, h))
        return tt__fail(ctx, TT_ERR_SHAPE, "%s: c %S must have the shape of h %S", op, c, h);
    bs = (size_t)h->shape[0];
    hs = (size_t)h->shape[1];
    gshape[0] = h->shape[0];
    gshape[1] = 4 * h->shape[1];
    in[0] = x; in[1] = h; in[2] = w_ih; in[3] = w_hh; in[4] = b_ih; in[5] = b_hh;
    gates = tt__out_n(ctx, op, 2, gshape, 6, in);
    tmp = gates ? tt__scratch_floats(ctx, op, gates->numel + 1) : NULL;
    if (!tmp) return ctx->err;
    if (tt__affine_fwd(ctx, gates->data, x->data, x->shape[0], w_ih, b_ih) != TT_OK ||
        tt__affine_fwd(ctx, tmp, h->data, h->shape[0], w_hh, b_hh) != TT_OK)
        return ctx->err;
    for (r = 0; r < bs; r++)
        for (j = 0; j < 4 * hs; j++) {
            size_t e = r * 4 * hs + j;
            float s = gates->data[e] + tmp[e];
            gates->data[e] = j / hs == 2 ? tanhf(s) : tt__sigmoid(s);
        }
    if (gates->node) gates->node->backward = tt__nn_lstm_gates_backward;
    if (!tt__done(ctx, gates)) return ctx->err;

    cn = tt__out(ctx, "lstm_cell (c)", 2, h->shape, gates, c, NULL);
    if (!cn) return ctx->err;
    for (r = 0; r < bs; r++)
        for (j = 0; j < hs; j++) {
            const float *g = gates->data + r * 4 * hs;
            cn->data[r * hs + j] = g[hs + j] * c->data[r * hs + j] + g[j] * g[2 * hs + j];
        }
    if (cn->node) cn->node->backward = tt__nn_lstm_c_backward;
    if (!tt__done(ctx, cn)) return ctx->err;

    hn = tt__out(ctx, "lstm_cell (h)", 2, h->shape, gates, cn, NULL);
    if (!hn) return ctx->err;
    for (r = 0; r < bs; r++)
        for (j = 0; j < hs; j++) hn->data[r * hs + j] = gates->data[r * 4 * hs + 3 * hs + j] * tanhf(cn->data[r * hs + j]);
    if (hn->node) hn->node->backward = tt__nn_lstm_h_backward;
    if (!tt__done(ctx, hn)) return ctx->err;
    *h_out = hn;
    *c_out = cn;
    return TT_OK;
}

/* GRU: saved r, z, n and hn = W_hn h + b_hn, each (B, H); inputs as the LSTM gates node (ins). */
static void tt__nn_gru_backward(tt_ctx *ctx, tt__node *nd) {
    tt_tensor *x = nd->ins[0], *h = nd->ins[1], *w_ih = nd->ins[2], *w_hh = nd->ins[3];
    tt_tensor *b_ih = nd->ins[4], *b_hh = nd->ins[5], *y = nd->out;
    size_t bs = (size_t)y->shape[0], hs = (size_t)y->shape[1], bh = bs * hs, r, j;
    const float *rg = (const float *)nd->saved, *zg = rg + bh, *ng = zg + bh, *hng = ng + bh;
    float *dgi = tt__scratch_floats(ctx, "gru_cell backward", 6 * bh + 1), *dgh = dgi ? dgi + 3 * bh : NULL;
    if (!dgi) return;
    for (r = 0; r < bs; r++)
        for (j = 0; j < hs; j++) {
            size_t e = r * hs + j, g0 = r * 3 * hs + j;
            float dy = y->grad[e], rv = rg[e], z = zg[e], n = ng[e];
            float dn = dy * (1.0f - z) * (1.0f - n * n);           /* d pre-activation of n */
            float dz = dy * (h->data[e] - n) * z * (1.0f - z);     /* d pre-activation of z */
            float dr = dn * hng[e] * rv * (1.0f - rv);             /* d pre-activation of r */
            dgi[g0] = dr; dgi[g0 + hs] = dz; dgi[g0 + 2 * hs] = dn;
            dgh[g0] = dr; dgh[g0 + hs] = dz; dgh[g0 + 2 * hs] = dn * rv;
            if (h->grad) h->grad[e] += dy * z; /* the direct path z * h */
        }
    tt__affine_bwd(ctx, dgi, x->shape[0], x, w_ih, b_ih);
    tt__affine_bwd(ctx, dgh, h->shape[0], h, w_hh, b_hh);
}

static tt_tensor *tt__nn_gru_cell(tt_ctx *ctx, tt_tensor *x, tt_tensor *h, tt_tensor *w_ih, tt_tensor *w_hh,
                                  tt_tensor *b_ih, tt_tensor *b_hh) {
    const char *op = "gru_cell";
    tt_tensor *in[6], *y;
    float *gi, *gh, *sv;
    size_t bs, hs, bh, r, j;
    if (!tt__nn_cell_check(ctx, op, 3, x, h, w_ih, w_hh, b_ih, b_hh)) return NULL;
    bs = (size_t)h->shape[0];
    hs = (size_t)h->shape[1];
    bh = bs * hs;
    in[0] = x; in[1] = h; in[2] = w_ih; in[3] = w_hh; in[4] = b_ih; in[5] = b_hh;
    y = tt__out_n(ctx, op, 2, h->shape, 6, in);
    gi = y ? tt__scratch_floats(ctx, op, 6 * bh + 1) : NULL;
    sv = gi ? tt__scratch_floats(ctx, op, 4 * bh + 1) : NULL;
    if (!sv) return NULL;
    gh = gi + 3 * bh;
    if (tt__affine_fwd(ctx, gi, x->data, x->shape[0], w_ih, b_ih) != TT_OK ||
        tt__affine_fwd(ctx, gh, h->data, h->shape[0], w_hh, b_hh) != TT_OK)
        return NULL;
    for (r = 0; r < bs; r++)
        for (j = 0; j < hs; j++) {
            size_t e = r * hs + j, g0 = r * 3 * hs + j;
            float rv = tt__sigmoid(gi[g0] + gh[g0]);
            float z = tt__sigmoid(gi[g0 + hs] + gh[g0 + hs]);
            float hn = gh[g0 + 2 * hs];
            float n = tanhf(gi[g0 + 2 * hs] + rv * hn);
            sv[e] = rv; sv[bh + e] = z; sv[2 * bh + e] = n; sv[3 * bh + e] = hn;
            y->data[e] = (1.0f - z) * n + z * h->data[e];
        }
    if (y->node) {
        y->node->saved = sv;
        y->node->backward = tt__nn_gru_backward;
    }
    return tt__done(ctx, y);
}
TT__DEF tt_result tt_gru_cell(tt_ctx *ctx, tt_tensor *x, tt_tensor *h, const tt_rnn_cell_weights *w,
                              tt_tensor **h_out) {
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (h_out) *h_out = NULL;
    if (!h_out) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "gru_cell: h_out must not be NULL");
    if (!w) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "gru_cell: weights are NULL");
    *h_out = tt__nn_gru_cell(ctx, x, h, w->w_ih, w->w_hh, w->b_ih, w->b_hh);
    return *h_out ? TT_OK : (ctx->err != TT_OK ? ctx->err : TT_ERR_INVALID_ARGS);
}
#endif /* TT_NO_RNN */


/* ==================================================================================== >>loss */

/* How the losses are built. Every loss is one fused op. Its forward computes the per-unit losses
   (a unit is an element for elementwise losses, a sample for per-sample losses) and, when a
   gradient is needed, the derivative of each unit's loss with respect to every input element
   it uses ("d" arrays, filled in forward). The shared backward tt__loss_backward then only
   multiplies d by the gradient of the unit: out->grad[unit] for NONE, out->grad[0] * scale for
   MEAN / SUM (scale = 1 / divisor or 1). Position e of d[k] belongs to
       unit  ((e / (cls[k] * inner)) % outer) * inner + e % inner
       input element  e / div[k]    (div > 1 when an input is broadcast, e.g. Gaussian var)
   which covers (N), (N, C) rows, (N, C, d...) class dims in the middle and CTC's (T, N, C). */
typedef struct tt__loss_save {
    int reduced;          /* 0 for NONE */
    float scale;          /* 1 / divisor (MEAN, BATCHMEAN) or 1 (SUM) */
    size_t inner, outer;  /* unit layout, see above */
    size_t cls[3], div[3], npos[3];
    float *d[3];          /* derivative per position, NULL if input k gets no gradient */
    unsigned char *unused0; /* NULL, or 1 per position of d[0] that the loss never reads (ignored
                             targets, non-target classes of NLL): it gets no gradient at all, as in
                             torch, even when the scale is inf (MEAN over zero counted targets) */
} tt__loss_save;

/* Positions [e0, e1) of input k's gradient. On the context's pool above TT__PAR_MIN_COSTLY
   positions, in pieces that are whole multiples of div[k], so the div[k] positions adding into
   one gradient element always share a piece and add in position order: bit-identical for
   every thread count. */
typedef struct tt__loss_bw_par {
    const tt__loss_save *s;
    const tt_tensor *y;
    tt_tensor *x;
    int k;
    float g0;
} tt__loss_bw_par;
static void tt__loss_backward_piece(void *arg, size_t e0, size_t e1) {
    const tt__loss_bw_par *p = (const tt__loss_bw_par *)arg;
    const tt__loss_save *s = p->s;
    int k = p->k;
    size_t e, blk = s->cls[k] * s->inner;
    if (s->reduced && s->div[k] == 1) { /* the common case without the per-element index arithmetic */
        const unsigned char *un = k == 0 ? s->unused0 : NULL;
        const float *d = s->d[k];
        float *gx = p->x->grad, g0 = p->g0;
        for (e = e0; e < e1; e++)
            if (!un || !un[e]) gx[e] += g0 * d[e];
        return;
    }
    for (e = e0; e < e1; e++) {
        float g;
        if (k == 0 && s->unused0 && s->unused0[e]) continue;
        g = s->reduced ? p->g0 : p->y->grad[((e / blk) % s->outer) * s->inner + e % s->inner];
        p->x->grad[e / s->div[k]] += g * s->d[k][e];
    }
}

static void tt__loss_backward(tt_ctx *ctx, tt__node *n) {
    tt__loss_save *s = (tt__loss_save *)n->saved;
    tt_tensor *y = n->out;
    int k;
    for (k = 0; k < 3; k++) {
        tt__loss_bw_par p;
        tt_tensor *x = n->in[k];
        if (!x || !x->grad || !s->d[k]) continue;
        p.s = s; p.y = y; p.x = x; p.k = k;
        p.g0 = s->reduced ? y->grad[0] * s->scale : 0.0f;
        tt__parallel_range(ctx, s->npos[k], TT__PAR_MIN_COSTLY, s->div[k] ? s->div[k] : 1, tt__loss_backward_piece, &p);
    }
}

static int tt__loss_reduction_ok(tt_ctx *ctx, const char *op, tt_reduction r, int allow_batchmean) {
    if (r == TT_REDUCTION_MEAN || r == TT_REDUCTION_SUM || r == TT_REDUCTION_NONE) return 1;
    if (r == TT_REDUCTION_BATCHMEAN && allow_batchmean) return 1;
    tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: unknown reduction %d (use TT_REDUCTION_MEAN, SUM or NONE%s)", op, (int)r,
             allow_batchmean ? " or BATCHMEAN" : "");
    return 0;
}

/* The loss being built: output, per-unit losses, saved derivatives. */
typedef struct tt__loss_run {
    tt_tensor *y;
    float *l;            /* n_units per-unit losses (y->data itself for NONE) */
    size_t n_units;
    tt__loss_save *s;    /* NULL when no gradient is tracked */
    tt_reduction red;
    int failed;          /* an allocation in tt__loss_d failed */
} tt__loss_run;

/* Allocate the output (unit shape for NONE, a scalar otherwise) and, when gradients are
   tracked, the save record with the unit layout. Inputs a, b, c may receive gradients. */
static int tt__loss_begin(tt_ctx *ctx, const char *op, tt__loss_run *r, tt_reduction red, int und, const int *ushape,
                          size_t inner, size_t outer, tt_tensor *a, tt_tensor *b, tt_tensor *c) {
    int k;
    memset(r, 0, sizeof *r);
    r->red = red;
    r->n_units = tt_shape_numel(und, ushape);
    r->y = red == TT_REDUCTION_NONE ? tt__out(ctx, op, und, ushape, a, b, c) : tt__out(ctx, op, 0, NULL, a, b, c);
    if (!r->y) return 0;
    r->l = red == TT_REDUCTION_NONE ? r->y->data : tt__scratch_floats(ctx, op, r->n_units + 1);
    if (!r->l) return 0;
    if (r->y->node) {
        r->s = (tt__loss_save *)tt__scratch(ctx, op, sizeof(tt__loss_save));
        if (!r->s) return 0;
        memset(r->s, 0, sizeof *r->s);
        r->s->reduced = red != TT_REDUCTION_NONE;
        r->s->inner = inner ? inner : 1;
        r->s->outer = outer ? outer : 1;
        for (k = 0; k < 3; k++) { r->s->cls[k] = 1; r->s->div[k] = 1; }
    }
    return 1;
}

/* Ask for a derivative array for input k (of the op's inputs a, b, c) with npos positions,
   cls and div as described above. Returns NULL (and no error) when t gets no gradient. */
static float *tt__loss_d(tt_ctx *ctx, const char *op, tt__loss_run *r, int k, tt_tensor *t, size_t npos, size_t cls,
                         size_t div) {
    float *d;
    if (!r->s || !tt__needs_grad(ctx, t)) return NULL;
    d = tt__scratch_floats(ctx, op, npos + 1);
    if (!d) { r->failed = 1; return NULL; }
    memset(d, 0, (npos + 1) * sizeof(float));
    r->s->d[k] = d;
    r->s->npos[k] = npos;
    r->s->cls[k] = cls ? cls : 1;
    r->s->div[k] = div ? div : 1;
    return d;
}

/* Reduce the unit losses: sum in double, MEAN / BATCHMEAN divide by divisor (0 / 0 gives NaN,
   as torch's mean of nothing). Finishes the op. */
static tt_tensor *tt__loss_end(tt_ctx *ctx, tt__loss_run *r, double divisor) {
    if (r->failed) return NULL; /* scratch full: the error is set */
    if (r->red != TT_REDUCTION_NONE) {
        double sum = 0;
        size_t u;
        int mean = r->red == TT_REDUCTION_MEAN || r->red == TT_REDUCTION_BATCHMEAN;
        for (u = 0; u < r->n_units; u++) sum += r->l[u];
        r->y->data[0] = (float)(mean ? sum / divisor : sum);
        if (r->s) r->s->scale = mean ? (float)(1.0 / divisor) : 1.0f;
    }
    if (r->y->node) {
        r->y->node->saved = r->s;
        r->y->node->backward = tt__loss_backward;
    }
    return tt__done(ctx, r->y);
}

/* Checks shared by the losses of two same-shaped tensors (input, target). */
static int tt__loss_pair_ok(tt_ctx *ctx, const char *op, tt_tensor *a, tt_tensor *b, tt_reduction red,
                            int allow_batchmean) {
    if (!tt__in(ctx, op, a) || !tt__in(ctx, op, b)) return 0;
    if (!tt__loss_reduction_ok(ctx, op, red, allow_batchmean)) return 0;
    if (!tt_same_shape(a, b)) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: input %S and target %S must have the same shape", op, a, b);
        return 0;
    }
    return 1;
}

static int tt__loss_labels_ok(tt_ctx *ctx, const char *op, const int *t) {
    if (t) return 1;
    tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: target labels are NULL", op);
    return 0;
}

/* An int array that carries its length: exactly `need` entries for this input. */
static int tt__loss_count_ok(tt_ctx *ctx, const char *op, const char *what, size_t have, size_t need,
                             const tt_tensor *x) {
    if (have == need) return 1;
    tt__fail(ctx, TT_ERR_SHAPE, "%s: %s has %z entries, input %S needs %z", op, what, have, x, need);
    return 0;
}

/* ---- option structs: torch's defaults, every field taken literally ---- */
TT__DEF tt_cross_entropy_opts tt_cross_entropy_opts_init(void) {
    tt_cross_entropy_opts o;
    o.reduction = TT_REDUCTION_MEAN;
    o.weight = NULL;
    o.ignore_index = -100;
    o.label_smoothing = 0.0f;
    return o;
}
TT__DEF tt_poisson_nll_opts tt_poisson_nll_opts_init(void) {
    tt_poisson_nll_opts o;
    o.log_input = 1;
    o.full = 0;
    o.eps = 1e-8f;
    o.reduction = TT_REDUCTION_MEAN;
    return o;
}
TT__DEF tt_gaussian_nll_opts tt_gaussian_nll_opts_init(void) {
    tt_gaussian_nll_opts o;
    o.full = 0;
    o.eps = 1e-6f;
    o.reduction = TT_REDUCTION_MEAN;
    return o;
}
TT__DEF tt_multi_margin_opts tt_multi_margin_opts_init(void) {
    tt_multi_margin_opts o;
    o.p = 1;
    o.margin = 1.0f;
    o.weight = NULL;
    o.reduction = TT_REDUCTION_MEAN;
    return o;
}
TT__DEF tt_triplet_margin_opts tt_triplet_margin_opts_init(void) {
    tt_triplet_margin_opts o;
    o.margin = 1.0f;
    o.p = 2.0f;
    o.eps = 1e-6f;
    o.swap = 0;
    o.reduction = TT_REDUCTION_MEAN;
    return o;
}
TT__DEF tt_ctc_opts tt_ctc_opts_init(void) {
    tt_ctc_opts o;
    o.reduction = TT_REDUCTION_MEAN;
    o.blank = 0;
    o.zero_infinity = 0;
    o.targets_padded = 0;
    return o;
}

/* Stable log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)). */
static float tt__loss_logsigmoid(float x) { return (x < 0 ? x : 0.0f) - log1pf(expf(-fabsf(x))); }

/* ---- elementwise regression losses: L1, MSE, Huber, SmoothL1 (gradient to input and target) ---- */
enum { TT__LOSS_L1, TT__LOSS_MSE, TT__LOSS_HUBER, TT__LOSS_SMOOTH_L1 };

static tt_tensor *tt__loss_regression(tt_ctx *ctx, const char *op, int kind, tt_tensor *x, tt_tensor *t, float h,
                                      tt_reduction red) {
    tt__loss_run r;
    float *dx, *dt;
    size_t i;
    if (!tt__loss_pair_ok(ctx, op, x, t, red, 0)) return NULL;
    if (kind == TT__LOSS_HUBER && !(h > 0)) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: delta must be > 0, got %g", op, (double)h);
        return NULL;
    }
    if (kind == TT__LOSS_SMOOTH_L1 && !(h >= 0)) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: beta must be >= 0, got %g", op, (double)h);
        return NULL;
    }
    if (kind == TT__LOSS_SMOOTH_L1 && h == 0) kind = TT__LOSS_L1; /* torch: beta 0 is the L1 loss */
    if (!tt__loss_begin(ctx, op, &r, red, x->ndim, x->shape, 1, x->numel, x, t, NULL)) return NULL;
    dx = tt__loss_d(ctx, op, &r, 0, x, x->numel, 1, 1);
    dt = tt__loss_d(ctx, op, &r, 1, t, x->numel, 1, 1);
    for (i = 0; i < x->numel; i++) {
        float z = x->data[i] - t->data[i], az = fabsf(z), l, d;
        switch (kind) {
        case TT__LOSS_L1: l = az; d = z > 0 ? 1.0f : (z < 0 ? -1.0f : 0.0f); break;
        case TT__LOSS_MSE: l = z * z; d = 2.0f * z; break;
        case TT__LOSS_HUBER:
            l = az < h ? 0.5f * z * z : h * (az - 0.5f * h);
            d = z <= -h ? -h : (z >= h ? h : z);
            break;
        default: /* smooth L1 */
            l = az < h ? 0.5f * z * z / h : az - 0.5f * h;
            d = z <= -h ? -1.0f : (z >= h ? 1.0f : z / h);
            break;
        }
        r.l[i] = l;
        if (dx) dx[i] = d;
        if (dt) dt[i] = -d;
    }
    return tt__loss_end(ctx, &r, (double)x->numel);
}

TT__DEF tt_tensor *tt_l1_loss(tt_ctx *ctx, tt_tensor *input, tt_tensor *target, tt_reduction reduction) {
    return tt__loss_regression(ctx, "l1_loss", TT__LOSS_L1, input, target, 0.0f, reduction);
}
TT__DEF tt_tensor *tt_mse_loss(tt_ctx *ctx, tt_tensor *input, tt_tensor *target, tt_reduction reduction) {
    return tt__loss_regression(ctx, "mse_loss", TT__LOSS_MSE, input, target, 0.0f, reduction);
}
TT__DEF tt_tensor *tt_huber_loss(tt_ctx *ctx, tt_tensor *input, tt_tensor *target, float delta, tt_reduction reduction) {
    return tt__loss_regression(ctx, "huber_loss", TT__LOSS_HUBER, input, target, delta, reduction);
}
TT__DEF tt_tensor *tt_smooth_l1_loss(tt_ctx *ctx, tt_tensor *input, tt_tensor *target, float beta,
                                     tt_reduction reduction) {
    return tt__loss_regression(ctx, "smooth_l1_loss", TT__LOSS_SMOOTH_L1, input, target, beta, reduction);
}

/* ---- cross-entropy / NLL with class indices ---- */

/* Layout of (N, C, d1, ...) or unbatched (C): N samples, C classes, S positions per sample.
   Element (n, c, s) is at (n * C + c) * S + s; unit (n, s) at n * S + s. */
static int tt__loss_class_layout(tt_ctx *ctx, const char *op, const tt_tensor *x, size_t *N, size_t *C, size_t *S,
                                 int *und, int *ushape) {
    int i;
    ushape[0] = 0;
    if (x->ndim < 1) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: input %S needs a class dimension: (C), (N, C) or (N, C, d1, ...)", op, x);
        return 0;
    }
    if (x->ndim == 1) { *N = 1; *C = (size_t)x->shape[0]; *S = 1; *und = 0; return 1; }
    *N = (size_t)x->shape[0];
    *C = (size_t)x->shape[1];
    *S = tt_shape_numel(x->ndim - 2, x->shape + 2);
    *und = x->ndim - 1;
    ushape[0] = x->shape[0];
    for (i = 2; i < x->ndim; i++) ushape[i - 1] = x->shape[i];
    return 1;
}

static int tt__loss_ce_opts_ok(tt_ctx *ctx, const char *op, const tt_cross_entropy_opts *o) {
    if (!tt__loss_reduction_ok(ctx, op, o->reduction, 0)) return 0;
    if (!(o->label_smoothing >= 0.0f && o->label_smoothing <= 1.0f)) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: label_smoothing must be in [0, 1], got %g", op, (double)o->label_smoothing);
        return 0;
    }
    return 1;
}

static tt_tensor *tt__bk_class_index(tt_ctx *ctx, const char *op, tt_tensor *x, const int *target, const tt_cross_entropy_opts *o,
                                     int is_logits, size_t N, size_t C, size_t S, int ignore); /* >>backend */
/* Units [u0, u1) of a class-index loss: each unit's loss, gradient row and unused marks from
   that unit alone, so units run in pieces on the context's pool (units x classes above
   TT__PAR_MIN_COSTLY) with results bit-identical for every thread count; the one sum over units
   (the counted weights for MEAN) is taken afterwards on the calling thread in unit order. */
typedef struct tt__ci_par {
    const tt_tensor *x;
    const int *target;
    const tt_cross_entropy_opts *o;
    float *l, *dx;
    unsigned char *unused;
    size_t C, S;
    int ignore, is_logits;
    double Wall;
} tt__ci_par;
static void tt__ci_units(void *arg, size_t u0, size_t u1) {
    const tt__ci_par *cp = (const tt__ci_par *)arg;
    const tt_tensor *x = cp->x;
    const int *target = cp->target;
    const tt_cross_entropy_opts o = *cp->o;
    float *dx = cp->dx, eps = o.label_smoothing;
    unsigned char *unused = cp->unused;
    size_t C = cp->C, S = cp->S, u, c;
    int ignore = cp->ignore, is_logits = cp->is_logits;
    double Wall = cp->Wall;
    for (u = u0; u < u1; u++) {
        size_t n = u / S, s = u % S;
        const float *xr = x->data + n * C * S + s; /* class c at xr[c * S] */
        int t = target[u];
        double lse = 0, loss, wt;
        if (t == ignore) {
            cp->l[u] = 0.0f;
            if (unused)
                for (c = 0; c < C; c++) unused[n * C * S + s + c * S] = 1;
            continue;
        }
        if (unused && !is_logits) unused[n * C * S + s + (size_t)t * S] = 0;
        wt = o.weight ? o.weight[t] : 1.0;
        if (is_logits) lse = tt__logsumexp_d(xr, C, S); /* log p_c = x_c - lse */
        loss = -(1.0 - eps) * wt * ((double)xr[(size_t)t * S] - lse);
        if (eps != 0.0f) {
            double sm = 0;
            for (c = 0; c < C; c++) sm -= (o.weight ? o.weight[c] : 1.0) * ((double)xr[c * S] - lse);
            loss += eps / (double)C * sm;
        }
        cp->l[u] = (float)loss;
        if (dx) {
            float *dr = dx + n * C * S + s;
            for (c = 0; c < C; c++) {
                double wc = o.weight ? o.weight[c] : 1.0, g;
                if (is_logits) {
                    double p = exp((double)xr[c * S] - lse);
                    g = (1.0 - eps) * wt * (p - (c == (size_t)t ? 1.0 : 0.0)) + eps / (double)C * (Wall * p - wc);
                } else {
                    g = c == (size_t)t ? -wt : 0.0;
                }
                dr[c * S] = (float)g;
            }
        }
    }
}

/* is_logits: cross-entropy (log-softmax inside); else NLL on log-probabilities. */
static tt_tensor *tt__loss_class_index(tt_ctx *ctx, const char *op, tt_tensor *x, size_t n_target, const int *target,
                                       const tt_cross_entropy_opts *opts, int is_logits) {
    tt_cross_entropy_opts o = opts ? *opts : tt_cross_entropy_opts_init();
    int und, ushape[TT_MAX_DIMS], ignore;
    size_t N, C, S, u, c;
    tt__loss_run r;
    float *dx;
    unsigned char *unused = NULL;
    double wsum = 0, Wall = 0;
    if (!tt__in(ctx, op, x) || !tt__loss_labels_ok(ctx, op, target) || !tt__loss_ce_opts_ok(ctx, op, &o)) return NULL;
    if (!is_logits && o.label_smoothing != 0.0f) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: label_smoothing must be 0 (got %g); use tt_cross_entropy", op,
                 (double)o.label_smoothing);
        return NULL;
    }
    if (!tt__loss_class_layout(ctx, op, x, &N, &C, &S, &und, ushape) ||
        !tt__loss_count_ok(ctx, op, "target", n_target, N * S, x))
        return NULL;
    ignore = o.ignore_index;
    for (u = 0; u < N * S; u++) {
        int t = target[u];
        if (t != ignore && (t < 0 || (size_t)t >= C)) {
            tt__fail(ctx, TT_ERR_INDEX, "%s: target %d of sample %z (flat index %z) is out of range for %z classes", op, t,
                     u / S, u, C);
            return NULL;
        }
    }
    if (ctx->backend) return tt__bk_class_index(ctx, op, x, target, &o, is_logits, N, C, S, ignore);
    for (c = 0; c < C; c++) Wall += o.weight ? o.weight[c] : 1.0;
    if (!tt__loss_begin(ctx, op, &r, o.reduction, und, ushape, S, N, x, NULL, NULL)) return NULL;
    dx = tt__loss_d(ctx, op, &r, 0, x, x->numel, C, 1);
    if (dx) { /* positions never read: ignored samples; for NLL also the non-target classes */
        unused = (unsigned char *)tt__scratch(ctx, op, x->numel + 1);
        if (!unused) return NULL;
        memset(unused, is_logits ? 0 : 1, x->numel);
        r.s->unused0 = unused;
    }
    {
        tt__ci_par p;
        p.x = x; p.target = target; p.o = &o; p.l = r.l; p.dx = dx; p.unused = unused;
        p.C = C; p.S = S; p.ignore = ignore; p.is_logits = is_logits; p.Wall = Wall;
        tt__parallel_range(ctx, N * S, TT__PAR_MIN_COSTLY / (C ? C : 1) + 1, 1, tt__ci_units, &p);
    }
    for (u = 0; u < N * S; u++) /* the counted targets' weights, summed in unit order */
        if (target[u] != ignore) wsum += o.weight ? o.weight[target[u]] : 1.0;
    /* MEAN divides by the summed weight of the counted targets (torch's weighted mean) */
    return tt__loss_end(ctx, &r, wsum);
}

TT__DEF tt_tensor *tt_cross_entropy(tt_ctx *ctx, tt_tensor *logits, size_t n_target, const int *target,
                                    const tt_cross_entropy_opts *opts) {
    return tt__loss_class_index(ctx, "cross_entropy", logits, n_target, target, opts, 1);
}
TT__DEF tt_tensor *tt_nll_loss(tt_ctx *ctx, tt_tensor *log_probs, size_t n_target, const int *target,
                               const tt_cross_entropy_opts *opts) {
    return tt__loss_class_index(ctx, "nll_loss", log_probs, n_target, target, opts, 0);
}

TT__DEF tt_tensor *tt_cross_entropy_probs(tt_ctx *ctx, tt_tensor *x, tt_tensor *target,
                                          const tt_cross_entropy_opts *opts) {
    const char *op = "cross_entropy_probs";
    tt_cross_entropy_opts o = opts ? *opts : tt_cross_entropy_opts_init();
    int und, ushape[TT_MAX_DIMS];
    size_t N, C, S, u, c;
    tt__loss_run r;
    float *dx;
    double eps;
    if (!tt__in(ctx, op, x) || !tt__in(ctx, op, target) || !tt__loss_ce_opts_ok(ctx, op, &o)) return NULL;
    if (!tt_same_shape(x, target)) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: logits %S and target probabilities %S must have the same shape", op, x, target);
        return NULL;
    }
    if (!tt__loss_class_layout(ctx, op, x, &N, &C, &S, &und, ushape)) return NULL;
    eps = o.label_smoothing;
    if (!tt__loss_begin(ctx, op, &r, o.reduction, und, ushape, S, N, x, NULL, NULL)) return NULL;
    dx = tt__loss_d(ctx, op, &r, 0, x, x->numel, C, 1);
    for (u = 0; u < N * S; u++) {
        size_t off = (u / S) * C * S + u % S;
        const float *xr = x->data + off, *qr = target->data + off;
        double lse = tt__logsumexp_d(xr, C, S), loss = 0, wq = 0;
        for (c = 0; c < C; c++) {
            double q = (1.0 - eps) * qr[c * S] + eps / (double)C, w = o.weight ? o.weight[c] : 1.0;
            loss -= w * q * ((double)xr[c * S] - lse);
            wq += w * q;
        }
        r.l[u] = (float)loss;
        if (dx)
            for (c = 0; c < C; c++) {
                double q = (1.0 - eps) * qr[c * S] + eps / (double)C, w = o.weight ? o.weight[c] : 1.0;
                dx[off + c * S] = (float)(exp((double)xr[c * S] - lse) * wq - w * q);
            }
    }
    return tt__loss_end(ctx, &r, (double)(N * S));
}

/* A constant weight tensor w (may be NULL) that must broadcast to x's shape. */
static int tt__loss_bcast_ok(tt_ctx *ctx, const char *op, const char *what, const tt_tensor *x, const tt_tensor *w) {
    int nd, shape[TT_MAX_DIMS];
    if (!w) return 1;
    if (!tt__in(ctx, op, w)) return 0;
    if (!tt__broadcast_shape(x, w, &nd, shape) || nd != x->ndim || memcmp(shape, x->shape, sizeof(int) * (size_t)nd)) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: %s %S does not broadcast to input %S", op, what, w, x);
        return 0;
    }
    return 1;
}

/* Offsets into w (broadcast to x) for every element of x, or NULL when w is NULL. */
static size_t *tt__loss_bcast_offsets(tt_ctx *ctx, const char *op, const tt_tensor *x, const tt_tensor *w) {
    tt__bcast it;
    size_t *off, i;
    if (!w) return NULL;
    off = (size_t *)tt__scratch(ctx, op, sizeof(size_t) * (x->numel + 1));
    if (!off) return NULL;
    tt__bcast_init(&it, x, w, x->ndim, x->shape);
    for (i = 0; i < x->numel; i++, tt__bcast_next(&it)) off[i] = it.ob;
    return off;
}

TT__DEF tt_tensor *tt_bce_loss(tt_ctx *ctx, tt_tensor *x, tt_tensor *t, tt_tensor *weight, tt_reduction red) {
    const char *op = "bce_loss";
    size_t *woff = NULL, i;
    tt__loss_run r;
    float *dx;
    if (!tt__loss_pair_ok(ctx, op, x, t, red, 0) || !tt__loss_bcast_ok(ctx, op, "weight", x, weight)) return NULL;
    for (i = 0; i < x->numel; i++) {
        if (!(x->data[i] >= 0.0f && x->data[i] <= 1.0f)) {
            tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: input[%z] = %g is outside [0, 1]", op, i, (double)x->data[i]);
            return NULL;
        }
        if (!(t->data[i] >= 0.0f && t->data[i] <= 1.0f)) {
            tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: target[%z] = %g is outside [0, 1]", op, i, (double)t->data[i]);
            return NULL;
        }
    }
    if (weight && !(woff = tt__loss_bcast_offsets(ctx, op, x, weight))) return NULL;
    if (!tt__loss_begin(ctx, op, &r, red, x->ndim, x->shape, 1, x->numel, x, NULL, NULL)) return NULL;
    dx = tt__loss_d(ctx, op, &r, 0, x, x->numel, 1, 1);
    for (i = 0; i < x->numel; i++) {
        float p = x->data[i], y = t->data[i], w = weight ? weight->data[woff[i]] : 1.0f;
        float lp = logf(p), lq = log1pf(-p); /* both clamped at -100 as torch */
        if (lp < -100.0f) lp = -100.0f;
        if (lq < -100.0f) lq = -100.0f;
        r.l[i] = w * ((y - 1.0f) * lq - y * lp);
        if (dx) {
            float den = (1.0f - p) * p;
            dx[i] = w * (p - y) / (den > 1e-12f ? den : 1e-12f); /* torch's backward formula */
        }
    }
    return tt__loss_end(ctx, &r, (double)x->numel);
}

TT__DEF tt_tensor *tt_bce_with_logits_loss(tt_ctx *ctx, tt_tensor *x, tt_tensor *t, tt_tensor *weight,
                                           tt_tensor *pos_weight, tt_reduction red) {
    const char *op = "bce_with_logits_loss";
    size_t *woff = NULL, *poff = NULL, i;
    tt__loss_run r;
    float *dx;
    if (!tt__loss_pair_ok(ctx, op, x, t, red, 0) || !tt__loss_bcast_ok(ctx, op, "weight", x, weight) ||
        !tt__loss_bcast_ok(ctx, op, "pos_weight", x, pos_weight))
        return NULL;
    if (weight && !(woff = tt__loss_bcast_offsets(ctx, op, x, weight))) return NULL;
    if (pos_weight && !(poff = tt__loss_bcast_offsets(ctx, op, x, pos_weight))) return NULL;
    if (!tt__loss_begin(ctx, op, &r, red, x->ndim, x->shape, 1, x->numel, x, NULL, NULL)) return NULL;
    dx = tt__loss_d(ctx, op, &r, 0, x, x->numel, 1, 1);
    for (i = 0; i < x->numel; i++) {
        float v = x->data[i], y = t->data[i];
        float w = weight ? weight->data[woff[i]] : 1.0f, pw = pos_weight ? pos_weight->data[poff[i]] : 1.0f;
        float lw = (pw - 1.0f) * y + 1.0f; /* 1 + (p - 1) y */
        r.l[i] = w * ((1.0f - y) * v - lw * tt__loss_logsigmoid(v));
        if (dx) dx[i] = w * (tt__sigmoid(v) * (pw * y + 1.0f - y) - pw * y);
    }
    return tt__loss_end(ctx, &r, (double)x->numel);
}

TT__DEF tt_tensor *tt_kl_div_loss(tt_ctx *ctx, tt_tensor *x, tt_tensor *t, int log_target, tt_reduction red) {
    const char *op = "kl_div_loss";
    tt__loss_run r;
    float *dx;
    size_t i;
    double div;
    if (!tt__loss_pair_ok(ctx, op, x, t, red, 1)) return NULL;
    if (!tt__loss_begin(ctx, op, &r, red, x->ndim, x->shape, 1, x->numel, x, NULL, NULL)) return NULL;
    dx = tt__loss_d(ctx, op, &r, 0, x, x->numel, 1, 1);
    for (i = 0; i < x->numel; i++) {
        float v = x->data[i], y = t->data[i];
        if (log_target) {
            float e = expf(y);
            r.l[i] = e * (y - v);
            if (dx) dx[i] = -e;
        } else {
            float ylogy = y == 0.0f ? 0.0f : y * logf(y); /* xlogy: 0 where target is 0 */
            r.l[i] = ylogy - y * v;
            if (dx) dx[i] = -y;
        }
    }
    div = red == TT_REDUCTION_BATCHMEAN ? (x->ndim > 0 ? (double)x->shape[0] : 1.0) : (double)x->numel;
    return tt__loss_end(ctx, &r, div);
}

TT__DEF tt_tensor *tt_poisson_nll_loss(tt_ctx *ctx, tt_tensor *x, tt_tensor *t, const tt_poisson_nll_opts *opts) {
    const char *op = "poisson_nll_loss";
    tt_poisson_nll_opts o = opts ? *opts : tt_poisson_nll_opts_init();
    int log_input = o.log_input, full = o.full;
    float eps = o.eps;
    tt_reduction red = o.reduction;
    tt__loss_run r;
    float *dx;
    size_t i;
    if (!tt__loss_pair_ok(ctx, op, x, t, red, 0)) return NULL;
    if (!tt__loss_begin(ctx, op, &r, red, x->ndim, x->shape, 1, x->numel, x, NULL, NULL)) return NULL;
    dx = tt__loss_d(ctx, op, &r, 0, x, x->numel, 1, 1);
    for (i = 0; i < x->numel; i++) {
        float v = x->data[i], y = t->data[i], l;
        if (log_input) {
            float e = expf(v);
            l = e - y * v;
            if (dx) dx[i] = e - y;
        } else {
            l = v - y * logf(v + eps);
            if (dx) dx[i] = 1.0f - y / (v + eps);
        }
        if (full && y > 1.0f) l += y * logf(y) - y + 0.5f * logf(2.0f * 3.14159265358979f * y); /* Stirling */
        r.l[i] = l;
    }
    return tt__loss_end(ctx, &r, (double)x->numel);
}

TT__DEF tt_tensor *tt_gaussian_nll_loss(tt_ctx *ctx, tt_tensor *x, tt_tensor *t, tt_tensor *var,
                                        const tt_gaussian_nll_opts *opts) {
    const char *op = "gaussian_nll_loss";
    tt_gaussian_nll_opts o = opts ? *opts : tt_gaussian_nll_opts_init();
    int full = o.full;
    float eps = o.eps;
    tt_reduction red = o.reduction;
    tt__loss_run r;
    float *dx, *dt, *dv;
    size_t i, vdiv;
    int k, D;
    if (!tt__loss_pair_ok(ctx, op, x, t, red, 0) || !tt__in(ctx, op, var)) return NULL;
    /* var: same shape (vdiv 1), input without / with 1 as the last dim (vdiv D), or a scalar */
    D = x->ndim > 0 ? x->shape[x->ndim - 1] : 1;
    if (tt_same_shape(x, var)) vdiv = 1;
    else if (var->ndim == 0) vdiv = x->numel ? x->numel : 1;
    else {
        int ok = x->ndim >= 1 && (var->ndim == x->ndim - 1 || (var->ndim == x->ndim && var->shape[var->ndim - 1] == 1));
        for (k = 0; ok && k < x->ndim - 1; k++) ok = var->shape[k] == x->shape[k];
        if (!ok) {
            tt__fail(ctx, TT_ERR_SHAPE, "%s: var %S does not fit input %S (same shape, input's shape without the last "
                     "dim, or with 1 as the last dim)", op, var, x);
            return NULL;
        }
        vdiv = D > 0 ? (size_t)D : 1;
    }
    for (i = 0; i < var->numel; i++)
        if (!(var->data[i] >= 0.0f)) {
            tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: var[%z] = %g is negative", op, i, (double)var->data[i]);
            return NULL;
        }
    if (!tt__loss_begin(ctx, op, &r, red, x->ndim, x->shape, 1, x->numel, x, t, var)) return NULL;
    dx = tt__loss_d(ctx, op, &r, 0, x, x->numel, 1, 1);
    dt = tt__loss_d(ctx, op, &r, 1, t, x->numel, 1, 1);
    dv = tt__loss_d(ctx, op, &r, 2, var, x->numel, 1, vdiv);
    for (i = 0; i < x->numel; i++) {
        float v = var->data[i / vdiv], z = x->data[i] - t->data[i];
        if (v < eps) v = eps; /* clamp without gradient: d/dvar uses the clamped value, as torch */
        r.l[i] = 0.5f * (logf(v) + z * z / v) + (full ? 0.918938533204673f : 0.0f); /* 0.5 log(2 pi) */
        if (dx) dx[i] = z / v;
        if (dt) dt[i] = -z / v;
        if (dv) dv[i] = 0.5f * (1.0f / v - z * z / (v * v));
    }
    return tt__loss_end(ctx, &r, (double)x->numel);
}

TT__DEF tt_tensor *tt_hinge_embedding_loss(tt_ctx *ctx, tt_tensor *x, size_t n_target, const int *target,
                                           float margin, tt_reduction red) {
    const char *op = "hinge_embedding_loss";
    tt__loss_run r;
    float *dx;
    size_t i;
    if (!tt__in(ctx, op, x) || !tt__loss_labels_ok(ctx, op, target) || !tt__loss_reduction_ok(ctx, op, red, 0) ||
        !tt__loss_count_ok(ctx, op, "target", n_target, x->numel, x))
        return NULL;
    if (!tt__loss_begin(ctx, op, &r, red, x->ndim, x->shape, 1, x->numel, x, NULL, NULL)) return NULL;
    dx = tt__loss_d(ctx, op, &r, 0, x, x->numel, 1, 1);
    for (i = 0; i < x->numel; i++) {
        float v = x->data[i], l = 0.0f, d = 0.0f, h = margin - v;
        if (target[i] != 1 && h > 0) { l += h; d -= 1.0f; }
        if (target[i] != -1) { l += v; d += 1.0f; }
        r.l[i] = l;
        if (dx) dx[i] = d;
    }
    return tt__loss_end(ctx, &r, (double)x->numel);
}

TT__DEF tt_tensor *tt_margin_ranking_loss(tt_ctx *ctx, tt_tensor *x1, tt_tensor *x2, size_t n_target,
                                          const int *target, float margin, tt_reduction red) {
    const char *op = "margin_ranking_loss";
    tt__loss_run r;
    float *d1, *d2;
    size_t i;
    if (!tt__in(ctx, op, x1) || !tt__in(ctx, op, x2) || !tt__loss_labels_ok(ctx, op, target) ||
        !tt__loss_reduction_ok(ctx, op, red, 0))
        return NULL;
    if (!tt_same_shape(x1, x2)) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: input1 %S and input2 %S must have the same shape", op, x1, x2);
        return NULL;
    }
    if (!tt__loss_count_ok(ctx, op, "target", n_target, x1->numel, x1)) return NULL;
    if (!tt__loss_begin(ctx, op, &r, red, x1->ndim, x1->shape, 1, x1->numel, x1, x2, NULL)) return NULL;
    d1 = tt__loss_d(ctx, op, &r, 0, x1, x1->numel, 1, 1);
    d2 = tt__loss_d(ctx, op, &r, 1, x2, x1->numel, 1, 1);
    for (i = 0; i < x1->numel; i++) {
        float y = (float)target[i], h = -y * (x1->data[i] - x2->data[i]) + margin;
        r.l[i] = h > 0 ? h : 0.0f;
        if (d1) d1[i] = h > 0 ? -y : 0.0f;
        if (d2) d2[i] = h > 0 ? y : 0.0f;
    }
    return tt__loss_end(ctx, &r, (double)x1->numel);
}

TT__DEF tt_tensor *tt_soft_margin_loss(tt_ctx *ctx, tt_tensor *x, tt_tensor *t, tt_reduction red) {
    const char *op = "soft_margin_loss";
    tt__loss_run r;
    float *dx;
    size_t i;
    if (!tt__loss_pair_ok(ctx, op, x, t, red, 0)) return NULL;
    if (!tt__loss_begin(ctx, op, &r, red, x->ndim, x->shape, 1, x->numel, x, NULL, NULL)) return NULL;
    dx = tt__loss_d(ctx, op, &r, 0, x, x->numel, 1, 1);
    for (i = 0; i < x->numel; i++) {
        float y = t->data[i], m = y * x->data[i];
        r.l[i] = -tt__loss_logsigmoid(m);               /* softplus(-y x) = log(1 + exp(-y x)) */
        if (dx) dx[i] = -y * tt__sigmoid(-m);      /* -y exp(-yx) / (1 + exp(-yx)) */
    }
    return tt__loss_end(ctx, &r, (double)x->numel);
}

/* (N, C) or (C) inputs of the per-sample losses: N rows of C. */
static int tt__loss_rows(tt_ctx *ctx, const char *op, const tt_tensor *x, size_t *N, size_t *C, int *und, int *ushape) {
    ushape[0] = 0;
    if (x->ndim == 1) { *N = 1; *C = (size_t)x->shape[0]; *und = 0; return 1; }
    if (x->ndim == 2) { *N = (size_t)x->shape[0]; *C = (size_t)x->shape[1]; *und = 1; ushape[0] = x->shape[0]; return 1; }
    tt__fail(ctx, TT_ERR_SHAPE, "%s: input %S must be (N, C) or (C)", op, x);
    return 0;
}

TT__DEF tt_tensor *tt_multilabel_soft_margin_loss(tt_ctx *ctx, tt_tensor *x, tt_tensor *t, const float *weight,
                                                  tt_reduction red) {
    const char *op = "multilabel_soft_margin_loss";
    tt__loss_run r;
    float *dx;
    size_t N, C, n, c;
    int und, ushape[1];
    if (!tt__loss_pair_ok(ctx, op, x, t, red, 0) || !tt__loss_rows(ctx, op, x, &N, &C, &und, ushape)) return NULL;
    if (!tt__loss_begin(ctx, op, &r, red, und, ushape, 1, N, x, NULL, NULL)) return NULL;
    dx = tt__loss_d(ctx, op, &r, 0, x, x->numel, C, 1);
    for (n = 0; n < N; n++) {
        double s = 0;
        for (c = 0; c < C; c++) {
            size_t e = n * C + c;
            float v = x->data[e], y = t->data[e], w = weight ? weight[c] : 1.0f;
            s -= (double)w * (y * tt__loss_logsigmoid(v) + (1.0f - y) * tt__loss_logsigmoid(-v));
            if (dx) dx[e] = w * (tt__sigmoid(v) - y) / (float)C;
        }
        r.l[n] = (float)(s / (double)C);
    }
    return tt__loss_end(ctx, &r, (double)N);
}

TT__DEF tt_tensor *tt_multi_margin_loss(tt_ctx *ctx, tt_tensor *x, size_t n_target, const int *target,
                                        const tt_multi_margin_opts *opts) {
    const char *op = "multi_margin_loss";
    tt_multi_margin_opts o = opts ? *opts : tt_multi_margin_opts_init();
    int p = o.p;
    float margin = o.margin;
    const float *weight = o.weight;
    tt_reduction red = o.reduction;
    tt__loss_run r;
    float *dx;
    size_t N, C, n, c;
    int und, ushape[1];
    if (!tt__in(ctx, op, x) || !tt__loss_labels_ok(ctx, op, target) || !tt__loss_reduction_ok(ctx, op, red, 0) ||
        !tt__loss_rows(ctx, op, x, &N, &C, &und, ushape) || !tt__loss_count_ok(ctx, op, "target", n_target, N, x))
        return NULL;
    if (p != 1 && p != 2) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: p must be 1 or 2, got %d", op, p);
        return NULL;
    }
    for (n = 0; n < N; n++)
        if (target[n] < 0 || (size_t)target[n] >= C) {
            tt__fail(ctx, TT_ERR_INDEX, "%s: target %d of sample %z is out of range for %z classes", op, target[n], n, C);
            return NULL;
        }
    if (!tt__loss_begin(ctx, op, &r, red, und, ushape, 1, N, x, NULL, NULL)) return NULL;
    dx = tt__loss_d(ctx, op, &r, 0, x, x->numel, C, 1);
    for (n = 0; n < N; n++) {
        const float *xr = x->data + n * C;
        size_t y = (size_t)target[n];
        float wy = weight ? weight[y] : 1.0f;
        double s = 0;
        for (c = 0; c < C; c++) {
            float z = margin - xr[y] + xr[c];
            if (c == y || !(z > 0)) continue;
            s += (double)wy * (p == 1 ? z : z * z);
            if (dx) {
                float h = wy * (p == 1 ? 1.0f : 2.0f * z) / (float)C;
                dx[n * C + c] += h;
                dx[n * C + y] -= h;
            }
        }
        r.l[n] = (float)(s / (double)C);
    }
    return tt__loss_end(ctx, &r, (double)N);
}

TT__DEF tt_tensor *tt_multilabel_margin_loss(tt_ctx *ctx, tt_tensor *x, size_t n_target, const int *target,
                                             tt_reduction red) {
    const char *op = "multilabel_margin_loss";
    tt__loss_run r;
    float *dx;
    unsigned char *is_target;
    size_t N, C, n, c, j;
    int und, ushape[1];
    if (!tt__in(ctx, op, x) || !tt__loss_labels_ok(ctx, op, target) || !tt__loss_reduction_ok(ctx, op, red, 0) ||
        !tt__loss_rows(ctx, op, x, &N, &C, &und, ushape) || !tt__loss_count_ok(ctx, op, "target", n_target, N * C, x))
        return NULL;
    for (n = 0; n < N; n++)
        for (j = 0; j < C && target[n * C + j] != -1; j++)
            if (target[n * C + j] < 0 || (size_t)target[n * C + j] >= C) {
                tt__fail(ctx, TT_ERR_INDEX, "%s: target %d of sample %z (entry %z) is out of range for %z classes", op,
                         target[n * C + j], n, j, C);
                return NULL;
            }
    is_target = (unsigned char *)tt__scratch(ctx, op, C + 1);
    if (!is_target) return NULL;
    if (!tt__loss_begin(ctx, op, &r, red, und, ushape, 1, N, x, NULL, NULL)) return NULL;
    dx = tt__loss_d(ctx, op, &r, 0, x, x->numel, C, 1);
    for (n = 0; n < N; n++) {
        const float *xr = x->data + n * C;
        const int *tr = target + n * C;
        double s = 0;
        memset(is_target, 0, C);
        for (j = 0; j < C && tr[j] != -1; j++) is_target[tr[j]] = 1;
        for (j = 0; j < C && tr[j] != -1; j++) {
            size_t y = (size_t)tr[j];
            for (c = 0; c < C; c++) {
                float z = 1.0f - (xr[y] - xr[c]);
                if (is_target[c] || !(z > 0)) continue;
                s += z;
                if (dx) {
                    dx[n * C + c] += 1.0f / (float)C;
                    dx[n * C + y] -= 1.0f / (float)C;
                }
            }
        }
        r.l[n] = (float)(s / (double)C);
    }
    return tt__loss_end(ctx, &r, (double)N);
}

TT__DEF tt_tensor *tt_cosine_embedding_loss(tt_ctx *ctx, tt_tensor *x1, tt_tensor *x2, size_t n_target,
                                            const int *target, float margin, tt_reduction red) {
    const char *op = "cosine_embedding_loss";
    tt__loss_run r;
    float *d1, *d2;
    size_t N, D, n, i;
    int und, ushape[1];
    if (!tt__in(ctx, op, x1) || !tt__in(ctx, op, x2) || !tt__loss_labels_ok(ctx, op, target) ||
        !tt__loss_reduction_ok(ctx, op, red, 0) || !tt__loss_rows(ctx, op, x1, &N, &D, &und, ushape) ||
        !tt__loss_count_ok(ctx, op, "target", n_target, N, x1))
        return NULL;
    if (!tt_same_shape(x1, x2)) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: input1 %S and input2 %S must have the same shape", op, x1, x2);
        return NULL;
    }
    if (!tt__loss_begin(ctx, op, &r, red, und, ushape, 1, N, x1, x2, NULL)) return NULL;
    d1 = tt__loss_d(ctx, op, &r, 0, x1, x1->numel, D, 1);
    d2 = tt__loss_d(ctx, op, &r, 1, x2, x1->numel, D, 1);
    for (n = 0; n < N; n++) {
        const float *a = x1->data + n * D, *b = x2->data + n * D;
        double ab = 0, aa = 1e-12, bb = 1e-12, den, cs, sign = 0; /* ATen adds 1e-12 to each squared norm */
        for (i = 0; i < D; i++) { ab += (double)a[i] * b[i]; aa += (double)a[i] * a[i]; bb += (double)b[i] * b[i]; }
        den = sqrt(aa * bb);
        cs = ab / den;
        if (target[n] == 1) { r.l[n] = (float)(1.0 - cs); sign = -1; }
        else if (target[n] == -1 && cs - margin > 0) { r.l[n] = (float)(cs - margin); sign = 1; }
        else r.l[n] = 0.0f;
        for (i = 0; i < D && sign != 0; i++) { /* d cos / d a = b / den - cos a / |a|^2 */
            if (d1) d1[n * D + i] = (float)(sign * (b[i] / den - cs * a[i] / aa));
            if (d2) d2[n * D + i] = (float)(sign * (a[i] / den - cs * b[i] / bb));
        }
    }
    return tt__loss_end(ctx, &r, (double)N);
}

/* ||u - v + eps||_p of one row; g (if not NULL) gets d norm / d (u - v) */
static double tt__loss_pdist(const float *u, const float *v, size_t D, double p, double eps, double *g) {
    double s = 0, nrm;
    size_t i;
    for (i = 0; i < D; i++) {
        double d = fabs((double)u[i] - v[i] + eps);
        s += p == 2.0 ? d * d : (p == 1.0 ? d : pow(d, p));
    }
    nrm = p == 2.0 ? sqrt(s) : (p == 1.0 ? s : pow(s, 1.0 / p));
    if (g)
        for (i = 0; i < D; i++) {
            double d = (double)u[i] - v[i] + eps, sg = d > 0 ? 1.0 : (d < 0 ? -1.0 : 0.0);
            if (nrm == 0 || d == 0) g[i] = 0;
            else if (p == 2.0) g[i] = d / nrm;
            else if (p == 1.0) g[i] = sg;
            else g[i] = sg * pow(fabs(d) / nrm, p - 1.0);
        }
    return nrm;
}

TT__DEF tt_tensor *tt_triplet_margin_loss(tt_ctx *ctx, tt_tensor *anchor, tt_tensor *positive, tt_tensor *negative,
                                          const tt_triplet_margin_opts *opts) {
    const char *op = "triplet_margin_loss";
    tt_triplet_margin_opts o = opts ? *opts : tt_triplet_margin_opts_init();
    float margin = o.margin, p = o.p, eps = o.eps;
    int swap = o.swap;
    tt_reduction red = o.reduction;
    tt__loss_run r;
    float *da, *dp, *dn;
    double *g;
    size_t N, D, n, i;
    int und, ushape[1];
    if (!tt__in(ctx, op, anchor) || !tt__in(ctx, op, positive) || !tt__in(ctx, op, negative) ||
        !tt__loss_reduction_ok(ctx, op, red, 0) || !tt__loss_rows(ctx, op, anchor, &N, &D, &und, ushape))
        return NULL;
    if (!tt_same_shape(anchor, positive) || !tt_same_shape(anchor, negative)) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: anchor %S, positive %S and negative %S must have the same shape", op, anchor,
                 positive, negative);
        return NULL;
    }
    if (!(margin > 0)) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: margin must be > 0, got %g", op, (double)margin);
        return NULL;
    }
    if (!(p > 0) || p == INFINITY) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: p must be > 0 and finite, got %g", op, (double)p);
        return NULL;
    }
    g = (double *)tt__scratch(ctx, op, sizeof(double) * 3 * (D + 1));
    if (!g) return NULL;
    if (!tt__loss_begin(ctx, op, &r, red, und, ushape, 1, N, anchor, positive, negative)) return NULL;
    da = tt__loss_d(ctx, op, &r, 0, anchor, anchor->numel, D, 1);
    dp = tt__loss_d(ctx, op, &r, 1, positive, anchor->numel, D, 1);
    dn = tt__loss_d(ctx, op, &r, 2, negative, anchor->numel, D, 1);
    for (n = 0; n < N; n++) {
        const float *a = anchor->data + n * D, *ps = positive->data + n * D, *ng = negative->data + n * D;
        double *g1 = g, *g2 = g + D, *g3 = g + 2 * D;
        double d_ap = tt__loss_pdist(a, ps, D, p, eps, g1), d_an = tt__loss_pdist(a, ng, D, p, eps, g2);
        double d_neg = d_an, w_an = 1.0, w_pn = 0.0, h;
        if (swap) { /* min(d(a, n), d(p, n)); a tie splits the gradient, as torch's min */
            double d_pn = tt__loss_pdist(ps, ng, D, p, eps, g3);
            if (d_pn < d_an) { d_neg = d_pn; w_an = 0.0; w_pn = 1.0; }
            else if (d_pn == d_an) { w_an = 0.5; w_pn = 0.5; }
        }
        h = margin + d_ap - d_neg;
        r.l[n] = h > 0 ? (float)h : 0.0f;
        if (!(h > 0)) continue;
        for (i = 0; i < D; i++) {
            size_t e = n * D + i;
            /* d_ap depends on a - p, d_an on a - n, d_pn on p - n */
            if (da) da[e] = (float)(g1[i] - w_an * g2[i]);
            if (dp) dp[e] = (float)(-g1[i] - w_pn * g3[i]);
            if (dn) dn[e] = (float)(w_an * g2[i] + w_pn * g3[i]);
        }
    }
    return tt__loss_end(ctx, &r, (double)N);
}

/* ---- CTC ---- */
#ifndef TT_NO_CTC /* to the end of the section (see FEATURE CUTS) */
static double tt__loss_lse2(double a, double b) {
    double m = a > b ? a : b;
    if (m == -INFINITY) return -INFINITY;
    return m + log(exp(a - m) + exp(b - m));
}

TT__DEF tt_tensor *tt_ctc_loss(tt_ctx *ctx, tt_tensor *lp, size_t n_targets, const int *targets, size_t n_lengths,
                               const int *input_lengths, const int *target_lengths, const tt_ctc_opts *opts) {
    const char *op = "ctc_loss";
    tt_ctc_opts o = opts ? *opts : tt_ctc_opts_init();
    tt__loss_run r;
    float *dlp;
    double *alpha, *beta, div = 0;
    size_t T, N, C, n, off, maxL = 0, stride = 0, total = 0;
    int ushape[1];
    if (!tt__in(ctx, op, lp) || !tt__loss_reduction_ok(ctx, op, o.reduction, 0)) return NULL;
    if (!targets || !input_lengths || !target_lengths) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: targets, input_lengths and target_lengths must not be NULL", op);
        return NULL;
    }
    if (lp->ndim != 3) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: log_probs %S must be (T, N, C)", op, lp);
        return NULL;
    }
    T = (size_t)lp->shape[0]; N = (size_t)lp->shape[1]; C = (size_t)lp->shape[2];
    if (o.blank < 0 || (size_t)o.blank >= C) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: blank %d must be in [0, %z)", op, o.blank, C);
        return NULL;
    }
    if (o.targets_padded != 0 && o.targets_padded != 1) {
        tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: targets_padded must be 0 (concatenated) or 1 (padded rows), got %d", op,
                 o.targets_padded);
        return NULL;
    }
    if (!tt__loss_count_ok(ctx, op, "input_lengths / target_lengths", n_lengths, N, lp)) return NULL;
    if (o.targets_padded) {
        if (N == 0 ? n_targets != 0 : n_targets % N != 0) {
            tt__fail(ctx, TT_ERR_SHAPE, "%s: padded targets hold %z labels, not a whole number of rows for %z samples", op,
                     n_targets, N);
            return NULL;
        }
        stride = N ? n_targets / N : 0;
    }
    for (n = 0; n < N; n++) {
        if (input_lengths[n] < 0 || (size_t)input_lengths[n] > T) {
            tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: sample %z: input length %d must be in [0, %z]", op, n, input_lengths[n], T);
            return NULL;
        }
        if (target_lengths[n] < 0 || (o.targets_padded && (size_t)target_lengths[n] > stride)) {
            if (o.targets_padded)
                tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: sample %z: target length %d must be in [0, %z] (the padded row "
                         "length)", op, n, target_lengths[n], stride);
            else
                tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: sample %z: target length %d must be >= 0", op, n, target_lengths[n]);
            return NULL;
        }
        total += (size_t)target_lengths[n];
    }
    if (!o.targets_padded && total != n_targets) {
        tt__fail(ctx, TT_ERR_SHAPE, "%s: concatenated targets hold %z labels, target_lengths add up to %z", op, n_targets,
                 total);
        return NULL;
    }
    for (n = 0, off = 0; n < N; n++) {
        int L = target_lengths[n], j;
        if (o.targets_padded) off = n * stride;
        for (j = 0; j < L; j++)
            if (targets[off + (size_t)j] < 0 || (size_t)targets[off + (size_t)j] >= C) {
                tt__fail(ctx, TT_ERR_INDEX, "%s: label %d at position %d of sample %z is out of range for %z classes", op,
                         targets[off + (size_t)j], j, n, C);
                return NULL;
            }
        if (!o.targets_padded) off += (size_t)L;
        if ((size_t)L > maxL) maxL = (size_t)L;
    }
    alpha = (double *)tt__scratch(ctx, op, sizeof(double) * (T * (2 * maxL + 1) + 1));
    beta = (double *)tt__scratch(ctx, op, sizeof(double) * (T * (2 * maxL + 1) + 1));
    if (!alpha || !beta) return NULL;
    ushape[0] = (int)N;
    if (!tt__loss_begin(ctx, op, &r, o.reduction, 1, ushape, 1, N, lp, NULL, NULL)) return NULL;
    dlp = tt__loss_d(ctx, op, &r, 0, lp, lp->numel, C, 1);
    for (n = 0, off = 0; n < N; n++) {
        size_t L = (size_t)target_lengths[n], Sx = 2 * L + 1, Tn = (size_t)input_lengths[n], t, s, c;
        const int *tg;
        double nll, scale;
        int zeroed;
        if (o.targets_padded) off = n * stride;
        tg = targets + off;
        if (!o.targets_padded) off += L;
#define TT__LP(t, c) ((double)lp->data[((t) * N + n) * C + (size_t)(c)])
#define TT__LAB(s) ((s) % 2 == 0 ? o.blank : tg[(s) / 2])
        /* forward: alpha[t][s] = log P(prefix of the extended label l' up to s, at time t) */
        for (t = 0; t < Tn; t++)
            for (s = 0; s < Sx; s++) {
                double a;
                if (t == 0) a = s < 2 ? TT__LP(0, TT__LAB(s)) : -INFINITY;
                else {
                    a = alpha[(t - 1) * Sx + s];
                    if (s >= 1) a = tt__loss_lse2(a, alpha[(t - 1) * Sx + s - 1]);
                    if (s >= 2 && TT__LAB(s) != o.blank && TT__LAB(s) != TT__LAB(s - 2))
                        a = tt__loss_lse2(a, alpha[(t - 1) * Sx + s - 2]);
                    a += TT__LP(t, TT__LAB(s));
                }
                alpha[t * Sx + s] = a;
            }
        if (Tn == 0) nll = L == 0 ? 0.0 : INFINITY;
        else nll = -tt__loss_lse2(alpha[(Tn - 1) * Sx + Sx - 1], Sx > 1 ? alpha[(Tn - 1) * Sx + Sx - 2] : -INFINITY);
        zeroed = o.zero_infinity && nll == INFINITY;
        if (zeroed) nll = 0.0;
        /* MEAN: each loss divided by its target length (at least 1), then the batch mean */
        scale = o.reduction == TT_REDUCTION_MEAN ? 1.0 / (double)(L > 0 ? L : 1) : 1.0;
        r.l[n] = (float)(nll * scale);
        if (!dlp || Tn == 0 || zeroed) continue; /* no gradient: none asked, empty input, or a zeroed loss */
        if (nll == INFINITY) { /* impossible alignment, zero_infinity off: NaN for t < Tn, as torch */
            for (t = 0; t < Tn; t++)
                for (c = 0; c < C; c++) dlp[(t * N + n) * C + c] = NAN;
            continue;
        }
        /* backward: beta[t][s] = log P(suffix of l' from s, from time t) (includes lp at t) */
        for (t = Tn; t-- > 0;)
            for (s = Sx; s-- > 0;) {
                double b;
                if (t == Tn - 1) b = s + 2 >= Sx ? TT__LP(t, TT__LAB(s)) : -INFINITY;
                else {
                    b = beta[(t + 1) * Sx + s];
                    if (s + 1 < Sx) b = tt__loss_lse2(b, beta[(t + 1) * Sx + s + 1]);
                    if (s + 2 < Sx && TT__LAB(s) != o.blank && TT__LAB(s + 2) != TT__LAB(s))
                        b = tt__loss_lse2(b, beta[(t + 1) * Sx + s + 2]);
                    b += TT__LP(t, TT__LAB(s));
                }
                beta[t * Sx + s] = b;
            }
        /* torch's gradient: exp(lp) - exp(log(sum_{s: l'_s = c} alpha beta) + nll - lp) */
        for (t = 0; t < Tn; t++) {
            float *g = dlp + (t * N + n) * C;
            for (c = 0; c < C; c++) g[c] = (float)(exp(TT__LP(t, c)) * scale);
            for (c = 0; c < C; c++) {
                double lab = -INFINITY;
                for (s = 0; s < Sx; s++)
                    if ((size_t)TT__LAB(s) == c) lab = tt__loss_lse2(lab, alpha[t * Sx + s] + beta[t * Sx + s]);
                if (lab != -INFINITY) g[c] -= (float)(exp(lab + nll - TT__LP(t, c)) * scale);
            }
        }
#undef TT__LP
#undef TT__LAB
    }
    if (o.reduction == TT_REDUCTION_MEAN) div = (double)N;
    return tt__loss_end(ctx, &r, div);
}
#endif /* TT_NO_CTC */


/* ==================================================================================== >>optim */

/* Every update below follows torch's `_single_tensor_<name>` code, operation by operation, in
   float32; scalar factors (bias corrections, step sizes) are computed in double like Python floats
   and rounded to float where torch hands them to a float kernel.
   Layout: hyperparameter defaults and checks, the scalar reference update of each optimizer, the
   SIMD twins, then tt__optim_table (one row per optimizer) and the generic init / step. */

#define TT__OPTIM_MAGIC 0x504f5454u   /* "TTOP" */
#define TT__OPTIM_VERSION 1u
#define TT__OPTIM_INIT_MARK 0x4f505444u /* tt_optim_desc.init_mark */

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

/* ---- defaults: torch's constructor signatures (timm / automl for LAMB and Lion) ---- */

static void tt__def_sgd(tt_optim_hparams *h) { h->lr = 1e-3; }
static void tt__def_adam(tt_optim_hparams *h) { h->lr = 1e-3; h->beta1 = 0.9f; h->beta2 = 0.999f; h->eps = 1e-8f; }
static void tt__def_adamw(tt_optim_hparams *h) { tt__def_adam(h); h->weight_decay = 1e-2f; h->decoupled_weight_decay = 1; }
static void tt__def_adagrad(tt_optim_hparams *h) { h->lr = 1e-2; h->eps = 1e-10f; }
static void tt__def_rmsprop(tt_optim_hparams *h) { h->lr = 1e-2; h->alpha = 0.99f; h->eps = 1e-8f; }
static void tt__def_adadelta(tt_optim_hparams *h) { h->lr = 1.0; h->rho = 0.9f; h->eps = 1e-6f; }
static void tt__def_adamax(tt_optim_hparams *h) { tt__def_adam(h); h->lr = 2e-3; }
static void tt__def_nadam(tt_optim_hparams *h) { tt__def_adam(h); h->lr = 2e-3; h->momentum_decay = 4e-3f; }
static void tt__def_radam(tt_optim_hparams *h) { tt__def_adam(h); }
static void tt__def_asgd(tt_optim_hparams *h) { h->lr = 1e-2; h->lambd = 1e-4f; h->alpha = 0.75f; h->t0 = 1e6f; }
static void tt__def_rprop(tt_optim_hparams *h) {
    h->lr = 1e-2; h->eta_minus = 0.5f; h->eta_plus = 1.2f; h->step_min = 1e-6f; h->step_max = 50.0f;
}
static void tt__def_lbfgs(tt_optim_hparams *h) { h->lr = 1.0; }
static void tt__def_adafactor(tt_optim_hparams *h) {
    h->lr = 1e-2; h->beta2_decay = -0.8f; h->eps = FLT_EPSILON; h->eps2 = 1e-3f; h->d = 1.0f;
}
static void tt__def_sparse_adam(tt_optim_hparams *h) { tt__def_adam(h); }
static void tt__def_muon(tt_optim_hparams *h) {
    h->lr = 1e-3; h->weight_decay = 0.1f; h->momentum = 0.95f; h->nesterov = 1; h->eps = 1e-7f;
    h->ns_a = 3.4445f; h->ns_b = -4.7750f; h->ns_c = 2.0315f; h->ns_steps = 5;
}
static void tt__def_lion(tt_optim_hparams *h) { h->lr = 1e-4; h->beta1 = 0.9f; h->beta2 = 0.99f; }
static void tt__def_lamb(tt_optim_hparams *h) {
    tt__def_adam(h); h->eps = 1e-6f; h->weight_decay = 0.01f; h->max_grad_norm = 1.0f; h->bias_correction = 1;
}

/* ---- checks: torch's constructor ValueErrors -> TT_ERR_INVALID_ARGS ---- */

#define TT__BAD(cond, what, val)                                                                           \
    if (cond)                                                                                              \
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_init (%s, group %d): invalid %s: %g", nm, grp, \
                        what, (double)(val))
#define TT__BAD_SWITCH(f) TT__BAD(h->f != 0 && h->f != 1, #f " (must be 0 or 1)", h->f)

/* Every optimizer. */
static tt_result tt__chk_common(tt_ctx *ctx, const char *nm, int grp, const tt_optim_hparams *h) {
    TT__BAD(!(h->lr >= 0) || h->lr > FLT_MAX, "learning rate (lr must be >= 0)", h->lr);
    TT__BAD(!(h->weight_decay >= 0) || h->weight_decay > FLT_MAX, "weight_decay (must be >= 0)", h->weight_decay);
    TT__BAD(!(h->eps >= 0) || h->eps > FLT_MAX, "eps (must be >= 0)", h->eps);
    TT__BAD_SWITCH(nesterov); TT__BAD_SWITCH(centered); TT__BAD_SWITCH(amsgrad);
    TT__BAD_SWITCH(decoupled_weight_decay); TT__BAD_SWITCH(maximize); TT__BAD_SWITCH(trust_clip);
    TT__BAD_SWITCH(always_adapt); TT__BAD_SWITCH(bias_correction);
    return TT_OK;
}
static tt_result tt__chk_sgd(tt_ctx *ctx, const char *nm, int grp, const tt_optim_hparams *h, const tt_optim_desc *desc) {
    (void)desc;
    TT__BAD(!(h->momentum >= 0), "momentum (must be >= 0)", h->momentum);
    TT__BAD(!(h->dampening >= 0) || h->dampening > FLT_MAX, "dampening (must be >= 0)", h->dampening);
    TT__BAD(h->nesterov && !(h->momentum > 0), "nesterov (requires momentum > 0), momentum", h->momentum);
    TT__BAD(h->nesterov && h->dampening != 0, "nesterov (requires dampening = 0), dampening", h->dampening);
    return TT_OK;
}
static tt_result tt__chk_betas(tt_ctx *ctx, const char *nm, int grp, const tt_optim_hparams *h) {
    TT__BAD(!(h->beta1 >= 0 && h->beta1 < 1), "beta1 (must be in [0, 1))", h->beta1);
    TT__BAD(!(h->beta2 >= 0 && h->beta2 < 1), "beta2 (must be in [0, 1))", h->beta2);
    return TT_OK;
}
static tt_result tt__chk_adam(tt_ctx *ctx, const char *nm, int grp, const tt_optim_hparams *h, const tt_optim_desc *desc) {
    (void)desc;
    return tt__chk_betas(ctx, nm, grp, h);
}
static tt_result tt__chk_adamw(tt_ctx *ctx, const char *nm, int grp, const tt_optim_hparams *h, const tt_optim_desc *desc) {
    (void)desc;
    if (!h->decoupled_weight_decay)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS,
                        "tt_optim_init (AdamW, group %d): decoupled_weight_decay cannot be 0 (use Adam for L2 decay)", grp);
    return tt__chk_betas(ctx, nm, grp, h);
}
static tt_result tt__chk_nadam(tt_ctx *ctx, const char *nm, int grp, const tt_optim_hparams *h, const tt_optim_desc *desc) {
    (void)desc;
    TT__BAD(!(h->momentum_decay >= 0), "momentum_decay (must be >= 0)", h->momentum_decay);
    return tt__chk_betas(ctx, nm, grp, h);
}
static tt_result tt__chk_sparse_adam(tt_ctx *ctx, const char *nm, int grp, const tt_optim_hparams *h, const tt_optim_desc *desc) {
    (void)desc;
    TT__BAD(h->weight_decay != 0, "weight_decay (SparseAdam has none)", h->weight_decay);
    return tt__chk_betas(ctx, nm, grp, h);
}
static tt_result tt__chk_lamb(tt_ctx *ctx, const char *nm, int grp, const tt_optim_hparams *h, const tt_optim_desc *desc) {
    (void)desc;
    TT__BAD(!(h->max_grad_norm >= 0), "max_grad_norm (must be >= 0; INFINITY: no clipping)", h->max_grad_norm);
    return tt__chk_betas(ctx, nm, grp, h);
}
static tt_result tt__chk_lion(tt_ctx *ctx, const char *nm, int grp, const tt_optim_hparams *h, const tt_optim_desc *desc) {
    (void)desc;
    TT__BAD(!(h->beta1 >= 0 && h->beta1 <= 1), "beta1 (must be in [0, 1])", h->beta1);
    TT__BAD(!(h->beta2 >= 0 && h->beta2 <= 1), "beta2 (must be in [0, 1])", h->beta2);
    return TT_OK;
}
static tt_result tt__chk_adagrad(tt_ctx *ctx, const char *nm, int grp, const tt_optim_hparams *h, const tt_optim_desc *desc) {
    (void)desc;
    TT__BAD(!(h->lr_decay >= 0), "lr_decay (must be >= 0)", h->lr_decay);
    TT__BAD(!(h->initial_accumulator_value >= 0), "initial_accumulator_value (must be >= 0)", h->initial_accumulator_value);
    return TT_OK;
}
static tt_result tt__chk_rmsprop(tt_ctx *ctx, const char *nm, int grp, const tt_optim_hparams *h, const tt_optim_desc *desc) {
    (void)desc;
    TT__BAD(!(h->momentum >= 0), "momentum (must be >= 0)", h->momentum);
    TT__BAD(!(h->alpha >= 0), "alpha (must be >= 0)", h->alpha);
    return TT_OK;
}
static tt_result tt__chk_adadelta(tt_ctx *ctx, const char *nm, int grp, const tt_optim_hparams *h, const tt_optim_desc *desc) {
    (void)desc;
    TT__BAD(!(h->rho >= 0 && h->rho <= 1), "rho (must be in [0, 1])", h->rho);
    return TT_OK;
}
static tt_result tt__chk_asgd(tt_ctx *ctx, const char *nm, int grp, const tt_optim_hparams *h, const tt_optim_desc *desc) {
    (void)desc;
    TT__BAD(!(h->lambd >= 0) || h->lambd > FLT_MAX, "lambd (must be >= 0)", h->lambd);
    TT__BAD(!(h->alpha == h->alpha) || h->alpha > FLT_MAX || h->alpha < -FLT_MAX, "alpha (must be finite)", h->alpha);
    TT__BAD(!(h->t0 == h->t0), "t0 (must not be NaN)", h->t0);
    return TT_OK;
}
static tt_result tt__chk_rprop(tt_ctx *ctx, const char *nm, int grp, const tt_optim_hparams *h, const tt_optim_desc *desc) {
    (void)desc;
    TT__BAD(!(h->eta_minus > 0 && h->eta_minus < 1), "eta_minus (need 0 < eta_minus < 1)", h->eta_minus);
    TT__BAD(!(h->eta_plus > 1) || h->eta_plus > FLT_MAX, "eta_plus (need eta_plus > 1)", h->eta_plus);
    TT__BAD(!(h->step_min >= 0), "step_min (must be >= 0)", h->step_min);
    TT__BAD(!(h->step_max >= h->step_min), "step_max (must be >= step_min)", h->step_max);
    return TT_OK;
}
static tt_result tt__chk_adafactor(tt_ctx *ctx, const char *nm, int grp, const tt_optim_hparams *h, const tt_optim_desc *desc) {
    (void)desc;
    TT__BAD(!(h->beta2_decay <= 0), "beta2_decay (must be <= 0)", h->beta2_decay);
    TT__BAD(!(h->eps2 >= 0), "eps2 (must be >= 0)", h->eps2);
    TT__BAD(!(h->d >= 1) || h->d > FLT_MAX, "d, the clipping threshold (must be >= 1)", h->d);
    return TT_OK;
}
static tt_result tt__chk_muon(tt_ctx *ctx, const char *nm, int grp, const tt_optim_hparams *h, const tt_optim_desc *desc) {
    (void)desc;
    TT__BAD(!(h->momentum >= 0), "momentum (must be >= 0)", h->momentum);
    TT__BAD(h->ns_steps < 0 || h->ns_steps >= 100, "ns_steps (must be in 0..99)", h->ns_steps);
    TT__BAD(h->maximize, "maximize (Muon has no maximize)", h->maximize);
    TT__BAD((int)h->muon_adjust < 0 || h->muon_adjust > TT_MUON_ADJUST_MATCH_RMS_ADAMW, "muon_adjust", (int)h->muon_adjust);
    return TT_OK;
}
static tt_result tt__chk_lbfgs(tt_ctx *ctx, const char *nm, int grp, const tt_optim_hparams *h, const tt_optim_desc *desc) {
    (void)h;
    TT__BAD(desc->max_iter < 1, "max_iter (must be >= 1)", desc->max_iter);
    TT__BAD(desc->max_eval < 1, "max_eval (must be >= 1)", desc->max_eval);
    TT__BAD(desc->history_size < 1, "history_size (must be >= 1)", desc->history_size);
    TT__BAD(!(desc->tolerance_grad >= 0), "tolerance_grad (must be >= 0)", desc->tolerance_grad);
    TT__BAD(!(desc->tolerance_change >= 0), "tolerance_change (must be >= 0)", desc->tolerance_change);
    TT__BAD(desc->strong_wolfe != 0 && desc->strong_wolfe != 1, "strong_wolfe (must be 0 or 1)", desc->strong_wolfe);
    return TT_OK;
}
#undef TT__BAD
#undef TT__BAD_SWITCH

/* Whether the optimizer updates parameter p (its group is in group_mask). */
static int tt__optim_covers(const tt_optim *opt, const tt_tensor *p) {
    return p->group >= 0 && p->group < TT_OPTIM_MAX_GROUPS && ((opt->group_mask >> p->group) & 1u);
}

/* ---- element-wise updates: one parameter tensor (x, g: n floats, s0..s2 its state) ---- */

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
    const tt_tensor *p;          /* the parameter (shape: Adafactor, SparseAdam, Muon) */
    const tt_optim_scalars *sc;  /* per-group scalars (NAdam, ASGD) */
    float clip;                  /* LAMB: global gradient-norm divisor (1: none) */
} tt__optim_job;

static tt_result tt__upd_sgd(tt_ctx *ctx, const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    float mom = h->momentum, damp1 = (float)(1.0 - (double)h->dampening), lr = (float)h->lr;
    size_t i;
    (void)ctx;
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
    return TT_OK;
}

/* Adam, AdamW (decoupled), with amsgrad. The scalars are shared with the SIMD twin. */
typedef struct tt__adam_k { float step_size, bc2s, w1, b2, w2, decay; } tt__adam_k;
static tt__adam_k tt__adam_scalars(const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    double bc1 = 1.0 - pow((double)h->beta1, (double)j->t), bc2 = 1.0 - pow((double)h->beta2, (double)j->t);
    tt__adam_k k;
    k.step_size = (float)(h->lr / bc1);
    k.bc2s = (float)sqrt(bc2);
    k.w1 = (float)(1.0 - (double)h->beta1);
    k.b2 = h->beta2;
    k.w2 = (float)(1.0 - (double)h->beta2);
    k.decay = (float)(1.0 - h->lr * (double)j->wd);
    return k;
}
static tt_result tt__upd_adam(tt_ctx *ctx, const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    tt__adam_k k = tt__adam_scalars(j);
    size_t i;
    (void)ctx;
    for (i = 0; i < j->n; i++) {
        float g = j->gsign * j->g[i], m, v, den;
        if (j->wd != 0) {
            if (h->decoupled_weight_decay) j->x[i] *= k.decay;
            else g = g + j->wd * j->x[i];
        }
        m = j->s0[i] = tt__lerp(j->s0[i], g, k.w1);
        v = j->s1[i] = j->s1[i] * k.b2 + k.w2 * (g * g);
        if (h->amsgrad) v = j->s2[i] = TT__MAX(j->s2[i], v); /* max over the raw second moment */
        den = sqrtf(v) / k.bc2s + h->eps;
        j->x[i] = j->x[i] + (-k.step_size) * m / den;
    }
    return TT_OK;
}

static tt_result tt__upd_adagrad(tt_ctx *ctx, const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    float clr = (float)(h->lr / (1.0 + (double)(j->t - 1) * (double)h->lr_decay));
    size_t i;
    (void)ctx;
    if (j->t == 1)
        for (i = 0; i < j->n; i++) j->s0[i] = h->initial_accumulator_value;
    for (i = 0; i < j->n; i++) {
        float g = j->gsign * j->g[i], s;
        if (j->wd != 0) g = g + j->wd * j->x[i];
        s = j->s0[i] = j->s0[i] + g * g;
        j->x[i] = j->x[i] + (-clr) * g / (sqrtf(s) + h->eps);
    }
    return TT_OK;
}

static tt_result tt__upd_rmsprop(tt_ctx *ctx, const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    float a = h->alpha, wa = (float)(1.0 - (double)h->alpha), lr = (float)h->lr;
    size_t i;
    (void)ctx;
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
    return TT_OK;
}

static tt_result tt__upd_adadelta(tt_ctx *ctx, const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    float rho = h->rho, w = (float)(1.0 - (double)h->rho), lr = (float)h->lr;
    size_t i;
    (void)ctx;
    for (i = 0; i < j->n; i++) {
        float g = j->gsign * j->g[i], v, delta;
        if (j->wd != 0) g = g + j->wd * j->x[i];
        v = j->s0[i] = j->s0[i] * rho + w * (g * g);
        delta = sqrtf(j->s1[i] + h->eps) / sqrtf(v + h->eps) * g;
        j->s1[i] = j->s1[i] * rho + w * (delta * delta);
        j->x[i] = j->x[i] + (-lr) * delta;
    }
    return TT_OK;
}

static tt_result tt__upd_adamax(tt_ctx *ctx, const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    float clr = (float)(h->lr / (1.0 - pow((double)h->beta1, (double)j->t)));
    float w1 = (float)(1.0 - (double)h->beta1);
    size_t i;
    (void)ctx;
    for (i = 0; i < j->n; i++) {
        float g = j->gsign * j->g[i], m, u;
        if (j->wd != 0) g = g + j->wd * j->x[i];
        m = j->s0[i] = tt__lerp(j->s0[i], g, w1);
        u = j->s1[i] = TT__MAX(j->s1[i] * h->beta2, fabsf(g) + h->eps); /* eps inside the max */
        j->x[i] = j->x[i] + (-clr) * m / u;
    }
    return TT_OK;
}

/* NAdam; mu_product is a float32 per group (torch keeps a float32 0-d tensor per parameter). */
static tt_result tt__upd_nadam(tt_ctx *ctx, const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    float mu_product = j->sc->mu_product[j->grp];
    double t = (double)j->t, bc2 = 1.0 - pow((double)h->beta2, t);
    double mu = (double)h->beta1 * (1.0 - 0.5 * pow(0.96, t * (double)h->momentum_decay));
    double mu_next = (double)h->beta1 * (1.0 - 0.5 * pow(0.96, (t + 1.0) * (double)h->momentum_decay));
    double mpn = (double)mu_product * mu_next;
    float c_g = (float)(-h->lr * (1.0 - mu) / (1.0 - (double)mu_product));
    float c_m = (float)((-h->lr * mu_next) / (1.0 - mpn));
    float w1 = (float)(1.0 - (double)h->beta1), w2 = (float)(1.0 - (double)h->beta2), fbc2 = (float)bc2;
    float decay = (float)(1.0 - h->lr * (double)j->wd);
    size_t i;
    (void)ctx;
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
    return TT_OK;
}
/* NAdam's per-step scalar: mu_product *= mu_t (every group). */
static void tt__pre_nadam(tt_ctx *ctx, tt_optim *opt, tt__optim_job *proto) {
    int g;
    (void)ctx; (void)proto;
    for (g = 0; g < TT_OPTIM_MAX_GROUPS; g++) {
        const tt_optim_hparams *h = &opt->hp[g];
        double mu = (double)h->beta1 * (1.0 - 0.5 * pow(0.96, (double)opt->sc.step * (double)h->momentum_decay));
        opt->sc.mu_product[g] = opt->sc.mu_product[g] * (float)mu;
    }
}

static tt_result tt__upd_radam(tt_ctx *ctx, const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    double t = (double)j->t, b2 = (double)h->beta2;
    double bc1 = 1.0 - pow((double)h->beta1, t), bc2 = 1.0 - pow(b2, t);
    double rho_inf = 2.0 / (1.0 - b2) - 1.0, rho_t = rho_inf - 2.0 * t * pow(b2, t) / bc2;
    int rect = rho_t > 5.0;
    float fr = rect ? (float)sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) : 1.0f;
    float fbc1 = (float)bc1, sbc2 = (float)sqrt(bc2), lr = (float)h->lr;
    float w1 = (float)(1.0 - (double)h->beta1), w2 = (float)(1.0 - b2);
    float decay = (float)(1.0 - h->lr * (double)j->wd);
    size_t i;
    (void)ctx;
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
    return TT_OK;
}

/* ASGD; eta and mu are float32 per group like torch's 0-d tensors; s0 = ax (the average). */
static tt_result tt__upd_asgd(tt_ctx *ctx, const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    float eta = j->sc->eta[j->grp], mu = j->sc->mu[j->grp];
    float decay = (float)(1.0 - (double)h->lambd * (double)eta);
    size_t i;
    (void)ctx;
    for (i = 0; i < j->n; i++) {
        float g = j->gsign * j->g[i];
        if (j->wd != 0) g = g + j->wd * j->x[i];
        j->x[i] = j->x[i] * decay;
        j->x[i] = j->x[i] + (-eta) * g;
        if (mu != 1.0f) j->s0[i] = j->s0[i] + (j->x[i] - j->s0[i]) * mu;
        else j->s0[i] = j->x[i];
    }
    return TT_OK;
}
/* ASGD's per-step scalars: eta = lr, mu = 1 on the first step ... */
static void tt__pre_asgd(tt_ctx *ctx, tt_optim *opt, tt__optim_job *proto) {
    int g;
    (void)ctx; (void)proto;
    if (opt->sc.step != 1) return;
    for (g = 0; g < TT_OPTIM_MAX_GROUPS; g++) { opt->sc.eta[g] = (float)opt->hp[g].lr; opt->sc.mu[g] = 1.0f; }
}
/* ... and after it eta_t = lr / (1 + lambd lr t)^alpha, mu_t = 1 / max(1, t - t0), as float32. */
static void tt__post_asgd(tt_optim *opt) {
    int g;
    for (g = 0; g < TT_OPTIM_MAX_GROUPS; g++) {
        const tt_optim_hparams *h = &opt->hp[g];
        double t = (double)opt->sc.step;
        opt->sc.eta[g] = (float)(h->lr / pow(1.0 + (double)h->lambd * h->lr * t, (double)h->alpha));
        opt->sc.mu[g] = (float)(1.0 / TT__MAX(1.0, t - (double)h->t0));
    }
}

/* Rprop (iRprop-): s0 = previous gradient, s1 = per-element step size (starts at lr). */
static tt_result tt__upd_rprop(tt_ctx *ctx, const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    size_t i;
    (void)ctx;
    if (j->t == 1)
        for (i = 0; i < j->n; i++) j->s1[i] = (float)h->lr;
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
    return TT_OK;
}

/* SparseAdam: a "row" (slice along dim 0; the whole tensor for a scalar) whose gradient is all
   zero is absent from the sparse gradient: its moments and values are left alone ("lazy Adam"). */
static tt_result tt__upd_sparse_adam(tt_ctx *ctx, const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    const tt_tensor *p = j->p;
    size_t rows = p->ndim > 0 ? (size_t)p->shape[0] : 1, rl = rows ? j->n / rows : 0, r, i;
    double bc1 = 1.0 - pow((double)h->beta1, (double)j->t), bc2 = 1.0 - pow((double)h->beta2, (double)j->t);
    float step_size = (float)(h->lr * sqrt(bc2) / bc1);
    float w1 = (float)(1.0 - (double)h->beta1), w2 = (float)(1.0 - (double)h->beta2);
    (void)ctx;
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
    return TT_OK;
}

/* Lion (google/automl lion_pytorch.py): sign of the interpolated momentum, momentum after. */
static tt_result tt__upd_lion(tt_ctx *ctx, const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    float decay = (float)(1.0 - h->lr * (double)j->wd), lr = (float)h->lr;
    float w1 = (float)(1.0 - (double)h->beta1), w2 = (float)(1.0 - (double)h->beta2);
    size_t i;
    (void)ctx;
    for (i = 0; i < j->n; i++) {
        float g = j->gsign * j->g[i];
        float c = j->s0[i] * h->beta1 + g * w1;
        j->x[i] = j->x[i] * decay;
        j->x[i] = j->x[i] + (-lr) * tt__signf(c);
        j->s0[i] = j->s0[i] * h->beta2 + g * w2;
    }
    return TT_OK;
}

/* LAMB (timm lamb.py); j->clip = the global-norm divisor (1 if no clipping). Two passes over the
   tensor: the Adam direction u is recomputed from the updated moments rather than stored. */
static tt_result tt__upd_lamb(tt_ctx *ctx, const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    double t = (double)j->t;
    float bc1 = h->bias_correction ? (float)(1.0 - pow((double)h->beta1, t)) : 1.0f;
    float sbc2 = h->bias_correction ? (float)sqrt(1.0 - pow((double)h->beta2, t)) : 1.0f;
    float w1 = (float)(1.0 - (double)h->beta1), w2 = (float)(1.0 - (double)h->beta2), ratio = 1.0f, lr = (float)h->lr;
    double wn = 0, un = 0;
    size_t i;
    (void)ctx;
    for (i = 0; i < j->n; i++) {
        float g = j->gsign * j->g[i] / j->clip;
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
        j->x[i] = j->x[i] + (-lr) * u;
    }
    return TT_OK;
}
/* LAMB's per-step scalar (timm): one global gradient norm over every covered parameter;
   gradients are divided by norm / max_grad_norm when the norm exceeds max_grad_norm. */
static void tt__pre_lamb(tt_ctx *ctx, tt_optim *opt, tt__optim_job *proto) {
    double s = 0;
    float gn, mx = opt->hp[0].max_grad_norm;
    int ti;
    for (ti = 0; ti < opt->n_tensors; ti++) {
        const tt_tensor *p = &ctx->params[ti];
        size_t i;
        if (!tt__optim_covers(opt, p)) continue;
        for (i = 0; i < p->numel; i++) s += (double)ctx->param_grad[p->offset + i] * ctx->param_grad[p->offset + i];
    }
    gn = (float)sqrt(s);
    if (gn > mx) proto->clip = gn / mx;
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

static tt_result tt__upd_adafactor(tt_ctx *ctx, const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    const tt_tensor *p = j->p;
    double t = (double)j->t, w = pow(t, (double)h->beta2_decay), rho = TT__MIN(h->lr, 1.0 / sqrt(t));
    double xn = 0, un = 0, alpha, denom;
    float fw = (float)w, eps1 = h->eps;
    size_t i, nr = 0, nc = 0, nb = 1, b, r, c;
    float rmean_local[1];
    float *rmean = rmean_local;
    for (i = 0; i < j->n; i++) xn += (double)j->x[i] * j->x[i];
    alpha = TT__MAX((double)h->eps2, (double)(float)sqrt(xn) / sqrt((double)(j->n ? j->n : 1))) * rho;
    if (j->wd != 0) {
        float decay = (float)(1.0 - h->lr * (double)j->wd);
        for (i = 0; i < j->n; i++) j->x[i] *= decay;
    }
    if (p->ndim > 1) {
        nr = (size_t)p->shape[p->ndim - 2];
        nc = (size_t)p->shape[p->ndim - 1];
        nb = (nr && nc) ? j->n / (nr * nc) : 0;
        if (nb > 1) {
            /* per-batch mean of R: a few floats of scratch (rewound by the caller) */
            rmean = tt__scratch_floats(ctx, "tt_optim_step (Adafactor)", nb);
            if (!rmean) return ctx->err;
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
    return TT_OK;
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
static tt_result tt__upd_muon(tt_ctx *ctx, const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    const tt_tensor *p = j->p;
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
        float decay = (float)(1.0 - h->lr * (double)j->wd), a = (float)(-h->lr * adj);
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

/* ---- SIMD twins ----
   4-wide SSE2 versions of reference updates, with exactly the reference's operations (see the
   SIMD block of >>ops_basic: IEEE add, mul, div and sqrt round the same), so results are
   bit-identical.
   A twin processes a prefix of the tensor (a multiple of 4 elements) and returns its length; the
   reference then does the rest. It may return 0 for configurations it does not cover. Only
   element-wise updates (no per-tensor reduction) can have one. Registered in tt__optim_table
   (column vec); tests/test_trainbench.c compares every registered pair bit for bit. */
#ifdef TT__VEC_SSE
static size_t tt__vec_sgd(const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    float mom = h->momentum, damp1 = (float)(1.0 - (double)h->dampening), lr = (float)h->lr;
    float *x = j->x, *s0 = j->s0;
    const float *gp = j->g;
    int wd = j->wd != 0, first = j->t == 1, nes = h->nesterov;
    __m128 vgs = _mm_set1_ps(j->gsign), vwd = _mm_set1_ps(j->wd), vmom = _mm_set1_ps(mom);
    __m128 vdamp = _mm_set1_ps(damp1), vlr = _mm_set1_ps(-lr);
    size_t i = 0;
    for (; i + 4 <= j->n; i += 4) {
        __m128 g = _mm_mul_ps(vgs, _mm_loadu_ps(gp + i)), xv = _mm_loadu_ps(x + i);
        if (wd) g = _mm_add_ps(g, _mm_mul_ps(vwd, xv));
        if (mom != 0) {
            __m128 b = first ? g : _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(s0 + i), vmom), _mm_mul_ps(vdamp, g));
            _mm_storeu_ps(s0 + i, b);
            g = nes ? _mm_add_ps(g, _mm_mul_ps(vmom, b)) : b;
        }
        _mm_storeu_ps(x + i, _mm_add_ps(xv, _mm_mul_ps(vlr, g)));
    }
    return i;
}

/* Adam / AdamW without amsgrad. */
static size_t tt__vec_adam(const tt__optim_job *j) {
    const tt_optim_hparams *h = j->h;
    tt__adam_k k;
    float *x = j->x, *s0 = j->s0, *s1 = j->s1;
    const float *gp = j->g;
    int dec, cpl, near;
    __m128 vgs, vwd, vdec, vw1, v1w1, vb2, vw2, vbc, veps, vstep;
    size_t i = 0;
    if (h->amsgrad) return 0;
    k = tt__adam_scalars(j);
    dec = j->wd != 0 && h->decoupled_weight_decay;
    cpl = j->wd != 0 && !h->decoupled_weight_decay;
    near = k.w1 < 0.5f && k.w1 > -0.5f; /* tt__lerp's branch, fixed for the loop */
    vgs = _mm_set1_ps(j->gsign); vwd = _mm_set1_ps(j->wd); vdec = _mm_set1_ps(k.decay);
    vw1 = _mm_set1_ps(k.w1); v1w1 = _mm_set1_ps(1.0f - k.w1); vb2 = _mm_set1_ps(k.b2); vw2 = _mm_set1_ps(k.w2);
    vbc = _mm_set1_ps(k.bc2s); veps = _mm_set1_ps(h->eps); vstep = _mm_set1_ps(-k.step_size);
    for (; i + 4 <= j->n; i += 4) {
        __m128 g = _mm_mul_ps(vgs, _mm_loadu_ps(gp + i)), xv = _mm_loadu_ps(x + i), a, m, v, den;
        if (dec) xv = _mm_mul_ps(xv, vdec);
        if (cpl) g = _mm_add_ps(g, _mm_mul_ps(vwd, xv));
        a = _mm_loadu_ps(s0 + i);
        m = near ? _mm_add_ps(a, _mm_mul_ps(vw1, _mm_sub_ps(g, a))) : _mm_sub_ps(g, _mm_mul_ps(_mm_sub_ps(g, a), v1w1));
        v = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(s1 + i), vb2), _mm_mul_ps(vw2, _mm_mul_ps(g, g)));
        den = _mm_add_ps(_mm_div_ps(_mm_sqrt_ps(v), vbc), veps);
        _mm_storeu_ps(s0 + i, m);
        _mm_storeu_ps(s1 + i, v);
        _mm_storeu_ps(x + i, _mm_add_ps(xv, _mm_div_ps(_mm_mul_ps(vstep, m), den)));
    }
    return i;
}
#define TT__VEC(f) f
#else
#define TT__VEC(f) NULL
#endif

/* ---- the optimizer table ---- */

/* What a momentum-cycling schedule (OneCycleLR, CyclicLR) writes (torch: "momentum" in
   optimizer.defaults, else beta1 of "betas"). */
enum { TT__MOM_NONE, TT__MOM_MOMENTUM, TT__MOM_BETA1 };

typedef struct tt__optim_row {
    tt_optim_kind kind;   /* must equal the row's index (checked at init) */
    const char *name;
    void (*defaults)(tt_optim_hparams *h);
    tt_result (*check)(tt_ctx *ctx, const char *nm, int grp, const tt_optim_hparams *h, const tt_optim_desc *desc);
    int n_state;          /* state arrays of n floats (LBFGS: its own layout) */
    int momentum_field;   /* TT__MOM_* */
    void (*prestep)(tt_ctx *ctx, tt_optim *opt, tt__optim_job *proto); /* per-step scalars, or NULL */
    tt_result (*update)(tt_ctx *ctx, const tt__optim_job *j);          /* one tensor; NULL: closure only */
    size_t (*vec)(const tt__optim_job *j);                             /* SIMD twin of update, or NULL */
    void (*poststep)(tt_optim *opt);                                   /* after all tensors, or NULL */
} tt__optim_row;

static const tt__optim_row tt__optim_table[] = {
    {(tt_optim_kind)0, "?", NULL, NULL, 0, TT__MOM_NONE, NULL, NULL, NULL, NULL},
    {TT_OPTIM_SGD, "SGD", tt__def_sgd, tt__chk_sgd, 1, TT__MOM_MOMENTUM, NULL, tt__upd_sgd, TT__VEC(tt__vec_sgd), NULL},
    {TT_OPTIM_ADAM, "Adam", tt__def_adam, tt__chk_adam, 3, TT__MOM_BETA1, NULL, tt__upd_adam, TT__VEC(tt__vec_adam), NULL},
    {TT_OPTIM_ADAMW, "AdamW", tt__def_adamw, tt__chk_adamw, 3, TT__MOM_BETA1, NULL, tt__upd_adam, TT__VEC(tt__vec_adam), NULL},
    {TT_OPTIM_ADAGRAD, "Adagrad", tt__def_adagrad, tt__chk_adagrad, 1, TT__MOM_NONE, NULL, tt__upd_adagrad, NULL, NULL},
    {TT_OPTIM_RMSPROP, "RMSprop", tt__def_rmsprop, tt__chk_rmsprop, 3, TT__MOM_MOMENTUM, NULL, tt__upd_rmsprop, NULL, NULL},
    {TT_OPTIM_ADADELTA, "Adadelta", tt__def_adadelta, tt__chk_adadelta, 2, TT__MOM_NONE, NULL, tt__upd_adadelta, NULL, NULL},
    {TT_OPTIM_ADAMAX, "Adamax", tt__def_adamax, tt__chk_adam, 2, TT__MOM_BETA1, NULL, tt__upd_adamax, NULL, NULL},
    {TT_OPTIM_NADAM, "NAdam", tt__def_nadam, tt__chk_nadam, 2, TT__MOM_BETA1, tt__pre_nadam, tt__upd_nadam, NULL, NULL},
    {TT_OPTIM_RADAM, "RAdam", tt__def_radam, tt__chk_adam, 2, TT__MOM_BETA1, NULL, tt__upd_radam, NULL, NULL},
    {TT_OPTIM_ASGD, "ASGD", tt__def_asgd, tt__chk_asgd, 1, TT__MOM_NONE, tt__pre_asgd, tt__upd_asgd, NULL, tt__post_asgd},
    {TT_OPTIM_RPROP, "Rprop", tt__def_rprop, tt__chk_rprop, 2, TT__MOM_NONE, NULL, tt__upd_rprop, NULL, NULL},
    {TT_OPTIM_LBFGS, "LBFGS", tt__def_lbfgs, tt__chk_lbfgs, 0, TT__MOM_NONE, NULL, NULL, NULL, NULL},
    {TT_OPTIM_ADAFACTOR, "Adafactor", tt__def_adafactor, tt__chk_adafactor, 2, TT__MOM_NONE, NULL, tt__upd_adafactor, NULL, NULL},
    {TT_OPTIM_SPARSE_ADAM, "SparseAdam", tt__def_sparse_adam, tt__chk_sparse_adam, 2, TT__MOM_BETA1, NULL, tt__upd_sparse_adam, NULL, NULL},
    {TT_OPTIM_MUON, "Muon", tt__def_muon, tt__chk_muon, 1, TT__MOM_MOMENTUM, NULL, tt__upd_muon, NULL, NULL},
    {TT_OPTIM_LION, "Lion", tt__def_lion, tt__chk_lion, 1, TT__MOM_BETA1, NULL, tt__upd_lion, NULL, NULL},
    {TT_OPTIM_LAMB, "LAMB", tt__def_lamb, tt__chk_lamb, 2, TT__MOM_BETA1, tt__pre_lamb, tt__upd_lamb, NULL, NULL},
};
/* one row per kind: a missing row fails to compile here */
typedef char tt__optim_table_is_complete[(sizeof tt__optim_table / sizeof tt__optim_table[0]) == TT_OPTIM_KIND_COUNT_ ? 1 : -1];

/* The row of a valid kind, else NULL. */
static const tt__optim_row *tt__optim_row_of(tt_optim_kind kind) {
    if ((int)kind <= 0 || kind >= TT_OPTIM_KIND_COUNT_) return NULL;
    return &tt__optim_table[kind];
}

TT__DEF const char *tt_optim_name(tt_optim_kind kind) {
    const tt__optim_row *row = tt__optim_row_of(kind);
    return row ? row->name : "unknown optimizer";
}

TT__DEF tt_optim_desc tt_optim_desc_init(tt_optim_kind kind) {
    tt_optim_desc d;
    const tt__optim_row *row = tt__optim_row_of(kind);
    int g;
    memset(&d, 0, sizeof d);
    d.kind = kind;
    if (row && row->defaults) row->defaults(&d.hp);
    for (g = 0; g < TT_OPTIM_MAX_GROUPS; g++) d.groups[g] = d.hp;
    d.group_mask = (1u << TT_OPTIM_MAX_GROUPS) - 1u;
    d.max_iter = 20;
    d.max_eval = 25;
    d.tolerance_grad = 1e-7f;
    d.tolerance_change = 1e-9f;
    d.history_size = 100;
    d.init_mark = TT__OPTIM_INIT_MARK;
    return d;
}

TT__DEF tt_optim_hparams *tt_optim_desc_group(tt_optim_desc *desc, int group) {
    if (!desc || group < 0 || group >= TT_OPTIM_MAX_GROUPS) return NULL;
    desc->groups[group] = desc->hp;
    desc->group_hp |= 1u << group;
    return &desc->groups[group];
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
    const tt__optim_row *row;
    const char *nm;
    int g, i;
    size_t n, floats, bytes;
    unsigned all = (1u << TT_OPTIM_MAX_GROUPS) - 1u;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!opt || !desc) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_init: opt or desc is NULL");
    row = tt__optim_row_of(desc->kind);
    if (!row) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_init: unknown optimizer kind %d", (int)desc->kind);
    nm = row->name;
    if (row->kind != desc->kind || !row->defaults || !row->check || (!row->update && desc->kind != TT_OPTIM_LBFGS))
        return tt__fail(ctx, TT_ERR_STATE, "tt_optim_init: the optimizer table row of kind %d (%s) is incomplete or out of order",
                        (int)desc->kind, nm);
    if (desc->init_mark != TT__OPTIM_INIT_MARK)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS,
                        "tt_optim_init (%s): desc was not made by tt_optim_desc_init (every field is taken literally, "
                        "so a zeroed desc would mean lr 0): start from tt_optim_desc_init(kind)", nm);
    if (desc->group_mask > all || (desc->group_hp > all))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_init (%s): group_mask %u / group_hp %u name groups >= %d",
                        nm, desc->group_mask, desc->group_hp, TT_OPTIM_MAX_GROUPS);
    if (desc->kind != TT_OPTIM_LBFGS && desc->group_mask == 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_init (%s): group_mask is 0, the optimizer would update nothing", nm);
    memset(opt, 0, sizeof *opt);
    opt->owner = ctx;
    opt->kind = desc->kind;
    opt->desc = *desc;
    opt->group_mask = desc->kind == TT_OPTIM_LBFGS ? all : desc->group_mask;
    for (g = 0; g < TT_OPTIM_MAX_GROUPS; g++) {
        tt_result r;
        /* LBFGS has a single group: desc.hp */
        int own = desc->kind != TT_OPTIM_LBFGS && ((desc->group_hp >> g) & 1u);
        opt->hp[g] = own ? desc->groups[g] : desc->hp;
        if (!((opt->group_mask >> g) & 1u)) continue;
        if ((r = tt__chk_common(ctx, nm, g, &opt->hp[g])) != TT_OK) return r;
        if ((r = row->check(ctx, nm, g, &opt->hp[g], desc)) != TT_OK) return r;
    }
    opt->n = ctx->n_params;
    opt->n_tensors = ctx->n_param_tensors;
    if (ctx->n_params == 0) tt__warn(ctx, "tt_optim_init (%s): the context has no parameters", nm);
    for (i = 0; i < opt->n_tensors; i++) {
        const tt_tensor *p = &ctx->params[i];
        if (!tt__optim_covers(opt, p)) continue;
        if (desc->kind == TT_OPTIM_MUON && p->ndim != 2)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS,
                            "tt_optim_init (Muon): parameter '%s' %S is not 2-D; Muon only supports 2-D parameters "
                            "(put the others in a group excluded by group_mask)", p->name ? p->name : "", p);
    }
    n = opt->n;
    opt->n_state = row->n_state;
    floats = (size_t)opt->n_state * n;
    if (desc->kind == TT_OPTIM_LBFGS) {
        size_t hs = (size_t)desc->history_size;
        /* 2 history arrays (y, s) of history_size * n, ro and al, the flat work vectors */
        floats = (2 * hs + TT__LB_NVEC) * n + 2 * hs;
        if (n && floats / n < 2 * hs)
            return tt__fail(ctx, TT_ERR_OUT_OF_MEMORY, "tt_optim_init (LBFGS): history too large");
    }
    if (!tt__mul_ok(floats ? floats : 1, sizeof(float), &bytes))
        return tt__fail(ctx, TT_ERR_OUT_OF_MEMORY, "tt_optim_init (%s): state too large", nm);
    opt->state = (float *)tt__persist(ctx, "tt_optim_init", bytes);
    if (!opt->state) return ctx->err;
    memset(opt->state, 0, bytes);
    opt->state_floats = floats;
    for (i = 0; i < opt->n_state && i < 4; i++) opt->s[i] = opt->state + (size_t)i * n;
    for (g = 0; g < TT_OPTIM_MAX_GROUPS; g++) opt->sc.mu_product[g] = 1.0f;
    return tt__bk_push(ctx, opt->state, bytes);
}

static tt_result tt__optim_group_arg(tt_ctx *ctx, const tt_optim *opt, int group, const char *op) {
    if (!opt || !opt->kind) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: optimizer is NULL or not initialised", op);
    if (opt->owner != ctx)
        return tt__fail(ctx, TT_ERR_STATE, "%s: the optimizer was initialised on another context", op);
    if (group < 0 || group >= TT_OPTIM_MAX_GROUPS)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: group %d outside 0..%d", op, group, TT_OPTIM_MAX_GROUPS - 1);
    return TT_OK;
}

TT__DEF tt_result tt_optim_set_lr(tt_ctx *ctx, tt_optim *opt, int group, double lr) {
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if ((r = tt__optim_group_arg(ctx, opt, group, "tt_optim_set_lr")) != TT_OK) return r;
    if (!(lr >= 0) || lr > FLT_MAX)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_set_lr: invalid learning rate (lr must be >= 0): %g", lr);
    if (opt->kind == TT_OPTIM_LBFGS) { int g; for (g = 0; g < TT_OPTIM_MAX_GROUPS; g++) opt->hp[g].lr = lr; }
    else opt->hp[group].lr = lr;
    return TT_OK;
}

TT__DEF double tt_optim_get_lr(const tt_optim *opt, int group) {
    if (!opt || group < 0 || group >= TT_OPTIM_MAX_GROUPS) return 0.0;
    return opt->hp[group].lr;
}

TT__DEF tt_result tt_optim_set_momentum(tt_ctx *ctx, tt_optim *opt, int group, double momentum) {
    const tt__optim_row *row;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if ((r = tt__optim_group_arg(ctx, opt, group, "tt_optim_set_momentum")) != TT_OK) return r;
    row = tt__optim_row_of(opt->kind);
    if (!row || row->momentum_field == TT__MOM_NONE)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_set_momentum: %s has no momentum or beta1 (optimizer must support "
                        "momentum or beta1 to cycle momentum)", tt_optim_name(opt->kind));
    if (!tt__finite(momentum) || momentum < 0 || (row->momentum_field == TT__MOM_BETA1 && momentum > 1))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_set_momentum (%s): invalid %s %g", row->name,
                        row->momentum_field == TT__MOM_BETA1 ? "beta1" : "momentum", momentum);
    if (row->momentum_field == TT__MOM_BETA1) opt->hp[group].beta1 = (float)momentum;
    else opt->hp[group].momentum = (float)momentum;
    return TT_OK;
}

TT__DEF tt_result tt_optim_attach_sched(tt_ctx *ctx, tt_optim *opt, struct tt_sched *sched, unsigned group_mask) {
    const tt__optim_row *row;
    int g;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!opt || !opt->kind) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_attach_sched: optimizer is NULL or not initialised");
    if (group_mask == 0 || group_mask >> TT_OPTIM_MAX_GROUPS)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_attach_sched: group_mask %u must name groups 0..%d", group_mask,
                        TT_OPTIM_MAX_GROUPS - 1);
    if (sched && (sched->kind <= TT_SCHED_NONE || sched->kind > TT_SCHED_WARMUP_COSINE))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_attach_sched: schedule is not initialised");
    row = tt__optim_row_of(opt->kind);
    if (sched && sched->cycles_momentum && (!row || row->momentum_field == TT__MOM_NONE))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_attach_sched: the schedule cycles momentum but %s has no "
                        "momentum or beta1 (set cycle_momentum to 0)", tt_optim_name(opt->kind));
    for (g = 0; g < TT_OPTIM_MAX_GROUPS; g++)
        if ((group_mask >> g) & 1u) opt->sched[g] = sched;
    return TT_OK;
}

/* Before a step: each attached schedule's lr (and momentum) into its groups. */
static tt_result tt__optim_sched_apply(tt_ctx *ctx, tt_optim *opt) {
    double m;
    int g;
    tt_result r;
    for (g = 0; g < TT_OPTIM_MAX_GROUPS; g++) {
        const tt_sched *s = opt->sched[g];
        if (!s) continue;
        if ((r = tt_optim_set_lr(ctx, opt, g, tt_sched_lr(s))) != TT_OK) return r;
        if (tt_sched_momentum(s, &m) && (r = tt_optim_set_momentum(ctx, opt, g, m)) != TT_OK) return r;
    }
    return TT_OK;
}
/* After a step: advance every attached schedule once (ReduceLROnPlateau waits for its metric). */
static tt_result tt__optim_sched_advance(tt_ctx *ctx, tt_optim *opt) {
    int g, k;
    tt_result r;
    for (g = 0; g < TT_OPTIM_MAX_GROUPS; g++) {
        tt_sched *s = opt->sched[g];
        int seen = 0;
        if (!s || s->kind == TT_SCHED_PLATEAU) continue;
        for (k = 0; k < g; k++) seen |= opt->sched[k] == s;
        if (!seen && (r = tt_sched_step(ctx, s)) != TT_OK) return r;
    }
    return TT_OK;
}

TT__DEF const float *tt_optim_asgd_average(const tt_optim *opt, const tt_tensor *param) {
    if (!opt || !param || opt->kind != TT_OPTIM_ASGD || !(param->flags & TT_PARAM)) return NULL;
    if (param->offset + param->numel > opt->n || !tt__optim_covers(opt, param)) return NULL;
    return opt->s[0] + param->offset;
}

static tt_result tt__optim_ready(tt_ctx *ctx, tt_optim *opt, const char *op) {
    if (!opt || !tt__optim_row_of(opt->kind) || (!opt->state && opt->n))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: optimizer is NULL or not initialised", op);
    if (opt->owner != ctx)
        return tt__fail(ctx, TT_ERR_STATE, "%s: the optimizer was initialised on another context (its state and "
                                           "parameter layout belong to that one)", op);
    if (opt->n > ctx->n_params || opt->n_tensors > ctx->n_param_tensors)
        return tt__fail(ctx, TT_ERR_STATE, "%s: the optimizer does not belong to this context", op);
    if (ctx->err != TT_OK)
        return tt__fail(ctx, TT_ERR_STATE, "%s: refused: the context holds an error (%s); clear it with tt_clear_error first",
                        op, tt_error_message(ctx));
    return TT_OK;
}

/* The generic step: per-step scalars, then every covered tensor through the row's update (its
   SIMD twin first, when it has one), then the after-step hook. */
/* SGD, Adam and AdamW (amsgrad included) are element-wise (no per-tensor reduction), so a
   tensor can be cut into pieces updated independently, on the context's pool above a size
   threshold: every element goes through the same operations whatever the cut, so results are
   bit-identical for every thread count. In a piece the SIMD twin (if any) does a multiple of 4
   elements, the reference the rest; these references never fail and never use the context (no
   scratch). Other element-wise rules could be added here once checked for the same. */
static int tt__optim_elementwise(const tt__optim_row *row) {
    return row->kind == TT_OPTIM_SGD || row->kind == TT_OPTIM_ADAM || row->kind == TT_OPTIM_ADAMW;
}
typedef struct tt__optim_par {
    const tt__optim_row *row;
    tt_ctx *ctx;
    const tt__optim_job *j;
} tt__optim_par;
static void tt__optim_piece(void *arg, size_t lo, size_t hi) {
    const tt__optim_par *op = (const tt__optim_par *)arg;
    tt__optim_job j = *op->j;
    size_t done;
    j.x += lo; j.g += lo; j.n = hi - lo;
    if (j.s0) j.s0 += lo;
    if (j.s1) j.s1 += lo;
    if (j.s2) j.s2 += lo;
    done = op->row->vec ? op->row->vec(&j) : 0;
    if (done < j.n) { /* the reference does the rest */
        j.x += done; j.g += done; j.n -= done;
        if (j.s0) j.s0 += done;
        if (j.s1) j.s1 += done;
        if (j.s2) j.s2 += done;
        (void)op->row->update(op->ctx, &j);
    }
}

static tt_result tt__optim_step_run(tt_ctx *ctx, tt_optim *opt) {
    const tt__optim_row *row;
    tt__optim_job proto;
    int ti;
    size_t mark;
    double *lamb_work = NULL; /* LAMB on a backend: its global norm's work area */
    tt_result res = TT_OK;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if ((res = tt__optim_ready(ctx, opt, "tt_optim_step")) != TT_OK) return res;
    row = tt__optim_row_of(opt->kind);
    if (!row->update)
        return tt__fail(ctx, TT_ERR_STATE, "tt_optim_step: %s needs a closure; use tt_optim_step_closure", row->name);
    if (ctx->backend && (!ctx->backend->optim_supported(opt->kind) || opt->desc.skip_nonfinite))
        return tt__fail(ctx, TT_ERR_UNSUPPORTED, "tt_optim_step: %s%s does not run on the %s backend", row->name,
                        opt->desc.skip_nonfinite ? " with skip_nonfinite" : "", ctx->backend->name);
    opt->last_skipped = 0;
    if (opt->desc.skip_nonfinite) {
        for (ti = 0; ti < opt->n_tensors; ti++) {
            const tt_tensor *p = &ctx->params[ti];
            if (tt__optim_covers(opt, p) && !tt__all_finite(ctx->param_grad + p->offset, p->numel)) {
                opt->last_skipped = 1;
                opt->n_skipped++;
                tt__warn(ctx, "tt_optim_step (%s): gradient of '%s' is not finite; step skipped",
                         row->name, p->name ? p->name : "");
                return TT_OK;
            }
        }
    }
    if ((res = tt__optim_sched_apply(ctx, opt)) != TT_OK) return res;
    opt->sc.step++;
    memset(&proto, 0, sizeof proto);
    proto.clip = 1.0f;
    proto.t = opt->sc.step;
    proto.sc = &opt->sc;
    if (ctx->backend && opt->kind == TT_OPTIM_LAMB) { /* the global gradient norm on the device */
        tt_tensor **list = (tt_tensor **)tt__scratch(ctx, "tt_optim_step", sizeof(tt_tensor *) * (size_t)(opt->n_tensors + 1));
        int count = 0;
        if (!list) return ctx->err;
        for (ti = 0; ti < opt->n_tensors; ti++)
            if (tt__optim_covers(opt, &ctx->params[ti])) list[count++] = &ctx->params[ti];
        lamb_work = tt__bk_grad_norm(ctx, "tt_optim_step", list, count, 0, 1, (double)opt->hp[0].max_grad_norm,
                                     2 * 64 + 1);
        if (!lamb_work) return ctx->err;
    } else if (row->prestep) row->prestep(ctx, opt, &proto);
    mark = tt_scratch_mark(ctx);
    for (ti = 0; ti < opt->n_tensors && res == TT_OK; ti++) {
        tt_tensor *p = &ctx->params[ti];
        tt__optim_job j = proto;
        size_t o = p->offset;
        if (!tt__optim_covers(opt, p) || p->numel == 0) continue;
        j.grp = p->group;
        j.h = &opt->hp[p->group];
        j.wd = (p->flags & TT_NO_DECAY) ? 0.0f : j.h->weight_decay;
        j.gsign = j.h->maximize ? -1.0f : 1.0f;
        j.x = ctx->param_data + o;
        j.g = ctx->param_grad + o;
        j.s0 = opt->s[0] ? opt->s[0] + o : NULL;
        j.s1 = opt->s[1] ? opt->s[1] + o : NULL;
        j.s2 = opt->s[2] ? opt->s[2] + o : NULL;
        j.n = p->numel;
        j.p = p;
        if (ctx->backend) { /* the same update, as one kernel on the backend */
            tt_backend_update u;
            u.kind = opt->kind; u.h = j.h; u.wd = j.wd; u.gsign = j.gsign; u.t = j.t;
            u.x = j.x; u.g = j.g; u.s0 = j.s0; u.s1 = j.s1; u.s2 = j.s2; u.n = j.n;
            u.work = lamb_work;
            res = ctx->backend->update(ctx, &u);
            continue;
        }
        if (tt__optim_elementwise(row)) { /* pieces of the tensor on the pool, same bits */
            tt__optim_par op;
            op.row = row; op.ctx = ctx; op.j = &j;
            tt__parallel_range(ctx, j.n, row->kind == TT_OPTIM_SGD ? TT__PAR_MIN_CHEAP : TT__PAR_MIN_COSTLY, 8,
                               tt__optim_piece, &op);
        } else {
            res = row->update(ctx, &j);
        }
        tt_scratch_rewind(ctx, mark);
    }
    if (row->poststep) row->poststep(opt);
    if (res == TT_OK) res = tt__optim_sched_advance(ctx, opt);
    return res;
}

/* ---- LBFGS (torch/optim/lbfgs.py), flat vectors over ctx->param_data[0 .. n) ---- */
#ifndef TT_NO_LBFGS /* to tt_optim_step_closure (see FEATURE CUTS) */

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
#endif /* TT_NO_LBFGS */

/* the update runs with the context's floating-point mode (tt_desc.flush_denormals) */
TT__DEF tt_result tt_optim_step(tt_ctx *ctx, tt_optim *opt) {
    unsigned long long fp = tt__fp_enter(ctx);
    tt_result r = tt__optim_step_run(ctx, opt);
    tt__fp_leave(ctx, fp);
    return r;
}

TT__DEF tt_result tt_optim_step_closure(tt_ctx *ctx, tt_optim *opt, tt_closure_fn closure, void *user, double *loss) {
    tt_result r;
    double f;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if ((r = tt__optim_ready(ctx, opt, "tt_optim_step_closure")) != TT_OK) return r;
    if (!closure) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_step_closure: closure is NULL");
    if (opt->kind == TT_OPTIM_LBFGS) {
        if ((r = tt__optim_sched_apply(ctx, opt)) != TT_OK) return r;
        if (opt->n_tensors == 0) {
            f = closure(ctx, user);
            if (loss) *loss = f;
            r = ctx->err;
        } else {
#ifdef TT_NO_LBFGS
            return tt__fail(ctx, TT_ERR_UNSUPPORTED, "tt_optim_step_closure: LBFGS is left out of this build (TT_NO_LBFGS)");
#else
            r = tt__lbfgs_step(ctx, opt, closure, user, loss);
#endif
        }
        return r == TT_OK ? tt__optim_sched_advance(ctx, opt) : r;
    }
    f = closure(ctx, user);
    if (ctx->err != TT_OK) return ctx->err;
    if (loss) *loss = f;
    return tt_optim_step(ctx, opt);
}

/* ---- state save / restore: header, tt_optim_scalars, then the state floats ----
   A byte format, the same on every host: every field little-endian, written and read byte by
   byte (docs/checkpoint.md, section OPTM, lists it):
       header (48 bytes): u32 magic "TTOP", u32 version, u32 kind, u32 n_tensors, u64 n,
                          u64 state_floats, u64 scalars_bytes, i64 step
       scalars (TT__OPTIM_SCALARS_BYTES): i64 step, f32 eta[G], f32 mu[G], f32 mu_product[G],
                          i64 n_iter, func_evals, hist_len, hist_first, f64 t, h_diag, prev_loss
                          (G = TT_OPTIM_MAX_GROUPS)
       state: state_floats f32 */

typedef struct tt__optim_hdr {
    uint32_t magic, version, kind, n_tensors;
    uint64_t n, state_floats, scalars_bytes;
    int64_t step;
} tt__optim_hdr;
#define TT__OPTIM_HDR_BYTES 48u
#define TT__OPTIM_SCALARS_BYTES (64u + 12u * TT_OPTIM_MAX_GROUPS)

static void tt__put_f32(unsigned char *p, float f) { uint32_t u; memcpy(&u, &f, 4); tt__put32(p, u); }
static float tt__get_f32(const unsigned char *p) { uint32_t u = tt__get32(p); float f; memcpy(&f, &u, 4); return f; }

static void tt__optim_hdr_get(const unsigned char *p, tt__optim_hdr *hd) {
    hd->magic = tt__get32(p); hd->version = tt__get32(p + 4); hd->kind = tt__get32(p + 8); hd->n_tensors = tt__get32(p + 12);
    hd->n = tt__get64(p + 16); hd->state_floats = tt__get64(p + 24); hd->scalars_bytes = tt__get64(p + 32);
    hd->step = (int64_t)tt__get64(p + 40);
}
static void tt__optim_scalars_put(unsigned char *p, const tt_optim_scalars *sc) {
    int g;
    tt__put64(p, (uint64_t)sc->step);
    p += 8;
    for (g = 0; g < TT_OPTIM_MAX_GROUPS; g++) tt__put_f32(p + 4 * g, sc->eta[g]);
    p += 4 * TT_OPTIM_MAX_GROUPS;
    for (g = 0; g < TT_OPTIM_MAX_GROUPS; g++) tt__put_f32(p + 4 * g, sc->mu[g]);
    p += 4 * TT_OPTIM_MAX_GROUPS;
    for (g = 0; g < TT_OPTIM_MAX_GROUPS; g++) tt__put_f32(p + 4 * g, sc->mu_product[g]);
    p += 4 * TT_OPTIM_MAX_GROUPS;
    tt__put64(p, (uint64_t)sc->n_iter); tt__put64(p + 8, (uint64_t)sc->func_evals);
    tt__put64(p + 16, (uint64_t)sc->hist_len); tt__put64(p + 24, (uint64_t)sc->hist_first);
    tt__put64(p + 32, tt__f64_bits(sc->t)); tt__put64(p + 40, tt__f64_bits(sc->h_diag));
    tt__put64(p + 48, tt__f64_bits(sc->prev_loss));
}
static void tt__optim_scalars_get(const unsigned char *p, tt_optim_scalars *sc) {
    int g;
    memset(sc, 0, sizeof *sc);
    sc->step = (int64_t)tt__get64(p);
    p += 8;
    for (g = 0; g < TT_OPTIM_MAX_GROUPS; g++) sc->eta[g] = tt__get_f32(p + 4 * g);
    p += 4 * TT_OPTIM_MAX_GROUPS;
    for (g = 0; g < TT_OPTIM_MAX_GROUPS; g++) sc->mu[g] = tt__get_f32(p + 4 * g);
    p += 4 * TT_OPTIM_MAX_GROUPS;
    for (g = 0; g < TT_OPTIM_MAX_GROUPS; g++) sc->mu_product[g] = tt__get_f32(p + 4 * g);
    p += 4 * TT_OPTIM_MAX_GROUPS;
    sc->n_iter = (int64_t)tt__get64(p); sc->func_evals = (int64_t)tt__get64(p + 8);
    sc->hist_len = (int64_t)tt__get64(p + 16); sc->hist_first = (int64_t)tt__get64(p + 24);
    sc->t = tt__bits_f64(tt__get64(p + 32)); sc->h_diag = tt__bits_f64(tt__get64(p + 40));
    sc->prev_loss = tt__bits_f64(tt__get64(p + 48));
}

/* The checks of a saved state against opt, nothing changed: 0 if it fits (then *sc holds its
   scalars), else the message's reason. Shared by tt_optim_state_load and the checkpoint loader. */
static const char *tt__optim_state_check(const tt_optim *opt, const unsigned char *p, size_t bytes, tt_optim_scalars *sc) {
    tt__optim_hdr hd;
    if (bytes < TT__OPTIM_HDR_BYTES) return "buffer too small for the header";
    tt__optim_hdr_get(p, &hd);
    if (hd.magic != TT__OPTIM_MAGIC || hd.version != TT__OPTIM_VERSION) return "not an optimizer state (bad magic or version)";
    if (hd.kind != (uint32_t)opt->kind) return "state is for another kind of optimizer";
    if (hd.n_tensors != (uint32_t)opt->n_tensors || hd.n != opt->n || hd.state_floats != opt->state_floats ||
        hd.scalars_bytes != TT__OPTIM_SCALARS_BYTES)
        return "state covers other parameters (tensor or float counts differ)";
    if (bytes < tt_optim_state_size(opt)) return "buffer shorter than the state";
    tt__optim_scalars_get(p + TT__OPTIM_HDR_BYTES, sc);
    if (sc->step != hd.step || sc->step < 0) return "inconsistent step count";
    return 0;
}

TT__DEF size_t tt_optim_state_size(const tt_optim *opt) {
    if (!opt) return 0;
    return TT__OPTIM_HDR_BYTES + TT__OPTIM_SCALARS_BYTES + opt->state_floats * 4;
}

TT__DEF tt_result tt_optim_state_save(tt_ctx *ctx, const tt_optim *opt, void *buf, size_t bytes) {
    unsigned char *p = (unsigned char *)buf, *q;
    size_t i;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!opt || !opt->kind || !buf) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_state_save: opt or buf is NULL");
    if (tt__optim_ready(ctx, (tt_optim *)opt, "tt_optim_state_save") != TT_OK) return ctx->err;
    if (bytes < tt_optim_state_size(opt))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_state_save: buffer has %z bytes, needs %z", bytes,
                        tt_optim_state_size(opt));
    if (ctx->backend && ctx->backend->download(ctx, opt->state, opt->state, opt->state_floats * sizeof(float)) != TT_OK)
        return ctx->err;
    tt__put32(p, TT__OPTIM_MAGIC); tt__put32(p + 4, TT__OPTIM_VERSION);
    tt__put32(p + 8, (uint32_t)opt->kind); tt__put32(p + 12, (uint32_t)opt->n_tensors);
    tt__put64(p + 16, (uint64_t)opt->n); tt__put64(p + 24, (uint64_t)opt->state_floats);
    tt__put64(p + 32, (uint64_t)TT__OPTIM_SCALARS_BYTES); tt__put64(p + 40, (uint64_t)opt->sc.step);
    tt__optim_scalars_put(p + TT__OPTIM_HDR_BYTES, &opt->sc);
    q = p + TT__OPTIM_HDR_BYTES + TT__OPTIM_SCALARS_BYTES;
    for (i = 0; i < opt->state_floats; i++) tt__put_f32(q + 4 * i, opt->state[i]);
    return TT_OK;
}

TT__DEF tt_result tt_optim_state_load(tt_ctx *ctx, tt_optim *opt, const void *buf, size_t bytes) {
    tt_optim_scalars sc;
    const unsigned char *p = (const unsigned char *)buf, *q;
    const char *why;
    size_t i;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!opt || !opt->kind || !buf) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_optim_state_load: opt or buf is NULL");
    if (tt__optim_ready(ctx, opt, "tt_optim_state_load") != TT_OK) return ctx->err;
    if ((why = tt__optim_state_check(opt, p, bytes, &sc)) != 0)
        return tt__fail(ctx, TT_ERR_FORMAT, "tt_optim_state_load: %s (%z bytes given; %s needs %z over %d tensors / %z floats)", why,
                        bytes, tt_optim_name(opt->kind), tt_optim_state_size(opt), opt->n_tensors, opt->n);
    opt->sc = sc;
    q = p + TT__OPTIM_HDR_BYTES + TT__OPTIM_SCALARS_BYTES;
    for (i = 0; i < opt->state_floats; i++) opt->state[i] = tt__get_f32(q + 4 * i);
    return tt__bk_push(ctx, opt->state, opt->state_floats * sizeof(float));
}


/* ==================================================================================== >>sched */

/* Schedules follow torch/optim/lr_scheduler.py line by line:
     tt__sched_start  = the construction step (_initial_step: last_epoch 0, "is_initial" mode)
     tt__sched_advance = step(): last_epoch + 1, then the chainable get_lr() on the current lr
     tt__sched_reset0 = _update_lr(0), used by SequentialLR at a milestone: the closed form
                        (_get_closed_form_lr) at epoch 0 where torch has one, else get_lr()
   lr_in is torch's group["lr"]: the lr before this call. For a single schedule it is its own lr;
   a ChainedScheduler passes one lr through all its children, which is how torch composes them.
   Everything is computed in double, with the same operation order as torch's Python code. */


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
        const tt_sched_cyclic_opts *o = &s->u.cyclic.o;
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
    if (child->cycles_momentum) { s->momentum = child->momentum; s->cycles_momentum = 1; }
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
        s->u.plateau.best = s->u.plateau.o.mode == TT_METRIC_MAX ? -INFINITY : INFINITY;
        s->u.plateau.num_bad_epochs = 0;
        s->u.plateau.cooldown_counter = 0;
        *out = s->lr = s->base_lr;
        return TT_OK;
    case TT_SCHED_SEQUENTIAL:
        /* torch: every child was constructed, the lr reset to initial_lr, the first restarted */
        for (i = 0; i < s->u.composite.n; i++)
            if ((r = tt__sched_start(ctx, s->u.composite.children[i], s->base_lr, &dummy)) != TT_OK) return r;
        if ((r = tt__sched_start(ctx, s->u.composite.children[0], s->base_lr, out)) != TT_OK) return r;
        s->cycles_momentum = 0;
        tt__sched_take_momentum(s, s->u.composite.children[0]);
        s->lr = *out;
        return TT_OK;
    case TT_SCHED_CHAINED:
        s->cycles_momentum = 0;
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
        s->cycles_momentum = 0;
        tt__sched_take_momentum(s, child);
        s->lr = *out;
        return TT_OK;
    }
    case TT_SCHED_CHAINED: {
        double lr = lr_in;
        s->cycles_momentum = 0;
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
    if (!tt__finite(base_lr) || base_lr < 0)
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
    t->cycles_momentum = (t->kind == TT_SCHED_CYCLIC && t->u.cyclic.o.cycle_momentum) ||
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
    if (!tt__finite(gamma) || gamma <= 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "StepLR: gamma must be > 0, got %g", gamma);
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
    if (!tt__finite(gamma) || gamma <= 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "MultiStepLR: gamma must be > 0, got %g", gamma);
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
    if (!tt__finite(gamma) || gamma <= 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "ExponentialLR: gamma must be > 0, got %g", gamma);
    t.u.exponential.gamma = gamma;
    return tt__sched_finish(ctx, s, &t);
}

TT__DEF tt_result tt_sched_init_polynomial(tt_ctx *ctx, tt_sched *s, double base_lr, int total_iters, double power) {
    tt_result r;
    tt_sched t;
    if ((r = tt__sched_begin(ctx, "PolynomialLR", s, &t, TT_SCHED_POLYNOMIAL, base_lr)) != TT_OK) return r;
    if (total_iters <= 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "PolynomialLR: total_iters must be > 0, got %d", total_iters);
    if (!tt__finite(power) || power < 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "PolynomialLR: power must be >= 0, got %g", power);
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
    if (!tt__finite(eta_min) || eta_min < 0)
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
    if (!tt__finite(eta_min) || eta_min < 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "CosineAnnealingWarmRestarts: eta_min must be finite and >= 0, got %g", eta_min);
    t.u.restarts.T_0 = T_0;
    t.u.restarts.T_mult = T_mult;
    t.u.restarts.eta_min = eta_min;
    return tt__sched_finish(ctx, s, &t);
}

/* ---- option structs: torch's defaults from the *_opts_init functions, fields literal ---- */

static tt_result tt__sched_switch(tt_ctx *ctx, const char *op, const char *name, int v) {
    if (v != 0 && v != 1) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: %s must be 0 or 1, got %d", op, name, v);
    return TT_OK;
}

TT__DEF tt_sched_cyclic_opts tt_sched_cyclic_opts_init(double base_lr, double max_lr) {
    tt_sched_cyclic_opts o;
    memset(&o, 0, sizeof o);
    o.base_lr = base_lr;
    o.max_lr = max_lr;
    o.step_size_up = 2000;
    o.step_size_down = 2000;
    o.mode = TT_CYCLIC_TRIANGULAR;
    o.gamma = 1.0;
    o.cycle_momentum = 1;
    o.base_momentum = 0.8;
    o.max_momentum = 0.9;
    return o;
}

TT__DEF tt_result tt_sched_init_cyclic(tt_ctx *ctx, tt_sched *s, const tt_sched_cyclic_opts *opts) {
    const char *op = "CyclicLR";
    tt_result r;
    tt_sched t;
    tt_sched_cyclic_opts o;
    double up, down;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!opts) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "CyclicLR: opts is NULL (use tt_sched_cyclic_opts_init)");
    o = *opts;
    if ((r = tt__sched_begin(ctx, op, s, &t, TT_SCHED_CYCLIC, o.base_lr)) != TT_OK) return r;
    if (!tt__finite(o.max_lr) || o.max_lr < 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "CyclicLR: max_lr must be finite and >= 0, got %g", o.max_lr);
    if (o.step_size_up <= 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "CyclicLR: step_size_up must be > 0, got %d", o.step_size_up);
    if (o.step_size_down < 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "CyclicLR: step_size_down must be >= 0, got %d", o.step_size_down);
    if (!tt__in_range((int)o.mode, 0, TT_CYCLIC_EXP_RANGE))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "CyclicLR: mode %d is invalid", (int)o.mode);
    if (!tt__finite(o.gamma) || o.gamma <= 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "CyclicLR: gamma must be > 0, got %g", o.gamma);
    if ((r = tt__sched_switch(ctx, op, "cycle_momentum", o.cycle_momentum)) != TT_OK) return r;
    if (o.cycle_momentum && (!tt__finite(o.base_momentum) || !tt__finite(o.max_momentum)))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "CyclicLR: base_momentum and max_momentum must be finite");
    t.u.cyclic.o = o;
    up = (double)o.step_size_up;
    down = (double)o.step_size_down;
    t.u.cyclic.total_size = up + down;
    t.u.cyclic.step_ratio = up / t.u.cyclic.total_size;
    return tt__sched_finish(ctx, s, &t);
}

TT__DEF tt_sched_one_cycle_opts tt_sched_one_cycle_opts_init(double max_lr, int total_steps) {
    tt_sched_one_cycle_opts o;
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

TT__DEF tt_result tt_sched_init_one_cycle(tt_ctx *ctx, tt_sched *s, const tt_sched_one_cycle_opts *opts) {
    const char *op = "OneCycleLR";
    tt_result r;
    tt_sched t;
    tt_sched_one_cycle_opts o;
    int T;
    double pct, init_lr, max_lr, min_lr, bm, mm;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!opts) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "OneCycleLR: opts is NULL (use tt_sched_one_cycle_opts_init)");
    o = *opts;
    if (!tt__finite(o.max_lr) || o.max_lr < 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "OneCycleLR: max_lr must be finite and >= 0, got %g", o.max_lr);
    if (!tt__finite(o.div_factor) || o.div_factor <= 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "OneCycleLR: div_factor must be > 0, got %g", o.div_factor);
    if (!tt__finite(o.final_div_factor) || o.final_div_factor <= 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "OneCycleLR: final_div_factor must be > 0, got %g", o.final_div_factor);
    if ((r = tt__sched_begin(ctx, op, s, &t, TT_SCHED_ONE_CYCLE, o.max_lr / o.div_factor)) != TT_OK) return r;
    if (o.total_steps <= 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "OneCycleLR: expected positive integer total_steps, but got %d", o.total_steps);
    T = o.total_steps;
    pct = o.pct_start;
    if (!(pct >= 0 && pct <= 1))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "OneCycleLR: expected float between 0 and 1 pct_start, but got %g", pct);
    if (!tt__in_range((int)o.anneal_strategy, 0, TT_ANNEAL_LINEAR))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "OneCycleLR: anneal_strategy must be cos or linear, got %d", (int)o.anneal_strategy);
    if ((r = tt__sched_switch(ctx, op, "cycle_momentum", o.cycle_momentum)) != TT_OK) return r;
    if ((r = tt__sched_switch(ctx, op, "three_phase", o.three_phase)) != TT_OK) return r;
    if (o.cycle_momentum && (!tt__finite(o.base_momentum) || !tt__finite(o.max_momentum)))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "OneCycleLR: base_momentum and max_momentum must be finite");
    t.u.one_cycle.o = o;
    t.u.one_cycle.total_steps = T;
    init_lr = o.max_lr / o.div_factor;
    max_lr = o.max_lr;
    min_lr = init_lr / o.final_div_factor;
    bm = o.base_momentum;
    mm = o.max_momentum;
    t.u.one_cycle.initial_lr = init_lr;
    t.u.one_cycle.min_lr = min_lr;
    /* phase 1: initial -> max (momentum max -> base) */
    t.u.one_cycle.end_step[0] = pct * T - 1;
    t.u.one_cycle.start_lr[0] = init_lr; t.u.one_cycle.end_lr[0] = max_lr;
    t.u.one_cycle.start_mom[0] = mm; t.u.one_cycle.end_mom[0] = bm;
    if (o.three_phase) {
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

TT__DEF tt_sched_plateau_opts tt_sched_plateau_opts_init(void) {
    tt_sched_plateau_opts o;
    memset(&o, 0, sizeof o);
    o.mode = TT_METRIC_MIN;
    o.factor = 0.1;
    o.patience = 10;
    o.threshold = 1e-4;
    o.threshold_mode = TT_THRESHOLD_REL;
    o.cooldown = 0;
    o.min_lr = 0.0;
    o.eps = 1e-8;
    return o;
}

TT__DEF tt_result tt_sched_init_plateau(tt_ctx *ctx, tt_sched *s, double base_lr, const tt_sched_plateau_opts *opts) {
    const char *op = "ReduceLROnPlateau";
    tt_result r;
    tt_sched t;
    tt_sched_plateau_opts o;
    if ((r = tt__sched_begin(ctx, op, s, &t, TT_SCHED_PLATEAU, base_lr)) != TT_OK) return r;
    if (!opts) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "ReduceLROnPlateau: opts is NULL (use tt_sched_plateau_opts_init)");
    o = *opts;
    if (!(o.factor < 1.0)) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "ReduceLROnPlateau: factor should be < 1.0, got %g", o.factor);
    if (!(o.factor >= 0)) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "ReduceLROnPlateau: factor should be >= 0, got %g", o.factor);
    if (!tt__in_range((int)o.mode, 0, TT_METRIC_MAX))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "ReduceLROnPlateau: mode %d is unknown (min or max)", (int)o.mode);
    if (!tt__in_range((int)o.threshold_mode, 0, TT_THRESHOLD_ABS))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "ReduceLROnPlateau: threshold_mode %d is unknown (rel or abs)", (int)o.threshold_mode);
    if (o.patience < 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "ReduceLROnPlateau: patience must be >= 0, got %d", o.patience);
    if (o.cooldown < 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "ReduceLROnPlateau: cooldown must be >= 0, got %d", o.cooldown);
    if (!tt__finite(o.threshold) || o.threshold < 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "ReduceLROnPlateau: threshold must be finite and >= 0, got %g", o.threshold);
    if (!tt__finite(o.min_lr) || o.min_lr < 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "ReduceLROnPlateau: min_lr must be finite and >= 0, got %g", o.min_lr);
    if (!tt__finite(o.eps) || o.eps < 0)
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

TT__DEF tt_sched_warmup_cosine_opts tt_sched_warmup_cosine_opts_init(int warmup_steps, int total_steps) {
    tt_sched_warmup_cosine_opts o;
    memset(&o, 0, sizeof o);
    o.warmup_steps = warmup_steps;
    o.total_steps = total_steps;
    o.start_factor = 1.0 / 3.0;
    o.eta_min = 0.0;
    return o;
}

TT__DEF tt_result tt_sched_init_warmup_cosine(tt_ctx *ctx, tt_sched *s, double base_lr, const tt_sched_warmup_cosine_opts *opts) {
    const char *op = "tt_sched_init_warmup_cosine";
    tt_sched t;
    tt_result r;
    int warmup_steps, total_steps;
    if ((r = tt__sched_begin(ctx, op, s, &t, TT_SCHED_WARMUP_COSINE, base_lr)) != TT_OK) return r;
    if (!opts) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: opts is NULL (use tt_sched_warmup_cosine_opts_init)", op);
    warmup_steps = opts->warmup_steps;
    total_steps = opts->total_steps;
    if (warmup_steps < 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: warmup_steps must be >= 0, got %d", op, warmup_steps);
    if (total_steps <= warmup_steps || total_steps - warmup_steps > 0x3fffffff)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: total_steps (%d) must exceed warmup_steps (%d): T_max must be > 0",
                        op, total_steps, warmup_steps);
    if (!(opts->start_factor > 0 && opts->start_factor <= 1))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: start_factor expected in (0, 1], got %g", op, opts->start_factor);
    if (!tt__finite(opts->eta_min) || opts->eta_min < 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: eta_min must be finite and >= 0, got %g", op, opts->eta_min);
    t.u.warmup_cosine.warmup_steps = warmup_steps;
    t.u.warmup_cosine.T_max = total_steps - warmup_steps;
    t.u.warmup_cosine.start_factor = opts->start_factor;
    t.u.warmup_cosine.eta_min = opts->eta_min;
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
    tt_sched_plateau_opts *o;
    double best;
    int better;
    if ((r = tt__sched_check_use(ctx, "tt_sched_step_metric", s)) != TT_OK) return r;
    if (s->kind != TT_SCHED_PLATEAU)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_sched_step_metric: %s takes no metric (use tt_sched_step)", tt__sched_name(s->kind));
    o = &s->u.plateau.o;
    best = s->u.plateau.best;
    if (o->mode == TT_METRIC_MIN)
        better = o->threshold_mode == TT_THRESHOLD_ABS ? a < best - o->threshold : a < best * (1.0 - o->threshold);
    else
        better = o->threshold_mode == TT_THRESHOLD_ABS ? a > best + o->threshold : a > best * (o->threshold + 1.0);
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
    if (!tt__finite(epoch) || epoch < 0 || epoch > 2147483647.0)
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
    if (!s || !s->cycles_momentum) return 0;
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
    if (!tt__finite(coef)) {
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

TT__DEF tt_clip_grad_norm_opts tt_clip_grad_norm_opts_init(double max_norm) {
    tt_clip_grad_norm_opts o;
    memset(&o, 0, sizeof o);
    o.max_norm = max_norm;
    o.norm_type = 2.0;
    o.error_if_nonfinite = 0;
    return o;
}

TT__DEF tt_result tt_clip_grad_norm(tt_ctx *ctx, int n, tt_tensor **params, const tt_clip_grad_norm_opts *opts,
                                    double *total_norm) {
    const char *op = "tt_clip_grad_norm";
    tt_tensor **list;
    int k, count = 0, error_if_nonfinite;
    double total, coef, max_norm, norm_type;
    size_t mark, i;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!opts) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: opts is NULL (use tt_clip_grad_norm_opts_init)", op);
    max_norm = opts->max_norm;
    norm_type = opts->norm_type;
    error_if_nonfinite = opts->error_if_nonfinite;
    if (error_if_nonfinite != 0 && error_if_nonfinite != 1)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: error_if_nonfinite must be 0 or 1, got %d", op, error_if_nonfinite);
    if (!(max_norm >= 0)) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: max_norm must be >= 0, got %g", op, max_norm);
    if (!(norm_type > 0)) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: norm_type must be > 0 or INFINITY, got %g", op, norm_type);
    mark = tt_scratch_mark(ctx);
    list = tt__sched_param_list(ctx, op, n, params, 0, &count);
    if (!list) return ctx->err != TT_OK ? ctx->err : TT_ERR_INVALID_ARGS;
    if (ctx->backend) { /* the norm and the scaling on the device; the norm comes back only when asked for */
        tt_backend_call c;
        double *w;
        int kind = norm_type == 2.0 ? 0 : norm_type == 1.0 ? 1 : norm_type == INFINITY ? 2 : -1;
        if (kind < 0) {
            tt_scratch_rewind(ctx, mark);
            return tt__fail(ctx, TT_ERR_UNSUPPORTED, "%s: norm_type %g does not run on the %s backend (1, 2 and INFINITY do)", op,
                            norm_type, ctx->backend->name);
        }
        w = tt__bk_grad_norm(ctx, op, list, count, kind, 0, max_norm, 0);
        if (w && (total_norm || error_if_nonfinite) && ctx->backend->download(ctx, &total, w, sizeof total) != TT_OK) w = NULL;
        if (!w) { tt_scratch_rewind(ctx, mark); return ctx->err; }
        if (total_norm) *total_norm = total;
        if (error_if_nonfinite && !tt__finite(total)) {
            tt_scratch_rewind(ctx, mark);
            return tt__fail(ctx, TT_ERR_NONFINITE, "%s: the total norm of order %g for gradients is non-finite (%g), so it cannot "
                            "be clipped (set error_if_nonfinite to 0 to scale anyway)", op, norm_type, total);
        }
        memset(&c, 0, sizeof c);
        c.op = TT_BOP_GRAD_SCALE;
        c.p[0] = list; c.i[0] = count; c.p[1] = w;
        ctx->backend->run(ctx, &c);
        tt_scratch_rewind(ctx, mark); /* the device reads the list's grads in stream order: safe to reuse */
        return ctx->err;
    }
    total = tt__grad_norm(list, count, norm_type);
    if (total_norm) *total_norm = total;
    if (error_if_nonfinite && !tt__finite(total)) {
        tt_scratch_rewind(ctx, mark);
        return tt__fail(ctx, TT_ERR_NONFINITE,
                        "%s: the total norm of order %g for gradients is non-finite (%g), so it cannot be clipped "
                        "(set error_if_nonfinite to 0 to scale anyway)", op, norm_type, total);
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
    if (ctx->backend) return tt__fail(ctx, TT_ERR_UNSUPPORTED, "%s: does not run on the %s backend yet", op, ctx->backend->name);
    if (!(clip_value >= 0) || !tt__finite(clip_value))
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

TT__DEF tt_result tt_param_set_decay(tt_ctx *ctx, tt_tensor *param, int decay) {
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!param) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_param_set_decay: param is NULL");
    if (!(param->flags & TT_PARAM))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_param_set_decay: tensor of shape %S is not a parameter (tt_param)", param);
    if (decay != 0 && decay != 1) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_param_set_decay: decay must be 0 or 1, got %d", decay);
    if (decay) param->flags &= ~(unsigned)TT_NO_DECAY;
    else param->flags |= TT_NO_DECAY;
    return TT_OK;
}

TT__DEF int tt_grads_finite(const tt_ctx *ctx) {
    if (!ctx) return 0;
    return tt__all_finite(ctx->param_grad, ctx->n_params);
}

/* ---- early stopping ---- */

TT__DEF tt_result tt_early_stop_init(tt_ctx *ctx, tt_early_stop *es, int patience, double min_delta, tt_metric_mode mode) {
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!es) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_early_stop_init: es is NULL");
    if (patience < 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_early_stop_init: patience must be >= 0, got %d", patience);
    if (!tt__finite(min_delta) || min_delta < 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_early_stop_init: min_delta must be finite and >= 0, got %g", min_delta);
    if (!tt__in_range((int)mode, 0, TT_METRIC_MAX))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_early_stop_init: mode must be TT_METRIC_MIN or TT_METRIC_MAX, got %d", (int)mode);
    memset(es, 0, sizeof *es);
    es->mode = mode;
    es->patience = patience;
    es->min_delta = min_delta;
    es->best = mode == TT_METRIC_MAX ? -INFINITY : INFINITY;
    es->best_epoch = -1;
    return TT_OK;
}

TT__DEF int tt_early_stop_update(tt_early_stop *es, double metric) {
    int improved;
    if (!es) return 0;
    improved = es->mode == TT_METRIC_MAX ? metric > es->best + es->min_delta : metric < es->best - es->min_delta;
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


/* ==================================================================================== >>io
   Checkpoints: a streaming writer over a byte sink, a two-pass loader (validate everything, then
   apply), atomic file writes. The format is described byte by byte in docs/checkpoint.md. */

#if !defined(TT_NO_STDIO) && (defined(__unix__) || defined(__APPLE__))
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#define TT__POSIX_FILES 1
#elif !defined(TT_NO_STDIO)
#include <errno.h>
#endif

TT__DEF const char *tt_io_error_string(tt_io_error e) {
    switch (e) {
    case TT_IO_OK: return "ok";
    case TT_IO_TRUNCATED: return "truncated";
    case TT_IO_BAD_MAGIC: return "bad magic";
    case TT_IO_BAD_VERSION: return "unsupported version";
    case TT_IO_BAD_CRC: return "CRC mismatch";
    case TT_IO_MALFORMED: return "malformed";
    case TT_IO_SHAPE: return "shape mismatch";
    case TT_IO_MISSING: return "missing";
    case TT_IO_EXTRA: return "unexpected tensor";
    case TT_IO_MISMATCH: return "does not fit";
    case TT_IO_NO_DIR: return "no such directory";
    case TT_IO_READ_ONLY: return "not writable";
    case TT_IO_WRITE_FAILED: return "write failed";
    case TT_IO_OPEN_FAILED: return "cannot open";
    case TT_IO_TOO_LARGE: return "too large";
    }
    return "unknown";
}

/* (little-endian byte helpers tt__put32 / tt__get32 / ...: in >>util) */

/* Record an I/O failure: sets the detail slots and the context error. */
static tt_result tt__io_fail(tt_ctx *ctx, tt_io_error *err, size_t *off, tt_io_error e, size_t at, tt_result code,
                             const char *fmt, ...) {
    char msg[256];
    va_list ap;
    if (err) *err = e;
    if (off) *off = at;
    va_start(ap, fmt);
    tt__vformat(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tt__fail(ctx, code, "%s", msg);
}

/* A name from a file, made printable for a message (at most 48 characters). */
static void tt__io_name(char *out, const unsigned char *p, size_t n) {
    size_t i, m = n < 48 ? n : 48;
    for (i = 0; i < m; i++) out[i] = (p[i] >= 32 && p[i] < 127) ? (char)p[i] : '?';
    if (n > m) { out[m - 3] = '.'; out[m - 2] = '.'; out[m - 1] = '.'; }
    out[m] = 0;
}

/* ---- writer: a sink plus a running position and CRC; fn NULL only counts ---- */
typedef struct tt__wr {
    tt_write_fn fn;
    void *user;
    uint64_t pos;
    uint32_t crc;
    int failed;
} tt__wr;

static void tt__w(tt__wr *w, const void *p, size_t n) {
    if (w->failed || !n) return;
    if (w->fn) {
        w->crc = tt_crc32(w->crc, p, n);
        if (w->fn(w->user, p, n) != n) w->failed = 1;
    }
    w->pos += n;
}
static void tt__w32(tt__wr *w, uint32_t v) { unsigned char b[4]; tt__put32(b, v); tt__w(w, b, 4); }
static void tt__w64(tt__wr *w, uint64_t v) { unsigned char b[8]; tt__put64(b, v); tt__w(w, b, 8); }
static void tt__wf64(tt__wr *w, double v) { tt__w64(w, tt__f64_bits(v)); }
static void tt__wfloats(tt__wr *w, const float *x, size_t n) {
    unsigned char b[1024];
    size_t i, k;
    if (!w->fn) { w->pos += (uint64_t)n * 4u; return; }
    while (n) {
        k = n < 256 ? n : 256;
        for (i = 0; i < k; i++) { uint32_t u; memcpy(&u, x + i, 4); tt__put32(b + 4 * i, u); }
        tt__w(w, b, 4 * k);
        x += k; n -= k;
    }
}
static void tt__wpad4(tt__wr *w) {
    static const unsigned char z[4] = {0, 0, 0, 0};
    tt__w(w, z, (size_t)((4u - (unsigned)(w->pos & 3u)) & 3u));
}

/* ---- checkpoint layout ---- */
#define TT__CK_VERSION 1u
#define TT__CK_HEADER 32u
#define TT__TAG(a, b, c, d) ((uint32_t)(a) | ((uint32_t)(b) << 8) | ((uint32_t)(c) << 16) | ((uint32_t)(d) << 24))
static const unsigned char tt__ck_magic[8] = {0x89, 'T', 'T', 'C', 'K', 0x0D, 0x0A, 0x1A};
enum { TT__CK_TENS, TT__CK_OPTM, TT__CK_SCHD, TT__CK_RNG, TT__CK_STEP, TT__CK_META, TT__CK_XTRA, TT__CK_ITER, TT__CK_NSEC };
static const uint32_t tt__ck_tags[TT__CK_NSEC] = {
    TT__TAG('T', 'E', 'N', 'S'), TT__TAG('O', 'P', 'T', 'M'), TT__TAG('S', 'C', 'H', 'D'), TT__TAG('R', 'N', 'G', ' '),
    TT__TAG('S', 'T', 'E', 'P'), TT__TAG('M', 'E', 'T', 'A'), TT__TAG('X', 'T', 'R', 'A'), TT__TAG('I', 'T', 'E', 'R')};
static const char *const tt__ck_names[TT__CK_NSEC] = {"TENS", "OPTM", "SCHD", "RNG ", "STEP", "META", "XTRA", "ITER"};
#define TT__SCHED_REC 64u  /* bytes of one schedule record */
#define TT__SCHED_DEPTH 4
static int tt__sched_has_children(const tt_sched *s) {
    return s->kind == TT_SCHED_SEQUENTIAL || s->kind == TT_SCHED_CHAINED;
}

/* i-th tensor of a checkpoint (parameters, then buffers). */
static int tt__ck_count(tt_ctx *ctx, const tt_ckpt *ck) {
    return (ck->tensors ? ck->n_tensors : (ck->n_tensors ? 0 : ctx->n_param_tensors)) + (ck->buffers ? ck->n_buffers : 0);
}
static tt_tensor *tt__ck_tensor(tt_ctx *ctx, const tt_ckpt *ck, int i, int *is_buffer) {
    int np = ck->tensors ? ck->n_tensors : ctx->n_param_tensors;
    *is_buffer = i >= np;
    if (i < np) return ck->tensors ? ck->tensors[i] : &ctx->params[i];
    return ck->buffers[i - np];
}

typedef struct tt__ck_emit {
    tt_ctx *ctx;
    tt_ckpt *ck;
    unsigned char *optim_blob; /* the optimizer's saved state (writing pass only) */
} tt__ck_emit;

static void tt__emit_tens(tt__wr *w, tt__ck_emit *e) {
    int n = tt__ck_count(e->ctx, e->ck), i, d, buf;
    uint64_t table = 4, off;
    for (i = 0; i < n; i++) {
        tt_tensor *t = tt__ck_tensor(e->ctx, e->ck, i, &buf);
        table += 2 + strlen(t->name) + 2 + 4u * (unsigned)t->ndim + 8;
    }
    off = (table + 3u) & ~(uint64_t)3u;
    tt__w32(w, (uint32_t)n);
    for (i = 0; i < n; i++) {
        tt_tensor *t = tt__ck_tensor(e->ctx, e->ck, i, &buf);
        unsigned char h[4];
        size_t nl = strlen(t->name);
        tt__put16(h, (unsigned)nl);
        tt__w(w, h, 2);
        tt__w(w, t->name, nl);
        h[0] = (unsigned char)buf; h[1] = (unsigned char)t->ndim;
        tt__w(w, h, 2);
        for (d = 0; d < t->ndim; d++) tt__w32(w, (uint32_t)t->shape[d]);
        tt__w64(w, off);
        off += (uint64_t)t->numel * 4u;
    }
    tt__wpad4(w);
    for (i = 0; i < n; i++) {
        tt_tensor *t = tt__ck_tensor(e->ctx, e->ck, i, &buf);
        tt__wfloats(w, t->data, t->numel);
    }
}

static void tt__emit_sched(tt__wr *w, const tt_sched *s, int depth) {
    int i, nc = tt__sched_has_children(s) ? s->u.composite.n : 0;
    double a = 0, b = 0;
    int32_t c = 0, d = 0;
    if (s->kind == TT_SCHED_COSINE_RESTARTS) { a = s->u.restarts.T_cur; b = s->u.restarts.T_i; }
    if (s->kind == TT_SCHED_PLATEAU) {
        a = s->u.plateau.best; c = s->u.plateau.num_bad_epochs; d = s->u.plateau.cooldown_counter;
    }
    tt__w32(w, (uint32_t)s->kind);
    tt__w32(w, (uint32_t)nc);
    tt__w32(w, (uint32_t)s->last_epoch);
    tt__w32(w, (uint32_t)s->cycles_momentum);
    tt__wf64(w, s->base_lr); tt__wf64(w, s->lr); tt__wf64(w, s->momentum);
    tt__wf64(w, a); tt__wf64(w, b);
    tt__w32(w, (uint32_t)c); tt__w32(w, (uint32_t)d);
    if (depth < TT__SCHED_DEPTH)
        for (i = 0; i < nc; i++) tt__emit_sched(w, s->u.composite.children[i], depth + 1);
}

static void tt__emit_section(tt__wr *w, int sec, tt__ck_emit *e) {
    tt_ckpt *ck = e->ck;
    int i;
    switch (sec) {
    case TT__CK_TENS: tt__emit_tens(w, e); break;
    case TT__CK_OPTM:
        tt__w32(w, (uint32_t)ck->optim->kind);
        tt__w32(w, 0);
        if (w->fn) tt__w(w, e->optim_blob, tt_optim_state_size(ck->optim));
        else w->pos += tt_optim_state_size(ck->optim);
        break;
    case TT__CK_SCHD: tt__emit_sched(w, ck->sched, 0); break;
    case TT__CK_RNG: for (i = 0; i < 4; i++) tt__w32(w, e->ctx->rng.s[i]); break;
    case TT__CK_STEP: tt__w64(w, (uint64_t)ck->step); break;
    case TT__CK_META:
        tt__w32(w, (uint32_t)ck->n_meta);
        for (i = 0; i < ck->n_meta; i++) {
            size_t kl = strlen(ck->meta[i].key), vl = strlen(ck->meta[i].value);
            tt__w32(w, (uint32_t)kl); tt__w(w, ck->meta[i].key, kl + 1);
            tt__w32(w, (uint32_t)vl); tt__w(w, ck->meta[i].value, vl + 1);
        }
        break;
    case TT__CK_XTRA: tt__w(w, ck->extra, ck->extra_bytes); break;
    case TT__CK_ITER:
        tt__w32(w, (uint32_t)ck->iter->n); tt__w32(w, (uint32_t)ck->iter->batch_size);
        tt__w32(w, (uint32_t)ck->iter->shuffle); tt__w32(w, (uint32_t)ck->iter->drop_last);
        tt__w64(w, ck->iter->seed); tt__w64(w, (uint64_t)ck->iter->epoch);
        tt__w32(w, (uint32_t)ck->iter->pos); tt__w32(w, 0);
        break;
    }
}

static int tt__ck_has(const tt_ckpt *ck, int sec) {
    switch (sec) {
    case TT__CK_OPTM: return ck->optim != NULL;
    case TT__CK_SCHD: return ck->sched != NULL;
    case TT__CK_RNG: return ck->rng != 0;
    case TT__CK_META: return ck->n_meta > 0;
    case TT__CK_XTRA: return ck->extra != NULL;
    case TT__CK_ITER: return ck->iter != NULL;
    }
    return 1;
}

/* Checks the save request; sets *bytes to the file size. */
static tt_result tt__ck_check(tt_ctx *ctx, tt_ckpt *ck, const char *op, uint64_t *bytes, uint32_t *nsec) {
    int n, i, j, sec;
    uint64_t total = TT__CK_HEADER;
    if (!ck) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: ck is NULL", op);
    ck->error = TT_IO_OK; ck->error_offset = 0;
    if (ck->n_tensors < 0 || ck->n_buffers < 0 || ck->n_meta < 0 || (ck->n_tensors && !ck->tensors) ||
        (ck->n_buffers && !ck->buffers) || (ck->n_meta && !ck->meta))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: negative count or NULL list with a nonzero count", op);
    n = tt__ck_count(ctx, ck);
    for (i = 0; i < n; i++) {
        tt_tensor *t = tt__ck_tensor(ctx, ck, i, &j);
        if (!t || !t->data) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: tensor %d is NULL", op, i);
        if (!t->name || !t->name[0] || strlen(t->name) > 65535)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: tensor %d has no name (or one over 65535 bytes)", op, i);
        for (j = 0; j < i; j++) {
            int b2;
            if (strcmp(tt__ck_tensor(ctx, ck, j, &b2)->name, t->name) == 0)
                return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: two tensors are named '%s'", op, t->name);
        }
    }
    for (i = 0; i < ck->n_meta; i++)
        if (!ck->meta[i].key || !ck->meta[i].value)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: metadata pair %d has a NULL key or value", op, i);
    if (ck->optim && !ck->optim->kind) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: optimizer is not initialised", op);
    if (ck->sched && ck->sched->kind == TT_SCHED_NONE)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: schedule is not initialised", op);
    if (ck->iter && (!ck->iter->perm || ck->iter->n < 1))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: batch iterator is not initialised", op);
    *nsec = 0;
    for (sec = 0; sec < TT__CK_NSEC; sec++) {
        tt__wr cnt;
        tt__ck_emit e;
        if (!tt__ck_has(ck, sec)) continue;
        memset(&cnt, 0, sizeof cnt);
        e.ctx = ctx; e.ck = ck; e.optim_blob = NULL;
        tt__emit_section(&cnt, sec, &e);
        total += 16 + ((cnt.pos + 3u) & ~(uint64_t)3u) + 4;
        (*nsec)++;
    }
    if (total > (uint64_t)(size_t)-1) return tt__fail(ctx, TT_ERR_OUT_OF_MEMORY, "%s: checkpoint too large", op);
    *bytes = total;
    return TT_OK;
}

TT__DEF tt_ckpt tt_ckpt_init(void) {
    tt_ckpt ck;
    memset(&ck, 0, sizeof ck);
    ck.rng = 1;
    ck.strict = 1;
    return ck;
}

TT__DEF tt_result tt_ckpt_size(tt_ctx *ctx, tt_ckpt *ck, size_t *bytes) {
    uint64_t total;
    uint32_t nsec;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!bytes) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_ckpt_size: bytes is NULL");
    if ((r = tt__ck_check(ctx, ck, "tt_ckpt_size", &total, &nsec)) != TT_OK) return r;
    *bytes = (size_t)total;
    return TT_OK;
}

TT__DEF tt_result tt_ckpt_save_stream(tt_ctx *ctx, tt_ckpt *ck, tt_write_fn write, void *user) {
    uint64_t total;
    uint32_t nsec;
    size_t mark;
    unsigned char h[TT__CK_HEADER];
    tt__wr w;
    tt__ck_emit e;
    tt_result r;
    int sec;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!write) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_ckpt_save: write function is NULL");
    if ((r = tt__ck_check(ctx, ck, "tt_ckpt_save", &total, &nsec)) != TT_OK) return r;
    mark = tt_scratch_mark(ctx);
    e.ctx = ctx; e.ck = ck; e.optim_blob = NULL;
    if (ck->optim) {
        e.optim_blob = (unsigned char *)tt__scratch(ctx, "tt_ckpt_save", tt_optim_state_size(ck->optim));
        if (!e.optim_blob) return ctx->err;
        if ((r = tt_optim_state_save(ctx, ck->optim, e.optim_blob, tt_optim_state_size(ck->optim))) != TT_OK) {
            tt_scratch_rewind(ctx, mark);
            return r;
        }
    }
    memset(&w, 0, sizeof w);
    w.fn = write; w.user = user;
    memcpy(h, tt__ck_magic, 8);
    tt__put32(h + 8, TT__CK_VERSION);
    tt__put32(h + 12, nsec);
    tt__put64(h + 16, total);
    tt__put32(h + 24, 0);
    tt__put32(h + 28, tt_crc32(0, h, 28));
    tt__w(&w, h, sizeof h);
    for (sec = 0; sec < TT__CK_NSEC && !w.failed; sec++) {
        tt__wr cnt;
        uint32_t crc;
        if (!tt__ck_has(ck, sec)) continue;
        memset(&cnt, 0, sizeof cnt);
        tt__emit_section(&cnt, sec, &e);
        w.crc = 0;
        tt__w32(&w, tt__ck_tags[sec]);
        tt__w32(&w, 0);
        tt__w64(&w, cnt.pos);
        tt__emit_section(&w, sec, &e);
        tt__wpad4(&w);
        crc = w.crc;
        tt__w32(&w, crc);
    }
    tt_scratch_rewind(ctx, mark);
    if (w.failed)
        return tt__io_fail(ctx, &ck->error, &ck->error_offset, TT_IO_WRITE_FAILED, (size_t)w.pos, TT_ERR_IO,
                           "tt_ckpt_save: the output refused bytes at offset %z of %z", (size_t)w.pos, (size_t)total);
    return TT_OK;
}

typedef struct tt__memsink {
    unsigned char *p;
    size_t cap, n;
} tt__memsink;
static size_t tt__memsink_write(void *user, const void *data, size_t n) {
    tt__memsink *m = (tt__memsink *)user;
    if (m->cap - m->n < n) return 0;
    memcpy(m->p + m->n, data, n);
    m->n += n;
    return n;
}

TT__DEF tt_result tt_ckpt_save_mem(tt_ctx *ctx, tt_ckpt *ck, void *buf, size_t cap, size_t *written) {
    size_t need;
    tt__memsink m;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!buf) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_ckpt_save_mem: buf is NULL");
    if ((r = tt_ckpt_size(ctx, ck, &need)) != TT_OK) return r;
    if (need > cap)
        return tt__io_fail(ctx, &ck->error, &ck->error_offset, TT_IO_TOO_LARGE, cap, TT_ERR_INVALID_ARGS,
                           "tt_ckpt_save_mem: the checkpoint needs %z bytes, the buffer has %z", need, cap);
    m.p = (unsigned char *)buf; m.cap = cap; m.n = 0;
    if ((r = tt_ckpt_save_stream(ctx, ck, tt__memsink_write, &m)) != TT_OK) return r;
    if (written) *written = m.n;
    return TT_OK;
}

/* ---- loading ---- */

typedef struct tt__ck_sec {
    size_t off, len;   /* payload offset in the file and length; off 0 = absent */
} tt__ck_sec;

typedef struct tt__tent {    /* one entry of the tensor table */
    const unsigned char *name;
    size_t name_len, entry_off, data_off;  /* data_off: file offset of the data */
    int kind, ndim;
    int shape[TT_MAX_DIMS];
    size_t numel;
} tt__tent;

/* Reads the entry at *pos of a TENS payload (p, len; file offset base); 0 if it does not fit. */
static int tt__tent_read(const unsigned char *p, size_t len, size_t base, size_t *pos, tt__tent *e, int *why) {
    size_t q = *pos, d;
    uint64_t off;
    *why = 0;
    e->entry_off = base + q;
    if (len - q < 2) return 0;
    e->name_len = tt__get16(p + q); q += 2;
    if (len - q < e->name_len + 2) return 0;
    e->name = p + q; q += e->name_len;
    e->kind = p[q]; e->ndim = p[q + 1]; q += 2;
    if (e->ndim > TT_MAX_DIMS) { *why = 1; return 0; }
    if (len - q < 4u * (size_t)e->ndim + 8) return 0;
    e->numel = 1;
    for (d = 0; d < (size_t)e->ndim; d++) {
        uint32_t v = tt__get32(p + q + 4 * d);
        if (v > 0x7fffffffu) { *why = 1; return 0; }
        e->shape[d] = (int)v;
        if (v && e->numel > ((size_t)-1 / 4) / v) { *why = 1; return 0; }
        e->numel *= v;
    }
    q += 4u * (size_t)e->ndim;
    off = tt__get64(p + q); q += 8;
    if (off > len) { *why = 2; e->data_off = (size_t)-1; }
    else e->data_off = base + (size_t)off;
    *pos = q;
    return 1;
}

static int tt__name_eq(const tt__tent *e, const char *name) {
    size_t n = strlen(name);
    return n == e->name_len && memcmp(e->name, name, n) == 0;
}

typedef struct tt__ck_load {
    tt_ctx *ctx;
    tt_ckpt *ck;
    const unsigned char *p;   /* the whole file */
    size_t len;
    tt__ck_sec sec[TT__CK_NSEC];
} tt__ck_load;

#define TT__CKFAIL(L, e, at, code, ...) tt__io_fail((L)->ctx, &(L)->ck->error, &(L)->ck->error_offset, e, at, code, __VA_ARGS__)

/* TENS: structure, then every model tensor against the table. apply: copy the data. */
static tt_result tt__ck_tens(tt__ck_load *L, int apply) {
    const unsigned char *p = L->p + L->sec[TT__CK_TENS].off;
    size_t len = L->sec[TT__CK_TENS].len, base = L->sec[TT__CK_TENS].off, pos = 4, data, i, count;
    int n = tt__ck_count(L->ctx, L->ck), k, why, buf;
    tt__tent e;
    char nm[52];
    if (len < 4) return TT__CKFAIL(L, TT_IO_MALFORMED, base, TT_ERR_FORMAT, "checkpoint: tensor table shorter than its count (offset %z)", base);
    count = tt__get32(p);
    if (!apply) {
        size_t expect;
        for (i = 0; i < count; i++) {
            if (!tt__tent_read(p, len, base, &pos, &e, &why))
                return TT__CKFAIL(L, TT_IO_MALFORMED, e.entry_off, TT_ERR_FORMAT,
                                  why ? "checkpoint: tensor entry %z has a bad rank or size (offset %z)"
                                      : "checkpoint: tensor entry %z runs past the table (offset %z)", i, e.entry_off);
            if (e.name_len == 0 || memchr(e.name, 0, e.name_len))
                return TT__CKFAIL(L, TT_IO_MALFORMED, e.entry_off, TT_ERR_FORMAT, "checkpoint: tensor entry %z has an empty or invalid name (offset %z)", i, e.entry_off);
        }
        data = (pos + 3u) & ~(size_t)3u;
        expect = data;
        for (pos = 4, i = 0; i < count; i++) {
            tt__tent_read(p, len, base, &pos, &e, &why);
            tt__io_name(nm, e.name, e.name_len);
            if (e.data_off != base + expect)
                return TT__CKFAIL(L, TT_IO_MALFORMED, e.entry_off, TT_ERR_FORMAT,
                                  "checkpoint: tensor '%s' (entry at offset %z): data offset is not where the previous tensor ends", nm, e.entry_off);
            if ((len - expect) / 4 < e.numel)
                return TT__CKFAIL(L, TT_IO_MALFORMED, e.entry_off, TT_ERR_FORMAT,
                                  "checkpoint: tensor '%s' (entry at offset %z): %z floats run past the section end", nm, e.entry_off, e.numel);
            expect += e.numel * 4;
        }
        if (expect != len)
            return TT__CKFAIL(L, TT_IO_MALFORMED, base + expect, TT_ERR_FORMAT, "checkpoint: tensor section has %z bytes after the last tensor (offset %z)",
                              len - expect, base + expect);
    }
    /* every model tensor: present once, same shape */
    for (k = 0; k < n; k++) {
        tt_tensor *t = tt__ck_tensor(L->ctx, L->ck, k, &buf);
        tt__tent hit;
        int found = 0;
        memset(&hit, 0, sizeof hit);
        for (pos = 4, i = 0; i < count; i++) {
            tt__tent_read(p, len, base, &pos, &e, &why);
            if (!tt__name_eq(&e, t->name)) continue;
            if (found)
                return TT__CKFAIL(L, TT_IO_MALFORMED, e.entry_off, TT_ERR_FORMAT, "checkpoint: tensor '%s' appears twice (offset %z)", t->name, e.entry_off);
            found = 1; hit = e;
        }
        if (!found)
            return TT__CKFAIL(L, TT_IO_MISSING, base, TT_ERR_FORMAT, "checkpoint: tensor '%s' of the model is missing from the file (tensor table at offset %z)",
                              t->name, base);
        if (hit.ndim != t->ndim || memcmp(hit.shape, t->shape, sizeof(int) * (size_t)t->ndim) != 0) {
            tt_tensor fake;
            memset(&fake, 0, sizeof fake);
            fake.ndim = hit.ndim;
            memcpy(fake.shape, hit.shape, sizeof hit.shape);
            return TT__CKFAIL(L, TT_IO_SHAPE, hit.entry_off, TT_ERR_SHAPE, "checkpoint: tensor '%s' has shape %S in the file (offset %z), %S in the model",
                              t->name, &fake, hit.entry_off, t);
        }
        if (apply) {
            const unsigned char *d = L->p + hit.data_off;
            size_t j;
            for (j = 0; j < t->numel; j++) { uint32_t u = tt__get32(d + 4 * j); memcpy(t->data + j, &u, 4); }
        }
    }
    if (!apply && L->ck->strict)
        for (pos = 4, i = 0; i < count; i++) {
            int known = 0;
            tt__tent_read(p, len, base, &pos, &e, &why);
            for (k = 0; k < n && !known; k++) known = tt__name_eq(&e, tt__ck_tensor(L->ctx, L->ck, k, &buf)->name);
            if (!known) {
                tt__io_name(nm, e.name, e.name_len);
                return TT__CKFAIL(L, TT_IO_EXTRA, e.entry_off, TT_ERR_FORMAT,
                                  "checkpoint: the file has tensor '%s' (offset %z) that the model lacks (strict)", nm, e.entry_off);
            }
        }
    return TT_OK;
}

/* SCHD: one record per schedule (children after their parent). */
static tt_result tt__ck_sched(tt__ck_load *L, tt_sched *s, size_t *pos, int depth, int apply) {
    const unsigned char *p = L->p + *pos;
    size_t end = L->sec[TT__CK_SCHD].off + L->sec[TT__CK_SCHD].len;
    uint32_t kind, nc;
    int i, want = tt__sched_has_children(s) ? s->u.composite.n : 0;
    if (end - *pos < TT__SCHED_REC)
        return TT__CKFAIL(L, TT_IO_MALFORMED, *pos, TT_ERR_FORMAT, "checkpoint: schedule record runs past its section (offset %z)", *pos);
    kind = tt__get32(p); nc = tt__get32(p + 4);
    if (kind != (uint32_t)s->kind || nc != (uint32_t)want)
        return TT__CKFAIL(L, TT_IO_MISMATCH, *pos, TT_ERR_FORMAT,
                          "checkpoint: saved schedule is kind %u with %u children, the given one %s with %d (offset %z)",
                          (unsigned)kind, (unsigned)nc, tt__sched_name(s->kind), want, *pos);
    if (apply) {
        s->last_epoch = (int)tt__get32(p + 8);
        s->cycles_momentum = (int)tt__get32(p + 12);
        s->base_lr = tt__bits_f64(tt__get64(p + 16));
        s->lr = tt__bits_f64(tt__get64(p + 24));
        s->momentum = tt__bits_f64(tt__get64(p + 32));
        if (s->kind == TT_SCHED_COSINE_RESTARTS) {
            s->u.restarts.T_cur = tt__bits_f64(tt__get64(p + 40));
            s->u.restarts.T_i = tt__bits_f64(tt__get64(p + 48));
        }
        if (s->kind == TT_SCHED_PLATEAU) {
            s->u.plateau.best = tt__bits_f64(tt__get64(p + 40));
            s->u.plateau.num_bad_epochs = (int)tt__get32(p + 56);
            s->u.plateau.cooldown_counter = (int)tt__get32(p + 60);
        }
    }
    *pos += TT__SCHED_REC;
    if (depth >= TT__SCHED_DEPTH) return TT_OK;
    for (i = 0; i < want; i++) {
        tt_result r = tt__ck_sched(L, s->u.composite.children[i], pos, depth + 1, apply);
        if (r != TT_OK) return r;
    }
    return TT_OK;
}

/* Everything but the tensors; apply: write the state. */
static tt_result tt__ck_rest(tt__ck_load *L, int apply) {
    tt_ckpt *ck = L->ck;
    tt__ck_sec *S = L->sec;
    size_t i, pos;
    tt_result r;
    if (ck->optim) {
        const unsigned char *p = L->p + S[TT__CK_OPTM].off;
        size_t len = S[TT__CK_OPTM].len;
        if (!S[TT__CK_OPTM].off)
            return TT__CKFAIL(L, TT_IO_MISSING, 0, TT_ERR_FORMAT, "checkpoint: no optimizer state in the file, one was asked for");
        if (len < 8 || tt__get32(p) != (uint32_t)ck->optim->kind || len - 8 != tt_optim_state_size(ck->optim))
            return TT__CKFAIL(L, TT_IO_MISMATCH, S[TT__CK_OPTM].off, TT_ERR_FORMAT,
                              "checkpoint: optimizer state (offset %z, %z bytes) is not for this %s over these parameters",
                              S[TT__CK_OPTM].off, len, tt_optim_name(ck->optim->kind));
        if (!apply) {
            /* the checks tt_optim_state_load makes, so that applying cannot fail */
            tt_optim_scalars sc;
            if (tt__optim_state_check(ck->optim, p + 8, len - 8, &sc))
                return TT__CKFAIL(L, TT_IO_MISMATCH, S[TT__CK_OPTM].off + 8, TT_ERR_FORMAT,
                                  "checkpoint: optimizer state (offset %z) does not fit this %s (other parameters, or another build)",
                                  S[TT__CK_OPTM].off + 8, tt_optim_name(ck->optim->kind));
        } else if ((r = tt_optim_state_load(L->ctx, ck->optim, p + 8, len - 8)) != TT_OK)
            return r;
    }
    if (ck->sched) {
        if (!S[TT__CK_SCHD].off)
            return TT__CKFAIL(L, TT_IO_MISSING, 0, TT_ERR_FORMAT, "checkpoint: no schedule state in the file, one was asked for");
        pos = S[TT__CK_SCHD].off;
        if ((r = tt__ck_sched(L, ck->sched, &pos, 0, apply)) != TT_OK) return r;
        if (pos != S[TT__CK_SCHD].off + S[TT__CK_SCHD].len)
            return TT__CKFAIL(L, TT_IO_MISMATCH, pos, TT_ERR_FORMAT, "checkpoint: schedule section has more records than the given schedule (offset %z)", pos);
    }
    if (ck->rng) {
        if (!S[TT__CK_RNG].off)
            return TT__CKFAIL(L, TT_IO_MISSING, 0, TT_ERR_FORMAT, "checkpoint: no RNG state in the file, it was asked for");
        if (S[TT__CK_RNG].len != 16)
            return TT__CKFAIL(L, TT_IO_MALFORMED, S[TT__CK_RNG].off, TT_ERR_FORMAT, "checkpoint: RNG section (offset %z) is not 16 bytes", S[TT__CK_RNG].off);
        if (apply)
            for (i = 0; i < 4; i++) L->ctx->rng.s[i] = tt__get32(L->p + S[TT__CK_RNG].off + 4 * i);
    }
    if (!S[TT__CK_STEP].off || S[TT__CK_STEP].len != 8)
        return TT__CKFAIL(L, S[TT__CK_STEP].off ? TT_IO_MALFORMED : TT_IO_MISSING, S[TT__CK_STEP].off, TT_ERR_FORMAT,
                          "checkpoint: step section missing or not 8 bytes");
    if (apply) ck->step = (int64_t)tt__get64(L->p + S[TT__CK_STEP].off);
    if (S[TT__CK_META].off) {
        const unsigned char *p = L->p + S[TT__CK_META].off;
        size_t len = S[TT__CK_META].len, count, q = 4, k;
        int ok = 1;
        if (len < 4) return TT__CKFAIL(L, TT_IO_MALFORMED, S[TT__CK_META].off, TT_ERR_FORMAT, "checkpoint: metadata section too short");
        count = tt__get32(p);
        for (i = 0; i < count && ok; i++) {
            const char *s[2];
            for (k = 0; k < 2 && ok; k++) {
                uint32_t n = 0;
                if (len - q < 4) { ok = 0; break; }
                n = tt__get32(p + q); q += 4;
                if (len - q <= n || p[q + n] != 0 || memchr(p + q, 0, n)) { ok = 0; break; }
                s[k] = (const char *)(p + q);
                q += (size_t)n + 1;
            }
            if (ok && apply && ck->on_meta) ck->on_meta(ck->meta_user, s[0], s[1]);
        }
        if (!ok || q != len)
            return TT__CKFAIL(L, TT_IO_MALFORMED, S[TT__CK_META].off + q, TT_ERR_FORMAT,
                              "checkpoint: metadata pair malformed at offset %z", S[TT__CK_META].off + q);
    }
    if (ck->iter) {
        const unsigned char *p = L->p + S[TT__CK_ITER].off;
        struct tt_batch_iter *it = ck->iter;
        int64_t epoch;
        uint32_t ipos;
        if (!it->perm) return tt__fail(L->ctx, TT_ERR_INVALID_ARGS, "tt_ckpt_load: batch iterator is not initialised");
        if (!S[TT__CK_ITER].off)
            return TT__CKFAIL(L, TT_IO_MISSING, 0, TT_ERR_FORMAT, "checkpoint: no batch iterator state in the file, it was asked for");
        if (S[TT__CK_ITER].len != 40)
            return TT__CKFAIL(L, TT_IO_MALFORMED, S[TT__CK_ITER].off, TT_ERR_FORMAT, "checkpoint: iterator section (offset %z) is not 40 bytes", S[TT__CK_ITER].off);
        if (tt__get32(p) != (uint32_t)it->n || tt__get32(p + 4) != (uint32_t)it->batch_size ||
            tt__get32(p + 8) != (uint32_t)it->shuffle || tt__get32(p + 12) != (uint32_t)it->drop_last)
            return TT__CKFAIL(L, TT_IO_MISMATCH, S[TT__CK_ITER].off, TT_ERR_FORMAT,
                              "checkpoint: saved iterator has %u samples in batches of %u (shuffle %u, drop_last %u), the given one %d, %d (offset %z)",
                              (unsigned)tt__get32(p), (unsigned)tt__get32(p + 4), (unsigned)tt__get32(p + 8), (unsigned)tt__get32(p + 12),
                              it->n, it->batch_size, S[TT__CK_ITER].off);
        epoch = (int64_t)tt__get64(p + 24);
        ipos = tt__get32(p + 32);
        if (epoch < 0 || ipos > (uint32_t)it->n)
            return TT__CKFAIL(L, TT_IO_MALFORMED, S[TT__CK_ITER].off + 24, TT_ERR_FORMAT, "checkpoint: iterator epoch or position out of range (offset %z)",
                              S[TT__CK_ITER].off + 24);
        if (apply) {
            it->seed = tt__get64(p + 16);
            if ((r = tt_batch_iter_seek(L->ctx, it, epoch, (int)ipos)) != TT_OK) return r;
        }
    }
    if (ck->extra) {
        size_t n = S[TT__CK_XTRA].off ? S[TT__CK_XTRA].len : 0;
        if (n > ck->extra_cap)
            return TT__CKFAIL(L, TT_IO_TOO_LARGE, S[TT__CK_XTRA].off, TT_ERR_FORMAT,
                              "checkpoint: extra record has %z bytes, the buffer %z (offset %z)", n, ck->extra_cap, S[TT__CK_XTRA].off);
        if (apply) {
            if (n) memcpy(ck->extra, L->p + S[TT__CK_XTRA].off, n);
            ck->extra_bytes = n;
        }
    }
    return TT_OK;
}

TT__DEF tt_result tt_ckpt_load_mem(tt_ctx *ctx, tt_ckpt *ck, const void *buf, size_t len) {
    tt__ck_load L;
    const unsigned char *p = (const unsigned char *)buf;
    size_t pos = TT__CK_HEADER, i;
    uint32_t nsec;
    uint64_t total;
    tt_result r;
    int s, k, buf_;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!ck) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_ckpt_load: ck is NULL");
    ck->error = TT_IO_OK; ck->error_offset = 0;
    if (!buf && len) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_ckpt_load: buf is NULL");
    if (ck->n_tensors < 0 || ck->n_buffers < 0 || (ck->n_tensors && !ck->tensors) || (ck->n_buffers && !ck->buffers) ||
        (ck->extra && !ck->extra_cap && 0))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_ckpt_load: negative count or NULL list with a nonzero count");
    for (k = 0; k < tt__ck_count(ctx, ck); k++) {
        tt_tensor *t = tt__ck_tensor(ctx, ck, k, &buf_);
        if (!t || !t->data || !t->name) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_ckpt_load: tensor %d is NULL or has no name", k);
    }
    memset(&L, 0, sizeof L);
    L.ctx = ctx; L.ck = ck; L.p = p; L.len = len;
    if (len < 8 || memcmp(p, tt__ck_magic, 8) != 0) {
        if (len >= 8 || memcmp(p, tt__ck_magic, len) != 0)
            return TT__CKFAIL(&L, TT_IO_BAD_MAGIC, 0, TT_ERR_FORMAT, "checkpoint: not a tinytrain checkpoint (bad magic at offset 0)");
    }
    if (len < TT__CK_HEADER)
        return TT__CKFAIL(&L, TT_IO_TRUNCATED, len, TT_ERR_FORMAT, "checkpoint: truncated: %z bytes, the header alone has 32", len);
    if (tt__get32(p + 28) != tt_crc32(0, p, 28))
        return TT__CKFAIL(&L, TT_IO_BAD_CRC, 0, TT_ERR_FORMAT, "checkpoint: CRC mismatch in the file header (bytes 0..31)");
    if (tt__get32(p + 8) != TT__CK_VERSION)
        return TT__CKFAIL(&L, TT_IO_BAD_VERSION, 8, TT_ERR_FORMAT, "checkpoint: format version %u, this build reads version %u (offset 8)",
                          (unsigned)tt__get32(p + 8), TT__CK_VERSION);
    if (tt__get32(p + 24) != 0)
        return TT__CKFAIL(&L, TT_IO_MALFORMED, 24, TT_ERR_FORMAT, "checkpoint: unknown flags %u in the header (offset 24)", (unsigned)tt__get32(p + 24));
    nsec = tt__get32(p + 12);
    total = tt__get64(p + 16);
    if (total > len)
        return TT__CKFAIL(&L, TT_IO_TRUNCATED, len, TT_ERR_FORMAT, "checkpoint: truncated: the file has %z bytes, its header says %z",
                          len, (size_t)(total > (uint64_t)(size_t)-1 ? (size_t)-1 : total));
    if (total < len)
        return TT__CKFAIL(&L, TT_IO_MALFORMED, (size_t)total, TT_ERR_FORMAT, "checkpoint: %z bytes after the end its header gives (offset %z)",
                          len - (size_t)total, (size_t)total);
    for (i = 0; i < nsec; i++) {
        uint32_t tag;
        uint64_t plen;
        size_t padded;
        if (len - pos < 16)
            return TT__CKFAIL(&L, pos == len ? TT_IO_MALFORMED : TT_IO_TRUNCATED, pos, TT_ERR_FORMAT,
                              "checkpoint: section %z of %u starts at offset %z, past the end of the data", i, (unsigned)nsec, pos);
        tag = tt__get32(p + pos);
        plen = tt__get64(p + pos + 8);
        if (plen > len - pos - 16 || ((plen + 3u) & ~(uint64_t)3u) + 4u > len - pos - 16)
            return TT__CKFAIL(&L, TT_IO_MALFORMED, pos, TT_ERR_FORMAT, "checkpoint: section at offset %z claims %z bytes, more than the file holds",
                              pos, (size_t)(plen > (uint64_t)(size_t)-1 ? (size_t)-1 : plen));
        padded = (size_t)((plen + 3u) & ~(uint64_t)3u);
        for (s = 0; s < TT__CK_NSEC && tt__ck_tags[s] != tag; s++) {}
        {
            char nm[8];
            tt__io_name(nm, p + pos, 4);
            if (tt__get32(p + pos + 16 + padded) != tt_crc32(0, p + pos, 16 + padded))
                return TT__CKFAIL(&L, TT_IO_BAD_CRC, pos, TT_ERR_FORMAT, "checkpoint: CRC mismatch in section '%s' (offset %z, %z bytes)",
                                  nm, pos, padded + 20);
            if (s == TT__CK_NSEC)
                return TT__CKFAIL(&L, TT_IO_MALFORMED, pos, TT_ERR_FORMAT, "checkpoint: unknown section '%s' at offset %z", nm, pos);
        }
        if (L.sec[s].off)
            return TT__CKFAIL(&L, TT_IO_MALFORMED, pos, TT_ERR_FORMAT, "checkpoint: section '%s' appears twice (offset %z)", tt__ck_names[s], pos);
        if (tt__get32(p + pos + 4) != 0)
            return TT__CKFAIL(&L, TT_IO_MALFORMED, pos + 4, TT_ERR_FORMAT, "checkpoint: unknown flags in section '%s' (offset %z)", tt__ck_names[s], pos + 4);
        for (k = 0; (size_t)k < padded - (size_t)plen; k++)
            if (p[pos + 16 + (size_t)plen + (size_t)k])
                return TT__CKFAIL(&L, TT_IO_MALFORMED, pos + 16 + (size_t)plen, TT_ERR_FORMAT, "checkpoint: nonzero padding in section '%s'", tt__ck_names[s]);
        L.sec[s].off = pos + 16;
        L.sec[s].len = (size_t)plen;
        pos += 16 + padded + 4;
    }
    if (pos != len)
        return TT__CKFAIL(&L, TT_IO_MALFORMED, pos, TT_ERR_FORMAT, "checkpoint: %z bytes after the last section (offset %z)", len - pos, pos);
    if (!L.sec[TT__CK_TENS].off)
        return TT__CKFAIL(&L, TT_IO_MISSING, 0, TT_ERR_FORMAT, "checkpoint: no tensor section");
    /* pass 1: validate everything; pass 2: apply (cannot fail after pass 1) */
    if ((r = tt__ck_tens(&L, 0)) != TT_OK) return r;
    if ((r = tt__ck_rest(&L, 0)) != TT_OK) return r;
    if ((r = tt__ck_rest(&L, 1)) != TT_OK) return r;
    return tt__ck_tens(&L, 1);
}

#ifndef TT_NO_STDIO
/* ---- atomic files ---- */

typedef struct tt__filesink {
#ifdef TT__POSIX_FILES
    int fd;
#else
    FILE *f;
#endif
    const tt_save_hook *hook;
    size_t pos;
    int err;          /* errno of the failure, or -1 for a refusal by the hook */
} tt__filesink;

static size_t tt__filesink_write(void *user, const void *data, size_t n) {
    tt__filesink *s = (tt__filesink *)user;
    const unsigned char *p = (const unsigned char *)data;
    size_t want = n, done = 0;
    if (s->hook && s->hook->accept) {
        want = s->hook->accept(s->hook->user, s->pos, n);
        if (want > n) want = n;
    }
#ifdef TT__POSIX_FILES
    while (done < want) {
        ssize_t k = write(s->fd, p + done, want - done);
        if (k < 0) {
            if (errno == EINTR) continue;
            s->err = errno;
            break;
        }
        done += (size_t)k;
    }
#else
    done = fwrite(p, 1, want, s->f);
    if (done < want) s->err = errno ? errno : EIO;
#endif
    s->pos += done;
    if (done < n && !s->err) s->err = -1;
    return done;
}

static const char *tt__errno_text(int e) {
    return e == -1 ? "no space left on the device (refused by the write hook)" : strerror(e);
}

static tt_io_error tt__errno_kind(int e) {
    if (e == ENOENT || e == ENOTDIR) return TT_IO_NO_DIR;
    if (e == EACCES || e == EPERM
#ifdef EROFS
        || e == EROFS
#endif
    )
        return TT_IO_READ_ONLY;
    return TT_IO_WRITE_FAILED;
}

typedef tt_result (*tt__produce_fn)(tt_ctx *ctx, void *arg, tt_write_fn write, void *user);

/* Writes through produce() into a temporary file beside path, then renames it over path. */
static tt_result tt__atomic_write(tt_ctx *ctx, const char *op, const char *path, const tt_save_hook *hook,
                                  tt__produce_fn produce, void *arg, tt_io_error *err, size_t *err_off) {
    char tmp[4096 + 32];
    size_t pl, i;
    tt__filesink s;
    tt_result r, prev;
    int e;
    if (!path || !path[0]) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: path is NULL or empty", op);
    pl = strlen(path);
    if (pl > 4096) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: path longer than 4096 bytes", op);
    memcpy(tmp, path, pl);
    {
        /* "<path>.tmp-<pid>" */
        unsigned long id;
        char num[24];
        int n = 0;
#ifdef TT__POSIX_FILES
        id = (unsigned long)getpid();
#else
        id = 0;
#endif
        memcpy(tmp + pl, ".tmp-", 5);
        do { num[n++] = (char)('0' + (int)(id % 10u)); id /= 10u; } while (id);
        for (i = 0; i < (size_t)n; i++) tmp[pl + 5 + i] = num[n - 1 - (int)i];
        tmp[pl + 5 + (size_t)n] = 0;
    }
    memset(&s, 0, sizeof s);
    s.hook = hook;
    errno = 0;
#ifdef TT__POSIX_FILES
    s.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (s.fd < 0) {
#else
    s.f = fopen(tmp, "wb");
    if (!s.f) {
#endif
        e = errno;
        return tt__io_fail(ctx, err, err_off, tt__errno_kind(e), 0, TT_ERR_IO, "%s: cannot create '%s': %s", op, tmp, strerror(e));
    }
    prev = ctx->err;
    r = produce(ctx, arg, tt__filesink_write, &s);
    if (r == TT_OK || s.err) {
        if (!s.err) {
#ifdef TT__POSIX_FILES
            if (fsync(s.fd) != 0) s.err = errno;
#else
            if (fflush(s.f) != 0) s.err = errno ? errno : EIO;
#endif
        }
    }
#ifdef TT__POSIX_FILES
    if (close(s.fd) != 0 && !s.err) s.err = errno;
#else
    if (fclose(s.f) != 0 && !s.err) s.err = errno ? errno : EIO;
#endif
    if (r == TT_OK && !s.err) {
#ifndef TT__POSIX_FILES
        remove(path); /* rename does not replace on every platform */
#endif
        if (rename(tmp, path) != 0) s.err = errno;
    }
    if (r != TT_OK || s.err) {
        remove(tmp);
        if (s.err) {
            /* the produce error (if any) was about the sink; report the system's reason */
            if (prev == TT_OK && ctx->err == TT_ERR_IO) tt_clear_error(ctx);
            return tt__io_fail(ctx, err, err_off,
                               s.err != -1 && tt__errno_kind(s.err) == TT_IO_READ_ONLY ? TT_IO_READ_ONLY : TT_IO_WRITE_FAILED,
                               s.pos, TT_ERR_IO, "%s: writing '%s' failed after %z bytes: %s; '%s' is unchanged", op, tmp, s.pos,
                               tt__errno_text(s.err), path);
        }
        return r;
    }
#ifdef TT__POSIX_FILES
    {
        /* make the rename itself durable */
        char dir[4096 + 32];
        const char *slash = strrchr(path, '/');
        int fd;
        if (slash) {
            size_t dl = (size_t)(slash - path);
            memcpy(dir, path, dl ? dl : 1);
            dir[dl ? dl : 1] = 0;
        } else {
            dir[0] = '.'; dir[1] = 0;
        }
        fd = open(dir, O_RDONLY);
        if (fd >= 0) { (void)fsync(fd); close(fd); }
    }
#endif
    return TT_OK;
}

static tt_result tt__ck_produce(tt_ctx *ctx, void *arg, tt_write_fn write, void *user) {
    return tt_ckpt_save_stream(ctx, (tt_ckpt *)arg, write, user);
}

TT__DEF tt_result tt_ckpt_save_hooked(tt_ctx *ctx, tt_ckpt *ck, const char *path, const tt_save_hook *hook) {
    size_t need;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if ((r = tt_ckpt_size(ctx, ck, &need)) != TT_OK) return r;  /* argument errors before any file */
    return tt__atomic_write(ctx, "tt_ckpt_save", path, hook, tt__ck_produce, ck, &ck->error, &ck->error_offset);
}

TT__DEF tt_result tt_ckpt_save(tt_ctx *ctx, tt_ckpt *ck, const char *path) {
    return tt_ckpt_save_hooked(ctx, ck, path, NULL);
}

/* Reads a whole file into a buffer from the context's allocator. */
static tt_result tt__io_read_file(tt_ctx *ctx, const char *op, const char *path, unsigned char **out, size_t *len,
                               tt_io_error *err, size_t *err_off) {
    FILE *f;
    long n;
    unsigned char *p;
    int e;
    if (!path) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: path is NULL", op);
    errno = 0;
    f = fopen(path, "rb");
    if (!f) {
        e = errno;
        return tt__io_fail(ctx, err, err_off, TT_IO_OPEN_FAILED, 0, TT_ERR_IO, "%s: cannot open '%s': %s", op, path, strerror(e));
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        e = errno;
        fclose(f);
        return tt__io_fail(ctx, err, err_off, TT_IO_OPEN_FAILED, 0, TT_ERR_IO, "%s: cannot read '%s': %s", op, path, strerror(e));
    }
    p = (unsigned char *)(ctx->desc.allocator.alloc ? ctx->desc.allocator.alloc((size_t)n + 1, ctx->desc.allocator.user)
                                                    : TT_MALLOC((size_t)n + 1));
    if (!p) {
        fclose(f);
        return tt__fail(ctx, TT_ERR_OUT_OF_MEMORY, "%s: no memory for the %z bytes of '%s'", op, (size_t)n, path);
    }
    if (fread(p, 1, (size_t)n, f) != (size_t)n) {
        e = errno;
        fclose(f);
        if (ctx->desc.allocator.free) ctx->desc.allocator.free(p, ctx->desc.allocator.user); else TT_FREE(p);
        return tt__io_fail(ctx, err, err_off, TT_IO_OPEN_FAILED, 0, TT_ERR_IO, "%s: reading '%s' failed: %s", op, path, strerror(e));
    }
    fclose(f);
    *out = p;
    *len = (size_t)n;
    return TT_OK;
}
static void tt__io_free_file(tt_ctx *ctx, unsigned char *p) {
    if (ctx->desc.allocator.free) ctx->desc.allocator.free(p, ctx->desc.allocator.user);
    else TT_FREE(p);
}

TT__DEF tt_result tt_ckpt_load(tt_ctx *ctx, tt_ckpt *ck, const char *path) {
    unsigned char *p = NULL;
    size_t n = 0;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!ck) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_ckpt_load: ck is NULL");
    ck->error = TT_IO_OK; ck->error_offset = 0;
    if ((r = tt__io_read_file(ctx, "tt_ckpt_load", path, &p, &n, &ck->error, &ck->error_offset)) != TT_OK) return r;
    r = tt_ckpt_load_mem(ctx, ck, p, n);
    tt__io_free_file(ctx, p);
    return r;
}
#endif /* TT_NO_STDIO */


/* ---- safetensors ---- */

#define TT__ST_MAX_DEPTH 64

/* The model's list of tensors, through the checkpoint helpers. */
static tt_ckpt tt__st_list(const tt_safetensors_opts *o) {
    tt_ckpt ck;
    memset(&ck, 0, sizeof ck);
    ck.tensors = o->tensors; ck.n_tensors = o->n_tensors;
    ck.buffers = o->buffers; ck.n_buffers = o->n_buffers;
    return ck;
}

TT__DEF tt_safetensors_opts tt_safetensors_opts_init(void) {
    tt_safetensors_opts o;
    memset(&o, 0, sizeof o);
    o.strict = 1;
    o.max_header = 100000000u;
    return o;
}

/* JSON string with the escapes JSON needs. */
static void tt__w_jstr(tt__wr *w, const char *s) {
    static const char hex[] = "0123456789abcdef";
    tt__w(w, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { char e[2]; e[0] = '\\'; e[1] = (char)c; tt__w(w, e, 2); }
        else if (c < 0x20) { char e[6] = {'\\', 'u', '0', '0', 0, 0}; e[4] = hex[c >> 4]; e[5] = hex[c & 15]; tt__w(w, e, 6); }
        else tt__w(w, &c, 1);
    }
    tt__w(w, "\"", 1);
}
static void tt__w_dec(tt__wr *w, uint64_t v) {
    char t[24];
    int n = 0;
    do { t[23 - n++] = (char)('0' + (int)(v % 10u)); v /= 10u; } while (v);
    tt__w(w, t + 24 - n, (size_t)n);
}

static void tt__st_emit_header(tt__wr *w, tt_ctx *ctx, const tt_safetensors_opts *o) {
    tt_ckpt L = tt__st_list(o);
    int n = tt__ck_count(ctx, &L), i, d, buf;
    uint64_t off = 0;
    tt__w(w, "{", 1);
    if (o->n_meta > 0) {
        tt__w(w, "\"__metadata__\":{", 16);
        for (i = 0; i < o->n_meta; i++) {
            if (i) tt__w(w, ",", 1);
            tt__w_jstr(w, o->meta[i].key);
            tt__w(w, ":", 1);
            tt__w_jstr(w, o->meta[i].value);
        }
        tt__w(w, "}", 1);
        if (n) tt__w(w, ",", 1);
    }
    for (i = 0; i < n; i++) {
        tt_tensor *t = tt__ck_tensor(ctx, &L, i, &buf);
        if (i) tt__w(w, ",", 1);
        tt__w_jstr(w, t->name);
        tt__w(w, ":{\"dtype\":\"F32\",\"shape\":[", 25);
        for (d = 0; d < t->ndim; d++) {
            if (d) tt__w(w, ",", 1);
            tt__w_dec(w, (uint64_t)t->shape[d]);
        }
        tt__w(w, "],\"data_offsets\":[", 18);
        tt__w_dec(w, off);
        tt__w(w, ",", 1);
        off += (uint64_t)t->numel * 4u;
        tt__w_dec(w, off);
        tt__w(w, "]}", 2);
    }
    tt__w(w, "}", 1);
}

/* Checks the save request; *hlen: padded header length, *total: file size. */
static tt_result tt__st_check(tt_ctx *ctx, tt_safetensors_opts *o, const char *op, uint64_t *hlen, uint64_t *total) {
    tt_ckpt L;
    tt__wr cnt;
    uint64_t data = 0;
    int n, i, j, buf;
    if (!o) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: opts is NULL", op);
    o->error = TT_IO_OK; o->error_offset = 0;
    if (o->n_tensors < 0 || o->n_buffers < 0 || o->n_meta < 0 || (o->n_tensors && !o->tensors) ||
        (o->n_buffers && !o->buffers) || (o->n_meta && !o->meta))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: negative count or NULL list with a nonzero count", op);
    L = tt__st_list(o);
    n = tt__ck_count(ctx, &L);
    for (i = 0; i < n; i++) {
        tt_tensor *t = tt__ck_tensor(ctx, &L, i, &buf);
        if (!t || !t->data || !t->name || !t->name[0] || strcmp(t->name, "__metadata__") == 0)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: tensor %d is NULL, unnamed or named __metadata__", op, i);
        for (j = 0; j < i; j++)
            if (strcmp(tt__ck_tensor(ctx, &L, j, &buf)->name, t->name) == 0)
                return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: two tensors are named '%s'", op, t->name);
        data += (uint64_t)t->numel * 4u;
    }
    for (i = 0; i < o->n_meta; i++)
        if (!o->meta[i].key || !o->meta[i].value)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: metadata pair %d has a NULL key or value", op, i);
    memset(&cnt, 0, sizeof cnt);
    tt__st_emit_header(&cnt, ctx, o);
    *hlen = (cnt.pos + 7u) & ~(uint64_t)7u;
    *total = 8 + *hlen + data;
    if (*total > (uint64_t)(size_t)-1) return tt__fail(ctx, TT_ERR_OUT_OF_MEMORY, "%s: file too large", op);
    return TT_OK;
}

TT__DEF tt_result tt_safetensors_size(tt_ctx *ctx, tt_safetensors_opts *o, size_t *bytes) {
    uint64_t h, total;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!bytes) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_safetensors_size: bytes is NULL");
    if ((r = tt__st_check(ctx, o, "tt_safetensors_size", &h, &total)) != TT_OK) return r;
    *bytes = (size_t)total;
    return TT_OK;
}

TT__DEF tt_result tt_safetensors_save_stream(tt_ctx *ctx, tt_safetensors_opts *o, tt_write_fn write, void *user) {
    uint64_t h, total;
    tt__wr w, cnt;
    tt_ckpt L;
    tt_result r;
    int i, n, buf;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!write) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_safetensors_save: write function is NULL");
    if ((r = tt__st_check(ctx, o, "tt_safetensors_save", &h, &total)) != TT_OK) return r;
    memset(&w, 0, sizeof w);
    w.fn = write; w.user = user;
    tt__w64(&w, h);
    memset(&cnt, 0, sizeof cnt);
    tt__st_emit_header(&cnt, ctx, o);
    tt__st_emit_header(&w, ctx, o);
    while (cnt.pos < h) { tt__w(&w, " ", 1); cnt.pos++; }
    L = tt__st_list(o);
    n = tt__ck_count(ctx, &L);
    for (i = 0; i < n; i++) {
        tt_tensor *t = tt__ck_tensor(ctx, &L, i, &buf);
        tt__wfloats(&w, t->data, t->numel);
    }
    if (w.failed)
        return tt__io_fail(ctx, &o->error, &o->error_offset, TT_IO_WRITE_FAILED, (size_t)w.pos, TT_ERR_IO,
                           "tt_safetensors_save: the output refused bytes at offset %z of %z", (size_t)w.pos, (size_t)total);
    return TT_OK;
}

TT__DEF tt_result tt_safetensors_save_mem(tt_ctx *ctx, tt_safetensors_opts *o, void *buf, size_t cap, size_t *written) {
    size_t need;
    tt__memsink m;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!buf) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_safetensors_save_mem: buf is NULL");
    if ((r = tt_safetensors_size(ctx, o, &need)) != TT_OK) return r;
    if (need > cap)
        return tt__io_fail(ctx, &o->error, &o->error_offset, TT_IO_TOO_LARGE, cap, TT_ERR_INVALID_ARGS,
                           "tt_safetensors_save_mem: the file needs %z bytes, the buffer has %z", need, cap);
    m.p = (unsigned char *)buf; m.cap = cap; m.n = 0;
    if ((r = tt_safetensors_save_stream(ctx, o, tt__memsink_write, &m)) != TT_OK) return r;
    if (written) *written = m.n;
    return TT_OK;
}

/* ---- a small JSON reader for exactly the safetensors header ---- */

typedef struct tt__js {
    const unsigned char *p;
    size_t n, i;       /* header bytes and position */
    size_t base;       /* file offset of p[0] (8) */
    const char *why;   /* first problem */
    size_t at;
} tt__js;

static int tt__js_err(tt__js *j, const char *why) {
    if (!j->why) { j->why = why; j->at = j->base + j->i; }
    return 0;
}
static void tt__js_ws(tt__js *j) {
    while (j->i < j->n && (j->p[j->i] == ' ' || j->p[j->i] == '\t' || j->p[j->i] == '\n' || j->p[j->i] == '\r')) j->i++;
}
static int tt__js_lit(tt__js *j, char c) {
    tt__js_ws(j);
    if (j->i < j->n && j->p[j->i] == (unsigned char)c) { j->i++; return 1; }
    return 0;
}
static int tt__js_hex4(tt__js *j, unsigned *v) {
    int k;
    *v = 0;
    if (j->n - j->i < 4) return tt__js_err(j, "\\u escape cut short");
    for (k = 0; k < 4; k++) {
        unsigned char c = j->p[j->i++];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                   : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 99u;
        if (d == 99u) return tt__js_err(j, "bad hex digit in a \\u escape");
        *v = *v * 16u + d;
    }
    return 1;
}
/* A string, decoded to UTF-8 into out (may be NULL: validate only); *len gets its length. */
static int tt__js_string(tt__js *j, char *out, size_t *len) {
    size_t k = 0;
    tt__js_ws(j);
    if (j->i >= j->n || j->p[j->i] != '"') return tt__js_err(j, "expected a string");
    j->i++;
    for (;;) {
        unsigned char c;
        unsigned cp;
        if (j->i >= j->n) return tt__js_err(j, "unterminated string");
        c = j->p[j->i++];
        if (c == '"') break;
        if (c < 0x20) return tt__js_err(j, "control character in a string");
        if (c != '\\') { if (out) out[k] = (char)c; k++; continue; }
        if (j->i >= j->n) return tt__js_err(j, "unterminated escape");
        c = j->p[j->i++];
        switch (c) {
        case '"': case '\\': case '/': cp = c; break;
        case 'b': cp = 8; break;
        case 'f': cp = 12; break;
        case 'n': cp = 10; break;
        case 'r': cp = 13; break;
        case 't': cp = 9; break;
        case 'u':
            if (!tt__js_hex4(j, &cp)) return 0;
            if (cp >= 0xDC00u && cp <= 0xDFFFu) return tt__js_err(j, "lone low surrogate");
            if (cp >= 0xD800u && cp <= 0xDBFFu) {
                unsigned lo;
                if (j->n - j->i < 2 || j->p[j->i] != '\\' || j->p[j->i + 1] != 'u') return tt__js_err(j, "lone high surrogate");
                j->i += 2;
                if (!tt__js_hex4(j, &lo)) return 0;
                if (lo < 0xDC00u || lo > 0xDFFFu) return tt__js_err(j, "bad surrogate pair");
                cp = 0x10000u + ((cp - 0xD800u) << 10) + (lo - 0xDC00u);
            }
            break;
        default: return tt__js_err(j, "unknown escape");
        }
        if (cp == 0) return tt__js_err(j, "\\u0000 in a string");
        if (cp < 0x80) { if (out) out[k] = (char)cp; k++; }
        else if (cp < 0x800) {
            if (out) { out[k] = (char)(0xC0 | (cp >> 6)); out[k + 1] = (char)(0x80 | (cp & 63)); }
            k += 2;
        } else if (cp < 0x10000) {
            if (out) { out[k] = (char)(0xE0 | (cp >> 12)); out[k + 1] = (char)(0x80 | ((cp >> 6) & 63)); out[k + 2] = (char)(0x80 | (cp & 63)); }
            k += 3;
        } else {
            if (out) {
                out[k] = (char)(0xF0 | (cp >> 18)); out[k + 1] = (char)(0x80 | ((cp >> 12) & 63));
                out[k + 2] = (char)(0x80 | ((cp >> 6) & 63)); out[k + 3] = (char)(0x80 | (cp & 63));
            }
            k += 4;
        }
    }
    if (out) out[k] = 0;
    if (len) *len = k;
    return 1;
}
/* A non-negative integer without fraction or exponent. */
static int tt__js_uint(tt__js *j, uint64_t *v) {
    size_t start;
    tt__js_ws(j);
    start = j->i;
    *v = 0;
    while (j->i < j->n && j->p[j->i] >= '0' && j->p[j->i] <= '9') {
        unsigned d = (unsigned)(j->p[j->i] - '0');
        if (*v > (UINT64_MAX - d) / 10u) return tt__js_err(j, "integer too large");
        *v = *v * 10u + d;
        j->i++;
    }
    if (j->i == start) return tt__js_err(j, "expected a non-negative integer");
    if (j->i - start > 1 && j->p[start] == '0') return tt__js_err(j, "integer with a leading zero");
    if (j->i < j->n && (j->p[j->i] == '.' || j->p[j->i] == 'e' || j->p[j->i] == 'E'))
        return tt__js_err(j, "expected an integer");
    return 1;
}
/* Skip any JSON value (depth-limited). */
static int tt__js_skip(tt__js *j, int depth) {
    unsigned char c;
    if (depth > TT__ST_MAX_DEPTH) return tt__js_err(j, "nesting too deep");
    tt__js_ws(j);
    if (j->i >= j->n) return tt__js_err(j, "expected a value");
    c = j->p[j->i];
    if (c == '"') return tt__js_string(j, NULL, NULL);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        j->i++;
        if (tt__js_lit(j, close)) return 1;
        do {
            if (c == '{') {
                if (!tt__js_string(j, NULL, NULL)) return 0;
                if (!tt__js_lit(j, ':')) return tt__js_err(j, "expected ':'");
            }
            if (!tt__js_skip(j, depth + 1)) return 0;
        } while (tt__js_lit(j, ','));
        return tt__js_lit(j, close) ? 1 : tt__js_err(j, "expected ',' or a closing bracket");
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        if (c == '-') j->i++;
        while (j->i < j->n && ((j->p[j->i] >= '0' && j->p[j->i] <= '9') || j->p[j->i] == '.' || j->p[j->i] == 'e' ||
                               j->p[j->i] == 'E' || j->p[j->i] == '+' || j->p[j->i] == '-'))
            j->i++;
        return 1;
    }
    if (j->n - j->i >= 4 && (memcmp(j->p + j->i, "true", 4) == 0 || memcmp(j->p + j->i, "null", 4) == 0)) { j->i += 4; return 1; }
    if (j->n - j->i >= 5 && memcmp(j->p + j->i, "false", 5) == 0) { j->i += 5; return 1; }
    return tt__js_err(j, "unexpected character");
}

/* One tensor of the header. */
typedef struct tt__st_ent {
    const char *name;     /* decoded, in scratch */
    size_t name_len, at;  /* at: file offset of the key */
    int dtype;            /* index into tt__st_dtypes */
    int ndim;
    int shape[TT_MAX_DIMS];
    size_t numel;
    uint64_t begin, end;
} tt__st_ent;

static const char *const tt__st_dtypes[] = {"F32", "F16", "BF16", "F64", "I64", "I32"};
static const int tt__st_dsize[] = {4, 2, 2, 8, 8, 4};
#define TT__ST_NDTYPES 6

/* Parses the header into names (header length + 1 bytes: every decoded string fits). ents NULL:
   count the tensors into *count; else also fill ents (room for the count of the first pass, which
   the second pass cannot exceed: it reads the same bytes). Metadata pairs go to on_meta if apply. */
static int tt__st_parse(tt__js *j, tt__st_ent *ents, size_t *count, char *names, const tt_safetensors_opts *o, int apply) {
    size_t k = 0, noff = 0;
    int seen_meta = 0;
    j->i = 0;
    if (j->n == 0 || j->p[0] != '{') return tt__js_err(j, "header does not start with '{'");
    j->i = 1;
    if (!tt__js_lit(j, '}')) {
        do {
            size_t key_at, klen;
            char *key = names + noff;
            tt__js_ws(j);
            key_at = j->base + j->i;
            if (!tt__js_string(j, key, &klen)) return 0;
            if (!tt__js_lit(j, ':')) return tt__js_err(j, "expected ':'");
            tt__js_ws(j);
            if (klen == 12 && memcmp(key, "__metadata__", 12) == 0) {
                if (seen_meta++) return tt__js_err(j, "duplicate __metadata__");
                if (!tt__js_lit(j, '{')) return tt__js_err(j, "__metadata__ is not an object");
                if (tt__js_lit(j, '}')) continue;
                do {
                    size_t kl, vl;
                    char *mk = names + noff + 13, *mv;
                    if (!tt__js_string(j, mk, &kl)) return 0;
                    if (!tt__js_lit(j, ':')) return tt__js_err(j, "expected ':'");
                    mv = mk + kl + 1;
                    tt__js_ws(j);
                    if (j->i < j->n && j->p[j->i] != '"') return tt__js_err(j, "__metadata__ value is not a string");
                    if (!tt__js_string(j, mv, &vl)) return 0;
                    if (apply && o->on_meta) o->on_meta(o->meta_user, mk, mv);
                } while (tt__js_lit(j, ','));
                if (!tt__js_lit(j, '}')) return tt__js_err(j, "expected ',' or '}' in __metadata__");
                continue;
            }
            {
                tt__st_ent e;
                int have = 0;
                memset(&e, 0, sizeof e);
                e.dtype = -1;
                e.at = key_at;
                if (!tt__js_lit(j, '{')) return tt__js_err(j, "tensor entry is not an object");
                if (!tt__js_lit(j, '}')) {
                    do {
                        char fk[16];
                        size_t fl;
                        tt__js_ws(j);
                        if (j->i < j->n && j->p[j->i] == '"') {
                            /* field names we know are short: decode into fk when they fit */
                            size_t save = j->i, tmp;
                            if (!tt__js_string(j, NULL, &tmp)) return 0;
                            j->i = save;
                            if (tmp < sizeof fk) { if (!tt__js_string(j, fk, &fl)) return 0; }
                            else { if (!tt__js_string(j, NULL, &fl)) return 0; fk[0] = 0; }
                        } else return tt__js_err(j, "expected a field name");
                        if (!tt__js_lit(j, ':')) return tt__js_err(j, "expected ':'");
                        if (strcmp(fk, "dtype") == 0) {
                            char dt[8];
                            size_t dl, save, d;
                            if (have & 1) return tt__js_err(j, "duplicate dtype");
                            have |= 1;
                            tt__js_ws(j);
                            save = j->i;
                            if (!tt__js_string(j, NULL, &dl)) return 0;
                            if (dl >= sizeof dt) return tt__js_err(j, "unsupported dtype");
                            j->i = save;
                            tt__js_string(j, dt, &dl);
                            for (d = 0; d < TT__ST_NDTYPES && strcmp(dt, tt__st_dtypes[d]) != 0; d++) {}
                            if (d == TT__ST_NDTYPES) return tt__js_err(j, "unsupported dtype (F32, F16, BF16, F64, I64, I32 are read)");
                            e.dtype = (int)d;
                        } else if (strcmp(fk, "shape") == 0) {
                            if (have & 2) return tt__js_err(j, "duplicate shape");
                            have |= 2;
                            if (!tt__js_lit(j, '[')) return tt__js_err(j, "shape is not an array");
                            e.numel = 1;
                            if (!tt__js_lit(j, ']')) {
                                do {
                                    uint64_t v;
                                    if (e.ndim >= TT_MAX_DIMS) return tt__js_err(j, "more dimensions than TT_MAX_DIMS");
                                    if (!tt__js_uint(j, &v)) return 0;
                                    if (v > 0x7fffffffu) return tt__js_err(j, "dimension too large");
                                    e.shape[e.ndim++] = (int)v;
                                    if (v && e.numel > ((size_t)-1 / 8) / v) return tt__js_err(j, "tensor too large");
                                    e.numel *= (size_t)v;
                                } while (tt__js_lit(j, ','));
                                if (!tt__js_lit(j, ']')) return tt__js_err(j, "expected ',' or ']' in shape");
                            }
                        } else if (strcmp(fk, "data_offsets") == 0) {
                            if (have & 4) return tt__js_err(j, "duplicate data_offsets");
                            have |= 4;
                            if (!tt__js_lit(j, '[') || !tt__js_uint(j, &e.begin) || !tt__js_lit(j, ',') ||
                                !tt__js_uint(j, &e.end) || !tt__js_lit(j, ']'))
                                return tt__js_err(j, "data_offsets is not [begin, end]");
                        } else if (!tt__js_skip(j, 1)) return 0;
                    } while (tt__js_lit(j, ','));
                    if (!tt__js_lit(j, '}')) return tt__js_err(j, "expected ',' or '}' in a tensor entry");
                }
                if (have != 7) return tt__js_err(j, "tensor entry lacks dtype, shape or data_offsets");
                e.name = key;
                e.name_len = klen;
                noff += klen + 1;
                if (ents) ents[k] = e;
                k++;
            }
        } while (tt__js_lit(j, ','));
        if (!tt__js_lit(j, '}')) return tt__js_err(j, "expected ',' or '}'");
    }
    tt__js_ws(j);
    if (j->i != j->n) return tt__js_err(j, "bytes after the header object");
    *count = k;
    return 1;
}

/* Heap sort of entry pointers (no allocation, no libc qsort needed). */
typedef int (*tt__st_less)(const tt__st_ent *a, const tt__st_ent *b);
static int tt__st_by_name(const tt__st_ent *a, const tt__st_ent *b) {
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    int c = memcmp(a->name, b->name, n);
    return c < 0 || (c == 0 && a->name_len < b->name_len);
}
static int tt__st_by_begin(const tt__st_ent *a, const tt__st_ent *b) {
    return a->begin < b->begin || (a->begin == b->begin && a->end < b->end);
}
static void tt__st_sift(tt__st_ent **v, size_t root, size_t n, tt__st_less less) {
    for (;;) {
        size_t c = 2 * root + 1;
        tt__st_ent *t;
        if (c >= n) return;
        if (c + 1 < n && less(v[c], v[c + 1])) c++;
        if (!less(v[root], v[c])) return;
        t = v[root]; v[root] = v[c]; v[c] = t;
        root = c;
    }
}
static void tt__st_sort(tt__st_ent **v, size_t n, tt__st_less less) {
    size_t i;
    if (n < 2) return;
    for (i = n / 2; i-- > 0;) tt__st_sift(v, i, n, less);
    for (i = n - 1; i > 0; i--) {
        tt__st_ent *t = v[0]; v[0] = v[i]; v[i] = t;
        tt__st_sift(v, 0, i, less);
    }
}

static float tt__half_to_float(unsigned h) {
    unsigned s = (h >> 15) & 1u, e = (h >> 10) & 31u, m = h & 1023u;
    uint32_t u;
    float f;
    if (e == 0) {
        f = (float)m * 5.9604644775390625e-8f;  /* m * 2^-24, exact */
        return s ? -f : f;
    }
    if (e == 31) u = (s << 31) | 0x7F800000u | (m << 13);
    else u = (s << 31) | ((e + 112u) << 23) | (m << 13);
    memcpy(&f, &u, 4);
    return f;
}

static float tt__st_value(const unsigned char *p, int dtype) {
    uint32_t u;
    float f;
    switch (dtype) {
    case 0: u = tt__get32(p); memcpy(&f, &u, 4); return f;
    case 1: return tt__half_to_float(tt__get16(p));
    case 2: u = (uint32_t)tt__get16(p) << 16; memcpy(&f, &u, 4); return f;
    case 3: {
        double d = tt__bits_f64(tt__get64(p));
        if (d > FLT_MAX) return INFINITY;   /* out-of-range conversion is undefined in C */
        if (d < -FLT_MAX) return -INFINITY;
        return (float)d;
    }
    case 4: return (float)(int64_t)tt__get64(p);
    default: return (float)(int32_t)tt__get32(p);
    }
}

#define TT__STFAIL(o, e, at, code, ...) tt__io_fail(ctx, &(o)->error, &(o)->error_offset, e, at, code, __VA_ARGS__)

TT__DEF tt_result tt_safetensors_load_mem(tt_ctx *ctx, tt_safetensors_opts *o, const void *buf, size_t len) {
    const unsigned char *p = (const unsigned char *)buf;
    uint64_t hl;
    tt__js j;
    size_t count = 0, i, mark, data_len;
    tt__st_ent *ents, **v;
    char *names;
    tt_ckpt L;
    int n, k, b;
    char nm[52];
    tt_result r = TT_OK;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!o) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_safetensors_load: opts is NULL");
    o->error = TT_IO_OK; o->error_offset = 0;
    if (!buf && len) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_safetensors_load: buf is NULL");
    if (o->n_tensors < 0 || o->n_buffers < 0 || (o->n_tensors && !o->tensors) || (o->n_buffers && !o->buffers))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_safetensors_load: negative count or NULL list with a nonzero count");
    L = tt__st_list(o);
    n = tt__ck_count(ctx, &L);
    for (k = 0; k < n; k++) {
        tt_tensor *t = tt__ck_tensor(ctx, &L, k, &b);
        if (!t || !t->data || !t->name) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_safetensors_load: tensor %d is NULL or unnamed", k);
    }
    if (len < 8) return TT__STFAIL(o, TT_IO_TRUNCATED, len, TT_ERR_FORMAT, "safetensors: truncated: %z bytes, the header length alone has 8", len);
    hl = tt__get64(p);
    if (hl > o->max_header)
        return TT__STFAIL(o, TT_IO_TOO_LARGE, 0, TT_ERR_FORMAT, "safetensors: header length %z is over the limit %z",
                          (size_t)(hl > (uint64_t)(size_t)-1 ? (size_t)-1 : hl), o->max_header);
    if (hl > len - 8)
        return TT__STFAIL(o, TT_IO_TRUNCATED, len, TT_ERR_FORMAT, "safetensors: truncated: header of %z bytes, the file has %z",
                          (size_t)hl, len);
    data_len = len - 8 - (size_t)hl;
    memset(&j, 0, sizeof j);
    j.p = p + 8; j.n = (size_t)hl; j.base = 8;
    mark = tt_scratch_mark(ctx);
    names = (char *)tt__scratch(ctx, "tt_safetensors_load", (size_t)hl + 1);
    if (!names) return ctx->err;
    if (!tt__st_parse(&j, NULL, &count, names, o, 0)) {
        tt_scratch_rewind(ctx, mark);
        return TT__STFAIL(o, TT_IO_MALFORMED, j.at, TT_ERR_FORMAT, "safetensors: bad header at offset %z: %s", j.at, j.why);
    }
    ents = (tt__st_ent *)tt__scratch(ctx, "tt_safetensors_load", (count ? count : 1) * (sizeof(tt__st_ent) + sizeof(tt__st_ent *)));
    if (!ents) { tt_scratch_rewind(ctx, mark); return ctx->err; }
    v = (tt__st_ent **)(ents + (count ? count : 1));
    j.why = NULL;
    tt__st_parse(&j, ents, &count, names, o, 0);
    for (i = 0; i < count; i++) v[i] = &ents[i];
    /* unique names */
    tt__st_sort(v, count, tt__st_by_name);
    for (i = 1; i < count; i++)
        if (v[i]->name_len == v[i - 1]->name_len && memcmp(v[i]->name, v[i - 1]->name, v[i]->name_len) == 0) {
            tt__io_name(nm, (const unsigned char *)v[i]->name, v[i]->name_len);
            r = TT__STFAIL(o, TT_IO_MALFORMED, v[i]->at, TT_ERR_FORMAT, "safetensors: tensor '%s' appears twice (offset %z)", nm, v[i]->at);
            goto done;
        }
    /* offsets: sizes, in bounds, contiguous from 0 to the end, no overlap */
    tt__st_sort(v, count, tt__st_by_begin);
    {
        uint64_t pos = 0;
        for (i = 0; i < count; i++) {
            tt__st_ent *e = v[i];
            tt__io_name(nm, (const unsigned char *)e->name, e->name_len);
            if (e->end < e->begin || e->end - e->begin != (uint64_t)e->numel * (uint64_t)tt__st_dsize[e->dtype]) {
                r = TT__STFAIL(o, TT_IO_MALFORMED, e->at, TT_ERR_FORMAT,
                               "safetensors: tensor '%s' (offset %z): data_offsets do not hold %z %s values", nm, e->at, e->numel, tt__st_dtypes[e->dtype]);
                goto done;
            }
            if (e->end > data_len) {
                r = TT__STFAIL(o, TT_IO_TRUNCATED, e->at, TT_ERR_FORMAT,
                               "safetensors: tensor '%s' (offset %z) ends past the end of the file", nm, e->at);
                goto done;
            }
            if (e->begin != pos) {
                r = TT__STFAIL(o, TT_IO_MALFORMED, e->at, TT_ERR_FORMAT, e->begin < pos
                               ? "safetensors: tensor '%s' (offset %z) overlaps the previous tensor"
                               : "safetensors: a hole before tensor '%s' (offset %z): the data must be covered exactly", nm, e->at);
                goto done;
            }
            pos = e->end;
        }
        if (pos != data_len) {
            r = TT__STFAIL(o, TT_IO_MALFORMED, 8 + (size_t)hl + (size_t)pos, TT_ERR_FORMAT,
                           "safetensors: %z bytes after the last tensor (offset %z)", data_len - (size_t)pos, 8 + (size_t)hl + (size_t)pos);
            goto done;
        }
    }
    /* the model's tensors: present, same shape; strict: nothing else */
    for (k = 0; k < n; k++) {
        tt_tensor *t = tt__ck_tensor(ctx, &L, k, &b);
        tt__st_ent *hit = NULL;
        for (i = 0; i < count && !hit; i++)
            if (ents[i].name_len == strlen(t->name) && memcmp(ents[i].name, t->name, ents[i].name_len) == 0) hit = &ents[i];
        if (!hit) {
            r = TT__STFAIL(o, TT_IO_MISSING, 8, TT_ERR_FORMAT, "safetensors: tensor '%s' of the model is missing from the file", t->name);
            goto done;
        }
        if (hit->ndim != t->ndim || memcmp(hit->shape, t->shape, sizeof(int) * (size_t)t->ndim) != 0) {
            tt_tensor fake;
            memset(&fake, 0, sizeof fake);
            fake.ndim = hit->ndim;
            memcpy(fake.shape, hit->shape, sizeof fake.shape);
            r = TT__STFAIL(o, TT_IO_SHAPE, hit->at, TT_ERR_SHAPE, "safetensors: tensor '%s' has shape %S in the file (offset %z), %S in the model",
                           t->name, &fake, hit->at, t);
            goto done;
        }
    }
    if (o->strict)
        for (i = 0; i < count; i++) {
            int known = 0;
            for (k = 0; k < n && !known; k++) {
                const char *tn = tt__ck_tensor(ctx, &L, k, &b)->name;
                known = ents[i].name_len == strlen(tn) && memcmp(ents[i].name, tn, ents[i].name_len) == 0;
            }
            if (!known) {
                tt__io_name(nm, (const unsigned char *)ents[i].name, ents[i].name_len);
                r = TT__STFAIL(o, TT_IO_EXTRA, ents[i].at, TT_ERR_FORMAT,
                               "safetensors: the file has tensor '%s' (offset %z) that the model lacks (strict)", nm, ents[i].at);
                goto done;
            }
        }
    /* apply: metadata, then the values */
    if (o->on_meta) {
        j.why = NULL;
        tt__st_parse(&j, ents, &count, names, o, 1);
    }
    for (k = 0; k < n; k++) {
        tt_tensor *t = tt__ck_tensor(ctx, &L, k, &b);
        for (i = 0; i < count; i++)
            if (ents[i].name_len == strlen(t->name) && memcmp(ents[i].name, t->name, ents[i].name_len) == 0) {
                const unsigned char *d = p + 8 + (size_t)hl + (size_t)ents[i].begin;
                size_t e, ds = (size_t)tt__st_dsize[ents[i].dtype];
                for (e = 0; e < t->numel; e++) t->data[e] = tt__st_value(d + e * ds, ents[i].dtype);
                break;
            }
    }
done:
    tt_scratch_rewind(ctx, mark);
    return r;
}

#ifndef TT_NO_STDIO
static tt_result tt__st_produce(tt_ctx *ctx, void *arg, tt_write_fn write, void *user) {
    return tt_safetensors_save_stream(ctx, (tt_safetensors_opts *)arg, write, user);
}
TT__DEF tt_result tt_safetensors_save(tt_ctx *ctx, tt_safetensors_opts *o, const char *path) {
    size_t need;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if ((r = tt_safetensors_size(ctx, o, &need)) != TT_OK) return r;
    return tt__atomic_write(ctx, "tt_safetensors_save", path, NULL, tt__st_produce, o, &o->error, &o->error_offset);
}
TT__DEF tt_result tt_safetensors_load(tt_ctx *ctx, tt_safetensors_opts *o, const char *path) {
    unsigned char *p = NULL;
    size_t n = 0;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!o) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_safetensors_load: opts is NULL");
    o->error = TT_IO_OK; o->error_offset = 0;
    if ((r = tt__io_read_file(ctx, "tt_safetensors_load", path, &p, &n, &o->error, &o->error_offset)) != TT_OK) return r;
    r = tt_safetensors_load_mem(ctx, o, p, n);
    tt__io_free_file(ctx, p);
    return r;
}
#endif

/* ==================================================================================== >>layers
   Layers over the functional ops, and the initialisers they and users need. */

TT__DEF tt_result tt_nn_init(tt_nn *nn, tt_ctx *ctx) {
    if (!nn || !ctx) return TT_ERR_INVALID_ARGS;
    memset(nn, 0, sizeof *nn);
    nn->ctx = ctx;
    return TT_OK;
}

TT__DEF const char *tt_nn_name(tt_nn *nn, const char *prefix, const char *name) {
    size_t pl, nl;
    char *s;
    if (!nn || !nn->ctx) return NULL;
    if (!name) { tt__fail(nn->ctx, TT_ERR_INVALID_ARGS, "tt_nn_name: name is NULL"); return NULL; }
    pl = prefix ? strlen(prefix) : 0;
    nl = strlen(name);
    s = (char *)tt__persist(nn->ctx, "tt_nn_name", pl + nl + 2);
    if (!s) return NULL;
    if (pl) { memcpy(s, prefix, pl); s[pl++] = '.'; }
    memcpy(s + pl, name, nl + 1);
    return s;
}

TT__DEF const char *tt_nn_name_index(tt_nn *nn, const char *prefix, int index) {
    char num[16];
    int n = 0, i;
    unsigned v = (unsigned)(index < 0 ? 0 : index);
    char rev[16];
    do { rev[n++] = (char)('0' + (int)(v % 10u)); v /= 10u; } while (v);
    for (i = 0; i < n; i++) num[i] = rev[n - 1 - i];
    num[n] = 0;
    return tt_nn_name(nn, prefix, num);
}

static tt_tensor *tt__nn_param(tt_nn *nn, const char *prefix, const char *name, int ndim, const int *shape) {
    const char *full = tt_nn_name(nn, prefix, name);
    return full ? tt_param(nn->ctx, full, ndim, shape) : NULL;
}
static tt_tensor *tt__nn_buffer(tt_nn *nn, const char *prefix, const char *name, int ndim, const int *shape) {
    const char *full;
    tt_tensor *t;
    if (nn->n_buffers >= TT_NN_MAX_BUFFERS) {
        tt__fail(nn->ctx, TT_ERR_OUT_OF_MEMORY, "layers: more than %d buffers (TT_NN_MAX_BUFFERS)", TT_NN_MAX_BUFFERS);
        return NULL;
    }
    full = tt_nn_name(nn, prefix, name);
    t = full ? tt_buffer(nn->ctx, full, ndim, shape) : NULL;
    if (t) nn->buffers[nn->n_buffers++] = t;
    return t;
}
static tt_result tt__nn_check(tt_nn *nn, const void *m, const char *op) {
    if (!nn || !nn->ctx) return TT_ERR_INVALID_ARGS;
    if (!m) return tt__fail(nn->ctx, TT_ERR_INVALID_ARGS, "%s: layer is NULL", op);
    return TT_OK;
}

/* ---- initialisers ---- */

TT__DEF tt_result tt_init_xavier_normal(tt_ctx *ctx, tt_tensor *t, double gain) {
    int fi = 0, fo = 0;
    tt_result r = tt__init_fans(ctx, "tt_init_xavier_normal", t, &fi, &fo);
    if (r != TT_OK) return r;
    return tt_init_normal(ctx, t, 0.0f, (float)(gain * sqrt(2.0 / ((double)fi + (double)fo))));
}

TT__DEF tt_result tt_init_orthogonal(tt_ctx *ctx, tt_tensor *t, double gain) {
    size_t rows, cols, m, n, i, j, k, mark;
    double *a;
    tt_result r;
    if ((r = tt__check_init(ctx, "tt_init_orthogonal", t)) != TT_OK) return r;
    if (t->ndim < 2) return tt__fail(ctx, TT_ERR_SHAPE, "tt_init_orthogonal: needs at least 2 dimensions, got %S", t);
    if (t->numel == 0) return TT_OK;
    rows = (size_t)t->shape[0];
    cols = t->numel / rows;
    m = rows > cols ? rows : cols;  /* a tall m x n matrix, column-major in a */
    n = rows > cols ? cols : rows;
    mark = tt_scratch_mark(ctx);
    a = (double *)tt__scratch(ctx, "tt_init_orthogonal", m * n * sizeof(double));
    if (!a) return ctx->err;
    /* N(0,1) in torch's order: the (rows, cols) matrix row by row, transposed when rows < cols */
    for (i = 0; i < rows; i++)
        for (j = 0; j < cols; j++) {
            double v = tt_rng_normal(&ctx->rng);
            if (rows >= cols) a[j * m + i] = v; else a[i * m + j] = v;
        }
    /* modified Gram-Schmidt: Q with a positive diagonal of R, which is torch's Q * sign(diag R) */
    for (k = 0; k < n; k++) {
        double *q = a + k * m, norm = 0;
        for (i = 0; i < m; i++) norm += q[i] * q[i];
        norm = sqrt(norm);
        for (i = 0; i < m; i++) q[i] = norm > 0 ? q[i] / norm : 0;
        for (j = k + 1; j < n; j++) {
            double *v = a + j * m, d = 0;
            for (i = 0; i < m; i++) d += q[i] * v[i];
            for (i = 0; i < m; i++) v[i] -= d * q[i];
        }
    }
    for (i = 0; i < rows; i++)
        for (j = 0; j < cols; j++)
            t->data[i * cols + j] = (float)(gain * (rows >= cols ? a[j * m + i] : a[i * m + j]));
    tt_scratch_rewind(ctx, mark);
    return TT_OK;
}

/* erf^-1 in double: a starting guess refined by Newton steps on erf (C99 has erf). */
static double tt__erfinv(double y) {
    double x, w;
    int i;
    if (y <= -1.0) return -HUGE_VAL;
    if (y >= 1.0) return HUGE_VAL;
    w = -log((1.0 - y) * (1.0 + y));
    if (w < 5.0) {
        w -= 2.5;
        x = 2.81022636e-08;
        x = 3.43273939e-07 + x * w; x = -3.5233877e-06 + x * w; x = -4.39150654e-06 + x * w;
        x = 0.00021858087 + x * w; x = -0.00125372503 + x * w; x = -0.00417768164 + x * w;
        x = 0.246640727 + x * w; x = 1.50140941 + x * w;
    } else {
        w = sqrt(w) - 3.0;
        x = -0.000200214257;
        x = 0.000100950558 + x * w; x = 0.00134934322 + x * w; x = -0.00367342844 + x * w;
        x = 0.00573950773 + x * w; x = -0.0076224613 + x * w; x = 0.00943887047 + x * w;
        x = 1.00167406 + x * w; x = 2.83297682 + x * w;
    }
    x *= y;
    for (i = 0; i < 2; i++) x -= (erf(x) - y) / (2.0 / sqrt(3.14159265358979323846) * exp(-x * x));
    return x;
}

TT__DEF tt_result tt_init_trunc_normal(tt_ctx *ctx, tt_tensor *t, double mean, double std, double a, double b) {
    double l, u;
    size_t i;
    tt_result r;
    if ((r = tt__check_init(ctx, "tt_init_trunc_normal", t)) != TT_OK) return r;
    if (!(std > 0) || !(a < b) || !tt__finite(mean) || !tt__finite(std))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_init_trunc_normal: needs std > 0 and a < b (got std %g, [%g, %g])", std, a, b);
    l = 0.5 * (1.0 + erf((a - mean) / std / sqrt(2.0)));
    u = 0.5 * (1.0 + erf((b - mean) / std / sqrt(2.0)));
    for (i = 0; i < t->numel; i++) {
        double v = (2 * l - 1) + (2 * u - 2 * l) * tt_rng_uniform(&ctx->rng);
        v = tt__erfinv(v) * std * sqrt(2.0) + mean;
        t->data[i] = (float)(v < a ? a : v > b ? b : v);
    }
    return TT_OK;
}

/* ---- Linear, Conv ---- */

TT__DEF tt_result tt_nn_linear_init(tt_nn *nn, tt_nn_linear *m, const char *name, int in, int out, int bias) {
    int ws[2], bs[1];
    tt_result r;
    if ((r = tt__nn_check(nn, m, "tt_nn_linear_init")) != TT_OK) return r;
    if (in < 1 || out < 1) return tt__fail(nn->ctx, TT_ERR_INVALID_ARGS, "tt_nn_linear_init '%s': sizes must be >= 1 (%d, %d)", name ? name : "", in, out);
    memset(m, 0, sizeof *m);
    m->in_features = in; m->out_features = out;
    ws[0] = out; ws[1] = in; bs[0] = out;
    if (!(m->weight = tt__nn_param(nn, name, "weight", 2, ws))) return nn->ctx->err;
    if (bias && !(m->bias = tt__nn_param(nn, name, "bias", 1, bs))) return nn->ctx->err;
    return tt_init_torch_default(nn->ctx, m->weight, m->bias);
}
TT__DEF tt_tensor *tt_nn_linear_forward(tt_ctx *ctx, const tt_nn_linear *m, tt_tensor *x) {
    if (!ctx || !m) return NULL;
    return tt_linear(ctx, x, m->weight, m->bias);
}

#ifndef TT_NO_CONV /* layers built on the cut ops (see FEATURE CUTS) */
static tt_result tt__nn_conv_init(tt_nn *nn, tt_nn_conv *m, const char *name, int dims, int in, int out, int kh, int kw,
                                  const tt_conv_opts *opts, int bias) {
    int ws[4], bs[1], g;
    tt_result r;
    if ((r = tt__nn_check(nn, m, "tt_nn_conv_init")) != TT_OK) return r;
    memset(m, 0, sizeof *m);
    m->opts = opts ? *opts : tt_conv_opts_init();
    g = m->opts.groups;
    if (in < 1 || out < 1 || kh < 1 || kw < 1 || g < 1 || in % g || out % g)
        return tt__fail(nn->ctx, TT_ERR_INVALID_ARGS, "tt_nn_conv%dd_init '%s': bad sizes (in %d, out %d, kernel %d, groups %d)", dims,
                        name ? name : "", in, out, kh, g);
    m->dims = dims;
    ws[0] = out; ws[1] = in / g; ws[2] = kh; ws[3] = kw; bs[0] = out;
    if (!(m->weight = tt__nn_param(nn, name, "weight", dims + 2, ws))) return nn->ctx->err;
    if (bias && !(m->bias = tt__nn_param(nn, name, "bias", 1, bs))) return nn->ctx->err;
    return tt_init_torch_default(nn->ctx, m->weight, m->bias);
}
TT__DEF tt_result tt_nn_conv1d_init(tt_nn *nn, tt_nn_conv *m, const char *name, int in, int out, int k,
                                    const tt_conv_opts *opts, int bias) {
    return tt__nn_conv_init(nn, m, name, 1, in, out, k, 1, opts, bias);
}
TT__DEF tt_result tt_nn_conv2d_init(tt_nn *nn, tt_nn_conv *m, const char *name, int in, int out, int kh, int kw,
                                    const tt_conv_opts *opts, int bias) {
    return tt__nn_conv_init(nn, m, name, 2, in, out, kh, kw, opts, bias);
}
TT__DEF tt_tensor *tt_nn_conv_forward(tt_ctx *ctx, const tt_nn_conv *m, tt_tensor *x) {
    if (!ctx || !m) return NULL;
    return m->dims == 1 ? tt_conv1d(ctx, x, m->weight, m->bias, &m->opts) : tt_conv2d(ctx, x, m->weight, m->bias, &m->opts);
}
#endif /* TT_NO_CONV */

/* ---- norms ---- */

TT__DEF tt_result tt_nn_batchnorm_init(tt_nn *nn, tt_nn_batchnorm *m, const char *name, int num_features) {
    int s[1];
    tt_result r;
    if ((r = tt__nn_check(nn, m, "tt_nn_batchnorm_init")) != TT_OK) return r;
    if (num_features < 1) return tt__fail(nn->ctx, TT_ERR_INVALID_ARGS, "tt_nn_batchnorm_init: num_features must be >= 1");
    memset(m, 0, sizeof *m);
    s[0] = num_features;
    m->momentum = 0.1f; m->eps = 1e-5f;
    if (!(m->weight = tt__nn_param(nn, name, "weight", 1, s)) || !(m->bias = tt__nn_param(nn, name, "bias", 1, s)) ||
        !(m->running_mean = tt__nn_buffer(nn, name, "running_mean", 1, s)) ||
        !(m->running_var = tt__nn_buffer(nn, name, "running_var", 1, s)) ||
        !(m->num_batches_tracked = tt__nn_buffer(nn, name, "num_batches_tracked", 0, NULL)))
        return nn->ctx->err;
    tt_init_const(nn->ctx, m->weight, 1.0f);
    tt_init_const(nn->ctx, m->running_var, 1.0f);
    return TT_OK;
}
TT__DEF tt_tensor *tt_nn_batchnorm_forward(tt_ctx *ctx, tt_nn_batchnorm *m, tt_tensor *x) {
    tt_tensor *y;
    tt_batchnorm_opts o = tt_batchnorm_opts_init();
    if (!ctx || !m) return NULL;
    o.eps = m->eps;
    o.momentum = m->momentum;
    y = tt_batchnorm(ctx, x, m->weight, m->bias, m->running_mean, m->running_var, &o);
    if (y && ctx->training) m->num_batches_tracked->data[0] += 1.0f;
    return y;
}

static tt_result tt__nn_norm_init(tt_nn *nn, tt_nn_norm *m, const char *name, int features, int groups, int bias, float eps) {
    int s[1];
    tt_result r;
    if ((r = tt__nn_check(nn, m, "tt_nn_norm_init")) != TT_OK) return r;
    if (features < 1 || (groups > 0 && features % groups))
        return tt__fail(nn->ctx, TT_ERR_INVALID_ARGS, "norm layer '%s': %d features (groups %d)", name ? name : "", features, groups);
    memset(m, 0, sizeof *m);
    s[0] = features;
    m->groups = groups; m->eps = eps;
    if (!(m->weight = tt__nn_param(nn, name, "weight", 1, s))) return nn->ctx->err;
    tt_init_const(nn->ctx, m->weight, 1.0f);
    if (bias) {
        if (!(m->bias = tt__nn_param(nn, name, "bias", 1, s))) return nn->ctx->err;
    }
    return TT_OK;
}
TT__DEF tt_result tt_nn_layernorm_init(tt_nn *nn, tt_nn_norm *m, const char *name, int features) {
    return tt__nn_norm_init(nn, m, name, features, 0, 1, 1e-5f);
}
TT__DEF tt_result tt_nn_groupnorm_init(tt_nn *nn, tt_nn_norm *m, const char *name, int groups, int channels) {
    if (groups < 1 && nn && nn->ctx) return tt__fail(nn->ctx, TT_ERR_INVALID_ARGS, "tt_nn_groupnorm_init: groups must be >= 1");
    return tt__nn_norm_init(nn, m, name, channels, groups, 1, 1e-5f);
}
TT__DEF tt_result tt_nn_rmsnorm_init(tt_nn *nn, tt_nn_norm *m, const char *name, int features) {
    return tt__nn_norm_init(nn, m, name, features, -1, 0, FLT_EPSILON);
}
TT__DEF tt_tensor *tt_nn_norm_forward(tt_ctx *ctx, const tt_nn_norm *m, tt_tensor *x) {
    if (!ctx || !m) return NULL;
    if (m->groups > 0) return tt_groupnorm(ctx, x, m->groups, m->weight, m->bias, m->eps);
    if (m->groups < 0) return tt_rmsnorm(ctx, x, m->weight, m->eps);
    return tt_layernorm(ctx, x, 1, m->weight, m->bias, m->eps);
}

/* ---- Embedding, Dropout ---- */

TT__DEF tt_result tt_nn_embedding_init(tt_nn *nn, tt_nn_embedding *m, const char *name, int num, int dim) {
    int s[2];
    tt_result r;
    if ((r = tt__nn_check(nn, m, "tt_nn_embedding_init")) != TT_OK) return r;
    if (num < 1 || dim < 1) return tt__fail(nn->ctx, TT_ERR_INVALID_ARGS, "tt_nn_embedding_init: sizes must be >= 1");
    s[0] = num; s[1] = dim;
    if (!(m->weight = tt__nn_param(nn, name, "weight", 2, s))) return nn->ctx->err;
    return tt_init_normal(nn->ctx, m->weight, 0.0f, 1.0f);
}
TT__DEF tt_tensor *tt_nn_embedding_forward(tt_ctx *ctx, const tt_nn_embedding *m, int ndim, const int *ids_shape,
                                           size_t n_ids, const int *ids) {
    if (!ctx || !m) return NULL;
    return tt_embedding(ctx, m->weight, ndim, ids_shape, n_ids, ids);
}
TT__DEF tt_tensor *tt_nn_dropout_forward(tt_ctx *ctx, const tt_nn_dropout *m, tt_tensor *x) {
    if (!ctx || !m) return NULL;
    return tt_dropout(ctx, x, m->p);
}

/* ---- LSTM, GRU ---- */

#ifndef TT_NO_RNN /* layers built on the cut ops (see FEATURE CUTS) */
static tt_result tt__nn_rnn_init(tt_nn *nn, tt_nn_rnn *m, const char *name, int input, int hidden, int bias, int lstm) {
    int G = lstm ? 4 : 3, s1[2], s2[2], s3[1];
    float b;
    tt_result r;
    if ((r = tt__nn_check(nn, m, "tt_nn_rnn_init")) != TT_OK) return r;
    if (input < 1 || hidden < 1) return tt__fail(nn->ctx, TT_ERR_INVALID_ARGS, "tt_nn_%s_init: sizes must be >= 1", lstm ? "lstm" : "gru");
    memset(m, 0, sizeof *m);
    m->input_size = input; m->hidden_size = hidden; m->lstm = lstm;
    s1[0] = G * hidden; s1[1] = input; s2[0] = G * hidden; s2[1] = hidden; s3[0] = G * hidden;
    b = (float)(1.0 / sqrt((double)hidden));
    if (!(m->weight_ih = tt__nn_param(nn, name, "weight_ih_l0", 2, s1)) || !(m->weight_hh = tt__nn_param(nn, name, "weight_hh_l0", 2, s2)))
        return nn->ctx->err;
    if (bias && (!(m->bias_ih = tt__nn_param(nn, name, "bias_ih_l0", 1, s3)) || !(m->bias_hh = tt__nn_param(nn, name, "bias_hh_l0", 1, s3))))
        return nn->ctx->err;
    tt_init_uniform(nn->ctx, m->weight_ih, -b, b);
    tt_init_uniform(nn->ctx, m->weight_hh, -b, b);
    if (bias) { tt_init_uniform(nn->ctx, m->bias_ih, -b, b); tt_init_uniform(nn->ctx, m->bias_hh, -b, b); }
    return TT_OK;
}
TT__DEF tt_result tt_nn_lstm_init(tt_nn *nn, tt_nn_rnn *m, const char *name, int input, int hidden, int bias) {
    return tt__nn_rnn_init(nn, m, name, input, hidden, bias, 1);
}
TT__DEF tt_result tt_nn_gru_init(tt_nn *nn, tt_nn_rnn *m, const char *name, int input, int hidden, int bias) {
    return tt__nn_rnn_init(nn, m, name, input, hidden, bias, 0);
}
TT__DEF tt_tensor *tt_nn_rnn_forward(tt_ctx *ctx, const tt_nn_rnn *m, tt_tensor *x, tt_tensor *h0, tt_tensor *c0,
                                     tt_tensor **h_n, tt_tensor **c_n) {
    tt_rnn_cell_weights w;
    tt_tensor *h, *c = NULL, **hs;
    int T, B, t, hs_shape[2], xs[2];
    if (h_n) *h_n = NULL;
    if (c_n) *c_n = NULL;
    if (!ctx || !m || !tt__in(ctx, "tt_nn_rnn_forward", x)) return NULL;
    if (x->ndim != 3 || x->shape[2] != m->input_size || x->shape[0] < 1) {
        tt__fail(ctx, TT_ERR_SHAPE, "tt_nn_rnn_forward: x must be (T >= 1, B, %d), got %S", m->input_size, x);
        return NULL;
    }
    w.w_ih = m->weight_ih; w.w_hh = m->weight_hh; w.b_ih = m->bias_ih; w.b_hh = m->bias_hh;
    T = x->shape[0]; B = x->shape[1];
    hs_shape[0] = B; hs_shape[1] = m->hidden_size;
    xs[0] = B; xs[1] = m->input_size;
    h = h0 ? h0 : tt_tensor_new(ctx, 2, hs_shape);
    if (m->lstm) c = c0 ? c0 : tt_tensor_new(ctx, 2, hs_shape);
    hs = (tt_tensor **)tt__scratch(ctx, "tt_nn_rnn_forward", (size_t)T * sizeof(tt_tensor *));
    if (!h || (m->lstm && !c) || !hs) return NULL;
    for (t = 0; t < T; t++) {
        tt_tensor *xt = tt_reshape(ctx, tt_slice(ctx, x, 0, t, t + 1, 1), 2, xs);
        if (m->lstm) {
            tt_tensor *hn = NULL, *cn = NULL;
            if (tt_lstm_cell(ctx, xt, h, c, &w, &hn, &cn) != TT_OK) return NULL;
            h = hn; c = cn;
        } else {
            tt_tensor *hn = NULL;
            if (tt_gru_cell(ctx, xt, h, &w, &hn) != TT_OK) return NULL;
            h = hn;
        }
        hs[t] = h;
    }
    if (h_n) *h_n = h;
    if (c_n) *c_n = c;
    return tt_stack(ctx, T, hs, 0);
}
#endif /* TT_NO_RNN */

/* ---- attention, transformer block ---- */

TT__DEF tt_result tt_nn_attention_init(tt_nn *nn, tt_nn_attention *m, const char *name, int dim, int n_head) {
    tt_result r;
    if ((r = tt__nn_check(nn, m, "tt_nn_attention_init")) != TT_OK) return r;
    if (dim < 1 || n_head < 1 || dim % n_head)
        return tt__fail(nn->ctx, TT_ERR_INVALID_ARGS, "tt_nn_attention_init: dim %d is not a multiple of n_head %d", dim, n_head);
    memset(m, 0, sizeof *m);
    m->dim = dim; m->n_head = n_head;
    if ((r = tt_nn_linear_init(nn, &m->qkv, tt_nn_name(nn, name, "qkv"), dim, 3 * dim, 1)) != TT_OK) return r;
    return tt_nn_linear_init(nn, &m->proj, tt_nn_name(nn, name, "proj"), dim, dim, 1);
}
TT__DEF tt_tensor *tt_nn_attention_forward(tt_ctx *ctx, const tt_nn_attention *m, tt_tensor *x) {
    tt_tensor *qkv, *q, *k, *v, *y;
    int B, T, C, H, s4[4], s3[3];
    if (!ctx || !m || !tt__in(ctx, "tt_nn_attention_forward", x)) return NULL;
    if (x->ndim != 3 || x->shape[2] != m->dim) {
        tt__fail(ctx, TT_ERR_SHAPE, "tt_nn_attention_forward: x must be (B, T, %d), got %S", m->dim, x);
        return NULL;
    }
    B = x->shape[0]; T = x->shape[1]; C = m->dim; H = m->n_head;
    s4[0] = B; s4[1] = T; s4[2] = H; s4[3] = C / H;
    s3[0] = B; s3[1] = T; s3[2] = C;
    qkv = tt_nn_linear_forward(ctx, &m->qkv, x);
    q = tt_transpose(ctx, tt_reshape(ctx, tt_slice(ctx, qkv, 2, 0, C, 1), 4, s4), 1, 2);
    k = tt_transpose(ctx, tt_reshape(ctx, tt_slice(ctx, qkv, 2, C, 2 * C, 1), 4, s4), 1, 2);
    v = tt_transpose(ctx, tt_reshape(ctx, tt_slice(ctx, qkv, 2, 2 * C, 3 * C, 1), 4, s4), 1, 2);
    y = tt_attention(ctx, q, k, v, 1);
    y = tt_reshape(ctx, tt_transpose(ctx, y, 1, 2), 3, s3);
    return tt_nn_linear_forward(ctx, &m->proj, y);
}

TT__DEF tt_result tt_nn_block_init(tt_nn *nn, tt_nn_block *m, const char *name, int dim, int n_head) {
    tt_result r;
    if ((r = tt__nn_check(nn, m, "tt_nn_block_init")) != TT_OK) return r;
    memset(m, 0, sizeof *m);
    if ((r = tt_nn_layernorm_init(nn, &m->ln1, tt_nn_name(nn, name, "ln1"), dim)) != TT_OK) return r;
    if ((r = tt_nn_attention_init(nn, &m->attn, tt_nn_name(nn, name, "attn"), dim, n_head)) != TT_OK) return r;
    if ((r = tt_nn_layernorm_init(nn, &m->ln2, tt_nn_name(nn, name, "ln2"), dim)) != TT_OK) return r;
    if ((r = tt_nn_linear_init(nn, &m->fc, tt_nn_name(nn, name, "mlp.fc"), dim, 4 * dim, 1)) != TT_OK) return r;
    return tt_nn_linear_init(nn, &m->proj, tt_nn_name(nn, name, "mlp.proj"), 4 * dim, dim, 1);
}
TT__DEF tt_tensor *tt_nn_block_forward(tt_ctx *ctx, const tt_nn_block *m, tt_tensor *x) {
    tt_tensor *h;
    if (!ctx || !m) return NULL;
    h = tt_add(ctx, x, tt_nn_attention_forward(ctx, &m->attn, tt_nn_norm_forward(ctx, &m->ln1, x)));
    return tt_add(ctx, h, tt_nn_linear_forward(ctx, &m->proj, tt_gelu(ctx, tt_nn_linear_forward(ctx, &m->fc, tt_nn_norm_forward(ctx, &m->ln2, h)))));
}

/* ==================================================================================== >>progress
   SVG charts (over a byte sink), the progress line and the CSV log. */

static void tt__wfmt(tt__wr *w, const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    tt__vformat(buf, sizeof buf, fmt, ap);
    va_end(ap);
    tt__w(w, buf, strlen(buf));
}
static void tt__wxml(tt__wr *w, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': tt__w(w, "&amp;", 5); break;
        case '<': tt__w(w, "&lt;", 4); break;
        case '>': tt__w(w, "&gt;", 4); break;
        case '"': tt__w(w, "&quot;", 6); break;
        default: tt__w(w, s, 1);
        }
    }
}
/* a pixel coordinate with 2 decimals */
static void tt__wpx(tt__wr *w, double v) {
    char buf[32];
    tt__buf b;
    long long c = (long long)floor(v * 100.0 + 0.5);
    b.p = buf; b.n = 0; b.cap = sizeof buf;
    if (c < 0) { tt__putc(&b, '-'); c = -c; }
    tt__putu(&b, (unsigned long long)(c / 100));
    if (c % 100) {
        tt__putc(&b, '.');
        tt__putc(&b, (char)('0' + (int)(c % 100 / 10)));
        if (c % 10) tt__putc(&b, (char)('0' + (int)(c % 10)));
    }
    tt__w(w, buf, b.n);
}

TT__DEF tt_chart_opts tt_chart_opts_init(void) {
    tt_chart_opts o;
    memset(&o, 0, sizeof o);
    o.width = 640;
    o.height = 400;
    o.x_max = 1;
    o.y_max = 1;
    return o;
}

static double tt__nice_step(double range, int target) {
    double raw = range / target, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    return (f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0) * mag;
}

static const char *const tt__palette[8] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"};

TT__DEF double tt_chart_px(const tt_chart_frame *f, double x) {
    return f->left + (x - f->x_min) / (f->x_max - f->x_min) * f->width;
}
TT__DEF double tt_chart_py(const tt_chart_frame *f, double y) {
    return f->top + f->height - ((f->log_y ? log10(y) : y) - f->y_min) / (f->y_max - f->y_min) * f->height;
}

/* Liang-Barsky: clip the segment (x0,y0)-(x1,y1) to the box b (xmin, ymin, xmax, ymax).
   0 if nothing of it is inside; else the ends are moved onto the box where they were outside.
   An end more than 1e6 px away is first pulled along the segment to 1e6 px from the other end
   (exact direction, no cancellation against huge numbers); a segment with both ends that far
   out is left out. */
static int tt__clip_seg(const double b[4], double *x0, double *y0, double *x1, double *y1) {
    double t0 = 0, t1 = 1, dx, dy, p[4], q[4];
    int i, far0 = !(fabs(*x0) < 1e6 && fabs(*y0) < 1e6), far1 = !(fabs(*x1) < 1e6 && fabs(*y1) < 1e6);
    if (far0 && far1) return 0;
    if (far0 || far1) {
        double *fx = far0 ? x0 : x1, *fy = far0 ? y0 : y1, nx = far0 ? *x1 : *x0, ny = far0 ? *y1 : *y0;
        double ex = *fx - nx, ey = *fy - ny, m = fabs(ex) > fabs(ey) ? fabs(ex) : fabs(ey), k = 1e6 / m;
        *fx = nx + ex * k; *fy = ny + ey * k;
    }
    dx = *x1 - *x0; dy = *y1 - *y0;
    p[0] = -dx; q[0] = *x0 - b[0];
    p[1] = dx;  q[1] = b[2] - *x0;
    p[2] = -dy; q[2] = *y0 - b[1];
    p[3] = dy;  q[3] = b[3] - *y0;
    for (i = 0; i < 4; i++) {
        if (p[i] == 0) {
            if (q[i] < 0) return 0;
        } else {
            double t = q[i] / p[i];
            if (p[i] < 0) { if (t > t1) return 0; if (t > t0) t0 = t; }
            else { if (t < t0) return 0; if (t < t1) t1 = t; }
        }
    }
    if (t1 < 1) { *x1 = *x0 + t1 * dx; *y1 = *y0 + t1 * dy; }
    if (t0 > 0) { *x0 += t0 * dx; *y0 += t0 * dy; }
    return 1;
}

typedef struct tt__drawsink { tt__wr *w; } tt__drawsink;
static size_t tt__draw_write(void *user, const void *data, size_t n) {
    tt__w(((tt__drawsink *)user)->w, data, n);
    return ((tt__drawsink *)user)->w->failed ? 0 : n;
}

/* Argument checks of one chart (nothing written). */
static tt_result tt__chart_check(tt_ctx *ctx, const tt_chart_opts *o, int n_series, const tt_chart_series *series, int index) {
    int s;
    if (n_series < 0 || (n_series && !series) || o->width < 200 || o->height < 150)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_chart_svg: chart %d: bad arguments (series, or size under 200 x 150)", index);
    for (s = 0; s < n_series; s++) {
        if (series[s].n < 0 || (series[s].n && !series[s].y))
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_chart_svg: chart %d: series %d has no values", index, s);
        if (o->colors && !o->colors[s])
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_chart_svg: chart %d: colors[%d] is NULL", index, s);
        if (o->styles && (unsigned)o->styles[s] > (unsigned)TT_CHART_CROSSES)   /* (unsigned: enums may be short and unsigned) */
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_chart_svg: chart %d: styles[%d] is not a tt_chart_style", index, s);
    }
    if (o->fixed_x && !(tt__finite(o->x_min) && tt__finite(o->x_max) && o->x_max > o->x_min))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_chart_svg: chart %d: fixed x range needs finite x_min < x_max", index);
    if (o->fixed_y && !(tt__finite(o->y_min) && tt__finite(o->y_max) && o->y_max > o->y_min && (!o->log_y || o->y_min > 0)))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_chart_svg: chart %d: fixed y range needs finite y_min < y_max (> 0 on a log axis)", index);
    return TT_OK;
}

/* One chart as a group at (ox, oy); its clip path is "frame" (index 0) or "frame<index>". */
static void tt__chart_panel(tt__wr *w, const tt_chart_opts *op, int n_series, const tt_chart_series *series, double ox,
                            double oy, int index) {
    const tt_chart_opts o = *op;
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY, xs, ys = 1, v, box[4];
    double L = o.ylabel ? 72 : 56, R, T = o.title ? 40 : 20, B, pw, ph;
    int s, i, any = 0, tx, ty, n_legend = 0;
    char clip[32];
    tt_chart_frame fr;
    tt__buf cb;
    cb.p = clip; cb.n = 0; cb.cap = sizeof clip;
    tt__puts(&cb, "frame");
    if (index) tt__putu(&cb, (unsigned long long)index);
    clip[cb.n] = 0;
    for (s = 0; s < n_series; s++) {
        for (i = 0; i < series[s].n; i++) {
            double x = series[s].x ? series[s].x[i] : (double)(i + 1), y = series[s].y[i];
            if (!tt__finite(x) || !tt__finite(y) || (o.log_y && y <= 0)) continue;
            any = 1;
            xmin = x < xmin ? x : xmin; xmax = x > xmax ? x : xmax;
            ymin = y < ymin ? y : ymin; ymax = y > ymax ? y : ymax;
        }
        if (series[s].label) n_legend++;
    }
    if (!any) { xmin = 0; xmax = 1; ymin = o.log_y ? 1 : 0; ymax = o.log_y ? 10 : 1; }
    if (o.fixed_x) { xmin = o.x_min; xmax = o.x_max; }
    if (o.fixed_y) { ymin = o.y_min; ymax = o.y_max; }
    if (xmax == xmin) { xmin -= 1; xmax += 1; }
    R = o.width - 20.0; B = o.height - 52.0;
    pw = R - L; ph = B - T;
    tx = (int)(pw / 50); tx = tx < 3 ? 3 : tx > 6 ? 6 : tx;   /* about one tick per 50 px, 3..6 */
    ty = (int)(ph / 35); ty = ty < 3 ? 3 : ty > 5 ? 5 : ty;   /* one per 35 px, 3..5 */
    if (o.log_y) {
        if (o.fixed_y) { ymin = log10(ymin); ymax = log10(ymax); }
        else {
            ymin = floor(log10(ymin)); ymax = ceil(log10(ymax));
            if (ymax == ymin) ymax += 1;
        }
    } else {
        if (ymax == ymin) { double d = fabs(ymin) > 0 ? fabs(ymin) * 0.1 : 1; ymin -= d; ymax += d; }
        ys = tt__nice_step(ymax - ymin, ty);
        if (!o.fixed_y) { ymin = floor(ymin / ys) * ys; ymax = ceil(ymax / ys) * ys; }
    }
    xs = tt__nice_step(xmax - xmin, tx);
    if (!o.fixed_x && (!series || !series[0].x)) xs = xs < 1 ? 1 : xs;  /* epochs: whole numbers */
    fr.left = L; fr.top = T; fr.width = pw; fr.height = ph;
    fr.x_min = xmin; fr.x_max = xmax; fr.y_min = ymin; fr.y_max = ymax; fr.log_y = o.log_y; fr.index = index;
    /* segments are clipped to the frame plus 10 px (the clip path does the rest): no huge numbers */
    box[0] = L - 10; box[1] = T - 10; box[2] = R + 10; box[3] = B + 10;
#define TT__PX(x) (L + ((x) - xmin) / (xmax - xmin) * pw)
#define TT__PY(y) (B - ((o.log_y ? log10(y) : (y)) - ymin) / (ymax - ymin) * ph)
    if (index || ox != 0 || oy != 0) {
        tt__w(w, "<g transform=\"translate(", 24); tt__wpx(w, ox); tt__w(w, ",", 1); tt__wpx(w, oy); tt__w(w, ")\">\n", 4);
    } else tt__w(w, "<g>\n", 4);
    tt__wfmt(w, "<defs><clipPath id=\"%s\"><rect x=\"", clip); tt__wpx(w, L);
    tt__w(w, "\" y=\"", 5); tt__wpx(w, T); tt__w(w, "\" width=\"", 9); tt__wpx(w, pw);
    tt__w(w, "\" height=\"", 10); tt__wpx(w, ph); tt__w(w, "\"/></clipPath></defs>\n", 22);
    if (o.title) {
        tt__w(w, "<text x=\"", 9); tt__wpx(w, (L + R) / 2);
        tt__w(w, "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">", 64);
        tt__wxml(w, o.title); tt__w(w, "</text>\n", 8);
    }
    /* grid, ticks and tick labels */
    tt__w(w, "<g stroke=\"#dddddd\" stroke-width=\"1\">\n", 38);
    for (v = ceil(xmin / xs - 1e-9) * xs; v <= xmax + 1e-9 * xs; v += xs) {
        tt__w(w, "<line x1=\"", 10); tt__wpx(w, TT__PX(v)); tt__w(w, "\" x2=\"", 6); tt__wpx(w, TT__PX(v));
        tt__w(w, "\" y1=\"", 6); tt__wpx(w, T); tt__w(w, "\" y2=\"", 6); tt__wpx(w, B); tt__w(w, "\"/>\n", 4);
    }
    for (v = o.log_y ? floor(ymin + 1e-9) : ceil(ymin / ys - 1e-9) * ys; v <= ymax + 1e-9; v += o.log_y ? 1.0 : ys) {
        int k;
        for (k = 0; k < (o.log_y && ymax - ymin <= 2 ? 3 : 1); k++) { /* log scale over <= 2 decades: 1, 2, 5 */
            double vv = o.log_y ? v + (k == 1 ? log10(2.0) : k == 2 ? log10(5.0) : 0) : v, py = B - (vv - ymin) / (ymax - ymin) * ph;
            if (vv > ymax + 1e-9) break;
            if (vv < ymin - 1e-9) continue;
            tt__w(w, "<line x1=\"", 10); tt__wpx(w, L); tt__w(w, "\" x2=\"", 6); tt__wpx(w, R);
            tt__w(w, "\" y1=\"", 6); tt__wpx(w, py); tt__w(w, "\" y2=\"", 6); tt__wpx(w, py); tt__w(w, "\"/>\n", 4);
        }
    }
    tt__w(w, "</g>\n<g fill=\"#333333\">\n", 24);
    for (v = ceil(xmin / xs - 1e-9) * xs; v <= xmax + 1e-9 * xs; v += xs) {
        tt__w(w, "<text x=\"", 9); tt__wpx(w, TT__PX(v)); tt__w(w, "\" y=\"", 5); tt__wpx(w, B + 16);
        tt__wfmt(w, "\" text-anchor=\"middle\">%g</text>\n", fabs(v) < 1e-9 * xs ? 0.0 : v);
    }
    for (v = o.log_y ? floor(ymin + 1e-9) : ceil(ymin / ys - 1e-9) * ys; v <= ymax + 1e-9; v += o.log_y ? 1.0 : ys) {
        int k;
        for (k = 0; k < (o.log_y && ymax - ymin <= 2 ? 3 : 1); k++) {
            double m = k == 1 ? 2.0 : k == 2 ? 5.0 : 1.0, vv = o.log_y ? v + log10(m) : v, py;
            if (vv > ymax + 1e-9) break;
            if (vv < ymin - 1e-9) continue;
            py = B - (vv - ymin) / (ymax - ymin) * ph;
            tt__w(w, "<text x=\"", 9); tt__wpx(w, L - 6); tt__w(w, "\" y=\"", 5); tt__wpx(w, py + 4);
            tt__wfmt(w, "\" text-anchor=\"end\">%g</text>\n", o.log_y ? m * pow(10.0, v) : fabs(v) < 1e-9 * ys ? 0.0 : v);
        }
    }
    tt__w(w, "</g>\n", 5);
    /* the background, clipped to the frame */
    if (o.draw) {
        tt__drawsink ds;
        ds.w = w;
        tt__wfmt(w, "<g clip-path=\"url(#%s)\">\n", clip);
        o.draw(o.draw_user, &fr, tt__draw_write, &ds);
        tt__w(w, "</g>\n", 5);
    }
    /* frame and axis labels */
    tt__w(w, "<rect x=\"", 9); tt__wpx(w, L); tt__w(w, "\" y=\"", 5); tt__wpx(w, T); tt__w(w, "\" width=\"", 9);
    tt__wpx(w, pw); tt__w(w, "\" height=\"", 10); tt__wpx(w, ph); tt__w(w, "\" fill=\"none\" stroke=\"#333333\"/>\n", 33);
    if (o.xlabel) {
        tt__w(w, "<text x=\"", 9); tt__wpx(w, (L + R) / 2); tt__w(w, "\" y=\"", 5); tt__wpx(w, (double)o.height - 12);
        tt__w(w, "\" text-anchor=\"middle\">", 23); tt__wxml(w, o.xlabel); tt__w(w, "</text>\n", 8);
    }
    if (o.ylabel) {
        tt__w(w, "<text transform=\"translate(16,", 30); tt__wpx(w, (T + B) / 2);
        tt__w(w, ") rotate(-90)\" text-anchor=\"middle\">", 36); tt__wxml(w, o.ylabel);
        if (o.log_y) tt__w(w, " (log scale)", 12);
        tt__w(w, "</text>\n", 8);
    }
    /* the series, clipped to the frame */
    tt__wfmt(w, "<g clip-path=\"url(#%s)\" fill=\"none\" stroke-width=\"2\">\n", clip);
    for (s = 0; s < n_series; s++) {
        const char *col = o.colors ? o.colors[s] : tt__palette[s % 8];
        tt_chart_style st = o.styles ? o.styles[s] : TT_CHART_LINE;
        if (st == TT_CHART_LINE || st == TT_CHART_DASHED) {
            int have = 0, pen = 0;   /* have: (lx, ly) is the last valid point; pen: the path is at it */
            double lx = 0, ly = 0;
            tt__wfmt(w, "<path stroke=\"%s\"%s stroke-linejoin=\"round\" d=\"", col, st == TT_CHART_DASHED ? " stroke-dasharray=\"6 4\"" : "");
            for (i = 0; i < series[s].n; i++) {
                double x = series[s].x ? series[s].x[i] : (double)(i + 1), y = series[s].y[i], px, py, ax, ay, bx, by;
                if (!tt__finite(x) || !tt__finite(y) || (o.log_y && y <= 0)) { have = pen = 0; continue; }
                px = TT__PX(x); py = TT__PY(y);
                if (have) {
                    ax = lx; ay = ly; bx = px; by = py;
                    if (tt__clip_seg(box, &ax, &ay, &bx, &by)) {
                        if (!pen || ax != lx || ay != ly) { tt__w(w, " M", 2); tt__wpx(w, ax); tt__w(w, " ", 1); tt__wpx(w, ay); }
                        tt__w(w, " L", 2); tt__wpx(w, bx); tt__w(w, " ", 1); tt__wpx(w, by);
                        pen = bx == px && by == py;
                    } else pen = 0;
                } else if (px >= box[0] && px <= box[2] && py >= box[1] && py <= box[3]) {
                    tt__w(w, " M", 2); tt__wpx(w, px); tt__w(w, " ", 1); tt__wpx(w, py);
                    pen = 1;
                }
                have = 1; lx = px; ly = py;
            }
            tt__w(w, "\"/>\n", 4);
        }
        for (i = 0; i < series[s].n; i++) {   /* dots and crosses; a line of one point: a dot */
            double x = series[s].x ? series[s].x[i] : (double)(i + 1), y = series[s].y[i], px, py;
            if (st != TT_CHART_DOTS && st != TT_CHART_CROSSES && series[s].n != 1) break;
            if (!tt__finite(x) || !tt__finite(y) || (o.log_y && y <= 0)) continue;
            px = TT__PX(x); py = TT__PY(y);
            if (px < box[0] || px > box[2] || py < box[1] || py > box[3]) continue;
            if (st == TT_CHART_CROSSES) {
                tt__wfmt(w, "<path stroke=\"%s\" d=\"M", col); tt__wpx(w, px - 5); tt__w(w, " ", 1); tt__wpx(w, py - 5);
                tt__w(w, "l10 10m0 -10l-10 10\"/>\n", 23);
            } else {
                tt__wfmt(w, "<circle fill=\"%s\" stroke=\"none\" r=\"3\" cx=\"", col); tt__wpx(w, px);
                tt__w(w, "\" cy=\"", 6); tt__wpx(w, py); tt__w(w, "\"/>\n", 4);
            }
        }
    }
    tt__w(w, "</g>\n", 5);
    /* legend, top right inside the frame: the labelled series */
    if (n_legend > 0) {
        double lw = 0, lx, ly = T + 8, yy = ly + 16;
        for (s = 0; s < n_series; s++) {
            double tw = series[s].label ? 7.0 * (double)strlen(series[s].label) : 0;
            lw = tw > lw ? tw : lw;
        }
        lw += 40;
        lx = R - lw - 8;
        tt__w(w, "<rect x=\"", 9); tt__wpx(w, lx); tt__w(w, "\" y=\"", 5); tt__wpx(w, ly); tt__w(w, "\" width=\"", 9);
        tt__wpx(w, lw); tt__wfmt(w, "\" height=\"%d\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#999999\"/>\n", 18 * n_legend + 8);
        for (s = 0; s < n_series; s++) {
            const char *col = o.colors ? o.colors[s] : tt__palette[s % 8];
            tt_chart_style st = o.styles ? o.styles[s] : TT_CHART_LINE;
            if (!series[s].label) continue;
            if (st == TT_CHART_DOTS) {
                tt__wfmt(w, "<circle fill=\"%s\" r=\"3\" cx=\"", col); tt__wpx(w, lx + 19);
                tt__w(w, "\" cy=\"", 6); tt__wpx(w, yy - 4); tt__w(w, "\"/>\n", 4);
            } else if (st == TT_CHART_CROSSES) {
                tt__wfmt(w, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\" d=\"M", col); tt__wpx(w, lx + 14);
                tt__w(w, " ", 1); tt__wpx(w, yy - 9); tt__w(w, "l10 10m0 -10l-10 10\"/>\n", 23);
            } else {
                tt__w(w, "<line x1=\"", 10); tt__wpx(w, lx + 8); tt__w(w, "\" x2=\"", 6); tt__wpx(w, lx + 30);
                tt__w(w, "\" y1=\"", 6); tt__wpx(w, yy - 4); tt__w(w, "\" y2=\"", 6); tt__wpx(w, yy - 4);
                tt__wfmt(w, "\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", col, st == TT_CHART_DASHED ? " stroke-dasharray=\"6 4\"" : "");
            }
            tt__w(w, "<text x=\"", 9); tt__wpx(w, lx + 36); tt__w(w, "\" y=\"", 5); tt__wpx(w, yy); tt__w(w, "\">", 2);
            tt__wxml(w, series[s].label); tt__w(w, "</text>\n", 8);
            yy += 18;
        }
    }
    tt__w(w, "</g>\n", 5);
#undef TT__PX
#undef TT__PY
}

TT__DEF tt_result tt_chart_svg_stream(tt_ctx *ctx, const tt_chart_opts *opts, int n_series, const tt_chart_series *series,
                                      tt_write_fn write, void *user) {
    tt_chart_opts o = opts ? *opts : tt_chart_opts_init();
    tt__wr w;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!write) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_chart_svg: write function is NULL");
    if ((r = tt__chart_check(ctx, &o, n_series, series, 0)) != TT_OK) return r;
    memset(&w, 0, sizeof w);
    w.fn = write; w.user = user;
    tt__wfmt(&w, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                 "font-family=\"sans-serif\" font-size=\"12\">\n", o.width, o.height, o.width, o.height);
    tt__wfmt(&w, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", o.width, o.height);
    tt__chart_panel(&w, &o, n_series, series, 0, 0, 0);
    tt__w(&w, "</svg>\n", 7);
    if (w.failed) return tt__fail(ctx, TT_ERR_IO, "tt_chart_svg: the output refused bytes at offset %z", (size_t)w.pos);
    return TT_OK;
}

TT__DEF tt_result tt_chart_grid_svg_stream(tt_ctx *ctx, const char *title, int columns, int n_charts, const tt_chart *charts,
                                           tt_write_fn write, void *user) {
    int c, cw = 0, ch = 0, rows, width, height, top = title ? 36 : 0;
    tt__wr w;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!write || columns < 1 || n_charts < 1 || !charts)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_chart_grid_svg: bad arguments (write NULL, columns < 1, or no charts)");
    for (c = 0; c < n_charts; c++) {
        if ((r = tt__chart_check(ctx, &charts[c].opts, charts[c].n_series, charts[c].series, c)) != TT_OK) return r;
        if (charts[c].opts.width > 100000 || charts[c].opts.height > 100000)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_chart_grid_svg: chart %d larger than 100000 pixels", c);
        cw = charts[c].opts.width > cw ? charts[c].opts.width : cw;
        ch = charts[c].opts.height > ch ? charts[c].opts.height : ch;
    }
    columns = columns < n_charts ? columns : n_charts;
    rows = (n_charts + columns - 1) / columns;
    if ((double)cw * columns > 1e6 || (double)ch * rows > 1e6)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_chart_grid_svg: picture larger than 1e6 pixels a side");
    width = cw * columns; height = ch * rows + top;
    memset(&w, 0, sizeof w);
    w.fn = write; w.user = user;
    tt__wfmt(&w, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                 "font-family=\"sans-serif\" font-size=\"12\">\n", width, height, width, height);
    tt__wfmt(&w, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", width, height);
    if (title) {
        tt__wfmt(&w, "<text x=\"%d\" y=\"25\" text-anchor=\"middle\" font-size=\"17\" font-weight=\"bold\">", width / 2);
        tt__wxml(&w, title); tt__w(&w, "</text>\n", 8);
    }
    for (c = 0; c < n_charts; c++)
        tt__chart_panel(&w, &charts[c].opts, charts[c].n_series, charts[c].series, (double)(c % columns) * cw,
                        (double)(c / columns) * ch + top, c);
    tt__w(&w, "</svg>\n", 7);
    if (w.failed) return tt__fail(ctx, TT_ERR_IO, "tt_chart_grid_svg: the output refused bytes at offset %z", (size_t)w.pos);
    return TT_OK;
}

#ifndef TT_NO_STDIO
#ifdef TT__POSIX_FILES
#include <sys/time.h>
#else
#include <time.h>
#endif

typedef struct tt__chart_args {
    const tt_chart_opts *opts;
    int n;
    const tt_chart_series *series;
    const char *title;
    int columns;
    const tt_chart *charts;
} tt__chart_args;
static tt_result tt__chart_produce(tt_ctx *ctx, void *arg, tt_write_fn write, void *user) {
    tt__chart_args *a = (tt__chart_args *)arg;
    if (a->charts) return tt_chart_grid_svg_stream(ctx, a->title, a->columns, a->n, a->charts, write, user);
    return tt_chart_svg_stream(ctx, a->opts, a->n, a->series, write, user);
}
TT__DEF tt_result tt_chart_svg(tt_ctx *ctx, const char *path, const tt_chart_opts *opts, int n_series,
                               const tt_chart_series *series) {
    tt__chart_args a;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    memset(&a, 0, sizeof a);
    a.opts = opts; a.n = n_series; a.series = series;
    return tt__atomic_write(ctx, "tt_chart_svg", path, NULL, tt__chart_produce, &a, NULL, NULL);
}
TT__DEF tt_result tt_chart_grid_svg(tt_ctx *ctx, const char *path, const char *title, int columns, int n_charts,
                                    const tt_chart *charts) {
    tt__chart_args a;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    memset(&a, 0, sizeof a);
    a.title = title; a.columns = columns; a.n = n_charts; a.charts = charts;
    if (!charts) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_chart_grid_svg: charts is NULL");
    return tt__atomic_write(ctx, "tt_chart_grid_svg", path, NULL, tt__chart_produce, &a, NULL, NULL);
}

static double tt__wall_clock(void) {
#ifdef TT__POSIX_FILES
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
#else
    return (double)time(NULL);
#endif
}
static double tt__progress_now(const tt_progress *p) { return p->clock ? p->clock(p->user) : tt__wall_clock(); }

TT__DEF tt_progress tt_progress_init(int epochs, int steps_per_epoch, int batch_size) {
    tt_progress p;
    memset(&p, 0, sizeof p);
    p.epochs = epochs; p.steps_per_epoch = steps_per_epoch; p.batch_size = batch_size;
    p.redraw_s = 0.1; p.line_s = 10.0;
    p.check_every = 1;
    return p;
}

static void tt__puttime(tt__buf *b, double s) {
    long t = (long)(s + 0.5);
    if (t >= 3600) { tt__putu(b, (unsigned long long)(t / 3600)); tt__putc(b, ':'); t %= 3600; if (t < 600) tt__putc(b, '0'); }
    tt__putu(b, (unsigned long long)(t / 60));
    tt__putc(b, ':');
    if (t % 60 < 10) tt__putc(b, '0');
    tt__putu(b, (unsigned long long)(t % 60));
}

TT__DEF void tt_progress_format(const tt_progress *p, double now, char *buf, size_t cap) {
    tt__buf b;
    double dt = now - p->t_epoch, rate = dt > 0 ? (double)p->step / dt : 0;
    if (!cap) return;
    b.p = buf; b.n = 0; b.cap = cap;
    tt__puts(&b, "epoch "); tt__puti(&b, p->epoch + 1);
    if (p->epochs > 0) { tt__putc(&b, '/'); tt__puti(&b, p->epochs); }
    tt__puts(&b, "  step "); tt__puti(&b, p->step);
    if (p->steps_per_epoch > 0) { tt__putc(&b, '/'); tt__puti(&b, p->steps_per_epoch); }
    if (p->step > 0) {
        double loss = p->loss_sum / (double)p->step;
        char num[32];
        tt__buf nb;
        nb.p = num; nb.n = 0; nb.cap = sizeof num;
        tt__putg(&nb, loss);
        num[nb.n] = 0;
        tt__puts(&b, "  loss "); tt__puts(&b, num);
    }
    if (rate > 0) {
        tt__puts(&b, "  ");
        tt__putu(&b, (unsigned long long)(rate * (p->batch_size > 0 ? p->batch_size : 1) + 0.5));
        tt__puts(&b, p->batch_size > 0 ? " samples/s" : " steps/s");
        if (p->steps_per_epoch > 0) {
            double left = (double)(p->steps_per_epoch - p->step);
            if (p->epochs > 0) left += (double)(p->epochs - p->epoch - 1) * p->steps_per_epoch;
            if (left < 0) left = 0;
            tt__puts(&b, "  ETA ");
            tt__puttime(&b, left / rate);
        }
    }
    buf[b.n < cap ? b.n : cap - 1] = 0;
}

static void tt__progress_emit(tt_progress *p, const char *line, int final) {
    FILE *f = p->out ? (FILE *)p->out : stderr;
    if (p->line_fn) { p->line_fn(p->user, line, final); return; }
    if (p->redraw) {
        fputs("\r", f);
        fputs(line, f);
        fputs("\033[K", f);
        if (final) fputs("\n", f);
    } else {
        fputs(line, f);
        fputs("\n", f);
    }
    fflush(f);
    p->drawn = 1;
}

TT__DEF void tt_progress_epoch_begin(tt_progress *p, int epoch) {
    double now;
    if (!p) return;
    if (p->mode == TT_PROGRESS_AUTO) {
#ifdef TT__POSIX_FILES
        FILE *f = p->out ? (FILE *)p->out : stderr;
        p->redraw = !p->line_fn && ((f == stderr && isatty(2)) || (f == stdout && isatty(1)));
#else
        p->redraw = 0;
#endif
    } else p->redraw = p->mode == TT_PROGRESS_REDRAW;
    now = tt__progress_now(p);
    if (p->steps_total == 0 && p->t_start == 0) p->t_start = now;
    p->epoch = epoch; p->step = 0; p->loss_sum = 0;
    p->t_epoch = p->t_check = p->t_shown = now;
    p->check_every = 1;
    p->next_check = 1;
}

/* The clock is read every check_every steps, aiming at about 10 reads per redraw interval. */
static void tt__progress_check(tt_progress *p) {
    double now = tt__progress_now(p), since = now - p->t_check, interval = p->redraw ? p->redraw_s : p->line_s;
    double per_step = since / (double)(p->check_every > 0 ? p->check_every : 1);
    long want = per_step > 0 ? (long)(p->redraw_s / 10.0 / per_step) : p->check_every * 2;
    p->check_every = want < 1 ? 1 : want > 1000 ? 1000 : want;
    p->t_check = now;
    p->next_check = p->step + p->check_every;
    if (now - p->t_shown >= interval) {
        char line[160];
        tt_progress_format(p, now, line, sizeof line);
        tt__progress_emit(p, line, 0);
        p->t_shown = now;
    }
}

TT__DEF void tt_progress_step(tt_progress *p, double loss) {
    if (!p) return;
    p->step++;
    p->steps_total++;
    p->loss_sum += loss;
    if (p->step >= p->next_check && p->mode != TT_PROGRESS_SILENT) tt__progress_check(p);
}

TT__DEF void tt_progress_epoch_end(tt_progress *p, const char *extra) {
    char line[320];
    double now;
    size_t n;
    if (!p || p->mode == TT_PROGRESS_SILENT) return;
    now = tt__progress_now(p);
    tt_progress_format(p, now, line, 200);
    n = strlen(line);
    if (!p->redraw || p->line_fn) {
        /* the final line of an epoch: elapsed time instead of an ETA */
        char *eta = strstr(line, "  ETA ");
        if (eta) { *eta = 0; n = strlen(line); }
    }
    if (extra && extra[0] && n + 2 < sizeof line) {
        line[n] = ' '; line[n + 1] = ' ';
        strncpy(line + n + 2, extra, sizeof line - n - 3);
        line[sizeof line - 1] = 0;
    }
    tt__progress_emit(p, line, 1);
}

TT__DEF tt_result tt_csv_log_open(tt_ctx *ctx, tt_csv_log *log, const char *path, int n_cols, const char *const *cols) {
    FILE *f;
    int i;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!log || !path || n_cols < 1 || !cols) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_csv_log_open: bad arguments");
    memset(log, 0, sizeof *log);
    errno = 0;
    f = fopen(path, "w");
    if (!f) return tt__fail(ctx, TT_ERR_IO, "tt_csv_log_open: cannot create '%s': %s", path, strerror(errno));
    for (i = 0; i < n_cols; i++) {
        const char *c = cols[i] ? cols[i] : "";
        if (i) fputc(',', f);
        if (strpbrk(c, ",\"\n")) {
            fputc('"', f);
            for (; *c; c++) { if (*c == '"') fputc('"', f); fputc(*c, f); }
            fputc('"', f);
        } else fputs(c, f);
    }
    fputc('\n', f);
    log->f = f;
    log->n_cols = n_cols;
    return ferror(f) ? tt__fail(ctx, TT_ERR_IO, "tt_csv_log_open: writing '%s' failed", path) : TT_OK;
}

TT__DEF tt_result tt_csv_log_row(tt_ctx *ctx, tt_csv_log *log, const double *values) {
    FILE *f;
    int i;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!log || !log->f || !values) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_csv_log_row: log not open or values NULL");
    f = (FILE *)log->f;
    for (i = 0; i < log->n_cols; i++) {
        if (i) fputc(',', f);
        if (values[i] == values[i]) fprintf(f, "%.9g", values[i]);
    }
    fputc('\n', f);
    if (fflush(f) != 0 || ferror(f)) return tt__fail(ctx, TT_ERR_IO, "tt_csv_log_row: write failed: %s", strerror(errno));
    return TT_OK;
}

TT__DEF tt_result tt_csv_log_close(tt_ctx *ctx, tt_csv_log *log) {
    int bad;
    if (!log || !log->f) return TT_OK;
    bad = fclose((FILE *)log->f) != 0;
    log->f = NULL;
    if (bad && ctx) return tt__fail(ctx, TT_ERR_IO, "tt_csv_log_close: closing the file failed");
    return bad ? TT_ERR_IO : TT_OK;
}
#endif /* TT_NO_STDIO */

/* ==================================================================================== >>data
   Readers (gzip/inflate, IDX, CSV), datasets, the batch iterator, gathering and augmentation.

   INFLATE follows Mark Adler's puff.c (the readable reference decoder of zlib's author):
   canonical Huffman codes are decoded from counts of codes per length, bit by bit, with a
   first-level table for codes of up to TT__INF_FAST bits. Output goes to a 32 KiB ring (the
   deflate window) and is handed to a sink in chunks together with its offset in the stream, so
   a caller can keep all of it, part of it (the IDX reader skips the header) or none (size
   queries). Every read past the input sets a flag that stops decoding. */

#define TT__INF_WIN 32768u
#define TT__INF_FAST 9
typedef void (*tt__sink_fn)(void *user, const unsigned char *p, size_t n, uint64_t offset);

typedef struct tt__huff {
    short count[16];      /* codes of each length */
    short symbol[320];    /* symbols ordered by code */
    unsigned short fast[1 << TT__INF_FAST]; /* bit-reversed code -> (len << 9) | symbol, 0: slow path */
} tt__huff;

typedef struct tt__inflate {
    tt_ctx *ctx;
    const char *op;
    const unsigned char *src;
    size_t n, at;         /* input and the next byte to read */
    uint64_t bitbuf;
    int bitcnt;
    int bad;              /* input ran out or was invalid (message already recorded) */
    unsigned char *win;   /* TT__INF_WIN ring */
    uint64_t pos;         /* bytes output */
    uint64_t member_start;/* pos at the start of the current member */
    uint64_t flushed;     /* bytes handed to the sink and checksummed */
    uint64_t stop;        /* stop once this many bytes are out */
    uint32_t crc;
    tt__sink_fn sink;
    void *user;
} tt__inflate;

static void tt__inf_fail(tt__inflate *s, size_t at, const char *what) {
    if (!s->bad)
        tt__fail(s->ctx, TT_ERR_FORMAT, "%s: gzip data: %s at byte %z", s->op, what, at);
    s->bad = 1;
}

/* need (<= 32) bits, least significant first. Past the end: flag and zeros. */
static unsigned tt__inf_bits(tt__inflate *s, int need) {
    unsigned v;
    while (s->bitcnt < need) {
        if (s->at >= s->n) {
            tt__inf_fail(s, s->n, "unexpected end of input");
            return 0;
        }
        s->bitbuf |= (uint64_t)s->src[s->at++] << s->bitcnt;
        s->bitcnt += 8;
    }
    v = (unsigned)(s->bitbuf & ((1ull << need) - 1u));
    s->bitbuf >>= need;
    s->bitcnt -= need;
    return v;
}

/* Hand out everything not yet handed out (CRC first). */
static void tt__inf_flush(tt__inflate *s) {
    while (s->flushed < s->pos) {
        size_t start = (size_t)(s->flushed & (TT__INF_WIN - 1u));
        size_t len = (size_t)TT__MIN(s->pos - s->flushed, (uint64_t)(TT__INF_WIN - start));
        s->crc = tt_crc32(s->crc, s->win + start, len);
        if (s->sink) s->sink(s->user, s->win + start, len, s->flushed);
        s->flushed += len;
    }
}

/* Build the code from lengths[0..n-1]. Returns 0 if complete, > 0 if incomplete, < 0 if
   over-subscribed (puff's construct), and fills the fast table. */
static int tt__huff_build(tt__huff *h, const short *length, int n) {
    short offs[16];
    int sym, len, left = 1;
    memset(h->count, 0, sizeof h->count);
    for (sym = 0; sym < n; sym++) h->count[length[sym]]++;
    memset(h->fast, 0, sizeof h->fast);
    if (h->count[0] == n) return 0; /* no codes: complete, but decoding will fail */
    for (len = 1; len < 16; len++) {
        left <<= 1;
        left -= h->count[len];
        if (left < 0) return left;
    }
    offs[1] = 0;
    for (len = 1; len < 15; len++) offs[len + 1] = (short)(offs[len] + h->count[len]);
    for (sym = 0; sym < n; sym++)
        if (length[sym]) h->symbol[offs[length[sym]]++] = (short)sym;
    /* fast table: walk the canonical codes of length <= TT__INF_FAST in order */
    {
        int code = 0, first = 0, index = 0;
        for (len = 1; len <= TT__INF_FAST; len++) {
            int c;
            for (c = 0; c < h->count[len]; c++) {
                int cc = code + c, rev = 0, b, fill;
                for (b = 0; b < len; b++) rev |= ((cc >> b) & 1) << (len - 1 - b);
                for (fill = rev; fill < (1 << TT__INF_FAST); fill += 1 << len)
                    h->fast[fill] = (unsigned short)((len << 9) | h->symbol[index + c]);
            }
            index += h->count[len];
            first += h->count[len];
            code = (code + h->count[len]) << 1;
        }
        (void)first;
    }
    return left;
}

/* Decode one symbol; -1 (and the flag) for a code that is not in the table. */
static int tt__huff_decode(tt__inflate *s, const tt__huff *h) {
    int code = 0, first = 0, index = 0, len;
    if (s->bitcnt < TT__INF_FAST) { /* top up without failing: the input may end early */
        while (s->bitcnt <= 56 && s->at < s->n) {
            s->bitbuf |= (uint64_t)s->src[s->at++] << s->bitcnt;
            s->bitcnt += 8;
        }
    }
    if (s->bitcnt >= TT__INF_FAST) {
        unsigned e = h->fast[s->bitbuf & ((1u << TT__INF_FAST) - 1u)];
        if (e) {
            s->bitbuf >>= e >> 9;
            s->bitcnt -= (int)(e >> 9);
            return (int)(e & 511u);
        }
    }
    for (len = 1; len < 16; len++) {
        int count;
        code |= (int)tt__inf_bits(s, 1);
        if (s->bad) return -1;
        count = h->count[len];
        if (code - count < first) return h->symbol[index + (code - first)];
        index += count;
        first += count;
        first <<= 1;
        code <<= 1;
    }
    tt__inf_fail(s, s->at, "invalid Huffman code");
    return -1;
}

static void tt__inf_put(tt__inflate *s, unsigned char c) {
    s->win[s->pos & (TT__INF_WIN - 1u)] = c;
    s->pos++;
}

/* Literal/length and distance symbols of one block until end-of-block. */
static void tt__inf_codes(tt__inflate *s, const tt__huff *lencode, const tt__huff *distcode) {
    static const short lbase[29] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
                                    35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
    static const short lext[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
    static const short dbase[30] = {1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769,
                                    1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
    static const short dext[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
    for (;;) {
        int sym;
        if (s->pos - s->flushed > TT__INF_WIN - 258u) tt__inf_flush(s);
        if (s->pos >= s->stop) return;
        sym = tt__huff_decode(s, lencode);
        if (sym < 0 || s->bad) return;
        if (sym < 256) {
            tt__inf_put(s, (unsigned char)sym);
        } else if (sym == 256) {
            return;
        } else {
            unsigned len, dist;
            size_t at = s->at;
            sym -= 257;
            if (sym >= 29) { tt__inf_fail(s, at, "invalid length code"); return; }
            len = (unsigned)lbase[sym] + tt__inf_bits(s, lext[sym]);
            sym = tt__huff_decode(s, distcode);
            if (s->bad) return;
            if (sym < 0 || sym >= 30) { tt__inf_fail(s, at, "invalid distance code"); return; }
            dist = (unsigned)dbase[sym] + tt__inf_bits(s, dext[sym]);
            if (s->bad) return;
            if ((uint64_t)dist > s->pos - s->member_start) { tt__inf_fail(s, at, "distance too far back"); return; }
            while (len--) tt__inf_put(s, s->win[(s->pos - dist) & (TT__INF_WIN - 1u)]);
        }
    }
}

static void tt__inf_stored(tt__inflate *s) {
    unsigned len, nlen;
    size_t at;
    s->bitbuf = 0; /* discard the bits left in the current byte */
    s->at -= (size_t)(s->bitcnt / 8); /* give back whole bytes read ahead */
    s->bitcnt = 0;
    at = s->at;
    if (s->n - s->at < 4) { tt__inf_fail(s, s->n, "unexpected end of input"); return; }
    len = s->src[s->at] | (unsigned)s->src[s->at + 1] << 8;
    nlen = s->src[s->at + 2] | (unsigned)s->src[s->at + 3] << 8;
    s->at += 4;
    if (len != (~nlen & 0xffffu)) { tt__inf_fail(s, at, "stored block length check failed"); return; }
    if (s->n - s->at < len) { tt__inf_fail(s, s->n, "unexpected end of input in a stored block"); return; }
    while (len--) {
        if (s->pos - s->flushed >= TT__INF_WIN) tt__inf_flush(s);
        tt__inf_put(s, s->src[s->at++]);
    }
}

static void tt__inf_fixed(tt__inflate *s, tt__huff *lc, tt__huff *dc) {
    short lengths[320];
    int i;
    for (i = 0; i < 144; i++) lengths[i] = 8;
    for (; i < 256; i++) lengths[i] = 9;
    for (; i < 280; i++) lengths[i] = 7;
    for (; i < 288; i++) lengths[i] = 8;
    tt__huff_build(lc, lengths, 288);
    for (i = 0; i < 30; i++) lengths[i] = 5;
    tt__huff_build(dc, lengths, 30);
    tt__inf_codes(s, lc, dc);
}

static void tt__inf_dynamic(tt__inflate *s, tt__huff *lc, tt__huff *dc) {
    static const short order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    short lengths[320];
    int nlen, ndist, ncode, i, err;
    size_t at = s->at;
    nlen = (int)tt__inf_bits(s, 5) + 257;
    ndist = (int)tt__inf_bits(s, 5) + 1;
    ncode = (int)tt__inf_bits(s, 4) + 4;
    if (s->bad) return;
    if (nlen > 286 || ndist > 30) { tt__inf_fail(s, at, "bad dynamic block counts"); return; }
    for (i = 0; i < ncode; i++) lengths[order[i]] = (short)tt__inf_bits(s, 3);
    for (; i < 19; i++) lengths[order[i]] = 0;
    if (s->bad) return;
    if (tt__huff_build(lc, lengths, 19) != 0) { tt__inf_fail(s, at, "incomplete code-length code"); return; }
    for (i = 0; i < nlen + ndist;) {
        int sym = tt__huff_decode(s, lc), len = 0, rep;
        if (sym < 0 || s->bad) return;
        if (sym < 16) { lengths[i++] = (short)sym; continue; }
        if (sym == 16) {
            if (i == 0) { tt__inf_fail(s, s->at, "length repeat with no first length"); return; }
            len = lengths[i - 1];
            rep = 3 + (int)tt__inf_bits(s, 2);
        } else if (sym == 17) rep = 3 + (int)tt__inf_bits(s, 3);
        else rep = 11 + (int)tt__inf_bits(s, 7);
        if (s->bad) return;
        if (i + rep > nlen + ndist) { tt__inf_fail(s, s->at, "too many code lengths"); return; }
        while (rep--) lengths[i++] = (short)len;
    }
    if (lengths[256] == 0) { tt__inf_fail(s, at, "no end-of-block code"); return; }
    err = tt__huff_build(lc, lengths, nlen);
    if (err && (err < 0 || nlen != lc->count[0] + lc->count[1])) { tt__inf_fail(s, at, "bad literal/length code"); return; }
    err = tt__huff_build(dc, lengths + nlen, ndist);
    if (err && (err < 0 || ndist != dc->count[0] + dc->count[1])) { tt__inf_fail(s, at, "bad distance code"); return; }
    tt__inf_codes(s, lc, dc);
}

/* One raw deflate stream from s->at; leaves s->at after its last byte. */
static void tt__inf_deflate(tt__inflate *s, tt__huff *lc, tt__huff *dc) {
    int last;
    s->bitbuf = 0;
    s->bitcnt = 0;
    do {
        size_t at = s->at;
        unsigned type;
        last = (int)tt__inf_bits(s, 1);
        type = tt__inf_bits(s, 2);
        if (s->bad) return;
        if (type == 0) tt__inf_stored(s);
        else if (type == 1) tt__inf_fixed(s, lc, dc);
        else if (type == 2) tt__inf_dynamic(s, lc, dc);
        else tt__inf_fail(s, at, "invalid block type 3");
        if (s->bad || s->pos >= s->stop) return;
    } while (!last);
    s->at -= (size_t)(s->bitcnt / 8); /* give back whole bytes read ahead */
    s->bitbuf = 0;
    s->bitcnt = 0;
}

static uint32_t tt__le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint32_t tt__be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Skip a zero-terminated header string; 0 if it runs past the input. */
static int tt__gz_skipz(tt__inflate *s) {
    while (s->at < s->n)
        if (s->src[s->at++] == 0) return 1;
    return 0;
}

/* Decode every gzip member of src (or stop after `stop` output bytes), handing the output to
   sink. *total receives the output size. */
static tt_result tt__gunzip_run(tt_ctx *ctx, const char *op, const void *src, size_t n, uint64_t stop, tt__sink_fn sink,
                                void *user, uint64_t *total) {
    tt__inflate s;
    tt__huff *codes;
    size_t mark;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!src && n) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL buffer", op);
    mark = tt_scratch_mark(ctx);
    memset(&s, 0, sizeof s);
    s.ctx = ctx; s.op = op; s.src = (const unsigned char *)src; s.n = n; s.stop = stop; s.sink = sink; s.user = user;
    s.win = (unsigned char *)tt__scratch(ctx, op, TT__INF_WIN + 2 * sizeof(tt__huff));
    if (!s.win) return TT_ERR_OUT_OF_MEMORY;
    codes = (tt__huff *)(void *)(s.win + TT__INF_WIN);
    do {
        size_t start = s.at;
        unsigned flg;
        uint32_t crc, isize;
        if (start > 0 && !tt_is_gzip(s.src + s.at, s.n - s.at)) { tt__inf_fail(&s, s.at, "unexpected data after the gzip member"); break; }
        if (s.n - s.at < 10) { tt__inf_fail(&s, s.n, "truncated gzip header"); break; }
        if (s.src[s.at] != 0x1f || s.src[s.at + 1] != 0x8b) { tt__inf_fail(&s, s.at, "not a gzip member (magic 1f 8b)"); break; }
        if (s.src[s.at + 2] != 8) { tt__inf_fail(&s, s.at + 2, "compression method is not deflate"); break; }
        flg = s.src[s.at + 3];
        if (flg & 0xe0u) { tt__inf_fail(&s, s.at + 3, "reserved header flags set"); break; }
        s.at += 10;
        if (flg & 4u) { /* FEXTRA */
            size_t xlen;
            if (s.n - s.at < 2) { tt__inf_fail(&s, s.n, "truncated gzip header"); break; }
            xlen = s.src[s.at] | (size_t)s.src[s.at + 1] << 8;
            s.at += 2;
            if (s.n - s.at < xlen) { tt__inf_fail(&s, s.n, "truncated gzip extra field"); break; }
            s.at += xlen;
        }
        if ((flg & 8u) && !tt__gz_skipz(&s)) { tt__inf_fail(&s, s.n, "truncated gzip file name"); break; }
        if ((flg & 16u) && !tt__gz_skipz(&s)) { tt__inf_fail(&s, s.n, "truncated gzip comment"); break; }
        if (flg & 2u) { /* FHCRC: low 16 bits of the CRC-32 of the header */
            if (s.n - s.at < 2) { tt__inf_fail(&s, s.n, "truncated gzip header"); break; }
            if ((tt_crc32(0, s.src + start, s.at - start) & 0xffffu) != (s.src[s.at] | (unsigned)s.src[s.at + 1] << 8)) {
                tt__inf_fail(&s, s.at, "header CRC mismatch");
                break;
            }
            s.at += 2;
        }
        s.member_start = s.pos;
        s.crc = 0;
        tt__inf_deflate(&s, &codes[0], &codes[1]);
        if (s.bad) break;
        tt__inf_flush(&s);
        if (s.pos >= s.stop) break;
        if (s.n - s.at < 8) { tt__inf_fail(&s, s.n, "truncated gzip trailer"); break; }
        crc = tt__le32(s.src + s.at);
        isize = tt__le32(s.src + s.at + 4);
        if (crc != s.crc) { tt__inf_fail(&s, s.at, "CRC-32 mismatch"); break; }
        if (isize != (uint32_t)(s.pos - s.member_start)) { tt__inf_fail(&s, s.at + 4, "ISIZE mismatch"); break; }
        s.at += 8;
    } while (s.at < s.n);
    tt_scratch_rewind(ctx, mark);
    if (s.bad) return TT_ERR_FORMAT;
    *total = s.pos;
    return TT_OK;
}

TT__DEF int tt_is_gzip(const void *src, size_t n) {
    const unsigned char *p = (const unsigned char *)src;
    return p && n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

static int tt__size_fits(uint64_t v, size_t *out) {
    if (v > (uint64_t)(size_t)-1) return 0;
    *out = (size_t)v;
    return 1;
}

TT__DEF tt_result tt_gunzip_size(tt_ctx *ctx, const void *src, size_t n, size_t *out_bytes) {
    uint64_t total;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!out_bytes) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_gunzip_size: NULL out_bytes");
    r = tt__gunzip_run(ctx, "tt_gunzip_size", src, n, (uint64_t)-1, NULL, NULL, &total);
    if (r != TT_OK) return r;
    if (!tt__size_fits(total, out_bytes))
        return tt__fail(ctx, TT_ERR_OUT_OF_MEMORY, "tt_gunzip_size: output does not fit in size_t");
    return TT_OK;
}

static void tt__sink_copy(void *user, const unsigned char *p, size_t n, uint64_t offset) {
    memcpy((unsigned char *)user + offset, p, n);
}

TT__DEF tt_result tt_gunzip(tt_ctx *ctx, const void *src, size_t n, void *dst, size_t dst_bytes, size_t *out_bytes) {
    uint64_t total;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!dst && dst_bytes) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_gunzip: NULL dst");
    r = tt__gunzip_run(ctx, "tt_gunzip", src, n, (uint64_t)-1, NULL, NULL, &total);
    if (r != TT_OK) return r;
    if (total > (uint64_t)dst_bytes)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_gunzip: output is %z bytes, dst holds %z", (size_t)total, dst_bytes);
    if (total) r = tt__gunzip_run(ctx, "tt_gunzip", src, n, (uint64_t)-1, tt__sink_copy, dst, &total);
    if (r == TT_OK && out_bytes) *out_bytes = (size_t)total;
    return r;
}

/* ---- IDX ---- */

/* Parse an IDX header from the first `avail` bytes of the (decompressed) data. */
static tt_result tt__idx_header(tt_ctx *ctx, const char *op, const unsigned char *p, size_t avail, tt_idx_info *info) {
    size_t count = 1, esz, bytes;
    int d, ndim;
    if (avail < 4) return tt__fail(ctx, TT_ERR_FORMAT, "%s: IDX header truncated at byte %z (need 4 bytes)", op, avail);
    if (p[0] != 0 || p[1] != 0) return tt__fail(ctx, TT_ERR_FORMAT, "%s: not an IDX file: bytes 0-1 are not zero", op);
    switch (p[2]) {
    case TT_IDX_U8: case TT_IDX_I8: esz = 1; break;
    case TT_IDX_I16: esz = 2; break;
    case TT_IDX_I32: case TT_IDX_F32: esz = 4; break;
    case TT_IDX_F64: esz = 8; break;
    default: return tt__fail(ctx, TT_ERR_FORMAT, "%s: unknown IDX element type %u at byte 2", op, (unsigned)p[2]);
    }
    ndim = p[3];
    if (ndim < 1 || ndim > TT_MAX_DIMS)
        return tt__fail(ctx, TT_ERR_FORMAT, "%s: IDX rank %d at byte 3 (1 .. %d supported)", op, ndim, TT_MAX_DIMS);
    if (avail < 4 + 4 * (size_t)ndim)
        return tt__fail(ctx, TT_ERR_FORMAT, "%s: IDX header truncated at byte %z (need %z bytes)", op, avail, 4 + 4 * (size_t)ndim);
    memset(info, 0, sizeof *info);
    for (d = 0; d < ndim; d++) {
        uint32_t v = tt__be32(p + 4 + 4 * d);
        if (v == 0 || v > 0x7fffffffu)
            return tt__fail(ctx, TT_ERR_FORMAT, "%s: IDX dimension %d is %z at byte %d (1 .. 2^31-1)", op, d, (size_t)v, 4 + 4 * d);
        if (!tt__mul_ok(count, v, &count))
            return tt__fail(ctx, TT_ERR_FORMAT, "%s: IDX element count overflows at byte %d", op, 4 + 4 * d);
        info->dims[d] = (int)v;
    }
    if (!tt__mul_ok(count, esz, &bytes) || bytes > (size_t)-1 - 64)
        return tt__fail(ctx, TT_ERR_FORMAT, "%s: IDX data size overflows", op);
    info->type = (tt_idx_type)p[2];
    info->ndim = ndim;
    info->count = count;
    info->elem_bytes = esz;
    info->header_bytes = 4 + 4 * (size_t)ndim;
    return TT_OK;
}

typedef struct tt__hdr_sink {
    unsigned char b[4 + 4 * TT_MAX_DIMS];
    size_t n;
} tt__hdr_sink;
static void tt__sink_hdr(void *user, const unsigned char *p, size_t n, uint64_t offset) {
    tt__hdr_sink *h = (tt__hdr_sink *)user;
    while (n && offset < sizeof h->b) { h->b[offset++] = *p++; n--; h->n = (size_t)offset; }
}

TT__DEF tt_result tt_idx_info_mem(tt_ctx *ctx, const void *src, size_t n, tt_idx_info *info) {
    static const char *op = "tt_idx_info";
    tt_idx_info tmp;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if ((!src && n) || !info) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL argument", op);
    if (tt_is_gzip(src, n)) {
        tt__hdr_sink h;
        uint64_t total;
        h.n = 0;
        r = tt__gunzip_run(ctx, op, src, n, sizeof h.b, tt__sink_hdr, &h, &total);
        if (r != TT_OK) return r;
        r = tt__idx_header(ctx, op, h.b, h.n, &tmp);
        tmp.gzip = 1;
    } else {
        r = tt__idx_header(ctx, op, (const unsigned char *)src, n, &tmp);
        tmp.gzip = 0;
    }
    if (r == TT_OK) *info = tmp;
    return r;
}

/* Converts the element bytes of the data (offsets counted from the start of the IDX data,
   header included) into dst. out: 0 uint8, 1 float (times scale), 2 int. */
typedef struct tt__idx_sink {
    const tt_idx_info *info;
    int out;
    void *dst;
    float scale;
    unsigned char part[8];
    size_t npart, idx;
} tt__idx_sink;

static double tt__idx_value(tt_idx_type type, const unsigned char *b) {
    switch (type) {
    case TT_IDX_U8: return b[0];
    case TT_IDX_I8: return (double)(signed char)b[0];
    case TT_IDX_I16: return (double)(int16_t)(uint16_t)((unsigned)b[0] << 8 | b[1]);
    case TT_IDX_I32: return (double)(int32_t)tt__be32(b);
    case TT_IDX_F32: { uint32_t u = tt__be32(b); float f; memcpy(&f, &u, 4); return f; }
    case TT_IDX_F64: {
        uint64_t u = (uint64_t)tt__be32(b) << 32 | tt__be32(b + 4);
        double v;
        memcpy(&v, &u, 8);
        return v;
    }
    }
    return 0;
}

static void tt__sink_idx(void *user, const unsigned char *p, size_t n, uint64_t offset) {
    tt__idx_sink *s = (tt__idx_sink *)user;
    size_t esz = s->info->elem_bytes;
    if (offset < s->info->header_bytes) {
        size_t skip = (size_t)TT__MIN((uint64_t)n, s->info->header_bytes - offset);
        p += skip;
        n -= skip;
    }
    if (s->info->type == TT_IDX_U8 && s->out != 2) { /* the common case, one loop */
        size_t k, m = TT__MIN(n, s->info->count - s->idx);
        if (s->out == 0) memcpy((unsigned char *)s->dst + s->idx, p, m);
        else
            for (k = 0; k < m; k++) ((float *)s->dst)[s->idx + k] = (float)p[k] * s->scale;
        s->idx += m;
        return;
    }
    while (n && s->idx < s->info->count) {
        s->part[s->npart++] = *p++;
        n--;
        if (s->npart == esz) {
            double v = tt__idx_value(s->info->type, s->part);
            if (s->out == 1) ((float *)s->dst)[s->idx] = (float)(v * s->scale);
            else if (s->out == 2) ((int *)s->dst)[s->idx] = (int)v;
            else ((unsigned char *)s->dst)[s->idx] = (unsigned char)v;
            s->idx++;
            s->npart = 0;
        }
    }
}

static tt_result tt__idx_read(tt_ctx *ctx, const char *op, const void *src, size_t n, int out, float scale, void *dst,
                              size_t dst_count) {
    tt_idx_info info;
    tt__idx_sink sink;
    uint64_t total, want;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!dst) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL dst", op);
    r = tt_idx_info_mem(ctx, src, n, &info);
    if (r != TT_OK) return r;
    if (out == 0 && info.type != TT_IDX_U8)
        return tt__fail(ctx, TT_ERR_FORMAT, "%s: IDX element type %u is not uint8 (0x08)", op, (unsigned)info.type);
    if (out == 2 && (info.type == TT_IDX_F32 || info.type == TT_IDX_F64))
        return tt__fail(ctx, TT_ERR_FORMAT, "%s: IDX element type %u is not an integer type", op, (unsigned)info.type);
    if (out == 1 && !tt__finite(scale)) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: scale is not finite", op);
    want = (uint64_t)info.header_bytes + (uint64_t)info.count * info.elem_bytes;
    if (info.gzip) {
        r = tt__gunzip_run(ctx, op, src, n, (uint64_t)-1, NULL, NULL, &total); /* check everything first */
        if (r != TT_OK) return r;
    } else total = n;
    if (total < want)
        return tt__fail(ctx, TT_ERR_FORMAT, "%s: IDX data truncated: %z bytes, the header announces %z", op, (size_t)total,
                        (size_t)want);
    if (total > want)
        return tt__fail(ctx, TT_ERR_FORMAT, "%s: IDX data has %z unexpected bytes from byte %z on", op, (size_t)(total - want),
                        (size_t)want);
    if (dst_count < info.count)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: dst holds %z elements, the file has %z", op, dst_count, info.count);
    memset(&sink, 0, sizeof sink);
    sink.info = &info; sink.out = out; sink.dst = dst; sink.scale = scale;
    if (info.gzip) return tt__gunzip_run(ctx, op, src, n, (uint64_t)-1, tt__sink_idx, &sink, &total);
    tt__sink_idx(&sink, (const unsigned char *)src, n, 0);
    return TT_OK;
}

TT__DEF tt_result tt_idx_read_u8_mem(tt_ctx *ctx, const void *src, size_t n, unsigned char *dst, size_t dst_count) {
    return tt__idx_read(ctx, "tt_idx_read_u8", src, n, 0, 1.0f, dst, dst_count);
}
TT__DEF tt_result tt_idx_read_f32_mem(tt_ctx *ctx, const void *src, size_t n, float scale, float *dst, size_t dst_count) {
    return tt__idx_read(ctx, "tt_idx_read_f32", src, n, 1, scale, dst, dst_count);
}
TT__DEF tt_result tt_idx_read_int_mem(tt_ctx *ctx, const void *src, size_t n, int *dst, size_t dst_count) {
    return tt__idx_read(ctx, "tt_idx_read_int", src, n, 2, 1.0f, dst, dst_count);
}

/* ---- CSV ----
   One parser serves both passes: the first (plan) checks the whole input and measures it, the
   second (fill) writes into memory laid out from the plan and cannot fail. */

typedef struct tt__csv_field {
    size_t start, end;   /* raw bytes (inside the quotes when quoted) */
    size_t offset;       /* byte offset of the field's first character */
    int quoted, escaped; /* escaped: holds doubled quotes */
    int line, col;       /* 1-based */
    int last;            /* last field of its row */
} tt__csv_field;

typedef struct tt__csv_plan {
    size_t rows, ncols, cols;
    int label_col;              /* -1: none */
    int all_int;                /* every class label is digits only and < 65536 */
    size_t max_int;
    size_t label_bytes, header_bytes, n_missing;
    size_t off_names, off_cols, off_x, off_y, off_rank, off_pool, total, n_names_bound;
} tt__csv_plan;

static int tt__csv_nl(char c) { return c == '\n' || c == '\r'; }

/* Length of the unescaped text of f, copied to dst (when not NULL). */
static size_t tt__csv_text(const char *p, const tt__csv_field *f, char *dst) {
    size_t i, k = 0;
    for (i = f->start; i < f->end; i++) {
        if (f->escaped && p[i] == '"') i++; /* "" -> " */
        if (dst) dst[k] = p[i];
        k++;
    }
    return k;
}

static tt_result tt__csv_err(tt_ctx *ctx, const char *op, const char *src, const tt__csv_field *f, const char *what) {
    char shown[32];
    size_t k = 0, i;
    for (i = f->start; i < f->end && k < sizeof shown - 4; i++) shown[k++] = (src[i] >= 32 && src[i] < 127) ? src[i] : '?';
    if (i < f->end) { shown[k++] = '.'; shown[k++] = '.'; shown[k++] = '.'; }
    shown[k] = 0;
    return tt__fail(ctx, TT_ERR_FORMAT, "%s: line %d, column %d (byte %z): %s \"%s\"", op, f->line, f->col, f->offset, what, shown);
}

/* The field starting at *at (not at a row start of a blank line). */
static tt_result tt__csv_field_next(tt_ctx *ctx, const char *op, const char *p, size_t n, char delim, size_t *at, int *line,
                                    int col, tt__csv_field *f) {
    size_t i = *at;
    f->offset = i; f->line = *line; f->col = col; f->quoted = 0; f->escaped = 0;
    if (i < n && p[i] == '"') {
        f->quoted = 1;
        f->start = ++i;
        for (;;) {
            if (i >= n) {
                f->end = n;
                return tt__csv_err(ctx, op, p, f, "unterminated quoted field");
            }
            if (p[i] == '"') {
                if (i + 1 < n && p[i + 1] == '"') { f->escaped = 1; i += 2; continue; }
                f->end = i++;
                break;
            }
            if (p[i] == '\n' || (p[i] == '\r' && !(i + 1 < n && p[i + 1] == '\n'))) (*line)++;
            i++;
        }
        if (i < n && p[i] != delim && !tt__csv_nl(p[i])) {
            f->offset = i;
            f->line = *line;
            return tt__csv_err(ctx, op, p, f, "unexpected character after the closing quote of");
        }
    } else {
        f->start = i;
        while (i < n && p[i] != delim && !tt__csv_nl(p[i])) i++;
        f->end = i;
    }
    if (i < n && p[i] == delim) {
        f->last = 0;
        i++;
    } else {
        f->last = 1;
        if (i < n && p[i] == '\r') {
            i++;
            if (i < n && p[i] == '\n') i++;
        } else if (i < n && p[i] == '\n') i++;
        (*line)++;
    }
    *at = i;
    return TT_OK;
}

/* Missing-value spellings (after trimming spaces and tabs; the empty field too). */
static int tt__csv_is_na(const char *s, size_t n) {
    static const char *na[] = {"NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "NULL", "null", "None", "#N/A", "<NA>", "?"};
    size_t k;
    if (n == 0) return 1;
    for (k = 0; k < sizeof na / sizeof na[0]; k++)
        if (strlen(na[k]) == n && memcmp(na[k], s, n) == 0) return 1;
    return 0;
}

/* Parse a numeric field: 1 and *v (NaN, *missing = 1, for a missing value), or 0 if it is not a
   number. */
static int tt__csv_number(const char *p, const tt__csv_field *f, float *v, int *missing) {
    char buf[72], *end;
    size_t n = tt__csv_text(p, f, NULL), a = 0;
    double d;
    *missing = 0;
    if (n >= sizeof buf) return 0;
    tt__csv_text(p, f, buf);
    while (n && (buf[n - 1] == ' ' || buf[n - 1] == '\t')) n--;
    while (a < n && (buf[a] == ' ' || buf[a] == '\t')) a++;
    buf[n] = 0;
    if (tt__csv_is_na(buf + a, n - a)) { *v = NAN; *missing = 1; return 1; }
    d = strtod(buf + a, &end);
    if (end != buf + n) return 0;
    *v = (float)d;
    return 1;
}

/* Pointer-aligned offset helper for the plan. */
static int tt__plan_add(size_t *total, size_t *off, size_t count, size_t size) {
    size_t bytes;
    if (!tt__mul_ok(count, size, &bytes)) return 0;
    *total = (*total + 7u) & ~(size_t)7u;
    *off = *total;
    if (*total + bytes < *total) return 0;
    *total += bytes;
    return 1;
}

/* Class-name lookup in the sorted name table (fill pass): index, or -(insert position) - 1. */
static long tt__csv_find(const char **names, int count, const char *s) {
    int lo = 0, hi = count;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(names[mid], s);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -(long)lo - 1;
}

/* out == NULL: plan pass (checks everything, fills plan). Otherwise fill pass into base. */
static tt_result tt__csv_parse(tt_ctx *ctx, const char *op, const char *p, size_t n, const tt_csv_opts *o,
                               tt__csv_plan *plan, tt_csv *out, unsigned char *base) {
    size_t at = 0, row = 0, pool = 0;
    int line = 1, first = 1, *first_id = NULL, n_seen = 0;
    char *pool_base = NULL;
    const char **names = NULL;
    tt_result r;
    if (n >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF) at = 3;
    if (!out) {
        memset(plan, 0, sizeof *plan);
        plan->label_col = o->label == TT_CSV_LABEL_INDEX ? o->label_index : -1;
        plan->all_int = 1;
    } else {
        pool_base = (char *)base + plan->off_pool;
        names = (const char **)(void *)(base + plan->off_names);
        first_id = (int *)(void *)(base + plan->off_rank);
    }
    for (;;) {
        tt__csv_field f;
        int col = 0, header_row;
        /* skip blank lines */
        while (at < n && tt__csv_nl(p[at])) {
            if (p[at] == '\r' && at + 1 < n && p[at + 1] == '\n') at++;
            at++;
            line++;
        }
        if (at >= n) break;
        header_row = first && o->header;
        do {
            r = tt__csv_field_next(ctx, op, p, n, o->delimiter, &at, &line, col + 1, &f);
            if (r != TT_OK) return r;
            if (header_row) {
                size_t len = tt__csv_text(p, &f, NULL);
                if (memchr(p + f.start, 0, f.end - f.start)) return tt__csv_err(ctx, op, p, &f, "NUL byte in header field");
                if (!out) {
                    plan->header_bytes += len + 1;
                    if (o->label == TT_CSV_LABEL_NAME && plan->label_col < 0 && len == strlen(o->label_name)) {
                        char tmp[256];
                        if (len < sizeof tmp) {
                            tt__csv_text(p, &f, tmp);
                            if (memcmp(tmp, o->label_name, len) == 0) plan->label_col = col;
                        }
                    }
                } else {
                    char *s = pool_base + pool;
                    tt__csv_text(p, &f, s);
                    s[len] = 0;
                    pool += len + 1;
                    if (col == plan->label_col) out->label_col_name = s;
                    else out->col_names[col - (plan->label_col >= 0 && col > plan->label_col)] = s;
                }
            } else if (col == plan->label_col && o->label_is_class) {
                size_t len = tt__csv_text(p, &f, NULL), k;
                int digits = len > 0 && len <= 5;
                if (memchr(p + f.start, 0, f.end - f.start)) return tt__csv_err(ctx, op, p, &f, "NUL byte in label");
                {
                    float dummy;
                    int miss;
                    if (tt__csv_number(p, &f, &dummy, &miss) && miss) return tt__csv_err(ctx, op, p, &f, "missing class label");
                }
                for (k = f.start; k < f.end && digits; k++) digits = p[k] >= '0' && p[k] <= '9';
                if (!out) {
                    plan->label_bytes += len + 1;
                    if (digits && !f.escaped) {
                        size_t v = 0;
                        for (k = f.start; k < f.end; k++) v = v * 10 + (size_t)(p[k] - '0');
                        if (v >= 65536) plan->all_int = 0;
                        else if (v > plan->max_int) plan->max_int = v;
                    } else plan->all_int = 0;
                } else if (plan->all_int) {
                    size_t v = 0;
                    for (k = f.start; k < f.end; k++) v = v * 10 + (size_t)(p[k] - '0');
                    out->y[row] = (int)v;
                } else {
                    char *s = pool_base + pool;
                    long at_name;
                    tt__csv_text(p, &f, s);
                    s[len] = 0;
                    at_name = tt__csv_find(names, out->n_classes, s);
                    if (at_name >= 0) out->y[row] = first_id[at_name];
                    else { /* a new class: insert in sorted order, remember its first-seen id */
                        long ins = -at_name - 1;
                        memmove(names + ins + 1, names + ins, (size_t)(out->n_classes - ins) * sizeof *names);
                        memmove(first_id + ins + 1, first_id + ins, (size_t)(out->n_classes - ins) * sizeof *first_id);
                        names[ins] = s;
                        first_id[ins] = n_seen;
                        out->y[row] = n_seen++;
                        out->n_classes++;
                        pool += len + 1;
                    }
                }
            } else {
                float v;
                int miss;
                if (!tt__csv_number(p, &f, &v, &miss))
                    return tt__csv_err(ctx, op, p, &f, col == plan->label_col ? "target is not a number:" : "not a number:");
                if (!out) {
                    if (miss && col != plan->label_col) plan->n_missing++;
                } else if (col == plan->label_col) out->t[row] = v;
                else out->x[row * plan->cols + (size_t)(col - (plan->label_col >= 0 && col > plan->label_col))] = v;
            }
            col++;
            if (!out && col > 1000000) return tt__csv_err(ctx, op, p, &f, "more than 1000000 columns at");
        } while (!f.last);
        if (first) {
            first = 0;
            if (!out) {
                plan->ncols = (size_t)col;
                if (o->label == TT_CSV_LABEL_INDEX && o->label_index >= col)
                    return tt__fail(ctx, TT_ERR_FORMAT, "%s: label column %d, but the first row has %d columns", op,
                                    o->label_index, col);
                if (o->label == TT_CSV_LABEL_NAME && plan->label_col < 0)
                    return tt__fail(ctx, TT_ERR_FORMAT, "%s: no column named \"%s\" in the header", op, o->label_name);
                plan->cols = plan->ncols - (plan->label_col >= 0);
            }
            if (header_row) continue;
        } else if (!out && (size_t)col != plan->ncols) {
            return tt__fail(ctx, TT_ERR_FORMAT, "%s: line %d (byte %z): %d fields, expected %z", op, f.line, f.offset,
                            col, plan->ncols);
        }
        row++;
        if (!out && row >= 0x7fffffff) return tt__fail(ctx, TT_ERR_FORMAT, "%s: more than 2^31-2 rows", op);
    }
    if (first) return tt__fail(ctx, TT_ERR_FORMAT, "%s: no rows (empty input)", op);
    if (out && o->label_is_class && plan->label_col >= 0) {
        if (plan->all_int) { /* names "0", "1", ... */
            size_t c;
            out->n_classes = (int)plan->max_int + 1;
            for (c = 0; c <= plan->max_int; c++) {
                char *s = pool_base + pool;
                tt__buf b;
                b.p = s; b.n = 0; b.cap = 12;
                tt__putu(&b, c);
                s[b.n] = 0;
                names[c] = s;
                pool += b.n + 1;
            }
        } else { /* first-seen ids -> sorted ids */
            int *rank = (int *)(void *)(base + plan->off_rank) + out->n_classes, c;
            for (c = 0; c < out->n_classes; c++) rank[first_id[c]] = c;
            for (row = 0; row < plan->rows; row++) out->y[row] = rank[out->y[row]];
        }
    }
    if (!out) {
        size_t total = 0, nnames;
        plan->rows = row;
        if (!o->label_is_class || plan->label_col < 0) plan->all_int = 0;
        nnames = plan->label_col < 0 || !o->label_is_class ? 0 : plan->all_int ? plan->max_int + 1 : row;
        plan->n_names_bound = nnames;
        if (!tt__plan_add(&total, &plan->off_names, nnames, sizeof(char *)) ||
            !tt__plan_add(&total, &plan->off_cols, o->header ? plan->cols : 0, sizeof(char *)) ||
            !tt__plan_add(&total, &plan->off_x, row, plan->cols * sizeof(float)) ||
            !tt__plan_add(&total, &plan->off_y, plan->label_col >= 0 ? row : 0, 4) ||
            !tt__plan_add(&total, &plan->off_rank, plan->all_int ? 0 : 2 * nnames, sizeof(int)) ||
            !tt__plan_add(&total, &plan->off_pool,
                          plan->header_bytes + (plan->all_int ? 12 * nnames : plan->label_bytes), 1))
            return tt__fail(ctx, TT_ERR_FORMAT, "%s: sizes overflow", op);
        plan->total = total + 8; /* room to align the caller's pointer */
    } else {
        out->rows = (int)plan->rows;
    }
    return TT_OK;
}

TT__DEF tt_csv_opts tt_csv_opts_init(void) {
    tt_csv_opts o;
    memset(&o, 0, sizeof o);
    o.delimiter = ',';
    o.header = 1;
    o.label = TT_CSV_LABEL_NONE;
    o.label_index = 0;
    o.label_name = NULL;
    o.label_is_class = 1;
    return o;
}

static tt_result tt__csv_plan_run(tt_ctx *ctx, const char *op, const void *src, size_t n, const tt_csv_opts *o,
                                  tt__csv_plan *plan) {
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if ((!src && n) || !o) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL argument", op);
    if (o->delimiter == '"' || o->delimiter == '\n' || o->delimiter == '\r' || o->delimiter == 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: the delimiter cannot be a quote, a line break or NUL", op);
    if (!tt__in_range((int)o->label, TT_CSV_LABEL_NONE, TT_CSV_LABEL_NAME))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: unknown label mode %d", op, (int)o->label);
    if (o->label == TT_CSV_LABEL_INDEX && o->label_index < 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: label_index %d < 0", op, o->label_index);
    if (o->label == TT_CSV_LABEL_NAME && (!o->label_name || !o->header))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: a label by name needs label_name and a header row", op);
    return tt__csv_parse(ctx, op, (const char *)src, n, o, plan, NULL, NULL);
}

TT__DEF tt_result tt_csv_size(tt_ctx *ctx, const void *src, size_t n, const tt_csv_opts *opts, size_t *bytes) {
    tt__csv_plan plan;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!bytes) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_csv_size: NULL bytes");
    r = tt__csv_plan_run(ctx, "tt_csv_size", src, n, opts, &plan);
    if (r == TT_OK) *bytes = plan.total;
    return r;
}

TT__DEF tt_result tt_csv_read(tt_ctx *ctx, const void *src, size_t n, const tt_csv_opts *opts, void *mem, size_t mem_bytes,
                              tt_csv *out) {
    static const char *op = "tt_csv_read";
    tt__csv_plan plan;
    tt_csv res;
    unsigned char *base;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!out) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL out", op);
    r = tt__csv_plan_run(ctx, op, src, n, opts, &plan);
    if (r != TT_OK) return r;
    if (mem) {
        if (mem_bytes < plan.total)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: memory holds %z bytes, needs %z (tt_csv_size)", op, mem_bytes, plan.total);
        base = (unsigned char *)mem + ((8u - ((uintptr_t)mem & 7u)) & 7u);
    } else {
        base = (unsigned char *)tt__persist(ctx, op, plan.total);
        if (!base) return TT_ERR_OUT_OF_MEMORY;
    }
    memset(&res, 0, sizeof res);
    res.cols = (int)plan.cols;
    res.x = (float *)(void *)(base + plan.off_x);
    res.label_col = plan.label_col;
    if (plan.label_col >= 0) {
        if (opts->label_is_class) {
            res.y = (int *)(void *)(base + plan.off_y);
            res.class_names = (const char **)(void *)(base + plan.off_names);
        } else res.t = (float *)(void *)(base + plan.off_y);
    }
    if (opts->header) res.col_names = (const char **)(void *)(base + plan.off_cols);
    res.n_missing = plan.n_missing;
    r = tt__csv_parse(ctx, op, (const char *)src, n, opts, &plan, &res, base);
    if (r == TT_OK) *out = res;
    return r;
}

/* ---- whole-file wrappers ---- */
#ifndef TT_NO_STDIO
#include <errno.h>
/* Read path into the given arena (scratch or persist) via fopen/fread. */
static tt_result tt__read_file(tt_ctx *ctx, const char *op, const char *path, int persist, unsigned char **data, size_t *bytes) {
    FILE *f;
    long len;
    unsigned char *buf;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!path) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL path", op);
    f = fopen(path, "rb");
    if (!f) return tt__fail(ctx, TT_ERR_IO, "%s: cannot open %s: %s", op, path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        int e = errno;
        fclose(f);
        return tt__fail(ctx, TT_ERR_IO, "%s: cannot size %s: %s", op, path, strerror(e));
    }
    buf = (unsigned char *)(persist ? tt__persist(ctx, op, (size_t)len + 1) : tt__scratch(ctx, op, (size_t)len + 1));
    if (!buf) { fclose(f); return TT_ERR_OUT_OF_MEMORY; }
    if (len > 0 && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        int e = ferror(f) ? errno : 0;
        fclose(f);
        return tt__fail(ctx, TT_ERR_IO, "%s: cannot read %s: %s", op, path, e ? strerror(e) : "file shorter than its size");
    }
    fclose(f);
    *data = buf;
    *bytes = (size_t)len;
    return TT_OK;
}

TT__DEF tt_result tt_read_file_persist(tt_ctx *ctx, const char *path, void **data, size_t *bytes) {
    unsigned char *d;
    size_t n;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!data || !bytes) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_read_file_persist: NULL argument");
    r = tt__read_file(ctx, "tt_read_file_persist", path, 1, &d, &n);
    if (r == TT_OK) { *data = d; *bytes = n; }
    return r;
}

/* Read path into scratch, run one of the IDX readers (kind 0 info, 1 u8, 2 f32, 3 int), rewind. */
static tt_result tt__idx_file(tt_ctx *ctx, const char *op, const char *path, int kind, void *dst, size_t count, float scale,
                              tt_idx_info *info) {
    size_t mark, n;
    unsigned char *d;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    mark = tt_scratch_mark(ctx);
    r = tt__read_file(ctx, op, path, 0, &d, &n);
    if (r == TT_OK) {
        if (kind == 0) r = tt_idx_info_mem(ctx, d, n, info);
        else if (kind == 1) r = tt_idx_read_u8_mem(ctx, d, n, (unsigned char *)dst, count);
        else if (kind == 2) r = tt_idx_read_f32_mem(ctx, d, n, scale, (float *)dst, count);
        else r = tt_idx_read_int_mem(ctx, d, n, (int *)dst, count);
    }
    tt_scratch_rewind(ctx, mark);
    return r;
}
TT__DEF tt_result tt_idx_info_file(tt_ctx *ctx, const char *path, tt_idx_info *info) {
    return tt__idx_file(ctx, "tt_idx_info_file", path, 0, NULL, 0, 1.0f, info);
}
TT__DEF tt_result tt_idx_read_u8_file(tt_ctx *ctx, const char *path, unsigned char *dst, size_t dst_count) {
    return tt__idx_file(ctx, "tt_idx_read_u8_file", path, 1, dst, dst_count, 1.0f, NULL);
}
TT__DEF tt_result tt_idx_read_f32_file(tt_ctx *ctx, const char *path, float scale, float *dst, size_t dst_count) {
    return tt__idx_file(ctx, "tt_idx_read_f32_file", path, 2, dst, dst_count, scale, NULL);
}
TT__DEF tt_result tt_idx_read_int_file(tt_ctx *ctx, const char *path, int *dst, size_t dst_count) {
    return tt__idx_file(ctx, "tt_idx_read_int_file", path, 3, dst, dst_count, 1.0f, NULL);
}
TT__DEF tt_result tt_csv_read_file(tt_ctx *ctx, const char *path, const tt_csv_opts *opts, tt_csv *out) {
    size_t mark, n;
    unsigned char *d;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    mark = tt_scratch_mark(ctx);
    r = tt__read_file(ctx, "tt_csv_read_file", path, 0, &d, &n);
    if (r == TT_OK) r = tt_csv_read(ctx, d, n, opts, NULL, 0, out);
    tt_scratch_rewind(ctx, mark);
    return r;
}
#endif /* TT_NO_STDIO */

/* ---- datasets ---- */

TT__DEF tt_dataset_desc tt_dataset_desc_init(void) {
    tt_dataset_desc d;
    memset(&d, 0, sizeof d);
    d.n = 0;
    d.ndim = 1;
    d.shape[0] = 1; d.shape[1] = 1; d.shape[2] = 1;
    d.type = TT_DATA_F32;
    d.u8_scale = 1.0f / 255.0f;
    d.target = TT_TARGET_CLASS;
    d.n_classes = 10;
    d.target_dim = 1;
    return d;
}

/* Check desc; bytes of features and of targets. */
static tt_result tt__dataset_sizes(tt_ctx *ctx, const char *op, const tt_dataset_desc *d, size_t *numel, size_t *xb, size_t *tb) {
    size_t k = 1, tmp;
    int i;
    if (!d) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL desc", op);
    if (d->n < 1) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: n must be >= 1, got %d", op, d->n);
    if (d->ndim < 1 || d->ndim > 3) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: sample ndim must be 1, 2 or 3, got %d", op, d->ndim);
    for (i = 0; i < d->ndim; i++) {
        if (d->shape[i] < 1) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: sample shape[%d] = %d < 1", op, i, d->shape[i]);
        if (!tt__mul_ok(k, (size_t)d->shape[i], &k) || k > 0x7fffffff)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: sample size overflows", op);
    }
    if (!tt__in_range((int)d->type, TT_DATA_F32, TT_DATA_U8)) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: unknown data type", op);
    if (d->type == TT_DATA_U8 && !tt__finite(d->u8_scale))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: u8_scale is not finite", op);
    if (!tt__in_range((int)d->target, TT_TARGET_NONE, TT_TARGET_FLOAT))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: unknown target type", op);
    if (d->target == TT_TARGET_CLASS && d->n_classes < 1)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: n_classes must be >= 1, got %d", op, d->n_classes);
    if (d->target == TT_TARGET_FLOAT && d->target_dim < 1)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: target_dim must be >= 1, got %d", op, d->target_dim);
    *numel = k;
    if (!tt__mul_ok(k, (size_t)d->n, &tmp) || !tt__mul_ok(tmp, d->type == TT_DATA_U8 ? 1 : sizeof(float), xb))
        return tt__fail(ctx, TT_ERR_OUT_OF_MEMORY, "%s: dataset size overflows", op);
    if (d->target == TT_TARGET_NONE) *tb = 0;
    else if (!tt__mul_ok((size_t)d->n, d->target == TT_TARGET_CLASS ? sizeof(int) : (size_t)d->target_dim * sizeof(float), tb))
        return tt__fail(ctx, TT_ERR_OUT_OF_MEMORY, "%s: dataset size overflows", op);
    return TT_OK;
}

static void tt__dataset_set(tt_dataset *ds, const tt_dataset_desc *d, size_t numel, void *x, void *t) {
    memset(ds, 0, sizeof *ds);
    ds->desc = *d;
    ds->sample_numel = numel;
    if (d->type == TT_DATA_U8) ds->x_u8 = (unsigned char *)x;
    else ds->x = (float *)x;
    if (d->target == TT_TARGET_CLASS) ds->y = (int *)t;
    else if (d->target == TT_TARGET_FLOAT) ds->t = (float *)t;
}

TT__DEF tt_result tt_dataset_check(tt_ctx *ctx, const tt_dataset *ds) {
    int i;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!ds) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_dataset_check: NULL dataset");
    if (ds->desc.target != TT_TARGET_CLASS) return TT_OK;
    for (i = 0; i < ds->desc.n; i++)
        if (ds->y[i] < 0 || ds->y[i] >= ds->desc.n_classes)
            return tt__fail(ctx, TT_ERR_INDEX, "tt_dataset: sample %d has class label %d, outside [0, %d)", i, ds->y[i],
                            ds->desc.n_classes);
    return TT_OK;
}

TT__DEF tt_result tt_dataset_init(tt_ctx *ctx, tt_dataset *ds, const tt_dataset_desc *desc, void *x, void *targets) {
    static const char *op = "tt_dataset_init";
    size_t numel, xb, tb;
    tt_dataset tmp;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!ds) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL dataset", op);
    r = tt__dataset_sizes(ctx, op, desc, &numel, &xb, &tb);
    if (r != TT_OK) return r;
    if (!x) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL features", op);
    if (tb && !targets) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL targets", op);
    tt__dataset_set(&tmp, desc, numel, x, targets);
    r = tt_dataset_check(ctx, &tmp);
    if (r == TT_OK) *ds = tmp;
    return r;
}

TT__DEF tt_result tt_dataset_memory_size(const tt_dataset_desc *desc, size_t *bytes) {
    size_t numel, xb, tb, a, b;
    if (!desc || !bytes || tt__dataset_sizes(NULL, "", desc, &numel, &xb, &tb) != TT_OK) return TT_ERR_INVALID_ARGS;
    a = tt__align_up(xb);
    b = tt__align_up(tb);
    if (a < xb || b < tb || a + b < a) return TT_ERR_OUT_OF_MEMORY;
    *bytes = a + b;
    return TT_OK;
}

TT__DEF tt_result tt_dataset_alloc(tt_ctx *ctx, tt_dataset *ds, const tt_dataset_desc *desc, void *mem, size_t mem_bytes) {
    static const char *op = "tt_dataset_alloc";
    size_t numel, xb, tb, total;
    unsigned char *m;
    tt_result r;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!ds) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL dataset", op);
    r = tt__dataset_sizes(ctx, op, desc, &numel, &xb, &tb);
    if (r != TT_OK) return r;
    if (tt_dataset_memory_size(desc, &total) != TT_OK) return tt__fail(ctx, TT_ERR_OUT_OF_MEMORY, "%s: size overflows", op);
    if (mem) {
        if (mem_bytes < total)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: memory holds %z bytes, needs %z (tt_dataset_memory_size)", op,
                            mem_bytes, total);
        if ((uintptr_t)mem & (TT__ALIGN - 1))
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: memory must be aligned to %d bytes", op, TT__ALIGN);
        m = (unsigned char *)mem;
    } else {
        m = (unsigned char *)tt__persist(ctx, op, total);
        if (!m) return TT_ERR_OUT_OF_MEMORY;
    }
    memset(m, 0, total);
    tt__dataset_set(ds, desc, numel, m, tb ? m + tt__align_up(xb) : NULL);
    return TT_OK;
}

/* ---- batch iterator ----
   The permutation of epoch e is a Fisher-Yates shuffle driven by a generator seeded from
   (seed, e); j is drawn in [0, i] by multiply-shift of a 32-bit draw. */

static void tt__iter_perm(tt_batch_iter *it) {
    int i;
    for (i = 0; i < it->n; i++) it->perm[i] = i;
    if (it->shuffle) {
        tt_rng r;
        tt_rng_seed(&r, it->seed ^ ((uint64_t)it->epoch * 0x9E3779B97F4A7C15ull));
        for (i = it->n - 1; i > 0; i--) {
            int j = (int)(((uint64_t)tt_rng_u32(&r) * (uint64_t)(i + 1)) >> 32), t = it->perm[i];
            it->perm[i] = it->perm[j];
            it->perm[j] = t;
        }
    }
}

TT__DEF tt_result tt_batch_iter_init(tt_ctx *ctx, tt_batch_iter *it, int n, int batch_size, int shuffle, int drop_last,
                                     int *perm_mem) {
    static const char *op = "tt_batch_iter_init";
    tt_batch_iter tmp;
    uint64_t hi;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!it) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL iterator", op);
    if (n < 1 || batch_size < 1) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: n (%d) and batch_size (%d) must be >= 1", op, n, batch_size);
    if ((shuffle != 0 && shuffle != 1) || (drop_last != 0 && drop_last != 1))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: shuffle and drop_last must be 0 or 1", op);
    memset(&tmp, 0, sizeof tmp);
    tmp.n = n; tmp.batch_size = batch_size; tmp.shuffle = shuffle; tmp.drop_last = drop_last;
    tmp.perm = perm_mem ? perm_mem : (int *)tt__persist(ctx, op, (size_t)n * sizeof(int));
    if (!tmp.perm) return TT_ERR_OUT_OF_MEMORY;
    hi = tt_rng_u32(&ctx->rng);
    tmp.seed = hi << 32 | tt_rng_u32(&ctx->rng);
    tt__iter_perm(&tmp);
    *it = tmp;
    return TT_OK;
}

TT__DEF int tt_batch_iter_batches(const tt_batch_iter *it) {
    if (!it || it->batch_size < 1) return 0;
    return it->drop_last ? it->n / it->batch_size : (it->n + it->batch_size - 1) / it->batch_size;
}

TT__DEF int tt_batch_iter_next(tt_batch_iter *it, tt_batch *b) {
    int left;
    if (!it || !b || !it->perm || it->batch_size < 1 || it->pos < 0) return 0;
    left = it->n - it->pos;
    if (left <= 0 || (it->drop_last && left < it->batch_size)) {
        it->epoch++;
        it->pos = 0;
        tt__iter_perm(it);
        return 0;
    }
    b->idx = it->perm + it->pos;
    b->count = TT__MIN(left, it->batch_size);
    b->epoch = it->epoch;
    b->pos = it->pos;
    it->pos += b->count;
    return 1;
}

TT__DEF tt_result tt_batch_iter_seek(tt_ctx *ctx, tt_batch_iter *it, int64_t epoch, int pos) {
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!it || !it->perm) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_batch_iter_seek: iterator not initialised");
    if (epoch < 0 || pos < 0 || pos > it->n)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_batch_iter_seek: epoch must be >= 0 and pos in [0, %d], got pos %d", it->n, pos);
    it->epoch = epoch;
    it->pos = pos;
    tt__iter_perm(it);
    return TT_OK;
}

/* ---- gathering and augmentation ---- */

TT__DEF tt_augment tt_augment_init(void) {
    tt_augment a;
    memset(&a, 0, sizeof a);
    return a;
}

/* Uniform integer in [0, m) by multiply-shift. */
static int tt__rng_below(tt_rng *r, int m) { return (int)(((uint64_t)tt_rng_u32(r) * (uint64_t)m) >> 32); }

TT__DEF tt_result tt_dataset_gather(tt_ctx *ctx, const tt_dataset *ds, const tt_batch *b, const tt_augment *aug, tt_tensor **x,
                                    const int **labels, tt_tensor **targets) {
    static const char *op = "tt_dataset_gather";
    int shape[4], i, nd, C = 1, H = 1, W = 1, spatial = 0;
    size_t k, numel;
    tt_tensor *xt = NULL, *tg = NULL;
    int *lab = NULL;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (ctx->err) return ctx->err;
    if (!ds || !b || (!ds->x && !ds->x_u8)) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL dataset or batch", op);
    if (b->count < 1) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: batch count %d < 1", op, b->count);
    if (!b->idx && (b->pos < 0 || b->pos > ds->desc.n - b->count))
        return tt__fail(ctx, TT_ERR_INDEX, "%s: samples %d .. %d outside [0, %d)", op, b->pos, b->pos + b->count - 1, ds->desc.n);
    if (b->idx)
        for (i = 0; i < b->count; i++)
            if (b->idx[i] < 0 || b->idx[i] >= ds->desc.n)
                return tt__fail(ctx, TT_ERR_INDEX, "%s: sample index %d outside [0, %d)", op, b->idx[i], ds->desc.n);
    if (aug) {
        if (aug->crop_padding < 0 || !(aug->flip_p >= 0.0f && aug->flip_p <= 1.0f) || !(aug->noise_std >= 0.0f) ||
            !tt__finite(aug->noise_std))
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: augmentation needs crop_padding >= 0, flip_p in [0, 1], noise_std >= 0", op);
        spatial = aug->crop_padding > 0 || aug->flip_p > 0.0f;
        if (spatial && ds->desc.ndim < 2)
            return tt__fail(ctx, TT_ERR_SHAPE, "%s: crop and flip need image samples ((C, H, W) or (H, W))", op);
    }
    nd = ds->desc.ndim;
    shape[0] = b->count;
    for (i = 0; i < nd; i++) shape[i + 1] = ds->desc.shape[i];
    if (nd == 3) { C = shape[1]; H = shape[2]; W = shape[3]; }
    else if (nd == 2) { H = shape[1]; W = shape[2]; }
    numel = ds->sample_numel;
    if (x) {
        xt = tt_tensor_new(ctx, nd + 1, shape);
        if (!xt) return ctx->err;
    }
    if (labels && ds->y) {
        lab = (int *)tt__scratch(ctx, op, (size_t)b->count * sizeof(int));
        if (!lab) return ctx->err;
    }
    if (targets && ds->t) {
        int ts[2];
        ts[0] = b->count; ts[1] = ds->desc.target_dim;
        tg = tt_tensor_new(ctx, 2, ts);
        if (!tg) return ctx->err;
    }
    for (i = 0; i < b->count; i++) {
        int s = b->idx ? b->idx[i] : b->pos + i;
        if (lab) lab[i] = ds->y[s];
        if (tg) memcpy(tg->data + (size_t)i * ds->desc.target_dim, ds->t + (size_t)s * ds->desc.target_dim,
                       (size_t)ds->desc.target_dim * sizeof(float));
        if (!xt) continue;
        {
            float *o = xt->data + (size_t)i * numel;
            const float *xf = ds->x ? ds->x + (size_t)s * numel : NULL;
            const unsigned char *xu = ds->x_u8 ? ds->x_u8 + (size_t)s * numel : NULL;
            float sc = ds->desc.u8_scale;
            tt_rng r;
            if (aug && (spatial || aug->noise_std > 0.0f)) {
                uint64_t z = aug->seed ^ ((uint64_t)b->epoch * 0x9E3779B97F4A7C15ull);
                z = tt__splitmix64(&z) ^ ((uint64_t)(b->pos + i) * 0xD1B54A32D192ED03ull);
                tt_rng_seed(&r, z);
            }
            if (!spatial) {
                if (xf) memcpy(o, xf, numel * sizeof(float));
                else for (k = 0; k < numel; k++) o[k] = (float)xu[k] * sc;
            } else {
                int p = aug->crop_padding, top = 0, left = 0, flip = 0, c, yy, xx;
                if (p > 0) { top = tt__rng_below(&r, 2 * p + 1); left = tt__rng_below(&r, 2 * p + 1); }
                if (aug->flip_p > 0.0f) flip = tt_rng_uniform(&r) < aug->flip_p;
                for (c = 0; c < C; c++)
                    for (yy = 0; yy < H; yy++) {
                        int sy = yy + top - p;
                        float *orow = o + ((size_t)c * H + yy) * W;
                        if (sy < 0 || sy >= H) { memset(orow, 0, (size_t)W * sizeof(float)); continue; }
                        for (xx = 0; xx < W; xx++) {
                            int sx = (flip ? W - 1 - xx : xx) + left - p;
                            size_t at = ((size_t)c * H + sy) * W + (size_t)sx;
                            orow[xx] = (sx < 0 || sx >= W) ? 0.0f : xf ? xf[at] : (float)xu[at] * sc;
                        }
                    }
            }
            if (aug && aug->noise_std > 0.0f)
                for (k = 0; k < numel; k++) o[k] += aug->noise_std * tt_rng_normal(&r);
        }
    }
    /* a device backend mirrors scratch: hand it what was written here */
    if (xt && tt__bk_push(ctx, xt->data, xt->numel * sizeof(float)) != TT_OK) return ctx->err;
    if (tg && tt__bk_push(ctx, tg->data, tg->numel * sizeof(float)) != TT_OK) return ctx->err;
    if (x) *x = xt;
    if (labels) *labels = lab;
    if (targets) *targets = tg;
    return TT_OK;
}


/* ==================================================================================== >>prep
   Splits, k-fold, scalers, imputers (declared at >>api_prep). Each function checks all of its
   arguments before it writes any output. */

/* Uniform integer in [0, k), k >= 1 (Lemire's multiply-shift; 64 bits of randomness above 2^32). */
static size_t tt__rng_index(tt_rng *rng, size_t k) {
    if ((k >> 16 >> 16) == 0) return (size_t)(((uint64_t)tt_rng_u32(rng) * (uint64_t)k) >> 32);
    {
        uint64_t r = ((uint64_t)tt_rng_u32(rng) << 32) | tt_rng_u32(rng);
        return (size_t)(r % (uint64_t)k);
    }
}
/* Fisher-Yates shuffles. */
static void tt__shuffle_idx(tt_rng *rng, size_t *a, size_t n) {
    size_t i;
    for (i = n; i > 1; i--) {
        size_t j = tt__rng_index(rng, i), t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}
static void tt__shuffle_int(tt_rng *rng, int *a, size_t n) {
    size_t i;
    for (i = n; i > 1; i--) {
        size_t j = tt__rng_index(rng, i);
        int t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* Heapsort of n floats, ascending (no NaN). In place, no memory. */
static void tt__sort_floats(float *a, size_t n) {
    size_t start = n / 2, end = n;
    while (end > 1) {
        size_t root, child;
        float t;
        if (start > 0) start--;
        else { end--; t = a[end]; a[end] = a[0]; a[0] = t; }
        for (root = start; (child = 2 * root + 1) < end; root = child) {
            if (child + 1 < end && a[child] < a[child + 1]) child++;
            if (a[root] < a[child]) { t = a[root]; a[root] = a[child]; a[child] = t; }
            else break;
        }
    }
}
/* Heapsort of indices by key[idx * stride], ascending (equal keys in no particular order). */
static void tt__sort_idx(size_t *a, size_t n, const float *key, size_t stride) {
    size_t start = n / 2, end = n;
    while (end > 1) {
        size_t root, child, t;
        if (start > 0) start--;
        else { end--; t = a[end]; a[end] = a[0]; a[0] = t; }
        for (root = start; (child = 2 * root + 1) < end; root = child) {
            if (child + 1 < end && key[a[child] * stride] < key[a[child + 1] * stride]) child++;
            if (key[a[root] * stride] < key[a[child] * stride]) { t = a[root]; a[root] = a[child]; a[child] = t; }
            else break;
        }
    }
}

/* Labels in [0, n_classes): TT_OK or an error naming the first bad one. */
static tt_result tt__check_labels(tt_ctx *ctx, const char *op, const char *what, const int *y, size_t n,
                                  int n_classes) {
    size_t i;
    for (i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= n_classes)
            return tt__fail(ctx, TT_ERR_INDEX, "%s: %s[%z] = %d is not a class in [0, %d)", op, what, i, y[i],
                            n_classes);
    return TT_OK;
}

TT__DEF tt_size tt_size_fraction(double fraction) {
    tt_size s;
    s.kind = TT_SIZE_FRACTION;
    s.value = fraction;
    return s;
}
TT__DEF tt_size tt_size_count(size_t count) {
    tt_size s;
    s.kind = TT_SIZE_COUNT;
    s.value = (double)count;
    return s;
}
TT__DEF tt_split_opts tt_split_opts_init(void) {
    tt_split_opts o;
    memset(&o, 0, sizeof o);
    o.test_size.kind = TT_SIZE_NONE;
    o.train_size.kind = TT_SIZE_NONE;
    o.shuffle = 1;
    o.stratify = 0;
    return o;
}
TT__DEF tt_split3_opts tt_split3_opts_init(void) {
    tt_split3_opts o;
    memset(&o, 0, sizeof o);
    o.test_size = tt_size_fraction(0.2);
    o.val_size = tt_size_fraction(0.25);
    o.shuffle = 1;
    o.stratify = 0;
    return o;
}

static void tt__size_str(tt__buf *b, tt_size s) {
    if (s.kind == TT_SIZE_NONE) tt__puts(b, "None");
    else if (s.kind == TT_SIZE_COUNT) tt__putu(b, (unsigned long long)s.value);
    else tt__putg(b, s.value);
}

/* sklearn model_selection._split._validate_shuffle_split, step for step. */
TT__DEF tt_result tt_split_sizes(tt_ctx *ctx, size_t n, tt_size test_size, tt_size train_size, size_t *n_train,
                                 size_t *n_test) {
    static const char *op = "tt_split_sizes";
    double nt = 0, nr = 0;
    int i;
    char a[40], bb[40];
    tt__buf ba, bs;
    if (!n_train || !n_test) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL output", op);
    for (i = 0; i < 2; i++) {
        tt_size s = i ? train_size : test_size;
        const char *name = i ? "train_size" : "test_size";
        if (!tt__in_range((int)s.kind, TT_SIZE_NONE, TT_SIZE_COUNT))
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: %s has an unknown kind %d", op, name, (int)s.kind);
        if (s.kind == TT_SIZE_COUNT && (s.value != floor(s.value) || s.value >= (double)n || s.value <= 0))
            return tt__fail(ctx, TT_ERR_INVALID_ARGS,
                            "%s: %s=%g should be either positive and smaller than the number of samples %z or "
                            "a float in the (0, 1) range", op, name, s.value, n);
        if (s.kind == TT_SIZE_FRACTION && !(s.value > 0 && s.value < 1))
            return tt__fail(ctx, TT_ERR_INVALID_ARGS,
                            "%s: %s=%g should be either positive and smaller than the number of samples %z or "
                            "a float in the (0, 1) range", op, name, s.value, n);
    }
    if (test_size.kind == TT_SIZE_NONE && train_size.kind == TT_SIZE_NONE) test_size = tt_size_fraction(0.25);
    if (train_size.kind == TT_SIZE_FRACTION && test_size.kind == TT_SIZE_FRACTION &&
        train_size.value + test_size.value > 1)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS,
                        "%s: the sum of test_size and train_size = %g, should be in the (0, 1) range; reduce "
                        "test_size and/or train_size", op, train_size.value + test_size.value);
    if (test_size.kind == TT_SIZE_FRACTION) nt = ceil(test_size.value * (double)n);
    else if (test_size.kind == TT_SIZE_COUNT) nt = test_size.value;
    if (train_size.kind == TT_SIZE_FRACTION) nr = floor(train_size.value * (double)n);
    else if (train_size.kind == TT_SIZE_COUNT) nr = train_size.value;
    if (train_size.kind == TT_SIZE_NONE) nr = (double)n - nt;
    else if (test_size.kind == TT_SIZE_NONE) nt = (double)n - nr;
    if (nr + nt > (double)n)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS,
                        "%s: the sum of train_size and test_size = %z, should be smaller than the number of "
                        "samples %z; reduce test_size and/or train_size", op, (size_t)(nr + nt), n);
    if (nr == 0) {
        ba.p = a; ba.n = 0; ba.cap = sizeof a;
        bs.p = bb; bs.n = 0; bs.cap = sizeof bb;
        tt__size_str(&ba, test_size);
        tt__size_str(&bs, train_size);
        a[ba.n] = 0;
        bb[bs.n] = 0;
        return tt__fail(ctx, TT_ERR_INVALID_ARGS,
                        "%s: with n_samples=%z, test_size=%s and train_size=%s, the resulting train set will "
                        "be empty", op, n, a, bb);
    }
    *n_train = (size_t)nr;
    *n_test = (size_t)nt;
    return TT_OK;
}

TT__DEF size_t tt_split_work_count(size_t n, int n_classes) {
    size_t c = n_classes > 0 ? (size_t)n_classes : 0;
    return 3 * n + 4 * c + 4;
}

/* sklearn _approximate_mode(class_counts, n_draws): floor of each share, then one more for the
   largest fractional parts, group by group from the largest value down; within a group of
   equal fractional parts the smaller class ids come first (sklearn: a random choice). Only
   classes with present[c] take part (sklearn works on np.unique's classes). */
static double tt__share(size_t count, double total, size_t n_draws) {
    return (double)count / total * (double)n_draws;  /* numpy: class_counts / sum * n_draws */
}
static void tt__approximate_mode(const size_t *counts, const size_t *present, int n_classes,
                                 size_t n_draws, size_t *out) {
    double total = 0, level = INFINITY;
    size_t floored = 0, need;
    int c;
    for (c = 0; c < n_classes; c++)
        if (present[c]) total += (double)counts[c];
    for (c = 0; c < n_classes; c++) {
        out[c] = present[c] ? (size_t)floor(tt__share(counts[c], total, n_draws)) : 0;
        floored += out[c];
    }
    need = n_draws > floored ? n_draws - floored : 0;
    while (need > 0) {
        double best = -1;
        for (c = 0; c < n_classes; c++) {
            double v, rem;
            if (!present[c]) continue;
            v = tt__share(counts[c], total, n_draws);
            rem = v - floor(v);
            if (rem < level && rem > best) best = rem;
        }
        if (best < 0) break;
        for (c = 0; c < n_classes && need > 0; c++) {
            double v, rem;
            if (!present[c]) continue;
            v = tt__share(counts[c], total, n_draws);
            rem = v - floor(v);
            if (rem == best) { out[c]++; need--; }
        }
        level = best;
    }
}

/* One train/test split of m samples; sample i is ids[i] (i itself when ids is NULL) with label
   labels[ids[i]]. Checks everything first, then writes n_train / n_test ids. work: m + 4C. */
static tt_result tt__split_core(tt_ctx *ctx, const char *op, tt_rng *rng, size_t m, const size_t *ids,
                                const int *labels, int n_classes, int shuffle, int stratify, size_t n_train,
                                size_t n_test, size_t *train_idx, size_t *test_idx, size_t *work) {
    size_t i;
    if (!stratify) {
        if (!shuffle) {
            for (i = 0; i < n_train; i++) train_idx[i] = ids ? ids[i] : i;
            for (i = 0; i < n_test; i++) test_idx[i] = ids ? ids[n_train + i] : n_train + i;
            return TT_OK;
        }
        for (i = 0; i < m; i++) work[i] = i;
        tt__shuffle_idx(rng, work, m);
        /* sklearn ShuffleSplit: test = permutation[:n_test], train = permutation[n_test:n_test + n_train] */
        for (i = 0; i < n_test; i++) test_idx[i] = ids ? ids[work[i]] : work[i];
        for (i = 0; i < n_train; i++) train_idx[i] = ids ? ids[work[n_test + i]] : work[n_test + i];
        return TT_OK;
    } else {
        size_t C = (size_t)n_classes, *counts = work, *ntr = work + C, *nte = work + 2 * C, *start = work + 3 * C;
        size_t *sorted = work + 4 * C, n_present = 0, min_count = (size_t)-1, c, at, a, b;
        for (c = 0; c < C; c++) counts[c] = 0;
        for (i = 0; i < m; i++) counts[labels[ids ? ids[i] : i]]++;
        for (c = 0; c < C; c++)
            if (counts[c]) { n_present++; if (counts[c] < min_count) min_count = counts[c]; }
        if (min_count < 2)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS,
                            "%s: the least populated class in y has only 1 member, which is too few; the minimum "
                            "number of groups for any class cannot be less than 2", op);
        if (n_train < n_present)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS,
                            "%s: the train_size = %z should be greater or equal to the number of classes = %z", op,
                            n_train, n_present);
        if (n_test < n_present)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS,
                            "%s: the test_size = %z should be greater or equal to the number of classes = %z", op,
                            n_test, n_present);
        tt__approximate_mode(counts, counts, n_classes, n_train, ntr);
        for (c = 0; c < C; c++) start[c] = counts[c] - ntr[c]; /* what is left for the test draw */
        tt__approximate_mode(start, counts, n_classes, n_test, nte);
        /* stable counting sort of the positions by class (sklearn: argsort(kind="mergesort")) */
        for (c = 0, at = 0; c < C; c++) { start[c] = at; at += counts[c]; }
        for (i = 0; i < m; i++) sorted[start[labels[ids ? ids[i] : i]]++] = i;
        for (c = 0, at = 0, a = 0, b = 0; c < C; c++) {
            size_t *seg = sorted + at, j;
            tt__shuffle_idx(rng, seg, counts[c]);
            for (j = 0; j < ntr[c]; j++) train_idx[a++] = seg[j];
            for (j = 0; j < nte[c]; j++) test_idx[b++] = seg[ntr[c] + j];
            at += counts[c];
        }
        tt__shuffle_idx(rng, train_idx, a);
        tt__shuffle_idx(rng, test_idx, b);
        if (ids) {
            for (i = 0; i < a; i++) train_idx[i] = ids[train_idx[i]];
            for (i = 0; i < b; i++) test_idx[i] = ids[test_idx[i]];
        }
        return TT_OK;
    }
}

static tt_result tt__split_args(tt_ctx *ctx, const char *op, tt_rng *rng, size_t n, const int *labels,
                                int n_classes, int shuffle, int stratify, const void *out1, const void *out2,
                                const void *out3, const size_t *work) {
    if (!out1 || !out2 || !out3 || !work)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL output or workspace", op);
    if ((shuffle || stratify) && !rng) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: shuffling needs an rng", op);
    if (stratify) {
        if (!shuffle)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS,
                            "%s: stratified train/test split is not implemented for shuffle=False", op);
        if (!labels) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: stratify needs labels", op);
        if (n_classes < 1) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: n_classes = %d", op, n_classes);
        return tt__check_labels(ctx, op, "labels", labels, n, n_classes);
    }
    return TT_OK;
}

TT__DEF tt_result tt_train_test_split(tt_ctx *ctx, tt_rng *rng, size_t n, const int *labels, int n_classes,
                                      const tt_split_opts *opts, size_t *train_idx, size_t *n_train,
                                      size_t *test_idx, size_t *n_test, size_t *work) {
    static const char *op = "tt_train_test_split";
    tt_result r;
    size_t ntr, nte;
    if (!opts) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL opts (use tt_split_opts_init)", op);
    if (!n_train || !n_test) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL output", op);
    r = tt__split_args(ctx, op, rng, n, labels, n_classes, opts->shuffle, opts->stratify, train_idx, test_idx,
                       test_idx, work);
    if (r) return r;
    r = tt_split_sizes(ctx, n, opts->test_size, opts->train_size, &ntr, &nte);
    if (r) return r;
    r = tt__split_core(ctx, op, rng, n, NULL, labels, n_classes, opts->shuffle, opts->stratify, ntr, nte, train_idx,
                       test_idx, work);
    if (r) return r;
    *n_train = ntr;
    *n_test = nte;
    return TT_OK;
}

TT__DEF tt_result tt_split3_sizes(tt_ctx *ctx, size_t n, tt_size test_size, tt_size val_size, size_t *n_train,
                                  size_t *n_val, size_t *n_test) {
    size_t rest, nte, ntr, nva;
    tt_size none;
    tt_result r;
    if (!n_train || !n_val || !n_test) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_split3_sizes: NULL output");
    none.kind = TT_SIZE_NONE;
    none.value = 0;
    if ((r = tt_split_sizes(ctx, n, test_size, none, &rest, &nte)) != TT_OK) return r;
    if ((r = tt_split_sizes(ctx, rest, val_size, none, &ntr, &nva)) != TT_OK) return r;
    *n_train = ntr;
    *n_val = nva;
    *n_test = nte;
    return TT_OK;
}

TT__DEF tt_result tt_train_val_test_split(tt_ctx *ctx, tt_rng *rng, size_t n, const int *labels, int n_classes,
                                          const tt_split3_opts *opts, size_t *train_idx, size_t *n_train,
                                          size_t *val_idx, size_t *n_val, size_t *test_idx, size_t *n_test,
                                          size_t *work) {
    static const char *op = "tt_train_val_test_split";
    size_t rest, nte, ntr, nva, i;
    tt_size none;
    tt_result r;
    if (!opts) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL opts (use tt_split3_opts_init)", op);
    if (!n_train || !n_val || !n_test) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL output", op);
    r = tt__split_args(ctx, op, rng, n, labels, n_classes, opts->shuffle, opts->stratify, train_idx, val_idx,
                       test_idx, work);
    if (r) return r;
    none.kind = TT_SIZE_NONE;
    none.value = 0;
    if ((r = tt_split_sizes(ctx, n, opts->test_size, none, &rest, &nte)) != TT_OK) return r;
    if ((r = tt_split_sizes(ctx, rest, opts->val_size, none, &ntr, &nva)) != TT_OK) return r;
    /* pass 1 into the workspace (rest at work[0..n), test at work[n..2n)), pass 2 into the outputs */
    r = tt__split_core(ctx, op, rng, n, NULL, labels, n_classes, opts->shuffle, opts->stratify, rest, nte, work,
                       work + n, work + 2 * n);
    if (r) return r;
    r = tt__split_core(ctx, op, rng, rest, work, labels, n_classes, opts->shuffle, opts->stratify, ntr, nva,
                       train_idx, val_idx, work + 2 * n);
    if (r) return r;
    for (i = 0; i < nte; i++) test_idx[i] = work[n + i];
    *n_train = ntr;
    *n_val = nva;
    *n_test = nte;
    return TT_OK;
}

static tt_result tt__kfold_args(tt_ctx *ctx, const char *op, size_t n, int k, const int *fold) {
    if (!fold) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL fold output", op);
    if (k < 2)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS,
                        "%s: k-fold cross-validation requires at least one train/test split by setting "
                        "n_splits=2 or more, got n_splits=%d", op, k);
    if ((size_t)k > n)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS,
                        "%s: cannot have number of splits n_splits=%d greater than the number of samples: "
                        "n_samples=%z", op, k, n);
    return TT_OK;
}

TT__DEF tt_result tt_kfold(tt_ctx *ctx, tt_rng *rng, size_t n, int k, int *fold) {
    size_t base, extra, at = 0;
    int f;
    tt_result r = tt__kfold_args(ctx, "tt_kfold", n, k, fold);
    if (r) return r;
    base = n / (size_t)k;
    extra = n % (size_t)k;
    for (f = 0; f < k; f++) {
        size_t sz = base + ((size_t)f < extra ? 1 : 0), j;
        for (j = 0; j < sz; j++) fold[at++] = f;
    }
    /* shuffling the fold labels is shuffling the sample order before cutting the blocks */
    if (rng) tt__shuffle_int(rng, fold, n);
    return TT_OK;
}

/* Positions p in [0, x) with p % k == f. */
static size_t tt__count_mod(size_t x, size_t k, size_t f) { return x > f ? (x - f - 1) / k + 1 : 0; }

TT__DEF tt_result tt_stratified_kfold(tt_ctx *ctx, tt_rng *rng, const int *labels, size_t n, int n_classes, int k,
                                      int *fold, size_t *work) {
    static const char *op = "tt_stratified_kfold";
    size_t C, *counts, *enc, *start, *pos, i, c, n_enc = 0, min_count = (size_t)-1, max_count = 0;
    tt_result r = tt__kfold_args(ctx, op, n, k, fold);
    if (r) return r;
    if (!labels || !work) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL labels or workspace", op);
    if (n_classes < 1) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: n_classes = %d", op, n_classes);
    if ((r = tt__check_labels(ctx, op, "labels", labels, n, n_classes)) != TT_OK) return r;
    C = (size_t)n_classes;
    counts = work;
    enc = work + C;      /* enc[e] = class id of the e-th class to appear */
    start = work + 2 * C; /* start of each class id in the class-sorted order */
    pos = work + 3 * C;   /* sample positions grouped by class id, index order within a class */
    for (c = 0; c < C; c++) counts[c] = 0;
    for (i = 0; i < n; i++) {
        if (counts[labels[i]] == 0) enc[n_enc++] = (size_t)labels[i];
        counts[labels[i]]++;
    }
    for (c = 0; c < C; c++)
        if (counts[c]) {
            if (counts[c] < min_count) min_count = counts[c];
            if (counts[c] > max_count) max_count = counts[c];
        }
    if (max_count < (size_t)k)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS,
                        "%s: n_splits=%d cannot be greater than the number of members in each class", op, k);
    if (min_count < (size_t)k)
        tt__warn(ctx, "%s: the least populated class in y has only %z members, which is less than n_splits=%d", op,
                 min_count, k);
    for (c = 0, i = 0; c < C; c++) { start[c] = i; i += counts[c]; }
    for (i = 0; i < n; i++) pos[start[labels[i]]++] = i;
    for (c = 0, i = 0; c < C; c++) { start[c] = i; i += counts[c]; }
    {
        size_t e, s = 0; /* s: where the e-th class begins in y sorted by appearance order */
        for (e = 0; e < n_enc; e++) {
            size_t cl = enc[e], cnt = counts[cl], *p = pos + start[cl], j = 0;
            int f;
            for (f = 0; f < k; f++) {
                size_t nf = tt__count_mod(s + cnt, (size_t)k, (size_t)f) - tt__count_mod(s, (size_t)k, (size_t)f), q;
                for (q = 0; q < nf; q++) fold[p[j++]] = f;
            }
            if (rng)
                for (j = cnt; j > 1; j--) {
                    size_t t = tt__rng_index(rng, j);
                    int tmp = fold[p[j - 1]];
                    fold[p[j - 1]] = fold[p[t]];
                    fold[p[t]] = tmp;
                }
            s += cnt;
        }
    }
    return TT_OK;
}

TT__DEF tt_result tt_fold_indices(tt_ctx *ctx, const int *fold, size_t n, int f, size_t *train_idx, size_t *n_train,
                                  size_t *test_idx, size_t *n_test) {
    size_t i, a = 0, b = 0;
    if (!fold || !n_train || !n_test) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_fold_indices: NULL argument");
    if (f < 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_fold_indices: fold %d < 0", f);
    for (i = 0; i < n; i++) {
        if (fold[i] == f) { if (test_idx) test_idx[b] = i; b++; }
        else { if (train_idx) train_idx[a] = i; a++; }
    }
    *n_train = a;
    *n_test = b;
    return TT_OK;
}

TT__DEF tt_result tt_take_rows(tt_ctx *ctx, const float *x, size_t n_rows, size_t n_cols, const size_t *idx,
                               size_t n_idx, float *out) {
    size_t i;
    if ((!x && n_rows) || (!idx && n_idx) || (!out && n_idx))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_take_rows: NULL argument");
    for (i = 0; i < n_idx; i++)
        if (idx[i] >= n_rows)
            return tt__fail(ctx, TT_ERR_INDEX, "tt_take_rows: idx[%z] = %z is not a row of %z", i, idx[i], n_rows);
    for (i = 0; i < n_idx; i++)
        if (n_cols) memcpy(out + i * n_cols, x + idx[i] * n_cols, n_cols * sizeof(float));
    return TT_OK;
}
TT__DEF tt_result tt_take_labels(tt_ctx *ctx, const int *y, size_t n, const size_t *idx, size_t n_idx, int *out) {
    size_t i;
    if ((!y && n) || (!idx && n_idx) || (!out && n_idx))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_take_labels: NULL argument");
    for (i = 0; i < n_idx; i++)
        if (idx[i] >= n) return tt__fail(ctx, TT_ERR_INDEX, "tt_take_labels: idx[%z] = %z is not in [0, %z)", i, idx[i], n);
    for (i = 0; i < n_idx; i++) out[i] = y[idx[i]];
    return TT_OK;
}

TT__DEF tt_result tt_complete_rows(tt_ctx *ctx, const float *x, size_t n_rows, size_t n_cols, size_t *keep_idx,
                                   size_t *n_keep) {
    size_t i, j, k = 0;
    if ((!x && n_rows && n_cols) || !keep_idx || !n_keep)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_complete_rows: NULL argument");
    for (i = 0; i < n_rows; i++) {
        for (j = 0; j < n_cols; j++)
            if (x[i * n_cols + j] != x[i * n_cols + j]) break;
        if (j == n_cols) keep_idx[k++] = i;
    }
    *n_keep = k;
    return TT_OK;
}

TT__DEF tt_result tt_one_hot_encode(tt_ctx *ctx, const int *labels, size_t n, int n_classes, float *out) {
    size_t i;
    tt_result r;
    if ((!labels || !out) && n) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_one_hot_encode: NULL argument");
    if (n_classes < 1) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_one_hot_encode: n_classes = %d", n_classes);
    if ((r = tt__check_labels(ctx, "tt_one_hot_encode", "labels", labels, n, n_classes)) != TT_OK) return r;
    for (i = 0; i < n; i++) {
        memset(out + i * (size_t)n_classes, 0, (size_t)n_classes * sizeof(float));
        out[i * (size_t)n_classes + (size_t)labels[i]] = 1.0f;
    }
    return TT_OK;
}

/* ---- scalers ---- */

static tt_result tt__matrix_args(tt_ctx *ctx, const char *op, size_t n_features, const float *x, size_t n_rows,
                                 const void *out) {
    size_t total;
    if (n_features == 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: n_features is 0", op);
    if (!tt__mul_ok(n_rows, n_features, &total)) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: size overflow", op);
    if (!x && n_rows) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL x", op);
    if (!out && n_rows) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL output", op);
    return TT_OK;
}

TT__DEF tt_standard_scaler tt_standard_scaler_init(size_t n_features, double *mean, double *var, double *scale) {
    tt_standard_scaler s;
    s.n_features = n_features;
    s.with_mean = 1;
    s.with_std = 1;
    s.mean = mean;
    s.var = var;
    s.scale = scale;
    return s;
}

/* sklearn _incremental_mean_and_var on one batch (nan-aware, float64 accumulators):
   mean = sum / count; var = (sum((x - mean)^2) - sum(x - mean)^2 / count) / count. */
TT__DEF tt_result tt_standard_scaler_fit(tt_ctx *ctx, tt_standard_scaler *s, const float *x, size_t n_rows) {
    static const char *op = "tt_standard_scaler_fit";
    size_t d, i, j;
    tt_result r;
    if (!s || !s->mean || !s->var || !s->scale) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL scaler array", op);
    if ((r = tt__matrix_args(ctx, op, s->n_features, x, n_rows, s)) != TT_OK) return r;
    if (n_rows == 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: found array with 0 sample(s)", op);
    d = s->n_features;
    for (j = 0; j < d; j++) {
        double sum = 0, cnt = 0, mean, corr = 0, sq = 0, var, eps = DBL_EPSILON;
        for (i = 0; i < n_rows; i++) {
            float v = x[i * d + j];
            if (v == v) { sum += v; cnt += 1; }
        }
        if (cnt == 0) { s->mean[j] = s->var[j] = s->scale[j] = NAN; continue; }
        mean = sum / cnt;
        for (i = 0; i < n_rows; i++) {
            float v = x[i * d + j];
            if (v == v) { double t = (double)v - mean; corr += t; sq += t * t; }
        }
        var = (sq - corr * corr / cnt) / cnt;
        s->mean[j] = mean;
        s->var[j] = var;
        /* _is_constant_feature: var <= n * eps * var + (n * mean * eps)^2 */
        if (!s->with_std || var <= cnt * eps * var + (cnt * mean * eps) * (cnt * mean * eps)) s->scale[j] = 1.0;
        else s->scale[j] = sqrt(var);
    }
    return TT_OK;
}

TT__DEF tt_result tt_standard_scaler_apply(tt_ctx *ctx, const tt_standard_scaler *s, const float *x, size_t n_rows,
                                           float *out) {
    static const char *op = "tt_standard_scaler_apply";
    size_t d, i, j;
    tt_result r;
    if (!s || !s->mean || !s->scale) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL scaler array", op);
    if ((r = tt__matrix_args(ctx, op, s->n_features, x, n_rows, out)) != TT_OK) return r;
    d = s->n_features;
    for (i = 0; i < n_rows; i++)
        for (j = 0; j < d; j++) {
            double v = x[i * d + j];
            if (s->with_mean) v -= s->mean[j];
            if (s->with_std) v /= s->scale[j];
            out[i * d + j] = (float)v;
        }
    return TT_OK;
}

TT__DEF tt_minmax_scaler tt_minmax_scaler_init(size_t n_features, double *data_min, double *data_max, double *scale,
                                               double *min) {
    tt_minmax_scaler s;
    s.n_features = n_features;
    s.range_min = 0;
    s.range_max = 1;
    s.data_min = data_min;
    s.data_max = data_max;
    s.scale = scale;
    s.min = min;
    return s;
}

TT__DEF tt_result tt_minmax_scaler_fit(tt_ctx *ctx, tt_minmax_scaler *s, const float *x, size_t n_rows) {
    static const char *op = "tt_minmax_scaler_fit";
    size_t d, i, j;
    tt_result r;
    if (!s || !s->data_min || !s->data_max || !s->scale || !s->min)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL scaler array", op);
    if ((r = tt__matrix_args(ctx, op, s->n_features, x, n_rows, s)) != TT_OK) return r;
    if (!(s->range_min < s->range_max))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS,
                        "%s: minimum of desired feature range must be smaller than maximum; got (%g, %g)", op,
                        s->range_min, s->range_max);
    if (n_rows == 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: found array with 0 sample(s)", op);
    d = s->n_features;
    for (j = 0; j < d; j++) {
        double lo = INFINITY, hi = -INFINITY, range;
        int any = 0;
        for (i = 0; i < n_rows; i++) {
            float v = x[i * d + j];
            if (v == v) { any = 1; if (v < lo) lo = v; if (v > hi) hi = v; }
        }
        if (!any) lo = hi = NAN;
        range = hi - lo;
        if (range < 10.0 * FLT_EPSILON) range = 1.0; /* _handle_zeros_in_scale, float32 eps */
        s->data_min[j] = lo;
        s->data_max[j] = hi;
        s->scale[j] = (s->range_max - s->range_min) / range;
        s->min[j] = s->range_min - lo * s->scale[j];
    }
    return TT_OK;
}

TT__DEF tt_result tt_minmax_scaler_apply(tt_ctx *ctx, const tt_minmax_scaler *s, const float *x, size_t n_rows,
                                         float *out) {
    static const char *op = "tt_minmax_scaler_apply";
    size_t d, i, j;
    tt_result r;
    if (!s || !s->scale || !s->min) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL scaler array", op);
    if ((r = tt__matrix_args(ctx, op, s->n_features, x, n_rows, out)) != TT_OK) return r;
    d = s->n_features;
    for (i = 0; i < n_rows; i++)
        for (j = 0; j < d; j++) out[i * d + j] = (float)((double)x[i * d + j] * s->scale[j] + s->min[j]);
    return TT_OK;
}

/* ---- imputer ---- */

TT__DEF tt_imputer tt_imputer_init(size_t n_features, tt_impute_strategy strategy, double *statistics) {
    tt_imputer m;
    m.n_features = n_features;
    m.strategy = strategy;
    m.fill_value = 0;
    m.keep_empty_features = 0;
    m.statistics = statistics;
    return m;
}

TT__DEF tt_result tt_imputer_fit(tt_ctx *ctx, tt_imputer *imp, const float *x, size_t n_rows, float *work) {
    static const char *op = "tt_imputer_fit";
    size_t d, i, j;
    tt_result r;
    if (!imp || !imp->statistics) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL imputer or statistics", op);
    if (!tt__in_range((int)imp->strategy, TT_IMPUTE_MEAN, TT_IMPUTE_CONSTANT))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: unknown strategy %d", op, (int)imp->strategy);
    if ((r = tt__matrix_args(ctx, op, imp->n_features, x, n_rows, imp)) != TT_OK) return r;
    if (n_rows == 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: found array with 0 sample(s)", op);
    if ((imp->strategy == TT_IMPUTE_MEDIAN || imp->strategy == TT_IMPUTE_MOST_FREQUENT) && !work)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: median and most_frequent need a workspace of n_rows floats", op);
    if (imp->strategy == TT_IMPUTE_CONSTANT && imp->fill_value != imp->fill_value)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: fill_value is NaN", op);
    d = imp->n_features;
    for (j = 0; j < d; j++) {
        size_t cnt = 0;
        double stat = 0;
        for (i = 0; i < n_rows; i++) {
            float v = x[i * d + j];
            if (v == v) {
                if (work) work[cnt] = v;
                stat += v;
                cnt++;
            }
        }
        if (cnt == 0) {
            /* an empty feature: NaN (dropped by apply), or 0 / fill_value when kept */
            imp->statistics[j] = !imp->keep_empty_features ? NAN
                                 : imp->strategy == TT_IMPUTE_CONSTANT ? imp->fill_value : 0.0;
            continue;
        }
        switch (imp->strategy) {
        case TT_IMPUTE_MEAN: stat /= (double)cnt; break;
        case TT_IMPUTE_MEDIAN:
            tt__sort_floats(work, cnt);
            stat = cnt % 2 ? (double)work[cnt / 2] : ((double)work[cnt / 2 - 1] + (double)work[cnt / 2]) / 2.0;
            break;
        case TT_IMPUTE_MOST_FREQUENT: {
            size_t a = 0, best_n = 0;
            tt__sort_floats(work, cnt);
            while (a < cnt) { /* runs of equal values, ascending: a strictly longer run wins */
                size_t b = a;
                while (b < cnt && work[b] == work[a]) b++;
                if (b - a > best_n) { best_n = b - a; stat = work[a]; }
                a = b;
            }
            break;
        }
        case TT_IMPUTE_CONSTANT: stat = imp->fill_value; break;
        }
        imp->statistics[j] = stat;
    }
    return TT_OK;
}

TT__DEF size_t tt_imputer_n_out(const tt_imputer *imp) {
    size_t j, k = 0;
    if (!imp || !imp->statistics) return 0;
    for (j = 0; j < imp->n_features; j++)
        if (imp->statistics[j] == imp->statistics[j]) k++;
    return k;
}

TT__DEF tt_result tt_imputer_apply(tt_ctx *ctx, const tt_imputer *imp, const float *x, size_t n_rows, float *out) {
    static const char *op = "tt_imputer_apply";
    size_t d, i, j, w;
    tt_result r;
    if (!imp || !imp->statistics) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL imputer or statistics", op);
    if ((r = tt__matrix_args(ctx, op, imp->n_features, x, n_rows, out)) != TT_OK) return r;
    d = imp->n_features;
    w = tt_imputer_n_out(imp);
    if (w != d && out == x)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: %z empty feature(s) are dropped, so out cannot be x", op,
                        d - w);
    for (i = 0; i < n_rows; i++) {
        size_t k = 0;
        for (j = 0; j < d; j++) {
            double st = imp->statistics[j];
            float v = x[i * d + j];
            if (st != st) continue;
            out[i * w + k++] = v == v ? v : (float)st;
        }
    }
    return TT_OK;
}

/* ==================================================================================== >>metrics
   Classification and regression metrics (declared at >>api_metrics). Counts are exact integers;
   ratios and sums are double. */
#ifndef TT_NO_STDIO
#include <errno.h>
#endif

static tt_result tt__cls_args(tt_ctx *ctx, const char *op, const int *y_true, const int *y_pred, size_t n,
                              int n_classes) {
    tt_result r;
    if (n == 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: found empty input array (n = 0) while a minimum of 1 sample "
                        "is required", op);
    if (!y_true || !y_pred) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL input", op);
    if (n_classes < 1) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: n_classes = %d", op, n_classes);
    if ((r = tt__check_labels(ctx, op, "y_true", y_true, n, n_classes)) != TT_OK) return r;
    return tt__check_labels(ctx, op, "y_pred", y_pred, n, n_classes);
}

TT__DEF tt_prf_opts tt_prf_opts_init(void) {
    tt_prf_opts o;
    memset(&o, 0, sizeof o);
    o.average = TT_AVERAGE_BINARY;
    o.pos_label = 1;
    o.beta = 1.0;
    o.zero_division = TT_ZERO_DIVISION_WARN;
    return o;
}

TT__DEF tt_result tt_accuracy(tt_ctx *ctx, const int *y_true, const int *y_pred, size_t n, double *out) {
    size_t i, hit = 0;
    if (n == 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_accuracy: found empty input array (n = 0) while a minimum of "
                        "1 sample is required");
    if (!y_true || !y_pred || !out) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_accuracy: NULL argument");
    for (i = 0; i < n; i++) hit += y_true[i] == y_pred[i];
    *out = (double)hit / (double)n;
    return TT_OK;
}

static tt_result tt__scores_args(tt_ctx *ctx, const char *op, const int *y_true, const float *s, size_t n,
                                 size_t cols, int n_classes) {
    size_t total;
    tt_result r;
    if (n == 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: found empty input array (n = 0) while a minimum of 1 sample "
                        "is required", op);
    if (!y_true || !s) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL input", op);
    if (!tt__mul_ok(n, cols, &total)) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: size overflow", op);
    if ((r = tt__check_labels(ctx, op, "y_true", y_true, n, n_classes)) != TT_OK) return r;
    if (!tt__all_finite(s, total))
        return tt__fail(ctx, TT_ERR_NONFINITE, "%s: the scores contain NaN or infinity", op);
    return TT_OK;
}

TT__DEF tt_result tt_top_k_accuracy(tt_ctx *ctx, const int *y_true, const float *scores, size_t n, int n_classes,
                                    int k, double *out) {
    static const char *op = "tt_top_k_accuracy";
    size_t i, hit = 0, C;
    tt_result r;
    if (n_classes < 2) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: n_classes = %d (need 2 or more)", op, n_classes);
    if (k < 1) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: k = %d (need 1 or more)", op, k);
    if (!out) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL output", op);
    if ((r = tt__scores_args(ctx, op, y_true, scores, n, (size_t)n_classes, n_classes)) != TT_OK) return r;
    C = (size_t)n_classes;
    if (k >= n_classes) tt__warn(ctx, "%s: k (%d) >= n_classes (%d) will result in a perfect score", op, k, n_classes);
    for (i = 0; i < n; i++) {
        const float *row = scores + i * C;
        int t = y_true[i], c, ahead = 0;
        /* classes ranked above t: a higher score, or an equal score and a larger id */
        for (c = 0; c < n_classes; c++)
            if (row[c] > row[t] || (row[c] == row[t] && c > t)) ahead++;
        hit += ahead < k;
    }
    *out = (double)hit / (double)n;
    return TT_OK;
}

TT__DEF tt_result tt_confusion_matrix(tt_ctx *ctx, const int *y_true, const int *y_pred, size_t n, int n_classes,
                                      size_t *cm) {
    size_t i, total;
    tt_result r;
    if (!cm) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_confusion_matrix: NULL output");
    if ((r = tt__cls_args(ctx, "tt_confusion_matrix", y_true, y_pred, n, n_classes)) != TT_OK) return r;
    if (!tt__mul_ok((size_t)n_classes, (size_t)n_classes, &total))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "tt_confusion_matrix: size overflow");
    for (i = 0; i < total; i++) cm[i] = 0;
    for (i = 0; i < n; i++) cm[(size_t)y_true[i] * (size_t)n_classes + (size_t)y_pred[i]]++;
    return TT_OK;
}

/* tp, predicted and true counts of class c (one pass). */
static void tt__class_counts(const int *y_true, const int *y_pred, size_t n, int c, size_t *tp, size_t *pred,
                             size_t *tru) {
    size_t i, a = 0, b = 0, d = 0;
    for (i = 0; i < n; i++) {
        int t = y_true[i] == c, p = y_pred[i] == c;
        a += t && p;
        b += p;
        d += t;
    }
    *tp = a;
    *pred = b;
    *tru = d;
}

static double tt__zd_value(tt_zero_division zd) {
    return zd == TT_ZERO_DIVISION_ONE ? 1.0 : zd == TT_ZERO_DIVISION_NAN ? NAN : 0.0;
}

/* sklearn _prf_divide: num / den, or the zero_division value when den is 0 (*warned set). */
static double tt__prf_div(double num, double den, tt_zero_division zd, int *ill) {
    if (den == 0) { *ill = 1; return tt__zd_value(zd); }
    return num / den;
}

/* Precision, recall and F-beta from counts (sklearn's formulas; F as (1+b^2)tp / (b^2 true + pred)). */
static void tt__prf(double tp, double pred, double tru, double beta, tt_zero_division zd, double *p, double *r,
                    double *f, int ill[3]) {
    double b2 = beta * beta;
    *p = tt__prf_div(tp, pred, zd, &ill[0]);
    *r = tt__prf_div(tp, tru, zd, &ill[1]);
    if (beta > DBL_MAX) *f = *r;
    else if (beta == 0) *f = *p;
    else *f = tt__prf_div((1 + b2) * tp, b2 * tru + pred, zd, &ill[2]);
}

/* sklearn _nanaverage: the (weighted) mean of the non-NaN values; NaN if there are none; all
   weights zero falls back to the plain mean. */
typedef struct tt__nanavg {
    double sum, wsum, wtot, cnt;
} tt__nanavg;
static void tt__nanavg_add(tt__nanavg *a, double v, double w) {
    if (v != v) return;
    a->sum += v;
    a->wsum += w * v;
    a->wtot += w;
    a->cnt += 1;
}
static double tt__nanavg_get(const tt__nanavg *a, int weighted) {
    if (a->cnt == 0) return NAN;
    if (weighted && a->wtot != 0) return a->wsum / a->wtot;
    return a->sum / a->cnt;
}

TT__DEF tt_result tt_precision_recall_fscore(tt_ctx *ctx, const int *y_true, const int *y_pred, size_t n,
                                             int n_classes, const tt_prf_opts *opts, double *precision,
                                             double *recall, double *fscore, size_t *support) {
    static const char *op = "tt_precision_recall_fscore";
    tt_prf_opts o = opts ? *opts : tt_prf_opts_init();
    int ill[3] = {0, 0, 0}, c;
    tt_result r;
    if (!tt__in_range((int)o.average, TT_AVERAGE_NONE, TT_AVERAGE_WEIGHTED))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: unknown average %d", op, (int)o.average);
    if (!tt__in_range((int)o.zero_division, TT_ZERO_DIVISION_WARN, TT_ZERO_DIVISION_NAN))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: unknown zero_division %d", op, (int)o.zero_division);
    if (!(o.beta >= 0)) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: beta = %g (need beta >= 0)", op, o.beta);
    if ((r = tt__cls_args(ctx, op, y_true, y_pred, n, n_classes)) != TT_OK) return r;
    if (o.average == TT_AVERAGE_BINARY) {
        if (n_classes != 2)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: target is multiclass (n_classes = %d) but average is "
                            "BINARY; choose MICRO, MACRO, WEIGHTED or NONE", op, n_classes);
        if (o.pos_label < 0 || o.pos_label > 1)
            return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: pos_label=%d is not a valid label; it should be 0 or 1",
                            op, o.pos_label);
    }
    if (support)
        for (c = 0; c < n_classes; c++) {
            size_t tp, pr, tr;
            tt__class_counts(y_true, y_pred, n, c, &tp, &pr, &tr);
            support[c] = tr;
        }
    if (o.average == TT_AVERAGE_BINARY || o.average == TT_AVERAGE_MICRO) {
        double tp = 0, pr = 0, tr = 0, p, rc, f;
        for (c = 0; c < n_classes; c++) {
            size_t a, b, d;
            if (o.average == TT_AVERAGE_BINARY && c != o.pos_label) continue;
            tt__class_counts(y_true, y_pred, n, c, &a, &b, &d);
            tp += (double)a; pr += (double)b; tr += (double)d;
        }
        tt__prf(tp, pr, tr, o.beta, o.zero_division, &p, &rc, &f, ill);
        if (precision) precision[0] = p;
        if (recall) recall[0] = rc;
        if (fscore) fscore[0] = f;
    } else {
        tt__nanavg ap, ar, af;
        memset(&ap, 0, sizeof ap); memset(&ar, 0, sizeof ar); memset(&af, 0, sizeof af);
        for (c = 0; c < n_classes; c++) {
            size_t a, b, d;
            double p, rc, f;
            tt__class_counts(y_true, y_pred, n, c, &a, &b, &d);
            tt__prf((double)a, (double)b, (double)d, o.beta, o.zero_division, &p, &rc, &f, ill);
            if (o.average == TT_AVERAGE_NONE) {
                if (precision) precision[c] = p;
                if (recall) recall[c] = rc;
                if (fscore) fscore[c] = f;
            } else {
                tt__nanavg_add(&ap, p, (double)d);
                tt__nanavg_add(&ar, rc, (double)d);
                tt__nanavg_add(&af, f, (double)d);
            }
        }
        if (o.average != TT_AVERAGE_NONE) {
            int w = o.average == TT_AVERAGE_WEIGHTED;
            if (precision) precision[0] = tt__nanavg_get(&ap, w);
            if (recall) recall[0] = tt__nanavg_get(&ar, w);
            if (fscore) fscore[0] = tt__nanavg_get(&af, w);
        }
    }
    if (o.zero_division == TT_ZERO_DIVISION_WARN) {
        if (ill[0]) tt__warn(ctx, "%s: precision is ill-defined and being set to 0.0 for a label with no predicted "
                             "samples", op);
        if (ill[1]) tt__warn(ctx, "%s: recall is ill-defined and being set to 0.0 for a label with no true samples",
                             op);
    }
    return TT_OK;
}

TT__DEF tt_result tt_balanced_accuracy(tt_ctx *ctx, const int *y_true, const int *y_pred, size_t n, int n_classes,
                                       double *out) {
    static const char *op = "tt_balanced_accuracy";
    double sum = 0, cnt = 0;
    int c, extra = 0;
    tt_result r;
    if (!out) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL output", op);
    if ((r = tt__cls_args(ctx, op, y_true, y_pred, n, n_classes)) != TT_OK) return r;
    for (c = 0; c < n_classes; c++) {
        size_t tp, pr, tr;
        tt__class_counts(y_true, y_pred, n, c, &tp, &pr, &tr);
        if (tr) { sum += (double)tp / (double)tr; cnt += 1; }
        else if (pr) extra = 1;
    }
    if (extra) tt__warn(ctx, "%s: y_pred contains classes not in y_true", op);
    *out = sum / cnt;
    return TT_OK;
}

/* ---- ranking metrics ---- */

TT__DEF size_t tt_ranking_work_count(size_t n) { return n; }

/* ROC-AUC (which 0) or average precision (which 1) of "class == pos" against score column
   s[i * stride], from one descending pass over the distinct thresholds. Returns NaN for an
   undefined AUC and sets *no_pos / *one_class for the warnings. */
static double tt__rank_metric(const int *y, int pos, const float *s, size_t stride, size_t n, size_t *idx, int which,
                              int *undefined) {
    size_t i, P = 0, N, tp = 0, fp = 0, tp_prev = 0, fp_prev = 0;
    double acc = 0;
    for (i = 0; i < n; i++) P += y[i] == pos;
    N = n - P;
    *undefined = which == 0 ? (P == 0 || N == 0) : P == 0;
    if (*undefined) return which == 0 ? NAN : 0.0;
    for (i = 0; i < n; i++) idx[i] = i;
    tt__sort_idx(idx, n, s, stride);
    i = n;
    while (i > 0) {
        float thr = s[idx[i - 1] * stride];
        while (i > 0 && s[idx[i - 1] * stride] == thr) {  /* one threshold: all tied scores */
            if (y[idx[i - 1]] == pos) tp++;
            else fp++;
            i--;
        }
        if (which == 0) /* trapezoid between (fp_prev, tp_prev) and (fp, tp), normalised */
            acc += ((double)fp / (double)N - (double)fp_prev / (double)N) *
                   ((double)tp / (double)P + (double)tp_prev / (double)P) / 2.0;
        else /* step: (R_k - R_{k-1}) * P_k */
            acc += ((double)tp / (double)P - (double)tp_prev / (double)P) * ((double)tp / (double)(tp + fp));
        tp_prev = tp;
        fp_prev = fp;
    }
    return acc;
}

static tt_result tt__binary_rank(tt_ctx *ctx, const char *op, const int *y_true, const float *score, size_t n,
                                 size_t *work, double *out, int which) {
    int undefined;
    tt_result r;
    if (!work || !out) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL workspace or output", op);
    if ((r = tt__scores_args(ctx, op, y_true, score, n, 1, 2)) != TT_OK) return r;
    *out = tt__rank_metric(y_true, 1, score, 1, n, work, which, &undefined);
    if (undefined) {
        if (which == 0) tt__warn(ctx, "%s: only one class is present in y_true; ROC AUC score is not defined", op);
        else tt__warn(ctx, "%s: no positive class found in y_true, recall is set to one for all thresholds", op);
    }
    return TT_OK;
}

TT__DEF tt_result tt_roc_auc_binary(tt_ctx *ctx, const int *y_true, const float *score, size_t n, size_t *work,
                                    double *out) {
    return tt__binary_rank(ctx, "tt_roc_auc_binary", y_true, score, n, work, out, 0);
}
TT__DEF tt_result tt_average_precision_binary(tt_ctx *ctx, const int *y_true, const float *score, size_t n,
                                              size_t *work, double *out) {
    return tt__binary_rank(ctx, "tt_average_precision_binary", y_true, score, n, work, out, 1);
}

static tt_result tt__ovr_rank(tt_ctx *ctx, const char *op, const int *y_true, const float *scores, size_t n,
                              int n_classes, tt_average average, size_t *work, double *out, int which) {
    double wsum = 0, acc = 0;
    int c, any_undefined = 0;
    size_t i;
    tt_result r;
    if (!work || !out) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL workspace or output", op);
    if (n_classes < 2) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: n_classes = %d (need 2 or more)", op, n_classes);
    if (average != TT_AVERAGE_MACRO && average != TT_AVERAGE_WEIGHTED)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: average must be MACRO or WEIGHTED", op);
    if ((r = tt__scores_args(ctx, op, y_true, scores, n, (size_t)n_classes, n_classes)) != TT_OK) return r;
    if (which == 0)
        for (i = 0; i < n; i++) {
            double s = 0;
            for (c = 0; c < n_classes; c++) s += scores[i * (size_t)n_classes + (size_t)c];
            if (!(fabs(1.0 - s) <= 1e-8 + 1e-5 * fabs(s)))
                return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: target scores need to be probabilities for multiclass "
                                "roc_auc, i.e. they should sum up to 1.0 over classes (row %z sums to %g)", op, i, s);
        }
    for (c = 0; c < n_classes; c++) {
        int undefined;
        double v = tt__rank_metric(y_true, c, scores + c, (size_t)n_classes, n, work, which, &undefined), w = 0;
        size_t k;
        any_undefined |= undefined;
        for (k = 0; k < n; k++) w += y_true[k] == c;
        if (average == TT_AVERAGE_WEIGHTED) {
            if (w == 0) v = 0; /* sklearn: scores with 0 weight are forced to 0 */
            acc += w * v;
            wsum += w;
        } else {
            acc += v;
            wsum += 1;
        }
    }
    if (any_undefined)
        tt__warn(ctx, which == 0 ? "%s: a class is absent from y_true (or is all of it); its ROC AUC is not defined"
                                 : "%s: a class has no positive sample in y_true; its average precision is 0", op);
    *out = acc / wsum;
    return TT_OK;
}

TT__DEF tt_result tt_roc_auc_ovr(tt_ctx *ctx, const int *y_true, const float *scores, size_t n, int n_classes,
                                 tt_average average, size_t *work, double *out) {
    return tt__ovr_rank(ctx, "tt_roc_auc_ovr", y_true, scores, n, n_classes, average, work, out, 0);
}
TT__DEF tt_result tt_average_precision_ovr(tt_ctx *ctx, const int *y_true, const float *scores, size_t n,
                                           int n_classes, tt_average average, size_t *work, double *out) {
    return tt__ovr_rank(ctx, "tt_average_precision_ovr", y_true, scores, n, n_classes, average, work, out, 1);
}

TT__DEF tt_result tt_log_loss(tt_ctx *ctx, const int *y_true, const float *probs, size_t n, int n_classes,
                              double *out) {
    static const char *op = "tt_log_loss";
    size_t i, C, total;
    double sum = 0;
    int warned = 0;
    tt_result r;
    if (!out) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL output", op);
    if (n_classes < 2) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: n_classes = %d (need 2 or more)", op, n_classes);
    if ((r = tt__scores_args(ctx, op, y_true, probs, n, (size_t)n_classes, n_classes)) != TT_OK) return r;
    C = (size_t)n_classes;
    total = n * C;
    for (i = 0; i < total; i++) {
        if (probs[i] > 1) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: y_prob contains values greater than 1: %g", op, (double)probs[i]);
        if (probs[i] < 0) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: y_prob contains values lower than 0: %g", op, (double)probs[i]);
    }
    for (i = 0; i < n; i++) {
        double s = 0, p;
        size_t c;
        for (c = 0; c < C; c++) s += probs[i * C + c];
        if (!warned && !(fabs(s - 1.0) <= 1e-8 + sqrt((double)FLT_EPSILON) * 1.0)) {
            tt__warn(ctx, "%s: the y_prob values do not sum to one; make sure to pass probabilities", op);
            warned = 1;
        }
        p = probs[i * C + (size_t)y_true[i]];
        if (p < FLT_EPSILON) p = FLT_EPSILON;
        if (p > 1.0 - FLT_EPSILON) p = 1.0 - FLT_EPSILON;
        sum -= log(p);
    }
    *out = sum / (double)n;
    return TT_OK;
}

static tt_result tt__reg_args(tt_ctx *ctx, const char *op, const float *y_true, const float *y_pred, size_t n,
                              const double *out) {
    if (!out) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL output", op);
    if (n == 0)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: found array with 0 sample(s) while a minimum of 1 is "
                        "required", op);
    if (!y_true || !y_pred) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL input", op);
    if (!tt__all_finite(y_true, n) || !tt__all_finite(y_pred, n))
        return tt__fail(ctx, TT_ERR_NONFINITE, "%s: input contains NaN or infinity", op);
    return TT_OK;
}

TT__DEF tt_result tt_mean_squared_error(tt_ctx *ctx, const float *y_true, const float *y_pred, size_t n,
                                        double *out) {
    size_t i;
    double s = 0;
    tt_result r = tt__reg_args(ctx, "tt_mean_squared_error", y_true, y_pred, n, out);
    if (r) return r;
    for (i = 0; i < n; i++) { double d = (double)y_true[i] - (double)y_pred[i]; s += d * d; }
    *out = s / (double)n;
    return TT_OK;
}
TT__DEF tt_result tt_mean_absolute_error(tt_ctx *ctx, const float *y_true, const float *y_pred, size_t n,
                                         double *out) {
    size_t i;
    double s = 0;
    tt_result r = tt__reg_args(ctx, "tt_mean_absolute_error", y_true, y_pred, n, out);
    if (r) return r;
    for (i = 0; i < n; i++) s += fabs((double)y_true[i] - (double)y_pred[i]);
    *out = s / (double)n;
    return TT_OK;
}
TT__DEF tt_result tt_root_mean_squared_error(tt_ctx *ctx, const float *y_true, const float *y_pred, size_t n,
                                             double *out) {
    tt_result r = tt_mean_squared_error(ctx, y_true, y_pred, n, out);
    if (r == TT_OK) *out = sqrt(*out);
    return r;
}
TT__DEF tt_result tt_r2(tt_ctx *ctx, const float *y_true, const float *y_pred, size_t n, double *out) {
    size_t i;
    double mean = 0, num = 0, den = 0;
    tt_result r = tt__reg_args(ctx, "tt_r2", y_true, y_pred, n, out);
    if (r) return r;
    if (n < 2) {
        tt__warn(ctx, "tt_r2: R^2 score is not well-defined with less than two samples");
        *out = NAN;
        return TT_OK;
    }
    for (i = 0; i < n; i++) mean += y_true[i];
    mean /= (double)n;
    for (i = 0; i < n; i++) {
        double d = (double)y_true[i] - (double)y_pred[i], e = (double)y_true[i] - mean;
        num += d * d;
        den += e * e;
    }
    /* sklearn force_finite: a constant y_true gives 1 (perfect) or 0 */
    if (den == 0) *out = num == 0 ? 1.0 : 0.0;
    else *out = 1.0 - num / den;
    return TT_OK;
}

/* ---- classification report ---- */

TT__DEF tt_report_opts tt_report_opts_init(void) {
    tt_report_opts o;
    memset(&o, 0, sizeof o);
    o.target_names = NULL;
    o.digits = 2;
    o.zero_division = TT_ZERO_DIVISION_WARN;
    return o;
}

/* v rounded to `digits` decimals as Python's format(v, ".Nf"): the exact binary value is rounded
   to nearest, ties to even. v * 10^digits is formed exactly as hi + lo (fma) so the rounding
   decision never suffers from the product's own rounding. */
static void tt__put_fixed(tt__buf *b, double v, int digits) {
    double p = 1, hi, lo, fl, diff;
    unsigned long long q, ip, pw = 1;
    int i, neg = 0;
    if (v != v) { tt__puts(b, "nan"); return; }
    if (v < 0) { neg = 1; v = -v; }
    if (v > DBL_MAX) { tt__puts(b, neg ? "-inf" : "inf"); return; }
    for (i = 0; i < digits; i++) { p *= 10; pw *= 10; }
    hi = v * p;
    if (hi >= 9e15) { tt__puts(b, "(too large)"); return; }
    lo = fma(v, p, -hi);
    fl = floor(hi);
    diff = (hi - (fl + 0.5)) + lo; /* exact sign of v * 10^d - (fl + 1/2) */
    q = (unsigned long long)fl;
    if (diff > 0 || (diff == 0 && (q & 1u))) q++;
    if (neg) tt__putc(b, '-'); /* Python keeps the sign of -0.00 too */
    ip = q / pw;
    tt__putu(b, ip);
    if (digits > 0) {
        char tmp[20];
        unsigned long long f = q % pw;
        tt__putc(b, '.');
        for (i = digits - 1; i >= 0; i--) { tmp[i] = (char)('0' + (int)(f % 10u)); f /= 10u; }
        for (i = 0; i < digits; i++) tt__putc(b, tmp[i]);
    }
}
/* s right-aligned in a field of width w. */
static void tt__put_right(tt__buf *b, const char *s, size_t w) {
    size_t l = strlen(s);
    while (l < w) { tt__putc(b, ' '); w--; }
    tt__puts(b, s);
}
static void tt__put_fixed_right(tt__buf *b, double v, int digits, size_t w) {
    char tmp[48];
    tt__buf t;
    t.p = tmp; t.n = 0; t.cap = sizeof tmp;
    tt__put_fixed(&t, v, digits);
    tmp[t.n] = 0;
    tt__put_right(b, tmp, w);
}
/* A support count; as_float writes it as Python prints a float ("12.0"). */
static void tt__put_count_right(tt__buf *b, size_t v, size_t w, int as_float) {
    char tmp[32];
    tt__buf t;
    t.p = tmp; t.n = 0; t.cap = sizeof tmp;
    tt__putu(&t, (unsigned long long)v);
    if (as_float) tt__puts(&t, ".0");
    tmp[t.n] = 0;
    tt__put_right(b, tmp, w);
}

#define TT__REPORT_NAME_MAX 200
/* Line `line` of the report (0: header, 1: blank, 2..C+1: classes, C+2: blank, C+3: accuracy,
   C+4: macro avg, C+5: weighted avg) into b, with its newline. */
static void tt__report_line(tt__buf *b, int line, const int *y_true, const int *y_pred, size_t n, int C,
                            const tt_report_opts *o, size_t width) {
    size_t tp, pr, tr, i;
    double p, r, f;
    int ill[3], float_support = 1;
    /* sklearn quirk, reproduced: with no correct prediction at all, multilabel_confusion_matrix
       builds its counts as floats and the support column prints as "12.0" */
    for (i = 0; i < n && float_support; i++) float_support = y_true[i] != y_pred[i];
    if (line == 0) {
        tt__put_right(b, "", width);
        tt__puts(b, " ");
        tt__puts(b, " precision    recall  f1-score   support\n");
    } else if (line == 1 || line == C + 2) {
        tt__putc(b, '\n');
    } else if (line < C + 2) {
        int c = line - 2;
        char name[24];
        const char *nm = name;
        if (o->target_names) nm = o->target_names[c];
        else { tt__buf t; t.p = name; t.n = 0; t.cap = sizeof name; tt__puti(&t, c); name[t.n] = 0; }
        tt__class_counts(y_true, y_pred, n, c, &tp, &pr, &tr);
        tt__prf((double)tp, (double)pr, (double)tr, 1.0, o->zero_division, &p, &r, &f, ill);
        tt__put_right(b, nm, width);
        tt__puts(b, "  ");
        tt__put_fixed_right(b, p, o->digits, 9);
        tt__puts(b, " ");
        tt__put_fixed_right(b, r, o->digits, 9);
        tt__puts(b, " ");
        tt__put_fixed_right(b, f, o->digits, 9);
        tt__puts(b, " ");
        tt__put_count_right(b, tr, 9, float_support);
        tt__putc(b, '\n');
    } else {
        tt_prf_opts po = tt_prf_opts_init();
        double av[3];
        po.zero_division = o->zero_division;
        po.average = line == C + 3 ? TT_AVERAGE_MICRO : line == C + 4 ? TT_AVERAGE_MACRO : TT_AVERAGE_WEIGHTED;
        tt_precision_recall_fscore(NULL, y_true, y_pred, n, C, &po, &av[0], &av[1], &av[2], NULL);
        if (line == C + 3) {
            tt__put_right(b, "accuracy", width);
            tt__puts(b, "  ");
            tt__put_right(b, "", 9);
            tt__puts(b, " ");
            tt__put_right(b, "", 9);
            tt__puts(b, " ");
            tt__put_fixed_right(b, av[2], o->digits, 9);
        } else {
            tt__put_right(b, line == C + 4 ? "macro avg" : "weighted avg", width);
            tt__puts(b, "  ");
            tt__put_fixed_right(b, av[0], o->digits, 9);
            tt__puts(b, " ");
            tt__put_fixed_right(b, av[1], o->digits, 9);
            tt__puts(b, " ");
            tt__put_fixed_right(b, av[2], o->digits, 9);
        }
        tt__puts(b, " ");
        tt__put_count_right(b, n, 9, float_support);
        tt__putc(b, '\n');
    }
}

static tt_result tt__report_args(tt_ctx *ctx, const char *op, const int *y_true, const int *y_pred, size_t n, int C,
                                 const tt_report_opts *o, size_t *width) {
    size_t w = 12; /* len("weighted avg") */
    int c;
    tt_result r;
    if (o->digits < 0 || o->digits > 15)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: digits = %d (0..15)", op, o->digits);
    if (!tt__in_range((int)o->zero_division, TT_ZERO_DIVISION_WARN, TT_ZERO_DIVISION_NAN))
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: unknown zero_division %d", op, (int)o->zero_division);
    if ((r = tt__cls_args(ctx, op, y_true, y_pred, n, C)) != TT_OK) return r;
    for (c = 0; c < C; c++) {
        size_t l;
        if (o->target_names) {
            if (!o->target_names[c]) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: target_names[%d] is NULL", op, c);
            l = strlen(o->target_names[c]);
            if (l > TT__REPORT_NAME_MAX)
                return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: target_names[%d] is longer than %d bytes", op, c,
                                TT__REPORT_NAME_MAX);
        } else {
            int v = c;
            l = 1;
            while (v >= 10) { v /= 10; l++; }
        }
        if (l > w) w = l;
    }
    if ((size_t)o->digits > w) w = (size_t)o->digits;
    *width = w;
    return TT_OK;
}

/* The longest line: a name field of up to 200 bytes and four 9-wide numbers (nan/inf fit). */
#define TT__REPORT_LINE_MAX (TT__REPORT_NAME_MAX + 4 * 12 + 8)

TT__DEF tt_result tt_classification_report(tt_ctx *ctx, const int *y_true, const int *y_pred, size_t n,
                                           int n_classes, const tt_report_opts *opts, char *buf, size_t cap,
                                           size_t *len) {
    static const char *op = "tt_classification_report";
    tt_report_opts o = opts ? *opts : tt_report_opts_init();
    size_t width = 0, total = 0;
    int line;
    tt_result r;
    char tmp[TT__REPORT_LINE_MAX];
    tt__buf lb;
    if (!buf && cap) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL buffer with cap %z", op, cap);
    if ((r = tt__report_args(ctx, op, y_true, y_pred, n, n_classes, &o, &width)) != TT_OK) return r;
    for (line = 0; line < n_classes + 6; line++) { /* measure */
        lb.p = tmp; lb.n = 0; lb.cap = sizeof tmp;
        tt__report_line(&lb, line, y_true, y_pred, n, n_classes, &o, width);
        total += lb.n;
    }
    if (len) *len = total;
    if (!buf) return TT_OK;
    if (cap <= total)
        return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: buffer of %z bytes is too small (need %z)", op, cap, total + 1);
    lb.p = buf; lb.n = 0; lb.cap = cap;
    for (line = 0; line < n_classes + 6; line++)
        tt__report_line(&lb, line, y_true, y_pred, n, n_classes, &o, width);
    buf[lb.n] = 0;
    return TT_OK;
}

#ifndef TT_NO_STDIO
TT__DEF tt_result tt_classification_report_fprint(tt_ctx *ctx, FILE *f, const int *y_true, const int *y_pred,
                                                  size_t n, int n_classes, const tt_report_opts *opts) {
    static const char *op = "tt_classification_report_fprint";
    tt_report_opts o = opts ? *opts : tt_report_opts_init();
    size_t width = 0;
    int line;
    tt_result r;
    char tmp[TT__REPORT_LINE_MAX];
    tt__buf lb;
    if (!f) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL FILE", op);
    if ((r = tt__report_args(ctx, op, y_true, y_pred, n, n_classes, &o, &width)) != TT_OK) return r;
    for (line = 0; line < n_classes + 6; line++) {
        lb.p = tmp; lb.n = 0; lb.cap = sizeof tmp;
        tt__report_line(&lb, line, y_true, y_pred, n, n_classes, &o, width);
        if (fwrite(tmp, 1, lb.n, f) != lb.n)
            return tt__fail(ctx, TT_ERR_IO, "%s: write failed: %s", op, strerror(errno));
    }
    return TT_OK;
}

TT__DEF tt_result tt_classification_report_save(tt_ctx *ctx, const char *path, const int *y_true,
                                                const int *y_pred, size_t n, int n_classes,
                                                const tt_report_opts *opts) {
    static const char *op = "tt_classification_report_save";
    tt_report_opts o = opts ? *opts : tt_report_opts_init();
    size_t width = 0;
    FILE *f;
    tt_result r;
    if (!path) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: NULL path", op);
    if ((r = tt__report_args(ctx, op, y_true, y_pred, n, n_classes, &o, &width)) != TT_OK) return r;
    f = fopen(path, "w");
    if (!f) return tt__fail(ctx, TT_ERR_IO, "%s: cannot open '%s' for writing: %s", op, path, strerror(errno));
    r = tt_classification_report_fprint(ctx, f, y_true, y_pred, n, n_classes, &o);
    if (fclose(f) != 0 && r == TT_OK)
        r = tt__fail(ctx, TT_ERR_IO, "%s: cannot write '%s': %s", op, path, strerror(errno));
    return r;
}
#endif

/* ==================================================================================== >>backend
   The header's side of the backend seam (see >>api_backend). */

/* 1 if op runs on the context's backend (or there is none); else fails naming the op */
static int tt__bk_allows(tt_ctx *ctx, const char *op) {
    const char *const *o;
    if (!ctx->backend) return 1;
    for (o = ctx->backend->ops; o && *o; o++)
        if (!strcmp(*o, op)) return 1;
    tt__fail(ctx, TT_ERR_UNSUPPORTED, "%s: this op does not run on the %s backend (see its list of ops)", op, ctx->backend->name);
    return 0;
}

/* zero bytes at a host-block address: on the device when there is a backend */
static tt_result tt__bk_zero(tt_ctx *ctx, void *p, size_t bytes) {
    if (!ctx->backend) { memset(p, 0, bytes); return TT_OK; }
    return bytes ? ctx->backend->zero(ctx, p, bytes) : TT_OK;
}

/* the host copy of these bytes changed: mirror them to the device */
static tt_result tt__bk_push(tt_ctx *ctx, void *p, size_t bytes) {
    if (!ctx->backend || !bytes) return TT_OK;  /* a CPU context: nothing to mirror */
    if (ctx->err != TT_OK) return ctx->err;
    return ctx->backend->upload(ctx, p, p, bytes);
}

static void tt__bk_backward(tt_ctx *ctx, tt__node *n) {
    tt_backend_call c;
    memset(&c, 0, sizeof c);
    c.op = n->i[7] + 1;
    c.out = n->out;
    c.in[0] = n->in[0]; c.in[1] = n->in[1]; c.in[2] = n->in[2];
    memcpy(c.i, n->i, sizeof c.i);
    c.f[0] = n->f[0]; c.f[1] = n->f[1];
    c.p[0] = n->saved;
    ctx->backend->run(ctx, &c);
}

/* Run op c->op on the backend for output y (made by tt__out) and record its backward. */
static tt_tensor *tt__bk_forward(tt_ctx *ctx, tt_tensor *y, tt_backend_call *c) {
    c->out = y;
    if (ctx->backend->run(ctx, c) != TT_OK) return NULL;
    if (y->node) {
        memcpy(y->node->i, c->i, sizeof c->i);
        y->node->i[7] = c->op;
        y->node->f[0] = c->f[0]; y->node->f[1] = c->f[1];
        y->node->saved = c->p[0];
        y->node->backward = tt__bk_backward;
    }
    return tt__done(ctx, y);
}

static tt_tensor *tt__bk_op(tt_ctx *ctx, tt_tensor *y, int op, tt_tensor *a, tt_tensor *b, tt_tensor *c, int i0) {
    tt_backend_call call;
    memset(&call, 0, sizeof call);
    call.op = op;
    call.in[0] = a; call.in[1] = b; call.in[2] = c;
    call.i[0] = i0;
    return tt__bk_forward(ctx, y, &call);
}

/* cross-entropy with class indices on the backend: (N, C) logits, MEAN or SUM, no weights or
   smoothing. The targets are copied into scratch (and so onto the device). */
static tt_tensor *tt__bk_class_index(tt_ctx *ctx, const char *op, tt_tensor *x, const int *target, const tt_cross_entropy_opts *o,
                                     int is_logits, size_t N, size_t C, size_t S, int ignore) {
    tt_backend_call c;
    tt_tensor *y;
    int *tg;
    float *rows;
    size_t u, counted = 0;
    if (!is_logits || o->weight || o->label_smoothing != 0.0f || o->reduction == TT_REDUCTION_NONE || S != 1 || x->ndim != 2) {
        tt__fail(ctx, TT_ERR_UNSUPPORTED, "%s: on the %s backend only cross_entropy of (N, C) logits with MEAN or SUM "
                                          "reduction, no class weights and no label smoothing runs", op, ctx->backend->name);
        return NULL;
    }
    y = tt__out(ctx, op, 0, NULL, x, NULL, NULL);
    tg = y ? (int *)tt__scratch(ctx, op, sizeof(int) * (N ? N : 1)) : NULL;
    rows = tg ? tt__scratch_floats(ctx, op, N ? N : 1) : NULL;
    if (!rows) return NULL;
    memcpy(tg, target, sizeof(int) * N);
    if (tt__bk_push(ctx, tg, sizeof(int) * N) != TT_OK) return NULL;
    for (u = 0; u < N; u++) counted += target[u] != ignore;
    memset(&c, 0, sizeof c);
    c.op = TT_BOP_CROSS_ENTROPY;
    c.in[0] = x;
    c.i[0] = (int)N; c.i[1] = (int)C; c.i[2] = ignore;
    c.f[0] = o->reduction == TT_REDUCTION_MEAN ? (float)counted : 1.0f; /* torch: mean over counted targets */
    c.p[0] = tg; c.p[1] = rows;
    return tt__bk_forward(ctx, y, &c);
}

/* embedding on the backend. For a deterministic backward without float atomics the positions
   are sorted by id here (a stable counting sort, O(count + num) on the host, where the ids
   already are): the kernel then sums each id's gradient rows in increasing position order (a
   segment sum), the CPU's order. */
static tt_tensor *tt__bk_embedding(tt_ctx *ctx, tt_tensor *y, tt_tensor *w, const int *ids, size_t count) {
    const char *op = "embedding";
    size_t num = (size_t)w->shape[0], i, nseg = 0, mark;
    int *buf, *order, *seg_start, *seg_id, *cnt;
    tt_backend_call c;
    if (count > 0x7fffffff) { tt__fail(ctx, TT_ERR_UNSUPPORTED, "%s: too many ids for the backend", op); return NULL; }
    buf = (int *)tt__scratch(ctx, op, sizeof(int) * (3 * count + 2 + (count < num ? count : num)));
    if (!buf) return NULL;
    order = buf + count; seg_start = order + count; seg_id = seg_start + count + 1;
    memcpy(buf, ids, sizeof(int) * count);
    mark = ctx->scratch.used;
    cnt = (int *)tt__scratch(ctx, op, sizeof(int) * (num + 1)); /* temporary: given back below */
    if (!cnt) return NULL;
    memset(cnt, 0, sizeof(int) * (num + 1));
    for (i = 0; i < count; i++) cnt[ids[i] + 1]++;
    for (i = 0; i < num; i++) cnt[i + 1] += cnt[i];        /* cnt[v]: first slot of id v */
    for (i = 0; i < num; i++)
        if (cnt[i + 1] > cnt[i]) { seg_start[nseg] = cnt[i]; seg_id[nseg] = (int)i; nseg++; }
    seg_start[nseg] = (int)count;
    for (i = 0; i < count; i++) order[cnt[ids[i]]++] = (int)i; /* stable: positions stay in order */
    ctx->scratch.used = mark;
    if (tt__bk_push(ctx, buf, sizeof(int) * (3 * count + 1 + nseg)) != TT_OK) return NULL;
    memset(&c, 0, sizeof c);
    c.op = TT_BOP_EMBEDDING;
    c.in[0] = w;
    c.i[0] = (int)count; c.i[1] = w->shape[1]; c.i[2] = (int)nseg;
    c.p[0] = buf;
    return tt__bk_forward(ctx, y, &c);
}

/* The p-norm (kind 0: 2, 1: 1, 2: INFINITY) of the gradients of list's tensors on the backend, and
   the clip coefficient (lamb 0) or LAMB's divisor (lamb 1) from it; both stay on the device in the
   returned work area (scratch, TT_BACKEND_NORM_WORK(count) + extra doubles: [0] norm, [1] coef). */
static double *tt__bk_grad_norm(tt_ctx *ctx, const char *op, tt_tensor **list, int count, int kind, int lamb, double max_norm,
                                size_t extra) {
    tt_backend_call c;
    double *w = (double *)tt__scratch(ctx, op, sizeof(double) * (TT_BACKEND_NORM_WORK(count) + extra));
    if (!w) return NULL;
    memset(&c, 0, sizeof c);
    c.op = TT_BOP_GRAD_NORM;
    c.p[0] = list; c.p[1] = w;
    c.i[0] = count; c.i[1] = kind; c.i[2] = lamb;
    c.f[0] = (float)max_norm;
    c.f[1] = (float)(max_norm - (double)c.f[0]); /* f[0] + f[1] == max_norm to about 48 bits */
    if (max_norm == INFINITY) c.f[1] = 0.0f;
    return ctx->backend->run(ctx, &c) == TT_OK ? w : NULL;
}

/* index_select on the backend: x viewed as (outer, len, inner), the positions sorted by index
   into segments as for the embedding (so the backward is a segment sum per (outer, index,
   column): no atomics, the CPU's order). */
static tt_tensor *tt__bk_index_select(tt_ctx *ctx, tt_tensor *y, tt_tensor *x, int axis, const int *ids, size_t count) {
    const char *op = "index_select";
    size_t num = (size_t)x->shape[axis], i, nseg = 0, mark, inner = tt_shape_numel(x->ndim - axis - 1, x->shape + axis + 1);
    size_t outer = tt_shape_numel(axis, x->shape);
    int *buf, *order, *seg_start, *seg_id, *cnt;
    tt_backend_call c;
    if (outer * inner > 0x7fffffff) { tt__fail(ctx, TT_ERR_UNSUPPORTED, "%s: input %S too large for the backend", op, x); return NULL; }
    buf = (int *)tt__scratch(ctx, op, sizeof(int) * (3 * count + 2 + (count < num ? count : num)));
    if (!buf) return NULL;
    order = buf + count; seg_start = order + count; seg_id = seg_start + count + 1;
    if (count) memcpy(buf, ids, sizeof(int) * count);
    mark = ctx->scratch.used;
    cnt = (int *)tt__scratch(ctx, op, sizeof(int) * (num + 1)); /* temporary: given back below */
    if (!cnt) return NULL;
    memset(cnt, 0, sizeof(int) * (num + 1));
    for (i = 0; i < count; i++) cnt[ids[i] + 1]++;
    for (i = 0; i < num; i++) cnt[i + 1] += cnt[i];
    for (i = 0; i < num; i++)
        if (cnt[i + 1] > cnt[i]) { seg_start[nseg] = cnt[i]; seg_id[nseg] = (int)i; nseg++; }
    seg_start[nseg] = (int)count;
    for (i = 0; i < count; i++) order[cnt[ids[i]]++] = (int)i;
    ctx->scratch.used = mark;
    if (tt__bk_push(ctx, buf, sizeof(int) * (3 * count + 1 + nseg)) != TT_OK) return NULL;
    memset(&c, 0, sizeof c);
    c.op = TT_BOP_INDEX_SELECT;
    c.in[0] = x;
    c.i[0] = (int)count; c.i[1] = (int)inner; c.i[2] = (int)nseg; c.i[3] = (int)outer;
    c.p[0] = buf;
    return tt__bk_forward(ctx, y, &c);
}

#if !defined(TT_CUDA) && (defined(__GNUC__) || defined(__clang__)) && defined(__ELF__)
/* without TT_CUDA: a weak reference, non-NULL when tinytrain_cuda.cu is linked anyway (file
   scope: g++ ignores the attribute on a block-scope redeclaration) */
extern tt_result tt_cuda_attach(tt_ctx *ctx, int device) __attribute__((weak));
#define TT__CUDA_WEAK 1
#endif
TT__DEF tt_result tt_ctx_use_gpu(tt_ctx *ctx, int device) {
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (ctx->anomaly) return tt__fail(ctx, TT_ERR_UNSUPPORTED, "tt_ctx_use_gpu: anomaly mode does not run on the GPU; turn it off first");
#ifdef TT_CUDA
    return tt_cuda_attach(ctx, device);
#else
#ifdef TT__CUDA_WEAK
    if (tt_cuda_attach) return tt_cuda_attach(ctx, device);
#endif
    (void)device;
    return tt__fail(ctx, TT_ERR_UNSUPPORTED, "tt_ctx_use_gpu: this build has no GPU backend (compile tinytrain_cuda.cu "
                                             "with nvcc, link it, and define TT_CUDA where the implementation is compiled)");
#endif
}
#undef TT__CUDA_WEAK

static tt_result tt__to_host(tt_ctx *ctx, const char *op, const tt_tensor *t, const float *src, float *dst, size_t n) {
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!t || !dst) return tt__fail(ctx, TT_ERR_INVALID_ARGS, "%s: tensor or destination is NULL", op);
    if (!src) return tt__fail(ctx, TT_ERR_STATE, "%s: tensor %S has no gradient", op, t);
    if (n != t->numel) return tt__fail(ctx, TT_ERR_SHAPE, "%s: room for %z floats, tensor %S has %z", op, n, t, t->numel);
    if (!n) return TT_OK;
    if (!ctx->backend) { memcpy(dst, src, n * sizeof(float)); return TT_OK; }
    return ctx->backend->download(ctx, dst, src, n * sizeof(float));
}
TT__DEF tt_result tt_tensor_to_host(tt_ctx *ctx, const tt_tensor *t, float *dst, size_t n) {
    return tt__to_host(ctx, "tt_tensor_to_host", t, t ? t->data : NULL, dst, n);
}
TT__DEF tt_result tt_tensor_grad_to_host(tt_ctx *ctx, const tt_tensor *t, float *dst, size_t n) {
    return tt__to_host(ctx, "tt_tensor_grad_to_host", t, t ? t->grad : NULL, dst, n);
}

TT__DEF tt_result tt_ctx_params_to_host(tt_ctx *ctx) {
    tt_result r = TT_OK;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (!ctx->backend) return TT_OK;
    if (ctx->n_params) {
        r = ctx->backend->download(ctx, ctx->param_data, ctx->param_data, ctx->n_params * sizeof(float));
        if (r == TT_OK) r = ctx->backend->download(ctx, ctx->param_grad, ctx->param_grad, ctx->n_params * sizeof(float));
    }
    if (r == TT_OK && ctx->persist.used) r = ctx->backend->download(ctx, ctx->persist.base, ctx->persist.base, ctx->persist.used);
    return r;
}

TT__DEF tt_result tt_backend_fail(tt_ctx *ctx, tt_result code, const char *msg) {
    if (!ctx) return code;
    return tt__fail(ctx, code, "%s", msg ? msg : "");
}


/* ==================================================================================== >>end
   Private macros end here, so none leaks into the including file. */
#undef TT__ALIGN
#undef TT__CK_VERSION
#undef TT__CK_HEADER
#undef TT__TAG
#undef TT__SCHED_REC
#undef TT__SCHED_DEPTH
#undef TT__CKFAIL
#undef TT__STFAIL
#undef TT__ST_MAX_DEPTH
#undef TT__ST_NDTYPES
#undef TT__POSIX_FILES
#undef TT__ALOAD
#undef TT__ASTORE
#undef TT__DEF
#undef TT__FP_FLUSH
#undef tt__fp_enter
#undef tt__fp_leave
#undef TT__GEMM_KC
#undef TT__GEMM_MAX_THREADS
#undef TT__GEMM_MC
#undef TT__GEMM_MC_DEFAULT
#undef TT__GEMM_MR_MAX
#undef TT__GEMM_NC
#undef TT__GEMM_NEON
#undef TT__GEMM_NR_MAX
#undef TT__POOL_SPIN
#undef TT__POOL_MAX_PARTS
#undef TT__POOL_WORD
#undef TT__PAR_MIN_CHEAP
#undef TT__PAR_MIN_COSTLY
#undef TT__GEMM_STACK_FLOATS
#undef TT__GEMM_X86
#undef TT__INF_FAST
#undef TT__KEEP
#undef TT__INF_WIN
#undef TT__MAX
#undef TT__MAX_IN
#undef TT__MAYBE_UNUSED
#undef TT__GEN_PERSIST
#undef TT__MIN
#undef TT__OPTIM_MAGIC
#undef TT__REPORT_LINE_MAX
#undef TT__REPORT_NAME_MAX
#undef TT__OPTIM_INIT_MARK
#undef TT__VEC
#undef TT__OPTIM_VERSION
#undef TT__OPTIM_HDR_BYTES
#undef TT__OPTIM_SCALARS_BYTES
#undef TT__PAUSE
#undef TT__S_MR
#undef TT__S_NR
#undef TT__TR8
#undef TT__VEC_SSE
#undef TT__EMULATE_AVX512

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
