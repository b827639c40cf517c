namespace LlmNet.Cuda.Bench.Report;

/// <summary>
/// A run's losses against a reference run's (llm.c's stored output, or llm.c run in the same call), as
/// tests/gpu/compare_losses.py compares them: every step up to <c>maxSteps</c> that both logs hold within
/// <c>tolerance</c>, and the first val loss (step 0, before any update) within it too. The run must hold every
/// reference step up to <c>maxSteps</c>. Later val losses are shown, not checked: a correct bf16 backend drifts
/// from the reference over tens of steps (docs/performance.md, "Correctness ladder").
/// </summary>
internal sealed record LossCheck(
    bool Pass,
    int StepsCompared,
    double MaxDiff,
    int WorstStep,
    (double Ours, double Reference)? FirstVal,
    (double Ours, double Reference)? LastVal,
    string? Problem)
{
    public static LossCheck Compare(TrainLog ours, TrainLog reference, int maxSteps, double tolerance)
    {
        var mine = Losses(ours);
        var theirs = Losses(reference);
        var wanted = theirs.Keys.Where(s => s <= maxSteps).Order().ToList();
        var common = wanted.Where(mine.ContainsKey).ToList();
        double worst = 0;
        int worstStep = 0;
        foreach (int s in common)
        {
            double d = Math.Abs(mine[s] - theirs[s]);
            if (!double.IsFinite(d)) d = double.PositiveInfinity;
            if (d > worst || worstStep == 0) (worst, worstStep) = (d, s);
        }
        (double, double)? firstVal = ours.ValLosses.Count > 0 && reference.ValLosses.Count > 0
            ? (ours.ValLosses[0], reference.ValLosses[0]) : null;
        bool sameEnd = mine.Count > 0 && theirs.Count > 0 && mine.Keys.Max() == theirs.Keys.Max();
        (double, double)? lastVal = sameEnd && ours.ValLosses.Count > 1 && reference.ValLosses.Count > 1
            ? (ours.ValLosses[^1], reference.ValLosses[^1]) : null;

        string? problem = null;
        if (wanted.Count == 0) problem = "the reference has no step lines";
        else if (common.Count == 0) problem = "no step lines";
        else if (common.Count < wanted.Count) problem = $"steps {wanted.First(s => !mine.ContainsKey(s))}.. missing";
        else if (!(worst <= tolerance)) problem = $"step {worstStep} off by {Format(worst)}";
        else if (firstVal is var (o, r) && !(Math.Abs(o - r) <= tolerance)) problem = $"first val loss off by {Format(Math.Abs(o - r))}";
        return new LossCheck(problem is null, common.Count, worst, worstStep, firstVal, lastVal, problem);
    }

    /// <summary>Step → loss; a step printed twice (a resumed log) keeps its last line.</summary>
    private static Dictionary<int, double> Losses(TrainLog log)
    {
        var d = new Dictionary<int, double>();
        foreach (var s in log.Steps) d[s.Step] = s.Loss;
        return d;
    }

    public static string Format(double diff) =>
        double.IsFinite(diff) ? diff.ToString("0.0e+0", System.Globalization.CultureInfo.InvariantCulture) : "inf";
}
