"""PyTorch fp32 reference for the CUDA backend's 10-step test (llm.c test_gpt2 settings).

Reads DIR/model.bin (llm.c v3 model file, any size), DIR/x.bin, DIR/y.bin (int32 B*T), DIR/lr.txt (the learning
rate, 1e-4 when absent) and the CUDA backend's
DIR/cuda_losses.txt and DIR/cuda_grads0.bin, trains the same 10 steps in fp32 (TF32 off) and compares:
losses within 0.05 ("TORCH LOSSES: PASS"), and with them step-0 gradients per tensor with llm.c's d12 tolerances
(|a-b| <= thr + 0.079|b|; "TORCH REFERENCE: PASS").
Usage: python3 tests/gpu/torch_reference.py DIR [B T]
"""
import sys
import numpy as np
import torch
import torch.nn.functional as F

NAMES = ["wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
         "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb"]
THRESHOLDS = [5e-1, 4e-3, 1e-1, 4e-2, 5e-2, 3.5e-2, 2e-2, 3e-2, 5e-2, 3e-2, 3e-2, 3e-2, 2e-2, 1e-2, 1e-1, 2e-2]


def shapes(maxT, V, Vp, L, NH, C):
    return [(Vp, C), (maxT, C), (L, C), (L, C), (L, 3 * C, C), (L, 3 * C), (L, C, C), (L, C),
            (L, C), (L, C), (L, 4 * C, C), (L, 4 * C), (L, C, 4 * C), (L, C), (C,), (C,)]


def main():
    d = sys.argv[1]
    B, T = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (4, 64)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = "cuda"
    raw = np.fromfile(f"{d}/model.bin", dtype=np.int32, count=256)
    assert raw[0] == 20240326 and raw[1] == 3, "expected an llm.c v3 model file"
    maxT, V, L, NH, C, Vp = int(raw[2]), int(raw[3]), int(raw[4]), int(raw[5]), int(raw[6]), int(raw[7])
    flat = np.fromfile(f"{d}/model.bin", dtype=np.float32, offset=1024)
    P, off = [], 0
    for s in shapes(maxT, V, Vp, L, NH, C):
        n = int(np.prod(s))
        P.append(torch.tensor(flat[off:off + n].reshape(s), device=dev, requires_grad=True))
        off += n
    assert off == flat.size
    x = torch.tensor(np.fromfile(f"{d}/x.bin", dtype=np.int32).reshape(B, T), device=dev, dtype=torch.long)
    y = torch.tensor(np.fromfile(f"{d}/y.bin", dtype=np.int32).reshape(B, T), device=dev, dtype=torch.long)
    HS = C // NH
    try:
        lr = float(open(f"{d}/lr.txt").read())
    except FileNotFoundError:
        lr = 1e-4
    print(f"model d{L} C={C}, B={B} T={T}, lr {lr:g}")

    def forward():
        wte, wpe, ln1w, ln1b, qkvw, qkvb, apw, apb, ln2w, ln2b, fcw, fcb, fpw, fpb, lnfw, lnfb = P
        h = wte[x] + wpe[:T]
        for l in range(L):
            a = F.layer_norm(h, (C,), ln1w[l], ln1b[l], 1e-5)
            qkv = a @ qkvw[l].T + qkvb[l]
            q, k, v = [t.view(B, T, NH, HS).transpose(1, 2) for t in qkv.split(C, dim=2)]
            att = (q @ k.transpose(-2, -1)) / (HS ** 0.5)
            mask = torch.ones(T, T, device=dev, dtype=torch.bool).tril()
            att = att.masked_fill(~mask, float("-inf")).softmax(-1)
            o = (att @ v).transpose(1, 2).reshape(B, T, C)
            h = h + o @ apw[l].T + apb[l]
            a = F.layer_norm(h, (C,), ln2w[l], ln2b[l], 1e-5)
            f = F.gelu(a @ fcw[l].T + fcb[l], approximate="tanh")
            h = h + f @ fpw[l].T + fpb[l]
        h = F.layer_norm(h, (C,), lnfw, lnfb, 1e-5)
        logits = h @ wte.T
        return F.cross_entropy(logits[..., :V].reshape(-1, V), y.reshape(-1))

    m = [torch.zeros_like(p) for p in P]
    v = [torch.zeros_like(p) for p in P]
    losses, grads0 = [], None
    for step in range(10):
        for p in P:
            p.grad = None
        loss = forward()
        loss.backward()
        if step == 0:
            grads0 = torch.cat([p.grad.reshape(-1) for p in P]).cpu().numpy()
        norm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in P)).item()
        scale = 1.0 / norm if norm > 1.0 else 1.0
        t = step + 1
        with torch.no_grad():
            for i, p in enumerate(P):
                g = p.grad * scale
                m[i].mul_(0.9).add_(g, alpha=0.1)
                v[i].mul_(0.95).add_(g * g, alpha=0.05)
                mh = m[i] / (1 - 0.9 ** t)
                vh = v[i] / (1 - 0.95 ** t)
                p.sub_(lr * (mh / (vh.sqrt() + 1e-8)))
        losses.append(loss.item())

    cuda_losses = [float(s) for s in open(f"{d}/cuda_losses.txt").read().split()]
    ok = len(cuda_losses) == len(losses)
    for s, (a, b) in enumerate(zip(cuda_losses, losses)):
        good = abs(a - b) <= 0.05
        ok &= good
        print(f"step {s}: cuda {a:.6f} torch {b:.6f} {'OK' if good else 'FAIL'}")
    print("TORCH LOSSES:", "PASS" if ok else "FAIL")
    cuda_grads = np.fromfile(f"{d}/cuda_grads0.bin", dtype=np.float32)
    off = 0
    for i, s in enumerate(shapes(maxT, V, Vp, L, NH, C)):
        n = int(np.prod(s))
        a, b = cuda_grads[off:off + n].astype(np.float64), grads0[off:off + n].astype(np.float64)
        bad = int(np.sum(~(np.abs(a - b) <= THRESHOLDS[i] + 0.079 * np.abs(b))))
        rel = np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)
        ok &= bad == 0
        print(f"grad {NAMES[i]:9s} rel {rel:.3e} max|diff| {np.max(np.abs(a - b)):.3e} outside tolerance {bad}")
        off += n
    print("TORCH REFERENCE:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
