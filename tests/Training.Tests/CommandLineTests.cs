using FluentAssertions;
using LlmNet.Common.Cli;
using LlmNet.Common.Logs;
using LlmNet.Common.Text;
using LlmNet.Tools.Train;
using LlmNet.Training.Logging;
using Xunit;

namespace LlmNet.Training.Tests;

public class CommandLineTests
{
    private static TrainOptions Parse(string line) => TrainCommandLine.Parse(Split(line))!;

    // A shell-ish split: whitespace separated, double quotes group.
    private static string[] Split(string line) =>
        System.Text.RegularExpressions.Regex.Matches(line, "\"([^\"]*)\"|(\\S+)").Select(m => m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value).ToArray();

    [Fact]
    public void Defaults_are_llm_c_defaults()
    {
        var o = Parse("");
        o.Should().BeEquivalentTo(new TrainOptions());
        o.BatchSize.Should().Be(4);
        o.SeqLen.Should().Be(1024);
        o.LearningRate.Should().Be(3e-4f);
        o.ValEvery.Should().Be(20);
        o.GenT.Should().Be(64);
        o.Init.Should().Be("gpt2_124M_bf16.bin");
    }

    [Fact]
    public void The_1558M_command_line_parses_with_llm_c_meanings()
    {
        var o = Parse("-i \"dev/data/edu_fineweb100B/edu_fineweb_train_*.bin\" -j \"dev/data/edu_fineweb100B/edu_fineweb_val_*.bin\" -o log_gpt2_1558M -v 250 -s 300000 -g 384 -h 1 -b 16 -t 1024 -d 1048576 -r 0 -z 1 -c 0.1 -k \"cosine\" -l 0.0006 -q 0.1 -u 700 -n 2000 -x 32000 -ge 1 -y 1 -e \"d48\"");
        o.TrainData.Should().Be("dev/data/edu_fineweb100B/edu_fineweb_train_*.bin");
        o.ValData.Should().Be("dev/data/edu_fineweb100B/edu_fineweb_val_*.bin");
        o.OutputDir.Should().Be("log_gpt2_1558M");
        (o.ValEvery, o.SampleEvery, o.GenT, o.HellaSwag).Should().Be((250, 300000, 384, 1));
        (o.BatchSize, o.SeqLen, o.TotalBatchSize).Should().Be((16, 1024, 1048576));
        (o.Recompute, o.ZeroStage, o.WeightDecay, o.LrScheduler).Should().Be((0, 1, 0.1f, "cosine"));
        (o.LearningRate, o.FinalLrFraction, o.Warmup).Should().Be((0.0006f, 0.1f, 700));
        (o.CheckpointEvery, o.MaxSteps, o.GeluFusion, o.Resume, o.Init).Should().Be((2000, 32000, 1, 1, "d48"));
    }

    [Fact]
    public void Matching_quirks_follow_llm_c()
    {
        Parse("-ze 1").ZeroStage.Should().Be(1, "-ze is read as -z");
        Parse("-bx 8").BatchSize.Should().Be(8);
        Parse("-gx 5").GenT.Should().Be(5, "-g? other than -ge means -g");
        Parse("-ge 2").GeluFusion.Should().Be(2);
        Parse("-nk 3 -nm 10 -n 5").Should().Match<TrainOptions>(o => o.CheckpointsKeep == 3 && o.MajorCheckpointEvery == 10 && o.CheckpointEvery == 5);
        Parse("-sl 7 -sg 6 -s 9").Should().Match<TrainOptions>(o => o.SkipUpdateLossZ == 7 && o.SkipUpdateGradZ == 6 && o.SampleEvery == 9);
        Parse("-l 1e-3 -lg 10").LearningRate.Should().Be(1e-3f);
        Parse("-pn 2 -pr 1 -pg 4 -pi tcp -ps 10.0.0.1 -pf /tmp/x").Should().Match<TrainOptions>(o =>
            o.NumProcesses == 2 && o.ProcessRank == 1 && o.GpusPerNode == 4 && o.InitMethod == "tcp" && o.ServerIp == "10.0.0.1" && o.FsPath == "/tmp/x");
        Parse("-x -1 -m -1").Should().Match<TrainOptions>(o => o.MaxSteps == -1 && o.ValMaxSteps == -1);

        foreach (string bad in new[] { "-lx 1", "-sx 1", "-nx 1", "-p 1", "-px 1", "-Q 1", "-abcd 1", "-e" })
            FluentActions.Invoking(() => Parse(bad)).Should().Throw<UsageException>(bad);
    }

