using System.Buffers.Binary;
using System.Runtime.InteropServices;
using LlmNet.Common.IO;

namespace LlmNet.Common.Formats;

/// <summary>
/// llm.c's token shard (.bin): a 256×int32 header (magic 20240520, version 1, token count) and then
/// the GPT-2 token ids as uint16. Files interoperate byte for byte with llm.c's dataloader.
/// </summary>
public static class TokenShard
{
    public const int Magic = 20240520;
    public const int Version = 1;
    public const int HeaderInts = 256;
    public const int HeaderBytes = HeaderInts * sizeof(int);
    /// <summary>llm.c seeks with an int cast, so every shard must stay under 2 GiB.</summary>
    public const long MaxTokens = (int.MaxValue - HeaderBytes) / sizeof(ushort);

    /// <summary>Builds the 1024-byte header for a shard of <paramref name="tokenCount"/> tokens.</summary>
    public static byte[] Header(long tokenCount)
    {
        if (tokenCount <= 0 || tokenCount > MaxTokens)
            throw new ArgumentOutOfRangeException(nameof(tokenCount), tokenCount, $"a shard holds 1..{MaxTokens} tokens");
        var header = new byte[HeaderBytes];
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(0), Magic);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), Version);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(8), (int)tokenCount);
        return header;
    }

    /// <summary>Writes a complete shard atomically (temp file + rename).</summary>
    public static void Write(string path, ReadOnlySpan<ushort> tokens)
    {
        var header = Header(tokens.Length);
        // Spans cannot be captured by the lambda; copy to an array segment owned by this call.
        ushort[] copy = tokens.ToArray();
        AtomicFile.Write(path, s =>
        {
            s.Write(header);
            s.Write(MemoryMarshal.AsBytes(copy.AsSpan()));
        });
    }

    /// <summary>
    /// Reads and validates the header; returns the token count. Throws <see cref="DataFormatException"/>
    /// naming the file for a wrong magic or version, an empty shard or a size that does not match.
    /// </summary>
    public static int ReadHeader(string path)
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
        if (magic != Magic)
            throw new DataFormatException(path, $"bad magic {magic} (expected {Magic}: not a GPT-2 token shard)",
                magic == 20240801 ? "This is a llama-3 shard; GPT-2 needs shards tokenized with the gpt2 tokenizer" : "Re-create it with llm-tokenize");
        if (version != Version)
            throw new DataFormatException(path, $"unsupported shard version {version} (expected {Version})", "Re-create it with llm-tokenize");
        if (ntok <= 0)
            throw new DataFormatException(path, $"header says {ntok} tokens; a shard must hold at least one", "Re-create it with llm-tokenize");
        long expected = HeaderBytes + 2L * ntok;
        if (length != expected)
            throw new DataFormatException(path, $"file is {length} bytes but its header promises {ntok} tokens ({expected} bytes){(length < expected ? "; the file is truncated" : "")}",
                "Delete it and re-create or re-download it");
        return ntok;
    }

    /// <summary>Reads a whole shard into memory (small shards, tests). Large shards: use <see cref="Open"/>.</summary>
    public static ushort[] ReadAll(string path)
    {
        int ntok = ReadHeader(path);
        var tokens = new ushort[ntok];
        using var fs = OpenRead(path);
        fs.Seek(HeaderBytes, SeekOrigin.Begin);
        fs.ReadExactly(MemoryMarshal.AsBytes(tokens.AsSpan()));
        return tokens;
    }

    /// <summary>Opens a validated shard as a memory-mapped view of its tokens.</summary>
    public static MappedTokenShard Open(string path) => new(path, ReadHeader(path));

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

    internal MappedTokenShard(string path, int tokenCount)
    {
        Path = path;
        TokenCount = tokenCount;
        _file = MappedFile.Open(path);
    }

    public string Path { get; }
    public int TokenCount { get; }

    // A shard holds fewer than 2^30 tokens (MaxTokens), so one span covers it.
    private ReadOnlySpan<ushort> Tokens => new(_file.Pointer + TokenShard.HeaderBytes, TokenCount);

    /// <summary>Copies <paramref name="destination"/>.Length tokens starting at token index <paramref name="start"/>.</summary>
    public void Read(long start, Span<ushort> destination)
    {
        if (start < 0 || start + destination.Length > TokenCount)
            throw new ArgumentOutOfRangeException(nameof(start), $"tokens [{start}, {start + destination.Length}) outside shard of {TokenCount} in {Path}");
        Tokens.Slice((int)start, destination.Length).CopyTo(destination);
    }

    /// <summary>
    /// Index of the first token whose id is at least <paramref name="limit"/>, or −1 when every id is below it.
    /// One vectorised pass over the mapped tokens (memory bandwidth, not per-token branches), so a loader can
    /// afford to check a whole shard when it opens it.
    /// </summary>
    public long IndexOfIdAtLeast(int limit)
    {
        if (limit > ushort.MaxValue) return -1;
        if (limit <= 0) return 0;
        return Tokens.IndexOfAnyInRange((ushort)limit, ushort.MaxValue);
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
        Span<ushort> id = stackalloc ushort[1];
        Read(at, id);
        throw new DataFormatException(Path,
            $"token {at} (byte offset {TokenShard.HeaderBytes + 2 * at}) is id {id[0]}, but the model's vocabulary has {vocabSize} ids (0..{vocabSize - 1})",
            "Tokenize the data with GPT-2's tokenizer (llm-tokenize), or train a model whose vocabulary covers it");
    }

    /// <summary>Copies tokens widened to int32 (model inputs).</summary>
    public void Read(long start, Span<int> destination)
    {
        ushort[] tmp = System.Buffers.ArrayPool<ushort>.Shared.Rent(destination.Length);
        try
        {
            var span = tmp.AsSpan(0, destination.Length);
            Read(start, span);
            for (int i = 0; i < span.Length; i++) destination[i] = span[i];
        }
        finally { System.Buffers.ArrayPool<ushort>.Shared.Return(tmp); }
    }

    public void Dispose() => _file.Dispose();
}
