using System.Diagnostics;
using LlmNet.Cuda;

/// <summary>
/// Surveys cuBLASLt's heuristic list for every matmul shape of one training step (the calls of CudaBackend's Forward
/// and BackwardPass with GELU fusion 2): times each candidate algorithm on random bf16 operands and checks whether its
/// output is bitwise the first candidate's (the one Matmul.Run uses), so a faster algorithm can be adopted knowingly.
/// </summary>
internal static class MatmulBench
{
    private const int Layers = 12;               // d12
    private const long TokensPerStep = 524_288;  // llm.c's d12 batch: 8 micro-steps of 64 x 1024
    private const int WarmupRuns = 3;
    private const long ChunkElements = 16L << 20; // host staging for uploads and comparisons
    private const uint Bf16NaNPair = 0x7FC07FC0;  // poisons outputs so a partly written result cannot compare equal

    /// <summary>One matmul of the step, in Matmul.Run's column-major terms, with the operands it reads by name.</summary>
    private sealed record Shape(string Name, int M, int N, int K, bool TransA, bool TransB, bool Accumulate, MatmulEpilogue Epilogue,
                                string A, string B, string? Bias, string? AuxIn, int PerStep)
    {
        public double Flops => 2.0 * M * N * K;
        public override string ToString() =>
            $"{Name} m={M} n={N} k={K}{(TransA ? " tA" : "")}{(TransB ? " tB" : "")}{(Accumulate ? " acc" : "")} {Epilogue}";
    }

    private sealed record Outcome(MatmulCandidate Candidate, double Ms, string Check, bool Bitwise, string? Error);

