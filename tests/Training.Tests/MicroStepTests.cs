using FluentAssertions;
using LlmNet.Model;
using LlmNet.Model.Cpu;
using Xunit;
using LlmNet.Tools.Train;

namespace LlmNet.Training.Tests;

/// <summary>The training micro-step (<see cref="IGptBackend.ForwardBackward"/>): its default and how the trainer uses it.</summary>
public class MicroStepTests
{
    [Fact]
    public void The_default_micro_step_is_forward_then_backward()
    {
        var config = TinyRun.Config;
        float[] parameters = GptModel.CreateFresh(config);
        var r = new Random(3);
        int B = 2, T = 16;
        int[] tokens = Enumerable.Range(0, B * T + 1).Select(_ => r.Next(config.VocabSize)).ToArray();
        int[] x = tokens[..(B * T)], y = tokens[1..];
        float scale = 1.0f / (B * T);

        using IGptBackend separate = new CpuBackend(config, B, T, 1);
        using IGptBackend fused = new CpuBackend(config, B, T, 1);
        separate.SetParameters(parameters);
        fused.SetParameters(parameters);
        separate.ZeroGradients();
        fused.ZeroGradients();
        float expected = separate.Forward(x, y, B, T);
        separate.Backward(scale, true);
        fused.ForwardBackward(x, y, B, T, scale, true).Should().Be(expected);

        float[] ge = new float[parameters.Length], gf = new float[parameters.Length];
        separate.GetGradients(ge);
        fused.GetGradients(gf);
        gf.Should().Equal(ge);
        FluentActions.Invoking(() => fused.ForwardBackward(x, [], B, T, scale, true)).Should().Throw<ArgumentException>();
    }

    [Fact]
    public void The_trainer_trains_with_micro_steps_and_validates_with_forward_only()
    {
        var options = TinyRun.CpuOptions(totalBatchSize: 16, maxSteps: 3, valEvery: 2, valMaxSteps: 2);
        var start = TrainStart.Resolve(options);
        using var backend = new CountingBackend(new CpuBackend(start.Model.Config, 1, 8));
        backend.SetParameters(start.Model.Parameters);
        using var trainer = new Trainer(options, backend, SingleProcess.Instance, new StringWriter());
        trainer.GradAccumSteps.Should().Be(2);
        var result = trainer.Run(null, start.Model.Source, TestContext.Current.CancellationToken);
        backend.MicroSteps.Should().Be(3 * 2);
        backend.SeparateBackwards.Should().Be(0);
        result.ValLosses.Select(v => v.Step).Should().Equal(0, 2, 3);
        backend.Forwards.Should().Be(3 * 2, "each validation reads 2 batches with forward passes only");
        result.Steps.Should().OnlyContain(s => float.IsFinite(s.Loss));
    }

    [Fact]
    public void A_backend_that_queues_micro_steps_gets_all_of_an_update_before_its_losses_are_read()
    {
        var options = TinyRun.CpuOptions(totalBatchSize: 24, maxSteps: 3);
        var start = TrainStart.Resolve(options);
        TrainResult Train(IGptBackend backend)
        {
            backend.SetParameters(start.Model.Parameters);
            using var trainer = new Trainer(options, backend, SingleProcess.Instance, new StringWriter());
            trainer.GradAccumSteps.Should().Be(3);
            return trainer.Run(null, start.Model.Source, TestContext.Current.CancellationToken);
        }
        using var waited = new CountingBackend(new CpuBackend(start.Model.Config, 1, 8));
        using var queued = new QueueingBackend(new CpuBackend(start.Model.Config, 1, 8));
        var expected = Train(waited);
        var got = Train(queued);

        queued.Calls.Should().Equal(Enumerable.Repeat("queue queue queue(last) take", 3));
        got.Steps.Select(s => s.Loss).Should().Equal(expected.Steps.Select(s => s.Loss), "the losses are summed in the same order");
        got.Steps.Select(s => s.GradNorm).Should().Equal(expected.Steps.Select(s => s.GradNorm));
    }

    /// <summary>Queues micro-steps by running them at once and holding their losses until they are taken; logs the calls.</summary>
    private sealed class QueueingBackend(IGptBackend inner) : DelegatingBackend(inner), IQueuedMicroSteps
    {
        private readonly List<float> _losses = [];
        private readonly List<string> _pending = [];
        public List<string> Calls { get; } = [];

        public override float ForwardBackward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen, float lossScale, bool lastMicroStep) =>
            throw new InvalidOperationException("the trainer should queue micro-steps on this backend");

        public void QueueForwardBackward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen, float lossScale, bool lastMicroStep)
        {
            _losses.Add(base.ForwardBackward(inputs, targets, batchSize, seqLen, lossScale, lastMicroStep));
            _pending.Add(lastMicroStep ? "queue(last)" : "queue");
        }

        public float[] TakeLosses()
        {
            Calls.Add(string.Join(' ', _pending.Append("take")));
            _pending.Clear();
            float[] losses = [.. _losses];
            _losses.Clear();
            return losses;
        }
    }

    /// <summary>Counts which entry points the trainer uses; the micro-steps go to the inner backend's own.</summary>
    private sealed class CountingBackend(IGptBackend inner) : DelegatingBackend(inner)
    {
        public int MicroSteps { get; private set; }
        public int SeparateBackwards { get; private set; }
        public int Forwards => _forwards;
        private int _forwards;

        public override float Forward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen)
        {
            _forwards++;
            return base.Forward(inputs, targets, batchSize, seqLen);
        }
        public override void Backward(float lossScale, bool lastMicroStep)
        {
            SeparateBackwards++;
            base.Backward(lossScale, lastMicroStep);
        }
        public override float ForwardBackward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen, float lossScale, bool lastMicroStep)
        {
            MicroSteps++;
            return base.ForwardBackward(inputs, targets, batchSize, seqLen, lossScale, lastMicroStep);
        }
    }
}
