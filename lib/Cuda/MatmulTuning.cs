using LlmNet.Cuda.Interop;

namespace LlmNet.Cuda;

// Tuning a plan on its first call (opt-in: LLMNET_MATMUL_TUNE=1). cuBLASLt's heuristic ranks algorithms by a model,
// not by measurement, and on the training shapes another of its first eight is often 2-15% faster when timed alone.
// Only algorithms that compute exactly what the heuristic's first choice computes are considered: the same split-K
// factor and reduction scheme (so every output element is summed in the same order), confirmed by identical output
// bits on the call's own data. The choice may differ from run to run with timing noise; the results cannot, so
// training stays bitwise reproducible. On an H200 the faster products alone did not make the training step faster
// (docs/performance.md), so it is off by default.
public sealed unsafe partial class Matmul
{
    private const int TuneCandidates = 8, TuneRepetitions = 5;

    private readonly KernelModule? _tuningKernels;
    private DeviceBuffer? _fingerprint;
    private CudaTimer? _timer;
    private readonly List<string> _tuningLog = [];

    /// <summary>Plans of fewer flops (2·m·n·k) keep the heuristic's algorithm: tuning them costs more than it saves.</summary>
    public double TuneMinFlops { get; init; } = 8e9;

    /// <summary>One line per tuned plan: its shape, the heuristic's time, and the algorithm kept with its time.</summary>
    public IReadOnlyList<string> TuningLog => _tuningLog;

    /// <summary>LLMNET_MATMUL_TUNE=1 turns tuning on; otherwise every plan keeps the heuristic's first algorithm.</summary>
    public static bool TuningEnabledByEnvironment() => Environment.GetEnvironmentVariable("LLMNET_MATMUL_TUNE") == "1";

    private void Tune(Plan plan, PlanKey key, ulong d, ulong a, ulong b, ulong aux, float alpha)
    {
        CublasLt.HeuristicResult reference = plan.Algo;
        long splitK = ReadAlgoConfig(reference.Algo, CublasLt.AlgoConfigSplitKNum);
        long reduction = ReadAlgoConfig(reference.Algo, CublasLt.AlgoConfigReductionScheme);
        var candidates = ListCandidates(plan, key, TuneCandidates)
            .Where(c => !c.IsRunAlgorithm && c.SplitK == splitK && c.ReductionScheme == reduction)
            .Select(c => c.Result)
            .ToList();
        if (candidates.Count == 0) return;

        // A non-accumulating product overwrites D (and a GELU aux output) on every run, and the call that follows
        // the tuning writes them again. An accumulating one runs on a scratch copy, so the gradient it adds to is kept.
        long bytes = (long)key.M * key.N * 2;
        bool auxOut = key.Epilogue == MatmulEpilogue.GeluAuxBias;
        DeviceBuffer? scratch = key.Accumulate ? _device.Allocate(bytes, "matmul tuning scratch") : null;
        try
        {
            ulong target = scratch?.Ptr ?? d;
            (ulong D, ulong Aux) Probe(CublasLt.HeuristicResult r)
            {
                if (scratch is not null) _device.Copy(target, d, bytes);
                Launch(plan, r.Algo, target, a, b, key.M, key.N, key.K, key.Accumulate, key.Epilogue, alpha);
                return (Fingerprint(target, bytes), auxOut ? Fingerprint(aux, bytes) : 0);
            }
            double Time(CublasLt.HeuristicResult r)
            {
                var times = new double[TuneRepetitions];
                Launch(plan, r.Algo, target, a, b, key.M, key.N, key.K, key.Accumulate, key.Epilogue, alpha); // warm-up
                for (int i = 0; i < times.Length; i++)
                {
                    _timer!.Start();
                    Launch(plan, r.Algo, target, a, b, key.M, key.N, key.K, key.Accumulate, key.Epilogue, alpha);
                    times[i] = _timer.Stop();
                }
                Array.Sort(times);
                return times[times.Length / 2];
            }

            _timer ??= new CudaTimer(_device);
            var expected = Probe(reference);
            double referenceMs = Time(reference), bestMs = referenceMs;
            int bestIndex = -1, agreeing = 0;
            for (int i = 0; i < candidates.Count; i++)
            {
                if (Probe(candidates[i]) != expected) continue;
                agreeing++;
                double ms = Time(candidates[i]);
                if (ms < bestMs) (bestMs, bestIndex) = (ms, i);
            }
            // Keep the heuristic's choice unless another is clearly faster (timing noise is about 1%).
            if (bestIndex >= 0 && bestMs < 0.99 * referenceMs) plan.Algo = candidates[bestIndex];
            else bestMs = referenceMs;
            _tuningLog.Add($"{key.M}x{key.N}x{key.K}{(key.TransA ? " tA" : "")}{(key.TransB ? " tB" : "")}{(key.Accumulate ? " acc" : "")} {key.Epilogue}: " +
                           $"heuristic {referenceMs:F3} ms, kept {bestMs:F3} ms ({agreeing} of {candidates.Count} alternatives agree bitwise)");
        }
        finally
        {
            scratch?.Dispose();
        }
    }

    /// <summary>The fingerprint of bytes (a multiple of 4) of device memory; waits for it.</summary>
    private ulong Fingerprint(ulong data, long bytes)
    {
        _fingerprint ??= _device.Allocate(8, "matmul tuning fingerprint");
        _device.Zero(_fingerprint.Ptr, 8);
        _tuningKernels!.Launch("fingerprint_words", (1024, 1), 256, 0, _fingerprint.Ptr, data, bytes / 4);
        ulong[] value = new ulong[1];
        _device.Download(value.AsSpan(), _fingerprint.Ptr);
        return value[0];
    }
}
