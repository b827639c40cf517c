#!/usr/bin/env bash
# GPT-2 1.5B (d48) on 33.5B tokens of FineWeb-EDU: llm.c's run_gpt2_1558M.sh, exactly (32,000 steps of 1,048,576 tokens, -ge 1).
#
# Stages: fetch (llm.c's pre-tokenized FineWeb-EDU shards, or SOURCE=parquet to download parquet and
# tokenize it here), hellaswag (download + convert to .bin), train (all local GPUs through mpirun,
# auto-resuming until the final DONE marker exists), eval (final HellaSwag), sample, plot.
# Every stage skips work already done, so re-running the script continues an interrupted run.
#
# Usage: gpt2-1.5b.sh [--stage NAME | --from NAME | --list]
# Settings (environment): DATA_DIR (default ./data), OUT_DIR (default ./runs/gpt2_1558M), NGPU (default: all
#   GPUs nvidia-smi lists), SHARDS (train shards to fetch; default: enough for the run), SOURCE
#   (shards|parquet), MPIRUN (default mpirun), BIN (tools folder, default ./bin, built if missing).

RUN_NAME=gpt2_1558M
MODEL=d48 BATCH=16 SEQ=1024 TOTAL_BATCH=1048576 LR=0.0006 FINAL_LR_FRAC=0.1 WARMUP=700 STEPS=${STEPS:-32000}
CKPT_EVERY=2000 SAMPLE_EVERY=300000 GEN_TOKENS=384 DATA_SET=edu_fineweb100B PLOT_SIZE=1558M EXTRA_FLAGS="-ge 1"
source "$(dirname "$0")/lib/gpt2.sh"
gpt2_main "$@"
