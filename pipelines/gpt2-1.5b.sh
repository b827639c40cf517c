#!/usr/bin/env bash
# GPT-2 1.5B (d48), llm.c's scripts/run_gpt2_1558M.sh flag for flag: 32,000 steps of 1,048,576 tokens (33.5B
# tokens) of FineWeb-EDU, drawn from all 1001 pre-tokenized train shards that llm.c's dev/data/edu_fineweb.sh
# downloads (edu_fineweb100B), on every local GPU. `--dry-run` prints each stage's commands.

RUN_NAME=gpt2_1558M
LLMC_SCRIPT=run_gpt2_1558M.sh
DEFAULT_DATASET=edu_fineweb100B
PLOT_SIZE=1558M
LLMC_FLAGS=(-v 250 -s 300000 -g 384 -h 1 -b 16 -t 1024 -d 1048576 -r 0 -z 1 -c 0.1 -k cosine -l 0.0006 -q 0.1 -u 700
  -n 2000 -x 32000 -ge 1 -y 1 -e d48)
source "$(dirname "$0")/lib/gpt2.sh"
gpt2_main "$@"
