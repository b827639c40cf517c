using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using LlmNet.Common.Formats;
using LlmNet.Common.IO;
using LlmNet.Model.Numerics;

namespace LlmNet.Model.Checkpoints;

/// <summary>Element type of a model file; the value is llm.c's header version.</summary>
public enum ModelDtype
{
    /// <summary>Version 3: every tensor fp32.</summary>
    Fp32 = 3,
    /// <summary>Version 5: every tensor bf16 (round to nearest even), layernorms included.</summary>
    Bf16 = 5,
}

/// <summary>Fills <paramref name="destination"/> with parameters [offset, offset + destination.Length) as fp32.</summary>
public delegate void ParameterChunkSource(long offset, Span<float> destination);

/// <summary>Receives parameters [offset, offset + values.Length) as fp32.</summary>
public delegate void ParameterChunkSink(long offset, ReadOnlySpan<float> values);

/// <summary>
/// llm.c's model file (gpt2_124M.bin, model_%08d.bin; train_gpt2.cu: gpt2_write_to_checkpoint,
/// gpt2_build_from_checkpoint; train_gpt2.py: write_model): 256 int32 header (magic 20240326, version, maxT, V, L, NH,
/// C, Vp) and then all N parameters in llm.c order as fp32 (v3) or bf16 (v5). Reading and writing stream in chunks, so
/// multi-GB models never need a second full-size buffer.
/// </summary>
public static class ModelFile
{
    public const int Magic = 20240326;
    public const int HeaderInts = 256;
    public const int HeaderBytes = HeaderInts * sizeof(int);
    private const int ChunkElements = 1 << 20;

    /// <summary>Bytes a model file of this shape and dtype occupies: 1024 + N·sizeof(dtype).</summary>
    public static long FileSize(GptConfig config, ModelDtype dtype) =>
        HeaderBytes + ParameterLayout.For(config).Count * (dtype == ModelDtype.Fp32 ? 4 : 2);

    public static byte[] Header(GptConfig config, ModelDtype dtype)
    {
        var header = new byte[HeaderBytes];
        Span<int> ints = MemoryMarshal.Cast<byte, int>(header.AsSpan());
        ints[0] = Magic;
        ints[1] = (int)dtype;
        ints[2] = config.MaxSeqLen;
        ints[3] = config.VocabSize;
        ints[4] = config.NumLayers;
        ints[5] = config.NumHeads;
        ints[6] = config.Channels;
        ints[7] = config.PaddedVocabSize;
        if (!BitConverter.IsLittleEndian) foreach (ref int v in ints) v = BinaryPrimitives.ReverseEndianness(v);
        return header;
    }

    /// <summary>Reads and validates the header: magic, version, a sane shape and a file size that matches it.</summary>
    public static (GptConfig Config, ModelDtype Dtype) ReadHeader(string path)
    {
        using var fs = OpenRead(path);
        return ReadHeader(path, fs);
    }

    private static (GptConfig, ModelDtype) ReadHeader(string path, FileStream fs)
    {
        const string fix = "Use a model file written by llm.c, its Python exporter or llm-train";
        if (fs.Length < HeaderBytes)
            throw new DataFormatException(path, $"file is {fs.Length} bytes, shorter than the {HeaderBytes}-byte model header (truncated?)", fix);
        Span<byte> header = stackalloc byte[32];
        fs.ReadExactly(header);
        var ints = new int[8];
        for (int i = 0; i < 8; i++) ints[i] = BinaryPrimitives.ReadInt32LittleEndian(header[(4 * i)..]);
        int Int(int i) => ints[i];
        if (Int(0) != Magic)
            throw new DataFormatException(path, $"bad magic {Int(0)} (expected {Magic}); not an llm.c model file", fix);
        int version = Int(1);
        if (version is not (3 or 5))
            throw new DataFormatException(path, $"unsupported model file version {version} (3 = fp32 and 5 = bf16 are supported)", "Re-export it with the current llm.c train_gpt2.py");
        int maxT = Int(2), v = Int(3), l = Int(4), nh = Int(5), c = Int(6), vp = Int(7);
        if (maxT <= 0 || v <= 0 || l <= 0 || nh <= 0 || c <= 0 || vp < v || c % nh != 0)
            throw new DataFormatException(path, $"implausible shape in header (maxT={maxT} V={v} L={l} NH={nh} C={c} Vp={vp})", fix);
        var config = new GptConfig(maxT, v, vp, l, nh, c);
        var dtype = (ModelDtype)version;
        long expected = FileSize(config, dtype);
        if (fs.Length != expected)
            throw new DataFormatException(path, $"file is {fs.Length} bytes but its header describes {expected} (truncated or not a model file?)", fix);
        return (config, dtype);
    }

