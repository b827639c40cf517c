using static LlmNet.Cuda.KernelGrid;

namespace LlmNet.Cuda;

/// <summary>
/// Typed launches of layernorm.cu's kernels: LayerNorm forward (one warp per row, 8 rows per 256-thread block) and its
/// fused backward, and the deterministic two-stage column sums of the weight and bias gradients.
/// </summary>
public static class LayerNormKernels
{
    /// <summary>
    /// layernorm.cu layernorm_forward: normed = LN(in1), or with in2 the fused residual = in1 + in2 and normed =
    /// LN(residual) (llm.c llmc/layernorm.cuh: layernorm_forward_kernel6 and fused_residual_forward_kernel5).
    /// </summary>
    public static void Forward(KernelModule k, ulong residual, ulong normed, ulong mean, ulong rstd, ulong in1, ulong in2,
        ulong weight, ulong bias, int N, int C) =>
        k.Launch("layernorm_forward", (CeilDiv(N, 8), 1), 256, 0, residual, normed, mean, rstd, in1, in2, weight, bias, N, C);

    /// <summary>Blocks of the backward: four per multiprocessor (as many as shared memory allows for d12) keep enough rows in flight.</summary>
    public static int BackwardBlocks(long rows, int multiprocessors) => (int)Math.Min((rows + 7) / 8, 4L * multiprocessors);

    /// <summary>Dynamic shared memory of layernorm_backward: 8 warps x 2 planes (weight, bias) x C floats.</summary>
    public static int BackwardSharedBytes(int C) => 16 * C * 4;

    /// <summary>Lets layernorm_backward use <see cref="BackwardSharedBytes"/> (above 48 KiB from C = 768 on).</summary>
    public static void AllowBackwardSharedMemory(KernelModule k, int C) => k.AllowSharedMemory("layernorm_backward", BackwardSharedBytes(C));

    /// <summary>
    /// layernorm.cu layernorm_backward: dinp += the input gradient, and each of the <paramref name="blocks"/> blocks'
    /// column sums (weight and bias planes) into partial, for <see cref="ColumnFinish"/> (llm.c llmc/layernorm.cuh:
    /// layernorm_backward_kernel10).
    /// </summary>
    public static void Backward(KernelModule k, ulong dinp, ulong partial, ulong dout, ulong inp, ulong mean, ulong rstd, ulong weight,
        int N, int C, int blocks) =>
        k.Launch("layernorm_backward", (blocks, 1), 256, BackwardSharedBytes(C), dinp, partial, dout, inp, mean, rstd, weight, N, C);

    /// <summary>Row slices of a bias reduction: about four blocks per multiprocessor over the column blocks.</summary>
    public static int BiasSplits(long rows, int columns, int multiprocessors)
    {
        int colBlocks = (columns + 255) / 256;
        int target = 4 * multiprocessors;
        return (int)Math.Clamp((target + colBlocks - 1) / colBlocks, 1, Math.Max(1, rows / 64));
    }

    /// <summary>
    /// layernorm.cu bias_partial_sums: the column sums of dout (N,C) over <paramref name="splits"/> slices of rows, one
    /// fp32 row of partial each (llm.c llmc/matmul.cuh: matmul_backward_bias_kernel9).
    /// </summary>
    public static void BiasPartialSums(KernelModule k, ulong partial, ulong dout, int N, int C, int splits)
    {
        int rowsPerSplit = (N + splits - 1) / splits;
        k.Launch("bias_partial_sums", (CeilDiv(C, 256), splits), (32, 8), 0, partial, dout, N, C, rowsPerSplit);
    }

    /// <summary>
    /// layernorm.cu gelu_backward_bias_partials: d (N,C) *= GELU'(inp) in place, <see cref="BiasPartialSums"/> of the
    /// result, and GELU(inp) into <paramref name="geluOut"/> unless it is 0, in one pass (bitwise
    /// ElementwiseKernels.GeluForward, then d *= GELU'(inp), then BiasPartialSums).
    /// </summary>
    public static void GeluBackwardBiasPartials(KernelModule k, ulong partial, ulong d, ulong inp, ulong geluOut, int N, int C, int splits)
    {
        int rowsPerSplit = (N + splits - 1) / splits;
        k.Launch("gelu_backward_bias_partials", (CeilDiv(C, 256), splits), (32, 8), 0, partial, d, inp, geluOut, N, C, rowsPerSplit);
    }

    /// <summary>
    /// layernorm.cu column_finish: dweight (unless 0) and dbias += the sums of <paramref name="splits"/> partial rows, in
    /// order (llm.c llmc/matmul.cuh: reduce_add_sum_kernel).
    /// </summary>
    public static void ColumnFinish(KernelModule k, ulong dweight, ulong dbias, ulong partial, int splits, int C) =>
        k.Launch("column_finish", (CeilDiv(C, 32), 1), (32, 8), 0, dweight, dbias, partial, splits, C);
}
