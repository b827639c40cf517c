#!/usr/bin/env bash
# Multi-GPU check of llm-train on one host with 2 or more GPUs (written for 2x H200). Uses published tools,
# builds nothing; about 2-4 minutes, most of it process start-up and (on a fresh machine) kernel compilation.
#
#   BIN=.device/bin OUT=out tests/gpu/multi-gpu-check.sh
#
# a. equivalence: 20 steps of a fresh d12 (EQ_MODEL, EQ_STEPS, lr EQ_LR) on 2 processes (mpirun, -pi mpi; ZeRO-0
#    and ZeRO-1) against 1 process with the same total batch and the same tokens (-a 1: every process re-reads its
#    fixed batch of the val shard, rank r at row offset r*B, so 2 x B=4 covers the rows of 1 x B=8); losses must
#    agree within twice the bf16 noise floor (see below) or TOL, whichever is larger.
# b. resume: 2 processes (mpirun, -pi tcp), ZeRO-1, 10 steps with a checkpoint at step 5, then a run resumed
#    from a copy of that checkpoint; model_00000010.bin and both state files must be byte-identical.
# c. failure: 2 processes started by hand (-pi fs), rank 1 killed with SIGKILL after a few steps; rank 0 must
#    exit non-zero with an "error:" line within LLMNET_DIST_TIMEOUT (set to KILL_DIST_TIMEOUT) + 30 s.
# d. determinism: a fresh d12 on 2 processes (mpirun), 2 micro-steps per step, 6 steps, ZeRO-1 and ZeRO-0, each run
#    twice (the gradient exchange overlapped with backward on its own stream): model_00000006.bin, both state
#    files and the per-step losses must be byte-identical.
# e. torchrun-style launch: 2 processes started by hand with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
#    MASTER_PORT (-pi tcp) give byte-identical model and state files to the same run under mpirun.
# f. HellaSwag on 2 CUDA processes: llm-eval under mpirun counts the same as 1 process, and llm-train -h 1 on
#    2 processes reports what llm-eval reports for the same checkpoint (needs hellaswag*.bin in DATA).
#
# Environment: BIN (default bin) the published tools; OUT (default out) logs and runs; TOL (default 0.05);
# DATA a folder with tiny_val_000000.bin and tiny_train_*.bin, else SHARED_DATA (default the repository's data/)
# holding tinyshakespeare.txt, tokenized here; KILL_DIST_TIMEOUT (default 20) seconds.
# CHECKS (default abcdef) picks the checks. Prints one PASS/FAIL line per check; exits 0 only when all pass
# (2 when the machine lacks something).
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=$(cd "${BIN:-bin}" 2>/dev/null && pwd) || { echo "multi-gpu-check: BIN folder not found"; exit 2; }
OUT=${OUT:-out}; mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
TOL=${TOL:-0.05}
EQ_MODEL=${EQ_MODEL:-d12}; EQ_STEPS=${EQ_STEPS:-20}; EQ_LR=${EQ_LR:-1e-4}   # check a: llm.c's test settings
CHECKS=${CHECKS:-abcdef}
KILL_DIST_TIMEOUT=${KILL_DIST_TIMEOUT:-20}
RUN_TIMEOUT=${RUN_TIMEOUT:-100}   # seconds any one training run may take
export NCCL_NVLS_ENABLE=0
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}  # containers without ptrace
export LLMNET_DIST_TIMEOUT=${LLMNET_DIST_TIMEOUT:-60}
export LLMNET_KERNEL_CACHE=${LLMNET_KERNEL_CACHE:-/tmp/llmnet-kernels}
export LD_LIBRARY_PATH=${CUDA_HOME:-/usr/local/cuda}/lib64:${LD_LIBRARY_PATH:-}
MPIRUN=(mpirun --allow-run-as-root --bind-to none -np 2
        -x NCCL_NVLS_ENABLE -x LLMNET_DIST_TIMEOUT -x LLMNET_KERNEL_CACHE -x LD_LIBRARY_PATH -x LLMNET_NCCL_LIBRARY)
failures=0
START=$(date +%s)

