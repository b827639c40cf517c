using LlmNet.Model;

namespace LlmNet.Distributed.Nccl;

/// <summary>
/// A small device buffer the CUDA backend lends for scalar reductions: at least 8 bytes of device memory and
/// the stream collectives on it are ordered with.
/// </summary>
public interface IDeviceScalar
{
    /// <summary>Device pointer to at least one double.</summary>
    nint DevicePointer { get; }
    /// <summary>The CUstream the reduction runs on.</summary>
    nint Stream { get; }
    /// <summary>Copies <paramref name="value"/> to the device buffer (ordered on <see cref="Stream"/>).</summary>
    void Write(double value);
    /// <summary>Waits for <see cref="Stream"/> and returns the buffer's value.</summary>
    double Read();
}

/// <summary>
/// The trainer's <see cref="IProcessGroup"/> over NCCL: each scalar is all-reduced as one fp64 element (count 1,
/// not llm.c's accidental sizeof(float)) in a device buffer the backend supplies. The host wait is watched, so
/// a dead peer ends in an error naming the operation instead of a hang.
/// </summary>
public sealed class NcclProcessGroup : IProcessGroup
{
    private readonly NcclCommunicator _comm;
    private readonly IDeviceScalar _scalar;
    private readonly bool _ownsSession;
    private readonly NcclSession? _session;

    public NcclProcessGroup(NcclCommunicator communicator, int localRank, IDeviceScalar scalar)
    {
        _comm = communicator; _scalar = scalar; LocalRank = localRank;
    }

    /// <summary>A group over <paramref name="session"/>'s communicator; disposing the group disposes the session.</summary>
    public NcclProcessGroup(NcclSession session, IDeviceScalar scalar)
        : this(session.Communicator ?? throw new DistributedException("a one-process run has no NCCL communicator; use SingleProcess"),
               session.Launch.LocalRank, scalar)
    {
        _session = session; _ownsSession = true;
    }

    public int Rank => _comm.Rank;
    public int Size => _comm.Size;
    public int LocalRank { get; }

    public double AllReduceSum(double value) => Reduce(value, "AllReduceSum");

    public void Barrier() => Reduce(0, "Barrier");

    private double Reduce(double value, string what)
    {
        _scalar.Write(value);
        _comm.AllReduce(_scalar.DevicePointer, _scalar.DevicePointer, 1, NcclDataType.Float64, NcclRedOp.Sum, _scalar.Stream);
        using (_comm.Watch(what)) return _scalar.Read();
    }

    public void Dispose()
    {
        if (_ownsSession) _session!.Dispose();
    }
}
