using System.Runtime.InteropServices;

namespace LlmNet.Model.Cpu;

/// <summary>
/// Owns the backend's large fp32 buffers: 64-byte aligned native memory (no GC pinning or moving, and
/// sizes beyond 2^31 elements are fine), zeroed on allocation and freed together on dispose.
/// </summary>
internal sealed unsafe class NativeArena : IDisposable
{
    private readonly List<nint> _blocks = [];

    public long BytesAllocated { get; private set; }

    public float* Floats(long count) => (float*)Bytes(count * sizeof(float));

    public int* Ints(long count) => (int*)Bytes(count * sizeof(int));

    private void* Bytes(long bytes)
    {
        nuint size = (nuint)Math.Max(bytes, 64);
        void* p = NativeMemory.AlignedAlloc(size, 64);
        NativeMemory.Clear(p, size);
        _blocks.Add((nint)p);
        BytesAllocated += (long)size;
        return p;
    }

    public void Dispose()
    {
        foreach (nint p in _blocks) NativeMemory.AlignedFree((void*)p);
        _blocks.Clear();
    }
}
