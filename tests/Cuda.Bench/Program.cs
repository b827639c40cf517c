using System.Diagnostics;
using System.Globalization;
using LlmNet.Common.Formats;
using LlmNet.Common.Text;
using LlmNet.Cuda;
using LlmNet.Model;
using LlmNet.Model.Checkpoints;

// GPU benchmark and reference export for the CUDA backend.
//   llm-cuda-bench train MODEL B T ACCUM STEPS SHARD [RECOMPUTE] [GELU_FUSION]
//       trains from a fresh init on the shard's tokens; prints the median step time over the steps after
//       3 warm-up steps, tokens/s, MFU against 989 TFLOP/s (H100/H200 SXM dense bf16) and device memory.
//   llm-cuda-bench attn B NH T [REPS]
//       times the forward, dQ and dK/dV attention kernels (FlashKernels: mma.sync, and wgmma on sm_90a) alone on
//       random bf16 inputs, checks the wgmma ones against mma.sync and prints ms and TFLOP/s per kernel
//   llm-cuda-bench matmuls [B T C Vp] [MAXALGOS] [REPS]
//       (defaults 64 1024 768 50304, 8, 20) for every matmul shape of a d12 training step (GELU fusion 2), times up to
//       MAXALGOS algorithms of cuBLASLt's heuristic list on random bf16 operands (median of REPS), checks each output
//       bitwise against the first algorithm's (the one Matmul uses) and prints per-shape tables, BEST lines and the
//       time per step that the fastest algorithms would save
//   llm-cuda-bench shard TEXT OUT      tokenizes a text file into a token shard
//   llm-cuda-bench export DIR [MODEL [B T [LR]]]   fresh init of MODEL (d12), B=4 T=64, LR 1e-4: writes model.bin (v3), x.bin, y.bin, lr.txt
//                                      and the CUDA losses and step-0 gradients of llm.c's 10-step test, for
//                                      tests/gpu/torch_reference.py
//   llm-cuda-bench report DIR [--steps N] [--tol X]
//       the Markdown table of a tests/gpu/speed-bench.sh call (its OUT folder): ms/step, tok/s, MFU, peak memory,
//       power and SM clock per run, beside the loss check of the same run against its reference (Report/); no GPU
//   llm-cuda-bench compare BASE_DIR CAND_DIR [CAND_DIR...] [--out FILE] [--steps N] [--tol X]
//       several such folders (one per build; tests/gpu/ab-bench.sh writes them) as one table: per run ms/step, tok/s and
//       peak memory of each candidate beside the base's, with Δ, the loss checks and whether the comparison counts
//       (both figures count and card.txt names the same card); exit 1 when one does not; no GPU
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
if (args.Length == 0) { Console.Error.WriteLine("usage: llm-cuda-bench train|attn|matmuls|shard|export|report|compare ..."); return 2; }
try
{
    return args[0] switch
    {
        "train" => Bench.Train(args),
        "shard" => Bench.Shard(args[1], args[2]),
        "attn" => AttentionBench.Run(args),
        "matmuls" => MatmulBench.Run(args),
        "export" => Bench.Export(args),
        "report" => LlmNet.Cuda.Bench.Report.ReportCommand.Run(args, Console.Out, Console.Error),
        "compare" => LlmNet.Cuda.Bench.Report.CompareCommand.Run(args, Console.Out, Console.Error),
        _ => throw new ArgumentException($"unknown command {args[0]}"),
    };
}
catch (Exception e)
{
    Console.Error.WriteLine($"llm-cuda-bench: error: {e.Message}");
    return 1;
}

internal static class Bench
{
    private const double PeakFlops = 989e12;

    public static int Shard(string text, string output)
    {
        int[] ids = Gpt2Tokenizer.Shared.Encode(File.ReadAllText(text));
        ushort[] tokens = new ushort[ids.Length + 1];
        tokens[0] = Gpt2Tokenizer.EndOfText;
        for (int i = 0; i < ids.Length; i++) tokens[i + 1] = (ushort)ids[i];
        TokenShard.Write(output, tokens);
        Console.WriteLine($"wrote {tokens.Length} tokens to {output}");
        return 0;
    }

