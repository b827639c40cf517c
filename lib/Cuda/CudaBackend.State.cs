using LlmNet.Distributed.Nccl;
using LlmNet.Distributed.Zero;
using LlmNet.Model;
using LlmNet.Model.Checkpoints;
using LlmNet.Model.Random;

namespace LlmNet.Cuda;

/// <summary>
/// GPT-2 on one NVIDIA GPU with llm.c's mixed precision: bf16 parameters, gradients and activations, fp32
/// LayerNorm statistics, AdamW moments and master weights. Matmuls run on cuBLASLt; everything else in this
/// assembly's kernels. All device memory is allocated once, in the constructor, for (maxBatch, maxSeq), and
/// every reduction is deterministic, so the same inputs give bitwise the same losses on every run.
/// In a <see cref="CudaProcessGroup"/> of several processes the gradients are averaged in bf16 with NCCL on the
/// last micro-step (all-reduce with ZeRO-0; reduce-scatter with ZeRO-1, where each process keeps m, v and master
/// for its 1/N shard only and the updated parameters are all-gathered), see docs/multi-gpu.md.
/// </summary>
public sealed partial class CudaBackend : IGptBackend, IGptBackendProbe
{
    private const int NormBlocks = 1024, NormThreads = 512;

    private readonly CudaDevice _device;
    private readonly KernelModule _k;
    private readonly Matmul _mm;
    private readonly ParameterLayout _layout;
    private readonly List<DeviceBuffer> _buffers = [];
    private readonly int _recompute, _geluFusion;
    private readonly bool _keepMaster;              // -w 1: fp32 master weights; -w 0: AdamW reads the bf16 parameters
    private readonly bool _training;                // false: forward passes only, no gradients, optimizer state or backward scratch
    private readonly FlashKernels _flash;           // the attention kernels: the module's fastest set
    private readonly IProcessGroup _group;
    private readonly NcclCommunicator? _comm;       // null for one process
    private readonly ZeroShardLayout _shard;        // where this process's m, v and master live
    private readonly ZeroCollectives? _sync;
    private bool _gradientsPendingReduce;           // backward ran since the last gradient exchange
    // The last micro-step's exchange overlaps with backward: the collectives go onto their own stream, each
    // layer's behind an event recorded after its backward.
    private CudaSideStream? _ncclStream;                // created with the first overlapped exchange
    private OverlappedGradientExchange? _exchange;
    private readonly RoundingSeeds _rounding;       // stochastic-rounding seeds: one per backward pass, one per tensor per update

    // Model state, typed and counted in elements (bf16 as its raw 16 bits): d48's fp32 arrays are 6.2 GB each.
    private readonly DeviceArray<ushort> _params, _grads;
    private readonly DeviceArray<float> _m, _v, _master;
    // Activations (see docs/cuda.md for shapes).
    private readonly DeviceBuffer _encoded, _ln1, _ln1Mean, _ln1Rstd, _qkv, _atty, _attLse, _residual2, _ln2, _ln2Mean, _ln2Rstd,
        _fch, _fchGelu, _residual3, _lnf, _lnfMean, _lnfRstd, _logits, _lse, _losses, _inputs, _targets;
    // Backward scratch.
    private readonly DeviceBuffer _dresidual, _btc, _bt4c, _attDelta, _partials, _normPartials, _buckets, _wtePartials;

    // Pinned host memory for batches and losses: copies are queued, and the host waits only for what it reads.
    private readonly MicroStepStaging _staging;
    private int _b, _t;
    private bool _haveTargets, _masterValid;
    // After the fused classifier of a training micro-step the logits buffer holds (softmax - onehot), not yet scaled
    // by dloss, and the backward's two logits matmuls apply the scale as alpha.
    private bool _logitsHoldGradient;
    private readonly bool _classifierStaged; // a logits row fits in shared memory: ForwardBackward fuses the classifier

