#!/usr/bin/env python3
"""llm-convert against Hugging Face transformers (issue #17), on the GPU machine. Three checks, each PASS/FAIL:

1. export: a d12 llm.c checkpoint -> `llm-convert to-hf` -> GPT2LMHeadModel.from_pretrained(DIR) gives the same
   validation loss (fp32, |diff| <= TOL, default 1e-4) as llm-train on the same tokens, read both from the .bin and from
   the HF folder through -e (llm-train prints the loss before its first update).
2. import: a random GPT-2 built by transformers (every parameter perturbed so biases and layernorms are not trivial) and
   saved with save_pretrained -> `llm-convert from-hf` -> llm-train gives the loss PyTorch gives (again from the .bin
   and from the folder itself).
3. tokenizer: AutoTokenizer.from_pretrained(DIR) on the exported folder encodes a test paragraph to the ids llm-tokenize
   writes (its shard minus the leading EOT).

Validation tokens: llm-tokenize's shard of a few paragraphs of text (written here); batch i is tokens [i*B*T, i*B*T+B*T+1)
with targets shifted by one, and the loss is the mean of the batch means, as llm.c's validation computes it.

Usage (from the repository root, after ./build.sh):
    python3 tests/gpu/hf_check.py [--bin bin] [--work /tmp/hf-check] [--model MODEL.bin] [--device cuda|cpu]
Without --model a d12 checkpoint is made by llm-train (llm.c's seed-42 init, 2 steps on the same tokens).
Needs torch, transformers and safetensors. Exits 0 only if every check passes.
"""
import argparse
import os
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

B, T, BATCHES = 4, 64, 4

PARAGRAPH = ("The quick brown fox jumps over the lazy dog. In 2019, OpenAI released GPT-2, a language model with 1.5 "
             "billion parameters; it was trained on WebText (40 GB of Reddit-linked pages). Ünïcödé, emoji 🦊 and "
             "tabs\tor  double  spaces, numbers like 3.14159 and 1,000,000, code `x = f(y) + 1;` and the text "
             "<|endoftext|> itself are all ordinary text here.\n\nA second paragraph: what's new? It's the same "
             "tokenizer, I'd hope, they'll see, we're done.")


def run(cmd):
    print("+", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"hf_check: {cmd[0]} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def read_shard(path):
    header = np.fromfile(path, dtype=np.int32, count=256)
    assert header[0] == 20240520, f"{path}: not an llm.c token shard"
    return np.fromfile(path, dtype=np.uint16, offset=1024, count=int(header[2])).astype(np.int64)


def llmnet_val_loss(args, model, shard):
    """llm-train's first 'val loss' line (printed at step 0, before any update; -l 0 keeps the model unchanged)."""
    out = run([os.path.join(args.bin, "llm-train"), "-e", model, "-i", shard, "-j", shard, "-b", str(B), "-t", str(T),
               "-x", "1", "-v", "1", "-m", str(BATCHES), "-l", "0", "-s", "0", "-h", "0", "-y", "0",
               "--device", args.device])
    for line in out.splitlines():
        if line.startswith("val loss"):
            return float(line.split()[2])
    sys.exit(f"hf_check: llm-train printed no 'val loss' line for {model}:\n{out[-2000:]}")


@torch.no_grad()
def torch_val_loss(model, tokens, device):
    losses = []
    for i in range(BATCHES):
        chunk = torch.from_numpy(tokens[i * B * T: i * B * T + B * T + 1]).to(device)
        x, y = chunk[:-1].view(B, T), chunk[1:].view(B, T)
        logits = model(input_ids=x).logits.float()
        losses.append(F.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1)).item())
    return sum(losses) / len(losses)


