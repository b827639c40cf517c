using System.CommandLine;
using LlmNet.Common.Cli;
using LlmNet.Cuda;
using LlmNet.Distributed.Launch;
using LlmNet.Model;

namespace LlmNet.Tools.Eval;

/// <summary>
/// How llm-eval learns that it is one of several processes: llm.c's -pn/-pr/-pg/-pi/-ps/-pf, or the variables
/// of mpirun, srun or torchrun (detected as llm-train does), or the manual --rank/--world-size split, which
/// joins nobody and leaves every process to report its own counts.
/// </summary>
internal sealed class LaunchOptions
{
    public Option<int?> Rank { get; } = new("--rank")
    {
        Description = "manual split: this process's rank; the processes do not meet and each prints its own counts [default: 0]",
    };
    public Option<int?> WorldSize { get; } = new("--world-size")
    {
        Description = "manual split: number of processes sharing the work (HellaSwag: ceil(N/size) examples each; loss: a B·T slice of every sample each) [default: 1]",
    };
    public Option<int?> NumProcesses { get; } = new("--num-processes", "-pn")
    {
        Description = "llm.c's -pn: number of processes (normally taken from mpirun, srun or torchrun) [default: 1]",
    };
    public Option<int?> ProcessRank { get; } = new("--process-rank", "-pr")
    {
        Description = "llm.c's -pr: this process's rank [default: from the launcher, else 0]",
    };
    public Option<int?> GpusPerNode { get; } = new("--gpus-per-node", "-pg")
    {
        Description = $"llm.c's -pg: GPUs per node; the local GPU is rank % this when the launcher does not say [default: {LaunchFlags.DefaultGpusPerNode}]",
    };
    public Option<string?> InitMethod { get; } = new("--init-method", "-pi")
    {
        Description = "llm.c's -pi: how the processes meet on GPUs: mpi, tcp or fs [default: from the launcher]; on the CPU always tcp",
    };
    public Option<string?> ServerIp { get; } = new("--server-ip", "-ps")
    {
        Description = "llm.c's -ps: address of rank 0 for tcp [default: MASTER_ADDR]; its port is MASTER_PORT, else 12345",
    };
    public Option<string?> FsPath { get; } = new("--fs-path", "-pf")
    {
        Description = "llm.c's -pf: directory every process sees, for -pi fs",
    };

    public LaunchOptions() => InitMethod.AcceptOnlyFromAmong("mpi", "tcp", "fs");

    public IEnumerable<Option> All => [Rank, WorldSize, NumProcesses, ProcessRank, GpusPerNode, InitMethod, ServerIp, FsPath];

    public Values Read(ParseResult parsed) => new(
        parsed.GetValue(Rank), parsed.GetValue(WorldSize),
        new LaunchFlags
        {
            NumProcesses = parsed.GetValue(NumProcesses),
            ProcessRank = parsed.GetValue(ProcessRank),
            GpusPerNode = parsed.GetValue(GpusPerNode),
            InitMethod = parsed.GetValue(InitMethod),
            ServerAddress = parsed.GetValue(ServerIp),
            SharedDirectory = parsed.GetValue(FsPath),
        });

    /// <summary>What was given on the command line; null members were not given.</summary>
    public sealed record Values(int? ManualRank, int? ManualWorldSize, LaunchFlags Flags)
    {
        public bool IsManual => ManualRank is not null || ManualWorldSize is not null;

        /// <summary>
        /// The launch this process belongs to: the manual split as given (its processes never meet), else what
        /// <see cref="LaunchEnvironment.Detect(LaunchFlags?)"/> finds.
        /// </summary>
        public LaunchInfo Resolve()
        {
            if (IsManual)
            {
                if (Flags != LaunchFlags.None)
                    throw new UsageException("--rank/--world-size split the examples by hand and cannot be combined with -pn/-pr/-pg/-pi/-ps/-pf: use one or the other");
                int rank = ManualRank ?? 0, size = ManualWorldSize ?? 1;
                if (size < 1 || rank < 0 || rank >= size)
                    throw new UsageException($"--rank {rank} --world-size {size}: need 0 ≤ rank < world size");
                return new LaunchInfo(rank, size, 0, "manual", null, null, LaunchInfo.DefaultPort, null, null);
            }
            return ProcessGroups.DetectLaunch(() => LaunchEnvironment.Detect(Flags));
        }
    }

    /// <summary>
    /// The group this process sums its counts over: nobody for one process or a manual split; the NCCL group
    /// llm-train uses on CUDA; TCP (MASTER_ADDR/MASTER_PORT or -ps) on the CPU.
    /// </summary>
    public static IProcessGroup Join(LaunchInfo launch, string resolvedDevice, string purpose)
    {
        if (launch.Launcher == "manual" || !launch.IsMultiProcess) return SingleProcess.Instance;
        return resolvedDevice == "cuda"
            ? ProcessGroups.JoinCuda(launch, zeroStage: 0, purpose)
            : ProcessGroups.JoinTcp(launch);
    }
}
