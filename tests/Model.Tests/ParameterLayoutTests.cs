using FluentAssertions;
using Xunit;
using static LlmNet.Model.ParameterTensor;

namespace LlmNet.Model.Tests;

/// <summary>The one description of llm.c's parameter tensors, against llm.c's numbering written out here.</summary>
public sealed class ParameterLayoutTests
{
    [Fact]
    public void Tensors_are_llm_c_s_sixteen_in_its_order_with_its_names()
    {
        ParameterLayout.Tensors.Select(ParameterLayout.Name).Should().Equal(
            "wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
            "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb");
        ParameterLayout.Tensors.Select(t => (int)t).Should().Equal(Enumerable.Range(0, ParameterLayout.TensorCount));
    }

    [Fact]
    public void Per_layer_and_weight_decay_sets_are_llm_c_s()
    {
        // train_gpt2.cu: tensors 2..13 have one copy per layer; gpt2_update decays tensors 0, 1, 4, 6, 10 and 12.
        ParameterLayout.LayerTensors.Select(t => (int)t).Should().Equal(Enumerable.Range(2, 12));
        ParameterLayout.ModelTensors.Should().Equal(Wte, Wpe, Lnfw, Lnfb);
        ParameterLayout.Tensors.Where(ParameterLayout.HasWeightDecay).Select(t => (int)t).Should().Equal(0, 1, 4, 6, 10, 12);
    }

    [Fact]
    public void Offsets_are_contiguous_and_per_layer_copies_follow_each_other()
    {
        var c = GptConfig.FromDescriptor("d12");
        var layout = ParameterLayout.For(c);
        long expected = 0;
        foreach (ParameterTensor t in ParameterLayout.Tensors)
        {
            layout.Offset(t).Should().Be(expected, ParameterLayout.Name(t));
            layout.Size(t).Should().Be(layout.LayersOf(t) * layout.LayerShape(t).Aggregate(1L, (a, b) => a * b), ParameterLayout.Name(t));
            expected += layout.Size(t);
        }
        expected.Should().Be(layout.Count);
        // llm.c reads params.qkvw + l * 3*C*C.
        layout.LayerOffset(Qkvw, 5).Should().Be(layout.Offset(Qkvw) + 5L * 3 * 768 * 768);
        layout.LayerOffset(Lnfw, 0).Should().Be(layout.Offset(Lnfw));
        layout.LayerShape(Fcprojw).Should().Equal(768, 4 * 768);
        layout.LayerShape(Wpe).Should().Equal(1024, 768);
    }

    [Fact]
    public void D48_sizes_are_64_bit()
    {
        var layout = ParameterLayout.For(GptConfig.FromDescriptor("d48"));
        layout.Count.Should().Be(1_557_686_400);
        layout.Offset(Lnfb).Should().Be(layout.Count - 1600);
    }
}
