using System.Runtime.InteropServices;
using System.Text;
using LlmNet.Cuda.Interop;
using LlmNet.Distributed.Zero;

namespace LlmNet.Cuda;

/// <summary>
/// One GPU: its primary context made current on the calling thread, and one stream on which every copy,
/// kernel and matmul of the backend is queued in order. Copies to and from the host synchronize the stream.
/// </summary>
public sealed unsafe class CudaDevice : IDisposable
{
    private readonly int _device;
    private bool _disposed;

    public CudaDevice(int ordinal = 0)
    {
        NativeLibraries.Require(NativeLibraries.Driver);
        Driver.Check(Driver.cuInit(0), "cuInit");
        Driver.Check(Driver.cuDeviceGetCount(out int count), "cuDeviceGetCount");
        if (ordinal < 0 || ordinal >= count)
            throw new CudaException($"CUDA device {ordinal} does not exist: this machine has {count} device(s)");
        Driver.Check(Driver.cuDeviceGet(out _device, ordinal), "cuDeviceGet");
        Ordinal = ordinal;
        Driver.Check(Driver.cuDevicePrimaryCtxRetain(out IntPtr context, _device), "cuDevicePrimaryCtxRetain");
        Context = context;
        MakeCurrent();
        Driver.Check(Driver.cuStreamCreate(out IntPtr stream, 1 /* CU_STREAM_NON_BLOCKING */), "cuStreamCreate");
        Stream = stream;

        byte* name = stackalloc byte[256];
        Driver.Check(Driver.cuDeviceGetName(name, 256, _device), "cuDeviceGetName");
        Name = Marshal.PtrToStringUTF8((IntPtr)name) ?? "CUDA device";
        ComputeMajor = Attribute(Driver.AttrComputeCapabilityMajor);
        ComputeMinor = Attribute(Driver.AttrComputeCapabilityMinor);
        MultiprocessorCount = Attribute(Driver.AttrMultiprocessorCount);
        MaxSharedMemoryPerBlockOptin = Attribute(Driver.AttrMaxSharedMemoryPerBlockOptin);
        Driver.Check(Driver.cuDeviceTotalMem(out nuint total, _device), "cuDeviceTotalMem");
        TotalMemory = (long)total;
    }