    public CudaBackend(GptConfig config, int maxBatch, int maxSeq, BackendOptions? options = null)
    {
        options ??= new BackendOptions();
        if (maxSeq > config.MaxSeqLen) throw new ArgumentException($"sequence length {maxSeq} exceeds the model's maximum {config.MaxSeqLen}");
        if (config.Channels % 8 != 0 || config.PaddedVocabSize % 8 != 0)
            throw new ArgumentException($"the CUDA backend needs channels and padded vocab divisible by 8 (got C={config.Channels}, Vp={config.PaddedVocabSize})");
        if (config.HeadSize is not (64 or 80 or 96 or 128))
            throw new ArgumentException($"the CUDA attention kernels support head sizes 64, 80, 96 and 128, not {config.HeadSize}");
        if (options.Recompute is < 0 or > 2) throw new ArgumentException($"recompute must be 0, 1 or 2 (got {options.Recompute})");
        _group = options.ProcessGroup ?? SingleProcess.Instance;
        _layout = ParameterLayout.For(config);
        if (_group.Size > 1)
        {
            if (_group is not CudaProcessGroup cuda)
                throw new NotSupportedException($"the CUDA backend averages gradients over NCCL and needs a {nameof(CudaProcessGroup)}, not a {_group.GetType().Name}");
            _comm = cuda.Communicator;
            int stage = options.ZeroStage >= 0 ? options.ZeroStage : cuda.ZeroStage;
            _shard = ResolveShard(_layout, _group.Size, _group.Rank, stage, out string? note);
            if (note is not null && _group.Rank == 0) Console.WriteLine(note);
            _sync = new ZeroCollectives(_comm, _shard, NcclDataType.BFloat16);
        }
        else
        {
            _shard = ZeroShardLayout.Create(_layout, 1, 0, 0);
        }
        Config = config;
        MaxBatchSize = maxBatch;
        MaxSeqLen = maxSeq;
        _rounding = RoundingSeeds.ForRank(_group.Rank);

        _device = new CudaDevice(options.DeviceIndex >= 0 ? options.DeviceIndex : _group.LocalRank);
        try
        {
            _recompute = options.Recompute;
            _geluFusion = options.GeluFusion >= 0 ? Math.Min(options.GeluFusion, 2) : (_device.ComputeMajor >= 9 ? 2 : 0);
            _k = KernelModule.LoadDefault(_device);
            _flash = FlashKernels.For(_k);
            _classifierStaged = config.PaddedVocabSize * 2 <= _device.MaxSharedMemoryPerBlockOptin;
            AllowLargeSharedMemory();
            _mm = new Matmul(_device);

            long n = _layout.Count, L = config.NumLayers, C = config.Channels, bt = (long)maxBatch * maxSeq;
            long nh = config.NumHeads, vp = config.PaddedVocabSize;
            _training = options.Training;
            _keepMaster = options.MasterWeights && _training;
            _params = Alloc<ushort>("parameters (bf16)", n);
            _grads = TrainingAlloc<ushort>("gradients (bf16)", n);
            long shard = _shard.ShardNumParameters;
            _m = TrainingAlloc<float>("AdamW m (fp32)", shard);
            _v = TrainingAlloc<float>("AdamW v (fp32)", shard);
            _master = _keepMaster ? Alloc<float>("master weights (fp32)", shard) : NotAllocated<float>("master weights (fp32)");

            long lnLayers = _recompute >= 2 ? 1 : L;
            _encoded = Alloc("encoded (B,T,C)", bt * C * 2);
            _ln1 = Alloc($"ln1 ({lnLayers},B,T,C)", lnLayers * bt * C * 2);
            _ln1Mean = Alloc("ln1 mean (L,B,T)", L * bt * 4);
            _ln1Rstd = Alloc("ln1 rstd (L,B,T)", L * bt * 4);
            _qkv = Alloc("qkv (L,B,T,3C)", L * bt * 3 * C * 2);
            _atty = Alloc("atty (L,B,T,C)", L * bt * C * 2);
            _attLse = Alloc("attention logsumexp (L,B,NH,T)", L * bt * nh * 4);
            _residual2 = Alloc("residual2 (L,B,T,C)", L * bt * C * 2);
            _ln2 = Alloc($"ln2 ({lnLayers},B,T,C)", lnLayers * bt * C * 2);
            _ln2Mean = Alloc("ln2 mean (L,B,T)", L * bt * 4);
            _ln2Rstd = Alloc("ln2 rstd (L,B,T)", L * bt * 4);
            _fch = Alloc("fch (L,B,T,4C)", L * bt * 4 * C * 2);
            long geluLayers = _recompute >= 1 ? 1 : L;
            _fchGelu = Alloc($"fch_gelu ({geluLayers},B,T,4C)", geluLayers * bt * 4 * C * 2);
            _residual3 = Alloc("residual3 (L,B,T,C)", L * bt * C * 2);
            _lnf = Alloc("lnf (B,T,C)", bt * C * 2);
            _lnfMean = Alloc("lnf mean (B,T)", bt * 4);
            _lnfRstd = Alloc("lnf rstd (B,T)", bt * 4);
            _logits = Alloc("logits / dlogits (B,T,Vp)", bt * vp * 2);
            _lse = Alloc("logits logsumexp (B,T)", bt * 4);
            _losses = Alloc("losses (B,T)", bt * 4);
            _inputs = Alloc("inputs (B,T)", bt * 4);
            _targets = Alloc("targets (B,T)", bt * 4);

            _dresidual = TrainingAlloc("dresidual (B,T,C)", bt * C * 2);
            _btc = Alloc("scratch (B,T,C)", bt * C * 2); // also the forward's projection output
            _bt4c = TrainingAlloc("scratch (B,T,4C)", bt * 4 * C * 2);
            _attDelta = TrainingAlloc("attention delta (B,NH,T)", bt * nh * 4);
            _partials = TrainingAlloc("column-sum partials", PartialFloats(bt, (int)(4 * C)) * 4);
            _normPartials = TrainingAlloc("norm partials", NormBlocks * 4);
            _buckets = TrainingAlloc("wte-backward buckets", TokenBuckets.MaxInts(bt) * 4);
            _wtePartials = TrainingAlloc("wte-backward chunk sums", TokenBuckets.MaxChunks(bt) * C * 4);
            _staging = new MicroStepStaging(_device, checked((int)bt));
            if (_training)
            {
                _device.Zero(_grads);
                _device.Zero(_m);
                _device.Zero(_v);
            }
            _device.Synchronize();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>True when a CUDA driver, a GPU, NVRTC and cuBLASLt are all present; otherwise says which is missing.</summary>
    public static bool IsAvailable(out string reason)
    {
        if (!CudaDevice.IsPresent(out reason)) return false;
        if (!Interop.NativeLibraries.TryLoad(Interop.NativeLibraries.Nvrtc, out _, out reason)) return false;
        if (!Interop.NativeLibraries.TryLoad(Interop.NativeLibraries.CublasLt, out _, out reason)) return false;
        return true;
    }

    public GptConfig Config { get; }
    public string DeviceName => _device.Name;
    public int MaxBatchSize { get; }
    public int MaxSeqLen { get; }
    /// <summary>True unless created with <see cref="BackendOptions.MasterWeights"/> off (llm.c's -w 0) or for inference only.</summary>
    public bool KeepsMasterWeights => _keepMaster;
    /// <summary>bf16 with or without master weights, so -w 0 checkpoints are llm.c's v5 files too.</summary>
    public ModelDtype ParameterDtype => ModelDtype.Bf16;
    public CudaDevice Device => _device;
    /// <summary>The ZeRO stage in effect: 1 when the optimizer state is sharded over the processes, else 0.</summary>
    public int ZeroStage => _shard.Stage;
    public long OptimizerStateCount => _shard.ShardNumParameters;
    public int Recompute => _recompute;
    public int GeluFusion => _geluFusion;
    /// <summary>False for an inference-only backend (<see cref="BackendOptions.Training"/>): Forward, GetLogits and GetLosses only.</summary>
    public bool IsTraining => _training;
    /// <summary>The attention kernels in use (head size 64).</summary>
    public FlashKernels Flash => _flash;

    /// <summary>Every device allocation, by name and size, in allocation order (llm.c-style memory report).</summary>
    public IReadOnlyList<(string Name, long Bytes)> Allocations =>
        [.. _buffers.Select(b => (b.Name, b.Bytes)), ("cuBLASLt workspace", _mm?.WorkspaceSize ?? 0)];

    public long AllocatedBytes => Allocations.Sum(a => a.Bytes);

    public string MemoryReport()
    {
        var lines = new List<string>();
        long model = _params.Buffer.Bytes + _grads.Buffer.Bytes, opt = _m.Buffer.Bytes + _v.Buffer.Bytes + _master.Buffer.Bytes;
        if (!_training)
        {
            lines.Add($"allocated {Mib(model)} MiB for model parameters (bf16)");
            lines.Add("inference only: no gradients, AdamW state, master weights or backward scratch");
        }
        else
        {
            lines.Add($"allocated {Mib(model)} MiB for model parameters and gradients (bf16)");
            lines.Add(_keepMaster
                ? $"allocated {Mib(opt)} MiB for AdamW optimizer state m, v and master weights (fp32)"
                : $"allocated {Mib(opt)} MiB for AdamW optimizer state m and v (fp32); no master weights (-w 0) saves {Mib(_shard.ShardNumParameters * 4)} MiB");
        }
        long acts = AllocatedBytes - model - opt;
        lines.Add($"allocated {Mib(acts)} MiB for activations and scratch (recompute {_recompute}, gelu fusion {_geluFusion}):");
        var state = new HashSet<string> { _params.Name, _grads.Name, _m.Name, _v.Name, _master.Name };
        foreach ((string name, long bytes) in Allocations.Where(a => !state.Contains(a.Name))) lines.Add($"  {name,-40} {Mib(bytes),8} MiB");
        lines.Add($"device memory: {Mib(AllocatedBytes)} MiB allocated by the backend");
        return string.Join('\n', lines);
    }

    private static string Mib(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("F0");

    /// <summary>A typed buffer of <paramref name="length"/> elements, listed in <see cref="Allocations"/>.</summary>
    private DeviceArray<T> Alloc<T>(string name, long length) where T : unmanaged
    {
        var a = _device.Allocate<T>(length, name);
        _buffers.Add(a.Buffer);
        return a;
    }

    /// <summary>A buffer this configuration does not need: no memory, a null pointer, absent from <see cref="Allocations"/>.</summary>
    private DeviceArray<T> NotAllocated<T>(string name) where T : unmanaged => _device.Allocate<T>(0, name);

    /// <summary>A buffer only training uses (gradients, optimizer state, backward scratch): not allocated for inference.</summary>
    private DeviceArray<T> TrainingAlloc<T>(string name, long length) where T : unmanaged =>
        _training ? Alloc<T>(name, length) : NotAllocated<T>(name);

    // Activations and scratch, sized in bytes (at least 256, so no launch sees a null pointer).
    private DeviceBuffer Alloc(string name, long bytes) => Alloc<byte>(name, Math.Max(bytes, 256)).Buffer;
    private DeviceBuffer TrainingAlloc(string name, long bytes) => TrainingAlloc<byte>(name, Math.Max(bytes, 256)).Buffer;

    /// <summary>Refuses training calls on an inference-only backend, before they reach a missing buffer.</summary>
    private void RequireTraining(string what)
    {
        if (!_training)
            throw new InvalidOperationException($"{what}: this CUDA backend was created for inference only ({nameof(BackendOptions)}.{nameof(BackendOptions.Training)} = false) " +
                "and has no gradients or optimizer state; create it with Training = true to train");
    }

    public void Dispose()
    {
        try { _device?.Synchronize(); } catch (CudaException) { }
        _mm?.Dispose();
        foreach (DeviceBuffer b in _buffers) b.Dispose();
        _buffers.Clear();
        _k?.Dispose();
        _staging?.Dispose();
        _ncclStream?.Dispose();
        _device?.Dispose();
    }
}
