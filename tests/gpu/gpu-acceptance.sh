#!/usr/bin/env bash
# GPU acceptance run for a GPU node, in one go; every log goes to $OUT (default ./out), one PASS/FAIL
# line per check to $OUT/summary.txt. Needs the published tools in $BIN (./build.sh $BIN), the published
# GPU test project in $CUDA_TESTS (dotnet publish tests/Cuda.Tests -c Release -o DIR), and $DATA holding
# tiny_train_*.bin / tiny_val_*.bin (llm-tokenize tinyshakespeare.txt --prefix tiny) and a HellaSwag file.
#
# Usage: tests/gpu/gpu-acceptance.sh [tests] [train] [eval] [sample] [ladder] [multi]   (default: all)
# ladder: the correctness ladder d12..d48 against llm.c's losses and PyTorch (tests/gpu/ladder.sh; LLMC names a built
#   llm.c train_gpt2cu for its side-by-side runs, BENCH the published llm-cuda-bench).
# Environment: DEVICE (cuda; cpu for a dry run), MODEL (d12), B (8), T (1024), STEPS (20), LIMIT (300),
#   CPU_LIMIT (100: examples also scored on the CPU), MULTI_TIMEOUT (330 s).
set -uo pipefail
OUT=${OUT:-out}; BIN=${BIN:-bin}; CUDA_TESTS=${CUDA_TESTS:-}; DATA=${DATA:-data}
DEVICE=${DEVICE:-cuda}; MODEL=${MODEL:-d12}; B=${B:-8}; T=${T:-1024}; STEPS=${STEPS:-20}; LIMIT=${LIMIT:-300}
HELLASWAG=${HELLASWAG:-$(ls "$DATA"/hellaswag*.bin 2>/dev/null | head -1)}
export NCCL_NVLS_ENABLE=0 LLMNET_KERNEL_CACHE=${LLMNET_KERNEL_CACHE:-/tmp/llmnet-kernels}
mkdir -p "$OUT"
summary=$OUT/summary.txt
check() { # NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then echo "PASS $name" | tee -a "$summary"; else echo "FAIL $name" | tee -a "$summary"; fi
}
stamp() { echo "[$(date +%H:%M:%S)] $*"; }

run_tests() {
  [[ -n $CUDA_TESTS ]] || { echo "SKIP gpu-tests (CUDA_TESTS unset)" | tee -a "$summary"; return; }
  stamp "GPU tests"
  timeout 300 "$CUDA_TESTS"/LlmNet.Cuda.Tests -noColor -parallel none > "$OUT/gpu-tests.log" 2>&1
  grep -E "\[FAIL\]|Total:" "$OUT/gpu-tests.log"
  check gpu-tests grep -qE "Total: [0-9]+, Errors: 0, Failed: 0, Skipped: 0" "$OUT/gpu-tests.log"
}

run_train() {
  stamp "training on $DEVICE, then resume"
  rm -rf /tmp/acc-a; mkdir -p /tmp/acc-a
  # llm-train on the tiny shards, checkpoints every 10 steps; the resume adds -y 1.
  local flags=(-i "$DATA/tiny_train_*.bin" -j "$DATA/tiny_val_*.bin" -e "$MODEL" -b "$B" -t "$T"
    -x "$STEPS" -l 0.0006 -u 5 -v 10 -m 4 -s "$STEPS" -g 32 -n 10 --device "$DEVICE")
  timeout 300 "$BIN/llm-train" "${flags[@]}" -o /tmp/acc-a > "$OUT/train.log" 2>&1
  grep -E "^step +(1|$STEPS)/|val loss|allocat|device memory|error" "$OUT/train.log" | head -20
  local final; final=$(printf 'model_%08d.bin' "$STEPS")
  check train-finished test -f "/tmp/acc-a/$(printf 'DONE_%08d' "$STEPS")"
  local first last
  first=$(grep -m1 ' tel:' /tmp/acc-a/main.log | sed 's/.*tel://'); last=$(grep ' tel:' /tmp/acc-a/main.log | tail -1 | sed 's/.*tel://')
  echo "val loss $first -> $last"
  check val-loss-falls python3 -c "import sys; sys.exit(0 if float('$last') < float('$first') - 1.0 else 1)"
  # Resume: drop the final checkpoint, resume from step 10, and the final files must be byte-identical.
  cp "/tmp/acc-a/$final" /tmp/acc-final.bin; cp "/tmp/acc-a/$(printf 'state_%08d_00000.bin' "$STEPS")" /tmp/acc-state.bin
  rm -f /tmp/acc-a/$(printf 'DONE_%08d' "$STEPS") "/tmp/acc-a/$final" /tmp/acc-a/$(printf 'state_%08d_00000.bin' "$STEPS")
  timeout 300 "$BIN/llm-train" "${flags[@]}" -o /tmp/acc-a -y 1 > "$OUT/resume.log" 2>&1
  grep -E "resum|error" "$OUT/resume.log" | head -5
  check resume-model-bitwise cmp -s /tmp/acc-final.bin "/tmp/acc-a/$final"
  check resume-state-bitwise cmp -s /tmp/acc-state.bin "/tmp/acc-a/$(printf 'state_%08d_00000.bin' "$STEPS")"
  cp /tmp/acc-a/main.log "$OUT/main.log"
}

