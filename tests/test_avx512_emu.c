/* The AVX-512 matmul kernel, run on any x86-64 CPU with AVX2: the AVX-512 intrinsics the
   kernel uses are replaced by portable 16-lane emulations (FMA by fmaf, so rounding is the same
   as the hardware's single-rounding vfmadd), the CPU check reports AVX-512, and the whole sgemm
   suite (tests/test_sgemm.c: every shape, transpose, alpha/beta, leading dimension, both drivers,
   threads, bit-identity between paths) runs with the AVX-512 kernel selected.

   How: the real <immintrin.h> is included first; then macros rename __m512 and the _mm512_*
   calls in the kernel to the emulations below, and turn its target("avx512f") attribute into
   target("avx2,fma"), so no AVX-512 instruction is ever emitted. TT__EMULATE_AVX512 makes the
   library's CPU check answer "AVX-512F present". Test builds only. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(TT_NO_SIMD) && !defined(__SANITIZE_ADDRESS__)
#include <immintrin.h>
#include <math.h>

typedef struct tt_emu_m512 { float f[16]; } tt_emu_m512;

static tt_emu_m512 emu_loadu(const float *p) {
    tt_emu_m512 r; int i;
    for (i = 0; i < 16; i++) r.f[i] = p[i];
    return r;
}
static tt_emu_m512 emu_maskz_loadu(unsigned short m, const float *p) {
    tt_emu_m512 r; int i;
    for (i = 0; i < 16; i++) r.f[i] = (m >> i) & 1 ? p[i] : 0.0f; /* masked-off lanes are not read */
    return r;
}
static void emu_mask_storeu(float *p, unsigned short m, tt_emu_m512 v) {
    int i;
    for (i = 0; i < 16; i++) if ((m >> i) & 1) p[i] = v.f[i];
}
static void emu_storeu(float *p, tt_emu_m512 v) { int i; for (i = 0; i < 16; i++) p[i] = v.f[i]; }
static tt_emu_m512 emu_set1(float x) { tt_emu_m512 r; int i; for (i = 0; i < 16; i++) r.f[i] = x; return r; }
static tt_emu_m512 emu_zero(void) { return emu_set1(0.0f); }
static tt_emu_m512 emu_fmadd(tt_emu_m512 a, tt_emu_m512 b, tt_emu_m512 c) {
    tt_emu_m512 r; int i;
    for (i = 0; i < 16; i++) r.f[i] = fmaf(a.f[i], b.f[i], c.f[i]);
    return r;
}
static tt_emu_m512 emu_add(tt_emu_m512 a, tt_emu_m512 b) { tt_emu_m512 r; int i; for (i = 0; i < 16; i++) r.f[i] = a.f[i] + b.f[i]; return r; }
static tt_emu_m512 emu_mul(tt_emu_m512 a, tt_emu_m512 b) { tt_emu_m512 r; int i; for (i = 0; i < 16; i++) r.f[i] = a.f[i] * b.f[i]; return r; }

#define __m512 tt_emu_m512
#define _mm512_loadu_ps(p) emu_loadu(p)
#define _mm512_maskz_loadu_ps(m, p) emu_maskz_loadu((unsigned short)(m), p)
#define _mm512_storeu_ps(p, v) emu_storeu(p, v)
#define _mm512_mask_storeu_ps(p, m, v) emu_mask_storeu(p, (unsigned short)(m), v)
#define _mm512_set1_ps(x) emu_set1(x)
#define _mm512_setzero_ps() emu_zero()
#define _mm512_fmadd_ps(a, b, c) emu_fmadd(a, b, c)
#define _mm512_add_ps(a, b) emu_add(a, b)
#define _mm512_mul_ps(a, b) emu_mul(a, b)
#define target(x) target("avx2,fma") /* every target attribute, avx512f included */
#define TT__EMULATE_AVX512 1
#define main sgemm_suite_main
#include "test_sgemm.c"
#undef main

int main(void) {
    if (!tt_kernel_supported(TT_KERNEL_AVX2)) {
        SKIP("test_avx512_emulated", "the emulation runs on AVX2+FMA CPUs");
        return 0;
    }
    if (tt_kernel_best() != TT_KERNEL_AVX512) {
        printf("FAIL test_avx512_emulated: the emulated CPU check did not select AVX-512\n");
        return 1;
    }
    return sgemm_suite_main();
}
#else
#include <stdio.h>
int main(void) {
    printf("SKIP test_avx512_emulated: needs x86-64 gcc/clang with SIMD, and is skipped under sanitizers (slow)\n");
    return 0;
}
#endif