    /// <summary>
    /// Makes GPU <paramref name="ordinal"/>'s primary context current on the calling thread, as cudaSetDevice
    /// does for the runtime API (NCCL, which uses the runtime, then works on that GPU). The context stays
    /// retained for the life of the process.
    /// </summary>
    public static void BindPrimaryContext(int ordinal)
    {
        NativeLibraries.Require(NativeLibraries.Driver);
        Driver.Check(Driver.cuInit(0), "cuInit");
        Driver.Check(Driver.cuDeviceGetCount(out int count), "cuDeviceGetCount");
        if (ordinal < 0 || ordinal >= count)
            throw new CudaException($"CUDA device {ordinal} does not exist: this machine has {count} device(s); check -pg or the launcher's local rank");
        Driver.Check(Driver.cuDeviceGet(out int device, ordinal), "cuDeviceGet");
        Driver.Check(Driver.cuDevicePrimaryCtxRetain(out IntPtr context, device), "cuDevicePrimaryCtxRetain");
        Driver.Check(Driver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
    }

    /// <summary>True when a driver and at least one GPU are present; otherwise says why (missing library, no device, driver error).</summary>
    public static bool IsPresent(out string reason)
    {
        if (!NativeLibraries.TryLoad(NativeLibraries.Driver, out _, out reason)) return false;
        try
        {
            int r = Driver.cuInit(0);
            if (r != 0) { reason = r == 100 ? "no CUDA-capable GPU (cuInit: CUDA_ERROR_NO_DEVICE)" : $"CUDA driver failed to initialise (cuInit returned {r})"; return false; }
            Driver.Check(Driver.cuDeviceGetCount(out int count), "cuDeviceGetCount");
            if (count == 0) { reason = "no CUDA-capable GPU found"; return false; }
            reason = "";
            return true;
        }
        catch (Exception e) when (e is CudaException or DllNotFoundException or EntryPointNotFoundException)
        {
            reason = e.Message;
            return false;
        }
    }

    public int Ordinal { get; }
    public IntPtr Context { get; }
    public IntPtr Stream { get; }
    public string Name { get; }
    public int ComputeMajor { get; }
    public int ComputeMinor { get; }
    /// <summary>NVRTC/nvcc architecture name, e.g. "sm_90".</summary>
    public string Arch => $"sm_{ComputeMajor}{ComputeMinor}";
    /// <summary>
    /// The architecture the kernels are compiled for: Arch, except "sm_90a" on compute capability 9.0, whose
    /// architecture-specific instructions (wgmma) some attention kernels use.
    /// </summary>
    public string KernelArch => ComputeMajor == 9 && ComputeMinor == 0 ? "sm_90a" : Arch;
    public int MultiprocessorCount { get; }
    public int MaxSharedMemoryPerBlockOptin { get; }
    public long TotalMemory { get; }

    /// <summary>Binds this device's context to the calling thread (needed once per thread that issues work).</summary>
    public void MakeCurrent() => Driver.Check(Driver.cuCtxSetCurrent(Context), "cuCtxSetCurrent");

    public (long Free, long Total) MemoryInfo()
    {
        Driver.Check(Driver.cuMemGetInfo(out nuint free, out nuint total), "cuMemGetInfo");
        return ((long)free, (long)total);
    }

    public DeviceBuffer Allocate(long bytes, string name) => new(this, bytes, name);

    /// <summary>A typed allocation of <paramref name="length"/> elements (sizes in elements, 64-bit).</summary>
    public DeviceArray<T> Allocate<T>(long length, string name) where T : unmanaged => new(this, length, name);

    public void Synchronize() => Driver.Check(Driver.cuStreamSynchronize(Stream), "cuStreamSynchronize");

    public void Upload<T>(ulong dst, ReadOnlySpan<T> src) where T : unmanaged
    {
        if (src.IsEmpty) return;
        fixed (T* p = src)
        {
            Driver.Check(Driver.cuMemcpyHtoDAsync(dst, p, DeviceSizes.CopyBytes<T>(src.Length), Stream), "cuMemcpyHtoDAsync");
            Synchronize(); // the host span may move or die once we return
        }
    }

    public void Download<T>(Span<T> dst, ulong src) where T : unmanaged
    {
        if (dst.IsEmpty) return;
        fixed (T* p = dst)
        {
            Driver.Check(Driver.cuMemcpyDtoHAsync(p, src, DeviceSizes.CopyBytes<T>(dst.Length), Stream), "cuMemcpyDtoHAsync");
            Synchronize();
        }
    }

    /// <summary>Copies <paramref name="src"/> into <paramref name="dst"/> from element <paramref name="offset"/> on, whole or not at all.</summary>
    public void Upload<T>(DeviceArray<T> dst, long offset, ReadOnlySpan<T> src) where T : unmanaged
    {
        dst.CheckRange(offset, src.Length);
        Upload(dst.At(offset), src);
    }

    /// <summary>Fills <paramref name="dst"/> from <paramref name="src"/>'s elements at <paramref name="offset"/> on.</summary>
    public void Download<T>(Span<T> dst, DeviceArray<T> src, long offset = 0) where T : unmanaged
    {
        src.CheckRange(offset, dst.Length);
        Download(dst, src.At(offset));
    }

    /// <summary>Zeroes every element of <paramref name="array"/>.</summary>
    public void Zero<T>(DeviceArray<T> array) where T : unmanaged => Zero(array.Ptr, DeviceSizes.Bytes<T>(array.Length));

    /// <summary>Zeroes the first <paramref name="count"/> elements of <paramref name="array"/>.</summary>
    public void Zero<T>(DeviceArray<T> array, long count) where T : unmanaged
    {
        array.CheckRange(0, count);
        Zero(array.Ptr, DeviceSizes.Bytes<T>(count));
    }

    public PinnedBuffer AllocatePinned(long bytes) => new(bytes);

    /// <summary>Queues a copy of bytes from pinned memory (at a byte offset) to the device; returns without waiting.</summary>
    public void UploadAsync(ulong dst, PinnedBuffer src, long offset, long bytes)
    {
        if (bytes == 0) return;
        CheckRange(src, offset, bytes);
        Driver.Check(Driver.cuMemcpyHtoDAsync(dst, (byte*)src.Pointer + offset, (nuint)bytes, Stream), "cuMemcpyHtoDAsync");
    }

    /// <summary>Queues a copy of bytes from the device into pinned memory (at a byte offset); returns without waiting.</summary>
    public void DownloadAsync(PinnedBuffer dst, long offset, ulong src, long bytes)
    {
        if (bytes == 0) return;
        CheckRange(dst, offset, bytes);
        Driver.Check(Driver.cuMemcpyDtoHAsync((byte*)dst.Pointer + offset, src, (nuint)bytes, Stream), "cuMemcpyDtoHAsync");
    }

    private static void CheckRange(PinnedBuffer buffer, long offset, long bytes)
    {
        if (buffer.Pointer == IntPtr.Zero) throw new ObjectDisposedException(nameof(PinnedBuffer));
        if (offset < 0 || bytes < 0 || offset + bytes > buffer.Bytes)
            throw new ArgumentOutOfRangeException(nameof(bytes), $"{bytes} bytes at {offset} exceed the pinned buffer's {buffer.Bytes} bytes");
    }

    public void Copy(ulong dst, ulong src, long bytes) =>
        Driver.Check(Driver.cuMemcpyDtoDAsync(dst, src, (nuint)bytes, Stream), "cuMemcpyDtoDAsync");

    public void Zero(ulong dst, long bytes) =>
        Driver.Check(Driver.cuMemsetD8Async(dst, 0, (nuint)bytes, Stream), "cuMemsetD8Async");

    /// <summary>Fills count 32-bit words (e.g. a NaN pattern to poison outputs in tests).</summary>
    public void Fill32(ulong dst, uint value, long count) =>
        Driver.Check(Driver.cuMemsetD32Async(dst, value, (nuint)count, Stream), "cuMemsetD32Async");

    private int Attribute(int attribute)
    {
        Driver.Check(Driver.cuDeviceGetAttribute(out int value, attribute, _device), "cuDeviceGetAttribute");
        return value;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Driver.cuStreamSynchronize(Stream);
        Driver.cuStreamDestroy(Stream);
        Driver.cuDevicePrimaryCtxRelease(_device);
    }

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append($"{Name} ({Arch}, {MultiprocessorCount} SMs, {TotalMemory / (1024.0 * 1024 * 1024):F1} GiB)");
        return sb.ToString();
    }
}

