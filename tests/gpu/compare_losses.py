#!/usr/bin/env python3
"""Compare two training logs in llm.c's format (llm-train and train_gpt2cu print the same lines).

Reads "step N/M | loss X| norm Y" and "val loss Z" lines from both logs and checks every step present in both
(up to --steps) within --tol of each other, the first val losses within --val-tol, and the last ones too when both
runs ended at the same step. Prints one
table row per step and a closing PASS/FAIL line; exit status 0 only on PASS. A log with no step line fails.
Usage: compare_losses.py NAME OURS.log REFERENCE.log [--steps 20] [--tol 0.01] [--val-tol 0.01]
"""
import argparse
import math
import re
import sys

STEP = re.compile(r"^step\s+(\d+)/\d+\s*\|\s*loss\s+([-\d.naif]+).*?\|\s*norm\s+([-\d.naif]+)")
VAL = re.compile(r"^val loss\s+([-\d.naif]+)")


def read(path):
    steps, vals = {}, []
    with open(path, errors="replace") as f:
        for line in f:
            m = STEP.match(line.strip())
            if m:
                steps[int(m.group(1))] = (float(m.group(2)), float(m.group(3)))
                continue
            m = VAL.match(line.strip())
            if m:
                vals.append(float(m.group(1)))
    return steps, vals


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("ours")
    ap.add_argument("reference")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--tol", type=float, default=0.01)
    ap.add_argument("--val-tol", type=float, default=0.01)
    a = ap.parse_args()
    ours, our_vals = read(a.ours)
    ref, ref_vals = read(a.reference)
    common = sorted(s for s in ours if s in ref and s <= a.steps)
    ok = len(common) > 0
    worst = 0.0
    print(f"{a.name}: step | ours loss / norm | reference loss / norm | diff")
    for s in common:
        (lo, no), (lr, nr) = ours[s], ref[s]
        d = abs(lo - lr) if math.isfinite(lo) else math.inf
        worst = max(worst, d)
        flag = "" if d <= a.tol else "  <-- over tolerance"
        print(f"{a.name}: {s:4d} | {lo:.6f} / {no:8.4f} | {lr:.6f} / {nr:8.4f} | {d:.2e}{flag}")
    ok &= worst <= a.tol
    val_note = ""
    if our_vals and ref_vals:
        first, last = abs(our_vals[0] - ref_vals[0]), abs(our_vals[-1] - ref_vals[-1])
        val_note = f"; val loss {our_vals[0]:.6f}->{our_vals[-1]:.6f} vs {ref_vals[0]:.6f}->{ref_vals[-1]:.6f}"
        # The last val losses are comparable only when both runs ended at the same step.
        same_end = max(ours, default=0) == max(ref, default=-1)
        ok &= first <= a.val_tol and (not same_end or len(our_vals) < 2 or len(ref_vals) < 2 or last <= a.val_tol)
        if not same_end:
            val_note += " (runs of different lengths: last val not compared)"
    print(f"{'PASS' if ok else 'FAIL'} {a.name}: {len(common)} steps, max |loss diff| {worst:.2e} (tol {a.tol}){val_note}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
