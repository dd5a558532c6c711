# tinytrain: `make` builds tests and examples, `make test` runs the tests,
# `make demo` trains a small classifier, `make bench` runs the benchmarks.
#
# How the tests are built (fast on a small machine):
#   - the implementation is compiled once, into $(BUILD)/tinytrain.o (from tests/compile/impl_lib.c,
#     the two-line implementation file a user's build would have);
#   - a test written the usual way (#define TINYTRAIN_IMPLEMENTATION, #include "../tinytrain.h") is
#     compiled with -DTINYTRAIN_IMPLEMENTATION_INCLUDED, the header's own include guard for the
#     implementation, so it sees the declarations only, and is linked against that object
#     (tests/test.h includes the C headers that the implementation would have brought in);
#   - a test keeps the implementation in its own translation unit when it defines a TT_ switch
#     before the include (an allocator, an emulated CPU), when it uses private tt__ / TT__ names,
#     or when it is listed in SINGLE_ALWAYS (test_core: the single-include path itself). Such tests
#     are compiled with -DTT_STATIC=, so the compiler drops every library function the test does
#     not reach instead of optimising all of them (about a third of the compile time); to move a
#     linked test there, add its name to SINGLE_ALWAYS (one word, no change to the test).
#     Each costs a compile of what it reaches (2 to 6 s of CPU), so a check that needs a private
#     name, in a test that needs none otherwise, goes into tests/test_core.c;
#   - those of them without a TT_ switch of their own and with "int main(void)" (BUNDLE_NAMES:
#     test_core, test_simd_pairs, test_trainbench, test_vexp) are compiled together for make test,
#     as one program, $(BUILD)/test_internals, that runs them one after the other (they reach
#     mostly the same library code, so this costs about one of them); each one still builds alone
#     (make build/test_vexp && ./build/test_vexp);
#   - optimisation levels: the library code that tests exercise is compiled the way users get it,
#     $(OPT) (-O2): build/tinytrain.o and every test that keeps the implementation in its own unit
#     (they test the SIMD kernels, the sgemm paths and the single-include build). A linked test's
#     own file holds only test code and reference formulas, so it is compiled at $(TEST_OPT)
#     (-O0: a third of the compile time of -O2, and no measurable difference in run time). The
#     CUDA harness test runs tinytrain_cuda.cu's kernels on a CPU emulation of the GPU, which no
#     user build contains, so its file is compiled at $(HARNESS_OPT) (-O1: 4 s less to compile
#     than -O2, the same run time; -O0 compiles 1 s faster and runs 2 s slower). It is a linked
#     test too (C++, linked against $(BUILD)/tinytrain.o): tt_ctx_use_gpu reaches the .cu's
#     tt_cuda_attach through a weak reference, so the library object needs no TT_CUDA. SAN=1
#     compiles everything at its one level;
#   - everything builds in parallel (-j<number of CPUs> unless -j is given), longest jobs first
#     (FIRST below; the linked tests' objects need no library object, so they fill the time it
#     takes), and each test's PASS/FAIL/SKIP lines are printed as soon as that test has run; the
#     last line is "N passed, N failed[, N skipped]".
# Cost on a fresh clone: see "make test" in README.md; measure with tests/time_build.sh.
# `make V=1` shows the full compiler command lines.
CC      ?= cc
OPT     ?= -O2
TEST_OPT ?= -O0
HARNESS_OPT ?= -O1
WARN    := -std=c99 -Wall -Wextra -Wpedantic -Werror
CFLAGS  ?=
LDLIBS  := -lm -lpthread
BUILD   ?= build

ifeq ($(filter -j%,$(MAKEFLAGS)),)
  MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif

ifeq ($(SAN),1)
  BUILD   := build-san
  OPT     := -O1 -g -fno-omit-frame-pointer
  TEST_OPT := $(OPT)
  HARNESS_OPT := $(OPT)
  SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all
endif

ifeq ($(V),1)
  Q :=
  say = @:
else
  Q := @
  say = @echo "  $(1)"
endif