/// <summary>A device allocation owned by whoever holds it; freed on Dispose.</summary>
public sealed class DeviceBuffer : IDisposable
{
    internal DeviceBuffer(CudaDevice device, long bytes, string name)
    {
        Name = name;
        Bytes = bytes;
        if (bytes == 0) return;
        int r = Driver.cuMemAlloc(out ulong ptr, (nuint)bytes);
        if (r != 0)
        {
            (long free, long total) = device.MemoryInfo();
            Driver.Check(r, $"cuMemAlloc({name}, {bytes / (1024.0 * 1024):F1} MiB; {free / (1024.0 * 1024):F0} of {total / (1024.0 * 1024):F0} MiB free)");
        }
        Ptr = ptr;
    }

    public string Name { get; }
    public long Bytes { get; }
    public ulong Ptr { get; private set; }

    public void Dispose()
    {
        if (Ptr != 0) Driver.cuMemFree(Ptr);
        Ptr = 0;
    }
}

/// <summary>Times work on a stream with a pair of CUDA events.</summary>
public sealed class CudaTimer : IDisposable
{
    private readonly IntPtr _start, _stop, _stream;

    public CudaTimer(CudaDevice device)
    {
        _stream = device.Stream;
        Driver.Check(Driver.cuEventCreate(out _start, 0), "cuEventCreate");
        Driver.Check(Driver.cuEventCreate(out _stop, 0), "cuEventCreate");
    }

