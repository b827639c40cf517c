using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace LlmNet.Distributed.Rendezvous;

/// <summary>
/// The fs init method: the ranks meet in a directory they all see (-pf), without trusting any file that an
/// earlier run may have left there.
///
/// Protocol (all files are written to a temporary name and renamed, so a reader never sees half a file):
/// 1. Every rank r &gt; 0 draws a random 64-bit nonce and writes <c>{base}.rank{r}.join</c> holding it and the
///    world size. While it waits it rewrites that file whenever it disappears.
/// 2. Rank 0 first deletes <c>{base}.sync</c> and every <c>{base}.rank*.join</c> (leftovers of earlier runs;
///    a live rank whose file was deleted simply writes it again), then waits for a join file from every rank,
///    and writes <c>{base}.sync</c> holding the id and the nonce of every rank.
/// 3. Rank r accepts <c>{base}.sync</c> only if it carries rank r's own fresh nonce, so a stale id file is never
///    used, whatever its timestamp; then it deletes its join file.
/// {base} is "ncclUniqueId" plus the run id (Slurm job/step, Open MPI job id, MASTER_PORT or LLMNET_RUN_ID)
/// when there is one, so concurrent jobs sharing a directory stay apart. Two concurrent runs without a run id
/// must not share a directory.
/// </summary>
public static class FileIdExchange
{
    private const uint JoinMagic = 0x4E494F4A; // "JOIN"
    private const uint SyncMagic = 0x434E5953; // "SYNC"

    public static string BaseName(string? runId)
    {
        if (runId is null) return "ncclUniqueId";
        var safe = new StringBuilder();
        foreach (char c in runId) safe.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_');
        return "ncclUniqueId." + safe;
    }

    public static string SyncPath(string directory, string? runId) => Path.Combine(directory, BaseName(runId) + ".sync");
    public static string JoinPath(string directory, string? runId, int rank) => Path.Combine(directory, $"{BaseName(runId)}.rank{rank:D5}.join");

    /// <summary>Returns rank 0's <paramref name="payload"/> on every rank (others pass an empty span).</summary>
    public static byte[] Exchange(string directory, string? runId, int rank, int size, ReadOnlySpan<byte> payload,
        RendezvousOptions options, CancellationToken cancel = default)
    {
        if (size < 1 || rank < 0 || rank >= size)
            throw new DistributedException($"rank {rank} is out of range for {size} processes");
        try { Directory.CreateDirectory(directory); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DistributedException($"{directory}: cannot use it for the fs rendezvous ({e.Message}); pass -pf a writable directory every rank can see", e);
        }
        return rank == 0 ? Publish(directory, runId, size, payload.ToArray(), options, cancel)
                         : Await(directory, runId, rank, size, options, cancel);
    }

    private static byte[] Publish(string dir, string? runId, int size, byte[] payload, RendezvousOptions options, CancellationToken cancel)
    {
        string sync = SyncPath(dir, runId);
        string joinPrefix = BaseName(runId) + ".rank";
        TryDelete(sync);
        foreach (var f in Directory.EnumerateFiles(dir, joinPrefix + "*.join")) TryDelete(f);

        var nonces = new ulong[size];
        var arrived = new bool[size];
        arrived[0] = true;
        var deadline = DateTime.UtcNow + options.Timeout;
        while (true)
        {
            for (int r = 1; r < size; r++)
            {
                if (arrived[r]) continue;
                if (TryReadAll(JoinPath(dir, runId, r)) is not { } bytes) continue;
                if (bytes.Length != 24 || BinaryPrimitives.ReadUInt32LittleEndian(bytes) != JoinMagic
                    || BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4)) != r)
                    continue; // not ours; the rank rewrites it
                int theirSize = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8));
                if (theirSize != size)
                    throw new DistributedException(
                        $"rank 0: rank {r} was started with {theirSize} processes but rank 0 with {size} ({JoinPath(dir, runId, r)}): start every rank with the same -pn");
                nonces[r] = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(16));
                arrived[r] = true;
            }
            if (arrived.All(a => a)) break;
            if (DateTime.UtcNow >= deadline)
            {
                var missing = Enumerable.Range(1, size - 1).Where(r => !arrived[r]);
                throw new DistributedTimeoutException(
                    $"rank 0: rank(s) {string.Join(", ", missing)} of {size} never arrived in {dir} within {options.TimeoutText} " +
                    $"(no {Path.GetFileName(JoinPath(dir, runId, missing.First()))}); check they run with the same -pf, -pn and run id");
            }
            cancel.WaitHandle.WaitOne(options.PollInterval);
            cancel.ThrowIfCancellationRequested();
        }

        var file = new byte[16 + payload.Length + 8 * size];
        BinaryPrimitives.WriteUInt32LittleEndian(file, SyncMagic);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(4), size);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(8), payload.Length);
        payload.CopyTo(file, 16);
        for (int r = 0; r < size; r++)
            BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(16 + payload.Length + 8 * r), nonces[r]);
        WriteAtomically(sync, file);
        return payload;
    }

    private static byte[] Await(string dir, string? runId, int rank, int size, RendezvousOptions options, CancellationToken cancel)
    {
        ulong nonce;
        do nonce = BinaryPrimitives.ReadUInt64LittleEndian(RandomNumberGenerator.GetBytes(8)); while (nonce == 0);
        var join = new byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(join, JoinMagic);
        BinaryPrimitives.WriteInt32LittleEndian(join.AsSpan(4), rank);
        BinaryPrimitives.WriteInt32LittleEndian(join.AsSpan(8), size);
        BinaryPrimitives.WriteUInt64LittleEndian(join.AsSpan(16), nonce);
        string joinPath = JoinPath(dir, runId, rank), sync = SyncPath(dir, runId);

        var deadline = DateTime.UtcNow + options.Timeout;
        while (true)
        {
            if (TryReadAll(sync) is { } bytes && Accept(bytes, rank, size, nonce) is { } payload)
            {
                TryDelete(joinPath);
                return payload;
            }
            if (!File.Exists(joinPath)) WriteAtomically(joinPath, join);
            if (DateTime.UtcNow >= deadline)
                throw new DistributedTimeoutException(
                    $"rank {rank}: rank 0 did not publish the NCCL id in {sync} within {options.TimeoutText}; " +
                    "is rank 0 running with the same -pf directory (and the same run id)?");
            cancel.WaitHandle.WaitOne(options.PollInterval);
            cancel.ThrowIfCancellationRequested();
        }
    }

    /// <summary>The payload of a sync file meant for this rank's nonce, or null for a stale or foreign file.</summary>
    private static byte[]? Accept(byte[] file, int rank, int size, ulong nonce)
    {
        if (file.Length < 16 || BinaryPrimitives.ReadUInt32LittleEndian(file) != SyncMagic) return null;
        int fileSize = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(4));
        int payloadLength = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(8));
        if (fileSize != size || payloadLength < 0 || file.Length != 16L + payloadLength + 8L * size) return null;
        if (BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(16 + payloadLength + 8 * rank)) != nonce) return null;
        return file.AsSpan(16, payloadLength).ToArray();
    }

    private static byte[]? TryReadAll(string path)
    {
        try { return File.ReadAllBytes(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException or UnauthorizedAccessException) { return null; }
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    private static void WriteAtomically(string path, byte[] bytes)
    {
        string temp = $"{path}.tmp.{Environment.ProcessId}.{Guid.NewGuid():N}";
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            {
                fs.Write(bytes);
                fs.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            throw new DistributedException($"{path}: cannot write the rendezvous file ({e.Message}); pass -pf a writable directory every rank can see", e);
        }
    }
}
