using System.Text.RegularExpressions;
using LlmNet.Common.Formats;
using Microsoft.ML.Tokenizers;

namespace LlmNet.Common.Text;

/// <summary>
/// A tiktoken encoding (r50k_base, cl100k_base, o200k_base, or a .tiktoken ranks file) on Microsoft.ML.Tokenizers'
/// <see cref="TiktokenTokenizer"/>. The tokenizer is created with our own pre-tokenizer: the encoding's split pattern
/// over code points and without a special-token pass, so special-token text in a document stays text (tiktoken's
/// encode_ordinary, which llm.c's dev/data/fineweb.py uses) and letters beyond U+FFFF split as tiktoken splits them.
/// </summary>
public sealed class TiktokenTextTokenizer : ITextTokenizer
{
    private readonly TiktokenTokenizer _tokenizer;

    private TiktokenTextTokenizer(TiktokenEncoding encoding, Stream ranks)
    {
        Encoding = encoding;
        var split = new CodePointPreTokenizer(new Regex(encoding.SplitPattern, RegexOptions.Compiled | RegexOptions.CultureInvariant));
        _tokenizer = TiktokenTokenizer.Create(ranks, split, normalizer: null, encoding.SpecialTokens);
    }

    public TiktokenEncoding Encoding { get; }
    public string Name => Encoding.Name;
    public int VocabSize => Encoding.VocabSize;
    public int EndOfText => Encoding.DocumentStart;

    /// <summary>The Microsoft.ML.Tokenizers tokenizer underneath (benchmarks compare it with the library's own set-up).</summary>
    public Tokenizer Inner => _tokenizer;

    /// <summary>Opens a tiktoken encoding whose ranks a referenced Microsoft.ML.Tokenizers.Data package ships.</summary>
    public static TiktokenTextTokenizer ForEncoding(TiktokenEncoding encoding)
    {
        using var ranks = encoding.OpenPackagedRanks();
        return new TiktokenTextTokenizer(encoding, ranks);
    }

    /// <summary>
    /// Opens a tiktoken ranks file ("base64 rank" per line, or base64 in rank order). Its encoding is recognised by
    /// its number of ranks (<see cref="TiktokenEncoding.ForRankCount"/>), since the file holds neither the split
    /// pattern nor the special tokens.
    /// </summary>
    public static TiktokenTextTokenizer FromFile(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataFormatException(path, $"cannot be read ({e.Message.TrimEnd('.')})", "Check the --tokenizer path");
        }
        int ranks = 0;
        foreach (var line in System.Text.Encoding.UTF8.GetString(bytes).AsSpan().EnumerateLines())
            if (!line.IsWhiteSpace() && !line.StartsWith("Capacity:")) ranks++;
        if (ranks == 0) throw new DataFormatException(path, "holds no ranks", "Pass a tiktoken ranks file (one \"base64 rank\" per line)");
        var encoding = TiktokenEncoding.ForRankCount(ranks, Path.GetFullPath(path));
        try { return new TiktokenTextTokenizer(encoding, new MemoryStream(bytes)); }
        catch (InvalidOperationException e)
        {
            throw new DataFormatException(path, $"is not a tiktoken ranks file ({(e.InnerException ?? e).Message.TrimEnd('.')})",
                "Pass a file of \"base64 rank\" lines, such as cl100k_base.tiktoken");
        }
    }

    public void EncodeTo(ReadOnlySpan<char> text, List<int> output)
    {
        if (text.IsEmpty) return;
        output.AddRange(_tokenizer.EncodeToIds(text, considerPreTokenization: true, considerNormalization: false));
    }

    public string Decode(ReadOnlySpan<int> ids)
    {
        TokenIds.Check(ids, VocabSize, Name);
        return _tokenizer.Decode(ids.ToArray());
    }
}
