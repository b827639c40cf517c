using System.Runtime.InteropServices;

namespace LlmNet.Distributed.Nccl;

/// <summary>ncclResult_t.</summary>
public enum NcclResult
{
    Success = 0, UnhandledCudaError = 1, SystemError = 2, InternalError = 3,
    InvalidArgument = 4, InvalidUsage = 5, RemoteError = 6, InProgress = 7,
}

/// <summary>ncclDataType_t (the subset llm.net moves: bf16 gradients/params, fp32 and fp64 scalars).</summary>
public enum NcclDataType
{
    Int32 = 2, Float16 = 6, Float32 = 7, Float64 = 8, BFloat16 = 9,
}

/// <summary>ncclRedOp_t (sum for norms and counts, avg for gradients).</summary>
public enum NcclRedOp { Sum = 0, Avg = 4 }

/// <summary>
/// Raw bindings to libnccl.so.2 (NCCL 2.x). Buffers are CUDA device pointers and streams are CUstream
/// handles, both as nint. Call <see cref="NcclLibrary.EnsureLoaded"/> first so a missing library is
/// reported by name instead of as a DllNotFoundException.
/// </summary>
internal static unsafe partial class NcclNative
{
    /// <summary>The import name <see cref="NcclLibrary.EnsureLoaded"/> binds to the loaded libnccl.</summary>
    public const string Lib = "nccl";

    [LibraryImport(Lib, EntryPoint = "ncclGetVersion")]
    public static partial NcclResult GetVersion(out int version);

    [LibraryImport(Lib, EntryPoint = "ncclGetUniqueId")]
    public static partial NcclResult GetUniqueId(NcclUniqueId* uniqueId);

    /// <summary>The id is passed by value (a 128-byte struct), as in the C signature.</summary>
    [LibraryImport(Lib, EntryPoint = "ncclCommInitRank")]
    public static partial NcclResult CommInitRank(out nint comm, int nranks, NcclUniqueId commId, int rank);

    [LibraryImport(Lib, EntryPoint = "ncclCommDestroy")]
    public static partial NcclResult CommDestroy(nint comm);

    [LibraryImport(Lib, EntryPoint = "ncclCommAbort")]
    public static partial NcclResult CommAbort(nint comm);

    [LibraryImport(Lib, EntryPoint = "ncclCommGetAsyncError")]
    public static partial NcclResult CommGetAsyncError(nint comm, out NcclResult asyncError);

    [LibraryImport(Lib, EntryPoint = "ncclGetErrorString")]
    public static partial byte* GetErrorString(NcclResult result);

    [LibraryImport(Lib, EntryPoint = "ncclGroupStart")]
    public static partial NcclResult GroupStart();

    [LibraryImport(Lib, EntryPoint = "ncclGroupEnd")]
    public static partial NcclResult GroupEnd();

    [LibraryImport(Lib, EntryPoint = "ncclAllReduce")]
    public static partial NcclResult AllReduce(nint sendbuff, nint recvbuff, nuint count, NcclDataType datatype, NcclRedOp op, nint comm, nint stream);

    [LibraryImport(Lib, EntryPoint = "ncclReduceScatter")]
    public static partial NcclResult ReduceScatter(nint sendbuff, nint recvbuff, nuint recvcount, NcclDataType datatype, NcclRedOp op, nint comm, nint stream);

    [LibraryImport(Lib, EntryPoint = "ncclAllGather")]
    public static partial NcclResult AllGather(nint sendbuff, nint recvbuff, nuint sendcount, NcclDataType datatype, nint comm, nint stream);

    [LibraryImport(Lib, EntryPoint = "ncclBroadcast")]
    public static partial NcclResult Broadcast(nint sendbuff, nint recvbuff, nuint count, NcclDataType datatype, int root, nint comm, nint stream);
}
