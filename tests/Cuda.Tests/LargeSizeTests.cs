using Xunit;
using LlmNet.Model;

namespace LlmNet.Cuda.Tests;

/// <summary>
/// Sizes above 2^31 bytes: the size helpers (CPU), and on a GPU whole copies of buffers larger than 2 GiB and the d48
/// model state round trip that a 32-bit byte count once cut short (master weights uploaded in part, so the first
/// AdamW update destroyed the model).
/// </summary>
[Collection("gpu")]
public sealed class LargeSizeTests
{
    [Fact]
    public void DeviceSizes_CountInSixtyFourBits()
    {
        long d48 = ParameterLayout.For(GptConfig.FromDescriptor("d48")).Count;
        Assert.Equal(1_557_686_400L, d48);
        Assert.Equal(6_230_745_600L, DeviceSizes.Bytes<float>(d48));
        Assert.Equal(6_230_745_600UL, (ulong)DeviceSizes.CopyBytes<float>(d48));
        Assert.Equal(3_115_372_800UL, DeviceSizes.Offset<ushort>(d48));
        Assert.Equal(4L * int.MaxValue, DeviceSizes.Bytes<float>(int.MaxValue));
        Assert.Throws<OverflowException>(() => DeviceSizes.Bytes<double>(long.MaxValue / 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => DeviceSizes.Bytes<float>(-1));
    }

    [Fact]
    public void Copies_LargerThanTwoGiB_AreWhole()
    {
        Gpu.Require();
        const long n = 600_000_000; // 2.4 GB of fp32
        using DeviceArray<float> array = Gpu.Device.Allocate<float>(n, "test 2.4 GB");
        float[] host = new float[n];
        Parallel.For(0, 64, part => { for (long i = part; i < n; i += 64) host[i] = Pattern(i); });
        Gpu.Device.Zero(array);
        Gpu.Device.Upload(array, 0, (ReadOnlySpan<float>)host);

        float[] back = new float[n];
        Gpu.Device.Download(back.AsSpan(), array);
        AssertPattern(back, 0);

        // An offset past 2^31 bytes, in both directions.
        const long offset = 560_000_000;
        float[] tail = new float[n - offset];
        Gpu.Device.Download(tail.AsSpan(), array, offset);
        AssertPattern(tail, offset);
        Array.Fill(tail, 3.5f);
        Gpu.Device.Upload(array, offset, (ReadOnlySpan<float>)tail);
        Gpu.Device.Download(back.AsSpan(), array);
        Assert.Equal(Pattern(offset - 1), back[offset - 1]);
        Assert.True(back.AsSpan((int)offset).IndexOfAnyExcept(3.5f) < 0, "the upload at an offset past 2^31 bytes was not whole");

        Assert.Throws<ArgumentOutOfRangeException>(() => Gpu.Device.Upload(array, offset + 1, (ReadOnlySpan<float>)tail));
    }

    [Fact]
    public void D48_ParametersAndOptimizerState_RoundTripWhole()
    {
        Gpu.RequireDevice();
        var config = GptConfig.FromDescriptor("d48");
        using var backend = new CudaBackend(config, 1, 64);
        long n = ParameterLayout.For(config).Count;
        Assert.True(backend.KeepsMasterWeights);

        float[] values = new float[n];
        Parallel.For(0, 64, part => { for (long i = part; i < n; i += 64) values[i] = Pattern(i); });
        backend.SetParameters(values);

        float[] m = new float[n], v = new float[n], master = new float[n];
        backend.GetOptimizerState(m, v, master);
        AssertPattern(master, 0); // the master weights are the fp32 values, every one of them
        Assert.True(m.AsSpan().IndexOfAnyExcept(0f) < 0 && v.AsSpan().IndexOfAnyExcept(0f) < 0, "fresh AdamW moments must be zero");

        float[] parameters = new float[n];
        backend.GetParameters(parameters);
        for (long i = 0; i < n; i += 9973)
            Assert.Equal(Model.Numerics.Bf16.Round(values[i]), parameters[i]);
        Assert.Equal(Model.Numerics.Bf16.Round(values[n - 1]), parameters[n - 1]);

        // State set and read back: bitwise, through the last element.
        Parallel.For(0, 64, part => { for (long i = part; i < n; i += 64) { m[i] = Pattern(i + 1); v[i] = Pattern(i + 2); master[i] = Pattern(i + 3); } });
        backend.SetOptimizerState(m, v, master);
        float[] m2 = new float[n], v2 = new float[n], master2 = new float[n];
        backend.GetOptimizerState(m2, v2, master2);
        Assert.True(m.AsSpan().SequenceEqual(m2), "m differs after a round trip");
        Assert.True(v.AsSpan().SequenceEqual(v2), "v differs after a round trip");
        Assert.True(master.AsSpan().SequenceEqual(master2), "master weights differ after a round trip");
    }

    /// <summary>A value that differs between neighbouring elements and between far-apart ones (2^31 bytes apart too).</summary>
    private static float Pattern(long i) => (float)((i * 2654435761L) % 1000003) * 1e-6f - 0.5f;

    private static void AssertPattern(float[] values, long first)
    {
        int bad = -1;
        Parallel.For(0, 64, (part, state) =>
        {
            for (long i = part; i < values.Length; i += 64)
                if (values[i] != Pattern(first + i)) { Interlocked.CompareExchange(ref bad, (int)i, -1); state.Stop(); return; }
        });
        Assert.True(bad < 0, $"element {first + bad} was not copied (got {(bad < 0 ? 0 : values[bad])})");
    }
}
