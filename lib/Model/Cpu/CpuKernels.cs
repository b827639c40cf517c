using System.Buffers;
using System.Numerics.Tensors;

namespace LlmNet.Model.Cpu;

/// <summary>
/// The element-wise and row-wise layers of GPT-2 on the CPU, fp32. Work is split over rows (or, for
/// reductions across rows, over column ranges) so every output is computed by one thread in a fixed
/// order: results are bit-identical whatever the thread count or scheduling.
/// </summary>
internal static unsafe class CpuKernels
{
    public const float LayerNormEps = 1e-5f;
    private const int ColumnChunk = 64;
    private static readonly float GeluScale = MathF.Sqrt(2.0f / MathF.PI);

    private static Span<float> Row(float* p, long row, int width) => new(p + row * width, width);

    /// <summary>out[r] = (x[r] − μ)·rstd·w + b, with μ and rstd (biased variance, eps 1e-5) saved per row.</summary>
    public static void LayerNormForward(ParallelOptions options, float* output, float* mean, float* rstd, float* input,
        float* weight, float* bias, int rows, int channels)
    {
        Parallel.For(0, rows, options, r =>
        {
            var x = Row(input, r, channels);
            var y = Row(output, r, channels);
            float mu = TensorPrimitives.Sum(x) / channels;
            TensorPrimitives.Subtract(x, mu, y);
            float variance = TensorPrimitives.SumOfSquares(y) / channels;
            float s = 1.0f / MathF.Sqrt(variance + LayerNormEps);
            TensorPrimitives.Multiply(y, s, y);
            TensorPrimitives.MultiplyAdd(y, new ReadOnlySpan<float>(weight, channels), new ReadOnlySpan<float>(bias, channels), y);
            mean[r] = mu;
            rstd[r] = s;
        });
    }

    /// <summary>
    /// LayerNorm backward: dinput += (dnorm − mean(dnorm) − x̂·mean(dnorm·x̂))·rstd with dnorm = dout·w, and
    /// dweight += Σ_rows dout·x̂, dbias += Σ_rows dout. Rows in parallel first, then column ranges.
    /// </summary>
    public static void LayerNormBackward(ParallelOptions options, float* dinput, float* dweight, float* dbias,
        float* doutput, float* input, float* weight, float* mean, float* rstd, int rows, int channels)
    {
        Parallel.For(0, rows, options, r =>
        {
            Span<float> xhat = channels <= 4096 ? stackalloc float[channels] : new float[channels];
            Span<float> dnorm = channels <= 4096 ? stackalloc float[channels] : new float[channels];
            var x = Row(input, r, channels);
            var dy = Row(doutput, r, channels);
            TensorPrimitives.Subtract(x, mean[r], xhat);
            TensorPrimitives.Multiply(xhat, rstd[r], xhat);
            TensorPrimitives.Multiply(dy, new ReadOnlySpan<float>(weight, channels), dnorm);
            float dnormMean = TensorPrimitives.Sum(dnorm) / channels;
            float dnormXhatMean = TensorPrimitives.Dot(dnorm, xhat) / channels;
            var dx = Row(dinput, r, channels);
            float s = rstd[r];
            for (int c = 0; c < channels; c++) dx[c] += (dnorm[c] - dnormMean - xhat[c] * dnormXhatMean) * s;
        });
        int chunks = (channels + ColumnChunk - 1) / ColumnChunk;
        Parallel.For(0, chunks, options, chunk =>
        {
            int c0 = chunk * ColumnChunk, width = Math.Min(ColumnChunk, channels - c0);
            Span<float> dw = stackalloc float[ColumnChunk];
            Span<float> db = stackalloc float[ColumnChunk];
            dw.Clear();
            db.Clear();
            for (int r = 0; r < rows; r++)
            {
                float* x = input + (long)r * channels + c0;
                float* dy = doutput + (long)r * channels + c0;
                float mu = mean[r], s = rstd[r];
                for (int c = 0; c < width; c++)
                {
                    dw[c] += dy[c] * ((x[c] - mu) * s);
                    db[c] += dy[c];
                }
            }
            for (int c = 0; c < width; c++)
            {
                dweight[c0 + c] += dw[c];
                dbias[c0 + c] += db[c];
            }
        });
    }

    /// <summary>out[r] = bias for every row (the matmul then accumulates onto it).</summary>
    public static void BroadcastRows(ParallelOptions options, float* output, float* bias, int rows, int columns)
    {
        Parallel.For(0, rows, options, r => new ReadOnlySpan<float>(bias, columns).CopyTo(Row(output, r, columns)));
    }

