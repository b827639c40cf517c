using Xunit;
using LlmNet.Model;
using LlmNet.Model.Cpu;

namespace LlmNet.Cuda.Tests;

/// <summary>
/// The whole model: llm.c's test_gpt2 protocol (d12, B=4, T=64, the same batch for 10 steps, AdamW lr 1e-4,
/// clipping at 1.0, no weight decay) on the GPU against the fp32 CPU reference backend, plus determinism.
/// </summary>
[Collection("gpu")]
public sealed class ModelTests
{
    // Train runs at this B and T; ClassifierChunkTests reads them and the thresholds below.
    internal const int B = 4, T = 64;
    private const int Steps = 10;

    // llm.c test_gpt2.cu per-tensor gradient thresholds (element OK if |a-b| <= thr + 0.079|b|).
    internal static readonly float[] s_gradThresholds =
        [5e-1f, 4e-3f, 1e-1f, 4e-2f, 5e-2f, 3.5e-2f, 2e-2f, 3e-2f, 5e-2f, 3e-2f, 3e-2f, 3e-2f, 2e-2f, 1e-2f, 1e-1f, 2e-2f];

    internal static (int[] X, int[] Y) Batch(int seed)
    {
        var r = new Random(seed);
        int[] tokens = new int[B * T + 1];
        for (int i = 0; i < tokens.Length; i++) tokens[i] = r.Next(GptConfig.Gpt2VocabSize);
        return (tokens[..(B * T)], tokens[1..]);
    }

    /// <summary>Runs llm.c's test loop; returns the losses and the step-0 gradients.</summary>
    internal static (float[] Losses, float[] Grads0) Train(IGptBackendProbe backend, float[] parameters, int[] x, int[] y, int steps = Steps)
    {
        backend.SetParameters(parameters);
        float[] losses = new float[steps];
        float[] grads0 = new float[parameters.Length];
        for (int step = 0; step < steps; step++)
        {
            losses[step] = backend.Forward(x, y, B, T);
            backend.ZeroGradients();
            backend.Backward(1.0f / (B * T));
            if (step == 0) backend.GetGradients(grads0);
            double norm = Math.Sqrt(backend.GradientNormSquared());
            float scale = norm > 1.0 ? (float)(1.0 / norm) : 1.0f;
            backend.Update(new AdamWStep(1e-4f, 0.9f, 0.95f, 1e-8f, 0.0f, scale, step + 1));
        }
        return (losses, grads0);
    }

    [Fact]
    public void D12_TenSteps_MatchCpuReference()
    {
        Gpu.RequireDevice();
        var config = GptConfig.FromDescriptor("d12");
        float[] parameters = GptModel.CreateFresh(config);
        (int[] x, int[] y) = Batch(1337);
        float[] gpuLosses, gpuGrads, cpuLosses, cpuGrads;
        using (var gpu = new CudaBackend(config, B, T))
            (gpuLosses, gpuGrads) = Train(gpu, parameters, x, y);
        using (var cpu = new CpuBackend(config, B, T))
            (cpuLosses, cpuGrads) = Train(cpu, parameters, x, y);

        var report = new List<string>();
        for (int s = 0; s < Steps; s++) report.Add($"step {s}: cuda {gpuLosses[s]:F6} cpu {cpuLosses[s]:F6}");
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join('\n', report));
        for (int s = 0; s < Steps; s++)
            Assert.True(Math.Abs(gpuLosses[s] - cpuLosses[s]) <= 0.05, $"loss at step {s}: cuda {gpuLosses[s]} vs cpu {cpuLosses[s]}\n{string.Join('\n', report)}");

