#!/usr/bin/env bash
# One GPU-node session: compile check, GPU tests, PyTorch reference, benchmarks. Logs go to $OUT (or ./out).
# Run from a checkout whose .device/ holds the published GPU tests and bench (gpu/) and tiny.bin.
# Usage: bash tests/gpu/device_run.sh [compile|tests|torch|sdpa|attn|matmuls|bench12|bench48|bench48a ...]
# sdpa times PyTorch's cuDNN and FlashAttention-2 attention at the d12 and d48 shapes (the reference for attn) and
# reports whether their backward passes are bitwise repeatable.
# attn times the attention kernels (mma.sync, and wgmma on sm_90a) at the d12 and d48 shapes.
# Each bench step also samples nvidia-smi every 250 ms (unless POWER=0) and prints the mean power, SM clock and the
# throttle reasons seen while the GPU was busy: a training step at the power limit runs below the maximum clock.
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
export LD_LIBRARY_PATH=${CUDA_HOME:-/usr/local/cuda}/lib64:${LD_LIBRARY_PATH:-}
export LLMNET_KERNEL_CACHE=/tmp/llmnet-kernels
D=.device
G=${GPU_DIR:-$D/gpu} # GPU_DIR names another published build (e.g. an earlier commit, to compare on one machine)
power_start() { [[ ${POWER:-1} == 0 ]] && return; nvidia-smi --query-gpu=power.draw,clocks.sm,clocks_throttle_reasons.active \
                  --format=csv,noheader,nounits -lms 250 > "$OUT/power_$1.csv" 2>/dev/null & POWER_PID=$!; }
power_stop() { [[ ${POWER:-1} == 0 ]] && return; kill "$POWER_PID" 2>/dev/null; wait "$POWER_PID" 2>/dev/null
               awk -F', ' '$1 + 0 > 300 { n++; p += $1; c += $2; r[$3]++ }
                 END { if (n) { printf "POWER %s: %d busy samples, mean %.0f W, mean SM clock %.0f MHz, throttle reasons:", name, n, p / n, c / n
                                for (k in r) printf " %s x%d", k, r[k]; print "" } }' name="$1" "$OUT/power_$1.csv"; }
for what in "$@"; do
  case $what in
    compile) timeout 240 bash tests/gpu/compile_kernels.sh /tmp/nvcc > $OUT/compile.log 2>&1
             grep -E "error|compile_kernels" $OUT/compile.log | head -40 ;;
    tests)   timeout 400 $G/LlmNet.Cuda.Tests -noColor -parallel none ${TESTFILTER:-} > $OUT/tests.log 2>&1
             grep -E "\[FAIL\]|Total:" $OUT/tests.log | head -40 ;;
    torch)   timeout 200 $G/llm-cuda-bench export /tmp/ref > $OUT/export.log 2>&1; tail -3 $OUT/export.log
             PYTHONUNBUFFERED=1 timeout 200 python3 tests/gpu/torch_reference.py /tmp/ref > $OUT/torch.log 2>&1; tail -28 $OUT/torch.log ;;
    sdpa)    PYTHONUNBUFFERED=1 timeout 300 python3 tests/gpu/torch_sdpa_bench.py ${REPS:-20} > $OUT/sdpa.log 2>&1; grep -E "^(SDPA|torch)" $OUT/sdpa.log ;;
    attn)    timeout 200 $G/llm-cuda-bench attn 64 12 1024 10 > $OUT/attn_d12.log 2>&1; grep -E "ATTN|error" $OUT/attn_d12.log
             timeout 200 $G/llm-cuda-bench attn 16 25 1024 10 > $OUT/attn_d48.log 2>&1; grep -E "ATTN|error" $OUT/attn_d48.log ;;
    matmuls) timeout 400 $G/llm-cuda-bench matmuls 64 1024 768 50304 ${ALGOS:-8} ${REPS:-20} > $OUT/matmuls_d12.log 2>&1; grep -E "BEST|TOTAL|FAILED|note:|error" $OUT/matmuls_d12.log ;;
    bench12) power_start d12; timeout 300 $G/llm-cuda-bench train d12 64 1024 8 ${STEPS:-20} $D/tiny.bin ${R:-1} ${GE:--1} > $OUT/bench_d12.log 2>&1; grep -E "RESULT|error|step   [1-4]:|PROFILE" $OUT/bench_d12.log | head -60; power_stop d12 ;;
    bench48) power_start d48; timeout 300 $G/llm-cuda-bench train d48 16 1024 1 ${STEPS:-20} $D/tiny.bin ${R:-1} ${GE:--1} > $OUT/bench_d48.log 2>&1; grep -E "RESULT|error|step   [1-4]:" $OUT/bench_d48.log; power_stop d48 ;;
    bench48a) power_start d48a; WARMUP=1 timeout 500 $G/llm-cuda-bench train d48 16 1024 64 ${STEPS:-3} $D/tiny.bin ${R:-1} ${GE:--1} > $OUT/bench_d48a.log 2>&1; grep -E "RESULT|error|step" $OUT/bench_d48a.log; power_stop d48a ;;
  esac
done
