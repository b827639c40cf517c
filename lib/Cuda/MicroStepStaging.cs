namespace LlmNet.Cuda;

/// <summary>
/// Pinned host memory through which micro-steps reach the GPU and their losses come back, so the host queues a
/// micro-step and goes on without waiting for the one before. Batches pass through two slots in turn (inputs, targets,
/// then the token buckets of the wte backward), each with a fence behind its last copy: a slot is rewritten only after
/// the copies of the batch before last have left it. Each queued micro-step's losses come back into a row of their own,
/// read when the queue is taken, after the stream has been synchronized.
/// </summary>
internal sealed class MicroStepStaging : IDisposable
{
    private readonly CudaDevice _device;
    private readonly int _maxTokens;
    private readonly Slot[] _slots;
    private int _next;
    private readonly List<PinnedBuffer> _lossRows = [];
    private readonly List<int> _queued = []; // tokens of each queued micro-step, in order

    public MicroStepStaging(CudaDevice device, int maxTokens)
    {
        _device = device;
        _maxTokens = maxTokens;
        _slots = new Slot[2];
        try
        {
            for (int i = 0; i < _slots.Length; i++) _slots[i] = new Slot(device, maxTokens);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The slot holding the batch of the last forward pass.</summary>
    public Slot Current { get; private set; } = null!;

    /// <summary>The next slot, for a new batch of <paramref name="tokens"/> positions: waits until the copies from its previous batch are done.</summary>
    public Slot Take(int tokens)
    {
        if (tokens > _maxTokens) throw new ArgumentOutOfRangeException(nameof(tokens), $"{tokens} positions exceed the {_maxTokens} staged");
        Slot slot = _slots[_next];
        _next = (_next + 1) % _slots.Length;
        slot.Fence.Wait();
        slot.Tokens = tokens;
        Current = slot;
        return slot;
    }

    /// <summary>Micro-steps whose losses are queued and not yet taken.</summary>
    public int QueuedCount => _queued.Count;

    /// <summary>The pinned row into which the next queued micro-step's <paramref name="tokens"/> losses are downloaded.</summary>
    public PinnedBuffer QueueLossRow(int tokens)
    {
        if (_queued.Count == _lossRows.Count) _lossRows.Add(_device.AllocatePinned((long)_maxTokens * 4));
        _queued.Add(tokens);
        return _lossRows[_queued.Count - 1];
    }

    /// <summary>Each queued micro-step's mean loss, in queue order, and an empty queue. Call after synchronizing the stream.</summary>
    public float[] TakeMeanLosses()
    {
        var means = new float[_queued.Count];
        for (int i = 0; i < means.Length; i++) means[i] = MeanLoss(_lossRows[i].AsSpan<float>(0, _queued[i]));
        _queued.Clear();
        return means;
    }

    /// <summary>The mean of per-position losses, summed in order in double precision (as every loss the backend reports).</summary>
    public static float MeanLoss(ReadOnlySpan<float> losses)
    {
        double sum = 0;
        foreach (float loss in losses) sum += loss;
        return (float)(sum / losses.Length);
    }

    public void Dispose()
    {
        foreach (Slot? slot in _slots) slot?.Dispose();
        foreach (PinnedBuffer row in _lossRows) row.Dispose();
        _lossRows.Clear();
    }

    /// <summary>One batch in pinned memory: [inputs | targets | token buckets], each sized for the most positions.</summary>
    internal sealed class Slot : IDisposable
    {
        private readonly int _maxTokens;

        public Slot(CudaDevice device, int maxTokens)
        {
            _maxTokens = maxTokens;
            Memory = device.AllocatePinned((2L * maxTokens + TokenBuckets.MaxInts(maxTokens)) * 4);
            try { Fence = new CudaFence(device); }
            catch
            {
                Memory.Dispose();
                throw;
            }
        }

        public PinnedBuffer Memory { get; }
        /// <summary>Recorded behind the slot's last queued copy.</summary>
        public CudaFence Fence { get; }
        public int Tokens { get; set; }

        public Span<int> Inputs => Memory.AsSpan<int>(0, Tokens);
        public Span<int> Targets => Memory.AsSpan<int>(_maxTokens, Tokens);
        public long TargetsByteOffset => (long)_maxTokens * 4;
        public Span<int> Buckets(int count) => Memory.AsSpan<int>(2L * _maxTokens, count);
        public long BucketsByteOffset => 2L * _maxTokens * 4;

        public void Dispose()
        {
            Fence?.Dispose();
            Memory.Dispose();
        }
    }
}
