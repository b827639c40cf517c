using Xunit;
using LlmNet.Model;

namespace LlmNet.Cuda.Tests;

/// <summary>
/// The CUDA backend's activations as typed arrays: the 256-byte minimum in elements (CPU), layer slices of a typed
/// array, and on a GPU the allocation list (names, order, bytes) the untyped byte-sized buffers had.
/// </summary>
[Collection("gpu")]
public sealed class ActivationLayoutTests
{
    [Fact]
    public void AtLeastBytes_GivesTheBytesOfTheOldMinimum()
    {
        // max(count·size, 256) bytes, as the untyped allocation took them.
        foreach (long count in new long[] { 0, 1, 63, 64, 65, 127, 128, 129, 1L << 33 })
        {
            Assert.Equal(Math.Max(count * 2, 256), DeviceSizes.Bytes<ushort>(DeviceSizes.AtLeastBytes<ushort>(count, 256)));
            Assert.Equal(Math.Max(count * 4, 256), DeviceSizes.Bytes<float>(DeviceSizes.AtLeastBytes<float>(count, 256)));
            Assert.Equal(Math.Max(count * 4, 256), DeviceSizes.Bytes<int>(DeviceSizes.AtLeastBytes<int>(count, 256)));
        }
    }

    [Fact]
    public void Slice_IsTheElementOffsetOfALayer_AndStaysInside()
    {
        Gpu.Require();
        using DeviceArray<ushort> bf16 = Gpu.Device.Allocate<ushort>(100, "test slices (bf16)");
        Assert.Equal(bf16.Ptr + 2 * 30 * 2, bf16.Slice(2, 30));
        Assert.Equal(bf16.Ptr + 75 * 2, bf16.Slice(3, 25)); // the last slice ends at Length
        Assert.Throws<ArgumentOutOfRangeException>(() => bf16.Slice(3, 30));
        Assert.Throws<ArgumentOutOfRangeException>(() => bf16.Slice(-1, 10));

        using DeviceArray<float> fp32 = Gpu.Device.Allocate<float>(850_000_000, "test slices (fp32)");
        Assert.Equal(fp32.Ptr + 2UL * 280_000_000 * 4, fp32.Slice(2, 280_000_000)); // 2.24 GB in: past 2^31 bytes
        Assert.Throws<ArgumentOutOfRangeException>(() => fp32.Slice(3, 280_000_000)); // would end at 1,120,000,000
    }

    [Theory]
    [InlineData(1, 1)]  // every statistic below the 256-byte minimum
    [InlineData(4, 64)]
    public void Allocations_KeepTheUntypedNamesOrderAndBytes(int b, int t)
    {
        Gpu.RequireDevice();
        var config = GptConfig.FromDescriptor("d6");
        using var backend = new CudaBackend(config, b, t); // recompute 1: L layers of ln1/ln2, one of fch_gelu
        long L = config.NumLayers, C = config.Channels, nh = config.NumHeads, vp = config.PaddedVocabSize, bt = (long)b * t;
        static long Bytes(long bytes) => Math.Max(bytes, 256);
        (string Name, long Bytes)[] expected =
        [
            ("encoded (B,T,C)", Bytes(bt * C * 2)),
            ($"ln1 ({L},B,T,C)", Bytes(L * bt * C * 2)),
            ("ln1 mean (L,B,T)", Bytes(L * bt * 4)),
            ("ln1 rstd (L,B,T)", Bytes(L * bt * 4)),
            ("qkv (L,B,T,3C)", Bytes(L * bt * 3 * C * 2)),
            ("atty (L,B,T,C)", Bytes(L * bt * C * 2)),
            ("attention logsumexp (L,B,NH,T)", Bytes(L * bt * nh * 4)),
            ("residual2 (L,B,T,C)", Bytes(L * bt * C * 2)),
            ($"ln2 ({L},B,T,C)", Bytes(L * bt * C * 2)),
            ("ln2 mean (L,B,T)", Bytes(L * bt * 4)),
            ("ln2 rstd (L,B,T)", Bytes(L * bt * 4)),
            ("fch (L,B,T,4C)", Bytes(L * bt * 4 * C * 2)),
            ("fch_gelu (1,B,T,4C)", Bytes(bt * 4 * C * 2)),
            ("residual3 (L,B,T,C)", Bytes(L * bt * C * 2)),
            ("lnf (B,T,C)", Bytes(bt * C * 2)),
            ("lnf mean (B,T)", Bytes(bt * 4)),
            ("lnf rstd (B,T)", Bytes(bt * 4)),
            ($"logits / dlogits ({Math.Min(bt, CudaBackend.DefaultLogitsChunkRows)} rows,Vp)", Bytes(Math.Min(bt, CudaBackend.DefaultLogitsChunkRows) * vp * 2)),
            ("logits logsumexp (B,T)", Bytes(bt * 4)),
            ("losses (B,T)", Bytes(bt * 4)),
            ("inputs (B,T)", Bytes(bt * 4)),
            ("targets (B,T)", Bytes(bt * 4)),
            ("dresidual (B,T,C)", Bytes(bt * C * 2)),
            ("classifier wte gradient (Vp,C)", vp * C * 4),
            ("scratch (B,T,C)", Bytes(bt * C * 2)),
            ("scratch (B,T,4C)", Bytes(bt * 4 * C * 2)),
            ("attention delta (B,NH,T)", Bytes(bt * nh * 4)),
            ("column-sum partials", -1), // sized by the device's multiprocessor count
            ("norm partials", 1024 * 4),
            ("wte-backward buckets", Bytes(TokenBuckets.MaxInts(bt) * 4)),
            ("wte-backward chunk sums", Bytes(TokenBuckets.MaxChunks(bt) * C * 4)),
        ];
        var allocations = backend.Allocations;
        int first = allocations.ToList().FindIndex(a => a.Name == "encoded (B,T,C)");
        Assert.True(first > 0, "the activations follow the model state");
        for (int i = 0; i < expected.Length; i++)
        {
            (string name, long bytes) = allocations[first + i];
            Assert.Equal(expected[i].Name, name);
            if (expected[i].Bytes >= 0) Assert.Equal(expected[i].Bytes, bytes);
            else Assert.True(bytes >= 256 && bytes % 4 == 0, $"{name}: {bytes} bytes");
        }
        Assert.Equal("cuBLASLt workspace", allocations[first + expected.Length].Name);
    }
}
