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
/// gradients and optimizer state resident there, driven one (B,T) micro-batch at a time.
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
    /// span returns NaN (inference only: logits are kept for <see cref="GetLogits"/>).
    /// </summary>
    float Forward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen);
    /// <summary>The first V logits at (row, position) of the last forward pass.</summary>
    void GetLogits(int row, int position, Span<float> values);
    /// <summary>Per-position losses (B·T) of the last forward pass with targets.</summary>
    void GetLosses(Span<float> values);

    /// <summary>Sets all gradients to zero (start of an accumulation window).</summary>
    void ZeroGradients();
    /// <summary>Backward pass of the last forward with targets; dloss per position = lossScale (1/(B·T·accum)). Gradients accumulate (+=).</summary>
    void Backward(float lossScale);
    /// <summary>
    /// Backward with the position in the accumulation window: on the last micro-step a multi-process backend
    /// averages the gradients across processes (after that, <see cref="GradientNormSquared"/> and
    /// <see cref="Update"/> see the averaged gradients). A single-process backend needs only the first overload.
    /// </summary>
    void Backward(float lossScale, bool lastMicroStep) => Backward(lossScale);
    /// <summary>
    /// One training micro-step: <see cref="Forward"/> with targets, then <see cref="Backward(float, bool)"/>;
    /// returns the mean loss. A backend may fuse the two (the CUDA backend computes the loss and the logits'
    /// gradient in one kernel and queues the whole backward before reading the losses back); gradients, losses
    /// and <see cref="GetLosses"/> are then as after the separate calls, while the logits are not kept.
    /// </summary>
    float ForwardBackward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen, float lossScale, bool lastMicroStep)
    {
        if (targets.IsEmpty) throw new ArgumentException("a training micro-step needs targets", nameof(targets));
        float loss = Forward(inputs, targets, batchSize, seqLen);
        Backward(lossScale, lastMicroStep);
        return loss;
    }
    /// <summary>Squared global L2 norm of the gradients, computed deterministically.</summary>
    double GradientNormSquared();
    /// <summary>Copies the gradients out as fp32 (tests, debugging).</summary>
    void GetGradients(Span<float> values);
    /// <summary>One AdamW update of every parameter; weight decay only on the 2-D tensors.</summary>
    void Update(in AdamWStep step);

    /// <summary>Optimizer state as stored in llm.c's state file: m, v, and master weights (empty span when the backend keeps none).</summary>
    bool KeepsMasterWeights { get; }
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
