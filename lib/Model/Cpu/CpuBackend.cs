using LlmNet.Model.Random;

namespace LlmNet.Model.Cpu;

/// <summary>
/// The fp32 reference backend: GPT-2 forward, backward and AdamW on the CPU, multithreaded and SIMD, and
/// deterministic (bit-identical results for any thread count). Parameters are the master weights.
/// Activations for MaxBatchSize×MaxSeqLen are allocated up front; gradients, optimizer moments and the
/// backward scratch are allocated on first use, so an inference-only backend (eval, sampling) stays small.
/// By phase, as the CUDA backend: this file (state, parameters), .Forward, .Backward, .Optimizer, .MicroSteps
/// (the training contract and the rounding seeds) and .Decoder (incremental decoding for sampling).
/// </summary>
public sealed unsafe partial class CpuBackend : IGptBackend, IGptBackendProbe, IIncrementalDecoder
{
    private readonly NativeArena _arena = new();
    private readonly ParallelOptions _options;
    private readonly Sgemm _gemm;
    private readonly ParameterLayout _layout;
    private readonly int _threads;
    private readonly RoundingSeeds _rounding; // llm.c's seed stream, advanced as on the GPU though fp32 rounds nothing
    private readonly int L, C, NH, V, Vp;
    private readonly long N;

    private readonly float* _params;
    private float* _grads, _m, _v;

    // Activations, each sized for MaxBatchSize·MaxSeqLen rows (BT) and laid out per layer. Names follow llm.c's
    // ActivationTensors (train_gpt2.cu) and the CUDA backend's buffers where they hold the same thing.
    private readonly float* _residual;   // (L+1, BT, C): [0] is the embedding, [l+1] the output of layer l
    private readonly float* _residual2;  // (L, BT, C): after attention
    private readonly float* _ln1, _ln1Mean, _ln1Rstd, _qkv, _atty, _att, _ln2, _ln2Mean, _ln2Rstd, _fch;
    private readonly float* _fchGelu;    // (BT, 4C), one layer; recomputed in backward
    private readonly float* _btc;        // (BT, C) scratch: projection outputs before the residual add, and dln/datty in backward
    private readonly float* _lnf, _lnfMean, _lnfRstd, _logits, _lse, _losses; // _lse: the logits' log-sum-exp per row
    private readonly int* _inputs, _targets;

    // Backward scratch, allocated on first Backward.
    private float* _dresidual, _dqkv, _dfch, _dlogits;

    private int _lastB, _lastT;
    private bool _haveTargets;

    /// <param name="rank">This process's rank, which offsets the stochastic-rounding seed stream (13371337 + rank).</param>
    public CpuBackend(GptConfig config, int maxBatchSize, int maxSeqLen, int threads = 0, int rank = 0)
    {
        if (maxBatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(maxBatchSize));
        if (maxSeqLen <= 0 || maxSeqLen > config.MaxSeqLen) throw new ArgumentOutOfRangeException(nameof(maxSeqLen), $"must be 1..{config.MaxSeqLen}");
        if (config.Channels % config.NumHeads != 0) throw new ArgumentException("channels must be divisible by heads", nameof(config));
        Config = config;
        MaxBatchSize = maxBatchSize;
        MaxSeqLen = maxSeqLen;
        _threads = threads > 0 ? threads : Environment.ProcessorCount;
        _rounding = RoundingSeeds.ForRank(rank);
        _options = new ParallelOptions { MaxDegreeOfParallelism = _threads };
        _layout = ParameterLayout.For(config);
        (L, C, NH, V, Vp) = (config.NumLayers, config.Channels, config.NumHeads, config.VocabSize, config.PaddedVocabSize);
        N = _layout.Count;
        _gemm = new Sgemm(_arena, _threads);

        long bt = (long)maxBatchSize * maxSeqLen;
        _params = _arena.Floats(N);
        _residual = _arena.Floats((L + 1) * bt * C);
        _residual2 = _arena.Floats(L * bt * C);
        _ln1 = _arena.Floats(L * bt * C);
        _ln1Mean = _arena.Floats(L * bt);
        _ln1Rstd = _arena.Floats(L * bt);
        _qkv = _arena.Floats(L * bt * 3 * C);
        _atty = _arena.Floats(L * bt * C);
        _att = _arena.Floats(L * bt * NH * maxSeqLen);
        _ln2 = _arena.Floats(L * bt * C);
        _ln2Mean = _arena.Floats(L * bt);
        _ln2Rstd = _arena.Floats(L * bt);
        _fch = _arena.Floats(L * bt * 4 * C);
        _fchGelu = _arena.Floats(bt * 4 * C);
        _btc = _arena.Floats(bt * C);
        _lnf = _arena.Floats(bt * C);
        _lnfMean = _arena.Floats(bt);
        _lnfRstd = _arena.Floats(bt);
        _logits = _arena.Floats(bt * Vp);
        _lse = _arena.Floats(bt);
        _losses = _arena.Floats(bt);
        _inputs = _arena.Ints(bt);
        _targets = _arena.Ints(bt);
    }

    public GptConfig Config { get; }
    public string DeviceName => $"cpu ({_threads} threads)";
    public int MaxBatchSize { get; }
    public int MaxSeqLen { get; }
    public bool KeepsMasterWeights => false;
    /// <summary>Native memory held by the backend so far, in bytes.</summary>
    public long AllocatedBytes => _arena.BytesAllocated;

    /// <summary>Layer <paramref name="layer"/>'s copy of a parameter tensor (llm.c: params.qkvw + l * 3*C*C).</summary>
    private float* Param(ParameterTensor tensor, int layer = 0) => _params + _layout.LayerOffset(tensor, layer);
    private float* Grad(ParameterTensor tensor, int layer = 0) => _grads + _layout.LayerOffset(tensor, layer);

    public void SetParameters(ReadOnlySpan<float> values)
    {
        if (values.Length != N) throw new ArgumentException($"expected {N} parameters, got {values.Length}", nameof(values));
        values.CopyTo(new Span<float>(_params, (int)N));
    }

    public void GetParameters(Span<float> values)
    {
        if (values.Length != N) throw new ArgumentException($"expected {N} parameters, got {values.Length}", nameof(values));
        new ReadOnlySpan<float>(_params, (int)N).CopyTo(values);
    }

    /// <summary>Runs body over [0, count) in fixed 64K-element chunks on the thread pool.</summary>
    private void ForChunks(long count, Action<long, int> body)
    {
        const int chunk = 1 << 16;
        long chunks = (count + chunk - 1) / chunk;
        Parallel.For(0L, chunks, _options, k => body(k * chunk, (int)Math.Min(chunk, count - k * chunk)));
    }

    public void Dispose() => _arena.Dispose();
}