    public static int Train(string[] args)
    {
        var config = GptConfig.FromDescriptor(args[1]);
        int B = int.Parse(args[2]), T = int.Parse(args[3]), accum = int.Parse(args[4]), steps = int.Parse(args[5]);
        ushort[] data = TokenShard.ReadAll(args[6]);
        int recompute = args.Length > 7 ? int.Parse(args[7]) : 1;
        int gelu = args.Length > 8 ? int.Parse(args[8]) : -1;
        int warmup = int.TryParse(Environment.GetEnvironmentVariable("WARMUP"), out int w) ? w : 3;
        // Micro-steps are queued and their losses taken once per step, as llm-train does. SEPARATE=1 times Forward +
        // Backward instead (two classifier kernels, loss read between them); WAITED=1 one ForwardBackward per micro-step,
        // each waited for.
        bool separate = Environment.GetEnvironmentVariable("SEPARATE") == "1";
        bool waited = Environment.GetEnvironmentVariable("WAITED") == "1";

        var sw = Stopwatch.StartNew();
        using var backend = new CudaBackend(config, B, T, new BackendOptions { Recompute = recompute, GeluFusion = gelu });
        Console.WriteLine($"device: {backend.DeviceName}; backend ready in {sw.Elapsed.TotalSeconds:F1} s (kernel cache hit: {KernelCache.LastWasHit})");
        Console.WriteLine(backend.MemoryReport());
        backend.SetParameters(GptModel.CreateFresh(config));

        long n = ParameterLayout.For(config).Count;
        double flopsPerToken = config.FlopsPerToken(T);
        long tokensPerStep = (long)B * T * accum;
        int[] x = new int[B * T], y = new int[B * T];
        long cursor = 0;
        var times = new List<double>();
        var losses = new List<double>();
        for (int step = 0; step < steps + warmup; step++)
        {
            bool profileStep = step == warmup && Environment.GetEnvironmentVariable("LLMNET_CUDA_PROFILE") == "1";
            KernelProfiler.Enabled = profileStep;
            var t0 = Stopwatch.GetTimestamp();
            double lossSum = 0;
            for (int micro = 0; micro < accum; micro++)
            {
                Fill(x, data, cursor);
                Fill(y, data, cursor + 1);
                cursor = (cursor + B * T) % data.Length;
                if (micro == 0) backend.ZeroGradients();
                if (separate)
                {
                    lossSum += backend.Forward(x, y, B, T);
                    backend.Backward(1.0f / tokensPerStep);
                }
                else if (waited) lossSum += backend.ForwardBackward(x, y, B, T, 1.0f / tokensPerStep, micro == accum - 1);
                else backend.QueueForwardBackward(x, y, B, T, 1.0f / tokensPerStep, micro == accum - 1);
            }
            if (!separate && !waited)
                foreach (float loss in backend.TakeLosses()) lossSum += loss;
            double norm = Math.Sqrt(backend.GradientNormSquared());
            float scale = norm > 1 ? (float)(1 / norm) : 1f;
            backend.Update(new AdamWStep(6e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, scale, step + 1));
            double ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            KernelProfiler.Enabled = false;
            if (profileStep)
            {
                double gpu = KernelProfiler.Results.Sum(r => r.Ms);
                Console.WriteLine($"PROFILE step {step + 1}: {ms:F1} ms wall, {gpu:F1} ms in kernels and matmuls (serialized)");
                foreach (var (name, kms, count) in KernelProfiler.Results)
                    Console.WriteLine($"PROFILE {kms,9:F2} ms {100 * kms / gpu,5:F1}% {count,6}x  {name}");
                continue;
            }
            if (step >= warmup) times.Add(ms);
            losses.Add(lossSum / accum);
            Console.WriteLine($"step {step + 1,3}: loss {lossSum / accum:F6} norm {norm:F4} ({ms:F1} ms, {tokensPerStep / ms * 1000:F0} tok/s)");
        }
        if (times.Count == 0) return 0; // a profile-only run
        times.Sort();
        double median = times[times.Count / 2];
        double tokPerSec = tokensPerStep / median * 1000;
        double mfu = flopsPerToken * tokPerSec / PeakFlops * 100;
        (long free, long total) = backend.Device.MemoryInfo();
        string mode = separate ? "separate" : waited ? "waited" : "queued";
        // A throughput counts only beside a model that trains: the loss must fall and stay finite.
        bool fell = losses.Count > 1 && losses.All(double.IsFinite) && losses[^1] < losses[0] - 0.1;
        Console.WriteLine($"LOSS first={losses[0]:F6} last={losses[^1]:F6} loss_fell={(fell ? "yes" : "NO")}");
        Console.WriteLine($"RESULT model={args[1]} N={n} B={B} T={T} accum={accum} r={recompute} ge={backend.ActiveGeluFusion} micro={mode} steps={times.Count} " +
                          $"median_ms={median:F1} tok_per_s={tokPerSec:F0} mfu={mfu:F1}% backend_alloc_gib={backend.AllocatedBytes / Math.Pow(1024, 3):F2} " +
                          $"device_used_gib={(total - free) / Math.Pow(1024, 3):F2} loss_fell={(fell ? "yes" : "NO")}");
        return 0;
    }

