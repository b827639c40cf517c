using System.Text.Json;
using FluentAssertions;
using LlmNet.Common.Cli;
using LlmNet.Common.Formats;
using LlmNet.Common.Text;
using LlmNet.TestSupport;
using LlmNet.Tools.Tokenize;
using Xunit;

namespace LlmNet.Tokenize.Tests;

public sealed class TokenizeRunTests
{
    /// <summary>Documents of varied length and content, some long enough to cross several small shards.</summary>
    internal static List<string> SampleDocuments(int count, int seed = 11)
    {
        var rng = new Random(seed);
        string[] words = ["the", "student", "learns", "photosynthesis", "in", "1987,", "and", "it's", "a", "process", "—", "équation", "x²", "\n\n", "(see", "below)", "energy.", "Ω", "日本語"];
        return Enumerable.Range(0, count).Select(i => i % 17 == 5 ? "" :
            string.Join(' ', Enumerable.Range(0, rng.Next(1, i % 9 == 0 ? 400 : 60)).Select(_ => words[rng.Next(words.Length)]))).ToList();
    }

    private static TokenizeResult Run(TokenizeSettings settings) =>
        new TokenizeRun(settings).RunAsync(TestContext.Current.CancellationToken).GetAwaiter().GetResult();

    [Fact]
    public void Parquet_inputs_with_several_row_groups_give_the_reference_shards()
    {
        using var dir = new TempDir();
        var docs = SampleDocuments(300);
        FineWebParquet.Write(dir["a.parquet"], docs[..200], rowGroupSize: 37);
        FineWebParquet.Write(dir["b.parquet"], docs[200..], rowGroupSize: 1000);
        var result = Run(new TokenizeSettings([dir["a.parquet"], dir["b.parquet"]], dir["out"], "edu_fineweb", 1000, Threads: 2));

        var expected = ReferenceLayout.Shards(docs, 1000);
        expected.Count.Should().BeGreaterThan(5);
        ReferenceLayout.AssertShards(dir["out"], "edu_fineweb", expected);
        result.Documents.Should().Be(300);
        result.Tokens.Should().Be(expected.Sum(s => s.Length));
        result.Shards.Should().Be(expected.Count);
    }

    [Fact]
    public void Jsonl_and_text_inputs_in_order()
    {
        using var dir = new TempDir();
        var docs = SampleDocuments(50);
        File.WriteAllText(dir["b.txt"], "A whole file\n\nis one document.");
        FineWebParquet.Write(dir["c.parquet"], docs[40..], rowGroupSize: 3);
        File.WriteAllLines(dir["a.jsonl"], docs[..40].Select(d => JsonSerializer.Serialize(new { id = 1, text = d })));
        Run(new TokenizeSettings([dir["a.jsonl"], dir["b.txt"], dir["c.parquet"]], dir["out"], "mix", 1000));
        var all = docs[..40].Append("A whole file\n\nis one document.").Concat(docs[40..]);
        ReferenceLayout.AssertShards(dir["out"], "mix", ReferenceLayout.Shards(all, 1000));
    }

    [Fact]
    public void Inputs_read_ahead_in_parallel_keep_their_order_and_report_errors_in_order()
    {
        using var dir = new TempDir();
        var docs = SampleDocuments(600, seed: 9);
        var inputs = new List<string>();
        for (int k = 0; k < 6; k++)
        {
            var part = docs[(k * 100)..((k + 1) * 100)];
            string path = dir[k % 2 == 0 ? $"p{k}.parquet" : $"j{k}.jsonl"];
            if (k % 2 == 0) FineWebParquet.Write(path, part, rowGroupSize: 30);
            else File.WriteAllLines(path, part.Select(d => JsonSerializer.Serialize(new { text = d })));
            inputs.Add(path);
        }
        // 12 encoders read 3 inputs at a time.
        Run(new TokenizeSettings(inputs, dir["out"], "ra", 1000, Threads: 12));
        ReferenceLayout.AssertShards(dir["out"], "ra", ReferenceLayout.Shards(docs, 1000));

        File.WriteAllText(dir["j3.jsonl"], "{\"text\": \"fine\"}\nnot json\n");
        var act = () => Run(new TokenizeSettings(inputs, dir["bad"], "ra", 1000, Threads: 12));
        act.Should().Throw<DataFormatException>().Which.Message.Should().StartWith(dir["j3.jsonl"] + ": line 2");
    }

