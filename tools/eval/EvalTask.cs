using System.CommandLine;
using System.Text.Json.Nodes;

namespace LlmNet.Tools.Eval;

/// <summary>
/// One evaluation llm-eval runs, as one class: its name and options beside the shared ones (<see cref="EvalCommand"/>:
/// -e, --device, --threads, --json, --quiet and the launch flags), and a run that scores this process's share through
/// <see cref="EvalContext"/> (which creates the backend and the process group the same way for every task) and
/// returns the result for the whole group. Printing is the command's: text lines, or with --json one JSON object
/// alone on stdout.
/// </summary>
internal abstract class EvalTask
{
    /// <summary>The subcommand ("hellaswag", "loss").</summary>
    public abstract string Name { get; }
    public abstract string Description { get; }
    public abstract IEnumerable<Option> Options { get; }

    /// <summary>
    /// Scores this process's share and sums it over the group. Bad options and data should fail before
    /// <see cref="EvalContext.CreateBackend"/>, so a mistake costs no model load and no wait for other ranks.
    /// </summary>
    public abstract EvalResult Run(ParseResult parsed, EvalContext context, CancellationToken ct);
}

/// <summary>What a task found: readable lines and the same as JSON fields (the command adds task, model, device, ranks).</summary>
internal sealed record EvalResult(IReadOnlyList<string> Lines, JsonObject Json);
