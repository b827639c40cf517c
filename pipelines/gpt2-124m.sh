#!/usr/bin/env bash
# GPT-2 124M (d12), llm.c's scripts/run_gpt2_124M.sh flag for flag: one epoch (no -x; 18,865 steps of 524,288
# tokens in llm.c's run, ~9.9B tokens) of classic FineWeb sample-10BT (fineweb10B), on every local GPU. llm.c
# tokenizes that sample itself (dev/data/fineweb.py --version 10B); here llm-fetch downloads its parquet files and
# llm-tokenize writes the same shards. `--dry-run` prints each stage's commands.

RUN_NAME=gpt2_124M
LLMC_SCRIPT=run_gpt2_124M.sh
DEFAULT_DATASET=fineweb10B
PLOT_SIZE=124M
LLMC_FLAGS=(-v 250 -s 20000 -g 144 -h 1 -b 64 -t 1024 -d 524288 -r 0 -z 1 -c 0.1 -l 0.0006 -q 0.0 -u 700
  -n 5000 -y 1 -e d12)
LLMC_EPOCH_STEPS=18865
source "$(dirname "$0")/lib/gpt2.sh"
gpt2_main "$@"
