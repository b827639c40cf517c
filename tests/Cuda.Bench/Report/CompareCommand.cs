using System.Globalization;
using System.Text;

namespace LlmNet.Cuda.Bench.Report;

/// <summary>
/// <c>llm-cuda-bench compare BASE_DIR CAND_DIR [CAND_DIR...] [--out FILE] [--steps N] [--tol X]</c>: builds measured by
/// tests/gpu/speed-bench.sh (one OUT folder each; tests/gpu/ab-bench.sh writes them side by side) as one Markdown
/// table, every run of a candidate beside the same run of the base. The figures are <see cref="RunFigures"/>', as
/// <c>llm-cuda-bench report</c> prints them. Runs anywhere: no GPU is touched. Exit 0 when every comparison counts,
/// 1 otherwise (the table is printed either way), 2 on a bad command line.
/// </summary>
internal static class CompareCommand
{
    public const string Usage = "usage: llm-cuda-bench compare BASE_DIR CAND_DIR [CAND_DIR...] [--out FILE] [--steps N] [--tol X]  (each DIR: a speed-bench.sh OUT folder)";

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var dirs = new List<string>();
        string? outFile = null;
        int steps = 20;
        double tol = 0.01;
        for (int i = 1; i < args.Length; i++)
        {
            string a = args[i];
            if ((a is "--out" or "--steps" or "--tol") && i + 1 >= args.Length) return Fail(error, $"{a} needs a value. {Usage}");
            if (a == "--out") outFile = args[++i];
            else if (ReportCommand.TryLossCheckOption(args, ref i, ref steps, ref tol, out string? bad))
            {
                if (bad is not null) return Fail(error, bad);
            }
            else if (a.StartsWith('-')) return Fail(error, $"unknown option '{a}'. {Usage}");
            else dirs.Add(a);
        }
        if (dirs.Count < 2) return Fail(error, dirs.Count == 0 ? Usage : $"{dirs[0]}: no candidate to compare it with. {Usage}");
        foreach (string d in dirs)
            if (!Directory.Exists(d)) return Fail(error, $"{d}: no such folder; give speed-bench.sh's OUT folders, the base first");
        if (outFile is not null && Path.GetDirectoryName(Path.GetFullPath(outFile)) is { } outDir && !Directory.Exists(outDir))
            return Fail(error, $"--out {outFile}: folder {outDir} does not exist; create it or write the table elsewhere");

