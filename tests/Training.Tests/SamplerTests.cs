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

public class SampleToolTests
{
    [Fact]
    public void Llmc_sampler_in_the_tool_matches_the_trainers_sampling_session()
    {
        var config = TinyRun.Config;
        float[] parameters = LlmNet.Model.Checkpoints.ModelFile.Read(TinyRun.ModelPath, out _);
        using var backend = new LlmNet.Model.Cpu.CpuBackend(config, 1, 17);
        backend.SetParameters(parameters);
        var trainerTokens = new List<int>();
        LlmcSampler.Generate(backend, 16, 17, trainerTokens.Add, TestContext.Current.CancellationToken);

        var text = new StringWriter();
        LlmNet.Tools.Sample.SampleProgram.Run(["-e", TinyRun.ModelPath, "-g", "16", "--llmc-sampler", "--device", "cpu"], text).Should().Be(0);
        var expected = new StringWriter();
        var writer = new TokenTextWriter(expected);
        trainerTokens.ForEach(writer.Write);
        writer.Finish();
        text.ToString().Should().Be(expected + Environment.NewLine);
    }

    [Fact]
    public void Cached_and_uncached_generation_agree_and_greedy_is_deterministic()
    {
        var config = TinyRun.Config;
        float[] parameters = LlmNet.Model.Checkpoints.ModelFile.Read(TinyRun.ModelPath, out _);
        using var cached = new LlmNet.Model.Cpu.CpuBackend(config, 1, 1);
        cached.SetParameters(parameters);
        using var full = new NoCache(new LlmNet.Model.Cpu.CpuBackend(config, 1, config.MaxSeqLen));
        full.SetParameters(parameters);
        int[] prompt = [LlmNet.Common.Text.Gpt2Tokenizer.EndOfText, .. LlmNet.Common.Text.Gpt2Tokenizer.Shared.Encode("To be, or not")];
        var options = new SampleOptions { MaxNewTokens = 12, Temperature = 0.8f, TopK = 40, Seed = 7, StopAtEndOfText = false };
        var a = TextSampler.Generate(cached, prompt, options, _ => { }, TestContext.Current.CancellationToken);
        var b = TextSampler.Generate(full, prompt, options, _ => { }, TestContext.Current.CancellationToken);
        a.Should().HaveCount(12).And.Equal(b);

        float[] logits = [0.1f, 2f, -1f, 1.9f];
        TextSampler.Pick(logits, 0f, 0, 0.99f).Should().Be(1, "temperature 0 is greedy");
        TextSampler.Pick(logits, 1f, 1, 0.99f).Should().Be(1, "top-1 keeps only the best");
        TextSampler.Pick(logits, 1f, 2, 0.99f).Should().Be(3, "top-2 keeps indices 1 and 3");
        TextSampler.Pick(logits, 1f, 2, 0.0f).Should().Be(1);
    }

    [Fact]
    public void Sample_tool_continues_a_prompt_and_reports_a_missing_model()
    {
        var text = new StringWriter();
        LlmNet.Tools.Sample.SampleProgram.Run(["--model", TinyRun.ModelPath, "--prompt", "ROMEO:", "-g", "5", "--seed", "3", "--top-k", "10"], text).Should().Be(0);
        text.ToString().Should().StartWith("ROMEO:");
        // -e and --init: the short and the old spelling of --model.
        LlmNet.Tools.Sample.SampleProgram.Run(["-e", "/nonexistent/model.bin"], new StringWriter()).Should().Be(1);
        LlmNet.Tools.Sample.SampleProgram.Run(["--init", "/nonexistent/model.bin"], new StringWriter()).Should().Be(1);
        LlmNet.Tools.Sample.SampleProgram.Run(["--prompt", "x"], new StringWriter()).Should().Be(2, "--model is required");
    }

    /// <summary>Hides the backend's key/value-cache decoder, forcing full forward passes.</summary>
    private sealed class NoCache(LlmNet.Model.IGptBackendProbe inner) : DelegatingBackend(inner);
}
