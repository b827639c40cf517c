using LlmNet.Common.Cli;
using LlmNet.Cuda;
using LlmNet.Distributed;
using LlmNet.Distributed.Launch;
using LlmNet.Distributed.Rendezvous;
using LlmNet.Model;
using LlmNet.Training;

namespace LlmNet.Tools.Train;

/// <summary>
/// Where llm-train finds out whether it is one of several processes (-pn/-pr/-pi/-ps/-pf, or the variables of
/// mpirun, srun or torchrun) and, if so, joins them over NCCL before the backend picks its GPU.
/// </summary>
public static class ProcessGroupFactory
{
    public static IProcessGroup Create(TrainOptions options) =>
        Create(options, () => LaunchEnvironment.Detect(LaunchFlags.FromLlmcValues(
            options.NumProcesses, options.ProcessRank, options.GpusPerNode, options.InitMethod, options.ServerIp, options.FsPath)));

    /// <summary>Same, with the launch detection supplied (tests).</summary>
    public static IProcessGroup Create(TrainOptions options, Func<LaunchInfo> detect)
    {
        LaunchInfo launch;
        try { launch = detect(); }
        catch (DistributedException e) { throw new UsageException(e.Message); }
        if (!launch.IsMultiProcess) return SingleProcess.Instance;

        if (options.Device == "cpu")
            throw new ToolException($"{launch}: training with {launch.Size} processes needs GPUs (--device cuda or auto); " +
                "the CPU backend trains in a single process, so run one process with --device cpu");
        if (!CudaBackend.IsAvailable(out string reason))
            throw new ToolException($"{launch}: training with {launch.Size} processes needs a GPU per process, but {reason}. " +
                "Run on a machine with GPUs, or one process with --device cpu");

        RendezvousOptions rendezvous;
        try { rendezvous = RendezvousOptions.FromEnvironment(); }
        catch (DistributedException e) { throw new UsageException(e.Message); }
        return CudaProcessGroup.Join(launch, rendezvous, options.ZeroStage);
    }
}
