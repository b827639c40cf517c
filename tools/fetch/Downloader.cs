using System.Buffers;
using System.Net;
using LlmNet.Common.Cli;
using LlmNet.Common.Formats;

namespace LlmNet.Tools.Fetch;

/// <summary>What happened to one file.</summary>
public enum FileOutcome { Downloaded, AlreadyPresent }

/// <summary>
/// Downloads files into a folder, several at a time. Each file is written to NAME.part, resumed with an HTTP Range
/// request after a dropped connection or an earlier interrupted run, checked (size, hash, extra check) and only then
/// renamed to NAME. A verified file gets a marker (see <see cref="VerifiedMarker"/>) so re-runs skip it.
/// </summary>
public sealed class Downloader(HttpTransport http, RetryPolicy retry, IFetchProgress progress, string outDir, int jobs)
{
    private const int BufferSize = 1 << 20;

    /// <summary>
    /// Fetches every item (in parallel, up to the job count). Failures of single files do not stop the others;
    /// afterwards the first failure is thrown, mentioning how many files failed.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, FileOutcome>> FetchAllAsync(IReadOnlyList<DownloadItem> items, CancellationToken ct)
    {
        Directory.CreateDirectory(outDir);
        var outcomes = new System.Collections.Concurrent.ConcurrentDictionary<string, FileOutcome>();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<(int Index, Exception Error)>();
        CheckFreeSpace(items);
        progress.Begin(items.Count, items.All(i => i.Size is not null) ? items.Sum(i => i.Size!.Value) : null);
        var indexed = items.Select((item, index) => (item, index));
        await Parallel.ForEachAsync(indexed, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, jobs), CancellationToken = ct }, async (entry, token) =>
        {
            try
            {
                outcomes[entry.item.RelativePath] = await FetchAsync(entry.item, token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ToolException or IOException or UnauthorizedAccessException or DataFormatException)
            {
                failures.Enqueue((entry.index, e));
                progress.FileFailed(entry.item.RelativePath, e.Message);
            }
        }).ConfigureAwait(false);

