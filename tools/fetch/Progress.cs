using System.Diagnostics;
using System.Globalization;

namespace LlmNet.Tools.Fetch;

/// <summary>What a download run reports as it goes. Implementations must be thread-safe (files download in parallel).</summary>
public interface IFetchProgress
{
    void Begin(int files, long? totalBytes);
    void FileStarted(string name, long? size, long resumedFrom);
    /// <summary><paramref name="bytesOnDisk"/> is the file's whole length so far, not a delta.</summary>
    void FileProgress(string name, long bytesOnDisk);
    void FileFinished(string name, long size);
    void FileSkipped(string name, long size);
    void FileFailed(string name, string message);
    void Retrying(string name, string reason, TimeSpan delay, int attempt, int maxAttempts);
    void Note(string message);
    void End();
}

/// <summary>Byte counts, rates and durations as people read them.</summary>
public static class Human
{
    public static string Bytes(double bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        int u = 0;
        while (Math.Abs(bytes) >= 1024 && u < units.Length - 1) { bytes /= 1024; u++; }
        return u == 0 ? string.Create(CultureInfo.InvariantCulture, $"{bytes:0} B") : string.Create(CultureInfo.InvariantCulture, $"{bytes:0.0} {units[u]}");
    }

    public static string Duration(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:00}m" : t.TotalMinutes >= 1 ? $"{t.Minutes}m{t.Seconds:00}s" : string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.0}s");
}

/// <summary>
/// Progress for logs: one line per file event and, at most every <c>interval</c>, a line with the overall
/// bytes, rate and ETA. With quiet set only failures are written (errors still reach stderr through the tool's error line).
/// </summary>
public sealed class PlainProgress(TextWriter writer, TimeSpan interval, bool quiet) : IFetchProgress
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, long> _bytes = new();
    private readonly Stopwatch _clock = new();
    private int _files, _done, _downloaded, _skipped;
    private long? _total;
    private long _transferred, _lastLineAt;

    public void Begin(int files, long? totalBytes)
    {
        lock (_lock) { _files = files; _total = totalBytes; _clock.Restart(); _lastLineAt = 0; }
    }

    public void FileStarted(string name, long? size, long resumedFrom)
    {
        lock (_lock)
        {
            _bytes[name] = resumedFrom;
            string sz = size is { } s ? Human.Bytes(s) : "size unknown";
            Line(resumedFrom > 0 ? $"{name}: resuming at {Human.Bytes(resumedFrom)} of {sz}" : $"{name}: downloading ({sz})");
        }
    }

    public void FileProgress(string name, long bytesOnDisk)
    {
        lock (_lock)
        {
            _bytes.TryGetValue(name, out long before);
            _bytes[name] = bytesOnDisk;
            _transferred += Math.Max(0, bytesOnDisk - before);
            long now = _clock.ElapsedMilliseconds;
            if (now - _lastLineAt >= interval.TotalMilliseconds) { _lastLineAt = now; Line(Summary()); }
        }
    }

    public void FileFinished(string name, long size)
    {
        lock (_lock) { _bytes[name] = size; _done++; _downloaded++; Line($"{name}: done, verified ({Human.Bytes(size)})"); }
    }

    public void FileSkipped(string name, long size)
    {
        lock (_lock) { _bytes[name] = size; _done++; _skipped++; Line($"{name}: already present and verified, skipped"); }
    }

    public void FileFailed(string name, string message)
    {
        // A single file's failure is the run's error line; with several files each one is listed as it happens.
        lock (_lock) if (_files > 1) writer.WriteLine($"llm-fetch: failed: {message}");
    }

    public void Retrying(string name, string reason, TimeSpan delay, int attempt, int maxAttempts)
    {
        lock (_lock) Line($"{name}: {reason}; attempt {attempt}/{maxAttempts} in {Human.Duration(delay)}");
    }

    public void Note(string message)
    {
        lock (_lock) Line(message);
    }

    public void End()
    {
        lock (_lock)
        {
            double secs = Math.Max(_clock.Elapsed.TotalSeconds, 1e-3);
            Line($"{_done}/{_files} files ready ({_downloaded} downloaded, {_skipped} already present); {Human.Bytes(_transferred)} transferred in {Human.Duration(_clock.Elapsed)} ({Human.Bytes(_transferred / secs)}/s)");
        }
    }

    private string Summary()
    {
        long have = _bytes.Values.Sum();
        double secs = Math.Max(_clock.Elapsed.TotalSeconds, 1e-3);
        double rate = _transferred / secs;
        string of = _total is { } t ? $" of {Human.Bytes(t)}" : "";
        string eta = _total is { } tt && rate > 0 ? $", ETA {Human.Duration(TimeSpan.FromSeconds(Math.Max(0, tt - have) / rate))}" : "";
        return $"{_done}/{_files} files, {Human.Bytes(have)}{of}, {Human.Bytes(rate)}/s{eta}";
    }

    private void Line(string text)
    {
        if (!quiet) writer.WriteLine($"llm-fetch: {text}");
    }
}
