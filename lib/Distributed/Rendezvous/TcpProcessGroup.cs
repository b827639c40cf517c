using System.Buffers.Binary;
using System.Net;
using LlmNet.Distributed.Launch;
using LlmNet.Model;

namespace LlmNet.Distributed.Rendezvous;

/// <summary>
/// A CPU-only <see cref="IProcessGroup"/> over a <see cref="TcpStar"/>: rank 0 gathers the values, sums them
/// in rank order (so every rank gets the bit-identical result) and sends the sum back. Meant for a few scalars
/// per step (losses, counts, barriers), for runs and tests without NCCL.
/// </summary>
public sealed class TcpProcessGroup : IProcessGroup
{
    private enum Op : byte { AllReduceSum = 1, Barrier = 2 }

    private readonly TcpStar _star;

    private TcpProcessGroup(TcpStar star, int localRank) { _star = star; LocalRank = localRank; }

    public int Rank => _star.Rank;
    public int Size => _star.Size;
    public int LocalRank { get; }

    /// <summary>Connects the group described by <paramref name="launch"/> (rank 0 serves on its port).</summary>
    public static TcpProcessGroup Connect(LaunchInfo launch, RendezvousOptions options) =>
        new(TcpStar.Connect(launch.Rank, launch.Size, launch.ServerAddress, launch.Port, options), launch.LocalRank);

    /// <summary>Connects with an explicit endpoint; rank 0 may listen on port 0 and report the real one (tests).</summary>
    public static TcpProcessGroup Connect(int rank, int size, int localRank, string? host, int port, RendezvousOptions options,
        IPEndPoint? listen = null, Action<IPEndPoint>? onListening = null) =>
        new(TcpStar.Connect(rank, size, host, port, options, listen, onListening), localRank);

    public double AllReduceSum(double value) => Reduce(Op.AllReduceSum, value);

    public void Barrier() => Reduce(Op.Barrier, 0);

    private double Reduce(Op op, double value)
    {
        if (Size == 1) return value;
        var deadline = DateTime.UtcNow + _star.Options.Timeout;
        Span<byte> msg = stackalloc byte[9];
        string what = op == Op.Barrier ? "the barrier" : "its AllReduceSum value";
        if (Rank == 0)
        {
            var values = new double[Size];
            values[0] = value;
            for (int r = 1; r < Size; r++)
            {
                Wire.Receive(_star.Peer(r), msg, deadline, r, what, 0, _star.Options);
                if ((Op)msg[0] != op)
                    throw new DistributedException($"rank 0: rank {r} entered {(Op)msg[0]} while rank 0 entered {op}: the ranks run different code paths");
                values[r] = BinaryPrimitives.ReadDoubleLittleEndian(msg[1..]);
            }
            double sum = 0;
            foreach (double v in values) sum += v;
            msg[0] = (byte)op;
            BinaryPrimitives.WriteDoubleLittleEndian(msg[1..], sum);
            for (int r = 1; r < Size; r++) Wire.Send(_star.Peer(r), msg, r, what);
            return sum;
        }
        msg[0] = (byte)op;
        BinaryPrimitives.WriteDoubleLittleEndian(msg[1..], value);
        Wire.Send(_star.Peer(0), msg, 0, what);
        Wire.Receive(_star.Peer(0), msg, deadline, 0, $"the result of {op}", Rank, _star.Options);
        return BinaryPrimitives.ReadDoubleLittleEndian(msg[1..]);
    }

    public void Dispose() => _star.Dispose();
}
