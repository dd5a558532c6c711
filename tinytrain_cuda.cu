/* tinytrain_cuda.cu - tinytrain's training on an NVIDIA GPU - MIT or public domain (as tinytrain.h)

   WHAT THIS IS
       The optional CUDA companion of tinytrain.h. Compile it with nvcc, link it, and one call puts
       a context on the GPU; the same C training code (the same tt_* calls, the same tape, the
       same optimizers) then runs there. Tensor headers, shapes, the tape and every error check
       stay in tinytrain.h; this file only decides where the floats live and which kernel runs.

   BUILD
       nvcc -O2 -arch=sm_80 -fmad=false -c tinytrain_cuda.cu              (or sm_90, ...)
       cc -O2 -DTT_CUDA -c main.c        (main.c: #define TINYTRAIN_IMPLEMENTATION, #include "tinytrain.h")
       nvcc -o main main.o tinytrain_cuda.o                               (links cudart)
     TT_CUDA, defined where the implementation is compiled, makes tt_ctx_use_gpu call this file;
     without it tt_ctx_use_gpu returns TT_ERR_UNSUPPORTED (with GCC or Clang on ELF systems it
     finds this file through a weak reference when it is linked, TT_CUDA or not). -DTT_CUDA_CUBLAS (here, plus -lcublas)
     adds the cuBLAS matrix multiply, used only after tt_cuda_use_cublas(ctx, 1).
     -fmad=false stops nvcc from fusing a*b+c in the element-wise kernels, so that they round as
     the header's scalar loops do (the matrix multiply uses explicit fmaf either way).

   USE
       tt_ctx_init(&ctx, &desc); create parameters, initialise them, tt_optim_init(...);
       if (tt_ctx_use_gpu(&ctx, 0) != TT_OK) puts(tt_error_message(&ctx));
       each step: tt_scratch_reset, tt_tensor_from (uploads the batch through pinned staging),
           forward, loss, tt_zero_grad, tt_backward, tt_optim_step  -- all on the GPU;
       tt_tensor_to_host(&ctx, loss, &v, 1) reads the loss (the one synchronisation of a step);
       tt_ctx_params_to_host(&ctx) before reading parameter values on the host (checkpoints).
     tt_ctx_use_gpu copies the context's whole memory block to a device block of the same size:
     parameters, gradients, optimizer state and scratch sit at the same offsets as on the host
     (zeroing gradients and optimizer steps stay flat kernels). The host block keeps the tensor
     headers and the tape; its float data is a stale shadow until a download refreshes it.

   WHAT RUNS ON THE GPU (everything else fails with TT_ERR_UNSUPPORTED naming the op)
       ops:        tt_linear, tt_relu, tt_gelu, tt_gelu_tanh, tt_sum, tt_add / tt_sub / tt_mul / tt_div (broadcasting),
                   tt_softmax, tt_log_softmax (any axis), tt_layernorm, tt_embedding (backward:
                   sorted segment sums, no atomics)
                   tt_conv1d, tt_conv2d (every option the CPU op takes: stride, padding,
                   dilation, groups, bias or none; im2col + the tiled SGEMM), tt_max_pool1d/2d,
                   tt_avg_pool1d/2d, tt_adaptive_avg_pool2d, tt_global_avg_pool2d (every
                   option; backward gathers, no atomics), tt_batchnorm
                   (training with the running statistics updated as torch: momentum, unbiased
                   variance; eval; track_running_stats 0; affine 0), and the views (tt_reshape,
                   tt_flatten, ...: their backward adds on the device)
       losses:     tt_cross_entropy with class indices, (N, C) input, MEAN or SUM, no class
                   weights, no label smoothing (ignore_index is honoured)
       optimizers: SGD (momentum, dampening, nesterov, weight decay), Adam, AdamW (amsgrad too),
                   RMSprop, Adagrad, Lion; tt_sgd_step_simple. Not: skip_nonfinite.
       transformer (>>transformer): tt_rmsnorm; tt_attention / tt_attention_ex (causal or not:
                   the tiled SGEMM per head for Q K^T and P V, a warp-per-row masked softmax);
                   tt_dropout (Philox4x32-10 masks, recomputed in the backward); tt_permute,
                   tt_transpose, tt_slice (strided copies) and the tt_reshape / tt_flatten views;
                   tt_clip_grad_norm (norm_type 1, 2, INFINITY); the LAMB optimizer (all its
                   options); tt_index_select along any axis (backward: sorted segment sums, no
                   atomics). So tt_nn_block and bench_train's transformer run on the GPU.
       memory:     tt_tensor_new/from, tt_scalar, tt_param, tt_buffer, tt_init_*, tt_tensor_set,
                   tt_zero_grad, tt_backward, tt_tensor_to_host, tt_ctx_params_to_host,
                   tt_optim_state_save / _load (download / upload the state).
       Not on the GPU (TT_ERR_UNSUPPORTED): anomaly mode, tt_clip_grad_value, tt_clip_grad_norm
       with another norm_type, tt_gradcheck, and every op, loss and optimizer not listed above
       (among the CNN ops: tt_groupnorm).
     Kernels here without a header op wired to them yet: the tiled SGEMM is also exported for
     raw device pointers (tt_cuda_sgemm_raw, used by the benchmark).

   DETERMINISM
       No float atomics anywhere: every sum runs in a fixed order that does not depend on the
       launch configuration or on timing, so the same inputs give the same bits run to run.
       The SGEMM accumulates every C element over k in increasing order with fmaf (the CPU's
       AVX2 kernel also uses FMA but in another order: results agree to float32 rounding, not
       bit for bit). Reductions (cross-entropy, sum) are fixed trees. Batch norm statistics
       and conv bias gradients are per-channel sums in double (fixed block trees), as the CPU
       sums in double; pooling and col2im backward gather in the CPU's order (same bits). Bias gradients are column
       sums in row order, like the CPU's. Optimizer updates are the header's formulas.
       TF32 is never used unless asked for (tt_cuda_set_tf32), as PyTorch's default.
       Gradient norms (clipping, LAMB) add in double in a fixed shape: 64 partial sums per
       tensor, then one block over all of them. Dropout's mask of element i is a function of
       (key, i) alone (Philox4x32-10, a counter-based generator), so it does not depend on the
       grid; the key is drawn from the context RNG, so a seed fixes every mask.

   ERRORS
       Every CUDA error becomes a tinytrain error on the context (sticky, like every other):
       cudaErrorMemoryAllocation -> TT_ERR_OUT_OF_MEMORY, no device / driver -> TT_ERR_UNSUPPORTED,
       anything else -> TT_ERR_STATE, with the CUDA error string in the message. Nothing exits
       or prints. Kernel faults are reported at the next synchronisation (a download).

   HOW IT IS TESTED (no GPU needed)
       tests/cuda/harness.h compiles this file as C++ with a CPU shim for the CUDA built-ins:
       every GPU thread is a fiber, __syncthreads is a real barrier, warp shuffles exchange among
       groups of 32, blocks run one by one with the threads in forward, reverse or shuffled order;
       shared memory is bounds-checked and race-checked. tests/test_cuda_harness.cc (in make test)
       checks each kernel against tinytrain.h's CPU code on odd sizes and a few training steps
       against the CPU's losses, and shows that the harness catches a missing __syncthreads and
       an out-of-bounds shared index. On a GPU, tests/cuda/run_on_gpu.sh builds, tests, runs
       compute-sanitizer and the benchmarks.

   READING ORDER
       >>portability (one launch macro for nvcc and the harness), >>gemm (the tiled SGEMM),
       >>elementwise, >>reduce (warp shuffles), >>xent, >>optim, >>transformer (rmsnorm,
       strided copies, attention, Philox dropout, gradient norms, LAMB), >>backend (the seam).
       >>cnn: convolution, pooling, batch norm (their host side: ttg__cnn_run in >>backend). */

#include "tinytrain.h"
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

/* ==================================================================================== >>portability
   The same source runs under nvcc and under the CPU harness (tests/cuda/harness.h, which defines
   TT_CUDA_HARNESS and provides the built-ins and runtime calls used below). */
#ifdef TT_CUDA_HARNESS
#define TT_LAUNCH(kernel, grid, block, stream, ...) ((void)(stream), tth::launch(grid, block, kernel, __VA_ARGS__))
#define TT_SHARED(T, name, n) static tth::SharedArray<T, (size_t)(n)> name(#name)
#define TT_LDS4(arr, i) (arr).ld4(i)
static inline float4 ttg__ld4(const float *p) {
    if (((uintptr_t)p & 15) != 0) tth::set_fault("misaligned 16-byte global load");
    return make_float4(p[0], p[1], p[2], p[3]);
}
#else
#include <cuda_runtime.h>
#ifdef TT_CUDA_CUBLAS
#include <cublas_v2.h>
#endif
#define TT_LAUNCH(kernel, grid, block, stream, ...) kernel<<<grid, block, 0, stream>>>(__VA_ARGS__)
#define TT_SHARED(T, name, n) __shared__ __align__(16) T name[n]
#define TT_LDS4(arr, i) (*reinterpret_cast<const float4 *>(&(arr)[i]))
static __device__ __forceinline__ float4 ttg__ld4(const float *p) { return *reinterpret_cast<const float4 *>(p); }
#endif

#define TTG__FULL 0xffffffffu
#define TTG__THREADS 256 /* threads per block of the element-wise and reduction kernels */

static unsigned ttg__blocks(size_t n) { /* blocks for a grid-stride loop over n elements */
    size_t b = (n + TTG__THREADS - 1) / TTG__THREADS;
    return (unsigned)(b < 1 ? 1 : b > 4096 ? 4096 : b);
}

/* ==================================================================================== >>gemm
   C = alpha * op(A) * op(B) + beta * C, row-major, op(X) = X or X^T.

   Each block computes a 128 x 128 tile of C with 256 threads (8 warps); K is walked in slices of
   8. For every slice the block copies the 128 x 8 slice of op(A) and the 8 x 128 slice of op(B)
   into shared memory (16-byte global loads where rows are 16-byte aligned, element loads with
   zero fill at the edges), waits (__syncthreads), and every thread multiplies out of shared
   memory into an 8 x 8 block of registers (register blocking: 16 floats loaded per 64 FMAs).

   Warp tiling: warp w owns a 32 x 64 region of the tile (4 warps down, 2 across); inside it lane
   l owns rows {lm*4..lm*4+3, 16+lm*4..} and columns {ln*4..ln*4+3, 32+ln*4..} (lm = l/8,
   ln = l%8), so a warp's 16-byte shared loads hit 8 distinct addresses of B (no bank conflicts)
   and 4 of A (broadcasts). Both slices are stored k-major (S[k * 128 + row]), so those loads
   are contiguous whatever the transposes were.

   Each C element is summed over k in increasing order with fmaf: fixed, launch-independent. */
enum { TTG__GM = 128, TTG__GN = 128, TTG__GK = 8, TTG__GT = 256 };

/* Copy the TTG__GK x 128 slice of op(X) starting at row r0, column k0 into s[k * 128 + r].
   Element (r, k) of op(X) is X[r * ld + k] when k runs along memory (kc), else X[k * ld + r].
   vec: X is 16-byte aligned and ld a multiple of 4, so 4 consecutive floats can be one load. */
template <class SH>
static __device__ void ttg__gemm_load(SH &s, const float *X, int ld, int R, int K, int r0, int k0, int kc, int vec) {
    int t = (int)threadIdx.x, j;
    float v[4];
    if (kc) { /* thread t: row t/2, k = 4 consecutive from (t%2)*4 */
        int r = t >> 1, kk = (t & 1) * 4, gr = r0 + r, gk = k0 + kk;
        if (vec && gr < R && gk + 3 < K) {
            float4 q = ttg__ld4(X + (size_t)gr * ld + gk);
            v[0] = q.x; v[1] = q.y; v[2] = q.z; v[3] = q.w;
        } else {
            for (j = 0; j < 4; j++) v[j] = (gr < R && gk + j < K) ? X[(size_t)gr * ld + gk + j] : 0.0f;
        }
        for (j = 0; j < 4; j++) s[(kk + j) * TTG__GM + r] = v[j];
    } else { /* thread t: k = t/32, rows 4 consecutive from (t%32)*4 */
        int kk = t >> 5, r = (t & 31) * 4, gk = k0 + kk, gr = r0 + r;
        if (vec && gk < K && gr + 3 < R) {
            float4 q = ttg__ld4(X + (size_t)gk * ld + gr);
            v[0] = q.x; v[1] = q.y; v[2] = q.z; v[3] = q.w;
        } else {
            for (j = 0; j < 4; j++) v[j] = (gk < K && gr + j < R) ? X[(size_t)gk * ld + gr + j] : 0.0f;
        }
        for (j = 0; j < 4; j++) s[kk * TTG__GM + r + j] = v[j];
    }
}

