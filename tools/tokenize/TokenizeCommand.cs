using System.CommandLine;
using LlmNet.Common.Cli;
using LlmNet.Common.Text;
using Spectre.Console;

namespace LlmNet.Tools.Tokenize;

/// <summary>The default command: INPUT... --out DIR [--prefix NAME] [--shard-size N] [--column NAME].</summary>
public static class TokenizeCommand
{
    public static void Configure(RootCommand root)
    {
        var inputs = new Argument<string[]>("INPUT")
        {
            Arity = ArgumentArity.OneOrMore,
            Description = "Input files, tokenized in the order given: .parquet (a text column), .jsonl (one JSON object per line) or .txt (the whole file is one document); .jsonl and .txt may be .gz or .zst",
        };
        var output = new Option<string>("--out", "-o") { Required = true, Description = "Directory for the shards and the resume manifest (created if missing)", HelpName = "DIR" };
        var prefix = new Option<string>("--prefix") { DefaultValueFactory = _ => TokenizeSettings.DefaultPrefix, Description = "Shard name prefix: PREFIX_val_000000.bin, PREFIX_train_000001.bin, ...", HelpName = "NAME" };
        var shardSize = new Option<long>("--shard-size") { DefaultValueFactory = _ => TokenizeSettings.DefaultShardSize, Description = "Tokens per shard (the last shard holds the remainder)", HelpName = "N" };
        var column = new Option<string>("--column") { DefaultValueFactory = _ => "text", Description = "Parquet column / JSON field holding the document text", HelpName = "NAME" };
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => Environment.ProcessorCount, Description = "Encoding workers", HelpName = "N" };
        var restart = new Option<bool>("--restart") { Description = "Discard an earlier run's shards and manifest in DIR (same prefix) and start over" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print only errors" };
        var tokenizer = EncodeCommand.TokenizerOption();
        root.Add(inputs);
        foreach (var option in new Option[] { output, prefix, shardSize, column, threads, restart, tokenizer, quiet }) root.Add(option);

        root.SetAction(parsed => ToolRunner.Run(CommandLine.ToolName, ct =>
        {
            var settings = new TokenizeSettings(parsed.GetValue(inputs)!, parsed.GetValue(output)!, parsed.GetValue(prefix)!,
                parsed.GetValue(shardSize), parsed.GetValue(column)!, parsed.GetValue(threads), parsed.GetValue(restart), parsed.GetValue(tokenizer)!);
            if (settings.Threads < 1) throw new UsageException($"--threads {settings.Threads}: need at least 1");
            return Run(settings, parsed.GetValue(quiet), ct);
        }));
    }

    private static int Run(TokenizeSettings settings, bool quiet, CancellationToken ct)
    {
        var run = new TokenizeRun(settings);
        TokenizeResult result;
        if (!quiet && !Console.IsErrorRedirected)
            result = RunWithProgressBar(run, ct);
        else
        {
            if (!quiet) AttachLogLines(run);
            result = run.RunAsync(ct).GetAwaiter().GetResult();
        }
        if (!quiet) Console.Error.WriteLine(Summary(settings, result));
        return ToolRunner.Ok;
    }

    private static string Summary(TokenizeSettings settings, TokenizeResult r)
    {
        string dir = Path.GetFullPath(settings.OutputDirectory);
        if (r.AlreadyComplete)
            return $"{CommandLine.ToolName}: {dir} is already complete: {r.Shards} shard(s), {r.Documents:N0} documents, {r.Tokens:N0} tokens (use --restart to redo)";
        double seconds = Math.Max(r.Elapsed.TotalSeconds, 1e-9);
        return $"{CommandLine.ToolName}: wrote {r.Shards} shard(s) to {dir}: {r.Documents:N0} documents, {r.Tokens:N0} tokens" +
               (r.Resumed ? $" (resumed; {r.TokensThisRun:N0} tokens this run)" : "") +
               $" in {r.Elapsed.TotalSeconds:F1} s ({Rate(r.DocumentsThisRun / seconds)} docs/s, {Rate(r.TokensThisRun / seconds)} tokens/s)";
    }

    internal static string Rate(double perSecond) => perSecond switch
    {
        >= 1e6 => $"{perSecond / 1e6:F2}M",
        >= 1e3 => $"{perSecond / 1e3:F1}k",
        _ => $"{perSecond:F0}",
    };

    private static string Line(TokenizeProgress p)
    {
        double seconds = Math.Max(p.Elapsed.TotalSeconds, 1e-9);
        return $"{p.Documents:N0} docs, {p.Tokens:N0} tokens, {p.ShardsWritten} shard(s) done, " +
               $"{Rate(p.DocumentsThisRun / seconds)} docs/s, {Rate(p.TokensThisRun / seconds)} tokens/s";
    }

    private static string ShortLine(TokenizeProgress p)
    {
        double seconds = Math.Max(p.Elapsed.TotalSeconds, 1e-9);
        return $"{p.ShardsWritten} shards, {Rate(p.Tokens)} tok, {Rate(p.DocumentsThisRun / seconds)} docs/s, {Rate(p.TokensThisRun / seconds)} tok/s";
    }

    /// <summary>Plain lines for logs: every shard written, and a status line every 10 seconds.</summary>
    private static void AttachLogLines(TokenizeRun run)
    {
        var lastLine = TimeSpan.Zero;
        run.ShardWritten += shard => Console.Error.WriteLine($"{CommandLine.ToolName}: wrote {shard.Path} ({shard.Tokens:N0} tokens)");
        run.Progress += p =>
        {
            if (p.Elapsed - lastLine < TimeSpan.FromSeconds(10)) return;
            lastLine = p.Elapsed;
            double percent = p.InputBytesTotal == 0 ? 0 : 100.0 * p.InputBytesDone / p.InputBytesTotal;
            Console.Error.WriteLine($"{CommandLine.ToolName}: {percent:F1}% of input, {Line(p)}");
        };
    }

    private static TokenizeResult RunWithProgressBar(TokenizeRun run, CancellationToken ct)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask("starting", maxValue: 1);
                run.ShardWritten += shard => console.MarkupLineInterpolated($"wrote [bold]{shard.Path}[/] ({shard.Tokens:N0} tokens)");
                run.Progress += p =>
                {
                    task.MaxValue = Math.Max(1, p.InputBytesTotal);
                    task.Value = p.InputBytesDone;
                    task.Description = Markup.Escape(ShortLine(p));
                };
                var result = await run.RunAsync(ct);
                task.Value = task.MaxValue;
                return result;
            }).GetAwaiter().GetResult();
    }
}
