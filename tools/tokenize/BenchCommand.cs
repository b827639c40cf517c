using System.CommandLine;
using System.Diagnostics;
using LlmNet.Common.Cli;
using LlmNet.Common.Text;

namespace LlmNet.Tools.Tokenize;

/// <summary>
/// "bench FILE": measures GPT-2 encoding speed on a text corpus, on one thread (first pass with empty
/// caches, then steady state) and on N threads at once, each thread encoding the corpus's paragraphs.
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("FILE") { Description = "A UTF-8 text corpus (e.g. tinyshakespeare.txt)" };
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => Environment.ProcessorCount, Description = "Threads for the parallel measurement", HelpName = "N" };
        var seconds = new Option<double>("--seconds") { DefaultValueFactory = _ => 5, Description = "Duration of each steady-state measurement", HelpName = "S" };
        var command = new Command("bench", "Measure tokenizer throughput (tokens/s) on one thread and on all threads") { file, threads, seconds };
        command.SetAction(parsed => ToolRunner.Run(CommandLine.ToolName, ct =>
        {
            string path = parsed.GetValue(file)!;
            if (!File.Exists(path)) throw new Common.Formats.DataFormatException(path, "no such file", "Check the path");
            int n = parsed.GetValue(threads);
            if (n < 1) throw new UsageException($"--threads {n}: need at least 1");
            Run(File.ReadAllText(path), n, TimeSpan.FromSeconds(parsed.GetValue(seconds)), ct);
            return ToolRunner.Ok;
        }));
        return command;
    }

    private static void Run(string text, int threads, TimeSpan duration, CancellationToken ct)
    {
        // Paragraphs (or lines, when the text has few blank lines) stand in for documents.
        string[] documents = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        if (documents.Length < 64) documents = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var loadClock = Stopwatch.StartNew();
        var tokenizer = Gpt2Tokenizer.Shared;
        Console.WriteLine($"corpus: {text.Length:N0} chars, {documents.Length:N0} paragraphs; vocabulary loaded in {loadClock.ElapsedMilliseconds} ms");

        // CPU seconds are reported beside wall seconds: on a shared machine the scheduler's share, not
        // the code, sets the wall-clock rate, while tokens per CPU-second stays a property of the code.
        var clock = Stopwatch.StartNew();
        var cpu = Cpu();
        long first = EncodeAll(tokenizer, documents);
        double firstSeconds = clock.Elapsed.TotalSeconds, firstCpu = Cpu() - cpu;
        Console.WriteLine($"1 thread, first pass (empty cache): {first:N0} tokens in {firstSeconds:F2} s = {TokenizeCommand.Rate(first / firstSeconds)} tokens/s" +
                          $" ({TokenizeCommand.Rate(first / firstCpu)} tokens per CPU-second)");

        cpu = Cpu();
        var (tokens, elapsed) = Measure(tokenizer, documents, duration, ct);
        Console.WriteLine($"1 thread, steady state:             {TokenizeCommand.Rate(tokens / elapsed)} tokens/s ({TokenizeCommand.Rate(tokens / (Cpu() - cpu))} tokens per CPU-second)");

        long total = 0;
        cpu = Cpu();
        var all = Stopwatch.StartNew();
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads, CancellationToken = ct }, _ =>
        {
            var (t, _) = Measure(tokenizer, documents, duration, ct);
            Interlocked.Add(ref total, t);
        });
        double allSeconds = all.Elapsed.TotalSeconds;
        double allCpu = Cpu() - cpu;
        Console.WriteLine($"{threads} threads:                          {TokenizeCommand.Rate(total / allSeconds)} tokens/s ({TokenizeCommand.Rate(total / allSeconds / threads)} per thread;" +
                          $" {TokenizeCommand.Rate(total / allCpu)} tokens per CPU-second; {allCpu / allSeconds:F2} cores busy)");
    }

    private static double Cpu() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

    private static (long Tokens, double Seconds) Measure(Gpt2Tokenizer tokenizer, string[] documents, TimeSpan duration, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        long tokens = 0;
        while (clock.Elapsed < duration)
        {
            ct.ThrowIfCancellationRequested();
            tokens += EncodeAll(tokenizer, documents);
        }
        return (tokens, clock.Elapsed.TotalSeconds);
    }

    private static long EncodeAll(Gpt2Tokenizer tokenizer, string[] documents)
    {
        var ids = new List<int>(1 << 16);
        long tokens = 0;
        foreach (var d in documents)
        {
            ids.Clear();
            tokenizer.EncodeTo(d, ids);
            tokens += ids.Count;
        }
        return tokens;
    }
}
