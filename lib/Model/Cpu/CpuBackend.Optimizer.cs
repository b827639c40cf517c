using System.Runtime.Intrinsics;

namespace LlmNet.Model.Cpu;

// AdamW (llm.c train_gpt2.c: gpt2_update) and its state, allocated on the first update.
public sealed unsafe partial class CpuBackend
{
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
}
