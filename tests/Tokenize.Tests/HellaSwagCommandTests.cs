using System.Text.Json;
using FluentAssertions;
using LlmNet.Common.Text;
using LlmNet.Eval.HellaSwag;
using LlmNet.TestSupport;
using LlmNet.Tools.Tokenize;
using Xunit;

namespace LlmNet.Tokenize.Tests;

/// <summary>"llm-tokenize hellaswag": the eval .bin that `llm-train -h 1` and llm.c read.</summary>
public sealed class HellaSwagCommandTests
{
    [Fact]
    public void Jsonl_becomes_an_eval_bin_with_llmc_tokenization()
    {
        using var dir = new TempDir();
        string jsonl = dir["val.jsonl"];
        var rows = new[]
        {
            new { ind = 0, ctx = "A man is sitting on a roof. he", label = 3, endings = new[] { "is using wrap.", "is ripping tiles off.", "is holding a cube.", "starts pulling up roofing." } },
            new { ind = 1, ctx = "A lady walks to a barbell. She", label = 1, endings = new[] { "swings.", "lifts it.", "pulls a rope.", "stands." } },
        };
        File.WriteAllLines(jsonl, rows.Select(r => JsonSerializer.Serialize(r)));

        int code = CommandLine.Invoke(CommandLine.Build(), ["hellaswag", jsonl, "--out", dir["val.bin"], "--quiet"]);

        code.Should().Be(0);
        var examples = HellaSwagEvalFile.Read(dir["val.bin"]);
        examples.Should().HaveCount(2);
        examples[1].Label.Should().Be(1);
        examples[0].Context.Should().Equal(Gpt2Tokenizer.Shared.Encode(rows[0].ctx));
        examples[0].Endings[2].Should().Equal(Gpt2Tokenizer.Shared.Encode(" " + rows[0].endings[2]));
    }

    [Fact]
    public void Preprocessed_smoke_file_converts_with_a_limit_and_bad_input_is_one_error()
    {
        using var dir = new TempDir();
        CommandLine.Invoke(CommandLine.Build(), ["hellaswag", RepoPaths.HellaSwagSample, "--out", dir["s.bin"], "--limit", "25", "-q"])
            .Should().Be(0);
        HellaSwagEvalFile.Read(dir["s.bin"]).Should().HaveCount(25);

        File.WriteAllText(dir["bad.jsonl"], "{not json\n");
        CommandLine.Invoke(CommandLine.Build(), ["hellaswag", dir["bad.jsonl"], "--out", dir["bad.bin"]]).Should().Be(1);
        File.Exists(dir["bad.bin"]).Should().BeFalse();
    }
}
