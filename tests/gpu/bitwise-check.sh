#!/usr/bin/env bash
# Two builds, one GPU, the same answers: for a change that must not alter training (a refactor), runs the old and the
# new llm-train side by side on the Zipf shards and checks that they print the same losses, norms and val losses and
# write byte-identical model and state files; then that the new build, resumed from a mid-run checkpoint, writes the
# same final files as its uninterrupted run. One PASS/FAIL line per check goes to $OUT/summary.txt, logs to $OUT.
#
#   OLD=old/bin NEW=bin OUT=out tests/gpu/bitwise-check.sh [d12] [d48] [resume]
#
# Stages (default: all): d12 (10 steps of llm.c's d12 reference command, checkpoint at step 10), d48 (5 steps of the
# d48 reference command, checkpoint at step 5), resume (new build, d12: checkpoints at 5 and 10, then -y 1 from 5 in a
# copy of the folder; the step-10 files must equal the uninterrupted run's). Data: DATA (/tmp/zipf), made by
# tests/gpu/reference/make_shards.py when missing.
set -uo pipefail
OUT=${OUT:-out}; OLD=${OLD:-}; NEW=${NEW:-bin}; DATA=${DATA:-/tmp/zipf}
WORK=${WORK:-/tmp/bitwise}
export LLMNET_KERNEL_CACHE=${LLMNET_KERNEL_CACHE:-/tmp/llmnet-kernels}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT" "$WORK"
summary=$OUT/summary.txt
: > "$summary"
check() { local name=$1; shift; if "$@"; then echo "PASS $name" | tee -a "$summary"; else echo "FAIL $name" | tee -a "$summary"; fi; }
stamp() { echo "[$(date +%H:%M:%S)] $*"; }

source "$here/reference/llmc-commands.sh" # COMMON (its -y 0 is overridden where a run resumes), D12, D48, make_zipf_shards

if [[ ! -s $DATA/synth_train_000002.bin ]]; then
  stamp "Zipf shards into $DATA"
  make_zipf_shards "$OUT/shards.log" || { echo "FAIL shards" | tee -a "$summary"; exit 1; }
fi

# The numbers of a log: step lines without their timing columns, and val losses.
numbers() { grep -E "^(step |val loss)" "$1" | sed -E 's/ \| [0-9.]+ ms \|.*$//'; }

train() { # BIN NAME ARGS...: llm-train into $WORK/NAME, log $OUT/NAME.log
  local bin=$1 name=$2; shift 2
  rm -rf "${WORK:?}/$name"
  stamp "$name: $bin/llm-train $*"
  timeout 500 "$bin/llm-train" "${COMMON[@]}" "$@" -o "$WORK/$name" > "$OUT/$name.log" 2>&1
  local rc=$?
  numbers "$OUT/$name.log" | tail -3
  return $rc
}

same_files() { # DIR_A DIR_B STEP
  local ok=0 f
  for f in "model_$(printf %08d "$3").bin" "state_$(printf %08d "$3")_00000.bin"; do
    if cmp -s "$1/$f" "$2/$f"; then echo "  $f identical ($(stat -c %s "$1/$f") bytes)"
    else echo "  $f DIFFERS"; ok=1; fi
  done
  return $ok
}

pair() { # SIZE STEPS ARGS...: old and new side by side
  local size=$1 steps=$2; shift 2
  train "$OLD" "old-$size" "$@" -x "$steps" -n "$steps" -y 0; local a=$?
  train "$NEW" "new-$size" "$@" -x "$steps" -n "$steps" -y 0; local b=$?
  check "$size-runs" test $a -eq 0 -a $b -eq 0
  check "$size-losses" diff <(numbers "$OUT/old-$size.log") <(numbers "$OUT/new-$size.log")
  check "$size-files" same_files "$WORK/old-$size" "$WORK/new-$size" "$steps"
}

run_resume() {
  train "$NEW" resume-full "${D12[@]}" -x 10 -n 5 -y 0 || { echo "FAIL resume-run" | tee -a "$summary"; return; }
  rm -rf "$WORK/resume-half"; mkdir -p "$WORK/resume-half"
  cp "$WORK/resume-full"/{model_00000005.bin,state_00000005_00000.bin,DONE_00000005,main.log} "$WORK/resume-half/"
  stamp "resume from step 5"
  timeout 500 "$NEW/llm-train" "${COMMON[@]}" "${D12[@]}" -x 10 -n 5 -y 1 -o "$WORK/resume-half" > "$OUT/resume-half.log" 2>&1
  check resume-losses diff <(numbers "$OUT/resume-full.log" | grep -E "^step +([6-9]|10)/") <(numbers "$OUT/resume-half.log" | grep -E "^step ")
  check resume-files same_files "$WORK/resume-full" "$WORK/resume-half" 10
}

stages=${*:-d12 d48 resume}
[[ -n $OLD || $stages == resume ]] || { echo "OLD=dir of the old build's llm-train is needed for the d12 and d48 stages"; exit 2; }
for s in $stages; do
  case $s in
    d12) pair d12 10 "${D12[@]}" ;;
    d48) pair d48 5 "${D48[@]}" ;;
    resume) run_resume ;;
    *) echo "unknown stage $s (d12, d48, resume)"; exit 2 ;;
  esac
done
echo "== summary"; cat "$summary"
! grep -q ^FAIL "$summary"