    [Fact]
    public void Other_column_names_are_chosen_with_column()
    {
        using var dir = new TempDir();
        // With a byte-order mark and Windows line ends.
        File.WriteAllText(dir["a.jsonl"], "{\"body\": \"one\"}\r\n{\"body\": \"two two\"}\r\n", new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: true));
        Run(new TokenizeSettings([dir["a.jsonl"]], dir["out"], "b", 100, Column: "body"));
        ReferenceLayout.AssertShards(dir["out"], "b", ReferenceLayout.Shards(["one", "two two"], 100));
    }

    [Fact]
    public void Output_does_not_depend_on_the_number_of_threads()
    {
        using var dir = new TempDir();
        var docs = SampleDocuments(2000, seed: 5);
        FineWebParquet.Write(dir["a.parquet"], docs, rowGroupSize: 500);
        Run(new TokenizeSettings([dir["a.parquet"]], dir["one"], "p", 4096, Threads: 1));
        Run(new TokenizeSettings([dir["a.parquet"]], dir["four"], "p", 4096, Threads: 4));
        var one = Directory.GetFiles(dir["one"], "*.bin").Order().ToList();
        one.Should().HaveCountGreaterThan(3);
        foreach (var f in one) File.ReadAllBytes(f).Should().Equal(File.ReadAllBytes(Path.Combine(dir["four"], Path.GetFileName(f))));
    }

    [Fact]
    public void Tinyshakespeare_as_one_text_document_and_as_paragraph_documents()
    {
        using var dir = new TempDir();
        string path = RepoPaths.TinyShakespeare;
        string text = File.ReadAllText(path);
        var whole = Run(new TokenizeSettings([path], dir["whole"], "tiny", 1_000_000));
        ReferenceLayout.AssertShards(dir["whole"], "tiny", [[50256, .. Gpt2Tokenizer.Shared.Encode(text).Select(t => (ushort)t)]]);
        whole.Tokens.Should().Be(338_026); // EOT + 338,025 tokens of text

        var paragraphs = text.Split("\n\n");
        File.WriteAllLines(dir["p.jsonl"], paragraphs.Select(p => JsonSerializer.Serialize(new { text = p })));
        Run(new TokenizeSettings([dir["p.jsonl"]], dir["paragraphs"], "tiny", 32_768));
        ReferenceLayout.AssertShards(dir["paragraphs"], "tiny", ReferenceLayout.Shards(paragraphs, 32_768));
    }

    [Fact]
    public void Missing_column_error_lists_the_columns_and_leaves_no_shards()
    {
        using var dir = new TempDir();
        FineWebParquet.Write(dir["a.parquet"], ["x", "y"], withText: false);
        var act = () => Run(new TokenizeSettings([dir["a.parquet"]], dir["out"], "p", 100));
        act.Should().Throw<DataFormatException>().Which.Message.Should()
            .Contain(dir["a.parquet"]).And.Contain("no column \"text\"").And.Contain("id, dump, url, date, file_path, language, language_score, token_count, score, int_score")
            .And.Contain("--column");
        Directory.GetFiles(dir["out"], "*.bin*").Should().BeEmpty();
    }

    [Fact]
    public void Truncated_parquet_is_reported_by_name_and_no_shard_looks_complete()
    {
        using var dir = new TempDir();
        FineWebParquet.Write(dir["good.parquet"], SampleDocuments(200), rowGroupSize: 50);
        var bytes = File.ReadAllBytes(dir["good.parquet"]);
        File.WriteAllBytes(dir["bad.parquet"], bytes[..(bytes.Length / 2)]);
        File.WriteAllBytes(dir["junk.parquet"], "PAR1 this is not parquet at all"u8.ToArray());
        foreach (var bad in new[] { "bad.parquet", "junk.parquet" })
        {
            var act = () => Run(new TokenizeSettings([dir["good.parquet"], dir[bad]], dir["out"], "p", 1000, Restart: true));
            act.Should().Throw<DataFormatException>().Which.Message.Should().StartWith(dir[bad] + ": ").And.Contain("parquet");
            Directory.GetFiles(dir["out"], "*.tmp-*").Should().BeEmpty();
            var manifest = ProgressManifest.Load(ProgressManifest.PathFor(dir["out"], "p"));
            (manifest?.Complete ?? false).Should().BeFalse();
            // Every shard under its final name is whole and valid; the manifest says how far to trust them.
            foreach (var shard in Directory.GetFiles(dir["out"], "*.bin")) TokenShard.ReadHeader(shard).Should().Be(1000);
        }
    }

    [Fact]
    public void Empty_and_bad_inputs_are_clear_errors()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["empty.txt"], "");
        File.WriteAllText(dir["empty.jsonl"], "\n\n");
        File.WriteAllText(dir["bad.jsonl"], "{\"text\": \"ok\"}\n{\"text\": \"cut");
        File.WriteAllText(dir["nofield.jsonl"], "{\"body\": \"x\", \"id\": 3}\n");
        File.WriteAllBytes(dir["empty.parquet"], []);
        FineWebParquet.Write(dir["norows.parquet"], []);
        (string File, string Problem)[] cases =
        [
            ("empty.txt", "is empty"), ("empty.jsonl", "no documents"), ("bad.jsonl", "line 2 is not valid JSON"),
            ("nofield.jsonl", "has no field \"text\" (fields: body, id)"), ("empty.parquet", "is empty"), ("norows.parquet", "holds no rows"),
            ("missing.txt", "no such file"),
        ];
        foreach (var (file, problem) in cases)
        {
            var act = () => Run(new TokenizeSettings([dir[file]], dir["out"], "p", 100, Restart: true));
            act.Should().Throw<DataFormatException>().Which.Message.Should().StartWith(dir[file] + ": ").And.Contain(problem);
            Directory.GetFiles(dir["out"], "*.bin*").Should().BeEmpty();
        }
        var unknown = () => Run(new TokenizeSettings([dir["x.csv"]], dir["out"], "p", 100));
        unknown.Should().Throw<UsageException>().Which.Message.Should().Contain(".parquet");
    }

    [Fact]
    public void Unwritable_output_is_a_clear_error()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["in.txt"], "hello");
        File.WriteAllText(dir["file"], "not a directory");
        var act = () => Run(new TokenizeSettings([dir["in.txt"]], Path.Combine(dir["file"], "out"), "p", 100));
        act.Should().Throw<ToolException>().Which.Message.Should().Contain(Path.Combine(dir["file"], "out")).And.Contain("--out");
    }
}
