using LlmNet.Common.Text;
using LlmNet.Tools.Tokenize.Inputs;

namespace LlmNet.Tools.Tokenize;

/// <summary>
/// A run of consecutive documents encoded together on one worker: their tokens back to back (each
/// document is EOT then its ordinary encoding), where each document ends, and where each came from.
/// The texts are not kept: once encoded, only positions are needed.
/// </summary>
public sealed class EncodedBatch
{
    [ThreadStatic] private static List<int>? t_ids;

    private EncodedBatch(uint[] tokens, int[] ends, DocumentPosition[] positions, long[] inputBytesDone)
    {
        Tokens = tokens;
        Ends = ends;
        Positions = positions;
        InputBytesDone = inputBytesDone;
    }

    public uint[] Tokens { get; }
    /// <summary>Ends[i] is the index just past document i's last token in <see cref="Tokens"/>.</summary>
    public int[] Ends { get; }
    public DocumentPosition[] Positions { get; }
    /// <summary>Bytes of its input read once document i was taken (for progress).</summary>
    public long[] InputBytesDone { get; }
    public int Count => Positions.Length;

    public ReadOnlySpan<uint> DocumentTokens(int i) => Tokens.AsSpan((i == 0 ? 0 : Ends[i - 1])..Ends[i]);

    public static EncodedBatch Encode(Document[] documents, ITextTokenizer tokenizer)
    {
        var ids = t_ids ??= new List<int>(1 << 16);
        long chars = 0;
        foreach (var d in documents) chars += d.Text.Length;
        // English runs at about 4 characters per token; the buffer grows if a batch needs more.
        var tokens = new uint[chars / 3 + documents.Length + 16];
        var ends = new int[documents.Length];
        int count = 0;
        for (int i = 0; i < documents.Length; i++)
        {
            ids.Clear();
            ids.Add(tokenizer.EndOfText);
            tokenizer.EncodeTo(documents[i].Text, ids);
            if (count + ids.Count > tokens.Length) Array.Resize(ref tokens, Math.Max(tokens.Length * 2, count + ids.Count));
            for (int k = 0; k < ids.Count; k++) tokens[count + k] = (uint)ids[k];
            count += ids.Count;
            ends[i] = count;
        }
        if (ids.Capacity > 1 << 22) t_ids = null; // do not pin the memory of one giant document
        return new EncodedBatch(tokens, ends, [.. documents.Select(d => d.Position)], [.. documents.Select(d => d.InputBytesDone)]);
    }
}
