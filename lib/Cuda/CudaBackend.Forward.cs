using System.Buffers;
using LlmNet.Model.Numerics;
using static LlmNet.Model.ParameterTensor;

namespace LlmNet.Cuda;

// The forward pass: encoder, L transformer layers, final LayerNorm and logits (llm.c train_gpt2.cu: gpt2_forward).
public sealed partial class CudaBackend
{
    public float Forward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen)
    {
        ForwardPass(inputs, targets, batchSize, seqLen);
        _logitsReadable = true;
        if (!_haveTargets)
        {
            _device.Synchronize();
            return float.NaN;
        }
        int bt = batchSize * seqLen;
        ClassifierLosses(bt);
        return MeanLoss(bt);
    }

    /// <summary>
    /// Stages the batch in pinned memory, queues its upload and the forward pass up to the final LayerNorm; returns
    /// without waiting for the GPU. The caller queues the classifier (CudaBackend.Classifier.cs).
    /// </summary>
    private void ForwardPass(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen)
    {
        _device.MakeCurrent();
        if (batchSize < 1 || batchSize > MaxBatchSize || seqLen < 1 || seqLen > MaxSeqLen)
            throw new ArgumentException($"batch {batchSize}x{seqLen} exceeds the allocated {MaxBatchSize}x{MaxSeqLen}");
        int bt = batchSize * seqLen;
        if (inputs.Length != bt) throw new ArgumentException($"expected {bt} inputs, got {inputs.Length}");
        if (!targets.IsEmpty && targets.Length != bt) throw new ArgumentException($"expected {bt} targets, got {targets.Length}");
        CheckTokens(inputs, "input");
        if (!targets.IsEmpty) CheckTokens(targets, "target");
        _b = batchSize; _t = seqLen;
        _haveTargets = !targets.IsEmpty;
        _classifierDone = false;
        _logitsReadable = false;
        _logitsStart = -1;
        var slot = _staging.Take(bt);
        inputs.CopyTo(slot.Inputs);
        _device.UploadAsync(_inputs.Ptr, slot.Memory, 0, DeviceSizes.Bytes<int>(bt));
        if (_haveTargets)
        {
            targets.CopyTo(slot.Targets);
            _device.UploadAsync(_targets.Ptr, slot.Memory, slot.TargetsByteOffset, DeviceSizes.Bytes<int>(bt));
        }
        slot.Fence.Record();

        int L = Config.NumLayers, C = Config.Channels;
        ElementwiseKernels.EncoderForward(_k, _encoded.Ptr, _inputs.Ptr, Param(Wte), Param(Wpe), bt, seqLen, C);
        LayerNorm(0, _encoded.Ptr, 0, Ln1(0), _ln1Mean.Ptr, _ln1Rstd.Ptr, Param(Ln1w), Param(Ln1b), bt);
        for (int l = 0; l < L; l++)
        {
            ulong residual = l == 0 ? _encoded.Ptr : Layer(_residual3, l - 1, C);
            ulong qkv = Layer(_qkv, l, 3 * C), atty = Layer(_atty, l, C), lse = Layer(_attLse, l, Config.NumHeads);
            Linear(qkv, Ln1(l), Param(Qkvw, l), Param(Qkvb, l), bt, C, 3 * C);
            Attention(atty, lse, qkv, batchSize, seqLen);
            Linear(_btc.Ptr, atty, Param(Attprojw, l), Param(Attprojb, l), bt, C, C);
            LayerNorm(Layer(_residual2, l, C), residual, _btc.Ptr, Ln2(l), Layer(_ln2Mean, l, 1), Layer(_ln2Rstd, l, 1), Param(Ln2w, l), Param(Ln2b, l), bt);
            ulong fch = Layer(_fch, l, 4 * C), gelu = FchGelu(l);
            if (_geluFusion >= 1)
                _mm.Run(gelu, Param(Fcw, l), Ln2(l), 4 * C, bt, C, true, false, false, MatmulEpilogue.GeluAuxBias, Param(Fcb, l), fch);
            else
            {
                Linear(fch, Ln2(l), Param(Fcw, l), Param(Fcb, l), bt, C, 4 * C);
                Gelu(gelu, fch, (long)bt * 4 * C);
            }
            Linear(_btc.Ptr, gelu, Param(Fcprojw, l), Param(Fcprojb, l), bt, 4 * C, C);
            bool last = l == L - 1;
            LayerNorm(Layer(_residual3, l, C), Layer(_residual2, l, C), _btc.Ptr, last ? _lnf.Ptr : Ln1(l + 1),
                last ? _lnfMean.Ptr : Layer(_ln1Mean, l + 1, 1), last ? _lnfRstd.Ptr : Layer(_ln1Rstd, l + 1, 1),
                last ? Param(Lnfw) : Param(Ln1w, l + 1), last ? Param(Lnfb) : Param(Ln1b, l + 1), bt);
        }
    }

    /// <summary>Downloads the per-position losses of the last forward pass and sums them on the host, in order.</summary>
    private float MeanLoss(int bt)
    {
        float[] losses = ArrayPool<float>.Shared.Rent(bt);
        try
        {
            _device.Download(losses.AsSpan(0, bt), _losses);
            return MicroStepStaging.MeanLoss(losses.AsSpan(0, bt));
        }
        finally { ArrayPool<float>.Shared.Return(losses); }
    }

    private void CheckTokens(ReadOnlySpan<int> tokens, string what)
    {
        foreach (int t in tokens)
            if ((uint)t >= (uint)Config.VocabSize) throw new ArgumentException($"{what} token {t} is outside the vocabulary [0, {Config.VocabSize})");
    }

    public void GetLogits(int row, int position, Span<float> values)
    {
        _device.MakeCurrent();
        if (!_logitsReadable)
            throw new InvalidOperationException($"{nameof(GetLogits)} reads the logits of the last {nameof(Forward)}; a training step or update has run since: call {nameof(Forward)} again");
        if (row < 0 || row >= _b || position < 0 || position >= _t) throw new ArgumentOutOfRangeException(nameof(row), $"({row},{position}) is outside the last batch {_b}x{_t}");
        int V = Config.VocabSize;
        if (values.Length < V) throw new ArgumentException($"need room for {V} logits");
        // The logits exist a chunk of rows at a time: the chunk holding this row is computed from the kept lnf if it
        // is not the one in the buffer.
        int bt = _b * _t, r = row * _t + position, start = r / _chunkRows * _chunkRows;
        if (_logitsStart != start) Logits(start, Math.Min(_chunkRows, bt - start));
        ushort[] raw = new ushort[V];
        _device.Download(raw.AsSpan(), _logits, (long)(r - start) * Config.PaddedVocabSize);
        Bf16.ToFloat(raw, values[..V]);
    }

    public void GetLosses(Span<float> values)
    {
        _device.MakeCurrent();
        if (!_haveTargets) throw new InvalidOperationException("the last forward pass had no targets");
        _device.Download(values[..(_b * _t)], _losses);
    }
}
