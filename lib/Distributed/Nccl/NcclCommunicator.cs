namespace LlmNet.Distributed.Nccl;

/// <summary>
/// One NCCL communicator (one per process, over all ranks) with the collectives llm.net's CUDA backend issues,
/// guarded by a <see cref="CollectiveWatchdog"/> that polls ncclCommGetAsyncError and aborts the communicator
/// when a peer dies or a watched wait runs past the timeout.
/// </summary>
public sealed class NcclCommunicator : Zero.ICollectives, IDisposable
{
    private readonly Lock _gate = new();
    private nint _comm;
    private readonly CollectiveWatchdog _watchdog;

    private NcclCommunicator(nint comm, int rank, int size, NcclWatchdogOptions options)
    {
        _comm = comm; Rank = rank; Size = size;
        _watchdog = new CollectiveWatchdog(rank, PollAsyncError, _ => AbortNative(), options);
    }

    public int Rank { get; }
    public int Size { get; }
    /// <summary>The raw ncclComm_t, for calls this class does not wrap.</summary>
    public nint Handle => _comm;
    /// <summary>Why the communicator was aborted, or null while healthy.</summary>
    public string? Failure => _watchdog.Failure;

    /// <summary>
    /// ncclCommInitRank on a helper thread, bounded by <paramref name="timeout"/> because it blocks until every rank
    /// has joined. <paramref name="bindDevice"/> runs first on that thread: NCCL uses the calling thread's current
    /// CUDA device, so the backend passes its cudaSetDevice(localRank) here.
    /// </summary>
    public static NcclCommunicator InitRank(int size, NcclUniqueId id, int rank, TimeSpan timeout, Action? bindDevice = null,
        NcclWatchdogOptions? watchdog = null)
    {
        NcclLibrary.EnsureLoaded();
        NcclEnvironment.Apply();
        nint comm = 0;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                bindDevice?.Invoke();
                NcclLibrary.Check(NcclNative.CommInitRank(out comm, size, id, rank), $"rank {rank}: ncclCommInitRank({size} ranks)");
            }
            catch (Exception e) { error = e; }
        }) { IsBackground = true, Name = "nccl-init" };
        thread.Start();
        if (!thread.Join(timeout))
            throw new DistributedTimeoutException(
                $"rank {rank}: ncclCommInitRank did not complete within {timeout.TotalSeconds:0} s; some of the {size} ranks never reached it " +
                "(see their logs) or the network between nodes is blocked (NCCL_SOCKET_IFNAME selects the interface)");
        if (error is not null) throw error is DistributedException ? error : new DistributedException($"rank {rank}: {error.Message}", error);
        return new NcclCommunicator(comm, rank, size, watchdog ?? new NcclWatchdogOptions());
    }

    public void AllReduce(nint send, nint recv, long count, NcclDataType type, NcclRedOp op, nint stream) =>
        Check(NcclNative.AllReduce(send, recv, (nuint)count, type, op, Live(), stream), "ncclAllReduce");

    /// <summary>recv gets this rank's reduced chunk of <paramref name="recvCount"/> elements of send (Size·recvCount elements).</summary>
    public void ReduceScatter(nint send, nint recv, long recvCount, NcclDataType type, NcclRedOp op, nint stream) =>
        Check(NcclNative.ReduceScatter(send, recv, (nuint)recvCount, type, op, Live(), stream), "ncclReduceScatter");

    /// <summary>recv (Size·sendCount elements) gets every rank's <paramref name="sendCount"/> elements in rank order.</summary>
    public void AllGather(nint send, nint recv, long sendCount, NcclDataType type, nint stream) =>
        Check(NcclNative.AllGather(send, recv, (nuint)sendCount, type, Live(), stream), "ncclAllGather");

    public void Broadcast(nint send, nint recv, long count, NcclDataType type, int root, nint stream) =>
        Check(NcclNative.Broadcast(send, recv, (nuint)count, type, root, Live(), stream), "ncclBroadcast");

    /// <summary>ncclGroupStart now, ncclGroupEnd at Dispose: the collectives issued inside launch as one.</summary>
    public GroupScope Group()
    {
        Check(NcclNative.GroupStart(), "ncclGroupStart");
        return new GroupScope(this);
    }

    IDisposable Zero.ICollectives.BeginGroup() => Group();

    public readonly struct GroupScope(NcclCommunicator owner) : IDisposable
    {
        public void Dispose() => owner.Check(NcclNative.GroupEnd(), "ncclGroupEnd");
    }

    /// <summary>
    /// Brackets a blocking host wait on work that includes collectives; past the collective timeout the
    /// communicator is aborted, which lets the wait return, and the scope's Dispose throws the reason.
    /// </summary>
    public CollectiveWatchdog.WaitScope Watch(string what) => _watchdog.Watch(what);

    /// <summary>Throws if the communicator failed (polling ncclCommGetAsyncError now).</summary>
    public void ThrowIfFailed() => _watchdog.ThrowIfFailed();

    /// <summary>Aborts pending work (the error path; Dispose is the normal one).</summary>
    public void Abort(string reason) => _watchdog.Fail(reason);

    private nint Live()
    {
        if (_watchdog.Failure is { } f) throw new DistributedException(f);
        lock (_gate) return _comm != 0 ? _comm : throw new ObjectDisposedException(nameof(NcclCommunicator));
    }

    private void Check(NcclResult result, string call)
    {
        if (result is NcclResult.Success or NcclResult.InProgress) return;
        string message = $"rank {Rank}: {call} failed: {NcclLibrary.ErrorString(result)} ({result})";
        string detail = NcclLibrary.LastError(_comm);
        if (detail.Length > 0) message += ": " + detail;
        _watchdog.Fail(message);
        throw new NcclException(result, message);
    }

    /// <summary>
    /// ncclCommAbort on its own thread: with dead peers it can take long (or, in some NCCL versions, hang), and
    /// neither the watchdog's exit path nor the main thread may wait on it.
    /// </summary>
    private void AbortNative()
    {
        nint comm;
        lock (_gate) comm = _comm;
        if (comm == 0) return;
        new Thread(() => NcclNative.CommAbort(comm)) { IsBackground = true, Name = "nccl-abort" }.Start();
    }

    private string? PollAsyncError()
    {
        nint comm;
        lock (_gate) comm = _comm;
        if (comm == 0) return null;
        var r = NcclNative.CommGetAsyncError(comm, out var async);
        if (r != NcclResult.Success) return $"ncclCommGetAsyncError failed: {NcclLibrary.ErrorString(r)}";
        if (async is NcclResult.Success or NcclResult.InProgress) return null;
        string detail = NcclLibrary.LastError(comm);
        return $"{NcclLibrary.ErrorString(async)} ({async}){(detail.Length > 0 ? ": " + detail : "")}";
    }

    public void Dispose()
    {
        _watchdog.Dispose();
        nint comm;
        lock (_gate) { comm = _comm; _comm = 0; }
        if (comm != 0 && !_watchdog.Aborted) NcclNative.CommDestroy(comm);
    }
}
