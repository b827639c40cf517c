#!/usr/bin/env python3
"""Reference HellaSwag scoring in plain PyTorch, to cross-check `llm-eval hellaswag --json --per-example`.

Reads an llm.c model file (v3 fp32 or v5 bf16; header 256 int32, magic 20240326) with numpy, builds GPT-2
directly from its 16 tensors, and scores the first N examples of an llm.c eval .bin (magic 20240522) or of the
official hellaswag_val.jsonl (needs tiktoken). Each example is scored on its own: four rows of context + ending,
per-token cross-entropy over the first V logits, mean over the ending's tokens, lowest mean wins (lowest index on
ties). Prints one JSON object: correct, total, accuracy and per-example index/label/prediction/losses.

Usage:
  python3 tests/gpu/hellaswag_reference.py --model model.bin --data hellaswag_val.bin --limit 200 [--device cuda]
Compare with:
  bin/llm-eval hellaswag -e model.bin --data hellaswag_val.bin --limit 200 --json --per-example out.jsonl
"""
import argparse
import json
import math
import sys

np = None  # numpy, imported in main() so that --help works without it

MODEL_MAGIC = 20240326
EVAL_MAGIC = 20240522


def read_model(path):
    """Returns (config dict, list of 16 float32 numpy arrays in llm.c order)."""
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(1024), dtype="<i4")
        if header.size != 256 or header[0] != MODEL_MAGIC:
            sys.exit(f"{path}: not an llm.c model file (magic {header[0] if header.size else None})")
        version = int(header[1])
        maxT, V, L, NH, C, Vp = (int(x) for x in header[2:8])
        if version == 3:
            raw = np.frombuffer(f.read(), dtype="<f4")
        elif version == 5:
            bits = np.frombuffer(f.read(), dtype="<u2").astype(np.uint32) << 16
            raw = bits.view(np.float32)
        else:
            sys.exit(f"{path}: unsupported model version {version} (expected 3 or 5)")
    shapes = [
        (Vp, C), (maxT, C), (L, C), (L, C), (L, 3 * C, C), (L, 3 * C), (L, C, C), (L, C),
        (L, C), (L, C), (L, 4 * C, C), (L, 4 * C), (L, C, 4 * C), (L, C), (C,), (C,),
    ]
    total = sum(int(np.prod(s)) for s in shapes)
    if raw.size != total:
        sys.exit(f"{path}: holds {raw.size} parameters, the header's shape needs {total}")
    tensors, offset = [], 0
    for shape in shapes:
        n = int(np.prod(shape))
        tensors.append(raw[offset:offset + n].reshape(shape))
        offset += n
    return dict(maxT=maxT, V=V, L=L, NH=NH, C=C, Vp=Vp), tensors


def read_eval_bin(path, limit):
    data = np.fromfile(path, dtype=np.uint8)
    header = data[:1024].view("<i4")
    if header[0] != EVAL_MAGIC or header[1] != 1:
        sys.exit(f"{path}: not an llm.c HellaSwag eval file (magic {header[0]}, version {header[1]})")
    n = int(header[2])
    stream = data[1024:].view("<u2")
    pos, examples = 0, []
    for i in range(min(n, limit)):
        assert stream[pos] == 65535, f"{path}: example {i} lacks START_EXAMPLE"
        nbytes, index, label, ncomp, ctx_len = (int(x) for x in stream[pos + 1:pos + 6])
        assert index == i and ncomp == 4, f"{path}: bad record header at example {i}"
        p = pos + 6
        ctx = stream[p:p + ctx_len].tolist()
        p += ctx_len
        endings = []
        for _ in range(4):
            length = int(stream[p])
            endings.append(stream[p + 1:p + 1 + length].tolist())
            p += 1 + length
        assert (p - pos) * 2 == nbytes, f"{path}: example {i} size mismatch"
        examples.append(dict(index=i, label=label, ctx=ctx, endings=endings))
        pos = p
    return examples


def read_jsonl(path, limit):
    import tiktoken  # only needed for the jsonl form
    enc = tiktoken.get_encoding("gpt2")
    examples = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            if len(examples) >= limit:
                break
            item = json.loads(line)
            examples.append(dict(index=len(examples), label=int(item["label"]),
                                 ctx=enc.encode_ordinary(item["ctx"]),
                                 endings=[enc.encode_ordinary(" " + e) for e in item["endings"]]))
    return examples


