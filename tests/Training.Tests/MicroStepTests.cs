using FluentAssertions;
using LlmNet.Model;
using LlmNet.Model.Cpu;
using LlmNet.Tools.Train;
using Xunit;

namespace LlmNet.Training.Tests;

/// <summary>The training micro-step (<see cref="IGptBackend.QueueForwardBackward"/>, <see cref="IGptBackend.TakeLosses"/>) and how the trainer uses it.</summary>
public class MicroStepTests
{
    private static (int[] X, int[] Y) Batch(GptConfig config, Random r, int B, int T)
    {
        int[] tokens = Enumerable.Range(0, B * T + 1).Select(_ => r.Next(config.VocabSize)).ToArray();
        return (tokens[..(B * T)], tokens[1..]);
    }

    /// <summary>A one-thread CPU backend holding <paramref name="parameters"/>, gradients zeroed.</summary>
    private static IGptBackendProbe FreshBackend(float[] parameters, int B, int T)
    {
        var backend = new CpuBackend(TinyRun.Config, B, T, 1);
        backend.SetParameters(parameters);
        backend.ZeroGradients();
        return backend;
    }

    [Fact]
    public void The_cpu_micro_step_is_forward_then_backward()
    {
        var config = TinyRun.Config;
        float[] parameters = GptModel.CreateFresh(config);
        int B = 2, T = 16;
        var (x, y) = Batch(config, new Random(3), B, T);
        float scale = 1.0f / (B * T);

        using IGptBackendProbe separate = FreshBackend(parameters, B, T), fused = FreshBackend(parameters, B, T);
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
    public void The_cpu_queue_gives_the_losses_and_gradients_of_forward_and_backward_one_by_one()
    {
        var config = TinyRun.Config;
        float[] parameters = GptModel.CreateFresh(config);
        var r = new Random(5);
        int B = 2, T = 16, accum = 3;
        var batches = Enumerable.Range(0, accum).Select(_ => Batch(config, r, B, T)).ToArray();
        float scale = 1.0f / (B * T * accum);

        using IGptBackendProbe separate = FreshBackend(parameters, B, T), queued = FreshBackend(parameters, B, T);
        var expected = new float[accum];
        for (int micro = 0; micro < accum; micro++)
        {
            bool last = micro == accum - 1;
            expected[micro] = separate.Forward(batches[micro].X, batches[micro].Y, B, T);
            separate.Backward(scale, last);
            queued.QueueForwardBackward(batches[micro].X, batches[micro].Y, B, T, scale, last);
        }
        queued.TakeLosses().Should().Equal(expected, "the losses come back in queue order");
        queued.TakeLosses().Should().BeEmpty("taking the losses empties the queue");

        float[] ge = new float[parameters.Length], gq = new float[parameters.Length];
        separate.GetGradients(ge);
        queued.GetGradients(gq);
        gq.Should().Equal(ge);
        queued.RngState.Should().Be(separate.RngState, "each backward pass draws one rounding seed, queued or not");
        FluentActions.Invoking(() => queued.QueueForwardBackward(batches[0].X, [], B, T, scale, true)).Should().Throw<ArgumentException>();
        queued.TakeLosses().Should().BeEmpty("a refused micro-step is not queued");
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
    public void The_trainer_queues_all_micro_steps_of_an_update_before_their_losses_are_read()
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
        using var atOnce = new CpuBackend(start.Model.Config, 1, 8);
        using var deferred = new DeferringBackend(new CpuBackend(start.Model.Config, 1, 8));
        var expected = Train(atOnce);
        var got = Train(deferred);

        deferred.Calls.Should().Equal(Enumerable.Repeat("queue queue queue(last) take", 3));
        got.Steps.Select(s => s.Loss).Should().Equal(expected.Steps.Select(s => s.Loss), "the losses are summed in the same order");
        got.Steps.Select(s => s.GradNorm).Should().Equal(expected.Steps.Select(s => s.GradNorm));
        for (int i = 0; i < got.Steps.Count; i++)
            got.Steps[i].Loss.Should().Be((deferred.Taken[i][0] + deferred.Taken[i][1] + deferred.Taken[i][2]) / 3,
                "the step's loss is the in-order float sum of the micro-steps' mean losses over grad_accum");
    }

    /// <summary>
    /// Queues micro-steps as a GPU would, without running them: they run, in order, only when their losses are taken.
    /// Logs the calls and keeps every batch of losses taken.
    /// </summary>
    private sealed class DeferringBackend(IGptBackendProbe inner) : DelegatingBackend(inner)
    {
        private readonly List<(int[] X, int[] Y, int B, int T, float Scale, bool Last)> _queued = [];
        public List<string> Calls { get; } = [];
        public List<float[]> Taken { get; } = [];

        public override float ForwardBackward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen, float lossScale, bool lastMicroStep) =>
            throw new InvalidOperationException("the trainer should queue micro-steps");

        public override void QueueForwardBackward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen, float lossScale, bool lastMicroStep)
        {
            int bt = batchSize * seqLen;
            _queued.Add((inputs[..bt].ToArray(), targets[..bt].ToArray(), batchSize, seqLen, lossScale, lastMicroStep));
        }

        public override float[] TakeLosses()
        {
            Calls.Add(string.Join(' ', _queued.Select(q => q.Last ? "queue(last)" : "queue").Append("take")));
            foreach (var q in _queued) base.QueueForwardBackward(q.X, q.Y, q.B, q.T, q.Scale, q.Last);
            _queued.Clear();
            float[] losses = base.TakeLosses();
            Taken.Add(losses);
            return losses;
        }
    }

    /// <summary>Counts which entry points the trainer uses; the micro-steps go to the inner backend's own.</summary>
    private sealed class CountingBackend(IGptBackendProbe inner) : DelegatingBackend(inner)
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
        public override void QueueForwardBackward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen, float lossScale, bool lastMicroStep)
        {
            MicroSteps++;
            base.QueueForwardBackward(inputs, targets, batchSize, seqLen, lossScale, lastMicroStep);
        }
    }
}
