using LlmNet.TestSupport;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using FluentAssertions;
using LlmNet.Tools.Train;
using Xunit;

namespace LlmNet.Training.Tests;

/// <summary>
/// `llm-eval loss` on a checkpoint prints the val loss llm-train printed for it: a tiny model trained a few steps on
/// the CPU writes its final checkpoint, and llm-eval with the same data, B and T (and --max-tokens = -m·B·T) must
/// print the same number; --json puts exactly one JSON object on stdout.
/// </summary>
[Collection(ConsoleErrorCollection.Name)]
public class EvalLossTests
{
    private const int Steps = 3;

    private static (int Code, string Out, string Err) Eval(params string[] args) => EvalCli.Run(args);

    /// <summary>Trains <see cref="Steps"/> steps with validation at the last one; returns the last val loss line's number and the final model.</summary>
    private static (string ValLoss, string Model) Train(TempDir dir, int valMaxSteps)
    {
        var output = new StringWriter();
        int code = TrainProgram.Run(
        [
            "-i", TinyRun.TrainPattern, "-j", TinyRun.ValPattern, "-e", TinyRun.ModelPath, "-o", dir.Path,
            "-b", "2", "-t", "8", "-x", Steps.ToString(), "-v", Steps.ToString(), "-m", valMaxSteps.ToString(), "-n", Steps.ToString(),
            "-l", "1e-3", "-s", "0", "--device", "cpu",
        ], output);
        code.Should().Be(0, output.ToString());
        var losses = Regex.Matches(output.ToString(), @"^val loss (\S+)$", RegexOptions.Multiline);
        losses.Should().HaveCount(2, "validation runs at step 0 and at the last step");
        return (losses[^1].Groups[1].Value, Path.Combine(dir.Path, $"model_{Steps:D8}.bin"));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(7)]
    public void Loss_equals_the_val_loss_llm_train_printed(int valMaxSteps)
    {
        using var dir = new TempDir();
        var (valLoss, model) = Train(dir, valMaxSteps);
        string[] tokens = valMaxSteps == -1 ? [] : ["--max-tokens", (valMaxSteps * 2 * 8).ToString()];

        var text = Eval(["loss", "-e", model, "--data", TinyRun.ValPattern, "-b", "2", "-t", "8", "--device", "cpu", "--quiet", .. tokens]);
        text.Code.Should().Be(0, text.Err);
        text.Out.Split('\n')[0].Should().Be($"val loss {valLoss}");

        var json = Eval(["loss", "-e", model, "--data", TinyRun.ValPattern, "-b", "2", "-t", "8", "--device", "cpu", "--json", .. tokens]);
        json.Code.Should().Be(0, json.Err);
        json.Out.Trim().Should().NotContain("\n", "stdout holds the JSON object alone");
        using var doc = JsonDocument.Parse(json.Out);
        var root = doc.RootElement;
        root.GetProperty("task").GetString().Should().Be("loss");
        root.GetProperty("loss").GetDouble().ToString("F6", CultureInfo.InvariantCulture).Should().Be(valLoss);
        root.GetProperty("perplexity").GetDouble().Should().BeApproximately(Math.Exp(root.GetProperty("loss").GetDouble()), 1e-9);
        int batches = valMaxSteps == -1 ? 8192 / 16 : valMaxSteps;
        root.GetProperty("batches").GetInt32().Should().Be(batches);
        root.GetProperty("tokens").GetInt64().Should().Be(batches * 16L);
        json.Err.Should().Contain($"val loss {valLoss}", "the readable lines go to stderr with --json");
    }

    [Fact]
    public void Two_manual_ranks_each_score_their_slice_of_every_sample()
    {
        // Rank r of 2 reads the r-th B·T slice of every 2·B·T sample, as llm-train's val loader does on 2 processes.
        var ranks = Enumerable.Range(0, 2).Select(r => Eval("loss", "-e", TinyRun.ModelPath, "--data", TinyRun.ValPattern, "-b", "1", "-t", "8",
            "--max-tokens", "160", "--device", "cpu", "--json", "--quiet", "--rank", r.ToString(), "--world-size", "2")).ToArray();
        foreach (var rank in ranks) rank.Code.Should().Be(0, rank.Err);
        var docs = ranks.Select(r => JsonDocument.Parse(r.Out).RootElement).ToArray();
        docs.Select(d => d.GetProperty("batches").GetInt32()).Should().Equal(10, 10);
        docs[0].GetProperty("loss").GetDouble().Should().NotBe(docs[1].GetProperty("loss").GetDouble(), "different slices");
        docs.Select(d => d.GetProperty("rank").GetInt32()).Should().Equal(0, 1);
    }

    [Fact]
    public void Bad_input_is_one_line()
    {
        using var dir = new TempDir();
        var missing = Eval("loss", "-e", TinyRun.ModelPath, "--data", dir.File("nope_*.bin"), "--device", "cpu");
        missing.Code.Should().Be(1);
        missing.Err.Trim().Should().StartWith("llm-eval: error: ").And.Contain("nope_*.bin").And.NotContain("\n");

        var tooLong = Eval("loss", "-e", TinyRun.ModelPath, "--data", TinyRun.ValPattern, "--device", "cpu");
        tooLong.Code.Should().Be(1);
        tooLong.Err.Trim().Should().Contain("context is 64 positions but T = 1024").And.NotContain("\n");

        var few = Eval("loss", "-e", TinyRun.ModelPath, "--data", TinyRun.ValPattern, "-b", "1", "-t", "8", "--max-tokens", "7", "--device", "cpu");
        few.Code.Should().Be(2);
        few.Err.Trim().Should().Contain("--max-tokens 7").And.NotContain("\n");
    }
}
