using System.IO.Compression;
using System.Text;
using System.Text.Json;
using FluentAssertions;
using LlmNet.Common.Formats;
using LlmNet.Common.Text;
using Xunit;

namespace LlmNet.Tokenize.Tests;

/// <summary>
/// cl100k_base against a reference that shares no code with the project or Microsoft.ML.Tokenizers:
/// Fixtures/cl100k/make_reference.py (tiktoken's own split pattern run by Python's regex module over code points, a
/// plain rank-merge loop, fineweb.py's shard layout and data_common.py's uint32 header), itself checked against
/// tiktoken's gpt2 ids in Fixtures/tiktoken-gpt2-cases.jsonl. The corpus holds unicode, emoji, CRLF, letters beyond
/// U+FFFF, an empty document and literal special-token text.
/// </summary>
public sealed class Cl100kReferenceTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "cl100k", name);

    private static string[] Documents() =>
        [.. File.ReadLines(Fixture("corpus.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("text").GetString()!)];

    private static int[][] ExpectedIds() => JsonSerializer.Deserialize<int[][]>(File.ReadAllText(Fixture("expected_ids.json")))!;

    [Theory]
    [InlineData("corpus.jsonl")]
    [InlineData("corpus.jsonl.gz")]
    [InlineData("corpus.jsonl.zst")]
    public void Shards_are_byte_identical_to_the_reference(string input)
    {
        using var dir = new TempDir();
        byte[] jsonl = File.ReadAllBytes(Fixture("corpus.jsonl"));
        string path = dir[input];
        using (var file = File.Create(path))
        using (Stream writer = input.EndsWith(".gz") ? new GZipStream(file, CompressionLevel.Optimal)
                   : input.EndsWith(".zst") ? new ZstdSharp.CompressionStream(file) : file)
            writer.Write(jsonl);

        var run = TokenizeCli.Run((byte[]?)null, path, "--out", dir["out"], "--prefix", "cl", "--shard-size", "200", "--tokenizer", "cl100k_base", "-q");
        run.Code.Should().Be(0, run.Err);
        Directory.GetFiles(dir["out"], "*.bin").Select(Path.GetFileName).Should().BeEquivalentTo(["cl_val_000000.bin", "cl_train_000001.bin"]);
        foreach (string shard in new[] { "cl_val_000000.bin", "cl_train_000001.bin" })
            File.ReadAllBytes(Path.Combine(dir["out"], shard)).Should().Equal(File.ReadAllBytes(Fixture(shard)), shard);
    }

    [Fact]
    public void Every_document_encodes_to_the_reference_ids_and_decodes_back()
    {
        var cl = TokenizerCatalog.Open("cl100k_base");
        var docs = Documents();
        var expected = ExpectedIds();
        for (int i = 0; i < docs.Length; i++)
        {
            var ids = new List<int>();
            cl.EncodeTo(docs[i], ids);
            ids.Should().Equal(expected[i], $"document {i}: {JsonSerializer.Serialize(docs[i])}");
            cl.Decode([.. ids]).Should().Be(docs[i]);
        }
    }

    [Fact]
    public void Encode_prints_the_reference_ids_for_each_input()
    {
        using var dir = new TempDir();
        var docs = Documents();
        var expected = ExpectedIds();
        var files = new List<string>();
        for (int i = 0; i < docs.Length; i++)
        {
            files.Add(dir[$"d{i}.txt"]);
            File.WriteAllText(files[^1], docs[i], new UTF8Encoding(false));
        }
        var run = TokenizeCli.Run((byte[]?)null, ["encode", "--tokenizer", "cl100k_base", .. files]);
        run.Code.Should().Be(0, run.Err);
        var lines = run.Out.Split('\n');
        lines.Should().HaveCount(docs.Length + 1).And.EndWith("");
        for (int i = 0; i < docs.Length; i++)
            lines[i].Should().Be(string.Join(' ', expected[i]), $"document {i}");
    }

    [Fact]
    public void A_tiktoken_ranks_file_in_either_form_is_recognised_as_cl100k_base()
    {
        using var dir = new TempDir();
        // The packaged form (base64 lines in rank order after "Capacity:") and tiktoken's own ("base64 rank").
        using (var ranks = TiktokenEncoding.Cl100kBase.OpenPackagedRanks())
        using (var file = File.Create(dir["packaged.tiktoken"])) ranks.CopyTo(file);
        var lines = File.ReadAllLines(dir["packaged.tiktoken"]).Where(l => l.Length > 0 && !l.StartsWith("Capacity:")).ToArray();
        File.WriteAllLines(dir["cl100k_base.tiktoken"], lines.Select((b64, rank) => $"{b64} {rank}"));

        var docs = Documents();
        var expected = ExpectedIds();
        foreach (string file in new[] { "packaged.tiktoken", "cl100k_base.tiktoken" })
        {
            var tok = TokenizerCatalog.Open(dir[file]);
            tok.VocabSize.Should().Be(100277);
            tok.EndOfText.Should().Be(100257);
            var ids = new List<int>();
            tok.EncodeTo(docs[4], ids);
            ids.Should().Equal(expected[4], "the beyond-BMP document");
        }
    }

    [Fact]
    public void A_ranks_file_of_an_unknown_size_gets_endoftext_after_its_last_rank()
    {
        using var dir = new TempDir();
        File.WriteAllLines(dir["bytes.tiktoken"], Enumerable.Range(0, 256).Select(b => $"{Convert.ToBase64String([(byte)b])} {b}"));
        var tok = TokenizerCatalog.Open(dir["bytes.tiktoken"]);
        tok.EndOfText.Should().Be(256);
        tok.VocabSize.Should().Be(257);
        var ids = new List<int>();
        tok.EncodeTo("hé", ids);
        ids.Should().Equal('h', 0xC3, 0xA9);
        tok.Decode([.. ids, 256]).Should().Be("hé<|endoftext|>");
    }

    [Theory]
    [InlineData("p50k_base", "no Microsoft.ML.Tokenizers.Data package ships its ranks")]
    [InlineData("llama9", "use one of gpt2, r50k_base, cl100k_base, o200k_base, a .tiktoken ranks file or a tokenizer.json")]
    [InlineData("missing.tiktoken", "missing.tiktoken: no such file")]
    public void A_tokenizer_that_cannot_be_opened_is_one_line(string value, string message)
    {
        var run = TokenizeCli.Run("x", "encode", "--tokenizer", value);
        run.Code.Should().NotBe(0);
        run.Out.Should().BeEmpty();
        run.Err.Trim().Should().StartWith("llm-tokenize: error: ").And.Contain(message).And.NotContain("\n").And.NotContain("   at ");
    }

    [Fact]
    public void A_damaged_ranks_file_is_one_line_naming_it()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["bad.tiktoken"], "this is not base64! 1\n");
        var run = TokenizeCli.Run("x", "encode", "--tokenizer", dir["bad.tiktoken"]);
        run.Code.Should().Be(1);
        run.Err.Trim().Should().Contain("bad.tiktoken: is not a tiktoken ranks file").And.NotContain("\n");
    }
}