        string markdown;
        bool allCount;
        try
        {
            var builds = ComparedBuild.ReadAll(dirs, steps, tol);
            if (builds.All(b => b.Runs.Count == 0))
                return Fail(error, $"no *.run files in {string.Join(", ", dirs)}; run tests/gpu/ab-bench.sh (or speed-bench.sh per build) first", code: 1);
            (markdown, allCount) = Build(builds, steps, tol);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            return Fail(error, e.Message, code: 1);
        }
        output.Write(markdown);
        if (outFile is not null) File.WriteAllText(outFile, markdown);
        if (!allCount) error.WriteLine("llm-cuda-bench: compare: a comparison does not count (see the table's counts column)");
        return allCount ? 0 : 1;
    }

    /// <summary>The table, and whether every candidate's run counts against the base's.</summary>
    public static (string Markdown, bool AllCount) Build(IReadOnlyList<ComparedBuild> builds, int maxSteps, double tolerance)
    {
        var inv = CultureInfo.InvariantCulture;
        var baseBuild = builds[0];
        var md = new StringBuilder();
        md.AppendLine($"### `{baseBuild.Name}` (base) against {string.Join(", ", builds.Skip(1).Select(b => $"`{b.Name}`"))}");
        md.AppendLine();
        foreach (var b in builds) md.AppendLine($"- {b.Name}{(b == baseBuild ? " (base)" : "")}: `{b.Dir}`, {b.Describe()}");
        md.AppendLine();
        md.AppendLine("ms/step, tok/s and peak MiB are `llm-cuda-bench report`'s figures of each folder; Δ is the candidate's figure " +
                      "against the base's for the same run (negative ms/step: faster). A comparison counts only when both figures " +
                      "count (each run finished and matched its loss reference in the same run: every step up to " +
                      $"{maxSteps} and the first val loss within {tolerance.ToString(inv)}) and both ran on the same card (card.txt: " +
                      "name and power limit).");
        md.AppendLine();
        md.AppendLine("| run | build | ms/step | Δ ms/step | tok/s | peak MiB | Δ MiB | loss vs reference | counts |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|");

        // The base's runs in its order, then any run only a candidate has.
        var names = baseBuild.Runs.Select(r => r.Run.Name).ToList();
        names.AddRange(builds.Skip(1).SelectMany(b => b.Runs.Select(r => r.Run.Name)).Where(n => !names.Contains(n)).Distinct().Order(StringComparer.Ordinal));
        bool allCount = true;
        foreach (string name in names)
        {
            var baseRun = baseBuild.Find(name);
            md.AppendLine(baseRun is null
                ? $"| {name} | {baseBuild.Label} | — | base | — | — | base | — | no: no {name} run in {baseBuild.Name} |"
                : $"| {name} | {baseBuild.Label} | {SpeedReport.Opt(baseRun.MedianMs, "N1")} | base | {SpeedReport.Opt(baseRun.TokensPerSecond, "N0")} | " +
                  $"{SpeedReport.Opt(baseRun.PeakMemoryMib, "N0")} | base | {SpeedReport.CheckCell(baseRun)} | {baseRun.Verdict} |");
            foreach (var cand in builds.Skip(1))
            {
                var run = cand.Find(name);
                string why = WhyNot(baseBuild, baseRun, cand, run, name);
                allCount &= why.Length == 0;
                string counts = why.Length == 0 ? "yes" : $"no: {why}";
                md.AppendLine(run is null
                    ? $"| {name} | {cand.Label} | — | — | — | — | — | — | {counts} |"
                    : $"| {name} | {cand.Label} | {SpeedReport.Opt(run.MedianMs, "N1")} | {Percent(run.MedianMs, baseRun?.MedianMs)} | " +
                      $"{SpeedReport.Opt(run.TokensPerSecond, "N0")} | {SpeedReport.Opt(run.PeakMemoryMib, "N0")} | " +
                      $"{Difference(run.PeakMemoryMib, baseRun?.PeakMemoryMib)} | {SpeedReport.CheckCell(run)} | {counts} |");
            }
        }
        var left = builds.SelectMany(b => b.ReferenceRuns).Distinct().Order(StringComparer.Ordinal).ToList();
        if (left.Count > 0)
        {
            md.AppendLine();
            md.AppendLine($"Left out: {string.Join(", ", left)} (llm.c's reference runs: the same program whichever build is measured).");
        }
        return (md.ToString(), allCount);
    }

    /// <summary>Why a candidate's run does not count against the base's ("" when it does).</summary>
    private static string WhyNot(ComparedBuild baseBuild, RunFigures? baseRun, ComparedBuild cand, RunFigures? run, string name)
    {
        var why = new List<string>();
        if (baseRun is null) why.Add($"no {name} run in the base ({baseBuild.Name})");
        else if (!baseRun.Counts) why.Add($"base: {Reason(baseRun)}");
        if (run is null) why.Add($"no {name} run in {cand.Name}");
        else if (!run.Counts) why.Add($"{cand.Name}: {Reason(run)}");
        if (baseRun is not null && run is not null && SameCard(baseBuild, cand) is { Length: > 0 } card) why.Add(card);
        return string.Join("; ", why);
    }

    private static string Reason(RunFigures f) => f.Verdict.StartsWith("no: ", StringComparison.Ordinal) ? f.Verdict[4..] : f.Verdict;

    /// <summary>"" when both folders' card.txt name the same card at the same power limit, else why not.</summary>
    private static string SameCard(ComparedBuild a, ComparedBuild b)
    {
        if (a.CardName is null || b.CardName is null)
            return $"card unknown ({string.Join(", ", new[] { a, b }.Where(x => x.CardName is null).Select(x => x.Name))}: no card.txt)";
        if (a.CardName != b.CardName) return $"different cards ({a.CardName} / {b.CardName})";
        string? pa = a.Card.GetValueOrDefault("power_limit_w"), pb = b.Card.GetValueOrDefault("power_limit_w");
        if (SpeedReport.Num(pa) != SpeedReport.Num(pb)) return $"different power limits ({pa ?? "unknown"} / {pb ?? "unknown"} W)";
        return "";
    }

    private static string Percent(double? value, double? baseValue) =>
        value is double v && baseValue is double b && b > 0
            ? (100 * (v / b - 1)).ToString("+0.0'%';-0.0'%';0.0'%'", CultureInfo.InvariantCulture) : "—";

    private static string Difference(double? value, double? baseValue) =>
        value is double v && baseValue is double b ? (v - b).ToString("+#,0;-#,0;0", CultureInfo.InvariantCulture) : "—";

    private static int Fail(TextWriter error, string message, int code = 2)
    {
        error.WriteLine($"llm-cuda-bench: compare: {message}");
        return code;
    }
}

/// <summary>One build's speed-bench.sh OUT folder: its card.txt and the figures of its measured runs, in the folder's order.</summary>
internal sealed record ComparedBuild(
    string Name,
    string Dir,
    Dictionary<string, string> Card,
    IReadOnlyList<RunFigures> Runs,
    IReadOnlyList<string> ReferenceRuns)
{
    public RunFigures? Find(string run) => Runs.FirstOrDefault(r => r.Run.Name == run);

    public string? CardName => Card.GetValueOrDefault("card");

    public string Commit => Card.GetValueOrDefault("commit") ?? "unknown";

    /// <summary>The table's build cell: the folder's name and the commit card.txt records.</summary>
    public string Label => $"{Name} ({Commit})";

    public string Describe()
    {
        var parts = new List<string> { $"commit {Commit}", CardName ?? "no card.txt" };
        if (Card.GetValueOrDefault("power_limit_w") is { } limit && SpeedReport.Num(limit) is double w)
            parts.Add($"power limit {w.ToString("F0", CultureInfo.InvariantCulture)} W");
        if (Card.GetValueOrDefault("date") is { } date) parts.Add(date);
        return string.Join(", ", parts);
    }

    /// <summary>
    /// The folders in order; each is named by its last path component, or by the path as given where two folders share
    /// that name (out1/new and out2/new).
    /// </summary>
    public static IReadOnlyList<ComparedBuild> ReadAll(IReadOnlyList<string> dirs, int maxSteps, double tolerance)
    {
        static string Leaf(string d) => Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(d)));
        var leaves = dirs.Select(Leaf).ToList();
        return [.. dirs.Select((d, i) => Read(leaves.Count(l => l == leaves[i]) > 1 ? d : leaves[i], d, maxSteps, tolerance))];
    }

    private static ComparedBuild Read(string name, string dir, int maxSteps, double tolerance)
    {
        var card = KeyValueFile.Read(Path.Combine(dir, "card.txt"));
        var runs = BenchRun.ReadAll(dir);
        return new ComparedBuild(name, dir, card,
            [.. runs.Where(r => !r.IsReference).Select(r => RunFigures.Measure(r, card.GetValueOrDefault("card"), maxSteps, tolerance))],
            [.. runs.Where(r => r.IsReference).Select(r => r.Name)]);
    }
}
