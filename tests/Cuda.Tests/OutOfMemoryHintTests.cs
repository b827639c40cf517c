using Xunit;
using LlmNet.Model;

namespace LlmNet.Cuda.Tests;

/// <summary>What a training backend that runs out of GPU memory says could be given up, and how it knows it ran out (CPU only).</summary>
public sealed class OutOfMemoryHintTests
{
    [Fact]
    public void AtRecomputeZero_OffersBothRecomputeLevelsTheBatchAndMasterWeights_WithWhatEachSaves()
    {
        var d48 = GptConfig.FromDescriptor("d48");
        string hint = CudaBackend.OutOfMemoryHint(d48, 16 * 1024, 0, 1_000L * 1024 * 1024);
        // -r 1 at d48, B=16, T=1024: 47 layers of (B,T,4C) bf16. nvidia-smi's peak fell by the same 9,400 MiB on an
        // H100 (docs/performance.md, 2026-12-06: 64,345 -> 54,945 MiB).
        Assert.Equal("To fit, try -r 1 (GELU recomputed: 9,400 MiB less), -r 2 (also the LayerNorms: 4,700 MiB less than -r 1), " +
                     "a smaller -b (activations scale with it), -w 0 (no fp32 master weights: 4,000 MiB less)", hint);
    }

    [Fact]
    public void AtRecomputeTwoWithoutMasterWeights_OnlyTheBatchIsLeft()
    {
        var d12 = GptConfig.FromDescriptor("d12");
        Assert.Equal("To fit, try a smaller -b (activations scale with it)", CudaBackend.OutOfMemoryHint(d12, 64 * 1024, 2, 0));
        Assert.StartsWith("To fit, try -r 2 (also the LayerNorms: ", CudaBackend.OutOfMemoryHint(d12, 64 * 1024, 1, 0));
    }

    [Fact]
    public void AFailedDriverCall_CarriesTheErrorNameItsMessageEndsWith()
    {
        // 2 is CUDA_ERROR_OUT_OF_MEMORY; without a driver library the name is the number ("CUresult 2").
        var e = Assert.Throws<CudaException>(() => Interop.Driver.Check(2, "cuMemAlloc(test)"));
        Assert.NotNull(e.Error);
        Assert.EndsWith($" failed: {e.Error}", e.Message);
        Assert.Contains(e.Error, new[] { "CUDA_ERROR_OUT_OF_MEMORY", "CUresult 2" });
    }
}
