using System.Text.Json;
using System.Text.RegularExpressions;
using LlmNet.Common.Formats;
using Microsoft.ML.Tokenizers;

namespace LlmNet.Common.Text;

/// <summary>
/// A Hugging Face tokenizer.json holding a byte-level BPE (GPT-2, LLaMA-3, Qwen, ...), run by Microsoft.ML.Tokenizers'
/// <see cref="BpeTokenizer"/> with our code-point pre-tokenizer: the file's Split regex, or GPT-2's when its ByteLevel
/// pre-tokenizer splits by itself (use_regex). Added tokens are special: their ids decode to their text, but their
/// text inside a document is ordinary text. Documents start with the first added token among
/// <see cref="DocumentStartTokens"/>.
/// </summary>
public sealed class HuggingFaceTextTokenizer : ITextTokenizer
{
    /// <summary>
    /// Tokens that may start a document, in order of preference: GPT-2's end of text, then LLaMA-3's begin of text
    /// (what llm.c's dev/data/fineweb.py prepends), then the common end-of-sequence spellings.
    /// </summary>
    public static readonly string[] DocumentStartTokens = [TiktokenEncoding.EndOfText, "<|begin_of_text|>", "<|end_of_text|>", "</s>", "<s>"];

    private readonly BpeTokenizer _tokenizer;

    private HuggingFaceTextTokenizer(string name, BpeTokenizer tokenizer, int vocabSize, int endOfText)
    {
        Name = name;
        _tokenizer = tokenizer;
        VocabSize = vocabSize;
        EndOfText = endOfText;
    }

    public string Name { get; }
    public int VocabSize { get; }
    public int EndOfText { get; }

    public static HuggingFaceTextTokenizer FromFile(string path)
    {
        JsonDocument json;
        try { json = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw Bad(path, $"is not valid JSON ({e.Message.TrimEnd('.')})"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataFormatException(path, $"cannot be read ({e.Message.TrimEnd('.')})", "Check the --tokenizer path");
        }
        using (json)
        {
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
                throw Bad(path, "has no \"model\" object: not a Hugging Face tokenizer.json");
            string type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "(none)";
            if (type != "BPE") throw Bad(path, $"holds a {type} model; only byte-level BPE tokenizers are supported");
            if (root.TryGetProperty("normalizer", out var normalizer) && normalizer.ValueKind != JsonValueKind.Null)
                throw Bad(path, $"has a normalizer ({TypeOf(normalizer)}); only byte-level BPE without normalization is supported");
            var split = SplitPattern(path, root.TryGetProperty("pre_tokenizer", out var pre) ? pre : default);

            var vocab = new Dictionary<string, int>();
            if (!model.TryGetProperty("vocab", out var v) || v.ValueKind != JsonValueKind.Object) throw Bad(path, "has no model.vocab object");
            foreach (var entry in v.EnumerateObject()) vocab[entry.Name] = entry.Value.GetInt32();
            var merges = new List<string>();
            if (model.TryGetProperty("merges", out var m) && m.ValueKind == JsonValueKind.Array)
                foreach (var merge in m.EnumerateArray())
                    merges.Add(merge.ValueKind == JsonValueKind.Array ? string.Join(' ', merge.EnumerateArray().Select(p => p.GetString())) : merge.GetString()!);

            var special = new Dictionary<string, int>();
            if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
                foreach (var token in added.EnumerateArray())
                    special[token.GetProperty("content").GetString()!] = token.GetProperty("id").GetInt32();
            string start = DocumentStartTokens.FirstOrDefault(special.ContainsKey)
                ?? throw Bad(path, $"has none of the added tokens {string.Join(", ", DocumentStartTokens)} to start documents with");

            int vocabSize = Math.Max(vocab.Count == 0 ? 0 : vocab.Values.Max(), special.Values.Max()) + 1;
            var options = new BpeOptions(vocab) { Merges = merges, ByteLevel = true, PreTokenizer = split, SpecialTokens = special };
            BpeTokenizer tokenizer;
            try { tokenizer = BpeTokenizer.Create(options); }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
            {
                throw Bad(path, $"has a vocabulary or merges Microsoft.ML.Tokenizers rejects ({e.Message.TrimEnd('.')})");
            }
            return new HuggingFaceTextTokenizer(Path.GetFullPath(path), tokenizer, vocabSize, special[start]);
        }
    }

    /// <summary>
    /// The split of a byte-level pre-tokenizer: ByteLevel alone (use_regex, GPT-2's pattern), or a Sequence of a
    /// Split with a regex and a ByteLevel that does not split again.
    /// </summary>
    private static CodePointPreTokenizer SplitPattern(string path, JsonElement pre)
    {
        string? pattern = null;
        bool byteLevel = false;
        void Visit(JsonElement step)
        {
            switch (TypeOf(step))
            {
                case "Sequence":
                    foreach (var inner in step.GetProperty("pretokenizers").EnumerateArray()) Visit(inner);
                    break;
                case "ByteLevel":
                    byteLevel = true;
                    if (step.TryGetProperty("add_prefix_space", out var prefix) && prefix.ValueKind == JsonValueKind.True)
                        throw Bad(path, "asks for add_prefix_space; only byte-level BPE without a prefix space is supported");
                    if (!step.TryGetProperty("use_regex", out var useRegex) || useRegex.ValueKind != JsonValueKind.False)
                        pattern ??= TiktokenEncoding.Gpt2Pattern;
                    break;
                case "Split" when step.TryGetProperty("pattern", out var p) && p.TryGetProperty("Regex", out var regex):
                    if (pattern is not null) throw Bad(path, "splits text twice; only one Split (or ByteLevel's own split) is supported");
                    pattern = regex.GetString();
                    break;
                default:
                    throw Bad(path, $"has a {TypeOf(step)} pre-tokenizer; only ByteLevel, Split (regex) and Sequence are supported");
            }
        }
        if (pre.ValueKind == JsonValueKind.Object) Visit(pre);
        if (!byteLevel || pattern is null) throw Bad(path, "has no byte-level pre-tokenizer; only byte-level BPE tokenizers are supported");
        try { return new CodePointPreTokenizer(new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant)); }
        catch (ArgumentException e) { throw Bad(path, $"has a split regex .NET cannot compile ({e.Message.TrimEnd('.')})"); }
    }

    private static string TypeOf(JsonElement e) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("type", out var t) ? t.GetString() ?? "?" : e.ValueKind.ToString();

    private static DataFormatException Bad(string path, string problem) =>
        new(path, problem, "Pass a byte-level BPE tokenizer.json (GPT-2, LLaMA-3 style), a .tiktoken file or a name from llm-tokenize --help");

    public void EncodeTo(ReadOnlySpan<char> text, List<int> output)
    {
        if (text.IsEmpty) return;
        output.AddRange(_tokenizer.EncodeToIds(text, considerPreTokenization: true, considerNormalization: false));
    }

    public string Decode(ReadOnlySpan<int> ids)
    {
        TokenIds.Check(ids, VocabSize, Name);
        return _tokenizer.Decode(ids.ToArray(), considerSpecialTokens: true);
    }
}
