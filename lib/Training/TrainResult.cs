namespace LlmNet.Training;

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
