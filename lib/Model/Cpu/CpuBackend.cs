using System.Numerics.Tensors;
using System.Buffers;
using System.Runtime.Intrinsics;
using LlmNet.Model.Random;
using static LlmNet.Model.ParameterTensor;

namespace LlmNet.Model.Cpu;

/// <summary>
/// The fp32 reference backend: GPT-2 forward, backward and AdamW on the CPU, multithreaded and SIMD, and
/// deterministic (bit-identical results for any thread count). Parameters are the master weights.
/// Activations for MaxBatchSize×MaxSeqLen are allocated up front; gradients, optimizer moments and the
/// backward scratch are allocated on first use, so an inference-only backend (eval, sampling) stays small.
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

    public float Forward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen)
    {
        if (batchSize <= 0 || batchSize > MaxBatchSize) throw new ArgumentOutOfRangeException(nameof(batchSize), $"must be 1..{MaxBatchSize}");
        if (seqLen <= 0 || seqLen > MaxSeqLen) throw new ArgumentOutOfRangeException(nameof(seqLen), $"must be 1..{MaxSeqLen}");
        int bt = batchSize * seqLen;
        if (inputs.Length < bt) throw new ArgumentException($"need {bt} input tokens", nameof(inputs));
        if (!targets.IsEmpty && targets.Length < bt) throw new ArgumentException($"need {bt} target tokens", nameof(targets));
        CheckTokens(inputs[..bt], nameof(inputs));
        inputs[..bt].CopyTo(new Span<int>(_inputs, bt));
        _haveTargets = !targets.IsEmpty;
        if (_haveTargets)
        {
            CheckTokens(targets[..bt], nameof(targets));
            targets[..bt].CopyTo(new Span<int>(_targets, bt));
        }
        _lastB = batchSize;
        _lastT = seqLen;

        EncoderForward(bt, seqLen);
        for (int l = 0; l < L; l++) LayerForward(l, batchSize, seqLen);
        CpuKernels.LayerNormForward(_options, _lnf, _lnfMean, _lnfRstd, Residual(L, bt), Param(Lnfw), Param(Lnfb), bt, C);
        _gemm.Multiply(bt, Vp, C, _lnf, C, false, Param(Wte), C, true, _logits, Vp, false);
        if (!_haveTargets) return float.NaN;
        CrossEntropyForward(bt);
        double sum = 0;
        for (int i = 0; i < bt; i++) sum += _losses[i];
        return (float)(sum / bt);
    }

    private void CheckTokens(ReadOnlySpan<int> tokens, string name)
    {
        foreach (int t in tokens)
            if ((uint)t >= (uint)V) throw new ArgumentOutOfRangeException(name, t, $"token ids must be in [0, {V})");
    }

    private float* Residual(int index, int bt) => _residual + (long)index * bt * C;

    private void EncoderForward(int bt, int seqLen)
    {
        float* wte = Param(Wte), wpe = Param(Wpe), x = Residual(0, bt);
        int* tokens = _inputs;
        int c = C;
        Parallel.For(0, bt, _options, r =>
        {
            TensorPrimitives.Add(new ReadOnlySpan<float>(wte + (long)tokens[r] * c, c), new ReadOnlySpan<float>(wpe + (long)(r % seqLen) * c, c),
                new Span<float>(x + (long)r * c, c));
        });
    }

    private void LayerForward(int l, int b, int t)
    {
        long bt = (long)b * t;
        int rows = (int)bt;
        float* input = Residual(l, rows), output = Residual(l + 1, rows);
        float* residual2 = _residual2 + l * bt * C;
        float* ln1 = _ln1 + l * bt * C, ln2 = _ln2 + l * bt * C;
        float* qkv = _qkv + l * bt * 3 * C, atty = _atty + l * bt * C, fch = _fch + l * bt * 4 * C;
        float* att = _att + l * bt * NH * t;

        CpuKernels.LayerNormForward(_options, ln1, _ln1Mean + l * bt, _ln1Rstd + l * bt, input, Param(Ln1w, l), Param(Ln1b, l), rows, C);
        Linear(qkv, ln1, Param(Qkvw, l), Param(Qkvb, l), rows, C, 3 * C);
        CpuKernels.AttentionForward(_options, atty, att, qkv, b, t, C, NH);
        Linear(_btc, atty, Param(Attprojw, l), Param(Attprojb, l), rows, C, C);
        CpuKernels.Add(_options, residual2, input, _btc, rows, C);
        CpuKernels.LayerNormForward(_options, ln2, _ln2Mean + l * bt, _ln2Rstd + l * bt, residual2, Param(Ln2w, l), Param(Ln2b, l), rows, C);
        Linear(fch, ln2, Param(Fcw, l), Param(Fcb, l), rows, C, 4 * C);
        CpuKernels.GeluForward(_options, _fchGelu, fch, rows, 4 * C);
        Linear(_btc, _fchGelu, Param(Fcprojw, l), Param(Fcprojb, l), rows, 4 * C, C);
        CpuKernels.Add(_options, output, residual2, _btc, rows, C);
    }

    /// <summary>out[rows, oc] = inp[rows, ic] · weight[oc, ic]ᵀ + bias.</summary>
    private void Linear(float* output, float* input, float* weight, float* bias, int rows, int ic, int oc)
    {
        CpuKernels.BroadcastRows(_options, output, bias, rows, oc);
        _gemm.Multiply(rows, oc, ic, input, ic, false, weight, ic, true, output, oc, true);
    }

    private void CrossEntropyForward(int bt)
    {
        float* logits = _logits, lse = _lse, losses = _losses;
        int* targets = _targets;
        int v = V, vp = Vp;
        Parallel.For(0, bt, _options, r =>
        {
            var row = new ReadOnlySpan<float>(logits + (long)r * vp, v);
            float max = TensorPrimitives.Max(row);
            float[] scratch = ArrayPool<float>.Shared.Rent(v);
            var e = scratch.AsSpan(0, v);
            TensorPrimitives.Subtract(row, max, e);
            TensorPrimitives.Exp(e, e);
            float logSum = max + MathF.Log(TensorPrimitives.Sum(e));
            ArrayPool<float>.Shared.Return(scratch);
            lse[r] = logSum;
            losses[r] = logSum - row[targets[r]];
        });
    }

    public void GetLogits(int row, int position, Span<float> values)
    {
        if ((uint)row >= (uint)_lastB || (uint)position >= (uint)_lastT) throw new ArgumentOutOfRangeException(nameof(position), "outside the last forward's batch");
        new ReadOnlySpan<float>(_logits + ((long)row * _lastT + position) * Vp, V).CopyTo(values);
    }

    public void GetLosses(Span<float> values)
    {
        if (!_haveTargets) throw new InvalidOperationException("the last forward pass had no targets");
        new ReadOnlySpan<float>(_losses, _lastB * _lastT).CopyTo(values);
    }

    private void EnsureGradients()
    {
        if (_grads != null) return;
        _grads = _arena.Floats(N);
    }

    private void EnsureBackwardScratch()
    {
        if (_dresidual != null) return;
        long bt = (long)MaxBatchSize * MaxSeqLen;
        _dresidual = _arena.Floats(bt * C);
        _dqkv = _arena.Floats(bt * 3 * C);
        _dfch = _arena.Floats(bt * 4 * C);
        _dlogits = _arena.Floats(bt * Vp);
    }

    public void ZeroGradients()
    {
        EnsureGradients();
        ForChunks(N, (start, count) => new Span<float>(_grads + start, count).Clear());
    }

    public void Backward(float lossScale)
    {
        if (!_haveTargets) throw new InvalidOperationException("Backward needs a forward pass with targets");
        EnsureGradients();
        EnsureBackwardScratch();
        // The embedding gradients' rounding seed (llm.c: encoder_backward): fp32 accumulates without rounding, but the
        // draw keeps the stream, and so the state file's rng_state, in step with the CUDA backend's.
        _rounding.NextMicroStepSeed();
        int b = _lastB, t = _lastT, bt = b * t;

        CrossEntropyBackward(bt, lossScale);
        // Only the first V columns of dlogits are non-zero, so the pad rows of wte get no gradient.
        _gemm.Multiply(V, C, bt, _dlogits, Vp, true, _lnf, C, false, Grad(Wte), C, true);
        _gemm.Multiply(bt, C, V, _dlogits, Vp, false, Param(Wte), C, false, _btc, C, false);
        new Span<float>(_dresidual, bt * C).Clear();
        CpuKernels.LayerNormBackward(_options, _dresidual, Grad(Lnfw), Grad(Lnfb), _btc, Residual(L, bt), Param(Lnfw), _lnfMean, _lnfRstd, bt, C);

        for (int l = L - 1; l >= 0; l--) LayerBackward(l, b, t);
        EncoderBackward(bt, t);
    }

    /// <summary>One process: nothing to average across, so the position in the accumulation window does not matter.</summary>
    public void Backward(float lossScale, bool lastMicroStep) => Backward(lossScale);

    private void CrossEntropyBackward(int bt, float lossScale)
    {
        float* logits = _logits, dlogits = _dlogits, lse = _lse;
        int* targets = _targets;
        int v = V, vp = Vp;
        Parallel.For(0, bt, _options, r =>
        {
            var x = new ReadOnlySpan<float>(logits + (long)r * vp, v);
            var dr = new Span<float>(dlogits + (long)r * vp, v);
            float* d = dlogits + (long)r * vp;
            TensorPrimitives.Subtract(x, lse[r], dr);
            TensorPrimitives.Exp(dr, dr);
            TensorPrimitives.Multiply(dr, lossScale, dr);
            d[targets[r]] -= lossScale;
            for (int i = v; i < vp; i++) d[i] = 0;
        });
    }

    private void LayerBackward(int l, int b, int t)
    {
        long bt = (long)b * t;
        int rows = (int)bt;
        float* input = Residual(l, rows);
        float* residual2 = _residual2 + l * bt * C;
        float* ln1 = _ln1 + l * bt * C, ln2 = _ln2 + l * bt * C;
        float* qkv = _qkv + l * bt * 3 * C, atty = _atty + l * bt * C, fch = _fch + l * bt * 4 * C;
        float* att = _att + l * bt * NH * t;
        float* dres = _dresidual;

        // MLP block: dres holds d(output of layer l).
        CpuKernels.GeluForward(_options, _fchGelu, fch, rows, 4 * C);
        _gemm.Multiply(C, 4 * C, rows, dres, C, true, _fchGelu, 4 * C, false, Grad(Fcprojw, l), 4 * C, true);
        CpuKernels.BiasBackward(_options, Grad(Fcprojb, l), dres, rows, C);
        _gemm.Multiply(rows, 4 * C, C, dres, C, false, Param(Fcprojw, l), 4 * C, false, _dfch, 4 * C, false);
        CpuKernels.GeluBackwardInPlace(_options, _dfch, fch, rows, 4 * C);
        _gemm.Multiply(4 * C, C, rows, _dfch, 4 * C, true, ln2, C, false, Grad(Fcw, l), C, true);
        CpuKernels.BiasBackward(_options, Grad(Fcb, l), _dfch, rows, 4 * C);
        _gemm.Multiply(rows, C, 4 * C, _dfch, 4 * C, false, Param(Fcw, l), C, false, _btc, C, false);
        CpuKernels.LayerNormBackward(_options, dres, Grad(Ln2w, l), Grad(Ln2b, l), _btc, residual2, Param(Ln2w, l), _ln2Mean + l * bt, _ln2Rstd + l * bt, rows, C);

        // Attention block: dres now holds d(residual2).
        _gemm.Multiply(C, C, rows, dres, C, true, atty, C, false, Grad(Attprojw, l), C, true);
        CpuKernels.BiasBackward(_options, Grad(Attprojb, l), dres, rows, C);
        _gemm.Multiply(rows, C, C, dres, C, false, Param(Attprojw, l), C, false, _btc, C, false);
        CpuKernels.AttentionBackward(_options, _dqkv, _btc, att, qkv, b, t, C, NH);
        _gemm.Multiply(3 * C, C, rows, _dqkv, 3 * C, true, ln1, C, false, Grad(Qkvw, l), C, true);
        CpuKernels.BiasBackward(_options, Grad(Qkvb, l), _dqkv, rows, 3 * C);
        _gemm.Multiply(rows, C, 3 * C, _dqkv, 3 * C, false, Param(Qkvw, l), C, false, _btc, C, false);
        CpuKernels.LayerNormBackward(_options, dres, Grad(Ln1w, l), Grad(Ln1b, l), _btc, input, Param(Ln1w, l), _ln1Mean + l * bt, _ln1Rstd + l * bt, rows, C);
    }

    /// <summary>dwte[token] += dx and dwpe[t] += dx; split over channel ranges and summed over rows in order, so repeated tokens stay deterministic.</summary>
    private void EncoderBackward(int bt, int seqLen)
    {
        float* dwte = Grad(Wte), dwpe = Grad(Wpe), dx = _dresidual;
        int* tokens = _inputs;
        int c = C;
        const int chunk = 64;
        int chunks = (c + chunk - 1) / chunk;
        Parallel.For(0, chunks, _options, k =>
        {
            int c0 = k * chunk, width = Math.Min(chunk, c - c0);
            for (int r = 0; r < bt; r++)
            {
                var d = new ReadOnlySpan<float>(dx + (long)r * c + c0, width);
                var te = new Span<float>(dwte + (long)tokens[r] * c + c0, width);
                var pe = new Span<float>(dwpe + (long)(r % seqLen) * c + c0, width);
                TensorPrimitives.Add(te, d, te);
                TensorPrimitives.Add(pe, d, pe);
            }
        });
    }

    public double GradientNormSquared()
    {
        EnsureGradients();
        const int chunk = 1 << 16;
        long chunks = (N + chunk - 1) / chunk;
        var partial = new double[chunks];
        float* g = _grads;
        long n = N;
        Parallel.For(0L, chunks, _options, k =>
        {
            long start = k * chunk;
            int count = (int)Math.Min(chunk, n - start);
            var s = new ReadOnlySpan<float>(g + start, count);
            double sum = 0;
            for (int i = 0; i < count; i++) sum += (double)s[i] * s[i];
            partial[k] = sum;
        });
        double total = 0;
        foreach (double p in partial) total += p;
        return total;
    }

    public void GetGradients(Span<float> values)
    {
        if (values.Length != N) throw new ArgumentException($"expected {N} gradients, got {values.Length}", nameof(values));
        EnsureGradients();
        new ReadOnlySpan<float>(_grads, (int)N).CopyTo(values);
    }

    private void EnsureOptimizerState()
    {
        if (_m != null) return;
        _m = _arena.Floats(N);
        _v = _arena.Floats(N);
    }

    public void Update(in AdamWStep step)
    {
        EnsureGradients();
        EnsureOptimizerState();
        float lr = step.LearningRate, beta1 = step.Beta1, beta2 = step.Beta2, eps = step.Epsilon, scale = step.GradScale;
        float correction1 = 1.0f - MathF.Pow(beta1, step.T);
        float correction2 = 1.0f - MathF.Pow(beta2, step.T);
        float* p = _params, g = _grads, m = _m, v = _v;
        _rounding.StartUpdate();
        foreach (ParameterTensor tensor in ParameterLayout.Tensors)
        {
            _rounding.NextTensorSeed(); // the tensor's rounding seed on the GPU (llm.c: gpt2_update); unused in fp32
            float wd = ParameterLayout.HasWeightDecay(tensor) ? step.WeightDecay : 0f;
            long offset = _layout.Offset(tensor);
            ForChunks(_layout.Size(tensor), (start, count) =>
                AdamW(p + offset + start, g + offset + start, m + offset + start, v + offset + start, count,
                    lr, beta1, beta2, eps, wd, scale, correction1, correction2));
        }
    }

    /// <summary>
    /// One AdamW step over a contiguous run, 8 lanes at a time. Only IEEE add, multiply, divide and sqrt are
    /// used (no fused multiply-add), so the vector and scalar tails round identically.
    /// </summary>
    private static void AdamW(float* p, float* g, float* m, float* v, int count, float lr, float beta1, float beta2,
        float eps, float wd, float scale, float correction1, float correction2)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vb1 = Vector256.Create(beta1); var vb1c = Vector256.Create(1.0f - beta1);
            var vb2 = Vector256.Create(beta2); var vb2c = Vector256.Create(1.0f - beta2);
            var vc1 = Vector256.Create(correction1); var vc2 = Vector256.Create(correction2);
            var vlr = Vector256.Create(lr); var veps = Vector256.Create(eps); var vwd = Vector256.Create(wd); var vscale = Vector256.Create(scale);
            for (; i <= count - 8; i += 8)
            {
                var grad = vscale * Vector256.Load(g + i);
                var mi = vb1 * Vector256.Load(m + i) + vb1c * grad;
                var vi = vb2 * Vector256.Load(v + i) + vb2c * grad * grad;
                var mHat = mi / vc1;
                var vHat = vi / vc2;
                mi.Store(m + i);
                vi.Store(v + i);
                var pi = Vector256.Load(p + i);
                (pi - vlr * (mHat / (Vector256.Sqrt(vHat) + veps) + vwd * pi)).Store(p + i);
            }
        }
        for (; i < count; i++)
        {
            float grad = scale * g[i];
            float mi = beta1 * m[i] + (1.0f - beta1) * grad;
            float vi = beta2 * v[i] + (1.0f - beta2) * grad * grad;
            float mHat = mi / correction1;
            float vHat = vi / correction2;
            m[i] = mi;
            v[i] = vi;
            p[i] -= lr * (mHat / (MathF.Sqrt(vHat) + eps) + wd * p[i]);
        }
    }

    public void GetOptimizerState(Span<float> m, Span<float> v, Span<float> master)
    {
        if (m.Length != N || v.Length != N) throw new ArgumentException($"m and v need {N} values");
        if (_m == null) { m.Clear(); v.Clear(); return; }
        new ReadOnlySpan<float>(_m, (int)N).CopyTo(m);
        new ReadOnlySpan<float>(_v, (int)N).CopyTo(v);
    }

    public void SetOptimizerState(ReadOnlySpan<float> m, ReadOnlySpan<float> v, ReadOnlySpan<float> master)
    {
        if (m.Length != N || v.Length != N) throw new ArgumentException($"m and v need {N} values");
        EnsureOptimizerState();
        m.CopyTo(new Span<float>(_m, (int)N));
        v.CopyTo(new Span<float>(_v, (int)N));
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
