namespace LlmNet.Cuda;

/// <summary>
/// Positions grouped by token for the deterministic wte backward, as one int array uploaded per micro-step:
/// [tokens(nb) | starts(nb+1) | positions(bt) | chunkStarts(nb+1) | chunkRanges(2·nc)]. Positions are ascending
/// inside a bucket and buckets run largest first. A bucket of more than <see cref="ChunkPositions"/> positions is
/// also cut into chunks of that many (chunkStarts[k]..chunkStarts[k+1] are bucket k's chunks, each a [begin, end)
/// range into positions): one kernel sums every chunk in parallel, the next adds a bucket's chunk sums in order, so
/// a token that fills a tenth of the batch no longer serialises one block over thousands of rows.
/// </summary>
internal sealed class TokenBuckets
{
    public const int ChunkPositions = 32;

    private TokenBuckets(int[] host, int count, int chunks, int positions)
    {
        Host = host;
        Count = count;
        Chunks = chunks;
        PositionCount = positions;
    }

    public int[] Host { get; }
    /// <summary>Distinct tokens (nb).</summary>
    public int Count { get; }
    /// <summary>Chunks of the large buckets (nc).</summary>
    public int Chunks { get; }
    public int PositionCount { get; }

    public int TokensOffset => 0;
    public int StartsOffset => Count;
    public int PositionsOffset => 2 * Count + 1;
    public int ChunkStartsOffset => 2 * Count + 1 + PositionCount;
    public int ChunkRangesOffset => 3 * Count + 2 + PositionCount;

    /// <summary>Chunks at most: buckets above the chunk size hold fewer than bt / ChunkPositions of them, plus one partial chunk each.</summary>
    public static int MaxChunks(long positions) => checked((int)(2 * (positions / ChunkPositions) + 1));

    /// <summary>Upper bound of <see cref="Host"/>'s length for bt positions (every token distinct: nb = bt).</summary>
    public static long MaxInts(long positions) => 4 * positions + 2 + 2L * MaxChunks(positions);

    public static TokenBuckets Build(ReadOnlySpan<int> inputs)
    {
        int bt = inputs.Length;
        int[] order = new int[bt];
        for (int i = 0; i < bt; i++) order[i] = i;
        int[] keys = inputs.ToArray();
        Array.Sort(keys, order);
        var buckets = new List<(int Token, int Start, int Count)>();
        for (int i = 0; i < bt;)
        {
            int j = i;
            while (j < bt && keys[j] == keys[i]) j++;
            Array.Sort(order, i, j - i);
            buckets.Add((keys[i], i, j - i));
            i = j;
        }
        buckets.Sort((a, b) => a.Count != b.Count ? b.Count.CompareTo(a.Count) : a.Token.CompareTo(b.Token));
        int nb = buckets.Count, nc = 0;
        foreach (var b in buckets)
            if (b.Count > ChunkPositions) nc += (b.Count + ChunkPositions - 1) / ChunkPositions;

        int[] host = new int[3 * nb + 2 + bt + 2 * nc];
        int positions = 2 * nb + 1, chunkStarts = positions + bt, chunkRanges = chunkStarts + nb + 1;
        int cursor = 0, chunk = 0;
        for (int k = 0; k < nb; k++)
        {
            var b = buckets[k];
            host[k] = b.Token;
            host[nb + k] = cursor;
            Array.Copy(order, b.Start, host, positions + cursor, b.Count);
            host[chunkStarts + k] = chunk;
            if (b.Count > ChunkPositions)
                for (int begin = cursor; begin < cursor + b.Count; begin += ChunkPositions, chunk++)
                {
                    host[chunkRanges + 2 * chunk] = begin;
                    host[chunkRanges + 2 * chunk + 1] = Math.Min(begin + ChunkPositions, cursor + b.Count);
                }
            cursor += b.Count;
        }
        host[2 * nb] = cursor;
        host[chunkStarts + nb] = chunk;
        return new TokenBuckets(host, nb, nc, bt);
    }
}
