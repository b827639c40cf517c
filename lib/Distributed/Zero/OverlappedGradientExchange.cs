namespace LlmNet.Distributed.Zero;

/// <summary>
/// How a backend orders its communication stream against its compute stream (CUDA events underneath).
/// Each call covers the work queued so far on the stream waited for; neither blocks the host.
/// </summary>
public interface IStreamOrder
{
    /// <summary>Work queued on the communication stream from now on starts after the compute work queued so far.</summary>
    void CommunicationWaitsForCompute();

    /// <summary>Work queued on the compute stream from now on starts after the communication queued so far.</summary>
    void ComputeWaitsForCommunication();
}

/// <summary>
/// The gradient averaging of the last micro-step, queued while the backward pass is still running: as soon as
/// layer l's backward has produced its 12 gradients, their collectives go onto the communication stream behind a
/// fence on the compute stream, and run while the compute stream works on layers l−1 … 0. After the encoder
/// backward the non-layer tensors follow, and the compute stream is made to wait for all of it, so every later
/// reader of the gradients (the norm, AdamW, a download, the next micro-step's zeroing) sees the averages.
/// The collectives and their order (layer L−1 … 0, then wte, wpe, lnfw, lnfb) are exactly those of
/// <see cref="ReduceAfterBackward"/>; only where they are queued differs, so both give bitwise the same gradients.
/// </summary>
public sealed class OverlappedGradientExchange(ZeroCollectives sync, IStreamOrder order, int layerCount)
{
    private int _nextLayer = -1;    // the layer whose gradients are expected next; −1 when none is
    private bool _encoderPending;   // a pass is open and has not reached EncoderDone

    /// <summary>
    /// The post-backward schedule, for gradients whose pass was not exchanged while it ran (a backward that was not
    /// the last micro-step): every collective on <paramref name="stream"/>, after everything queued there.
    /// </summary>
    public static void ReduceAfterBackward(ZeroCollectives sync, nint gradients, int layerCount, nint stream)
    {
        for (int l = layerCount - 1; l >= 0; l--) sync.ReduceLayerGradients(gradients, l, stream);
        sync.ReduceNonLayerGradients(gradients, stream);
    }

    /// <summary>Whether a pass has begun and not yet reached <see cref="EncoderDone"/>.</summary>
    public bool InProgress => _encoderPending;

    /// <summary>Opens a backward pass whose gradients are to be exchanged; layers must then report from L−1 down to 0.</summary>
    public void Begin()
    {
        if (InProgress) throw new InvalidOperationException("the previous backward pass's gradient exchange was never finished");
        _nextLayer = layerCount - 1;
        _encoderPending = true;
    }

    /// <summary>Layer <paramref name="layer"/>'s backward is queued on the compute stream: queue its collectives behind it.</summary>
    public void LayerDone(nint gradients, int layer, nint communicationStream)
    {
        if (layer != _nextLayer)
            throw new InvalidOperationException($"gradient exchange expected layer {_nextLayer} next, not layer {layer}");
        order.CommunicationWaitsForCompute();
        sync.ReduceLayerGradients(gradients, layer, communicationStream);
        _nextLayer--;
    }

    /// <summary>
    /// The encoder backward (the last writer of wte and wpe) is queued: queue the non-layer group and make the
    /// compute stream wait for every collective of this pass. The host still has to wait (under the watchdog).
    /// </summary>
    public void EncoderDone(nint gradients, nint communicationStream)
    {
        if (!_encoderPending || _nextLayer != -1)
            throw new InvalidOperationException($"gradient exchange finished with layer {_nextLayer} still outstanding");
        _encoderPending = false;
        order.CommunicationWaitsForCompute();
        sync.ReduceNonLayerGradients(gradients, communicationStream);
        order.ComputeWaitsForCommunication();
    }

    /// <summary>Forgets a pass that failed half-way (the communicator is then aborted anyway).</summary>
    public void Abandon()
    {
        _nextLayer = -1;
        _encoderPending = false;
    }
}
