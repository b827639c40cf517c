namespace LlmNet.Distributed.Launch;

/// <summary>How rank 0 hands the 128-byte NCCL unique id to the other ranks (llm.c's -pi).</summary>
public enum InitMethod
{
    /// <summary>MPI_Bcast over MPI_COMM_WORLD (needs libmpi; the process was started by mpirun/srun).</summary>
    Mpi,
    /// <summary>Rank 0 serves the id on a TCP port; the others connect (-ps names rank 0's address).</summary>
    Tcp,
    /// <summary>Rank 0 writes the id into a directory every rank can see (-pf).</summary>
    Fs,
}

/// <summary>
/// llm.c's explicit multi-process flags as the trainer parsed them. A null member means "not given on the
/// command line", which lets a launcher's environment decide; a given value must agree with it.
/// </summary>
public sealed record LaunchFlags
{
    /// <summary>-pn: number of processes.</summary>
    public int? NumProcesses { get; init; }
    /// <summary>-pr: this process's rank.</summary>
    public int? ProcessRank { get; init; }
    /// <summary>-pg: GPUs per node (llm.c default 8); the local GPU is rank % this when no launcher says otherwise.</summary>
    public int? GpusPerNode { get; init; }
    /// <summary>-pi: "mpi", "tcp" or "fs". Null picks one from the launcher (see <see cref="LaunchEnvironment"/>).</summary>
    public string? InitMethod { get; init; }
    /// <summary>-ps: address of rank 0 for tcp.</summary>
    public string? ServerAddress { get; init; }
    /// <summary>-pf: shared directory for fs.</summary>
    public string? SharedDirectory { get; init; }

    public static readonly LaunchFlags None = new();

    /// <summary>
    /// From llm.c-style values where every flag has a default (-pn 1, -pr 0, -pg 8, -pi mpi, -ps "", -pf ""):
    /// a value equal to its default counts as "not given", so a launcher's environment decides and -pi is
    /// chosen from the launcher (mpi under mpirun, tcp under torchrun, fs/tcp when -pf/-ps is given).
    /// </summary>
    public static LaunchFlags FromLlmcValues(int numProcesses, int processRank, int gpusPerNode, string initMethod, string serverIp, string fsPath) => new()
    {
        NumProcesses = numProcesses == 1 ? null : numProcesses,
        ProcessRank = processRank == 0 ? null : processRank,
        GpusPerNode = gpusPerNode,
        InitMethod = initMethod is "" or "mpi" ? null : initMethod,
        ServerAddress = serverIp.Length == 0 ? null : serverIp,
        SharedDirectory = fsPath.Length == 0 ? null : fsPath,
    };

    public const int DefaultGpusPerNode = 8;

    /// <summary>Parses a -pi value; throws <see cref="DistributedException"/> listing the accepted values.</summary>
    public static InitMethod ParseInitMethod(string value) => value switch
    {
        "mpi" => Launch.InitMethod.Mpi,
        "tcp" => Launch.InitMethod.Tcp,
        "fs" => Launch.InitMethod.Fs,
        _ => throw new DistributedException($"unknown NCCL init method '-pi {value}': use mpi, tcp or fs"),
    };
}
