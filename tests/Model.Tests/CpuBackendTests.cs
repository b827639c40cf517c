using FluentAssertions;
using LlmNet.Model.Cpu;
using LlmNet.Model.Random;
using Xunit;

namespace LlmNet.Model.Tests;

public sealed class CpuBackendTests
{
    private static readonly GptConfig Cfg = TinyModel.Config;
    private const int B = TinyModel.B, T = TinyModel.T;

    private static CpuBackend Backend(float[] parameters, int threads = 0)
    {
        var backend = new CpuBackend(Cfg, B, T, threads);
        backend.SetParameters(parameters);
        return backend;
    }

    [Fact]
    public void Forward_matches_double_precision_reference()
    {
        var p = TinyModel.RandomParameters(Cfg);
        var (x, y) = TinyModel.Batch(Cfg, B, T);
        using var backend = Backend(p);
        float loss = backend.Forward(x, y, B, T);
        double expected = ReferenceGpt.Loss(Cfg, Array.ConvertAll(p, v => (double)v), x, y, B, T, out var refLogits);
        loss.Should().BeApproximately((float)expected, 1e-5f);
        var logits = new float[Cfg.VocabSize];
        for (int r = 0; r < B; r++)
            for (int t = 0; t < T; t++)
            {
                backend.GetLogits(r, t, logits);
                for (int j = 0; j < Cfg.VocabSize; j++)
                    logits[j].Should().BeApproximately((float)refLogits[(r * T + t) * Cfg.VocabSize + j], 2e-5f);
            }
        var losses = new float[B * T];
        backend.GetLosses(losses);
        losses.Average().Should().BeApproximately(loss, 1e-6f);
    }

    [Fact]
    public void Gradients_match_central_finite_differences_for_every_tensor()
    {
        var p = TinyModel.RandomParameters(Cfg);
        var (x, y) = TinyModel.Batch(Cfg, B, T);
        var layout = ParameterLayout.For(Cfg);
        using var backend = Backend(p);
        backend.Forward(x, y, B, T);
        backend.ZeroGradients();
        backend.Backward(1.0f / (B * T));
        var grads = new float[layout.Count];
        backend.GetGradients(grads);

        var pd = Array.ConvertAll(p, v => (double)v);
        var rng = new Mt19937(11);
        const double h = 1e-5;
        foreach (ParameterTensor tensor in ParameterLayout.Tensors)
        {
            long size = tensor == ParameterTensor.Wte ? Cfg.VocabSize * Cfg.Channels : layout.Size(tensor);
            // wpe only receives gradient on the first T rows; sample from those.
            if (tensor == ParameterTensor.Wpe) size = T * Cfg.Channels;
            double maxError = 0;
            for (int s = 0; s < 12; s++)
            {
                long i = layout.Offset(tensor) + rng.NextUInt32() % (uint)size;
                double saved = pd[i];
                pd[i] = saved + h;
                double plus = ReferenceGpt.Loss(Cfg, pd, x, y, B, T, out _);
                pd[i] = saved - h;
                double minus = ReferenceGpt.Loss(Cfg, pd, x, y, B, T, out _);
                pd[i] = saved;
                double numeric = (plus - minus) / (2 * h);
                double error = Math.Abs(grads[i] - numeric);
                maxError = Math.Max(maxError, error / (1e-4 + Math.Abs(numeric)));
                error.Should().BeLessThan(2e-5 + 2e-3 * Math.Abs(numeric), $"{ParameterLayout.Name(tensor)}[{i - layout.Offset(tensor)}]: analytic {grads[i]} vs numeric {numeric}");
            }
        }
        // The pad rows of wte never get a gradient.
        for (long i = layout.Offset(ParameterTensor.Wte) + Cfg.VocabSize * Cfg.Channels; i < layout.Offset(ParameterTensor.Wpe); i++) grads[i].Should().Be(0f);
    }

    [Fact]
    public void Gradients_accumulate_across_backward_calls()
    {
        var p = TinyModel.RandomParameters(Cfg);
        var (x, y) = TinyModel.Batch(Cfg, B, T);
        int n = p.Length;
        using var backend = Backend(p);
        backend.Forward(x, y, B, T);
        backend.ZeroGradients();
        backend.Backward(0.5f);
        var once = new float[n];
        backend.GetGradients(once);
        backend.Forward(x, y, B, T);
        backend.Backward(0.5f);
        var twice = new float[n];
        backend.GetGradients(twice);
        for (int i = 0; i < n; i++) twice[i].Should().BeApproximately(2 * once[i], 1e-6f + 1e-5f * Math.Abs(once[i]));
    }

