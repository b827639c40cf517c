using LlmNet.Cuda.Interop;

namespace LlmNet.Cuda;

/// <summary>
/// Page-locked host memory: the GPU copies to and from it without a staging copy, so a copy queued with
/// <see cref="CudaDevice.UploadAsync"/> or <see cref="CudaDevice.DownloadAsync"/> returns at once. The owner must keep
/// the contents unchanged (uploads) or unread (downloads) until the stream has passed the copy.
/// </summary>
public sealed unsafe class PinnedBuffer : IDisposable
{
    private IntPtr _ptr;

    internal PinnedBuffer(long bytes)
    {
        Bytes = bytes;
        Driver.Check(Driver.cuMemAllocHost(out _ptr, (nuint)Math.Max(bytes, 1)), $"cuMemAllocHost({bytes / (1024.0 * 1024):F1} MiB)");
    }

    public long Bytes { get; }
    internal IntPtr Pointer => _ptr;

    /// <summary>count elements of T starting at element offset.</summary>
    public Span<T> AsSpan<T>(long offset, int count) where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(_ptr == IntPtr.Zero, this);
        if (offset < 0 || count < 0 || (offset + count) * sizeof(T) > Bytes)
            throw new ArgumentOutOfRangeException(nameof(count), $"{count} elements at {offset} exceed the pinned buffer's {Bytes} bytes");
        return new Span<T>((T*)_ptr + offset, count);
    }

    public void Dispose()
    {
        if (_ptr != IntPtr.Zero) Driver.cuMemFreeHost(_ptr);
        _ptr = IntPtr.Zero;
    }
}
