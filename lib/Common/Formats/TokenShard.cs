using System.Buffers.Binary;
using System.Runtime.InteropServices;
using LlmNet.Common.IO;

namespace LlmNet.Common.Formats;

/// <summary>
/// llm.c's token shard (.bin): a 256×int32 header (magic, version, token count) and then the token ids,
/// uint16 for GPT-2 (magic 20240520, version 1) or uint32 for larger vocabularies (magic 20240801, version 7),
/// as dev/data/data_common.py writes them. Files interoperate byte for byte with llm.c's dataloader.
/// </summary>
public static class TokenShard
{
    /// <summary>The uint16 (GPT-2) magic and version; <see cref="ShardFormat"/> has both widths'.</summary>
    public const int Magic = 20240520;
    public const int Version = 1;
    public const int HeaderInts = 256;
    public const int HeaderBytes = HeaderInts * sizeof(int);
    /// <summary>The most tokens a uint16 shard holds: llm.c seeks with an int cast, so a shard stays under 2 GiB.</summary>
    public const long MaxTokens = (int.MaxValue - HeaderBytes) / sizeof(ushort);

    /// <summary>Builds the 1024-byte header for a shard of <paramref name="tokenCount"/> tokens (uint16 unless told).</summary>
    public static byte[] Header(long tokenCount, ShardFormat? format = null)
    {
        format ??= ShardFormat.UInt16;
        if (tokenCount <= 0 || tokenCount > format.MaxTokens)
            throw new ArgumentOutOfRangeException(nameof(tokenCount), tokenCount, $"a {format} shard holds 1..{format.MaxTokens} tokens");
        var header = new byte[HeaderBytes];
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(0), format.Magic);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), format.Version);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(8), (int)tokenCount);
        return header;
    }

    /// <summary>Writes a complete uint16 shard atomically (temp file + rename).</summary>
    public static void Write(string path, ReadOnlySpan<ushort> tokens) =>
        Write(path, Header(tokens.Length), MemoryMarshal.AsBytes(tokens).ToArray());

    /// <summary>Writes a complete uint32 shard atomically (temp file + rename).</summary>
    public static void Write(string path, ReadOnlySpan<uint> tokens) =>
        Write(path, Header(tokens.Length, ShardFormat.UInt32), MemoryMarshal.AsBytes(tokens).ToArray());

    private static void Write(string path, byte[] header, byte[] body) =>
        AtomicFile.Write(path, s =>
        {
            s.Write(header);
            s.Write(body);
        });

    /// <summary>
    /// Reads and validates the header; returns the token count. Throws <see cref="DataFormatException"/>
    /// naming the file for a wrong magic or version, an empty shard or a size that does not match.
    /// </summary>
    public static int ReadHeader(string path) => ReadInfo(path).TokenCount;

    /// <summary>Reads and validates the header (as <see cref="ReadHeader"/>); returns the shard's format and token count.</summary>
    public static ShardInfo ReadInfo(string path)
    {
        long length;
        Span<byte> header = stackalloc byte[12];
        using (var fs = OpenRead(path))
        {
            length = fs.Length;
            if (length < HeaderBytes)
                throw new DataFormatException(path, $"file is {length} bytes, shorter than the {HeaderBytes}-byte shard header (truncated?)", "Re-create or re-download it");
            fs.ReadExactly(header);
        }
        int magic = BinaryPrimitives.ReadInt32LittleEndian(header);
        int version = BinaryPrimitives.ReadInt32LittleEndian(header[4..]);
        int ntok = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
        var format = ShardFormat.FromMagic(magic)
            ?? throw new DataFormatException(path, $"bad magic {magic} (expected {ShardFormat.UInt16.Magic} for uint16 or {ShardFormat.UInt32.Magic} for uint32 ids: not a token shard)",
                "Re-create it with llm-tokenize");
        if (version != format.Version)
            throw new DataFormatException(path, $"unsupported {format} shard version {version} (expected {format.Version})", "Re-create it with llm-tokenize");
        if (ntok <= 0)
            throw new DataFormatException(path, $"header says {ntok} tokens; a shard must hold at least one", "Re-create it with llm-tokenize");
        long expected = HeaderBytes + (long)format.TokenBytes * ntok;
        if (length != expected)
            throw new DataFormatException(path, $"file is {length} bytes but its header promises {ntok} {format} tokens ({expected} bytes){(length < expected ? "; the file is truncated" : "")}",
                "Delete it and re-create or re-download it");
        return new ShardInfo(format, ntok);
    }

    /// <summary>Reads a whole uint16 shard into memory (small shards, tests). Large shards: use <see cref="Open"/>.</summary>
    public static ushort[] ReadAll(string path)
    {
        var info = ReadInfo(path);
        if (info.Format != ShardFormat.UInt16)
            throw new DataFormatException(path, $"holds {info.Format} ids, not uint16", "Read it with TokenShard.ReadIds");
        var tokens = new ushort[info.TokenCount];
        ReadBody(path, MemoryMarshal.AsBytes(tokens.AsSpan()));
        return tokens;
    }

    /// <summary>Reads a whole shard of either width into memory as ids (small shards, tests).</summary>
    public static uint[] ReadIds(string path)
    {
        var info = ReadInfo(path);
        if (info.Format == ShardFormat.UInt32)
        {
            var ids = new uint[info.TokenCount];
            ReadBody(path, MemoryMarshal.AsBytes(ids.AsSpan()));
            return ids;
        }
        return Array.ConvertAll(ReadAll(path), t => (uint)t);
    }

    private static void ReadBody(string path, Span<byte> body)
    {
        using var fs = OpenRead(path);
        fs.Seek(HeaderBytes, SeekOrigin.Begin);
        fs.ReadExactly(body);
    }

    /// <summary>Opens a validated shard of either width as a memory-mapped view of its tokens.</summary>
    public static MappedTokenShard Open(string path)
    {
        var info = ReadInfo(path);
        return new(path, info.TokenCount, info.Format);
    }

    private static FileStream OpenRead(string path)
    {
        try { return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read); }
        catch (FileNotFoundException) { throw new DataFormatException(path, "no such file", "Check the path or glob pattern"); }
        catch (DirectoryNotFoundException) { throw new DataFormatException(path, "no such directory", "Check the path or glob pattern"); }
    }
}

