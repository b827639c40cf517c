using System.Runtime.InteropServices;
using LlmNet.Common.Native;

namespace LlmNet.Distributed.Nccl;

/// <summary>Loading libnccl.so.2 and the safe entry points that do not need a communicator.</summary>
public static unsafe class NcclLibrary
{
    public const string FileName = "libnccl.so.2";

    /// <summary>Names a specific NCCL build to load instead of the system's libnccl.so.2 (a full path).</summary>
    public const string OverrideVariable = "LLMNET_NCCL_LIBRARY";

    private static nint _ncclGetLastError;

    /// <summary>Loads NCCL or throws <see cref="NativeLibraryMissingException"/> naming libnccl.so.2 and the fix.</summary>
    public static void EnsureLoaded()
    {
        string? chosen = Environment.GetEnvironmentVariable(OverrideVariable);
        string[] candidates = string.IsNullOrEmpty(chosen) ? [FileName, "libnccl.so"] : [chosen];
        nint h = NativeLibraryLoader.TryLoad(typeof(NcclNative).Assembly, NcclNative.Lib, candidates);
        if (h == 0)
            throw new NativeLibraryMissingException(candidates[0],
                $"{candidates[0]} not found: multi-GPU training needs NVIDIA NCCL 2 (install libnccl2, or add its directory to LD_LIBRARY_PATH)");
        if (_ncclGetLastError == 0 && NativeLibrary.TryGetExport(h, "ncclGetLastError", out nint f)) _ncclGetLastError = f;
    }

    /// <summary>NCCL's version as major.minor.patch.</summary>
    public static Version GetVersion()
    {
        EnsureLoaded();
        Check(NcclNative.GetVersion(out int code), "ncclGetVersion");
        // Since 2.9 the code is major*10000 + minor*100 + patch; before, major*1000 + minor*100 + patch.
        return code >= 10000 ? new Version(code / 10000, code / 100 % 100, code % 100) : new Version(code / 1000, code / 100 % 10, code % 100);
    }

    /// <summary>A fresh unique id (rank 0 only), to be handed to every rank.</summary>
    public static NcclUniqueId GetUniqueId()
    {
        EnsureLoaded();
        NcclUniqueId id;
        Check(NcclNative.GetUniqueId(&id), "ncclGetUniqueId");
        return id;
    }

    /// <summary>NCCL's text for a result code.</summary>
    public static string ErrorString(NcclResult result)
    {
        try
        {
            EnsureLoaded();
            return Marshal.PtrToStringUTF8((nint)NcclNative.GetErrorString(result)) ?? result.ToString();
        }
        catch (NativeLibraryMissingException) { return result.ToString(); }
    }

    /// <summary>NCCL's detailed last error for a communicator (NCCL ≥ 2.13), or "".</summary>
    internal static string LastError(nint comm)
    {
        if (_ncclGetLastError == 0) return "";
        var f = (delegate* unmanaged<nint, byte*>)_ncclGetLastError;
        return Marshal.PtrToStringUTF8((nint)f(comm)) ?? "";
    }

    internal static void Check(NcclResult result, string call, nint comm = 0)
    {
        if (result is NcclResult.Success) return;
        string detail = comm != 0 ? LastError(comm) : "";
        throw new NcclException(result, $"{call} failed: {ErrorString(result)} ({result}){(detail.Length > 0 ? ": " + detail : "")}");
    }
}

/// <summary>An NCCL call that returned an error.</summary>
public sealed class NcclException : DistributedException
{
    public NcclException(NcclResult result, string message) : base(message) { Result = result; }
    public NcclResult Result { get; }
}
