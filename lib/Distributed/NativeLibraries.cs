using System.Reflection;
using System.Runtime.InteropServices;

namespace LlmNet.Distributed;

/// <summary>
/// Loads the optional native libraries this assembly binds to (NCCL, MPI) on first use only, so a
/// single-GPU or CPU run never needs them, and reports a missing one by name. The [LibraryImport] names
/// "nccl" and "mpi" resolve to the handles loaded here.
/// </summary>
internal static partial class NativeLibraries
{
    public const string NcclName = "nccl";
    public const string MpiName = "mpi";

    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, nint> Loaded = new(StringComparer.Ordinal);
    private static bool _resolverSet;

    /// <summary>
    /// Loads the first of <paramref name="candidates"/> that exists and binds <paramref name="importName"/>
    /// to it. <paramref name="global"/> loads with RTLD_GLOBAL (Open MPI's plugins look up libmpi symbols).
    /// </summary>
    public static nint Load(string importName, string[] candidates, bool global, Func<string, string> missingMessage)
    {
        lock (Gate)
        {
            if (Loaded.TryGetValue(importName, out nint h)) return h;
            if (!_resolverSet)
            {
                NativeLibrary.SetDllImportResolver(typeof(NativeLibraries).Assembly, Resolve);
                _resolverSet = true;
            }
            foreach (var name in candidates)
            {
                h = global ? DlopenGlobal(name) : NativeLibrary.TryLoad(name, out nint handle) ? handle : 0;
                if (h != 0)
                {
                    Loaded[importName] = h;
                    return h;
                }
            }
            throw new NativeLibraryMissingException(candidates[0], missingMessage(candidates[0]));
        }
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? path)
    {
        lock (Gate) return Loaded.TryGetValue(libraryName, out nint h) ? h : 0;
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
