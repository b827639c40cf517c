#!/usr/bin/env bash
# Cross-checks llm.net against llm.c's CPU reference trainer (train_gpt2.c, fp32).
#
#   LLMC_DIR=~/src/llm.c tests/interop/run-llmc-crosscheck.sh [WORK_DIR]
#
# 1. builds train_gpt2.c from LLMC_DIR into WORK_DIR (nothing of llm.c enters this repository);
# 2. writes with llm.net's code the files train_gpt2.c reads: a fresh d12 gpt2_124M.bin (v3, fp32),
#    gpt2_tokenizer.bin (v2) and the Tiny Shakespeare train/val shards (tinyshakespeare.py's layout);
#    if LLMC_DIR already holds llm.c's own copies of the shards or tokenizer file, they are compared byte for byte;
# 3. runs train_gpt2 (its hard-coded 40 steps, B=4, T=64) and llm.net's CPU backend over the same batches
#    with the same AdamW settings and sampler, and prints the losses side by side;
# 4. lets train_gpt2 load the checkpoint llm.net wrote after its last step and compares the val loss.
#
# Takes about 10-30 minutes on a small machine; OMP_NUM_THREADS and CROSSCHECK_THREADS (llm.net) bound the cores.
# Not part of CI (CI has no llm.c checkout).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
: "${LLMC_DIR:?set LLMC_DIR to an llm.c checkout (it needs train_gpt2.c and llmc/)}"
[[ -f "$LLMC_DIR/train_gpt2.c" ]] || { echo "run-llmc-crosscheck: error: $LLMC_DIR/train_gpt2.c: not found. point LLMC_DIR at an llm.c checkout" >&2; exit 1; }
shakespeare="${SHAKESPEARE_TXT:-$root/data/tinyshakespeare.txt}"
[[ -f "$shakespeare" ]] || { echo "run-llmc-crosscheck: error: $shakespeare: not found. set SHAKESPEARE_TXT to tinyshakespeare.txt" >&2; exit 1; }
work="${1:-$(mktemp -d "${TMPDIR:-/tmp}/llmc-crosscheck.XXXXXX")}"
mkdir -p "$work"
threads="${CROSSCHECK_THREADS:-0}"
echo "work dir: $work"

# -fgnu89-inline: llm.c's utils.h declares plain `inline` helpers; with C99 inline rules gcc may emit no
# out-of-line copy and the link fails, so ask for the GNU semantics that always emit one.
echo "== building train_gpt2 from $LLMC_DIR"
gcc -O3 -fopenmp -march=native -fgnu89-inline -w "$LLMC_DIR/train_gpt2.c" -lm -o "$work/train_gpt2"

echo "== writing inputs with llm.net"
script="$here/LlmcCrosscheck.cs"
dotnet run -c Release "$script" -- prepare "$work/run" "$shakespeare"

same() { if cmp -s "$1" "$2"; then echo "identical"; else echo "DIFFERENT ($(cmp "$1" "$2" 2>&1 | head -1))"; fi; }
for f in dev/data/tinyshakespeare/tiny_shakespeare_train.bin dev/data/tinyshakespeare/tiny_shakespeare_val.bin gpt2_tokenizer.bin; do
    if [[ -f "$LLMC_DIR/$f" ]]; then echo "$f vs llm.c's: $(same "$work/run/$f" "$LLMC_DIR/$f")"; fi
done

echo "== running llm.c train_gpt2 (40 steps)"
(cd "$work/run" && stdbuf -oL "$work/train_gpt2" > "$work/llmc.out")
echo "== running llm.net CpuBackend (40 steps)"
dotnet run -c Release "$script" -- train "$work/run" 40 "$threads" > "$work/ours.out"

echo "== llm.c reading llm.net's checkpoint after step 40"
mkdir -p "$work/ckpt"
ln -sf ../run/dev "$work/ckpt/dev"
ln -sf ../run/gpt2_tokenizer.bin "$work/ckpt/gpt2_tokenizer.bin"
ln -sf ../run/ours_final.bin "$work/ckpt/gpt2_124M.bin"
# only the first val loss (before any update) is wanted; grep exits on it and the trainer stops on the closed pipe
ckpt_val=$(cd "$work/ckpt" && { stdbuf -oL "$work/train_gpt2" 2>&1 || true; } | grep -m1 '^val loss' | awk '{print $3}')

python3 - "$work/llmc.out" "$work/ours.out" "$ckpt_val" <<'PY'
import re, sys
def parse(path):
    steps, vals, gens = {}, [], []
    text = open(path, 'rb').read().decode('utf-8', 'surrogateescape')
    for m in re.finditer(r'^step (\d+): train loss ([0-9.]+)', text, re.M): steps[int(m.group(1))] = float(m.group(2))
    vals = [float(v) for v in re.findall(r'^val loss ([0-9.]+)', text, re.M)]
    gens = re.findall(r'generating:\n---\n(.*?)\n---\n', text, re.S)
    return steps, vals, gens
cs, cv, cg = parse(sys.argv[1]); os_, ov, og = parse(sys.argv[2])
print(f"\n{'':8}{'llm.c':>12}{'llm.net':>12}{'|diff|':>12}")
worst = 0.0
for i, (a, b) in enumerate(zip(cv, ov)):
    d = abs(a - b); worst = max(worst, d)
    print(f"{'val@'+str(10*i):8}{a:12.6f}{b:12.6f}{d:12.6f}")
for s in sorted(set(cs) & set(os_)):
    d = abs(cs[s] - os_[s]); worst = max(worst, d)
    print(f"{'step '+str(s):8}{cs[s]:12.6f}{os_[s]:12.6f}{d:12.6f}")
print(f"max |diff| over {len(set(cs) & set(os_))} train and {min(len(cv), len(ov))} val losses: {worst:.6f}")
for i, (a, b) in enumerate(zip(cg, og)):
    a, b = a.encode('utf-8', 'surrogateescape'), b.encode('utf-8', 'surrogateescape')
    first = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), None)
    where = "" if a == b else f", first {first} bytes equal; llm.c goes on {a[first:first+12]!r}, llm.net {b[first:first+12]!r}"
    print(f"sample at step {20*(i+1)}: {'identical' if a == b else 'DIFFERENT'} ({len(a)} vs {len(b)} bytes{where})")
ckpt = sys.argv[3]
if ckpt:
    ours_last = ov[-1] if ov else float('nan')
    print(f"llm.c val loss of llm.net's final checkpoint: {float(ckpt):.6f} (llm.net's own: {ours_last:.6f})")
PY
