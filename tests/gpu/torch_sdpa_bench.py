"""Times PyTorch's fused attention backends (cuDNN, FlashAttention-2) at our benchmark shapes, causal, bf16,
so `llm-cuda-bench attn` figures have a reference on the same GPU. Also reports whether each backend's
backward is bitwise repeatable, with PyTorch's deterministic mode off and then on (where a backend refuses the
mode, the line says so). Usage: python3 tests/gpu/torch_sdpa_bench.py [reps]"""
import sys
import torch
import torch.nn.functional as F
from torch.nn.attention import sdpa_kernel, SDPBackend

reps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
torch.manual_seed(0)
print(f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, {torch.cuda.get_device_name()}")


def median_ms(fn):
    times = []
    for _ in range(reps + 3):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); b.synchronize()
        times.append(a.elapsed_time(b))
    times = sorted(times[3:])
    return times[len(times) // 2]


for deterministic, (name, (B, NH, T, hs)) in ((d, shape) for d in (False, True)
                                             for shape in {"d12": (64, 12, 1024, 64), "d48": (16, 25, 1024, 64)}.items()):
    torch.use_deterministic_algorithms(deterministic)
    # (B, T, NH, hs) storage viewed as (B, NH, T, hs): the layout of a fused qkv projection.
    q, k, v = (torch.randn(B, T, NH, hs, device="cuda", dtype=torch.bfloat16).transpose(1, 2).requires_grad_()
               for _ in range(3))
    dout = torch.randn(B, NH, T, hs, device="cuda", dtype=torch.bfloat16)
    for backend in (SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION):
        try:
            with sdpa_kernel(backend):
                fwd = median_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))
                out = F.scaled_dot_product_attention(q, k, v, is_causal=True)

                def backward():
                    q.grad = k.grad = v.grad = None
                    out.backward(dout, retain_graph=True)
                bwd = median_ms(backward)
                grads = []
                for _ in range(3):
                    backward()
                    grads.append(torch.cat([q.grad.flatten(), k.grad.flatten(), v.grad.flatten()]).clone())
                same = all(torch.equal(grads[0], g) for g in grads[1:])
            print(f"SDPA {name} B={B} NH={NH} T={T} {backend.name}, deterministic mode {deterministic}: forward {fwd:.3f} ms, backward {bwd:.3f} ms, "
                  f"total {fwd + bwd:.3f} ms per layer, backward bitwise repeatable: {same}")
        except Exception as e:  # a backend that does not support the shape says so and the rest still run
            print(f"SDPA {name} {backend.name}, deterministic mode {deterministic}: not available ({type(e).__name__}: {str(e)[:200]})")
