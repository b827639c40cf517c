using System.Numerics.Tensors;
using static LlmNet.Model.ParameterTensor;

namespace LlmNet.Model.Cpu;

/// <summary>Incremental decoding of one sequence with a per-layer key/value cache (for sampling).</summary>
public sealed unsafe partial class CpuBackend
{
    // Allocated on first use: keys and values (L, maxT, C), and one position's activations.
    private float* _kCache, _vCache, _dx, _dln, _dqkv1, _dy, _dfc, _dgelu1, _dlogits1, _dscores;
    private int _position;
    private static readonly ParallelOptions Serial = new() { MaxDegreeOfParallelism = 1 };

    public int Position => _position;

    public void Reset() => _position = 0;

    public void Step(int token, Span<float> logits)
    {
        if ((uint)token >= (uint)V) throw new ArgumentOutOfRangeException(nameof(token), token, $"token ids must be in [0, {V})");
        if (logits.Length < V) throw new ArgumentException($"need room for {V} logits", nameof(logits));
        if (_position >= Config.MaxSeqLen) throw new InvalidOperationException($"the sequence already holds maxT = {Config.MaxSeqLen} tokens; call Reset");
        EnsureDecoder();
        int pos = _position, c = C, hs = C / NH, maxT = Config.MaxSeqLen;
        float scale = 1.0f / MathF.Sqrt(hs);
        var x = new Span<float>(_dx, c);
        TensorPrimitives.Add(new ReadOnlySpan<float>(Param(Wte) + (long)token * c, c), new ReadOnlySpan<float>(Param(Wpe) + (long)pos * c, c), x);
        for (int l = 0; l < L; l++)
        {
            float* kc = _kCache + (long)l * maxT * c, vc = _vCache + (long)l * maxT * c;
            LayerNormRow(_dln, _dx, Param(Ln1w, l), Param(Ln1b, l));
            MatVec(_dqkv1, Param(Qkvw, l), _dln, Param(Qkvb, l), 3 * c, c);
            new ReadOnlySpan<float>(_dqkv1 + c, c).CopyTo(new Span<float>(kc + (long)pos * c, c));
            new ReadOnlySpan<float>(_dqkv1 + 2 * c, c).CopyTo(new Span<float>(vc + (long)pos * c, c));
            for (int h = 0; h < NH; h++)
            {
                var q = new ReadOnlySpan<float>(_dqkv1 + h * hs, hs);
                var scores = new Span<float>(_dscores, pos + 1);
                float max = float.NegativeInfinity;
                for (int t2 = 0; t2 <= pos; t2++)
                {
                    float s = TensorPrimitives.Dot(q, new ReadOnlySpan<float>(kc + (long)t2 * c + h * hs, hs)) * scale;
                    scores[t2] = s;
                    if (s > max) max = s;
                }
                float sum = 0;
                for (int t2 = 0; t2 <= pos; t2++) { scores[t2] = MathF.Exp(scores[t2] - max); sum += scores[t2]; }
                float inv = 1.0f / sum;
                var y = new Span<float>(_dy + h * hs, hs);
                y.Clear();
                for (int t2 = 0; t2 <= pos; t2++)
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(vc + (long)t2 * c + h * hs, hs), scores[t2] * inv, y, y);
            }
            MatVec(_dln, Param(Attprojw, l), _dy, Param(Attprojb, l), c, c);
            TensorPrimitives.Add(x, new ReadOnlySpan<float>(_dln, c), x);
            LayerNormRow(_dln, _dx, Param(Ln2w, l), Param(Ln2b, l));
            MatVec(_dfc, Param(Fcw, l), _dln, Param(Fcb, l), 4 * c, c);
            CpuKernels.GeluForward(Serial, _dgelu1, _dfc, 1, 4 * c);
            MatVec(_dln, Param(Fcprojw, l), _dgelu1, Param(Fcprojb, l), c, 4 * c);
            TensorPrimitives.Add(x, new ReadOnlySpan<float>(_dln, c), x);
        }
        LayerNormRow(_dln, _dx, Param(Lnfw), Param(Lnfb));
        MatVec(_dlogits1, Param(Wte), _dln, null, V, c);
        new ReadOnlySpan<float>(_dlogits1, V).CopyTo(logits);
        _position++;
    }

    private void EnsureDecoder()
    {
        if (_kCache != null) return;
        long cache = (long)L * Config.MaxSeqLen * C;
        _kCache = _arena.Floats(cache);
        _vCache = _arena.Floats(cache);
        _dx = _arena.Floats(C);
        _dln = _arena.Floats(C);
        _dqkv1 = _arena.Floats(3 * C);
        _dy = _arena.Floats(C);
        _dfc = _arena.Floats(4 * C);
        _dgelu1 = _arena.Floats(4 * C);
        _dlogits1 = _arena.Floats(Vp);
        _dscores = _arena.Floats(Config.MaxSeqLen);
    }

    private void LayerNormRow(float* output, float* input, float* weight, float* bias)
    {
        float mean, rstd;
        CpuKernels.LayerNormForward(Serial, output, &mean, &rstd, input, weight, bias, 1, C);
    }

    /// <summary>out[o] = W[o,:]·x + bias[o], rows split over threads in fixed blocks.</summary>
    private void MatVec(float* output, float* weight, float* input, float* bias, int rows, int columns)
    {
        const int block = 64;
        int blocks = (rows + block - 1) / block;
        Parallel.For(0, blocks, _options, k =>
        {
            var x = new ReadOnlySpan<float>(input, columns);
            int end = Math.Min(rows, (k + 1) * block);
            for (int o = k * block; o < end; o++)
                output[o] = TensorPrimitives.Dot(new ReadOnlySpan<float>(weight + (long)o * columns, columns), x) + (bias == null ? 0f : bias[o]);
        });
    }
}
