using System.Text.Json;
using LlmNet.Common.Formats;
using LlmNet.Common.Text;

namespace LlmNet.Eval.HellaSwag;

/// <summary>
/// The official hellaswag_{val,train,test}.jsonl: one object per line, of which only ctx, label and
/// endings matter. Tokens follow llm.c: encode(ctx) and encode(" " + ending) with GPT-2's BPE.
/// </summary>
public static class HellaSwagJsonl
{
    /// <summary>Parses and tokenizes <paramref name="reader"/>; errors name <paramref name="path"/> and the line. Blank lines are skipped.</summary>
    public static List<HellaSwagExample> Parse(string path, TextReader reader, int? limit = null)
    {
        var tokenizer = Gpt2Tokenizer.Shared;
        var examples = new List<HellaSwagExample>();
        using (reader)
        {
            int lineNumber = 0;
            while ((limit is null || examples.Count < limit) && reader.ReadLine() is { } line)
            {
                lineNumber++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                var (ctx, label, endings) = ParseLine(path, lineNumber, line);
                examples.Add(new HellaSwagExample(examples.Count, label, tokenizer.Encode(ctx),
                    [.. endings.Select(e => tokenizer.Encode(" " + e))]));
            }
        }
        return examples;
    }

    /// <summary>Extracts ctx, label and the four endings from one line.</summary>
    public static (string Ctx, int Label, string[] Endings) ParseLine(string path, int lineNumber, string line)
    {
        DataFormatException Bad(string problem) =>
            new($"{path}:{lineNumber}", problem, "Each line must be a HellaSwag JSON object with ctx, label (0-3) and 4 endings; re-download the official file");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(line); }
        catch (JsonException e) { throw Bad($"not valid JSON ({e.Message})"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Bad("not a JSON object");
            if (!root.TryGetProperty("ctx", out var ctxEl) || ctxEl.ValueKind != JsonValueKind.String)
                throw Bad("missing the string field \"ctx\"");
            if (!root.TryGetProperty("label", out var labelEl)) throw Bad("missing the field \"label\"");
            int label = labelEl.ValueKind switch
            {
                JsonValueKind.Number when labelEl.TryGetInt32(out int v) => v,
                // Some exports store the label as a string ("2").
                JsonValueKind.String when int.TryParse(labelEl.GetString(), out int v) => v,
                _ => throw Bad($"\"label\" is {labelEl.GetRawText()}, expected an integer 0-3"),
            };
            if ((uint)label >= HellaSwagExample.NumEndings) throw Bad($"\"label\" is {label}, expected 0-3");
            if (!root.TryGetProperty("endings", out var endEl) || endEl.ValueKind != JsonValueKind.Array)
                throw Bad("missing the array field \"endings\"");
            if (endEl.GetArrayLength() != HellaSwagExample.NumEndings)
                throw Bad($"\"endings\" has {endEl.GetArrayLength()} entries, expected {HellaSwagExample.NumEndings}");
            var endings = new string[HellaSwagExample.NumEndings];
            int i = 0;
            foreach (var e in endEl.EnumerateArray())
            {
                if (e.ValueKind != JsonValueKind.String) throw Bad($"ending {i} is not a string");
                endings[i++] = e.GetString()!;
            }
            string ctx = ctxEl.GetString()!;
            if (ctx.Length == 0) throw Bad("\"ctx\" is empty");
            return (ctx, label, endings);
        }
    }
}
