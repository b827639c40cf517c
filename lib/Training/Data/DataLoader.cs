using LlmNet.Common.Formats;
using LlmNet.Model.Random;

namespace LlmNet.Training.Data;

/// <summary>
/// llm.c's distributed token loader (llmc/dataloader.h): shards from a glob in sorted order, one "sample" of
/// nproc·B·T tokens per step in which rank r reads the B·T+1 window starting at its own slice, and
/// optionally a per-epoch mt19937 shuffle (seed 42 + rank) of the shard order and of the samples inside
/// each shard. Positions, permutations and the RNG can be saved and restored for bitwise resume.
/// </summary>
public sealed class DataLoader : IDisposable
{
    private readonly IReadOnlyList<string> _files;
    private readonly int _rank, _processes;
    private Mt19937 _rng;
    private int[] _shardIndices;
    private int[] _intraShardIndices = [];
    private MappedTokenShard? _shard;
    private readonly int[] _buffer; // ids of either shard width, widened

    /// <param name="vocabSize">
    /// When given, every shard's token ids are checked against it at construction (<see cref="MappedTokenShard.CheckIds"/>),
    /// so an id the model cannot embed stops the run before its first step instead of when a batch reaches it.
    /// </param>
    public DataLoader(string pattern, int batchSize, int seqLen, int rank, int processes, bool shuffle, int? vocabSize = null)
    {
        if (batchSize <= 0 || seqLen <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), "B and T must be positive");
        if (processes <= 0 || rank < 0 || rank >= processes) throw new ArgumentOutOfRangeException(nameof(rank), $"rank {rank} of {processes}");
        B = batchSize;
        T = seqLen;
        _rank = rank;
        _processes = processes;
        Shuffle = shuffle;
        Pattern = pattern;
        _files = ShardGlob.Expand(pattern);
        if (_files.Count == 0)
            throw new DataFormatException(pattern, "no file matches this shard pattern", "Check the path, or create the shards with llm-tokenize");

