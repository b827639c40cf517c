using System.CommandLine;
using System.Text.Json;
using LlmNet.Common.Cli;
using LlmNet.Common.Formats;
using LlmNet.Common.Text;
using LlmNet.Tools.Tokenize.Inputs;

namespace LlmNet.Tools.Tokenize;

/// <summary>
/// "decode [INPUT...]": the reverse of encode. Every non-blank line holds the ids of one text, space- or
/// comma-separated, or as encode --json prints them (a JSON array, or an object with "ids"); the texts are written
/// back to back exactly as they decode, so encode | decode gives the input back.
/// </summary>
public static class DecodeCommand
{
    public static Command Create()
    {
        var inputs = new Argument<string[]>("INPUT")
        {
            Arity = ArgumentArity.ZeroOrMore,
            Description = "Files of ids, one text per line; - or nothing reads standard input; .gz and .zst are decompressed",
        };
        var tokenizer = EncodeCommand.TokenizerOption();
        var json = new Option<bool>("--json") { Description = "Print one JSON object per line of ids: {\"text\": \"...\"}" };
        var command = new Command("decode", "Print the text of token ids (the reverse of encode)") { inputs, tokenizer, json };
        command.SetAction(parsed => ToolRunner.Run(CommandLine.ToolName, ct =>
        {
            var tok = TokenizerCatalog.Open(parsed.GetValue(tokenizer)!);
            string[] names = parsed.GetValue(inputs) is { Length: > 0 } given ? given : [InputStreams.Stdin];
            using var output = EncodeCommand.StandardOutput();
            foreach (string name in names)
            {
                using var reader = new StreamReader(InputStreams.Open(name));
                int lineNumber = 0;
                while (InputStreams.Guard(name, reader.ReadLine) is { } line)
                {
                    ct.ThrowIfCancellationRequested();
                    lineNumber++;
                    if (string.IsNullOrWhiteSpace(line)) continue;
                    int[] ids = ParseIds(line, name, lineNumber);
                    string text;
                    try { text = tok.Decode(ids); }
                    catch (ToolException e) { throw new ToolException($"{Where(name, lineNumber)}: {e.Message}"); }
                    if (parsed.GetValue(json)) output.Write(JsonSerializer.Serialize(new { text }) + "\n");
                    else output.Write(text);
                }
            }
            return ToolRunner.Ok;
        }));
        return command;
    }

    private static string Where(string input, int lineNumber) => $"{(InputStreams.IsStdin(input) ? "standard input" : input)}:{lineNumber}";

    private static int[] ParseIds(string line, string input, int lineNumber)
    {
        string where = Where(input, lineNumber);
        string trimmed = line.TrimStart();
        if (trimmed.StartsWith('[') || trimmed.StartsWith('{'))
        {
            try
            {
                using var json = JsonDocument.Parse(trimmed);
                var array = json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("ids", out var ids) ? ids : json.RootElement;
                if (array.ValueKind != JsonValueKind.Array) throw new FormatException("no \"ids\" array");
                return [.. array.EnumerateArray().Select(e => e.GetInt32())];
            }
            catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
            {
                throw new DataFormatException(where, $"is not a JSON array of ids or an object with \"ids\" ({e.Message.TrimEnd('.')})", "Give ids as llm-tokenize encode prints them");
            }
        }
        var parts = line.Split([' ', '\t', ',', '\r'], StringSplitOptions.RemoveEmptyEntries);
        var result = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out result[i]))
                throw new DataFormatException(where, $"'{(parts[i].Length > 20 ? parts[i][..20] + "…" : parts[i])}' is not a token id", "Give space-separated integers, as llm-tokenize encode prints them");
        return result;
    }
}
