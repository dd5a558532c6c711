#!/usr/bin/env bash
# tinytrain_cuda.cu on a real GPU, in one command (a few minutes):
#   tests/cuda/run_on_gpu.sh [build|test|bench|all]      (default all)
#   build: nvcc for sm_80 and sm_90 with warnings as errors, -Xptxas -v output (registers and
#          spills per kernel) kept in the log; the cuBLAS variant; test and bench programs linked
#          against cudart (and cuBLAS); runs test_gpu once (on a machine without a GPU it must
#          report "SKIP ...: no GPU", which checks the no-GPU error path against the real runtime)
#   test:  build, then test_gpu (plain and cuBLAS) and compute-sanitizer memcheck, racecheck and
#          synccheck over test_gpu
#   bench: build, then SGEMM vs cuBLAS (bench_gpu) and training steps vs PyTorch CUDA eager
#          (bench_train --gpu, bench_train_torch.py --gpu)
# test and bench print "skipped: no GPU" and succeed where there is no GPU.
# Prints PASS/FAIL/SKIP lines (counted by .ci/run). Env: NVCC, CUDA_HOME, CC, OUT (build dir).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
mode=${1:-all}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
NVCC=${NVCC:-$(command -v nvcc || echo "$CUDA_HOME/bin/nvcc")}
CC=${CC:-cc}
OUT=${OUT:-build/cuda}
ARCH="-gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90"
NVFLAGS="-O2 -fmad=false $ARCH -Werror all-warnings -Xcompiler -Wall,-Wextra,-Werror -I."
CFLAGS_C="-std=c99 -Wall -Wextra -Wpedantic -Werror -O2 -I. -isystem $CUDA_HOME/include"
status=0

step() { # name, command... : PASS/FAIL line, output kept
    local name=$1; shift
    if "$@"; then echo "PASS $name"; else echo "FAIL $name: $*"; status=1; fi
}

build() {
    if [ ! -x "$NVCC" ]; then echo "SKIP cuda-build: nvcc not found (set NVCC or CUDA_HOME)"; return 2; fi
    mkdir -p "$OUT"
    echo "== nvcc $NVFLAGS -Xptxas -v (registers, spills and shared memory per kernel):"
    step nvcc_sm80_sm90_werror "$NVCC" $NVFLAGS -Xptxas -v -c tinytrain_cuda.cu -o "$OUT/tinytrain_cuda.o" 2>&1
    step nvcc_cublas_werror "$NVCC" $NVFLAGS -DTT_CUDA_CUBLAS -c tinytrain_cuda.cu -o "$OUT/tinytrain_cuda_cublas.o"
    step cc_test_gpu "$CC" $CFLAGS_C -c tests/cuda/test_gpu.c -o "$OUT/test_gpu.o"
    step cc_test_gpu_cublas "$CC" $CFLAGS_C -DTT_CUDA_CUBLAS -c tests/cuda/test_gpu.c -o "$OUT/test_gpu_cublas.o"
    step link_test_gpu_cudart "$NVCC" $ARCH -o "$OUT/test_gpu" "$OUT/test_gpu.o" "$OUT/tinytrain_cuda.o" -lpthread
    step link_test_gpu_cublas "$NVCC" $ARCH -o "$OUT/test_gpu_cublas" "$OUT/test_gpu_cublas.o" "$OUT/tinytrain_cuda_cublas.o" -lcublas -lpthread
    step cc_bench_gpu "$CC" $CFLAGS_C -c tests/cuda/bench_gpu.c -o "$OUT/bench_gpu.o"
    step link_bench_gpu "$NVCC" $ARCH -o "$OUT/bench_gpu" "$OUT/bench_gpu.o" "$OUT/tinytrain_cuda.o" -lcublas -lpthread
    step cc_bench_train_gpu "$CC" ${CFLAGS_C/-std=c99/-std=gnu99} -DTT_CUDA -c bench/bench_train.c -o "$OUT/bench_train.o"
    step link_bench_train_gpu "$NVCC" $ARCH -o "$OUT/bench_train" "$OUT/bench_train.o" "$OUT/tinytrain_cuda.o" -lpthread
    return $status
}

have_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }

tests() {
    if ! have_gpu; then
        echo "skipped: no GPU"
        "$OUT/test_gpu" # must say SKIP through the real runtime's error path
        return 0
    fi
    nvidia-smi -L
    "$OUT/test_gpu" || status=1
    "$OUT/test_gpu_cublas" || status=1
    local cs="$CUDA_HOME/bin/compute-sanitizer"
    [ -x "$cs" ] || cs=$(command -v compute-sanitizer || true)
    if [ -z "$cs" ]; then echo "SKIP compute_sanitizer: not installed"; return $status; fi
    for tool in memcheck racecheck synccheck; do
        step "compute_sanitizer_$tool" "$cs" --tool "$tool" --error-exitcode 1 "$OUT/test_gpu"
    done
    return $status
}

bench() {
    if ! have_gpu; then echo "skipped: no GPU"; return 0; fi
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
    "$OUT/bench_gpu"
    echo "== training steps/s (one synchronisation per step), tinytrain --gpu vs PyTorch CUDA eager"
    "$OUT/bench_train" --gpu 1 2
    if python3 -c 'import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
        python3 bench/bench_train_torch.py --gpu 1 2
    else
        echo "SKIP torch_cuda: PyTorch with CUDA not available"
    fi
}

built() { build; local rc=$?; [ $rc -eq 2 ] && exit 0; [ $rc -eq 0 ] || exit 1; }
case "$mode" in
build) built; exit 0 ;;
test) built; tests; exit $? ;;
bench) built; bench; exit $? ;;
all) built; tests; bench; exit $status ;;
*) echo "usage: $0 [build|test|bench|all]"; exit 2 ;;
esac
