using System.IO.Compression;
using System.Text;
using System.Text.Json;
using FluentAssertions;
using Xunit;

namespace LlmNet.Tokenize.Tests;

/// <summary>llm-tokenize encode and decode: ids on stdout, text back, stdin, "-", .gz and .zst inputs, JSON.</summary>
public sealed class EncodeDecodeTests
{
    private const string Text = "Hello world! Ünïcödé 東京 👍🏽 𝐀bc\r\nit's <|endoftext|> here\n\n  trailing  ";

    [Fact]
    public void Stdin_encodes_to_gpt2_ids_on_one_line()
    {
        var run = TokenizeCli.Run("Hello world<|endoftext|> it's", "encode");
        run.Code.Should().Be(0, run.Err);
        run.Out.Should().Be("15496 995 27 91 437 1659 5239 91 29 340 338\n");
        run.Err.Should().BeEmpty();
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("cl100k_base")]
    [InlineData("o200k_base")]
    [InlineData("r50k_base")]
    public void Encode_then_decode_gives_the_text_back(string tokenizer)
    {
        var encoded = TokenizeCli.Run(Text, "encode", "--tokenizer", tokenizer);
        encoded.Code.Should().Be(0, encoded.Err);
        encoded.Out.Should().MatchRegex(@"^\d+( \d+)*\n$");
        var decoded = TokenizeCli.Run(encoded.Out, "decode", "--tokenizer", tokenizer);
        decoded.Code.Should().Be(0, decoded.Err);
        decoded.Out.Should().Be(Text);
    }

    [Fact]
    public void Dash_gz_and_zst_inputs_each_give_one_line()
    {
        using var dir = new TempDir();
        byte[] utf8 = new UTF8Encoding(false).GetBytes(Text);
        File.WriteAllBytes(dir["a.txt"], utf8);
        using (var gz = new GZipStream(File.Create(dir["a.txt.gz"]), CompressionLevel.Optimal)) gz.Write(utf8);
        using (var file = File.Create(dir["a.txt.zst"]))
        using (var zst = new ZstdSharp.CompressionStream(file)) zst.Write(utf8);

        var run = TokenizeCli.Run(utf8, "encode", dir["a.txt"], "-", dir["a.txt.gz"], dir["a.txt.zst"]);
        run.Code.Should().Be(0, run.Err);
        var lines = run.Out.Split('\n');
        lines.Should().HaveCount(5);
        lines[..4].Distinct().Should().ContainSingle();
        lines[4].Should().BeEmpty();
        TokenizeCli.Run(run.Out, "decode").Out.Should().Be(Text + Text + Text + Text);
    }

    [Fact]
    public void Json_output_parses_and_decodes_back()
    {
        var run = TokenizeCli.Run(Text, "encode", "--json", "--tokenizer", "cl100k_base");
        run.Code.Should().Be(0, run.Err);
        using (var json = JsonDocument.Parse(run.Out))
        {
            json.RootElement.GetProperty("input").GetString().Should().Be("-");
            json.RootElement.GetProperty("ids").GetArrayLength().Should().BeGreaterThan(10);
        }
        var text = TokenizeCli.Run(run.Out, "decode", "--json", "--tokenizer", "cl100k_base");
        text.Code.Should().Be(0, text.Err);
        using var decoded = JsonDocument.Parse(text.Out);
        decoded.RootElement.GetProperty("text").GetString().Should().Be(Text);
    }

    [Theory]
    [InlineData("15496 x 995", "standard input:1: 'x' is not a token id")]
    [InlineData("1 2 50257", "standard input:1: token id 50257 (position 2) is outside gpt2's vocabulary of 50257 ids")]
    [InlineData("[1, \"a\"]", "standard input:1: is not a JSON array of ids")]
    public void Bad_ids_are_one_line_naming_where(string input, string message)
    {
        var run = TokenizeCli.Run(input, "decode");
        run.Code.Should().Be(1);
        run.Err.Trim().Should().StartWith("llm-tokenize: error: ").And.Contain(message).And.NotContain("\n");
    }

    [Theory]
    [InlineData("bad.txt.gz")]
    [InlineData("truncated.txt.gz")]
    [InlineData("truncated.txt.zst")]
    public void A_damaged_or_truncated_archive_is_one_line_naming_it(string name)
    {
        using var dir = new TempDir();
        byte[] text = new UTF8Encoding(false).GetBytes(string.Concat(Enumerable.Repeat(Text, 2000)));
        var whole = new MemoryStream();
        if (name.EndsWith(".zst")) using (var zst = new ZstdSharp.CompressionStream(whole, leaveOpen: true)) zst.Write(text);
        else using (var gz = new GZipStream(whole, CompressionLevel.Optimal, leaveOpen: true)) gz.Write(text);
        byte[] bytes = name.StartsWith("bad")
            // A gzip header followed by a deflate block of a reserved type (BTYPE 11), which no decoder accepts.
            ? [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff]
            : whole.ToArray()[..(int)(whole.Length * 2 / 3)];
        File.WriteAllBytes(dir[name], bytes);
        var run = TokenizeCli.Run((byte[]?)null, "encode", dir[name]);
        run.Code.Should().Be(1);
        run.Out.Should().BeEmpty();
        run.Err.Trim().Should().Contain($"{name}: cannot be decompressed").And.NotContain("\n");
    }

    [Fact]
    public void Shard_mode_refuses_stdin_with_one_line()
    {
        using var dir = new TempDir();
        var run = TokenizeCli.Run("text", "-", "--out", dir["o"]);
        run.Code.Should().Be(2);
        run.Err.Trim().Should().Contain("INPUT -: shards are written from files only").And.NotContain("\n");
    }
}
