using System.Globalization;
using System.Text;

namespace LlmNet.Tools.Plot;

/// <summary>A point of a curve: the step and the value there.</summary>
public readonly record struct StepValue(int Step, double Value);

/// <summary>
/// The numbers a person looks for in a run, for terminals without images: best train and val loss,
/// best HellaSwag, and the first step at which each OpenAI baseline was reached.
/// </summary>
public sealed record RunSummary(
    string Label, string Path, int LastStep, int TrainCount, int ValCount, int HellaSwagCount,
    StepValue? MinTrain, StepValue? LastTrain, StepValue? MinVal, StepValue? LastVal,
    StepValue? MaxHellaSwag, StepValue? LastHellaSwag,
    int? Gpt2ValLossBeatenAt, int? Gpt2HellaSwagCrossedAt, int? Gpt3HellaSwagCrossedAt, int NonFinite)
{
    public static RunSummary Of(RunCurves run, ModelSize size)
    {
        return new RunSummary(
            run.Label, run.Log.Path, run.Log.LastStep, run.Log.Train.Count, run.Log.Val.Count, run.Log.HellaSwag.Count,
            Extreme(run.Train, min: true), Last(run.Train), Extreme(run.Val, min: true), Last(run.Val),
            Extreme(run.HellaSwag, min: false), Last(run.HellaSwag),
            FirstStep(run.Val, v => v <= size.Gpt2ValLoss),
            FirstStep(run.HellaSwag, v => v >= size.Gpt2HellaSwag),
            FirstStep(run.HellaSwag, v => v >= size.Gpt3HellaSwag),
            run.Train.NonFinite + run.Val.NonFinite + run.HellaSwag.NonFinite);
    }

    private static StepValue? Extreme(Curve c, bool min)
    {
        if (c.IsEmpty) return null;
        int best = 0;
        for (int i = 1; i < c.Count; i++)
            if (min ? c.Values[i] < c.Values[best] : c.Values[i] > c.Values[best]) best = i; // the first step wins ties
        return new StepValue((int)c.Steps[best], c.Values[best]);
    }

    private static StepValue? Last(Curve c) => c.IsEmpty ? null : new StepValue((int)c.Steps[^1], c.Values[^1]);

    private static int? FirstStep(Curve c, Func<double, bool> reached)
    {
        for (int i = 0; i < c.Count; i++)
            if (reached(c.Values[i])) return (int)c.Steps[i];
        return null;
    }

    /// <summary>The summary as a few aligned lines of text.</summary>
    public string Format(ModelSize size)
    {
        var ic = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(ic, $"{Label}  ({Path})\n");
        if (LastStep < 0) { sb.Append("  no records yet\n"); return sb.ToString(); }
        sb.Append(ic, $"  steps       0..{LastStep}: {TrainCount} train, {ValCount} val, {HellaSwagCount} HellaSwag records");
        if (NonFinite > 0) sb.Append(ic, $", {NonFinite} NaN/inf values (not drawn)");
        sb.Append('\n');
        if (MinTrain is { } mt)
            sb.Append(ic, $"  train loss  min {mt.Value:F4} at step {mt.Step}, last {LastTrain!.Value.Value:F4} at step {LastTrain.Value.Step}\n");
        if (MinVal is { } mv)
            sb.Append(ic, $"  val loss    min {mv.Value:F4} at step {mv.Step}, last {LastVal!.Value.Value:F4}; " +
                          $"GPT-2 {size.Name} {size.Gpt2ValLoss:F4} {Reached(Gpt2ValLossBeatenAt, "beaten")}\n");
        if (MaxHellaSwag is { } mh)
            sb.Append(ic, $"  HellaSwag   max {mh.Value:F4} at step {mh.Step}, last {LastHellaSwag!.Value.Value:F4}; " +
                          $"GPT-2 {size.Name} {size.Gpt2HellaSwag:F4} {Reached(Gpt2HellaSwagCrossedAt, "crossed")}; " +
                          $"GPT-3 {size.Name} {size.Gpt3HellaSwag:F4} {Reached(Gpt3HellaSwagCrossedAt, "crossed")}\n");
        return sb.ToString();
    }

    private static string Reached(int? step, string verb) =>
        step is { } s ? $"{verb} at step {s.ToString(CultureInfo.InvariantCulture)}" : "not reached";
}
