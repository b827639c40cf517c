using System.Runtime.InteropServices;

namespace LlmNet.Distributed.Nccl;

/// <summary>
/// NCCL's ncclUniqueId: 128 opaque bytes made by rank 0 (ncclGetUniqueId) and handed to every rank, which
/// passes it by value to ncclCommInitRank.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = ByteCount)]
public unsafe struct NcclUniqueId
{
    public const int ByteCount = 128;

    private fixed byte _bytes[ByteCount];

    public static NcclUniqueId FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != ByteCount)
            throw new DistributedException($"an NCCL unique id is {ByteCount} bytes, got {bytes.Length}");
        NcclUniqueId id = default;
        bytes.CopyTo(new Span<byte>(id._bytes, ByteCount));
        return id;
    }

    public readonly byte[] ToArray()
    {
        fixed (byte* p = _bytes) return new ReadOnlySpan<byte>(p, ByteCount).ToArray();
    }
}
