using Xunit;
using LlmNet.Model;

namespace LlmNet.Cuda.Tests;

/// <summary>
/// The training path's variants against the plain one: the micro-step with the fused classifier
/// (<see cref="CudaBackend.ForwardBackward"/>) against separate Forward and Backward calls, queued micro-steps against
/// waited ones, training without
/// master weights (llm.c's -w 0), and the inference-only backend of llm-eval and llm-sample.
/// </summary>
[Collection("gpu")]
public sealed class TrainingPathTests
{
    private const int B = 4, T = 64;

    private static (int[] X, int[] Y) Batch(int seed)
    {
        var r = new Random(seed);
        int[] tokens = new int[B * T + 1];
        for (int i = 0; i < tokens.Length; i++) tokens[i] = r.Next(GptConfig.Gpt2VocabSize);
        return (tokens[..(B * T)], tokens[1..]);
    }

    private static AdamWStep Step(int t) => new(1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f, t);

    [Theory]
    [InlineData(1, 2)]
    [InlineData(2, 0)]
    public void ForwardBackward_EqualsForwardThenBackwardBitwise(int recompute, int geluFusion)
    {
        Gpu.RequireDevice();
        var config = GptConfig.FromDescriptor("d6");
        var options = new BackendOptions { Recompute = recompute, GeluFusion = geluFusion };
        AssertMicroStepsEqualForwardThenBackward(config, () => new CudaBackend(config, B, T, options));
    }

    /// <summary>
    /// Two updates of two micro-steps each on two backends from <paramref name="create"/>: one runs Forward then Backward,
    /// the other the queued micro-step (ForwardBackward); with lossScale 2^-9 the per-position losses, mean losses,
    /// gradients, gradient norms and parameters must be bitwise the same.
    /// </summary>
    internal static void AssertMicroStepsEqualForwardThenBackward(GptConfig config, Func<CudaBackend> create)
    {
        float[] parameters = GptModel.CreateFresh(config);
        var batches = new[] { Batch(11), Batch(12) };
        float lossScale = 1.0f / (B * T * batches.Length); // 2^-9: scaling commutes with bf16 rounding
        using var separate = create();
        using var fused = create();
        separate.SetParameters(parameters);
        fused.SetParameters(parameters);
        for (int step = 0; step < 2; step++)
        {
            separate.ZeroGradients();
            fused.ZeroGradients();
            for (int micro = 0; micro < batches.Length; micro++)
            {
                (int[] x, int[] y) = batches[micro];
                bool last = micro == batches.Length - 1;
                float expected = separate.Forward(x, y, B, T);
                separate.Backward(lossScale, last);
                float got = fused.ForwardBackward(x, y, B, T, lossScale, last);
                float[] le = new float[B * T], lg = new float[B * T];
                separate.GetLosses(le);
                fused.GetLosses(lg);
                Assert.True(le.AsSpan().SequenceEqual(lg), $"step {step} micro {micro}: per-position losses differ at {FirstDifference(le, lg)}");
                Assert.Equal(expected, got);
            }
            AssertSameGradients(separate, fused, $"step {step}");
            Assert.Equal(separate.GradientNormSquared(), fused.GradientNormSquared());
            separate.Update(Step(step + 1));
            fused.Update(Step(step + 1));
        }
        AssertSameParameters(separate, fused, "after two updates");
    }

    private delegate void Read(CudaBackend backend, Span<float> values);

    private static void AssertSameGradients(CudaBackend expected, CudaBackend actual, string when) =>
        AssertSame(expected, actual, (g, v) => g.GetGradients(v), "gradients", when);

    private static void AssertSameParameters(CudaBackend expected, CudaBackend actual, string when) =>
        AssertSame(expected, actual, (g, v) => g.GetParameters(v), "parameters", when);

    private static void AssertSame(CudaBackend expected, CudaBackend actual, Read read, string what, string when)
    {
        int n = (int)ParameterLayout.For(expected.Config).Count;
        float[] e = new float[n], a = new float[n];
        read(expected, e);
        read(actual, a);
        Assert.True(e.AsSpan().SequenceEqual(a), $"{when}: {what} differ at {FirstDifference(e, a)}");
    }

