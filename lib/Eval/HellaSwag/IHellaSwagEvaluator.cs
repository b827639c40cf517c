using LlmNet.Model;

namespace LlmNet.Eval.HellaSwag;

/// <summary>
/// What a trainer needs of HellaSwag evaluation for llm.c's -h 1 (train_gpt2.cu: main's evaluation block): this
/// process's score with the model as it stands. <see cref="HellaSwagEvaluator"/> is the implementation.
/// </summary>
public interface IHellaSwagEvaluator
{
    /// <summary>Scores this rank's examples in batches of <paramref name="batchSize"/> rows of <paramref name="seqLen"/> positions; the counts are this rank's.</summary>
    HellaSwagScore Evaluate(IGptBackend backend, int batchSize, int seqLen, CancellationToken ct);
}
