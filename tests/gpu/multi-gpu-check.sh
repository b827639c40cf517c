#!/usr/bin/env bash
# Multi-GPU acceptance check for llm-train on one host with at least 2 GPUs (written for 2x H200, Open MPI).
#
#   tests/gpu/multi-gpu-check.sh            # build if needed, run the three checks, exit 0 when all pass
#
# 1. equivalence: 20 steps of d12 on 2 processes (ZeRO-0 and ZeRO-1) against 1 process with the same
#    total batch and the same data (-a 1 makes every process read one fixed batch, so the ranks together see
#    exactly what the single process sees); the per-step losses must agree within bf16 noise (TOL).
# 2. resume: a 2-process ZeRO-1 run to step 20 with a checkpoint at step 10, and a second run resumed from
#    that checkpoint; the final model and both ranks' state files must be byte-identical.
# 3. failure: two ranks started by hand (-pi fs), rank 1 killed with SIGKILL mid-run; rank 0 must exit
#    non-zero with a one-line error within the collective timeout (LLMNET_DIST_TIMEOUT) plus a margin.
#    (Under mpirun the launcher itself would kill rank 0, which would hide the watchdog.)
#
# Environment: TOL (default 0.05) loss tolerance; KILL_TIMEOUT (default 90) seconds for check 3;
# SHARED_DATA (default ../shared/data or ./shared/data) holding tinyshakespeare.txt; WORK (default a temp dir).
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
TOL=${TOL:-0.05}
KILL_TIMEOUT=${KILL_TIMEOUT:-90}
WORK=${WORK:-$(mktemp -d /tmp/llmnet-multigpu.XXXXXX)}
MPIRUN=(mpirun --allow-run-as-root --bind-to none -x NCCL_NVLS_ENABLE=0 -x LLMNET_DIST_TIMEOUT)
export NCCL_NVLS_ENABLE=0
export LLMNET_DIST_TIMEOUT=${LLMNET_DIST_TIMEOUT:-120}
failures=0

