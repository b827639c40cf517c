using FluentAssertions;
using Xunit;
using LlmNet.Model.Numerics;

namespace LlmNet.Cuda.Tests;

/// <summary>Each kernel against a plain fp64 C# reference on fresh random inputs, outputs poisoned with NaN first.</summary>
[Collection("gpu")]
public sealed class KernelTests : IDisposable
{
    private const double Bf16Tolerance = 1e-2;

    public void Dispose() { if (CudaBackend.IsAvailable(out _)) Gpu.FreeAll(); }

    [Fact]
    public void EncoderForward_AddsTokenAndPositionEmbeddings()
    {
        Gpu.Require();
        var r = new RandomData(1);
        int B = 3, T = 37, C = 64, V = 100;
        float[] wte = r.Normal(V * C), wpe = r.Normal(T * C);
        int[] inp = r.Ints(B * T, V);
        ulong outp = Gpu.PoisonedBf16(B * T * C);
        ElementwiseKernels.EncoderForward(Gpu.Kernels, outp, Gpu.I32(inp), Gpu.Bf16(wte), Gpu.Bf16(wpe), B * T, T, C);
        double[] expected = new double[B * T * C];
        for (int bt = 0; bt < B * T; bt++)
            for (int c = 0; c < C; c++) expected[bt * C + c] = wte[inp[bt] * C + c] + wpe[bt % T * C + c];
        Compare.Close(Gpu.ReadBf16(outp, B * T * C), expected, Bf16Tolerance, "encoder out");
    }

    [Theory]
    [InlineData(768, false)]
    [InlineData(200, false)]
    [InlineData(768, true)]
    [InlineData(1600, true)]
    public void LayerNormForward_MatchesReference(int C, bool fused)
    {
        Gpu.Require();
        var r = new RandomData(2 + C);
        int N = 45;
        float[] a = r.Normal(N * C, 2.0f, 0.5f), b = r.Normal(N * C), w = r.Normal(C, 0.3f, 1.0f), bias = r.Normal(C, 0.1f);
        ulong resid = Gpu.PoisonedBf16(N * C), normed = Gpu.PoisonedBf16(N * C), mean = Gpu.PoisonedF32(N), rstd = Gpu.PoisonedF32(N);
        LayerNormKernels.Forward(Gpu.Kernels, fused ? resid : 0UL, normed, mean, rstd,
            Gpu.Bf16(a), fused ? Gpu.Bf16(b) : 0UL, Gpu.Bf16(w), Gpu.Bf16(bias), N, C);
        double[] x = new double[N * C];
        for (int i = 0; i < N * C; i++) x[i] = fused ? Bf16.Round(a[i] + b[i]) : a[i];
        double[] eNorm = new double[N * C], eMean = new double[N], eRstd = new double[N];
        for (int n = 0; n < N; n++)
        {
            double m = 0, v = 0;
            for (int c = 0; c < C; c++) m += x[n * C + c];
            m /= C;
            for (int c = 0; c < C; c++) v += (x[n * C + c] - m) * (x[n * C + c] - m);
            double s = 1 / Math.Sqrt(v / C + 1e-5);
            eMean[n] = m; eRstd[n] = s;
            for (int c = 0; c < C; c++) eNorm[n * C + c] = (x[n * C + c] - m) * s * w[c] + bias[c];
        }
        if (fused) Compare.Close(Gpu.ReadBf16(resid, N * C), x, Bf16Tolerance, "residual");
        Compare.Close(Gpu.ReadBf16(normed, N * C), eNorm, Bf16Tolerance, "normed");
        Compare.Close(Gpu.ReadF32(mean, N), eMean, 1e-4, "mean");
        Compare.Close(Gpu.ReadF32(rstd, N), eRstd, 1e-4, "rstd");
    }

