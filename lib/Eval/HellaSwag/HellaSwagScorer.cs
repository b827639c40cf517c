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
    public int SeqLen => _batch.SeqLen;
    /// <summary>Examples scored per forward pass.</summary>
    public int ExamplesPerBatch => _batch.Capacity;

    /// <param name="batchSize">Rows B per forward pass (≥ 4; B/4 examples each).</param>
    /// <param name="seqLen">Positions T per row; must exceed every example's context + ending length.</param>
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
        _batch.Pack(examples);
        _backend.Forward(_batch.Inputs, _batch.Targets, _batch.BatchSize, _batch.SeqLen);
        _backend.GetLosses(_losses);
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