static __global__ void __launch_bounds__(256)
ttg__sgemm_kernel(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, int va, const float *B,
                 int ldb, int vb, float beta, float *C, int ldc) {
    TT_SHARED(float, As, TTG__GK * TTG__GM);
    TT_SHARED(float, Bs, TTG__GK * TTG__GN);
    int t = (int)threadIdx.x, w = t >> 5, l = t & 31;
    int rowA = (w >> 1) * 32 + (l >> 3) * 4; /* this thread's rows: rowA+0..3, rowA+16..19 */
    int colB = (w & 1) * 64 + (l & 7) * 4;   /* its columns: colB+0..3, colB+32..35 */
    int m0 = (int)blockIdx.y * TTG__GM, n0 = (int)blockIdx.x * TTG__GN, k0, kk, i, j;
    float acc[8][8];
    for (i = 0; i < 8; i++)
        for (j = 0; j < 8; j++) acc[i][j] = 0.0f;
    for (k0 = 0; k0 < K; k0 += TTG__GK) {
        /* op(A) rows are M, contiguous along k unless transposed; op(B)^T rows are N,
           contiguous along k only when B is transposed */
        ttg__gemm_load(As, A, lda, M, K, m0, k0, !ta, va);
        ttg__gemm_load(Bs, B, ldb, N, K, n0, k0, tb, vb);
        __syncthreads();
        for (kk = 0; kk < TTG__GK; kk++) {
            float4 a0 = TT_LDS4(As, kk * TTG__GM + rowA), a1 = TT_LDS4(As, kk * TTG__GM + rowA + 16);
            float4 b0 = TT_LDS4(Bs, kk * TTG__GN + colB), b1 = TT_LDS4(Bs, kk * TTG__GN + colB + 32);
            float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
            float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
            for (i = 0; i < 8; i++)
                for (j = 0; j < 8; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads(); /* everyone is done reading before the next slice overwrites */
    }
    for (i = 0; i < 8; i++) {
        int gi = m0 + rowA + (i < 4 ? i : 12 + i);
        if (gi >= M) continue;
        for (j = 0; j < 8; j++) {
            int gj = n0 + colB + (j < 4 ? j : 28 + j);
            if (gj < N) {
                float *c = C + (size_t)gi * ldc + gj;
                *c = beta == 0.0f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * *c;
            }
        }
    }
}

/* C = beta * C (k == 0 or alpha == 0: A and B are not read, as in BLAS); beta 0 writes zeros */
static __global__ void ttg__scale_matrix(int M, int N, float beta, float *C, int ldc) {
    size_t n = (size_t)M * N, i;
    for (i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float *c = C + (i / (size_t)N) * ldc + i % (size_t)N;
        *c = beta == 0.0f ? 0.0f : beta * *c;
    }
}

static cudaError_t ttg__sgemm_launch(cudaStream_t st, int ta, int tb, int m, int n, int k, float alpha, const float *a,
                                    int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0) return cudaSuccess;
    if (k <= 0 || alpha == 0.0f) {
        TT_LAUNCH(ttg__scale_matrix, dim3(ttg__blocks((size_t)m * n)), dim3(TTG__THREADS), st, m, n, beta, c, ldc);
    } else {
        dim3 grid((unsigned)((n + TTG__GN - 1) / TTG__GN), (unsigned)((m + TTG__GM - 1) / TTG__GM));
        int va = (lda % 4 == 0) && ((uintptr_t)a % 16 == 0), vb = (ldb % 4 == 0) && ((uintptr_t)b % 16 == 0);
        TT_LAUNCH(ttg__sgemm_kernel, grid, dim3(TTG__GT), st, ta, tb, m, n, k, alpha, a, lda, va, b, ldb, vb, beta, c, ldc);
    }
    return cudaGetLastError();
}

/* ==================================================================================== >>elementwise
   Grid-stride loops: thread i handles i, i + (all threads), ...; the result of each element does
   not depend on which thread computed it. */

static __global__ void ttg__relu_fwd(float *y, const float *x, size_t n) {
    size_t i;
    for (i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}
static __global__ void ttg__relu_bwd(float *gx, const float *x, const float *gy, size_t n) {
    size_t i;
    for (i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        if (x[i] > 0.0f) gx[i] += gy[i];
}
/* gelu, exact (erf) or tanh form, as torch.nn.functional.gelu; backward recomputes from x */
#define TTG__SQRT1_2 0.70710678118654752440f      /* 1/sqrt(2) */
#define TTG__INV_SQRT_2PI 0.39894228040143267794f /* 1/sqrt(2 pi) */
#define TTG__SQRT_2_PI 0.79788456080286535588f    /* sqrt(2/pi) */
#define TTG__GELU_KAPPA 0.044715f
static __global__ void ttg__gelu_fwd(float *y, const float *x, size_t n, int tanh_form) {
    size_t i;
    for (i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float v = x[i];
        y[i] = tanh_form ? 0.5f * v * (1.0f + tanhf(TTG__SQRT_2_PI * (v + TTG__GELU_KAPPA * v * v * v)))
                         : 0.5f * v * (1.0f + erff(v * TTG__SQRT1_2));
    }
}
static __global__ void ttg__gelu_bwd(float *gx, const float *x, const float *gy, size_t n, int tanh_form) {
    size_t i;
    for (i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float v = x[i], d;
        if (tanh_form) {
            float t = tanhf(TTG__SQRT_2_PI * (v + TTG__GELU_KAPPA * v * v * v));
            d = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * TTG__SQRT_2_PI * (1.0f + 3.0f * TTG__GELU_KAPPA * v * v);
        } else {
            d = 0.5f * (1.0f + erff(v * TTG__SQRT1_2)) + v * expf(-0.5f * v * v) * TTG__INV_SQRT_2PI; /* Phi + x phi */
        }
        gx[i] += gy[i] * d;
    }
}
/* dst += src */
static __global__ void ttg__add_into(float *dst, const float *src, size_t n) {
    size_t i;
    for (i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) dst[i] += src[i];
}
/* dst[i] += *g (the gradient of a sum is its output gradient everywhere) */
static __global__ void ttg__add_scalar_from(float *dst, const float *g, size_t n) {
    size_t i;
    for (i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) dst[i] += g[0];
}
/* y (rows, cols) = b broadcast over rows: the bias of tt_linear before the product is added */
static __global__ void ttg__fill_rows(float *y, const float *b, int rows, int cols) {
    size_t n = (size_t)rows * cols, i;
    for (i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) y[i] = b[i % (size_t)cols];
}
/* out[j] += sum over r of g[r * cols + j], r in increasing order (the CPU's order: same bits).
   One thread per column; neighbouring threads read neighbouring floats (coalesced). */
static __global__ void ttg__colsum_add(float *out, const float *g, int rows, int cols) {
    int j = (int)(blockIdx.x * blockDim.x + threadIdx.x), r;
    float s;
    if (j >= cols) return;
    s = out[j];
    for (r = 0; r < rows; r++) s += g[(size_t)r * cols + j];
    out[j] = s;
}

/* ---- broadcasting binary ops: add, sub, mul, div (NumPy rules, as tt_add) ----
   The shapes of a and b are right-aligned with the output's nd dims; a dim of size 1 is
   broadcast (its stride is 0). Forward: one thread per output element. Backward: one thread
   per INPUT element, which adds up the gradients of every output element it was broadcast to,
   in increasing output order (the CPU's order): no atomics, and a broadcast bias's gradient is
   as deterministic as everything else. */
typedef struct ttg__bshape {
    int nd, kind;                 /* kind: 0 add, 1 sub, 2 mul, 3 div */
    long long shape[TT_MAX_DIMS]; /* output shape */
    long long sa[TT_MAX_DIMS], sb[TT_MAX_DIMS]; /* element strides of a and b per output dim (0: broadcast) */
} ttg__bshape;

static __device__ __forceinline__ float ttg__bin(int kind, float a, float b) {
    return kind == 0 ? a + b : kind == 1 ? a - b : kind == 2 ? a * b : a / b;
}

static __global__ void ttg__binary_fwd(ttg__bshape s, float *y, const float *a, const float *b, size_t n) {
    size_t i;
    for (i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i, oa = 0, ob = 0;
        int d;
        for (d = s.nd - 1; d >= 0; d--) { /* unravel the output index, innermost dim first */
            size_t c = r % (size_t)s.shape[d];
            r /= (size_t)s.shape[d];
            oa += c * (size_t)s.sa[d];
            ob += c * (size_t)s.sb[d];
        }
        y[i] = ttg__bin(s.kind, a[oa], b[ob]);
    }
}

/* gx += d(out)/d(x) * gy for input x (which = 0: a, 1: b) of numel nx */
static __global__ void ttg__binary_bwd(ttg__bshape s, int which, float *gx, const float *gy, const float *a, const float *b,
                                       size_t nx) {
    const long long *sx = which ? s.sb : s.sa;
    size_t e;
    for (e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < nx; e += (size_t)gridDim.x * blockDim.x) {
        long long fixed[TT_MAX_DIMS];
        size_t r = e, count = 1, k;
        int d;
        float acc = gx[e];
        for (d = s.nd - 1; d >= 0; d--) { /* x's own coordinates (its broadcast dims have size 1) */
            long long size = sx[d] ? s.shape[d] : 1;
            fixed[d] = (long long)(r % (size_t)size);
            r /= (size_t)size;
            if (!sx[d]) count *= (size_t)s.shape[d];
        }
        for (k = 0; k < count; k++) { /* every output element x was broadcast to, in increasing order */
            size_t q = k, o = 0, stride = 1, oa = 0, ob = 0;
            float av, bv, g, dd;
            for (d = s.nd - 1; d >= 0; d--) {
                long long c = fixed[d];
                if (!sx[d]) { c = (long long)(q % (size_t)s.shape[d]); q /= (size_t)s.shape[d]; }
                o += (size_t)c * stride;
                stride *= (size_t)s.shape[d];
                oa += (size_t)c * (size_t)s.sa[d];
                ob += (size_t)c * (size_t)s.sb[d];
            }
            av = a[oa]; bv = b[ob]; g = gy[o];
            switch (s.kind) { /* tt__bin_df */
            case 0: dd = 1.0f; break;
            case 1: dd = which ? -1.0f : 1.0f; break;
            case 2: dd = which ? av : bv; break;
            default: dd = which ? -av / (bv * bv) : 1.0f / bv; break;
            }
            acc += g * dd;
        }
        gx[e] = acc;
    }
}

/* ==================================================================================== >>reduce
   Sums with warp primitives: a warp adds its 32 values in 5 shuffle steps (lane i takes lane
   i+16's value, then i+8's, ...); a block combines its warps' sums through shared memory. */

static __device__ __forceinline__ float ttg__warp_sum(float v) {
    int o;
    for (o = 16; o > 0; o >>= 1) v += __shfl_down_sync(TTG__FULL, v, o);
    return v; /* complete in lane 0 */
}
/* max that keeps NaN (fmaxf would drop it): a NaN logit makes the row NaN, as on the CPU */
static __device__ __forceinline__ float ttg__nanmax(float m, float v) { return (v > m || v != v) ? v : m; }
static __device__ __forceinline__ float ttg__warp_max_all(float v) {
    int o;
    for (o = 16; o > 0; o >>= 1) v = ttg__nanmax(v, __shfl_xor_sync(TTG__FULL, v, o));
    return v; /* in every lane */
}
static __device__ __forceinline__ float ttg__warp_sum_all(float v) {
    int o;
    for (o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(TTG__FULL, v, o);
    return v;
}

/* out[0] = (sum of v[0..n)) / div, by one block of TTG__THREADS threads: thread t adds v[t],
   v[t + 256], ... in order, warps reduce by shuffles, warp 0 adds the 8 warp sums. */
static __global__ void __launch_bounds__(256) ttg__sum_div(float *out, const float *v, size_t n, float div) {
    TT_SHARED(float, part, TTG__THREADS / 32);
    int t = (int)threadIdx.x;
    size_t i;
    float s = 0.0f;
    for (i = (size_t)t; i < n; i += TTG__THREADS) s += v[i];
    s = ttg__warp_sum(s);
    if ((t & 31) == 0) part[t >> 5] = s;
    __syncthreads();
    if (t < 32) {
        s = t < TTG__THREADS / 32 ? (float)part[t] : 0.0f;
        s = ttg__warp_sum(s);
        if (t == 0) out[0] = s / div;
    }
}

/* ==================================================================================== >>xent
   Cross-entropy with class indices on (N, C) logits: one warp per row. The warp finds the row's
   max and sum of exp(x - max) by shuffles (log-sum-exp, max-subtracted as the CPU does), lane 0
   writes the row's loss; ttg__sum_div then reduces the rows in a fixed order. The backward
   recomputes the softmax (nothing saved) and writes (p - onehot) * dL/dloss / div. */

static __global__ void ttg__xent_rows(float *loss, const float *x, const int *tgt, int N, int C, int ignore) {
    int row = (int)((blockIdx.x * blockDim.x + threadIdx.x) >> 5), lane = (int)(threadIdx.x & 31), c;
    const float *xr;
    float m = -INFINITY, s = 0.0f;
    if (row >= N) return; /* whole warps only: N rows need ceil(N/8) blocks of 8 warps */
    xr = x + (size_t)row * C;
    for (c = lane; c < C; c += 32) m = ttg__nanmax(m, xr[c]);
    m = ttg__warp_max_all(m);
    for (c = lane; c < C; c += 32) s += expf(xr[c] - m);
    s = ttg__warp_sum_all(s);
    if (lane == 0) {
        int t = tgt[row];
        loss[row] = t == ignore ? 0.0f : (m + logf(s)) - xr[t];
    }
}

static __global__ void ttg__xent_bwd(float *dx, const float *x, const int *tgt, const float *gy, int N, int C, int ignore,
                                    float div) {
    int row = (int)((blockIdx.x * blockDim.x + threadIdx.x) >> 5), lane = (int)(threadIdx.x & 31), c, t;
    const float *xr;
    float m = -INFINITY, s = 0.0f, g;
    if (row >= N) return;
    t = tgt[row];
    g = gy[0] / div;
    if (t == ignore) return; /* no gradient at all, as torch and the CPU (zero even when every row is ignored) */
    xr = x + (size_t)row * C;
    for (c = lane; c < C; c += 32) m = ttg__nanmax(m, xr[c]);
    m = ttg__warp_max_all(m);
    for (c = lane; c < C; c += 32) s += expf(xr[c] - m);
    s = ttg__warp_sum_all(s);
    for (c = lane; c < C; c += 32) {
        float p = expf(xr[c] - m) / s;
        dx[(size_t)row * C + c] += g * (p - (c == t ? 1.0f : 0.0f));
    }
}

/* ---- softmax / log-softmax along any axis: rows of len elements, inner apart ----
   One warp per row (outer * inner rows): max and sum of exp by shuffles, as the cross-entropy.
   Backward: softmax  dx += y (dy - sum(dy y)); log-softmax  dx += dy - exp(y) sum(dy). */
static __global__ void ttg__softmax_fwd(float *y, const float *x, int rows, int len, int inner, int log_form) {
    int row = (int)((blockIdx.x * blockDim.x + threadIdx.x) >> 5), lane = (int)(threadIdx.x & 31), c;
    size_t base;
    float m = -INFINITY, s = 0.0f;
    if (row >= rows) return; /* whole warps */
    base = (size_t)(row / inner) * len * inner + (size_t)(row % inner);
    for (c = lane; c < len; c += 32) m = ttg__nanmax(m, x[base + (size_t)c * inner]);
    m = ttg__warp_max_all(m);
    for (c = lane; c < len; c += 32) s += expf(x[base + (size_t)c * inner] - m);
    s = ttg__warp_sum_all(s);
    for (c = lane; c < len; c += 32) {
        size_t at = base + (size_t)c * inner;
        y[at] = log_form ? (x[at] - m) - logf(s) : expf(x[at] - m) / s;
    }
}
static __global__ void ttg__softmax_bwd(float *dx, const float *y, const float *dy, int rows, int len, int inner, int log_form) {
    int row = (int)((blockIdx.x * blockDim.x + threadIdx.x) >> 5), lane = (int)(threadIdx.x & 31), c;
    size_t base;
    float s = 0.0f;
    if (row >= rows) return;
    base = (size_t)(row / inner) * len * inner + (size_t)(row % inner);
    for (c = lane; c < len; c += 32) {
        size_t at = base + (size_t)c * inner;
        s += log_form ? dy[at] : dy[at] * y[at];
    }
    s = ttg__warp_sum_all(s);
    for (c = lane; c < len; c += 32) {
        size_t at = base + (size_t)c * inner;
        dx[at] += log_form ? dy[at] - expf(y[at]) * s : y[at] * (dy[at] - s);
    }
}

/* ---- layer norm over the last m elements of each row ----
   Forward: one warp per row; mean, then the biased variance around it (two passes, as the CPU),
   y = (x - mean) * invstd * w + b; mean and invstd are kept for the backward.
   Backward: dx (warp per row) = invstd * (g - mean(g) - xhat * mean(g xhat)), g = dy * w;
   dw, db (thread per column) = column sums over rows of dy * xhat and dy, in row order. */
static __global__ void ttg__ln_fwd(float *y, float *stats, const float *x, const float *w, const float *b, int rows, int m,
                                   float eps) {
    int row = (int)((blockIdx.x * blockDim.x + threadIdx.x) >> 5), lane = (int)(threadIdx.x & 31), j;
    const float *xr;
    float s = 0.0f, q = 0.0f, mean, invstd;
    if (row >= rows) return;
    xr = x + (size_t)row * m;
    for (j = lane; j < m; j += 32) s += xr[j];
    mean = ttg__warp_sum_all(s) / (float)m;
    for (j = lane; j < m; j += 32) q += (xr[j] - mean) * (xr[j] - mean);
    invstd = 1.0f / sqrtf(ttg__warp_sum_all(q) / (float)m + eps);
    for (j = lane; j < m; j += 32)
        y[(size_t)row * m + j] = (xr[j] - mean) * invstd * (w ? w[j] : 1.0f) + (b ? b[j] : 0.0f);
    if (lane == 0) { stats[row] = mean; stats[rows + row] = invstd; }
}
static __global__ void ttg__ln_bwd_x(float *dx, const float *x, const float *w, const float *dy, const float *stats, int rows,
                                     int m) {
    int row = (int)((blockIdx.x * blockDim.x + threadIdx.x) >> 5), lane = (int)(threadIdx.x & 31), j;
    float sg = 0.0f, sgx = 0.0f, mean, invstd, mg, mgx;
    size_t base;
    if (row >= rows) return;
    base = (size_t)row * m;
    mean = stats[row]; invstd = stats[rows + row];
    for (j = lane; j < m; j += 32) {
        float g = dy[base + j] * (w ? w[j] : 1.0f);
        sg += g;
        sgx += g * ((x[base + j] - mean) * invstd);
    }
    mg = ttg__warp_sum_all(sg) / (float)m;
    mgx = ttg__warp_sum_all(sgx) / (float)m;
    for (j = lane; j < m; j += 32) {
        float xhat = (x[base + j] - mean) * invstd;
        dx[base + j] += invstd * (dy[base + j] * (w ? w[j] : 1.0f) - mg - xhat * mgx);
    }
}
static __global__ void ttg__ln_bwd_wb(float *dw, float *db, const float *x, const float *dy, const float *stats, int rows, int m) {
    int j = (int)(blockIdx.x * blockDim.x + threadIdx.x), r;
    if (j >= m) return;
    for (r = 0; r < rows; r++) {
        size_t at = (size_t)r * m + j;
        if (dw) dw[j] += dy[at] * ((x[at] - stats[r]) * stats[rows + r]);
        if (db) db[j] += dy[at];
    }
}

/* ---- embedding: gather forward, sorted segment sums backward ----
   The host sorted the positions by id (stable) into segments, one per distinct id; the backward
   has one thread per (segment, column) adding that id's gradient rows in increasing position
   order: every weight-gradient element is written by one thread, no atomics, the CPU's order. */
static __global__ void ttg__embed_fwd(float *y, const float *w, const int *ids, int count, int dim) {
    size_t n = (size_t)count * dim, i;
    for (i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = w[(size_t)ids[i / (size_t)dim] * dim + i % (size_t)dim];
}
static __global__ void ttg__embed_bwd(float *gw, const float *gy, const int *order, const int *seg_start, const int *seg_id,
                                      int nseg, int dim) {
    int seg = (int)blockIdx.y, j = (int)(blockIdx.x * blockDim.x + threadIdx.x), k;
    float acc;
    float *g;
    if (seg >= nseg || j >= dim) return;
    g = gw + (size_t)seg_id[seg] * dim + j;
    acc = *g;
    for (k = seg_start[seg]; k < seg_start[seg + 1]; k++) acc += gy[(size_t)order[k] * dim + j];
    *g = acc;
}

/* ==================================================================================== >>optim
   Fused updates: one kernel per optimizer reads the gradient and state of an element once and
   writes the parameter and state once. The formulas are the header's (>>optim), operation for
   operation; hyperparameters arrive precomputed by the host as the CPU loop computes them. */

typedef struct ttg__upd {
    float lr, wd, gsign, mom, damp1, eps;
    float w1, b1, b2, w2, step_size, bc2s, decay, alpha, wa, clr, init_acc;
    int first, nesterov, decoupled, amsgrad, centered, kind;
} ttg__upd;

static __device__ __forceinline__ float ttg__lerp_d(float a, float b, float w) {
    return (w < 0.5f && w > -0.5f) ? a + w * (b - a) : b - (b - a) * (1.0f - w);
}

static __global__ void ttg__update(ttg__upd u, float *x, const float *gp, float *s0, float *s1, float *s2, size_t n) {
    size_t i;
    for (i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float g = u.gsign * gp[i];
        switch (u.kind) {
        case TT_OPTIM_SGD:
            if (u.wd != 0) g = g + u.wd * x[i];
            if (u.mom != 0) {
                float b = u.first ? g : s0[i] * u.mom + u.damp1 * g; /* buffer = grad on step 1 */
                s0[i] = b;
                g = u.nesterov ? g + u.mom * b : b;
            }
            x[i] = x[i] + (-u.lr) * g;
            break;
        case TT_OPTIM_ADAM: case TT_OPTIM_ADAMW: {
            float m, v, den;
            if (u.wd != 0) {
                if (u.decoupled) x[i] *= u.decay;
                else g = g + u.wd * x[i];
            }
            m = s0[i] = ttg__lerp_d(s0[i], g, u.w1);
            v = s1[i] = s1[i] * u.b2 + u.w2 * (g * g);
            if (u.amsgrad) v = s2[i] = s2[i] > v ? s2[i] : v;
            den = sqrtf(v) / u.bc2s + u.eps;
            x[i] = x[i] + (-u.step_size) * m / den;
            break;
        }
        case TT_OPTIM_ADAGRAD: {
            float s;
            if (u.first) s0[i] = u.init_acc;
            if (u.wd != 0) g = g + u.wd * x[i];
            s = s0[i] = s0[i] + g * g;
            x[i] = x[i] + (-u.clr) * g / (sqrtf(s) + u.eps);
            break;
        }
        case TT_OPTIM_RMSPROP: {
            float v, avg;
            if (u.wd != 0) g = g + u.wd * x[i];
            v = s0[i] = s0[i] * u.alpha + u.wa * (g * g);
            if (u.centered) {
                float ga = s1[i] = ttg__lerp_d(s1[i], g, u.wa);
                avg = sqrtf(v + (-1.0f) * (ga * ga)) + u.eps;
            } else {
                avg = sqrtf(v) + u.eps;
            }
            if (u.mom > 0) {
                float b = s2[i] = s2[i] * u.mom + g / avg;
                x[i] = x[i] + (-u.lr) * b;
            } else {
                x[i] = x[i] + (-u.lr) * g / avg;
            }
            break;
        }
        case TT_OPTIM_LION: {
            float c = s0[i] * u.b1 + g * u.w1;
            x[i] = x[i] * u.decay;
            x[i] = x[i] + (-u.lr) * (float)((c > 0) - (c < 0));
            s0[i] = s0[i] * u.b2 + g * u.w2;
            break;
        }
        default: break;
        }
    }
}

/* ==================================================================================== >>transformer
   The transformer's pieces: rmsnorm, the strided copies behind permute / transpose / slice,
   causal attention, dropout with a counter-based RNG, and the deterministic gradient norm that
   gradient clipping and LAMB share. Like the rest of the file: no float atomics, every sum in a
   fixed order that depends on the sizes only. */

/* ---- rmsnorm over the last m elements of each row ----
   y = x * rstd * w with rstd = 1 / sqrt(mean(x^2) + eps); one warp per row, rstd kept.
   Backward: dx = rstd g - x rstd^3 sum(g x) / m with g = dy w (warp per row);
   dw = column sums over rows of dy x rstd, in row order (thread per column, the CPU's order). */
static __global__ void ttg__rms_fwd(float *y, float *rstd, const float *x, const float *w, int rows, int m, float eps) {
    int row = (int)((blockIdx.x * blockDim.x + threadIdx.x) >> 5), lane = (int)(threadIdx.x & 31), j;
    const float *xr;
    float q = 0.0f, rs;
    if (row >= rows) return; /* whole warps */
    xr = x + (size_t)row * m;
    for (j = lane; j < m; j += 32) q += xr[j] * xr[j];
    rs = 1.0f / sqrtf(ttg__warp_sum_all(q) / (float)m + eps);
    for (j = lane; j < m; j += 32) y[(size_t)row * m + j] = xr[j] * rs * (w ? w[j] : 1.0f);
    if (lane == 0) rstd[row] = rs;
}
static __global__ void ttg__rms_bwd_x(float *dx, const float *x, const float *w, const float *dy, const float *rstd, int rows,
                                      int m) {
    int row = (int)((blockIdx.x * blockDim.x + threadIdx.x) >> 5), lane = (int)(threadIdx.x & 31), j;
    size_t base;
    float dot = 0.0f, rs, k;
    if (row >= rows) return;
    base = (size_t)row * m;
    rs = rstd[row];
    for (j = lane; j < m; j += 32) dot += dy[base + j] * (w ? w[j] : 1.0f) * x[base + j];
    k = ttg__warp_sum_all(dot) / (float)m * rs * rs * rs;
    for (j = lane; j < m; j += 32) dx[base + j] += rs * dy[base + j] * (w ? w[j] : 1.0f) - x[base + j] * k;
}
static __global__ void ttg__rms_bwd_w(float *dw, const float *x, const float *dy, const float *rstd, int rows, int m) {
    int j = (int)(blockIdx.x * blockDim.x + threadIdx.x), r;
    float acc;
    if (j >= m) return;
    acc = dw[j];
    for (r = 0; r < rows; r++) acc += dy[(size_t)r * m + j] * x[(size_t)r * m + j] * rstd[r];
    dw[j] = acc;
}

/* ---- strided copies: permute, transpose, slice ----
   out[i0, i1, ...] = x[base + i0 st0 + i1 st1 + ...]; one thread per output element. The map is
   one-to-one (a permutation or a slice with step > 0), so the backward's scatter-add
   gx[place] += gy[i] has one writer per element: no atomics. */
typedef struct ttg__strides {
    int nd;
    long long shape[TT_MAX_DIMS], st[TT_MAX_DIMS], base;
} ttg__strides;

static __device__ __forceinline__ size_t ttg__strided_at(const ttg__strides &s, size_t i) {
    size_t at = (size_t)s.base;
    int d;
    for (d = s.nd - 1; d >= 0; d--) { /* unravel i over the output shape, innermost dim first */
        at += (i % (size_t)s.shape[d]) * (size_t)s.st[d];
        i /= (size_t)s.shape[d];
    }
    return at;
}
static __global__ void ttg__strided_fwd(ttg__strides s, float *y, const float *x, size_t n) {
    size_t i;
    for (i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) y[i] = x[ttg__strided_at(s, i)];
}
static __global__ void ttg__strided_bwd(ttg__strides s, float *gx, const float *gy, size_t n) {
    size_t i;
    for (i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) gx[ttg__strided_at(s, i)] += gy[i];
}

/* ---- attention: per (batch, head) h, P = softmax(scale Q K^T) with the causal mask, O = P V ----
   The two products of every head are the tiled SGEMM (>>gemm) on that head's slices; between
   them one kernel turns every score row into probabilities: a warp per row, max and sum of exp
   over the allowed keys 0..allowed-1 (all s, or i+1 for query i when causal), zeros after.
   Backward (as the CPU): dV += P^T dO, dP = dO V^T, dS = P (dP - rowsum(dP P)),
   dQ += scale dS K, dK += scale dS^T Q. */
static __global__ void ttg__attn_softmax(float *p, int rows, int t, int s, int causal) {
    int row = (int)((blockIdx.x * blockDim.x + threadIdx.x) >> 5), lane = (int)(threadIdx.x & 31), j, allowed;
    float *pr, m = -INFINITY, sum = 0.0f;
    if (row >= rows) return; /* whole warps */
    pr = p + (size_t)row * s;
    allowed = causal ? (row % t + 1 < s ? row % t + 1 : s) : s; /* row % t: the query's position */
    for (j = lane; j < allowed; j += 32) m = ttg__nanmax(m, pr[j]);
    m = ttg__warp_max_all(m);
    for (j = lane; j < allowed; j += 32) sum += expf(pr[j] - m);
    sum = ttg__warp_sum_all(sum);
    for (j = lane; j < s; j += 32) pr[j] = j < allowed ? expf(pr[j] - m) / sum : 0.0f;
}
/* dS = P (dP - sum(dP P)) in place over dP, rows of s (masked keys have P = 0: dS = 0) */
static __global__ void ttg__attn_dsoftmax(float *dp, const float *p, int rows, int s) {
    int row = (int)((blockIdx.x * blockDim.x + threadIdx.x) >> 5), lane = (int)(threadIdx.x & 31), j;
    size_t base;
    float dot = 0.0f;
    if (row >= rows) return;
    base = (size_t)row * s;
    for (j = lane; j < s; j += 32) dot += dp[base + j] * p[base + j];
    dot = ttg__warp_sum_all(dot);
    for (j = lane; j < s; j += 32) dp[base + j] = p[base + j] * (dp[base + j] - dot);
}

/* ---- dropout: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", 2011) ----
   A counter-based generator: 4 random words are a pure function of (counter, key), so element i's
   mask depends on the key and i alone, never on the launch configuration or on which thread ran
   it. Element i uses word i % 4 of counter (i / 4, 0, 0) under the call's 64-bit key (drawn from
   the context RNG by tt_dropout, so a seed fixes every mask). Kept when u = (word >> 8) 2^-24 in
   [0, 1) is >= p, as the CPU's uniform; kept values are scaled by 1 / (1 - p). The backward
   recomputes the mask from the key (nothing stored). */
typedef struct ttg__u4 { uint32_t v[4]; } ttg__u4;

static __device__ __forceinline__ ttg__u4 ttg__philox(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
    ttg__u4 r;
    int round;
    for (round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2; /* the two 32x32 -> 64 products */
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0, hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0; c1 = lo1; c2 = hi0 ^ c3 ^ k1; c3 = lo0;
        k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; /* the Weyl key schedule */
    }
    r.v[0] = c0; r.v[1] = c1; r.v[2] = c2; r.v[3] = c3;
    return r;
}
/* the dropout factor of element i: scale if kept, else 0 */
static __device__ __forceinline__ float ttg__dropout_factor(size_t i, uint32_t k0, uint32_t k1, float p, float scale) {
    size_t c = i >> 2;
    ttg__u4 r = ttg__philox((uint32_t)c, (uint32_t)((uint64_t)c >> 32), 0u, 0u, k0, k1);
    float u = (float)(r.v[i & 3] >> 8) * (1.0f / 16777216.0f);
    return u >= p ? scale : 0.0f;
}
static __global__ void ttg__dropout_fwd(float *y, const float *x, size_t n, uint32_t k0, uint32_t k1, float p, float scale) {
    size_t i;
    for (i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = x[i] * ttg__dropout_factor(i, k0, k1, p, scale);
}
static __global__ void ttg__dropout_bwd(float *gx, const float *gy, size_t n, uint32_t k0, uint32_t k1, float p, float scale) {
    size_t i;
    for (i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        gx[i] += gy[i] * ttg__dropout_factor(i, k0, k1, p, scale);
}

/* ---- gradient norms (tt_clip_grad_norm, LAMB): fixed-shape reductions in double ----
   A tensor of n elements gets nb = ttg__nparts(n) blocks (at most TTG__NPART = 64, a function of
   n alone) of TTG__THREADS threads: thread t of block b adds elements b*256 + t, + nb*256, ...
   in order, the block combines its threads by warp shuffles and a fixed tree, and writes one
   partial; block 0 also zeroes the tensor's unused slots up to 64. A single block then adds all
   partials (tensor after tensor) the same way. The result depends on the sizes only: the same
   bits every run. Double accumulation, as the CPU's tt__grad_norm. */
enum { TTG__NPART = 64 };
static unsigned ttg__nparts(size_t n) {
    size_t b = (n + TTG__THREADS - 1) / TTG__THREADS;
    return (unsigned)(b < 1 ? 1 : b > (size_t)TTG__NPART ? (size_t)TTG__NPART : b);
}
static __device__ __forceinline__ double ttg__comb(int kind, double a, double b) { /* kind 2: max that keeps NaN */
    return kind == 2 ? ((b > a || b != b) ? b : a) : a + b;
}
/* the block's TTG__THREADS values combined; complete in thread 0 */
template <class SH> static __device__ double ttg__block_comb(SH &part, double v, int kind) {
    int t = (int)threadIdx.x, o;
    for (o = 16; o > 0; o >>= 1) v = ttg__comb(kind, v, __shfl_down_sync(TTG__FULL, v, o));
    if ((t & 31) == 0) part[t >> 5] = v;
    __syncthreads();
    if (t < 32) {
        v = t < TTG__THREADS / 32 ? (double)part[t] : 0.0;
        for (o = 16; o > 0; o >>= 1) v = ttg__comb(kind, v, __shfl_down_sync(TTG__FULL, v, o));
    }
    return v;
}
static __global__ void __launch_bounds__(256) ttg__norm_part(double *out, const float *g, size_t n, int kind) {
    TT_SHARED(double, part, TTG__THREADS / 32);
    size_t i;
    double acc = 0.0;
    for (i = blockIdx.x * (size_t)TTG__THREADS + threadIdx.x; i < n; i += (size_t)gridDim.x * TTG__THREADS) {
        double a = fabs((double)g[i]);
        acc = kind == 0 ? acc + a * a : ttg__comb(kind, acc, a);
    }
    if (blockIdx.x == 0 && threadIdx.x < TTG__NPART - gridDim.x) out[gridDim.x + threadIdx.x] = 0.0; /* unused slots */
    acc = ttg__block_comb(part, acc, kind);
    if (threadIdx.x == 0) out[blockIdx.x] = acc;
}
/* w[2 ..) holds nparts partials; w[0] = the norm, w[1] = the clip coefficient or LAMB's divisor */
static __global__ void __launch_bounds__(256) ttg__norm_finish(double *w, int nparts, int kind, int lamb, double max_norm) {
    TT_SHARED(double, part, TTG__THREADS / 32);
    int i;
    double acc = 0.0;
    for (i = (int)threadIdx.x; i < nparts; i += TTG__THREADS) acc = ttg__comb(kind, acc, w[2 + i]);
    acc = ttg__block_comb(part, acc, kind);
    if (threadIdx.x == 0) {
        double norm = kind == 0 ? sqrt(acc) : acc;
        w[0] = norm;
        if (lamb) { /* timm: divide the gradients by norm / max_norm when the norm exceeds it (float, as the CPU) */
            float gn = (float)norm, mx = (float)max_norm;
            w[1] = gn > mx ? (double)(gn / mx) : 1.0;
        } else { /* torch: coef = max_norm / (norm + 1e-6) clamped to 1 (NaN stays NaN) */
            double coef = max_norm / (norm + 1e-6);
            w[1] = coef > 1.0 ? 1.0 : coef;
        }
    }
}
static __global__ void ttg__scale_grad(float *g, size_t n, const double *w) {
    size_t i;
    double coef = w[1];
    for (i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) g[i] = (float)(g[i] * coef);
}

/* ---- index_select along any axis: x viewed as (outer, len, inner), y as (outer, count, inner) ----
   Forward: a gather, one thread per y element. Backward: the host sorted the positions by index
   into segments (as for the embedding); one thread per (segment, outer, column) adds that
   index's gradient elements in increasing position order: one writer per element of gx. */
static __global__ void ttg__isel_fwd(float *y, const float *x, const int *ids, int count, int len, int inner, size_t n) {
    size_t e;
    for (e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        size_t j = e % (size_t)inner, k = (e / (size_t)inner) % (size_t)count, o = e / ((size_t)inner * count);
        y[e] = x[(o * (size_t)len + (size_t)ids[k]) * inner + j];
    }
}
static __global__ void ttg__isel_bwd(float *gx, const float *gy, const int *order, const int *seg_start, const int *seg_id, int count,
                                     int len, int inner, int outer) {
    int seg = (int)blockIdx.y, e = (int)(blockIdx.x * blockDim.x + threadIdx.x), k;
    size_t o, j;
    float acc, *g;
    if (e >= outer * inner) return;
    o = (size_t)(e / inner); j = (size_t)(e % inner);
    g = gx + (o * (size_t)len + (size_t)seg_id[seg]) * inner + j;
    acc = *g;
    for (k = seg_start[seg]; k < seg_start[seg + 1]; k++) acc += gy[(o * (size_t)count + (size_t)order[k]) * inner + j];
    *g = acc;
}

/* ---- LAMB (timm), one parameter tensor ----
   1. ttg__lamb_moments: g = gsign grad / divisor (the global norm's, w[1]); m, v updated; when a
      trust ratio is needed, partial sums of x^2 and u^2 with u = m_hat / (sqrt(v_hat) + eps) + wd x
      (ttg__nparts(n) blocks, as the norms above).
   2. ttg__lamb_ratio: one block adds the partials: ratio = |x| / |u| (1 if either is 0; at most 1
      with trust_clip).
   3. ttg__lamb_apply: x -= lr * ratio * u (u recomputed). */
typedef struct ttg__lamb {
    float b1, b2, w1, w2, bc1, sbc2, eps, wd, lr, gsign;
    int need_ratio, trust_clip;
} ttg__lamb;

static __device__ __forceinline__ float ttg__lamb_u(const ttg__lamb &l, float m, float v, float x) {
    float u = (m / l.bc1) / (sqrtf(v) / l.sbc2 + l.eps);
    return l.wd != 0 ? u + l.wd * x : u;
}
static __global__ void __launch_bounds__(256) ttg__lamb_moments(ttg__lamb l, const float *x, const float *gp, float *m, float *v,
                                                                size_t n, double *w) {
    TT_SHARED(double, part, TTG__THREADS / 32);
    size_t i;
    float div = (float)w[1];
    double xx = 0.0, uu = 0.0;
    for (i = blockIdx.x * (size_t)TTG__THREADS + threadIdx.x; i < n; i += (size_t)gridDim.x * TTG__THREADS) {
        float g = l.gsign * gp[i] / div, u;
        m[i] = m[i] * l.b1 + g * l.w1;
        v[i] = v[i] * l.b2 + l.w2 * (g * g);
        if (!l.need_ratio) continue;
        u = ttg__lamb_u(l, m[i], v[i], x[i]);
        xx += (double)x[i] * x[i];
        uu += (double)u * u;
    }
    if (!l.need_ratio) return; /* uniform over the launch: no barrier is skipped by part of a block */
    if (blockIdx.x == 0 && threadIdx.x < 2 * (TTG__NPART - gridDim.x)) w[2 + 2 * gridDim.x + threadIdx.x] = 0.0; /* unused slots */
    xx = ttg__block_comb(part, xx, 0);
    __syncthreads(); /* part is reused */
    uu = ttg__block_comb(part, uu, 0);
    if (threadIdx.x == 0) { w[2 + 2 * blockIdx.x] = xx; w[3 + 2 * blockIdx.x] = uu; }
}
static __global__ void __launch_bounds__(256) ttg__lamb_ratio(double *w, int trust_clip) {
    TT_SHARED(double, part, TTG__THREADS / 32);
    int t = (int)threadIdx.x;
    double xx = t < TTG__NPART ? w[2 + 2 * t] : 0.0, uu = t < TTG__NPART ? w[3 + 2 * t] : 0.0;
    xx = ttg__block_comb(part, xx, 0);
    __syncthreads();
    uu = ttg__block_comb(part, uu, 0);
    if (t == 0) {
        double wn = sqrt(xx), un = sqrt(uu);
        float r = 1.0f;
        if (wn > 0 && un > 0) r = (float)wn / (float)un;
        if (trust_clip && r > 1.0f) r = 1.0f;
        w[2 + 2 * TTG__NPART] = r;
    }
}
static __global__ void ttg__lamb_apply(ttg__lamb l, float *x, const float *m, const float *v, size_t n, const double *w) {
    size_t i;
    float ratio = l.need_ratio ? (float)w[2 + 2 * TTG__NPART] : 1.0f;
    for (i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float u = ttg__lamb_u(l, m[i], v[i], x[i]) * ratio;
        x[i] = x[i] + (-l.lr) * u;
    }
}

/* ==================================================================================== >>cnn
   Convolution, pooling and batch norm: tinytrain.h's >>ops_conv and batchnorm, step for step.

   Convolution is im2col + the tiled SGEMM above, per image and group as on the CPU:
       forward   Y_g (Cout/g, P)  = W_g (Cout/g, K) * col (K, P)   (+ bias, written first)
       backward  dW_g (Cout/g, K) += dY_g * col^T          (the images in order: fixed sums)
                 dcol (K, P)       = W_g^T * dY_g, then col2im
   col2im is written as a gather (one thread per input element adds the column entries taken
   from it), so no two threads add into the same float: no atomics, the CPU's order.
   Pooling: one thread per output element forward; backward one thread per INPUT element, which
   walks the windows that can cover it in increasing output order and adds what they pass back
   (max pooling: the windows whose saved argmax is this element): the CPU's additions in the
   CPU's order, so the same bits.
   Batch norm: one block per channel sums over (N, L) in double (as the CPU; a fixed tree of
   256 partial sums, then the block's shared-memory tree); the element-wise steps are the CPU's
   float expressions. Bias and batchnorm parameter gradients come from the same block sums. */

typedef struct ttg__geom { /* the TT_BK_GEOM_INTS ints of a conv or pooling call (>>api_backend) */
    int n, c, h, w, cout, groups, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, ceil_mode, count_include_pad;
} ttg__geom;

#define TTG__MIN(a, b) ((a) < (b) ? (a) : (b))
#define TTG__MAX(a, b) ((a) > (b) ? (a) : (b))

/* The sum of every thread's v, in every thread (double, a fixed tree over the block's
   TTG__THREADS threads through shared memory `part`). Called by all threads of the block. */
template <class SH> static __device__ double ttg__block_sum_d(SH &part, double v) {
    int t = (int)threadIdx.x, s;
    part[t] = v;
    __syncthreads();
    for (s = TTG__THREADS / 2; s > 0; s >>= 1) {
        if (t < s) part[t] = part[t] + part[t + s];
        __syncthreads();
    }
    v = part[0];
    __syncthreads(); /* everyone has read part[0] before a next call writes */
    return v;
}

/* col (cg*kh*kw, oh*ow) <- the windows of x (cg, h, w) (one image, one group); zero in the padding.
   Thread per column element: row r = (c, ki, kj), column q = (oy, ox). */
static __global__ void ttg__im2col(float *col, const float *x, ttg__geom g, int cg) {
    size_t p = (size_t)g.oh * g.ow, n = (size_t)cg * g.kh * g.kw * p, i;
    for (i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / p, q = i % p;
        int kj = (int)(r % (size_t)g.kw), ki = (int)(r / (size_t)g.kw % (size_t)g.kh), c = (int)(r / ((size_t)g.kw * g.kh));
        int oy = (int)(q / (size_t)g.ow), ox = (int)(q % (size_t)g.ow);
        int iy = oy * g.sh - g.ph + ki * g.dh, ix = ox * g.sw - g.pw + kj * g.dw;
        col[i] = (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) ? x[((size_t)c * g.h + iy) * g.w + ix] : 0.0f;
    }
}

/* dx (cg, h, w) += col put back where im2col took it from: thread per input element (c, iy, ix);
   kernel offset ki covers it from output row oy = (iy + ph - ki*dh) / sh when that divides. */
static __global__ void ttg__col2im(float *dx, const float *col, ttg__geom g, int cg) {
    size_t p = (size_t)g.oh * g.ow, n = (size_t)cg * g.h * g.w, e;
    for (e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        int ix = (int)(e % (size_t)g.w), iy = (int)(e / (size_t)g.w % (size_t)g.h), c = (int)(e / ((size_t)g.w * g.h)), ki, kj;
        float acc = dx[e];
        for (ki = 0; ki < g.kh; ki++) {
            int ty = iy + g.ph - ki * g.dh, oy;
            if (ty < 0 || ty % g.sh) continue;
            oy = ty / g.sh;
            if (oy >= g.oh) continue;
            for (kj = 0; kj < g.kw; kj++) {
                int tx = ix + g.pw - kj * g.dw, ox;
                if (tx < 0 || tx % g.sw) continue;
                ox = tx / g.sw;
                if (ox >= g.ow) continue;
                acc += col[((size_t)(c * g.kh + ki) * g.kw + kj) * p + (size_t)oy * g.ow + ox];
            }
        }
        dx[e] = acc;
    }
}

/* y (n, cout, p) = bias of the channel (the product is added on top, beta = 1) */
static __global__ void ttg__conv_bias_fill(float *y, const float *b, int cout, size_t p, size_t n) {
    size_t i;
    for (i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = b[(i / p) % (size_t)cout];
}

/* db[co] += sum over images (in order) of the image's sum of dy (n, cout, p) over p (double,
   rounded to float per image as the CPU). One block per channel. */
static __global__ void __launch_bounds__(256) ttg__conv_bias_grad(float *db, const float *dy, int n, int cout, int p) {
    TT_SHARED(double, part, TTG__THREADS);
    int co = (int)blockIdx.x, t = (int)threadIdx.x, k, i;
    float acc = db[co];
    for (k = 0; k < n; k++) {
        const float *d = dy + ((size_t)k * cout + co) * p;
        double s = 0;
        for (i = t; i < p; i += TTG__THREADS) s += d[i];
        acc += (float)ttg__block_sum_d(part, s);
    }
    if (t == 0) db[co] = acc;
}

/* ---- pooling (planes = n * c; one 2-D plane of h x w in, oh x ow out) ---- */

/* max pooling: the window of (oy, ox), clipped to the input (padding is -inf), dilated; the first
   maximum wins and a NaN counts as the maximum, as torch and the CPU */
static __global__ void ttg__maxpool_fwd(float *y, int *am, const float *x, ttg__geom g, size_t total) {
    size_t op = (size_t)g.oh * g.ow, o;
    for (o = blockIdx.x * (size_t)blockDim.x + threadIdx.x; o < total; o += (size_t)gridDim.x * blockDim.x) {
        const float *xp = x + (o / op) * ((size_t)g.h * g.w);
        int oy = (int)(o % op / (size_t)g.ow), ox = (int)(o % (size_t)g.ow), iy, ix, best_i;
        int iy0 = oy * g.sh - g.ph, ix0 = ox * g.sw - g.pw;
        int iy1 = TTG__MIN(iy0 + (g.kh - 1) * g.dh + 1, g.h), ix1 = TTG__MIN(ix0 + (g.kw - 1) * g.dw + 1, g.w);
        float best = -INFINITY;
        while (iy0 < 0) iy0 += g.dh;
        while (ix0 < 0) ix0 += g.dw;
        best_i = (iy0 < iy1 && ix0 < ix1) ? iy0 * g.w + ix0 : -1;
        for (iy = iy0; iy < iy1; iy += g.dh)
            for (ix = ix0; ix < ix1; ix += g.dw) {
                float v = xp[(size_t)iy * g.w + ix];
                if (v > best || v != v) { best = v; best_i = iy * g.w + ix; }
            }
        y[o] = best;
        am[o] = best_i;
    }
}

/* the output rows whose window (kernel k, dilation d) can cover input row i: lo..hi */
static __device__ __forceinline__ void ttg__pool_span(int i, int pad, int k, int d, int s, int out, int *lo, int *hi) {
    int t = i + pad - (k - 1) * d;
    *lo = t <= 0 ? 0 : (t + s - 1) / s;
    *hi = TTG__MIN((i + pad) / s, out - 1);
}

static __global__ void ttg__maxpool_bwd(float *dx, const float *dy, const int *am, ttg__geom g, size_t total) {
    size_t ip = (size_t)g.h * g.w, op = (size_t)g.oh * g.ow, e;
    for (e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
        size_t base = (e / ip) * op;
        int pos = (int)(e % ip), iy = pos / g.w, ix = pos % g.w, oy, ox, oy0, oy1, ox0, ox1;
        float acc = dx[e];
        ttg__pool_span(iy, g.ph, g.kh, g.dh, g.sh, g.oh, &oy0, &oy1);
        ttg__pool_span(ix, g.pw, g.kw, g.dw, g.sw, g.ow, &ox0, &ox1);
        for (oy = oy0; oy <= oy1; oy++)
            for (ox = ox0; ox <= ox1; ox++) {
                size_t o = base + (size_t)oy * g.ow + ox;
                if (am[o] == pos) acc += dy[o];
            }
        dx[e] = acc;
    }
}

/* average pooling: window clipped to the input and its divisor, as torch (tt__avg_window) */
static __device__ float ttg__avg_window(const ttg__geom &g, int oy, int ox, int *y0, int *y1, int *x0, int *x1) {
    int hs = oy * g.sh - g.ph, ws = ox * g.sw - g.pw;
    int he = TTG__MIN(hs + g.kh, g.h + g.ph), we = TTG__MIN(ws + g.kw, g.w + g.pw);
    int pool = (he - hs) * (we - ws);
    *y0 = TTG__MAX(hs, 0); *x0 = TTG__MAX(ws, 0);
    *y1 = TTG__MIN(he, g.h); *x1 = TTG__MIN(we, g.w);
    return (float)(g.count_include_pad ? pool : (*y1 - *y0) * (*x1 - *x0));
}

static __global__ void ttg__avgpool_fwd(float *y, const float *x, ttg__geom g, size_t total) {
    size_t op = (size_t)g.oh * g.ow, o;
    for (o = blockIdx.x * (size_t)blockDim.x + threadIdx.x; o < total; o += (size_t)gridDim.x * blockDim.x) {
        const float *xp = x + (o / op) * ((size_t)g.h * g.w);
        int oy = (int)(o % op / (size_t)g.ow), ox = (int)(o % (size_t)g.ow), iy, ix, y0, y1, x0, x1;
        float d = ttg__avg_window(g, oy, ox, &y0, &y1, &x0, &x1), s = 0.0f;
        for (iy = y0; iy < y1; iy++)
            for (ix = x0; ix < x1; ix++) s += xp[(size_t)iy * g.w + ix];
        y[o] = s / d;
    }
}

static __global__ void ttg__avgpool_bwd(float *dx, const float *dy, ttg__geom g, size_t total) {
    size_t ip = (size_t)g.h * g.w, op = (size_t)g.oh * g.ow, e;
    for (e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
        size_t base = (e / ip) * op;
        int pos = (int)(e % ip), iy = pos / g.w, ix = pos % g.w, oy, ox, oy0, oy1, ox0, ox1, y0, y1, x0, x1;
        float acc = dx[e];
        ttg__pool_span(iy, g.ph, g.kh, 1, g.sh, g.oh, &oy0, &oy1);
        ttg__pool_span(ix, g.pw, g.kw, 1, g.sw, g.ow, &ox0, &ox1);
        for (oy = oy0; oy <= oy1; oy++)
            for (ox = ox0; ox <= ox1; ox++) {
                float d = ttg__avg_window(g, oy, ox, &y0, &y1, &x0, &x1);
                if (iy >= y0 && iy < y1 && ix >= x0 && ix < x1) acc += dy[base + (size_t)oy * g.ow + ox] / d;
            }
        dx[e] = acc;
    }
}

/* adaptive average pooling: output row oy averages input rows floor(oy*h/oh) .. ceil((oy+1)*h/oh) - 1
   (tt__adaptive_window); the windows covering input row iy are those with floor(iy*oh/h) <= oy <=
   ceil((iy+1)*oh/h) - 1 (the backward still checks each) */
static __device__ void ttg__adaptive_window(const ttg__geom &g, int oy, int ox, int *y0, int *y1, int *x0, int *x1) {
    *y0 = (int)(((long long)oy * g.h) / g.oh);
    *y1 = (int)(((long long)(oy + 1) * g.h + g.oh - 1) / g.oh);
    *x0 = (int)(((long long)ox * g.w) / g.ow);
    *x1 = (int)(((long long)(ox + 1) * g.w + g.ow - 1) / g.ow);
}

static __global__ void ttg__adaptive_fwd(float *y, const float *x, ttg__geom g, size_t total) {
    size_t op = (size_t)g.oh * g.ow, o;
    for (o = blockIdx.x * (size_t)blockDim.x + threadIdx.x; o < total; o += (size_t)gridDim.x * blockDim.x) {
        const float *xp = x + (o / op) * ((size_t)g.h * g.w);
        int oy = (int)(o % op / (size_t)g.ow), ox = (int)(o % (size_t)g.ow), iy, ix, y0, y1, x0, x1;
        float s = 0.0f;
        ttg__adaptive_window(g, oy, ox, &y0, &y1, &x0, &x1);
        for (iy = y0; iy < y1; iy++)
            for (ix = x0; ix < x1; ix++) s += xp[(size_t)iy * g.w + ix];
        y[o] = s / (float)((y1 - y0) * (x1 - x0));
    }
}

static __global__ void ttg__adaptive_bwd(float *dx, const float *dy, ttg__geom g, size_t total) {
    size_t ip = (size_t)g.h * g.w, op = (size_t)g.oh * g.ow, e;
    for (e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
        size_t base = (e / ip) * op;
        int pos = (int)(e % ip), iy = pos / g.w, ix = pos % g.w, oy, ox, y0, y1, x0, x1;
        int oy0 = (int)(((long long)iy * g.oh) / g.h), oy1 = (int)(((long long)(iy + 1) * g.oh + g.h - 1) / g.h) - 1;
        int ox0 = (int)(((long long)ix * g.ow) / g.w), ox1 = (int)(((long long)(ix + 1) * g.ow + g.w - 1) / g.w) - 1;
        float acc = dx[e];
        for (oy = oy0; oy <= oy1 && oy < g.oh; oy++)
            for (ox = ox0; ox <= ox1 && ox < g.ow; ox++) {
                ttg__adaptive_window(g, oy, ox, &y0, &y1, &x0, &x1);
                if (iy >= y0 && iy < y1 && ix >= x0 && ix < x1)
                    acc += dy[base + (size_t)oy * g.ow + ox] / (float)((y1 - y0) * (x1 - x0));
            }
        dx[e] = acc;
    }
}

/* global average pooling: one block per plane, the mean in double (as the CPU) */
static __global__ void __launch_bounds__(256) ttg__global_avg_fwd(float *y, const float *x, int ip) {
    TT_SHARED(double, part, TTG__THREADS);
    const float *xp = x + (size_t)blockIdx.x * ip;
    int t = (int)threadIdx.x, i;
    double s = 0;
    for (i = t; i < ip; i += TTG__THREADS) s += xp[i];
    s = ttg__block_sum_d(part, s);
    if (t == 0) y[blockIdx.x] = (float)(s / (double)ip);
}
static __global__ void ttg__global_avg_bwd(float *dx, const float *dy, int ip, size_t total) {
    size_t i;
    for (i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
        dx[i] += dy[i / (size_t)ip] / (float)ip;
}

/* ---- batch norm over dim 1 of x viewed as (n, c, l); blk: mean[c], invstd[c], uvar[c],
   mean(dy)[c], mean(dy xhat)[c] ---- */

/* element i of channel ch's n * l values */
static __device__ __forceinline__ size_t ttg__bn_at(size_t i, int ch, int c, int l) {
    return ((i / (size_t)l) * c + ch) * l + i % (size_t)l;
}

/* one block per channel. mode 0: batch statistics; 1: and update the running ones (torch:
   running = (1 - momentum) running + momentum stat, unbiased variance); 2: the running ones */
static __global__ void __launch_bounds__(256) ttg__bn_stats(float *blk, float *rmean, float *rvar, const float *x, int n, int c,
                                                            int l, int mode, float eps, float momentum) {
    TT_SHARED(double, part, TTG__THREADS);
    int ch = (int)blockIdx.x, t = (int)threadIdx.x;
    size_t m = (size_t)n * l, i;
    double s = 0, q = 0, dm;
    if (mode == 2) { /* the whole block takes this branch: no barrier is skipped by some threads only */
        if (t == 0) {
            blk[ch] = rmean[ch];
            blk[c + ch] = (float)(1.0 / sqrt((double)rvar[ch] + (double)eps));
        }
        return;
    }
    for (i = (size_t)t; i < m; i += TTG__THREADS) s += x[ttg__bn_at(i, ch, c, l)];
    dm = ttg__block_sum_d(part, s) / (double)m;
    for (i = (size_t)t; i < m; i += TTG__THREADS) {
        double d = x[ttg__bn_at(i, ch, c, l)] - dm;
        q += d * d;
    }
    q = ttg__block_sum_d(part, q);
    if (t == 0) {
        float mean = (float)dm, uvar = (float)(q / (double)(m - 1));
        blk[ch] = mean;
        blk[c + ch] = (float)(1.0 / sqrt(q / (double)m + (double)eps)); /* the biased variance normalises */
        blk[2 * c + ch] = uvar;
        if (mode == 1) {
            rmean[ch] = (1.0f - momentum) * rmean[ch] + momentum * mean;
            rvar[ch] = (1.0f - momentum) * rvar[ch] + momentum * uvar;
        }
    }
}

static __global__ void ttg__bn_fwd(float *y, const float *x, const float *blk, const float *w, const float *b, int c, int l,
                                   size_t total) {
    size_t i;
    for (i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        int ch = (int)(i / (size_t)l % (size_t)c);
        y[i] = (x[i] - blk[ch]) * blk[c + ch] * (w ? w[ch] : 1.0f) + (b ? b[ch] : 0.0f);
    }
}

/* one block per channel: sum(dy) and sum(dy xhat) -> db, dw and the means the dx kernel needs */
static __global__ void __launch_bounds__(256) ttg__bn_bwd_sums(float *blk, float *dw, float *db, const float *x, const float *dy,
                                                               int n, int c, int l) {
    TT_SHARED(double, part, TTG__THREADS);
    int ch = (int)blockIdx.x, t = (int)threadIdx.x;
    size_t m = (size_t)n * l, i;
    float mean = blk[ch], invstd = blk[c + ch];
    double sdy = 0, sdyx = 0;
    for (i = (size_t)t; i < m; i += TTG__THREADS) {
        size_t at = ttg__bn_at(i, ch, c, l);
        sdy += dy[at];
        sdyx += (double)dy[at] * ((x[at] - mean) * invstd);
    }
    sdy = ttg__block_sum_d(part, sdy);
    sdyx = ttg__block_sum_d(part, sdyx);
    if (t == 0) {
        if (dw) dw[ch] += (float)sdyx;
        if (db) db[ch] += (float)sdy;
        blk[3 * c + ch] = (float)(sdy / (double)m);
        blk[4 * c + ch] = (float)(sdyx / (double)m);
    }
}

/* batch statistics: dx += w invstd (dy - mean(dy) - xhat mean(dy xhat)); running ones: w invstd dy */
static __global__ void ttg__bn_bwd_x(float *dx, const float *x, const float *dy, const float *blk, const float *w, int c, int l,
                                     int batch, size_t total) {
    size_t i;
    for (i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        int ch = (int)(i / (size_t)l % (size_t)c);
        float mean = blk[ch], invstd = blk[c + ch], wc = w ? w[ch] : 1.0f;
        if (batch) {
            float xhat = (x[i] - mean) * invstd;
            dx[i] += wc * invstd * (dy[i] - blk[3 * c + ch] - xhat * blk[4 * c + ch]);
        } else {
            dx[i] += wc * invstd * dy[i];
        }
    }
}

/* ==================================================================================== >>backend
   The seam (see >>api_backend in tinytrain.h): the header keeps headers, shapes, the tape and the
   checks, and calls these functions for memory and compute. Device addresses are host-block
   addresses shifted by one constant: dev(p) = dev_base + (p - host_base). */

typedef struct ttg__cuda {
    unsigned char *host_base, *dev_base;
    size_t bytes;
    cudaStream_t stream;
    float *staging;          /* pinned host memory for uploads */
    size_t staging_bytes;
    int device, tf32, cublas;
#ifdef TT_CUDA_CUBLAS
    cublasHandle_t blas;
#endif
    char name[64];
} ttg__cuda;

enum { TTG__STAGING = 4 << 20 };

static ttg__cuda *ttg__g(tt_ctx *ctx) { return (ttg__cuda *)ctx->backend_state; }

static tt_result ttg__cuda_fail(tt_ctx *ctx, const char *what, cudaError_t e) {
    char msg[256];
    tt_result code = e == cudaErrorMemoryAllocation ? TT_ERR_OUT_OF_MEMORY
                     : e == cudaErrorNoDevice       ? TT_ERR_UNSUPPORTED
#ifndef TT_CUDA_HARNESS
                     : e == cudaErrorInsufficientDriver ? TT_ERR_UNSUPPORTED
#endif
                     : e == cudaErrorInvalidValue ? TT_ERR_INVALID_ARGS
                                                  : TT_ERR_STATE;
    size_t n = strlen(what), m;
    const char *es = cudaGetErrorString(e);
    if (n > 100) n = 100;
    memcpy(msg, what, n);
    memcpy(msg + n, ": CUDA error: ", 14);
    n += 14;
    m = strlen(es);
    if (m > sizeof msg - 1 - n) m = sizeof msg - 1 - n;
    memcpy(msg + n, es, m);
    msg[n + m] = 0;
    return tt_backend_fail(ctx, code, msg);
}
#define TTG__CK(ctx, what, expr)                                                                                         \
    do {                                                                                                                \
        cudaError_t e_ = (expr);                                                                                        \
        if (e_ != cudaSuccess) return ttg__cuda_fail(ctx, what, e_);                                                     \
    } while (0)

/* device address of a host-block address; NULL (with an error) if it is not in the block */
static float *ttg__dev(tt_ctx *ctx, const void *p, const char *op) {
    ttg__cuda *g = ttg__g(ctx);
    const unsigned char *q = (const unsigned char *)p;
    if (!p) return NULL;
    if (q < g->host_base || q >= g->host_base + g->bytes) {
        char msg[160];
        strcpy(msg, op);
        strcat(msg, ": a tensor's data is not in the context's memory (only context tensors run on the GPU)");
        tt_backend_fail(ctx, TT_ERR_INVALID_ARGS, msg);
        return NULL;
    }
    return (float *)(g->dev_base + (q - g->host_base));
}

static tt_result ttg__cuda_zero(tt_ctx *ctx, void *at, size_t bytes) {
    float *d = ttg__dev(ctx, at, "zero");
    if (!d) return ctx->err;
    TTG__CK(ctx, "cudaMemsetAsync", cudaMemsetAsync(d, 0, bytes, ttg__g(ctx)->stream));
    return TT_OK;
}

/* host -> device through the pinned staging buffer (pageable memory would make the copy
   synchronous anyway; pinned memory lets the DMA engine read it directly) */
static tt_result ttg__cuda_upload(tt_ctx *ctx, void *at, const void *src, size_t bytes) {
    ttg__cuda *g = ttg__g(ctx);
    unsigned char *d = (unsigned char *)ttg__dev(ctx, at, "upload");
    const unsigned char *s = (const unsigned char *)src;
    if (!d) return ctx->err;
    while (bytes) {
        size_t n = bytes < g->staging_bytes ? bytes : g->staging_bytes;
        TTG__CK(ctx, "cudaStreamSynchronize", cudaStreamSynchronize(g->stream)); /* staging free again */
        memcpy(g->staging, s, n);
        TTG__CK(ctx, "cudaMemcpyAsync (upload)", cudaMemcpyAsync(d, g->staging, n, cudaMemcpyHostToDevice, g->stream));
        d += n; s += n; bytes -= n;
    }
    return TT_OK;
}

static tt_result ttg__cuda_download(tt_ctx *ctx, void *dst, const void *at, size_t bytes) {
    ttg__cuda *g = ttg__g(ctx);
    float *d = ttg__dev(ctx, at, "download");
    if (!d) return ctx->err;
    TTG__CK(ctx, "kernel", cudaGetLastError());
    TTG__CK(ctx, "cudaMemcpyAsync (download)", cudaMemcpyAsync(dst, d, bytes, cudaMemcpyDeviceToHost, g->stream));
    TTG__CK(ctx, "cudaStreamSynchronize", cudaStreamSynchronize(g->stream));
    return TT_OK;
}

static tt_result ttg__cuda_gemm(tt_ctx *ctx, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                               const float *b, int ldb, float beta, float *c, int ldc) {
    ttg__cuda *g = ttg__g(ctx);
#ifdef TT_CUDA_CUBLAS
    if (g->cublas && m > 0 && n > 0 && k > 0) {
        /* row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T */
        cublasStatus_t st = cublasSgemm(g->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k,
                                        &alpha, b, ldb, a, lda, &beta, c, ldc);
        if (st != CUBLAS_STATUS_SUCCESS) return tt_backend_fail(ctx, TT_ERR_STATE, "cublasSgemm failed");
        return TT_OK;
    }
#endif
    TTG__CK(ctx, "sgemm", ttg__sgemm_launch(g->stream, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc));
    return TT_OK;
}

/* ---- >>transformer ops through the seam (called by ttg__cuda_run for codes from TT_BOP_RMSNORM) ---- */
static dim3 ttg__warp_rows_grid(int rows) { return dim3((unsigned)((rows + 7) / 8 > 0 ? (rows + 7) / 8 : 1)); } /* 8 warps a block */

static tt_result ttg__attention(tt_ctx *ctx, const tt_backend_call *c) {
    ttg__cuda *g = ttg__g(ctx);
    tt_tensor *y = c->out, *q = c->in[0], *k = c->in[1], *v = c->in[2];
    int t = c->i[0], s = c->i[1], d = c->i[2], dv = c->i[3], causal = c->f[1] != 0.0f;
    int d1 = d > 1 ? d : 1, dv1 = dv > 1 ? dv : 1, s1 = s > 1 ? s : 1;
    size_t ts = (size_t)t * s, bh = (t && d) ? q->numel / ((size_t)t * d) : (t && dv ? y->numel / ((size_t)t * dv) : 0), h;
    float scale = c->f[0], *p = ttg__dev(ctx, c->p[0], "attention"), *dp = p ? p + bh * ts : NULL;
    const float *dq = ttg__dev(ctx, q->data, "attention"), *dk = ttg__dev(ctx, k->data, "attention");
    const float *dvv = ttg__dev(ctx, v->data, "attention");
    tt_result r = TT_OK;
    if (!ts || !bh) return TT_OK;
    if (!p || !dq || !dk || !dvv) return ctx->err;
    if (c->op == TT_BOP_ATTENTION) {
        float *o = ttg__dev(ctx, y->data, "attention");
        for (h = 0; h < bh && r == TT_OK; h++) /* S = scale Q K^T per head */
            r = ttg__cuda_gemm(ctx, 0, 1, t, s, d, scale, dq + h * t * d, d1, dk + h * s * d, d1, 0.0f, p + h * ts, s1);
        if (r != TT_OK) return r;
        TT_LAUNCH(ttg__attn_softmax, ttg__warp_rows_grid((int)(bh * t)), dim3(TTG__THREADS), g->stream, p, (int)(bh * t), t, s, causal);
        for (h = 0; h < bh && r == TT_OK; h++) /* O = P V */
            r = ttg__cuda_gemm(ctx, 0, 0, t, dv, s, 1.0f, p + h * ts, s1, dvv + h * s * dv, dv1, 0.0f, o + h * t * dv, dv1);
        return r;
    }
    {
        const float *go = ttg__dev(ctx, y->grad, "attention");
        float *gq = q->grad ? ttg__dev(ctx, q->grad, "attention") : NULL, *gk = k->grad ? ttg__dev(ctx, k->grad, "attention") : NULL;
        float *gv = v->grad ? ttg__dev(ctx, v->grad, "attention") : NULL;
        for (h = 0; h < bh && r == TT_OK; h++) {
            const float *ph = p + h * ts, *goh = go + h * t * dv;
            if (gv) r = ttg__cuda_gemm(ctx, 1, 0, s, dv, t, 1.0f, ph, s1, goh, dv1, 1.0f, gv + h * s * dv, dv1);
            if (r != TT_OK || (!gq && !gk)) continue;
            /* dp (one head's t x s work area, reused head after head in stream order) = dO V^T, then dS */
            r = ttg__cuda_gemm(ctx, 0, 1, t, s, dv, 1.0f, goh, dv1, dvv + h * s * dv, dv1, 0.0f, dp, s1);
            if (r != TT_OK) break;
            TT_LAUNCH(ttg__attn_dsoftmax, ttg__warp_rows_grid(t), dim3(TTG__THREADS), g->stream, dp, ph, t, s);
            if (gq) r = ttg__cuda_gemm(ctx, 0, 0, t, d, s, scale, dp, s1, dk + h * s * d, d1, 1.0f, gq + h * t * d, d1);
            if (r == TT_OK && gk) r = ttg__cuda_gemm(ctx, 1, 0, s, d, t, scale, dp, s1, dq + h * t * d, d1, 1.0f, gk + h * s * d, d1);
        }
        return r;
    }
}

static tt_result ttg__tf_run(tt_ctx *ctx, const tt_backend_call *c) {
    ttg__cuda *g = ttg__g(ctx);
    tt_tensor *y = c->out, *x = c->in[0];
    switch (c->op) {
    case TT_BOP_RMSNORM: case TT_BOP_RMSNORM_BWD: { /* in x, w; i: rows, m; f[0] eps; p[0] rstd */
        tt_tensor *w = c->in[1];
        int rows = c->i[0], m = c->i[1];
        float *rs = ttg__dev(ctx, c->p[0], "rmsnorm");
        const float *dw = w ? ttg__dev(ctx, w->data, "rmsnorm") : NULL;
        if (!rows || !m) return TT_OK;
        if (c->op == TT_BOP_RMSNORM) {
            TT_LAUNCH(ttg__rms_fwd, ttg__warp_rows_grid(rows), dim3(TTG__THREADS), g->stream, ttg__dev(ctx, y->data, "rmsnorm"), rs,
                      ttg__dev(ctx, x->data, "rmsnorm"), dw, rows, m, c->f[0]);
            break;
        }
        if (x->grad)
            TT_LAUNCH(ttg__rms_bwd_x, ttg__warp_rows_grid(rows), dim3(TTG__THREADS), g->stream, ttg__dev(ctx, x->grad, "rmsnorm"),
                      ttg__dev(ctx, x->data, "rmsnorm"), dw, ttg__dev(ctx, y->grad, "rmsnorm"), rs, rows, m);
        if (w && w->grad)
            TT_LAUNCH(ttg__rms_bwd_w, dim3((unsigned)((m + TTG__THREADS - 1) / TTG__THREADS)), dim3(TTG__THREADS), g->stream,
                      ttg__dev(ctx, w->grad, "rmsnorm"), ttg__dev(ctx, x->data, "rmsnorm"), ttg__dev(ctx, y->grad, "rmsnorm"), rs, rows, m);
        break;
    }
    case TT_BOP_STRIDED: case TT_BOP_STRIDED_BWD: { /* p[0]: size_t st[TT_MAX_DIMS], base */
        const size_t *st = (const size_t *)c->p[0];
        ttg__strides s;
        int d;
        memset(&s, 0, sizeof s);
        s.nd = y->ndim;
        for (d = 0; d < y->ndim; d++) { s.shape[d] = y->shape[d] > 0 ? y->shape[d] : 1; s.st[d] = (long long)st[d]; }
        s.base = (long long)st[TT_MAX_DIMS];
        if (!y->numel) return TT_OK;
        if (c->op == TT_BOP_STRIDED)
            TT_LAUNCH(ttg__strided_fwd, dim3(ttg__blocks(y->numel)), dim3(TTG__THREADS), g->stream, s, ttg__dev(ctx, y->data, "strided"),
                      ttg__dev(ctx, x->data, "strided"), y->numel);
        else if (x->grad)
            TT_LAUNCH(ttg__strided_bwd, dim3(ttg__blocks(y->numel)), dim3(TTG__THREADS), g->stream, s, ttg__dev(ctx, x->grad, "strided"),
                      ttg__dev(ctx, y->grad, "strided"), y->numel);
        break;
    }
    case TT_BOP_ATTENTION: case TT_BOP_ATTENTION_BWD: {
        tt_result r = ttg__attention(ctx, c);
        if (r != TT_OK) return r;
        break;
    }
    case TT_BOP_DROPOUT: case TT_BOP_DROPOUT_BWD: { /* i[0], i[1]: key; f[0] p, f[1] scale */
        uint32_t k0 = (uint32_t)c->i[0], k1 = (uint32_t)c->i[1];
        if (!y->numel) return TT_OK;
        if (c->op == TT_BOP_DROPOUT)
            TT_LAUNCH(ttg__dropout_fwd, dim3(ttg__blocks(y->numel)), dim3(TTG__THREADS), g->stream, ttg__dev(ctx, y->data, "dropout"),
                      ttg__dev(ctx, x->data, "dropout"), y->numel, k0, k1, c->f[0], c->f[1]);
        else if (x->grad)
            TT_LAUNCH(ttg__dropout_bwd, dim3(ttg__blocks(y->numel)), dim3(TTG__THREADS), g->stream, ttg__dev(ctx, x->grad, "dropout"),
                      ttg__dev(ctx, y->grad, "dropout"), y->numel, k0, k1, c->f[0], c->f[1]);
        break;
    }
    case TT_BOP_GRAD_NORM: { /* p[0] list, i: count, kind, lamb; f[0] + f[1] max; p[1] work */
        tt_tensor *const *list = (tt_tensor *const *)c->p[0];
        double *w = (double *)ttg__dev(ctx, c->p[1], "grad norm");
        int n = c->i[0], k;
        if (!w) return ctx->err;
        for (k = 0; k < n; k++) {
            const float *gr = list[k]->grad ? ttg__dev(ctx, list[k]->grad, "grad norm") : NULL;
            size_t ne = gr ? list[k]->numel : 0;
            TT_LAUNCH(ttg__norm_part, dim3(ttg__nparts(ne)), dim3(TTG__THREADS), g->stream, w + 2 + (size_t)k * TTG__NPART, gr, ne, c->i[1]);
        }
        TT_LAUNCH(ttg__norm_finish, dim3(1), dim3(TTG__THREADS), g->stream, w, n * TTG__NPART, c->i[1], c->i[2],
                  (double)c->f[0] + (double)c->f[1]);
        break;
    }
    case TT_BOP_GRAD_SCALE: {
        tt_tensor *const *list = (tt_tensor *const *)c->p[0];
        const double *w = (const double *)ttg__dev(ctx, c->p[1], "grad scale");
        int k;
        if (!w) return ctx->err;
        for (k = 0; k < c->i[0]; k++)
            if (list[k]->grad && list[k]->numel)
                TT_LAUNCH(ttg__scale_grad, dim3(ttg__blocks(list[k]->numel)), dim3(TTG__THREADS), g->stream,
                          ttg__dev(ctx, list[k]->grad, "grad scale"), list[k]->numel, w);
        break;
    }
    case TT_BOP_INDEX_SELECT: case TT_BOP_INDEX_SELECT_BWD: { /* i: count, inner, segments, outer; p[0]: ints */
        int count = c->i[0], inner = c->i[1], nseg = c->i[2], outer = c->i[3];
        int len = outer && inner ? (int)(x->numel / ((size_t)outer * inner)) : 0;
        const int *ib = (const int *)ttg__dev(ctx, c->p[0], "index_select");
        if (!ib || !y->numel) return ctx->err;
        if (c->op == TT_BOP_INDEX_SELECT) {
            TT_LAUNCH(ttg__isel_fwd, dim3(ttg__blocks(y->numel)), dim3(TTG__THREADS), g->stream, ttg__dev(ctx, y->data, "index_select"),
                      ttg__dev(ctx, x->data, "index_select"), ib, count, len, inner, y->numel);
        } else if (x->grad && nseg) {
            dim3 grid((unsigned)(((size_t)outer * inner + TTG__THREADS - 1) / TTG__THREADS), (unsigned)nseg);
            if (nseg > 65535) return tt_backend_fail(ctx, TT_ERR_UNSUPPORTED, "index_select: more than 65535 distinct indices");
            TT_LAUNCH(ttg__isel_bwd, grid, dim3(TTG__THREADS), g->stream, ttg__dev(ctx, x->grad, "index_select"),
                      ttg__dev(ctx, y->grad, "index_select"), ib + count, ib + 2 * count, ib + 3 * count + 1, count, len, inner, outer);
        }
        break;
    }
    default: return tt_backend_fail(ctx, TT_ERR_UNSUPPORTED, "GPU backend: unknown op code");
    }
    if (ctx->err != TT_OK) return ctx->err;
    TTG__CK(ctx, "kernel launch", cudaGetLastError());
    return TT_OK;
}

/* LAMB on one parameter tensor (see ttg__lamb_moments); j->work: the step's norm work area */
static tt_result ttg__lamb_update(tt_ctx *ctx, const tt_backend_update *j) {
    ttg__cuda *g = ttg__g(ctx);
    const tt_optim_hparams *h = j->h;
    double t = (double)j->t;
    double *w = (double *)ttg__dev(ctx, j->work, "LAMB");
    float *x = ttg__dev(ctx, j->x, "LAMB"), *m = ttg__dev(ctx, j->s0, "LAMB"), *v = ttg__dev(ctx, j->s1, "LAMB");
    ttg__lamb l;
    if (!j->work) return tt_backend_fail(ctx, TT_ERR_STATE, "LAMB: no norm work area");
    if (!w || !x || !m || !v) return ctx->err;
    memset(&l, 0, sizeof l);
    l.b1 = h->beta1; l.b2 = h->beta2; l.eps = h->eps; l.wd = j->wd; l.lr = h->lr; l.gsign = j->gsign;
    l.bc1 = h->bias_correction ? (float)(1.0 - pow((double)h->beta1, t)) : 1.0f; /* as tt__upd_lamb */
    l.sbc2 = h->bias_correction ? (float)sqrt(1.0 - pow((double)h->beta2, t)) : 1.0f;
    l.w1 = (float)(1.0 - (double)h->beta1); l.w2 = (float)(1.0 - (double)h->beta2);
    l.need_ratio = j->wd != 0 || h->always_adapt;
    l.trust_clip = h->trust_clip != 0;
    TT_LAUNCH(ttg__lamb_moments, dim3(ttg__nparts(j->n)), dim3(TTG__THREADS), g->stream, l, (const float *)x,
              (const float *)ttg__dev(ctx, j->g, "LAMB"), m, v, j->n, w);
    if (l.need_ratio) TT_LAUNCH(ttg__lamb_ratio, dim3(1), dim3(TTG__THREADS), g->stream, w, l.trust_clip);
    TT_LAUNCH(ttg__lamb_apply, dim3(ttg__blocks(j->n)), dim3(TTG__THREADS), g->stream, l, x, (const float *)m, (const float *)v, j->n,
              (const double *)w);
    if (ctx->err != TT_OK) return ctx->err;
    TTG__CK(ctx, "LAMB kernel", cudaGetLastError());
    return TT_OK;
}

/* ---- the CNN ops (kernels in >>cnn): conv, pooling, batch norm ---- */

static ttg__geom ttg__geom_of(const void *p) {
    const int *v = (const int *)p;
    ttg__geom q;
    q.n = v[0]; q.c = v[1]; q.h = v[2]; q.w = v[3]; q.cout = v[4]; q.groups = v[5]; q.kh = v[6]; q.kw = v[7];
    q.sh = v[8]; q.sw = v[9]; q.ph = v[10]; q.pw = v[11]; q.dh = v[12]; q.dw = v[13]; q.oh = v[14]; q.ow = v[15];
    q.ceil_mode = v[16]; q.count_include_pad = v[17];
    return q;
}

/* conv1d / conv2d: per image and group, im2col into the workspace and the tiled SGEMM, as the CPU */
static tt_result ttg__conv_run(tt_ctx *ctx, const tt_backend_call *c) {
    ttg__cuda *g = ttg__g(ctx);
    tt_tensor *y = c->out, *x = c->in[0], *w = c->in[1], *b = c->in[2];
    ttg__geom q = ttg__geom_of(c->p[0]);
    int cg = q.c / q.groups, cgo = q.cout / q.groups, k = cg * q.kh * q.kw, p = q.oh * q.ow, n, gi;
    int direct = q.kh == 1 && q.kw == 1 && q.sh == 1 && q.sw == 1 && q.ph == 0 && q.pw == 0;
    size_t xs = (size_t)q.c * q.h * q.w, ys = (size_t)q.cout * p, plane = (size_t)q.h * q.w;
    const float *xd = ttg__dev(ctx, x->data, "conv"), *wd = ttg__dev(ctx, w->data, "conv");
    float *col = direct ? NULL : ttg__dev(ctx, (const int *)c->p[0] + TT_BK_GEOM_INTS, "conv");
    dim3 cgrid(ttg__blocks((size_t)k * p)), igrid(ttg__blocks((size_t)cg * plane)), blk(TTG__THREADS);
    tt_result r;
    if (ctx->err != TT_OK) return ctx->err;
    if (!y->numel) return TT_OK;
    if (c->op == TT_BOP_CONV) {
        float *yd = ttg__dev(ctx, y->data, "conv");
        if (b) TT_LAUNCH(ttg__conv_bias_fill, dim3(ttg__blocks(y->numel)), blk, g->stream, yd, ttg__dev(ctx, b->data, "conv"), q.cout,
                         (size_t)p, y->numel);
        for (n = 0; n < q.n; n++)
            for (gi = 0; gi < q.groups; gi++) {
                const float *xg = xd + n * xs + (size_t)gi * cg * plane;
                if (!direct) TT_LAUNCH(ttg__im2col, cgrid, blk, g->stream, col, xg, q, cg);
                r = ttg__cuda_gemm(ctx, 0, 0, cgo, p, k, 1.0f, wd + (size_t)gi * cgo * k, k, direct ? xg : col, p, b ? 1.0f : 0.0f,
                                  yd + n * ys + (size_t)gi * cgo * p, p);
                if (r != TT_OK) return r;
            }
        return TT_OK;
    }
    {
        const float *gy = ttg__dev(ctx, y->grad, "conv");
        float *gx = x->grad ? ttg__dev(ctx, x->grad, "conv") : NULL, *gw = w->grad ? ttg__dev(ctx, w->grad, "conv") : NULL;
        if (b && b->grad)
            TT_LAUNCH(ttg__conv_bias_grad, dim3((unsigned)q.cout), blk, g->stream, ttg__dev(ctx, b->grad, "conv"), gy, q.n, q.cout, p);
        for (n = 0; n < q.n && (gx || gw); n++)
            for (gi = 0; gi < q.groups; gi++) {
                const float *xg = xd + n * xs + (size_t)gi * cg * plane, *gyg = gy + n * ys + (size_t)gi * cgo * p;
                const float *wg = wd + (size_t)gi * cgo * k;
                if (gw) { /* dW_g += dY_g col^T */
                    if (!direct) TT_LAUNCH(ttg__im2col, cgrid, blk, g->stream, col, xg, q, cg);
                    r = ttg__cuda_gemm(ctx, 0, 1, cgo, k, p, 1.0f, gyg, p, direct ? xg : col, p, 1.0f, gw + (size_t)gi * cgo * k, k);
                    if (r != TT_OK) return r;
                }
                if (gx) { /* dX_g += col2im(W_g^T dY_g) */
                    float *gxg = gx + n * xs + (size_t)gi * cg * plane;
                    r = ttg__cuda_gemm(ctx, 1, 0, k, p, cgo, 1.0f, wg, k, gyg, p, direct ? 1.0f : 0.0f, direct ? gxg : col, p);
                    if (r != TT_OK) return r;
                    if (!direct) TT_LAUNCH(ttg__col2im, igrid, blk, g->stream, gxg, col, q, cg);
                }
            }
    }
    return TT_OK;
}

static tt_result ttg__cnn_run(tt_ctx *ctx, const tt_backend_call *c) {
    ttg__cuda *g = ttg__g(ctx);
    tt_tensor *y = c->out, *x = c->in[0];
    dim3 blk(TTG__THREADS);
    switch (c->op) {
    case TT_BOP_CONV: case TT_BOP_CONV_BWD: {
        tt_result r = ttg__conv_run(ctx, c);
        if (r != TT_OK) return r;
        break;
    }
    case TT_BOP_MAX_POOL: case TT_BOP_MAX_POOL_BWD: case TT_BOP_AVG_POOL: case TT_BOP_AVG_POOL_BWD: {
        ttg__geom q = ttg__geom_of(c->p[0]);
        int *am = (int *)ttg__dev(ctx, (const int *)c->p[0] + TT_BK_GEOM_INTS, "pool");
        if (!y->numel) return TT_OK;
        if (c->op == TT_BOP_MAX_POOL)
            TT_LAUNCH(ttg__maxpool_fwd, dim3(ttg__blocks(y->numel)), blk, g->stream, ttg__dev(ctx, y->data, "max_pool"), am,
                      ttg__dev(ctx, x->data, "max_pool"), q, y->numel);
        else if (c->op == TT_BOP_AVG_POOL)
            TT_LAUNCH(ttg__avgpool_fwd, dim3(ttg__blocks(y->numel)), blk, g->stream, ttg__dev(ctx, y->data, "avg_pool"),
                      ttg__dev(ctx, x->data, "avg_pool"), q, y->numel);
        else if (!x->grad)
            return TT_OK;
        else if (c->op == TT_BOP_MAX_POOL_BWD)
            TT_LAUNCH(ttg__maxpool_bwd, dim3(ttg__blocks(x->numel)), blk, g->stream, ttg__dev(ctx, x->grad, "max_pool"),
                      ttg__dev(ctx, y->grad, "max_pool"), am, q, x->numel);
        else
            TT_LAUNCH(ttg__avgpool_bwd, dim3(ttg__blocks(x->numel)), blk, g->stream, ttg__dev(ctx, x->grad, "avg_pool"),
                      ttg__dev(ctx, y->grad, "avg_pool"), q, x->numel);
        break;
    }
    case TT_BOP_ADAPTIVE_AVG_POOL: case TT_BOP_ADAPTIVE_AVG_POOL_BWD: {
        ttg__geom q = ttg__geom_of(c->p[0]);
        if (!y->numel) return TT_OK;
        if (c->op == TT_BOP_ADAPTIVE_AVG_POOL)
            TT_LAUNCH(ttg__adaptive_fwd, dim3(ttg__blocks(y->numel)), blk, g->stream, ttg__dev(ctx, y->data, "adaptive_avg_pool2d"),
                      ttg__dev(ctx, x->data, "adaptive_avg_pool2d"), q, y->numel);
        else if (x->grad)
            TT_LAUNCH(ttg__adaptive_bwd, dim3(ttg__blocks(x->numel)), blk, g->stream, ttg__dev(ctx, x->grad, "adaptive_avg_pool2d"),
                      ttg__dev(ctx, y->grad, "adaptive_avg_pool2d"), q, x->numel);
        break;
    }
    case TT_BOP_GLOBAL_AVG_POOL: case TT_BOP_GLOBAL_AVG_POOL_BWD: { /* i: planes, plane size */
        if (!c->i[0] || !c->i[1]) return TT_OK;
        if (c->op == TT_BOP_GLOBAL_AVG_POOL)
            TT_LAUNCH(ttg__global_avg_fwd, dim3((unsigned)c->i[0]), blk, g->stream, ttg__dev(ctx, y->data, "global_avg_pool2d"),
                      ttg__dev(ctx, x->data, "global_avg_pool2d"), c->i[1]);
        else if (x->grad)
            TT_LAUNCH(ttg__global_avg_bwd, dim3(ttg__blocks(x->numel)), blk, g->stream, ttg__dev(ctx, x->grad, "global_avg_pool2d"),
                      ttg__dev(ctx, y->grad, "global_avg_pool2d"), c->i[1], x->numel);
        break;
    }
    case TT_BOP_BN_STATS: { /* in x, running_mean, running_var; i: n, c, l, mode; f: eps, momentum */
        tt_tensor *rm = c->in[1], *rv = c->in[2];
        if (!c->i[1]) return TT_OK;
        TT_LAUNCH(ttg__bn_stats, dim3((unsigned)c->i[1]), blk, g->stream, ttg__dev(ctx, c->p[0], "batchnorm"),
                  rm ? ttg__dev(ctx, rm->data, "batchnorm") : NULL, rv ? ttg__dev(ctx, rv->data, "batchnorm") : NULL,
                  ttg__dev(ctx, x->data, "batchnorm"), c->i[0], c->i[1], c->i[2], c->i[3], c->f[0], c->f[1]);
        break;
    }
    case TT_BOP_BATCHNORM: case TT_BOP_BATCHNORM_BWD: { /* in x, w, b; i: n, c, l, batch */
        tt_tensor *w = c->in[1], *b = c->in[2];
        float *st = ttg__dev(ctx, c->p[0], "batchnorm");
        const float *wd = w ? ttg__dev(ctx, w->data, "batchnorm") : NULL;
        if (!x->numel) return TT_OK;
        if (c->op == TT_BOP_BATCHNORM) {
            TT_LAUNCH(ttg__bn_fwd, dim3(ttg__blocks(x->numel)), blk, g->stream, ttg__dev(ctx, y->data, "batchnorm"),
                      ttg__dev(ctx, x->data, "batchnorm"), st, wd, b ? ttg__dev(ctx, b->data, "batchnorm") : NULL, c->i[1], c->i[2], x->numel);
            break;
        }
        TT_LAUNCH(ttg__bn_bwd_sums, dim3((unsigned)c->i[1]), blk, g->stream, st, w && w->grad ? ttg__dev(ctx, w->grad, "batchnorm") : NULL,
                  b && b->grad ? ttg__dev(ctx, b->grad, "batchnorm") : NULL, ttg__dev(ctx, x->data, "batchnorm"),
                  ttg__dev(ctx, y->grad, "batchnorm"), c->i[0], c->i[1], c->i[2]);
        if (x->grad)
            TT_LAUNCH(ttg__bn_bwd_x, dim3(ttg__blocks(x->numel)), blk, g->stream, ttg__dev(ctx, x->grad, "batchnorm"),
                      ttg__dev(ctx, x->data, "batchnorm"), ttg__dev(ctx, y->grad, "batchnorm"), st, wd, c->i[1], c->i[2], c->i[3], x->numel);
        break;
    }
    default: return tt_backend_fail(ctx, TT_ERR_UNSUPPORTED, "GPU backend: unknown op code");
    }
    if (ctx->err != TT_OK) return ctx->err;
    TTG__CK(ctx, "kernel launch", cudaGetLastError());
    return TT_OK;
}

static tt_result ttg__cuda_run(tt_ctx *ctx, const tt_backend_call *c) {
    ttg__cuda *g = ttg__g(ctx);
    tt_tensor *y = c->out, *x = c->in[0];
    if ((c->op >= TT_BOP_RMSNORM && c->op <= TT_BOP_GRAD_SCALE) || c->op == TT_BOP_INDEX_SELECT || c->op == TT_BOP_INDEX_SELECT_BWD)
        return ttg__tf_run(ctx, c); /* >>transformer */
    switch (c->op) {
    case TT_BOP_RELU: {
        float *dy = ttg__dev(ctx, y->data, "relu"), *dx = ttg__dev(ctx, x->data, "relu");
        if (!dy || !dx) return ctx->err;
        TT_LAUNCH(ttg__relu_fwd, dim3(ttg__blocks(y->numel)), dim3(TTG__THREADS), g->stream, dy, dx, y->numel);
        break;
    }
    case TT_BOP_RELU_BWD: {
        if (!x->grad) return TT_OK;
        TT_LAUNCH(ttg__relu_bwd, dim3(ttg__blocks(y->numel)), dim3(TTG__THREADS), g->stream, ttg__dev(ctx, x->grad, "relu"), ttg__dev(ctx, x->data, "relu"),
                  ttg__dev(ctx, y->grad, "relu"), y->numel);
        break;
    }
    case TT_BOP_SUM: {
        TT_LAUNCH(ttg__sum_div, dim3(1), dim3(TTG__THREADS), g->stream, ttg__dev(ctx, y->data, "sum"), ttg__dev(ctx, x->data, "sum"),
                  x->numel, 1.0f);
        break;
    }
    case TT_BOP_SUM_BWD: {
        if (!x->grad) return TT_OK;
        TT_LAUNCH(ttg__add_scalar_from, dim3(ttg__blocks(x->numel)), dim3(TTG__THREADS), g->stream, ttg__dev(ctx, x->grad, "sum"), ttg__dev(ctx, y->grad, "sum"), x->numel);
        break;
    }
    case TT_BOP_LINEAR: { /* y (rows, out) = x (rows, in) W^T + b */
        tt_tensor *w = c->in[1], *b = c->in[2];
        int rows = c->i[0], in = w->shape[1], out = w->shape[0];
        float *dy = ttg__dev(ctx, y->data, "linear");
        if (!dy) return ctx->err;
        if (b) TT_LAUNCH(ttg__fill_rows, dim3(ttg__blocks((size_t)rows * out)), dim3(TTG__THREADS), g->stream, dy, ttg__dev(ctx, b->data, "linear"), rows, out);
        return ttg__cuda_gemm(ctx, 0, 1, rows, out, in, 1.0f, ttg__dev(ctx, x->data, "linear"), in > 1 ? in : 1,
                             ttg__dev(ctx, w->data, "linear"), in > 1 ? in : 1, b ? 1.0f : 0.0f, dy, out > 1 ? out : 1);
    }
    case TT_BOP_LINEAR_BWD: {
        tt_tensor *w = c->in[1], *b = c->in[2];
        int rows = c->i[0], in = w->shape[1], out = w->shape[0], lin = in > 1 ? in : 1, lout = out > 1 ? out : 1;
        const float *gy = ttg__dev(ctx, y->grad, "linear");
        tt_result r = TT_OK;
        if (rows == 0) return TT_OK;
        /* dX += dY W ; dW += dY^T X ; db += column sums of dY */
        if (x->grad) r = ttg__cuda_gemm(ctx, 0, 0, rows, in, out, 1.0f, gy, lout, ttg__dev(ctx, w->data, "linear"), lin, 1.0f,
                                       ttg__dev(ctx, x->grad, "linear"), lin);
        if (r == TT_OK && w->grad)
            r = ttg__cuda_gemm(ctx, 1, 0, out, in, rows, 1.0f, gy, lout, ttg__dev(ctx, x->data, "linear"), lin, 1.0f,
                              ttg__dev(ctx, w->grad, "linear"), lin);
        if (r == TT_OK && b && b->grad)
            TT_LAUNCH(ttg__colsum_add, dim3((unsigned)((out + TTG__THREADS - 1) / TTG__THREADS)), dim3(TTG__THREADS), g->stream,
                      ttg__dev(ctx, b->grad, "linear"), gy, rows, out);
        if (r != TT_OK) return r;
        break;
    }
    case TT_BOP_CROSS_ENTROPY: { /* i: N, C, ignore_index, reduction; f[0]: divisor; p[0]: targets */
        int N = c->i[0], C = c->i[1];
        float *rows = ttg__dev(ctx, c->p[1], "cross_entropy");
        if (!rows) return ctx->err;
        TT_LAUNCH(ttg__xent_rows, dim3((unsigned)((N + 7) / 8)), dim3(TTG__THREADS), g->stream, rows,
                  ttg__dev(ctx, x->data, "cross_entropy"), (const int *)ttg__dev(ctx, c->p[0], "cross_entropy"), N, C, c->i[2]);
        TT_LAUNCH(ttg__sum_div, dim3(1), dim3(TTG__THREADS), g->stream, ttg__dev(ctx, y->data, "cross_entropy"), rows, (size_t)N,
                  c->f[0]);
        break;
    }
    case TT_BOP_CROSS_ENTROPY_BWD: {
        int N = c->i[0], C = c->i[1];
        if (!x->grad) return TT_OK;
        TT_LAUNCH(ttg__xent_bwd, dim3((unsigned)((N + 7) / 8)), dim3(TTG__THREADS), g->stream, ttg__dev(ctx, x->grad, "cross_entropy"),
                  ttg__dev(ctx, x->data, "cross_entropy"), (const int *)ttg__dev(ctx, c->p[0], "cross_entropy"),
                  ttg__dev(ctx, y->grad, "cross_entropy"), N, C, c->i[2], c->f[0]);
        break;
    }
    case TT_BOP_BINARY: case TT_BOP_BINARY_BWD: {
        tt_tensor *a = c->in[0], *b = c->in[1];
        ttg__bshape s;
        int d;
        memset(&s, 0, sizeof s);
        s.nd = y->ndim;
        s.kind = c->i[0];
        if (s.kind < 0 || s.kind > 3) return tt_backend_fail(ctx, TT_ERR_UNSUPPORTED, "binary op: only add, sub, mul, div run on the GPU");
        for (d = 0; d < y->ndim; d++) s.shape[d] = y->shape[d] > 0 ? y->shape[d] : 1;
        for (int w = 0; w < 2; w++) { /* right-aligned contiguous strides, 0 where broadcast */
            tt_tensor *t = w ? b : a;
            long long st = 1, *out = w ? s.sb : s.sa;
            for (d = y->ndim - 1; d >= 0; d--) {
                int td = d - (y->ndim - t->ndim);
                int size = td >= 0 ? t->shape[td] : 1;
                out[d] = size == 1 ? 0 : st;
                st *= size;
            }
        }
        if (c->op == TT_BOP_BINARY) {
            if (y->numel)
                TT_LAUNCH(ttg__binary_fwd, dim3(ttg__blocks(y->numel)), dim3(TTG__THREADS), g->stream, s, ttg__dev(ctx, y->data, "binary"),
                          ttg__dev(ctx, a->data, "binary"), ttg__dev(ctx, b->data, "binary"), y->numel);
        } else if (y->numel) {
            for (int w = 0; w < 2; w++) {
                tt_tensor *t = w ? b : a;
                if (!t->grad || !t->numel) continue;
                TT_LAUNCH(ttg__binary_bwd, dim3(ttg__blocks(t->numel)), dim3(TTG__THREADS), g->stream, s, w, ttg__dev(ctx, t->grad, "binary"),
                          ttg__dev(ctx, y->grad, "binary"), ttg__dev(ctx, a->data, "binary"), ttg__dev(ctx, b->data, "binary"), t->numel);
            }
        }
        break;
    }
    case TT_BOP_SOFTMAX: case TT_BOP_SOFTMAX_BWD: { /* i: outer, len, inner, log_form */
        int rows = c->i[0] * c->i[2];
        dim3 grid((unsigned)((rows + 7) / 8 > 0 ? (rows + 7) / 8 : 1));
        if (!rows || !c->i[1]) return TT_OK;
        if (c->op == TT_BOP_SOFTMAX)
            TT_LAUNCH(ttg__softmax_fwd, grid, dim3(TTG__THREADS), g->stream, ttg__dev(ctx, y->data, "softmax"),
                      ttg__dev(ctx, x->data, "softmax"), rows, c->i[1], c->i[2], c->i[3]);
        else if (x->grad)
            TT_LAUNCH(ttg__softmax_bwd, grid, dim3(TTG__THREADS), g->stream, ttg__dev(ctx, x->grad, "softmax"),
                      ttg__dev(ctx, y->data, "softmax"), ttg__dev(ctx, y->grad, "softmax"), rows, c->i[1], c->i[2], c->i[3]);
        break;
    }
    case TT_BOP_LAYERNORM: case TT_BOP_LAYERNORM_BWD: { /* in x, w, b; i: rows, m; f[0] eps; p[0] 2 * rows floats */
        tt_tensor *w = c->in[1], *b = c->in[2];
        int rows = c->i[0], m = c->i[1];
        dim3 grid((unsigned)((rows + 7) / 8 > 0 ? (rows + 7) / 8 : 1));
        float *st = ttg__dev(ctx, c->p[0], "layernorm");
        const float *dw = w ? ttg__dev(ctx, w->data, "layernorm") : NULL;
        if (!rows || !m) return TT_OK;
        if (c->op == TT_BOP_LAYERNORM) {
            TT_LAUNCH(ttg__ln_fwd, grid, dim3(TTG__THREADS), g->stream, ttg__dev(ctx, y->data, "layernorm"), st,
                      ttg__dev(ctx, x->data, "layernorm"), dw, b ? ttg__dev(ctx, b->data, "layernorm") : NULL, rows, m, c->f[0]);
            break;
        }
        if (x->grad)
            TT_LAUNCH(ttg__ln_bwd_x, grid, dim3(TTG__THREADS), g->stream, ttg__dev(ctx, x->grad, "layernorm"),
                      ttg__dev(ctx, x->data, "layernorm"), dw, ttg__dev(ctx, y->grad, "layernorm"), st, rows, m);
        if ((w && w->grad) || (b && b->grad))
            TT_LAUNCH(ttg__ln_bwd_wb, dim3((unsigned)((m + TTG__THREADS - 1) / TTG__THREADS)), dim3(TTG__THREADS), g->stream,
                      w && w->grad ? ttg__dev(ctx, w->grad, "layernorm") : NULL, b && b->grad ? ttg__dev(ctx, b->grad, "layernorm") : NULL,
                      ttg__dev(ctx, x->data, "layernorm"), ttg__dev(ctx, y->grad, "layernorm"), st, rows, m);
        break;
    }
    case TT_BOP_EMBEDDING: case TT_BOP_EMBEDDING_BWD: { /* i: count, dim, segments; p[0]: the int arrays */
        int count = c->i[0], dim = c->i[1], nseg = c->i[2];
        const int *ib = (const int *)ttg__dev(ctx, c->p[0], "embedding");
        if (!ib || !count || !dim) return ctx->err;
        if (c->op == TT_BOP_EMBEDDING) {
            TT_LAUNCH(ttg__embed_fwd, dim3(ttg__blocks((size_t)count * dim)), dim3(TTG__THREADS), g->stream,
                      ttg__dev(ctx, y->data, "embedding"), ttg__dev(ctx, x->data, "embedding"), ib, count, dim);
        } else if (x->grad && nseg) {
            dim3 grid((unsigned)((dim + TTG__THREADS - 1) / TTG__THREADS), (unsigned)nseg);
            if (nseg > 65535) return tt_backend_fail(ctx, TT_ERR_UNSUPPORTED, "embedding: more than 65535 distinct ids in one batch");
            TT_LAUNCH(ttg__embed_bwd, grid, dim3(TTG__THREADS), g->stream, ttg__dev(ctx, x->grad, "embedding"),
                      ttg__dev(ctx, y->grad, "embedding"), ib + count, ib + 2 * count, ib + 3 * count + 1, nseg, dim);
        }
        break;
    }
    case TT_BOP_GELU:
        TT_LAUNCH(ttg__gelu_fwd, dim3(ttg__blocks(y->numel)), dim3(TTG__THREADS), g->stream, ttg__dev(ctx, y->data, "gelu"),
                  ttg__dev(ctx, x->data, "gelu"), y->numel, c->i[0]);
        break;
    case TT_BOP_GELU_BWD:
        if (!x->grad) return TT_OK;
        TT_LAUNCH(ttg__gelu_bwd, dim3(ttg__blocks(y->numel)), dim3(TTG__THREADS), g->stream, ttg__dev(ctx, x->grad, "gelu"),
                  ttg__dev(ctx, x->data, "gelu"), ttg__dev(ctx, y->grad, "gelu"), y->numel, c->i[0]);
        break;
    case TT_BOP_ADD_INTO: { /* p[0][0..n) += p[1][0..n) */
        TT_LAUNCH(ttg__add_into, dim3(ttg__blocks(c->n)), dim3(TTG__THREADS), g->stream, ttg__dev(ctx, c->p[0], "add_into"), ttg__dev(ctx, c->p[1], "add_into"), c->n);
        break;
    }
    case TT_BOP_CONV: case TT_BOP_CONV_BWD: case TT_BOP_MAX_POOL: case TT_BOP_MAX_POOL_BWD: case TT_BOP_AVG_POOL:
    case TT_BOP_AVG_POOL_BWD: case TT_BOP_BATCHNORM: case TT_BOP_BATCHNORM_BWD: case TT_BOP_BN_STATS:
    case TT_BOP_ADAPTIVE_AVG_POOL: case TT_BOP_ADAPTIVE_AVG_POOL_BWD: case TT_BOP_GLOBAL_AVG_POOL: case TT_BOP_GLOBAL_AVG_POOL_BWD:
        return ttg__cnn_run(ctx, c);
    default: return tt_backend_fail(ctx, TT_ERR_UNSUPPORTED, "GPU backend: unknown op code");
    }
    if (ctx->err != TT_OK) return ctx->err;
    TTG__CK(ctx, "kernel launch", cudaGetLastError());
    return TT_OK;
}

static int ttg__cuda_optim_supported(tt_optim_kind k) {
    return k == TT_OPTIM_SGD || k == TT_OPTIM_ADAM || k == TT_OPTIM_ADAMW || k == TT_OPTIM_ADAGRAD || k == TT_OPTIM_RMSPROP ||
           k == TT_OPTIM_LION ||
           k == TT_OPTIM_LAMB;
}

static tt_result ttg__cuda_update(tt_ctx *ctx, const tt_backend_update *j) {
    ttg__cuda *g = ttg__g(ctx);
    const tt_optim_hparams *h = j->h;
    ttg__upd u;
    if (j->kind == TT_OPTIM_LAMB) return ttg__lamb_update(ctx, j); /* >>transformer */
    memset(&u, 0, sizeof u);
    u.kind = (int)j->kind;
    u.lr = h->lr; u.wd = j->wd; u.gsign = j->gsign; u.eps = h->eps;
    u.first = j->t == 1; u.nesterov = h->nesterov > 0; u.decoupled = h->decoupled_weight_decay > 0;
    u.amsgrad = h->amsgrad > 0; u.centered = h->centered > 0;
    u.mom = h->momentum; u.damp1 = (float)(1.0 - (double)h->dampening);
    u.b1 = h->beta1; u.b2 = h->beta2;
    u.decay = (float)(1.0 - (double)h->lr * (double)j->wd);
    if (j->kind == TT_OPTIM_ADAM || j->kind == TT_OPTIM_ADAMW) { /* as ttg__upd_adam computes them */
        double bc1 = 1.0 - pow((double)h->beta1, (double)j->t), bc2 = 1.0 - pow((double)h->beta2, (double)j->t);
        u.step_size = (float)((double)h->lr / bc1);
        u.bc2s = (float)sqrt(bc2);
        u.w1 = (float)(1.0 - (double)h->beta1);
        u.w2 = (float)(1.0 - (double)h->beta2);
    } else if (j->kind == TT_OPTIM_LION) {
        u.w1 = (float)(1.0 - (double)h->beta1);
        u.w2 = (float)(1.0 - (double)h->beta2);
    }
    u.alpha = h->alpha; u.wa = (float)(1.0 - (double)h->alpha);
    u.clr = (float)((double)h->lr / (1.0 + (double)(j->t - 1) * (double)h->lr_decay));
    u.init_acc = h->initial_accumulator_value;
    TT_LAUNCH(ttg__update, dim3(ttg__blocks(j->n)), dim3(TTG__THREADS), g->stream, u, ttg__dev(ctx, j->x, "optim"), (const float *)ttg__dev(ctx, j->g, "optim"),
              ttg__dev(ctx, j->s0, "optim"), ttg__dev(ctx, j->s1, "optim"), ttg__dev(ctx, j->s2, "optim"), j->n);
    if (ctx->err != TT_OK) return ctx->err;
    TTG__CK(ctx, "optimizer kernel", cudaGetLastError());
    return TT_OK;
}

static void ttg__cuda_release(tt_ctx *ctx) {
    ttg__cuda *g = ttg__g(ctx);
    if (!g) return;
    cudaStreamSynchronize(g->stream);
#ifdef TT_CUDA_CUBLAS
    if (g->blas) cublasDestroy(g->blas);
#endif
    if (g->stream) cudaStreamDestroy(g->stream);
    cudaFree(g->dev_base);
    cudaFreeHost(g->staging);
    cudaFreeHost(g);
    ctx->backend = NULL;
    ctx->backend_state = NULL;
}

static const char *const ttg__cuda_ops[] = {"linear", "relu", "sum", "cross_entropy", "add", "sub", "mul", "div", "softmax", "log_softmax", "layernorm", "embedding", "gelu", "gelu_tanh", "conv1d", "conv2d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "batchnorm", "adaptive_avg_pool2d", "global_avg_pool2d",
                                             "rmsnorm", "transpose", "permute", "slice", "attention", "dropout", "index_select", NULL};

static const tt_backend ttg__cuda_backend = {
    "cuda",          ttg__cuda_ops,     ttg__cuda_zero,   ttg__cuda_upload,          ttg__cuda_download,
    ttg__cuda_run,    ttg__cuda_optim_supported, ttg__cuda_update, ttg__cuda_release,
};

extern "C" tt_result tt_cuda_attach(tt_ctx *ctx, int device) {
    ttg__cuda *g = NULL;
    void *p = NULL;
    size_t bytes, used;
    int n = 0;
    cudaDeviceProp prop;
    cudaError_t e;
    if (!ctx) return TT_ERR_INVALID_ARGS;
    if (ctx->backend) return tt_backend_fail(ctx, TT_ERR_STATE, "tt_ctx_use_gpu: the context already uses a backend");
    if (!ctx->param_data) return tt_backend_fail(ctx, TT_ERR_STATE, "tt_ctx_use_gpu: the context is not initialised");
    e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        if (e == cudaSuccess) e = cudaErrorNoDevice;
        return ttg__cuda_fail(ctx, "tt_ctx_use_gpu: no GPU", e);
    }
    if (device < 0 || device >= n) return tt_backend_fail(ctx, TT_ERR_INVALID_ARGS, "tt_ctx_use_gpu: no such device");
    TTG__CK(ctx, "tt_ctx_use_gpu: cudaSetDevice", cudaSetDevice(device));
    TTG__CK(ctx, "tt_ctx_use_gpu: cudaGetDeviceProperties", cudaGetDeviceProperties(&prop, device));
    if (tt_ctx_memory_size(&ctx->desc, &bytes) != TT_OK) return tt_backend_fail(ctx, TT_ERR_STATE, "tt_ctx_use_gpu: bad desc");
    TTG__CK(ctx, "tt_ctx_use_gpu: cudaMallocHost", cudaMallocHost(&p, sizeof(ttg__cuda)));
    g = (ttg__cuda *)p;
    memset(g, 0, sizeof *g);
    g->host_base = (unsigned char *)ctx->param_data; /* the block starts with the parameter data */
    g->bytes = bytes;
    g->device = device;
    {
        size_t nl = strlen(prop.name) < sizeof g->name - 1 ? strlen(prop.name) : sizeof g->name - 1;
        memcpy(g->name, prop.name, nl);
        g->name[nl] = 0;
    }
    if ((e = cudaMallocHost(&p, TTG__STAGING)) != cudaSuccess) { cudaFreeHost(g); return ttg__cuda_fail(ctx, "tt_ctx_use_gpu: cudaMallocHost", e); }
    g->staging = (float *)p;
    g->staging_bytes = TTG__STAGING;
    if ((e = cudaMalloc(&p, bytes)) != cudaSuccess) {
        cudaFreeHost(g->staging); cudaFreeHost(g);
        return ttg__cuda_fail(ctx, "tt_ctx_use_gpu: cudaMalloc of the device block", e);
    }
    g->dev_base = (unsigned char *)p;
    if ((e = cudaStreamCreate(&g->stream)) != cudaSuccess) {
        cudaFree(g->dev_base); cudaFreeHost(g->staging); cudaFreeHost(g);
        return ttg__cuda_fail(ctx, "tt_ctx_use_gpu: cudaStreamCreate", e);
    }
#ifdef TT_CUDA_CUBLAS
    if (cublasCreate(&g->blas) != CUBLAS_STATUS_SUCCESS) {
        cudaStreamDestroy(g->stream); cudaFree(g->dev_base); cudaFreeHost(g->staging); cudaFreeHost(g);
        return tt_backend_fail(ctx, TT_ERR_UNSUPPORTED, "tt_ctx_use_gpu: cublasCreate failed");
    }
    cublasSetStream(g->blas, g->stream);
    cublasSetMathMode(g->blas, CUBLAS_DEFAULT_MATH); /* FP32, no TF32 */
#endif
    ctx->backend = &ttg__cuda_backend;
    ctx->backend_state = g;
    /* everything that exists so far: parameters, gradients, headers, workspaces, persistent
       memory (optimizer state, buffers) and the scratch in use */
    used = (size_t)(ctx->scratch.base + ctx->scratch.used - g->host_base);
    if (ttg__cuda_upload(ctx, g->host_base, g->host_base, used) != TT_OK) {
        tt_result r = ctx->err;
        ttg__cuda_release(ctx);
        return r;
    }
    return TT_OK;
}

/* The name of the GPU a context runs on ("" if none). */
extern "C" const char *tt_cuda_device_name(tt_ctx *ctx) {
    return ctx && ctx->backend == &ttg__cuda_backend ? ttg__g(ctx)->name : "";
}

extern "C" tt_result tt_cuda_set_tf32(tt_ctx *ctx, int on) {
    if (!ctx || ctx->backend != &ttg__cuda_backend) return TT_ERR_INVALID_ARGS;
#ifdef TT_CUDA_CUBLAS
    ttg__g(ctx)->tf32 = on != 0;
    cublasSetMathMode(ttg__g(ctx)->blas, on ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
    return TT_OK;
#else
    (void)on;
    return tt_backend_fail(ctx, TT_ERR_UNSUPPORTED, "tt_cuda_set_tf32: TF32 needs the cuBLAS path (build with -DTT_CUDA_CUBLAS)");
#endif
}

extern "C" tt_result tt_cuda_use_cublas(tt_ctx *ctx, int on) {
    if (!ctx || ctx->backend != &ttg__cuda_backend) return TT_ERR_INVALID_ARGS;
#ifdef TT_CUDA_CUBLAS
    ttg__g(ctx)->cublas = on != 0;
    return TT_OK;
#else
    (void)on;
    return tt_backend_fail(ctx, TT_ERR_UNSUPPORTED, "tt_cuda_use_cublas: this build has no cuBLAS path (build with -DTT_CUDA_CUBLAS)");
#endif
}

/* The hand-written SGEMM on raw device pointers, on the default stream (benchmarks, tests).
   Returns TT_OK or TT_ERR_STATE (launch error). */
extern "C" tt_result tt_cuda_sgemm_raw(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                                      const float *b, int ldb, float beta, float *c, int ldc) {
    return ttg__sgemm_launch(0, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) == cudaSuccess ? TT_OK : TT_ERR_STATE;
}
