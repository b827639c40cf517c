#!/usr/bin/env bash
# GPT-2 774M (d36), llm.c's scripts/run_gpt2_774M.sh flag for flag: 286,102 steps of 524,288 tokens (150B tokens,
# about one and a half passes over the data, reshuffled each pass) of classic FineWeb, from all 1028 pre-tokenized
# train shards that llm.c's dev/data/fineweb.sh downloads (fineweb100B), on every local GPU. `--dry-run` prints
# each stage's commands.

RUN_NAME=gpt2_774M
LLMC_SCRIPT=run_gpt2_774M.sh
DEFAULT_DATASET=fineweb100B
PLOT_SIZE=774M
LLMC_FLAGS=(-v 250 -s 300000 -g 144 -h 1 -b 32 -t 1024 -d 524288 -r 0 -z 1 -c 0.1 -l 0.00025 -q 0.0 -u 700
  -n 4000 -x 286102 -y 1 -e d36)
source "$(dirname "$0")/lib/gpt2.sh"
gpt2_main "$@"
