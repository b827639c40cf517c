using System.Text.Json;
using System.Text.Json.Nodes;
using FluentAssertions;
using LlmNet.Common.Formats;
using LlmNet.Common.Text;
using Xunit;

namespace LlmNet.Tokenize.Tests;

/// <summary>
/// --tokenizer tokenizer.json: GPT-2 written as a Hugging Face tokenizer.json from our own vocab.json and merges.txt
/// (<see cref="HfTokenizerFiles"/>) must encode every tiktoken gpt2 case as the project's GPT-2 encoder does, in both
/// spellings HF uses for a byte-level split (ByteLevel alone, or Split then ByteLevel).
/// </summary>
public sealed class HuggingFaceTokenizerTests
{
    private static string WriteTokenizerJson(TempDir dir, bool splitStep, Action<JsonObject>? edit = null)
    {
        HfTokenizerFiles.Write(dir.Path, 1024);
        var vocab = JsonNode.Parse(File.ReadAllText(dir["vocab.json"]))!;
        var merges = new JsonArray([.. File.ReadLines(dir["merges.txt"]).Skip(1).Where(l => l.Length > 0).Select(l => (JsonNode)l)]);
        JsonNode byteLevel = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = !splitStep };
        JsonNode pre = splitStep
            ? new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = TiktokenEncoding.Gpt2Pattern }, ["behavior"] = "Isolated", ["invert"] = false },
                    byteLevel),
            }
            : byteLevel;
        var json = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(new JsonObject { ["id"] = 50256, ["content"] = "<|endoftext|>", ["special"] = true }),
            ["normalizer"] = null,
            ["pre_tokenizer"] = pre,
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
            ["model"] = new JsonObject { ["type"] = "BPE", ["vocab"] = vocab, ["merges"] = merges },
        };
        edit?.Invoke(json);
        string path = dir["tokenizer.json"];
        File.WriteAllText(path, json.ToJsonString());
        return path;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_gpt2_tokenizer_json_encodes_as_gpt2(bool splitStep)
    {
        using var dir = new TempDir();
        var hf = TokenizerCatalog.Open(WriteTokenizerJson(dir, splitStep));
        hf.EndOfText.Should().Be(50256);
        hf.VocabSize.Should().Be(50257);
        ShardFormat.ForVocabulary(hf.VocabSize).Should().Be(ShardFormat.UInt16);

        var texts = File.ReadLines(Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiktoken-gpt2-cases.jsonl"))
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("text").GetString()!)
            .Append("Hello world<|endoftext|> it's 𝐀bc\r\n");
        foreach (string text in texts)
        {
            var ids = new List<int>();
            hf.EncodeTo(text, ids);
            ids.Should().Equal(Gpt2Tokenizer.Shared.Encode(text), JsonSerializer.Serialize(text));
            hf.Decode([.. ids]).Should().Be(text);
        }
        hf.Decode([50256]).Should().Be("<|endoftext|>");
    }

    [Fact]
    public void A_tokenizer_folder_means_its_tokenizer_json()
    {
        using var dir = new TempDir();
        WriteTokenizerJson(dir, splitStep: false);
        var run = TokenizeCli.Run("Hello world", "encode", "--tokenizer", dir.Path);
        run.Code.Should().Be(0, run.Err);
        run.Out.Should().Be("15496 995\n");
    }

    [Theory]
    [InlineData("WordPiece", "holds a WordPiece model; only byte-level BPE tokenizers are supported")]
    [InlineData("normalizer", "has a normalizer (NFC)")]
    [InlineData("prefix", "asks for add_prefix_space")]
    [InlineData("no-eot", "has none of the added tokens")]
    public void What_is_not_supported_is_refused_with_one_line(string change, string message)
    {
        using var dir = new TempDir();
        string path = WriteTokenizerJson(dir, splitStep: false, json =>
        {
            switch (change)
            {
                case "WordPiece": json["model"]!["type"] = "WordPiece"; break;
                case "normalizer": json["normalizer"] = new JsonObject { ["type"] = "NFC" }; break;
                case "prefix": json["pre_tokenizer"]!["add_prefix_space"] = true; break;
                case "no-eot": json["added_tokens"] = new JsonArray(); break;
            }
        });
        var run = TokenizeCli.Run("x", "encode", "--tokenizer", path);
        run.Code.Should().Be(1);
        run.Err.Trim().Should().StartWith($"llm-tokenize: error: {path}: ").And.Contain(message).And.NotContain("\n");
    }
}