    public static int Run(string[] args)
    {
        int B = 64, T = 1024, C = 768, Vp = 50304, next = 1;
        if (args.Length >= 5)
        {
            B = int.Parse(args[1]); T = int.Parse(args[2]); C = int.Parse(args[3]); Vp = int.Parse(args[4]);
            next = 5;
        }
        else if (args.Length == 4) throw new ArgumentException("usage: llm-cuda-bench matmuls [B T C Vp] [MAXALGOS] [REPS]");
        int maxAlgos = args.Length > next ? int.Parse(args[next]) : 8;
        int reps = args.Length > next + 1 ? int.Parse(args[next + 1]) : 20;
        if (maxAlgos < 1 || maxAlgos > 128 || reps < 1) throw new ArgumentException("MAXALGOS must be 1..128 and REPS at least 1");
        int bt = checked(B * T);
        int microSteps = (int)Math.Max(1, TokensPerStep / bt);
        int perLayer = Layers * microSteps;
        // The classifier runs in chunks of rows (CudaBackend.Classifier.cs): its three matmuls take a chunk's rows, once
        // per chunk. Its weight gradient accumulates in fp32 there; this survey times that shape with a bf16 output.
        int chunkRows = Math.Min(bt, CudaBackend.DefaultLogitsChunkRows);
        int perChunk = microSteps * ((bt + chunkRows - 1) / chunkRows);

        // The training step's matmuls (CudaBackend.Forward, BackwardPass; Linear is Run(out, weight, inp, out, rows, in, tA)).
        Shape[] shapes =
        [
            new("qkv.fwd", 3 * C, bt, C, true, false, false, MatmulEpilogue.Bias, "w_qkv", "ln1", "b_qkv", null, perLayer),
            new("attproj.fwd", C, bt, C, true, false, false, MatmulEpilogue.Bias, "w_attproj", "atty", "b_attproj", null, perLayer),
            new("fc.fwd", 4 * C, bt, C, true, false, false, MatmulEpilogue.GeluAuxBias, "w_fc", "ln2", "b_fc", null, perLayer),
            new("fcproj.fwd", C, bt, 4 * C, true, false, false, MatmulEpilogue.Bias, "w_fcproj", "gelu", "b_fcproj", null, perLayer),
            new("logits.fwd", Vp, chunkRows, C, true, false, false, MatmulEpilogue.None, "wte", "lnf", null, null, perChunk),
            new("logits.dW", C, Vp, chunkRows, false, true, true, MatmulEpilogue.None, "lnf", "dlogits", null, null, perChunk),
            new("logits.dinp", C, chunkRows, Vp, false, false, false, MatmulEpilogue.None, "wte", "dlogits", null, null, perChunk),
            new("fcproj.dW", 4 * C, C, bt, false, true, true, MatmulEpilogue.None, "gelu", "dres", null, null, perLayer),
            new("fcproj.dinp", 4 * C, bt, C, false, false, false, MatmulEpilogue.DGelu, "w_fcproj", "dres", null, "fch", perLayer),
            new("fc.dW", C, 4 * C, bt, false, true, true, MatmulEpilogue.None, "ln2", "dfch", null, null, perLayer),
            new("fc.dinp", C, bt, 4 * C, false, false, false, MatmulEpilogue.None, "w_fc", "dfch", null, null, perLayer),
            new("attproj.dW", C, C, bt, false, true, true, MatmulEpilogue.None, "atty", "dres", null, null, perLayer),
            new("attproj.dinp", C, bt, C, false, false, false, MatmulEpilogue.None, "w_attproj", "dres", null, null, perLayer),
            new("qkv.dW", C, 3 * C, bt, false, true, true, MatmulEpilogue.None, "ln1", "dfch", null, null, perLayer),
            new("qkv.dinp", C, bt, 3 * C, false, false, false, MatmulEpilogue.None, "w_qkv", "dfch", null, null, perLayer),
        ];
        // Operands: element count and standard deviation (weights 0.02, activations 1, gradients 0.02). The qkv
        // backward reads the first 3C rows of the 4C-wide gradient buffer, as the backend does.
        var operands = new Dictionary<string, (long Elements, float Sigma)>
        {
            ["wte"] = ((long)Vp * C, 0.02f),
            ["w_qkv"] = (3L * C * C, 0.02f), ["b_qkv"] = (3L * C, 0.02f),
            ["w_attproj"] = ((long)C * C, 0.02f), ["b_attproj"] = (C, 0.02f),
            ["w_fc"] = (4L * C * C, 0.02f), ["b_fc"] = (4L * C, 0.02f),
            ["w_fcproj"] = (4L * C * C, 0.02f), ["b_fcproj"] = (C, 0.02f),
            ["ln1"] = ((long)bt * C, 1f), ["ln2"] = ((long)bt * C, 1f), ["atty"] = ((long)bt * C, 1f), ["lnf"] = ((long)bt * C, 1f),
            ["gelu"] = ((long)bt * 4 * C, 0.5f), ["fch"] = ((long)bt * 4 * C, 1f),
            ["dres"] = ((long)bt * C, 0.02f), ["dfch"] = ((long)bt * 4 * C, 0.02f), ["dlogits"] = ((long)chunkRows * Vp, 0.02f),
        };

        using var device = new CudaDevice(0);
        using var mm = new Matmul(device);
        using var timer = new CudaTimer(device);
        var inputs = new Dictionary<string, DeviceBuffer>();
        var clock = Stopwatch.StartNew();
        Console.WriteLine($"MATMULS device: {device.Name}; B={B} T={T} C={C} Vp={Vp}; {maxAlgos} candidates, {WarmupRuns} warm-up + {reps} timed runs each (median); " +
                          $"step = {Layers} layers x {microSteps} micro-steps");
        try
        {
            ulong seed = 1;
            foreach (var (name, (elements, sigma)) in operands)
            {
                var buffer = device.Allocate(elements * 2, name);
                inputs[name] = buffer;
                UploadRandom(device, buffer.Ptr, elements, sigma, seed++);
            }
            Console.WriteLine($"MATMULS operands ready in {clock.Elapsed.TotalSeconds:F1} s");

            double firstTotal = 0, bestTotal = 0, bestBitwiseTotal = 0;
            var summaries = new List<string>();
            foreach (Shape shape in shapes)
            {
                List<Outcome>? outcomes = Survey(device, mm, timer, shape, inputs, maxAlgos, reps, seed++);
                if (outcomes is null) { summaries.Add($"BEST shape={shape.Name} failed (no candidates)"); continue; }
                Outcome? first = outcomes.Count > 0 && outcomes[0].Error is null ? outcomes[0] : null;
                var ran = outcomes.Where(o => o.Error is null).ToList();
                if (first is null || ran.Count == 0)
                {
                    summaries.Add($"BEST shape={shape.Name} m={shape.M} n={shape.N} k={shape.K} first candidate failed; not counted in the total");
                    continue;
                }
                Outcome best = ran.MinBy(o => o.Ms)!;
                Outcome bestBitwise = ran.Where(o => o.Bitwise).MinBy(o => o.Ms)!; // the first candidate is bitwise itself
                double gain = (first.Ms - best.Ms) / first.Ms * 100;
                summaries.Add($"BEST shape={shape.Name} m={shape.M} n={shape.N} k={shape.K} first={first.Ms:F3}ms best={best.Ms:F3}ms " +
                              $"(algo idx {best.Candidate.Index}) gain={gain:F1}% equal={(best.Bitwise ? "bitwise" : "differs")} " +
                              $"best_bitwise={bestBitwise.Ms:F3}ms (algo idx {bestBitwise.Candidate.Index}) per_step={shape.PerStep}");
                firstTotal += shape.PerStep * first.Ms;
                bestTotal += shape.PerStep * best.Ms;
                bestBitwiseTotal += shape.PerStep * bestBitwise.Ms;
            }
            Console.WriteLine();
            foreach (string line in summaries) Console.WriteLine(line);
            Console.WriteLine($"TOTAL per step ({Layers} layers x {microSteps} micro-steps): first={firstTotal:F1}ms best={bestTotal:F1}ms " +
                              $"saved={firstTotal - bestTotal:F1}ms ({(firstTotal > 0 ? (firstTotal - bestTotal) / firstTotal * 100 : 0):F1}%); " +
                              $"bitwise-equal only: best={bestBitwiseTotal:F1}ms saved={firstTotal - bestBitwiseTotal:F1}ms " +
                              $"({(firstTotal > 0 ? (firstTotal - bestBitwiseTotal) / firstTotal * 100 : 0):F1}%)");
            Console.WriteLine($"MATMULS done in {clock.Elapsed.TotalSeconds:F1} s");
            return 0;
        }
        finally
        {
            foreach (DeviceBuffer b in inputs.Values) b.Dispose();
        }
    }