say()  { printf '\n=== %s\n' "$*"; }
pass() { printf 'PASS: %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; failures=$((failures + 1)); }

# ---- prerequisites ----
gpus=$(nvidia-smi -L 2>/dev/null | wc -l)
(( gpus >= 2 )) || { echo "multi-gpu-check: need at least 2 GPUs, nvidia-smi lists $gpus"; exit 2; }
command -v mpirun >/dev/null || { echo "multi-gpu-check: mpirun not found: install Open MPI"; exit 2; }
if [[ ! -x bin/llm-train || ! -x bin/llm-tokenize ]]; then ./build.sh || { echo "multi-gpu-check: build failed"; exit 2; }; fi
SHARED_DATA=${SHARED_DATA:-}
for d in "$SHARED_DATA" "$REPO/../shared/data" "$REPO/shared/data"; do
  [[ -n $d && -f $d/tinyshakespeare.txt ]] && { SHARED_DATA=$d; break; }
done
[[ -f $SHARED_DATA/tinyshakespeare.txt ]] || { echo "multi-gpu-check: tinyshakespeare.txt not found; set SHARED_DATA"; exit 2; }
echo "work dir: $WORK ($gpus GPUs)"

DATA=$WORK/data
if [[ ! -f $DATA/tiny_val_000000.bin ]]; then
  bin/llm-tokenize "$SHARED_DATA/tinyshakespeare.txt" -o "$DATA" --prefix tiny --shard-size 100000 --quiet \
    || { echo "multi-gpu-check: tokenizing failed"; exit 2; }
fi
TRAIN="$DATA/tiny_train_*.bin"
VAL="$DATA/tiny_val_*.bin"
# Common flags: fresh d12, T=1024, no sampling, no HellaSwag, validation only at step 0 and the last step.
COMMON=(-e d12 -t 1024 -s 0 -h 0 -v 1000 -m 2 -l 6e-4 -u 5)

# The per-step training losses of a run, from main.log ("s:STEP trl:LOSS ...").
losses() { sed -nE 's/^s:([0-9]+) trl:([-0-9.naif]+).*/\1 \2/p' "$1/main.log"; }

# Largest |a-b| over the steps two loss listings share, or "missing" when they differ in length.
max_diff() {
  join <(sort -k1,1 "$1") <(sort -k1,1 "$2") | awk -v n1="$(wc -l <"$1")" -v n2="$(wc -l <"$2")" '
    { d = $2 - $3; if (d < 0) d = -d; if (d > m) m = d; if ($2 != $2+0 || $3 != $3+0) bad = 1; k++ }
    END { if (k == 0 || k != n1 || k != n2 || bad) print "missing"; else printf "%.6f\n", m }'
}

# ---- 1. two processes vs one, same total batch ----
say "1. 2-process d12 vs 1-process, 20 steps, total batch 8192 tokens"
run1=$WORK/eq-1proc
rm -rf "$run1"
bin/llm-train -i "$TRAIN" -j "$VAL" -o "$run1" -b 8 -d 8192 -x 20 -a 1 "${COMMON[@]}" >"$WORK/eq-1proc.out" 2>&1 \
  || fail "1-process run failed (see $WORK/eq-1proc.out)"
losses "$run1" >"$WORK/eq-1proc.loss"
for zero in 0 1; do
  run2=$WORK/eq-2proc-z$zero
  rm -rf "$run2"
  "${MPIRUN[@]}" -np 2 bin/llm-train -i "$TRAIN" -j "$VAL" -o "$run2" -b 4 -d 8192 -x 20 -a 1 -z $zero "${COMMON[@]}" \
    >"$WORK/eq-2proc-z$zero.out" 2>&1 || fail "2-process ZeRO-$zero run failed (see $WORK/eq-2proc-z$zero.out)"
  losses "$run2" >"$WORK/eq-2proc-z$zero.loss"
  d=$(max_diff "$WORK/eq-1proc.loss" "$WORK/eq-2proc-z$zero.loss")
  echo "ZeRO-$zero: max |loss difference| over 20 steps = $d (tolerance $TOL)"
  paste "$WORK/eq-1proc.loss" "$WORK/eq-2proc-z$zero.loss" | awk '{ printf "  step %2d  1 proc %s  2 procs %s\n", $1, $2, $4 }'
  if [[ $d != missing ]] && awk -v d="$d" -v t="$TOL" 'BEGIN { exit !(d <= t) }'; then
    pass "2 processes (ZeRO-$zero) match 1 process within $TOL"
  else
    fail "2 processes (ZeRO-$zero) vs 1 process: max difference $d exceeds $TOL"
  fi
done

# ---- 2. resume on 2 ranks is bitwise exact ----
say "2. resume from step 10 on 2 ranks (ZeRO-1) reproduces step 20 bit for bit"
full=$WORK/resume-full; part=$WORK/resume-part
rm -rf "$full" "$part"
RESUME=(-i "$TRAIN" -j "$VAL" -b 4 -d 16384 -x 20 -n 10 -z 1 "${COMMON[@]}")
"${MPIRUN[@]}" -np 2 bin/llm-train "${RESUME[@]}" -o "$full" >"$WORK/resume-full.out" 2>&1 \
  || fail "uninterrupted run failed (see $WORK/resume-full.out)"
mkdir -p "$part"
cp "$full"/model_00000010.bin "$full"/state_00000010_0000[01].bin "$full"/DONE_00000010 "$part"/ 2>/dev/null \
  || fail "the step-10 checkpoint is incomplete in $full"
"${MPIRUN[@]}" -np 2 bin/llm-train "${RESUME[@]}" -o "$part" -y 1 >"$WORK/resume-part.out" 2>&1 \
  || fail "resumed run failed (see $WORK/resume-part.out)"
same=1
for f in model_00000020.bin state_00000020_00000.bin state_00000020_00001.bin DONE_00000020; do
  if ! cmp -s "$full/$f" "$part/$f"; then echo "  differs or missing: $f"; same=0; fi
done
(( same )) && pass "resumed run ends byte-identical to the uninterrupted one" || fail "resume is not bitwise exact"
losses "$full" | awk '$1 >= 10' >"$WORK/resume-full.loss"
losses "$part" | awk '$1 >= 10' >"$WORK/resume-part.loss"
d=$(max_diff "$WORK/resume-full.loss" "$WORK/resume-part.loss")
echo "  steps 10-19 max |loss difference| = $d"

# ---- 3. a killed rank makes the other exit with a clear error ----
say "3. SIGKILL rank 1; rank 0 must exit with an error within ${KILL_TIMEOUT} s"
kill_dir=$WORK/kill; rdv=$WORK/kill-rdv
rm -rf "$kill_dir" "$rdv"; mkdir -p "$rdv"
export LLMNET_DIST_TIMEOUT=$(( KILL_TIMEOUT / 2 ))
KILL=(-i "$TRAIN" -j "$VAL" -b 4 -x 100000 -pn 2 -pi fs -pf "$rdv" -pg 8 "${COMMON[@]}")
bin/llm-train "${KILL[@]}" -pr 0 -o "$kill_dir" >"$WORK/kill-rank0.out" 2>&1 & pid0=$!
bin/llm-train "${KILL[@]}" -pr 1 >"$WORK/kill-rank1.out" 2>&1 & pid1=$!
for _ in $(seq 300); do   # wait (up to 5 min: startup and kernel compilation) until a few steps are done
  [[ -f $kill_dir/main.log ]] && (( $(grep -c trl: "$kill_dir/main.log") >= 3 )) && break
  kill -0 $pid0 2>/dev/null || break
  sleep 1
done
if ! kill -0 $pid0 2>/dev/null || ! kill -0 $pid1 2>/dev/null; then
  fail "the 2-rank run did not get going (see $WORK/kill-rank0.out, $WORK/kill-rank1.out)"
  kill $pid0 $pid1 2>/dev/null
else
  kill -9 $pid1
  t0=$(date +%s)
  while kill -0 $pid0 2>/dev/null && (( $(date +%s) - t0 < KILL_TIMEOUT )); do sleep 1; done
  if kill -0 $pid0 2>/dev/null; then
    fail "rank 0 still running ${KILL_TIMEOUT} s after rank 1 was killed"
    kill -9 $pid0 2>/dev/null
  else
    wait $pid0; rc=$?
    elapsed=$(( $(date +%s) - t0 ))
    msg=$(grep -m1 'error:' "$WORK/kill-rank0.out")
    echo "  rank 0 exited with code $rc after ${elapsed} s: ${msg:-<no error line>}"
    if (( rc != 0 )) && [[ -n $msg ]]; then pass "rank 0 exits with a clear error"; else fail "rank 0 exit code $rc, error line: ${msg:-none}"; fi
  fi
fi
wait 2>/dev/null

say "multi-gpu-check: $failures check(s) failed (logs in $WORK)"
exit $(( failures > 0 ))
