using LlmNet.Model;

namespace LlmNet.Cuda;

// Where each activation lives, and the launches the passes are written in (typed launchers beside each kernel file in
// Kernels/, which own grid, block and shared memory).
public sealed partial class CudaBackend
{
    /// <summary>Layer <paramref name="layer"/>'s copy of a parameter tensor (llm.c: params.qkvw + l * 3*C*C).</summary>
    private ulong Param(ParameterTensor tensor, int layer = 0) => _params.At(_layout.LayerOffset(tensor, layer));
    private ulong Grad(ParameterTensor tensor, int layer = 0) => _grads.At(_layout.LayerOffset(tensor, layer));

    /// <summary>B·T of the current micro-batch, which may be smaller than the allocated maxBatch·maxSeq.</summary>
    private long Bt => (long)_b * _t;

    /// <summary>
    /// Layer <paramref name="layer"/> of an activation laid out (layers, B, T, <paramref name="width"/>) for the current
    /// micro-batch: element layer·B·T·width, as llm.c packs its activations for the (B, T) it runs
    /// (train_gpt2.cu gpt2_forward: <c>acts.qkvr + l * B * T * 3*C</c>). Statistics have width 1, the attention
    /// log-sum-exp (L,B,NH,T) width NH.
    /// </summary>
    private ulong Layer<T>(DeviceArray<T> activation, int layer, long width) where T : unmanaged => activation.Slice(layer, Bt * width);

    // With recompute the backward rebuilds these in a buffer of one layer, so every layer uses layer 0's.
    private ulong Ln1(int l) => Layer(_ln1, _recompute >= 2 ? 0 : l, Config.Channels);
    private ulong Ln2(int l) => Layer(_ln2, _recompute >= 2 ? 0 : l, Config.Channels);
    private ulong FchGelu(int l) => Layer(_fchGelu, _recompute >= 1 ? 0 : l, 4 * Config.Channels);

    private void Linear(ulong outp, ulong inp, ulong weight, ulong bias, int rows, int inFeatures, int outFeatures) =>
        _mm.Run(outp, weight, inp, outFeatures, rows, inFeatures, true, false, false, MatmulEpilogue.Bias, bias);

    private void Gelu(ulong outp, ulong inp, long n) =>
        ElementwiseKernels.GeluForward(_k, outp, inp, n);

    private void LayerNorm(ulong residualOut, ulong in1, ulong in2, ulong normed, ulong mean, ulong rstd, ulong weight, ulong bias, int rows) =>
        LayerNormKernels.Forward(_k, residualOut, normed, mean, rstd, in1, in2, weight, bias, rows, Config.Channels);

    /// <summary>
    /// dinp (the dresidual buffer) += the LN input gradient, and dweight/dbias += the column sums, in one pass over
    /// dout and inp (<c>layernorm_backward</c>) plus the ordered reduction of the blocks' partial sums.
    /// </summary>
    private void LayerNormBackward(ulong dout, ulong inp, ulong mean, ulong rstd, ulong weight, ulong dweight, ulong dbias, int rows)
    {
        int C = Config.Channels, blocks = LayerNormBackwardBlocks(rows);
        LayerNormKernels.Backward(_k, _dresidual.Ptr, _partials.Ptr, dout, inp, mean, rstd, weight, rows, C, blocks);
        LayerNormKernels.ColumnFinish(_k, dweight, dbias, _partials.Ptr, blocks, C);
    }

    private int LayerNormBackwardBlocks(long rows) => LayerNormKernels.BackwardBlocks(rows, _device.MultiprocessorCount);

    /// <summary>dweight += inp^T·dout and dbias += the column sums of dout, for a linear layer of (rows, inFeatures) → (rows, outFeatures).</summary>
    private void WeightAndBiasGradients(ulong dweight, ulong dbias, ulong inp, ulong dout, int rows, int inFeatures, int outFeatures)
    {
        _mm.Run(dweight, inp, dout, inFeatures, outFeatures, rows, false, true, accumulate: true);
        BiasGradient(dbias, dout, rows, outFeatures);
    }

    private void BiasGradient(ulong dbias, ulong dout, int rows, int columns)
    {
        int splits = Splits(rows, columns);
        LayerNormKernels.BiasPartialSums(_k, _partials.Ptr, dout, rows, columns, splits);
        LayerNormKernels.ColumnFinish(_k, 0UL, dbias, _partials.Ptr, splits, columns);
    }

    private int Splits(long rows, int columns) => LayerNormKernels.BiasSplits(rows, columns, _device.MultiprocessorCount);

    private long PartialFloats(long maxRows, int maxColumns)
    {
        long most = 2L * LayerNormBackwardBlocks(maxRows) * Config.Channels;
        foreach (int cols in new[] { Config.Channels, 3 * Config.Channels, maxColumns })
            most = Math.Max(most, (long)Splits(maxRows, cols) * cols);
        return most;
    }

    /// <summary>Head size 64 (every GPT-2 dN) runs the tensor-core flash kernels; other sizes the fp32 per-row kernels.</summary>
    private bool UseFlash => Config.HeadSize == 64;

    private void AllowLargeSharedMemory()
    {
        if (_classifierStaged) ClassifierKernels.AllowForwardBackwardSharedMemory(_k, Config.PaddedVocabSize);
        LayerNormKernels.AllowBackwardSharedMemory(_k, Config.Channels);
        if (UseFlash) FlashKernels.Prepare(_k);
        else AttentionKernels.Prepare(_k, Config.HeadSize);
    }

    private void Attention(ulong outp, ulong lse, ulong qkv, int B, int T)
    {
        int hs = Config.HeadSize, nh = Config.NumHeads;
        if (UseFlash)
        {
            _flash.LaunchForward(_k, outp, lse, qkv, B, T, nh);
            return;
        }
        AttentionKernels.Forward(_k, hs, outp, lse, qkv, B, T, nh);
    }

    private void AttentionBackward(ulong dqkv, ulong dout, ulong qkv, ulong outp, ulong lse, int B, int T)
    {
        int hs = Config.HeadSize, nh = Config.NumHeads;
        if (UseFlash)
        {
            _flash.LaunchBackward(_k, dqkv, _attDelta.Ptr, dout, qkv, outp, lse, B, T, nh);
            return;
        }
        AttentionKernels.BackwardDelta(_k, _attDelta.Ptr, dout, outp, B, T, nh, hs);
        AttentionKernels.BackwardDq(_k, hs, dqkv, dout, qkv, lse, _attDelta.Ptr, B, T, nh);
        AttentionKernels.BackwardDkv(_k, hs, dqkv, dout, qkv, lse, _attDelta.Ptr, B, T, nh);
    }
}
