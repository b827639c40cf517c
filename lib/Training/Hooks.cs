using LlmNet.Model;

namespace LlmNet.Training;

/// <summary>This process's HellaSwag result: examples answered correctly out of those it evaluated.</summary>
public readonly record struct HellaSwagScore(int Correct, int Total);

/// <summary>
/// Evaluates HellaSwag with the model as it stands (called on the validation schedule when --hellaswag 1).
/// Each process returns its own counts; the trainer sums them over the process group.
/// </summary>
public delegate HellaSwagScore HellaSwagEvaluator(IGptBackend backend, IProcessGroup group, CancellationToken ct);

/// <summary>What one update did: the values main.log records.</summary>
public readonly record struct StepRecord(int Step, float Loss, float LearningRate, float GradNorm, bool Skipped);

/// <summary>What a run did, for callers and tests: every update, every validation loss and HellaSwag accuracy, the samples.</summary>
public sealed class TrainResult
{
    public List<StepRecord> Steps { get; } = [];
    public List<(int Step, float Loss)> ValLosses { get; } = [];
    public List<(int Step, float Accuracy)> HellaSwag { get; } = [];
    public List<(int Step, int[] Tokens)> Samples { get; } = [];
    public int StartStep { get; set; }
    public int TrainNumBatches { get; set; }
}
