using System.Globalization;

namespace LlmNet.Cuda.Bench.Report;

/// <summary>
/// One run of tests/gpu/speed-bench.sh, from the files it leaves in its output folder: NAME.run (what ran: key=value
/// lines name, role, program, flags, common, warmup, reference, note, exit), NAME.log (the run's console output, every line
/// time-stamped) and NAME.smi.csv (<see cref="GpuSamples"/>). <c>role</c> is "measured" for an llm-train run and
/// "reference" for llm.c run in the same call as another run's reference; <c>reference</c> names the file in the
/// same folder whose losses the run must match (empty: none).
/// </summary>
internal sealed record BenchRun(
    string Name,
    bool IsReference,
    string Program,
    string Flags,
    string CommonFlags,
    int Warmup,
    string? ReferenceFile,
    int? ExitCode,
    string? Note,
    TrainLog Log,
    GpuSamples Samples,
    TrainLog? Reference)
{
    public const string ManifestExtension = ".run";

    public static BenchRun Read(string manifestPath)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(manifestPath))!;
        var kv = KeyValueFile.Read(manifestPath);
        string name = kv.GetValueOrDefault("name") is { Length: > 0 } n ? n : Path.GetFileNameWithoutExtension(manifestPath);
        int warmup = kv.TryGetValue("warmup", out string? w) && int.TryParse(w, CultureInfo.InvariantCulture, out int wv) && wv >= 0 ? wv
            : throw new InvalidDataException($"{manifestPath}: no warmup=N line (the steps left out of the timing)");
        int? exit = kv.TryGetValue("exit", out string? e) && int.TryParse(e, CultureInfo.InvariantCulture, out int ev) ? ev : null;
        string? refFile = kv.GetValueOrDefault("reference") is { Length: > 0 } r ? r : null;
        string logPath = Path.Combine(dir, name + ".log");
        TrainLog log = File.Exists(logPath) ? TrainLog.Read(logPath) : TrainLog.Parse([]);
        TrainLog? reference = refFile is not null && File.Exists(Path.Combine(dir, refFile)) ? TrainLog.Read(Path.Combine(dir, refFile)) : null;
        return new BenchRun(name, kv.GetValueOrDefault("role") == "reference", kv.GetValueOrDefault("program") ?? "llm-train",
            kv.GetValueOrDefault("flags") ?? "", kv.GetValueOrDefault("common") ?? "", warmup, refFile, exit,
            kv.GetValueOrDefault("note") is { Length: > 0 } note ? note : null, log,
            GpuSamples.Read(Path.Combine(dir, name + ".smi.csv")), reference);
    }

    /// <summary>Every NAME.run in <paramref name="dir"/>, by name (d12, d48, d48-1m, llmc_d48-1m).</summary>
    public static IReadOnlyList<BenchRun> ReadAll(string dir) =>
        [.. Directory.EnumerateFiles(dir, "*" + ManifestExtension).OrderBy(Path.GetFileNameWithoutExtension, StringComparer.Ordinal).Select(Read)];

    /// <summary>The steps after the warm-up that carry a step time.</summary>
    public IReadOnlyList<StepLine> TimedSteps => [.. Log.Steps.Where(s => s.Step > Warmup && s.Ms is not null)];
}
