using System.Text.RegularExpressions;
using FluentAssertions;
using LlmNet.Cuda.Bench.Report;
using LlmNet.Model;
using LlmNet.TestSupport;
using Xunit;

namespace LlmNet.Cuda.Tests;

/// <summary>
/// <c>llm-cuda-bench report</c> (tests/Cuda.Bench/Report) on recorded text: the files tests/gpu/speed-bench.sh leaves
/// in its OUT folder (Fixtures/speed-bench, synthetic, see its README) and llm.c's stored reference output. CPU only.
/// </summary>
public sealed class SpeedReportTests : IDisposable
{
    private static readonly string Fixtures = Path.Combine(RepoPaths.Root, "tests", "Cuda.Tests", "Fixtures", "speed-bench");
    private static readonly string References = Path.Combine(RepoPaths.Root, "tests", "gpu", "reference");
    private readonly string _dir = Directory.CreateTempSubdirectory("llmnet-speed-report-").FullName;

    public SpeedReportTests() => CopyFixture(_dir);

    /// <summary>
    /// What speed-bench.sh leaves behind in its OUT folder: the run files (Fixtures/speed-bench), and the stored
    /// reference copied beside them. CompareReportTests makes one such folder per build.
    /// </summary>
    internal static void CopyFixture(string dir)
    {
        foreach (string f in Directory.EnumerateFiles(Fixtures)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        File.Copy(Path.Combine(References, "llmc-zipf-d12.txt"), Path.Combine(dir, "llmc-zipf-d12.txt"));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string In(string name) => Path.Combine(_dir, name);

    private static TrainLog Reference(string size) => TrainLog.Read(Path.Combine(References, $"llmc-zipf-{size}.txt"));

    // ------------------------------------------------------------ logs and samples

    [Fact]
    public void TrainLog_ReadsLlmTrainOutput_WithTimeStampsAndHeader()
    {
        var log = TrainLog.Read(In("d12.log"));
        log.Steps.Should().HaveCount(25);
        log.Steps[0].Should().Be(new StepLine(1, 10.936588, 2.0, 1890.0, new DateTime(2026, 12, 7, 10, 0, 3, 913)));
        log.Steps[^1].Step.Should().Be(25);
        log.ValLosses.Should().Equal(10.939263, 9.286272);
        log.Header["device"].Should().Be("NVIDIA H100 80GB HBM3");
        log.HeaderInt("total batch size").Should().Be(524288);
        RunFigures.Config(log).Should().Be(GptConfig.FromDescriptor("d12"));
    }

    [Fact]
    public void TrainLog_ReadsLlmcStoredOutput_WithoutTimesOrStepTimes()
    {
        var log = Reference("d48");
        log.Steps.Should().HaveCount(40);
        log.Steps[2].Should().Be(new StepLine(3, 10.475663, 249.9167, null, null));
        log.ValLosses.Should().Equal(11.061420, 8.148851);
        log.Header.Should().BeEmpty();
    }

    [Fact]
    public void TrainLog_ReadsNanAndInfinity_AsPrintfWritesThem()
    {
        var log = TrainLog.Parse([
            "step    3/10 | loss -nan (+nanz)| norm inf (+nanz)| lr 2.57e-06 | 931.00 ms | 45.0% bf16 MFU | 563145 tok/s",
            "step    4/10 | loss nan| norm -nan| lr 3.43e-06",
            "val loss nan",
        ]);
        log.Steps.Should().HaveCount(2);
        double.IsNaN(log.Steps[0].Loss).Should().BeTrue();
        log.Steps[0].Norm.Should().Be(double.PositiveInfinity);
        log.Steps[0].Ms.Should().Be(931.0);
        log.Steps[1].Ms.Should().BeNull();
        double.IsNaN(log.ValLosses.Single()).Should().BeTrue();
    }

    [Fact]
    public void GpuSamples_SkipTornLines_AndLeaveUnreadableFieldsOut()
    {
        var s = GpuSamples.Parse([
            "timestamp, memory.used [MiB], power.draw [W], clocks.sm [MHz], clocks.mem [MHz], temperature.gpu",
            "2026/12/07 10:00:00.000, 1000, 600.00, 1700, 2619, 50",
            "2026/12/07 10:00:00.100, 3000, [N/A], 1800, 2619, 51",
            "2026/12/07 10:00:00.200, 2000, 700.00, 1900, 2619, 52",
            "2026/12/07 10:00:00.3",
        ]);
        s.All.Should().HaveCount(3);
        s.PeakMemoryMib.Should().Be(3000);
        GpuSamples.Mean(s.All.Select(x => x.PowerW)).Should().Be(650);
        var window = s.Between(new DateTime(2026, 12, 7, 10, 0, 0), new DateTime(2026, 12, 7, 10, 0, 0, 200));
        window.Select(x => x.SmMhz).Should().Equal(1800, 1900); // (from, to]
    }

    // ------------------------------------------------------------ loss check

    [Fact]
    public void LossCheck_PassesWithinTolerance_AndNamesTheWorstStep()
    {
        var c = LossCheck.Compare(TrainLog.Read(In("d12.log")), Reference("d12"), maxSteps: 20, tolerance: 0.01);
        c.Pass.Should().BeTrue(c.Problem);
        c.StepsCompared.Should().Be(20);
        c.WorstStep.Should().Be(17);
        c.MaxDiff.Should().BeApproximately(3.1e-4, 1e-9);
        c.FirstVal.Should().Be((10.939263, 10.939205));
        c.LastVal.Should().Be((9.286272, 9.286214));
        LossCheck.Compare(TrainLog.Read(In("d12.log")), Reference("d12"), maxSteps: 20, tolerance: 3e-4).Pass.Should().BeFalse();
    }

    [Fact]
    public void LossCheck_FailsOnOneStepOverTolerance()
    {
        var lines = File.ReadAllLines(In("d12.log"));
        int i = Array.FindIndex(lines, l => l.Contains("step    5/25"));
        lines[i] = lines[i].Replace("loss 10.371961", "loss 10.391961");
        var c = LossCheck.Compare(TrainLog.Parse(lines), Reference("d12"), 20, 0.01);
        c.Pass.Should().BeFalse();
        c.WorstStep.Should().Be(5);
        c.Problem.Should().Be("step 5 off by 2.0e-2");
    }

    [Fact]
    public void LossCheck_FailsWhenTheRunStoppedEarly_OrDiverged_OrStartedElsewhere()
    {
        var lines = File.ReadAllLines(In("d12.log"));
        var stopped = lines.Where(l => !l.Contains("\tstep ") || TrainLog.Parse([l]).Steps.Single().Step <= 12);
        LossCheck.Compare(TrainLog.Parse(stopped), Reference("d12"), 20, 0.01).Problem.Should().Be("steps 13.. missing");

        int i = Array.FindIndex(lines, l => l.Contains("step    7/25"));
        string[] diverged = [.. lines];
        diverged[i] = Regex.Replace(diverged[i], @"loss \S+", "loss -nan");
        var nan = LossCheck.Compare(TrainLog.Parse(diverged), Reference("d12"), 20, 0.01);
        nan.Pass.Should().BeFalse();
        nan.MaxDiff.Should().Be(double.PositiveInfinity);

        string[] otherInit = [.. lines.Select(l => l.Replace("val loss 10.939263", "val loss 10.959263"))];
        LossCheck.Compare(TrainLog.Parse(otherInit), Reference("d12"), 20, 0.01).Problem.Should().Be("first val loss off by 2.0e-2");

        LossCheck.Compare(TrainLog.Parse([]), Reference("d12"), 20, 0.01).Problem.Should().Be("no step lines");
    }

    // ------------------------------------------------------------ figures

    [Fact]
    public void Median_OfOddAndEvenCounts()
    {
        RunFigures.Median([3, 1, 2]).Should().Be(2);
        RunFigures.Median([4, 1, 3, 2]).Should().Be(2.5);
    }

    [Fact]
    public void RunFigures_TimeTheStepsAfterWarmUp_AndAverageTheSamplesOfThoseStepsOnly()
    {
        var f = RunFigures.Measure(BenchRun.Read(In("d12.run")), "NVIDIA H100 80GB HBM3", 20, 0.01);
        f.TimedSteps.Should().Be(22);
        f.MedianMs.Should().BeApproximately(933.6, 1e-9);
        f.TokensPerSecond.Should().BeApproximately(524288 / 0.9336, 1e-6);
        // 6N + 6LCT flops per token (N = 124,475,904 for d12) against the H100 SXM's 988.8 TFLOP/s (llm.c's mfu.h figure).
        f.Mfu.Should().BeApproximately((6.0 * 124_475_904 + 6.0 * 12 * 768 * 1024) * (524288 / 0.9336) / 988.84e12, 1e-4);
        f.PeakMemoryMib.Should().Be(28035);
        f.MeanPowerW.Should().Be(686); // the warm-up's and the validation's 250 W samples are outside the window
        f.MeanSmMhz.Should().Be(1643);
        f.WindowSamples.Should().BeInRange(200, 210); // 22 steps of ~934 ms at 100 ms
        f.Verdict.Should().Be("yes");
        f.Counts.Should().BeTrue();
        f.Failed.Should().BeFalse();
    }

    [Fact]
    public void RunFigures_WithoutAReference_DoNotCount_ButAreNoFailure()
    {
        var f = RunFigures.Measure(BenchRun.Read(In("d48-1m.run")), null, 20, 0.01);
        f.TimedSteps.Should().Be(3);
        f.MedianMs.Should().Be(20190.12);
        f.Mfu.Should().BeApproximately((6.0 * 1_557_686_400 + 6.0 * 48 * 1600 * 1024) * (1048576 / 20.19012) / 988.84e12, 1e-4);
        f.MeanPowerW.Should().BeNull(); // no samples
        f.PeakMemoryMib.Should().BeNull();
        f.Check.Should().BeNull();
        f.Verdict.Should().Be("no: no reference");
        f.Failed.Should().BeFalse();
    }

    [Fact]
    public void RunFigures_OfARunThatTimedOut_OrLostItsReference_Fail()
    {
        File.AppendAllText(In("d12.run"), "exit=124\n"); // a later line wins, as the script appends it
        var timedOut = RunFigures.Measure(BenchRun.Read(In("d12.run")), null, 20, 0.01);
        timedOut.Verdict.Should().Be("no: exit 124");
        timedOut.Failed.Should().BeTrue();

        File.AppendAllText(In("d12.run"), "exit=0\n");
        File.Delete(In("llmc-zipf-d12.txt"));
        var lost = RunFigures.Measure(BenchRun.Read(In("d12.run")), null, 20, 0.01);
        lost.Verdict.Should().Be("no: no reference (llmc-zipf-d12.txt missing)");
        lost.Failed.Should().BeTrue();
    }

    [Fact]
    public void ReferenceRun_OfLlmc_IsShownBesideOurs_WithoutACheckOfItsOwn()
    {
        File.WriteAllLines(In("llmc_d48-1m.run"), ["name=llmc_d48-1m", "role=reference", "program=train_gpt2cu",
            "flags=-e d48 -b 16 -d 1048576 -r 2", "warmup=1", "reference=", "note=llm.c without cuDNN", "exit=0"]);
        File.Copy(In("d48-1m.log"), In("llmc_d48-1m.log"));
        File.AppendAllText(In("d48-1m.run"), "reference=llmc_d48-1m.log\n");
        var runs = BenchRun.ReadAll(_dir);
        runs.Select(r => r.Name).Should().Equal("d12", "d48-1m", "llmc_d48-1m");
        var ours = RunFigures.Measure(runs[1], null, 20, 0.01);
        ours.Check!.StepsCompared.Should().Be(4);
        ours.Verdict.Should().Be("yes");
        var theirs = RunFigures.Measure(runs[2], null, 20, 0.01);
        theirs.Verdict.Should().Be("reference run");
        theirs.Failed.Should().BeFalse();
        theirs.Run.Note.Should().Be("llm.c without cuDNN");

        File.AppendAllText(In("llmc_d48-1m.run"), "exit=124\n");
        var cut = RunFigures.Measure(BenchRun.Read(In("llmc_d48-1m.run")), null, 20, 0.01);
        cut.Verdict.Should().Be("reference run, exit 124");
        cut.Failed.Should().BeTrue();
    }

    // ------------------------------------------------------------ the command

    private (int Code, string Out, string Err) Report(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = ReportCommand.Run(["report", .. args], o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void Report_PrintsOneRowPerRun_BesideItsLossCheck_AndTheProfile()
    {
        var r = Report(_dir);
        r.Code.Should().Be(0, r.Err);
        r.Err.Should().BeEmpty();
        string[] lines = r.Out.Split('\n');
        lines[0].Should().Be("### NVIDIA H100 80GB HBM3, 2026-12-07, commit abc1234");
        r.Out.Should().Contain("NVIDIA H100 80GB HBM3, driver 580.159.04, CUDA 13.0, power limit 700 W, 81,559 MiB, max SM clock 1980 MHz.");
        r.Out.Should().Contain("988.8 TFLOP/s");
        lines.Should().Contain("| d12 | `llm-train -e d12 -b 64 -d 524288 -r 0 -q 0.0 -x 25` | 22 (after 3) | 933.6 | 561,577 | 45.6% | 28,035 | 686 | 1,643 | PASS 3.1e-4 over 20 steps | yes |");
        lines.Should().Contain("| d48-1m | `llm-train -e d48 -b 16 -d 1048576 -r 0 -k cosine -q 0.1 -ge 1 -x 4` | 3 (after 1) | 20,190.1 | 51,935 | 51.6% | — | — | — | no reference | no: no reference |");
        lines.Should().Contain("| d12 | llmc-zipf-d12.txt | 20 | 3.1e-4 (17) | 10.939263 / 10.939205 | 9.286272 / 9.286214 | PASS |");
        r.Out.Should().Contain("Every command also had llm.c's common flags `-i /tmp/zipf/synth_train_*.bin");
        r.Out.Should().Contain("391.7 ms wall, 379.4 ms in kernels and matmuls (serialized)");
        lines.Should().Contain("| 101.22 | 26.7% | 48 | `matmul 16384x6400x1600 tB gelu` |");
        File.ReadAllText(In("report.md")).Should().Be(r.Out);
    }

    [Fact]
    public void Report_OfAFailedLossCheck_PrintsTheTable_AndExitsOne()
    {
        File.WriteAllLines(In("d12.log"), File.ReadAllLines(In("d12.log")).Select(l => l.Replace("loss 10.371961", "loss 10.391961")));
        var r = Report(_dir);
        r.Code.Should().Be(1);
        r.Out.Should().Contain("| FAIL 2.0e-2 over 20 steps | no: loss check failed |");
        r.Out.Should().Contain("| FAIL: step 5 off by 2.0e-2 |");
        r.Err.Trim().Split('\n').Should().ContainSingle().Which.Should().StartWith("llm-cuda-bench: report: a run failed");
    }

    [Fact]
    public void Report_ChecksAsManyStepsAsAsked()
    {
        var r = Report(_dir, "--steps", "10", "--tol", "0.001");
        r.Code.Should().Be(0, r.Err);
        r.Out.Should().Contain("PASS 1.0e-4 over 10 steps");
        r.Out.Should().Contain("every step up to 10 and the first val loss within 0.001");
    }

    [Theory]
    [InlineData(new string[0], 2, "usage: llm-cuda-bench report DIR")]
    [InlineData(new[] { "--steps", "x", "." }, 2, "--steps x: expected a positive step count")]
    [InlineData(new[] { ".", "--tol" }, 2, "--tol needs a value")]
    [InlineData(new[] { ".", "extra" }, 2, "unexpected argument 'extra'")]
    [InlineData(new[] { "/nonexistent/speed-bench-out" }, 1, "/nonexistent/speed-bench-out: no such folder")]
    public void Report_BadCommandLine_OneLineAndNonZeroExit(string[] args, int code, string message)
    {
        var r = Report(args);
        r.Code.Should().Be(code);
        r.Out.Should().BeEmpty();
        r.Err.Trim().Split('\n').Should().ContainSingle().Which.Should().Contain(message).And.StartWith("llm-cuda-bench: report: ");
    }

    [Fact]
    public void Report_OfAFolderWithoutRuns_SaysWhatToRunFirst()
    {
        string empty = Directory.CreateDirectory(In("empty")).FullName;
        var r = Report(empty);
        r.Code.Should().Be(1);
        r.Err.Should().Contain("no *.run files; run tests/gpu/speed-bench.sh with OUT=");
    }
}