    [Fact]
    public void Results_are_bit_identical_for_any_thread_count()
    {
        var p = TinyModel.RandomParameters(Cfg);
        var (x, y) = TinyModel.Batch(Cfg, B, T);
        float[] Run(int threads, out float loss, out double norm)
        {
            using var backend = Backend(p, threads);
            loss = backend.Forward(x, y, B, T);
            backend.ZeroGradients();
            backend.Backward(1.0f / (B * T));
            norm = backend.GradientNormSquared();
            backend.Update(new AdamWStep(1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f, 1));
            var after = new float[p.Length];
            backend.GetParameters(after);
            return after;
        }
        var a = Run(1, out float lossA, out double normA);
        var b = Run(3, out float lossB, out double normB);
        lossB.Should().Be(lossA);
        normB.Should().Be(normA);
        b.Should().Equal(a);
    }

    [Fact]
    public void Smaller_batch_and_sequence_than_allocated_work()
    {
        var p = TinyModel.RandomParameters(Cfg);
        var (x, y) = TinyModel.Batch(Cfg, 1, 5);
        using var backend = new CpuBackend(Cfg, 4, 8);
        backend.SetParameters(p);
        float loss = backend.Forward(x, y, 1, 5);
        double expected = ReferenceGpt.Loss(Cfg, Array.ConvertAll(p, v => (double)v), x, y, 1, 5, out _);
        loss.Should().BeApproximately((float)expected, 1e-5f);
        backend.Forward(x, [], 1, 5).Should().Be(float.NaN);
    }

    [Fact]
    public void AdamW_matches_a_double_precision_reference()
    {
        var p = TinyModel.RandomParameters(Cfg);
        var (x, y) = TinyModel.Batch(Cfg, B, T);
        int n = p.Length;
        using var backend = Backend(p);
        var param = Array.ConvertAll(p, v => (double)v);
        var m = new double[n];
        var v = new double[n];
        var layout = ParameterLayout.For(Cfg);
        var grads = new float[n];
        for (int step = 1; step <= 3; step++)
        {
            backend.Forward(x, y, B, T);
            backend.ZeroGradients();
            backend.Backward(1.0f / (B * T));
            backend.GetGradients(grads);
            var update = new AdamWStep(LearningRate: 1e-2f, Beta1: 0.9f, Beta2: 0.95f, Epsilon: 1e-8f, WeightDecay: 0.1f, GradScale: 0.5f, T: step);
            backend.Update(update);
            foreach (ParameterTensor tensor in ParameterLayout.Tensors)
            {
                double wd = ParameterLayout.HasWeightDecay(tensor) ? 0.1 : 0.0;
                for (long i = layout.Offset(tensor); i < layout.Offset(tensor) + layout.Size(tensor); i++)
                {
                    double g = 0.5 * grads[i];
                    m[i] = 0.9 * m[i] + 0.1 * g;
                    v[i] = 0.95 * v[i] + 0.05 * g * g;
                    double mHat = m[i] / (1 - Math.Pow(0.9, step)), vHat = v[i] / (1 - Math.Pow(0.95, step));
                    param[i] -= 1e-2 * (mHat / (Math.Sqrt(vHat) + 1e-8) + wd * param[i]);
                }
            }
            var actual = new float[n];
            backend.GetParameters(actual);
            for (int i = 0; i < n; i++) actual[i].Should().BeApproximately((float)param[i], 2e-5f, $"parameter {i} after step {step}");
        }
        var mOut = new float[n];
        var vOut = new float[n];
        backend.GetOptimizerState(mOut, vOut, []);
        for (int i = 0; i < n; i += 97) mOut[i].Should().BeApproximately((float)m[i], 1e-6f + 1e-4f * (float)Math.Abs(m[i]));
        backend.KeepsMasterWeights.Should().BeFalse();
    }

