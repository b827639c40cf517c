using LlmNet.Common.Cli;

namespace LlmNet.Common.Text;

/// <summary>Opens the tokenizer a --tokenizer value names.</summary>
public static class TokenizerCatalog
{
    public const string Default = "gpt2";

    /// <summary>
    /// The names --tokenizer accepts. p50k_base is missing: NuGet serves no Microsoft.ML.Tokenizers.Data.P50kBase
    /// package for it to load its ranks from.
    /// </summary>
    public static readonly IReadOnlyList<string> Names = ["gpt2", "r50k_base", "cl100k_base", "o200k_base"];

    /// <summary>
    /// gpt2 is the project's own fast encoder (byte-identical to tiktoken's gpt2); the tiktoken encodings go
    /// through Microsoft.ML.Tokenizers. Anything else is a usage error naming the accepted values.
    /// </summary>
    public static ITextTokenizer Open(string name) => name switch
    {
        "gpt2" => Gpt2Tokenizer.Shared,
        "r50k_base" or "cl100k_base" or "o200k_base" => TiktokenTextTokenizer.ForEncoding(name),
        _ => throw new UsageException($"--tokenizer {name}: unknown; use one of {string.Join(", ", Names)}"),
    };
}
