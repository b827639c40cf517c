using System.Buffers.Binary;
using System.Text.Json;
using LlmNet.Common.Formats;
using LlmNet.Common.IO;

namespace LlmNet.Model.HuggingFace;

/// <summary>
/// Reads a safetensors file in place: an 8-byte little-endian header length, a JSON header naming each tensor's
/// dtype, shape and [begin, end) byte range in the data that follows, then the raw little-endian data. The file is
/// memory-mapped, so a 6 GB model is never copied whole into memory. Every problem is a one-line
/// <see cref="DataFormatException"/> naming the file.
/// </summary>
public sealed class SafeTensorsFile : IDisposable
{
    /// <summary>One tensor's header entry; Begin and End are byte offsets into the data section.</summary>
    public sealed record Entry(string Name, string Dtype, long[] Shape, long Begin, long End);

    private const string Fix = "Re-save it with transformers' save_pretrained or llm-convert to-hf";
    private const long MaxHeaderBytes = 100L << 20;

    private readonly MappedFile _map;
    private readonly long _dataStart;

    private SafeTensorsFile(string path, MappedFile map, long dataStart, Dictionary<string, Entry> tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        _map = map;
        _dataStart = dataStart;
        Tensors = tensors;
        Metadata = metadata;
    }

    public string Path { get; }
    public IReadOnlyDictionary<string, Entry> Tensors { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public static SafeTensorsFile Open(string path)
    {
        long length;
        try { length = new FileInfo(path).Length; }
        catch (FileNotFoundException) { throw new DataFormatException(path, "file not found", Fix); }
        if (length < 8) throw new DataFormatException(path, $"file is {length} bytes, shorter than the 8-byte safetensors header length (truncated?)", Fix);

        var map = MappedFile.Open(path);
        try
        {
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(Span(map, 0, 8));
            if (headerLength > MaxHeaderBytes || (long)headerLength > length - 8)
                throw new DataFormatException(path, $"header length {headerLength} does not fit the {length}-byte file (truncated, or not safetensors?)", Fix);
            long dataStart = 8 + (long)headerLength;
            var (tensors, metadata) = ParseHeader(path, Span(map, 8, (int)headerLength), length - dataStart);
            return new SafeTensorsFile(path, map, dataStart, tensors, metadata);
        }
        catch
        {
            map.Dispose();
            throw;
        }
    }

    /// <summary>The values of <paramref name="entry"/>, which must hold F32, F16 or BF16.</summary>
    public unsafe MappedTensor Tensor(Entry entry)
    {
        var dtype = TensorDtypes.Parse(entry.Dtype)
            ?? throw new DataFormatException(Path, $"tensor {entry.Name} is {entry.Dtype}; only F32, F16 and BF16 are read", "Save the model in float32, float16 or bfloat16");
        return new MappedTensor(_map.Pointer + _dataStart + entry.Begin, dtype);
    }

    public void Dispose() => _map.Dispose();

    private static unsafe ReadOnlySpan<byte> Span(MappedFile map, long offset, int length) => new(map.Pointer + offset, length);

    private static (Dictionary<string, Entry>, Dictionary<string, string>) ParseHeader(string path, ReadOnlySpan<byte> json, long dataLength)
    {
        var tensors = new Dictionary<string, Entry>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(json.ToArray());
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new DataFormatException(path, "the safetensors header is not a JSON object", Fix);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    foreach (var m in property.Value.EnumerateObject()) metadata[m.Name] = m.Value.GetString() ?? "";
                    continue;
                }
                var e = property.Value;
                string dtype = e.GetProperty("dtype").GetString() ?? "";
                long[] shape = [.. e.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64())];
                long[] offsets = [.. e.GetProperty("data_offsets").EnumerateArray().Select(d => d.GetInt64())];
                if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0])
                    throw new DataFormatException(path, $"tensor {property.Name} has bad data_offsets", Fix);
                if (offsets[1] > dataLength)
                    throw new DataFormatException(path, $"tensor {property.Name} ends at data byte {offsets[1]} but the file holds {dataLength} data bytes (truncated?)", Fix);
                long elements = shape.Aggregate(1L, (a, b) => a * b);
                if (TensorDtypes.SizeOf(dtype) is int size && elements * size != offsets[1] - offsets[0])
                    throw new DataFormatException(path, $"tensor {property.Name} spans {offsets[1] - offsets[0]} bytes but its {dtype} shape [{string.Join(", ", shape)}] needs {elements * size}", Fix);
                tensors[property.Name] = new Entry(property.Name, dtype, shape, offsets[0], offsets[1]);
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new DataFormatException(path, $"the safetensors header is not valid ({e.Message.Split('\n')[0].TrimEnd('.')})", Fix);
        }
        return (tensors, metadata);
    }
}
