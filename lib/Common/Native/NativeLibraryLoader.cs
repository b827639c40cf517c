using System.Reflection;
using System.Runtime.InteropServices;

namespace LlmNet.Common.Native;

/// <summary>
/// Loads the optional native libraries (CUDA driver, NVRTC, cuBLASLt, NCCL, MPI) on first use and binds the
/// [LibraryImport] names of the assembly that declares them to the loaded handles, so a CPU or single-GPU run never
/// needs what it does not call, and the caller can name a missing library and its fix. Each library's candidate files
/// and messages live beside its bindings (lib/Cuda/Interop/NativeLibraries.cs, lib/Distributed/Nccl, lib/Distributed/Mpi).
/// </summary>
public static partial class NativeLibraryLoader
{
    private static readonly Lock Gate = new();
    private static readonly Dictionary<(Assembly Assembly, string Name), nint> Bound = [];
    private static readonly HashSet<Assembly> Resolved = [];

    /// <summary>
    /// The handle bound to <paramref name="importName"/> for <paramref name="assembly"/>; otherwise loads the first of
    /// <paramref name="candidates"/> that loads (enumerated lazily, in order) and binds it. <paramref name="global"/>
    /// loads with RTLD_GLOBAL (Open MPI's plugins look up libmpi's symbols). Returns 0 when none loads.
    /// </summary>
    public static nint TryLoad(Assembly assembly, string importName, IEnumerable<string> candidates, bool global = false)
    {
        lock (Gate)
        {
            if (Bound.TryGetValue((assembly, importName), out nint handle)) return handle;
            if (Resolved.Add(assembly)) NativeLibrary.SetDllImportResolver(assembly, Resolve);
            foreach (string candidate in candidates)
            {
                handle = global ? DlopenGlobal(candidate) : NativeLibrary.TryLoad(candidate, out nint h) ? h : 0;
                if (handle != 0)
                {
                    Bound[(assembly, importName)] = handle;
                    return handle;
                }
            }
            return 0;
        }
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? path)
    {
        lock (Gate) return Bound.TryGetValue((assembly, libraryName), out nint h) ? h : 0;
    }

    private const int RtldNow = 0x2, RtldGlobal = 0x100;

    private static nint DlopenGlobal(string name)
    {
        try { return DlopenLibc(name, RtldNow | RtldGlobal); }
        catch (EntryPointNotFoundException) { }
        catch (DllNotFoundException) { }
        try { return DlopenLibdl(name, RtldNow | RtldGlobal); }
        catch (EntryPointNotFoundException) { return 0; }
        catch (DllNotFoundException) { return 0; }
    }

    [LibraryImport("libc.so.6", EntryPoint = "dlopen", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint DlopenLibc(string file, int mode);

    [LibraryImport("libdl.so.2", EntryPoint = "dlopen", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint DlopenLibdl(string file, int mode);
}
