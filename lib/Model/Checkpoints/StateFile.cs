using System.Buffers.Binary;
using System.Runtime.InteropServices;
using LlmNet.Common.Formats;
using LlmNet.Common.IO;
using LlmNet.Model.Random;

namespace LlmNet.Model.Checkpoints;

/// <summary>
/// Reads and writes llm.c's optimizer/data-loader state file (train_gpt2.cu: save_state, load_state): 256 int32 header
/// (magic 20240527, version 1, nproc, rank, use_master_weights, should_shuffle, step at [10], RNG states at [20..23],
/// loader position at [30..33]), then m, v, optional master, optional loader section.
/// </summary>
public static class StateFile
{
    public const int Magic = 20240527;
    public const int Version = 1;
    public const int HeaderBytes = 1024;

    public static void Write(string path, TrainingState state)
    {
        Validate(state);
        AtomicFile.Write(path, stream => WriteTo(stream, state));
    }

    /// <summary>Writes the file body to an open stream (no atomicity; see <see cref="Write"/>).</summary>
    public static void WriteTo(Stream stream, TrainingState state)
    {
        Validate(state);
        var header = new byte[HeaderBytes];
        var h = header.AsSpan();
        BinaryPrimitives.WriteInt32LittleEndian(h[0..], Magic);
        BinaryPrimitives.WriteInt32LittleEndian(h[4..], Version);
        BinaryPrimitives.WriteInt32LittleEndian(h[8..], state.NumProcesses);
        BinaryPrimitives.WriteInt32LittleEndian(h[12..], state.ProcessRank);
        BinaryPrimitives.WriteInt32LittleEndian(h[16..], state.UseMasterWeights ? 1 : 0);
        BinaryPrimitives.WriteInt32LittleEndian(h[20..], state.ShouldShuffle ? 1 : 0);
        BinaryPrimitives.WriteInt32LittleEndian(h[40..], state.Step);
        BinaryPrimitives.WriteUInt64LittleEndian(h[80..], state.RngState);
        BinaryPrimitives.WriteUInt64LittleEndian(h[88..], state.RngStateLastUpdate);
        BinaryPrimitives.WriteUInt64LittleEndian(h[120..], state.ShardIndex);
        BinaryPrimitives.WriteUInt64LittleEndian(h[128..], state.SampleIndex);
        stream.Write(header);
        WriteFloats(stream, state.M);
        WriteFloats(stream, state.V);
        if (state.Master is { } master) WriteFloats(stream, master);
        if (state.ShouldShuffle)
        {
            Span<byte> u64 = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(u64, (ulong)state.ShardIndices!.Length);
            stream.Write(u64);
            stream.Write(MemoryMarshal.AsBytes(state.ShardIndices.AsSpan()));
            BinaryPrimitives.WriteUInt64LittleEndian(u64, (ulong)state.IntraShardIndices!.Length);
            stream.Write(u64);
            stream.Write(MemoryMarshal.AsBytes(state.IntraShardIndices.AsSpan()));
            stream.Write(state.LoaderRngState);
        }
    }

