using LlmNet.Common.Cli;
using LlmNet.Common.Formats;
using LlmNet.Tools.Tokenize.Inputs;

namespace LlmNet.Tools.Tokenize;

/// <summary>A shard just committed, and where the token stream continues after it.</summary>
public readonly record struct ShardWritten(int Index, string Path, long Tokens, DocumentPosition NextDocument, long NextTokenOffset);

/// <summary>
/// Lays documents out into shards exactly as llm.c's dev/data/fineweb.py does: a document (EOT and
/// its tokens) is appended whole while count + length &lt; shard size (strict); otherwise the shard is
/// filled to exactly the shard size and written, and the rest of the document starts the next shard.
/// Shard 0 is "val", the others "train"; the last shard holds the remainder. Unlike fineweb.py, a
/// document longer than a whole shard simply keeps filling shards instead of failing.
/// Ids are written as uint16 or uint32 by <paramref name="format"/> (the tokenizer's vocabulary decides).
/// </summary>
public sealed class ShardPacker(string directory, string prefix, long shardSize, int firstShardIndex, Action<ShardWritten> onShardWritten,
    ShardFormat? format = null) : IDisposable
{
    private readonly ShardFormat _format = format ?? ShardFormat.UInt16;
    private ushort[] _narrow = [];
    private TokenShardWriter? _current;

    public int NextShardIndex { get; private set; } = firstShardIndex;

    /// <summary>Tokens in the shard being filled.</summary>
    public long PendingTokens => _current?.Count ?? 0;

    public static string ShardName(string prefix, int index) => $"{prefix}_{(index == 0 ? "val" : "train")}_{index:D6}.bin";

    /// <summary>
    /// Appends one document's tokens (EOT first). <paramref name="skip"/> tokens of it are already in
    /// earlier shards (a resumed run re-reads the document that was split across the last boundary).
    /// </summary>
    public void Add(ReadOnlySpan<uint> document, DocumentPosition position, int skip = 0)
    {
        var rest = document[skip..];
        int consumed = skip;
        while (PendingTokens + rest.Length >= shardSize)
        {
            int take = (int)(shardSize - PendingTokens);
            Write(rest[..take]);
            rest = rest[take..];
            consumed += take;
            Commit(position, consumed);
        }
        if (rest.Length > 0) Write(rest);
    }

    /// <summary>Writes the last, partial shard (if any tokens are pending).</summary>
    public void Finish(DocumentPosition end)
    {
        if (_current is not null) Commit(end, 0);
    }

    private string CurrentPath => Path.Combine(directory, ShardName(prefix, NextShardIndex));

    private void Write(ReadOnlySpan<uint> tokens)
    {
        try
        {
            _current ??= new TokenShardWriter(CurrentPath, _format);
            if (_format == ShardFormat.UInt32) { _current.Write(tokens); return; }
            // The tokenizer's vocabulary fits uint16 (ShardFormat.ForVocabulary), so narrowing loses nothing.
            if (_narrow.Length < tokens.Length) _narrow = new ushort[Math.Max(tokens.Length, 1 << 16)];
            for (int i = 0; i < tokens.Length; i++) _narrow[i] = (ushort)tokens[i];
            _current.Write(_narrow.AsSpan(0, tokens.Length));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw WriteFailed(e);
        }
    }

    private void Commit(DocumentPosition position, long tokenOffset)
    {
        var shard = _current!;
        try { shard.Commit(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw WriteFailed(e); }
        _current = null;
        onShardWritten(new ShardWritten(NextShardIndex, shard.Path, shard.Count, position, tokenOffset));
        NextShardIndex++;
    }

    private ToolException WriteFailed(Exception e)
    {
        Dispose();
        return new ToolException($"{CurrentPath}: writing the shard failed ({e.Message.TrimEnd('.')}). " +
            "The unfinished shard was removed; free disk space (or fix the output directory) and re-run the same command to resume", e);
    }

    /// <summary>Drops the unfinished shard (its temporary file is deleted).</summary>
    public void Dispose()
    {
        _current?.Dispose();
        _current = null;
    }
}