    /// <summary>dbias[c] += Σ_rows dout[r,c], summed over rows in order per column range.</summary>
    public static void BiasBackward(ParallelOptions options, float* dbias, float* doutput, int rows, int columns)
    {
        int chunks = (columns + ColumnChunk - 1) / ColumnChunk;
        Parallel.For(0, chunks, options, chunk =>
        {
            int c0 = chunk * ColumnChunk, width = Math.Min(ColumnChunk, columns - c0);
            Span<float> sum = stackalloc float[ColumnChunk];
            sum.Clear();
            var s = sum[..width];
            for (int r = 0; r < rows; r++) TensorPrimitives.Add(s, new ReadOnlySpan<float>(doutput + (long)r * columns + c0, width), s);
            TensorPrimitives.Add(new ReadOnlySpan<float>(dbias + c0, width), s, new Span<float>(dbias + c0, width));
        });
    }

    /// <summary>out = a + b, element-wise over rows·columns.</summary>
    public static void Add(ParallelOptions options, float* output, float* a, float* b, int rows, int columns)
    {
        Parallel.For(0, rows, options, r => TensorPrimitives.Add(Row(a, r, columns), Row(b, r, columns), Row(output, r, columns)));
    }

    /// <summary>out = gelu(x), tanh approximation, vectorised per row (out must not alias x).</summary>
    public static void GeluForward(ParallelOptions options, float* output, float* input, int rows, int columns)
    {
        Parallel.For(0, rows, options, r =>
        {
            var x = new ReadOnlySpan<float>(input + (long)r * columns, columns);
            var y = new Span<float>(output + (long)r * columns, columns);
            // y = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
            TensorPrimitives.Multiply(x, x, y);
            TensorPrimitives.Multiply(y, 0.044715f, y);
            TensorPrimitives.Add(y, 1.0f, y);
            TensorPrimitives.Multiply(y, x, y);
            TensorPrimitives.Multiply(y, GeluScale, y);
            TensorPrimitives.Tanh(y, y);
            TensorPrimitives.Add(y, 1.0f, y);
            TensorPrimitives.Multiply(y, x, y);
            TensorPrimitives.Multiply(y, 0.5f, y);
        });
    }

    /// <summary>d = gelu'(x)·d, in place on the incoming gradient, vectorised per row.</summary>
    public static void GeluBackwardInPlace(ParallelOptions options, float* dinout, float* input, int rows, int columns)
    {
        Parallel.For(0, rows, options, r =>
        {
            var x = new ReadOnlySpan<float>(input + (long)r * columns, columns);
            var d = new Span<float>(dinout + (long)r * columns, columns);
            float[] rented = ArrayPool<float>.Shared.Rent(2 * columns);
            var tanh = rented.AsSpan(0, columns);
            var poly = rented.AsSpan(columns, columns);
            // u = √(2/π)·(x + 0.044715·x³); gelu' = 0.5·(1 + tanh u) + 0.5·x·(1 − tanh² u)·√(2/π)·(1 + 3·0.044715·x²)
            TensorPrimitives.Multiply(x, x, poly);
            TensorPrimitives.Multiply(poly, 0.044715f, tanh);
            TensorPrimitives.Add(tanh, 1.0f, tanh);
            TensorPrimitives.Multiply(tanh, x, tanh);
            TensorPrimitives.Multiply(tanh, GeluScale, tanh);
            TensorPrimitives.Tanh(tanh, tanh);
            TensorPrimitives.Multiply(poly, 3.0f * 0.044715f, poly);
            TensorPrimitives.Add(poly, 1.0f, poly);
            TensorPrimitives.Multiply(poly, x, poly);
            TensorPrimitives.Multiply(poly, 0.5f * GeluScale, poly);
            for (int c = 0; c < columns; c++)
            {
                float t = tanh[c];
                d[c] *= 0.5f * (1.0f + t) + poly[c] * (1.0f - t * t);
            }
            ArrayPool<float>.Shared.Return(rented);
        });
    }