    /// <summary>
    /// Reads a state file whose m/v/master hold <paramref name="shardParameterCount"/> floats each (N, or N/nproc
    /// under ZeRO-1: the file does not record it). Throws <see cref="DataFormatException"/> naming the file on any mismatch.
    /// </summary>
    public static TrainingState Read(string path, long shardParameterCount)
    {
        const string fix = "Resume from an earlier checkpoint or start fresh (-y 0)";
        FileStream fs;
        try { fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (FileNotFoundException) { throw new DataFormatException(path, "state file not found", fix); }
        catch (DirectoryNotFoundException) { throw new DataFormatException(path, "state file not found", fix); }
        using (fs)
        {
            if (fs.Length < HeaderBytes) throw new DataFormatException(path, $"file is {fs.Length} bytes, shorter than the state header (truncated?)", fix);
            var header = new byte[HeaderBytes];
            fs.ReadExactly(header);
            var h = header.AsSpan();
            int magic = BinaryPrimitives.ReadInt32LittleEndian(h[0..]);
            if (magic != Magic) throw new DataFormatException(path, $"bad magic {magic} (expected {Magic}); not an llm.c state file", fix);
            int version = BinaryPrimitives.ReadInt32LittleEndian(h[4..]);
            if (version != Version) throw new DataFormatException(path, $"unsupported state file version {version} (expected {Version})", fix);
            bool master = BinaryPrimitives.ReadInt32LittleEndian(h[16..]) != 0;
            bool shuffle = BinaryPrimitives.ReadInt32LittleEndian(h[20..]) != 0;
            if (shardParameterCount > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(shardParameterCount));
            long minimum = OptimizerEnd(shardParameterCount, master);
            if (fs.Length < minimum || (!shuffle && fs.Length != minimum))
                throw new DataFormatException(path, $"file is {fs.Length} bytes; {shardParameterCount} optimizer values per buffer need {minimum}{(shuffle ? " plus the loader section" : "")} (wrong model or truncated?)", fix);
            float[] m = ReadFloats(path, fs, shardParameterCount);
            float[] v = ReadFloats(path, fs, shardParameterCount);
            float[]? w = master ? ReadFloats(path, fs, shardParameterCount) : null;
            int[]? shards = null, intra = null;
            byte[]? rng = null;
            if (shuffle)
            {
                shards = ReadInts(path, fs);
                intra = ReadInts(path, fs);
                rng = new byte[Mt19937.RawStateBytes];
                ReadExactly(path, fs, rng);
                if (fs.Position != fs.Length) throw new DataFormatException(path, $"{fs.Length - fs.Position} unexpected bytes after the loader state (wrong model size or corrupt?)", fix);
                if (!IsPermutation(shards) || !IsPermutation(intra))
                    throw new DataFormatException(path, "the loader's shuffle indices are not permutations (wrong model size or corrupt?)", fix);
            }
            return new TrainingState
            {
                NumProcesses = BinaryPrimitives.ReadInt32LittleEndian(h[8..]),
                ProcessRank = BinaryPrimitives.ReadInt32LittleEndian(h[12..]),
                ShouldShuffle = shuffle,
                Step = BinaryPrimitives.ReadInt32LittleEndian(h[40..]),
                RngState = BinaryPrimitives.ReadUInt64LittleEndian(h[80..]),
                RngStateLastUpdate = BinaryPrimitives.ReadUInt64LittleEndian(h[88..]),
                ShardIndex = BinaryPrimitives.ReadUInt64LittleEndian(h[120..]),
                SampleIndex = BinaryPrimitives.ReadUInt64LittleEndian(h[128..]),
                M = m,
                V = v,
                Master = w,
                ShardIndices = shards,
                IntraShardIndices = intra,
                LoaderRngState = rng,
            };
        }
    }

    /// <summary>
    /// Checks, without reading the optimizer buffers, that <paramref name="path"/> is a complete state file for
    /// <paramref name="shardParameterCount"/> values per buffer: header, then a length that matches m, v, master and
    /// the loader section exactly. Returns the problem as "PATH: what" (a killed or truncated write), or null.
    /// </summary>
    public static string? Verify(string path, long shardParameterCount)
    {
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096);
            if (fs.Length < HeaderBytes) return $"{path}: file is {fs.Length} bytes, shorter than the state header (truncated?)";
            var header = new byte[HeaderBytes];
            fs.ReadExactly(header);
            if (BinaryPrimitives.ReadInt32LittleEndian(header) != Magic) return $"{path}: bad magic; not an llm.c state file";
            if (BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(4)) != Version) return $"{path}: unsupported state file version";
            bool master = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(16)) != 0;
            bool shuffle = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(20)) != 0;
            long expected = OptimizerEnd(shardParameterCount, master);
            if (shuffle && fs.Length >= expected + 8)
            {
                // The loader section: two u64-counted int32 arrays, then the raw mt19937 state.
                Span<byte> u64 = stackalloc byte[8];
                fs.Position = expected;
                fs.ReadExactly(u64);
                ulong shards = BinaryPrimitives.ReadUInt64LittleEndian(u64);
                if (shards > (ulong)fs.Length) return $"{path}: the loader section is corrupt (truncated?)";
                expected += 8 + 4 * (long)shards;
                if (fs.Length >= expected + 8)
                {
                    fs.Position = expected;
                    fs.ReadExactly(u64);
                    ulong samples = BinaryPrimitives.ReadUInt64LittleEndian(u64);
                    if (samples > (ulong)fs.Length) return $"{path}: the loader section is corrupt (truncated?)";
                    expected += 8 + 4 * (long)samples + Mt19937.RawStateBytes;
                }
                else expected += 8;
            }
            else if (shuffle) expected += 8;
            return fs.Length == expected ? null
                : $"{path}: file is {fs.Length} bytes but a state of {shardParameterCount} values per buffer takes {(shuffle && fs.Length < expected ? "at least " : "")}{expected}{(fs.Length < expected ? " (truncated)" : "")}";
        }
        catch (FileNotFoundException) { return $"{path}: state file not found"; }
        catch (DirectoryNotFoundException) { return $"{path}: state file not found"; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return $"{path}: {e.Message}"; }
    }

    /// <summary>Where m, v (and master) end: the header, then shardParameterCount fp32 values per buffer.</summary>
    private static long OptimizerEnd(long shardParameterCount, bool master) => HeaderBytes + shardParameterCount * 4L * (master ? 3 : 2);

    private static bool IsPermutation(int[] values)
    {
        var seen = new bool[values.Length];
        foreach (int v in values)
        {
            if ((uint)v >= (uint)values.Length || seen[v]) return false;
            seen[v] = true;
        }
        return true;
    }

    private static void Validate(TrainingState state)
    {
        if (state.M.Length != state.V.Length || (state.Master is { } w && w.Length != state.M.Length))
            throw new ArgumentException("m, v and master must have the same length");
        if (state.ShouldShuffle && (state.ShardIndices is null || state.IntraShardIndices is null || state.LoaderRngState is not { Length: Mt19937.RawStateBytes }))
            throw new ArgumentException($"a shuffling loader needs shard indices, intra-shard indices and a {Mt19937.RawStateBytes}-byte RNG state");
    }

    private static void WriteFloats(Stream stream, float[] values)
    {
        const int chunk = 1 << 20;
        for (int i = 0; i < values.Length; i += chunk)
            stream.Write(MemoryMarshal.AsBytes(values.AsSpan(i, Math.Min(chunk, values.Length - i))));
    }

    private static float[] ReadFloats(string path, Stream stream, long count)
    {
        var values = new float[count];
        const int chunk = 1 << 20;
        for (int i = 0; i < values.Length; i += chunk)
            ReadExactly(path, stream, MemoryMarshal.AsBytes(values.AsSpan(i, Math.Min(chunk, values.Length - i))));
        return values;
    }

    private static int[] ReadInts(string path, Stream stream)
    {
        Span<byte> u64 = stackalloc byte[8];
        ReadExactly(path, stream, u64);
        ulong count = BinaryPrimitives.ReadUInt64LittleEndian(u64);
        if (count > (ulong)(stream.Length - stream.Position) / 4)
            throw new DataFormatException(path, $"loader section claims {count} indices, more than the file holds (corrupt?)", "Resume from an earlier checkpoint");
        var values = new int[count];
        ReadExactly(path, stream, MemoryMarshal.AsBytes(values.AsSpan()));
        return values;
    }

    private static void ReadExactly(string path, Stream stream, Span<byte> destination)
    {
        try { stream.ReadExactly(destination); }
        catch (EndOfStreamException) { throw new DataFormatException(path, "file ended early (truncated?)", "Resume from an earlier checkpoint"); }
    }
}
