namespace LlmNet.Model.HuggingFace;

/// <summary>
/// One Hugging Face GPT-2 tensor and where its values live in llm.c's flat parameter buffer.
/// </summary>
/// <param name="Tensor">llm.c's tensor.</param>
/// <param name="Layer">the layer of a per-layer tensor; 0 otherwise.</param>
/// <param name="Name">the HF name, with the "transformer." prefix that GPT2LMHeadModel's state dict uses.</param>
/// <param name="Shape">the HF shape: Conv1D weights [in, out], wte with only the first V (unpadded) rows.</param>
/// <param name="Offset">element offset of this slice in llm.c's buffer.</param>
/// <param name="Transposed">true for the four Linear weights, which llm.c stores [out, in].</param>
public sealed record HfTensorSlice(ParameterTensor Tensor, int Layer, string Name, long[] Shape, long Offset, bool Transposed)
{
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>The slice's shape as llm.c stores it (the HF shape, swapped back for transposed weights).</summary>
    public long[] LlmcShape => Transposed ? [Shape[1], Shape[0]] : Shape;
}