    [Theory]
    [InlineData(768, 300, 5)]
    [InlineData(200, 70, 9)]
    [InlineData(1600, 64, 8)]
    public void LayerNormBackward_MatchesReference(int C, int N, int blocks)
    {
        Gpu.Require();
        var r = new RandomData(3 + C);
        float[] x = r.Normal(N * C, 1.5f, 0.2f), dout = r.Normal(N * C), w = r.Normal(C, 0.3f, 1.0f);
        float[] dinp0 = r.Normal(N * C, 0.5f), dw0 = r.Normal(C, 0.5f), db0 = r.Normal(C, 0.5f);
        double[] mean = new double[N], rstd = new double[N];
        for (int n = 0; n < N; n++)
        {
            double m = 0, v = 0;
            for (int c = 0; c < C; c++) m += x[n * C + c];
            m /= C;
            for (int c = 0; c < C; c++) v += (x[n * C + c] - m) * (x[n * C + c] - m);
            mean[n] = m; rstd[n] = 1 / Math.Sqrt(v / C + 1e-5);
        }
        ulong dinp = Gpu.Bf16(dinp0), dw = Gpu.Bf16(dw0), db = Gpu.Bf16(db0), dO = Gpu.Bf16(dout), xin = Gpu.Bf16(x);
        ulong dMean = Gpu.F32([.. mean.Select(v => (float)v)]), dRstd = Gpu.F32([.. rstd.Select(v => (float)v)]);
        // blocks take rows round-robin: fewer blocks than N / 8 makes every warp handle several rows
        ulong partial = Gpu.PoisonedF32(blocks * 2 * C);
        LayerNormKernels.AllowBackwardSharedMemory(Gpu.Kernels, C);
        LayerNormKernels.Backward(Gpu.Kernels, dinp, partial, dO, xin, dMean, dRstd, Gpu.Bf16(w), N, C, blocks);
        LayerNormKernels.ColumnFinish(Gpu.Kernels, dw, db, partial, blocks, C);

        double[] eDinp = new double[N * C], eDw = new double[C], eDb = new double[C];
        for (int c = 0; c < C; c++) { eDw[c] = dw0[c]; eDb[c] = db0[c]; }
        for (int n = 0; n < N; n++)
        {
            double dsum = 0, dnsum = 0;
            for (int c = 0; c < C; c++)
            {
                double norm = (x[n * C + c] - mean[n]) * rstd[n], dn = w[c] * dout[n * C + c];
                dsum += dn; dnsum += dn * norm;
                eDw[c] += dout[n * C + c] * norm;
                eDb[c] += dout[n * C + c];
            }
            dsum /= C; dnsum /= C;
            for (int c = 0; c < C; c++)
            {
                double norm = (x[n * C + c] - mean[n]) * rstd[n];
                eDinp[n * C + c] = dinp0[n * C + c] + rstd[n] * (w[c] * dout[n * C + c] - dsum - norm * dnsum);
            }
        }
        Compare.Close(Gpu.ReadBf16(dinp, N * C), eDinp, Bf16Tolerance, "dinp");
        Compare.Close(Gpu.ReadBf16(dw, C), eDw, Bf16Tolerance, "dweight");
        Compare.Close(Gpu.ReadBf16(db, C), eDb, Bf16Tolerance, "dbias");
    }

    [Theory]
    [InlineData(517, 2304)]
    [InlineData(300, 1600)] // the last column block is partly empty
    public void BiasGradient_SumsColumnsInto(int N, int OC)
    {
        Gpu.Require();
        var r = new RandomData(4);
        float[] dout = r.Normal((long)N * OC), db0 = r.Normal(OC);
        ulong db = Gpu.Bf16(db0);
        int splits = 7;
        ulong partial = Gpu.PoisonedF32(splits * OC);
        LayerNormKernels.BiasPartialSums(Gpu.Kernels, partial, Gpu.Bf16(dout), N, OC, splits);
        LayerNormKernels.ColumnFinish(Gpu.Kernels, 0UL, db, partial, splits, OC);
        double[] e = new double[OC];
        for (int c = 0; c < OC; c++) { e[c] = db0[c]; for (int n = 0; n < N; n++) e[c] += dout[(long)n * OC + c]; }
        Compare.Close(Gpu.ReadBf16(db, OC), e, Bf16Tolerance, "dbias");
    }

