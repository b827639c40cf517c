using LlmNet.Common.Cli;
using LlmNet.Distributed;
using LlmNet.Distributed.Launch;
using LlmNet.Distributed.Rendezvous;
using LlmNet.Model;

namespace LlmNet.Cuda;

/// <summary>
/// The one place a tool turns "was I started as one of several processes?" into an <see cref="IProcessGroup"/>:
/// launch detection (llm.c's -pn/-pr/-pg/-pi/-ps/-pf flags or the variables of mpirun, srun and torchrun), the
/// rendezvous timeout (LLMNET_DIST_TIMEOUT), and joining over NCCL on GPUs or over TCP on the CPU.
/// Problems with the launch itself are usage errors; problems meeting the other ranks are tool errors.
/// </summary>
public static class ProcessGroups
{
    /// <summary>Runs <paramref name="detect"/> (normally <see cref="LaunchEnvironment.Detect(LaunchFlags?)"/>), turning its complaints into usage errors.</summary>
    public static LaunchInfo DetectLaunch(Func<LaunchInfo> detect)
    {
        try { return detect(); }
        catch (DistributedException e) { throw new UsageException(e.Message); }
    }

    /// <summary>Rendezvous timeouts from the environment (LLMNET_DIST_TIMEOUT); a bad value is a usage error.</summary>
    public static RendezvousOptions RendezvousFromEnvironment()
    {
        try { return RendezvousOptions.FromEnvironment(); }
        catch (DistributedException e) { throw new UsageException(e.Message); }
    }

    /// <summary>
    /// Joins the ranks of <paramref name="launch"/> over NCCL, one GPU per process (the group's local rank picks
    /// it). <paramref name="purpose"/> says what needs the GPUs, for the error when there are none.
    /// </summary>
    public static IProcessGroup JoinCuda(LaunchInfo launch, int zeroStage, string purpose)
    {
        if (!launch.IsMultiProcess) return SingleProcess.Instance;
        if (!CudaBackend.IsAvailable(out string reason))
            throw new ToolException($"{launch}: {purpose} with {launch.Size} processes needs a GPU per process, but {reason}. " +
                "Run on a machine with GPUs, or one process with --device cpu");
        var options = RendezvousFromEnvironment();
        try { return CudaProcessGroup.Join(launch, options, zeroStage); }
        catch (DistributedException e) { throw new ToolException($"{launch}: {e.Message}", e); }
    }

    /// <summary>
    /// Joins the ranks of <paramref name="launch"/> over TCP, without GPUs: rank 0 listens on the launch's port
    /// (MASTER_PORT, else 12345) and the others connect to its address (MASTER_ADDR or -ps). Meant for a few
    /// scalars (counts, barriers), not for gradients.
    /// </summary>
    public static IProcessGroup JoinTcp(LaunchInfo launch)
    {
        if (!launch.IsMultiProcess) return SingleProcess.Instance;
        if (launch.ServerAddress is null && launch.Method != InitMethod.Tcp)
            throw new UsageException($"{launch}: on the CPU the processes meet over TCP, so they need rank 0's address: " +
                "set MASTER_ADDR (and MASTER_PORT) or pass -pi tcp -ps <address of rank 0>");
        var options = RendezvousFromEnvironment();
        try { return TcpProcessGroup.Connect(launch, options); }
        catch (DistributedException e) { throw new ToolException($"{launch}: {e.Message}", e); }
    }
}
