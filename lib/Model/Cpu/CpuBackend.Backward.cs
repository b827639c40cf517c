using System.Numerics.Tensors;
using static LlmNet.Model.ParameterTensor;

namespace LlmNet.Model.Cpu;

// The backward pass (llm.c train_gpt2.c: gpt2_backward), its lazily allocated buffers, and the gradient norm.
public sealed unsafe partial class CpuBackend
{
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
}
