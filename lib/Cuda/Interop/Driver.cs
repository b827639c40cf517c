using System.Runtime.InteropServices;

namespace LlmNet.Cuda.Interop;

/// <summary>The subset of the CUDA driver API (libcuda.so.1) the backend uses. Device pointers are ulong (CUdeviceptr).</summary>
internal static unsafe partial class Driver
{
    private const string Lib = NativeLibraries.Driver;

    public const int AttrMultiprocessorCount = 16;
    public const int AttrComputeCapabilityMajor = 75;
    public const int AttrComputeCapabilityMinor = 76;
    public const int AttrMaxSharedMemoryPerBlockOptin = 97;
    public const int FuncAttrMaxDynamicSharedSizeBytes = 8;

    [LibraryImport(Lib)] public static partial int cuInit(uint flags);
    [LibraryImport(Lib)] public static partial int cuDriverGetVersion(out int version);
    [LibraryImport(Lib)] public static partial int cuDeviceGetCount(out int count);
    [LibraryImport(Lib)] public static partial int cuDeviceGet(out int device, int ordinal);
    [LibraryImport(Lib)] public static partial int cuDeviceGetName(byte* name, int len, int device);
    [LibraryImport(Lib)] public static partial int cuDeviceGetAttribute(out int value, int attribute, int device);
    [LibraryImport(Lib, EntryPoint = "cuDeviceTotalMem_v2")] public static partial int cuDeviceTotalMem(out nuint bytes, int device);
    [LibraryImport(Lib)] public static partial int cuDevicePrimaryCtxRetain(out IntPtr context, int device);
    [LibraryImport(Lib, EntryPoint = "cuDevicePrimaryCtxRelease_v2")] public static partial int cuDevicePrimaryCtxRelease(int device);
    [LibraryImport(Lib)] public static partial int cuCtxSetCurrent(IntPtr context);
    [LibraryImport(Lib)] public static partial int cuCtxSynchronize();
    [LibraryImport(Lib, EntryPoint = "cuMemGetInfo_v2")] public static partial int cuMemGetInfo(out nuint free, out nuint total);

    [LibraryImport(Lib, EntryPoint = "cuMemAlloc_v2")] public static partial int cuMemAlloc(out ulong ptr, nuint bytes);
    [LibraryImport(Lib, EntryPoint = "cuMemFree_v2")] public static partial int cuMemFree(ulong ptr);
    [LibraryImport(Lib, EntryPoint = "cuMemAllocHost_v2")] public static partial int cuMemAllocHost(out IntPtr ptr, nuint bytes);
    [LibraryImport(Lib)] public static partial int cuMemFreeHost(IntPtr ptr);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyHtoDAsync_v2")] public static partial int cuMemcpyHtoDAsync(ulong dst, void* src, nuint bytes, IntPtr stream);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoHAsync_v2")] public static partial int cuMemcpyDtoHAsync(void* dst, ulong src, nuint bytes, IntPtr stream);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoDAsync_v2")] public static partial int cuMemcpyDtoDAsync(ulong dst, ulong src, nuint bytes, IntPtr stream);
    [LibraryImport(Lib, EntryPoint = "cuMemsetD8Async")] public static partial int cuMemsetD8Async(ulong dst, byte value, nuint count, IntPtr stream);
    [LibraryImport(Lib, EntryPoint = "cuMemsetD32Async")] public static partial int cuMemsetD32Async(ulong dst, uint value, nuint count, IntPtr stream);

    [LibraryImport(Lib)] public static partial int cuModuleLoadData(out IntPtr module, void* image);
    [LibraryImport(Lib)] public static partial int cuModuleUnload(IntPtr module);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] public static partial int cuModuleGetFunction(out IntPtr function, IntPtr module, string name);
    [LibraryImport(Lib)] public static partial int cuFuncSetAttribute(IntPtr function, int attribute, int value);
    [LibraryImport(Lib)]
    public static partial int cuLaunchKernel(IntPtr function, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ,
        uint sharedBytes, IntPtr stream, void** parameters, void** extra);

    [LibraryImport(Lib)] public static partial int cuStreamCreate(out IntPtr stream, uint flags);
    [LibraryImport(Lib, EntryPoint = "cuStreamDestroy_v2")] public static partial int cuStreamDestroy(IntPtr stream);
    [LibraryImport(Lib)] public static partial int cuStreamSynchronize(IntPtr stream);
    [LibraryImport(Lib)] public static partial int cuEventCreate(out IntPtr evt, uint flags);
    [LibraryImport(Lib, EntryPoint = "cuEventDestroy_v2")] public static partial int cuEventDestroy(IntPtr evt);
    [LibraryImport(Lib)] public static partial int cuEventRecord(IntPtr evt, IntPtr stream);
    [LibraryImport(Lib)] public static partial int cuEventSynchronize(IntPtr evt);
    [LibraryImport(Lib)] public static partial int cuEventElapsedTime(out float milliseconds, IntPtr start, IntPtr end);
    [LibraryImport(Lib)] public static partial int cuStreamWaitEvent(IntPtr stream, IntPtr evt, uint flags);

    public const uint StreamNonBlocking = 1;        // CU_STREAM_NON_BLOCKING
    public const uint EventDisableTiming = 2;       // CU_EVENT_DISABLE_TIMING

    [LibraryImport(Lib)] public static partial int cuGetErrorName(int error, out byte* name);

    /// <summary>Throws <see cref="CudaException"/> "CALL failed: CUDA_ERROR_X" unless result is CUDA_SUCCESS.</summary>
    public static void Check(int result, string call)
    {
        if (result == 0) return;
        string name = $"CUresult {result}";
        try { if (cuGetErrorName(result, out byte* p) == 0 && p != null) name = Marshal.PtrToStringUTF8((IntPtr)p) ?? name; }
        catch (DllNotFoundException) { }
        throw new CudaException($"{call} failed: {name}", name);
    }
}
