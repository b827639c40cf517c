using FluentAssertions;
using LlmNet.Common.Cli;
using LlmNet.Distributed.Launch;
using LlmNet.Model;
using LlmNet.Model.Cpu;
using LlmNet.Tools.Train;
using Xunit;

namespace LlmNet.Training.Tests;

/// <summary>How llm-train decides between one process and a launch of several, before any backend exists.</summary>
public class MultiProcessLaunchTests
{
    private static LaunchInfo TwoRanks(int rank) =>
        new(rank, 2, rank, "flags", InitMethod.Tcp, "127.0.0.1", LaunchInfo.DefaultPort, null, null);

    [Fact]
    public void One_process_gets_the_single_process_group()
    {
        ProcessGroupFactory.Create(new TrainOptions { Device = "cpu" }, () => LaunchInfo.Single)
            .Should().BeSameAs(SingleProcess.Instance);
    }

    [Fact]
    public void Several_processes_on_the_cpu_are_a_clear_error()
    {
        var act = () => ProcessGroupFactory.Create(new TrainOptions { Device = "cpu", NumProcesses = 2 }, () => TwoRanks(1));
        act.Should().Throw<ToolException>().WithMessage("*2 processes*--device cuda*one process with --device cpu*");
    }

    [Fact]
    public void An_inconsistent_launch_is_a_usage_error()
    {
        // -pr outside 0..pn-1, read through the real detection (no launcher variables in the test environment).
        var act = () => ProcessGroupFactory.Create(new TrainOptions { Device = "cpu", NumProcesses = 2, ProcessRank = 5, InitMethod = "tcp", ServerIp = "127.0.0.1" });
        act.Should().Throw<UsageException>().WithMessage("*-pr 5*");
    }

    [Fact]
    public void Llm_train_with_two_processes_on_the_cpu_exits_with_one_error_line()
    {
        var errors = new StringWriter();
        var saved = Console.Error;
        Console.SetError(errors);
        try
        {
            TrainProgram.Run(["-pn", "2", "-pr", "1", "-pi", "tcp", "-ps", "127.0.0.1", "--device", "cpu",
                "-i", TinyRun.TrainPattern, "-j", TinyRun.ValPattern, "-e", TinyRun.ModelPath], new StringWriter()).Should().Be(1);
        }
        finally { Console.SetError(saved); }
        errors.ToString().Should().StartWith("llm-train: error: ").And.Contain("--device cuda");
    }

    [Fact]
    public void The_trainer_marks_only_the_last_micro_step_of_each_window()
    {
        var options = TinyRun.CpuOptions(totalBatchSize: 24, maxSteps: 2);
        var start = TrainStart.Resolve(options);
        using var backend = new RecordingBackend(new CpuBackend(start.Model.Config, 1, 8));
        backend.SetParameters(start.Model.Parameters);
        using var trainer = new Trainer(options, backend, SingleProcess.Instance, new StringWriter());
        trainer.GradAccumSteps.Should().Be(3);
        trainer.Run(null, start.Model.Source, TestContext.Current.CancellationToken);
        backend.LastMicroStepFlags.Should().Equal(false, false, true, false, false, true);
    }

    /// <summary>A backend that records the flag of every micro-step and otherwise defers to the CPU backend.</summary>
    private sealed class RecordingBackend(IGptBackendProbe inner) : DelegatingBackend(inner)
    {
        public List<bool> LastMicroStepFlags { get; } = [];
        public override void QueueForwardBackward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen, float lossScale, bool lastMicroStep)
        {
            LastMicroStepFlags.Add(lastMicroStep);
            base.QueueForwardBackward(inputs, targets, batchSize, seqLen, lossScale, lastMicroStep);
        }
    }
}
