#!/usr/bin/env bash
# GPT-2 124M (d12) on ~10B tokens of FineWeb-EDU: llm.c's run_gpt2_124M.sh settings (18,865 steps of 524,288 tokens;
# llm.c's script trains on classic FineWeb 10B, this one on the pre-tokenized FineWeb-EDU shards).
#
# Stages: fetch (llm.c's pre-tokenized FineWeb-EDU shards, or SOURCE=parquet to download parquet and
# tokenize it here), hellaswag (download + convert to .bin), train (all local GPUs through mpirun,
# auto-resuming until the final DONE marker exists), eval (final HellaSwag), sample, plot.
# Every stage skips work already done, so re-running the script continues an interrupted run.
#
# Usage: gpt2-124m.sh [--stage NAME | --from NAME | --list]
# Settings (environment): DATA_DIR (default ./data), OUT_DIR (default ./runs/gpt2_124M), NGPU (default: all
#   GPUs nvidia-smi lists), SHARDS (train shards to fetch; default: enough for the run), SOURCE
#   (shards|parquet), MPIRUN (default mpirun), BIN (tools folder, default ./bin, built if missing).

RUN_NAME=gpt2_124M
MODEL=d12 BATCH=64 SEQ=1024 TOTAL_BATCH=524288 LR=0.0006 FINAL_LR_FRAC=0.0 WARMUP=700 STEPS=${STEPS:-18865}
CKPT_EVERY=5000 SAMPLE_EVERY=20000 GEN_TOKENS=144 DATA_SET=edu_fineweb100B PLOT_SIZE=124M EXTRA_FLAGS=""
source "$(dirname "$0")/lib/gpt2.sh"
gpt2_main "$@"
