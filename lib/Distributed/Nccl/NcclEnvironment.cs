using System.Runtime.InteropServices;

namespace LlmNet.Distributed.Nccl;

/// <summary>
/// NCCL reads its settings with getenv when the first communicator is made. .NET's
/// Environment.SetEnvironmentVariable does not change the native environment on Unix, so the values are
/// written with libc's setenv as well.
/// </summary>
public static partial class NcclEnvironment
{
    /// <summary>
    /// NVLink SHARP (multicast) stays off: the GPU hosts llm.net runs on do not allow NVLink multicast objects,
    /// and NCCL would otherwise try to create them on NVSwitch systems.
    /// </summary>
    public const string NvlsVariable = "NCCL_NVLS_ENABLE";

    /// <summary>Sets NCCL_NVLS_ENABLE=0 unless the user set it. Call before the first communicator is made.</summary>
    public static void Apply()
    {
        if (string.IsNullOrEmpty(GetNative(NvlsVariable)) && string.IsNullOrEmpty(Environment.GetEnvironmentVariable(NvlsVariable)))
            SetBoth(NvlsVariable, "0");
    }

    /// <summary>Sets a variable for both managed code and native libraries loaded into this process.</summary>
    public static void SetBoth(string name, string value)
    {
        Environment.SetEnvironmentVariable(name, value);
        if (SetEnv(name, value, 1) != 0)
            throw new DistributedException($"setenv({name}) failed with errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>The value native code sees (libc getenv), or null.</summary>
    public static string? GetNative(string name)
    {
        nint p = GetEnv(name);
        return p == 0 ? null : Marshal.PtrToStringUTF8(p);
    }

    [LibraryImport("libc.so.6", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int SetEnv(string name, string value, int overwrite);

    [LibraryImport("libc.so.6", EntryPoint = "getenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint GetEnv(string name);
}
