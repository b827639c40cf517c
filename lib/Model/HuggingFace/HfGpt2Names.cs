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

    private static readonly string?[] s_layerNames =
    [
        null, null, "ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias",
        "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias", null, null,
    ];

    /// <summary>The HF name of llm.c tensor <paramref name="tensor"/> in layer <paramref name="layer"/>, with the transformer. prefix.</summary>
    public static string Name(int tensor, int layer) => tensor switch
    {
        0 => Prefix + "wte.weight",
        1 => Prefix + "wpe.weight",
        14 => Prefix + "ln_f.weight",
        15 => Prefix + "ln_f.bias",
        _ => $"{Prefix}h.{layer}.{s_layerNames[tensor]}",
    };

    /// <summary>llm.c's Linear weights (qkvw, attprojw, fcw, fcprojw) are [out, in]; HF's Conv1D stores them [in, out].</summary>
    public static bool IsTransposed(int tensor) => tensor is 4 or 6 or 10 or 12;

    /// <summary>Every HF tensor of a model of this shape, in llm.c's order (tensor-major, then layer).</summary>
    public static IReadOnlyList<HfTensorSlice> Slices(ParameterLayout layout)
    {
        var slices = new List<HfTensorSlice>(4 + 12 * layout.Config.NumLayers);
        for (int t = 0; t < ParameterLayout.TensorCount; t++)
        {
            for (int l = 0; l < layout.LayersOf(t); l++)
            {
                long[] shape = layout.LayerShape(t);
                if (t == 0) shape = [layout.Config.VocabSize, shape[1]]; // the padded rows stay in llm.c (zero: train_gpt2.py pad_vocab)
                bool transposed = IsTransposed(t);
                if (transposed) shape = [shape[1], shape[0]];
                slices.Add(new HfTensorSlice(t, l, Name(t, l), shape, layout.Offsets[t] + l * layout.PerLayerSize(t), transposed));
            }
        }
        return slices;
    }
}
