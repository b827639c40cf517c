using LlmNet.Common.Native;

namespace LlmNet.Cuda.Interop;

/// <summary>
/// Maps the logical library names used by the P/Invoke declarations ("cuda", "nvrtc", "cublasLt") to the
/// versioned shared objects installed with the driver and the CUDA toolkit, loaded through
/// <see cref="NativeLibraryLoader"/>. The toolkit's sonames carry a major version (libnvrtc.so.13,
/// libcublasLt.so.12), so each name has a list of candidates, searched in the default loader path first and then
/// under $CUDA_HOME/lib64 and /usr/local/cuda/lib64.
/// </summary>
public static class NativeLibraries
{
    internal const string Driver = "cuda";
    internal const string Nvrtc = "nvrtc";
    internal const string CublasLt = "cublasLt";

    private static readonly Dictionary<string, string[]> s_candidates = new()
    {
        [Driver] = ["libcuda.so.1", "libcuda.so"],
        [Nvrtc] = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"],
        [CublasLt] = ["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"],
    };

    /// <summary>Loads one of the libraries, or says which files were tried and how to make them visible.</summary>
    public static bool TryLoad(string name, out IntPtr handle, out string reason)
    {
        string[] names = s_candidates[name];
        handle = NativeLibraryLoader.TryLoad(typeof(NativeLibraries).Assembly, name, Candidates(names));
        reason = handle != 0 ? ""
            : name == Driver
                ? "no CUDA driver (libcuda.so.1 not found): install the NVIDIA driver or run on a GPU node"
                : $"{names[0]} not found (also tried {string.Join(", ", names.Skip(1))}): install the CUDA toolkit {(name == Nvrtc ? "runtime compiler" : "cuBLASLt")} and put its lib64 folder in LD_LIBRARY_PATH or set CUDA_HOME";
        return handle != 0;
    }

    /// <summary>Each file name in the default loader path, then each that exists in the toolkit folders.</summary>
    private static IEnumerable<string> Candidates(string[] names)
    {
        foreach (string dir in SearchDirectories())
            foreach (string file in names)
            {
                string candidate = dir.Length == 0 ? file : Path.Combine(dir, file);
                if (dir.Length > 0 && !File.Exists(candidate)) continue;
                yield return candidate;
            }
    }

    /// <summary>Loads the library or throws <see cref="CudaException"/> naming the missing file.</summary>
    internal static void Require(string name)
    {
        if (!TryLoad(name, out _, out string reason)) throw new CudaException(reason);
    }

    private static IEnumerable<string> SearchDirectories()
    {
        yield return "";
        string? home = Environment.GetEnvironmentVariable("CUDA_HOME") ?? Environment.GetEnvironmentVariable("CUDA_PATH");
        if (!string.IsNullOrEmpty(home))
        {
            yield return Path.Combine(home, "lib64");
            yield return Path.Combine(home, "lib");
        }
        yield return "/usr/local/cuda/lib64";
        yield return "/usr/lib/x86_64-linux-gnu";
        yield return "/usr/local/nvidia/lib64";
    }
}
