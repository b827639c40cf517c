#!/usr/bin/env bash
# GPT-2 350M (d24), llm.c's scripts/run_gpt2_350M.sh flag for flag: 60,000 steps of 524,288 tokens (31.5B tokens)
# of classic FineWeb, drawn from all 1028 pre-tokenized train shards that llm.c's dev/data/fineweb.sh downloads
# (fineweb100B), on every local GPU. `--dry-run` prints each stage's commands.

RUN_NAME=gpt2_350M
LLMC_SCRIPT=run_gpt2_350M.sh
DEFAULT_DATASET=fineweb100B
PLOT_SIZE=350M
LLMC_FLAGS=(-v 250 -s 100000 -g 144 -h 1 -b 64 -t 1024 -d 524288 -r 0 -z 1 -c 0.1 -l 0.0003 -q 0.0 -u 700
  -n 2000 -x 60000 -y 1 -e d24)
source "$(dirname "$0")/lib/gpt2.sh"
gpt2_main "$@"
