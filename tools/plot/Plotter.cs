using LlmNet.Common.Cli;
using LlmNet.Common.IO;
using LlmNet.Common.Logs;

namespace LlmNet.Tools.Plot;

/// <summary>What llm-plot was asked to do, after the command line was read.</summary>
public sealed record PlotRequest
{
    /// <summary>main.log files, or folders holding one (llm-train's -o folder).</summary>
    public required IReadOnlyList<string> Logs { get; init; }
    /// <summary>Image to write (.png or .svg); null prints only the summary.</summary>
    public string? Out { get; init; }
    /// <summary>Legend labels, in the order of <see cref="Logs"/>; missing ones default to the log's folder name.</summary>
    public IReadOnlyList<string> Labels { get; init; } = [];
    /// <summary>Reference size; null takes it from the logs' paths ("..._350M", "d24"), else 124M.</summary>
    public ModelSize? Size { get; init; }
    public FigureOptions Figure { get; init; } = new();
    public bool Watch { get; init; }
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(2);
    public bool Quiet { get; init; }
    public string? FontFile { get; init; }
}

/// <summary>Reads the logs, draws the figure, prints the summary; with --watch, again whenever a log changes.</summary>
public sealed class Plotter(PlotRequest request, TextWriter stdout, TextWriter stderr)
{
    private const string Tool = "llm-plot";
    private const int MaxIssuesShown = 10;

    private readonly Dictionary<string, int> _issuesReported = new();   // per log: the last line number already reported
    private readonly HashSet<string> _waitingFor = new();

    public int Run(CancellationToken ct)
    {
        var files = request.Logs.Select(ResolveLogPath).ToList();
        if (request.Labels.Count > files.Count)
            throw new UsageException($"{request.Labels.Count} --label values for {files.Count} logs; give at most one label per log");
        ImageKind? kind = null;
        if (request.Out is not null)
        {
            try { kind = Figure.KindOf(request.Out); }
            catch (ArgumentException e) { throw new UsageException($"--out {e.Message}"); }
            AtomicFile.CleanStaleTemps(request.Out);
        }
        var size = request.Size ?? SizeFromPaths(files) ?? ModelSize.Gpt2_124M;
        var figure = request.Figure with { Size = size };
        if (request.Out is not null && FontSetup.Configure(request.FontFile) is { } fontWarning) Warn(fontWarning);

        return request.Watch ? Watch(files, kind, figure, ct) : Once(files, kind, figure);
    }

    private int Once(List<string> files, ImageKind? kind, FigureOptions figure)
    {
        var logs = files.Select(f => Report(MainLogReader.Read(f))).ToList();
        if (logs.All(l => l.RecordCount == 0))
            throw new ToolException($"{logs[0].Path}: no 's:STEP KEY:VALUE' records. pass a main.log written by llm-train (or llm.c's train_gpt2)");
        foreach (var empty in logs.Where(l => l.RecordCount == 0)) Warn($"{empty.Path}: no records; drawn as an empty run");
        var runs = ToRuns(logs);
        if (kind is { } k) Render(runs, figure, k);
        if (!request.Quiet) PrintSummary(runs, figure.Size);
        return ToolRunner.Ok;
    }

    private int Watch(List<string> files, ImageKind? kind, FigureOptions figure, CancellationToken ct)
    {
        var seen = new (long Length, DateTime Modified)?[files.Count];
        var logs = new MainLog?[files.Count];
        List<RunCurves>? runs = null;
        if (!request.Quiet) stderr.WriteLine($"{Tool}: watching {string.Join(", ", files)} every {request.Interval.TotalSeconds:G3} s; Ctrl+C stops");
        while (!ct.IsCancellationRequested)
        {
            bool changed = false;
            for (int i = 0; i < files.Count; i++)
            {
                var info = new FileInfo(files[i]);
                if (!info.Exists)
                {
                    if (_waitingFor.Add(files[i]) && !request.Quiet) stderr.WriteLine($"{Tool}: waiting for {files[i]} to appear");
                    continue;
                }
                var stamp = (info.Length, info.LastWriteTimeUtc);
                if (seen[i] == stamp) continue;
                if (seen[i] is { } before && stamp.Length < before.Length) _issuesReported.Remove(files[i]);  // truncated: a fresh run
                try
                {
                    logs[i] = Report(MainLogReader.Read(files[i], holdBackPartialLine: true));
                    seen[i] = stamp;
                    changed = true;
                }
                catch (IOException e) { Warn($"{e.Message}; retrying"); }
            }
            if (changed && logs.Any(l => l is { RecordCount: > 0 }))
            {
                runs = ToRuns(logs.Select((l, i) => l ?? new MainLog(files[i])).ToList());
                if (kind is { } k) Render(runs, figure, k);
                if (!request.Quiet)
                    stderr.WriteLine($"{Tool}: {(request.Out is null ? "read" : $"wrote {request.Out}")} at step {runs.Max(r => r.Log.LastStep)} ({DateTime.Now:HH:mm:ss})");
            }
            ct.WaitHandle.WaitOne(request.Interval);
        }
        if (runs is not null && !request.Quiet) PrintSummary(runs, figure.Size);
        return ToolRunner.Ok;
    }

    private List<RunCurves> ToRuns(List<MainLog> logs)
    {
        var runs = new List<RunCurves>();
        var used = new Dictionary<string, int>();
        for (int i = 0; i < logs.Count; i++)
        {
            string label = i < request.Labels.Count ? request.Labels[i] : RunCurves.DefaultLabel(logs[i].Path);
            int n = used[label] = used.GetValueOrDefault(label) + 1;
            runs.Add(new RunCurves(logs[i], n == 1 ? label : $"{label} ({n})"));  // two logs in same-named folders stay apart
        }
        return runs;
    }

    private void Render(List<RunCurves> runs, FigureOptions figure, ImageKind kind)
    {
        string outPath = request.Out!;
        try
        {
            AtomicFile.Write(outPath, stream => Figure.Write(runs, figure, kind, stream));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ToolException($"{outPath}: cannot write the image ({e.Message}). choose a writable --out path", e);
        }
    }

    private void PrintSummary(List<RunCurves> runs, ModelSize size)
    {
        foreach (var run in runs) stdout.Write(RunSummary.Of(run, size).Format(size));
        stdout.Flush();
    }

    /// <summary>Prints the log's skipped lines that were not reported yet (a watched log is read many times).</summary>
    private MainLog Report(MainLog log)
    {
        int already = _issuesReported.GetValueOrDefault(log.Path);
        var fresh = log.Issues.Where(i => i.Line > already).ToList();
        foreach (var issue in fresh.Take(MaxIssuesShown)) Warn($"{issue}; line skipped");
        if (fresh.Count > MaxIssuesShown) Warn($"{log.Path}: {fresh.Count - MaxIssuesShown} more malformed lines skipped");
        if (fresh.Count > 0) _issuesReported[log.Path] = fresh[^1].Line;
        return log;
    }

    private void Warn(string message) => stderr.WriteLine($"{Tool}: warning: {message}");

    /// <summary>A folder stands for the main.log inside it, as llm-train -o writes it.</summary>
    private static string ResolveLogPath(string path) => Directory.Exists(path) ? Path.Combine(path, "main.log") : path;

    /// <summary>The size the logs' paths agree on, or null when they name none or disagree.</summary>
    private static ModelSize? SizeFromPaths(List<string> files)
    {
        var sizes = files.Select(ModelSize.FromPath).Where(s => s is not null).Distinct().ToList();
        return sizes.Count == 1 ? sizes[0] : null;
    }
}
