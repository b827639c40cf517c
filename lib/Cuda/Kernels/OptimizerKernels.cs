using static LlmNet.Cuda.KernelGrid;

namespace LlmNet.Cuda;

/// <summary>Typed launches of optimizer.cu's kernels: AdamW with stochastic rounding and the squared gradient norm.</summary>
public static class OptimizerKernels
{
    /// <summary>
    /// Grid and block of norm_squared_partial: a fixed grid, so each block's grid-strided share (and the partial sums
    /// the host adds in order) never depends on the tensor's size.
    /// </summary>
    public const int NormBlocks = 1024, NormThreads = 512;

    /// <summary>
    /// optimizer.cu adamw_update: one AdamW step over n elements; master may be 0 (no master weights: the bf16
    /// parameters are read and rounded), bf16 parameters stochastically rounded with <paramref name="seed"/>
    /// (llm.c llmc/adamw.cuh: adamw_kernel3).
    /// </summary>
    public static void AdamWUpdate(KernelModule k, ulong parameters, ulong master, ulong grads, ulong m, ulong v, long n,
        float lr, float beta1, float beta2, float beta1Correction, float beta2Correction, float eps, float weightDecay, float gradScale, uint seed) =>
        k.Launch("adamw_update", (CeilDiv(n, 512), 1), 512, 0, parameters, master, grads, m, v, n,
            lr, beta1, beta2, beta1Correction, beta2Correction, eps, weightDecay, gradScale, seed);

    /// <summary>
    /// optimizer.cu norm_squared_partial: partial[block] = the sum of squares of g's fixed share, for
    /// <see cref="NormBlocks"/> blocks (llm.c llmc/global_norm.cuh: global_norm_squared_kernel).
    /// </summary>
    public static void NormSquaredPartial(KernelModule k, ulong partial, ulong g, long n) =>
        k.Launch("norm_squared_partial", (NormBlocks, 1), NormThreads, 0, partial, g, n);
}
