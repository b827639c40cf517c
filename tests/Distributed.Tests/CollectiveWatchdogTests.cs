using System.Collections.Concurrent;
using FluentAssertions;
using LlmNet.Distributed.Nccl;
using Xunit;

namespace LlmNet.Distributed.Tests;

/// <summary>The watchdog's decisions, driven by a fake communicator (the real one needs NCCL and GPUs).</summary>
public sealed class CollectiveWatchdogTests
{
    private sealed class FakeComm
    {
        public volatile string? AsyncError;
        public readonly ConcurrentQueue<string> Aborts = new();
        public readonly TaskCompletionSource<string> Fatal = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CollectiveWatchdog Watchdog(int rank, TimeSpan collectiveTimeout, TimeSpan grace) =>
            new(rank, () => AsyncError, Aborts.Enqueue, new NcclWatchdogOptions
            {
                PollInterval = TimeSpan.FromMilliseconds(20),
                CollectiveTimeout = collectiveTimeout,
                ExitGrace = grace,
                OnFatal = m => Fatal.TrySetResult(m),
            });
    }

    [Fact]
    public async Task A_dead_peer_aborts_once_and_ends_the_process_after_the_grace_period()
    {
        var comm = new FakeComm();
        using var dog = comm.Watchdog(1, TimeSpan.FromMinutes(5), TimeSpan.FromMilliseconds(200));
        dog.ThrowIfFailed();
        comm.AsyncError = "remote process exited or there was a network error (RemoteError)";
        string fatal = await comm.Fatal.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        fatal.Should().Be("rank 1: NCCL failed asynchronously: remote process exited or there was a network error (RemoteError); another rank probably exited (see its log)");
        comm.Aborts.Should().ContainSingle().Which.Should().Be(fatal);
        FluentActions.Invoking(dog.ThrowIfFailed).Should().Throw<DistributedException>().WithMessage(fatal);
    }

    [Fact]
    public async Task A_watched_wait_past_the_timeout_aborts_and_the_scope_throws()
    {
        var comm = new FakeComm();
        using var dog = comm.Watchdog(0, TimeSpan.FromMilliseconds(150), TimeSpan.FromMinutes(1));
        var scope = dog.Watch("AllReduceSum");
        await Task.Delay(600, TestContext.Current.CancellationToken);
        comm.Aborts.Should().ContainSingle().Which.Should()
            .Be("rank 0: AllReduceSum did not complete within 0.15 s; another rank probably died or hung (see its log); aborting NCCL");
        FluentActions.Invoking(scope.Dispose).Should().Throw<DistributedException>().WithMessage("rank 0: AllReduceSum did not complete*");
    }

    [Fact]
    public async Task Short_watched_waits_and_a_healthy_communicator_never_abort()
    {
        var comm = new FakeComm();
        using (var dog = comm.Watchdog(0, TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(50)))
        {
            for (int i = 0; i < 5; i++)
            {
                using (dog.Watch("step")) await Task.Delay(40, TestContext.Current.CancellationToken);
            }
            await Task.Delay(1200, TestContext.Current.CancellationToken); // no wait in progress: no timeout
        }
        comm.Aborts.Should().BeEmpty();
        comm.Fatal.Task.IsCompleted.Should().BeFalse();
    }

    [Fact]
    public async Task An_owner_that_shuts_down_within_the_grace_period_is_not_killed()
    {
        var comm = new FakeComm();
        var dog = comm.Watchdog(3, TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(30));
        comm.AsyncError = "unhandled system error";
        while (dog.Failure is null) await Task.Delay(10, TestContext.Current.CancellationToken);
        dog.Dispose();
        comm.Aborts.Should().ContainSingle();
        comm.Fatal.Task.IsCompleted.Should().BeFalse();
    }

    [Fact]
    public void The_first_failure_wins_and_abort_runs_once()
    {
        var comm = new FakeComm();
        using var dog = comm.Watchdog(2, TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(1));
        dog.Fail("rank 2: ncclAllReduce failed: invalid usage");
        dog.Fail("second");
        comm.Aborts.Should().Equal("rank 2: ncclAllReduce failed: invalid usage");
        dog.Failure.Should().Be("rank 2: ncclAllReduce failed: invalid usage");
    }
}
