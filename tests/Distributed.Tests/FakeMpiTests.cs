using System.Runtime.InteropServices;
using FluentAssertions;
using LlmNet.Distributed.Launch;
using LlmNet.Distributed.Mpi;
using LlmNet.Distributed.Rendezvous;
using Xunit;

namespace LlmNet.Distributed.Tests;

/// <summary>
/// Drives the MPI bindings (RTLD_GLOBAL load, Open MPI's handles as exported globals, MPI_Init_thread, Bcast,
/// Allgather, Finalize) against a one-process stand-in for libmpi.so.40 (StandIns/fake_mpi.c), in a child process.
/// </summary>
public sealed unsafe class FakeMpiTests
{
    private const string TestName = "LlmNet.Distributed.Tests.FakeMpiTests.Mpi_bindings_work_against_an_abi_compatible_libmpi";

    [Fact]
    public void Mpi_bindings_work_against_an_abi_compatible_libmpi()
    {
        if (NativeStandIns.IsChild(MpiSession.OverrideVariable, out string lib))
        {
            Scenario(lib);
            return;
        }
        using var tmp = new TempDirectory();
        string built = NativeStandIns.Compile(tmp, "fake_mpi.c", "libmpi.so.40");
        NativeStandIns.RunTestInChild(TestName, new() { [MpiSession.OverrideVariable] = built });
    }

    private static void Scenario(string lib)
    {
        var mpi = MpiSession.Initialize();
        nint handle = NativeLibrary.Load(lib);
        var threadLevel = (delegate* unmanaged<int>)NativeLibrary.GetExport(handle, "fakeThreadLevel");
        var finalized = (delegate* unmanaged<int>)NativeLibrary.GetExport(handle, "fakeFinalized");
        (mpi.Rank, mpi.Size).Should().Be((0, 1));
        threadLevel().Should().Be(2, "MPI_THREAD_SERIALIZED is requested");

        var options = RendezvousOptions.Default with { Timeout = TimeSpan.FromSeconds(10) };
        var id = Enumerable.Range(0, 128).Select(i => (byte)(255 - i)).ToArray();
        var launch = new LaunchInfo(0, 1, 5, "Open MPI", InitMethod.Mpi, null, LaunchInfo.DefaultPort, null, null) { LocalRankFromLauncher = false };
        var (payload, localRank) = MpiIdExchange.Exchange(mpi, launch, id, id.Length, options);
        payload.Should().Equal(id);
        localRank.Should().Be(0, "the only rank on this host");
        MpiIdExchange.Exchange(mpi, launch with { LocalRankFromLauncher = true }, id, id.Length, options).LocalRank.Should().Be(5);

        FluentActions.Invoking(() => MpiIdExchange.Exchange(mpi, launch with { Rank = 1, Size = 2 }, id, id.Length, options))
            .Should().Throw<DistributedException>()
            .WithMessage("MPI says this is rank 0 of 1 but the launch says rank 1 of 2 (Open MPI); start the run with mpirun -np N*");

        finalized().Should().Be(0);
        mpi.Dispose();
        finalized().Should().Be(1);
    }
}