    /// <summary>fp64 losses and (softmax - onehot) * dloss over the first V of Vp columns (pad columns stay 0).</summary>
    private static (double[] Losses, double[] Gradient) ClassifierReference(float[] logits, int[] targets, int rows, int V, int Vp, double dloss)
    {
        double[] losses = new double[rows], grad = new double[rows * Vp];
        for (int n = 0; n < rows; n++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int c = 0; c < V; c++) max = Math.Max(max, logits[n * Vp + c]);
            for (int c = 0; c < V; c++) sum += Math.Exp(logits[n * Vp + c] - max);
            double l = max + Math.Log(sum);
            losses[n] = l - logits[n * Vp + targets[n]];
            for (int c = 0; c < V; c++) grad[n * Vp + c] = (Math.Exp(logits[n * Vp + c] - l) - (c == targets[n] ? 1 : 0)) * dloss;
        }
        return (losses, grad);
    }

    private static double GeluRef(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

    private static double GeluGradRef(double x)
    {
        double u = Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x), th = Math.Tanh(u);
        return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * Math.Sqrt(2 / Math.PI) * (1 + 3 * 0.044715 * x * x);
    }

    [Fact]
    public void GeluForward_MatchesReference()
    {
        Gpu.Require();
        var r = new RandomData(5);
        int n = 8 * 1000;
        float[] x = r.Normal(n, 3.0f);
        ulong outp = Gpu.PoisonedBf16(n), xin = Gpu.Bf16(x);
        ElementwiseKernels.GeluForward(Gpu.Kernels, outp, xin, n);
        Compare.Close(Gpu.ReadBf16(outp, n), [.. x.Select(v => GeluRef(v))], Bf16Tolerance, "gelu");
    }

    /// <summary>
    /// The fc backward's one pass with GELU unfused: d *= GELU'(x) against fp64; its column sums bitwise those of
    /// bias_partial_sums over the stored gradient; the recomputed GELU (-r 1/2) bitwise gelu_forward's; and nothing of
    /// that changes when no GELU output is asked for (-r 0).
    /// </summary>
    [Theory]
    [InlineData(517, 3072)]
    [InlineData(300, 6400)] // d48's 4C: the last column block is partly empty
    public void GeluBackwardBiasPartials_GradientSumsAndGelu(int N, int C)
    {
        Gpu.Require();
        var r = new RandomData(6);
        long n = (long)N * C;
        float[] d = r.Normal(n), x = r.Normal(n, 3.0f);
        int splits = 5;
        ulong xin = Gpu.Bf16(x), dWithGelu = Gpu.Bf16(d), dAlone = Gpu.Bf16(d);
        ulong pWithGelu = Gpu.PoisonedF32(splits * C), pAlone = Gpu.PoisonedF32(splits * C), pStored = Gpu.PoisonedF32(splits * C);
        ulong gelu = Gpu.PoisonedBf16(n), geluForward = Gpu.PoisonedBf16(n);
        LayerNormKernels.GeluBackwardBiasPartials(Gpu.Kernels, pWithGelu, dWithGelu, xin, gelu, N, C, splits);
        LayerNormKernels.GeluBackwardBiasPartials(Gpu.Kernels, pAlone, dAlone, xin, 0UL, N, C, splits);
        LayerNormKernels.BiasPartialSums(Gpu.Kernels, pStored, dWithGelu, N, C, splits);
        ElementwiseKernels.GeluForward(Gpu.Kernels, geluForward, xin, n);

        float[] grad = Gpu.ReadBf16(dWithGelu, n);
        Compare.Close(grad, [.. x.Select((v, i) => d[i] * GeluGradRef(v))], Bf16Tolerance, "dgelu");
        Assert.True(grad.AsSpan().SequenceEqual(Gpu.ReadBf16(dAlone, n)), "the gradient depends on the GELU output");
        float[] sums = Gpu.ReadF32(pWithGelu, splits * C);
        Assert.True(sums.AsSpan().SequenceEqual(Gpu.ReadF32(pStored, splits * C)), "the column sums differ from bias_partial_sums of the stored gradient");
        Assert.True(sums.AsSpan().SequenceEqual(Gpu.ReadF32(pAlone, splits * C)), "the column sums depend on the GELU output");
        Assert.True(Gpu.ReadBf16(gelu, n).AsSpan().SequenceEqual(Gpu.ReadBf16(geluForward, n)), "the recomputed GELU differs from gelu_forward");
    }

    [Theory]
    [InlineData(2, 3, 64, 130, "")]
    [InlineData(1, 2, 64, 64, "")]
    [InlineData(2, 2, 96, 77, "")]
    [InlineData(1, 2, 128, 40, "")]
    [InlineData(2, 3, 64, 130, "mma.sync")]
    [InlineData(1, 2, 64, 64, "mma.sync")]
    [InlineData(1, 2, 64, 200, "mma.sync")]
    [InlineData(1, 1, 64, 5, "mma.sync")]
    [InlineData(1, 2, 64, 300, "mma.sync")]
    [InlineData(2, 3, 64, 130, "wgmma")]
    [InlineData(1, 2, 64, 200, "wgmma")]
    [InlineData(1, 1, 64, 5, "wgmma")]
    [InlineData(1, 2, 64, 300, "wgmma")]
    public void Attention_ForwardAndBackward_MatchReference(int B, int NH, int HS, int T, string flashKernels)
    {
        bool flash = flashKernels.Length > 0;
        FlashKernels? fk = flashKernels switch { "mma.sync" => FlashKernels.MmaSync, "wgmma" => FlashKernels.Wgmma, _ => null };
        Gpu.Require();
        if (fk is not null && !fk.AvailableIn(Gpu.Kernels))
            Assert.Skip($"{fk} needs a module compiled for sm_90a; this device's is {Gpu.Device.KernelArch}");
        var r = new RandomData(6 + T);
        int C = NH * HS;
        float[] qkv = r.Normal((long)B * T * 3 * C), dout = r.Normal((long)B * T * C);
        ulong dQkv = Gpu.Bf16(qkv), outp = Gpu.PoisonedBf16(B * T * C), lse = Gpu.PoisonedF32(B * NH * T);
        if (flash) FlashKernels.Prepare(Gpu.Kernels);
        if (flash) fk!.LaunchForward(Gpu.Kernels, outp, lse, dQkv, B, T, NH);
        else AttentionKernels.Forward(Gpu.Kernels, HS, outp, lse, dQkv, B, T, NH);
        float[] got = Gpu.ReadBf16(outp, B * T * C);
        // backward on the GPU's own (bf16) output, as in training
        ulong dO = Gpu.Bf16(dout), delta = Gpu.PoisonedF32(B * NH * T), dqkv = Gpu.PoisonedBf16(B * T * 3 * C);
        if (flash) fk!.LaunchBackward(Gpu.Kernels, dqkv, delta, dO, dQkv, outp, lse, B, T, NH);
        else
        {
            AttentionKernels.BackwardDelta(Gpu.Kernels, delta, dO, outp, B, T, NH, HS);
            AttentionKernels.Prepare(Gpu.Kernels, HS);
            AttentionKernels.BackwardDq(Gpu.Kernels, HS, dqkv, dO, dQkv, lse, delta, B, T, NH);
            AttentionKernels.BackwardDkv(Gpu.Kernels, HS, dqkv, dO, dQkv, lse, delta, B, T, NH);
        }
        float[] gotLse = Gpu.ReadF32(lse, B * NH * T), gotD = Gpu.ReadBf16(dqkv, B * T * 3 * C);

        double scale = 1 / Math.Sqrt(HS);
        double[] eOut = new double[B * T * C], eLse = new double[B * NH * T], eD = new double[B * T * 3 * C];
        double Q(int b, int t, int h, int d) => qkv[((long)b * T + t) * 3 * C + h * HS + d];
        double K(int b, int t, int h, int d) => qkv[((long)b * T + t) * 3 * C + C + h * HS + d];
        double Vv(int b, int t, int h, int d) => qkv[((long)b * T + t) * 3 * C + 2 * C + h * HS + d];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++)
            {
                double[,] P = new double[T, T];
                for (int i = 0; i < T; i++)
                {
                    double max = double.NegativeInfinity;
                    for (int j = 0; j <= i; j++)
                    {
                        double s = 0;
                        for (int d = 0; d < HS; d++) s += Q(b, i, h, d) * K(b, j, h, d);
                        P[i, j] = s * scale;
                        max = Math.Max(max, P[i, j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= i; j++) sum += Math.Exp(P[i, j] - max);
                    eLse[(b * NH + h) * T + i] = max + Math.Log(sum);
                    for (int j = 0; j <= i; j++) P[i, j] = Math.Exp(P[i, j] - max) / sum;
                    for (int d = 0; d < HS; d++)
                    {
                        double o = 0;
                        for (int j = 0; j <= i; j++) o += P[i, j] * Vv(b, j, h, d);
                        eOut[((long)b * T + i) * C + h * HS + d] = o;
                    }
                }
                // backward with the GPU's bf16 output in delta, like the kernel
                for (int i = 0; i < T; i++)
                {
                    double D = 0;
                    for (int d = 0; d < HS; d++) D += dout[((long)b * T + i) * C + h * HS + d] * got[((long)b * T + i) * C + h * HS + d];
                    for (int j = 0; j <= i; j++)
                    {
                        double dp = 0;
                        for (int d = 0; d < HS; d++) dp += dout[((long)b * T + i) * C + h * HS + d] * Vv(b, j, h, d);
                        double ds = P[i, j] * (dp - D);
                        for (int d = 0; d < HS; d++)
                        {
                            eD[((long)b * T + i) * 3 * C + h * HS + d] += ds * scale * K(b, j, h, d);
                            eD[((long)b * T + j) * 3 * C + C + h * HS + d] += ds * scale * Q(b, i, h, d);
                            eD[((long)b * T + j) * 3 * C + 2 * C + h * HS + d] += P[i, j] * dout[((long)b * T + i) * C + h * HS + d];
                        }
                    }
                }
            }
        Compare.Close(got, eOut, Bf16Tolerance, "attention out");
        Compare.Close(gotLse, eLse, 1e-4, "logsumexp");
        Compare.Close(gotD, eD, Bf16Tolerance, "dqkv");
    }

    [Fact]
    public void Classifier_LossAndInPlaceGradient()
    {
        Gpu.Require();
        var r = new RandomData(7);
        int rows = 6, V = 1003, Vp = 1008;
        float[] logits = r.Normal(rows * Vp, 3.0f);
        int[] targets = r.Ints(rows, V);
        ulong dLogits = Gpu.Bf16(logits), losses = Gpu.PoisonedF32(rows), lse = Gpu.PoisonedF32(rows);
        ulong dTargets = Gpu.I32(targets);
        ClassifierKernels.Forward(Gpu.Kernels, losses, lse, dLogits, dTargets, V, Vp, rows);
        float[] gotLoss = Gpu.ReadF32(losses, rows);
        const float dloss = 0.37f;
        ClassifierKernels.Backward(Gpu.Kernels, dLogits, lse, dTargets, dloss, V, Vp, rows);
        float[] gotGrad = Gpu.ReadBf16(dLogits, rows * Vp);
        (double[] eLoss, double[] eGrad) = ClassifierReference(logits, targets, rows, V, Vp, dloss);
        Compare.Close(gotLoss, eLoss, 1e-4, "losses");
        Compare.Close(gotGrad, eGrad, Bf16Tolerance, "dlogits");
        for (int n = 0; n < rows; n++)
            for (int c = V; c < Vp; c++) Assert.Equal(0.0f, gotGrad[n * Vp + c]);
    }

    [Theory]
    [InlineData(9, 1003, 1024)]
    [InlineData(3, 50257, 50304)] // GPT-2: the row copy needs opt-in shared memory
    public void ClassifierForwardBackward_EqualsTheSeparateKernelsBitwise(int rows, int V, int Vp)
    {
        Gpu.Require();
        var r = new RandomData(17);
        ClassifierKernels.AllowForwardBackwardSharedMemory(Gpu.Kernels, Vp);
        float[] logits = r.Normal(rows * Vp, 3.0f);
        int[] targets = r.Ints(rows, V);
        targets[0] = 0; targets[1] = V - 1; // first and last real column
        ulong dTargets = Gpu.I32(targets);
        // Separate kernels with dloss = 1: their gradient is the fused kernel's unscaled one.
        ulong sepLogits = Gpu.Bf16(logits), sepLoss = Gpu.PoisonedF32(rows), sepLse = Gpu.PoisonedF32(rows);
        ClassifierKernels.Forward(Gpu.Kernels, sepLoss, sepLse, sepLogits, dTargets, V, Vp, rows);
        ClassifierKernels.Backward(Gpu.Kernels, sepLogits, sepLse, dTargets, 1.0f, V, Vp, rows);
        ulong fusedLogits = Gpu.Bf16(logits), fusedLoss = Gpu.PoisonedF32(rows), fusedLse = Gpu.PoisonedF32(rows);
        ClassifierKernels.ForwardBackward(Gpu.Kernels, fusedLogits, fusedLoss, fusedLse, dTargets, V, Vp, rows);

        Assert.Equal(Gpu.ReadF32(sepLoss, rows), Gpu.ReadF32(fusedLoss, rows));
        Assert.Equal(Gpu.ReadF32(sepLse, rows), Gpu.ReadF32(fusedLse, rows));
        float[] sep = Gpu.ReadBf16(sepLogits, rows * Vp), fused = Gpu.ReadBf16(fusedLogits, rows * Vp);
        Assert.True(sep.AsSpan().SequenceEqual(fused), "fused dlogits differ from the separate kernels'");

        (double[] eLoss, double[] eGrad) = ClassifierReference(logits, targets, rows, V, Vp, 1.0);
        Compare.Close(Gpu.ReadF32(fusedLoss, rows), eLoss, 1e-4, "losses");
        Compare.Close(fused, eGrad, Bf16Tolerance, "dlogits");
        for (int n = 0; n < rows; n++)
        {
            for (int c = V; c < Vp; c++) Assert.Equal(0.0f, fused[n * Vp + c]);
            Assert.True(fused[n * Vp + targets[n]] < 0, $"row {n}: the target column's gradient must be softmax - 1 < 0");
        }
    }

    [Fact]
    public void Matmul_AlphaScalesTheProduct()
    {
        Gpu.Require();
        var r = new RandomData(23);
        int m = 64, n = 48, k = 96;
        float[] a = r.Normal(m * k), b = r.Normal(k * n);
        ulong dA = Gpu.Bf16(a), dB = Gpu.Bf16(b), plain = Gpu.PoisonedBf16(m * n), scaled = Gpu.PoisonedBf16(m * n);
        Gpu.Matmul.Run(plain, dA, dB, m, n, k, false, false);
        Gpu.Matmul.Run(scaled, dA, dB, m, n, k, false, false, alpha: 0.125f);
        float[] p = Gpu.ReadBf16(plain, m * n), s = Gpu.ReadBf16(scaled, m * n);
        for (int i = 0; i < m * n; i++) Assert.Equal(p[i] * 0.125f, s[i]);
    }

    [Fact]
    public void AdamW_UpdatesMasterAndRoundsParameters()
    {
        Gpu.Require();
        var r = new RandomData(8);
        int n = 10_000;
        float[] master = r.Normal(n, 0.5f, 0, bf16: false), grads = r.Normal(n, 0.01f), m = r.Normal(n, 0.001f, 0, false);
        float[] v = [.. r.Uniform(n, 0, 1e-4f)];
        ulong dP = Gpu.PoisonedBf16(n), dMaster = Gpu.F32(master), dG = Gpu.Bf16(grads), dM = Gpu.F32(m), dV = Gpu.F32(v);
        float lr = 1e-3f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f, scale = 0.5f;
        int t = 3;
        float c1 = 1 - MathF.Pow(b1, t), c2 = 1 - MathF.Pow(b2, t);
        OptimizerKernels.AdamWUpdate(Gpu.Kernels, dP, dMaster, dG, dM, dV, n, lr, b1, b2, c1, c2, eps, wd, scale, 1234u);
        double[] eM = new double[n], eV = new double[n], eP = new double[n];
        for (int i = 0; i < n; i++)
        {
            double g = scale * grads[i];
            eM[i] = b1 * m[i] + (1 - b1) * g;
            eV[i] = b2 * v[i] + (1 - b2) * g * g;
            eP[i] = master[i] - lr * (eM[i] / c1 / (Math.Sqrt(eV[i] / c2) + eps) + wd * master[i]);
        }
        Compare.Close(Gpu.ReadF32(dM, n), eM, 1e-5, "m");
        Compare.Close(Gpu.ReadF32(dV, n), eV, 1e-5, "v");
        float[] gotMaster = Gpu.ReadF32(dMaster, n), gotP = Gpu.ReadBf16(dP, n);
        Compare.Close(gotMaster, eP, 1e-5, "master");
        int up = 0;
        for (int i = 0; i < n; i++)
        {
            // stochastic rounding: one of the two bf16 neighbours of the fp32 master value
            float lo = Bf16.ToFloat((ushort)(BitConverter.SingleToUInt32Bits(gotMaster[i]) >> 16));
            float hi = Bf16.ToFloat((ushort)((BitConverter.SingleToUInt32Bits(gotMaster[i]) >> 16) + 1));
            Assert.True(gotP[i] == lo || gotP[i] == hi, $"param {i}: {gotP[i]} is not a bf16 neighbour of {gotMaster[i]}");
            if (gotP[i] == hi && lo != gotMaster[i]) up++;
        }
        Assert.InRange(up, n / 10, n * 9 / 10); // rounds both ways, not always to nearest
    }

    [Fact]
    public void NormSquared_IsDeterministicAndExact()
    {
        Gpu.Require();
        var r = new RandomData(9);
        int n = 1 << 20;
        float[] g = r.Normal(n, 0.01f);
        const int blocks = OptimizerKernels.NormBlocks;
        ulong dG = Gpu.Bf16(g), partial = Gpu.PoisonedF32(blocks);
        OptimizerKernels.NormSquaredPartial(Gpu.Kernels, partial, dG, n);
        float[] p1 = Gpu.ReadF32(partial, blocks);
        OptimizerKernels.NormSquaredPartial(Gpu.Kernels, partial, dG, n);
        float[] p2 = Gpu.ReadF32(partial, blocks);
        Assert.Equal(p1, p2);
        double expected = g.Sum(x => (double)x * x);
        Compare.Close([(float)p1.Sum(x => (double)x)], [expected], 1e-5, "norm²");
    }

    [Theory]
    [InlineData(4, 33, 64, 20, false)]   // buckets of about 7 positions: summed directly
    [InlineData(2, 300, 96, 50, true)]   // one token at half the positions: 10 chunks of 32
    public void EmbeddingBackward_AccumulatesPerTokenAndPosition(int B, int T, int C, int V, bool oneFrequentToken)
    {
        Gpu.Require();
        var r = new RandomData(10);
        int[] inp = r.Ints(B * T, V);
        if (oneFrequentToken)
            for (int i = 0; i < inp.Length; i += 2) inp[i] = 7;
        float[] dout = r.Normal(B * T * C), dwte0 = r.Normal(V * C, 0.1f), dwpe0 = r.Normal(T * C, 0.1f);
        ulong dwte = Gpu.Bf16(dwte0), dwpe = Gpu.Bf16(dwpe0), dO = Gpu.Bf16(dout);
        var tb = TokenBuckets.Build(inp);
        tb.Chunks.Should().Be(oneFrequentToken ? 10 : 0);
        ulong buckets = Gpu.I32(tb.Host), partial = Gpu.PoisonedF32(TokenBuckets.MaxChunks(B * T) * C);
        ulong At(int offset) => buckets + (ulong)offset * 4;
        ElementwiseKernels.WpeBackward(Gpu.Kernels, dwpe, dO, B, T, C, 77u);
        if (tb.Chunks > 0)
            ElementwiseKernels.WteBackwardChunks(Gpu.Kernels, partial, dO, At(tb.ChunkRangesOffset), At(tb.PositionsOffset), C, tb.Chunks);
        ElementwiseKernels.WteBackward(Gpu.Kernels, dwte, dO, partial, At(tb.TokensOffset), At(tb.StartsOffset),
            At(tb.PositionsOffset), At(tb.ChunkStartsOffset), C, 78u, tb.Count);
        double[] eWte = [.. dwte0.Select(x => (double)x)], eWpe = [.. dwpe0.Select(x => (double)x)];
        for (int bt = 0; bt < B * T; bt++)
            for (int c = 0; c < C; c++)
            {
                eWte[inp[bt] * C + c] += dout[bt * C + c];
                eWpe[bt % T * C + c] += dout[bt * C + c];
            }
        Compare.Close(Gpu.ReadBf16(dwte, V * C), eWte, Bf16Tolerance, "dwte");
        Compare.Close(Gpu.ReadBf16(dwpe, T * C), eWpe, Bf16Tolerance, "dwpe");
    }

    [Fact]
    public void TokenBuckets_GroupPositionsLargestFirst()
    {
        var tb = TokenBuckets.Build([5, 3, 5, 7, 3, 5]);
        Assert.Equal(3, tb.Count);
        Assert.Equal(0, tb.Chunks);
        Assert.Equal([5, 3, 7], tb.Host[..3]);
        Assert.Equal([0, 3, 5, 6], tb.Host[3..7]);
        Assert.Equal([0, 2, 5, 1, 4, 3], tb.Host[7..13]);
        Assert.Equal([0, 0, 0, 0], tb.Host[13..17]);
        Assert.Equal(17, tb.Host.Length);
    }

    [Theory]
    [InlineData(256, 256)]  // every token distinct: the most buckets
    [InlineData(4096, 1)]   // one token: the most chunks
    [InlineData(4096, 3)]
    [InlineData(1000, 40)]
    public void TokenBuckets_FitTheirUpperBounds(int positions, int distinct)
    {
        int[] inputs = [.. Enumerable.Range(0, positions).Select(i => i % distinct)];
        var tb = TokenBuckets.Build(inputs);
        Assert.Equal(distinct, tb.Count);
        Assert.InRange(tb.Host.Length, 0, TokenBuckets.MaxInts(positions));
        Assert.InRange(tb.Chunks, 0, TokenBuckets.MaxChunks(positions));
    }

    [Fact]
    public void TokenBuckets_CutLargeBucketsIntoOrderedChunks()
    {
        // token 9 at 70 positions (chunks [0,32) [32,64) [64,70)), token 4 at 33 ([70,102) [102,103)), token 1 once
        int[] inputs = [.. Enumerable.Repeat(9, 70), .. Enumerable.Repeat(4, 33), 1];
        var tb = TokenBuckets.Build(inputs);
        Assert.Equal(3, tb.Count);
        Assert.Equal(5, tb.Chunks);
        Assert.Equal([9, 4, 1], tb.Host[tb.TokensOffset..(tb.TokensOffset + 3)]);
        Assert.Equal([0, 3, 5, 5], tb.Host[tb.ChunkStartsOffset..(tb.ChunkStartsOffset + 4)]);
        Assert.Equal([0, 32, 32, 64, 64, 70, 70, 102, 102, 103], tb.Host[tb.ChunkRangesOffset..]);
        Assert.Equal(Enumerable.Range(0, 104), tb.Host[tb.PositionsOffset..(tb.PositionsOffset + 104)]);
        Assert.True(tb.Host.Length <= TokenBuckets.MaxInts(inputs.Length));
        Assert.True(tb.Chunks <= TokenBuckets.MaxChunks(inputs.Length));
    }
}
