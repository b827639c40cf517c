using System.Runtime.InteropServices;
using FluentAssertions;
using LlmNet.Distributed.Launch;
using LlmNet.Distributed.Mpi;
using LlmNet.Distributed.Nccl;
using LlmNet.Distributed.Rendezvous;
using Xunit;

namespace LlmNet.Distributed.Tests;

/// <summary>Behaviour of the native bindings on a machine without NCCL or MPI (CI); on a GPU host they report what they found.</summary>
public sealed class NativeBindingTests
{
    private static bool Present(string name)
    {
        if (!NativeLibrary.TryLoad(name, out nint h)) return false;
        NativeLibrary.Free(h);
        return true;
    }

    [Fact]
    public void Missing_nccl_is_reported_by_name()
    {
        if (Present("libnccl.so.2"))
        {
            NcclLibrary.GetVersion().Major.Should().Be(2);
            return;
        }
        var act = NcclLibrary.EnsureLoaded;
        act.Should().Throw<NativeLibraryMissingException>()
            .WithMessage("libnccl.so.2 not found: multi-GPU training needs NVIDIA NCCL 2*LD_LIBRARY_PATH*")
            .Which.Library.Should().Be("libnccl.so.2");
        FluentActions.Invoking(() => NcclLibrary.GetUniqueId()).Should().Throw<NativeLibraryMissingException>();
        NcclLibrary.ErrorString(NcclResult.RemoteError).Should().Be("RemoteError");
    }

    [Fact]
    public void Missing_mpi_is_reported_by_name_with_the_alternatives()
    {
        if (Present("libmpi.so.40") || Present("libmpi.so.12") || Present("libmpi.so")) Assert.Skip("an MPI library is installed here");
        var act = () => MpiSession.Initialize();
        act.Should().Throw<NativeLibraryMissingException>()
            .WithMessage("libmpi.so.40 not found: -pi mpi needs Open MPI's C library*-pi tcp*-pi fs*");
    }

    [Fact]
    public void A_multi_process_bootstrap_fails_fast_without_nccl_and_a_single_one_needs_nothing()
    {
        int bound = -1;
        var single = NcclBootstrap.Connect(LaunchInfo.Single, RendezvousOptions.Default, d => bound = d);
        single.Communicator.Should().BeNull();
        bound.Should().Be(0);
        single.Dispose();

        if (Present("libnccl.so.2")) return;
        var launch = LaunchEnvironment.Detect(new LaunchFlags { NumProcesses = 2, ProcessRank = 1, InitMethod = "tcp", ServerAddress = "127.0.0.1" },
            new Dictionary<string, string>());
        var started = DateTime.UtcNow;
        Action act = () => NcclBootstrap.Connect(launch, RendezvousOptions.Default with { Timeout = TimeSpan.FromSeconds(30) });
        act.Should().Throw<NativeLibraryMissingException>().WithMessage("libnccl.so.2 not found*");
        (DateTime.UtcNow - started).Should().BeLessThan(TimeSpan.FromSeconds(10), "the library is checked before any rendezvous");
    }

    [Fact]
    public void Nvlink_multicast_is_switched_off_for_native_code_unless_the_user_chose()
    {
        string? before = NcclEnvironment.GetNative(NcclEnvironment.NvlsVariable);
        try
        {
            if (before is null)
            {
                NcclEnvironment.Apply();
                NcclEnvironment.GetNative(NcclEnvironment.NvlsVariable).Should().Be("0");
                Environment.GetEnvironmentVariable(NcclEnvironment.NvlsVariable).Should().Be("0");
            }
            NcclEnvironment.SetBoth(NcclEnvironment.NvlsVariable, "1");
            NcclEnvironment.Apply();
            NcclEnvironment.GetNative(NcclEnvironment.NvlsVariable).Should().Be("1");
        }
        finally
        {
            NcclEnvironment.SetBoth(NcclEnvironment.NvlsVariable, before ?? "0");
        }
    }

    [Fact]
    public void Unique_id_is_128_bytes_and_round_trips()
    {
        Marshal.SizeOf<NcclUniqueId>().Should().Be(128);
        var bytes = Enumerable.Range(0, 128).Select(i => (byte)(i * 7)).ToArray();
        NcclUniqueId.FromBytes(bytes).ToArray().Should().Equal(bytes);
        FluentActions.Invoking(() => NcclUniqueId.FromBytes(new byte[127])).Should().Throw<DistributedException>().WithMessage("*128 bytes, got 127");
    }
}
