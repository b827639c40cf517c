using System.Buffers;
using System.Text;

namespace LlmNet.Common.Text;

/// <summary>
/// tiktoken's byte-pair merge for one piece: start from single bytes and repeatedly merge the
/// adjacent pair whose concatenation has the lowest rank (leftmost on ties) until no pair is a
/// token. In GPT-2 a token's rank is its id.
/// </summary>
/// <remarks>
/// Every part is always a token, so "the rank of the concatenated bytes" is precomputed as a table
/// from (left id, right id) to merged id over every way of splitting every token in two. Short
/// pieces use tiktoken's linear scan; long ones (runs of symbols, long numbers) a heap, so a
/// pathological document costs O(n log n) instead of O(n²).
/// </remarks>
internal sealed class BytePairMerger
{
    private const int NoMerge = int.MaxValue;
    private const int LinearScanLimit = 64;

    private readonly int[] _byteToken = new int[256];
    private readonly Dictionary<long, int> _merges;

    public BytePairMerger(byte[][] tokenBytes)
    {
        // Keys of the lookup by bytes are Latin-1 strings: one char per byte.
        var byBytes = new Dictionary<string, int>(tokenBytes.Length, StringComparer.Ordinal);
        for (int id = 0; id < tokenBytes.Length; id++) byBytes[Encoding.Latin1.GetString(tokenBytes[id])] = id;
        for (int b = 0; b < 256; b++)
            _byteToken[b] = byBytes.TryGetValue(((char)b).ToString(), out int id) ? id
                : throw new InvalidOperationException($"GPT-2 ranks have no token for byte {b}");

        _merges = new Dictionary<long, int>(tokenBytes.Length * 4);
        for (int id = 0; id < tokenBytes.Length; id++)
        {
            string bytes = Encoding.Latin1.GetString(tokenBytes[id]);
            for (int split = 1; split < bytes.Length; split++)
                if (byBytes.TryGetValue(bytes[..split], out int left) && byBytes.TryGetValue(bytes[split..], out int right))
                    _merges[Key(left, right)] = id;
        }
    }

    /// <summary>The ids of one pre-tokenized piece (its UTF-8 bytes merged).</summary>
    public int[] Encode(ReadOnlySpan<char> piece)
    {
        int maxBytes = Encoding.UTF8.GetMaxByteCount(piece.Length);
        byte[] rented = ArrayPool<byte>.Shared.Rent(maxBytes);
        int[] parts = ArrayPool<int>.Shared.Rent(maxBytes);
        try
        {
            int count = Encoding.UTF8.GetBytes(piece, rented);
            for (int i = 0; i < count; i++) parts[i] = _byteToken[rented[i]];
            int n = count <= LinearScanLimit ? MergeLinear(parts.AsSpan(0, count)) : MergeWithHeap(parts.AsSpan(0, count));
            return parts.AsSpan(0, n).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
            ArrayPool<int>.Shared.Return(parts);
        }
    }

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    private int Rank(int left, int right) => _merges.TryGetValue(Key(left, right), out int id) ? id : NoMerge;

    /// <summary>Merges in place; returns the number of parts left.</summary>
    internal int MergeLinear(Span<int> parts)
    {
        int n = parts.Length;
        if (n < 2) return n;
        // ranks[i] is the merged id of parts[i] and parts[i+1].
        Span<int> ranks = n <= 256 ? stackalloc int[n - 1] : new int[n - 1];
        for (int i = 0; i < n - 1; i++) ranks[i] = Rank(parts[i], parts[i + 1]);
        while (n > 1)
        {
            int best = -1, bestRank = NoMerge;
            for (int i = 0; i < n - 1; i++)
                if (ranks[i] < bestRank) { bestRank = ranks[i]; best = i; }
            if (best < 0) break;
            parts[best] = bestRank;
            parts[(best + 2)..n].CopyTo(parts[(best + 1)..]);
            ranks[(best + 1)..(n - 1)].CopyTo(ranks[best..]);
            n--;
            if (best > 0) ranks[best - 1] = Rank(parts[best - 1], parts[best]);
            if (best < n - 1) ranks[best] = Rank(parts[best], parts[best + 1]);
        }
        return n;
    }

    /// <summary>The same merges driven by a min-heap of (rank, position); stale entries are skipped.</summary>
    internal int MergeWithHeap(Span<int> parts)
    {
        int n = parts.Length;
        if (n < 2) return n;
        var ids = parts.ToArray();
        var next = new int[n];
        var prev = new int[n];
        for (int i = 0; i < n; i++) { next[i] = i + 1; prev[i] = i - 1; }
        // Ties on rank pop the leftmost position first, as the linear scan picks the leftmost pair.
        var heap = new PriorityQueue<(int Left, int Right), (int Rank, int Left)>();
        for (int i = 0; i < n - 1; i++)
        {
            int r = Rank(ids[i], ids[i + 1]);
            if (r != NoMerge) heap.Enqueue((i, i + 1), (r, i));
        }
        while (heap.TryDequeue(out var pair, out var key))
        {
            int left = pair.Left, right = pair.Right;
            // Stale: the left part was merged away, or its neighbour changed since this entry was made.
            if (ids[left] < 0 || next[left] != right || ids[right] < 0 || Rank(ids[left], ids[right]) != key.Rank) continue;
            ids[left] = key.Rank;
            ids[right] = -1;
            int after = next[right];
            next[left] = after;
            if (after < n) prev[after] = left;
            if (prev[left] >= 0)
            {
                int r = Rank(ids[prev[left]], ids[left]);
                if (r != NoMerge) heap.Enqueue((prev[left], left), (r, prev[left]));
            }
            if (after < n)
            {
                int r = Rank(ids[left], ids[after]);
                if (r != NoMerge) heap.Enqueue((left, after), (r, left));
            }
        }
        int count = 0;
        for (int i = 0; i < n; i = next[i]) parts[count++] = ids[i];
        return count;
    }
}
