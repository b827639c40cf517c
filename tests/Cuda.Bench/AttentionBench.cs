using LlmNet.Cuda;
using LlmNet.Model.Numerics;

/// <summary>
/// Times each head-size-64 attention kernel on its own, on one (B, NH, T) shape: the mma.sync set, and the wgmma set
/// where the module has it (sm_90a), and checks that the wgmma kernels' out, lse and dqkv agree with the mma.sync
/// ones (the GPU tests check both against fp64).
/// </summary>
internal static class AttentionBench
{
    public static int Run(string[] args)
    {
        int B = int.Parse(args[1]), NH = int.Parse(args[2]), T = int.Parse(args[3]);
        int reps = args.Length > 4 ? int.Parse(args[4]) : 10;
        int C = NH * 64;
        long bt = (long)B * T;
        using var device = new CudaDevice(0);
        using var k = KernelModule.LoadDefault(device);
        FlashKernels.Prepare(k);
        var buffers = new List<DeviceBuffer>();
        ulong Alloc(long bytes) { var b = device.Allocate(bytes, "bench"); buffers.Add(b); return b.Ptr; }
        try
        {
            var rng = new Random(42);
            ulong qkv = Alloc(bt * 3 * C * 2), dout = Alloc(bt * C * 2), outp = Alloc(bt * C * 2), lse = Alloc((long)B * NH * T * 4);
            ulong delta = Alloc((long)B * NH * T * 4), dqkv = Alloc(bt * 3 * C * 2);
            UploadNormal(device, qkv, bt * 3 * C, rng);
            UploadNormal(device, dout, bt * C, rng);

            // Causal attention flops: two T x T/2 x 64 products forward; dQ counts three, dK/dV four (with the recomputed P).
            double fwdFlops = 2.0 * 2 * B * NH * (T * (T + 1) / 2.0) * 64;
            using var timer = new CudaTimer(device);
            float Time(Action launch)
            {
                launch();
                timer.Start();
                for (int i = 0; i < reps; i++) launch();
                return timer.Stop() / reps;
            }
            void Report(string stage, string variant, float ms, double flops, string check) =>
                Console.WriteLine($"ATTN B={B} NH={NH} T={T} {stage,-8} {variant,-5} {ms,8:F3} ms {flops / ms / 1e9,7:F1} TFLOP/s  {check}");

            var reference = FlashKernels.MmaSync;
            reference.LaunchForward(k, outp, lse, qkv, B, T, NH);
            reference.LaunchBackward(k, dqkv, delta, dout, qkv, outp, lse, B, T, NH);
            device.Synchronize();
            float[] refOut = ReadBf16(device, outp, bt * C), refLse = ReadF32(device, lse, (long)B * NH * T), refD = ReadBf16(device, dqkv, bt * 3 * C);

            (string Name, FlashKernels Kernels)[] sets = FlashKernels.Wgmma.AvailableIn(k) ? [("mma", reference), ("wgmma", FlashKernels.Wgmma)] : [("mma", reference)];
            var total = new Dictionary<string, float>();
            foreach ((string name, FlashKernels fk) in sets)
            {
                float forward = Time(() => fk.LaunchForward(k, outp, lse, qkv, B, T, NH));
                Report("forward", name, forward, fwdFlops, $"out {MaxDiff(ReadBf16(device, outp, bt * C), refOut):E2} lse {MaxDiff(ReadF32(device, lse, (long)B * NH * T), refLse):E2} from mma.sync");
                reference.LaunchForward(k, outp, lse, qkv, B, T, NH);
                float dq = Time(() => fk.LaunchDq(k, dqkv, delta, dout, qkv, outp, lse, B, T, NH));
                reference.LaunchDkv(k, dqkv, delta, dout, qkv, lse, B, T, NH);
                Report("dq+delta", name, dq, fwdFlops * 1.5, $"dqkv {MaxDiff(ReadBf16(device, dqkv, bt * 3 * C), refD):E2} from mma.sync (max |ref| {refD.Max(Math.Abs):E2})");
                reference.LaunchDq(k, dqkv, delta, dout, qkv, outp, lse, B, T, NH);
                float dkv = Time(() => fk.LaunchDkv(k, dqkv, delta, dout, qkv, lse, B, T, NH));
                Report("dkv", name, dkv, fwdFlops * 2, $"dqkv {MaxDiff(ReadBf16(device, dqkv, bt * 3 * C), refD):E2} from mma.sync (max |ref| {refD.Max(Math.Abs):E2})");
                total[name] = forward + dq + dkv;
            }
            Console.WriteLine($"ATTN per layer, forward and backward: {string.Join(", ", total.Select(t => $"{t.Key} {t.Value:F3} ms"))}; " +
                              $"training runs {FlashKernels.For(k)}");
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
