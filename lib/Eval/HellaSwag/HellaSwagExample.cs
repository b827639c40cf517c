namespace LlmNet.Eval.HellaSwag;

/// <summary>
/// One tokenized HellaSwag item: a context and four candidate endings, exactly what llm.c's eval
/// .bin stores for it. Ending tokens are the encoding of " " + ending (with the leading space).
/// </summary>
public sealed record HellaSwagExample(int Index, int Label, int[] Context, int[][] Endings)
{
    /// <summary>HellaSwag always offers four endings; llm.c's loader assumes exactly this many.</summary>
    public const int NumEndings = 4;

    /// <summary>
    /// The smallest sequence length T that holds this example: llm.c requires ctx_len + len &lt; T
    /// (strictly), because the last input position has no target.
    /// </summary>
    public int RequiredSeqLen => Context.Length + Endings.Max(e => e.Length) + 1;

    /// <summary>Checks the invariants every reader and writer relies on; throws <see cref="ArgumentException"/>.</summary>
    public void Validate()
    {
        if (Endings.Length != NumEndings) throw new ArgumentException($"example {Index} has {Endings.Length} endings, expected {NumEndings}");
        if ((uint)Label >= NumEndings) throw new ArgumentException($"example {Index} has label {Label}, expected 0..{NumEndings - 1}");
        if (Context.Length == 0) throw new ArgumentException($"example {Index} has an empty context");
    }
}
