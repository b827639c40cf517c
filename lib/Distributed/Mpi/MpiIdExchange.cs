using LlmNet.Distributed.Launch;
using LlmNet.Distributed.Rendezvous;

namespace LlmNet.Distributed.Mpi;

/// <summary>The mpi init method: MPI_Bcast of the id from rank 0 over MPI_COMM_WORLD.</summary>
public static class MpiIdExchange
{
    /// <summary>
    /// Checks MPI's view of rank and size against <paramref name="launch"/>, broadcasts rank 0's
    /// <paramref name="payload"/>, and returns it with the local rank (from the launcher, else from host-name hashes).
    /// </summary>
    public static (byte[] Payload, int LocalRank) Exchange(MpiSession mpi, LaunchInfo launch, ReadOnlySpan<byte> payload, int payloadLength,
        RendezvousOptions options)
    {
        if (mpi.Size != launch.Size || mpi.Rank != launch.Rank)
            throw new DistributedException(
                $"MPI says this is rank {mpi.Rank} of {mpi.Size} but the launch says rank {launch.Rank} of {launch.Size} ({launch.Launcher}); " +
                "start the run with mpirun -np N, or use -pi tcp / -pi fs with -pn and -pr");
        var buffer = new byte[payloadLength];
        if (launch.Rank == 0) payload.CopyTo(buffer);
        int localRank = launch.LocalRank;
        Bounded(launch.Rank, "MPI_Bcast of the NCCL id", options, () =>
        {
            mpi.Broadcast(buffer);
            if (!launch.LocalRankFromLauncher)
                localRank = NodeLocalRank.FromHashes(mpi.AllGather(NodeLocalRank.HostHash(Environment.MachineName)), launch.Rank);
        });
        return (buffer, localRank);
    }

    /// <summary>Runs a blocking MPI call on a helper thread so a rank that never arrives ends in a timeout error, not a hang.</summary>
    private static void Bounded(int rank, string what, RendezvousOptions options, Action call)
    {
        Exception? error = null;
        var thread = new Thread(() => { try { call(); } catch (Exception e) { error = e; } }) { IsBackground = true, Name = "mpi-call" };
        thread.Start();
        if (!thread.Join(options.Timeout))
            throw new DistributedTimeoutException(
                $"rank {rank}: {what} did not complete within {options.TimeoutText}; some rank never reached it (see the other ranks' logs)");
        if (error is not null) throw error;
    }
}