    public void Start() => Driver.Check(Driver.cuEventRecord(_start, _stream), "cuEventRecord");

    /// <summary>Records the stop event, waits for it and returns the elapsed milliseconds.</summary>
    public float Stop()
    {
        Driver.Check(Driver.cuEventRecord(_stop, _stream), "cuEventRecord");
        Driver.Check(Driver.cuEventSynchronize(_stop), "cuEventSynchronize");
        Driver.Check(Driver.cuEventElapsedTime(out float ms, _start, _stop), "cuEventElapsedTime");
        return ms;
    }

    public void Dispose()
    {
        Driver.cuEventDestroy(_start);
        Driver.cuEventDestroy(_stop);
    }
}

/// <summary>
/// A point in a device's stream that the host can wait for: recorded behind queued copies, waited on before the
/// host overwrites the pinned memory they read. Waiting on a fence never recorded returns at once.
/// </summary>
public sealed class CudaFence : IDisposable
{
    private readonly IntPtr _event, _stream;

    public CudaFence(CudaDevice device)
    {
        device.MakeCurrent();
        _stream = device.Stream;
        Driver.Check(Driver.cuEventCreate(out _event, Driver.EventDisableTiming), "cuEventCreate");
    }

    /// <summary>Marks the work queued on the stream so far.</summary>
    public void Record() => Driver.Check(Driver.cuEventRecord(_event, _stream), "cuEventRecord");

    /// <summary>Blocks until the work queued before the last <see cref="Record"/> has finished.</summary>
    public void Wait() => Driver.Check(Driver.cuEventSynchronize(_event), "cuEventSynchronize");

    public void Dispose() => Driver.cuEventDestroy(_event);
}

/// <summary>
/// A second stream on a device, non-blocking like <see cref="CudaDevice.Stream"/>, ordered against it with
/// events: the backend queues NCCL collectives here so they run while the compute stream keeps working.
/// </summary>
public sealed class CudaSideStream : IStreamOrder, IDisposable
{
    private readonly IntPtr _computeStream, _computeFence, _sideFence;

    public CudaSideStream(CudaDevice device)
    {
        device.MakeCurrent();
        _computeStream = device.Stream;
        Driver.Check(Driver.cuStreamCreate(out IntPtr stream, Driver.StreamNonBlocking), "cuStreamCreate");
        Handle = stream;
        Driver.Check(Driver.cuEventCreate(out _computeFence, Driver.EventDisableTiming), "cuEventCreate");
        Driver.Check(Driver.cuEventCreate(out _sideFence, Driver.EventDisableTiming), "cuEventCreate");
    }

    public IntPtr Handle { get; }

    /// <summary>Work queued here from now on starts after the compute stream's work queued so far (host does not block).</summary>
    public void WaitForCompute()
    {
        // One event serves every fence: a wait binds to the record that precedes it, later re-records don't move it.
        Driver.Check(Driver.cuEventRecord(_computeFence, _computeStream), "cuEventRecord");
        Driver.Check(Driver.cuStreamWaitEvent(Handle, _computeFence, 0), "cuStreamWaitEvent");
    }

    /// <summary>Compute work queued from now on starts after the work queued here so far (host does not block).</summary>
    public void JoinCompute()
    {
        Driver.Check(Driver.cuEventRecord(_sideFence, Handle), "cuEventRecord");
        Driver.Check(Driver.cuStreamWaitEvent(_computeStream, _sideFence, 0), "cuStreamWaitEvent");
    }

    void IStreamOrder.CommunicationWaitsForCompute() => WaitForCompute();
    void IStreamOrder.ComputeWaitsForCommunication() => JoinCompute();

    /// <summary>
    /// Releases the stream without waiting for it: work still queued (collectives of an aborted communicator)
    /// finishes or fails on its own, and the owner has already waited, under its watchdog, where it mattered.
    /// </summary>
    public void Dispose()
    {
        Driver.cuEventDestroy(_computeFence);
        Driver.cuEventDestroy(_sideFence);
        Driver.cuStreamDestroy(Handle);
    }
}
