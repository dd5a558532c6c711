/* Every elementwise kernel pair of >>ops_basic (the scalar reference and the kernel the ops use,
   its SIMD twin where the build has one) must give identical bits: tolerance 0, because the twin
   performs the same IEEE operations in the same order; NaNs only need to be NaN. Sizes 0, 1, 3,
   4, 5, 8 and 37 cover empty input, pure tails, whole vectors and vectors plus a tail; inputs
   include -0, +0, NaN, infinities and denormals. With TT_NO_SIMD (or off x86-64) both sides are
   the reference and the test still runs. */
#define TINYTRAIN_IMPLEMENTATION
#include "../tinytrain.h"
#include "test.h"

enum { MAXN = 37 };

static void fill(tt_rng *r, float *v, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) v[i] = 2.0f * tt_rng_normal(r);
    if (n > 1) v[1] = -0.0f;
    if (n > 2) v[2] = 0.0f;
    if (n > 5) v[5] = NAN;
    if (n > 6) v[6] = -INFINITY;
    if (n > 7) v[7] = INFINITY;
    if (n > 9) v[9] = 1e-40f; /* denormal */
    if (n > 10) v[10] = -1e-40f;
}

static void test_simd_pairs(void) {
    static const size_t sizes[7] = {0, 1, 3, 4, 5, 8, 37};
    const tt__ew_kernels *ref = &tt__ew_ref_kernels, *vec = &tt__ew;
    tt_rng r;
    int s, k;
    tt_rng_seed(&r, 3);
    for (s = 0; s < 7; s++)
        for (k = 0; k < 5; k++) { /* the fields of tt__ew_kernels */
            float a[MAXN], b[MAXN], o1[MAXN], o2[MAXN];
            size_t n = sizes[s];
            fill(&r, a, MAXN);
            fill(&r, b, MAXN);
            fill(&r, o1, MAXN);
            memcpy(o2, o1, sizeof o1);
            switch (k) {
            case 0: ref->add_into(o1, a, n); vec->add_into(o2, a, n); break;
            case 1: ref->sub_into(o1, a, n); vec->sub_into(o2, a, n); break;
            case 2: ref->add(o1, a, b, n); vec->add(o2, a, b, n); break;
            case 3: ref->relu(o1, a, n); vec->relu(o2, a, n); break;
            default: ref->relu_backward(o1, a, b, n); vec->relu_backward(o2, a, b, n); break;
            }
            CHECK_MSG(same_bits(o1, o2, MAXN), "kernel %d, n %zu", k, n); /* also: nothing written past n */
        }
    /* the table has one entry per kernel: 5 function pointers */
    CHECK(sizeof(tt__ew_kernels) == 5 * sizeof(ref->relu));
}

int main(void) {
    RUN(test_simd_pairs);
    TEST_EXIT();
}
