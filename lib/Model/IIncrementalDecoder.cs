namespace LlmNet.Model;

/// <summary>
/// Token-by-token decoding of one sequence with a key/value cache, so generating n tokens costs O(n)
/// layer passes instead of O(n²). Implemented by backends that support it (the CPU backend does);
/// callers test with <c>backend as IIncrementalDecoder</c> and fall back to full forward passes.
/// </summary>
public interface IIncrementalDecoder
{
    /// <summary>Number of tokens consumed since the last <see cref="Reset"/> (the next token's position).</summary>
    int Position { get; }
    /// <summary>Forgets the cached sequence.</summary>
    void Reset();
    /// <summary>
    /// Appends <paramref name="token"/> at <see cref="Position"/> and writes the first V logits for the next
    /// token into <paramref name="logits"/>. Throws when the sequence would exceed the model's maxT.
    /// </summary>
    void Step(int token, Span<float> logits);
}
