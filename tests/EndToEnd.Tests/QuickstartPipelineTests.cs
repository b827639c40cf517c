using System.Text;
using System.Text.Json;
using CliWrap;
using CliWrap.Buffered;
using FluentAssertions;
using LlmNet.Common.Formats;
using LlmNet.TestSupport;
using Xunit;

namespace LlmNet.EndToEnd.Tests;

/// <summary>
/// Drives the real executables through pipelines/quickstart.sh at toy scale, as a newcomer would:
/// tools built into bin/, the offline default corpus, CPU training, HellaSwag on the shared smoke
/// file, sampling and plots. Then checks that a re-run skips finished work and that one stage runs alone.
/// </summary>
public sealed class QuickstartPipelineTests : IDisposable
{
    private const int Steps = 40;
    private readonly string _work = Directory.CreateTempSubdirectory("llmnet-quickstart-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    private Task<BufferedCommandResult> Quickstart(params string[] args) =>
        Cli.Wrap("bash")
            .WithArguments([Path.Combine(RepoPaths.Root, "pipelines", "quickstart.sh"), .. args])
            .WithWorkingDirectory(RepoPaths.Root)
            .WithEnvironmentVariables(env => env
                .Set("WORK", _work)
                .Set("STEPS", Steps.ToString())
                .Set("DEVICE", "cpu")
                .Set("HELLASWAG", RepoPaths.HellaSwagSample))
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(Encoding.UTF8, TestContext.Current.CancellationToken);

    [Fact]
    public async Task Quickstart_runs_every_stage_then_skips_finished_work()
    {
        var first = await Quickstart();
        first.ExitCode.Should().Be(0, $"quickstart failed:\n{first.StandardOutput}\n{first.StandardError}");

        // Shards: val first, then train, all valid llm.c shards.
        string shards = Path.Combine(_work, "shards");
        File.Exists(Path.Combine(shards, "quick_val_000000.bin")).Should().BeTrue();
        var trainShards = Directory.GetFiles(shards, "quick_train_*.bin");
        trainShards.Should().NotBeEmpty();
        foreach (var shard in trainShards) TokenShard.ReadHeader(shard).Should().BeGreaterThan(0);

        // Training: the log has every step, val loss fell clearly, the final checkpoint is complete.
        string run = Path.Combine(_work, "run");
        var log = File.ReadAllLines(Path.Combine(run, "main.log"));
        log.Count(l => l.Contains(" trl:")).Should().Be(Steps);
        var val = log.Where(l => l.Contains(" tel:")).Select(l => double.Parse(l.Split("tel:")[1])).ToArray();
        val.Length.Should().BeGreaterThan(1);
        val[^1].Should().BeLessThan(val[0] - 1.0, "the val loss should clearly fall: {0}", string.Join(", ", val));
        File.Exists(Path.Combine(run, $"DONE_{Steps:D8}")).Should().BeTrue();
        new FileInfo(Path.Combine(run, $"model_{Steps:D8}.bin")).Length.Should().BeGreaterThan(1024);

        // HellaSwag, sample and plots.
        using (var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "hellaswag.json"))))
        {
            json.RootElement.GetProperty("total").GetInt32().Should().Be(40);
            json.RootElement.GetProperty("accuracy").GetDouble().Should().BeInRange(0, 1);
        }
        File.ReadAllText(Path.Combine(run, "sample.txt")).Should().NotBeNullOrWhiteSpace();
        File.ReadAllBytes(Path.Combine(run, "curves.png")).Take(8).Should().Equal(0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A);
        File.ReadAllText(Path.Combine(run, "curves.svg")).Should().Contain("<svg");

        // A re-run finds everything done and does not train again.
        var again = await Quickstart("--from", "corpus");
        again.ExitCode.Should().Be(0, again.StandardError);
        (again.StandardOutput + again.StandardError).Should().Contain("train: finished run");
        File.ReadAllLines(Path.Combine(run, "main.log")).Count(l => l.Contains(" trl:")).Should().Be(Steps);

        // One stage alone.
        File.Delete(Path.Combine(run, "curves.png"));
        var plot = await Quickstart("--stage", "plot");
        plot.ExitCode.Should().Be(0, plot.StandardError);
        File.Exists(Path.Combine(run, "curves.png")).Should().BeTrue();
    }

    [Fact]
    public async Task Unknown_stage_is_a_clear_error()
    {
        var result = await Quickstart("--stage", "nope");
        result.ExitCode.Should().NotBe(0);
        result.StandardError.Should().Contain("unknown stage 'nope'");
    }
}