    /// <summary>Times and checks every candidate of one shape and prints its table; null when the heuristic fails.</summary>
    private static List<Outcome>? Survey(CudaDevice device, Matmul mm, CudaTimer timer, Shape s, Dictionary<string, DeviceBuffer> inputs,
                                         int maxAlgos, int reps, ulong seed)
    {
        long outElements = (long)s.M * s.N;
        bool auxOut = s.Epilogue == MatmulEpilogue.GeluAuxBias;
        ulong a = inputs[s.A].Ptr, b = inputs[s.B].Ptr;
        ulong bias = s.Bias is null ? 0 : inputs[s.Bias].Ptr;
        var owned = new List<DeviceBuffer>();
        ulong Alloc(long elements, string name) { var buffer = device.Allocate(elements * 2, name); owned.Add(buffer); return buffer.Ptr; }
        try
        {
            ulong d = Alloc(outElements, $"{s.Name} D"), refD = Alloc(outElements, $"{s.Name} reference D");
            ulong aux = auxOut ? Alloc(outElements, $"{s.Name} aux") : s.AuxIn is null ? 0 : inputs[s.AuxIn].Ptr;
            ulong refAux = auxOut ? Alloc(outElements, $"{s.Name} reference aux") : 0;
            ulong initD = 0;
            if (s.Accumulate)
            {
                initD = Alloc(outElements, $"{s.Name} initial D");
                UploadRandom(device, initD, outElements, 0.02f, seed);
            }

            Console.WriteLine();
            Console.WriteLine($"== {s}  ({s.PerStep} per step, {s.Flops / 1e9:F1} GFLOP)");
            IReadOnlyList<MatmulCandidate> candidates;
            try
            {
                candidates = mm.Candidates(d, a, b, s.M, s.N, s.K, s.TransA, s.TransB, s.Accumulate, s.Epilogue, bias, aux, maxAlgos);
            }
            catch (CudaException e)
            {
                Console.WriteLine($"   heuristic failed: {e.Message}");
                return null;
            }
            if (candidates.Count == 0)
            {
                Console.WriteLine("   the heuristic returned no algorithm");
                return null;
            }

            var outcomes = new List<Outcome>();
            bool haveReference = false;
            double refMax = 0;
            foreach (MatmulCandidate c in candidates)
            {
                void Launch() => mm.RunWith(c, d, a, b, s.M, s.N, s.K, s.TransA, s.TransB, s.Accumulate, s.Epilogue, bias, aux);
                try
                {
                    // The checked run comes first, on a freshly reset D (the initial gradient for accumulating
                    // matmuls, NaN everywhere otherwise) and NaN-poisoned aux.
                    if (s.Accumulate) device.Copy(d, initD, outElements * 2);
                    else device.Fill32(d, Bf16NaNPair, outElements / 2);
                    if (auxOut) device.Fill32(aux, Bf16NaNPair, outElements / 2);
                    Launch();
                    device.Synchronize();
                    string check;
                    bool bitwise;
                    if (!haveReference)
                    {
                        device.Copy(refD, d, outElements * 2);
                        if (auxOut) device.Copy(refAux, aux, outElements * 2);
                        refMax = MaxAbs(device, refD, outElements);
                        haveReference = true;
                        (check, bitwise) = ($"reference{(c.Index > 0 ? " (earlier candidates failed)" : "")}", true);
                    }
                    else
                    {
                        Difference dd = Compare(device, d, refD, outElements);
                        Difference da = auxOut ? Compare(device, aux, refAux, outElements) : default;
                        bitwise = dd.Count == 0 && da.Count == 0;
                        check = bitwise ? "bitwise" : $"differs ({Describe("D", dd, outElements)}{(da.Count > 0 ? "; " + Describe("aux", da, outElements) : "")})";
                    }

                    for (int i = 0; i < WarmupRuns; i++) Launch();
                    // Each timed run is queued behind an untimed one, so the GPU is still busy while the host records
                    // the start event and enqueues it: the time is the matmul's own, without the host's launch cost,
                    // as in a training step where the stream never runs dry.
                    var times = new double[reps];
                    for (int i = 0; i < reps; i++)
                    {
                        Launch();
                        timer.Start();
                        Launch();
                        times[i] = timer.Stop();
                    }
                    Array.Sort(times);
                    outcomes.Add(new Outcome(c, times[reps / 2], check, bitwise, null));
                }
                catch (CudaException e)
                {
                    outcomes.Add(new Outcome(c, double.NaN, "", false, e.Message));
                }
            }

            Outcome? fastest = outcomes.Where(o => o.Error is null).MinBy(o => o.Ms);
            Console.WriteLine($"   reference max |D| {refMax:G4}");
            Console.WriteLine($"   {"rank",5}  {"description",-112} {"ms",8} {"TFLOP/s",8}  equal?");
            foreach (Outcome o in outcomes)
            {
                string mark = ReferenceEquals(o, fastest) ? "*" : " ";
                string run = o.Candidate.IsRunAlgorithm ? " [Run's algorithm]" : "";
                if (o.Error is not null)
                    Console.WriteLine($"   {o.Candidate.Index,4}   {o.Candidate.Description,-112} FAILED: {o.Error}{run}");
                else
                    Console.WriteLine($" {mark} {o.Candidate.Index,4}   {o.Candidate.Description,-112} {o.Ms,8:F3} {s.Flops / o.Ms / 1e9,8:F1}  {o.Check}{run}");
            }
            if (!candidates[0].IsRunAlgorithm)
                Console.WriteLine("   note: candidate 0 is not the algorithm Run uses for this plan");
            return outcomes;
        }
        finally
        {
            foreach (DeviceBuffer buffer in owned) buffer.Dispose();
        }
    }