    [Fact]
    public void Loss_falls_when_training_on_a_repeated_batch()
    {
        var p = GptModel.CreateFresh(Cfg);
        var (x, y) = TinyModel.Batch(Cfg, B, T);
        using var backend = Backend(p);
        float first = 0, last = 0;
        for (int step = 0; step < 30; step++)
        {
            float loss = backend.Forward(x, y, B, T);
            if (step == 0) first = loss;
            last = loss;
            backend.ZeroGradients();
            backend.Backward(1.0f / (B * T));
            backend.Update(new AdamWStep(3e-3f, 0.9f, 0.95f, 1e-8f, 0.0f, 1.0f, step + 1));
        }
        first.Should().BeApproximately(MathF.Log(Cfg.VocabSize), 0.1f);
        last.Should().BeLessThan(first * 0.5f);
    }

    [Fact]
    public void Incremental_decoder_matches_full_forward_logits()
    {
        var p = TinyModel.RandomParameters(Cfg);
        var (x, _) = TinyModel.Batch(Cfg, 1, T);
        using var backend = Backend(p);
        backend.Forward(x, [], 1, T);
        IIncrementalDecoder decoder = backend;
        var full = new float[Cfg.VocabSize];
        var step = new float[Cfg.VocabSize];
        for (int pass = 0; pass < 2; pass++)
        {
            decoder.Reset();
            for (int t = 0; t < T; t++)
            {
                decoder.Step(x[t], step);
                backend.GetLogits(0, t, full);
                for (int j = 0; j < full.Length; j++) step[j].Should().BeApproximately(full[j], 1e-5f);
            }
            decoder.Position.Should().Be(T);
        }
        var act = () => decoder.Step(x[0], step);
        act.Should().Throw<InvalidOperationException>();
    }

    [Fact]
    public void Out_of_range_tokens_are_rejected()
    {
        using var backend = Backend(TinyModel.RandomParameters(Cfg));
        var bad = new int[B * T];
        bad[3] = Cfg.VocabSize;
        var act = () => backend.Forward(bad, [], B, T);
        act.Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void The_rounding_seed_stream_advances_as_on_the_gpu_once_per_backward_and_once_per_tensor_per_update()
    {
        var p = TinyModel.RandomParameters(Cfg);
        var (x, y) = TinyModel.Batch(Cfg, B, T);
        using var backend = new CpuBackend(Cfg, B, T, rank: 2);
        backend.SetParameters(p);
        var expected = new XorShift(RoundingSeeds.SeedBase() + 2);
        backend.RngState.Should().Be(expected.State, "the stream starts at 13371337 + rank");

        backend.Forward(x, y, B, T);
        backend.RngState.Should().Be(expected.State, "a forward pass draws nothing");
        backend.ZeroGradients();
        backend.Backward(1.0f / (B * T));
        backend.QueueForwardBackward(x, y, B, T, 1.0f / (B * T), lastMicroStep: true);
        backend.TakeLosses();
        expected.NextUInt32();
        expected.NextUInt32();
        backend.RngState.Should().Be(expected.State, "one draw per backward pass, separate or queued");

        ulong atUpdate = expected.State;
        backend.Update(new AdamWStep(1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f, 1));
        for (int i = 0; i < ParameterLayout.TensorCount; i++) expected.NextUInt32();
        backend.RngStateLastUpdate.Should().Be(atUpdate);
        backend.RngState.Should().Be(expected.State, "one draw per parameter tensor");

        backend.RestoreRngState(42, 7);
        (backend.RngState, backend.RngStateLastUpdate).Should().Be((42UL, 7UL));
    }

    [Fact]
    public void Rounding_seeds_are_llm_cs_xorshift_stream()
    {
        var seeds = RoundingSeeds.ForRank(1);
        var reference = new XorShift(RoundingSeeds.SeedBase() + 1);
        seeds.StateAtLastUpdate.Should().Be(0UL, "as in a state file written before the first update");
        seeds.NextMicroStepSeed().Should().Be(reference.NextUInt32());
        ulong before = seeds.State;
        seeds.StartUpdate();
        seeds.StateAtLastUpdate.Should().Be(before);
        for (int i = 0; i < ParameterLayout.TensorCount; i++) seeds.NextTensorSeed().Should().Be(reference.NextUInt32());
        seeds.StateAtLastUpdate.Should().Be(before, "only the start of an update is remembered");
        seeds.Restore(before, 5);
        (seeds.State, seeds.StateAtLastUpdate).Should().Be((before, 5UL));
        seeds.NextTensorSeed().Should().Be(new XorShift(before).NextUInt32());
    }
}
