namespace LlmNet.Eval.HellaSwag;

/// <summary>
/// One (B,T) forward-pass worth of examples, packed as llm.c's EvalLoader does: example i takes rows
/// 4i..4i+3, one per ending; the context fills positions 0..ctx_len-1 and the ending follows it;
/// targets are the inputs shifted left by one and the mask marks the positions whose target is an
/// ending token. Unused positions and rows are zero: causal attention means they cannot change the
/// masked losses, so this matches llm.c, which leaves them holding earlier examples' tokens.
/// </summary>
public sealed class HellaSwagBatch
{
    public int BatchSize { get; }
    /// <summary>The longest T this batch's buffers hold.</summary>
    public int MaxSeqLen { get; }
    /// <summary>T of the last <see cref="Pack"/>: rows are SeqLen apart in the buffers.</summary>
    public int SeqLen { get; private set; }
    /// <summary>Examples per forward pass: B / 4.</summary>
    public int Capacity => BatchSize / HellaSwagExample.NumEndings;
    /// <summary>Token ids, (B, SeqLen) row-major in the first B·SeqLen entries.</summary>
    public int[] Inputs { get; }
    public int[] Targets { get; }
    /// <summary>1 where the position's target is an ending token, else 0.</summary>
    public byte[] Mask { get; }
    /// <summary>Examples packed by the last <see cref="Pack"/>.</summary>
    public int Count { get; private set; }

    public HellaSwagBatch(int batchSize, int maxSeqLen)
    {
        if (batchSize < HellaSwagExample.NumEndings)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, $"HellaSwag needs a batch of at least {HellaSwagExample.NumEndings} rows (one per ending)");
        if (maxSeqLen < 2) throw new ArgumentOutOfRangeException(nameof(maxSeqLen), maxSeqLen, "sequence length must be at least 2");
        BatchSize = batchSize;
        MaxSeqLen = SeqLen = maxSeqLen;
        Inputs = new int[batchSize * maxSeqLen];
        Targets = new int[batchSize * maxSeqLen];
        Mask = new byte[batchSize * maxSeqLen];
    }

    /// <summary>
    /// Packs up to <see cref="Capacity"/> examples into rows of <paramref name="seqLen"/> positions
    /// (default <see cref="MaxSeqLen"/>); throws if one does not fit.
    /// </summary>
    public void Pack(ReadOnlySpan<HellaSwagExample> examples, int seqLen = 0)
    {
        if (examples.Length > Capacity)
            throw new ArgumentException($"{examples.Length} examples do not fit a batch of {BatchSize} rows ({Capacity} examples)");
        if (seqLen == 0) seqLen = MaxSeqLen;
        if (seqLen < 2 || seqLen > MaxSeqLen)
            throw new ArgumentOutOfRangeException(nameof(seqLen), seqLen, $"must be 2..{MaxSeqLen}");
        SeqLen = seqLen;
        Array.Clear(Inputs);
        Array.Clear(Targets);
        Array.Clear(Mask);
        int T = SeqLen;
        for (int i = 0; i < examples.Length; i++)
        {
            var ex = examples[i];
            if (ex.RequiredSeqLen > T)
                throw new ArgumentException($"example {ex.Index} needs a sequence length of at least {ex.RequiredSeqLen} (context {ex.Context.Length} + longest ending + 1) but T is {T}");
            int ctxLen = ex.Context.Length;
            for (int c = 0; c < HellaSwagExample.NumEndings; c++)
            {
                int row = (i * HellaSwagExample.NumEndings + c) * T;
                var ending = ex.Endings[c];
                ex.Context.CopyTo(Inputs, row);
                ending.CopyTo(Inputs, row + ctxLen);
                // The ending's tokens are the targets of the positions one before them.
                Array.Copy(ex.Context, 1, Targets, row, ctxLen - 1);
                for (int j = 0; j < ending.Length; j++)
                {
                    Targets[row + ctxLen - 1 + j] = ending[j];
                    Mask[row + ctxLen - 1 + j] = 1;
                }
            }
        }
        Count = examples.Length;
    }

    /// <summary>
    /// The mean loss over each masked row of the packed examples, from the per-position losses of the
    /// forward pass. Sums in float in position order, as llm.c does.
    /// </summary>
    public float[] MeanLosses(int example, ReadOnlySpan<float> losses)
    {
        var means = new float[HellaSwagExample.NumEndings];
        for (int c = 0; c < HellaSwagExample.NumEndings; c++)
        {
            int row = (example * HellaSwagExample.NumEndings + c) * SeqLen;
            float sum = 0;
            int count = 0;
            for (int t = 0; t < SeqLen; t++)
            {
                if (Mask[row + t] == 0) continue;
                sum += losses[row + t];
                count++;
            }
            means[c] = count > 0 ? sum / count : 0f;
        }
        return means;
    }

    /// <summary>True when the example has at least one ending token to score (llm.c counts only such examples as correct).</summary>
    public bool IsActive(int example)
    {
        var rows = Mask.AsSpan(example * HellaSwagExample.NumEndings * SeqLen, HellaSwagExample.NumEndings * SeqLen);
        return rows.IndexOf((byte)1) >= 0;
    }

    /// <summary>The ending with the lowest mean loss; the first one wins ties (strict &lt;, as llm.c).</summary>
    public static int ArgMin(ReadOnlySpan<float> meanLosses)
    {
        int best = 0;
        for (int c = 1; c < meanLosses.Length; c++)
            if (meanLosses[c] < meanLosses[best]) best = c;
        return best;
    }
}
