namespace LlmNet.Model;

/// <summary>
/// How a tool wants its compute backend set up: one record for every backend (lib/Cuda/Backends.cs creates them),
/// each reading the settings it knows. The CUDA settings carry llm.c's meanings (train_gpt2.cu: main's -r, -ge, -z, -w).
/// </summary>
public sealed record BackendOptions
{
    /// <summary>CPU worker threads; 0 uses every core (CPU).</summary>
    public int CpuThreads { get; init; }

    /// <summary>llm.c's -r: 0 keeps every activation, 1 recomputes GELU in backward, 2 also the LayerNorms (CUDA).</summary>
    public int Recompute { get; init; } = 1;

    /// <summary>
    /// llm.c's -ge: 0 separate GELU kernels, 1 GELU in the fc matmul's epilogue, 2 also dGELU in the fcproj backward
    /// matmul; -1 picks 2 on sm_90 and newer, else 0 (CUDA; llm.c's own -1 is always 0).
    /// </summary>
    public int GeluFusion { get; init; } = -1;

    /// <summary>The GPU ordinal; -1 uses the process group's local rank (CUDA).</summary>
    public int DeviceIndex { get; init; } = -1;

    /// <summary>
    /// One process (null) or the group whose communicator averages the gradients (CUDA: a CudaProcessGroup). Its rank
    /// offsets the stochastic-rounding seed stream of either backend (llm.c's 13371337 + rank).
    /// </summary>
    public IProcessGroup? ProcessGroup { get; init; }

    /// <summary>
    /// llm.c's -z: 0 or 1 with several processes (others fall back to 0 with a note); -1 takes the stage the
    /// CUDA process group was joined with (CUDA).
    /// </summary>
    public int ZeroStage { get; init; } = -1;

    /// <summary>
    /// llm.c's -w: true keeps an fp32 copy of the parameters (of this process's ZeRO shard) that AdamW updates; false
    /// allocates none, and AdamW reads the bf16 parameters and rounds its result back into them (CUDA; the CPU
    /// backend's parameters are fp32 already).
    /// </summary>
    public bool MasterWeights { get; init; } = true;

    /// <summary>
    /// True allocates gradients, AdamW state and backward scratch; false, for tools that only run forward passes
    /// (evaluation, sampling), makes an inference-only backend whose training calls throw InvalidOperationException
    /// (CUDA; the CPU backend ignores it).
    /// </summary>
    public bool Training { get; init; } = true;
}
