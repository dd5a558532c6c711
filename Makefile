# tinytrain: `make` builds tests and examples, `make test` runs the tests,
# `make demo` trains a small classifier, `make bench` runs the benchmarks.
CC      ?= cc
OPT     ?= -O2
WARN    := -std=c99 -Wall -Wextra -Wpedantic -Werror
CFLAGS  ?=
LDLIBS  := -lm -lpthread
BUILD   ?= build

ifeq ($(SAN),1)
  BUILD   := build-san
  OPT     := -O1 -g -fno-omit-frame-pointer
  SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all
endif

TEST_SRC    := $(wildcard tests/test_*.c)
TEST_BIN    := $(patsubst tests/%.c,$(BUILD)/%,$(TEST_SRC)) $(BUILD)/test_cuda_harness
EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLE_BIN := $(patsubst examples/%.c,$(BUILD)/%,$(EXAMPLE_SRC))

.PHONY: all test demo bench clean
all: $(TEST_BIN) $(EXAMPLE_BIN)

$(BUILD):
	mkdir -p $(BUILD)

$(BUILD)/test_%: tests/test_%.c tinytrain.h tests/test.h | $(BUILD)
	$(CC) $(WARN) $(OPT) $(SANFLAGS) $(CFLAGS) -I. -o $@ $< $(LDLIBS)

$(BUILD)/%: examples/%.c tinytrain.h | $(BUILD)
	$(CC) $(WARN) $(OPT) $(SANFLAGS) $(CFLAGS) -I. -o $@ $< $(LDLIBS)

# tinytrain_cuda.cu's kernels on the CPU execution harness (C++17: fibers for GPU threads)
CXX ?= c++
$(BUILD)/test_cuda_harness: tests/test_cuda_harness.cc tinytrain.h tinytrain_cuda.cu tests/cuda/harness.h tests/test.h | $(BUILD)
	$(CXX) -std=c++17 -Wall -Wextra -Werror $(OPT) $(SANFLAGS) -I. -o $@ $< -lm

# this test includes the example it checks
$(BUILD)/test_optimizer_tour: examples/optimizer_tour.c

test: $(TEST_BIN)
	@bash tests/summary.sh $(TEST_BIN)

demo: $(BUILD)/spirals_svg
	./$(BUILD)/spirals_svg

clean:
	rm -rf build build-san

# ---- matmul benchmarks and cross-checks (bench, test-neon) ----
# bench: tinytrain vs OpenBLAS (benchmark only). OPENBLAS_CORETYPE=SkylakeX only on AVX-512 CPUs;
# elsewhere OpenBLAS picks its own core (Zen / Haswell). OPENBLAS_THREAD_TIMEOUT: see bench_sgemm.c.
bench: $(BUILD)/bench_sgemm
	@if grep -qw avx512f /proc/cpuinfo; then OPENBLAS_CORETYPE=SkylakeX OPENBLAS_THREAD_TIMEOUT=20 ./$(BUILD)/bench_sgemm; \
	else OPENBLAS_THREAD_TIMEOUT=20 ./$(BUILD)/bench_sgemm; fi

$(BUILD)/bench_sgemm: bench/bench_sgemm.c tinytrain.h | $(BUILD)
	$(CC) $(WARN) $(OPT) $(CFLAGS) -I. -o $@ $< -lopenblas $(LDLIBS)

# test-neon: the NEON kernel, cross-compiled and run under qemu
AARCH64_CC ?= aarch64-linux-gnu-gcc
.PHONY: test-neon
test-neon:
	mkdir -p build/aarch64
	$(AARCH64_CC) $(WARN) -O2 -static -I. -o build/aarch64/test_sgemm tests/test_sgemm.c -lm -lpthread
	qemu-aarch64 -L /usr/aarch64-linux-gnu build/aarch64/test_sgemm

# ---- training-step benchmark vs PyTorch (bench-train; benchmark only, not part of the tests) ----
# Full training steps (forward, loss, backward, optimizer) of an MLP, a small CNN and a one-block
# transformer, tinytrain vs PyTorch CPU, alternating rounds, medians; threads 1 and 2.
.PHONY: bench-train
bench-train: $(BUILD)/bench_train
	@sh bench/bench_train.sh ./$(BUILD)/bench_train

$(BUILD)/bench_train: bench/bench_train.c tinytrain.h | $(BUILD)
	$(CC) $(WARN) $(OPT) $(CFLAGS) -I. -o $@ $< $(LDLIBS)

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
