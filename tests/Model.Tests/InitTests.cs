using FluentAssertions;
using Xunit;
using static LlmNet.Model.ParameterTensor;

namespace LlmNet.Model.Tests;

public sealed class InitTests
{
    [Fact]
    public void D12_has_llmc_parameter_count_and_layout()
    {
        var layout = ParameterLayout.For(GptConfig.FromDescriptor("d12"));
        layout.Count.Should().Be(124_475_904);
        layout.Size(Wte).Should().Be(50304L * 768);
        layout.Offset(Wpe).Should().Be(50304L * 768);
        layout.Size(Qkvw).Should().Be(12L * 3 * 768 * 768);
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
        void Check(ParameterTensor tensor, long index, double expected) =>
            ((double)p[layout.Offset(tensor) + index]).Should().BeApproximately(expected, 2e-8 + 1e-5 * Math.Abs(expected), $"{ParameterLayout.Name(tensor)}[{index}]");
        Check(Wte, 0, 0.03853830235375858);
        Check(Wte, 1, 0.02974568241095929);
        Check(Wte, 2, 0.01801434405176883);
        Check(Wte, 8, -0.01504271833683338);
        Check(Wpe, 0, -0.009162348811574288);
        Check(Wpe, 8, -0.026482874803525482);
        Check(Qkvw, 0, -0.004556676826018137);
        Check(Qkvw, 1, 0.007239995209135433);
        Check(Attprojw, 0, 0.0011327434924962906);
        Check(Attprojw, 8, 0.001637580731727321);

        // Pad rows of wte are zero; LayerNorm weights 1; biases 0.
        for (long i = 50257L * 768; i < layout.Size(Wte); i++) p[i].Should().Be(0f);
        foreach (ParameterTensor ones in new[] { Ln1w, Ln2w, Lnfw })
            p.AsSpan((int)layout.Offset(ones), (int)layout.Size(ones)).ToArray().Should().OnlyContain(v => v == 1f);
        foreach (ParameterTensor zeros in new[] { Ln1b, Qkvb, Attprojb, Ln2b, Fcb, Fcprojb, Lnfb })
            p.AsSpan((int)layout.Offset(zeros), (int)layout.Size(zeros)).ToArray().Should().OnlyContain(v => v == 0f);

        // Standard deviation per weight tensor: 0.02, and 0.02/sqrt(2L) for the residual projections.
        double residual = 0.02 / Math.Sqrt(24);
        foreach (var (tensor, std) in new[] { (Wte, 0.02), (Wpe, 0.02), (Qkvw, 0.02), (Attprojw, residual), (Fcw, 0.02), (Fcprojw, residual) })
        {
            long count = tensor == Wte ? 50257L * 768 : layout.Size(tensor);
            var values = p.AsSpan((int)layout.Offset(tensor), (int)count);
            double sum = 0, sumSq = 0;
            foreach (float v in values) { sum += v; sumSq += (double)v * v; }
            double mean = sum / count, sd = Math.Sqrt(sumSq / count - mean * mean);
            mean.Should().BeApproximately(0, std * 0.01, ParameterLayout.Name(tensor));
            sd.Should().BeApproximately(std, std * 0.01, ParameterLayout.Name(tensor));
        }
    }

    [Fact]
    public void Fresh_init_is_deterministic_and_per_layer_draws_are_distinct()
    {
        var a = GptModel.CreateFresh(TinyModel.Config);
        var b = GptModel.CreateFresh(TinyModel.Config);
        b.Should().Equal(a);
        var layout = ParameterLayout.For(TinyModel.Config);
        a[layout.LayerOffset(Qkvw, 0)].Should().NotBe(a[layout.LayerOffset(Qkvw, 1)]);
    }
}
