#!/usr/bin/env bash
# GPT-2 774M (d36) on ~150B tokens of FineWeb-EDU: llm.c's run_gpt2_774M.sh settings (286,102 steps of 524,288 tokens; more than one epoch of the 100B shards).
#
# Stages: fetch (llm.c's pre-tokenized FineWeb-EDU shards, or SOURCE=parquet to download parquet and
# tokenize it here), hellaswag (download + convert to .bin), train (all local GPUs through mpirun,
# auto-resuming until the final DONE marker exists), eval (final HellaSwag), sample, plot.
# Every stage skips work already done, so re-running the script continues an interrupted run.
#
# Usage: gpt2-774m.sh [--stage NAME | --from NAME | --list]
# Settings (environment): DATA_DIR (default ./data), OUT_DIR (default ./runs/gpt2_774M), NGPU (default: all
#   GPUs nvidia-smi lists), SHARDS (train shards to fetch; default: enough for the run), SOURCE
#   (shards|parquet), MPIRUN (default mpirun), BIN (tools folder, default ./bin, built if missing).

RUN_NAME=gpt2_774M
MODEL=d36 BATCH=32 SEQ=1024 TOTAL_BATCH=524288 LR=0.00025 FINAL_LR_FRAC=0.0 WARMUP=700 STEPS=${STEPS:-286102}
CKPT_EVERY=4000 SAMPLE_EVERY=300000 GEN_TOKENS=144 DATA_SET=edu_fineweb100B PLOT_SIZE=774M EXTRA_FLAGS=""
source "$(dirname "$0")/lib/gpt2.sh"
gpt2_main "$@"
