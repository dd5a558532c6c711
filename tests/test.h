/* Minimal test harness shared by the test programs.
   Each check prints nothing when it holds; a test prints "PASS name", "FAIL name: why" or
   "SKIP name: why". tests/summary.sh counts these lines. */
#ifndef TT_TEST_H
#define TT_TEST_H
/* The C headers that the implementation includes, so a test compiles the same whether the
   implementation is in its own unit or linked in from build/tinytrain.o (see the Makefile). */
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <float.h>
#include <stdarg.h>

static int tt_test_failed_; /* failures inside the current test */
static int tt_test_total_failed_;

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            printf("  check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
            tt_test_failed_++;                                                            \
        }                                                                                 \
    } while (0)

#define CHECK_MSG(cond, ...)                                                              \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            printf("  check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);          \
            printf(__VA_ARGS__);                                                          \
            printf("\n");                                                                 \
            tt_test_failed_++;                                                            \
        }                                                                                 \
    } while (0)

/* |a - b| <= atol + rtol * |b| */
#define CHECK_CLOSE(a, b, atol, rtol)                                                     \
    do {                                                                                  \
        double a_ = (double)(a), b_ = (double)(b);                                        \
        if (!(fabs(a_ - b_) <= (atol) + (rtol) * fabs(b_))) {                             \
            printf("  check failed at %s:%d: %s = %.9g, expected %s = %.9g\n", __FILE__,  \
                   __LINE__, #a, a_, #b, b_);                                             \
            tt_test_failed_++;                                                            \
        }                                                                                 \
    } while (0)

#define RUN(fn)                                                                           \
    do {                                                                                  \
        tt_test_failed_ = 0;                                                              \
        fn();                                                                             \
        if (tt_test_failed_) { printf("FAIL %s\n", #fn); tt_test_total_failed_++; }       \
        else printf("PASS %s\n", #fn);                                                    \
        fflush(stdout);                                                                   \
    } while (0)

#define SKIP(name, why) printf("SKIP %s: %s\n", name, why)

/* Identical bit patterns, except that any NaN matches any NaN (which NaN's sign and payload
   survive an operation on two NaNs depends on the operand order the compiler picks). */
static inline int same_bits(const float *a, const float *b, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (!(a[i] != a[i] && b[i] != b[i]) && memcmp(a + i, b + i, sizeof(float))) return 0;
    return 1;
}

#define TEST_EXIT() return tt_test_total_failed_ ? 1 : 0

#endif
