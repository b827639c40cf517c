#!/usr/bin/env bash
# One GPU-node session: compile check, GPU tests, PyTorch reference, benchmarks. Logs go to $OUT (or ./out).
# Run from a checkout whose .device/ holds the published tests (cuda-tests), bench, kernels and tiny.bin.
# Usage: bash .device/cuda/device_run.sh [tests|torch|bench12|bench48|bench48a ...]
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
export LD_LIBRARY_PATH=${CUDA_HOME:-/usr/local/cuda}/lib64:${LD_LIBRARY_PATH:-}
export LLMNET_KERNEL_CACHE=/tmp/llmnet-kernels
D=.device
for what in "$@"; do
  case $what in
    compile) KERNELS=$D/cuda/kernels timeout 240 bash $D/cuda/compile_kernels.sh /tmp/nvcc > $OUT/compile.log 2>&1
             grep -E "error|compile_kernels" $OUT/compile.log | head -40 ;;
    tests)   timeout 400 $D/cuda-tests/LlmNet.Cuda.Tests -noColor -parallel none ${TESTFILTER:-} > $OUT/tests.log 2>&1
             grep -E "\[FAIL\]|Total:" $OUT/tests.log | head -40 ;;
    torch)   timeout 200 $D/bench/llm-cuda-bench export /tmp/ref > $OUT/export.log 2>&1; tail -3 $OUT/export.log
             PYTHONUNBUFFERED=1 timeout 200 python3 $D/cuda/torch_reference.py /tmp/ref > $OUT/torch.log 2>&1; tail -28 $OUT/torch.log ;;
    bench12) timeout 300 $D/bench/llm-cuda-bench train d12 64 1024 8 ${STEPS:-20} $D/tiny.bin ${R:-1} ${GE:--1} > $OUT/bench_d12.log 2>&1; grep -E "RESULT|error|step   [1-4]:|PROFILE" $OUT/bench_d12.log | head -60 ;;
    bench48) timeout 300 $D/bench/llm-cuda-bench train d48 16 1024 1 ${STEPS:-20} $D/tiny.bin ${R:-1} ${GE:--1} > $OUT/bench_d48.log 2>&1; grep -E "RESULT|error|step   [1-4]:" $OUT/bench_d48.log ;;
    bench48a) WARMUP=1 timeout 500 $D/bench/llm-cuda-bench train d48 16 1024 64 ${STEPS:-3} $D/tiny.bin ${R:-1} ${GE:--1} > $OUT/bench_d48a.log 2>&1; grep -E "RESULT|error|step" $OUT/bench_d48a.log ;;
  esac
done
