using Xunit;
namespace LlmNet.Cuda.Tests;

/// <summary>The three products of a linear layer through cuBLASLt, with each epilogue, against fp64 references.</summary>
[Collection("gpu")]
public sealed class MatmulTests : IDisposable
{
    private const int BT = 96, C = 128, OC = 192;

    public void Dispose() { if (CudaBackend.IsAvailable(out _)) Gpu.FreeAll(); }

    private static double Gelu(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

    private static double GeluGrad(double x)
    {
        double u = Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x), th = Math.Tanh(u);
        return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * Math.Sqrt(2 / Math.PI) * (1 + 3 * 0.044715 * x * x);
    }

    // out[n, o] = sum_c inp[n, c] * w[o, c] + bias[o]
    private static double[] Forward(float[] inp, float[] w, float[] bias)
    {
        double[] o = new double[BT * OC];
        for (int n = 0; n < BT; n++)
            for (int j = 0; j < OC; j++)
            {
                double s = bias[j];
                for (int c = 0; c < C; c++) s += (double)inp[n * C + c] * w[j * C + c];
                o[n * OC + j] = s;
            }
        return o;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LinearForward_WithBiasOrGeluEpilogue(bool gelu)
    {
        Gpu.Require();
        var r = new RandomData(20 + (gelu ? 1 : 0));
        float[] inp = r.Normal(BT * C), w = r.Normal(OC * C, 0.1f), bias = r.Normal(OC, 0.5f);
        ulong outp = Gpu.PoisonedBf16(BT * OC), aux = Gpu.PoisonedBf16(BT * OC);
        double[] pre = Forward(inp, w, bias);
        if (!gelu)
        {
            Gpu.Matmul.Run(outp, Gpu.Bf16(w), Gpu.Bf16(inp), OC, BT, C, true, false, false, MatmulEpilogue.Bias, Gpu.Bf16(bias));
            Compare.Close(Gpu.ReadBf16(outp, BT * OC), pre, 1e-2, "linear");
            return;
        }
        Gpu.Matmul.Run(outp, Gpu.Bf16(w), Gpu.Bf16(inp), OC, BT, C, true, false, false, MatmulEpilogue.GeluAuxBias, Gpu.Bf16(bias), aux);
        Compare.Close(Gpu.ReadBf16(aux, BT * OC), pre, 1e-2, "pre-gelu aux");
        Compare.Close(Gpu.ReadBf16(outp, BT * OC), [.. pre.Select(Gelu)], 1e-2, "gelu(linear)");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LinearBackward_InputAndAccumulatedWeightGradients(bool dgelu)
    {
        Gpu.Require();
        var r = new RandomData(30 + (dgelu ? 1 : 0));
        // dinp (BT, C) = dout (BT, OC) · w (OC, C); dw (OC, C) += doutᵀ · inp
        float[] inp = r.Normal(BT * C), w = r.Normal(OC * C, 0.1f), dout = r.Normal(BT * OC), dw0 = r.Normal(OC * C, 0.2f);
        float[] pre = r.Normal(BT * C, 2.0f);
        ulong dinp = Gpu.PoisonedBf16(BT * C), dw = Gpu.Bf16(dw0), dOut = Gpu.Bf16(dout);
        if (dgelu) Gpu.Matmul.Run(dinp, Gpu.Bf16(w), dOut, C, BT, OC, false, false, false, MatmulEpilogue.DGelu, 0, Gpu.Bf16(pre));
        else Gpu.Matmul.Run(dinp, Gpu.Bf16(w), dOut, C, BT, OC, false, false);
        Gpu.Matmul.Run(dw, Gpu.Bf16(inp), dOut, C, OC, BT, false, true, accumulate: true);
        double[] eDinp = new double[BT * C], eDw = [.. dw0.Select(x => (double)x)];
        for (int n = 0; n < BT; n++)
            for (int c = 0; c < C; c++)
            {
                double s = 0;
                for (int j = 0; j < OC; j++) s += (double)dout[n * OC + j] * w[j * C + c];
                eDinp[n * C + c] = dgelu ? s * GeluGrad(pre[n * C + c]) : s;
            }
        for (int j = 0; j < OC; j++)
            for (int c = 0; c < C; c++)
                for (int n = 0; n < BT; n++) eDw[j * C + c] += (double)dout[n * OC + j] * inp[n * C + c];
        Compare.Close(Gpu.ReadBf16(dinp, BT * C), eDinp, 1e-2, dgelu ? "dinp·gelu'" : "dinp");
        Compare.Close(Gpu.ReadBf16(dw, OC * C), eDw, 1e-2, "dweight");
    }

    [Fact]
    public void Tuning_KeepsEveryResultBitwise()
    {
        Gpu.Require();
        // A layer of 4096 rows, 768 → 3072: large enough that cuBLASLt offers alternatives, small enough to check quickly.
        const int Rows = 4096, In = 768, Out = 3072;
        var r = new RandomData(50);
        ulong inp = Gpu.Bf16(r.Normal((long)Rows * In)), w = Gpu.Bf16(r.Normal((long)Out * In, 0.02f)), bias = Gpu.Bf16(r.Normal(Out, 0.1f));
        ulong dout = Gpu.Bf16(r.Normal((long)Rows * Out, 0.02f)), pre = Gpu.Bf16(r.Normal((long)Rows * Out));
        float[] dw0 = r.Normal((long)Out * In, 0.01f);
        using var tuned = new Matmul(Gpu.Device, Gpu.Kernels) { TuneMinFlops = 0 };

        // Each product through the untuned and the tuned instance into separate outputs, twice for the tuned one
        // (its first call tunes, the second runs the algorithm it kept).
        void Same(string what, Action<Matmul, ulong, ulong> run, long count, bool auxOut = false, float[]? start = null)
        {
            float[] Output(Matmul mm, bool twice)
            {
                ulong d = start is null ? Gpu.PoisonedBf16(count) : Gpu.Bf16(start), aux = auxOut ? Gpu.PoisonedBf16(count) : 0;
                run(mm, d, aux);
                if (twice)
                {
                    if (start is not null) Gpu.UploadBf16(d, start); // accumulate from the same start again
                    run(mm, d, aux);
                }
                float[] result = Gpu.ReadBf16(d, count);
                return auxOut ? [.. result, .. Gpu.ReadBf16(aux, count)] : result;
            }
            float[] expected = Output(Gpu.Matmul, false), got = Output(tuned, true);
            Assert.True(expected.AsSpan().SequenceEqual(got), $"{what}: the tuned algorithm's output differs from the heuristic's");
        }
        Same("forward with bias", (mm, d, _) => mm.Run(d, w, inp, Out, Rows, In, true, false, false, MatmulEpilogue.Bias, bias), (long)Rows * Out);
        Same("forward with GELU", (mm, d, aux) => mm.Run(d, w, inp, Out, Rows, In, true, false, false, MatmulEpilogue.GeluAuxBias, bias, aux),
            (long)Rows * Out, auxOut: true);
        Same("input gradient with GELU'", (mm, d, _) => mm.Run(d, w, dout, In, Rows, Out, false, false, false, MatmulEpilogue.DGelu, 0, pre),
            (long)Rows * In);
        Same("accumulated weight gradient", (mm, d, _) => mm.Run(d, inp, dout, In, Out, Rows, false, true, accumulate: true), (long)Out * In, start: dw0);
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join('\n', tuned.TuningLog));
        Assert.NotEmpty(tuned.TuningLog);
    }
}
