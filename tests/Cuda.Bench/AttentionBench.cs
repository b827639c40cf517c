using LlmNet.Cuda;
using LlmNet.Model.Numerics;

/// <summary>
/// Times each head-size-64 attention kernel variant on its own, on one (B, NH, T) shape, and checks that every
/// variant's out, lse and dqkv agree with the first generation's (the GPU tests check them against fp64).
/// </summary>
internal static class AttentionBench
{
    private static readonly string[] Forwards = ["v1", "m1", "m2"], Dqs = ["v1", "m1", "m2"], Dkvs = ["v1", "reg", "kvs"];

    public static int Run(string[] args)
    {
        int B = int.Parse(args[1]), NH = int.Parse(args[2]), T = int.Parse(args[3]);
        int reps = args.Length > 4 ? int.Parse(args[4]) : 10;
        string? specFile = args.Length > 5 ? args[5] : null;
        int C = NH * 64;
        long bt = (long)B * T;
        using var device = new CudaDevice(0);
        using var k = KernelModule.LoadDefault(device);
        var buffers = new List<DeviceBuffer>();
        ulong Alloc(long bytes) { var b = device.Allocate(bytes, "bench"); buffers.Add(b); return b.Ptr; }
        try
        {
            var rng = new Random(42);
            ulong qkv = Alloc(bt * 3 * C * 2), dout = Alloc(bt * C * 2), outp = Alloc(bt * C * 2), lse = Alloc((long)B * NH * T * 4);
            ulong delta = Alloc((long)B * NH * T * 4), dqkv = Alloc(bt * 3 * C * 2);
            UploadNormal(device, qkv, bt * 3 * C, rng);
            UploadNormal(device, dout, bt * C, rng);

            // Causal attention flops: two T x T/2 x 64 products forward, five backward (dK/dV and dQ without recompute).
            double fwdFlops = 2.0 * 2 * B * NH * (T * (T + 1) / 2.0) * 64;
            using var timer = new CudaTimer(device);
            float Time(Action launch)
            {
                launch();
                timer.Start();
                for (int i = 0; i < reps; i++) launch();
                return timer.Stop() / reps;
            }

            var v1 = FlashKernels.Parse("v1,v1,v1");
            v1.LaunchForward(k, outp, lse, qkv, B, T, NH);
            v1.LaunchBackward(k, dqkv, delta, dout, qkv, outp, lse, B, T, NH);
            device.Synchronize();
            float[] refOut = ReadBf16(device, outp, bt * C), refLse = ReadF32(device, lse, (long)B * NH * T), refD = ReadBf16(device, dqkv, bt * 3 * C);

            var best = new Dictionary<string, (string Name, float Ms)>();
            void Report(string stage, string variant, float ms, double flops, string check)
            {
                Console.WriteLine($"ATTN B={B} NH={NH} T={T} {stage,-8} {variant,-4} {ms,8:F3} ms {flops / ms / 1e9,7:F1} TFLOP/s  {check}");
                if (!best.TryGetValue(stage, out var b) || ms < b.Ms) best[stage] = (variant, ms);
            }

            foreach (string f in Forwards)
            {
                var fk = FlashKernels.Parse($"{f},v1,v1");
                fk.Prepare(k);
                float ms = Time(() => fk.LaunchForward(k, outp, lse, qkv, B, T, NH));
                string check = $"out {MaxDiff(ReadBf16(device, outp, bt * C), refOut):E2} lse {MaxDiff(ReadF32(device, lse, (long)B * NH * T), refLse):E2}";
                Report("forward", f, ms, fwdFlops, check);
            }
            v1.LaunchForward(k, outp, lse, qkv, B, T, NH); // the backward variants all start from the same forward
            foreach (string dq in Dqs)
            {
                var fk = FlashKernels.Parse($"v1,{dq},v1");
                float ms = Time(() =>
                {
                    if (fk.DqWritesDelta)
                        k.Launch(fk.Dq, ((T + fk.DqRows - 1) / fk.DqRows, B * NH), 128, 0, dqkv, delta, dout, outp, qkv, lse, T, NH);
                    else
                    {
                        k.Launch("attention_backward_delta", ((int)((B * NH * (long)T + 255) / 256), 1), 256, 0, delta, dout, outp, B, T, NH, 64);
                        k.Launch(fk.Dq, ((T + fk.DqRows - 1) / fk.DqRows, B * NH), 128, 0, dqkv, dout, qkv, lse, delta, T, NH);
                    }
                });
                Report("dq+delta", dq, ms, fwdFlops * 1.5, "");
            }
            foreach (string dkv in Dkvs)
            {
                var fk = FlashKernels.Parse($"v1,v1,{dkv}");
                fk.Prepare(k);
                float ms = Time(() => k.Launch(fk.Dkv, ((T + 63) / 64, B * NH), 128, fk.DkvSharedBytes, dqkv, dout, qkv, lse, delta, T, NH));
                Report("dkv", dkv, ms, fwdFlops * 2, "");
            }
            // Whole backward of each combination against the first generation's dqkv.
            foreach (string dq in Dqs.Skip(1))
                foreach (string dkv in Dkvs.Skip(1))
                {
                    var fk = FlashKernels.Parse($"v1,{dq},{dkv}");
                    fk.Prepare(k);
                    device.Zero(dqkv, bt * 3 * C * 2);
                    fk.LaunchBackward(k, dqkv, delta, dout, qkv, outp, lse, B, T, NH);
                    device.Synchronize();
                    Console.WriteLine($"ATTN check backward {dq},{dkv}: dqkv max diff {MaxDiff(ReadBf16(device, dqkv, bt * 3 * C), refD):E2} (max |ref| {refD.Max(Math.Abs):E2})");
                }
            string spec = $"{best["forward"].Name},{best["dq+delta"].Name},{best["dkv"].Name}";
            Console.WriteLine($"ATTN fastest: {spec} ({best["forward"].Ms + best["dq+delta"].Ms + best["dkv"].Ms:F3} ms against " +
                              $"v1 total printed above)");
            if (specFile is not null) File.WriteAllText(specFile, spec);
            return 0;
        }
        finally
        {
            foreach (var b in buffers) b.Dispose();
        }
    }

    private static void UploadNormal(CudaDevice device, ulong dst, long n, Random rng)
    {
        float[] values = new float[n];
        for (long i = 0; i < n; i += 2)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble(), r = Math.Sqrt(-2 * Math.Log(u1));
            values[i] = (float)(r * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < n) values[i + 1] = (float)(r * Math.Sin(2 * Math.PI * u2));
        }
        ushort[] raw = new ushort[n];
        Bf16.FromFloat(values, raw);
        device.Upload(dst, (ReadOnlySpan<ushort>)raw);
    }

    private static float[] ReadBf16(CudaDevice device, ulong src, long n)
    {
        ushort[] raw = new ushort[n];
        device.Download(raw.AsSpan(), src);
        float[] values = new float[n];
        Bf16.ToFloat(raw, values);
        return values;
    }

    private static float[] ReadF32(CudaDevice device, ulong src, long n)
    {
        float[] values = new float[n];
        device.Download(values.AsSpan(), src);
        return values;
    }

    private static double MaxDiff(float[] a, float[] b)
    {
        double m = 0;
        for (long i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs((double)a[i] - b[i]));
        return m;
    }
}
