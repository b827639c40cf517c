#!/usr/bin/env python3
"""Validation loss of an llm.c model file (v3 fp32 or v5 bf16) computed by PyTorch, as llm.c computes it.

llm.c's validation (train_gpt2.cu, dataloader.h without shuffling): batch i reads B*T+1 tokens of the first val shard
from position i*B*T (inputs the first B*T, targets shifted by one); the val loss is the mean of the batch means.
The forward runs in fp32 from the file's values (bf16 widened), attention through scaled_dot_product_attention.
Usage: torch_val_loss.py MODEL.bin VAL_SHARD.bin B T BATCHES  -> prints "torch val loss X"
"""
import sys

import numpy as np
import torch
import torch.nn.functional as F


def load(path):
    header = np.fromfile(path, dtype=np.int32, count=256)
    assert header[0] == 20240326 and header[1] in (3, 5), f"{path}: not an llm.c v3/v5 model file"
    maxT, V, L, NH, C, Vp = (int(x) for x in header[2:8])
    shapes = [(Vp, C), (maxT, C), (L, C), (L, C), (L, 3 * C, C), (L, 3 * C), (L, C, C), (L, C),
              (L, C), (L, C), (L, 4 * C, C), (L, 4 * C), (L, C, 4 * C), (L, C), (C,), (C,)]
    n = sum(int(np.prod(s)) for s in shapes)
    if header[1] == 3:
        flat = torch.from_numpy(np.fromfile(path, dtype=np.float32, offset=1024, count=n)).cuda()
    else:
        raw = np.fromfile(path, dtype=np.uint16, offset=1024, count=n).astype(np.int32)
        flat = torch.from_numpy(raw).cuda().bitwise_left_shift(16).view(torch.float32)
    params, off = [], 0
    for s in shapes:
        k = int(np.prod(s))
        params.append(flat[off:off + k].view(s))
        off += k
    return params, (maxT, V, L, NH, C, Vp)


@torch.no_grad()
def loss_of(params, dims, x, y):
    maxT, V, L, NH, C, Vp = dims
    wte, wpe, ln1w, ln1b, qkvw, qkvb, apw, apb, ln2w, ln2b, fcw, fcb, fpw, fpb, lnfw, lnfb = params
    B, T = x.shape
    h = wte[x] + wpe[:T]
    for l in range(L):
        a = F.layer_norm(h, (C,), ln1w[l], ln1b[l], 1e-5)
        q, k, v = (a @ qkvw[l].T + qkvb[l]).split(C, dim=2)
        q, k, v = (t.view(B, T, NH, C // NH).transpose(1, 2) for t in (q, k, v))
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
        h = h + o @ apw[l].T + apb[l]
        a = F.layer_norm(h, (C,), ln2w[l], ln2b[l], 1e-5)
        h = h + F.gelu(a @ fcw[l].T + fcb[l], approximate="tanh") @ fpw[l].T + fpb[l]
    h = F.layer_norm(h, (C,), lnfw, lnfb, 1e-5)
    logits = h @ wte[:V].T
    return F.cross_entropy(logits.reshape(-1, V), y.reshape(-1)).item()


def main():
    model, shard, B, T, batches = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.backends.cuda.matmul.allow_tf32 = False
    params, dims = load(model)
    header = np.fromfile(shard, dtype=np.int32, count=256)
    tokens = np.fromfile(shard, dtype=np.uint16, offset=1024, count=int(header[2])).astype(np.int64)
    total = 0.0
    for i in range(batches):
        chunk = torch.from_numpy(tokens[i * B * T: i * B * T + B * T + 1]).cuda()
        total += loss_of(params, dims, chunk[:-1].view(B, T), chunk[1:].view(B, T))
    print(f"torch val loss {total / batches:.6f}")


if __name__ == "__main__":
    main()
