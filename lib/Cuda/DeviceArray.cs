namespace LlmNet.Cuda;

/// <summary>
/// A device allocation of <see cref="Length"/> elements of <typeparamref name="T"/>. Lengths and offsets are element
/// counts in 64 bits, and byte counts are computed in one place (<see cref="DeviceSizes"/>), so a buffer of more than
/// 2 GiB (d48's fp32 master weights are 6.2 GB) is addressed and copied whole.
/// </summary>
public sealed unsafe class DeviceArray<T> : IDisposable where T : unmanaged
{
    internal DeviceArray(CudaDevice device, long length, string name)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
        Buffer = device.Allocate(DeviceSizes.Bytes<T>(length), name);
    }

    /// <summary>The untyped allocation (name, bytes, pointer) behind this array.</summary>
    public DeviceBuffer Buffer { get; }
    public long Length { get; }
    public string Name => Buffer.Name;
    public ulong Ptr => Buffer.Ptr;

    /// <summary>The device address of element <paramref name="index"/> (0..Length; Length is the end).</summary>
    public ulong At(long index)
    {
        if (index < 0 || index > Length)
            throw new ArgumentOutOfRangeException(nameof(index), $"element {index} is outside {Name} ({Length} elements)");
        return Buffer.Ptr + DeviceSizes.Offset<T>(index);
    }

    /// <summary>
    /// The device address of slice <paramref name="index"/> when the array is cut into slices of
    /// <paramref name="sliceLength"/> elements (layer l of an (L, B, T, C) activation: <c>Slice(l, B·T·C)</c>, llm.c's
    /// <c>acts.ln1 + l * B * T * C</c>); the whole slice must lie inside the array.
    /// </summary>
    public ulong Slice(long index, long sliceLength)
    {
        long start = checked(index * sliceLength);
        CheckRange(start, sliceLength);
        return At(start);
    }

    /// <summary>Checks that <paramref name="count"/> elements from <paramref name="offset"/> lie inside the array.</summary>
    public void CheckRange(long offset, long count)
    {
        if (offset < 0 || count < 0 || offset > Length - count)
            throw new ArgumentOutOfRangeException(nameof(count), $"{count} elements at {offset} exceed {Name} ({Length} elements)");
    }

    public void Dispose() => Buffer.Dispose();
}

/// <summary>Byte counts and offsets of device memory, in 64 bits and checked: the only place elements become bytes.</summary>
public static unsafe class DeviceSizes
{
    /// <summary>Bytes of <paramref name="count"/> elements of T; throws instead of wrapping.</summary>
    public static long Bytes<T>(long count) where T : unmanaged
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return checked(count * sizeof(T));
    }

    /// <summary>
    /// <paramref name="count"/>, raised to the elements of at least <paramref name="minBytes"/> bytes: a length of
    /// max(count·sizeof(T), minBytes) bytes whenever sizeof(T) divides minBytes.
    /// </summary>
    public static long AtLeastBytes<T>(long count, long minBytes) where T : unmanaged =>
        Math.Max(count, (minBytes + sizeof(T) - 1) / sizeof(T));

    /// <summary>The byte count a driver copy of <paramref name="count"/> elements takes (size_t).</summary>
    public static nuint CopyBytes<T>(long count) where T : unmanaged => checked((nuint)Bytes<T>(count));

    /// <summary>The byte offset of element <paramref name="index"/>, for pointer arithmetic on device addresses.</summary>
    public static ulong Offset<T>(long index) where T : unmanaged => checked((ulong)Bytes<T>(index));
}
