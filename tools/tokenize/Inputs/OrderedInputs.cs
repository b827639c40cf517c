using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace LlmNet.Tools.Tokenize.Inputs;

/// <summary>
/// The documents of several inputs, in input order, with up to <c>readers</c> inputs decoded at once:
/// each reader fills a small bounded queue of its own, and the queues are drained strictly in input
/// order. Decoding parquet (decompression, UTF-8 to strings) costs about a fifth of encoding, so on
/// many cores one reader alone would starve the encoders.
/// </summary>
public static class OrderedInputs
{
    private const int ChunkDocuments = 64;
    private const int ChunksAhead = 8;

    public static async IAsyncEnumerable<Document> ReadAsync(IReadOnlyList<string> inputs, DocumentPosition from, string column, int readers,
        [EnumeratorCancellation] CancellationToken ct)
    {
        if (readers <= 1)
        {
            // One reader: no queues needed.
            for (int i = from.Input; i < inputs.Count; i++)
                await foreach (var doc in InputFile.ReadAsync(inputs[i], i, column, StartOf(i, from), ct))
                    yield return doc;
            yield break;
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var started = new Queue<(Task Reader, ChannelReader<Document[]> Chunks)>();
        int next = from.Input;
        void StartNext()
        {
            int i = next++;
            var chunks = Channel.CreateBounded<Document[]>(new BoundedChannelOptions(ChunksAhead) { SingleReader = true, SingleWriter = true });
            started.Enqueue((Task.Run(() => FillAsync(inputs[i], i, column, StartOf(i, from), chunks.Writer, stop.Token)), chunks.Reader));
        }

        try
        {
            while (next < inputs.Count && started.Count < readers) StartNext();
            while (started.TryDequeue(out var current))
            {
                await foreach (var chunk in current.Chunks.ReadAllAsync(ct))
                    foreach (var doc in chunk) yield return doc;
                await current.Reader; // surfaces the reader's failure, in input order
                if (next < inputs.Count) StartNext();
            }
        }
        finally
        {
            stop.Cancel();
            foreach (var (reader, _) in started)
                try { await reader; } catch (Exception) { /* abandoned read-ahead; its result is not wanted */ }
        }
    }

    private static DocumentPosition StartOf(int input, DocumentPosition from) => input == from.Input ? from : new DocumentPosition(input, 0, 0);

    private static async Task FillAsync(string path, int input, string column, DocumentPosition start, ChannelWriter<Document[]> output, CancellationToken ct)
    {
        try
        {
            var chunk = new List<Document>(ChunkDocuments);
            await foreach (var doc in InputFile.ReadAsync(path, input, column, start, ct))
            {
                chunk.Add(doc);
                if (chunk.Count == ChunkDocuments)
                {
                    await output.WriteAsync([.. chunk], ct);
                    chunk.Clear();
                }
            }
            if (chunk.Count > 0) await output.WriteAsync([.. chunk], ct);
            output.Complete();
        }
        catch (Exception e)
        {
            output.TryComplete(e);
            throw;
        }
    }
}