SINGLE_ALWAYS := test_core
TEST_SRC    := $(wildcard tests/test_*.c)
TEST_NAMES  := $(patsubst tests/%.c,%,$(TEST_SRC))
HASH := \#
SINGLE_PL := s{/\*.*?\*/}{}gs; s{//[^\n]*}{}g; print "$$ARGV\n" \
    if /^\s*$(HASH)\s*define\s+TT_|\btt__\w+|\bTT__\w+/m
SINGLE_FOUND := $(patsubst tests/%.c,%,$(shell perl -0777 -ne '$(SINGLE_PL)' $(TEST_SRC)))
SINGLE_NAMES := $(filter $(TEST_NAMES),$(sort $(SINGLE_ALWAYS) $(SINGLE_FOUND)))
LINKED_NAMES := $(filter-out $(SINGLE_NAMES),$(TEST_NAMES))
# own-unit tests without a switch of their own and with "int main(void)" share one program
BUNDLE_PL := s{/\*.*?\*/}{}gs; s{//[^\n]*}{}g; print "$$ARGV\n" \
    if !/^\s*$(HASH)\s*define\s+TT_/m && /^int\s+main\s*\(\s*void\s*\)/m
BUNDLE_NAMES := $(filter $(SINGLE_NAMES),$(patsubst tests/%.c,%,$(shell perl -0777 -ne '$(BUNDLE_PL)' $(TEST_SRC))))
BUNDLE_BIN  := $(BUILD)/test_internals
SINGLE_BIN  := $(addprefix $(BUILD)/,$(SINGLE_NAMES))
LINKED_BIN  := $(addprefix $(BUILD)/,$(LINKED_NAMES))
CUDA_BIN    := $(BUILD)/test_cuda_harness
TEST_BIN    := $(BUNDLE_BIN) $(filter-out $(addprefix $(BUILD)/,$(BUNDLE_NAMES)),$(SINGLE_BIN)) $(CUDA_BIN) $(LINKED_BIN)
# the longest jobs first (measured: compile + run CPU seconds), so that the last minute of a
# parallel build is not one long job on one CPU; the others follow in name order
FIRST       := test_cuda_harness test_avx512_emu test_internals test_sgemm test_fashion test_data
FIRST_BIN   := $(filter $(TEST_BIN),$(addprefix $(BUILD)/,$(FIRST)))
TEST_LOG    := $(addsuffix .log,$(FIRST_BIN) $(filter-out $(FIRST_BIN),$(TEST_BIN)))
LINKED_OBJ  := $(addsuffix .o,$(LINKED_BIN))
EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLE_BIN := $(patsubst examples/%.c,$(BUILD)/%,$(EXAMPLE_SRC))
IMPL_OBJ    := $(BUILD)/tinytrain.o
LINKED_FLAGS := -DTINYTRAIN_IMPLEMENTATION_INCLUDED

.PHONY: all test demo bench clean FORCE
all: $(IMPL_OBJ) $(TEST_BIN) $(EXAMPLE_BIN)

$(BUILD):
	mkdir -p $(BUILD)

# the implementation, once
$(IMPL_OBJ): tests/compile/impl_lib.c tinytrain.h | $(BUILD)
	$(call say,CC $@)
	$(Q)$(CC) $(WARN) $(OPT) $(SANFLAGS) $(CFLAGS) -I. -c -o $@ $<

# tests and examples that link against it
$(BUILD)/%.o: tests/%.c | $(BUILD)
	$(call say,CC $@)
	$(Q)$(CC) $(WARN) $(TEST_OPT) $(SANFLAGS) $(CFLAGS) $(LINKED_FLAGS) -MMD -MP -I. -c -o $@ $<
$(LINKED_BIN): $(BUILD)/%: $(BUILD)/%.o $(IMPL_OBJ)
	$(call say,LD $@)
	$(Q)$(CC) $(OPT) $(SANFLAGS) $(CFLAGS) -o $@ $^ $(LDLIBS)

# tests with the implementation in their own translation unit
$(SINGLE_BIN): $(BUILD)/%: tests/%.c | $(BUILD)
	$(call say,CC $@ (with the implementation))
	$(Q)$(CC) $(WARN) $(OPT) $(SANFLAGS) $(CFLAGS) -DTT_STATIC= -MMD -MP -I. -o $@ $< $(LDLIBS)

# the bundle: one translation unit with the implementation and each BUNDLE_NAMES test, its main
# renamed; it runs them one after the other. The tests share most of what they reach in the
# library, so one compile costs about what the largest of them costs alone (measured: 5.9 s
# CPU against 13.4 s for test_core, test_trainbench, test_vexp and test_simd_pairs apart).
# Each stays a program of its own too (make build/test_vexp). Two of them defining the same
# static name is a compile error here: rename one.
$(BUNDLE_BIN): $(addprefix tests/,$(addsuffix .c,$(BUNDLE_NAMES))) tests/test.h | $(BUILD)
	$(call say,CC $@ (with the implementation: $(BUNDLE_NAMES)))
	$(Q){ printf '/* generated by the Makefile: $(BUNDLE_NAMES) in one program */\n'; \
	  printf '#define TINYTRAIN_IMPLEMENTATION\n#include "tinytrain.h"\n#include "tests/test.h"\n'; \
	  for t in $(BUNDLE_NAMES); do printf '#define main main_%s\n#include "tests/%s.c"\n#undef main\n' $$t $$t; done; \
	  printf 'int main(void) {\n    int r = 0;\n'; \
	  for t in $(BUNDLE_NAMES); do printf '    r |= main_%s();\n' $$t; done; \
	  printf '    return r;\n}\n'; } > $@.c
	$(Q)$(CC) $(WARN) $(OPT) $(SANFLAGS) $(CFLAGS) -DTT_STATIC= -MMD -MP -I. -o $@ $@.c $(LDLIBS)

# tinytrain_cuda.cu's kernels on the CPU execution harness (C++17: fibers for GPU threads)
CXX ?= c++
$(BUILD)/test_cuda_harness.o: tests/test_cuda_harness.cc tinytrain.h tinytrain_cuda.cu tests/cuda/harness.h tests/test.h examples/fashion_mlp.c examples/fashion_data.h | $(BUILD)
	$(call say,CXX $@)
	$(Q)$(CXX) -std=c++17 -Wall -Wextra -Werror $(HARNESS_OPT) $(SANFLAGS) $(LINKED_FLAGS) -I. -c -o $@ $<
$(BUILD)/test_cuda_harness: $(BUILD)/test_cuda_harness.o $(IMPL_OBJ)
	$(call say,LD $@)
	$(Q)$(CXX) $(SANFLAGS) -o $@ $^ $(LDLIBS)

# examples: built as a user would build them (one file, implementation included)
$(EXAMPLE_BIN): $(BUILD)/%: examples/%.c | $(BUILD)
	$(call say,CC $@)
	$(Q)$(CC) $(WARN) $(OPT) $(SANFLAGS) $(CFLAGS) -MMD -MP -I. -o $@ $< $(LDLIBS)

-include $(wildcard $(BUILD)/*.d)

# run each test as soon as it is built; the logs feed the summary
$(BUILD)/%.log: $(BUILD)/% FORCE
	@bash tests/run_test.sh $< $@
FORCE:

# heavy jobs first, so that -j keeps every CPU busy until the end: the library object, then the
# tests in FIRST's order (the linked objects need no library, so they fill the wait for it)
test: $(IMPL_OBJ) $(FIRST_BIN) $(LINKED_OBJ) $(TEST_LOG)
	@bash tests/summary.sh $(TEST_LOG)

# demo: Fashion-MNIST MLP (progress, accuracy, confusion matrix, curves, checkpoint, reload);
# without the data set (status 2) it says how to get it and trains the spirals example instead.
demo: $(BUILD)/demo $(BUILD)/spirals_svg
	@./$(BUILD)/demo; rc=$$?; \
	if [ $$rc -eq 2 ]; then echo "Fashion-MNIST not found: training the spirals example instead"; ./$(BUILD)/spirals_svg; \
	else exit $$rc; fi
$(BUILD)/demo: examples/fashion_data.h

clean:
	rm -rf build build-san

# ---- matmul benchmarks and cross-checks (bench, test-neon) ----
# bench: tinytrain vs OpenBLAS (benchmark only). OPENBLAS_CORETYPE=SkylakeX only on AVX-512 CPUs;
# elsewhere OpenBLAS picks its own core (Zen / Haswell). OPENBLAS_THREAD_TIMEOUT: see bench_sgemm.c.
bench: $(BUILD)/bench_sgemm $(BUILD)/bench_fashion
	@if grep -qw avx512f /proc/cpuinfo; then OPENBLAS_CORETYPE=SkylakeX OPENBLAS_THREAD_TIMEOUT=20 ./$(BUILD)/bench_sgemm; \
	else OPENBLAS_THREAD_TIMEOUT=20 ./$(BUILD)/bench_sgemm; fi
	@python3 bench/bench_fashion.py ./$(BUILD)/bench_fashion 1 || echo "SKIP bench fashion: python3 not available"

# one epoch of the Fashion-MNIST examples against PyTorch (bench/bench_fashion.py)
$(BUILD)/bench_fashion: bench/bench_fashion.c examples/fashion_mlp.c examples/fashion_cnn.c examples/fashion_data.h tinytrain.h | $(BUILD)
	$(CC) $(WARN) $(OPT) $(CFLAGS) -I. -o $@ $< $(LDLIBS)

$(BUILD)/bench_sgemm: bench/bench_sgemm.c tinytrain.h | $(BUILD)
	$(CC) $(WARN) $(OPT) $(CFLAGS) -I. -o $@ $< -lopenblas $(LDLIBS)

# test-neon: the NEON kernels (sgemm; exp / erf / tanh), cross-compiled and run under qemu
AARCH64_CC ?= aarch64-linux-gnu-gcc
.PHONY: test-neon
test-neon:
	mkdir -p build/aarch64
	$(AARCH64_CC) $(WARN) -O2 -static -I. -o build/aarch64/test_sgemm tests/test_sgemm.c -lm -lpthread
	qemu-aarch64 -L /usr/aarch64-linux-gnu build/aarch64/test_sgemm
	$(AARCH64_CC) $(WARN) -O2 -static -I. -o build/aarch64/test_vmath tests/test_vmath.c -lm -lpthread
	qemu-aarch64 -L /usr/aarch64-linux-gnu build/aarch64/test_vmath

# ---- training-step benchmark vs PyTorch (bench-train; benchmark only, not part of the tests) ----
# Full training steps (forward, loss, backward, optimizer) of an MLP, a small CNN and a one-block
# transformer, tinytrain vs PyTorch CPU, alternating rounds, medians; threads 1 and 2.
.PHONY: bench-train
bench-train: $(BUILD)/bench_train
	@sh bench/bench_train.sh ./$(BUILD)/bench_train

$(BUILD)/bench_train: bench/bench_train.c tinytrain.h | $(BUILD)
	$(CC) $(WARN) $(OPT) $(CFLAGS) -I. -o $@ $< $(LDLIBS)

# ---- the embedded example for a Cortex-M4F (static memory, no malloc, no stdio) ----
.PHONY: embedded-m4
embedded-m4:
	mkdir -p build/m4
	arm-none-eabi-gcc $(WARN) -Os -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 --specs=nosys.specs \
	  -ffunction-sections -fdata-sections -Wl,--gc-sections \
	  -I. -o build/m4/embedded.elf examples/embedded.c -lm
	arm-none-eabi-size build/m4/embedded.elf

# ---- GPU (tinytrain_cuda.cu on a real NVIDIA GPU; tests/cuda/run_on_gpu.sh does the work) ----
# test-cuda: build with nvcc, run tests/cuda/test_gpu.c and compute-sanitizer (memcheck, racecheck,
# synccheck); bench-cuda: SGEMM vs cuBLAS and training steps vs PyTorch CUDA. Both print
# "skipped: no GPU" on a machine without one. cuda-build: the nvcc compile gate alone (CI).
.PHONY: test-cuda bench-cuda cuda-build
test-cuda:
	@bash tests/cuda/run_on_gpu.sh test
bench-cuda:
	@bash tests/cuda/run_on_gpu.sh bench
cuda-build:
	@bash tests/cuda/run_on_gpu.sh build
