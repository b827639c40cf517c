using System.Diagnostics;
using Spectre.Console;

namespace LlmNet.Tools.Eval;

/// <summary>
/// Progress on stderr: a Spectre.Console bar when stderr is a terminal, otherwise a plain line at
/// most every few seconds (log files), nothing with --quiet.
/// </summary>
internal static class ConsoleProgress
{
    public static T Run<T>(string label, string unit, bool quiet, Func<Action<int, int>, T> work)
    {
        if (quiet) return work((_, _) => { });
        if (!Console.IsErrorRedirected)
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
            T result = default!;
            console.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask(label, maxValue: 1);
                    result = work((done, total) => { task.MaxValue = Math.Max(total, 1); task.Value = done; });
                    task.Value = task.MaxValue;
                });
            return result;
        }
        var clock = Stopwatch.StartNew();
        double lastPrint = double.NegativeInfinity;
        return work((done, total) =>
        {
            double now = clock.Elapsed.TotalSeconds;
            if (done < total && now - lastPrint < 10) return;
            lastPrint = now;
            Console.Error.WriteLine($"{label}: {done}/{total} {unit}, {done / Math.Max(now, 1e-9):F1} {unit}/s");
        });
    }
}
