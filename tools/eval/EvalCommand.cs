using System.CommandLine;
using System.Text.Json.Nodes;
using LlmNet.Common.Cli;
using LlmNet.Cuda;

namespace LlmNet.Tools.Eval;

/// <summary>
/// Turns an <see cref="EvalTask"/> into a subcommand: the shared options, the context, and the output. Without --json
/// the result's lines go to stdout; with --json stdout gets exactly one line, the JSON object, and the lines go to
/// stderr with the progress, so `llm-eval … --json | jq` works.
/// </summary>
internal static class EvalCommand
{
    public static Command Create(EvalTask task)
    {
        var model = new Option<string>("--model", "-e")
        {
            Description = "llm.c model file (.bin, v3 fp32 or v5 bf16), a Hugging Face GPT-2 folder, or a descriptor such as d12 for a fresh random init",
            Required = true,
        };
        var device = new Option<string>("--device") { Description = "compute device: auto, cpu or cuda", DefaultValueFactory = _ => "auto" };
        device.AcceptOnlyFromAmong(Backends.DeviceNames);
        var threads = new Option<int>("--threads") { Description = "CPU threads for --device cpu; 0 uses every core", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "print only one JSON object on stdout (the readable lines go to stderr)" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "no progress output" };
        var launch = new LaunchOptions();

        var command = new Command(task.Name, task.Description) { model };
        foreach (var option in task.Options) command.Options.Add(option);
        foreach (var option in new Option[] { device, threads, json, quiet }) command.Options.Add(option);
        foreach (var option in launch.All) command.Options.Add(option);
        command.SetAction(parsed => ToolRunner.Run("llm-eval", ct =>
        {
            using var context = new EvalContext(parsed.GetValue(model)!, parsed.GetValue(device)!, parsed.GetValue(threads),
                launch.Read(parsed).Resolve(), parsed.GetValue(quiet), $"llm-eval {task.Name}");
            var result = task.Run(parsed, context, ct);
            if (!context.Reports) return ToolRunner.Ok;
            if (!parsed.GetValue(json))
            {
                foreach (var line in result.Lines) Console.Out.WriteLine(line);
                return ToolRunner.Ok;
            }
            // The result's lines are not progress: --quiet keeps them, on stderr.
            foreach (var line in result.Lines) Console.Error.WriteLine(line);
            var output = new JsonObject { ["task"] = task.Name, ["model"] = context.Model };
            foreach (var (key, value) in result.Json) output[key] = value?.DeepClone();
            output["device"] = context.DeviceName;
            output["rank"] = context.Launch.Rank;
            output["world_size"] = context.Launch.Size;
            output["processes"] = context.Group.Size;
            Console.Out.WriteLine(output.ToJsonString());
            return ToolRunner.Ok;
        }));
        return command;
    }
}
