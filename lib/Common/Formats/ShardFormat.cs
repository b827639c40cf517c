namespace LlmNet.Common.Formats;

/// <summary>
/// The two token widths of llm.c's shard files. dev/data/data_common.py <c>write_datafile</c> writes GPT-2
/// shards as uint16 under magic 20240520, version 1, and LLaMA-3 shards (a 128,256-id vocabulary) as uint32
/// under magic 20240801, version 7. The 1024-byte header is the same for both; only the magic, the version
/// and the width of each id differ.
/// </summary>
public sealed class ShardFormat
{
    public static readonly ShardFormat UInt16 = new("uint16", 20240520, 1, sizeof(ushort));
    public static readonly ShardFormat UInt32 = new("uint32", 20240801, 7, sizeof(uint));

    private ShardFormat(string name, int magic, int version, int tokenBytes)
    {
        Name = name;
        Magic = magic;
        Version = version;
        TokenBytes = tokenBytes;
        // llm.c seeks with an int cast (llmc/dataloader.h), so every shard must stay under 2 GiB.
        MaxTokens = (int.MaxValue - TokenShard.HeaderBytes) / tokenBytes;
    }

    /// <summary>"uint16" or "uint32", as tools print it.</summary>
    public string Name { get; }
    public int Magic { get; }
    public int Version { get; }
    /// <summary>Bytes per token id on disk.</summary>
    public int TokenBytes { get; }
    /// <summary>The most tokens one shard of this width may hold.</summary>
    public long MaxTokens { get; }

    /// <summary>
    /// The format a vocabulary of <paramref name="vocabSize"/> ids needs: uint16 while every id fits (≤ 65,536 ids),
    /// uint32 beyond, as data_common.py picks by model ("gpt-2" or "llama-3").
    /// </summary>
    public static ShardFormat ForVocabulary(int vocabSize) =>
        vocabSize <= ushort.MaxValue + 1 ? UInt16 : UInt32;

    /// <summary>The format with this magic number, or null.</summary>
    public static ShardFormat? FromMagic(int magic) =>
        magic == UInt16.Magic ? UInt16 : magic == UInt32.Magic ? UInt32 : null;

    public override string ToString() => Name;
}
