using System.Text.Json;
using FluentAssertions;
using LlmNet.Common.Formats;
using LlmNet.Common.Text;
using LlmNet.Eval.HellaSwag;
using LlmNet.TestSupport;
using Xunit;

namespace LlmNet.Eval.Tests;

public sealed class HellaSwagTextTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmnet-eval-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string JsonLine(string ctx, object label, params string[] endings) =>
        JsonSerializer.Serialize(new { ind = 4, activity_label = "Test", ctx_a = ctx, ctx_b = "", ctx, split = "val", split_type = "indomain", label, endings, source_id = "x" });

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Jsonl_is_tokenized_as_llmc_does()
    {
        string path = Write("val.jsonl", string.Join("\n",
            JsonLine("A man is sitting on a roof. he", 3, "is using wrap.", "is ripping tiles off.", "is holding a cube.", "starts pulling up roofing."),
            "",
            JsonLine("Then, the woman", 0, "smiles.", "sits down.", "runs.", "eats. "))
            + "\n");
        var examples = HellaSwagData.Load(path);
        examples.Should().HaveCount(2);
        var tok = Gpt2Tokenizer.Shared;
        examples[0].Index.Should().Be(0);
        examples[0].Label.Should().Be(3);
        examples[0].Context.Should().Equal(tok.Encode("A man is sitting on a roof. he"));
        examples[0].Endings[1].Should().Equal(tok.Encode(" is ripping tiles off."));
        examples[1].Index.Should().Be(1);
        examples[1].Endings[3].Should().Equal(tok.Encode(" eats. "));
        HellaSwagData.Load(path, limit: 1).Should().HaveCount(1);
    }

    public static TheoryData<string, string> BadLines() => new()
    {
        { "{\"ctx\": \"x\", \"label\": 1, ", "not valid JSON" },
        { "[1, 2]", "not a JSON object" },
        { "{\"label\": 1, \"endings\": [\"a\",\"b\",\"c\",\"d\"]}", "missing the string field \"ctx\"" },
        { "{\"ctx\": \"x\", \"endings\": [\"a\",\"b\",\"c\",\"d\"]}", "missing the field \"label\"" },
        { "{\"ctx\": \"x\", \"label\": 7, \"endings\": [\"a\",\"b\",\"c\",\"d\"]}", "\"label\" is 7" },
        { "{\"ctx\": \"x\", \"label\": \"two\", \"endings\": [\"a\",\"b\",\"c\",\"d\"]}", "expected an integer" },
        { "{\"ctx\": \"x\", \"label\": 1, \"endings\": [\"a\",\"b\",\"c\"]}", "has 3 entries" },
        { "{\"ctx\": \"x\", \"label\": 1, \"endings\": [\"a\",\"b\",\"c\",5]}", "ending 3 is not a string" },
        { "{\"ctx\": \"x\", \"label\": 1}", "missing the array field \"endings\"" },
    };

    [Theory]
    [MemberData(nameof(BadLines))]
    public void Malformed_jsonl_lines_are_reported_with_their_line_number(string badLine, string message)
    {
        string good = JsonLine("ctx", 1, "a", "b", "c", "d");
        string path = Write("bad.jsonl", $"{good}\n{good}\n\n{badLine}\n{good}\n");
        var act = () => HellaSwagData.Load(path);
        act.Should().Throw<DataFormatException>().Where(e => e.Message.StartsWith($"{path}:4: ") && e.Message.Contains(message));
    }

    [Fact]
    public void Jsonl_label_may_be_a_string()
    {
        string path = Write("s.jsonl", JsonLine("ctx", "2", "a", "b", "c", "d"));
        HellaSwagData.Load(path).Single().Label.Should().Be(2);
    }

    [Fact]
    public void Preprocessed_text_has_six_lines_per_item()
    {
        string path = Write("pre.txt", "Roof: A man is on a roof. he\n3\nis a.\nis b.\nis c.\nis d.\nX: y\n0\n1\n2\n3\n4\n");
        HellaSwagData.Detect(path).Should().Be((HellaSwagFormat.Preprocessed, false));
        var examples = HellaSwagData.Load(path);
        examples.Should().HaveCount(2);
        examples[0].Context.Should().Equal(Gpt2Tokenizer.Shared.Encode("Roof: A man is on a roof. he"));
        examples[0].Label.Should().Be(3);
        examples[0].Endings[3].Should().Equal(Gpt2Tokenizer.Shared.Encode(" is d."));
        examples[1].Endings[0].Should().Equal(Gpt2Tokenizer.Shared.Encode(" 1"));
    }

    [Fact]
    public void Preprocessed_errors_name_the_line()
    {
        string misaligned = Write("m.txt", "ctx\n3\na\nb\nc\nd\nctx2\nbad\na\nb\nc\nd\n");
        ((Action)(() => HellaSwagData.Load(misaligned))).Should().Throw<DataFormatException>()
            .Where(e => e.Message.StartsWith($"{misaligned}:8: ") && e.Message.Contains("label line is \"bad\""));
        string truncated = Write("t.txt", "ctx\n3\na\nb\nc\nd\nctx2\n1\na\n");
        ((Action)(() => HellaSwagData.Load(truncated))).Should().Throw<DataFormatException>()
            .Where(e => e.Message.StartsWith($"{truncated}:9: ") && e.Message.Contains("starting on line 7 has only 3 of its 6 lines"));
        string missing = Path.Combine(_dir, "nope.jsonl");
        ((Action)(() => HellaSwagData.Load(missing))).Should().Throw<DataFormatException>()
            .Where(e => e.Message.StartsWith($"{missing}: file not found"));
    }

    [Fact]
    public void Bundled_preprocessed_sample_holds_500_items_and_converts_to_bin()
    {
        string source = RepoPaths.HellaSwagSample;
        HellaSwagData.Detect(source).Should().Be((HellaSwagFormat.Preprocessed, true));
        var examples = HellaSwagData.Load(source);
        examples.Should().HaveCount(RepoPaths.HellaSwagSampleCount);
        examples[0].Label.Should().Be(3);
        examples[0].Context.Should().Equal(Gpt2Tokenizer.Shared.Encode("Roof shingle removal: A man is sitting on a roof. he"));
        examples[^1].Index.Should().Be(499);
        examples[^1].Label.Should().Be(0);
        examples.GroupBy(e => e.Label).OrderBy(g => g.Key).Select(g => g.Count()).Should().Equal(132, 124, 124, 120);

        string bin = Path.Combine(_dir, "hellaswag_val.bin");
        HellaSwagEvalFile.Convert(source, bin, limit: 300).Should().Be(300);
        var back = HellaSwagData.Load(bin);
        back.Should().HaveCount(300);
        back[299].Context.Should().Equal(examples[299].Context);
        back[299].Endings[2].Should().Equal(examples[299].Endings[2]);
    }
}
