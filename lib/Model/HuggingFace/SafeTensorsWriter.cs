using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using LlmNet.Common.IO;
using LlmNet.Model.Numerics;

namespace LlmNet.Model.HuggingFace;

/// <summary>One tensor to write: its name, element type and shape.</summary>
public sealed record TensorSpec(string Name, TensorDtype Dtype, long[] Shape)
{
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>Fills <paramref name="destination"/> with elements [start, start + destination.Length) of tensor <paramref name="tensor"/>.</summary>
public delegate void TensorChunkSource(int tensor, long start, Span<float> destination);

/// <summary>
/// Writes a safetensors file atomically, streaming: the header is computed from the shapes alone, then each tensor
/// is pulled as fp32 chunks and stored in its dtype, so no tensor (let alone the model) is held whole in memory.
/// </summary>
public static class SafeTensorsWriter
{
    private const int ChunkElements = 1 << 20;

    /// <summary>The 8-byte length and JSON header, padded with spaces to a multiple of 8 bytes as safetensors' own writer does.</summary>
    public static byte[] Header(IReadOnlyList<TensorSpec> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartObject("__metadata__");
            foreach (var (key, value) in metadata) json.WriteString(key, value);
            json.WriteEndObject();
            long offset = 0;
            foreach (var t in tensors)
            {
                long bytes = t.Count * TensorDtypes.Size(t.Dtype);
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", t.Dtype.ToString());
                json.WriteStartArray("shape");
                foreach (long d in t.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        int padded = (buffer.WrittenCount + 7) / 8 * 8;
        var header = new byte[8 + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)padded);
        buffer.WrittenSpan.CopyTo(header.AsSpan(8));
        header.AsSpan(8 + buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    public static void Write(string path, IReadOnlyList<TensorSpec> tensors, IReadOnlyDictionary<string, string> metadata, TensorChunkSource source)
    {
        byte[] header = Header(tensors, metadata);
        AtomicFile.Write(path, stream =>
        {
            stream.Write(header);
            float[] floats = ArrayPool<float>.Shared.Rent(ChunkElements);
            ushort[] halves = ArrayPool<ushort>.Shared.Rent(ChunkElements);
            try
            {
                for (int i = 0; i < tensors.Count; i++)
                {
                    long n = tensors[i].Count;
                    for (long start = 0; start < n; start += ChunkElements)
                    {
                        var values = floats.AsSpan(0, (int)Math.Min(ChunkElements, n - start));
                        source(i, start, values);
                        WriteElements(stream, tensors[i].Dtype, values, halves);
                    }
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(floats);
                ArrayPool<ushort>.Shared.Return(halves);
            }
        });
    }

    private static void WriteElements(Stream stream, TensorDtype dtype, Span<float> values, ushort[] halves)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors data is little-endian");
        if (dtype == TensorDtype.F32)
        {
            stream.Write(MemoryMarshal.AsBytes(values));
            return;
        }
        var bits = halves.AsSpan(0, values.Length);
        if (dtype == TensorDtype.BF16) Bf16.FromFloat(values, bits);
        else for (int k = 0; k < values.Length; k++) bits[k] = BitConverter.HalfToUInt16Bits((Half)values[k]);
        stream.Write(MemoryMarshal.AsBytes(bits));
    }
}
