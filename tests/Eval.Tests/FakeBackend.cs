using LlmNet.Model;

namespace LlmNet.Eval.Tests;

/// <summary>
/// A stand-in device whose per-position loss is a caller-chosen function of the row's inputs up to
/// that position and the target there — causal like a real GPT, so packing and batching can be
/// checked exactly. Records every forward pass it receives.
/// </summary>
internal sealed class FakeBackend(Func<ReadOnlyMemory<int>, int, float> loss, int maxBatch = 64, int maxSeqLen = 256) : IGptBackend
{
    private float[] _losses = [];
    public List<(int[] Inputs, int[] Targets, int B, int T)> Calls { get; } = [];

    public GptConfig Config { get; } = new(maxSeqLen, 50257, 50304, 1, 1, 8);
    public string DeviceName => "fake";
    public int MaxBatchSize => maxBatch;
    public int MaxSeqLen => maxSeqLen;

    public float Forward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen)
    {
        int[] inp = inputs[..(batchSize * seqLen)].ToArray(), tgt = targets[..(batchSize * seqLen)].ToArray();
        Calls.Add((inp, tgt, batchSize, seqLen));
        _losses = new float[batchSize * seqLen];
        for (int b = 0; b < batchSize; b++)
            for (int t = 0; t < seqLen; t++)
                _losses[b * seqLen + t] = loss(inp.AsMemory(b * seqLen, t + 1), tgt[b * seqLen + t]);
        return _losses.Average();
    }

    public void GetLosses(Span<float> values) => _losses.CopyTo(values);

    public void SetParameters(ReadOnlySpan<float> values) => throw new NotSupportedException();
    public void GetParameters(Span<float> values) => throw new NotSupportedException();
    public void GetLogits(int row, int position, Span<float> values) => throw new NotSupportedException();
    public void ZeroGradients() => throw new NotSupportedException();
    public void QueueForwardBackward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen, float lossScale, bool lastMicroStep) =>
        throw new NotSupportedException();
    public float[] TakeLosses() => throw new NotSupportedException();
    public double GradientNormSquared() => throw new NotSupportedException();
    public void Update(in AdamWStep step) => throw new NotSupportedException();
    public ulong RngState => throw new NotSupportedException();
    public ulong RngStateLastUpdate => throw new NotSupportedException();
    public void RestoreRngState(ulong state, ulong stateLastUpdate) => throw new NotSupportedException();
    public bool KeepsMasterWeights => false;
    public void GetOptimizerState(Span<float> m, Span<float> v, Span<float> master) => throw new NotSupportedException();
    public void SetOptimizerState(ReadOnlySpan<float> m, ReadOnlySpan<float> v, ReadOnlySpan<float> master) => throw new NotSupportedException();
    public void Dispose() { }
}
