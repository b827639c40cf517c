namespace LlmNet.Model;

/// <summary>
/// The processes training one model together (one per GPU). The trainer uses it for the few scalar
/// reductions llm.c makes (mean loss, val loss, HellaSwag counts) and barriers; gradient traffic
/// stays inside the backend. A single process is <see cref="SingleProcess"/>.
/// </summary>
public interface IProcessGroup : IDisposable
{
    int Rank { get; }
    int Size { get; }
    /// <summary>Rank of this process among those on the same node: its GPU index.</summary>
    int LocalRank { get; }
    /// <summary>Sum of <paramref name="value"/> over all processes, returned to every process.</summary>
    double AllReduceSum(double value);
    /// <summary>Returns when every process has reached the barrier.</summary>
    void Barrier();
}

/// <summary>The trivial group of one process.</summary>
public sealed class SingleProcess : IProcessGroup
{
    public static readonly SingleProcess Instance = new();
    public int Rank => 0;
    public int Size => 1;
    public int LocalRank => 0;
    public double AllReduceSum(double value) => value;
    public void Barrier() { }
    public void Dispose() { }
}
