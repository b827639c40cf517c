using System.Collections;
using System.Globalization;

namespace LlmNet.Distributed.Launch;

/// <summary>
/// Works out this process's rank, world size and local GPU from the launcher that started it, or from
/// llm.c's explicit flags (-pn -pr -pg -pi -ps -pf).
///
/// Launchers are checked innermost first, because they nest: mpirun inside an sbatch script leaves the
/// allocation's SLURM_* variables (SLURM_PROCID=0 everywhere) in every child, and torchrun inside srun does
/// the same. The first launcher whose variables are present decides:
///   Open MPI  OMPI_COMM_WORLD_RANK / OMPI_COMM_WORLD_SIZE / OMPI_COMM_WORLD_LOCAL_RANK
///   MPICH     PMI_RANK / PMI_SIZE / MPI_LOCALRANKID (Hydra)
///   torchrun  RANK / WORLD_SIZE / LOCAL_RANK (+ MASTER_ADDR / MASTER_PORT)
///   Slurm     SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID
/// Explicit -pn/-pr must agree with a detected launcher; with no launcher they define the run and the local
/// GPU is rank % -pg, as in llm.c. The init method is -pi when given, else fs when -pf is given, tcp when -ps
/// is given, else the launcher's own: mpi under Open MPI, MPICH and Slurm (srun starts MPI programs), tcp to
/// MASTER_ADDR under torchrun. Explicit flags without a launcher need -pi, -pf or -ps.
/// </summary>
public static class LaunchEnvironment
{
    private sealed record Launcher(string Name, string RankVar, string SizeVar, string LocalVar, InitMethod? PreferredMethod);

