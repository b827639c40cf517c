using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace LlmNet.Common.Text;

/// <summary>
/// A tiktoken encoding (r50k_base, cl100k_base, o200k_base) on Microsoft.ML.Tokenizers'
/// <see cref="TiktokenTokenizer"/>, whose rank data ships in its Data.* packages.
/// </summary>
/// <remarks>
/// TiktokenTokenizer turns special-token text inside a document into the special id, but shards need
/// ordinary encoding (fineweb.py calls encode_ordinary). So the text is split here with the encoding's own
/// split pattern, taken from the tokenizer's pre-tokenizer without its special-token pass, and each piece
/// is encoded alone. No piece of that pattern can be a whole special token ("&lt;|" and letters never share a
/// piece), so the per-piece encoding never sees one.
/// </remarks>
public sealed class TiktokenTextTokenizer : ITextTokenizer
{
    private readonly TiktokenTokenizer _tokenizer;
    private readonly Regex _split;

    /// <summary>
    /// Each encoding's id space (tiktoken's n_vocab: ranks plus special tokens). TiktokenTokenizer does not expose it.
    /// </summary>
    private static readonly Dictionary<string, int> s_vocabSizes = new()
    {
        ["r50k_base"] = 50257, ["cl100k_base"] = 100277, ["o200k_base"] = 200019,
    };

    private TiktokenTextTokenizer(string name, TiktokenTokenizer tokenizer)
    {
        Name = name;
        _tokenizer = tokenizer;
        _split = SplitPattern(tokenizer.PreTokenizer);
        var special = tokenizer.SpecialTokens ?? new Dictionary<string, int>();
        EndOfText = special.TryGetValue(Gpt2Tokenizer.EndOfTextText, out int eot) ? eot
            : throw new InvalidOperationException($"{name} has no {Gpt2Tokenizer.EndOfTextText} token");
        VocabSize = s_vocabSizes[name];
    }

    /// <summary>Opens a tiktoken encoding by name (its Data.* package must be referenced).</summary>
    public static TiktokenTextTokenizer ForEncoding(string name) => new(name, TiktokenTokenizer.CreateForEncoding(name));

    public string Name { get; }
    public int VocabSize { get; }
    public int EndOfText { get; }

    public void EncodeTo(ReadOnlySpan<char> text, List<int> output)
    {
        foreach (var m in _split.EnumerateMatches(text))
            output.AddRange(_tokenizer.EncodeToIds(text.Slice(m.Index, m.Length).ToString(), considerPreTokenization: false, considerNormalization: false));
    }

    public string Decode(ReadOnlySpan<int> ids) => _tokenizer.Decode(ids.ToArray());

    /// <summary>
    /// The split regex of the encoding. RegexPreTokenizer keeps it private beside its special-token regex;
    /// a package version that renames the field fails here, at open, and in the tests.
    /// </summary>
    private static Regex SplitPattern(PreTokenizer? preTokenizer)
    {
        var field = typeof(RegexPreTokenizer).GetField("_regex", BindingFlags.NonPublic | BindingFlags.Instance);
        return (preTokenizer is RegexPreTokenizer ? field?.GetValue(preTokenizer) as Regex : null)
            ?? throw new InvalidOperationException("Microsoft.ML.Tokenizers' RegexPreTokenizer no longer exposes its split pattern; update TiktokenTextTokenizer");
    }
}
