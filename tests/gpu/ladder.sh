#!/usr/bin/env bash
# The correctness ladder: every GPT-2 size (d12, d24, d36, d48) trains on the GPU like an independent reference.
# One PASS/FAIL line per check goes to $OUT/summary.txt; logs go to $OUT. Run from the project root on a GPU node.
#
# Stages (default: all, in this order):
#   data   synthetic Zipf shards (tests/gpu/reference/make_shards.py, numpy), the data llm.c's reference runs used
#   torch  llm-cuda-bench export at each size (fresh init, llm.c's 10-step test at B=4 T=64) against the PyTorch fp32
#          reference (tests/gpu/torch_reference.py): losses within 0.05 at every step. d12 at llm.c's lr 1e-4; deeper
#          models at DEEP_LR (1e-5), since at 1e-4 they memorise the one batch so fast that fp32 and bf16 part ways
#   ref    llm-train with llm.c's flags at d12 and d48 against llm.c's own losses (tests/gpu/reference/llmc-zipf-*.txt)
#   llmc   llm.c itself ($LLMC, a built train_gpt2cu) and llm-train side by side at d24 and d36
#   flags  d48 with -r 1, -r 2 and -ge 0 against llm.c's d48 losses (the recompute and GELU-fusion code paths), and
#          with -w 0 against llm.c run here with -w 0
#   ckpt   d48 checkpoints: the stages resume (from step 5 byte-identical to the uninterrupted run at step 10) and read
#          (val loss of the step-5 checkpoint equal in a fresh process, read by llm.c and PyTorch at the same val loss,
#          bf16 tolerance); w0 alone is also a stage
# Environment: BIN (bin: llm-train), BENCH (.device/gpu/llm-cuda-bench), LLMC (train_gpt2cu, built by
#   tests/gpu/build_llmc.sh; the llm.c runs skip
#   without it), DATA (/tmp/zipf), SIZES (d12 d24 d36 d48, for torch), TOL (0.01), CKPT_DIR (/tmp/ladder-ckpt).
set -uo pipefail
OUT=${OUT:-out}; BIN=${BIN:-bin}; BENCH=${BENCH:-.device/gpu/llm-cuda-bench}; LLMC=${LLMC:-}
DATA=${DATA:-/tmp/zipf}; TOL=${TOL:-0.01}; CK=${CKPT_DIR:-/tmp/ladder-ckpt}
export LLMNET_KERNEL_CACHE=${LLMNET_KERNEL_CACHE:-/tmp/llmnet-kernels}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
summary=$OUT/summary.txt
check() { local name=$1; shift; if "$@"; then echo "PASS $name" | tee -a "$summary"; else echo "FAIL $name" | tee -a "$summary"; fi; }
skip() { echo "SKIP $1" | tee -a "$summary"; }
stamp() { echo "[$(date +%H:%M:%S)] $*"; }
peak_mib() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 500 > "$OUT/mem_$1.csv" 2>/dev/null & MEM_PID=$!; }
peak_end() { kill "$MEM_PID" 2>/dev/null; wait "$MEM_PID" 2>/dev/null; sort -n "$OUT/mem_$1.csv" | tail -1 | awk -v n="$1" '{ print "MEMORY " n ": peak " $1 " MiB (nvidia-smi)" }'; }

# llm.c's reference command (tests/gpu/reference: measured with llm.c f1e2ace on one H200).
source "$here/reference/llmc-commands.sh" # COMMON, D12, D48 (without -x), make_zipf_shards
# d24/d36 (no stored reference): d48's settings, 20 steps, against llm.c run here.
MID=(-b 16 -d 16384 -r 0 -k cosine -q 0.1 -ge 1 -x 20)

run_logged() { # LABEL EXE NAME ARGS... : EXE with the common flags, log to $OUT/NAME.log, peak memory beside it
  local label=$1 exe=$2 name=$3; shift 3
  stamp "$label $name: $*"
  peak_mib "$name"
  timeout 400 "$exe" "${COMMON[@]}" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  peak_end "$name"
  grep -E "^step +(1|2|10|20|40)/|^val loss|error|device memory|total average" "$OUT/$name.log" | head -12
  return $rc
}
train() { run_logged llm-train "$BIN/llm-train" "$@"; }   # NAME ARGS...
llmc() { run_logged llm.c "$LLMC" "$@"; }                   # NAME ARGS... (llm.c's train_gpt2cu)

