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
    public void Parse_NamesKernelsAndRowsPerBlock(string spec, string forward, int forwardRows, string dq, int dqRows)
    {
        var k = FlashKernels.Parse(spec);
        k.Forward.Should().Be(forward);
        k.ForwardRows.Should().Be(forwardRows);
        k.Dq.Should().Be(dq);
        k.DqRows.Should().Be(dqRows);
    }

    [Theory]
    [InlineData("m2", "expected \"forward,dq\"")]
    [InlineData("m2,m1,kvs", "expected \"forward,dq\"")]
    [InlineData("v1,m1", "unknown forward kernel \"v1\"")]
    [InlineData("m2,m3", "unknown dq kernel \"m3\"")]
    public void Parse_RejectsUnknownNames(string spec, string message)
    {
        var act = () => FlashKernels.Parse(spec);
        act.Should().Throw<ArgumentException>().WithMessage($"*LLMNET_FLASH*{message}*");
    }
}
