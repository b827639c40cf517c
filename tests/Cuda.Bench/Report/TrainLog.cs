using System.Globalization;
using System.Text.RegularExpressions;

namespace LlmNet.Cuda.Bench.Report;

/// <summary>One "step N/M | loss X| norm Y| ... | Z ms | ..." line; <see cref="At"/> is when it was printed, if stamped.</summary>
internal sealed record StepLine(int Step, double Loss, double Norm, double? Ms, DateTime? At);

/// <summary>
/// The console output of a training run, as llm-train (lib/Training/Trainer.cs: Run, PrintHeader) and llm.c's
/// train_gpt2cu (llm.c train_gpt2.cu: main) both print it: the parameter table, "step N/M | loss X| norm Y| lr Z | MS ms
/// | ..." lines and "val loss X" lines. tests/gpu/speed-bench.sh prefixes every line with the local time it arrived
/// ("yyyy/MM/dd HH:mm:ss.ffffff" and a tab, nvidia-smi's timestamp format), which places the step lines among the
/// nvidia-smi samples; unstamped logs (llm.c's stored reference output) parse the same, without times.
/// </summary>
internal sealed partial class TrainLog
{
    public IReadOnlyList<StepLine> Steps { get; }
    public IReadOnlyList<double> ValLosses { get; }
    /// <summary>The parameter table's rows ("| device | NVIDIA H100 80GB HBM3 |"), by their trimmed first cell.</summary>
    public IReadOnlyDictionary<string, string> Header { get; }

    private TrainLog(List<StepLine> steps, List<double> vals, Dictionary<string, string> header)
    {
        Steps = steps;
        ValLosses = vals;
        Header = header;
    }

    public static TrainLog Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such log", path);
        return Parse(File.ReadLines(path));
    }

    public static TrainLog Parse(IEnumerable<string> lines)
    {
        var steps = new List<StepLine>();
        var vals = new List<double>();
        var header = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string raw in lines)
        {
            (DateTime? at, string line) = SplitStamp(raw);
            line = line.Trim();
            if (StepPattern().Match(line) is { Success: true } s)
            {
                double? ms = StepMsPattern().Match(line) is { Success: true } m ? Number(m.Groups[1].Value) : null;
                steps.Add(new StepLine(int.Parse(s.Groups[1].Value, CultureInfo.InvariantCulture), Number(s.Groups[2].Value),
                    Number(s.Groups[3].Value), ms, at));
            }
            else if (ValPattern().Match(line) is { Success: true } v) vals.Add(Number(v.Groups[1].Value));
            else if (HeaderPattern().Match(line) is { Success: true } h) header.TryAdd(h.Groups[1].Value.Trim(), h.Groups[2].Value.Trim());
        }
        return new TrainLog(steps, vals, header);
    }

    public const string StampFormat = "yyyy/MM/dd HH:mm:ss.FFFFFFF";

    /// <summary>nvidia-smi's and speed-bench.sh's local timestamps ("2026/12/07 10:11:12.345678"), or null.</summary>
    public static DateTime? ParseStamp(string text) =>
        DateTime.TryParseExact(text.Trim(), StampFormat, CultureInfo.InvariantCulture, DateTimeStyles.None, out var t) ? t : null;

    private static (DateTime? At, string Line) SplitStamp(string raw)
    {
        int tab = raw.IndexOf('\t');
        if (tab > 0 && ParseStamp(raw[..tab]) is DateTime at) return (at, raw[(tab + 1)..]);
        return (null, raw);
    }

    /// <summary>A printf'd double; glibc prints "nan", "-nan", "inf" and "-inf".</summary>
    internal static double Number(string text)
    {
        string t = text.Trim();
        if (t.Contains("nan", StringComparison.OrdinalIgnoreCase)) return double.NaN;
        if (t.Equals("inf", StringComparison.OrdinalIgnoreCase)) return double.PositiveInfinity;
        if (t.Equals("-inf", StringComparison.OrdinalIgnoreCase)) return double.NegativeInfinity;
        return double.Parse(t, NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    /// <summary>The header value of <paramref name="key"/> as an integer, or null.</summary>
    public long? HeaderInt(string key) =>
        Header.TryGetValue(key, out string? v) && long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out long n) ? n : null;

    [GeneratedRegex(@"^step\s+(\d+)/\d+\s*\|\s*loss\s+(\S+?)\s*(?:\([^)]*\))?\s*\|\s*norm\s+(\S+?)\s*(?:\([^)]*\))?\s*\|")]
    private static partial Regex StepPattern();

    [GeneratedRegex(@"\|\s*([0-9.]+)\s*ms\s*\|")]
    private static partial Regex StepMsPattern();

    [GeneratedRegex(@"^val loss\s+(\S+)")]
    private static partial Regex ValPattern();

    [GeneratedRegex(@"^\|\s*([^|]+?)\s*\|\s*([^|]*?)\s*\|$")]
    private static partial Regex HeaderPattern();
}
