using LlmNet.Common.Cli;
using LlmNet.Common.Formats;

namespace LlmNet.Common.Text;

/// <summary>Opens the tokenizer a --tokenizer value names: a built-in name, a .tiktoken ranks file or a tokenizer.json.</summary>
public static class TokenizerCatalog
{
    public const string Default = "gpt2";

    /// <summary>The names --tokenizer accepts (p50k_base only to say why it cannot be opened by name).</summary>
    public static readonly IReadOnlyList<string> Names = ["gpt2", "r50k_base", "cl100k_base", "o200k_base"];

    /// <summary>One line for --help: what --tokenizer takes.</summary>
    public const string Help =
        "gpt2 (default), r50k_base, cl100k_base, o200k_base, a .tiktoken ranks file (its encoding is recognised by its number of ranks: " +
        "r50k/p50k/cl100k/o200k_base or LLaMA-3) or a Hugging Face tokenizer.json (byte-level BPE). p50k_base works only as a file: " +
        "no package here ships its ranks. Vocabularies above 65,536 ids write uint32 shards";

    /// <summary>
    /// gpt2 is the project's own fast encoder (byte-identical to tiktoken's gpt2); the tiktoken encodings and files go
    /// through Microsoft.ML.Tokenizers. Anything else is a usage error naming the accepted values.
    /// </summary>
    public static ITextTokenizer Open(string nameOrPath) => nameOrPath switch
    {
        "gpt2" => Gpt2Tokenizer.Shared,
        "r50k_base" => TiktokenTextTokenizer.ForEncoding(TiktokenEncoding.R50kBase),
        "cl100k_base" => TiktokenTextTokenizer.ForEncoding(TiktokenEncoding.Cl100kBase),
        "o200k_base" => TiktokenTextTokenizer.ForEncoding(TiktokenEncoding.O200kBase),
        "p50k_base" => throw new UsageException(
            "--tokenizer p50k_base: no Microsoft.ML.Tokenizers.Data package ships its ranks here; pass its ranks file instead (--tokenizer PATH/p50k_base.tiktoken)"),
        _ => OpenFile(nameOrPath),
    };

    private static ITextTokenizer OpenFile(string path)
    {
        string file = Directory.Exists(path) ? Path.Combine(path, "tokenizer.json") : path;
        bool json = file.EndsWith(".json", StringComparison.OrdinalIgnoreCase), tiktoken = file.EndsWith(".tiktoken", StringComparison.OrdinalIgnoreCase);
        if (!json && !tiktoken)
            throw new UsageException($"--tokenizer {path}: unknown; use one of {string.Join(", ", Names)}, a .tiktoken ranks file or a tokenizer.json");
        if (!File.Exists(file)) throw new DataFormatException(file, "no such file", "Check the --tokenizer path");
        return json ? HuggingFaceTextTokenizer.FromFile(file) : TiktokenTextTokenizer.FromFile(file);
    }
}
