using FluentAssertions;
using LlmNet.Model;
using LlmNet.Model.Checkpoints;
using LlmNet.Model.Cpu;
using LlmNet.Tools.Train;
using Xunit;

namespace LlmNet.Training.Tests;

/// <summary>llm.c's -w (use_master_weights): the flag, what reaches the backend, and checkpoints without master weights.</summary>
public class MasterWeightsTests
{
    [Theory]
    [InlineData("", 1)]
    [InlineData("-w 0", 0)]
    [InlineData("-w 1", 1)]
    [InlineData("--master-weights 0", 0)]
    [InlineData("-b 8 -w 0 -r 2", 0)]
    public void The_flag_parses(string line, int expected) =>
        TrainCommandLine.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries))!.UseMasterWeights.Should().Be(expected);

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, true)]
    [InlineData(2, true)]
    public void The_flag_reaches_the_backend_settings(int flag, bool keep)
    {
        var options = TrainCommandLine.Parse(["-w", flag.ToString(), "-r", "2", "-ge", "1"])!;
        var settings = options.ToBackendOptions(SingleProcess.Instance);
        settings.MasterWeights.Should().Be(keep);
        (settings.Recompute, settings.GeluFusion).Should().Be((2, 1));
    }

    [Fact]
    public void A_bf16_backend_without_master_weights_writes_v5_models_and_states_without_master()
    {
        using var dir = new TempDir();
        var options = new TrainOptions
        {
            TrainData = TinyRun.TrainPattern, ValData = TinyRun.ValPattern, Init = TinyRun.ModelPath, OutputDir = dir.Path,
            BatchSize = 2, SeqLen = 16, MaxSteps = 2, ValEvery = 0, ValMaxSteps = 1, SampleEvery = 0, CheckpointEvery = 1,
            UseMasterWeights = 0, Device = "cpu",
        };
        var start = TrainStart.Resolve(options);
        using var backend = new Bf16Reporting(new CpuBackend(start.Model.Config, 2, 16));
        backend.SetParameters(start.Model.Parameters);
        var output = new StringWriter();
        using (var trainer = new Trainer(options, backend, SingleProcess.Instance, output))
            trainer.Run(null, start.Model.Source, TestContext.Current.CancellationToken);

        var checkpoints = new CheckpointDirectory(dir.Path);
        ModelFile.ReadHeader(checkpoints.ModelPath(2)).Dtype.Should().Be(ModelDtype.Bf16);
        var state = StateFile.Read(checkpoints.StatePath(2, 0), ParameterLayout.For(start.Model.Config).Count);
        state.UseMasterWeights.Should().BeFalse();
        state.Master.Should().BeNull();
        output.ToString().Should().Contain("use_master_weights    | disabled").And.NotContain("master copy of params");
    }

    [Fact]
    public void On_a_gpu_llm_train_with_w_0_trains_and_checkpoints_without_master_weights()
    {
        if (!LlmNet.Cuda.CudaBackend.IsAvailable(out string why)) Assert.Skip(why);
        using var dir = new TempDir();
        var output = new StringWriter();
        int rc = TrainProgram.Run(["-i", TinyRun.TrainPattern, "-j", TinyRun.ValPattern, "-e", "d6", "-o", dir.Path, "-b", "4", "-t", "64",
            "-x", "6", "-l", "0.001", "-v", "0", "-m", "2", "-s", "0", "-n", "6", "-w", "0", "--device", "cuda"], output);
        rc.Should().Be(0, output.ToString());
        output.ToString().Should().Contain("use_master_weights    | disabled").And.NotContain("master copy of params");

        var checkpoints = new CheckpointDirectory(dir.Path);
        var (config, dtype) = ModelFile.ReadHeader(checkpoints.ModelPath(6));
        dtype.Should().Be(ModelDtype.Bf16);
        var state = StateFile.Read(checkpoints.StatePath(6, 0), ParameterLayout.For(config).Count);
        state.Master.Should().BeNull();
        var losses = LlmNet.Common.Logs.MainLogReader.Read(Path.Combine(dir.Path, "main.log")).Train.Values.Select(r => r.Loss).ToArray();
        losses.Should().HaveCount(6).And.OnlyContain(l => float.IsFinite(l));
        losses[^1].Should().BeLessThan(losses[0]);
    }

    /// <summary>The CPU backend (no master weights) standing in for a bf16 backend run with -w 0.</summary>
    private sealed class Bf16Reporting(IGptBackendProbe inner) : DelegatingBackend(inner)
    {
        public override ModelDtype ParameterDtype => ModelDtype.Bf16;
    }
}
