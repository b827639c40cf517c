using static LlmNet.Model.ParameterTensor;

namespace LlmNet.Model.Tests;

/// <summary>
/// A deliberately plain double-precision GPT-2 forward pass (no blocking, no threads, no reuse), written
/// straight from the architecture description, to check the optimised backend against.
/// </summary>
internal static class ReferenceGpt
{
    /// <summary>Mean cross-entropy over the B·T positions; also returns the logits (B·T, V).</summary>
    public static double Loss(GptConfig cfg, double[] p, int[] inputs, int[] targets, int b, int t, out double[] logits)
    {
        var layout = ParameterLayout.For(cfg);
        int c = cfg.Channels, nh = cfg.NumHeads, hs = c / nh, v = cfg.VocabSize;
        int O(ParameterTensor tensor) => (int)layout.Offset(tensor);
        int P(ParameterTensor tensor, int l) => (int)layout.LayerOffset(tensor, l);
        int bt = b * t;
        var x = new double[bt, c];
        for (int r = 0; r < bt; r++)
            for (int i = 0; i < c; i++)
                x[r, i] = p[O(Wte) + inputs[r] * c + i] + p[O(Wpe) + (r % t) * c + i];
        for (int l = 0; l < cfg.NumLayers; l++)
        {
            var h = LayerNorm(x, p, P(Ln1w, l), P(Ln1b, l), c);
            var qkv = Linear(h, p, P(Qkvw, l), P(Qkvb, l), c, 3 * c);
            var y = new double[bt, c];
            for (int bb = 0; bb < b; bb++)
                for (int head = 0; head < nh; head++)
                    for (int i = 0; i < t; i++)
                    {
                        var scores = new double[i + 1];
                        double max = double.NegativeInfinity;
                        for (int j = 0; j <= i; j++)
                        {
                            double s = 0;
                            for (int k = 0; k < hs; k++) s += qkv[bb * t + i, head * hs + k] * qkv[bb * t + j, c + head * hs + k];
                            scores[j] = s / Math.Sqrt(hs);
                            max = Math.Max(max, scores[j]);
                        }
                        double sum = 0;
                        for (int j = 0; j <= i; j++) { scores[j] = Math.Exp(scores[j] - max); sum += scores[j]; }
                        for (int j = 0; j <= i; j++)
                            for (int k = 0; k < hs; k++) y[bb * t + i, head * hs + k] += scores[j] / sum * qkv[bb * t + j, 2 * c + head * hs + k];
                    }
            var proj = Linear(y, p, P(Attprojw, l), P(Attprojb, l), c, c);
            for (int r = 0; r < bt; r++) for (int i = 0; i < c; i++) x[r, i] += proj[r, i];
            h = LayerNorm(x, p, P(Ln2w, l), P(Ln2b, l), c);
            var fc = Linear(h, p, P(Fcw, l), P(Fcb, l), c, 4 * c);
            for (int r = 0; r < bt; r++)
                for (int i = 0; i < 4 * c; i++)
                {
                    double z = fc[r, i];
                    fc[r, i] = 0.5 * z * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (z + 0.044715 * z * z * z)));
                }
            proj = Linear(fc, p, P(Fcprojw, l), P(Fcprojb, l), 4 * c, c);
            for (int r = 0; r < bt; r++) for (int i = 0; i < c; i++) x[r, i] += proj[r, i];
        }
        var xf = LayerNorm(x, p, O(Lnfw), O(Lnfb), c);
        logits = new double[bt * v];
        double loss = 0;
        for (int r = 0; r < bt; r++)
        {
            double max = double.NegativeInfinity;
            for (int j = 0; j < v; j++)
            {
                double s = 0;
                for (int i = 0; i < c; i++) s += xf[r, i] * p[O(Wte) + j * c + i];
                logits[r * v + j] = s;
                max = Math.Max(max, s);
            }
            double sum = 0;
            for (int j = 0; j < v; j++) sum += Math.Exp(logits[r * v + j] - max);
            loss += max + Math.Log(sum) - logits[r * v + targets[r]];
        }
        return loss / bt;
    }

    private static double[,] LayerNorm(double[,] x, double[] p, int w, int bias, int c)
    {
        int rows = x.GetLength(0);
        var y = new double[rows, c];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, variance = 0;
            for (int i = 0; i < c; i++) mean += x[r, i];
            mean /= c;
            for (int i = 0; i < c; i++) variance += (x[r, i] - mean) * (x[r, i] - mean);
            variance /= c;
            double rstd = 1 / Math.Sqrt(variance + 1e-5);
            for (int i = 0; i < c; i++) y[r, i] = (x[r, i] - mean) * rstd * p[w + i] + p[bias + i];
        }
        return y;
    }

    private static double[,] Linear(double[,] x, double[] p, int w, int bias, int ic, int oc)
    {
        int rows = x.GetLength(0);
        var y = new double[rows, oc];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < oc; o++)
            {
                double s = p[bias + o];
                for (int i = 0; i < ic; i++) s += x[r, i] * p[w + o * ic + i];
                y[r, o] = s;
            }
        return y;
    }
}
