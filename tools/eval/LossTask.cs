using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using LlmNet.Common.Cli;
using LlmNet.Common.Text;
using LlmNet.Training.Data;
using LlmNet.Training.Evaluation;
using LlmNet.Training.Logging;

namespace LlmNet.Tools.Eval;

/// <summary>
/// `llm-eval loss`: the mean loss and perplexity of a model over token shards, computed by the code that prints
/// llm-train's "val loss" (<see cref="ValidationLoss"/>) with the same batch layout, so for the same model, data,
/// B, T and number of batches the two numbers are the same float. -b and -t default to llm-train's; every whole
/// B·T·processes sample of the data is read unless --max-tokens asks for fewer.
/// </summary>
internal sealed class LossTask : EvalTask
{
    private readonly Option<string> _data = new("--data")
    {
        Description = "token shards (llm.c .bin, uint16 or uint32), a file or a glob such as \"val_*.bin\" (quote it), read in sorted order as llm-train's -j",
        Required = true,
    };
    private readonly Option<int> _batch = new("--batch-size", "-b") { Description = "rows B per forward pass (llm-train's -b)", DefaultValueFactory = _ => 4 };
    private readonly Option<int> _seqLen = new("--seq-len", "-t") { Description = "positions T per row (llm-train's -t)", DefaultValueFactory = _ => 1024 };
    private readonly Option<long?> _maxTokens = new("--max-tokens")
    {
        Description = "read at most N tokens: floor(N / (B·T·processes)) batches, as llm-train's -m N/(B·T·processes) [default: every whole sample of the data]",
    };

    public override string Name => "loss";
    public override string Description => "Mean loss and perplexity over token shards, computed as llm-train's val loss";
    public override IEnumerable<Option> Options => [_data, _batch, _seqLen, _maxTokens];

    public override EvalResult Run(ParseResult parsed, EvalContext context, CancellationToken ct)
    {
        int B = parsed.GetValue(_batch), T = parsed.GetValue(_seqLen);
        long? maxTokens = parsed.GetValue(_maxTokens);
        string pattern = parsed.GetValue(_data)!;
        if (B < 1) throw new UsageException($"--batch-size {B}: must be at least 1");
        if (T < 1) throw new UsageException($"--seq-len {T}: must be at least 1");
        var launch = context.Launch;
        long sampleTokens = (long)B * T * launch.Size;
        if (maxTokens is { } max && max < sampleTokens)
            throw new UsageException($"--max-tokens {max}: one batch on every process reads B·T·processes = {sampleTokens} tokens; ask for at least that many");
        // The shards are checked (headers, sizes) before the model is loaded; their ids once the vocabulary is known.
        using (new DataLoader(pattern, B, T, launch.Rank, launch.Size, shuffle: false)) { }

        var group = context.Group;
        using var backend = context.CreateBackend(B, T);
        using var loader = new DataLoader(pattern, B, T, launch.Rank, launch.Size, shuffle: false, backend.Config.VocabSize);
        int all = ValidationLoss.Batches(loader, launch.Size);
        if (all == 0)
            throw new ToolException($"{pattern}: holds {loader.NumTokens} tokens, fewer than one batch on every process (B·T·processes = {sampleTokens}). Lower -b or -t");
        int batches = maxTokens is { } m ? (int)Math.Min(all, m / sampleTokens) : all;
        context.Say($"llm-eval: {pattern}: {loader.Files.Count} shard(s), {loader.NumTokens:N0} tokens; {batches} batches of B={B}, T={T}" +
                    (launch.Size > 1 ? $" on each of {launch.Size} processes (rank {launch.Rank}, {launch.Launcher})" : "") +
                    $"; model {context.Model} on {backend.DeviceName}");

        group.Barrier();
        var clock = Stopwatch.StartNew();
        string label = group.Size > 1 ? $"loss rank {group.Rank}" : "loss";
        float loss = context.Progress(label, "batches", progress => ValidationLoss.Compute(backend, loader, batches, group, ct, progress));
        double seconds = clock.Elapsed.TotalSeconds;
        long tokens = batches * (long)B * T * group.Size;
        double perplexity = Math.Exp(loss);

        string processes = group.Size > 1 ? $" on {group.Size} processes" : "";
        string[] lines =
        [
            $"val loss {CFormat.F(loss, 6)}",
            string.Create(CultureInfo.InvariantCulture,
                $"loss {CFormat.F(loss, 6)}, perplexity {perplexity:F4} over {tokens:N0} tokens ({batches} batches of {B}×{T}{processes}), {tokens / Math.Max(seconds, 1e-9):F0} tokens/s over {seconds:F1} s"),
        ];
        var json = new JsonObject
        {
            ["data"] = pattern,
            ["loss"] = (double)loss,
            ["perplexity"] = perplexity,
            ["tokens"] = tokens,
            ["batches"] = batches,
            ["batch_size"] = B,
            ["seq_len"] = T,
            ["shards"] = loader.Files.Count,
            ["data_tokens"] = loader.NumTokens,
            ["seconds"] = Math.Round(seconds, 3),
            ["tokens_per_second"] = Math.Round(tokens / Math.Max(seconds, 1e-9), 1),
        };
        return new EvalResult(lines, json);
    }
}
