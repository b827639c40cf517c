namespace LlmNet.Distributed.Launch;

/// <summary>
/// Who this process is among those training one model, and how they will meet.
/// </summary>
/// <param name="Rank">Global rank, 0..Size-1.</param>
/// <param name="Size">Number of processes (GPUs).</param>
/// <param name="LocalRank">Index of this process's GPU on its node.</param>
/// <param name="Launcher">What supplied rank and size: "Open MPI", "MPICH/Hydra", "Slurm", "torchrun", "flags" or "single".</param>
/// <param name="Method">How the NCCL id is exchanged; null only for a single process that needs no exchange.</param>
/// <param name="ServerAddress">Rank 0's address for tcp (clients connect there; rank 0 listens on every interface).</param>
/// <param name="Port">TCP port for tcp (MASTER_PORT, else 12345).</param>
/// <param name="SharedDirectory">Directory for fs.</param>
/// <param name="RunId">A job identifier every rank of this run sees (Slurm job/step, Open MPI job, MASTER_PORT, LLMNET_RUN_ID), or null.</param>
public sealed record LaunchInfo(
    int Rank, int Size, int LocalRank, string Launcher, InitMethod? Method,
    string? ServerAddress, int Port, string? SharedDirectory, string? RunId)
{
    public const int DefaultPort = 12345;

    public bool IsMultiProcess => Size > 1;

    /// <summary>True when the launcher told us the local rank; false when it was derived as rank % gpus-per-node.</summary>
    public bool LocalRankFromLauncher { get; init; } = true;

    public static LaunchInfo Single { get; } = new(0, 1, 0, "single", null, null, DefaultPort, null, null);

    public override string ToString() =>
        $"rank {Rank} of {Size} (local GPU {LocalRank}, {Launcher}{(Method is { } m ? ", init " + m.ToString().ToLowerInvariant() : "")})";
}
