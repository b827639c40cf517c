using LlmNet.Model.Checkpoints;

namespace LlmNet.Model;

/// <summary>Hyper-parameters of one AdamW update (llm.c train_gpt2.cu: gpt2_update).</summary>
public readonly record struct AdamWStep(
    float LearningRate, float Beta1, float Beta2, float Epsilon, float WeightDecay,
    /// <summary>Multiplies every gradient first: 1/norm when clipping, else 1.</summary>
    float GradScale,
    /// <summary>1-based update count t for bias correction (step + 1).</summary>
    int T);

/// <summary>
/// What a trainer, evaluator or sampler needs from a compute device: a GPT-2 with its parameters,
/// gradients and optimizer state resident there, driven one (B,T) micro-batch at a time. The training
/// contract is <see cref="ZeroGradients"/>, <see cref="QueueForwardBackward"/> per micro-step, <see cref="TakeLosses"/>,
/// <see cref="GradientNormSquared"/> and <see cref="Update"/> (docs/architecture.md: one training step); entry points
/// only tests need (separate backward, gradients) are in <see cref="IGptBackendProbe"/>.
/// Implemented by the CPU reference backend (fp32) and the CUDA backend (bf16 + fp32 master).
/// Host-side values are always fp32 in llm.c's parameter order (<see cref="ParameterLayout"/>).
/// </summary>
public interface IGptBackend : IDisposable
{
    GptConfig Config { get; }
    /// <summary>Human-readable device, e.g. "cpu (16 threads)" or "NVIDIA H200".</summary>
    string DeviceName { get; }
    /// <summary>Largest batch rows B and sequence length T the activations were sized for.</summary>
    int MaxBatchSize { get; }
    int MaxSeqLen { get; }

    /// <summary>Replaces all N parameters (fp32, llm.c order); resets nothing else.</summary>
    void SetParameters(ReadOnlySpan<float> values);
    /// <summary>Copies all N parameters out as fp32.</summary>
    void GetParameters(Span<float> values);

    /// <summary>
    /// Forward pass over inputs[B·T] (row-major (B,T)), B ≤ MaxBatchSize, T ≤ MaxSeqLen. With targets,
    /// also computes per-position cross-entropy losses and returns their mean; with an empty targets
    /// span returns NaN. Either way <see cref="GetLogits"/> can then read the logits (the CUDA backend keeps the final
    /// LayerNorm's output and computes the logits of the asked row's chunk from it).
    /// </summary>
    float Forward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen);
    /// <summary>
    /// The first V logits at (row, position) of the last <see cref="Forward"/>, read before any training call: after
    /// a backward, <see cref="QueueForwardBackward"/>, <see cref="Update"/> or <see cref="SetParameters"/> the CUDA
    /// backend throws <see cref="InvalidOperationException"/> until the next <see cref="Forward"/>.
    /// </summary>
    void GetLogits(int row, int position, Span<float> values);
    /// <summary>Per-position losses (B·T) of the last forward pass with targets.</summary>
    void GetLosses(Span<float> values);

    /// <summary>Sets all gradients to zero (start of an accumulation window).</summary>
    void ZeroGradients();
    /// <summary>
    /// Queues one training micro-step on inputs and targets (B·T each): forward, per-position losses, and backward with
    /// dloss per position = lossScale (1/(B·T·accum)), gradients accumulating (+=). lastMicroStep marks the last of the
    /// accumulation window, where a multi-process backend averages the gradients across processes (after that,
    /// <see cref="GradientNormSquared"/> and <see cref="Update"/> see the averaged gradients). Returns once the inputs
    /// are copied (the spans may be reused), possibly before the device has run the step: the CPU backend runs it at
    /// once, the CUDA backend queues it so the GPU keeps working while the host reads the next batch. Each backward
    /// pass draws one stochastic-rounding seed (<see cref="RngState"/>). The logits are not kept: <see cref="GetLogits"/> needs a
    /// <see cref="Forward"/>.
    /// </summary>
    void QueueForwardBackward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen, float lossScale, bool lastMicroStep);
    /// <summary>Waits for every queued micro-step and returns their mean losses in the order they were queued; the queue is then empty.</summary>
    float[] TakeLosses();
    /// <summary>Squared global L2 norm of the gradients, computed deterministically.</summary>
    double GradientNormSquared();
    /// <summary>
    /// One AdamW update of every parameter; weight decay only on the 2-D tensors. Draws one stochastic-rounding seed
    /// per parameter tensor after noting <see cref="RngStateLastUpdate"/>.
    /// </summary>
    void Update(in AdamWStep step);

    /// <summary>
    /// llm.c's stochastic-rounding seed stream (<see cref="Random.RoundingSeeds"/>, 13371337 + rank) as the state file
    /// records it (rng_state): one draw per backward pass, one per tensor per update. The CPU backend rounds nothing
    /// but advances the same stream, so its state files carry the same values.
    /// </summary>
    ulong RngState { get; }
    /// <summary>The value of <see cref="RngState"/> when the last update started (the state file's rng_state_last_update).</summary>
    ulong RngStateLastUpdate { get; }
    /// <summary>Continues the stream a state file recorded (resume).</summary>
    void RestoreRngState(ulong state, ulong stateLastUpdate);

    /// <summary>Optimizer state as stored in llm.c's state file: m, v, and master weights (empty span when the backend keeps none).</summary>
    bool KeepsMasterWeights { get; }
    /// <summary>
    /// The GELU fusion the backend runs (-ge after resolving −1 for the device, llm.c's gelu_fusion row of the config
    /// table); null for a backend without fused matmul epilogues (the CPU).
    /// </summary>
    int? ActiveGeluFusion => null;
    /// <summary>
    /// Element type of the parameters as the backend holds them, which its model checkpoints record (llm.c writes
    /// v5 bf16 files from bf16 builds, with or without master weights). Default: bf16 when the backend keeps fp32
    /// master weights (its parameters are then the lower-precision copy), else fp32.
    /// </summary>
    ModelDtype ParameterDtype => KeepsMasterWeights ? ModelDtype.Bf16 : ModelDtype.Fp32;
    /// <summary>
    /// Elements in each of m, v and master as this process stores them (the state file's shard_num_parameters):
    /// N, or N / processes when the optimizer state is sharded (ZeRO-1) in llm.c's sharded layout.
    /// </summary>
    long OptimizerStateCount => ParameterLayout.For(Config).Count;
    void GetOptimizerState(Span<float> m, Span<float> v, Span<float> master);
    void SetOptimizerState(ReadOnlySpan<float> m, ReadOnlySpan<float> v, ReadOnlySpan<float> master);
}
