using LlmNet.Common.Formats;
using LlmNet.Common.Text;

namespace LlmNet.Eval.HellaSwag;

/// <summary>
/// The preprocessed HellaSwag text: six lines per item — "activity_label: context" (encoded whole as
/// the context), the correct ending's index 0-3, then the four endings (each encoded as " " + ending).
/// </summary>
public static class HellaSwagPreprocessed
{
    public const int LinesPerItem = 2 + HellaSwagExample.NumEndings;

    /// <summary>Parses and tokenizes <paramref name="reader"/>; errors name <paramref name="path"/> and the line.</summary>
    public static List<HellaSwagExample> Parse(string path, TextReader reader, int? limit = null)
    {
        var tokenizer = Gpt2Tokenizer.Shared;
        var examples = new List<HellaSwagExample>();
        var lines = new string[LinesPerItem];
        using (reader)
        {
            int lineNumber = 0;
            while (limit is null || examples.Count < limit)
            {
                int firstLine = lineNumber + 1;
                int got = 0;
                while (got < LinesPerItem && reader.ReadLine() is { } line) { lines[got++] = line; lineNumber++; }
                if (got == 0) break;
                if (got < LinesPerItem)
                {
                    // A trailing blank line is the usual end of a text file, not a damaged item.
                    if (lines.Take(got).All(string.IsNullOrWhiteSpace)) break;
                    throw new DataFormatException($"{path}:{lineNumber}",
                        $"the item starting on line {firstLine} has only {got} of its {LinesPerItem} lines (context, label, 4 endings)",
                        "The file is truncated; fetch it again");
                }
                if (lines[0].Length == 0)
                    throw new DataFormatException($"{path}:{firstLine}", "empty context line", $"Items are {LinesPerItem} lines each: context, label (0-3), 4 endings");
                if (!int.TryParse(lines[1].Trim(), out int label) || (uint)label >= HellaSwagExample.NumEndings)
                    throw new DataFormatException($"{path}:{firstLine + 1}", $"label line is \"{Clip(lines[1])}\", expected 0, 1, 2 or 3",
                        $"Items are {LinesPerItem} lines each: context, label, 4 endings; the file is misaligned or not preprocessed HellaSwag");
                examples.Add(new HellaSwagExample(examples.Count, label, tokenizer.Encode(lines[0]),
                    [.. lines.Skip(2).Select(e => tokenizer.Encode(" " + e))]));
            }
        }
        return examples;
    }

    private static string Clip(string s) => s.Length <= 40 ? s : s[..40] + "…";
}
