namespace LlmNet.Training.Optim;

/// <summary>
/// llm.c's learning-rate schedules, computed in float exactly as llmc/schedulers.h (get_learning_rate) does:
/// cosine, linear, constant and wsd (warmup–stable–decay), all but constant with a linear warmup.
/// </summary>
public sealed class LearningRateScheduler
{
    public static readonly string[] Types = ["cosine", "linear", "constant", "wsd"];

    public LearningRateScheduler(string type, float learningRate, int warmupIterations, int trainNumBatches, float finalLearningRateFraction)
    {
        if (!Types.Contains(type))
            throw new ArgumentException($"unknown learning rate scheduler '{type}': use cosine, linear, constant or wsd");
        Type = type;
        LearningRate = learningRate;
        WarmupIterations = warmupIterations;
        TrainNumBatches = trainNumBatches;
        FinalFraction = finalLearningRateFraction;
    }

    public string Type { get; }
    public float LearningRate { get; }
    public int WarmupIterations { get; }
    public int TrainNumBatches { get; }
    public float FinalFraction { get; }

    /// <summary>The learning rate for the update of step <paramref name="step"/> (0-based).</summary>
    public float At(int step) => Type switch
    {
        "cosine" => Cosine(step),
        "linear" => Linear(step),
        "constant" => LearningRate,
        _ => Wsd(step),
    };

    private float Warmup(int step) => LearningRate * (float)(step + 1) / WarmupIterations;

    private float DecayRatio(int step, int from)
    {
        float ratio = (float)(step - from) / (TrainNumBatches - from);
        if (!(ratio >= 0f && ratio <= 1f))
            throw new InvalidOperationException($"learning-rate decay ratio {ratio} at step {step} is outside [0, 1] (warmup {WarmupIterations}, steps {TrainNumBatches})");
        return ratio;
    }

    private float MinLr => LearningRate * FinalFraction;

    private float Cosine(int step)
    {
        if (step < WarmupIterations) return Warmup(step);
        float ratio = DecayRatio(step, WarmupIterations);
        float coeff = 0.5f * (1.0f + MathF.Cos((float)(Math.PI * ratio)));
        return MinLr + coeff * (LearningRate - MinLr);
    }

    private float Linear(int step)
    {
        if (step < WarmupIterations) return Warmup(step);
        float ratio = DecayRatio(step, WarmupIterations);
        return LearningRate - ratio * (LearningRate - MinLr);
    }

    private float Wsd(int step)
    {
        int decayPoint = (int)(0.8f * TrainNumBatches);
        if (step < WarmupIterations) return Warmup(step);
        if (step < decayPoint) return LearningRate;
        float ratio = DecayRatio(step, decayPoint);
        return MinLr + (1.0f - MathF.Sqrt(ratio)) * (LearningRate - MinLr);
    }
}
