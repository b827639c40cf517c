using System.Buffers.Binary;
using System.Runtime.InteropServices;
using LlmNet.Common.IO;

namespace LlmNet.Common.Formats;

/// <summary>
/// Streams one token shard to disk without holding its tokens in memory: tokens go to a temporary
/// sibling file behind a placeholder header, and <see cref="Commit"/> fills in the header, flushes to
/// disk and renames the file into place. A writer disposed without Commit (an error, a kill signal,
/// a full disk) deletes its temporary file, so a shard under its final name is always complete.
/// </summary>
public sealed class TokenShardWriter : IDisposable
{
    private readonly string _tempPath;
    private FileStream? _stream;

    public TokenShardWriter(string path, ShardFormat? format = null)
    {
        Format = format ?? ShardFormat.UInt16;
        Path = System.IO.Path.GetFullPath(path);
        _tempPath = AtomicFile.TempPathFor(Path);
        _stream = new FileStream(_tempPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 20);
        try { _stream.Write(new byte[TokenShard.HeaderBytes]); }
        catch { Dispose(); throw; }
    }

    /// <summary>The final path of the shard.</summary>
    public string Path { get; }

    /// <summary>The width of the ids this writer stores.</summary>
    public ShardFormat Format { get; }

    /// <summary>Tokens written so far.</summary>
    public long Count { get; private set; }

    /// <summary>Appends ids to a uint16 shard.</summary>
    public void Write(ReadOnlySpan<ushort> tokens)
    {
        if (Format != ShardFormat.UInt16) throw new InvalidOperationException($"{Path}: a {Format} shard takes uint ids");
        Append(MemoryMarshal.AsBytes(tokens), tokens.Length);
    }

    /// <summary>Appends ids to a uint32 shard.</summary>
    public void Write(ReadOnlySpan<uint> tokens)
    {
        if (Format != ShardFormat.UInt32) throw new InvalidOperationException($"{Path}: a {Format} shard takes ushort ids");
        Append(MemoryMarshal.AsBytes(tokens), tokens.Length);
    }

    private void Append(ReadOnlySpan<byte> bytes, int tokens)
    {
        var stream = _stream ?? throw new ObjectDisposedException(nameof(TokenShardWriter));
        if (Count + tokens > Format.MaxTokens)
            throw new InvalidOperationException($"{Path}: a {Format} shard holds at most {Format.MaxTokens} tokens");
        stream.Write(bytes);
        Count += tokens;
    }

    /// <summary>Writes the header, flushes to disk and moves the shard to its final name.</summary>
    public void Commit()
    {
        var stream = _stream ?? throw new ObjectDisposedException(nameof(TokenShardWriter));
        if (Count == 0) throw new InvalidOperationException($"{Path}: a shard must hold at least one token");
        Span<byte> counts = stackalloc byte[12];
        BinaryPrimitives.WriteInt32LittleEndian(counts, Format.Magic);
        BinaryPrimitives.WriteInt32LittleEndian(counts[4..], Format.Version);
        BinaryPrimitives.WriteInt32LittleEndian(counts[8..], (int)Count);
        stream.Position = 0;
        stream.Write(counts);
        stream.Flush(flushToDisk: true);
        stream.Dispose();
        _stream = null;
        try { File.Move(_tempPath, Path, overwrite: true); }
        catch { TryDeleteTemp(); throw; }
    }

    /// <summary>Abandons an uncommitted shard: its temporary file is removed.</summary>
    public void Dispose()
    {
        if (_stream is null) return;
        try { _stream.Dispose(); } catch (IOException) { /* a full disk can fail the final flush; the file goes anyway */ }
        _stream = null;
        TryDeleteTemp();
    }

    private void TryDeleteTemp()
    {
        try { File.Delete(_tempPath); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
