using FluentAssertions;
using Xunit;

namespace LlmNet.Cuda.Tests;

/// <summary>Choosing the attention kernels (no GPU needed).</summary>
public class FlashKernelsTests
{
    [Fact]
    public void Default_IsAValidSet()
    {
        FlashKernels.Default.Should().Be(FlashKernels.Parse(FlashKernels.DefaultSpec));
        FlashKernels.Default.DqWritesDelta.Should().BeTrue("the second-generation dQ kernels compute delta themselves");
    }

    [Theory]
    [InlineData("v1,v1,v1", "flash_forward_64", 64, "flash_backward_dq_64", false, "flash_backward_dkv_64", 0)]
    [InlineData("m2, m2, kvs", "flash2_forward_64_m2", 128, "flash2_backward_dq_64_m2", true, "flash2_backward_dkv_64_kvs", 56320)]
    [InlineData("m1,m1,reg", "flash2_forward_64_m1", 64, "flash2_backward_dq_64_m1", true, "flash2_backward_dkv_64", 0)]
    public void Parse_NamesKernelsAndLaunchShapes(string spec, string forward, int rows, string dq, bool delta, string dkv, int shared)
    {
        var k = FlashKernels.Parse(spec);
        k.Forward.Should().Be(forward);
        k.ForwardRows.Should().Be(rows);
        k.Dq.Should().Be(dq);
        k.DqWritesDelta.Should().Be(delta);
        k.Dkv.Should().Be(dkv);
        k.DkvSharedBytes.Should().Be(shared);
    }

    [Theory]
    [InlineData("m2,m2", "expected \"forward,dq,dkv\"")]
    [InlineData("m3,m2,kvs", "unknown forward kernel \"m3\"")]
    [InlineData("m2,kvs,kvs", "unknown dq kernel \"kvs\"")]
    [InlineData("m2,m2,m2", "unknown dkv kernel \"m2\"")]
    public void Parse_RejectsUnknownNames(string spec, string message)
    {
        var act = () => FlashKernels.Parse(spec);
        act.Should().Throw<ArgumentException>().WithMessage($"*LLMNET_FLASH*{message}*");
    }
}