    [Fact]
    public void QueuedMicroSteps_EqualWaitedOnesBitwise()
    {
        Gpu.RequireDevice();
        var config = GptConfig.FromDescriptor("d6");
        float[] parameters = GptModel.CreateFresh(config);
        // Five micro-steps: more than the two pinned batch slots, so slots are reused behind their fences.
        var batches = Enumerable.Range(31, 5).Select(Batch).ToArray();
        float lossScale = 1.0f / (B * T * 8);
        using var waited = new CudaBackend(config, B, T);
        using var queued = new CudaBackend(config, B, T);
        waited.SetParameters(parameters);
        queued.SetParameters(parameters);
        int[] x = new int[B * T], y = new int[B * T];
        for (int step = 0; step < 2; step++)
        {
            waited.ZeroGradients();
            queued.ZeroGradients();
            var expected = new float[batches.Length];
            for (int micro = 0; micro < batches.Length; micro++)
            {
                bool last = micro == batches.Length - 1;
                expected[micro] = waited.ForwardBackward(batches[micro].X, batches[micro].Y, B, T, lossScale, last);
                batches[micro].X.CopyTo(x);
                batches[micro].Y.CopyTo(y);
                queued.QueueForwardBackward(x, y, B, T, lossScale, last);
                Array.Fill(x, 0); // the batch was copied when queued: reusing the arrays changes nothing
                Array.Fill(y, 0);
            }
            Assert.Throws<InvalidOperationException>(() => queued.ForwardBackward(x, y, B, T, lossScale, true));
            Assert.Equal(expected, queued.TakeLosses());
            Assert.Empty(queued.TakeLosses());
            AssertSameGradients(waited, queued, $"step {step}");
            waited.Update(Step(step + 1));
            queued.Update(Step(step + 1));
        }
        AssertSameParameters(waited, queued, "after two updates");
    }

    [Fact]
    public void ForwardBackward_WithAnyScale_IsCloseToForwardThenBackward()
    {
        Gpu.RequireDevice();
        var config = GptConfig.FromDescriptor("d6");
        float[] parameters = GptModel.CreateFresh(config);
        (int[] x, int[] y) = Batch(5);
        float lossScale = 1.0f / (B * T * 3); // not a power of two: rounding differs, values agree
        using var separate = new CudaBackend(config, B, T);
        using var fused = new CudaBackend(config, B, T);
        separate.SetParameters(parameters);
        fused.SetParameters(parameters);
        separate.ZeroGradients();
        fused.ZeroGradients();
        float expected = separate.Forward(x, y, B, T);
        separate.Backward(lossScale, true);
        Assert.Equal(expected, fused.ForwardBackward(x, y, B, T, lossScale, true));
        float[] ge = new float[parameters.Length], gg = new float[parameters.Length];
        separate.GetGradients(ge);
        fused.GetGradients(gg);
        Compare.Close(gg, ge, 2e-2, "gradients");
    }

    [Fact]
    public void ForwardBackward_NeedsTargets()
    {
        Gpu.RequireDevice();
        var config = GptConfig.FromDescriptor("d6");
        using var gpu = new CudaBackend(config, B, T);
        gpu.SetParameters(GptModel.CreateFresh(config));
        (int[] x, _) = Batch(1);
        Assert.Throws<ArgumentException>(() => gpu.ForwardBackward(x, [], B, T, 1.0f, true));
    }

    [Fact]
    public void WithoutMasterWeights_NothingIsAllocatedForThemAndTrainingLowersTheLoss()
    {
        Gpu.RequireDevice();
        var config = GptConfig.FromDescriptor("d6");
        float[] parameters = GptModel.CreateFresh(config);
        int n = parameters.Length;
        (int[] x, int[] y) = Batch(21);
        long withMaster;
        using (var reference = new CudaBackend(config, B, T)) withMaster = reference.AllocatedBytes;
        using var gpu = new CudaBackend(config, B, T, new BackendOptions { MasterWeights = false });
        Assert.False(gpu.KeepsMasterWeights);
        Assert.Equal(4L * n, withMaster - gpu.AllocatedBytes);
        Assert.DoesNotContain(gpu.Allocations, a => a.Name.Contains("master", StringComparison.Ordinal));
        Assert.Contains("no master weights (-w 0)", gpu.MemoryReport());

        gpu.SetParameters(parameters);
        float[] losses = new float[6];
        for (int step = 0; step < losses.Length; step++)
        {
            gpu.ZeroGradients();
            losses[step] = gpu.ForwardBackward(x, y, B, T, 1.0f / (B * T), true);
            double norm = Math.Sqrt(gpu.GradientNormSquared());
            gpu.Update(new AdamWStep(1e-3f, 0.9f, 0.95f, 1e-8f, 0.0f, norm > 1 ? (float)(1 / norm) : 1.0f, step + 1));
        }
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join(' ', losses.Select(l => l.ToString("F4"))));
        Assert.All(losses, l => Assert.True(float.IsFinite(l)));
        Assert.True(losses[^1] < losses[0], $"the loss should fall on a repeated batch: {string.Join(", ", losses)}");