compare() { python3 "$here/compare_losses.py" "$@" | tee -a "$OUT/compare.txt" | tail -1; }

run_data() {
  [[ -s $DATA/synth_train_000002.bin ]] && return
  stamp "Zipf shards into $DATA"
  make_zipf_shards "$OUT/shards.log"
  tail -2 "$OUT/shards.log"
}

run_torch() {
  for size in ${SIZES:-d12 d24 d36 d48}; do
    stamp "PyTorch reference at $size"
    local lr=1e-4; [[ $size == d12 ]] || lr=${DEEP_LR:-1e-5}
    rm -rf /tmp/ref; timeout 300 "$BENCH" export /tmp/ref "$size" 4 64 "$lr" > "$OUT/export_$size.log" 2>&1; tail -2 "$OUT/export_$size.log"
    PYTHONUNBUFFERED=1 timeout 300 python3 "$here/torch_reference.py" /tmp/ref > "$OUT/torch_$size.log" 2>&1
    grep -E "^step (0|1|9):|grad wte|TORCH" "$OUT/torch_$size.log"
    check "torch-$size" grep -q "^TORCH LOSSES: PASS" "$OUT/torch_$size.log"
    rm -rf /tmp/ref
  done
}

run_ref() {
  train d12 "${D12[@]}" -x 25; compare d12 "$OUT/d12.log" "$here/reference/llmc-zipf-d12.txt" --tol "$TOL" > /dev/null
  check "d12-vs-llmc" grep -q "^PASS d12:" "$OUT/compare.txt"
  train d48 "${D48[@]}" -x 40; compare d48 "$OUT/d48.log" "$here/reference/llmc-zipf-d48.txt" --tol "$TOL" > /dev/null
  check "d48-vs-llmc" grep -q "^PASS d48:" "$OUT/compare.txt"
  grep -E "^(PASS|FAIL) d(12|48):" "$OUT/compare.txt"
}

run_llmc() {
  [[ -x $LLMC ]] || { skip "llmc (LLMC unset: no train_gpt2cu)"; return; }
  for size in d24 d36; do
    llmc "llmc_$size" -e "$size" "${MID[@]}"
    train "$size" -e "$size" "${MID[@]}"
    compare "$size" "$OUT/$size.log" "$OUT/llmc_$size.log" --tol "$TOL" > /dev/null
    check "$size-vs-llmc" grep -q "^PASS $size:" "$OUT/compare.txt"
  done
  grep -E "^(PASS|FAIL) d(24|36):" "$OUT/compare.txt"
}

run_flags() {
  for variant in "r1:-r 1" "r2:-r 2" "ge0:-ge 0"; do
    local name=d48_${variant%%:*}; read -ra extra <<< "${variant#*:}"
    train "$name" "${D48[@]}" "${extra[@]}" -x 10
    compare "$name" "$OUT/$name.log" "$here/reference/llmc-zipf-d48.txt" --tol "$TOL" --steps 10 > /dev/null
    check "$name-vs-llmc" grep -q "^PASS $name:" "$OUT/compare.txt"
  done
  run_w0
  grep -E "^(PASS|FAIL) d48_(r1|r2|ge0|w0):" "$OUT/compare.txt"
}

run_resume() { # d48 resume from step 5 byte-identical to the uninterrupted run at step 10; keeps the step-5 model for run_read
  rm -rf "$CK"; mkdir -p "$CK"
  local flags=("${D48[@]}" -x 10 -n 5 -v 5 -o "$CK")
  train ckpt_a "${flags[@]}"
  local m10 s10; m10=$CK/model_00000010.bin; s10=$CK/state_00000010_00000.bin
  check "d48-checkpoint-written" test -s "$m10" -a -s "$s10" -a -f "$CK/DONE_00000010"
  ls -l "$CK" | tee "$OUT/ckpt_files.txt"
  local want; want=$(sha256sum "$m10" "$s10" | awk '{ print $1 }' | tr '\n' ' ')
  rm -f "$m10" "$s10" "$CK/DONE_00000010"
  train ckpt_b "${flags[@]}" -y 1
  local got; got=$(sha256sum "$m10" "$s10" 2>/dev/null | awk '{ print $1 }' | tr '\n' ' ')
  echo "step-10 sha256, uninterrupted: $want"; echo "step-10 sha256, resumed at 5:  $got"
  check "d48-resume-bitwise" test "$want" = "$got"
  rm -f "$s10" "$CK"/state_00000005_00000.bin # 18.7 GB each; the model files stay for run_read
}