    [Fact]
    public void Long_names_and_device_work_and_bad_values_are_usage_errors()
    {
        var o = Parse("--train-data a.bin --val-data b.bin --init d12 --output-dir out --batch-size 8 --seq-len 256 --total-batch-size 4096 --max-steps 10 --lr 0.001 --warmup 5 --device cpu");
        (o.TrainData, o.ValData, o.Init, o.OutputDir, o.BatchSize, o.SeqLen, o.TotalBatchSize, o.MaxSteps, o.LearningRate, o.Warmup, o.Device)
            .Should().Be(("a.bin", "b.bin", "d12", "out", 8, 256, 4096, 10, 0.001f, 5, "cpu"));
        Parse("-x 5 -x 7").MaxSteps.Should().Be(7, "a repeated llm.c flag overrides, as in llm.c");
        Parse("--max-steps -1").MaxSteps.Should().Be(-1);
        FluentActions.Invoking(() => Parse("-b many")).Should().Throw<UsageException>();
        FluentActions.Invoking(() => Parse("--device tpu")).Should().Throw<UsageException>();
        FluentActions.Invoking(() => Parse("-k step")).Should().Throw<UsageException>();
        FluentActions.Invoking(() => Parse("--no-such-flag 1")).Should().Throw<UsageException>();
    }

    [Fact]
    public void Help_lists_long_names_with_their_llm_c_flags()
    {
        var text = new StringWriter();
        TrainCommandLine.Parse(["--help"], text).Should().BeNull();
        text.ToString().Should().Contain("--total-batch-size").And.Contain("[-d]").And.Contain("--device").And.Contain("[-nk]");
    }

    [Fact]
    public void Llm_c_flags_without_a_meaning_here_are_accepted_ignored_and_said_so_once_in_help()
    {
        Parse("-lg 10 -f 0 -fx 1").Should().BeEquivalentTo(new TrainOptions(), "-lg and -f change nothing");
        FluentActions.Invoking(() => Parse("-lg x")).Should().Throw<UsageException>("their values are still checked as llm.c's integers");
        var text = new StringWriter();
        TrainCommandLine.Parse(["--help"], text);
        string help = text.ToString();
        help.Should().Contain("-lg N (").And.Contain("-f N (").And.Contain("are accepted for compatibility and ignored");
        help.Should().NotContain("--log-gpu-every").And.NotContain("--tf32");
    }

    [Fact]
    public void Main_log_lines_have_llm_c_formats()
    {
        MainLog.TrainLine(5, 3.14159f, 0.0006f, 1.23456f).Should().Be("s:5 trl:3.1416 lr:0.000600 norm:1.23");
        MainLog.ValLine(0, 10.98766f).Should().Be("s:0 tel:10.9877");
        MainLog.ValLine(1, 10.98765f).Should().Be("s:1 tel:10.9876", "the float is just below the halfway point, as printf sees it");
        MainLog.EvalLine(250, 0.25f).Should().Be("s:250 eval:0.2500");
        CFormat.F(double.NaN, 2, plus: true).Should().Be("+nan");
        CFormat.F(-1.234, 2, plus: true).Should().Be("-1.23");
        CFormat.F(0.5, 4, 6).Should().Be("0.5000");
        CFormat.F(3.5, 6, 7).Should().Be("3.500000");
        CFormat.F(1.5, 1, 5).Should().Be("  1.5");
        CFormat.E(6e-4, 2).Should().Be("6.00e-04");
        CFormat.E(0, 2).Should().Be("0.00e+00");
        CFormat.E(3e-4, 6).Should().Be("3.000000e-04");
    }

    [Fact]
    public void Peak_flops_table_knows_hopper_and_ampere()
    {
        PeakFlops.Bf16Tflops("NVIDIA H100 80GB HBM3").Should().BeApproximately(988.8, 0.1);
        PeakFlops.Bf16Tflops("NVIDIA H200").Should().Be(PeakFlops.Bf16Tflops("NVIDIA H100 80GB HBM3"));
        PeakFlops.Bf16Tflops("NVIDIA A100-SXM4-80GB").Should().Be(312);
        PeakFlops.Bf16Tflops("cpu (2 threads)").Should().BeNull();
        PeakFlops.Mfu(1e9, 1000, 1.0, null).Should().Be(-1);
    }
}
