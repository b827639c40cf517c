using System.Buffers.Binary;
using LlmNet.Model.Numerics;

namespace LlmNet.Model.HuggingFace;

/// <summary>
/// Elements of one row-major tensor inside a mapped file, read as fp32 either in place or transposed. The same
/// reader serves both directions of the conversion: llm.c's Linear weights are [out, in] and HF GPT-2's Conv1D
/// weights [in, out], so each side reads the other's matrices transposed.
/// </summary>
public readonly unsafe struct MappedTensor(byte* data, TensorDtype dtype)
{
    public TensorDtype Dtype => dtype;

    /// <summary>The tensor that starts <paramref name="elements"/> elements further on.</summary>
    public MappedTensor Skip(long elements) => new(data + elements * TensorDtypes.Size(dtype), dtype);

    public float this[long index] => dtype switch
    {
        TensorDtype.F32 => BinaryPrimitives.ReadSingleLittleEndian(new ReadOnlySpan<byte>(data + 4 * index, 4)),
        TensorDtype.BF16 => Bf16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(data + 2 * index, 2))),
        _ => (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(data + 2 * index, 2))),
    };

    /// <summary>Elements [start, start + destination.Length) in storage order.</summary>
    public void Read(long start, Span<float> destination)
    {
        // Whole runs in one go for the common types (safetensors and llm.c files are little-endian, as is every
        // platform .NET runs these tools on; SafeTensorsWriter refuses big-endian).
        if (dtype == TensorDtype.F32 && BitConverter.IsLittleEndian)
            new ReadOnlySpan<float>((float*)data + start, destination.Length).CopyTo(destination);
        else if (dtype == TensorDtype.BF16 && BitConverter.IsLittleEndian)
            Bf16.ToFloat(new ReadOnlySpan<ushort>((ushort*)data + start, destination.Length), destination);
        else
            for (int k = 0; k < destination.Length; k++) destination[k] = this[start + k];
    }

    /// <summary>
    /// Elements [start, start + destination.Length) of the transpose of this [rows, cols] matrix: element k of the
    /// transpose is (k / rows, k % rows), stored here at (k % rows)·cols + k / rows.
    /// </summary>
    public void ReadTransposed(long rows, long cols, long start, Span<float> destination)
    {
        for (int k = 0; k < destination.Length; k++)
        {
            long t = start + k;
            destination[k] = this[(t % rows) * cols + t / rows];
        }
    }
}
