using Spectre.Console;

namespace LlmNet.Tools.Fetch;

/// <summary>
/// Live progress bars on a terminal: one bar for the whole run (bytes, rate, ETA) and one per active download.
/// Retries show in the file's bar; failures are listed once the display closes.
/// </summary>
public sealed class SpectreProgress : IFetchProgress
{
    private readonly Lock _lock = new();
    private readonly ProgressContext _context;
    private readonly Dictionary<string, ProgressTask> _tasks = new();
    private readonly List<string> _failures = new();
    private ProgressTask? _overall;
    private readonly Dictionary<string, long> _bytes = new();
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private int _files, _downloaded, _skipped;
    private long _transferred;

    private SpectreProgress(ProgressContext context) => _context = context;

    /// <summary>Runs <paramref name="work"/> under a live progress display on stderr.</summary>
    public static async Task RunAsync(Func<IFetchProgress, Task> work)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        SpectreProgress? reporter = null;
        try
        {
            await console.Progress()
                .AutoClear(false)
                .HideCompleted(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                         new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                .StartAsync(async ctx =>
                {
                    reporter = new SpectreProgress(ctx);
                    await work(reporter).ConfigureAwait(false);
                }).ConfigureAwait(false);
        }
        finally
        {
            if (reporter is not null)
            {
                // A single failure is the run's error line; several are listed here, once the bars are gone.
                if (reporter._files > 1)
                    foreach (string f in reporter._failures) console.MarkupLineInterpolated($"[red]failed:[/] {f}");
                var r = reporter;
                double secs = Math.Max(r._clock.Elapsed.TotalSeconds, 1e-3);
                console.WriteLine($"llm-fetch: {r._downloaded + r._skipped}/{r._files} files ready ({r._downloaded} downloaded, {r._skipped} already present); "
                    + $"{Human.Bytes(r._transferred)} transferred in {Human.Duration(r._clock.Elapsed)} ({Human.Bytes(r._transferred / secs)}/s)");
            }
        }
    }

    public void Begin(int files, long? totalBytes)
    {
        lock (_lock)
        {
            _files = files;
            _overall = _context.AddTask($"{files} files", maxValue: Math.Max(1, totalBytes ?? 1));
            _overall.IsIndeterminate = totalBytes is null;
        }
    }

    public void FileStarted(string name, long? size, long resumedFrom)
    {
        lock (_lock)
        {
            if (!_tasks.TryGetValue(name, out var task))
            {
                task = _context.AddTask(Markup.Escape(name), maxValue: Math.Max(1, size ?? 1));
                _tasks[name] = task;
            }
            task.Description = Markup.Escape(name);
            task.IsIndeterminate = size is null;
            if (size is { } s) task.MaxValue = Math.Max(1, s);
            SetBytes(name, task, resumedFrom);
        }
    }

    public void FileProgress(string name, long bytesOnDisk)
    {
        lock (_lock) if (_tasks.TryGetValue(name, out var task)) SetBytes(name, task, bytesOnDisk);
    }

    public void FileFinished(string name, long size)
    {
        lock (_lock) _downloaded++;
        Complete(name, size);
    }

    public void FileSkipped(string name, long size)
    {
        lock (_lock) _skipped++;
        Complete(name, size);
    }

    public void FileFailed(string name, string message)
    {
        lock (_lock)
        {
            _failures.Add(message);
            if (_tasks.TryGetValue(name, out var task)) task.StopTask();
        }
    }

    public void Retrying(string name, string reason, TimeSpan delay, int attempt, int maxAttempts)
    {
        lock (_lock)
            if (_tasks.TryGetValue(name, out var task))
                task.Description = $"{Markup.Escape(name)} [yellow](retry {attempt}/{maxAttempts}: {Markup.Escape(Shorten(reason))})[/]";
    }

    public void Note(string message) { }

    public void End()
    {
        lock (_lock) _overall?.StopTask();
    }

    private void Complete(string name, long size)
    {
        lock (_lock)
        {
            if (_overall is not null)
            {
                _bytes.TryGetValue(name, out long before);
                _bytes[name] = size;
                if (_overall.IsIndeterminate) _overall.MaxValue = Math.Max(_overall.MaxValue, _overall.Value + size - before);
                _overall.Increment(size - before);
            }
            if (_tasks.TryGetValue(name, out var task)) { task.Value = task.MaxValue; task.StopTask(); }
        }
    }

    private void SetBytes(string name, ProgressTask task, long bytes)
    {
        _bytes.TryGetValue(name, out long before);
        _bytes[name] = bytes;
        if (bytes > before) _transferred += bytes - before;
        task.Value = bytes;
        _overall?.Increment(bytes - before);
    }

    private static string Shorten(string s) => s.Length <= 60 ? s : s[..57] + "...";
}
