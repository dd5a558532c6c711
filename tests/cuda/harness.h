/* tests/cuda/harness.h - run tinytrain_cuda.cu's kernels on the CPU, so they can be tested where
   there is no GPU (the build machines and CI).

   Include it (C++17) before tinytrain_cuda.cu; it defines TT_CUDA_HARNESS, which makes the .cu
   file use the harness instead of the CUDA runtime:

     - every GPU thread of a block is a fiber with its own stack; threadIdx, blockIdx, blockDim
       and gridDim read the running fiber's coordinates. A switch between fibers is _setjmp /
       _longjmp (no signal mask saved, so no system call); a fiber is first entered by two
       instructions that move the stack pointer to its stack and call its entry function
       (x86-64, aarch64). Elsewhere, and in sanitizer builds (AddressSanitizer follows stack
       switches only through swapcontext, which it intercepts), fibers are ucontexts switched
       with swapcontext, as before (a system call per switch: sigprocmask);
     - blocks of a launch run one after the other; inside a block the fibers run until they reach
       a barrier, in an order given by tth::schedule (FORWARD, REVERSE, or SHUFFLED: a new seeded
       permutation after every barrier), so code that depends on an order between barriers gives
       different results under different schedules;
     - __syncthreads() is a real barrier of the block's threads; a barrier some threads never reach
       (a __syncthreads inside a branch, or after an early return) is reported as a fault;
     - warp shuffles (__shfl_sync, __shfl_down_sync, __shfl_xor_sync), votes (__ballot_sync,
       __any_sync, __all_sync) and __syncwarp exchange values among the lanes of each group of 32
       threads (the lanes wait for each other); a mask that leaves out a lane that exists, or a
       source lane that does not exist, is a fault;
     - shared memory is declared with TT_SHARED(type, name, count): here an object that
       bounds-checks every index, fills itself with NaN bytes at the start of every block, and
       tracks for every element the last writer and readers since the last __syncthreads: a read
       or write of an element that another thread wrote (or read, for a write) since the last
       barrier is reported as a race (what compute-sanitizer's racecheck reports on a GPU);
     - 16-byte vector loads (tt_ld4 in the .cu) check their alignment;
     - atomics are plain read-modify-writes (fibers never interleave inside one);
     - device memory is ordinary heap memory, separate from the host copies, so a missing upload
       or download shows up as wrong data;
     - the CUDA runtime calls the .cu uses are small functions here; tth::device_count and
       tth::fail_malloc_after let tests exercise the "no GPU" and out-of-memory paths.

   A fault (out-of-bounds shared index, race, divergent barrier, misaligned vector load, bad
   shuffle mask) is recorded in tth::fault (the first one wins) and makes the launch report
   cudaErrorLaunchFailure, which the backend turns into a tinytrain error like any CUDA error.
   This file is test-only: its state is global, which the library itself never is. */
#ifndef TT_CUDA_HARNESS_H
#define TT_CUDA_HARNESS_H
#define TT_CUDA_HARNESS 1

#include <ucontext.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <string>
#include <vector>
#include <functional>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

/* ---- CUDA vocabulary ---- */
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) float4 { float x, y, z, w; };
static inline float4 make_float4(float x, float y, float z, float w) { float4 r = {x, y, z, w}; return r; }

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __restrict__

