using FluentAssertions;
using LlmNet.Common.Formats;
using LlmNet.Model;
using LlmNet.Model.Checkpoints;
using LlmNet.Tools.Sample;
using LlmNet.Tools.Train;
using Xunit;

namespace LlmNet.Training.Tests;

/// <summary>
/// Issue #16: bad input met by llm-train and llm-sample fails at start with one line naming the file or flag,
/// a non-zero exit and no stack trace — never hours into a run, never a silent exit 0.
/// </summary>
[Collection(ConsoleErrorCollection.Name)]
public class BadInputTests
{
    /// <summary>Runs <paramref name="run"/> with stderr captured; returns the exit code, stdout and stderr.</summary>
    private static (int Code, string Out, string Err) Capture(Func<TextWriter, int> run)
    {
        var err = new StringWriter();
        var output = new StringWriter();
        var saved = Console.Error;
        Console.SetError(err);
        try { return (run(output), output.ToString(), err.ToString()); }
        finally { Console.SetError(saved); }
    }

    private static string[] TrainArgs(string train, params string[] more) =>
        ["-i", train, "-j", TinyRun.ValPattern, "-e", TinyRun.ModelPath, "-b", "1", "-t", "8", "-s", "0", "-v", "0", "-x", "2", "--device", "cpu", .. more];

    [Fact]
    public void A_shard_with_an_id_beyond_the_vocabulary_is_refused_before_training_starts()
    {
        using var dir = new TempDir();
        // Valid GPT-2 ids, except one far into the second shard: a two-step run never reads it, a long run would.
        var good = Enumerable.Range(0, 4000).Select(i => (ushort)(i * 7 % 50257)).ToArray();
        var bad = good.ToArray();
        bad[3210] = 50300;
        TokenShard.Write(dir.File("data_000001.bin"), good);
        TokenShard.Write(dir.File("data_000002.bin"), bad);

        var (code, output, err) = Capture(o => TrainProgram.Run(TrainArgs(dir.File("data_*.bin")), o));
        code.Should().Be(1);
        err.Trim().Should().NotContain("\n").And.Contain(dir.File("data_000002.bin"))
            .And.Contain("token 3210").And.Contain($"byte offset {1024 + 2 * 3210}").And.Contain("id 50300").And.Contain("50257");
        output.Should().NotContain("step ", "the shard is checked before the first update");
    }

    [Fact]
    public void A_uint32_shard_with_ids_beyond_the_vocabulary_is_refused_with_one_line()
    {
        using var dir = new TempDir();
        // cl100k_base-sized ids (uint32 format): the first one the GPT-2 model cannot embed is named.
        var ids = Enumerable.Range(0, 4000).Select(i => (uint)(i * 7 % 50257)).ToArray();
        ids[1234] = 100257;
        TokenShard.Write(dir.File("cl_000001.bin"), ids);

        var (code, output, err) = Capture(o => TrainProgram.Run(TrainArgs(dir.File("cl_*.bin")), o));
        code.Should().Be(1);
        err.Trim().Should().NotContain("\n").And.Contain(dir.File("cl_000001.bin"))
            .And.Contain("token 1234").And.Contain($"byte offset {1024 + 4 * 1234}").And.Contain("id 100257").And.Contain("50257");
        output.Should().NotContain("step ");
    }

    [Fact]
    public void A_model_with_a_smaller_vocabulary_than_the_data_is_refused_by_train_and_sample()
    {
        using var dir = new TempDir();
        var small = TinyRun.Config with { VocabSize = 1000, PaddedVocabSize = 1024 };
        string model = dir.File("small.bin");
        ModelFile.Write(model, small, ModelDtype.Fp32, GptModel.CreateFresh(small));

        var (code, _, err) = Capture(o => TrainProgram.Run([.. TrainArgs(TinyRun.TrainPattern), "-e", model], o));
        code.Should().Be(1);
        err.Trim().Should().NotContain("\n").And.Contain("tiny_shakespeare_train_000001.bin").And.Contain("1000");

        // llm-sample starts every document with EOT (50256), which this model cannot embed.
        (code, _, err) = Capture(o => SampleProgram.Run(["-e", model, "-g", "4", "--device", "cpu"], o));
        code.Should().Be(1);
        err.Trim().Should().NotContain("\n").And.Contain(model).And.Contain("1000").And.Contain("50256");
    }

