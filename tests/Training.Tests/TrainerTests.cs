using System.Diagnostics;
using System.Text.RegularExpressions;
using FluentAssertions;
using LlmNet.Tools.Train;
using Xunit;

namespace LlmNet.Training.Tests;

[Collection(ConsoleErrorCollection.Name)]
public class TrainerTests(ITestOutputHelper log)
{
    private static TrainOptions Options(string outDir, int maxSteps) => new()
    {
        TrainData = TinyRun.TrainPattern,
        ValData = TinyRun.ValPattern,
        Init = TinyRun.ModelPath,
        OutputDir = outDir,
        BatchSize = 2,
        SeqLen = 32,
        TotalBatchSize = 2 * 2 * 32, // two micro-steps per update
        MaxSteps = maxSteps,
        LearningRate = 3e-3f,
        Warmup = 2,
        FinalLrFraction = 0.1f,
        WeightDecay = 0.1f,
        ValEvery = 3,
        ValMaxSteps = 2,
        SampleEvery = 0,
        CheckpointEvery = 2,
        Device = "cpu",
    };

    [Fact]
    public void Resuming_after_a_kill_continues_bit_for_bit()
    {
        using var a = new TempDir();
        using var b = new TempDir();
        var whole = TrainProgram.Train(Options(a.Path, 7), new WatchingWriter(), TestContext.Current.CancellationToken);

        // Same run, stopped right after the step-4 checkpoint (the update of step 4 already ran, then the "kill").
        using var cts = new CancellationTokenSource();
        var killed = () => TrainProgram.Train(Options(b.Path, 7), new WatchingWriter("Writing checkpoint at step 4", cts), cts.Token);
        killed.Should().Throw<OperationCanceledException>();
        File.Exists(Path.Combine(b.Path, "DONE_00000004")).Should().BeTrue();
        File.Exists(Path.Combine(b.Path, "DONE_00000006")).Should().BeFalse();

        var resumed = TrainProgram.Train(Options(b.Path, 7) with { Resume = 1 }, new WatchingWriter(), TestContext.Current.CancellationToken);
        resumed.StartStep.Should().Be(4);
        resumed.Steps.Select(s => s.Step).Should().Equal(4, 5, 6);
        for (int i = 0; i < 3; i++)
        {
            var x = whole.Steps[4 + i];
            var y = resumed.Steps[i];
            BitConverter.SingleToInt32Bits(y.Loss).Should().Be(BitConverter.SingleToInt32Bits(x.Loss), $"loss of step {x.Step}");
            BitConverter.SingleToInt32Bits(y.GradNorm).Should().Be(BitConverter.SingleToInt32Bits(x.GradNorm), $"norm of step {x.Step}");
            y.LearningRate.Should().Be(x.LearningRate);
        }
        resumed.ValLosses.Should().Equal(whole.ValLosses.Where(v => v.Step >= 4));
        File.ReadAllBytes(Path.Combine(b.Path, "model_00000007.bin")).Should().Equal(File.ReadAllBytes(Path.Combine(a.Path, "model_00000007.bin")));
        File.ReadAllBytes(Path.Combine(b.Path, "state_00000007_00000.bin")).Should().Equal(File.ReadAllBytes(Path.Combine(a.Path, "state_00000007_00000.bin")));
        // The same, spelled out for the stochastic-rounding stream the backend restored from the step-4 state file.
        long n = LlmNet.Model.ParameterLayout.For(TinyRun.Config).Count;
        var stateA = LlmNet.Model.Checkpoints.StateFile.Read(Path.Combine(a.Path, "state_00000007_00000.bin"), n);
        var stateB = LlmNet.Model.Checkpoints.StateFile.Read(Path.Combine(b.Path, "state_00000007_00000.bin"), n);
        (stateB.RngState, stateB.RngStateLastUpdate).Should().Be((stateA.RngState, stateA.RngStateLastUpdate));
        stateB.RngStateLastUpdate.Should().NotBe(0UL, "updates ran, so the stream is not at its start");

        // main.log: appended on resume, so steps 4.. appear twice in b, once in a.
        var logA = File.ReadAllLines(Path.Combine(a.Path, "main.log"));
        logA.Should().Contain("s:0 tel:" + whole.ValLosses[0].Loss.ToString("F4", System.Globalization.CultureInfo.InvariantCulture));
        logA.Count(l => l.StartsWith("s:4 trl:")).Should().Be(1);
        File.ReadAllLines(Path.Combine(b.Path, "main.log")).Count(l => l.StartsWith("s:4 trl:")).Should().Be(2);
    }