namespace tth {

enum Schedule { FORWARD, REVERSE, SHUFFLED };
enum { RUNNABLE, AT_BLOCK_BARRIER, AT_WARP_BARRIER, DONE };

struct SharedBase {
    virtual void begin_block() = 0;
    virtual ~SharedBase() {}
};

/* TTH_JMP_FIBERS: 1 = _setjmp/_longjmp switches with a two-instruction first entry, 0 = swapcontext */
#if !defined(TTH_JMP_FIBERS)
#  if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#    define TTH_JMP_FIBERS 0
#  elif defined(__has_feature)
#    if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#      define TTH_JMP_FIBERS 0
#    endif
#  endif
#endif
#if !defined(TTH_JMP_FIBERS)
#  if (defined(__x86_64__) || defined(__aarch64__)) && (defined(__GNUC__) || defined(__clang__))
#    define TTH_JMP_FIBERS 1
#  else
#    define TTH_JMP_FIBERS 0
#  endif
#endif

struct Fiber {
    ucontext_t uc;
    jmp_buf jb;      /* where the fiber continues (TTH_JMP_FIBERS) */
    dim3 tid;
    int linear, state;
    uint64_t xchg;   /* value offered to a warp exchange */
};

struct State {
    dim3 grid, block, bid;
    std::vector<Fiber> th;
    std::vector<char> stacks;
    int cur = 0, nthreads = 0;
    long epoch = 0;                    /* block barriers passed (race tracking) */
    ucontext_t sched;
    jmp_buf sched_jb;                  /* the scheduler's side of a switch (TTH_JMP_FIBERS) */
    std::function<void()> body;
    std::vector<SharedBase *> shared;
    Schedule schedule = SHUFFLED;
    uint64_t seed = 12345;
    std::string fault;                 /* first fault since the last reset ("" = none) */
    int device_count = 1;              /* what cudaGetDeviceCount reports */
    long fail_malloc_after = -1;       /* >= 0: that many cudaMalloc calls succeed, then they fail */
    long launches = 0, blocks = 0;
    int last_error = 0;
};
inline State S;
#if defined(__GLIBC__)
/* Device buffers (and the tests' host buffers) come and go by the thousand: keep freed memory
   in the heap (no trimming, no mmap for blocks under 32 MiB) instead of handing it back and
   faulting it in again (measured: 450,000 page faults, 1.1 s of system time, down to 60,000). */
inline const int malloc_keeps_memory = (mallopt(M_TRIM_THRESHOLD, 1 << 30), mallopt(M_MMAP_THRESHOLD, 32 << 20), 1);
#endif
static const size_t STACK = 64 * 1024;

inline void set_fault(const std::string &m) {
    if (S.fault.empty()) {
        char where[96];
        snprintf(where, sizeof where, " (block %u,%u,%u thread %d)", S.bid.x, S.bid.y, S.bid.z,
                 S.nthreads ? S.th[S.cur].linear : -1);
        S.fault = m + where;
    }
}
inline void reset() { S.fault.clear(); S.last_error = 0; }

inline uint64_t rnd(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

inline void yield_as(int state) {
    Fiber &f = S.th[S.cur];
    f.state = state;
#if TTH_JMP_FIBERS
    if (!_setjmp(f.jb)) _longjmp(S.sched_jb, 1);
#else
    swapcontext(&f.uc, &S.sched);
#endif
}

inline void trampoline() {
    S.body();
    S.th[S.cur].state = DONE;
#if TTH_JMP_FIBERS
    _longjmp(S.sched_jb, 1); /* a fiber's first frame never returns */
#endif
    /* ucontext: uc_link returns to the scheduler */
}

#if TTH_JMP_FIBERS
/* First entry of a fiber: stack pointer to the top of its stack (16-byte aligned), call fn. fn
   never returns (it ends with _longjmp to the scheduler). */
[[noreturn]] inline void enter_stack(void *top, void (*fn)()) {
#if defined(__x86_64__)
    __asm__ volatile("mov %0, %%rsp\n\tcall *%1\n\tud2" : : "r"(top), "r"(fn) : "memory");
#else
    __asm__ volatile("mov sp, %0\n\tblr %1\n\tbrk #0" : : "r"(top), "r"(fn) : "memory", "x30");
#endif
    __builtin_unreachable();
}
#endif

/* Runs fiber t until it yields or ends. */
inline void resume(int t, int first) {
    S.cur = t;
#if TTH_JMP_FIBERS
    if (_setjmp(S.sched_jb)) return;
    if (first) enter_stack(S.stacks.data() + (size_t)(t + 1) * STACK, trampoline);
    _longjmp(S.th[t].jb, 1);
#else
    (void)first;
    swapcontext(&S.sched, &S.th[t].uc);
#endif
}

inline void make_order(std::vector<int> &order, uint64_t *rs) {
    int n = (int)order.size(), i;
    for (i = 0; i < n; i++) order[i] = S.schedule == REVERSE ? n - 1 - i : i;
    if (S.schedule == SHUFFLED)
        for (i = n - 1; i > 0; i--) { int j = (int)(rnd(rs) % (uint64_t)(i + 1)), t = order[i]; order[i] = order[j]; order[j] = t; }
}

inline void run_block() {
    int n = S.nthreads, i;
    std::vector<int> order((size_t)n);
    uint64_t rs = S.seed ^ ((uint64_t)S.blocks * 0x1234567ull);
    for (auto *sh : S.shared) sh->begin_block();
    for (i = 0; i < n; i++) {
        Fiber &f = S.th[i];
        f.linear = i;
        f.tid = dim3((unsigned)i % S.block.x, ((unsigned)i / S.block.x) % S.block.y, (unsigned)i / (S.block.x * S.block.y));
        f.state = RUNNABLE;
#if !TTH_JMP_FIBERS
        getcontext(&f.uc);
        f.uc.uc_stack.ss_sp = &S.stacks[(size_t)i * STACK];
        f.uc.uc_stack.ss_size = STACK;
        f.uc.uc_link = &S.sched;
        makecontext(&f.uc, trampoline, 0);
#endif
    }
    std::vector<char> started((size_t)n, 0);
    for (;;) {
        int done = 0, at_block = 0, released = 0, w;
        make_order(order, &rs);
        for (i = 0; i < n; i++) {
            int t = order[(size_t)i];
            if (S.th[t].state != RUNNABLE) continue;
            resume(t, !started[(size_t)t]);
            started[(size_t)t] = 1;
        }
        for (i = 0; i < n; i++) {
            done += S.th[i].state == DONE;
            at_block += S.th[i].state == AT_BLOCK_BARRIER;
        }
        if (done == n) break;
        for (w = 0; w < (n + 31) / 32; w++) { /* a warp exchange completes when every live lane is in it */
            int lo = w * 32, hi = lo + 32 < n ? lo + 32 : n, in = 0, live = 0;
            for (i = lo; i < hi; i++) { in += S.th[i].state == AT_WARP_BARRIER; live += S.th[i].state != DONE; }
            if (in && in == live) { for (i = lo; i < hi; i++) S.th[i].state = RUNNABLE; released = 1; }
        }
        if (!released && at_block && at_block + done == n) {
            if (done) set_fault("__syncthreads() not reached by every thread of the block (divergent barrier)");
            for (i = 0; i < n; i++) if (S.th[i].state == AT_BLOCK_BARRIER) S.th[i].state = RUNNABLE;
            S.epoch++;
            released = 1;
        }
        if (!released) { /* stuck: mixed barriers */
            set_fault("deadlock: some threads wait at __syncthreads() while lanes of their warp wait in a warp operation");
            for (i = 0; i < n; i++) if (S.th[i].state != DONE) S.th[i].state = RUNNABLE;
        }
    }
    S.blocks++;
}

template <class... P, class... A> void launch(dim3 grid, dim3 block, void (*kernel)(P...), A... args) {
    S.launches++;
    S.grid = grid; S.block = block;
    S.nthreads = (int)(block.x * block.y * block.z);
    if (S.nthreads <= 0 || S.nthreads > 1024 || grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535) {
        set_fault("invalid launch configuration");
        S.last_error = 9; /* cudaErrorInvalidConfiguration */
        return;
    }
    if (S.th.size() < (size_t)S.nthreads) S.th.resize((size_t)S.nthreads);
    if (S.stacks.size() < (size_t)S.nthreads * STACK) S.stacks.resize((size_t)S.nthreads * STACK);
    S.body = [&]() { kernel(args...); };
    std::string before = S.fault;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                S.bid = dim3(x, y, z);
                run_block();
            }
    S.nthreads = 0;
    if (S.fault != before && !S.fault.empty()) S.last_error = 719; /* cudaErrorLaunchFailure */
}

/* ---- shared memory ---- */
/* TT_SHARED(T, name, N) declares one of these (a function-static object: one per kernel, shared
   by the fibers of the running block). Element N is a sink that out-of-range accesses use after
   the fault is recorded, so a bad index never touches other memory. */
template <class T, size_t N> struct SharedArray : SharedBase {
    struct Proxy {
        SharedArray *s;
        size_t i;
        operator T() const { s->note(i, 0); return s->a[i]; }
        Proxy &operator=(T v) { s->note(i, 1); s->a[i] = v; return *this; }
        Proxy &operator=(const Proxy &o) { return *this = (T)o; }
        Proxy &operator+=(T v) { T x = *this; return *this = x + v; }
        Proxy &operator-=(T v) { T x = *this; return *this = x - v; }
        Proxy &operator*=(T v) { T x = *this; return *this = x * v; }
    };
    alignas(16) T a[N + 4];
    long w_tid[N + 1], w_epoch[N + 1], r_tid[N + 1], r_epoch[N + 1]; /* r_tid -2: several readers */
    const char *name;
    explicit SharedArray(const char *nm) : name(nm) { S.shared.push_back(this); begin_block(); }
    void begin_block() override {
        memset(a, 0xFF, sizeof a); /* NaN for floats, -1 for ints: uninitialised reads show */
        for (size_t i = 0; i <= N; i++) w_epoch[i] = r_epoch[i] = -1;
    }
    bool in_range(long i, long n, const char *what) {
        if (i >= 0 && (size_t)(i + n) <= N) return true;
        char m[200];
        snprintf(m, sizeof m, "shared array '%s': %s at index %ld outside [0, %zu)", name, what, i, N);
        set_fault(m);
        return false;
    }
    void note(size_t i, int write) {
        long me = S.th[S.cur].linear;
        if (i == N) return; /* the sink */
        if (w_epoch[i] == S.epoch && w_tid[i] != me) {
            char m[220];
            snprintf(m, sizeof m, "race on shared array '%s'[%zu]: %s by thread %ld after a write by thread %ld with no __syncthreads() between",
                     name, i, write ? "write" : "read", me, w_tid[i]);
            set_fault(m);
        }
        if (write && r_epoch[i] == S.epoch && r_tid[i] != me) {
            char m[220];
            snprintf(m, sizeof m, "race on shared array '%s'[%zu]: write by thread %ld after a read by another thread with no __syncthreads() between",
                     name, i, me);
            set_fault(m);
        }
        if (write) { w_tid[i] = me; w_epoch[i] = S.epoch; }
        else if (r_epoch[i] == S.epoch && r_tid[i] != me) r_tid[i] = -2;
        else { r_tid[i] = me; r_epoch[i] = S.epoch; }
    }
    Proxy operator[](long i) { return Proxy{this, in_range(i, 1, "access") ? (size_t)i : N}; }
    float4 ld4(long i) { /* 16-byte load of elements i..i+3 */
        float4 r = {0, 0, 0, 0};
        if (!in_range(i, 4, "16-byte load")) return r;
        if (((uintptr_t)&a[i] & 15) != 0) { set_fault(std::string("misaligned 16-byte load from shared array ") + name); return r; }
        r.x = (*this)[i]; r.y = (*this)[i + 1]; r.z = (*this)[i + 2]; r.w = (*this)[i + 3];
        return r;
    }
};

/* ---- warp operations ---- */
inline int lane_count_of_my_warp() {
    int w0 = S.th[S.cur].linear & ~31;
    return S.nthreads - w0 < 32 ? S.nthreads - w0 : 32;
}
inline void check_mask(unsigned mask, const char *op) {
    int n = lane_count_of_my_warp();
    unsigned live = n == 32 ? 0xffffffffu : ((1u << n) - 1u);
    if ((mask & live) != live) set_fault(std::string(op) + ": mask leaves out lanes that execute it");
}
template <class T> T exchange(T v, int src, const char *op) {
    Fiber &me = S.th[S.cur];
    int base = me.linear & ~31, n = lane_count_of_my_warp();
    uint64_t bits = 0;
    T r = v;
    memcpy(&bits, &v, sizeof v);
    me.xchg = bits;
    yield_as(AT_WARP_BARRIER);
    if (src >= 0) {
        if (src >= n) set_fault(std::string(op) + ": source lane does not exist");
        else memcpy(&r, &S.th[(size_t)(base + src)].xchg, sizeof r);
    }
    yield_as(AT_WARP_BARRIER); /* nobody offers a new value before everyone has read */
    return r;
}
inline int lane() { return S.th[S.cur].linear & 31; }

} /* namespace tth */