        float[] m = new float[n], v = new float[n];
        gpu.GetOptimizerState(m, v, []);
        Assert.Contains(m, value => value != 0);
        Assert.Throws<ArgumentException>(() => gpu.GetOptimizerState(m, v, new float[n]));
        gpu.SetOptimizerState(m, v, []); // a state file without master weights
    }

    [Fact]
    public void WithoutMasterWeights_TheFirstUpdateOfBf16ParametersEqualsTheMasterWeightUpdate()
    {
        Gpu.RequireDevice();
        var config = GptConfig.FromDescriptor("d6");
        float[] parameters = GptModel.CreateFresh(config);
        for (int i = 0; i < parameters.Length; i++) parameters[i] = LlmNet.Model.Numerics.Bf16.Round(parameters[i]); // master = bf16 parameters
        (int[] x, int[] y) = Batch(31);
        float[] pw = new float[parameters.Length], pn = new float[parameters.Length];
        using (var gpu = new CudaBackend(config, B, T)) OneStep(gpu, pw);
        using (var gpu = new CudaBackend(config, B, T, new BackendOptions { MasterWeights = false })) OneStep(gpu, pn);
        Assert.True(pw.AsSpan().SequenceEqual(pn), $"parameters differ at {FirstDifference(pw, pn)}");

        void OneStep(CudaBackend gpu, float[] after)
        {
            gpu.SetParameters(parameters);
            gpu.ZeroGradients();
            gpu.ForwardBackward(x, y, B, T, 1.0f / (B * T), true);
            gpu.Update(new AdamWStep(1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f, 1));
            gpu.GetParameters(after);
        }
    }

    [Fact]
    public void InferenceOnly_AllocatesNoTrainingStateAndGivesTheSameLossesAndLogits()
    {
        Gpu.RequireDevice();
        var config = GptConfig.FromDescriptor("d6");
        float[] parameters = GptModel.CreateFresh(config);
        int n = parameters.Length;
        (int[] x, int[] y) = Batch(41);
        using var training = new CudaBackend(config, B, T);
        using var inference = (CudaBackend)Backends.Create("cuda", config, B, T, new BackendOptions { Training = false });
        Assert.True(training.IsTraining);
        Assert.False(inference.IsTraining);
        Assert.False(inference.KeepsMasterWeights);
        // gradients (2N) + m, v, master (12N) + backward scratch
        Assert.True(training.AllocatedBytes - inference.AllocatedBytes > 14L * n,
            $"inference {inference.AllocatedBytes} bytes vs training {training.AllocatedBytes}");
        string[] names = [.. inference.Allocations.Select(a => a.Name)];
        foreach (string missing in new[] { "gradients (bf16)", "AdamW m (fp32)", "AdamW v (fp32)", "master weights (fp32)", "dresidual (B,T,C)", "scratch (B,T,4C)" })
            Assert.DoesNotContain(missing, names);
        Assert.Contains("inference only", inference.MemoryReport());

        training.SetParameters(parameters);
        inference.SetParameters(parameters);
        for (int round = 0; round < 2; round++)
        {
            Assert.Equal(training.Forward(x, y, B, T), inference.Forward(x, y, B, T));
            float[] lt = new float[B * T], li = new float[B * T];
            training.GetLosses(lt);
            inference.GetLosses(li);
            Assert.Equal(lt, li);
            Assert.True(float.IsNaN(inference.Forward(x, [], B, T)));
            training.Forward(x, [], B, T);
            float[] gt = new float[config.VocabSize], gi = new float[config.VocabSize];
            training.GetLogits(3, T - 1, gt);
            inference.GetLogits(3, T - 1, gi);
            Assert.True(gt.AsSpan().SequenceEqual(gi), "logits differ");
            // A training step changes the parameters; the inference backend takes them over.
            training.ZeroGradients();
            training.ForwardBackward(x, y, B, T, 1.0f / (B * T), true);
            training.Update(Step(round + 1));
            float[] updated = new float[n];
            training.GetParameters(updated);
            inference.SetParameters(updated);
        }

        float[] buffer = new float[n];
        var step = Step(1);
        Assert.Throws<InvalidOperationException>(() => inference.ZeroGradients());
        Assert.Throws<InvalidOperationException>(() => inference.Backward(1.0f));
        Assert.Throws<InvalidOperationException>(() => inference.Backward(1.0f, true));
        Assert.Throws<InvalidOperationException>(() => inference.ForwardBackward(x, y, B, T, 1.0f, true));
        Assert.Throws<InvalidOperationException>(() => inference.GetGradients(buffer));
        Assert.Throws<InvalidOperationException>(() => inference.GradientNormSquared());
        Assert.Throws<InvalidOperationException>(() => inference.Update(step));
        Assert.Throws<InvalidOperationException>(() => inference.GetOptimizerState(buffer, buffer, []));
        var error = Assert.Throws<InvalidOperationException>(() => inference.SetOptimizerState(buffer, buffer, []));
        Assert.Contains("inference only", error.Message);
    }

    internal static int FirstDifference(float[] a, float[] b)
    {
        for (int i = 0; i < a.Length; i++)
            if (BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(b[i])) return i;
        return -1;
    }
}
