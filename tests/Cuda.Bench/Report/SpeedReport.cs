using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using LlmNet.Training.Logging;

namespace LlmNet.Cuda.Bench.Report;

/// <summary>
/// The Markdown that <c>llm-cuda-bench report DIR</c> prints for one tests/gpu/speed-bench.sh call, ready for
/// docs/performance.md: the card, one row per run with its speed figures beside the loss check of the same run, the
/// loss check's details and, when the call ran the profile stage, the per-kernel table.
/// </summary>
internal static partial class SpeedReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The report, and whether every run finished and every loss check passed.</summary>
    public static (string Markdown, bool AllPassed) Build(string dir, int maxSteps, double tolerance)
    {
        var card = KeyValueFile.Read(Path.Combine(dir, "card.txt"));
        var runs = BenchRun.ReadAll(dir);
        if (runs.Count == 0) throw new InvalidDataException($"{dir}: no *.run files; run tests/gpu/speed-bench.sh with OUT={dir} first");
        string? cardName = card.GetValueOrDefault("card");
        var figures = runs.Select(r => RunFigures.Measure(r, cardName, maxSteps, tolerance)).ToList();

        var md = new StringBuilder();
        string device = cardName ?? runs.Select(r => r.Log.Header.GetValueOrDefault("device")).FirstOrDefault(d => d is not null) ?? "unknown GPU";
        md.AppendLine($"### {device}, {card.GetValueOrDefault("date") ?? "date unknown"}, commit {card.GetValueOrDefault("commit") ?? "unknown"}");
        md.AppendLine();
        md.AppendLine(CardLine(card, device));
        md.AppendLine();
        double? peak = PeakFlops.Bf16Tflops(device);
        md.AppendLine($"Step time is the median of each run's steps after its warm-up steps; tok/s is the total batch size over it; MFU " +
                      $"counts 6N + 6LCT flops per token against {(peak is double p ? $"{p:F1} TFLOP/s (bf16 dense)" : "the card's peak (unknown here)")}; " +
                      "peak MiB is nvidia-smi's highest memory.used during the run; W and MHz average its power.draw and clocks.sm over " +
                      $"the timed steps (100 ms samples). A figure counts only beside a loss that matched the reference in the same run: " +
                      $"every step up to {maxSteps} and the first val loss within {tolerance.ToString(Inv)}.");
        md.AppendLine();
        md.AppendLine("| run | command | timed steps | ms/step | tok/s | MFU | peak MiB | W | SM MHz | loss vs reference | counts |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var f in figures) md.AppendLine(Row(f));
        foreach (var f in figures.Where(f => f.Run.Note is not null))
        {
            md.AppendLine();
            md.AppendLine($"{f.Run.Name}: {f.Run.Note}.");
        }
        if (figures.Select(f => f.Run.CommonFlags).Distinct().ToList() is [{ Length: > 0 } common])
        {
            md.AppendLine();
            md.AppendLine($"Every command also had llm.c's common flags `{common}`.");
        }

        if (figures.Any(f => f.Run.ReferenceFile is not null))
        {
            md.AppendLine();
            md.AppendLine("Loss checks (max |Δ| over the steps both logs hold, up to the limit; val losses ours / reference):");
            md.AppendLine();
            md.AppendLine("| run | reference | steps | max \\|Δ loss\\| (step) | first val | last val | result |");
            md.AppendLine("|---|---|---|---|---|---|---|");
            foreach (var f in figures.Where(f => f.Run.ReferenceFile is not null)) md.AppendLine(CheckRow(f));
        }

        string profile = Path.Combine(dir, "profile_d48.log");
        if (File.Exists(profile)) AppendProfile(md, File.ReadLines(profile));

        bool allPassed = figures.All(f => !f.Failed);
        return (md.ToString(), allPassed);
    }

    private static string CardLine(Dictionary<string, string> card, string device)
    {
        var parts = new List<string> { device };
        if (card.GetValueOrDefault("driver") is { } driver) parts.Add($"driver {driver}");
        if (card.GetValueOrDefault("cuda") is { } cuda) parts.Add($"CUDA {cuda}");
        if (Num(card.GetValueOrDefault("power_limit_w")) is double limit) parts.Add($"power limit {limit:F0} W");
        if (Num(card.GetValueOrDefault("memory_mib")) is double mem) parts.Add($"{mem.ToString("N0", Inv)} MiB");
        if (Num(card.GetValueOrDefault("max_sm_mhz")) is double mhz) parts.Add($"max SM clock {mhz:F0} MHz");
        string line = string.Join(", ", parts) + ".";
        if (card.GetValueOrDefault("data") is { } data) line += $" Data: `{data}`.";
        return line;
    }

    private static string Row(RunFigures f)
    {
        var r = f.Run;
        string command = $"`{r.Program} {r.Flags}`".Replace("|", "\\|", StringComparison.Ordinal);
        string steps = f.TimedSteps > 0 ? $"{f.TimedSteps} (after {r.Warmup})" : "0";
        return $"| {r.Name} | {command} | {steps} | {Opt(f.MedianMs, "N1")} | {Opt(f.TokensPerSecond, "N0")} | " +
               $"{(f.Mfu is double m ? (100 * m).ToString("F1", Inv) + "%" : "—")} | {Opt(f.PeakMemoryMib, "N0")} | " +
               $"{Opt(f.MeanPowerW, "F0")} | {Opt(f.MeanSmMhz, "N0")} | {CheckCell(f)} | {f.Verdict} |";
    }

    /// <summary>The "loss vs reference" cell: PASS or FAIL with the largest difference, or why there is no check.</summary>
    public static string CheckCell(RunFigures f) =>
        f.Run.IsReference ? "—"
        : f.Check is null ? (f.Run.ReferenceFile is null ? "no reference" : $"{f.Run.ReferenceFile} missing")
        : $"{(f.Check.Pass ? "PASS" : "FAIL")} {LossCheck.Format(f.Check.MaxDiff)} over {f.Check.StepsCompared} steps";

    private static string CheckRow(RunFigures f)
    {
        string Pair((double Ours, double Reference)? v) => v is var (o, r) ? $"{o:F6} / {r:F6}" : "—";
        var c = f.Check;
        if (c is null) return $"| {f.Run.Name} | {f.Run.ReferenceFile} (missing) | — | — | — | — | no reference |";
        string worst = c.StepsCompared > 0 ? $"{LossCheck.Format(c.MaxDiff)} ({c.WorstStep})" : "—";
        string result = c.Pass ? "PASS" : $"FAIL: {c.Problem}";
        return $"| {f.Run.Name} | {f.Run.ReferenceFile} | {c.StepsCompared} | {worst} | {Pair(c.FirstVal)} | {Pair(c.LastVal)} | {result} |";
    }

    /// <summary>
    /// llm-cuda-bench train's "PROFILE" lines (LLMNET_CUDA_PROFILE=1, lib/Cuda/KernelProfiler.cs) as a table: the
    /// kernels run one at a time, so this shows where a micro-step's time goes, never how fast it runs.
    /// </summary>
    private static void AppendProfile(StringBuilder md, IEnumerable<string> lines)
    {
        string? summary = null;
        var rows = new List<(double Ms, string Pct, string Count, string Name)>();
        foreach (string line in lines)
        {
            if (ProfileSummary().Match(line) is { Success: true } s) summary = s.Groups[1].Value;
            else if (ProfileRow().Match(line) is { Success: true } p)
                rows.Add((double.Parse(p.Groups[1].Value, Inv), p.Groups[2].Value, p.Groups[3].Value, p.Groups[4].Value.Trim()));
        }
        if (rows.Count == 0) return;
        md.AppendLine();
        md.AppendLine($"Per-kernel time of one d48 micro-step (`LLMNET_CUDA_PROFILE=1 llm-cuda-bench train`, every launch timed alone " +
                      $"and waited for: serialized, not a throughput figure){(summary is null ? "" : $": {summary}")}.");
        md.AppendLine();
        md.AppendLine("| ms | share | calls | kernel or matmul |");
        md.AppendLine("|---|---|---|---|");
        const int shown = 25;
        foreach (var r in rows.Take(shown)) md.AppendLine($"| {r.Ms:F2} | {r.Pct}% | {r.Count} | `{r.Name.Replace("|", "\\|", StringComparison.Ordinal)}` |");
        if (rows.Count > shown)
            md.AppendLine($"| {rows.Skip(shown).Sum(r => r.Ms):F2} | | | {rows.Count - shown} others |");
    }

    public static string Opt(double? v, string format) => v is double x ? x.ToString(format, Inv) : "—";

    public static double? Num(string? s) =>
        double.TryParse(s, NumberStyles.Float, Inv, out double v) ? v : null;

    [GeneratedRegex(@"^PROFILE step \d+: (.*)$")]
    private static partial Regex ProfileSummary();

    [GeneratedRegex(@"^PROFILE\s+([0-9.]+) ms\s+([0-9.]+)%\s+(\d+)x\s+(.+)$")]
    private static partial Regex ProfileRow();
}
