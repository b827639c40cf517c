using System.CommandLine;
using LlmNet.Common.Cli;
using LlmNet.Tools.Eval;

// llm-eval: scores a GPT-2 checkpoint. Each evaluation is one EvalTask; add one to this list.
EvalTask[] tasks = [new HellaSwagTask(), new LossTask()];
var root = new RootCommand("llm-eval: evaluate a GPT-2 checkpoint: HellaSwag accuracy, or mean loss / perplexity over token shards.");
foreach (var task in tasks) root.Add(EvalCommand.Create(task));
var parsed = root.Parse(ToolRunner.TakeVerboseFlag(args, out _));
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors) Console.Error.WriteLine($"llm-eval: error: {error.Message} (see llm-eval --help)");
    return ToolRunner.Usage;
}
return parsed.Invoke();
