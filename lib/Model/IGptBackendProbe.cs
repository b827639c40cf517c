namespace LlmNet.Model;

/// <summary>
/// Entry points of a backend that only tests and benchmarks use, to check the training contract of
/// <see cref="IGptBackend"/> piece by piece: a separate backward of the last <see cref="IGptBackend.Forward"/>, one
/// micro-step waited for, and the gradients themselves. Tools drive backends through <see cref="IGptBackend"/> only.
/// </summary>
public interface IGptBackendProbe : IGptBackend
{
    /// <summary>Backward pass of the last forward with targets; dloss per position = lossScale (1/(B·T·accum)). Gradients accumulate (+=).</summary>
    void Backward(float lossScale);
    /// <summary>
    /// <see cref="Backward(float)"/> at a position in the accumulation window: on the last micro-step a multi-process
    /// backend also averages the gradients across processes, as <see cref="IGptBackend.QueueForwardBackward"/> does.
    /// </summary>
    void Backward(float lossScale, bool lastMicroStep);
    /// <summary>
    /// One training micro-step waited for: <see cref="IGptBackend.QueueForwardBackward"/> and its loss, with no other
    /// micro-step queued. Gradients, loss and <see cref="IGptBackend.GetLosses"/> are as after <see cref="IGptBackend.Forward"/>
    /// with targets and <see cref="Backward(float, bool)"/> (bitwise on the CUDA backend when lossScale is a power of two).
    /// </summary>
    float ForwardBackward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen, float lossScale, bool lastMicroStep);
    /// <summary>Copies the gradients out as fp32.</summary>
    void GetGradients(Span<float> values);
}
