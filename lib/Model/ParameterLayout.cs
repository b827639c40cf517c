using static LlmNet.Model.ParameterTensor;

namespace LlmNet.Model;

/// <summary>
/// llm.c's 16 parameter tensors (train_gpt2.cu: ParameterTensors), named as llm.c names them and numbered in the order
/// they follow each other in the flat parameter buffer.
/// </summary>
public enum ParameterTensor
{
    Wte, Wpe, Ln1w, Ln1b, Qkvw, Qkvb, Attprojw, Attprojb, Ln2w, Ln2b, Fcw, Fcb, Fcprojw, Fcprojb, Lnfw, Lnfb,
}

/// <summary>
/// The one description of GPT-2's parameters in llm.c's layout (train_gpt2.cu: ParameterTensors,
/// fill_in_parameter_sizes): which tensors there are, the shape of each, whether each layer has its own copy, and
/// whether AdamW decays it; for one model shape, where each tensor and each layer's copy lives in the flat buffer. The
/// tensors follow each other in <see cref="ParameterTensor"/> order, a per-layer tensor's L copies one after the other
/// (layer-major). Gradients, AdamW moments and master weights share the layout; the CPU and CUDA backends, the model
/// and state files, ZeRO sharding and the Hugging Face converter all read it from here. Sizes are element counts.
/// </summary>
public sealed class ParameterLayout
{
    public const int TensorCount = 16;

    /// <summary>One tensor: does each layer have its own copy, does AdamW decay it, and the shape of one copy.</summary>
    private sealed record Spec(ParameterTensor Tensor, bool PerLayer, bool WeightDecay, Func<GptConfig, long[]> Shape);

    // Linear weights are [out, in], as llm.c's train_gpt2.py stores them; weight decay applies to the 2-D tensors only
    // (train_gpt2.cu: gpt2_update).
    private static readonly Spec[] s_specs =
    [
        new(Wte, PerLayer: false, WeightDecay: true, c => [c.PaddedVocabSize, c.Channels]),
        new(Wpe, PerLayer: false, WeightDecay: true, c => [c.MaxSeqLen, c.Channels]),
        new(Ln1w, PerLayer: true, WeightDecay: false, c => [c.Channels]),
        new(Ln1b, PerLayer: true, WeightDecay: false, c => [c.Channels]),
        new(Qkvw, PerLayer: true, WeightDecay: true, c => [3L * c.Channels, c.Channels]),
        new(Qkvb, PerLayer: true, WeightDecay: false, c => [3L * c.Channels]),
        new(Attprojw, PerLayer: true, WeightDecay: true, c => [c.Channels, c.Channels]),
        new(Attprojb, PerLayer: true, WeightDecay: false, c => [c.Channels]),
        new(Ln2w, PerLayer: true, WeightDecay: false, c => [c.Channels]),
        new(Ln2b, PerLayer: true, WeightDecay: false, c => [c.Channels]),
        new(Fcw, PerLayer: true, WeightDecay: true, c => [4L * c.Channels, c.Channels]),
        new(Fcb, PerLayer: true, WeightDecay: false, c => [4L * c.Channels]),
        new(Fcprojw, PerLayer: true, WeightDecay: true, c => [c.Channels, 4L * c.Channels]),
        new(Fcprojb, PerLayer: true, WeightDecay: false, c => [c.Channels]),
        new(Lnfw, PerLayer: false, WeightDecay: false, c => [c.Channels]),
        new(Lnfb, PerLayer: false, WeightDecay: false, c => [c.Channels]),
    ];

    /// <summary>Every tensor, in buffer order.</summary>
    public static IReadOnlyList<ParameterTensor> Tensors { get; } = [.. s_specs.Select(s => s.Tensor)];

    /// <summary>The tensors each transformer layer has its own copy of (ln1w … fcprojb), in buffer order.</summary>
    public static IReadOnlyList<ParameterTensor> LayerTensors { get; } = [.. s_specs.Where(s => s.PerLayer).Select(s => s.Tensor)];

    /// <summary>The tensors shared by the whole model: wte, wpe, lnfw, lnfb.</summary>
    public static IReadOnlyList<ParameterTensor> ModelTensors { get; } = [.. s_specs.Where(s => !s.PerLayer).Select(s => s.Tensor)];

    /// <summary>llm.c's name of the tensor (wte, qkvw, fcprojb, …).</summary>
    public static string Name(ParameterTensor tensor) => tensor.ToString().ToLowerInvariant();

    /// <summary>Whether each layer has its own copy of the tensor.</summary>
    public static bool IsPerLayer(ParameterTensor tensor) => SpecOf(tensor).PerLayer;

    /// <summary>Weight decay applies to the 2-D matrices only: wte, wpe, qkvw, attprojw, fcw, fcprojw.</summary>
    public static bool HasWeightDecay(ParameterTensor tensor) => SpecOf(tensor).WeightDecay;

    private static Spec SpecOf(ParameterTensor tensor) => s_specs[(int)tensor];

    private readonly long[] _offsets = new long[TensorCount], _sizes = new long[TensorCount];

    private ParameterLayout(GptConfig config)
    {
        Config = config;
        long offset = 0;
        foreach (Spec s in s_specs)
        {
            int i = (int)s.Tensor;
            _offsets[i] = offset;
            _sizes[i] = LayersOf(s.Tensor) * s.Shape(config).Aggregate(1L, (a, b) => a * b);
            offset += _sizes[i];
        }
        Count = offset;
    }

    public static ParameterLayout For(GptConfig config) => new(config);

    public GptConfig Config { get; }

    /// <summary>Total parameter count N (124,475,904 for d12).</summary>
    public long Count { get; }

    /// <summary>Element offset of the tensor (its layer 0 copy) in the flat buffer.</summary>
    public long Offset(ParameterTensor tensor) => _offsets[(int)tensor];

    /// <summary>Element count of the tensor, all layers together.</summary>
    public long Size(ParameterTensor tensor) => _sizes[(int)tensor];

    /// <summary>How many copies the tensor has: L for a per-layer tensor, 1 otherwise.</summary>
    public int LayersOf(ParameterTensor tensor) => IsPerLayer(tensor) ? Config.NumLayers : 1;

    /// <summary>Elements in one layer's copy of the tensor.</summary>
    public long PerLayerSize(ParameterTensor tensor) => Size(tensor) / LayersOf(tensor);

    /// <summary>Element offset of layer <paramref name="layer"/>'s copy of the tensor (0 for a tensor the model shares).</summary>
    public long LayerOffset(ParameterTensor tensor, int layer) => Offset(tensor) + layer * PerLayerSize(tensor);

    /// <summary>
    /// The shape of one layer's copy of the tensor as llm.c stores it (row-major; Linear weights are [out, in]):
    /// wte [Vp, C], wpe [maxT, C], qkvw [3C, C], attprojw [C, C], fcw [4C, C], fcprojw [C, 4C]; biases and
    /// LayerNorm vectors are one-dimensional.
    /// </summary>
    public long[] LayerShape(ParameterTensor tensor) => SpecOf(tensor).Shape(Config);
}