say()  { printf '\n=== %s (t=%ds)\n' "$*" $(( $(date +%s) - START )); }
pass() { printf 'PASS: %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; failures=$((failures + 1)); }

# ---- prerequisites ----
gpus=$(nvidia-smi -L 2>/dev/null | wc -l)
(( gpus >= 2 )) || { echo "multi-gpu-check: need at least 2 GPUs, nvidia-smi lists $gpus"; exit 2; }
command -v mpirun >/dev/null || { echo "multi-gpu-check: mpirun not found: install Open MPI"; exit 2; }
[[ -x $BIN/llm-train && -x $BIN/llm-tokenize ]] || { echo "multi-gpu-check: $BIN lacks llm-train/llm-tokenize; run ./build.sh $BIN"; exit 2; }
# NCCL and MPI libraries outside the loader's path: NCCL from a pip wheel, libmpi next to mpirun.
export LLMNET_NCCL_LIBRARY=${LLMNET_NCCL_LIBRARY:-}
if [[ -z $LLMNET_NCCL_LIBRARY ]] && ! ldconfig -p 2>/dev/null | grep -q 'libnccl.so.2 '; then
  for f in /usr/local/cuda/lib64/libnccl.so.2 /usr/local/lib/libnccl.so.2 \
           $(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib", "libnccl.so.2"))' 2>/dev/null); do
    [[ -f $f ]] && { LLMNET_NCCL_LIBRARY=$f; break; }
  done
fi
mpilib=$(dirname "$(command -v mpirun)")/../lib
[[ -f $mpilib/libmpi.so.40 || -f $mpilib/libmpi.so.12 ]] && export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$(cd "$mpilib" && pwd)
echo "tools: $BIN; logs: $OUT; $gpus GPUs; $(mpirun --version 2>&1 | head -1); NCCL: ${LLMNET_NCCL_LIBRARY:-from the loader path}"

DATA=${DATA:-$OUT/data}; [[ -d $DATA ]] && DATA=$(cd "$DATA" && pwd)
if [[ ! -f $DATA/tiny_val_000000.bin ]]; then
  SHARED_DATA=${SHARED_DATA:-}
  for d in "$SHARED_DATA" data; do
    [[ -n $d && -f $d/tinyshakespeare.txt ]] && { SHARED_DATA=$d; break; }
  done
  [[ -f $SHARED_DATA/tinyshakespeare.txt ]] || { echo "multi-gpu-check: tinyshakespeare.txt not found; set SHARED_DATA or DATA"; exit 2; }
  "$BIN/llm-tokenize" "$SHARED_DATA/tinyshakespeare.txt" --out "$DATA" --prefix tiny --shard-size 100000 --quiet \
    >"$OUT/tokenize.out" 2>&1 || { echo "multi-gpu-check: tokenizing failed (see $OUT/tokenize.out)"; exit 2; }
fi
TRAIN="$DATA/tiny_train_*.bin"
VAL="$DATA/tiny_val_*.bin"
# Fresh d6 (6 layers, C=384, head size 64), T=1024; no sampling or HellaSwag; validation at step 0 and the end.
COMMON=(-i "$TRAIN" -j "$VAL" -e d6 -t 1024 -s 0 -h 0 -v 1000 -m 2 -l 1e-3 -u 3 --device cuda)

# The per-step training losses of a run, from main.log ("s:STEP trl:LOSS ...").
losses() { sed -nE 's/^s:([0-9]+) trl:([-0-9.naif]+).*/\1 \2/p' "$1/main.log" 2>/dev/null; }

# Largest |a-b| over the steps of two loss listings, or "missing" when they differ in length or are empty.
max_diff() {
  join <(sort -k1,1 "$1") <(sort -k1,1 "$2") | awk -v n1="$(wc -l <"$1")" -v n2="$(wc -l <"$2")" '
    { d = $2 - $3; if (d < 0) d = -d; if (d > m) m = d; if ($2 != $2+0 || $3 != $3+0) bad = 1; k++ }
    END { if (k == 0 || k != n1 || k != n2 || bad) print "missing"; else printf "%.6f\n", m }'
}

if [[ $CHECKS == *a* ]]; then
# ---- a. two processes vs one, same total batch ----
# Two 1-process runs set the noise floor: B=8 in one micro-step, and B=4 in two micro-steps (-d 8192), which
# computes exactly what 2 processes of B=4 compute, minus the communication. bf16 rounding differs between
# any two such splits and AdamW's first updates amplify it, so 2 processes must match the B=4 x 2 run within
# max(TOL, 2 x the floor), the floor being how far the B=8 run, or the B=4 x 2 run with another stochastic-rounding
# seed, lies from it (whichever is farther).
say "a. 2-process $EQ_MODEL vs 1-process, $EQ_STEPS steps, 8192 tokens per step, lr $EQ_LR"
EQ=(-i "$TRAIN" -j "$VAL" -e "$EQ_MODEL" -t 1024 -s 0 -h 0 -v 1000 -m 2 -l "$EQ_LR" -u 0 --device cuda -d 8192 -x "$EQ_STEPS" -a 1)
eq_run() { # NAME LAUNCH... -- FLAGS...
  local name=$1; shift
  rm -rf "$OUT/$name"
  timeout $RUN_TIMEOUT "$@" -o "$OUT/$name" >"$OUT/$name.out" 2>&1 \
    || echo "  run $name failed (see $OUT/$name.out): $(grep -m1 error: "$OUT/$name.out")"
  losses "$OUT/$name" >"$OUT/$name.loss"
}
eq_run eq-1proc-b8 "$BIN/llm-train" "${EQ[@]}" -b 8
eq_run eq-1proc-b4x2 "$BIN/llm-train" "${EQ[@]}" -b 4
# The same B=4 x 2 run with another stochastic-rounding stream (rank 1's seed base): ZeRO-1 updates each shard with
# its own rank's stream, so this is the rounding noise that the B=8 run alone does not show.
LLMNET_SR_SEED=13371338 eq_run eq-1proc-b4x2-sr "$BIN/llm-train" "${EQ[@]}" -b 4
floor_b8=$(max_diff "$OUT/eq-1proc-b4x2.loss" "$OUT/eq-1proc-b8.loss")
floor_sr=$(max_diff "$OUT/eq-1proc-b4x2.loss" "$OUT/eq-1proc-b4x2-sr.loss")
echo "  noise floor: 1 process B=8 vs 1 process B=4 x 2 micro-steps: max |loss difference| $floor_b8"
echo "  noise floor: B=4 x 2 with another stochastic-rounding seed vs B=4 x 2: max |loss difference| $floor_sr"
floor=$(awk -v a="$floor_b8" -v b="$floor_sr" 'BEGIN { if (a == "missing" || b == "missing") print "missing"; else printf "%.6f", (a > b ? a : b) }')
limit=$(awk -v f="$floor" -v t="$TOL" 'BEGIN { l = 2 * f; if (f == "missing" || l < t) l = t; printf "%.6f", l }')
for zero in 0 1; do
  eq_run eq-2proc-z$zero "${MPIRUN[@]}" "$BIN/llm-train" "${EQ[@]}" -b 4 -z $zero
  d=$(max_diff "$OUT/eq-1proc-b4x2.loss" "$OUT/eq-2proc-z$zero.loss")
  join <(sort -k1,1 "$OUT/eq-1proc-b8.loss") <(sort -k1,1 "$OUT/eq-1proc-b4x2.loss") | join - <(sort -k1,1 "$OUT/eq-1proc-b4x2-sr.loss") |
    join - <(sort -k1,1 "$OUT/eq-2proc-z$zero.loss") | sort -k1,1n |
    awk -v z=$zero 'NR == 1 { printf "  step  1 proc B=8  1 proc B=4x2  B=4x2 other SR  2 procs ZeRO-%d\n", z } { printf "  %4d  %10s  %12s  %13s  %15s\n", $1, $2, $3, $4, $5 }'
  if [[ $d != missing && $floor != missing ]] && awk -v d="$d" -v l="$limit" 'BEGIN { exit !(d <= l) }'; then
    pass "a. 2 processes (ZeRO-$zero, -pi mpi) match 1 process: max |loss difference| $d <= $limit (floor $floor)"
  else
    fail "a. 2 processes (ZeRO-$zero, -pi mpi) vs 1 process: max |loss difference| $d (limit $limit, floor $floor)"
  fi
done

fi
if [[ $CHECKS == *b* ]]; then
# ---- b. resume on 2 ranks is bitwise exact ----
say "b. 2-rank ZeRO-1 resume from step 5 reproduces step 10 bit for bit"
full=$OUT/resume-full; part=$OUT/resume-part; rm -rf "$full" "$part"
RESUME=("${COMMON[@]}" -b 4 -d 16384 -x 10 -n 5 -z 1 -pi tcp -ps 127.0.0.1)
ok=1
timeout $RUN_TIMEOUT "${MPIRUN[@]}" "$BIN/llm-train" "${RESUME[@]}" -o "$full" >"$OUT/resume-full.out" 2>&1 \
  || { ok=0; echo "  uninterrupted run failed (see $OUT/resume-full.out): $(grep -m1 error: "$OUT/resume-full.out")"; }
mkdir -p "$part"
cp "$full"/model_00000005.bin "$full"/state_00000005_0000[01].bin "$full"/DONE_00000005 "$full"/main.log "$part"/ 2>/dev/null \
  || { ok=0; echo "  the step-5 checkpoint is incomplete in $full"; }
timeout $RUN_TIMEOUT "${MPIRUN[@]}" "$BIN/llm-train" "${RESUME[@]}" -o "$part" -y 1 >"$OUT/resume-part.out" 2>&1 \
  || { ok=0; echo "  resumed run failed (see $OUT/resume-part.out): $(grep -m1 error: "$OUT/resume-part.out")"; }
grep -q "resuming from the checkpoint at step 5" "$OUT/resume-part.out" || { ok=0; echo "  the second run did not resume at step 5"; }
for f in model_00000010.bin state_00000010_00000.bin state_00000010_00001.bin; do
  if ! cmp -s "$full/$f" "$part/$f"; then echo "  differs or missing: $f"; ok=0; fi
done
losses "$full" | awk '$1 >= 5' >"$OUT/resume-full.loss"
losses "$part" | awk '$1 >= 5' >"$OUT/resume-part.loss"
echo "  steps 5-9 max |loss difference| = $(max_diff "$OUT/resume-full.loss" "$OUT/resume-part.loss")"
(( ok )) && pass "b. resumed 2-rank run (ZeRO-1, -pi tcp) ends byte-identical to the uninterrupted one" \
         || fail "b. 2-rank resume is not bitwise exact"

fi
if [[ $CHECKS == *c* ]]; then
# ---- c. a killed rank makes the other exit with a clear error ----
say "c. SIGKILL rank 1; rank 0 must exit with an error within ${KILL_DIST_TIMEOUT}+30 s"
kill_dir=$OUT/kill; rdv=$OUT/kill-rdv; rm -rf "$kill_dir" "$rdv"; mkdir -p "$rdv"
KILL=("${COMMON[@]}" -b 4 -x 100000 -pn 2 -pi fs -pf "$rdv")
LLMNET_DIST_TIMEOUT=$KILL_DIST_TIMEOUT "$BIN/llm-train" "${KILL[@]}" -pr 0 -o "$kill_dir" >"$OUT/kill-rank0.out" 2>&1 & pid0=$!
LLMNET_DIST_TIMEOUT=$KILL_DIST_TIMEOUT "$BIN/llm-train" "${KILL[@]}" -pr 1 >"$OUT/kill-rank1.out" 2>&1 & pid1=$!
for _ in $(seq 120); do   # up to 2 minutes for start-up and the first steps
  [[ -f $kill_dir/main.log ]] && (( $(grep -c trl: "$kill_dir/main.log") >= 3 )) && break
  kill -0 $pid0 2>/dev/null && kill -0 $pid1 2>/dev/null || break
  sleep 1
done
if ! kill -0 $pid0 2>/dev/null || ! kill -0 $pid1 2>/dev/null; then
  fail "c. the 2-rank run did not get going (see $OUT/kill-rank0.out, $OUT/kill-rank1.out)"
  kill $pid0 $pid1 2>/dev/null
else
  kill -9 $pid1
  t0=$(date +%s); limit=$(( KILL_DIST_TIMEOUT + 30 ))
  while kill -0 $pid0 2>/dev/null && (( $(date +%s) - t0 < limit )); do sleep 1; done
  if kill -0 $pid0 2>/dev/null; then
    fail "c. rank 0 still running $limit s after rank 1 was killed"
    kill -9 $pid0 2>/dev/null
  else
    wait $pid0; rc=$?
    elapsed=$(( $(date +%s) - t0 ))
    msg=$(grep -m1 'error:' "$OUT/kill-rank0.out")
    echo "  rank 0 exited with code $rc after ${elapsed} s: ${msg:-<no error line>}"
    if (( rc != 0 )) && [[ -n $msg ]]; then pass "c. rank 0 exits (code $rc, ${elapsed} s) with: $msg"
    else fail "c. rank 0 exit code $rc, error line: ${msg:-none}"; fi
  fi
fi
wait 2>/dev/null
fi
if [[ $CHECKS == *d* ]]; then
# ---- d. two runs with the gradient exchange overlapped with backward give bitwise the same training ----
say "d. 2-process d12: the same run twice, bit for bit"
OVL=(-i "$TRAIN" -j "$VAL" -e d12 -t 1024 -s 0 -h 0 -v 1000 -m 2 -l 1e-3 -u 3 --device cuda -b 4 -d 16384 -x 6 -n 1000)
for zero in 1 0; do
  ok=1
  for run in 1 2; do
    dir=$OUT/overlap-z$zero-$run; rm -rf "$dir"
    timeout $RUN_TIMEOUT "${MPIRUN[@]}" "$BIN/llm-train" "${OVL[@]}" -z $zero -o "$dir" \
      >"$dir.out" 2>&1 || { ok=0; echo "  run $run failed (see $dir.out): $(grep -m1 error: "$dir.out")"; }
    losses "$dir" >"$dir.loss"
    ms=$(grep -E '^step ' "$dir.out" | tail -n +3 | sed -E 's/.*\| ([0-9.]+) ms \|.*/\1/' | sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }')
    echo "  ZeRO-$zero run $run: $(wc -l <"$dir.loss") steps logged, final loss $(tail -1 "$dir.loss" | cut -d' ' -f2), median ${ms:-?} ms/step"
  done
  on=$OUT/overlap-z$zero-1; off=$OUT/overlap-z$zero-2
  for f in model_00000006.bin state_00000006_00000.bin state_00000006_00001.bin; do
    if [[ ! -f $on/$f ]] || ! cmp -s "$on/$f" "$off/$f"; then echo "  differs or missing: $f"; ok=0; fi
  done
  [[ -s $on.loss ]] && cmp -s "$on.loss" "$off.loss" || { echo "  the per-step losses differ (see $on.loss, $off.loss)"; ok=0; }
  (( ok )) && pass "d. ZeRO-$zero: two runs give byte-identical model and state files" \
           || fail "d. ZeRO-$zero: two runs differ"
done

fi

if [[ $CHECKS == *e* ]]; then
# ---- e. torchrun-style launch: RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR/MASTER_PORT instead of mpirun ----
say "e. 2-process d12 launched through RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT vs mpirun, bit for bit"
ENVRUN=(-i "$TRAIN" -j "$VAL" -e d12 -t 1024 -s 0 -h 0 -v 1000 -m 2 -l 1e-3 -u 3 --device cuda -b 4 -d 16384 -x 4 -n 1000 -z 1)
ref=$OUT/launch-mpirun; envdir=$OUT/launch-env; rm -rf "$ref" "$envdir"
timeout $RUN_TIMEOUT "${MPIRUN[@]}" "$BIN/llm-train" "${ENVRUN[@]}" -o "$ref" >"$ref.out" 2>&1 || echo "  mpirun run failed: $(grep -m1 error: "$ref.out")"
port=$(( 20000 + RANDOM % 20000 ))
pids=()
for r in 0 1; do
  RANK=$r WORLD_SIZE=2 LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    timeout $RUN_TIMEOUT "$BIN/llm-train" "${ENVRUN[@]}" -o "$envdir" >"$envdir.rank$r.out" 2>&1 &
  pids+=($!)
done
ok=1
for i in 0 1; do wait "${pids[$i]}" || { ok=0; echo "  rank $i exited with an error: $(grep -m1 error: "$envdir.rank$i.out")"; }; done
for f in model_00000004.bin state_00000004_00000.bin state_00000004_00001.bin; do
  if [[ ! -f $envdir/$f ]] || ! cmp -s "$ref/$f" "$envdir/$f"; then echo "  differs or missing: $f"; ok=0; fi
done
(( ok )) && pass "e. RANK/WORLD_SIZE/MASTER_ADDR launch gives byte-identical model and state files to mpirun" \
         || fail "e. RANK/WORLD_SIZE/MASTER_ADDR launch differs from mpirun or failed"
fi

if [[ $CHECKS == *f* ]]; then
# ---- f. HellaSwag split across 2 CUDA processes: llm-eval under mpirun, and llm-train -h 1 ----
HS=${HELLASWAG:-$(ls "$DATA"/hellaswag*.bin 2>/dev/null | head -1)}
if [[ -z $HS ]]; then echo "SKIP f (no hellaswag*.bin in $DATA)"; else
say "f. HellaSwag on 2 CUDA processes: llm-eval under mpirun vs 1 process; llm-train -h 1 vs llm-eval"
hdir=$OUT/hella; rm -rf "$hdir"
HRUN=(-i "$TRAIN" -j "$VAL" -e d12 -t 1024 -s 0 -h 1 --hellaswag-data "$HS" -v 3 -m 2 -l 1e-3 -u 3 --device cuda -b 4 -d 16384 -x 3 -n 3 -z 1)
timeout $RUN_TIMEOUT "${MPIRUN[@]}" "$BIN/llm-train" "${HRUN[@]}" -o "$hdir" >"$hdir.out" 2>&1 || echo "  training with -h 1 failed: $(grep -m1 error: "$hdir.out")"
train_acc=$(sed -nE 's/^s:3 eval:([0-9.]+).*/\1/p' "$hdir/main.log" 2>/dev/null | tail -1)
model=$hdir/model_00000003.bin
timeout $RUN_TIMEOUT "$BIN/llm-eval" hellaswag -e "$model" --hellaswag-data "$HS" --limit 2000 --device cuda --json >"$OUT/hella-1.json" 2>"$OUT/hella-1.err"
timeout $RUN_TIMEOUT "${MPIRUN[@]}" "$BIN/llm-eval" hellaswag -e "$model" --hellaswag-data "$HS" --limit 2000 --device cuda --json >"$OUT/hella-2.json" 2>"$OUT/hella-2.err"
one=$(grep -o '"correct":[0-9]*,"total":[0-9]*' "$OUT/hella-1.json" | head -1)
two=$(grep -o '"correct":[0-9]*,"total":[0-9]*' "$OUT/hella-2.json" | head -1)
full=$(timeout $RUN_TIMEOUT "$BIN/llm-eval" hellaswag -e "$model" --hellaswag-data "$HS" --device cuda --json 2>/dev/null | grep -o '"accuracy":[0-9.]*' | head -1 | cut -d: -f2)
echo "  llm-eval 2,000 examples: 1 process {$one}, 2 processes {$two}"
echo "  llm-train -h 1 at step 3 (2 processes, all examples): ${train_acc:-missing}; llm-eval on that checkpoint, 1 process: ${full:-missing}"
[[ -n $one && $one == "$two" ]] && pass "f. llm-eval on 2 CUDA processes counts the same as on 1: $one" \
                                || fail "f. llm-eval on 2 CUDA processes differs from 1 process ({$one} vs {$two})"
if [[ -n $train_acc && -n $full ]] && awk -v a="$train_acc" -v b="$full" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.005) }'; then
  pass "f. llm-train -h 1 on 2 processes reports $train_acc; llm-eval on the checkpoint gives $full (within 0.5 points: bf16 near-ties)"
else
  fail "f. llm-train -h 1 on 2 processes reports ${train_acc:-nothing}; llm-eval gives ${full:-nothing}"
fi
fi
fi

say "multi-gpu-check: $failures check(s) failed (logs in $OUT)"
exit $(( failures > 0 ))
