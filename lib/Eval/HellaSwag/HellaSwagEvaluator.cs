using System.Diagnostics;
using LlmNet.Model;

namespace LlmNet.Eval.HellaSwag;

/// <summary>
/// HellaSwag accuracy of a model, as llm.c's trainer computes it with -h 1: the examples are split
/// across processes (per_proc = ceil(N/size); rank r takes [r·per_proc, min((r+1)·per_proc, N))),
/// each rank scores its share in batches of B/4 examples, and the correct counts are summed
/// (<see cref="HellaSwagScore.Reduce"/>) and divided by N.
/// </summary>
public sealed class HellaSwagEvaluator : IHellaSwagEvaluator
{
    private readonly HellaSwagExample[] _mine;

    /// <summary>The data set this evaluator was built from.</summary>
    public string DataPath { get; }
    /// <summary>N: examples in the whole (possibly limited) data set, over all ranks.</summary>
    public int DatasetSize { get; }
    public int Rank { get; }
    public int WorldSize { get; }
    /// <summary>This rank's examples: [FirstExample, FirstExample + Count).</summary>
    public int FirstExample { get; }
    public int Count => _mine.Length;
    /// <summary>This rank's examples, in order.</summary>
    public IReadOnlyList<HellaSwagExample> Examples => _mine;
    /// <summary>The smallest T that holds every example of the data set (all ranks agree on it).</summary>
    public int RequiredSeqLen { get; }

    /// <summary>Loads <paramref name="dataPath"/> (.bin, .jsonl, .txt(.bz2)); <paramref name="limit"/> keeps the first N examples before splitting.</summary>
    public HellaSwagEvaluator(string dataPath, int rank = 0, int worldSize = 1, int? limit = null)
        : this(HellaSwagData.Load(dataPath, limit), rank, worldSize, dataPath) { }

    public HellaSwagEvaluator(IReadOnlyList<HellaSwagExample> examples, int rank = 0, int worldSize = 1, string dataPath = "(memory)")
    {
        if (worldSize < 1) throw new ArgumentOutOfRangeException(nameof(worldSize), worldSize, "world size must be ≥ 1");
        if ((uint)rank >= (uint)worldSize) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"rank must be 0..{worldSize - 1}");
        DataPath = dataPath;
        DatasetSize = examples.Count;
        Rank = rank;
        WorldSize = worldSize;
        int perProc = (examples.Count + worldSize - 1) / worldSize;
        FirstExample = Math.Min(rank * perProc, examples.Count);
        int end = Math.Min(FirstExample + perProc, examples.Count);
        _mine = [.. examples.Skip(FirstExample).Take(end - FirstExample)];
        RequiredSeqLen = examples.Count == 0 ? 2 : examples.Max(e => e.RequiredSeqLen);
    }

    /// <summary>
    /// Why <see cref="Evaluate"/> cannot run with these shapes (llm.c asserts the same: B ≥ 4 and T large
    /// enough for the longest example), or null when it can. Lets a trainer refuse -h 1 at startup.
    /// </summary>
    public string? ProblemWith(int batchSize, int seqLen) =>
        batchSize < HellaSwagExample.NumEndings
            ? $"HellaSwag needs a batch of at least {HellaSwagExample.NumEndings} rows (one per ending) but B is {batchSize}"
            : seqLen < RequiredSeqLen
                ? $"the longest HellaSwag example of {DataPath} needs T ≥ {RequiredSeqLen} but T is {seqLen}"
                : null;

    /// <summary>
    /// Scores this rank's examples with <paramref name="batchSize"/> rows (B ≥ 4, B/4 examples per
    /// forward pass) of <paramref name="seqLen"/> positions (≥ <see cref="RequiredSeqLen"/>).
    /// The counts are this rank's; call <see cref="HellaSwagScore.Reduce"/> to combine ranks.
    /// </summary>
    /// <param name="keepPredictions">Return every example's prediction and mean losses too.</param>
    /// <param name="progress">Called after each batch with (examples done, examples on this rank).</param>
    /// <param name="trimSeqLen">Run each batch with T = its longest example (at most <paramref name="seqLen"/>): same scores, less work.</param>
    public HellaSwagScore Evaluate(IGptBackend backend, int batchSize, int seqLen, CancellationToken ct = default,
        bool keepPredictions = false, Action<int, int>? progress = null, bool trimSeqLen = false)
    {
        if (seqLen < RequiredSeqLen)
            throw new ArgumentOutOfRangeException(nameof(seqLen), seqLen,
                $"HellaSwag needs T ≥ {RequiredSeqLen} for its longest example (context + ending + 1)");
        var stopwatch = Stopwatch.StartNew();
        var scorer = new HellaSwagScorer(backend, batchSize, seqLen) { TrimSeqLen = trimSeqLen };
        var predictions = scorer.ScoreAll(_mine, ct, done => progress?.Invoke(done, _mine.Length));
        int correct = predictions.Count(p => p.Correct);
        return new HellaSwagScore(correct, predictions.Count, stopwatch.Elapsed.TotalSeconds, keepPredictions ? predictions : null);
    }

    HellaSwagScore IHellaSwagEvaluator.Evaluate(IGptBackend backend, int batchSize, int seqLen, CancellationToken ct) =>
        Evaluate(backend, batchSize, seqLen, ct);
}
