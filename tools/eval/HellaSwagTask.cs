using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using LlmNet.Common.Cli;
using LlmNet.Eval.HellaSwag;

namespace LlmNet.Tools.Eval;

/// <summary>`llm-eval hellaswag`: HellaSwag accuracy of a checkpoint, scored exactly as llm.c's trainer does.</summary>
internal sealed class HellaSwagTask : EvalTask
{
    private readonly Option<string?> _data = new("--hellaswag-data", "--data")
    {
        Description = "HellaSwag data: llm.c eval .bin, official hellaswag_val.jsonl, or preprocessed .txt/.txt.bz2 " +
                      $"[default: the first of {string.Join(", ", HellaSwagData.DefaultPaths)} that exists]",
    };
    private readonly Option<int?> _limit = new("--limit") { Description = "score only the first N examples [default: all]" };
    private readonly Option<int> _batch = new("--batch-size", "-b")
    {
        Description = "rows B per forward pass; each example takes 4 rows, so B/4 examples are scored per pass (B ≥ 4)",
        DefaultValueFactory = _ => 16,
    };
    private readonly Option<int> _seqLen = new("--seq-len", "-t")
    {
        Description = "positions T per row for every pass, as llm.c does; 0 sizes each pass to its longest example (context + ending + 1): same scores, less work",
        DefaultValueFactory = _ => 0,
    };
    private readonly Option<string?> _perExample = new("--per-example")
    {
        Description = "write one JSON line per example (index, label, prediction, correct, losses) to this file",
    };

    public override string Name => "hellaswag";
    public override string Description => "HellaSwag accuracy (mean loss per ending token, lowest wins), as llm.c's -h 1 computes it";
    public override IEnumerable<Option> Options => [_data, _limit, _batch, _seqLen, _perExample];

    public override EvalResult Run(ParseResult parsed, EvalContext context, CancellationToken ct)
    {
        int batchSize = parsed.GetValue(_batch), seqLen = parsed.GetValue(_seqLen);
        int? limit = parsed.GetValue(_limit);
        string? perExample = parsed.GetValue(_perExample);
        if (batchSize < 4) throw new UsageException($"--batch-size {batchSize}: HellaSwag needs at least 4 rows (one per ending)");
        if (seqLen < 0) throw new UsageException($"--seq-len {seqLen}: must be 0 (auto) or positive");
        if (limit is < 1) throw new UsageException($"--limit {limit}: must be at least 1");
        var launch = context.Launch;

        string dataPath = parsed.GetValue(_data) ?? HellaSwagData.FindDefault()
            ?? throw new ToolException($"no HellaSwag data found at {string.Join(", ", HellaSwagData.DefaultPaths)}. " +
                                       "Pass --hellaswag-data FILE (llm-fetch hellaswag --out DIR downloads hellaswag_val.jsonl)");
        var evaluator = new HellaSwagEvaluator(dataPath, launch.Rank, launch.Size, limit);
        int T = seqLen == 0 ? evaluator.RequiredSeqLen : seqLen;
        if (T < evaluator.RequiredSeqLen)
            throw new UsageException($"--seq-len {T}: the longest example of {dataPath} needs T ≥ {evaluator.RequiredSeqLen}");

        var group = context.Group;
        using var backend = context.CreateBackend(batchSize, T,
            seqLen == 0 ? $"the longest example of {dataPath} (context + ending + 1) needs" : null);
        context.Say($"llm-eval: {dataPath}: {evaluator.DatasetSize} examples" +
                    (launch.Size > 1 ? $", rank {launch.Rank}/{launch.Size} ({launch.Launcher}) scores [{evaluator.FirstExample}, {evaluator.FirstExample + evaluator.Count})" : "") +
                    $"; model {context.Model} on {backend.DeviceName}; B={batchSize} ({batchSize / 4} examples per pass), " +
                    (seqLen == 0 ? $"T up to {T} (each pass sized to its longest example)" : $"T={T}"));

        // Every rank starts together and the sum waits for the slowest, so rank 0's clock covers the whole set.
        group.Barrier();
        var clock = Stopwatch.StartNew();
        HellaSwagScore mine;
        try
        {
            string label = group.Size > 1 ? $"HellaSwag rank {group.Rank}" : "HellaSwag";
            mine = context.Progress(label, "examples",
                progress => evaluator.Evaluate(backend, batchSize, T, ct, keepPredictions: perExample is not null, progress, trimSeqLen: seqLen == 0));
        }
        catch (ArgumentException e)
        {
            throw new ToolException($"{dataPath}: {e.Message}. Check that the data was tokenized with GPT-2's tokenizer for this model", e);
        }
        var score = mine.Reduce(group) with { Seconds = group.Size > 1 ? clock.Elapsed.TotalSeconds : mine.Seconds };
        if (perExample is not null) PerExampleFile.Write(perExample, mine.Predictions!, group);

        string processes = group.Size > 1 ? $" on {group.Size} processes" : "";
        string[] lines =
        [
            string.Create(CultureInfo.InvariantCulture, $"HellaSwag: {score.Correct}/{score.Total} = {score.Accuracy:F6}"),
            string.Create(CultureInfo.InvariantCulture,
                $"accuracy {score.Accuracy:P2} ({score.Correct} of {score.Total} correct), {score.ExamplesPerSecond:F2} examples/s over {score.Seconds:F1} s{processes}"),
        ];
        var json = new JsonObject
        {
            ["data"] = dataPath,
            ["correct"] = score.Correct,
            ["total"] = score.Total,
            ["accuracy"] = score.Accuracy,
            ["examples_per_second"] = Math.Round(score.ExamplesPerSecond, 3),
            ["seconds"] = Math.Round(score.Seconds, 3),
            ["batch_size"] = batchSize,
            ["seq_len"] = T,
            ["dataset_size"] = evaluator.DatasetSize,
        };
        return new EvalResult(lines, json);
    }
}
