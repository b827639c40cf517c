#!/usr/bin/env bash
# Throughput of llm-train on 1 GPU and on all local GPUs (mpirun, ZeRO-1) at the same total batch, from the
# trainer's own per-step console lines. Needs published tools in $BIN and shards of at least
# nproc*B*T+1 tokens in $DATA (PREFIX_train_*.bin, PREFIX_val_*.bin).
# Usage: BIN=bin DATA=dir PREFIX=docs [MODEL=d12 B=64 T=1024 TOTAL=524288 STEPS=8] tests/gpu/scaling-bench.sh
set -uo pipefail
BIN=${BIN:-bin}; DATA=${DATA:-data}; PREFIX=${PREFIX:-docs}; OUT=${OUT:-out}
MODEL=${MODEL:-d12}; B=${B:-64}; T=${T:-1024}; TOTAL=${TOTAL:-524288}; STEPS=${STEPS:-8}
NGPU=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
export NCCL_NVLS_ENABLE=0 OMPI_MCA_btl_vader_single_copy_mechanism=none LLMNET_KERNEL_CACHE=${LLMNET_KERNEL_CACHE:-/tmp/llmnet-kernels}
mkdir -p "$OUT"
flags=(-i "$DATA/${PREFIX}_train_*.bin" -j "$DATA/${PREFIX}_val_*.bin" -e "$MODEL" -b "$B" -t "$T" -d "$TOTAL"
       -x "$STEPS" -v 100000 -m 1 -s 0 -l 6e-4 -z 1 --device cuda)
# Median tok/s of the steps after the first two (warm-up), from "| N ms | ... | X tok/s" console lines.
rate() { grep -E '^step ' "$1" | tail -n +3 | sed -E 's/.*\| ([0-9.]+) ms \|.*/\1/' | sort -n |
         awk -v tok="$2" '{ a[NR] = $1 } END { if (NR == 0) { print "n/a"; exit } m = a[int((NR + 1) / 2)]; printf "%.1f ms/step, %.0f tok/s\n", m, tok / (m / 1000) }'; }
timeout 150 "$BIN/llm-train" "${flags[@]}" > "$OUT/scale-1gpu.out" 2>&1
echo "1 GPU:      $(rate "$OUT/scale-1gpu.out" "$TOTAL")  $(grep -m1 'device memory usage' "$OUT/scale-1gpu.out")"
if (( NGPU > 1 )); then
  timeout 150 mpirun --allow-run-as-root --bind-to none -np "$NGPU" -x NCCL_NVLS_ENABLE -x LLMNET_KERNEL_CACHE \
    "$BIN/llm-train" "${flags[@]}" > "$OUT/scale-${NGPU}gpu.out" 2>&1
  echo "$NGPU GPUs:     $(rate "$OUT/scale-${NGPU}gpu.out" "$TOTAL")"
fi
grep -hE 'error' "$OUT"/scale-*.out | head -3
