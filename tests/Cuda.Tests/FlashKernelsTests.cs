using System.Text.RegularExpressions;
using FluentAssertions;
using Xunit;

namespace LlmNet.Cuda.Tests;

/// <summary>The two sets of attention kernels (no GPU needed).</summary>
public class FlashKernelsTests
{
    [Fact]
    public void MmaSync_RunsTheTwoTileKernelsOn128RowBlocks()
    {
        var k = FlashKernels.MmaSync;
        k.Forward.Should().Be("flash_forward_64_m2");
        k.ForwardRows.Should().Be(128);
        k.Dq.Should().Be("flash_backward_dq_64_m2");
        k.DqRows.Should().Be(128);
        k.Dkv.Should().Be("flash_backward_dkv_64");
    }

    [Fact]
    public void Wgmma_RunsTheWarpgroupKernelsOn64RowBlocks()
    {
        var k = FlashKernels.Wgmma;
        k.Forward.Should().Be("flash_forward_64_w1");
        k.ForwardRows.Should().Be(64);
        k.Dq.Should().Be("flash_backward_dq_64_w1");
        k.DqRows.Should().Be(64);
        k.Dkv.Should().Be("flash_backward_dkv_64_w1");
    }

    [Fact]
    public void EveryKernelOfBothSets_IsDefinedInTheKernelSources()
    {
        var assembly = typeof(FlashKernels).Assembly;
        string sources = string.Concat(assembly.GetManifestResourceNames().Where(n => n.EndsWith(".cu", StringComparison.Ordinal))
            .Select(n => new StreamReader(assembly.GetManifestResourceStream(n)!).ReadToEnd()));
        var defined = Regex.Matches(sources, @"extern ""C"" __global__ void (?:__launch_bounds__\([^)]*\) )?(\w+)\(")
            .Select(m => m.Groups[1].Value).ToHashSet();
        foreach (var set in new[] { FlashKernels.MmaSync, FlashKernels.Wgmma })
            defined.Should().Contain([set.Forward, set.Dq, set.Dkv], $"{set} must name kernels of flash.cu / flash_wgmma.cu");
    }
}
