namespace LlmNet.Distributed.Nccl;

/// <summary>What the watchdog does when a communicator fails.</summary>
public sealed record NcclWatchdogOptions
{
    /// <summary>How often the communicator's asynchronous error is polled.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Longest a host wait bracketed by <see cref="CollectiveWatchdog.Watch"/> may take before the communicator is aborted.</summary>
    public TimeSpan CollectiveTimeout { get; init; } = TimeSpan.FromSeconds(300);
    /// <summary>After aborting, how long the main thread gets to report the failure itself before the process is ended.</summary>
    public TimeSpan ExitGrace { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>
    /// Called on the watchdog thread with the one-line failure when the process is still running
    /// <see cref="ExitGrace"/> after the abort. The default prints "PROGRAM: error: MESSAGE" to stderr and exits
    /// with code 1, so a rank whose peer died never hangs in a CUDA wait that the abort did not release.
    /// </summary>
    public Action<string>? OnFatal { get; init; }
}

/// <summary>
/// Keeps a communicator from hanging its process. A background thread polls the communicator's
/// asynchronous error (NCCL notices a dead peer's closed sockets) and times the host waits the owner brackets
/// with <see cref="Watch"/> (a peer that hangs, or dies unnoticed on a shared-memory link). On either it calls
/// the abort action once (ncclCommAbort, which releases pending NCCL kernels), keeps the reason for
/// <see cref="ThrowIfFailed"/>, and if the process is still alive after the grace period calls OnFatal.
/// </summary>
public sealed class CollectiveWatchdog : IDisposable
{
    private readonly Func<string?> _pollError;
    private readonly Action<string> _abort;
    private readonly NcclWatchdogOptions _options;
    private readonly int _rank;
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _stop = new(false);
    private readonly Lock _gate = new();
    private string? _failure;
    private bool _aborted;
    private string? _waitWhat;
    private DateTime _waitSince;

    /// <param name="rank">This process's rank, for messages.</param>
    /// <param name="pollError">Returns a description of the communicator's asynchronous error, or null while healthy.</param>
    /// <param name="abort">Aborts the communicator; called at most once, from any thread.</param>
    public CollectiveWatchdog(int rank, Func<string?> pollError, Action<string> abort, NcclWatchdogOptions options)
    {
        _rank = rank; _pollError = pollError; _abort = abort; _options = options;
        _thread = new Thread(Loop) { IsBackground = true, Name = "nccl-watchdog" };
        _thread.Start();
    }

    /// <summary>Why the communicator was aborted, or null while healthy.</summary>
    public string? Failure { get { lock (_gate) return _failure; } }

    /// <summary>
    /// Brackets a blocking host wait on work that includes collectives (cudaStreamSynchronize, an event wait, a
    /// device-to-host copy of a reduced value). Disposing the scope ends the timing and throws if the
    /// communicator failed meanwhile.
    /// </summary>
    public WaitScope Watch(string what)
    {
        lock (_gate) { _waitWhat = what; _waitSince = DateTime.UtcNow; }
        return new WaitScope(this);
    }

    public readonly struct WaitScope(CollectiveWatchdog owner) : IDisposable
    {
        public void Dispose()
        {
            lock (owner._gate) owner._waitWhat = null;
            owner.ThrowIfFailed();
        }
    }

    /// <summary>Checks now and throws <see cref="DistributedException"/> with the reason if the communicator failed.</summary>
    public void ThrowIfFailed()
    {
        Poll();
        if (Failure is { } f) throw new DistributedException(f);
    }

    /// <summary>Records <paramref name="reason"/> (the first one wins) and aborts the communicator once.</summary>
    public void Fail(string reason)
    {
        lock (_gate)
        {
            _failure ??= reason;
            if (_aborted) return;
            _aborted = true;
        }
        _abort(reason);
    }

    public bool Aborted { get { lock (_gate) return _aborted; } }

    private void Poll()
    {
        string? timedOut = null;
        lock (_gate)
        {
            if (_failure is not null) return;
            if (_waitWhat is { } what && DateTime.UtcNow - _waitSince > _options.CollectiveTimeout)
                timedOut = $"rank {_rank}: {what} did not complete within {_options.CollectiveTimeout.TotalSeconds:0.###} s; " +
                           "another rank probably died or hung (see its log); aborting NCCL";
        }
        if (timedOut is not null) { Fail(timedOut); return; }
        if (_pollError() is { } error)
            Fail($"rank {_rank}: NCCL failed asynchronously: {error}; another rank probably exited (see its log)");
    }

    private void Loop()
    {
        while (!_stop.Wait(_options.PollInterval))
        {
            Poll();
            if (Failure is not { } failure) continue;
            if (_stop.Wait(_options.ExitGrace)) return; // the owner shut down meanwhile: it handled the failure
            (_options.OnFatal ?? DefaultFatal)(failure);
            return;
        }
    }

    private static void DefaultFatal(string message)
    {
        Console.Error.WriteLine($"{AppDomain.CurrentDomain.FriendlyName}: error: {message}");
        Console.Error.Flush();
        Environment.Exit(1);
    }

    /// <summary>Stops the thread; no further polls, aborts or OnFatal calls.</summary>
    public void Dispose()
    {
        _stop.Set();
        if (Thread.CurrentThread != _thread) _thread.Join(TimeSpan.FromSeconds(5));
    }
}
