using LlmNet.Common.Logs;

namespace LlmNet.Tools.Plot;

/// <summary>A step-sorted curve ready to draw: finite points only (NaN/inf losses are counted, not drawn).</summary>
public sealed record Curve(double[] Steps, double[] Values, int NonFinite)
{
    public int Count => Steps.Length;
    public bool IsEmpty => Steps.Length == 0;

    public static Curve From(IEnumerable<KeyValuePair<int, float>> points)
    {
        var xs = new List<double>(); var ys = new List<double>(); int bad = 0;
        foreach (var (step, value) in points)
        {
            if (!float.IsFinite(value)) { bad++; continue; }
            xs.Add(step); ys.Add(value);
        }
        return new Curve(xs.ToArray(), ys.ToArray(), bad);
    }
}

/// <summary>One run to draw: its main.log, its legend label and its curves.</summary>
public sealed class RunCurves
{
    public string Label { get; }
    public MainLog Log { get; }
    public Curve Train { get; }
    public Curve Val { get; }
    public Curve HellaSwag { get; }
    public Curve LearningRate { get; }
    public Curve GradNorm { get; }

    public RunCurves(MainLog log, string label)
    {
        Log = log;
        Label = label;
        Train = Curve.From(log.Train.Select(p => KeyValuePair.Create(p.Key, p.Value.Loss)));
        Val = Curve.From(log.Val);
        HellaSwag = Curve.From(log.HellaSwag);
        LearningRate = Curve.From(log.Train.Where(p => p.Value.LearningRate.HasValue).Select(p => KeyValuePair.Create(p.Key, p.Value.LearningRate!.Value)));
        GradNorm = Curve.From(log.Train.Where(p => p.Value.GradNorm.HasValue).Select(p => KeyValuePair.Create(p.Key, p.Value.GradNorm!.Value)));
    }

    /// <summary>The default label of a log: the name of the folder holding it (llm-train's -o folder).</summary>
    public static string DefaultLabel(string logPath)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(logPath));
        string name = dir is null ? "" : Path.GetFileName(dir);
        return name.Length > 0 ? name : Path.GetFileName(logPath);
    }
}
