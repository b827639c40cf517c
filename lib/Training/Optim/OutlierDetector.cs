namespace LlmNet.Training.Optim;

/// <summary>
/// Rolling z-score over the last 128 values (llm.c's llmc/outlier_detector.h: update_detector): NaN until the
/// window is full, then (x − mean)/std with the new value included and the population variance.
/// Used to skip updates whose loss or gradient norm is anomalous (-sl, -sg).
/// </summary>
public sealed class OutlierDetector
{
    public const int WindowSize = 128;
    private readonly double[] _buffer = new double[WindowSize];
    private int _count, _index;
    private double _sum, _sumSq;

    public double Update(double value)
    {
        if (_count < WindowSize)
        {
            _buffer[_count++] = value;
            _sum += value;
            _sumSq += value * value;
            return double.NaN;
        }
        double old = _buffer[_index];
        _sum -= old;
        _sumSq -= old * old;
        _buffer[_index] = value;
        _sum += value;
        _sumSq += value * value;
        _index = (_index + 1) % WindowSize;
        double mean = _sum / WindowSize;
        double variance = _sumSq / WindowSize - mean * mean;
        double std = Math.Sqrt(variance);
        return std == 0.0 ? 0.0 : (value - mean) / std;
    }
}
