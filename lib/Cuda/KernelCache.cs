using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using LlmNet.Cuda.Interop;

namespace LlmNet.Cuda;

/// <summary>
/// Compiles CUDA C with NVRTC into a cubin for one architecture and keeps the result on disk under
/// $LLMNET_KERNEL_CACHE, else $XDG_CACHE_HOME/llm.net/kernels, else ~/.cache/llm.net/kernels, named by a hash of
/// (source, architecture, options, NVRTC version). A later start with the same inputs loads the cubin in milliseconds.
/// </summary>
public static unsafe class KernelCache
{
    public static string Directory
    {
        get
        {
            string? dir = Environment.GetEnvironmentVariable("LLMNET_KERNEL_CACHE");
            if (!string.IsNullOrEmpty(dir)) return dir;
            string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            string root = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            return Path.Combine(root, "llm.net", "kernels");
        }
    }

    /// <summary>True when the last <see cref="GetCubin"/> call found its cubin on disk.</summary>
    public static bool LastWasHit { get; private set; }

    public static byte[] GetCubin(string source, string arch, IReadOnlyList<string> options)
    {
        NativeLibraries.Require(NativeLibraries.Nvrtc);
        Nvrtc.Check(Nvrtc.nvrtcVersion(out int major, out int minor), "nvrtcVersion");
        string key = Hash($"{source}\n{arch}\n{string.Join(' ', options)}\nnvrtc {major}.{minor}");
        string path = Path.Combine(Directory, $"{key}.cubin");
        if (File.Exists(path))
        {
            try { LastWasHit = true; return File.ReadAllBytes(path); }
            catch (IOException) { /* unreadable cache entry: rebuild it */ }
        }
        LastWasHit = false;
        byte[] cubin = Compile(source, arch, options);
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            string temp = $"{path}.{Environment.ProcessId}.tmp";
            File.WriteAllBytes(temp, cubin);
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A read-only or full cache only costs compile time on the next start.
        }
        return cubin;
    }

    /// <summary>Compiles without the cache; throws with NVRTC's full log on any error.</summary>
    public static byte[] Compile(string source, string arch, IReadOnlyList<string> options)
    {
        NativeLibraries.Require(NativeLibraries.Nvrtc);
        Nvrtc.Check(Nvrtc.nvrtcCreateProgram(out IntPtr program, source, "llmnet_kernels.cu", 0, null, null), "nvrtcCreateProgram");
        try
        {
            var all = new List<string> { $"--gpu-architecture={arch}" };
            all.AddRange(options);
            IntPtr[] native = all.Select(o => Marshal.StringToCoTaskMemUTF8(o)).ToArray();
            int result;
            try
            {
                fixed (IntPtr* p = native) result = Nvrtc.nvrtcCompileProgram(program, native.Length, (byte**)p);
            }
            finally
            {
                foreach (IntPtr p in native) Marshal.FreeCoTaskMem(p);
            }
            if (result != 0)
                throw new CudaException($"nvrtcCompileProgram failed: {Marshal.PtrToStringUTF8((IntPtr)Nvrtc.nvrtcGetErrorString(result))}\n{Log(program)}");
            Nvrtc.Check(Nvrtc.nvrtcGetCUBINSize(program, out nuint size), "nvrtcGetCUBINSize");
            byte[] cubin = new byte[(int)size];
            fixed (byte* p = cubin) Nvrtc.Check(Nvrtc.nvrtcGetCUBIN(program, p), "nvrtcGetCUBIN");
            return cubin;
        }
        finally
        {
            Nvrtc.nvrtcDestroyProgram(ref program);
        }
    }

    private static string Log(IntPtr program)
    {
        if (Nvrtc.nvrtcGetProgramLogSize(program, out nuint size) != 0 || size <= 1) return "";
        byte[] log = new byte[(int)size];
        fixed (byte* p = log) Nvrtc.nvrtcGetProgramLog(program, p);
        return Encoding.UTF8.GetString(log, 0, log.Length - 1);
    }

    private static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..32];
}

/// <summary>The backend's kernels: sources embedded in this assembly, concatenated in dependency order.</summary>
public static class KernelSources
{
    public static readonly string[] Files = ["common.cuh", "elementwise.cu", "layernorm.cu", "attention.cu", "flash.cu", "flash_wgmma.cu", "classifier.cu", "optimizer.cu"];