    [Theory]
    [InlineData("-l", "nan")]
    [InlineData("-l", "-1")]
    [InlineData("-l", "1e999")]
    [InlineData("-c", "nan")]
    [InlineData("-q", "-0.5")]
    [InlineData("-sl", "nan")]
    public void Train_refuses_non_finite_or_negative_rates_with_exit_2(string flag, string value)
    {
        var (code, output, err) = Capture(o => TrainProgram.Run(TrainArgs(TinyRun.TrainPattern, flag, value), o));
        code.Should().Be(2, err);
        err.Trim().Should().NotContain("\n").And.StartWith($"llm-train: error: {flag} ").And.Contain("finite number ≥ 0");
        output.Should().NotContain("step ");
    }

    [Theory]
    [InlineData("--temperature", "-1")]
    [InlineData("--temperature", "nan")]
    [InlineData("--temperature", "1e999")]
    [InlineData("--top-k", "-3")]
    public void Sample_refuses_bad_temperature_and_top_k_with_exit_2(string flag, string value)
    {
        var (code, output, err) = Capture(o => SampleProgram.Run(["-e", TinyRun.ModelPath, "-g", "4", "--device", "cpu", flag, value], o));
        code.Should().Be(2, err);
        err.Trim().Should().NotContain("\n").And.StartWith("llm-sample: error: ").And.Contain(flag);
        output.Should().BeEmpty();
    }

    [Fact]
    public void Sample_says_when_gen_tokens_is_capped_by_the_models_context()
    {
        // The tiny model holds 64 positions: EOT plus at most 63 new tokens.
        var (code, _, err) = Capture(o => SampleProgram.Run(["-e", TinyRun.ModelPath, "-g", "100", "--no-stop", "--device", "cpu"], o));
        code.Should().Be(0, err);
        err.Should().Contain("-g 100").And.Contain("63").And.Contain("64 positions");
        (code, _, err) = Capture(o => SampleProgram.Run(["-e", TinyRun.ModelPath, "-g", "100", "--llmc-sampler", "--device", "cpu"], o));
        code.Should().Be(0, err);
        err.Should().Contain("-g 100").And.Contain("63");
        (code, _, err) = Capture(o => SampleProgram.Run(["-e", TinyRun.ModelPath, "-g", "10", "--device", "cpu"], o));
        err.Should().BeEmpty("10 tokens fit");
    }

    [Fact]
    public void An_unexpected_failure_inside_the_tool_is_one_line_naming_the_command_line()
    {
        // A stand-in for a future bug: the output writer throws something no handler expects.
        string[] args = TrainArgs(TinyRun.TrainPattern);
        var (code, _, err) = Capture(_ => TrainProgram.Run(args, new ExplodingWriter()));
        code.Should().Be(1);
        err.Trim().Should().NotContain("\n").And.NotContain("   at ").And.StartWith("llm-train: error: unexpected InvalidOperationException: output exploded")
            .And.Contain(TinyRun.TrainPattern);

        (code, _, err) = Capture(_ => TrainProgram.Run([.. args, "--verbose"], new ExplodingWriter()));
        code.Should().Be(1);
        err.Should().Contain("   at ", "--verbose prints the stack trace").And.Contain("--device cpu). This is a bug", "--verbose is taken out of the command line");
    }

    /// <summary>A writer that fails on the first thing written to it.</summary>
    private sealed class ExplodingWriter : TextWriter
    {
        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;
        public override void Write(char value) => throw new InvalidOperationException("output exploded");
    }
}
