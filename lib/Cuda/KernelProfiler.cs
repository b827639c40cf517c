using LlmNet.Cuda.Interop;

namespace LlmNet.Cuda;

/// <summary>
/// Optional per-kernel timing: while <see cref="Enabled"/>, every launch and matmul is bracketed by CUDA events
/// and synchronized, and its time is added to a table by name. This serializes the stream, so it is for finding
/// where time goes, never for throughput numbers.
/// </summary>
public static class KernelProfiler
{
    private static readonly Dictionary<string, (double Ms, int Count)> s_table = new();
    private static IntPtr s_start, s_stop;

    public static bool Enabled { get; set; }

    internal static void Begin(IntPtr stream)
    {
        if (s_start == IntPtr.Zero)
        {
            Driver.Check(Driver.cuEventCreate(out s_start, 0), "cuEventCreate");
            Driver.Check(Driver.cuEventCreate(out s_stop, 0), "cuEventCreate");
        }
        Driver.Check(Driver.cuEventRecord(s_start, stream), "cuEventRecord");
    }

    internal static void End(IntPtr stream, string name)
    {
        Driver.Check(Driver.cuEventRecord(s_stop, stream), "cuEventRecord");
        Driver.Check(Driver.cuEventSynchronize(s_stop), "cuEventSynchronize");
        Driver.Check(Driver.cuEventElapsedTime(out float ms, s_start, s_stop), "cuEventElapsedTime");
        s_table.TryGetValue(name, out var e);
        s_table[name] = (e.Ms + ms, e.Count + 1);
    }

    public static void Reset() => s_table.Clear();

    /// <summary>The table, most expensive first: name, total ms, calls.</summary>
    public static IReadOnlyList<(string Name, double Ms, int Count)> Results =>
        [.. s_table.Select(kv => (kv.Key, kv.Value.Ms, kv.Value.Count)).OrderByDescending(r => r.Item2)];
}
