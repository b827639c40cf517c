namespace LlmNet.Tools.Plot;

/// <summary>Smoothing for the noisy per-step train loss.</summary>
public static class Smoothing
{
    /// <summary>
    /// The window picked when none is given: about a fiftieth of the points (so the curve keeps its shape
    /// at every run length), at least 1 (no smoothing) and at most 250 steps.
    /// </summary>
    public static int AutoWindow(int points) => Math.Clamp((int)Math.Round(points / 50.0), 1, 250);

    /// <summary>
    /// Exponential moving average with span <paramref name="window"/> (weight 2/(window+1) on the newest
    /// point), divided by (1 - decay^n) so the first points are not pulled toward zero. Non-finite inputs
    /// are passed through untouched and do not enter the average.
    /// </summary>
    public static double[] Ema(ReadOnlySpan<double> values, int window)
    {
        var result = new double[values.Length];
        if (window <= 1) { values.CopyTo(result); return result; }
        double decay = (window - 1.0) / (window + 1.0), avg = 0, weight = 0;
        for (int i = 0; i < values.Length; i++)
        {
            double x = values[i];
            if (!double.IsFinite(x)) { result[i] = x; continue; }
            avg = decay * avg + (1 - decay) * x;
            weight = decay * weight + (1 - decay);
            result[i] = avg / weight;
        }
        return result;
    }
}