        // Validate every shard up front, as llm.c does, so a bad file fails at start and not hours later.
        long needed = (long)processes * B * T + 1;
        foreach (string file in _files)
        {
            int ntok = TokenShard.ReadHeader(file);
            if (ntok < needed)
                throw new DataFormatException(file, $"holds {ntok} tokens, fewer than the {needed} one step needs (processes·B·T+1)",
                    "Use a smaller batch size or sequence length, or a larger shard");
            if (vocabSize is int v)
            {
                using var shard = TokenShard.Open(file);
                shard.CheckIds(v);
            }
            NumTokens += ntok;
        }
        _shardIndices = new int[_files.Count];
        for (int i = 0; i < _shardIndices.Length; i++) _shardIndices[i] = i;
        _rng = new Mt19937((uint)(42 + rank));
        _buffer = new int[B * T + 1];
        Inputs = new int[B * T];
        Targets = new int[B * T];
        Reset();
    }

    public string Pattern { get; }
    public int B { get; }
    public int T { get; }
    public bool Shuffle { get; }
    public IReadOnlyList<string> Files => _files;
    /// <summary>Sum of the token counts of all shards.</summary>
    public long NumTokens { get; }
    /// <summary>Position in the (possibly permuted) shard order.</summary>
    public int CurrentShardIndex { get; private set; }
    /// <summary>Samples already read from the current shard.</summary>
    public int CurrentSampleIndex { get; private set; }
    /// <summary>Number of full nproc·B·T samples in the current shard: floor((ntok−1)/(nproc·B·T)).</summary>
    public int ShardNumSamples { get; private set; }
    /// <summary>The last batch: inputs[b·T+t] and targets (shifted by one token).</summary>
    public int[] Inputs { get; }
    public int[] Targets { get; }
    /// <summary>The file index each shard position maps to (identity without shuffling).</summary>
    public ReadOnlySpan<int> ShardIndices => _shardIndices;
    /// <summary>The sample order inside the current shard (empty without shuffling).</summary>
    public ReadOnlySpan<int> IntraShardIndices => _intraShardIndices;

    /// <summary>Starts a new epoch: position 0, and with shuffling a new shard order and intra-shard order.</summary>
    public void Reset()
    {
        CurrentShardIndex = 0;
        CurrentSampleIndex = 0;
        if (Shuffle) Permute(_shardIndices, _rng);
        LoadShard(CurrentShardIndex);
        if (Shuffle) PrepareIntraShardIndices();
    }

    /// <summary>Reads the next B·T batch into <see cref="Inputs"/>/<see cref="Targets"/>.</summary>
    public void NextBatch()
    {
        if (CurrentSampleIndex >= ShardNumSamples) Advance();
        LoadBatch();
        CurrentSampleIndex++;
    }

    private void Advance()
    {
        if (CurrentShardIndex == _files.Count - 1) { Reset(); return; }
        CurrentShardIndex++;
        CurrentSampleIndex = 0;
        LoadShard(CurrentShardIndex);
        if (Shuffle) PrepareIntraShardIndices();
    }

    private void LoadShard(int position)
    {
        _shard?.Dispose();
        _shard = TokenShard.Open(_files[_shardIndices[position]]);
        ShardNumSamples = (int)((_shard.TokenCount - 1L) / ((long)_processes * B * T));
    }

    private void PrepareIntraShardIndices()
    {
        _intraShardIndices = new int[ShardNumSamples];
        for (int i = 0; i < _intraShardIndices.Length; i++) _intraShardIndices[i] = i;
        Permute(_intraShardIndices, _rng);
    }

    private void LoadBatch()
    {
        long sample = Shuffle ? _intraShardIndices[CurrentSampleIndex] : CurrentSampleIndex;
        long start = sample * _processes * B * T + (long)_rank * B * T;
        _shard!.Read(start, _buffer);
        for (int i = 0; i < B * T; i++)
        {
            Inputs[i] = _buffer[i];
            Targets[i] = _buffer[i + 1];
        }
    }

    /// <summary>Fisher–Yates as llm.c's random_permutation: for i = n−1..1, j = u32 mod (i+1), swap.</summary>
    public static void Permute(Span<int> data, Mt19937 rng)
    {
        for (int i = data.Length - 1; i > 0; i--)
        {
            int j = (int)(rng.NextUInt32() % (uint)(i + 1));
            (data[i], data[j]) = (data[j], data[i]);
        }
    }

    /// <summary>Everything needed to continue exactly where this loader is (the state file's loader part).</summary>
    public DataLoaderState SaveState()
    {
        byte[] rng = new byte[Mt19937.RawStateBytes];
        _rng.WriteRawState(rng);
        return new DataLoaderState(Shuffle, CurrentShardIndex, CurrentSampleIndex,
            Shuffle ? [.. _shardIndices] : [], Shuffle ? [.. _intraShardIndices] : [], Shuffle ? rng : []);
    }

    /// <summary>Continues from a saved state: position, permutations and RNG, then reloads the current shard.</summary>
    public void RestoreState(DataLoaderState state)
    {
        if (state.Shuffle != Shuffle)
            throw new InvalidDataException($"the saved loader state was {(state.Shuffle ? "" : "not ")}shuffled but this loader is {(Shuffle ? "" : "not ")}shuffled");
        if (state.ShardIndex < 0 || state.ShardIndex >= _files.Count)
            throw new InvalidDataException($"saved shard position {state.ShardIndex} is outside the {_files.Count} shards of {Pattern}");
        if (Shuffle)
        {
            if (state.ShardIndices.Length != _files.Count)
                throw new InvalidDataException($"the saved state covers {state.ShardIndices.Length} shards but {Pattern} matches {_files.Count}");
            _shardIndices = [.. state.ShardIndices];
            _intraShardIndices = [.. state.IntraShardIndices];
            _rng = Mt19937.FromRawState(state.RngState);
        }
        CurrentShardIndex = state.ShardIndex;
        CurrentSampleIndex = state.SampleIndex;
        LoadShard(CurrentShardIndex);
        if (Shuffle && _intraShardIndices.Length != ShardNumSamples)
            throw new InvalidDataException($"the saved state has {_intraShardIndices.Length} samples for shard {_files[_shardIndices[CurrentShardIndex]]}, which now has {ShardNumSamples}");
    }

    public void Dispose() => _shard?.Dispose();
}

/// <summary>
/// The loader part of llm.c's state file (train_gpt2.cu: save_state, load_state; llmc/dataloader.h: dataloader_resume):
/// position, and with shuffling the permutations and the raw mt19937 state.
/// </summary>
public sealed record DataLoaderState(bool Shuffle, int ShardIndex, int SampleIndex, int[] ShardIndices, int[] IntraShardIndices, byte[] RngState);
