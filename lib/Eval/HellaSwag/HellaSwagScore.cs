using LlmNet.Model;

namespace LlmNet.Eval.HellaSwag;

/// <summary>
/// The result of scoring a set of examples: <see cref="Correct"/> of <see cref="Total"/>, plus the
/// per-example predictions when they were asked for. On one rank of a multi-process run the counts
/// cover only that rank's share; <see cref="Reduce"/> sums them over the group.
/// </summary>
public sealed record HellaSwagScore(int Correct, int Total, double Seconds, IReadOnlyList<HellaSwagPrediction>? Predictions = null)
{
    public double Accuracy => Total == 0 ? 0 : (double)Correct / Total;
    public double ExamplesPerSecond => Seconds > 0 ? Total / Seconds : 0;

    /// <summary>Sums the counts of every process (llm.c all-reduces the correct count the same way); keeps this rank's predictions.</summary>
    public HellaSwagScore Reduce(IProcessGroup group)
    {
        if (group.Size == 1) return this;
        int correct = (int)Math.Round(group.AllReduceSum(Correct));
        int total = (int)Math.Round(group.AllReduceSum(Total));
        return this with { Correct = correct, Total = total };
    }
}