        var layout = ParameterLayout.For(config);
        var failures = new List<string>();
        foreach (ParameterTensor t in ParameterLayout.Tensors)
        {
            long bad = 0, first = -1;
            double maxDiff = 0;
            for (long i = layout.Offset(t); i < layout.Offset(t) + layout.Size(t); i++)
            {
                float a = gpuGrads[i], b = cpuGrads[i];
                double diff = Math.Abs(a - b);
                maxDiff = Math.Max(maxDiff, diff);
                if (!float.IsFinite(a) || diff > s_gradThresholds[(int)t] + 0.079 * Math.Abs(b)) { bad++; if (first < 0) first = i; }
            }
            TestContext.Current.TestOutputHelper?.WriteLine($"grad {ParameterLayout.Name(t),-9} max |diff| {maxDiff:E2}, {bad} outside tolerance");
            if (bad > 0) failures.Add($"{ParameterLayout.Name(t)}: {bad} elements outside tolerance (first at {first}: cuda {gpuGrads[first]} cpu {cpuGrads[first]})");
        }
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Theory]
    [InlineData("d12")]
    [InlineData("d24")]
    [InlineData("d36")]
    [InlineData("d48")]
    public void EverySize_TrainsFromLlmcInit(string size)
    {
        // The same 10 steps at every GPT-2 size. A backend whose update breaks the model (as d48's once did: master
        // weights copied in part) sits at ln V = 10.82 from the second step on; a training one memorises the batch.
        // tests/gpu/ladder.sh compares these sizes step by step against PyTorch and llm.c.
        Gpu.RequireDevice();
        var config = GptConfig.FromDescriptor(size);
        float[] parameters = GptModel.CreateFresh(config);
        (int[] x, int[] y) = Batch(1337);
        float[] losses;
        using (var gpu = new CudaBackend(config, B, T)) losses = Train(gpu, parameters, x, y).Losses;
        TestContext.Current.TestOutputHelper?.WriteLine($"{size}: {string.Join(' ', losses.Select(l => l.ToString("F4")))}");
        Assert.True(losses.All(float.IsFinite), $"{size}: non-finite loss");
        Assert.InRange(losses[0], 10.5f, 11.5f); // fresh init: close to ln 50257
        // Not step by step: at lr 1e-4 on one repeated batch the loss of d24 and d36 rises at some steps, in PyTorch's
        // fp32 reference too (tests/gpu/torch_reference.py, 2026-12-05). After 10 steps it is far below ln V.
        Assert.True(losses[^1] < MathF.Log(config.VocabSize) - 0.5f && losses[^1] < losses[0] - 2.0f,
            $"{size}: after {Steps} steps the loss is {losses[^1]} (ln V = 10.82; {string.Join(' ', losses)}): the updates do not train");
    }

    [Fact]
    public void Training_IsBitwiseDeterministic()
    {
        Gpu.RequireDevice();
        var config = GptConfig.FromDescriptor("d12");
        float[] parameters = GptModel.CreateFresh(config);
        (int[] x, int[] y) = Batch(7);
        float[] p1 = new float[parameters.Length], p2 = new float[parameters.Length];
        float[] l1, l2;
        using (var gpu = new CudaBackend(config, B, T)) { l1 = Train(gpu, parameters, x, y, 4).Losses; gpu.GetParameters(p1); }
        using (var gpu = new CudaBackend(config, B, T)) { l2 = Train(gpu, parameters, x, y, 4).Losses; gpu.GetParameters(p2); }
        Assert.Equal(l1, l2);
        Assert.True(p1.AsSpan().SequenceEqual(p2), "parameters differ between two identical runs");
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(2, 0)]
    public void RecomputeAndGeluFusion_GiveTheSameTraining(int recompute, int geluFusion)
    {
        Gpu.RequireDevice();
        var config = GptConfig.FromDescriptor("d12");
        float[] parameters = GptModel.CreateFresh(config);
        (int[] x, int[] y) = Batch(99);
        float[] reference, variant;
        using (var gpu = new CudaBackend(config, B, T, new BackendOptions { Recompute = 1, GeluFusion = 0 }))
            reference = Train(gpu, parameters, x, y, 3).Losses;
        using (var gpu = new CudaBackend(config, B, T, new BackendOptions { Recompute = recompute, GeluFusion = geluFusion }))
            variant = Train(gpu, parameters, x, y, 3).Losses;
        for (int s = 0; s < reference.Length; s++)
            Assert.True(Math.Abs(reference[s] - variant[s]) < 0.02, $"step {s}: -r {recompute} -ge {geluFusion} loss {variant[s]} vs {reference[s]}");
        if (geluFusion == 0) Assert.Equal(reference, variant); // recompute alone changes nothing
    }

    [Fact]
    public void ForwardWithoutTargets_KeepsLogits()
    {
        Gpu.RequireDevice();
        var config = GptConfig.FromDescriptor("d6");
        float[] parameters = GptModel.CreateFresh(config);
        (int[] x, int[] y) = Batch(3);
        using var gpu = new CudaBackend(config, B, T);
        using var cpu = new CpuBackend(config, B, T);
        gpu.SetParameters(parameters);
        cpu.SetParameters(parameters);
        Assert.True(float.IsNaN(gpu.Forward(x, [], B, T)));
        cpu.Forward(x, [], B, T);
        float[] a = new float[config.VocabSize], b = new float[config.VocabSize];
        gpu.GetLogits(2, 17, a);
        cpu.GetLogits(2, 17, b);
        Compare.Close(a, b, 3e-2, "logits");
        float loss = gpu.Forward(x, y, B, T);
        Assert.InRange(loss, 10.0f, 12.0f); // ln(50257) = 10.82 at initialisation
    }

    [Fact]
    public void IsAvailable_ExplainsWhyNot()
    {
        bool available = CudaBackend.IsAvailable(out string reason);
        if (available) Assert.Equal("", reason);
        else Assert.False(string.IsNullOrWhiteSpace(reason));
    }
}
