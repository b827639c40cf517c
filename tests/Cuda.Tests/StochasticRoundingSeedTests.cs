using FluentAssertions;
using Xunit;

namespace LlmNet.Cuda.Tests;

/// <summary>LLMNET_SR_SEED (no GPU needed; in the gpu collection because backends read the variable).</summary>
[Collection("gpu")]
public class StochasticRoundingSeedTests
{
    [Theory]
    [InlineData(null, 13371337UL)]
    [InlineData("", 13371337UL)]
    [InlineData("13371338", 13371338UL)]
    public void SeedBase_IsLlmcsUnlessTheVariableIsSet(string? value, ulong expected)
    {
        string? before = Environment.GetEnvironmentVariable("LLMNET_SR_SEED");
        try
        {
            Environment.SetEnvironmentVariable("LLMNET_SR_SEED", value);
            CudaBackend.StochasticRoundingSeedBase().Should().Be(expected);
        }
        finally { Environment.SetEnvironmentVariable("LLMNET_SR_SEED", before); }
    }

    [Fact]
    public void SeedBase_RejectsANonNumber()
    {
        string? before = Environment.GetEnvironmentVariable("LLMNET_SR_SEED");
        try
        {
            Environment.SetEnvironmentVariable("LLMNET_SR_SEED", "x1");
            var act = () => CudaBackend.StochasticRoundingSeedBase();
            act.Should().Throw<ArgumentException>().WithMessage("*LLMNET_SR_SEED*x1*");
        }
        finally { Environment.SetEnvironmentVariable("LLMNET_SR_SEED", before); }
    }
}
