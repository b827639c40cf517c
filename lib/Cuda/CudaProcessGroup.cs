using LlmNet.Common.Cli;
using LlmNet.Distributed;
using LlmNet.Distributed.Launch;
using LlmNet.Distributed.Nccl;
using LlmNet.Distributed.Rendezvous;
using LlmNet.Model;

namespace LlmNet.Cuda;

/// <summary>
/// The processes of one multi-GPU run, one GPU each, joined by an NCCL communicator. The trainer uses it for
/// its scalar reductions (loss, validation loss, HellaSwag counts, barriers); <see cref="CudaBackend"/> takes
/// the communicator from it to average gradients and, with ZeRO-1, to gather parameters. Every failure of a
/// collective (a dead or hung peer) surfaces as a one-line <see cref="ToolException"/>.
/// </summary>
public sealed class CudaProcessGroup : IProcessGroup
{
    private readonly NcclSession _session;
    private readonly DeviceScalar _scalar;
    private readonly NcclProcessGroup _group;

    private CudaProcessGroup(NcclSession session, DeviceScalar scalar, int zeroStage)
    {
        _session = session;
        _scalar = scalar;
        _group = new NcclProcessGroup(session.Communicator!, session.Launch.LocalRank, scalar);
        ZeroStage = zeroStage;
    }

    /// <summary>
    /// Joins the run described by <paramref name="launch"/>: selects the local GPU (its local rank), exchanges
    /// the NCCL id by the launch's init method and creates the communicator, all before any backend exists.
    /// A one-process launch needs none of this and gets <see cref="SingleProcess.Instance"/>.
    /// </summary>
    /// <param name="zeroStage">The ZeRO stage asked for (-z); the backend resolves what is possible.</param>
    public static IProcessGroup Join(LaunchInfo launch, RendezvousOptions options, int zeroStage)
    {
        if (!launch.IsMultiProcess) return SingleProcess.Instance;
        NcclSession? session = null;
        try
        {
            session = NcclBootstrap.Connect(launch, options, CudaDevice.BindPrimaryContext);
            var scalar = new DeviceScalar(session.Launch.LocalRank);
            return new CudaProcessGroup(session, scalar, zeroStage);
        }
        catch (Exception e) when (e is DistributedException or CudaException or DllNotFoundException)
        {
            session?.Dispose();
            throw new ToolException($"{launch}: {e.Message}", e);
        }
    }

    public int Rank => _group.Rank;
    public int Size => _group.Size;
    public int LocalRank => _group.LocalRank;
    /// <summary>The ZeRO stage the run asked for (-z).</summary>
    public int ZeroStage { get; }
    public LaunchInfo Launch => _session.Launch;
    public NcclCommunicator Communicator => _session.Communicator!;

    public double AllReduceSum(double value)
    {
        try { return _group.AllReduceSum(value); }
        catch (Exception e) when (e is DistributedException or CudaException) { throw Failed(e); }
    }

    public void Barrier()
    {
        try { _group.Barrier(); }
        catch (Exception e) when (e is DistributedException or CudaException) { throw Failed(e); }
    }

    /// <summary>The error to report when a collective failed: the watchdog's reason when it has one.</summary>
    internal ToolException Failed(Exception e) => new(Communicator.Failure ?? e.Message, e);

    public void Dispose()
    {
        _scalar.Dispose();
        _session.Dispose();
    }

    /// <summary>Eight bytes of device memory on the local GPU, with a stream of their own, for scalar all-reduces.</summary>
    private sealed class DeviceScalar : IDeviceScalar, IDisposable
    {
        private readonly CudaDevice _device;
        private readonly DeviceBuffer _buffer;
        private readonly double[] _host = new double[1];

        public DeviceScalar(int ordinal)
        {
            _device = new CudaDevice(ordinal);
            try { _buffer = _device.Allocate(8, "process-group scalar"); }
            catch { _device.Dispose(); throw; }
        }

        public nint DevicePointer => (nint)_buffer.Ptr;
        public nint Stream => _device.Stream;

        public void Write(double value)
        {
            _device.MakeCurrent();
            _host[0] = value;
            _device.Upload(_buffer.Ptr, (ReadOnlySpan<double>)_host);
        }

        public double Read()
        {
            _device.MakeCurrent();
            _device.Download(_host.AsSpan(), _buffer.Ptr);
            return _host[0];
        }

        public void Dispose()
        {
            _buffer.Dispose();
            _device.Dispose();
        }
    }
}
