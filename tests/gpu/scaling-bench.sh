#!/usr/bin/env bash
# Throughput of llm-train on 1 GPU and on all local GPUs (mpirun, ZeRO-1) at the same total batch, from the
# trainer's own per-step console lines: d12 (B=64, llm.c's 524,288-token step) and d48 (B=16, one micro-step
# of 16x1024 tokens per GPU).
# About 4-5 minutes on 2x H200. Needs published tools in $BIN and shards of at least nproc*64*1024+1 tokens in
# $DATA (PREFIX_train_*.bin, PREFIX_val_*.bin).
# Usage: BIN=bin DATA=dir PREFIX=docs [MODELS="d12 d48" STEPS=8 STEPS48=6 R48=1] tests/gpu/scaling-bench.sh
set -uo pipefail
BIN=${BIN:-bin}; DATA=${DATA:-data}; PREFIX=${PREFIX:-docs}; OUT=${OUT:-out}
MODELS=${MODELS:-d12 d48}; T=${T:-1024}; STEPS=${STEPS:-8}; STEPS48=${STEPS48:-6}; R48=${R48:-1}
NGPU=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
export NCCL_NVLS_ENABLE=0 OMPI_MCA_btl_vader_single_copy_mechanism=none LLMNET_KERNEL_CACHE=${LLMNET_KERNEL_CACHE:-/tmp/llmnet-kernels}
mkdir -p "$OUT"
# Median ms of the steps after the first two (warm-up), from "| N ms | ..." console lines, as "MS TOKENS_PER_S".
median() { grep -E '^step ' "$1" | tail -n +3 | sed -E 's/.*\| ([0-9.]+) ms \|.*/\1/' | sort -n |
           awk -v tok="$2" '{ a[NR] = $1 } END { if (NR == 0) { print "n/a n/a"; exit } m = a[int((NR + 1) / 2)]; printf "%.1f %.0f\n", m, tok / (m / 1000) }'; }
line() { # LABEL "MS TOKS" [BASELINE_TOKS]
  read -r ms toks <<<"$2"
  local scaling=""
  [[ -n ${3:-} && $toks != n/a && $3 != n/a ]] && scaling=$(awk -v a="$toks" -v b="$3" -v n="$NGPU" 'BEGIN { printf "  scaling %.1f%%", 100 * a / (b * n) }')
  printf '%-34s %10s ms/step %10s tok/s%s\n' "$1" "$ms" "$toks" "$scaling"
}

bench() { # MODEL B TOTAL STEPS TIMEOUT [extra llm-train flags]
  local model=$1 b=$2 total=$3 steps=$4 limit=$5; shift 5
  local flags=(-i "$DATA/${PREFIX}_train_*.bin" -j "$DATA/${PREFIX}_val_*.bin" -e "$model" -b "$b" -t "$T" -d "$total"
               -x "$steps" -v 100000 -m 1 -s 0 -l 6e-4 -z 1 --device cuda "$@")
  echo "== $model, B=$b, T=$T, $total tokens per step, $steps steps (ZeRO-1 with $NGPU GPUs)"
  timeout "$limit" "$BIN/llm-train" "${flags[@]}" > "$OUT/scale-$model-1gpu.out" 2>&1
  local one; one=$(median "$OUT/scale-$model-1gpu.out" "$total")
  line "1 GPU" "$one"; grep -m1 'device memory usage' "$OUT/scale-$model-1gpu.out"
  (( NGPU > 1 )) || return 0
  local mpi=(mpirun --allow-run-as-root --bind-to none -np "$NGPU" -x NCCL_NVLS_ENABLE -x LLMNET_KERNEL_CACHE)
  timeout "$limit" "${mpi[@]}" "$BIN/llm-train" "${flags[@]}" > "$OUT/scale-$model-${NGPU}gpu.out" 2>&1
  line "$NGPU GPUs" "$(median "$OUT/scale-$model-${NGPU}gpu.out" "$total")" "${one#* }"
}

for model in $MODELS; do
  case $model in
    d12) bench d12 "${B:-64}" "${TOTAL:-524288}" "$STEPS" 150 ;;
    # d48 at B=16 needs about 54 GiB on one GPU with -r 1; the total batch is one micro-step per GPU.
    d48) bench d48 16 $(( 16 * T * (NGPU > 1 ? NGPU : 1) )) "$STEPS48" 200 -r "$R48" ;;
    *)   echo "scaling-bench: unknown model $model (d12 or d48)"; exit 2 ;;
  esac
done
grep -hE 'error' "$OUT"/scale-*.out | head -3
