using System.Runtime.InteropServices;
using LlmNet.Common.Native;

namespace LlmNet.Distributed.Mpi;

/// <summary>
/// The handful of MPI calls the mpi init method needs. Handles (MPI_Comm, MPI_Datatype) are passed as nint:
/// Open MPI's are pointers to exported globals; MPICH's are int constants, which the C calling convention
/// passes in the same registers/stack slots.
/// </summary>
internal static unsafe partial class MpiNative
{
    /// <summary>The import name <see cref="MpiSession.Initialize"/> binds to the loaded libmpi.</summary>
    public const string Lib = "mpi";

    [LibraryImport(Lib, EntryPoint = "MPI_Initialized")]
    public static partial int Initialized(out int flag);

    /// <summary>MPI_THREAD_SERIALIZED has the value 2 in both Open MPI and MPICH.</summary>
    public const int ThreadSerialized = 2;

    [LibraryImport(Lib, EntryPoint = "MPI_Init_thread")]
    public static partial int InitThread(nint argc, nint argv, int required, out int provided);

    [LibraryImport(Lib, EntryPoint = "MPI_Finalized")]
    public static partial int Finalized(out int flag);

    [LibraryImport(Lib, EntryPoint = "MPI_Finalize")]
    public static partial int Finalize();

    [LibraryImport(Lib, EntryPoint = "MPI_Comm_rank")]
    public static partial int CommRank(nint comm, out int rank);

    [LibraryImport(Lib, EntryPoint = "MPI_Comm_size")]
    public static partial int CommSize(nint comm, out int size);

    [LibraryImport(Lib, EntryPoint = "MPI_Bcast")]
    public static partial int Bcast(void* buffer, int count, nint datatype, int root, nint comm);

    [LibraryImport(Lib, EntryPoint = "MPI_Allgather")]
    public static partial int Allgather(void* sendbuf, int sendcount, nint sendtype, void* recvbuf, int recvcount, nint recvtype, nint comm);
}

/// <summary>
/// MPI, initialised on first use (only by the mpi init method), finalized on Dispose. Loads libmpi with
/// RTLD_GLOBAL because Open MPI's plugins resolve libmpi symbols from the global namespace.
/// </summary>
public sealed unsafe class MpiSession : IDisposable
{
    /// <summary>Names a specific MPI library to load instead of libmpi.so.40 / .12 (a full path).</summary>
    public const string OverrideVariable = "LLMNET_MPI_LIBRARY";
    private const int MpichCommWorld = 0x44000000, MpichByte = 0x4c00010d;

    private readonly nint _commWorld, _byte;
    private readonly bool _initializedHere;
    private bool _disposed;

    private MpiSession(nint commWorld, nint byteType, bool initializedHere, int rank, int size)
    {
        _commWorld = commWorld; _byte = byteType; _initializedHere = initializedHere; Rank = rank; Size = size;
    }

    public int Rank { get; }
    public int Size { get; }

    /// <summary>Loads libmpi, calls MPI_Init unless already initialised, and reads rank and size of MPI_COMM_WORLD.</summary>
    public static MpiSession Initialize()
    {
        string? chosen = Environment.GetEnvironmentVariable(OverrideVariable);
        string[] candidates = string.IsNullOrEmpty(chosen) ? ["libmpi.so.40", "libmpi.so.12", "libmpi.so"] : [chosen];
        nint lib = NativeLibraryLoader.TryLoad(typeof(MpiNative).Assembly, MpiNative.Lib, candidates, global: true);
        if (lib == 0)
            throw new NativeLibraryMissingException(candidates[0], $"{candidates[0]} not found: -pi mpi needs Open MPI's C library (install openmpi, " +
                "or add its lib directory to LD_LIBRARY_PATH), or use -pi tcp -ps <rank 0 address> or -pi fs -pf <shared dir>");
        nint comm, byteType;
        if (NativeLibrary.TryGetExport(lib, "ompi_mpi_comm_world", out comm))
        {
            if (!NativeLibrary.TryGetExport(lib, "ompi_mpi_byte", out byteType))
                throw new DistributedException("libmpi exports ompi_mpi_comm_world but not ompi_mpi_byte: unsupported Open MPI build; use -pi tcp or -pi fs");
        }
        else
        {
            comm = MpichCommWorld;
            byteType = MpichByte;
        }
        Check(MpiNative.Initialized(out int already), "MPI_Initialized");
        // Serialized: the blocking calls run on a helper thread (to bound them with a timeout), one at a time.
        if (already == 0) Check(MpiNative.InitThread(0, 0, MpiNative.ThreadSerialized, out _), "MPI_Init_thread");
        Check(MpiNative.CommRank(comm, out int rank), "MPI_Comm_rank");
        Check(MpiNative.CommSize(comm, out int size), "MPI_Comm_size");
        return new MpiSession(comm, byteType, already == 0, rank, size);
    }

    /// <summary>MPI_Bcast of bytes from rank 0 (every rank passes a buffer of the same length).</summary>
    public void Broadcast(Span<byte> buffer)
    {
        fixed (byte* p = buffer) Check(MpiNative.Bcast(p, buffer.Length, _byte, 0, _commWorld), "MPI_Bcast");
    }

    /// <summary>MPI_Allgather of one 64-bit value per rank.</summary>
    public ulong[] AllGather(ulong value)
    {
        var result = new ulong[Size];
        fixed (ulong* r = result)
            Check(MpiNative.Allgather(&value, sizeof(ulong), _byte, r, sizeof(ulong), _byte, _commWorld), "MPI_Allgather");
        return result;
    }

    private static void Check(int code, string call)
    {
        if (code != 0) throw new DistributedException($"{call} failed with MPI error code {code}");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_initializedHere && MpiNative.Finalized(out int done) == 0 && done == 0) MpiNative.Finalize();
    }
}
