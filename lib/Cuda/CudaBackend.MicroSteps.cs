namespace LlmNet.Cuda;

// Training micro-steps: forward, classifier and backward queued together, losses taken once per step.
public sealed partial class CudaBackend
{
    /// <summary>
    /// One training micro-step, waited for: <see cref="QueueForwardBackward"/>, then its loss. Gradients and loss equal
    /// those of <see cref="Forward"/> + <see cref="Backward(float, bool)"/> bitwise when lossScale is a power of two.
    /// </summary>
    public float ForwardBackward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen, float lossScale, bool lastMicroStep)
    {
        if (_staging.QueuedCount > 0)
            throw new InvalidOperationException($"{_staging.QueuedCount} queued micro-step(s) still hold losses: call {nameof(TakeLosses)} before {nameof(ForwardBackward)}");
        QueueForwardBackward(inputs, targets, batchSize, seqLen, lossScale, lastMicroStep);
        return TakeLosses()[0];
    }

    /// <summary>
    /// Queues one training micro-step and returns without waiting for the GPU. The classifier computes losses and
    /// gradients together, a chunk of rows at a time (CudaBackend.Classifier.cs); the losses are copied into pinned
    /// memory behind it and the rest of the backward is queued after them. The host waits only when the batch slot it needs is still being copied from
    /// (two micro-steps back), and on the last micro-step of several processes, for the gradient exchange.
    /// </summary>
    public void QueueForwardBackward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen, float lossScale, bool lastMicroStep)
    {
        RequireTraining(nameof(QueueForwardBackward));
        if (targets.IsEmpty) throw new ArgumentException("a training micro-step needs targets", nameof(targets));
        ForwardPass(inputs, targets, batchSize, seqLen);
        int bt = batchSize * seqLen;
        ClassifierBackward(bt, lossScale, withLosses: true);
        _classifierDone = true;
        _device.DownloadAsync(_staging.QueueLossRow(bt), 0, _losses.Ptr, DeviceSizes.Bytes<float>(bt));
        QueueBackward(lossScale, lastMicroStep);
    }

    /// <summary>Waits for the GPU and returns the mean loss of every micro-step queued since the last call, in order.</summary>
    public float[] TakeLosses()
    {
        _device.MakeCurrent();
        _device.Synchronize();
        return _staging.TakeMeanLosses();
    }
}