class Gpt2:
    def __init__(self, cfg, tensors, device, torch):
        self.cfg, self.torch = cfg, torch
        (self.wte, self.wpe, self.ln1w, self.ln1b, self.qkvw, self.qkvb, self.attprojw, self.attprojb,
         self.ln2w, self.ln2b, self.fcw, self.fcb, self.fcprojw, self.fcprojb, self.lnfw, self.lnfb) = (
            torch.from_numpy(np.ascontiguousarray(t)).to(device) for t in tensors)

    def logits(self, idx):
        torch, F, cfg = self.torch, self.torch.nn.functional, self.cfg
        B, T = idx.shape
        C, NH = cfg["C"], cfg["NH"]
        HS = C // NH
        x = self.wte[idx] + self.wpe[:T]
        causal = torch.ones(T, T, dtype=torch.bool, device=idx.device).tril()
        for l in range(cfg["L"]):
            h = F.layer_norm(x, (C,), self.ln1w[l], self.ln1b[l], eps=1e-5)
            qkv = h @ self.qkvw[l].T + self.qkvb[l]
            q, k, v = (t.view(B, T, NH, HS).transpose(1, 2) for t in qkv.split(C, dim=-1))
            att = (q @ k.transpose(-2, -1)) / math.sqrt(HS)
            att = att.masked_fill(~causal, float("-inf")).softmax(dim=-1)
            y = (att @ v).transpose(1, 2).reshape(B, T, C)
            x = x + y @ self.attprojw[l].T + self.attprojb[l]
            h = F.layer_norm(x, (C,), self.ln2w[l], self.ln2b[l], eps=1e-5)
            h = F.gelu(h @ self.fcw[l].T + self.fcb[l], approximate="tanh")
            x = x + h @ self.fcprojw[l].T + self.fcprojb[l]
        x = F.layer_norm(x, (C,), self.lnfw, self.lnfb, eps=1e-5)
        return x @ self.wte[:cfg["V"]].T  # softmax and loss use only the first V columns


def score(model, example, device, torch):
    """Mean loss over each ending's tokens; prediction = first index of the minimum."""
    F = torch.nn.functional
    ctx, endings = example["ctx"], example["endings"]
    T = len(ctx) + max(len(e) for e in endings)
    rows = torch.zeros(4, T, dtype=torch.long)
    for c, e in enumerate(endings):
        rows[c, :len(ctx) + len(e)] = torch.tensor(ctx + e)
    rows = rows.to(device)
    with torch.no_grad():
        logits = model.logits(rows)
    losses = []
    for c, e in enumerate(endings):
        if not e:
            losses.append(0.0)
            continue
        start = len(ctx) - 1  # position whose target is the ending's first token
        lp = F.cross_entropy(logits[c, start:start + len(e)].float(), rows[c, start + 1:start + 1 + len(e)], reduction="none")
        losses.append(float(lp.mean()))
    prediction = 0
    for c in range(1, 4):
        if losses[c] < losses[prediction]:
            prediction = c
    return prediction, losses


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="llm.c model file (v3 fp32 or v5 bf16)")
    ap.add_argument("--data", required=True, help="llm.c eval .bin or official hellaswag_val.jsonl")
    ap.add_argument("--limit", type=int, default=10042, help="score the first N examples (default: all)")
    ap.add_argument("--device", default="cuda", help="torch device (default cuda)")
    args = ap.parse_args()

    global np
    import numpy as np
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False  # plain fp32 math for a reference
    torch.backends.cudnn.allow_tf32 = False
    device = args.device if args.device != "cuda" or torch.cuda.is_available() else "cpu"
    cfg, tensors = read_model(args.model)
    examples = (read_jsonl if args.data.endswith((".jsonl", ".json")) else read_eval_bin)(args.data, args.limit)
    model = Gpt2(cfg, tensors, device, torch)
    predictions, correct = [], 0
    for ex in examples:
        prediction, losses = score(model, ex, device, torch)
        correct += prediction == ex["label"]
        predictions.append(dict(index=ex["index"], label=ex["label"], prediction=prediction, losses=losses))
    total = len(examples)
    print(json.dumps(dict(model=args.model, data=args.data, device=str(device), correct=correct, total=total,
                          accuracy=correct / total if total else 0.0, predictions=predictions)))


if __name__ == "__main__":
    main()
