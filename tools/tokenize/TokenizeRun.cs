using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using LlmNet.Common.Cli;
using LlmNet.Common.Formats;
using LlmNet.Common.Text;
using LlmNet.Tools.Tokenize.Inputs;

namespace LlmNet.Tools.Tokenize;

/// <summary>What one tokenize run is asked to do.</summary>
public sealed record TokenizeSettings(IReadOnlyList<string> Inputs, string OutputDirectory, string Prefix = TokenizeSettings.DefaultPrefix,
    long ShardSize = TokenizeSettings.DefaultShardSize, string Column = "text", int Threads = 0, bool Restart = false,
    string Tokenizer = TokenizerCatalog.Default)
{
    public const string DefaultPrefix = "edu_fineweb";
    public const long DefaultShardSize = 100_000_000;
}

/// <summary>Counters of a run in progress (cumulative over resumed runs).</summary>
public readonly record struct TokenizeProgress(long Documents, long Tokens, int ShardsWritten, long InputBytesDone, long InputBytesTotal,
    long DocumentsThisRun, long TokensThisRun, TimeSpan Elapsed);

/// <summary>How a run ended.</summary>
public sealed record TokenizeResult(bool AlreadyComplete, bool Resumed, int Shards, long Documents, long Tokens, long DocumentsThisRun, long TokensThisRun, TimeSpan Elapsed);

/// <summary>
/// Tokenizes documents into llm.c shards. One task reads documents in input order and cuts them into
/// batches; each batch is encoded on its own worker (up to one per core); the calling thread takes
/// the encoded batches back in order and lays them into shards. Order is therefore deterministic, and
/// memory is bounded by the number of batches in flight (two per worker), never by the corpus.
/// </summary>
public sealed class TokenizeRun(TokenizeSettings settings)
{
    private const int BatchDocuments = 256;
    private const long BatchChars = 1 << 21;

    public event Action<TokenizeProgress>? Progress;
    public event Action<ShardWritten>? ShardWritten;

    private ITextTokenizer _tokenizer = Gpt2Tokenizer.Shared;
    private ShardFormat _format = ShardFormat.UInt16;

    public async Task<TokenizeResult> RunAsync(CancellationToken ct)
    {
        _tokenizer = TokenizerCatalog.Open(settings.Tokenizer);
        // Vocabularies above 65,536 ids need llm.c's uint32 shards (dev/data/data_common.py, as for LLaMA-3).
        _format = ShardFormat.ForVocabulary(_tokenizer.VocabSize);
        if (settings.ShardSize < 1 || settings.ShardSize > _format.MaxTokens)
            throw new UsageException($"--shard-size {settings.ShardSize} is out of range; a {_format} shard holds 1..{_format.MaxTokens} tokens");
        if (settings.Prefix.Length == 0 || settings.Prefix.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || settings.Prefix.Contains('/'))
            throw new UsageException($"--prefix \"{settings.Prefix}\" is not a valid file name prefix");
        var inputs = ValidateInputs();
        int threads = settings.Threads > 0 ? settings.Threads : Environment.ProcessorCount;

        string dir = Path.GetFullPath(settings.OutputDirectory);
        using var outputLock = OutputDirectory.Lock(dir, settings.Prefix);
        OutputDirectory.RemoveStaleTemporaries(dir, settings.Prefix);
        string manifestPath = ProgressManifest.PathFor(dir, settings.Prefix);
        var fingerprints = inputs.Select(InputFingerprint.Of).ToList();

        var manifest = settings.Restart ? null : ProgressManifest.Load(manifestPath);
        if (settings.Restart) OutputDirectory.RemoveRun(dir, settings.Prefix, manifestPath);
        if (manifest is not null)
        {
            if (manifest.Mismatch(settings.Prefix, settings.ShardSize, settings.Column, _tokenizer.Name, fingerprints) is { } why)
                throw new ToolException($"{manifestPath}: records a different run ({why}). Re-run with --restart to start over, or use another --out or --prefix");
            if (manifest.Complete)
                return new TokenizeResult(true, true, manifest.ShardsWritten, manifest.DocumentsStarted, manifest.TokensWritten, 0, 0, TimeSpan.Zero);
        }
        else if (OutputDirectory.ExistingShards(dir, settings.Prefix) is { Count: > 0 } existing)
        {
            throw new ToolException($"{dir}: already holds {existing.Count} shard(s) named {settings.Prefix}_* (e.g. {Path.GetFileName(existing[0])}) but no {Path.GetFileName(manifestPath)} to resume from. " +
                "Re-run with --restart to replace them, or use another --out or --prefix");
        }

        manifest ??= new ProgressManifest
        {
            Prefix = settings.Prefix, ShardSize = settings.ShardSize, Column = settings.Column, Tokenizer = _tokenizer.Name, Inputs = fingerprints,
            Next = new DocumentPosition(0, 0, 0),
        };
        bool resumed = manifest.ShardsWritten > 0;
        return await RunFromAsync(dir, manifestPath, manifest, inputs, threads, resumed, ct);
    }