    /// <summary>
    /// Causal self-attention forward over qkv (B,T,3C) into out (B,T,C), keeping the softmax probabilities
    /// att (B,NH,T,T; only t2 ≤ t is written) for the backward pass. Scale 1/√HS.
    /// </summary>
    public static void AttentionForward(ParallelOptions options, float* output, float* att, float* qkv,
        int batch, int seqLen, int channels, int heads)
    {
        int hs = channels / heads, c3 = 3 * channels;
        float scale = 1.0f / MathF.Sqrt(hs);
        Parallel.For(0, batch * heads * seqLen, options, index =>
        {
            int t = index % seqLen, h = index / seqLen % heads, b = index / seqLen / heads;
            float* q = qkv + ((long)b * seqLen + t) * c3 + h * hs;
            float* row = att + (((long)b * heads + h) * seqLen + t) * seqLen;
            var qs = new ReadOnlySpan<float>(q, hs);
            float max = float.NegativeInfinity;
            for (int t2 = 0; t2 <= t; t2++)
            {
                float* k = qkv + ((long)b * seqLen + t2) * c3 + channels + h * hs;
                float v = TensorPrimitives.Dot(qs, new ReadOnlySpan<float>(k, hs)) * scale;
                row[t2] = v;
                if (v > max) max = v;
            }
            float sum = 0;
            for (int t2 = 0; t2 <= t; t2++)
            {
                float e = MathF.Exp(row[t2] - max);
                row[t2] = e;
                sum += e;
            }
            float inv = 1.0f / sum;
            var y = new Span<float>(output + ((long)b * seqLen + t) * channels + h * hs, hs);
            y.Clear();
            for (int t2 = 0; t2 <= t; t2++)
            {
                float p = row[t2] * inv;
                row[t2] = p;
                float* v = qkv + ((long)b * seqLen + t2) * c3 + 2 * channels + h * hs;
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(v, hs), p, y, y);
            }
        });
    }

    /// <summary>
    /// Attention backward: dqkv (overwritten) from dout (B,T,C), the saved probabilities and qkv. One task per
    /// (batch row, head) walks t in order, so the += into dk and dv for earlier positions is race-free and ordered.
    /// </summary>
    public static void AttentionBackward(ParallelOptions options, float* dqkv, float* doutput, float* att, float* qkv,
        int batch, int seqLen, int channels, int heads)
    {
        int hs = channels / heads, c3 = 3 * channels;
        float scale = 1.0f / MathF.Sqrt(hs);
        Parallel.For(0, batch * heads, options, index =>
        {
            int h = index % heads, b = index / heads;
            for (int t = 0; t < seqLen; t++)
            {
                long r = (long)b * seqLen + t;
                new Span<float>(dqkv + r * c3 + h * hs, hs).Clear();
                new Span<float>(dqkv + r * c3 + channels + h * hs, hs).Clear();
                new Span<float>(dqkv + r * c3 + 2 * channels + h * hs, hs).Clear();
            }
            Span<float> datt = seqLen <= 4096 ? stackalloc float[seqLen] : new float[seqLen];
            for (int t = 0; t < seqLen; t++)
            {
                long r = (long)b * seqLen + t;
                float* row = att + (((long)b * heads + h) * seqLen + t) * seqLen;
                var dy = new ReadOnlySpan<float>(doutput + r * channels + h * hs, hs);
                var q = new ReadOnlySpan<float>(qkv + r * c3 + h * hs, hs);
                var dq = new Span<float>(dqkv + r * c3 + h * hs, hs);
                float weighted = 0;
                for (int t2 = 0; t2 <= t; t2++)
                {
                    long r2 = (long)b * seqLen + t2;
                    var v = new ReadOnlySpan<float>(qkv + r2 * c3 + 2 * channels + h * hs, hs);
                    var dv = new Span<float>(dqkv + r2 * c3 + 2 * channels + h * hs, hs);
                    float d = TensorPrimitives.Dot(dy, v);
                    datt[t2] = d;
                    weighted += row[t2] * d;
                    TensorPrimitives.MultiplyAdd(dy, row[t2], dv, dv);
                }
                for (int t2 = 0; t2 <= t; t2++)
                {
                    float dpre = row[t2] * (datt[t2] - weighted) * scale;
                    long r2 = (long)b * seqLen + t2;
                    var k = new ReadOnlySpan<float>(qkv + r2 * c3 + channels + h * hs, hs);
                    var dk = new Span<float>(dqkv + r2 * c3 + channels + h * hs, hs);
                    TensorPrimitives.MultiplyAdd(k, dpre, dq, dq);
                    TensorPrimitives.MultiplyAdd(q, dpre, dk, dk);
                }
            }
        });
    }
}
