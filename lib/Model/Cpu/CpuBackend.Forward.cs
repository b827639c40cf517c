using System.Numerics.Tensors;
using System.Buffers;
using static LlmNet.Model.ParameterTensor;

namespace LlmNet.Model.Cpu;

// The forward pass (llm.c train_gpt2.c: gpt2_forward): embeddings, the layers, the logits and their losses.
public sealed unsafe partial class CpuBackend
{
    public float Forward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen)
    {
        if (batchSize <= 0 || batchSize > MaxBatchSize) throw new ArgumentOutOfRangeException(nameof(batchSize), $"must be 1..{MaxBatchSize}");
        if (seqLen <= 0 || seqLen > MaxSeqLen) throw new ArgumentOutOfRangeException(nameof(seqLen), $"must be 1..{MaxSeqLen}");
        int bt = batchSize * seqLen;
        if (inputs.Length < bt) throw new ArgumentException($"need {bt} input tokens", nameof(inputs));
        if (!targets.IsEmpty && targets.Length < bt) throw new ArgumentException($"need {bt} target tokens", nameof(targets));
        CheckTokens(inputs[..bt], nameof(inputs));
        inputs[..bt].CopyTo(new Span<int>(_inputs, bt));
        _haveTargets = !targets.IsEmpty;
        if (_haveTargets)
        {
            CheckTokens(targets[..bt], nameof(targets));
            targets[..bt].CopyTo(new Span<int>(_targets, bt));
        }
        _lastB = batchSize;
        _lastT = seqLen;

        EncoderForward(bt, seqLen);
        for (int l = 0; l < L; l++) LayerForward(l, batchSize, seqLen);
        CpuKernels.LayerNormForward(_options, _lnf, _lnfMean, _lnfRstd, Residual(L, bt), Param(Lnfw), Param(Lnfb), bt, C);
        _gemm.Multiply(bt, Vp, C, _lnf, C, false, Param(Wte), C, true, _logits, Vp, false);
        if (!_haveTargets) return float.NaN;
        CrossEntropyForward(bt);
        double sum = 0;
        for (int i = 0; i < bt; i++) sum += _losses[i];
        return (float)(sum / bt);
    }

    private void CheckTokens(ReadOnlySpan<int> tokens, string name)
    {
        foreach (int t in tokens)
            if ((uint)t >= (uint)V) throw new ArgumentOutOfRangeException(name, t, $"token ids must be in [0, {V})");
    }

    private float* Residual(int index, int bt) => _residual + (long)index * bt * C;

    private void EncoderForward(int bt, int seqLen)
    {
        float* wte = Param(Wte), wpe = Param(Wpe), x = Residual(0, bt);
        int* tokens = _inputs;
        int c = C;
        Parallel.For(0, bt, _options, r =>
        {
            TensorPrimitives.Add(new ReadOnlySpan<float>(wte + (long)tokens[r] * c, c), new ReadOnlySpan<float>(wpe + (long)(r % seqLen) * c, c),
                new Span<float>(x + (long)r * c, c));
        });
    }

    private void LayerForward(int l, int b, int t)
    {
        long bt = (long)b * t;
        int rows = (int)bt;
        float* input = Residual(l, rows), output = Residual(l + 1, rows);
        float* residual2 = _residual2 + l * bt * C;
        float* ln1 = _ln1 + l * bt * C, ln2 = _ln2 + l * bt * C;
        float* qkv = _qkv + l * bt * 3 * C, atty = _atty + l * bt * C, fch = _fch + l * bt * 4 * C;
        float* att = _att + l * bt * NH * t;

        CpuKernels.LayerNormForward(_options, ln1, _ln1Mean + l * bt, _ln1Rstd + l * bt, input, Param(Ln1w, l), Param(Ln1b, l), rows, C);
        Linear(qkv, ln1, Param(Qkvw, l), Param(Qkvb, l), rows, C, 3 * C);
        CpuKernels.AttentionForward(_options, atty, att, qkv, b, t, C, NH);
        Linear(_btc, atty, Param(Attprojw, l), Param(Attprojb, l), rows, C, C);
        CpuKernels.Add(_options, residual2, input, _btc, rows, C);
        CpuKernels.LayerNormForward(_options, ln2, _ln2Mean + l * bt, _ln2Rstd + l * bt, residual2, Param(Ln2w, l), Param(Ln2b, l), rows, C);
        Linear(fch, ln2, Param(Fcw, l), Param(Fcb, l), rows, C, 4 * C);
        CpuKernels.GeluForward(_options, _fchGelu, fch, rows, 4 * C);
        Linear(_btc, _fchGelu, Param(Fcprojw, l), Param(Fcprojb, l), rows, 4 * C, C);
        CpuKernels.Add(_options, output, residual2, _btc, rows, C);
    }

    /// <summary>out[rows, oc] = inp[rows, ic] · weight[oc, ic]ᵀ + bias.</summary>
    private void Linear(float* output, float* input, float* weight, float* bias, int rows, int ic, int oc)
    {
        CpuKernels.BroadcastRows(_options, output, bias, rows, oc);
        _gemm.Multiply(rows, oc, ic, input, ic, false, weight, ic, true, output, oc, true);
    }

    private void CrossEntropyForward(int bt)
    {
        float* logits = _logits, lse = _lse, losses = _losses;
        int* targets = _targets;
        int v = V, vp = Vp;
        Parallel.For(0, bt, _options, r =>
        {
            var row = new ReadOnlySpan<float>(logits + (long)r * vp, v);
            float max = TensorPrimitives.Max(row);
            float[] scratch = ArrayPool<float>.Shared.Rent(v);
            var e = scratch.AsSpan(0, v);
            TensorPrimitives.Subtract(row, max, e);
            TensorPrimitives.Exp(e, e);
            float logSum = max + MathF.Log(TensorPrimitives.Sum(e));
            ArrayPool<float>.Shared.Return(scratch);
            lse[r] = logSum;
            losses[r] = logSum - row[targets[r]];
        });
    }

    public void GetLogits(int row, int position, Span<float> values)
    {
        if ((uint)row >= (uint)_lastB || (uint)position >= (uint)_lastT) throw new ArgumentOutOfRangeException(nameof(position), "outside the last forward's batch");
        new ReadOnlySpan<float>(_logits + ((long)row * _lastT + position) * Vp, V).CopyTo(values);
    }

    public void GetLosses(Span<float> values)
    {
        if (!_haveTargets) throw new InvalidOperationException("the last forward pass had no targets");
        new ReadOnlySpan<float>(_losses, _lastB * _lastT).CopyTo(values);
    }
}