def check(name, a, b, tol, results):
    ok = abs(a - b) <= tol
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}: {a:.6f} vs {b:.6f} (|diff| {abs(a - b):.2e}, tol {tol:g})", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default="bin", help="folder with llm-convert, llm-train, llm-tokenize (./build.sh)")
    p.add_argument("--work", default="/tmp/hf-check", help="scratch folder")
    p.add_argument("--model", help="d12 llm.c checkpoint (v3) to export; default: make one with llm-train")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="device for llm-train and PyTorch")
    p.add_argument("--tol", type=float, default=1e-4)
    args = p.parse_args()
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    os.makedirs(args.work, exist_ok=True)
    device = args.device
    results = []

    # Validation tokens: llm-tokenize's shard of the paragraph repeated (one document, so one leading EOT).
    text_path = os.path.join(args.work, "paragraph.txt")
    with open(text_path, "w", encoding="utf-8") as f:
        f.write(PARAGRAPH)
    run([os.path.join(args.bin, "llm-tokenize"), text_path, "--out", os.path.join(args.work, "para"),
         "--prefix", "para", "--restart", "--quiet"])
    para_ids = read_shard(os.path.join(args.work, "para", "para_val_000000.bin"))[1:].tolist()
    corpus_path = os.path.join(args.work, "corpus.txt")
    with open(corpus_path, "w", encoding="utf-8") as f:
        f.write("\n\n".join([PARAGRAPH] * 40))
    run([os.path.join(args.bin, "llm-tokenize"), corpus_path, "--out", os.path.join(args.work, "val"),
         "--prefix", "val", "--restart", "--quiet"])
    shard = os.path.join(args.work, "val", "val_val_000000.bin")
    tokens = read_shard(shard)
    assert len(tokens) >= BATCHES * B * T + 1, f"{shard}: only {len(tokens)} tokens"

    # 1. export
    model = args.model
    if model is None:
        run_dir = os.path.join(args.work, "run")
        run([os.path.join(args.bin, "llm-train"), "-e", "d12", "-i", shard, "-j", shard, "-b", str(B), "-t", str(T),
             "-x", "2", "-v", "100", "-m", "1", "-s", "0", "-h", "0", "-y", "0", "-o", run_dir, "-n", "2",
             "--device", args.device])
        model = os.path.join(run_dir, "model_00000002.bin")
    hf_dir = os.path.join(args.work, "hf")
    run([os.path.join(args.bin, "llm-convert"), "to-hf", model, "--out", hf_dir, "--dtype", "fp32"])
    hf = GPT2LMHeadModel.from_pretrained(hf_dir, torch_dtype=torch.float32, local_files_only=True).to(device).eval()
    hf_loss = torch_val_loss(hf, tokens, device)
    check("export: transformers vs llm-train -e MODEL.bin", hf_loss, llmnet_val_loss(args, model, shard), args.tol, results)
    check("export: transformers vs llm-train -e HF_DIR", hf_loss, llmnet_val_loss(args, hf_dir, shard), args.tol, results)

    # 2. import
    torch.manual_seed(1234)
    config = GPT2Config(n_layer=2, n_head=4, n_embd=256, n_positions=1024, vocab_size=50257)
    rand = GPT2LMHeadModel(config)
    with torch.no_grad():
        for param in rand.parameters():
            param.add_(0.02 * torch.randn_like(param))
    rand_dir = os.path.join(args.work, "random-gpt2")
    rand.save_pretrained(rand_dir, safe_serialization=True)
    rand = rand.to(device).eval()
    torch_loss = torch_val_loss(rand, tokens, device)
    rand_bin = os.path.join(args.work, "random-gpt2.bin")
    run([os.path.join(args.bin, "llm-convert"), "from-hf", rand_dir, "--out", rand_bin])
    check("import: PyTorch vs llm-train -e converted.bin", torch_loss, llmnet_val_loss(args, rand_bin, shard), args.tol, results)
    check("import: PyTorch vs llm-train -e HF_DIR", torch_loss, llmnet_val_loss(args, rand_dir, shard), args.tol, results)

    # 3. tokenizer
    tok = AutoTokenizer.from_pretrained(hf_dir, local_files_only=True)
    # llm-tokenize encodes documents as ordinary text (the literal <|endoftext|> in PARAGRAPH is seven ordinary tokens, as
    # llm.c's dev/data/fineweb.py does with encode_ordinary); transformers matches special tokens in text unless asked not to.
    hf_ids = tok.encode(PARAGRAPH, split_special_tokens=True)
    ok = hf_ids == para_ids
    if not ok:
        i = next((i for i, (a, b) in enumerate(zip(hf_ids, para_ids)) if a != b), min(len(hf_ids), len(para_ids)))
        print(f"  transformers {hf_ids[max(0, i - 3):i + 8]}\n  llm-tokenize {para_ids[max(0, i - 3):i + 8]}")
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} tokenizer: {type(tok).__name__} {len(hf_ids)} ids, llm-tokenize {len(para_ids)} ids")
    # Its special token itself: the exported tokenizer knows <|endoftext|> as id 50256, as GPT-2's does.
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    results.append(eot == 50256)
    print(f"{'PASS' if eot == 50256 else 'FAIL'} tokenizer: <|endoftext|> is id {eot}")

    print(f"hf_check: {sum(results)}/{len(results)} passed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
