using LlmNet.Common.Cli;
using LlmNet.Cuda;
using LlmNet.Distributed.Launch;
using LlmNet.Model;
using LlmNet.Training;

namespace LlmNet.Tools.Train;

/// <summary>
/// Where llm-train finds out whether it is one of several processes (-pn/-pr/-pi/-ps/-pf, or the variables of
/// mpirun, srun or torchrun) and, if so, joins them over NCCL before the backend picks its GPU
/// (the shared part lives in <see cref="ProcessGroups"/>).
/// </summary>
public static class ProcessGroupFactory
{
    public static IProcessGroup Create(TrainOptions options) =>
        Create(options, () => LaunchEnvironment.Detect(LaunchFlags.FromLlmcValues(
            options.NumProcesses, options.ProcessRank, options.GpusPerNode, options.InitMethod, options.ServerIp, options.FsPath)));

    /// <summary>Same, with the launch detection supplied (tests).</summary>
    public static IProcessGroup Create(TrainOptions options, Func<LaunchInfo> detect)
    {
        LaunchInfo launch = ProcessGroups.DetectLaunch(detect);
        if (!launch.IsMultiProcess) return SingleProcess.Instance;

        if (options.Device == "cpu")
            throw new ToolException($"{launch}: training with {launch.Size} processes needs GPUs (--device cuda or auto); " +
                "the CPU backend trains in a single process, so run one process with --device cpu");
        return ProcessGroups.JoinCuda(launch, options.ZeroStage, "training");
    }
}
