namespace LlmNet.Model;

/// <summary>
/// The 16 parameter tensors of GPT-2 in llm.c's order and layer-major layout (train_gpt2.cu: ParameterTensors,
/// fill_in_parameter_sizes): one flat buffer, each tensor at a fixed offset. Gradients, AdamW moments and master
/// weights share it.
/// </summary>
public sealed class ParameterLayout
{
    public const int TensorCount = 16;

    public static readonly string[] Names =
    [
        "wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
        "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb",
    ];

    /// <summary>Weight decay applies to the 2-D matrices only: wte, wpe, qkvw, attprojw, fcw, fcprojw.</summary>
    public static bool HasWeightDecay(int tensor) => tensor is 0 or 1 or 4 or 6 or 10 or 12;

    private ParameterLayout(GptConfig config)
    {
        Config = config;
        long vp = config.PaddedVocabSize, c = config.Channels, l = config.NumLayers, t = config.MaxSeqLen;
        Sizes =
        [
            vp * c, t * c, l * c, l * c, l * 3 * c * c, l * 3 * c, l * c * c, l * c,
            l * c, l * c, l * 4 * c * c, l * 4 * c, l * c * 4 * c, l * c, c, c,
        ];
        Offsets = new long[TensorCount];
        long offset = 0;
        for (int i = 0; i < TensorCount; i++) { Offsets[i] = offset; offset += Sizes[i]; }
        Count = offset;
    }

    public static ParameterLayout For(GptConfig config) => new(config);

    public GptConfig Config { get; }
    /// <summary>Element count of each tensor (all layers together).</summary>
    public long[] Sizes { get; }
    /// <summary>Element offset of each tensor in the flat buffer.</summary>
    public long[] Offsets { get; }
    /// <summary>Total parameter count N (124,475,904 for d12).</summary>
    public long Count { get; }

    /// <summary>How many layer copies tensor i holds: L for tensors 2..13, 1 otherwise.</summary>
    public int LayersOf(int tensor) => tensor is >= 2 and <= 13 ? Config.NumLayers : 1;

    /// <summary>Elements in one layer's copy of tensor i.</summary>
    public long PerLayerSize(int tensor) => Sizes[tensor] / LayersOf(tensor);

    /// <summary>
    /// The shape of one layer's copy of tensor i as llm.c stores it (row-major; Linear weights are [out, in],
    /// as in llm.c's train_gpt2.py): wte [Vp, C], wpe [maxT, C], qkvw [3C, C], attprojw [C, C], fcw [4C, C],
    /// fcprojw [C, 4C]; biases and layernorm vectors are one-dimensional.
    /// </summary>
    public long[] LayerShape(int tensor)
    {
        long c = Config.Channels;
        return tensor switch
        {
            0 => [Config.PaddedVocabSize, c],
            1 => [Config.MaxSeqLen, c],
            4 => [3 * c, c],
            5 => [3 * c],
            6 => [c, c],
            10 => [4 * c, c],
            11 => [4 * c],
            12 => [c, 4 * c],
            _ => [c],
        };
    }
}
