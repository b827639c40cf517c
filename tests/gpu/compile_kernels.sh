#!/usr/bin/env bash
# Compiles every embedded kernel source with nvcc exactly as NVRTC sees it (one translation unit) and prints
# all diagnostics plus ptxas's register / shared memory / spill report. Usage: tests/gpu/compile_kernels.sh [OUTDIR]
set -uo pipefail
here=${KERNELS:-$(cd "$(dirname "$0")/../../lib/Cuda/Kernels" && pwd)}
out=${1:-$(mktemp -d)}
mkdir -p "$out"
cat "$here/common.cuh" "$here/elementwise.cu" "$here/layernorm.cu" "$here/attention.cu" "$here/flash.cu" "$here/flash_wgmma.cu" "$here/classifier.cu" "$here/optimizer.cu" > "$out/all.cu"
nvcc=${CUDA_HOME:-/usr/local/cuda}/bin/nvcc
# CCBIN names a host compiler when nvcc rejects the default one (Debian's CUDA 11.8 with gcc 12: CCBIN=clang-14).
host=(); [[ -n ${CCBIN:-} ]] && host=(-ccbin "$CCBIN")
"$nvcc" --version | tail -2
echo "== nvcc --ptx"
"$nvcc" "${host[@]}" -arch=${ARCH:-sm_90a} -std=c++17 --use_fast_math --ptx -o "$out/all.ptx" "$out/all.cu"; rc1=$?
echo "== nvcc -cubin -Xptxas -v"
"$nvcc" "${host[@]}" -arch=${ARCH:-sm_90a} -std=c++17 --use_fast_math -cubin -Xptxas -v -o "$out/all.cubin" "$out/all.cu" 2>&1 | grep -E "Compiling|registers|spill|error|warning" ; rc2=${PIPESTATUS[0]}
echo "compile_kernels: ptx rc=$rc1 cubin rc=$rc2"
