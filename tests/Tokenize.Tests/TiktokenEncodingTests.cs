using FluentAssertions;
using LlmNet.Common.Cli;
using LlmNet.Common.Formats;
using LlmNet.Common.Text;
using Microsoft.ML.Tokenizers;
using Xunit;

namespace LlmNet.Tokenize.Tests;

/// <summary>
/// --tokenizer for the tiktoken encodings. Expected ids come from two places that are not the code
/// under test: Microsoft.ML.Tokenizers' own TiktokenTokenizer.EncodeToIds with its own pre-tokenization (on text
/// without special-token text, where ordinary and special-aware encoding agree), and hand-checked ids for short
/// strings ("Hello world" is [9906, 1917] in cl100k_base; its end-of-text is 100257).
/// </summary>
public sealed class TiktokenEncodingTests
{
    /// <summary>Unicode, emoji, CRLF, digits, contractions and runs of spaces.</summary>
    internal const string Corpus =
        "Hello world! Ünïcödé — naïve café, 東京 and Привет.\r\nEmoji: 👍🏽 🎉🎉 ❤️\r\n\r\n" +
        "Numbers 1234567 and 3.14159; it's we'll they've.   Spaces   and\ttabs\n  trailing  ";

    [Theory]
    [InlineData("cl100k_base")]
    [InlineData("o200k_base")]
    [InlineData("r50k_base")]
    public void Ordinary_encoding_matches_the_librarys_own_encoding_on_text_without_special_tokens(string name)
    {
        var ours = TokenizerCatalog.Open(name);
        var reference = TiktokenTokenizer.CreateForEncoding(name);
        var ids = new List<int>();
        ours.EncodeTo(Corpus, ids);
        ids.Should().Equal(reference.EncodeToIds(Corpus));
        ours.Decode([.. ids]).Should().Be(Corpus);
    }

    [Fact]
    public void Cl100k_ids_sizes_and_end_of_text_are_tiktokens()
    {
        var cl = TokenizerCatalog.Open("cl100k_base");
        var ids = new List<int>();
        cl.EncodeTo("Hello world", ids);
        ids.Should().Equal(9906, 1917);
        cl.EndOfText.Should().Be(100257);
        cl.VocabSize.Should().Be(100277);
        ShardFormat.ForVocabulary(cl.VocabSize).Should().Be(ShardFormat.UInt32);
        TokenizerCatalog.Open("o200k_base").EndOfText.Should().Be(199999);
        TokenizerCatalog.Open("gpt2").VocabSize.Should().Be(50257);
    }

    [Fact]
    public void Special_token_text_in_a_document_is_ordinary_text()
    {
        var cl = TokenizerCatalog.Open("cl100k_base");
        var reference = TiktokenTokenizer.CreateForEncoding("cl100k_base");
        var ids = new List<int>();
        cl.EncodeTo("a <|endoftext|> b", ids);
        ids.Should().NotContain(100257);
        // cl100k's split puts " <|", "endoftext", "|>" and " b" in separate pieces; each encoded alone by the library.
        int[] expected = [.. reference.EncodeToIds("a"), .. reference.EncodeToIds(" <|"), .. reference.EncodeToIds("endoftext"),
            .. reference.EncodeToIds("|>"), .. reference.EncodeToIds(" b")];
        ids.Should().Equal(expected);
        cl.Decode([.. ids]).Should().Be("a <|endoftext|> b");
    }

    [Fact]
    public void An_unknown_tokenizer_is_a_usage_error_naming_the_choices()
    {
        var act = () => TokenizerCatalog.Open("llama9");
        act.Should().Throw<UsageException>().WithMessage("--tokenizer llama9: unknown; use one of gpt2, r50k_base, cl100k_base, o200k_base, a .tiktoken ranks file or a tokenizer.json");
    }
}