    public static readonly string[] Options = ["-std=c++17", "--use_fast_math"];

    public static string Combined()
    {
        var sb = new StringBuilder();
        var asm = typeof(KernelSources).Assembly;
        foreach (string file in Files)
        {
            using Stream s = asm.GetManifestResourceStream($"LlmNet.Cuda.Kernels.{file}")
                ?? throw new InvalidOperationException($"kernel source {file} is not embedded in {asm.GetName().Name}");
            using var reader = new StreamReader(s);
            sb.Append("// ---- ").Append(file).Append('\n').Append(reader.ReadToEnd()).Append('\n');
        }
        return sb.ToString();
    }
}

/// <summary>A kernel argument: a device pointer, int, long or float, passed by address to cuLaunchKernel.</summary>
public readonly struct KernelArg
{
    internal readonly long Bits;
    private KernelArg(long bits) => Bits = bits;
    public static implicit operator KernelArg(ulong pointer) => new((long)pointer);
    public static implicit operator KernelArg(long value) => new(value);
    public static implicit operator KernelArg(int value) => new((uint)value);
    public static implicit operator KernelArg(uint value) => new(value);
    public static implicit operator KernelArg(float value) => new((uint)BitConverter.SingleToInt32Bits(value));
}

/// <summary>A loaded cubin and its functions by name.</summary>
public sealed unsafe class KernelModule : IDisposable
{
    private readonly CudaDevice _device;
    private IntPtr _module;
    private readonly Dictionary<string, IntPtr> _functions = new();

    public KernelModule(CudaDevice device, byte[] cubin)
    {
        _device = device;
        fixed (byte* p = cubin) Driver.Check(Driver.cuModuleLoadData(out _module, p), "cuModuleLoadData");
    }

    /// <summary>Compiles (or fetches from the cache) the embedded kernels for this device and loads them.</summary>
    public static KernelModule LoadDefault(CudaDevice device) =>
        new(device, KernelCache.GetCubin(KernelSources.Combined(), device.KernelArch, KernelSources.Options));

    public IntPtr Function(string name)
    {
        if (_functions.TryGetValue(name, out IntPtr f)) return f;
        Driver.Check(Driver.cuModuleGetFunction(out f, _module, name), $"cuModuleGetFunction({name})");
        _functions[name] = f;
        return f;
    }

    /// <summary>Whether the module has a kernel of this name (some exist only for some architectures).</summary>
    public bool Has(string name)
    {
        if (_functions.ContainsKey(name)) return true;
        if (Driver.cuModuleGetFunction(out IntPtr f, _module, name) != 0) return false;
        _functions[name] = f;
        return true;
    }

    /// <summary>Lets a kernel use more than 48 KiB of dynamic shared memory.</summary>
    public void AllowSharedMemory(string name, int bytes) =>
        Driver.Check(Driver.cuFuncSetAttribute(Function(name), Driver.FuncAttrMaxDynamicSharedSizeBytes, bytes), $"cuFuncSetAttribute({name})");

    public void Launch(string name, (int X, int Y) grid, int block, int sharedBytes, params ReadOnlySpan<KernelArg> args) =>
        Launch(name, grid, (block, 1), sharedBytes, args);

    public void Launch(string name, (int X, int Y) grid, (int X, int Y) block, int sharedBytes, params ReadOnlySpan<KernelArg> args)
    {
        if (grid.X <= 0 || grid.Y <= 0) return; // nothing to do (empty tensor)
        IntPtr f = Function(name);
        long* values = stackalloc long[args.Length];
        void** pointers = stackalloc void*[args.Length];
        for (int i = 0; i < args.Length; i++) { values[i] = args[i].Bits; pointers[i] = &values[i]; }
        bool profile = KernelProfiler.Enabled;
        if (profile) KernelProfiler.Begin(_device.Stream);
        Driver.Check(Driver.cuLaunchKernel(f, (uint)grid.X, (uint)grid.Y, 1, (uint)block.X, (uint)block.Y, 1, (uint)sharedBytes,
            _device.Stream, pointers, null), $"cuLaunchKernel({name})");
        if (profile) KernelProfiler.End(_device.Stream, name);
    }

    public void Dispose()
    {
        if (_module != IntPtr.Zero) Driver.cuModuleUnload(_module);
        _module = IntPtr.Zero;
    }
}
