#!/usr/bin/env bash
# Builds llm.c's train_gpt2cu (single GPU, no cuDNN) from a copy of its sources, for the side-by-side runs of
# tests/gpu/ladder.sh (LLMC=...). Usage: tests/gpu/build_llmc.sh LLMC_SOURCE_DIR  -> LLMC_SOURCE_DIR/train_gpt2cu
#
# CUDA 13 changed cudaMemAdvise to take a cudaMemLocation where llm.c's llmc/cuda_utils.cuh (cudaMallocConditionallyManaged)
# passes cudaCpuDeviceId (an int, -1); the build stopped there on 2026-12-05 (CUDA 13.0). That one call is rewritten in the
# copy before building. Whether later CUDA 13 differences stop the build too was not seen yet.
set -euo pipefail
src=${1:?usage: build_llmc.sh LLMC_SOURCE_DIR}
export PATH=${CUDA_HOME:-/usr/local/cuda}/bin:$PATH
sed -i 's/cudaMemAdviseSetPreferredLocation, cudaCpuDeviceId)/cudaMemAdviseSetPreferredLocation, cudaMemLocation{cudaMemLocationTypeHost, 0})/' "$src/llmc/cuda_utils.cuh"
make -C "$src" train_gpt2cu NO_MULTI_GPU=1 NO_USE_MPI=1 GPU_COMPUTE_CAPABILITY="${GPU_COMPUTE_CAPABILITY:-90}"