    /// <summary>dst = src[start ..] as ints, wrapping around the end of src (a plain copy loop, like the data loader's).</summary>
    private static void Fill(int[] dst, ushort[] src, long start)
    {
        for (int i = 0; i < dst.Length;)
        {
            int from = (int)((start + i) % src.Length), n = Math.Min(dst.Length - i, src.Length - from);
            for (int k = 0; k < n; k++) dst[i + k] = src[from + k];
            i += n;
        }
    }

    /// <summary>
    /// llm.c's 10-step test at any size: a fresh init of MODEL (default d12), B=4 T=64 (or as given), the same random
    /// batch every step. Writes model.bin (v3), x.bin, y.bin, the CUDA losses and step-0 gradients for
    /// tests/gpu/torch_reference.py. The files are written in chunks: d48's gradients alone are 6.2 GB.
    /// </summary>
    public static int Export(string[] args)
    {
        string dir = args[1];
        Directory.CreateDirectory(dir);
        var config = GptConfig.FromDescriptor(args.Length > 2 ? args[2] : "d12");
        int B = args.Length > 4 ? int.Parse(args[3]) : 4, T = args.Length > 4 ? int.Parse(args[4]) : 64;
        // llm.c's test_gpt2cu takes 10 steps at lr 1e-4; deeper models memorise the one random batch fast enough at
        // that rate that fp32 and bf16 runs part after a few steps, so the ladder passes a smaller rate for them.
        float lr = args.Length > 5 ? float.Parse(args[5], System.Globalization.CultureInfo.InvariantCulture) : 1e-4f;
        const int steps = 10;
        float[] parameters = GptModel.CreateFresh(config);
        ModelFile.Write(Path.Combine(dir, "model.bin"), config, ModelDtype.Fp32, parameters);
        var r = new Random(1337);
        int[] tokens = new int[B * T + 1];
        for (int i = 0; i < tokens.Length; i++) tokens[i] = r.Next(config.VocabSize);
        int[] x = tokens[..(B * T)], y = tokens[1..];
        WriteRaw(Path.Combine(dir, "x.bin"), x);
        WriteRaw(Path.Combine(dir, "y.bin"), y);
        File.WriteAllText(Path.Combine(dir, "lr.txt"), lr.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        using var backend = new CudaBackend(config, B, T);
        backend.SetParameters(parameters);
        float[] grads0 = new float[parameters.Length];
        var losses = new List<string>();
        for (int step = 0; step < steps; step++)
        {
            float loss = backend.Forward(x, y, B, T);
            backend.ZeroGradients();
            backend.Backward(1.0f / (B * T));
            if (step == 0) backend.GetGradients(grads0);
            double norm = Math.Sqrt(backend.GradientNormSquared());
            backend.Update(new AdamWStep(lr, 0.9f, 0.95f, 1e-8f, 0f, norm > 1 ? (float)(1 / norm) : 1f, step + 1));
            losses.Add(loss.ToString("R"));
            Console.WriteLine($"cuda step {step}: loss {loss:F6} norm {norm:F4}");
        }
        File.WriteAllLines(Path.Combine(dir, "cuda_losses.txt"), losses);
        WriteRaw(Path.Combine(dir, "cuda_grads0.bin"), grads0);
        return 0;
    }

    /// <summary>Writes the values' raw little-endian bytes, 64 MiB at a time (a span of bytes stops at 2 GiB).</summary>
    private static void WriteRaw<T>(string path, T[] values) where T : unmanaged
    {
        using var file = File.Create(path);
        const int chunk = 1 << 24;
        for (long start = 0; start < values.Length; start += chunk)
            file.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan((int)start, (int)Math.Min(chunk, values.Length - start))));
    }
}
