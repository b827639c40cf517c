using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using LlmNet.Common.Cli;
using LlmNet.Cuda;
using LlmNet.Distributed.Launch;
using LlmNet.Eval.HellaSwag;

namespace LlmNet.Tools.Eval;

/// <summary>`llm-eval hellaswag`: HellaSwag accuracy of a checkpoint, scored exactly as llm.c's trainer does.</summary>
internal static class HellaSwagCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-e")
        {
            Description = "llm.c model file (.bin, v3 fp32 or v5 bf16) to score; a descriptor such as d12 scores a fresh random init",
            Required = true,
        };
        var data = new Option<string?>("--data")
        {
            Description = "HellaSwag data: llm.c eval .bin, official hellaswag_val.jsonl, or preprocessed .txt/.txt.bz2 " +
                          $"[default: the first of {string.Join(", ", HellaSwagData.DefaultPaths)} that exists]",
        };
        var limit = new Option<int?>("--limit") { Description = "score only the first N examples [default: all]" };
        var batch = new Option<int>("--batch-size", "-b")
        {
            Description = "rows B per forward pass; each example takes 4 rows, so B/4 examples are scored per pass (B ≥ 4)",
            DefaultValueFactory = _ => 16,
        };
        var seqLen = new Option<int>("--seq-len", "-t")
        {
            Description = "positions T per row for every pass, as llm.c does; 0 sizes each pass to its longest example (context + ending + 1): same scores, less work",
            DefaultValueFactory = _ => 0,
        };
        var device = new Option<string>("--device")
        {
            Description = "compute device: auto, cpu or cuda",
            DefaultValueFactory = _ => "auto",
        };
        device.AcceptOnlyFromAmong(BackendFactory.Devices);
        var launch = new LaunchOptions();
        var json = new Option<bool>("--json") { Description = "print the result as one JSON object on the last line" };
        var perExample = new Option<string?>("--per-example") { Description = "write one JSON line per example (index, label, prediction, correct, losses) to this file" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "no progress output" };
        var threads = new Option<int>("--threads") { Description = "CPU threads for --device cpu; 0 uses every core", DefaultValueFactory = _ => 0 };

        var command = new Command("hellaswag", "HellaSwag accuracy (mean loss per ending token, lowest wins), as llm.c's -h 1 computes it")
        {
            model, data, limit, batch, seqLen, device, threads, json, perExample, quiet,
        };
        foreach (var option in launch.All) command.Options.Add(option);
        command.SetAction(parsed => ToolRunner.Run("llm-eval", ct => Run(new Settings(
            parsed.GetValue(model)!, parsed.GetValue(data), parsed.GetValue(limit), parsed.GetValue(batch), parsed.GetValue(seqLen),
            parsed.GetValue(device)!, parsed.GetValue(threads), launch.Read(parsed), parsed.GetValue(json),
            parsed.GetValue(perExample), parsed.GetValue(quiet)), ct)));
        return command;
    }

    private sealed record Settings(string Model, string? Data, int? Limit, int BatchSize, int SeqLen, string Device, int Threads,
        LaunchOptions.Values Launch, bool Json, string? PerExample, bool Quiet);

    private static int Run(Settings s, CancellationToken ct)
    {
        if (s.BatchSize < 4) throw new UsageException($"--batch-size {s.BatchSize}: HellaSwag needs at least 4 rows (one per ending)");
        if (s.SeqLen < 0) throw new UsageException($"--seq-len {s.SeqLen}: must be 0 (auto) or positive");
        if (s.Limit is < 1) throw new UsageException($"--limit {s.Limit}: must be at least 1");
        LaunchInfo launch = s.Launch.Resolve();

        string dataPath = s.Data ?? HellaSwagData.FindDefault()
            ?? throw new ToolException($"no HellaSwag data found at {string.Join(", ", HellaSwagData.DefaultPaths)}. " +
                                       "Pass --data FILE (llm-fetch hellaswag --out DIR downloads hellaswag_val.jsonl)");
        var evaluator = new HellaSwagEvaluator(dataPath, launch.Rank, launch.Size, s.Limit);
        int T = s.SeqLen == 0 ? evaluator.RequiredSeqLen : s.SeqLen;
        if (T < evaluator.RequiredSeqLen)
            throw new UsageException($"--seq-len {T}: the longest example of {dataPath} needs T ≥ {evaluator.RequiredSeqLen}");

        string device = Backends.Resolve(s.Device);
        using var group = LaunchOptions.Join(launch, device);
        // Only a group's rank 0 reports; a manual split (no group) reports every process's own counts.
        bool reports = group.Rank == 0;
        using var backend = BackendFactory.Create(device, s.Model, s.BatchSize, T, s.Threads, group,
            s.SeqLen == 0 ? $"the longest example of {dataPath} (context + ending + 1) needs" : null);
        var info = Console.Error;
        if (!s.Quiet)
            info.WriteLine($"llm-eval: {dataPath}: {evaluator.DatasetSize} examples" +
                           (launch.Size > 1 ? $", rank {launch.Rank}/{launch.Size} ({launch.Launcher}) scores [{evaluator.FirstExample}, {evaluator.FirstExample + evaluator.Count})" : "") +
                           $"; model {s.Model} on {backend.DeviceName}; B={s.BatchSize} ({s.BatchSize / 4} examples per pass), " +
                           (s.SeqLen == 0 ? $"T up to {T} (each pass sized to its longest example)" : $"T={T}"));

        // Every rank starts together and the sum waits for the slowest, so rank 0's clock covers the whole set.
        group.Barrier();
        var clock = Stopwatch.StartNew();
        HellaSwagScore mine;
        try
        {
            string label = group.Size > 1 ? $"HellaSwag rank {group.Rank}" : "HellaSwag";
            mine = ConsoleProgress.Run(label, s.Quiet,
                progress => evaluator.Evaluate(backend, s.BatchSize, T, ct, keepPredictions: s.PerExample is not null, progress, trimSeqLen: s.SeqLen == 0));
        }
        catch (ArgumentException e)
        {
            throw new ToolException($"{dataPath}: {e.Message}. Check that the data was tokenized with GPT-2's tokenizer for this model", e);
        }
        var score = mine.Reduce(group) with { Seconds = group.Size > 1 ? clock.Elapsed.TotalSeconds : mine.Seconds };

        if (s.PerExample is { } perExamplePath) PerExampleFile.Write(perExamplePath, mine.Predictions!, group);
        if (!reports) return ToolRunner.Ok;

        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"HellaSwag: {score.Correct}/{score.Total} = {score.Accuracy:F6}"));
        string processes = group.Size > 1 ? $" on {group.Size} processes" : "";
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"accuracy {score.Accuracy:P2} ({score.Correct} of {score.Total} correct), {score.ExamplesPerSecond:F2} examples/s over {score.Seconds:F1} s{processes}"));
        if (s.Json)
        {
            var result = new JsonObject
            {
                ["task"] = "hellaswag",
                ["model"] = s.Model,
                ["data"] = dataPath,
                ["device"] = backend.DeviceName,
                ["correct"] = score.Correct,
                ["total"] = score.Total,
                ["accuracy"] = score.Accuracy,
                ["examples_per_second"] = Math.Round(score.ExamplesPerSecond, 3),
                ["seconds"] = Math.Round(score.Seconds, 3),
                ["batch_size"] = s.BatchSize,
                ["seq_len"] = T,
                ["dataset_size"] = evaluator.DatasetSize,
                ["rank"] = launch.Rank,
                ["world_size"] = launch.Size,
                ["processes"] = group.Size,
            };
            Console.Out.WriteLine(result.ToJsonString());
        }
        return ToolRunner.Ok;
    }
}
