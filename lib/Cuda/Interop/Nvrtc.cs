using System.Runtime.InteropServices;

namespace LlmNet.Cuda.Interop;

/// <summary>The CUDA runtime compiler (libnvrtc): CUDA C source to a cubin for one GPU architecture.</summary>
internal static unsafe partial class Nvrtc
{
    private const string Lib = NativeLibraries.Nvrtc;

    [LibraryImport(Lib)] public static partial int nvrtcVersion(out int major, out int minor);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int nvrtcCreateProgram(out IntPtr program, string source, string name, int headerCount, byte** headers, byte** includeNames);
    [LibraryImport(Lib)] public static partial int nvrtcDestroyProgram(ref IntPtr program);
    [LibraryImport(Lib)] public static partial int nvrtcCompileProgram(IntPtr program, int optionCount, byte** options);
    [LibraryImport(Lib)] public static partial int nvrtcGetProgramLogSize(IntPtr program, out nuint size);
    [LibraryImport(Lib)] public static partial int nvrtcGetProgramLog(IntPtr program, byte* log);
    [LibraryImport(Lib)] public static partial int nvrtcGetCUBINSize(IntPtr program, out nuint size);
    [LibraryImport(Lib)] public static partial int nvrtcGetCUBIN(IntPtr program, byte* cubin);
    [LibraryImport(Lib)] public static partial byte* nvrtcGetErrorString(int result);

    public static void Check(int result, string call)
    {
        if (result == 0) return;
        string name = Marshal.PtrToStringUTF8((IntPtr)nvrtcGetErrorString(result)) ?? $"nvrtcResult {result}";
        throw new CudaException($"{call} failed: {name}");
    }
}
