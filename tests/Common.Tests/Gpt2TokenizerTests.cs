using FluentAssertions;
using LlmNet.Common.Text;
using Xunit;

namespace LlmNet.Common.Tests;

public sealed class Gpt2TokenizerTests
{
    [Fact]
    public void Encoding_is_ordinary_special_token_text_is_plain_text()
    {
        // Ids as tiktoken's gpt2 encode_ordinary gives them.
        Gpt2Tokenizer.Shared.Encode("Hello world<|endoftext|> it's")
            .Should().Equal(15496, 995, 27, 91, 437, 1659, 5239, 91, 29, 340, 338);
    }

    [Fact]
    public void Decode_inverts_encode_and_eot_decodes_to_its_text()
    {
        var tok = Gpt2Tokenizer.Shared;
        string text = "First Citizen:\nBefore we proceed any further, hear me speak. Ünïcödé ✓";
        tok.Decode(tok.Encode(text)).Should().Be(text);
        tok.Decode([Gpt2Tokenizer.EndOfText]).Should().Be("<|endoftext|>");
        tok.Encode("First Citizen:").Should().Equal(5962, 22307, 25);
    }
}
