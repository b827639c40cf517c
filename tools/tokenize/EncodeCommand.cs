using System.CommandLine;
using System.Text;
using System.Text.Json;
using LlmNet.Common.Cli;
using LlmNet.Common.Text;
using LlmNet.Tools.Tokenize.Inputs;

namespace LlmNet.Tools.Tokenize;

/// <summary>
/// "encode [INPUT...]": each input's whole text (standard input when none is given, or "-") is encoded ordinarily,
/// with no end-of-text added, and printed as one line of space-separated ids (or one JSON object with --json).
/// </summary>
public static class EncodeCommand
{
    public static Command Create()
    {
        var inputs = new Argument<string[]>("INPUT")
        {
            Arity = ArgumentArity.ZeroOrMore,
            Description = "Text files, each one line of output; - or nothing reads standard input; .gz and .zst are decompressed",
        };
        var tokenizer = TokenizerOption();
        var json = new Option<bool>("--json") { Description = "Print one JSON object per input: {\"input\": NAME, \"ids\": [...]}" };
        var command = new Command("encode", "Print the token ids of text (ordinary encoding: special-token text stays text)") { inputs, tokenizer, json };
        command.SetAction(parsed => ToolRunner.Run(CommandLine.ToolName, ct =>
        {
            var tok = TokenizerCatalog.Open(parsed.GetValue(tokenizer)!);
            string[] names = parsed.GetValue(inputs) is { Length: > 0 } given ? given : [InputStreams.Stdin];
            using var output = StandardOutput();
            var ids = new List<int>(1 << 16);
            foreach (string name in names)
            {
                ct.ThrowIfCancellationRequested();
                ids.Clear();
                tok.EncodeTo(InputStreams.ReadAllText(name), ids);
                if (parsed.GetValue(json)) WriteJson(output, name, ids);
                else
                {
                    for (int i = 0; i < ids.Count; i++)
                    {
                        if (i > 0) output.Write(' ');
                        output.Write(ids[i]);
                    }
                }
                output.Write('\n');
            }
            return ToolRunner.Ok;
        }));
        return command;
    }

    internal static Option<string> TokenizerOption() => new("--tokenizer")
    {
        DefaultValueFactory = _ => TokenizerCatalog.Default, Description = TokenizerCatalog.Help, HelpName = "NAME|PATH",
    };

    /// <summary>UTF-8 without a byte-order mark and with "\n" line ends, whatever the console is set to.</summary>
    internal static StreamWriter StandardOutput() => new(Console.OpenStandardOutput(), new UTF8Encoding(false), 1 << 16) { NewLine = "\n" };

    private static void WriteJson(StreamWriter output, string input, List<int> ids)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("input", input);
            json.WriteStartArray("ids");
            foreach (int id in ids) json.WriteNumberValue(id);
            json.WriteEndArray();
            json.WriteEndObject();
        }
        output.Flush();
        output.BaseStream.Write(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
    }
}
