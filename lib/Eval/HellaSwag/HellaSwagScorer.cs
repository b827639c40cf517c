using LlmNet.Model;

namespace LlmNet.Eval.HellaSwag;

/// <summary>
/// Scores HellaSwag examples on any <see cref="IGptBackend"/>: one forward pass with targets per
/// batch of B/4 examples, then the per-position losses decide each example (mean loss over the
/// ending's tokens, lowest mean wins). Reuses its buffers; not thread-safe.
/// </summary>
public sealed class HellaSwagScorer
{
    private readonly IGptBackend _backend;
    private readonly HellaSwagBatch _batch;
    private readonly float[] _losses;

    public int BatchSize => _batch.BatchSize;
    /// <summary>T of every forward pass, or the longest allowed when <see cref="TrimSeqLen"/> is set.</summary>
    public int SeqLen => _batch.MaxSeqLen;
    /// <summary>
    /// Size each forward pass's T to its longest example instead of <see cref="SeqLen"/>. Causal attention
    /// makes the scores the same either way; shorter rows are cheaper. llm.c always uses the full T.
    /// </summary>
    public bool TrimSeqLen { get; init; }
    /// <summary>Examples scored per forward pass.</summary>
    public int ExamplesPerBatch => _batch.Capacity;

    /// <param name="batchSize">Rows B per forward pass (≥ 4; B/4 examples each).</param>
    /// <param name="seqLen">Positions T per row (the most, with <see cref="TrimSeqLen"/>); must exceed every example's context + ending length.</param>
    public HellaSwagScorer(IGptBackend backend, int batchSize, int seqLen)
    {
        if (batchSize > backend.MaxBatchSize)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, $"the backend was sized for at most {backend.MaxBatchSize} rows");
        if (seqLen > backend.MaxSeqLen)
            throw new ArgumentOutOfRangeException(nameof(seqLen), seqLen, $"the backend was sized for at most T = {backend.MaxSeqLen}");
        _backend = backend;
        _batch = new HellaSwagBatch(batchSize, seqLen);
        _losses = new float[batchSize * seqLen];
    }

    /// <summary>Scores up to <see cref="ExamplesPerBatch"/> examples in one forward pass.</summary>
    public HellaSwagPrediction[] ScoreBatch(ReadOnlySpan<HellaSwagExample> examples)
    {
        int vocab = _backend.Config.VocabSize;
        foreach (var ex in examples)
            if (ex.Context.Concat(ex.Endings.SelectMany(e => e)).Any(t => (uint)t >= (uint)vocab))
                throw new ArgumentException($"example {ex.Index} holds a token outside the model's vocabulary of {vocab}");
        int T = SeqLen;
        if (TrimSeqLen && examples.Length > 0)
        {
            T = 2;
            foreach (var ex in examples) T = Math.Max(T, ex.RequiredSeqLen);
            T = Math.Min(T, SeqLen); // Pack reports the example that does not fit
        }
        _batch.Pack(examples, T);
        int bt = _batch.BatchSize * T;
        _backend.Forward(_batch.Inputs.AsSpan(0, bt), _batch.Targets.AsSpan(0, bt), _batch.BatchSize, T);
        _backend.GetLosses(_losses.AsSpan(0, bt));
        var predictions = new HellaSwagPrediction[examples.Length];
        for (int i = 0; i < examples.Length; i++)
        {
            float[] means = _batch.MeanLosses(i, _losses);
            int prediction = _batch.IsActive(i) ? HellaSwagBatch.ArgMin(means) : -1;
            predictions[i] = new HellaSwagPrediction(examples[i].Index, examples[i].Label, prediction, means);
        }
        return predictions;
    }

    /// <summary>Scores any number of examples, <see cref="ExamplesPerBatch"/> per forward pass; <paramref name="onBatch"/> gets the running count.</summary>
    public List<HellaSwagPrediction> ScoreAll(IReadOnlyList<HellaSwagExample> examples, CancellationToken ct = default, Action<int>? onBatch = null)
    {
        var all = new List<HellaSwagPrediction>(examples.Count);
        var array = examples as HellaSwagExample[] ?? [.. examples];
        for (int start = 0; start < array.Length; start += ExamplesPerBatch)
        {
            ct.ThrowIfCancellationRequested();
            int n = Math.Min(ExamplesPerBatch, array.Length - start);
            all.AddRange(ScoreBatch(array.AsSpan(start, n)));
            onBatch?.Invoke(all.Count);
        }
        return all;
    }

    /// <summary>Scores one example alone (B = 4, T = its own length).</summary>
    public static HellaSwagPrediction ScoreExample(IGptBackend backend, HellaSwagExample example) =>
        new HellaSwagScorer(backend, HellaSwagExample.NumEndings, example.RequiredSeqLen).ScoreBatch([example])[0];
}
