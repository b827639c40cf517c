using FluentAssertions;
using LlmNet.Eval.HellaSwag;
using LlmNet.Model.Checkpoints;
using LlmNet.Model.Random;
using LlmNet.Tools.Train;
using Xunit;

namespace LlmNet.Training.Tests;

public class TrainerScheduleTests
{
    private static TrainOptions Small(string outDir, int maxSteps) =>
        TinyRun.CpuOptions(maxSteps, valEvery: 20) with { OutputDir = outDir };

    [Fact]
    public void HellaSwag_hook_runs_on_the_validation_schedule_and_is_logged()
    {
        using var dir = new TempDir();
        var hook = new FixedHellaSwag(new HellaSwagScore(3, 12, 0));
        var output = new WatchingWriter();
        var result = TrainProgram.Train(Small(dir.Path, 7) with { HellaSwag = 1, ValEvery = 3 }, output, TestContext.Current.CancellationToken, hellaSwag: hook);
        hook.Calls.Should().Be(3);
        result.HellaSwag.Select(h => h.Step).Should().Equal(3, 6, 7);
        result.HellaSwag.Should().AllSatisfy(h => h.Accuracy.Should().Be(0.25f));
        File.ReadAllLines(Path.Combine(dir.Path, "main.log")).Where(l => l.Contains("eval:")).Should().Equal("s:3 eval:0.2500", "s:6 eval:0.2500", "s:7 eval:0.2500");
        output.ToString().Should().Contain("HellaSwag: 3/12 = 0.250000");

        var noHook = () => TrainProgram.Train(Small(dir.Path, 1) with { HellaSwag = 1 }, new WatchingWriter(), TestContext.Current.CancellationToken);
        noHook.Should().Throw<LlmNet.Common.Cli.ToolException>().WithMessage("*HellaSwag*");
    }

    /// <summary>A HellaSwag evaluator that counts its calls and always scores the same.</summary>
    private sealed class FixedHellaSwag(HellaSwagScore score) : IHellaSwagEvaluator
    {
        public int Calls { get; private set; }

        public HellaSwagScore Evaluate(LlmNet.Model.IGptBackend backend, int batchSize, int seqLen, CancellationToken ct)
        {
            Calls++;
            return score;
        }
    }

    [Fact]
    public void Loss_outliers_skip_updates_after_the_128_step_window_fills()
    {
        using var dir = new TempDir();
        // A threshold below any z-score: every update is skipped once z-scores exist (from step 128 on).
        var output = new WatchingWriter();
        var result = TrainProgram.Train(Small(dir.Path, 131) with { SkipUpdateLossZ = -1000f, ValEvery = 1000, CheckpointEvery = 130, LearningRate = 1e-3f },
            output, TestContext.Current.CancellationToken);
        result.Steps.Take(128).Should().AllSatisfy(s => s.Skipped.Should().BeFalse());
        result.Steps.Skip(128).Should().AllSatisfy(s => s.Skipped.Should().BeTrue());
        output.ToString().Should().Contain("skipping update due to loss z-score of");
        File.ReadAllBytes(Path.Combine(dir.Path, "model_00000131.bin")).Should().Equal(File.ReadAllBytes(Path.Combine(dir.Path, "model_00000130.bin")),
            "a skipped update leaves the parameters alone");
        File.ReadAllLines(Path.Combine(dir.Path, "main.log")).Count(l => l.Contains("trl:")).Should().Be(131, "skipped steps are still logged");

        long n = LlmNet.Model.ParameterLayout.For(TinyRun.Config).Count;
        var before = StateFile.Read(Path.Combine(dir.Path, "state_00000130_00000.bin"), n);
        var after = StateFile.Read(Path.Combine(dir.Path, "state_00000131_00000.bin"), n);
        var rng = new XorShift(before.RngState);
        rng.NextUInt32();
        after.RngState.Should().Be(rng.State, "the skipped update's one micro-step drew its seed, the update drew none");
        after.RngStateLastUpdate.Should().Be(before.RngStateLastUpdate, "no update started");
    }

    [Fact]
    public void Stochastic_rounding_rng_advances_once_per_micro_step_and_16_times_per_update()
    {
        using var dir = new TempDir();
        TrainProgram.Train(Small(dir.Path, 3) with { TotalBatchSize = 3 * 8, CheckpointEvery = 3, ValEvery = 100 },
            new WatchingWriter(), TestContext.Current.CancellationToken);
        var state = StateFile.Read(Path.Combine(dir.Path, "state_00000003_00000.bin"), LlmNet.Model.ParameterLayout.For(TinyRun.Config).Count);
        var rng = new XorShift(13371337);
        ulong lastUpdate = 0;
        for (int step = 0; step < 3; step++)
        {
            for (int micro = 0; micro < 3; micro++) rng.NextUInt32();
            lastUpdate = rng.State;
            for (int t = 0; t < 16; t++) rng.NextUInt32();
        }
        state.RngState.Should().Be(rng.State);
        state.RngStateLastUpdate.Should().Be(lastUpdate);
        state.Step.Should().Be(3);
        state.ShouldShuffle.Should().BeTrue();
        state.SampleIndex.Should().Be(9, "three updates of three micro-steps each read nine samples of the first shard");
    }
}

public class OverfitTests
{
    [Fact]
    public void Overfitting_a_single_batch_drives_its_loss_down()
    {
        var options = new TrainOptions
        {
            TrainData = "/nonexistent/ignored_*.bin", // -a 1 trains on the validation data
            ValData = TinyRun.ValPattern,
            Init = TinyRun.ModelPath,
            BatchSize = 2,
            SeqLen = 16,
            MaxSteps = 30,
            LearningRate = 1e-2f,
            OverfitSingleBatch = 1,
            ValEvery = 1000,
            ValMaxSteps = 1,
            SampleEvery = 0,
            Device = "cpu",
        };
        var result = TrainProgram.Train(options, new WatchingWriter(), TestContext.Current.CancellationToken);
        result.Steps[^1].Loss.Should().BeLessThan(result.Steps[0].Loss - 5f, "the same 32 tokens every step are memorised");
        result.ValLosses[^1].Loss.Should().BeApproximately(result.Steps[^1].Loss, 1.0f, "validation reads that very batch");
    }
}

[Collection(ConsoleErrorCollection.Name)]
public class HellaSwagWiringTests
{
    [Fact]
    public void The_tool_checks_HellaSwag_data_and_shapes_before_training()
    {
        var err = new StringWriter();
        var saved = Console.Error;
        Console.SetError(err);
        try
        {
            string[] common = ["-e", TinyRun.ModelPath, "-i", TinyRun.TrainPattern, "-j", TinyRun.ValPattern, "-b", "4", "-t", "64", "-x", "1", "-s", "0", "-h", "1"];
            TrainProgram.Run([.. common, "--hellaswag-data", "/nonexistent/hellaswag_val.bin"], new StringWriter()).Should().Be(1);
            err.ToString().Should().Contain("/nonexistent/hellaswag_val.bin");
            TrainProgram.Run([.. common, "--hellaswag-data", LlmNet.TestSupport.RepoPaths.HellaSwagSample], new StringWriter()).Should().Be(1);
            err.ToString().Should().Contain("needs T ≥").And.Contain("but T is 64");
        }
        finally { Console.SetError(saved); }
    }
}
