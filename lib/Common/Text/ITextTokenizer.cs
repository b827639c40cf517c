namespace LlmNet.Common.Text;

/// <summary>
/// What the tools need of a tokenizer: its end-of-text id, the size of its id space, ordinary encoding
/// (special-token text in a document is plain text, as tiktoken's encode_ordinary, which llm.c's
/// dev/data/fineweb.py uses) and decoding. GPT-2 is the project's own <see cref="Gpt2Tokenizer"/>; other
/// vocabularies come from <see cref="TokenizerCatalog"/>.
/// </summary>
public interface ITextTokenizer
{
    /// <summary>The name the tools print and record ("gpt2", "cl100k_base", ...).</summary>
    string Name { get; }
    /// <summary>One past the largest id, special tokens included: the shard width depends on it.</summary>
    int VocabSize { get; }
    /// <summary>The id that starts every document in a shard.</summary>
    int EndOfText { get; }
    /// <summary>Ordinary encoding of <paramref name="text"/>, appending the ids to <paramref name="output"/>.</summary>
    void EncodeTo(ReadOnlySpan<char> text, List<int> output);
    /// <summary>Decodes ids to text (special ids to their text).</summary>
    string Decode(ReadOnlySpan<int> ids);
}
