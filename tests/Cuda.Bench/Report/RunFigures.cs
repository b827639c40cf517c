using System.Globalization;
using LlmNet.Model;
using LlmNet.Training.Logging;

namespace LlmNet.Cuda.Bench.Report;

/// <summary>
/// What the report prints for one run. Step time is the median of the timed steps' own "MS ms" (the trainer's clock
/// around one update); tok/s divides the run's total batch size by it; MFU counts
/// <see cref="GptConfig.FlopsPerToken"/> at that rate against <see cref="PeakFlops.Bf16Tflops"/> of the run's device.
/// Power and SM clock average the nvidia-smi samples taken while the timed steps ran: from the first timed step's
/// start (its line's stamp less its time) to the last timed step's line. Peak memory is the highest sample of the run.
/// </summary>
internal sealed record RunFigures(
    BenchRun Run,
    int TimedSteps,
    double? MedianMs,
    long? TokensPerStep,
    double? TokensPerSecond,
    double? Mfu,
    double? PeakMemoryMib,
    double? MeanPowerW,
    double? MeanSmMhz,
    int WindowSamples,
    LossCheck? Check,
    string Verdict,
    bool Failed)
{
    /// <summary>Whether the speed figures count: the run finished and matched its reference.</summary>
    public bool Counts => Verdict == "yes";

    public static RunFigures Measure(BenchRun run, string? cardName, int maxSteps, double tolerance)
    {
        var timed = run.TimedSteps;
        double? median = timed.Count > 0 ? Median([.. timed.Select(s => s.Ms!.Value)]) : null;
        long? tokens = run.Log.HeaderInt("total batch size");
        double? tokPerSec = median is double m && tokens is long t ? t / (m / 1000) : null;

        double? mfu = null;
        string device = run.Log.Header.GetValueOrDefault("device") ?? cardName ?? "";
        if (tokPerSec is double rate && Config(run.Log) is GptConfig config && run.Log.HeaderInt("sequence length T") is long seqLen
            && PeakFlops.Bf16Tflops(device) is double peak)
            mfu = config.FlopsPerToken((int)seqLen) * rate / (peak * 1e12);

        double? power = null, clock = null;
        int window = 0;
        if (timed.Count > 0 && timed[0].At is DateTime end0 && timed[^1].At is DateTime last)
        {
            var samples = run.Samples.Between(end0.AddMilliseconds(-timed[0].Ms!.Value), last);
            window = samples.Count;
            power = GpuSamples.Mean(samples.Select(s => s.PowerW));
            clock = GpuSamples.Mean(samples.Select(s => s.SmMhz));
        }

        LossCheck? check = run.Reference is not null ? LossCheck.Compare(run.Log, run.Reference, maxSteps, tolerance) : null;
        string verdict =
            run.IsReference ? (run.ExitCode == 0 ? "reference run" : $"reference run, exit {run.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "missing"}") :
            run.ExitCode is null ? "no: did not finish" :
            run.ExitCode != 0 ? $"no: exit {run.ExitCode}" :
            median is null ? "no: no timed steps" :
            run.ReferenceFile is null ? "no: no reference" :
            check is null ? $"no: no reference ({run.ReferenceFile} missing)" :
            !check.Pass ? "no: loss check failed" :
            "yes";
        // Not counting for want of a reference is what the run was asked to do; anything else is a failure.
        bool failed = run.ExitCode != 0 || (!run.IsReference && median is null) || (run.ReferenceFile is not null && check is not { Pass: true });
        return new RunFigures(run, timed.Count, median, tokens, tokPerSec, mfu, run.Samples.PeakMemoryMib, power, clock, window, check, verdict, failed);
    }

    /// <summary>The model's shape from the parameter table (llm-train and llm.c print the same rows), or null.</summary>
    public static GptConfig? Config(TrainLog log) =>
        log.HeaderInt("max_sequence_length T") is long maxT && log.HeaderInt("vocab_size V") is long v
        && log.HeaderInt("padded_vocab_size Vp") is long vp && log.HeaderInt("num_layers L") is long l
        && log.HeaderInt("num_heads NH") is long nh && log.HeaderInt("channels C") is long c
            ? new GptConfig((int)maxT, (int)v, (int)vp, (int)l, (int)nh, (int)c)
            : null;

    /// <summary>The middle value; the mean of the two middle values for an even count.</summary>
    public static double Median(double[] values)
    {
        if (values.Length == 0) throw new ArgumentException("no values", nameof(values));
        var v = values.Order().ToArray();
        int mid = v.Length / 2;
        return v.Length % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
    }
}
