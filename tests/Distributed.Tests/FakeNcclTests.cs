using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using FluentAssertions;
using LlmNet.Distributed.Launch;
using LlmNet.Distributed.Nccl;
using LlmNet.Distributed.Rendezvous;
using Xunit;

namespace LlmNet.Distributed.Tests;

/// <summary>
/// Drives the NCCL bindings, bootstrap, process group and watchdog against an ABI-compatible stand-in for
/// libnccl.so.2 (StandIns/fake_nccl.c, built here with the system C compiler), in a child process.
/// </summary>
public sealed unsafe class FakeNcclTests
{
    private const string TestName = "LlmNet.Distributed.Tests.FakeNcclTests.Bindings_bootstrap_group_and_watchdog_work_against_an_abi_compatible_nccl";

    [Fact]
    public void Bindings_bootstrap_group_and_watchdog_work_against_an_abi_compatible_nccl()
    {
        if (NativeStandIns.IsChild(NcclLibrary.OverrideVariable, out string lib))
        {
            Scenario(lib);
            return;
        }
        using var tmp = new TempDirectory();
        string built = NativeStandIns.Compile(tmp, "fake_nccl.c", "libnccl.so.2");
        NativeStandIns.RunTestInChild(TestName, new() { [NcclLibrary.OverrideVariable] = built });
    }

    /// <summary>Host memory standing in for the backend's device scalar; Read synchronises the fake stream.</summary>
    private sealed class HostScalar(nint comm, delegate* unmanaged<nint, int> sync) : IDeviceScalar, IDisposable
    {
        private readonly nint _memory = Marshal.AllocHGlobal(8);
        public nint DevicePointer => _memory;
        public nint Stream => 0;
        public void Write(double value) => *(double*)_memory = value;
        public double Read() { sync(comm); return *(double*)_memory; }
        public void Dispose() => Marshal.FreeHGlobal(_memory);
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static void Scenario(string lib)
    {
        nint handle = NativeLibrary.Load(lib);
        var sync = (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(handle, "fakeStreamSync");
        var inject = (delegate* unmanaged<nint, int, void>)NativeLibrary.GetExport(handle, "fakeInjectAsyncError");
        var options = new RendezvousOptions { Timeout = TimeSpan.FromSeconds(30), PollInterval = TimeSpan.FromMilliseconds(20), ConnectRetryInterval = TimeSpan.FromMilliseconds(50) };
        var fatal = new ConcurrentQueue<string>();
        var watch = new NcclWatchdogOptions
        {
            PollInterval = TimeSpan.FromMilliseconds(20), CollectiveTimeout = TimeSpan.FromSeconds(2),
            ExitGrace = TimeSpan.FromSeconds(30), OnFatal = fatal.Enqueue,
        };

        NcclLibrary.GetVersion().Should().Be(new Version(2, 21, 5));

        // Three ranks meet over tcp; each gets a communicator on its own device and sums a scalar.
        int port = FreePort();
        var bound = new int[3];
        var groups = Ranks.RunAsync(3, r =>
        {
            var launch = LaunchEnvironment.Detect(new LaunchFlags { NumProcesses = 3, ProcessRank = r, InitMethod = "tcp", ServerAddress = "127.0.0.1", GpusPerNode = 2 },
                new Dictionary<string, string> { ["MASTER_PORT"] = port.ToString() });
            var session = NcclBootstrap.Connect(launch, options, d => bound[r] = d, watch);
            var group = new NcclProcessGroup(session, new HostScalar(session.Communicator!.Handle, sync));
            group.AllReduceSum(r + 1).Should().Be(6);
            group.Barrier();
            return group;
        }).GetAwaiter().GetResult();
        bound.Should().Equal(0, 1, 0);
        groups.Select(g => (g.Rank, g.Size, g.LocalRank)).Should().Equal((0, 3, 0), (1, 3, 1), (2, 3, 0));
        NcclEnvironment.GetNative(NcclEnvironment.NvlsVariable).Should().Be("0");

        // Rank 2 stops taking part: the others' watched waits time out into a clear error.
        var errors = Ranks.RunAsync(2, r => FluentActions.Invoking(() => groups[r].AllReduceSum(1)).Should().Throw<DistributedException>().Which.Message)
            .GetAwaiter().GetResult();
        errors.Should().Equal(
            "rank 0: AllReduceSum did not complete within 2 s; another rank probably died or hung (see its log); aborting NCCL",
            "rank 1: AllReduceSum did not complete within 2 s; another rank probably died or hung (see its log); aborting NCCL");
        foreach (var g in groups) g.Dispose();
        fatal.Should().BeEmpty("the owners reported and shut down within the grace period");

        // Two ranks meet through a directory; then a dead peer shows up as NCCL's asynchronous error.
        using var dir = new TempDirectory();
        var sessions = Ranks.RunAsync(2, r =>
        {
            var launch = LaunchEnvironment.Detect(new LaunchFlags { NumProcesses = 2, ProcessRank = r, SharedDirectory = dir.Path },
                new Dictionary<string, string> { ["LLMNET_RUN_ID"] = "fake" });
            launch.Method.Should().Be(InitMethod.Fs);
            return NcclBootstrap.Connect(launch, options, null, watch with { ExitGrace = TimeSpan.FromMilliseconds(200) });
        }).GetAwaiter().GetResult();
        inject(sessions[1].Communicator!.Handle, (int)NcclResult.RemoteError);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (fatal.Count < 2 && DateTime.UtcNow < deadline) Thread.Sleep(20);
        fatal.Order().Should().Equal(
            "rank 0: NCCL failed asynchronously: fake: remote process exited or there was a network error (RemoteError): fake detail; another rank probably exited (see its log)",
            "rank 1: NCCL failed asynchronously: fake: remote process exited or there was a network error (RemoteError): fake detail; another rank probably exited (see its log)");
        FluentActions.Invoking(sessions[0].Communicator!.ThrowIfFailed).Should().Throw<DistributedException>().WithMessage("rank 0: NCCL failed asynchronously*");
        foreach (var s in sessions) s.Dispose();

        // A call NCCL rejects surfaces its error string and detail, and aborts the communicator.
        using var single = NcclCommunicator.InitRank(1, NcclLibrary.GetUniqueId(), 0, TimeSpan.FromSeconds(10), watchdog: watch with { OnFatal = _ => { } });
        FluentActions.Invoking(() => single.ReduceScatter(1, 2, 3, NcclDataType.BFloat16, NcclRedOp.Avg, 0)).Should().Throw<NcclException>()
            .Where(e => e.Result == NcclResult.InvalidUsage)
            .WithMessage("rank 0: ncclReduceScatter failed: fake: invalid usage (InvalidUsage): fake detail");
        FluentActions.Invoking(() => single.AllGather(1, 2, 3, NcclDataType.BFloat16, 0)).Should().Throw<DistributedException>()
            .WithMessage("rank 0: ncclReduceScatter failed*");
    }
}
