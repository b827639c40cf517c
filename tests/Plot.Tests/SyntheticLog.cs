using System.Globalization;
using System.Text;

namespace LlmNet.Plot.Tests;

/// <summary>Writes main.log text the way llm.c's trainer formats it (llmc/logger.h), with known curves.</summary>
public static class SyntheticLog
{
    /// <summary>
    /// A run of <paramref name="steps"/> steps: train loss decaying from about 11 toward <paramref name="floor"/>,
    /// val loss every <paramref name="valEvery"/> steps, HellaSwag every <paramref name="evalEvery"/> steps rising
    /// linearly from 0.25 to <paramref name="finalHellaSwag"/>.
    /// </summary>
    public static string Run(int steps, double floor = 3.0, int valEvery = 50, int evalEvery = 100, double finalHellaSwag = 0.31)
    {
        var sb = new StringBuilder();
        var ic = CultureInfo.InvariantCulture;
        for (int s = 0; s < steps; s++)
        {
            double loss = TrainLoss(s, floor);
            double lr = 6e-4 * Math.Min(1.0, (s + 1) / 20.0);
            double norm = s == 0 ? 25.0 : 0.5 + 0.2 * Math.Sin(s);
            sb.Append(ic, $"s:{s} trl:{loss:F4} lr:{lr:F6} norm:{norm:F2}\n");
            if (s % valEvery == 0 || s == steps - 1) sb.Append(ic, $"s:{s} tel:{loss + 0.05:F4}\n");
            if (s % evalEvery == 0 || s == steps - 1) sb.Append(ic, $"s:{s} eval:{HellaSwag(s, steps, finalHellaSwag):F4}\n");
        }
        return sb.ToString();
    }

    public static double TrainLoss(int step, double floor) => floor + 8 * Math.Exp(-step / 60.0) + 0.05 * Math.Sin(step * 0.7);

    public static double HellaSwag(int step, int steps, double final) => 0.25 + (final - 0.25) * step / Math.Max(1, steps - 1);

    /// <summary>Writes <paramref name="text"/> to DIR/main.log under a fresh temp folder named <paramref name="runName"/>.</summary>
    public static string WriteRun(string root, string runName, string text)
    {
        string dir = Path.Combine(root, runName);
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, "main.log");
        File.WriteAllText(path, text);
        return path;
    }
}

/// <summary>A temporary folder removed after the test.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "llmnet-plot-" + Guid.NewGuid().ToString("N")[..12]);
    public TempDir() => Directory.CreateDirectory(Path);
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
}
