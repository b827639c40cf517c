namespace LlmNet.Distributed.Nccl;

/// <summary>What the watchdog does when a communicator fails.</summary>
public sealed record NcclWatchdogOptions
{
    /// <summary>How often ncclCommGetAsyncError is polled.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Longest a host wait bracketed by <see cref="NcclCommunicator.Watch"/> may take before the communicator is aborted.</summary>
    public TimeSpan CollectiveTimeout { get; init; } = TimeSpan.FromSeconds(300);
    /// <summary>After aborting, how long the main thread gets to report the failure itself before the process exits.</summary>
    public TimeSpan ExitGrace { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>
    /// Called on the watchdog thread with the one-line failure once the main thread has not reported it
    /// within <see cref="ExitGrace"/>. The default prints "PROGRAM: error: MESSAGE" to stderr and exits with code 1,
    /// so a rank whose peer died never hangs.
    /// </summary>
    public Action<string>? OnFatal { get; init; }
}

/// <summary>
/// One NCCL communicator (one per process, over all ranks) with the collectives llm.net's CUDA backend issues,
/// and a watchdog: a background thread polls ncclCommGetAsyncError and also times host waits the backend
/// brackets with <see cref="Watch"/>. On an error or a wait past the timeout it aborts the communicator
/// (which unblocks pending NCCL kernels), stores the reason for <see cref="ThrowIfFailed"/>, and, if the
/// process is still alive after a grace period, ends it with a clear error.
/// </summary>
public sealed class NcclCommunicator : IDisposable
{
    private nint _comm;
    private readonly NcclWatchdogOptions _watchdog;
    private readonly Thread? _watchThread;
    private readonly ManualResetEventSlim _stop = new(false);
    private readonly Lock _gate = new();
    private string? _failure;
    private string? _waitWhat;
    private DateTime _waitSince;
    private bool _aborted;

    private NcclCommunicator(nint comm, int rank, int size, NcclWatchdogOptions watchdog)
    {
        _comm = comm; Rank = rank; Size = size; _watchdog = watchdog;
        _watchThread = new Thread(WatchLoop) { IsBackground = true, Name = "nccl-watchdog" };
        _watchThread.Start();
    }

    public int Rank { get; }
    public int Size { get; }
    /// <summary>The raw ncclComm_t, for calls this class does not wrap.</summary>
    public nint Handle => _comm;
    /// <summary>Why the communicator was aborted, or null while healthy.</summary>
    public string? Failure { get { lock (_gate) return _failure; } }

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

    public readonly struct GroupScope(NcclCommunicator owner) : IDisposable
    {
        public void Dispose() => owner.Check(NcclNative.GroupEnd(), "ncclGroupEnd");
    }

    /// <summary>
    /// Brackets a blocking host wait on work that includes collectives (cudaStreamSynchronize, an event wait,
    /// a device-to-host copy of a reduced value). If it lasts longer than the collective timeout the watchdog
    /// aborts the communicator, which lets the wait return.
    /// </summary>
    public WaitScope Watch(string what)
    {
        lock (_gate) { _waitWhat = what; _waitSince = DateTime.UtcNow; }
        return new WaitScope(this);
    }

    public readonly struct WaitScope(NcclCommunicator owner) : IDisposable
    {
        public void Dispose()
        {
            lock (owner._gate) owner._waitWhat = null;
            owner.ThrowIfFailed();
        }
    }

    /// <summary>Polls ncclCommGetAsyncError now and throws if the communicator failed or was aborted.</summary>
    public void ThrowIfFailed()
    {
        PollOnce();
        lock (_gate)
        {
            if (_failure is null) return;
            throw new DistributedException(_failure);
        }
    }

    /// <summary>Aborts pending work and frees the communicator (the error path; Dispose is the normal one).</summary>
    public void Abort(string reason)
    {
        lock (_gate)
        {
            _failure ??= reason;
            if (_aborted || _comm == 0) return;
            _aborted = true;
        }
        NcclNative.CommAbort(_comm);
    }

    private nint Live()
    {
        lock (_gate)
        {
            if (_failure is not null) throw new DistributedException(_failure);
            return _comm != 0 ? _comm : throw new ObjectDisposedException(nameof(NcclCommunicator));
        }
    }

    private void Check(NcclResult result, string call)
    {
        if (result is NcclResult.Success or NcclResult.InProgress) return;
        string message = $"rank {Rank}: {call} failed: {NcclLibrary.ErrorString(result)} ({result})";
        string detail = NcclLibrary.LastError(_comm);
        if (detail.Length > 0) message += ": " + detail;
        Abort(message);
        throw new NcclException(result, message);
    }

    private void PollOnce()
    {
        nint comm;
        lock (_gate)
        {
            if (_failure is not null || _comm == 0) return;
            comm = _comm;
            if (_waitWhat is { } what && DateTime.UtcNow - _waitSince > _watchdog.CollectiveTimeout)
            {
                _failure = $"rank {Rank}: {what} did not complete within {_watchdog.CollectiveTimeout.TotalSeconds:0} s; " +
                           "another rank probably died or hung (see its log); aborting NCCL";
            }
        }
        if (Failure is { } timedOut) { Abort(timedOut); return; }
        if (NcclNative.CommGetAsyncError(comm, out var async) != NcclResult.Success || async is NcclResult.Success or NcclResult.InProgress)
            return;
        string detail = NcclLibrary.LastError(comm);
        Abort($"rank {Rank}: NCCL failed asynchronously: {NcclLibrary.ErrorString(async)} ({async}){(detail.Length > 0 ? ": " + detail : "")}; " +
              "another rank probably exited (see its log)");
    }

    private void WatchLoop()
    {
        while (!_stop.Wait(_watchdog.PollInterval))
        {
            PollOnce();
            if (Failure is null) continue;
            if (_stop.Wait(_watchdog.ExitGrace)) return; // disposed meanwhile: the owner handled it
            (_watchdog.OnFatal ?? DefaultFatal)(Failure!);
            return;
        }
    }

    private static void DefaultFatal(string message)
    {
        Console.Error.WriteLine($"{AppDomain.CurrentDomain.FriendlyName}: error: {message}");
        Console.Error.Flush();
        Environment.Exit(1);
    }

    public void Dispose()
    {
        _stop.Set();
        _watchThread?.Join(TimeSpan.FromSeconds(5));
        nint comm;
        bool aborted;
        lock (_gate) { comm = _comm; _comm = 0; aborted = _aborted; }
        if (comm != 0 && !aborted) NcclNative.CommDestroy(comm);
    }
}
