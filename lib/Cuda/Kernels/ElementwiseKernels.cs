using static LlmNet.Cuda.KernelGrid;

namespace LlmNet.Cuda;

/// <summary>
/// Typed launches of elementwise.cu's kernels: the embedding lookup and its backward, GELU, and an fp32-into-bf16 add. Each thread moves
/// 8 bf16 (16 bytes), so element counts are multiples of 8.
/// </summary>
public static class ElementwiseKernels
{
    /// <summary>
    /// elementwise.cu encoder_forward: out (BT,C) = wte[inp] + wpe[t] (llm.c llmc/encoder.cuh: encoder_forward_kernel3).
    /// </summary>
    public static void EncoderForward(KernelModule k, ulong outp, ulong inp, ulong wte, ulong wpe, int BT, int T, int C) =>
        k.Launch("encoder_forward", (CeilDiv((long)BT * C / 8, 256), 1), 256, 0, outp, inp, wte, wpe, BT, T, C);

    /// <summary>
    /// elementwise.cu wpe_backward: dwpe (T,C) += the batch sum of dout, stochastically rounded with
    /// <paramref name="seed"/> (llm.c llmc/encoder.cuh: wpe_backward_kernel).
    /// </summary>
    public static void WpeBackward(KernelModule k, ulong dwpe, ulong dout, int B, int T, int C, uint seed) =>
        k.Launch("wpe_backward", (CeilDiv((long)T * C, 256), 1), 256, 0, dwpe, dout, B, T, C, seed);

    /// <summary>
    /// elementwise.cu wte_backward_chunks: one block row per chunk of a large token bucket (TokenBuckets.cs), its
    /// dout rows summed into an fp32 row of <paramref name="partial"/>; <paramref name="chunks"/> sizes the grid.
    /// </summary>
    public static void WteBackwardChunks(KernelModule k, ulong partial, ulong dout, ulong chunkRanges, ulong positions, int C, int chunks) =>
        k.Launch("wte_backward_chunks", (chunks, CeilDiv(C / 8, 64)), 64, 0, partial, dout, chunkRanges, positions, C);

    /// <summary>
    /// elementwise.cu wte_backward: dwte[token] += its bucket's chunk sums or dout rows, in a fixed order, stochastically
    /// rounded (llm.c llmc/encoder.cuh: wte_backward_kernel); <paramref name="buckets"/> sizes the grid.
    /// </summary>
    public static void WteBackward(KernelModule k, ulong dwte, ulong dout, ulong partial, ulong bucketToken, ulong bucketStart,
        ulong positions, ulong chunkStart, int C, uint seed, int buckets) =>
        k.Launch("wte_backward", (buckets, CeilDiv(C / 8, 64)), 64, 0, dwte, dout, partial, bucketToken, bucketStart, positions,
            chunkStart, C, seed);

    /// <summary>elementwise.cu gelu_forward: out = GELU(inp) over n elements (llm.c llmc/gelu.cuh: gelu_forward_kernel2).</summary>
    public static void GeluForward(KernelModule k, ulong outp, ulong inp, long n) =>
        k.Launch("gelu_forward", (CeilDiv(n / 8, 256), 1), 256, 0, outp, inp, n);

    /// <summary>elementwise.cu add_float_to_bf16: d (bf16) += s (fp32) over n elements, rounded to nearest once.</summary>
    public static void AddFloatToBf16(KernelModule k, ulong d, ulong s, long n) =>
        k.Launch("add_float_to_bf16", (CeilDiv(n / 8, 256), 1), 256, 0, d, s, n);
}
