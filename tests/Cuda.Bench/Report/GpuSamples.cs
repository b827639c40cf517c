using System.Globalization;

namespace LlmNet.Cuda.Bench.Report;

/// <summary>One nvidia-smi reading; a field nvidia-smi could not read ("[N/A]") is NaN.</summary>
internal sealed record GpuSample(DateTime At, double MemoryMib, double PowerW, double SmMhz, double MemMhz, double TemperatureC);

/// <summary>
/// The samples tests/gpu/speed-bench.sh takes in the background during one run:
/// <c>nvidia-smi --query-gpu=timestamp,memory.used,power.draw,clocks.sm,clocks.mem,temperature.gpu
/// --format=csv,noheader,nounits -lms 100</c>.
/// </summary>
internal sealed class GpuSamples
{
    public const string Query = "timestamp,memory.used,power.draw,clocks.sm,clocks.mem,temperature.gpu";

    public IReadOnlyList<GpuSample> All { get; }

    public GpuSamples(IReadOnlyList<GpuSample> all) => All = all;

    public static GpuSamples Read(string path) =>
        File.Exists(path) ? Parse(File.ReadLines(path)) : new GpuSamples([]);

    /// <summary>Lines that are not samples (a header, a torn last line when the sampler was killed) are skipped.</summary>
    public static GpuSamples Parse(IEnumerable<string> lines)
    {
        var samples = new List<GpuSample>();
        foreach (string line in lines)
        {
            string[] f = line.Split(',');
            if (f.Length != 6 || TrainLog.ParseStamp(f[0]) is not DateTime at) continue;
            samples.Add(new GpuSample(at, Field(f[1]), Field(f[2]), Field(f[3]), Field(f[4]), Field(f[5])));
        }
        return new GpuSamples(samples);
    }

    private static double Field(string text) =>
        double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : double.NaN;

    /// <summary>The highest memory.used over the whole run, or null without samples.</summary>
    public double? PeakMemoryMib => Max(All.Select(s => s.MemoryMib));

    /// <summary>The samples taken in (<paramref name="from"/>, <paramref name="to"/>].</summary>
    public IReadOnlyList<GpuSample> Between(DateTime from, DateTime to) => [.. All.Where(s => s.At > from && s.At <= to)];

    public static double? Mean(IEnumerable<double> values)
    {
        var v = values.Where(double.IsFinite).ToList();
        return v.Count > 0 ? v.Average() : null;
    }

    public static double? Max(IEnumerable<double> values)
    {
        var v = values.Where(double.IsFinite).ToList();
        return v.Count > 0 ? v.Max() : null;
    }
}