run_eval() {
  local model; model=/tmp/acc-a/$(printf 'model_%08d.bin' "$STEPS")
  [[ -f $model && -n $HELLASWAG ]] || { echo "SKIP eval (no model or HellaSwag file)" | tee -a "$summary"; return; }
  stamp "HellaSwag: $DEVICE vs PyTorch vs CPU"
  timeout 200 "$BIN/llm-eval" hellaswag -e "$model" --hellaswag-data "$HELLASWAG" --limit "$LIMIT" --device "$DEVICE" --json --per-example "$OUT/eval-dev.jsonl" > "$OUT/eval-dev.log" 2>&1
  tail -1 "$OUT/eval-dev.log"
  local cpu_limit=$(( LIMIT < ${CPU_LIMIT:-100} ? LIMIT : ${CPU_LIMIT:-100} ))
  timeout 300 "$BIN/llm-eval" hellaswag -e "$model" --hellaswag-data "$HELLASWAG" --limit "$cpu_limit" --device cpu --json --per-example "$OUT/eval-cpu.jsonl" > "$OUT/eval-cpu.log" 2>&1
  tail -1 "$OUT/eval-cpu.log"
  if python3 -c "import torch" 2>/dev/null; then
    PYTHONUNBUFFERED=1 timeout 200 python3 tests/gpu/hellaswag_reference.py --model "$model" --data "$HELLASWAG" --limit "$LIMIT" > "$OUT/eval-torch.json" 2> "$OUT/eval-torch.err"
    tail -c 300 "$OUT/eval-torch.err"
  fi
  python3 - "$OUT" > "$OUT/eval-compare.txt" <<'PY'
import json, sys
out = sys.argv[1]
def rows(path):
    try: return {r["index"]: r for r in (json.loads(l) for l in open(path) if l.strip())}
    except OSError: return {}
dev, cpu = rows(f"{out}/eval-dev.jsonl"), rows(f"{out}/eval-cpu.jsonl")
try: torch = {r["index"]: r for r in json.load(open(f"{out}/eval-torch.json"))["predictions"]}
except Exception: torch = {}
def agree(a, b):
    common = sorted(set(a) & set(b))
    same = sum(1 for i in common if a[i]["prediction"] == b[i]["prediction"])
    return same, len(common)
for name, (a, b) in {"device-vs-torch": (dev, torch), "cpu-vs-torch": (cpu, torch), "device-vs-cpu": (dev, cpu)}.items():
    s, n = agree(a, b)
    print(f"{name} {s}/{n}")
PY
  cat "$OUT/eval-compare.txt"
  if [[ ! -s $OUT/eval-torch.json ]]; then echo "SKIP eval vs PyTorch (no torch here)" | tee -a "$summary"; return; fi
  check eval-cpu-equals-torch awk '$1=="cpu-vs-torch" { split($2,a,"/"); exit !(a[2]>0 && a[1]==a[2]) }' "$OUT/eval-compare.txt"
  check eval-device-close-to-torch awk '$1=="device-vs-torch" { split($2,a,"/"); exit !(a[2]>0 && a[1] >= 0.95*a[2]) }' "$OUT/eval-compare.txt"
}

run_sample() {
  local model; model=/tmp/acc-a/$(printf 'model_%08d.bin' "$STEPS")
  stamp "sampling on $DEVICE"
  timeout 120 "$BIN/llm-sample" -e "$model" --prompt "First Citizen:" -g 48 --seed 7 --device "$DEVICE" > "$OUT/sample.txt" 2> "$OUT/sample.err"
  head -c 400 "$OUT/sample.txt"; echo
  check sample-produced test -s "$OUT/sample.txt"
}

run_ladder() {
  stamp "correctness ladder d12..d48"
  OUT=$OUT/ladder BIN=$BIN BENCH=${BENCH:-${CUDA_TESTS:+$CUDA_TESTS/llm-cuda-bench}} LLMC=${LLMC:-} \
    timeout "${LADDER_TIMEOUT:-1800}" bash tests/gpu/ladder.sh > "$OUT/ladder.log" 2>&1
  grep -E "^(PASS|FAIL|SKIP)" "$OUT/ladder/summary.txt" | sed 's/^\([A-Z]*\) /\1 ladder-/' | tee -a "$summary"
}

run_multi() {
  [[ -x tests/gpu/multi-gpu-check.sh ]] || { echo "SKIP multi (no script)" | tee -a "$summary"; return; }
  local gpus; gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
  (( gpus >= 2 )) || { echo "SKIP multi ($gpus GPU)" | tee -a "$summary"; return; }
  stamp "multi-GPU checks"
  BIN=$BIN DATA=$DATA OUT=$OUT/multi timeout "${MULTI_TIMEOUT:-330}" bash tests/gpu/multi-gpu-check.sh > "$OUT/multi.log" 2>&1
  grep -E "PASS|FAIL|error" "$OUT/multi.log" | head -20 | sed 's/^/multi: /' | tee -a "$summary"
}

stages=("$@"); (( ${#stages[@]} )) || stages=(tests train eval sample ladder multi)
for s in "${stages[@]}"; do "run_$s"; done
echo "== summary"; cat "$summary"