run_read() { # the step-5 d48 checkpoint read back in a fresh process, by PyTorch and by llm.c, at the same val loss
  if [[ ! -s $CK/model_00000005.bin || ! -s $OUT/ckpt_a.log ]]; then
    rm -rf "$CK"; mkdir -p "$CK"
    train ckpt_a "${D48[@]}" -x 5 -n 5 -v 5 -o "$CK"
    rm -f "$CK"/state_*.bin
  fi
  local at5; at5=$(grep "^val loss" "$OUT/ckpt_a.log" | sed -n 2p | awk '{ print $3 }')
  train ckpt_reload -e "$CK/model_00000005.bin" -b 16 -x 0 -n 0 -r 0
  local fresh; fresh=$(grep "^val loss" "$OUT/ckpt_reload.log" | head -1 | awk '{ print $3 }')
  echo "val loss of step 5: in the run $at5, reloaded $fresh"
  check "d48-reload-val-equal" test -n "$at5" -a "$at5" = "$fresh"
  PYTHONUNBUFFERED=1 timeout 300 python3 "$here/torch_val_loss.py" "$CK/model_00000005.bin" "$DATA/synth_val_000000.bin" 16 1024 2 > "$OUT/ckpt_torch.log" 2>&1
  local torch; torch=$(awk '/^torch val loss/ { print $4 }' "$OUT/ckpt_torch.log"); tail -2 "$OUT/ckpt_torch.log"
  check "d48-torch-reads-checkpoint" python3 -c "import sys; sys.exit(0 if abs(float('${torch:-nan}') - float('${at5:-nan}')) <= 0.01 else 1)"
  if [[ -x $LLMC ]]; then
    # -r 2: llm.c at B=16 -r 0 asks for 78.7 GB of activations; recomputation changes only its backward pass.
    llmc ckpt_llmc -e "$CK/model_00000005.bin" -b 16 -x 0 -r 2
    local theirs; theirs=$(grep "^val loss" "$OUT/ckpt_llmc.log" | head -1 | awk '{ print $3 }')
    echo "val loss of step 5 read by llm.c: $theirs"
    check "d48-llmc-reads-checkpoint" python3 -c "import sys; sys.exit(0 if abs(float('${theirs:-nan}') - float('${at5:-nan}')) <= 0.01 else 1)"
  else skip "d48-llmc-reads-checkpoint (LLMC unset)"; fi
  rm -rf "$CK"
}

run_ckpt() { run_resume; run_read; }

run_w0() { # -w 0 (no master weights: AdamW rounds into the bf16 parameters) against llm.c run here with -w 0
  # At B=8: llm.c's d48 at B=16 -r 0 asks for 78.7 GB of activations, more than an 80 GB card holds beside its state.
  if [[ -x $LLMC ]]; then
    local w0=("${D48[@]}" -b 8 -d 8192 -w 0 -x 10)
    llmc llmc_d48_w0 "${w0[@]}"
    train d48_w0 "${w0[@]}"
    compare d48_w0 "$OUT/d48_w0.log" "$OUT/llmc_d48_w0.log" --tol "$TOL" --steps 10 > /dev/null
    check "d48-w0-vs-llmc" grep -q "^PASS d48_w0:" "$OUT/compare.txt"
  else skip "d48-w0-vs-llmc (LLMC unset)"; fi
}

stages=("$@"); (( ${#stages[@]} )) || stages=(data torch ref llmc flags ckpt)
for s in "${stages[@]}"; do "run_$s"; done
echo "== summary"; cat "$summary"