#define threadIdx (tth::S.th[tth::S.cur].tid)
#define blockIdx (tth::S.bid)
#define blockDim (tth::S.block)
#define gridDim (tth::S.grid)
#define warpSize 32
#define __syncthreads() tth::yield_as(tth::AT_BLOCK_BARRIER)
#define __syncwarp(...) tth::yield_as(tth::AT_WARP_BARRIER)

template <class T> T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
    tth::check_mask(mask, "__shfl_sync");
    int l = tth::lane();
    return tth::exchange(v, (l & ~(width - 1)) + (src & (width - 1)), "__shfl_sync");
}
template <class T> T __shfl_down_sync(unsigned mask, T v, unsigned d, int width = 32) {
    tth::check_mask(mask, "__shfl_down_sync");
    int l = tth::lane(), seg = l & ~(width - 1), s = l + (int)d;
    return tth::exchange(v, s < seg + width ? s : -1, "__shfl_down_sync");
}
template <class T> T __shfl_xor_sync(unsigned mask, T v, int x, int width = 32) {
    tth::check_mask(mask, "__shfl_xor_sync");
    int l = tth::lane(), s = l ^ x;
    return tth::exchange(v, (s & ~(width - 1)) == (l & ~(width - 1)) ? s : -1, "__shfl_xor_sync");
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
    tth::Fiber &me = tth::S.th[tth::S.cur];
    int base = me.linear & ~31, n = tth::lane_count_of_my_warp(), i;
    unsigned r = 0;
    tth::check_mask(mask, "__ballot_sync");
    me.xchg = pred != 0;
    tth::yield_as(tth::AT_WARP_BARRIER);
    for (i = 0; i < n; i++) r |= (tth::S.th[(size_t)(base + i)].xchg ? 1u : 0u) << i;
    tth::yield_as(tth::AT_WARP_BARRIER);
    return r & mask;
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, !pred) == 0; }

