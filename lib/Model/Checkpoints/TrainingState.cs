using LlmNet.Model.Random;

namespace LlmNet.Model.Checkpoints;

/// <summary>
/// Everything llm.c's state file (state_%08d_%05d.bin, train_gpt2.cu: save_state) holds for one rank: the step, the
/// stochastic-rounding RNG, AdamW m and v, optional fp32 master weights, and the data loader's position
/// and shuffle permutations. The trainer fills it; <see cref="StateFile"/> reads and writes it.
/// </summary>
public sealed record TrainingState
{
    public int NumProcesses { get; init; } = 1;
    public int ProcessRank { get; init; }
    public int Step { get; init; }
    /// <summary>xorshift state that seeds stochastic rounding.</summary>
    public ulong RngState { get; init; }
    /// <summary>The value of <see cref="RngState"/> at the start of the last update.</summary>
    public ulong RngStateLastUpdate { get; init; }
    public ulong ShardIndex { get; init; }
    public ulong SampleIndex { get; init; }

    /// <summary>AdamW first moment, one float per (this rank's shard of the) parameters.</summary>
    public required float[] M { get; init; }
    /// <summary>AdamW second moment, same length as <see cref="M"/>.</summary>
    public required float[] V { get; init; }
    /// <summary>fp32 master weights, or null when the run keeps none.</summary>
    public float[]? Master { get; init; }
    public bool UseMasterWeights => Master is not null;

    /// <summary>Whether the loader shuffles; the three loader fields below are then required.</summary>
    public bool ShouldShuffle { get; init; }
    public int[]? ShardIndices { get; init; }
    public int[]? IntraShardIndices { get; init; }
    /// <summary>The loader's mt19937 in llm.c's raw 2520-byte layout (<see cref="Mt19937.WriteRawState"/>).</summary>
    public byte[]? LoaderRngState { get; init; }
}
