using System.CommandLine;
using LlmNet.Common.Cli;
using LlmNet.Tools.Eval;

// llm-eval: scores a GPT-2 checkpoint on evaluation sets (HellaSwag).
var root = new RootCommand("llm-eval: evaluate a GPT-2 checkpoint (llm.c model file) on HellaSwag.")
{
    HellaSwagCommand.Create(),
};
var parsed = root.Parse(ToolRunner.TakeVerboseFlag(args, out _));
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors) Console.Error.WriteLine($"llm-eval: error: {error.Message} (see llm-eval --help)");
    return ToolRunner.Usage;
}
return parsed.Invoke();
