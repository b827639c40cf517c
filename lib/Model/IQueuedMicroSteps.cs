namespace LlmNet.Model;

/// <summary>
/// A backend that runs training micro-steps without the host waiting for each one: the trainer queues every
/// micro-step of an update, then takes their losses at once, so a device keeps working while the host prepares the
/// next batch. Gradients and losses are exactly those of <see cref="IGptBackend.ForwardBackward"/> called in the same order.
/// </summary>
public interface IQueuedMicroSteps
{
    /// <summary>
    /// Queues <see cref="IGptBackend.ForwardBackward"/> on these inputs; returns once the inputs are copied, possibly
    /// before the device has run it. The spans may be reused as soon as this returns.
    /// </summary>
    void QueueForwardBackward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen, float lossScale, bool lastMicroStep);

    /// <summary>Waits for every queued micro-step and returns their mean losses in the order they were queued; the queue is then empty.</summary>
    float[] TakeLosses();
}