        if (!failures.IsEmpty)
        {
            var first = failures.OrderBy(f => f.Index).First().Error;
            string more = failures.Count > 1 ? $" ({failures.Count} of {items.Count} files failed; re-run to retry them)" : "";
            throw new ToolException(first.Message + more, first);
        }
        return outcomes;
    }

    /// <summary>Fetches one file unless a verified copy is already there.</summary>
    public async Task<FileOutcome> FetchAsync(DownloadItem item, CancellationToken ct)
    {
        string final = FinalPath(item.RelativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(final)!);

        if (IsAlreadyPresent(item, final, ct))
        {
            progress.FileSkipped(item.RelativePath, new FileInfo(final).Length);
            return FileOutcome.AlreadyPresent;
        }

        string part = final + ".part";
        bool freshRestartUsed = false;
        using var digest = new RunningDigest(item.Digest);
        while (true)
        {
            bool resumed = File.Exists(part) && new FileInfo(part).Length > 0;
            await Retrier.RunAsync(retry, item.RelativePath, progress, () => DownloadToPartAsync(item, part, digest, ct), ct,
                () => File.Exists(part) ? new FileInfo(part).Length : 0).ConfigureAwait(false);
            string? problem = Verify(item, part, digest, ct);
            if (problem is null) break;
            File.Delete(part);
            // A damaged partial file from an earlier run can spoil the result once; a fresh download settles it.
            if (resumed && !freshRestartUsed)
            {
                freshRestartUsed = true;
                progress.Retrying(item.RelativePath, $"{problem}; downloading it again from the start", TimeSpan.Zero, 2, 2);
                continue;
            }
            throw new ToolException($"{final}: {problem}; the download was discarded. Re-run to try again; if it keeps failing the source ({item.Source}) is serving a different file than it lists");
        }

        File.Move(part, final, overwrite: true);
        if (item.Digest is not null || item.Size is not null) VerifiedMarker.Record(outDir, item.RelativePath, final, item.Digest);
        progress.FileFinished(item.RelativePath, new FileInfo(final).Length);
        return FileOutcome.Downloaded;
    }

    /// <summary>Fails before downloading anything when the output disk cannot hold what is still missing.</summary>
    private void CheckFreeSpace(IReadOnlyList<DownloadItem> items)
    {
        long needed = 0;
        foreach (var item in items)
        {
            if (item.Size is not { } size) continue;
            string final = FinalPath(item.RelativePath);
            if (File.Exists(final) && new FileInfo(final).Length == size) continue;
            string part = final + ".part";
            needed += size - (File.Exists(part) ? Math.Min(size, new FileInfo(part).Length) : 0);
        }
        long free;
        try { free = new DriveInfo(Path.GetFullPath(outDir)).AvailableFreeSpace; }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException) { return; }
        if (needed > free)
            throw new ToolException($"{outDir}: needs {Human.Bytes(needed)} more but the disk has {Human.Bytes(free)} free. Free some space, choose another --out, or fetch fewer files");
    }

    private string FinalPath(string relativePath)
    {
        string root = Path.GetFullPath(outDir);
        string full = Path.GetFullPath(Path.Combine(root, relativePath));
        if (!full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ToolException($"{relativePath}: file name points outside {outDir}; refusing to write it");
        return full;
    }

    /// <summary>
    /// A file counts as present when its marker matches its current size and time, or (no marker) when hashing
    /// it gives the expected digest. A file with neither a digest nor a size is never trusted and is downloaded again;
    /// one listed with a size but no digest counts as present only through its marker.
    /// </summary>
    private bool IsAlreadyPresent(DownloadItem item, string final, CancellationToken ct)
    {
        if (!File.Exists(final) || (item.Digest is null && item.Size is null)) return false;
        long length = new FileInfo(final).Length;
        if (item.Size is { } size && length != size) return false;
        if (VerifiedMarker.Matches(outDir, item.RelativePath, final, item.Digest)) return true;
        if (item.Digest is null) return false;
        progress.Note($"{item.RelativePath}: present without a verification record; checking its {item.Digest.Label}");
        if (DigestBuilder.ComputeFile(final, item.Digest.Kind, ct) != item.Digest.Hex) return false;
        try { item.Check?.Invoke(final); }
        catch (DataFormatException) { return false; }
        VerifiedMarker.Record(outDir, item.RelativePath, final, item.Digest);
        return true;
    }

    /// <summary>Null when the finished .part file is right; otherwise what is wrong with it.</summary>
    private static string? Verify(DownloadItem item, string part, RunningDigest running, CancellationToken ct)
    {
        long length = new FileInfo(part).Length;
        if (item.Size is { } size && length != size)
            return $"size is {length} bytes but {item.Source} lists {size}";
        if (item.Digest is { } digest)
        {
            string actual = running.TryFinish(length) ?? DigestBuilder.ComputeFile(part, digest.Kind, ct);
            if (actual != digest.Hex) return $"{digest.Label} mismatch: got {actual}, expected {digest.Hex}";
        }
        if (item.Check is not null)
        {
            try { item.Check(part); }
            catch (DataFormatException e) { return $"content check failed ({e.Message})"; }
        }
        return null;
    }

    /// <summary>
    /// One attempt at completing NAME.part: continues from its current length with a Range request. A server that
    /// ignores the range (200) restarts the file; 416 means the part is already whole (or bogus, then it restarts).
    /// Dropped connections, stalls and 408/429/5xx become <see cref="TransientFailure"/> for the retry loop.
    /// </summary>
    private async Task<bool> DownloadToPartAsync(DownloadItem item, string part, RunningDigest digest, CancellationToken ct)
    {
        long have = File.Exists(part) ? new FileInfo(part).Length : 0;
        if (item.Size is { } size)
        {
            if (have > size) { File.Delete(part); have = 0; }
            if (have == size && size > 0) return true;
        }

        using var response = await http.GetAsync(item.Url, have > 0 ? have : null, ct).ConfigureAwait(false);
        long start;
        long? total;
        switch (response.StatusCode)
        {
            case HttpStatusCode.PartialContent:
                var range = response.Content.Headers.ContentRange;
                if (range?.From is not { } from || from != have)
                {
                    File.Delete(part); // asking again would get the same answer: start from byte 0 instead
                    throw new TransientFailure($"{item.RelativePath}: server answered bytes={have}- with range '{range}'; starting over", TimeSpan.Zero);
                }
                start = have;
                total = range.Length;
                break;
            case HttpStatusCode.OK:
                start = 0; // the server ignored the range (or there was none): start over
                total = response.Content.Headers.ContentLength;
                break;
            case HttpStatusCode.RequestedRangeNotSatisfiable:
                long? whole = response.Content.Headers.ContentRange?.Length ?? item.Size;
                if (whole == have) return true;
                File.Delete(part);
                throw new TransientFailure($"{item.RelativePath}: the partial download does not fit the remote file; starting over", TimeSpan.Zero);
            default:
                if (RetryPolicy.IsTransient(response.StatusCode))
                    throw new TransientFailure($"HTTP {(int)response.StatusCode} {response.ReasonPhrase}", RetryPolicy.RetryAfterOf(response));
                throw HttpErrors.For(response.StatusCode, item.RelativePath, item.Source, item.Url, item.FromHub);
        }
        if (item.Size is { } expected && total is { } t && t != expected)
            throw new ToolException($"{item.RelativePath}: server sends {t} bytes but {item.Source} lists {expected}. Re-run later; the file may be changing upstream");

        progress.FileStarted(item.RelativePath, total ?? item.Size, start);
        digest.StartAt(part, start, total ?? item.Size, ct);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            Stream body;
            try { body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false); }
            catch (HttpRequestException e) { throw new TransientFailure($"{item.RelativePath}: connection dropped ({e.Message})", null, e); }
            await using var bodyScope = body;
            await using var file = OpenPart(part, start);
            long written = start;
            while (true)
            {
                int n = await http.ReadAsync(body, buffer, item.RelativePath, ct).ConfigureAwait(false);
                if (n == 0) break;
                try { await file.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false); }
                catch (IOException e) { throw new ToolException($"{part}: cannot write ({e.Message}). Free disk space or choose another --out; the partial file is kept and resumes on re-run", e); }
                digest.Append(buffer.AsSpan(0, n));
                written += n;
                progress.FileProgress(item.RelativePath, written);
            }
            file.Flush(flushToDisk: true);
            if (total is { } whole && written != whole)
                throw new TransientFailure($"{item.RelativePath}: connection closed after {written} of {whole} bytes");
        }
        finally { ArrayPool<byte>.Shared.Return(buffer); }
        return true;
    }

    private static FileStream OpenPart(string part, long start)
    {
        try
        {
            var fs = new FileStream(part, FileMode.OpenOrCreate, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
            fs.SetLength(start);
            fs.Seek(start, SeekOrigin.Begin);
            return fs;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ToolException($"{part}: cannot open for writing ({e.Message}). Check that the --out folder is writable", e);
        }
    }

    /// <summary>
    /// The digest of NAME.part, computed as the bytes are written and kept in step with the file's length across
    /// attempts, so a finished download needs no second read. Whenever it cannot be in step (an earlier run's
    /// partial file, a restart, an unknown total size) it re-reads what is on disk or leaves the work to a full hash.
    /// </summary>
    private sealed class RunningDigest(ExpectedDigest? expected) : IDisposable
    {
        private DigestBuilder? _builder;
        private long _total;

        public void StartAt(string part, long offset, long? total, CancellationToken ct)
        {
            if (expected is null || total is null) { Dispose(); return; }
            if (_builder is not null && _builder.Length == offset && _total == total) return;
            Dispose();
            _builder = new DigestBuilder(expected.Kind, total.Value);
            _total = total.Value;
            if (offset > 0) DigestBuilder.AppendFile(_builder, part, offset, ct);
        }

        public void Append(ReadOnlySpan<byte> bytes) => _builder?.Append(bytes);

        /// <summary>The hex digest if the running hash covers exactly <paramref name="fileLength"/> bytes; otherwise null.</summary>
        public string? TryFinish(long fileLength)
        {
            string? hex = _builder is not null && _builder.Length == fileLength && _total == fileLength ? _builder.FinishHex() : null;
            Dispose();
            return hex;
        }

        public void Dispose()
        {
            _builder?.Dispose();
            _builder = null;
        }
    }
}
