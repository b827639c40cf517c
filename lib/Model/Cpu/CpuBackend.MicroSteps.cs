namespace LlmNet.Model.Cpu;

// Training micro-steps, run when queued, and the stochastic-rounding seed stream the state file records.
public sealed partial class CpuBackend
{
    private readonly List<float> _queuedLosses = [];

    public float ForwardBackward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen, float lossScale, bool lastMicroStep)
    {
        if (targets.IsEmpty) throw new ArgumentException("a training micro-step needs targets", nameof(targets));
        float loss = Forward(inputs, targets, batchSize, seqLen);
        Backward(lossScale, lastMicroStep);
        return loss;
    }

    /// <summary>Runs the micro-step at once (the host is the device) and keeps its loss for <see cref="TakeLosses"/>.</summary>
    public void QueueForwardBackward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen, float lossScale, bool lastMicroStep) =>
        _queuedLosses.Add(ForwardBackward(inputs, targets, batchSize, seqLen, lossScale, lastMicroStep));

    public float[] TakeLosses()
    {
        float[] losses = [.. _queuedLosses];
        _queuedLosses.Clear();
        return losses;
    }

    public ulong RngState => _rounding.State;
    public ulong RngStateLastUpdate => _rounding.StateAtLastUpdate;
    public void RestoreRngState(ulong state, ulong stateLastUpdate) => _rounding.Restore(state, stateLastUpdate);
}
