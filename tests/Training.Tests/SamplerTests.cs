using FluentAssertions;
using LlmNet.Training.Sampling;
using Xunit;

namespace LlmNet.Training.Tests;

public class SamplerTests
{
    [Fact]
    public void Sample_softmax_walks_the_unnormalised_cdf()
    {
        float[] logits = [0f, MathF.Log(3f), 0f]; // probabilities 0.2, 0.6, 0.2
        LlmcSampler.SampleSoftmax(logits, 0.0f).Should().Be(0);
        LlmcSampler.SampleSoftmax(logits, 0.19f).Should().Be(0);
        LlmcSampler.SampleSoftmax(logits, 0.21f).Should().Be(1);
        LlmcSampler.SampleSoftmax(logits, 0.79f).Should().Be(1);
        LlmcSampler.SampleSoftmax(logits, 0.81f).Should().Be(2);
        LlmcSampler.SampleSoftmax(logits, 0.9999999f).Should().Be(2);
    }

    [Fact]
    public void Token_writer_joins_characters_split_across_tokens()
    {
        var tokenizer = LlmNet.Common.Text.Gpt2Tokenizer.Shared;
        int[] ids = tokenizer.Encode("héllo → wörld");
        var text = new StringWriter();
        var writer = new TokenTextWriter(text);
        foreach (int id in ids) writer.Write(id);
        writer.Finish();
        text.ToString().Should().Be("héllo → wörld");
    }
}
