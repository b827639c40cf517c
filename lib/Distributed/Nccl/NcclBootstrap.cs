using LlmNet.Distributed.Launch;
using LlmNet.Distributed.Mpi;
using LlmNet.Distributed.Rendezvous;

namespace LlmNet.Distributed.Nccl;

/// <summary>
/// The NCCL side of a multi-process run: the communicator over all ranks, the launch it came from (with the
/// local GPU resolved), and the MPI session when -pi mpi was used. A single process gets no communicator.
/// </summary>
public sealed class NcclSession : IDisposable
{
    internal NcclSession(LaunchInfo launch, NcclCommunicator? communicator, MpiSession? mpi)
    {
        Launch = launch; Communicator = communicator; Mpi = mpi;
    }

    public LaunchInfo Launch { get; }
    /// <summary>Null when the run has one process: there is nothing to communicate.</summary>
    public NcclCommunicator? Communicator { get; }
    public MpiSession? Mpi { get; }

    public void Dispose()
    {
        Communicator?.Dispose();
        Mpi?.Dispose();
    }
}

/// <summary>
/// Brings up NCCL for a launch: NVLink multicast off (NCCL_NVLS_ENABLE=0), rank 0 makes the unique id, the
/// init method hands it to every rank, and all call ncclCommInitRank. Every wait is bounded by the
/// rendezvous timeout.
/// </summary>
public static class NcclBootstrap
{
    /// <summary>
    /// <paramref name="bindDevice"/> receives the local GPU index and must make it current (cudaSetDevice); it
    /// runs on the calling thread before anything else and again on the thread that creates the communicator.
    /// </summary>
    public static NcclSession Connect(LaunchInfo launch, RendezvousOptions options, Action<int>? bindDevice = null,
        NcclWatchdogOptions? watchdog = null)
    {
        if (!launch.IsMultiProcess)
        {
            bindDevice?.Invoke(launch.LocalRank);
            return new NcclSession(launch, null, null);
        }
        NcclEnvironment.Apply();
        NcclLibrary.EnsureLoaded();

        MpiSession? mpi = launch.Method == InitMethod.Mpi ? MpiSession.Initialize() : null;
        try
        {
            byte[] idBytes = [];
            int localRank = launch.LocalRank;
            if (launch.Method != InitMethod.Mpi || launch.LocalRankFromLauncher) bindDevice?.Invoke(localRank);
            if (launch.Rank == 0) idBytes = NcclLibrary.GetUniqueId().ToArray();

            switch (launch.Method)
            {
                case InitMethod.Mpi:
                    (idBytes, localRank) = MpiIdExchange.Exchange(mpi!, launch, idBytes, NcclUniqueId.ByteCount, options);
                    if (!launch.LocalRankFromLauncher) bindDevice?.Invoke(localRank);
                    break;
                case InitMethod.Tcp:
                    idBytes = TcpIdExchange.Exchange(launch.Rank, launch.Size, launch.ServerAddress, launch.Port, idBytes, options);
                    break;
                case InitMethod.Fs:
                    idBytes = FileIdExchange.Exchange(launch.SharedDirectory!, launch.RunId, launch.Rank, launch.Size, idBytes, options);
                    break;
                default:
                    throw new DistributedException($"{launch.Size} processes but no NCCL init method: pass -pi mpi, tcp or fs");
            }

            var id = NcclUniqueId.FromBytes(idBytes);
            var resolved = launch with { LocalRank = localRank };
            var comm = NcclCommunicator.InitRank(launch.Size, id, launch.Rank, options.Timeout,
                bindDevice is null ? null : () => bindDevice(localRank), watchdog ?? new NcclWatchdogOptions { CollectiveTimeout = options.Timeout });
            return new NcclSession(resolved, comm, mpi);
        }
        catch
        {
            mpi?.Dispose();
            throw;
        }
    }
}
