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
    // Activations, typed and counted in elements like the model state, allocated for (maxBatch, maxSeq). A per-layer
    // tensor is laid out (layers, B, T, ...) for the current micro-batch's B·T, as in llm.c, so layer l starts at
    // element l·B·T·width (Layer in CudaBackend.Launches.cs). Names are llm.c's ActivationTensors (train_gpt2.cu) where
    // the tensor is the same; docs/cuda.md has this table.
    //   field       llm.c          shape                  dtype  what
    //   _encoded    encoded        (B,T,C)                bf16   wte + wpe: the residual into layer 0
    //   _ln1        ln1            (L,B,T,C)              bf16   one layer with recompute 2 (recomputed in backward)
    //   _ln1Mean    ln1_mean       (L,B,T)                fp32
    //   _ln1Rstd    ln1_rstd       (L,B,T)                fp32
    //   _qkv        qkvr (cuDNN)   (L,B,T,3C)             bf16   the qkv matmul's output, which attention reads as it is
    //   _atty       atty           (L,B,T,C)              bf16
    //   _attLse     att (cuDNN)    (L,B,NH,T)             fp32   attention's softmax log-sum-exp per query; no (T,T) matrix
    //   _residual2  residual2      (L,B,T,C)              bf16
    //   _ln2        ln2            (L,B,T,C)              bf16   one layer with recompute 2
    //   _ln2Mean    ln2_mean       (L,B,T)                fp32
    //   _ln2Rstd    ln2_rstd       (L,B,T)                fp32
    //   _fch        fch            (L,B,T,4C)             bf16   before GELU
    //   _fchGelu    fch_gelu       (L,B,T,4C)             bf16   one layer with recompute >= 1 (recomputed from fch in backward)
    //   _residual3  residual3      (L,B,T,C)              bf16
    //   _lnf        lnf            (B,T,C)                bf16
    //   _lnfMean    lnf_mean       (B,T)                  fp32
    //   _lnfRstd    lnf_rstd       (B,T)                  fp32
    //   _logits     output         (R,Vp)                 bf16   logits (dlogits in a backward) of R = LogitsChunkRows rows at a time
    //   _lse        -              (B,T)                  fp32   the logits' log-sum-exp per row (classifier)
    //   _losses     losses         (B,T)                  fp32
    //   _inputs     inputs         (B,T)                  int32  tokens (llm.c keeps them in GPT2, not in the activations)
    //   _targets    targets        (B,T)                  int32
    private readonly DeviceArray<ushort> _encoded, _ln1, _qkv, _atty, _residual2, _ln2, _fch, _fchGelu, _residual3, _lnf, _logits;
    private readonly DeviceArray<float> _ln1Mean, _ln1Rstd, _attLse, _ln2Mean, _ln2Rstd, _lnfMean, _lnfRstd, _lse, _losses;
    private readonly DeviceArray<int> _inputs, _targets;
    // Backward scratch, not allocated for inference except _btc:
    //   _dresidual     dresidual      (B,T,C)                bf16   the residual stream's gradient (gpt2_backward_and_reduce)
    //   _dwte          -              (Vp,C)                 fp32   the classifier's wte gradient, summed over its row chunks
    //   _btc           scratch_btc    (B,T,C)                bf16   also the forward's attproj and fcproj outputs
    //   _bt4c          scratch_bt4c   (B,T,4C)               bf16   dfch; dqkv (B,T,3C) in its first B·T·3C elements
    //   _attDelta      -              (B,NH,T)               fp32   rowsum(dout∘out) of attention backward
    //   _partials      -              PartialFloats          fp32   column sums of layernorm and bias backward, per block
    //   _normPartials  -              (1024)                 fp32   the gradient norm's block sums
    //   _buckets       -              TokenBuckets.MaxInts   int32  wte backward: positions bucketed by token
    //   _wtePartials   -              (MaxChunks,C)          fp32   wte backward: sums of long buckets' chunks
    private readonly DeviceArray<ushort> _dresidual, _btc, _bt4c;
    private readonly DeviceArray<float> _dwte, _attDelta, _partials, _normPartials, _wtePartials;
    private readonly DeviceArray<int> _buckets;

    // Pinned host memory for batches and losses: copies are queued, and the host waits only for what it reads.
    private readonly MicroStepStaging _staging;
    private int _b, _t;
    private bool _haveTargets, _masterValid;
    private bool _classifierDone;             // the micro-step's forward ran the classifier's backward with its losses
    private bool _logitsReadable;             // a Forward ran, and no backward or update since: GetLogits may compute logits
    private int _logitsStart = -1;            // the first row whose logits the buffer holds, -1 for none
    private readonly int _chunkRows;          // logits rows computed at once (CudaBackend.Classifier.cs)
    private readonly bool _classifierStaged; // a logits row fits in shared memory: a micro-step's classifier is one kernel

    public CudaBackend(GptConfig config, int maxBatch, int maxSeq, BackendOptions? options = null)
        : this(config, maxBatch, maxSeq, options, DefaultLogitsChunkRows) { }

    /// <summary>A backend whose classifier computes <paramref name="logitsChunkRows"/> rows of logits at a time (tests).</summary>
    internal CudaBackend(GptConfig config, int maxBatch, int maxSeq, BackendOptions? options, int logitsChunkRows)
    {
        options ??= new BackendOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(logitsChunkRows, 1);
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
            _encoded = Activation<ushort>("encoded (B,T,C)", bt * C);
            _ln1 = Activation<ushort>($"ln1 ({lnLayers},B,T,C)", lnLayers * bt * C);
            _ln1Mean = Activation<float>("ln1 mean (L,B,T)", L * bt);
            _ln1Rstd = Activation<float>("ln1 rstd (L,B,T)", L * bt);
            _qkv = Activation<ushort>("qkv (L,B,T,3C)", L * bt * 3 * C);
            _atty = Activation<ushort>("atty (L,B,T,C)", L * bt * C);
            _attLse = Activation<float>("attention logsumexp (L,B,NH,T)", L * bt * nh);
            _residual2 = Activation<ushort>("residual2 (L,B,T,C)", L * bt * C);
            _ln2 = Activation<ushort>($"ln2 ({lnLayers},B,T,C)", lnLayers * bt * C);
            _ln2Mean = Activation<float>("ln2 mean (L,B,T)", L * bt);
            _ln2Rstd = Activation<float>("ln2 rstd (L,B,T)", L * bt);
            _fch = Activation<ushort>("fch (L,B,T,4C)", L * bt * 4 * C);
            long geluLayers = _recompute >= 1 ? 1 : L;
            _fchGelu = Activation<ushort>($"fch_gelu ({geluLayers},B,T,4C)", geluLayers * bt * 4 * C);
            _residual3 = Activation<ushort>("residual3 (L,B,T,C)", L * bt * C);
            _lnf = Activation<ushort>("lnf (B,T,C)", bt * C);
            _lnfMean = Activation<float>("lnf mean (B,T)", bt);
            _lnfRstd = Activation<float>("lnf rstd (B,T)", bt);
            _chunkRows = (int)Math.Min(logitsChunkRows, bt);
            _logits = Activation<ushort>($"logits / dlogits ({_chunkRows} rows,Vp)", _chunkRows * vp);
            _lse = Activation<float>("logits logsumexp (B,T)", bt);
            _losses = Activation<float>("losses (B,T)", bt);
            _inputs = Activation<int>("inputs (B,T)", bt);
            _targets = Activation<int>("targets (B,T)", bt);

            _dresidual = BackwardScratch<ushort>("dresidual (B,T,C)", bt * C);
            _dwte = BackwardScratch<float>("classifier wte gradient (Vp,C)", vp * C);
            _btc = Activation<ushort>("scratch (B,T,C)", bt * C); // also the forward's projection output
            _bt4c = BackwardScratch<ushort>("scratch (B,T,4C)", bt * 4 * C);
            _attDelta = BackwardScratch<float>("attention delta (B,NH,T)", bt * nh);
            _partials = BackwardScratch<float>("column-sum partials", PartialFloats(bt, (int)(4 * C)));
            _normPartials = BackwardScratch<float>("norm partials", OptimizerKernels.NormBlocks);
            _buckets = BackwardScratch<int>("wte-backward buckets", TokenBuckets.MaxInts(bt));
            _wtePartials = BackwardScratch<float>("wte-backward chunk sums", TokenBuckets.MaxChunks(bt) * C);
            _staging = new MicroStepStaging(_device, checked((int)bt));
            if (_training)
            {
                _device.Zero(_grads);
                _device.Zero(_m);
                _device.Zero(_v);
            }
            _device.Synchronize();
        }
        catch (CudaException e) when (_training && e.Error == "CUDA_ERROR_OUT_OF_MEMORY")
        {
            Dispose();
            throw new CudaException($"{e.Message}. {OutOfMemoryHint(config, (long)maxBatch * maxSeq, _recompute, _keepMaster ? _shard.ShardNumParameters : 0)}");
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
    /// <summary>The GELU fusion in use: -ge with −1 resolved for this device (2 on sm_90 and newer, else 0).</summary>
    public int? ActiveGeluFusion => _geluFusion;
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

    /// <summary>
    /// What a training backend that did not fit could give up, largest first where it applies: recomputation
    /// (<c>-r</c>: one layer's GELU output instead of L, then one layer's ln1/ln2 instead of L), the batch (every
    /// activation scales with B·T), and master weights (<c>-w 0</c>, which changes the arithmetic).
    /// </summary>
    internal static string OutOfMemoryHint(GptConfig config, long rows, int recompute, long masterParameters)
    {
        long layersFreed = config.NumLayers - 1, c = config.Channels;
        var ways = new List<string>();
        if (recompute < 1) ways.Add($"-r 1 (GELU recomputed: {Mib(layersFreed * rows * 4 * c * 2, "N0")} MiB less)");
        if (recompute < 2) ways.Add($"-r 2 (also the LayerNorms: {Mib(layersFreed * rows * 2 * c * 2, "N0")} MiB less than -r 1)");
        ways.Add("a smaller -b (activations scale with it)");
        if (masterParameters > 0) ways.Add($"-w 0 (no fp32 master weights: {Mib(masterParameters * 4, "N0")} MiB less)");
        return $"To fit, try {string.Join(", ", ways)}";
    }

    private static string Mib(long bytes, string format = "F0") =>
        (bytes / (1024.0 * 1024.0)).ToString(format, System.Globalization.CultureInfo.InvariantCulture);

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

    // Activations and scratch take at least 256 bytes (128 bf16 or 64 fp32/int32 elements), so no launch sees a null pointer.
    private const long MinActivationBytes = 256;

    /// <summary>An activation of <paramref name="length"/> elements (at least 256 bytes), allocated for inference too.</summary>
    private DeviceArray<T> Activation<T>(string name, long length) where T : unmanaged =>
        Alloc<T>(name, DeviceSizes.AtLeastBytes<T>(length, MinActivationBytes));

    /// <summary>Backward scratch of <paramref name="length"/> elements (at least 256 bytes): not allocated for inference.</summary>
    private DeviceArray<T> BackwardScratch<T>(string name, long length) where T : unmanaged =>
        TrainingAlloc<T>(name, DeviceSizes.AtLeastBytes<T>(length, MinActivationBytes));

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