    /// <summary>Reads the whole model into a new fp32 array (bf16 files are widened).</summary>
    public static float[] Read(string path, out GptConfig config)
    {
        (config, _) = ReadHeader(path);
        long n = ParameterLayout.For(config).Count;
        if (n > Array.MaxLength) throw new DataFormatException(path, $"{n} parameters do not fit one host array", "Load it chunk-wise with ReadChunks");
        var parameters = new float[n];
        ReadChunks(path, (offset, values) => values.CopyTo(parameters.AsSpan((int)offset)));
        return parameters;
    }

    /// <summary>Streams the parameters as fp32 chunks, in order, to <paramref name="sink"/>; returns the header.</summary>
    public static (GptConfig Config, ModelDtype Dtype) ReadChunks(string path, ParameterChunkSink sink)
    {
        using var fs = OpenRead(path);
        var (config, dtype) = ReadHeader(path, fs);
        fs.Position = HeaderBytes;
        long n = ParameterLayout.For(config).Count;
        int elementBytes = dtype == ModelDtype.Fp32 ? 4 : 2;
        byte[] bytes = ArrayPool<byte>.Shared.Rent(ChunkElements * elementBytes);
        float[] floats = ArrayPool<float>.Shared.Rent(ChunkElements);
        try
        {
            for (long offset = 0; offset < n; offset += ChunkElements)
            {
                int count = (int)Math.Min(ChunkElements, n - offset);
                var raw = bytes.AsSpan(0, count * elementBytes);
                try { fs.ReadExactly(raw); }
                catch (EndOfStreamException) { throw new DataFormatException(path, "file ended early while reading parameters (truncated?)", "Re-create it"); }
                var values = floats.AsSpan(0, count);
                if (dtype == ModelDtype.Fp32) MemoryMarshal.Cast<byte, float>(raw).CopyTo(values);
                else Bf16.ToFloat(MemoryMarshal.Cast<byte, ushort>(raw), values);
                sink(offset, values);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
            ArrayPool<float>.Shared.Return(floats);
        }
        return (config, dtype);
    }

    /// <summary>Writes the model atomically (temp file + rename) from an fp32 array.</summary>
    public static void Write(string path, GptConfig config, ModelDtype dtype, float[] parameters)
    {
        long n = ParameterLayout.For(config).Count;
        if (parameters.LongLength != n) throw new ArgumentException($"expected {n} parameters, got {parameters.LongLength}", nameof(parameters));
        Write(path, config, dtype, (offset, destination) => parameters.AsSpan((int)offset, destination.Length).CopyTo(destination));
    }

    /// <summary>
    /// Writes the model atomically, pulling fp32 chunks from <paramref name="source"/> in order (so a device
    /// backend can download piecewise). A failure part-way leaves no file under <paramref name="path"/>.
    /// </summary>
    public static void Write(string path, GptConfig config, ModelDtype dtype, ParameterChunkSource source)
    {
        long n = ParameterLayout.For(config).Count;
        var header = Header(config, dtype);
        AtomicFile.Write(path, stream =>
        {
            stream.Write(header);
            WriteBody(stream, n, dtype, source);
        });
    }

    internal static void WriteBody(Stream stream, long n, ModelDtype dtype, ParameterChunkSource source)
    {
        float[] floats = ArrayPool<float>.Shared.Rent(ChunkElements);
        ushort[] halves = ArrayPool<ushort>.Shared.Rent(ChunkElements);
        try
        {
            for (long offset = 0; offset < n; offset += ChunkElements)
            {
                int count = (int)Math.Min(ChunkElements, n - offset);
                var values = floats.AsSpan(0, count);
                source(offset, values);
                if (dtype == ModelDtype.Fp32)
                {
                    stream.Write(MemoryMarshal.AsBytes(values));
                }
                else
                {
                    var bf = halves.AsSpan(0, count);
                    Bf16.FromFloat(values, bf);
                    stream.Write(MemoryMarshal.AsBytes(bf));
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(floats);
            ArrayPool<ushort>.Shared.Return(halves);
        }
    }

    private static FileStream OpenRead(string path)
    {
        try { return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (FileNotFoundException) { throw new DataFormatException(path, "model file not found", "Check the path, or pass a descriptor such as d12 to start from scratch"); }
        catch (DirectoryNotFoundException) { throw new DataFormatException(path, "model file not found (no such directory)", "Check the path"); }
    }
}