/// <summary>A read-only memory-mapped token shard (<see cref="MappedFile"/>). Reads copy tokens out as ids.</summary>
public sealed unsafe class MappedTokenShard : IDisposable
{
    private readonly MappedFile _file;

    internal MappedTokenShard(string path, int tokenCount, ShardFormat format)
    {
        Path = path;
        TokenCount = tokenCount;
        Format = format;
        _file = MappedFile.Open(path);
    }

    public string Path { get; }
    public int TokenCount { get; }
    /// <summary>The width of the ids on disk (uint16 or uint32).</summary>
    public ShardFormat Format { get; }

    // A shard holds fewer than 2^31 bytes (MaxTokens of either width), so one span covers it.
    private ReadOnlySpan<T> Tokens<T>() where T : unmanaged => new(_file.Pointer + TokenShard.HeaderBytes, TokenCount);

    /// <summary>Copies <paramref name="destination"/>.Length tokens of a uint16 shard starting at token index <paramref name="start"/>.</summary>
    public void Read(long start, Span<ushort> destination)
    {
        if (Format != ShardFormat.UInt16)
            throw new InvalidOperationException($"{Path} holds {Format} ids; read them as int");
        Copy(start, destination);
    }

    private void Copy<T>(long start, Span<T> destination) where T : unmanaged
    {
        if (start < 0 || start + destination.Length > TokenCount)
            throw new ArgumentOutOfRangeException(nameof(start), $"tokens [{start}, {start + destination.Length}) outside shard of {TokenCount} in {Path}");
        Tokens<T>().Slice((int)start, destination.Length).CopyTo(destination);
    }

    /// <summary>
    /// Index of the first token whose id is at least <paramref name="limit"/>, or −1 when every id is below it.
    /// One vectorised pass over the mapped tokens (memory bandwidth, not per-token branches), so a loader can
    /// afford to check a whole shard when it opens it.
    /// </summary>
    public long IndexOfIdAtLeast(int limit)
    {
        if (limit <= 0) return 0;
        if (Format == ShardFormat.UInt16)
            return limit > ushort.MaxValue ? -1 : Tokens<ushort>().IndexOfAnyInRange((ushort)limit, ushort.MaxValue);
        return Tokens<uint>().IndexOfAnyInRange((uint)limit, uint.MaxValue);
    }

    /// <summary>
    /// Throws <see cref="DataFormatException"/> naming this file, the token's index, its byte offset and the id
    /// when any id is outside a vocabulary of <paramref name="vocabSize"/> ids. An id the model cannot embed would
    /// otherwise fail only when a batch reaches it, possibly hours into a run.
    /// </summary>
    public void CheckIds(int vocabSize)
    {
        long at = IndexOfIdAtLeast(vocabSize);
        if (at < 0) return;
        Span<int> id = stackalloc int[1];
        Read(at, id);
        throw new DataFormatException(Path,
            $"token {at} (byte offset {TokenShard.HeaderBytes + (long)Format.TokenBytes * at}) is id {(uint)id[0]}, but the model's vocabulary has {vocabSize} ids (0..{vocabSize - 1})",
            "Tokenize the data with the model's tokenizer (llm-tokenize --tokenizer), or train a model whose vocabulary covers it");
    }

    /// <summary>Copies tokens widened to int32 (model inputs). A uint32 id above int.MaxValue reads as negative; <see cref="CheckIds"/> rejects it first.</summary>
    public void Read(long start, Span<int> destination)
    {
        if (Format == ShardFormat.UInt32)
        {
            Copy(start, MemoryMarshal.Cast<int, uint>(destination));
            return;
        }
        if (start < 0 || start + destination.Length > TokenCount)
            throw new ArgumentOutOfRangeException(nameof(start), $"tokens [{start}, {start + destination.Length}) outside shard of {TokenCount} in {Path}");
        var source = Tokens<ushort>().Slice((int)start, destination.Length);
        for (int i = 0; i < source.Length; i++) destination[i] = source[i];
    }

    public void Dispose() => _file.Dispose();
}

/// <summary>What a shard's header says: the width of its ids and how many there are.</summary>
public readonly record struct ShardInfo(ShardFormat Format, int TokenCount);
