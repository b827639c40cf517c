using LlmNet.Common.Cli;

namespace LlmNet.Common.Text;

/// <summary>The id-range check every tokenizer's Decode makes before it looks ids up.</summary>
public static class TokenIds
{
    /// <summary>Throws <see cref="ToolException"/> for the first id outside 0..vocabSize-1.</summary>
    public static void Check(ReadOnlySpan<int> ids, int vocabSize, string tokenizer)
    {
        int bad = ids.IndexOfAnyExceptInRange(0, vocabSize - 1);
        if (bad >= 0)
            throw new ToolException($"token id {ids[bad]} (position {bad}) is outside {tokenizer}'s vocabulary of {vocabSize} ids (0..{vocabSize - 1}); decode ids made by the same --tokenizer");
    }
}
