using static LlmNet.Model.ParameterTensor;

namespace LlmNet.Model.HuggingFace;

/// <summary>
/// GPT-2's tensor names in Hugging Face's GPT2LMHeadModel next to llm.c's 16 tensors (llm.c's train_gpt2.py
/// write_model walks the same names when it exports). Shapes and offsets come from <see cref="ParameterLayout"/>,
/// the one description of llm.c's layout.
/// </summary>
public static class HfGpt2Names
{
    public const string Prefix = "transformer.";
    public const string LmHead = "lm_head.weight";

    /// <summary>The HF name of llm.c tensor <paramref name="tensor"/> in layer <paramref name="layer"/>, with the transformer. prefix.</summary>
    public static string Name(ParameterTensor tensor, int layer) => tensor switch
    {
        Wte => Prefix + "wte.weight",
        Wpe => Prefix + "wpe.weight",
        Lnfw => Prefix + "ln_f.weight",
        Lnfb => Prefix + "ln_f.bias",
        _ => $"{Prefix}h.{layer}.{LayerName(tensor)}",
    };

    private static string LayerName(ParameterTensor tensor) => tensor switch
    {
        Ln1w => "ln_1.weight",
        Ln1b => "ln_1.bias",
        Qkvw => "attn.c_attn.weight",
        Qkvb => "attn.c_attn.bias",
        Attprojw => "attn.c_proj.weight",
        Attprojb => "attn.c_proj.bias",
        Ln2w => "ln_2.weight",
        Ln2b => "ln_2.bias",
        Fcw => "mlp.c_fc.weight",
        Fcb => "mlp.c_fc.bias",
        Fcprojw => "mlp.c_proj.weight",
        Fcprojb => "mlp.c_proj.bias",
        _ => throw new ArgumentOutOfRangeException(nameof(tensor), tensor, "not a per-layer tensor"),
    };

    /// <summary>llm.c's Linear weights (qkvw, attprojw, fcw, fcprojw) are [out, in]; HF's Conv1D stores them [in, out].</summary>
    public static bool IsTransposed(ParameterTensor tensor) => tensor is Qkvw or Attprojw or Fcw or Fcprojw;

    /// <summary>Every HF tensor of a model of this shape, in llm.c's order (tensor-major, then layer).</summary>
    public static IReadOnlyList<HfTensorSlice> Slices(ParameterLayout layout)
    {
        var slices = new List<HfTensorSlice>(4 + 12 * layout.Config.NumLayers);
        foreach (ParameterTensor t in ParameterLayout.Tensors)
        {
            for (int l = 0; l < layout.LayersOf(t); l++)
            {
                long[] shape = layout.LayerShape(t);
                if (t == Wte) shape = [layout.Config.VocabSize, shape[1]]; // the padded rows stay in llm.c (zero: train_gpt2.py pad_vocab)
                bool transposed = IsTransposed(t);
                if (transposed) shape = [shape[1], shape[0]];
                slices.Add(new HfTensorSlice(t, l, Name(t, l), shape, layout.LayerOffset(t, l), transposed));
            }
        }
        return slices;
    }
}
