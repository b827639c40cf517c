using System.Diagnostics;

namespace LlmNet.Model.Cpu;

/// <summary>Timing of full training steps (forward, backward, AdamW) of the CPU backend.</summary>
public sealed record CpuBenchmarkResult(string Descriptor, int BatchSize, int SeqLen, int Threads, int Steps,
    double SecondsPerStep, double CpuSecondsPerStep, double TokensPerSecond, double GflopsPerSecond, double ForwardSeconds, double BackwardSeconds, double UpdateSeconds);

public static class CpuBenchmark
{
    /// <summary>
    /// Builds a fresh model for <paramref name="descriptor"/>, runs <paramref name="warmup"/> untimed and
    /// <paramref name="steps"/> timed steps on random tokens, and reports tokens/s and achieved GFLOP/s
    /// (6·N + 6·L·C·T FLOPs per token, llm.c's count).
    /// </summary>
    public static CpuBenchmarkResult Run(string descriptor = "d12", int batchSize = 4, int seqLen = 64, int steps = 5,
        int warmup = 1, int threads = 0, TextWriter? log = null)
    {
        var config = GptConfig.FromDescriptor(descriptor);
        using var backend = new CpuBackend(config, batchSize, seqLen, threads);
        backend.SetParameters(GptModel.CreateFresh(config));
        var rng = new Random.Mt19937(1337);
        int bt = batchSize * seqLen;
        var inputs = new int[bt];
        var targets = new int[bt];
        for (int i = 0; i < bt; i++)
        {
            inputs[i] = (int)(rng.NextUInt32() % (uint)config.VocabSize);
            targets[i] = (int)(rng.NextUInt32() % (uint)config.VocabSize);
        }
        double forward = 0, backward = 0, update = 0;
        var process = Process.GetCurrentProcess();
        TimeSpan cpuStart = TimeSpan.Zero;
        for (int step = 0; step < warmup + steps; step++)
        {
            if (step == warmup) { process.Refresh(); cpuStart = process.TotalProcessorTime; }
            var sw = Stopwatch.StartNew();
            float loss = backend.Forward(inputs, targets, batchSize, seqLen);
            double f = sw.Elapsed.TotalSeconds;
            backend.ZeroGradients();
            backend.Backward(1.0f / bt);
            double b = sw.Elapsed.TotalSeconds - f;
            double norm = Math.Sqrt(backend.GradientNormSquared());
            backend.Update(new AdamWStep(6e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, norm > 1.0 ? (float)(1.0 / norm) : 1.0f, step + 1));
            double total = sw.Elapsed.TotalSeconds;
            log?.WriteLine($"step {step + 1}/{warmup + steps}{(step < warmup ? " (warmup)" : "")}: loss {loss:F4}, {total * 1000:F0} ms (fwd {f * 1000:F0}, bwd {b * 1000:F0}, update {(total - f - b) * 1000:F0})");
            if (step < warmup) continue;
            forward += f;
            backward += b;
            update += total - f - b;
        }
        process.Refresh();
        double cpuPerStep = (process.TotalProcessorTime - cpuStart).TotalSeconds / steps;
        double perStep = (forward + backward + update) / steps;
        double tokensPerSecond = bt / perStep;
        double gflops = config.FlopsPerToken(seqLen) * tokensPerSecond / 1e9;
        return new CpuBenchmarkResult(descriptor, batchSize, seqLen, threads > 0 ? threads : Environment.ProcessorCount, steps,
            perStep, cpuPerStep, tokensPerSecond, gflops, forward / steps, backward / steps, update / steps);
    }
}
