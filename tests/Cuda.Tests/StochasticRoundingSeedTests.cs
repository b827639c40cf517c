using FluentAssertions;
using LlmNet.Model;
using LlmNet.Model.Cpu;
using LlmNet.Model.Random;
using Xunit;

namespace LlmNet.Cuda.Tests;

/// <summary>LLMNET_SR_SEED (no GPU needed; in the gpu collection because backends read the variable).</summary>
[Collection("gpu")]
public class StochasticRoundingSeedTests
{
    private static void With(string? value, Action body)
    {
        string? before = Environment.GetEnvironmentVariable(RoundingSeeds.SeedVariable);
        try
        {
            Environment.SetEnvironmentVariable(RoundingSeeds.SeedVariable, value);
            body();
        }
        finally { Environment.SetEnvironmentVariable(RoundingSeeds.SeedVariable, before); }
    }

    [Theory]
    [InlineData(null, 13371337UL)]
    [InlineData("", 13371337UL)]
    [InlineData("13371338", 13371338UL)]
    public void SeedBase_IsLlmcsUnlessTheVariableIsSet(string? value, ulong expected) =>
        With(value, () => RoundingSeeds.SeedBase().Should().Be(expected));

    [Fact]
    public void SeedBase_RejectsANonNumber() => With("x1", () =>
    {
        var act = () => RoundingSeeds.SeedBase();
        act.Should().Throw<ArgumentException>().WithMessage("*LLMNET_SR_SEED*x1*");
    });

    [Fact]
    public void TheVariableSeedsTheBackendsStream_AndAResumeContinuesTheRecordedOne()
    {
        var config = new GptConfig(MaxSeqLen: 8, VocabSize: 64, PaddedVocabSize: 64, NumLayers: 1, NumHeads: 1, Channels: 8);
        With("1000", () =>
        {
            using IGptBackend backend = new CpuBackend(config, 1, 8, 1, rank: 3);
            backend.RngState.Should().Be(1003UL, "the stream starts at the seed base + rank");
            backend.RngStateLastUpdate.Should().Be(0UL, "no update yet");
            backend.RestoreRngState(0xABCDEFUL, 0x123UL);
            (backend.RngState, backend.RngStateLastUpdate).Should().Be((0xABCDEFUL, 0x123UL),
                "a resumed run continues the stream its state file recorded, whatever the variable says");
        });
        With(null, () =>
        {
            using IGptBackend backend = new CpuBackend(config, 1, 8, 1, rank: 3);
            backend.RngState.Should().Be(13371337UL + 3);
        });
    }
}