    private readonly record struct Difference(long Count, long NaNMismatches, double MaxAbs);

    private static string Describe(string what, Difference diff, long elements) =>
        $"{what}: {diff.Count} of {elements} elements, max abs diff {diff.MaxAbs:G3}{(diff.NaNMismatches > 0 ? $", {diff.NaNMismatches} NaN where the other is not" : "")}";

    /// <summary>Compares two bf16 device arrays chunk by chunk on the host.</summary>
    private static Difference Compare(CudaDevice device, ulong x, ulong y, long n)
    {
        ushort[] bx = new ushort[Math.Min(n, ChunkElements)], by = new ushort[bx.Length];
        long count = 0, nan = 0;
        double max = 0;
        for (long offset = 0; offset < n; offset += bx.Length)
        {
            int len = (int)Math.Min(bx.Length, n - offset);
            Span<ushort> sx = bx.AsSpan(0, len), sy = by.AsSpan(0, len);
            device.Download(sx, x + (ulong)offset * 2);
            device.Download(sy, y + (ulong)offset * 2);
            if (sx.SequenceEqual(sy)) continue;
            for (int i = 0; i < len; i++)
            {
                if (sx[i] == sy[i]) continue;
                count++;
                float fx = ToFloat(sx[i]), fy = ToFloat(sy[i]);
                if (float.IsNaN(fx) || float.IsNaN(fy)) nan++;
                else max = Math.Max(max, Math.Abs((double)fx - fy));
            }
        }
        return new Difference(count, nan, max);
    }

