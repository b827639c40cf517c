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
}
