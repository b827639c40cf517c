using FluentAssertions;
using Xunit;

namespace LlmNet.Cuda.Tests;

/// <summary>Choosing the attention kernels (no GPU needed).</summary>
public class FlashKernelsTests
{
    [Fact]
    public void Default_IsAValidPair() => FlashKernels.Default.Should().Be(FlashKernels.Parse(FlashKernels.DefaultSpec));

    [Theory]
    [InlineData("m2,m1", "flash_forward_64_m2", 128, "flash_backward_dq_64_m1", 64)]
    [InlineData("m2,m2", "flash_forward_64_m2", 128, "flash_backward_dq_64_m2", 128)]
    [InlineData(" m1 , m2 ", "flash_forward_64_m1", 64, "flash_backward_dq_64_m2", 128)]
    [InlineData("w1,m2", "flash_forward_64_w1", 64, "flash_backward_dq_64_m2", 128)]
    public void Parse_NamesKernelsAndRowsPerBlock(string spec, string forward, int forwardRows, string dq, int dqRows)
    {
        var k = FlashKernels.Parse(spec);
        k.Dkv.Should().Be("flash_backward_dkv_64");
        k.Forward.Should().Be(forward);
        k.ForwardRows.Should().Be(forwardRows);
        k.Dq.Should().Be(dq);
        k.DqRows.Should().Be(dqRows);
    }

    [Theory]
    [InlineData("w1,m2,w1", "flash_backward_dkv_64_w1")]
    [InlineData(FlashKernels.WgmmaSpec, "flash_backward_dkv_64_w1")]
    [InlineData("m2,m2,m1", "flash_backward_dkv_64")]
    public void Parse_NamesTheDkvKernel(string spec, string dkv) => FlashKernels.Parse(spec).Dkv.Should().Be(dkv);

    [Theory]
    [InlineData("m2", "expected \"forward,dq[,dkv]\"")]
    [InlineData("m2,m1,m1,m1", "expected \"forward,dq[,dkv]\"")]
    [InlineData("m2,m1,kvs", "unknown dkv kernel \"kvs\"")]
    [InlineData("v1,m1", "unknown forward kernel \"v1\"")]
    [InlineData("m2,m3", "unknown dq kernel \"m3\"")]
    [InlineData("m2,w2", "unknown dq kernel \"w2\" (m1, m2 or w1)")]
    public void Parse_RejectsUnknownNames(string spec, string message)
    {
        var act = () => FlashKernels.Parse(spec);
        act.Should().Throw<ArgumentException>().WithMessage($"*LLMNET_FLASH*{message}*");
    }
}