    [Fact]
    public void A_tiny_model_learns_tiny_shakespeare_on_the_cpu()
    {
        using var dir = new TempDir();
        var clock = Stopwatch.StartNew();
        var options = Options(dir.Path, 60) with
        {
            BatchSize = 4, SeqLen = 64, TotalBatchSize = -1, LearningRate = 1e-2f, Warmup = 5, WeightDecay = 0f,
            ValEvery = 20, ValMaxSteps = 4, CheckpointEvery = 0,
        };
        var result = TrainProgram.Train(options, new WatchingWriter(), TestContext.Current.CancellationToken);
        clock.Stop();
        float start = result.ValLosses[0].Loss, end = result.ValLosses[^1].Loss;
        log.WriteLine($"val loss {start:F4} -> {end:F4} in {result.Steps.Count} steps, {clock.Elapsed.TotalSeconds:F1} s");
        start.Should().BeGreaterThan(10.5f, "a fresh init predicts roughly uniformly over 50257 tokens");
        end.Should().BeLessThan(start - 3.0f);
        result.ValLosses.Select(v => v.Loss).Should().BeInDescendingOrder();
    }

    [Fact]
    public void The_tool_trains_checkpoints_samples_and_rotates_checkpoints_end_to_end()
    {
        using var dir = new TempDir();
        var output = new WatchingWriter();
        int rc = TrainProgram.Run(
        [
            "-i", TinyRun.TrainPattern, "-j", TinyRun.ValPattern, "-e", TinyRun.ModelPath, "-o", dir.Path,
            "-b", "2", "-t", "16", "-x", "5", "-n", "1", "-nk", "2", "-nm", "2", "-v", "2", "-m", "1",
            "-s", "5", "-g", "6", "-k", "linear", "-l", "1e-3", "-u", "1", "--device", "cpu",
        ], output);
        string text = output.ToString();
        log.WriteLine(text);
        rc.Should().Be(0);

        // Checkpoints 1 and 3 were rotated out; 2 and 4 are majors; 5 is the last step.
        Directory.GetFiles(dir.Path, "DONE_*").Select(Path.GetFileName).Order().Should().Equal("DONE_00000002", "DONE_00000004", "DONE_00000005");
        Directory.GetFiles(dir.Path, "model_*").Should().HaveCount(3);
        Directory.GetFiles(dir.Path, "state_*").Select(Path.GetFileName).Order().Should().Equal(
            "state_00000002_00000.bin", "state_00000004_00000.bin", "state_00000005_00000.bin");
        new FileInfo(Path.Combine(dir.Path, "model_00000005.bin")).Length.Should().Be(1024 + 4 * LlmNet.Model.ParameterLayout.For(TinyRun.Config).Count);

        var lines = File.ReadAllLines(Path.Combine(dir.Path, "main.log"));
        lines.Should().HaveCount(5 + 4); // five train lines; val at 0, 2, 4 and the last step
        lines.Where(l => l.Contains("trl")).Should().AllSatisfy(l => Regex.IsMatch(l, @"^s:\d+ trl:\d+\.\d{4} lr:\d\.\d{6} norm:\d+\.\d{2}$").Should().BeTrue(l));
        lines.Where(l => l.Contains("tel")).Select(l => l.Split(' ')[0]).Should().Equal("s:0", "s:2", "s:4", "s:5");

        text.Should().Contain("=> setting grad_accum_steps=1");
        Regex.IsMatch(text, @"step    1/5 \| loss \d+\.\d{6} \(\+nanz\)\| norm +\d+\.\d{4} \(\+nanz\)\| lr 1\.00e-03 \| \d+\.\d{2} ms \| \d+ tok/s").Should().BeTrue();
        text.Should().Contain("generating:\n---\n").And.Contain("Writing checkpoint at step 5").And.Contain("Deleting checkpoint at step 3");
    }

    [Fact]
    public void Bad_command_lines_and_inputs_fail_with_clear_errors()
    {
        var err = new StringWriter();
        var saved = Console.Error;
        Console.SetError(err);
        try
        {
            TrainProgram.Run(["-Q", "1"], new StringWriter()).Should().Be(2);
            err.ToString().Should().Contain("llm-train: error: unknown flag -Q");
            TrainProgram.Run(["-i", "/nonexistent/shards_*.bin", "-e", TinyRun.ModelPath, "-t", "16", "-s", "0"], new StringWriter()).Should().Be(1);
            err.ToString().Should().Contain("/nonexistent/shards_*.bin: no file matches");
            TrainProgram.Run(["-e", "d13"], new StringWriter()).Should().Be(2);
            TrainProgram.Run(["-e", TinyRun.ModelPath, "--device", "cuda", "-t", "16", "-s", "0"], new StringWriter()).Should().Be(1);
            err.ToString().Should().Contain("--device cuda: no usable GPU");
            TrainProgram.Run(["-e", TinyRun.ModelPath, "-i", TinyRun.TrainPattern, "-j", TinyRun.ValPattern, "-t", "16", "-b", "2", "-d", "100", "-s", "0"], new StringWriter()).Should().Be(2);
            err.ToString().Should().Contain("multiple of B*T*processes = 32");
            string blocker = Path.Combine(TinyRun.DataDir, "not-a-folder");
            File.WriteAllText(blocker, "");
            TrainProgram.Run(["-e", TinyRun.ModelPath, "-i", TinyRun.TrainPattern, "-j", TinyRun.ValPattern, "-t", "16", "-s", "0", "-o", Path.Combine(blocker, "out")], new StringWriter()).Should().Be(1);
            err.ToString().Should().Contain("cannot create the output folder");
        }
        finally { Console.SetError(saved); }
    }
}
