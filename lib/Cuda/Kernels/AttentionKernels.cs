using static LlmNet.Cuda.KernelGrid;

namespace LlmNet.Cuda;

/// <summary>
/// Typed launches of attention.cu's fp32 per-row kernels, which run head sizes other than 64 (80, 96, 128; head size 64
/// runs <see cref="FlashKernels"/>). One thread owns one query (or key) row, <see cref="Rows"/> rows per block; the
/// head size picks the kernel (attention_forward_HS, ...). llm.c runs cuDNN here, or without it llmc/attention.cuh:
/// attention_forward / attention_backward.
/// </summary>
public static class AttentionKernels
{
    // Rows and KeysPerTile mirror attention.cu's ATT_ROWS and AttTile<HS>::Keys; KernelDefinesTests checks that they agree.

    /// <summary>Queries (or keys) per block, one per thread (ATT_ROWS in attention.cu).</summary>
    public const int Rows = 64;

    /// <summary>Keys (or queries) per shared-memory tile (AttTile&lt;HS&gt;::Keys in attention.cu).</summary>
    public static int KeysPerTile(int hs) => hs <= 64 ? 64 : 32;

    /// <summary>Dynamic shared memory of the dQ kernel: the block's padded q and dout rows, then a K and a V tile (fp32).</summary>
    public static int DqSharedBytes(int hs) => 4 * (2 * Rows * (hs + 1) + 2 * KeysPerTile(hs) * hs);

    /// <summary>Dynamic shared memory of the dK/dV kernel: the dQ kernel's, plus a tile of lse and of delta.</summary>
    public static int DkvSharedBytes(int hs) => DqSharedBytes(hs) + 4 * 2 * KeysPerTile(hs);

    /// <summary>Raises the dynamic shared memory limit of the head size's two backward kernels above the default 48 KiB.</summary>
    public static void Prepare(KernelModule k, int hs)
    {
        k.AllowSharedMemory($"attention_backward_dq_{hs}", DqSharedBytes(hs));
        k.AllowSharedMemory($"attention_backward_dkv_{hs}", DkvSharedBytes(hs));
    }

    /// <summary>attention.cu attention_forward_HS: out (B,T,C) and lse (B,NH,T) from qkv (B,T,3C).</summary>
    public static void Forward(KernelModule k, int hs, ulong outp, ulong lse, ulong qkv, int B, int T, int NH) =>
        k.Launch($"attention_forward_{hs}", (CeilDiv(T, Rows), B * NH), Rows, 0, outp, lse, qkv, T, NH);

    /// <summary>attention.cu attention_backward_delta: delta (B,NH,T) = rowsum(dout o out), one thread per query.</summary>
    public static void BackwardDelta(KernelModule k, ulong delta, ulong dout, ulong outp, int B, int T, int NH, int HS) =>
        k.Launch("attention_backward_delta", (CeilDiv((long)B * NH * T, 256), 1), 256, 0, delta, dout, outp, B, T, NH, HS);

    /// <summary>attention.cu attention_backward_dq_HS: dQ into dqkv (B,T,3C), one thread per query.</summary>
    public static void BackwardDq(KernelModule k, int hs, ulong dqkv, ulong dout, ulong qkv, ulong lse, ulong delta, int B, int T, int NH) =>
        k.Launch($"attention_backward_dq_{hs}", (CeilDiv(T, Rows), B * NH), Rows, DqSharedBytes(hs), dqkv, dout, qkv, lse, delta, T, NH);

    /// <summary>attention.cu attention_backward_dkv_HS: dK and dV into dqkv, one thread per key.</summary>
    public static void BackwardDkv(KernelModule k, int hs, ulong dqkv, ulong dout, ulong qkv, ulong lse, ulong delta, int B, int T, int NH) =>
        k.Launch($"attention_backward_dkv_{hs}", (CeilDiv(T, Rows), B * NH), Rows, DkvSharedBytes(hs), dqkv, dout, qkv, lse, delta, T, NH);
}
