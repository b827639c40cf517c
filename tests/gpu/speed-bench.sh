#!/usr/bin/env bash
# The speed benchmark of issue #19: llm-train at llm.c's flags for d12 and d48, every speed figure beside the loss
# check of the same run (a figure counts only beside a loss that matches a reference in the same run at that size).
# Ends with one Markdown table for docs/performance.md ($OUT/report.md, from `llm-cuda-bench report $OUT`): per run
# ms/step (median after warm-up), tok/s, MFU, peak GPU memory, mean power and SM clock over the timed steps, and the
# loss check. Run from the project root on a GPU node; the default stages took 294 s on one H100 (STEPS_1M=3, llm.c
# built in the same call), so they fit one 10-minute device call; BUDGET keeps the call inside that (see below).
#
# Stages (default: data d12 d48 d48-1m llmc profile report, in this order):
#   data     synthetic Zipf shards (tests/gpu/reference/make_shards.py, numpy) into $DATA, as ladder.sh makes them
#   d12      llm-train d12, B=64, 524,288 tokens per step (8 micro-steps), -r 0, 25 steps, 3 warm-up;
#            losses against llm.c's (tests/gpu/reference/llmc-zipf-d12.txt)
#   d48      llm-train d48, B=16, 16,384 tokens per step (one micro-step), 40 steps, 3 warm-up;
#            losses against llm.c's (tests/gpu/reference/llmc-zipf-d48.txt)
#   d48-1m   llm-train d48, B=16, 1,048,576 tokens per step (64 micro-steps), $STEPS_1M steps, 1 warm-up; no stored
#            reference: its losses are checked against the llmc stage's run when LLMC or LLMC_SRC is set, else the
#            report marks it "no reference" and its figures do not count
#   llmc     llm.c's train_gpt2cu ($LLMC; built from $LLMC_SRC by build_llmc.sh when only that is set) with d48-1m's
#            flags: d48-1m's reference, and llm.c's own figures beside ours. On a card under 100 GB it runs with
#            -r 2 (LLMC_R): its d48 at B=16 -r 0 needs 78.7 GB of activations; recomputation changes only its
#            backward pass, and it may still spill its optimizer state to managed memory there, so its step time on
#            such a card is no speed comparison
#   profile  per-kernel times of one d48 micro-step (B=16, -r 0, -ge 1) from `LLMNET_CUDA_PROFILE=1 llm-cuda-bench
#            train`: every launch is timed alone and waited for, so it shows where time goes, not a speed figure
#   report   `llm-cuda-bench report $OUT`; runs anywhere (no GPU), so it can also be re-run on the fetched $OUT
# Options: --dry-run prints what would run, and runs and writes nothing.
# Environment: BIN (bin: llm-train), BENCH (.device/gpu/llm-cuda-bench), OUT (out: use a fresh folder per call),
#   DATA (/tmp/zipf), LLMC, LLMC_SRC, LLMC_R (0 on cards of 100 GB or more, else 2), STEPS_1M (4), GPU (0: the
#   nvidia-smi index sampled), COMMIT (git rev-parse --short HEAD, for the report's title), RECOMPUTE (0, llm.c's:
#   llm-train's -r in d12, d48 and d48-1m; 1 or 2 measure recomputation's memory and time against the same references,
#   which were run at -r 0; llm.c's own run keeps LLMC_R), GELU_FUSION (unset: the reference's -ge, d48's 1 and
#   d12's default; else llm-train's -ge in every run; llm.c's own run keeps the reference's),
#   BUDGET (570: seconds for the whole call; each run's timeout is what is left less 20 s for the report, and a
#   stage whose minimum no longer fits is skipped with a SKIP line).
# Files in $OUT: card.txt (the card, once) and per run NAME: NAME.run (what ran; the report reads it), NAME.log (its
#   console output, every line prefixed by its local arrival time and a tab, nvidia-smi's timestamp format) and
#   NAME.smi.csv (nvidia-smi every 100 ms during the run: timestamp, memory.used, power.draw, clocks.sm, clocks.mem,
#   temperature.gpu); profile_d48.log; report.md.
# Example (one device call): COMMIT=abc1234 LLMC=/path/train_gpt2cu OUT=$OUT BIN=.device/bin bash tests/gpu/speed-bench.sh
set -uo pipefail
export LC_ALL=C # EPOCHREALTIME and printf with a '.' decimal point
OUT=${OUT:-out}; BIN=${BIN:-bin}; BENCH=${BENCH:-.device/gpu/llm-cuda-bench}; DATA=${DATA:-/tmp/zipf}
LLMC=${LLMC:-}; LLMC_SRC=${LLMC_SRC:-}; STEPS_1M=${STEPS_1M:-4}; GPU=${GPU:-0}; BUDGET=${BUDGET:-570}
COMMIT=${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
export LLMNET_KERNEL_CACHE=${LLMNET_KERNEL_CACHE:-/tmp/llmnet-kernels}
here=$(cd "$(dirname "$0")" && pwd)
DRY=0; [[ ${1:-} == --dry-run ]] && { DRY=1; shift; }
start=$SECONDS
stamp() { echo "[$(date +%H:%M:%S)] $*"; }
left() { echo $(( BUDGET - (SECONDS - start) )); }
# The line buffering C programs need to print each step line as it happens (llm.c's printf into a pipe).
LINEBUF=(); command -v stdbuf > /dev/null && LINEBUF=(stdbuf -oL)

# llm.c's reference commands (tests/gpu/reference/llmc-zipf-*.txt; measured with llm.c f1e2ace on one H200), as ladder.sh.
source "$here/reference/llmc-commands.sh" # COMMON, D12, D48, make_zipf_shards
D12+=(-x 25)
D48_1M=(-e d48 -b 16 -d 1048576 -r 0 -k cosine -q 0.1 -ge 1 -x "$STEPS_1M") # D48 at llm.c's 1M-token step
D48+=(-x 40)
RECOMPUTE=${RECOMPUTE:-0}; GELU_FUSION=${GELU_FUSION:-}
[[ $RECOMPUTE =~ ^[012]$ ]] || { echo "speed-bench.sh: RECOMPUTE must be 0, 1 or 2, not '$RECOMPUTE'" >&2; exit 2; }
[[ -z $GELU_FUSION || $GELU_FUSION =~ ^(-1|0|1|2)$ ]] || { echo "speed-bench.sh: GELU_FUSION must be -1, 0, 1 or 2, not '$GELU_FUSION'" >&2; exit 2; }
with_flag() { # FLAG VALUE FLAGS...: FLAGS with FLAG's value replaced by VALUE, or FLAG VALUE appended when absent
  local flag=$1 value=$2 out=() prev="" seen=0; shift 2
  for a in "$@"; do if [[ $prev == "$flag" ]]; then out+=("$value"); seen=1; else out+=("$a"); fi; prev=$a; done
  (( seen )) || out+=("$flag" "$value")
  printf '%s\n' "${out[@]}"
}
for_llm_train() { # NAME: the array NAME with RECOMPUTE's -r and, when set, GELU_FUSION's -ge
  local -n flags=$1
  mapfile -t flags < <(with_flag -r "$RECOMPUTE" "${flags[@]}")
  [[ -z $GELU_FUSION ]] || mapfile -t flags < <(with_flag -ge "$GELU_FUSION" "${flags[@]}")
}
D48_LLMC=("${D48_1M[@]}") # llm.c's run keeps the reference's -ge; its -r is set in run_llmc
for_llm_train D12; for_llm_train D48; for_llm_train D48_1M

stamp_lines() { # each line of stdin, prefixed by its local arrival time (as nvidia-smi's timestamp prints it) and a tab
  local line t
  while IFS= read -r line || [[ -n $line ]]; do
    t=$EPOCHREALTIME
    printf '%(%Y/%m/%d %H:%M:%S)T.%s\t%s\n' "${t%.*}" "${t#*.}" "$line"
  done
}
smi_start() { "${LINEBUF[@]}" nvidia-smi -i "$GPU" --query-gpu=timestamp,memory.used,power.draw,clocks.sm,clocks.mem,temperature.gpu \
                --format=csv,noheader,nounits -lms 100 > "$OUT/$1.smi.csv" 2> /dev/null & SMI_PID=$!; }
smi_stop() { sleep 0.3; kill "$SMI_PID" 2> /dev/null; wait "$SMI_PID" 2> /dev/null; }

card_info() { # card.txt: key=value lines for the report's title
  nvidia-smi -i "$GPU" --query-gpu=name,driver_version,power.limit,memory.total,clocks.max.sm --format=csv,noheader,nounits |
    awk -F', *' '{ print "card=" $1; print "driver=" $2; print "power_limit_w=" $3; print "memory_mib=" $4; print "max_sm_mhz=" $5; exit }'
  echo "cuda=$(nvidia-smi | sed -nE 's/.*CUDA Version: *([0-9.]+).*/\1/p' | head -1)"
  echo "date=$(date +%Y-%m-%d)"
  echo "commit=$COMMIT"
  echo "data=make_shards.py --dist zipf --train_tokens 30000000"
}

# measure NAME ROLE PROGRAM WARMUP REFERENCE MIN_S MAX_S EXE FLAGS...: EXE with the common flags, timed out at MAX_S or
# what is left of BUDGET, skipped when less than MIN_S is left. REFERENCE: a file in $OUT whose losses the run must
# match (empty: none). ROLE: measured (llm-train) or reference (llm.c, another run's reference).
measure() {
  local name=$1 role=$2 program=$3 warmup=$4 reference=$5 min=$6 max=$7 exe=$8; shift 8
  local limit=$(( $(left) - 20 )); (( limit > max )) && limit=$max
  if (( limit < min )); then echo "SKIP $name: needs ${min} s, $(left) s of BUDGET left"; return 0; fi
  if (( DRY )); then echo "would run $name (timeout $limit s): $exe ${COMMON[*]} $*"; return 0; fi
  rm -f "$OUT/$name.run" "$OUT/$name.log" "$OUT/$name.smi.csv"
  printf '%s\n' "name=$name" "role=$role" "program=$program" "flags=$*" "common=${COMMON[*]}" "warmup=$warmup" \
    "reference=$reference" ${NOTE:+"note=$NOTE"} > "$OUT/$name.run"
  stamp "$name: $program $* (timeout $limit s)"
  smi_start "$name"
  timeout "$limit" "${LINEBUF[@]}" "$exe" "${COMMON[@]}" "$@" 2>&1 | stamp_lines > "$OUT/$name.log"
  local rc=${PIPESTATUS[0]}
  smi_stop
  echo "exit=$rc" >> "$OUT/$name.run"
  cut -f2- "$OUT/$name.log" | grep -E "^step +(1|2|$warmup|10|20|40)/|^val loss|error|total average" | head -12
  (( rc == 0 )) || echo "$name: exit $rc"
}

run_data() {
  [[ -s $DATA/synth_train_000002.bin ]] && return
  if (( DRY )); then echo "would make Zipf shards in $DATA"; return; fi
  stamp "Zipf shards into $DATA"
  make_zipf_shards "$OUT/shards.log"
  tail -2 "$OUT/shards.log"
}

run_d12() {
  (( DRY )) || cp "$here/reference/llmc-zipf-d12.txt" "$OUT/"
  measure d12 measured llm-train 3 llmc-zipf-d12.txt 60 240 "$BIN/llm-train" "${D12[@]}"
}

run_d48() {
  (( DRY )) || cp "$here/reference/llmc-zipf-d48.txt" "$OUT/"
  measure d48 measured llm-train 3 llmc-zipf-d48.txt 60 240 "$BIN/llm-train" "${D48[@]}"
}

run_d48-1m() {
  local reference=""; [[ -n $LLMC || -n $LLMC_SRC ]] && reference=llmc_d48-1m.log
  measure d48-1m measured llm-train 1 "$reference" $(( 40 + 25 * STEPS_1M )) 420 "$BIN/llm-train" "${D48_1M[@]}"
}

run_llmc() {
  if [[ -z $LLMC && -n $LLMC_SRC ]]; then
    if (( DRY )); then echo "would build llm.c: $here/build_llmc.sh $LLMC_SRC"; LLMC=$LLMC_SRC/train_gpt2cu
    else stamp "building llm.c in $LLMC_SRC"; bash "$here/build_llmc.sh" "$LLMC_SRC" > "$OUT/build_llmc.log" 2>&1 && LLMC=$LLMC_SRC/train_gpt2cu
         tail -2 "$OUT/build_llmc.log"; fi
  fi
  if [[ -z $LLMC ]] || { (( ! DRY )) && [[ ! -x $LLMC ]]; }; then echo "SKIP llmc: no train_gpt2cu (set LLMC, or LLMC_SRC to build one)"; return; fi
  local r=${LLMC_R:-}
  if [[ -z $r ]]; then
    local mib; mib=$(nvidia-smi -i "$GPU" --query-gpu=memory.total --format=csv,noheader,nounits 2> /dev/null | head -1)
    r=0; (( ${mib:-0} < 100000 )) && r=2
  fi
  local flags; mapfile -t flags < <(with_flag -r "$r" "${D48_LLMC[@]}")
  NOTE="llm.c f1e2ace built by tests/gpu/build_llmc.sh, without cuDNN (its own attention kernels); -r $r" \
    measure llmc_d48-1m reference train_gpt2cu 1 "" $(( 60 + 40 * STEPS_1M )) 500 "$LLMC" "${flags[@]}"
}

run_profile() { # KernelProfiler times the micro-step after one warm-up step (llm-cuda-bench train, Program.cs)
  if (( DRY )); then echo "would run: LLMNET_CUDA_PROFILE=1 WARMUP=1 $BENCH train d48 16 1024 1 1 $DATA/synth_train_000001.bin 0 1"; return; fi
  local limit=$(( $(left) - 20 )); (( limit > 180 )) && limit=180
  (( limit >= 60 )) || { echo "SKIP profile: $(left) s of BUDGET left"; return; }
  stamp "profile: one d48 micro-step, kernels serialized"
  LLMNET_CUDA_PROFILE=1 WARMUP=1 timeout "$limit" "$BENCH" train d48 16 1024 1 1 "$DATA/synth_train_000001.bin" 0 1 > "$OUT/profile_d48.log" 2>&1
  grep -E "^PROFILE step|error" "$OUT/profile_d48.log"
}

run_report() {
  if (( DRY )); then echo "would run: $BENCH report $OUT"; return; fi
  "$BENCH" report "$OUT"
}

stages=("$@"); (( ${#stages[@]} )) || stages=(data d12 d48 d48-1m llmc profile report)
for s in "${stages[@]}"; do
  declare -F "run_$s" > /dev/null || { echo "speed-bench.sh: unknown stage '$s' (data d12 d48 d48-1m llmc profile report)" >&2; exit 2; }
done
# The card once, when this call measures something (a report-only call keeps the card of the runs it reports).
if (( ! DRY )); then
  mkdir -p "$OUT"
  [[ " ${stages[*]} " =~ \ (d12|d48|d48-1m|llmc|profile)\  ]] && card_info > "$OUT/card.txt"
fi
for s in "${stages[@]}"; do "run_$s"; done
