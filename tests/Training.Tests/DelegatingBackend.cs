using LlmNet.Model;

namespace LlmNet.Training.Tests;

/// <summary>
/// Passes every call to an inner backend; tests derive from it to observe or hide one behaviour. It implements
/// only <see cref="IGptBackend"/> and its test probe, so optional interfaces of the inner backend (the KV-cache
/// decoder) are hidden.
/// </summary>
internal abstract class DelegatingBackend(IGptBackendProbe inner) : IGptBackendProbe
{
    public GptConfig Config => inner.Config;
    public string DeviceName => inner.DeviceName;
    public int MaxBatchSize => inner.MaxBatchSize;
    public int MaxSeqLen => inner.MaxSeqLen;
    public bool KeepsMasterWeights => inner.KeepsMasterWeights;
    public long OptimizerStateCount => inner.OptimizerStateCount;
    public virtual LlmNet.Model.Checkpoints.ModelDtype ParameterDtype => inner.ParameterDtype;
    public void SetParameters(ReadOnlySpan<float> values) => inner.SetParameters(values);
    public void GetParameters(Span<float> values) => inner.GetParameters(values);
    public virtual float Forward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen) => inner.Forward(inputs, targets, batchSize, seqLen);
    public void GetLogits(int row, int position, Span<float> values) => inner.GetLogits(row, position, values);
    public void GetLosses(Span<float> values) => inner.GetLosses(values);
    public void ZeroGradients() => inner.ZeroGradients();
    public virtual void QueueForwardBackward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen, float lossScale, bool lastMicroStep) =>
        inner.QueueForwardBackward(inputs, targets, batchSize, seqLen, lossScale, lastMicroStep);
    public virtual float[] TakeLosses() => inner.TakeLosses();
    public double GradientNormSquared() => inner.GradientNormSquared();
    public void Update(in AdamWStep step) => inner.Update(step);
    public ulong RngState => inner.RngState;
    public ulong RngStateLastUpdate => inner.RngStateLastUpdate;
    public void RestoreRngState(ulong state, ulong stateLastUpdate) => inner.RestoreRngState(state, stateLastUpdate);
    public void GetOptimizerState(Span<float> m, Span<float> v, Span<float> master) => inner.GetOptimizerState(m, v, master);
    public void SetOptimizerState(ReadOnlySpan<float> m, ReadOnlySpan<float> v, ReadOnlySpan<float> master) => inner.SetOptimizerState(m, v, master);
    public void Backward(float lossScale) => Backward(lossScale, false);
    public virtual void Backward(float lossScale, bool lastMicroStep) => inner.Backward(lossScale, lastMicroStep);
    public virtual float ForwardBackward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen, float lossScale, bool lastMicroStep) =>
        inner.ForwardBackward(inputs, targets, batchSize, seqLen, lossScale, lastMicroStep);
    public void GetGradients(Span<float> values) => inner.GetGradients(values);
    public void Dispose() => inner.Dispose();
}
