using FluentAssertions;
using Xunit;

namespace LlmNet.Model.Tests;

public sealed class InitTests
{
    [Fact]
    public void D12_has_llmc_parameter_count_and_layout()
    {
        var layout = ParameterLayout.For(GptConfig.FromDescriptor("d12"));
        layout.Count.Should().Be(124_475_904);
        layout.Sizes[0].Should().Be(50304L * 768);
        layout.Offsets[1].Should().Be(50304L * 768);
        layout.Sizes[4].Should().Be(12L * 3 * 768 * 768);
        ParameterLayout.For(GptConfig.FromDescriptor("d48")).Count.Should().Be(1_557_686_400);
        ParameterLayout.For(GptConfig.FromDescriptor("gpt3:c768")).Count.Should().Be(125_262_336);
    }

    [Fact]
    public void D12_fresh_init_matches_independently_derived_first_values()
    {
        // Reference values computed outside this code base: a separate MT19937 core seeded as
        // torch.manual_seed(42) and the 16-wide Box–Muller of normal_, in double precision.
        var config = GptConfig.FromDescriptor("d12");
        var layout = ParameterLayout.For(config);
        var p = GptModel.CreateFresh(config);
        void Check(int tensor, long index, double expected) =>
            ((double)p[layout.Offsets[tensor] + index]).Should().BeApproximately(expected, 2e-8 + 1e-5 * Math.Abs(expected), $"{ParameterLayout.Names[tensor]}[{index}]");
        Check(0, 0, 0.03853830235375858);
        Check(0, 1, 0.02974568241095929);
        Check(0, 2, 0.01801434405176883);
        Check(0, 8, -0.01504271833683338);
        Check(1, 0, -0.009162348811574288);
        Check(1, 8, -0.026482874803525482);
        Check(4, 0, -0.004556676826018137);
        Check(4, 1, 0.007239995209135433);
        Check(6, 0, 0.0011327434924962906);
        Check(6, 8, 0.001637580731727321);

        // Pad rows of wte are zero; LayerNorm weights 1; biases 0.
        for (long i = 50257L * 768; i < layout.Sizes[0]; i++) p[i].Should().Be(0f);
        foreach (int ones in new[] { 2, 8, 14 })
            p.AsSpan((int)layout.Offsets[ones], (int)layout.Sizes[ones]).ToArray().Should().OnlyContain(v => v == 1f);
        foreach (int zeros in new[] { 3, 5, 7, 9, 11, 13, 15 })
            p.AsSpan((int)layout.Offsets[zeros], (int)layout.Sizes[zeros]).ToArray().Should().OnlyContain(v => v == 0f);

        // Standard deviation per weight tensor: 0.02, and 0.02/sqrt(2L) for the residual projections.
        double residual = 0.02 / Math.Sqrt(24);
        foreach (var (tensor, std) in new[] { (0, 0.02), (1, 0.02), (4, 0.02), (6, residual), (10, 0.02), (12, residual) })
        {
            long count = tensor == 0 ? 50257L * 768 : layout.Sizes[tensor];
            var values = p.AsSpan((int)layout.Offsets[tensor], (int)count);
            double sum = 0, sumSq = 0;
            foreach (float v in values) { sum += v; sumSq += (double)v * v; }
            double mean = sum / count, sd = Math.Sqrt(sumSq / count - mean * mean);
            mean.Should().BeApproximately(0, std * 0.01, ParameterLayout.Names[tensor]);
            sd.Should().BeApproximately(std, std * 0.01, ParameterLayout.Names[tensor]);
        }
    }

    [Fact]
    public void Fresh_init_is_deterministic_and_per_layer_draws_are_distinct()
    {
        var a = GptModel.CreateFresh(TinyModel.Config);
        var b = GptModel.CreateFresh(TinyModel.Config);
        b.Should().Equal(a);
        var layout = ParameterLayout.For(TinyModel.Config);
        long per = layout.PerLayerSize(4);
        a[layout.Offsets[4]].Should().NotBe(a[layout.Offsets[4] + per]);
    }
}
