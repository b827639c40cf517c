using System.IO.MemoryMappedFiles;

namespace LlmNet.Common.IO;

/// <summary>
/// A whole file mapped read-only, addressed through one pointer with 64-bit offsets: multi-GB model files are read
/// in place, never as a managed span (those stop at 2 GiB) and never as a second copy in memory.
/// </summary>
public sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;

    private MappedFile(MemoryMappedFile map, MemoryMappedViewAccessor view, long length)
    {
        _map = map;
        _view = view;
        Length = length;
        byte* pointer = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        Pointer = pointer + _view.PointerOffset;
    }

    /// <summary>Maps <paramref name="path"/>, which must exist and be non-empty (an empty file cannot be mapped).</summary>
    public static MappedFile Open(string path)
    {
        long length = new FileInfo(path).Length;
        if (length == 0) throw new IOException($"{path}: the file is empty");
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        try { return new MappedFile(map, map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read), length); }
        catch { map.Dispose(); throw; }
    }

    /// <summary>The first byte of the file.</summary>
    public byte* Pointer { get; }

    public long Length { get; }

    public void Dispose()
    {
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