    private async Task<TokenizeResult> RunFromAsync(string dir, string manifestPath, ProgressManifest start, IReadOnlyList<string> inputs,
        int threads, bool resumed, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        // bytesBefore[i]: bytes of all inputs before input i, for the progress fraction.
        long[] bytesBefore = new long[inputs.Count + 1];
        for (int i = 0; i < inputs.Count; i++) bytesBefore[i + 1] = bytesBefore[i] + new FileInfo(inputs[i]).Length;
        long bytesTotal = bytesBefore[^1];
        var state = start;
        long documents = start.DocumentsStarted, tokens = start.TokensWritten;
        long documentsThisRun = 0, tokensThisRun = 0, bytesDone = 0;
        TimeSpan lastReport = TimeSpan.Zero;

        void Report(bool force)
        {
            if (!force && clock.Elapsed - lastReport < TimeSpan.FromMilliseconds(250)) return;
            lastReport = clock.Elapsed;
            Progress?.Invoke(new TokenizeProgress(documents, tokens, state.ShardsWritten, bytesDone, bytesTotal, documentsThisRun, tokensThisRun, clock.Elapsed));
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var batches = Channel.CreateBounded<Task<EncodedBatch>>(new BoundedChannelOptions(threads * 2) { SingleReader = true, SingleWriter = true });
        var producer = Task.Run(() => ProduceAsync(inputs, start.Next, threads, batches.Writer, stop.Token), stop.Token);

        long committedTokens = start.TokensWritten;
        using var packer = new ShardPacker(dir, settings.Prefix, settings.ShardSize, start.ShardsWritten, shard =>
        {
            committedTokens += shard.Tokens;
            state = state with
            {
                ShardsWritten = shard.Index + 1, TokensWritten = committedTokens, DocumentsStarted = documents,
                Next = shard.NextDocument, NextTokenOffset = shard.NextTokenOffset,
            };
            SaveManifest(state, manifestPath);
            ShardWritten?.Invoke(shard);
            Report(force: true);
        }, _format);

        var last = start.Next;
        try
        {
            bool first = true;
            await foreach (var pending in batches.Reader.ReadAllAsync(stop.Token))
            {
                var batch = await pending;
                for (int i = 0; i < batch.Count; i++)
                {
                    stop.Token.ThrowIfCancellationRequested();
                    var position = batch.Positions[i];
                    int skip = first && position == start.Next ? (int)start.NextTokenOffset : 0;
                    first = false;
                    var docTokens = batch.DocumentTokens(i);
                    if (skip == 0) { documents++; documentsThisRun++; }
                    tokens += docTokens.Length - skip;
                    tokensThisRun += docTokens.Length - skip;
                    packer.Add(docTokens, position, skip);
                    last = position;
                    bytesDone = bytesBefore[position.Input] + batch.InputBytesDone[i];
                }
                Report(force: false);
            }
            if (documents == 0)
                throw new DataFormatException(inputs[0], "no documents in the inputs", "Check the inputs and --column");
            packer.Finish(last);
            state = state with { Complete = true, DocumentsStarted = documents, TokensWritten = committedTokens };
            SaveManifest(state, manifestPath);
        }
        catch (ChannelClosedException e) when (e.InnerException is not null)
        {
            ExceptionDispatchInfo.Capture(e.InnerException).Throw();
        }
        finally
        {
            stop.Cancel();
            try { await producer; } catch (Exception) { /* its failure, if any, was already delivered through the channel */ }
        }
        Report(force: true);
        return new TokenizeResult(false, resumed, state.ShardsWritten, documents, committedTokens, documentsThisRun, tokensThisRun, clock.Elapsed);
    }

    private static void SaveManifest(ProgressManifest manifest, string path)
    {
        try { manifest.Save(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ToolException($"{path}: writing the progress manifest failed ({e.Message.TrimEnd('.')}). " +
                "Finished shards are kept; free disk space and re-run the same command to resume", e);
        }
    }

    /// <summary>Reads documents in order, cuts batches and starts encoding each on a worker.</summary>
    private async Task ProduceAsync(IReadOnlyList<string> inputs, DocumentPosition from, int threads, ChannelWriter<Task<EncodedBatch>> output, CancellationToken ct)
    {
        // Not disposed: encodings still running release it after this method returns.
        var workers = new SemaphoreSlim(threads);
        try
        {
            var batch = new List<Document>(BatchDocuments);
            long chars = 0;
            // About one reader per four encoders keeps them fed (parquet decodes ~5x faster than GPT-2 encodes).
            int readers = Math.Clamp(threads / 4, 1, 8);
            await foreach (var doc in OrderedInputs.ReadAsync(inputs, from, settings.Column, readers, ct))
            {
                batch.Add(doc);
                chars += doc.Text.Length;
                if (batch.Count >= BatchDocuments || chars >= BatchChars)
                {
                    await DispatchAsync([.. batch]);
                    batch.Clear();
                    chars = 0;
                }
            }
            if (batch.Count > 0) await DispatchAsync([.. batch]);
            output.Complete();
        }
        catch (Exception e)
        {
            output.TryComplete(e);
        }

        async Task DispatchAsync(Document[] documents)
        {
            await workers.WaitAsync(ct);
            var encoding = Task.Run(() =>
            {
                try { return EncodedBatch.Encode(documents, _tokenizer); }
                finally { workers.Release(); }
            });
            await output.WriteAsync(encoding, ct);
        }
    }

    private List<string> ValidateInputs()
    {
        if (settings.Inputs.Count == 0) throw new UsageException("no INPUT given");
        var full = new List<string>();
        foreach (var input in settings.Inputs)
        {
            InputFile.KindOf(input);
            if (Directory.Exists(input)) throw new DataFormatException(input, "is a directory", "Give the input files themselves (a shell glob such as DIR/*.parquet works)");
            if (!File.Exists(input)) throw new DataFormatException(input, "no such file", "Check the path");
            full.Add(Path.GetFullPath(input));
        }
        return full;
    }
}
