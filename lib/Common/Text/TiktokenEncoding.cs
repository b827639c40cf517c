using System.IO.Compression;
using System.Reflection;

namespace LlmNet.Common.Text;

/// <summary>
/// What a tiktoken encoding is beyond its ranks file: the pattern that splits text into pieces, the special tokens,
/// the size of the id space and the id that starts every document. The values are tiktoken's
/// (tiktoken_ext/openai_public.py) and, for LLaMA-3, llm.c's dev/data/fineweb.py (documents start with 128000).
/// </summary>
/// <remarks>
/// The patterns are the original, non-possessive spellings, which .NET's regex accepts and which match as tiktoken's
/// possessive ones do. They run over code points, not UTF-16 units (<see cref="CodePointPreTokenizer"/>).
/// </remarks>
public sealed record TiktokenEncoding(string Name, string SplitPattern, int RankCount, IReadOnlyDictionary<string, int> SpecialTokens,
    int VocabSize, int DocumentStart, string? DataPackage)
{
    public const string EndOfText = "<|endoftext|>";

    /// <summary>GPT-2's split (r50k_base and p50k_base use it too).</summary>
    public const string Gpt2Pattern = @"'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>cl100k_base's split (LLaMA-3's tokenizer uses the same).</summary>
    public const string Cl100kPattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public const string O200kPattern =
        @"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?" +
        @"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?" +
        @"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public static readonly TiktokenEncoding R50kBase = new("r50k_base", Gpt2Pattern, 50256,
        new Dictionary<string, int> { [EndOfText] = 50256 }, 50257, 50256, "R50kBase");

    /// <summary>No Microsoft.ML.Tokenizers.Data package ships p50k_base's ranks: it is known only for a ranks file of its size.</summary>
    public static readonly TiktokenEncoding P50kBase = new("p50k_base", Gpt2Pattern, 50280,
        new Dictionary<string, int> { [EndOfText] = 50256 }, 50281, 50256, null);

    public static readonly TiktokenEncoding Cl100kBase = new("cl100k_base", Cl100kPattern, 100256,
        new Dictionary<string, int>
        {
            [EndOfText] = 100257, ["<|fim_prefix|>"] = 100258, ["<|fim_middle|>"] = 100259, ["<|fim_suffix|>"] = 100260, ["<|endofprompt|>"] = 100276,
        }, 100277, 100257, "Cl100kBase");

    public static readonly TiktokenEncoding O200kBase = new("o200k_base", O200kPattern, 199998,
        new Dictionary<string, int> { [EndOfText] = 199999, ["<|endofprompt|>"] = 200018 }, 200019, 199999, "O200kBase");

    /// <summary>LLaMA-3's tokenizer.model is a tiktoken ranks file of 128,000 ranks; fineweb.py starts documents with 128000.</summary>
    public static readonly TiktokenEncoding Llama3 = new("llama-3", Cl100kPattern, 128000,
        new Dictionary<string, int> { ["<|begin_of_text|>"] = 128000, ["<|end_of_text|>"] = 128001 }, 128256, 128000, null);

    public static readonly IReadOnlyList<TiktokenEncoding> Known = [R50kBase, P50kBase, Cl100kBase, O200kBase, Llama3];

    /// <summary>
    /// The encoding a ranks file of <paramref name="rankCount"/> ranks is taken for. A size no known encoding has gets
    /// cl100k_base's split and one special token, &lt;|endoftext|&gt;, right after the last rank.
    /// </summary>
    public static TiktokenEncoding ForRankCount(int rankCount, string name) =>
        Known.FirstOrDefault(e => e.RankCount == rankCount) is { } known ? known with { Name = name }
        : new(name, Cl100kPattern, rankCount, new Dictionary<string, int> { [EndOfText] = rankCount }, rankCount + 1, rankCount, null);

    /// <summary>
    /// The ranks shipped by Microsoft.ML.Tokenizers.Data.<see cref="DataPackage"/> (deflated; lines are base64 tokens
    /// in rank order after a "Capacity: N" line, a form TiktokenTokenizer reads).
    /// </summary>
    public Stream OpenPackagedRanks()
    {
        if (DataPackage is null) throw new InvalidOperationException($"{Name} has no data package");
        var assembly = Assembly.Load($"Microsoft.ML.Tokenizers.Data.{DataPackage}");
        var deflated = assembly.GetManifestResourceStream($"{Name}.tiktoken.deflate")
            ?? throw new InvalidOperationException($"Microsoft.ML.Tokenizers.Data.{DataPackage} has no {Name}.tiktoken.deflate resource");
        return new DeflateStream(deflated, CompressionMode.Decompress);
    }
}