    private static double MaxAbs(CudaDevice device, ulong x, long n)
    {
        ushort[] buffer = new ushort[Math.Min(n, ChunkElements)];
        double max = 0;
        for (long offset = 0; offset < n; offset += buffer.Length)
        {
            int len = (int)Math.Min(buffer.Length, n - offset);
            device.Download(buffer.AsSpan(0, len), x + (ulong)offset * 2);
            for (int i = 0; i < len; i++) max = Math.Max(max, Math.Abs(ToFloat(buffer[i])));
        }
        return max;
    }

    /// <summary>
    /// Fills n bf16 values at dst with roughly N(0, sigma²) values from a counter-based host generator (SplitMix64 of
    /// seed and index; four 16-bit uniforms summed, Irwin-Hall), so the contents depend only on the seed, not on threads.
    /// </summary>
    private static void UploadRandom(CudaDevice device, ulong dst, long n, float sigma, ulong seed)
    {
        ushort[] chunk = new ushort[Math.Min(n, ChunkElements)];
        const int Block = 1 << 16;
        float scale = sigma * MathF.Sqrt(3f) / 65536f; // the sum of four U(0,1) has variance 1/3
        for (long offset = 0; offset < n; offset += chunk.Length)
        {
            int len = (int)Math.Min(chunk.Length, n - offset);
            long start = offset;
            Parallel.For(0, (len + Block - 1) / Block, blk =>
            {
                int from = blk * Block, to = Math.Min(len, from + Block);
                for (int i = from; i < to; i++)
                {
                    ulong r = SplitMix64(seed * 0x9E3779B97F4A7C15UL ^ (ulong)(start + i));
                    long sum = (long)(r & 0xFFFF) + (long)((r >> 16) & 0xFFFF) + (long)((r >> 32) & 0xFFFF) + (long)(r >> 48) - 2 * 65536;
                    chunk[i] = ToBf16(sum * scale);
                }
            });
            device.Upload(dst + (ulong)offset * 2, (ReadOnlySpan<ushort>)chunk.AsSpan(0, len));
        }
    }

    private static ulong SplitMix64(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    // Round to nearest even; the generated values are finite and far from overflow.
    private static ushort ToBf16(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
    }

    private static float ToFloat(ushort h) => BitConverter.UInt32BitsToSingle((uint)h << 16);
}
