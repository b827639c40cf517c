using System.CommandLine;
using LlmNet.Common.Cli;
using LlmNet.Eval.HellaSwag;

namespace LlmNet.Tools.Tokenize;

/// <summary>
/// "hellaswag INPUT --out FILE.bin": writes llm.c's HellaSwag eval file (the one `train -h 1` reads)
/// from the official jsonl, the preprocessed text (.txt or .txt.bz2), or another eval .bin.
/// </summary>
public static class HellaSwagCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("INPUT") { Description = "hellaswag_val.jsonl, the preprocessed .txt(.bz2), or an eval .bin" };
        var output = new Option<string>("--out", "-o") { Required = true, Description = "The eval file to write (e.g. hellaswag_val.bin)", HelpName = "FILE.bin" };
        var limit = new Option<int?>("--limit") { Description = "Only the first N examples", HelpName = "N" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print nothing on success" };
        var command = new Command("hellaswag", "Convert HellaSwag examples into llm.c's eval .bin (context and endings tokenized with GPT-2)")
        {
            input, output, limit, quiet,
        };
        command.SetAction(parsed => ToolRunner.Run(CommandLine.ToolName, _ =>
        {
            string from = parsed.GetValue(input)!, to = parsed.GetValue(output)!;
            if (parsed.GetValue(limit) is int n && n < 1) throw new UsageException($"--limit {n}: need at least 1");
            int count = HellaSwagEvalFile.Convert(from, to, parsed.GetValue(limit));
            if (!parsed.GetValue(quiet)) Console.WriteLine($"wrote {count:N0} examples to {to}");
            return ToolRunner.Ok;
        }));
        return command;
    }
}
