using LlmNet.Model;

namespace LlmNet.Cuda;

// Where each activation lives, and the kernel launches the passes are written in: grid, block and shared memory.
public sealed partial class CudaBackend
{
    /// <summary>Layer <paramref name="layer"/>'s copy of a parameter tensor (llm.c: params.qkvw + l * 3*C*C).</summary>
    private ulong Param(ParameterTensor tensor, int layer = 0) => _params.At(_layout.LayerOffset(tensor, layer));
    private ulong Grad(ParameterTensor tensor, int layer = 0) => _grads.At(_layout.LayerOffset(tensor, layer));

    private static int CeilDiv(long a, long b) => checked((int)((a + b - 1) / b));

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
        _k.Launch("gelu_forward", (CeilDiv(n / 8, 256), 1), 256, 0, outp, inp, n);

    private void LayerNorm(ulong residualOut, ulong in1, ulong in2, ulong normed, ulong mean, ulong rstd, ulong weight, ulong bias, int rows) =>
        _k.Launch("layernorm_forward", (CeilDiv(rows, 8), 1), 256, 0, residualOut, normed, mean, rstd, in1, in2, weight, bias, rows, Config.Channels);

    /// <summary>
    /// dinp (the dresidual buffer) += the LN input gradient, and dweight/dbias += the column sums, in one pass over
    /// dout and inp (<c>layernorm_backward</c>) plus the ordered reduction of the blocks' partial sums.
    /// </summary>
    private void LayerNormBackward(ulong dout, ulong inp, ulong mean, ulong rstd, ulong weight, ulong dweight, ulong dbias, int rows)
    {
        int C = Config.Channels, blocks = LayerNormBackwardBlocks(rows);
        _k.Launch("layernorm_backward", (blocks, 1), 256, LayerNormBackwardSharedBytes, _dresidual.Ptr, _partials.Ptr, dout, inp, mean, rstd,
            weight, rows, C);
        _k.Launch("column_finish", (CeilDiv(C, 32), 1), (32, 8), 0, dweight, dbias, _partials.Ptr, blocks, C);
    }

    // Four blocks per multiprocessor (as many as shared memory allows for d12) keep enough rows in flight.
    private int LayerNormBackwardBlocks(long rows) => (int)Math.Min((rows + 7) / 8, 4L * _device.MultiprocessorCount);
    private int LayerNormBackwardSharedBytes => 16 * Config.Channels * 4;

    /// <summary>dweight += inp^T·dout and dbias += the column sums of dout, for a linear layer of (rows, inFeatures) → (rows, outFeatures).</summary>
    private void WeightAndBiasGradients(ulong dweight, ulong dbias, ulong inp, ulong dout, int rows, int inFeatures, int outFeatures)
    {
        _mm.Run(dweight, inp, dout, inFeatures, outFeatures, rows, false, true, accumulate: true);
        BiasGradient(dbias, dout, rows, outFeatures);
    }

    private void BiasGradient(ulong dbias, ulong dout, int rows, int columns)
    {
        int splits = Splits(rows, columns);
        int rowsPerSplit = (rows + splits - 1) / splits;
        _k.Launch("bias_partial_sums", (CeilDiv(columns, 256), splits), (32, 8), 0, _partials.Ptr, dout, rows, columns, rowsPerSplit);
        _k.Launch("column_finish", (CeilDiv(columns, 32), 1), (32, 8), 0, 0UL, dbias, _partials.Ptr, splits, columns);
    }

    /// <summary>Row slices of a bias reduction: about four blocks per multiprocessor over the column blocks.</summary>
    private int Splits(long rows, int columns)
    {
        int colBlocks = (columns + 255) / 256;
        int target = 4 * _device.MultiprocessorCount;
        return (int)Math.Clamp((target + colBlocks - 1) / colBlocks, 1, Math.Max(1, rows / 64));
    }

    private long PartialFloats(long maxRows, int maxColumns)
    {
        long most = 2L * LayerNormBackwardBlocks(maxRows) * Config.Channels;
        foreach (int cols in new[] { Config.Channels, 3 * Config.Channels, maxColumns })
            most = Math.Max(most, (long)Splits(maxRows, cols) * cols);
        return most;
    }

    internal static int AttentionKeysPerTile(int hs) => hs <= 64 ? 64 : 32;
    internal static int AttentionDqSharedBytes(int hs) => 4 * (2 * 64 * (hs + 1) + 2 * AttentionKeysPerTile(hs) * hs);
    internal static int AttentionDkvSharedBytes(int hs) => AttentionDqSharedBytes(hs) + 4 * 2 * AttentionKeysPerTile(hs);

    /// <summary>Head size 64 (every GPT-2 dN) runs the tensor-core flash kernels; other sizes the fp32 per-row kernels.</summary>
    private bool UseFlash => Config.HeadSize == 64;

    private void AllowLargeSharedMemory()
    {
        int hs = Config.HeadSize;
        if (_classifierStaged) _k.AllowSharedMemory("classifier_forward_backward", Config.PaddedVocabSize * 2);
        _k.AllowSharedMemory("layernorm_backward", LayerNormBackwardSharedBytes);
        if (UseFlash)
        {
            FlashKernels.Prepare(_k);
            return;
        }
        _k.AllowSharedMemory($"attention_backward_dq_{hs}", AttentionDqSharedBytes(hs));
        _k.AllowSharedMemory($"attention_backward_dkv_{hs}", AttentionDkvSharedBytes(hs));
    }

    private void Attention(ulong outp, ulong lse, ulong qkv, int B, int T)
    {
        int hs = Config.HeadSize, nh = Config.NumHeads;
        if (UseFlash)
        {
            _flash.LaunchForward(_k, outp, lse, qkv, B, T, nh);
            return;
        }
        _k.Launch($"attention_forward_{hs}", (CeilDiv(T, 64), B * nh), 64, 0, outp, lse, qkv, T, nh);
    }

    private void AttentionBackward(ulong dqkv, ulong dout, ulong qkv, ulong outp, ulong lse, int B, int T)
    {
        int hs = Config.HeadSize, nh = Config.NumHeads;
        if (UseFlash)
        {
            _flash.LaunchBackward(_k, dqkv, _attDelta.Ptr, dout, qkv, outp, lse, B, T, nh);
            return;
        }
        _k.Launch("attention_backward_delta", (CeilDiv((long)B * nh * T, 256), 1), 256, 0, _attDelta.Ptr, dout, outp, B, T, nh, hs);
        _k.Launch($"attention_backward_dq_{hs}", (CeilDiv(T, 64), B * nh), 64, AttentionDqSharedBytes(hs), dqkv, dout, qkv, lse, _attDelta.Ptr, T, nh);
        _k.Launch($"attention_backward_dkv_{hs}", (CeilDiv(T, 64), B * nh), 64, AttentionDkvSharedBytes(hs), dqkv, dout, qkv, lse, _attDelta.Ptr, T, nh);
    }
}
