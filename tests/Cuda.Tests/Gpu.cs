using Xunit;
using LlmNet.Model.Numerics;

namespace LlmNet.Cuda.Tests;

/// <summary>GPU tests share one device, module and cuBLASLt handle, and run one at a time.</summary>
[CollectionDefinition("gpu", DisableParallelization = true)]
public sealed class GpuCollection;

/// <summary>
/// The shared GPU state for tests. <see cref="Require"/> skips the calling test (with the reason: no driver,
/// no device, no NVRTC or cuBLASLt) on machines without a usable GPU, such as CI.
/// </summary>
internal static class Gpu
{
    private sealed record State(CudaDevice? Device, KernelModule? Kernels, Matmul? Matmul, string Reason);

    private static readonly Lazy<State> s_state = new(() =>
    {
        if (!CudaBackend.IsAvailable(out string reason)) return new State(null, null, null, reason);
        var device = new CudaDevice(0);
        return new State(device, KernelModule.LoadDefault(device), new Matmul(device), "");
    });

    public static void Require()
    {
        State s = s_state.Value;
        if (s.Device is null) Assert.Skip(s.Reason);
        s.Device.MakeCurrent();
    }

    /// <summary>Skips unless a GPU is present, without creating the shared state (for tests that build a CudaBackend).</summary>
    public static void RequireDevice()
    {
        if (!CudaBackend.IsAvailable(out string reason)) Assert.Skip(reason);
    }

    public static CudaDevice Device => s_state.Value.Device!;
    public static KernelModule Kernels => s_state.Value.Kernels!;
    public static Matmul Matmul => s_state.Value.Matmul!;

    // ------------------------------------------------------------ host/device helpers

    private static readonly List<DeviceBuffer> s_live = [];

    /// <summary>Uploads values as bf16; the returned buffer lives until <see cref="FreeAll"/>.</summary>
    public static ulong Bf16(float[] values)
    {
        var b = Device.Allocate(Math.Max(16, values.Length * 2L + 16), "test bf16");
        s_live.Add(b);
        UploadBf16(b.Ptr, values);
        return b.Ptr;
    }

    /// <summary>Overwrites device memory with values as bf16.</summary>
    public static void UploadBf16(ulong ptr, float[] values)
    {
        ushort[] raw = new ushort[values.Length];
        Model.Numerics.Bf16.FromFloat(values, raw);
        Device.Upload(ptr, (ReadOnlySpan<ushort>)raw);
    }

    public static ulong F32(float[] values)
    {
        var b = Device.Allocate(Math.Max(16, values.Length * 4L + 16), "test f32");
        s_live.Add(b);
        Device.Upload(b.Ptr, (ReadOnlySpan<float>)values);
        return b.Ptr;
    }

    public static ulong I32(int[] values)
    {
        var b = Device.Allocate(Math.Max(16, values.Length * 4L + 16), "test i32");
        s_live.Add(b);
        Device.Upload(b.Ptr, (ReadOnlySpan<int>)values);
        return b.Ptr;
    }

    /// <summary>A bf16 output buffer filled with NaN, so an element the kernel fails to write cannot pass.</summary>
    public static ulong PoisonedBf16(long count)
    {
        var b = Device.Allocate(Math.Max(16, count * 2 + 16), "test out bf16");
        s_live.Add(b);
        Device.Fill32(b.Ptr, 0x7FC07FC0u, (count + 1) / 2);
        return b.Ptr;
    }

    public static ulong PoisonedF32(long count)
    {
        var b = Device.Allocate(Math.Max(16, count * 4 + 16), "test out f32");
        s_live.Add(b);
        Device.Fill32(b.Ptr, 0x7FC00000u, count);
        return b.Ptr;
    }

    public static float[] ReadBf16(ulong ptr, long count)
    {
        Device.Synchronize();
        ushort[] raw = new ushort[count];
        Device.Download(raw.AsSpan(), ptr);
        float[] f = new float[count];
        Model.Numerics.Bf16.ToFloat(raw, f);
        return f;
    }

    public static float[] ReadF32(ulong ptr, long count)
    {
        Device.Synchronize();
        float[] f = new float[count];
        Device.Download(f.AsSpan(), ptr);
        return f;
    }

    public static void FreeAll()
    {
        foreach (var b in s_live) b.Dispose();
        s_live.Clear();
    }
}

/// <summary>Fresh random inputs, already rounded to bf16 so the reference sees exactly what the GPU sees.</summary>
internal sealed class RandomData(int seed)
{
    private readonly Random _rng = new(seed);

    public float[] Normal(long n, float std = 1.0f, float mean = 0.0f, bool bf16 = true)
    {
        float[] x = new float[n];
        for (long i = 0; i < n; i++)
        {
            double u1 = 1.0 - _rng.NextDouble(), u2 = _rng.NextDouble();
            float v = (float)(mean + std * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
            x[i] = bf16 ? Bf16.Round(v) : v;
        }
        return x;
    }

    public float[] Uniform(long n, float lo, float hi)
    {
        float[] x = new float[n];
        for (long i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * _rng.NextDouble());
        return x;
    }

    public int[] Ints(int n, int max)
    {
        int[] x = new int[n];
        for (int i = 0; i < n; i++) x[i] = _rng.Next(max);
        return x;
    }
}

internal static class Compare
{
    /// <summary>‖actual − expected‖ / ‖expected‖ within tolerance, and no NaN or infinity anywhere in actual.</summary>
    public static void Close(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double num = 0, den = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            if (!float.IsFinite(actual[i])) Assert.Fail($"{what}: element {i} is {actual[i]} (unwritten or overflowed)");
            double d = actual[i] - expected[i];
            num += d * d;
            den += expected[i] * expected[i];
        }
        double rel = Math.Sqrt(num) / Math.Max(Math.Sqrt(den), 1e-30);
        Assert.True(rel <= tolerance, $"{what}: relative error {rel:E3} exceeds {tolerance:E1}");
    }

    public static void Close(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double tolerance, string what)
    {
        double[] e = new double[expected.Length];
        for (int i = 0; i < e.Length; i++) e[i] = expected[i];
        Close(actual, e, tolerance, what);
    }
}