    private static readonly Launcher[] Launchers =
    [
        new("Open MPI", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", InitMethod.Mpi),
        new("MPICH/Hydra", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", InitMethod.Mpi),
        new("torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", InitMethod.Tcp),
        new("Slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", InitMethod.Mpi),
    ];

    /// <summary>Detects from the current process environment.</summary>
    public static LaunchInfo Detect(LaunchFlags? flags = null) => Detect(flags ?? LaunchFlags.None, CurrentEnvironment());

    /// <summary>Detects from the given environment (tests pass their own).</summary>
    public static LaunchInfo Detect(LaunchFlags flags, IReadOnlyDictionary<string, string> env)
    {
        int gpusPerNode = flags.GpusPerNode ?? LaunchFlags.DefaultGpusPerNode;
        if (gpusPerNode < 1)
            throw new DistributedException($"-pg {gpusPerNode}: GPUs per node must be at least 1");

        int rank, size, localRank;
        bool localFromLauncher;
        string launcherName;
        InitMethod? preferred;

        var detected = DetectLauncher(env);
        if (detected is { } d)
        {
            (launcherName, rank, size, int? local, preferred) = d;
            if (flags.NumProcesses is { } pn && pn != size)
                throw new DistributedException(
                    $"-pn {pn} disagrees with {launcherName}, which started {size} processes: drop -pn or make it {size}");
            if (flags.ProcessRank is { } pr && pr != rank)
                throw new DistributedException(
                    $"-pr {pr} disagrees with {launcherName}, which says this process is rank {rank}: drop -pr when a launcher starts the processes");
            localFromLauncher = local is not null;
            localRank = local ?? rank % gpusPerNode;
        }
        else
        {
            size = flags.NumProcesses ?? 1;
            rank = flags.ProcessRank ?? 0;
            if (size < 1)
                throw new DistributedException($"-pn {size}: the number of processes must be at least 1");
            if (rank < 0 || rank >= size)
                throw new DistributedException($"-pr {rank} is out of range for -pn {size}: ranks run from 0 to {size - 1}");
            launcherName = flags.NumProcesses is null && flags.ProcessRank is null ? "single" : "flags";
            localRank = rank % gpusPerNode;
            localFromLauncher = false;
            preferred = null;
        }

        // An explicit -pi wins; then -pf or -ps imply fs or tcp; then the launcher's natural method.
        InitMethod? method = flags.InitMethod is { } pi ? LaunchFlags.ParseInitMethod(pi)
            : flags.SharedDirectory is not null ? InitMethod.Fs
            : flags.ServerAddress is not null ? InitMethod.Tcp
            : preferred;

        string? server = flags.ServerAddress ?? Get(env, "MASTER_ADDR");
        int port = LaunchInfo.DefaultPort;
        if (Get(env, "MASTER_PORT") is { } mp)
        {
            if (!int.TryParse(mp, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
                throw new DistributedException($"MASTER_PORT='{mp}' is not a TCP port number (1..65535)");
        }

        if (size > 1)
        {
            switch (method)
            {
                case null:
                    throw new DistributedException(
                        $"{size} processes ({launcherName}) but no way to exchange the NCCL id: pass -pi tcp -ps <address of rank 0>, " +
                        "-pi fs -pf <shared directory>, or -pi mpi under mpirun");
                case InitMethod.Tcp when server is null && rank != 0:
                    throw new DistributedException("-pi tcp needs the address of rank 0: pass -ps <IP or host name> (or set MASTER_ADDR)");
                case InitMethod.Fs when string.IsNullOrEmpty(flags.SharedDirectory):
                    throw new DistributedException("-pi fs needs a directory every rank can see: pass -pf <shared directory>");
            }
        }

        return new LaunchInfo(rank, size, localRank, launcherName, method, server, port, flags.SharedDirectory, RunIdOf(env))
        {
            LocalRankFromLauncher = localFromLauncher,
        };
    }

    /// <summary>
    /// A job identifier every rank of this run shares, used to keep rendezvous files of concurrent or earlier
    /// runs apart. LLMNET_RUN_ID wins; then the Slurm job and step, Open MPI's job id, torchrun's run id and port.
    /// </summary>
    public static string? RunIdOf(IReadOnlyDictionary<string, string> env)
    {
        if (Get(env, "LLMNET_RUN_ID") is { } explicitId) return explicitId;
        if (Get(env, "SLURM_JOB_ID") is { } job)
            return Get(env, "SLURM_STEP_ID") is { } step ? $"slurm{job}.{step}" : $"slurm{job}";
        if ((Get(env, "OMPI_MCA_ess_base_jobid") ?? Get(env, "OMPI_MCA_orte_ess_jobid")) is { } ompi) return "ompi" + ompi;
        if (Get(env, "TORCHELASTIC_RUN_ID") is { } te) return "torch" + te;
        if (Get(env, "MASTER_PORT") is { } port) return "port" + port;
        return null;
    }

    private static (string Name, int Rank, int Size, int? Local, InitMethod? Preferred)? DetectLauncher(IReadOnlyDictionary<string, string> env)
    {
        foreach (var l in Launchers)
        {
            string? rankText = Get(env, l.RankVar), sizeText = Get(env, l.SizeVar);
            if (rankText is null && sizeText is null) continue;
            if (rankText is null || sizeText is null)
            {
                var (present, missing) = rankText is null ? (l.SizeVar, l.RankVar) : (l.RankVar, l.SizeVar);
                throw new DistributedException(
                    $"{present} is set but {missing} is not: the {l.Name} environment is incomplete; set both or neither");
            }
            int size = ParseInt(l.SizeVar, sizeText);
            int rank = ParseInt(l.RankVar, rankText);
            if (size < 1)
                throw new DistributedException($"{l.SizeVar}={size}: the number of processes must be at least 1");
            if (rank < 0 || rank >= size)
                throw new DistributedException($"{l.RankVar}={rank} is out of range for {l.SizeVar}={size}: ranks run from 0 to {size - 1}");
            int? local = null;
            if (Get(env, l.LocalVar) is { } localText)
            {
                int lr = ParseInt(l.LocalVar, localText);
                if (lr < 0 || lr >= size)
                    throw new DistributedException($"{l.LocalVar}={lr} is out of range for {l.SizeVar}={size}");
                local = lr;
            }
            return (l.Name, rank, size, local, l.PreferredMethod);
        }
        return null;
    }

    private static int ParseInt(string name, string text) =>
        int.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v)
            ? v
            : throw new DistributedException($"{name}='{text}' is not an integer");

    private static string? Get(IReadOnlyDictionary<string, string> env, string name) =>
        env.TryGetValue(name, out var v) && !string.IsNullOrWhiteSpace(v) ? v : null;

    private static Dictionary<string, string> CurrentEnvironment()
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in Environment.GetEnvironmentVariables())
            if (e.Key is string k && e.Value is string v) result[k] = v;
        return result;
    }
}