inline float atomicAdd(float *p, float v) { float o = *p; *p = o + v; return o; }
inline int atomicAdd(int *p, int v) { int o = *p; *p = o + v; return o; }
inline unsigned atomicAdd(unsigned *p, unsigned v) { unsigned o = *p; *p = o + v; return o; }
inline int atomicMax(int *p, int v) { int o = *p; if (v > o) *p = v; return o; }
inline int atomicCAS(int *p, int c, int v) { int o = *p; if (o == c) *p = v; return o; }

/* ---- the CUDA runtime, as far as tinytrain_cuda.cu uses it ---- */
typedef int cudaError_t;
typedef void *cudaStream_t;
enum { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorMemoryAllocation = 2, cudaErrorNoDevice = 100,
       cudaErrorLaunchFailure = 719 };
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3 };
struct cudaDeviceProp { char name[256]; size_t totalGlobalMem; int major, minor; };

inline const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case 9: return "invalid configuration argument";
    case cudaErrorLaunchFailure: return tth::S.fault.empty() ? "unspecified launch failure" : tth::S.fault.c_str();
    default: return "unknown error";
    }
}
inline cudaError_t cudaGetDeviceCount(int *n) { *n = tth::S.device_count; return tth::S.device_count ? cudaSuccess : cudaErrorNoDevice; }
inline cudaError_t cudaSetDevice(int d) { return d >= 0 && d < tth::S.device_count ? cudaSuccess : cudaErrorInvalidValue; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int) {
    memset(p, 0, sizeof *p);
    strcpy(p->name, "CPU execution harness");
    p->totalGlobalMem = (size_t)1 << 30; p->major = 8; p->minor = 0;
    return cudaSuccess;
}
inline cudaError_t cudaMalloc(void **p, size_t n) {
    if (tth::S.fail_malloc_after == 0) { *p = NULL; return cudaErrorMemoryAllocation; }
    if (tth::S.fail_malloc_after > 0) tth::S.fail_malloc_after--;
    *p = aligned_alloc(256, (n + 255) / 256 * 256 + 256);
    if (*p) memset(*p, 0xA5, n); /* device memory starts as garbage */
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
inline cudaError_t cudaFree(void *p) { free(p); return cudaSuccess; }
inline cudaError_t cudaMallocHost(void **p, size_t n) { *p = malloc(n ? n : 1); return *p ? cudaSuccess : cudaErrorMemoryAllocation; }
inline cudaError_t cudaFreeHost(void *p) { free(p); return cudaSuccess; }
inline cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind, cudaStream_t = 0) { if (n) memmove(d, s, n); return cudaSuccess; }
inline cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind k) { return cudaMemcpyAsync(d, s, n, k); }
inline cudaError_t cudaMemsetAsync(void *d, int v, size_t n, cudaStream_t = 0) { if (n) memset(d, v, n); return cudaSuccess; }
inline cudaError_t cudaStreamCreate(cudaStream_t *s) { *s = NULL; return cudaSuccess; }
inline cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaGetLastError(void) { cudaError_t e = tth::S.last_error; tth::S.last_error = 0; return e; }

#endif
