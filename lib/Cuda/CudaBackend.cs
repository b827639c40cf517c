using System.Buffers;
using System.Runtime.InteropServices;
using LlmNet.Common.Cli;
using LlmNet.Distributed;
using LlmNet.Distributed.Nccl;
using LlmNet.Distributed.Zero;
using LlmNet.Model;
using LlmNet.Model.Checkpoints;
using LlmNet.Model.Numerics;

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
public sealed class CudaBackend : IGptBackend, IQueuedMicroSteps, IStochasticRounding
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
    private ulong _rng;

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

    public CudaBackend(GptConfig config, int maxBatch, int maxSeq, CudaBackendOptions? options = null)
    {
        options ??= new CudaBackendOptions();
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
        _rng = StochasticRoundingSeedBase() + (ulong)_group.Rank;

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
    /// <summary>True unless created with <see cref="CudaBackendOptions.MasterWeights"/> off (llm.c's -w 0) or for inference only.</summary>
    public bool KeepsMasterWeights => _keepMaster;
    /// <summary>bf16 with or without master weights, so -w 0 checkpoints are llm.c's v5 files too.</summary>
    public ModelDtype ParameterDtype => ModelDtype.Bf16;
    public CudaDevice Device => _device;
    /// <summary>The ZeRO stage in effect: 1 when the optimizer state is sharded over the processes, else 0.</summary>
    public int ZeroStage => _shard.Stage;
    public long OptimizerStateCount => _shard.ShardNumParameters;
    public int Recompute => _recompute;
    public int GeluFusion => _geluFusion;
    /// <summary>False for an inference-only backend (<see cref="CudaBackendOptions.Training"/>): Forward, GetLogits and GetLosses only.</summary>
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

    // ---------------------------------------------------------------- parameters and state

    public void SetParameters(ReadOnlySpan<float> values)
    {
        _device.MakeCurrent();
        CheckLength(values.Length, "parameters");
        UploadAsBf16(_params, values);
        if (_keepMaster) UploadMaster(values);
        _masterValid = true;
    }

    public void GetParameters(Span<float> values)
    {
        _device.MakeCurrent();
        CheckLength(values.Length, "parameters");
        DownloadBf16(values, _params);
    }

    public void GetGradients(Span<float> values)
    {
        RequireTraining(nameof(GetGradients));
        _device.MakeCurrent();
        CheckLength(values.Length, "gradients");
        DownloadBf16(values, _grads);
    }

    public void GetOptimizerState(Span<float> m, Span<float> v, Span<float> master)
    {
        RequireTraining(nameof(GetOptimizerState));
        _device.MakeCurrent();
        CheckShardLength(m.Length, "m"); CheckShardLength(v.Length, "v");
        if (_keepMaster) CheckShardLength(master.Length, "master");
        else if (!master.IsEmpty) throw new ArgumentException("this backend keeps no master weights (-w 0): pass an empty master span");
        _device.Download(m, _m);
        _device.Download(v, _v);
        if (_keepMaster) _device.Download(master, _master);
    }

    public void SetOptimizerState(ReadOnlySpan<float> m, ReadOnlySpan<float> v, ReadOnlySpan<float> master)
    {
        RequireTraining(nameof(SetOptimizerState));
        _device.MakeCurrent();
        CheckShardLength(m.Length, "m"); CheckShardLength(v.Length, "v");
        _device.Upload(_m, 0, m);
        _device.Upload(_v, 0, v);
        if (!_keepMaster)
        {
            // -w 0: AdamW reads the bf16 parameters; a saved master copy has nothing to go to.
        }
        else if (master.IsEmpty)
        {
            // No master copy saved: rebuild it from the bf16 parameters on the next update.
            _masterValid = false;
        }
        else
        {
            CheckShardLength(master.Length, "master");
            _device.Upload(_master, 0, master);
            _masterValid = true;
        }
    }

    /// <summary>The xorshift state used for stochastic-rounding seeds (saved in llm.c's state file).</summary>
    public ulong RngState { get => _rng; set => _rng = value; }

    private void CheckLength(int length, string what)
    {
        if (length != _layout.Count) throw new ArgumentException($"{what}: expected {_layout.Count} values, got {length}");
    }

    private void CheckShardLength(int length, string what)
    {
        if (length != _shard.ShardNumParameters)
            throw new ArgumentException($"{what}: expected {_shard.ShardNumParameters} values (this process's optimizer shard), got {length}");
    }

    /// <summary>The master weights from full-model fp32 values: all of them, or this process's ZeRO-1 chunks at their shard offsets.</summary>
    private void UploadMaster(ReadOnlySpan<float> values)
    {
        if (_shard.Stage == 0) _device.Upload(_master, 0, values);
        else
            foreach (var s in _shard.Slices())
                _device.Upload(_master, s.ShardOffset, values.Slice(checked((int)s.ParameterOffset), checked((int)s.Count)));
    }

    private void UploadAsBf16(DeviceArray<ushort> dst, ReadOnlySpan<float> values)
    {
        dst.CheckRange(0, values.Length);
        const int chunk = 1 << 22;
        ushort[] buffer = ArrayPool<ushort>.Shared.Rent(chunk);
        try
        {
            for (long start = 0; start < values.Length; start += chunk)
            {
                int count = (int)Math.Min(chunk, values.Length - start);
                Bf16.FromFloat(values.Slice((int)start, count), buffer.AsSpan(0, count));
                _device.Upload(dst, start, (ReadOnlySpan<ushort>)buffer.AsSpan(0, count));
            }
        }
        finally { ArrayPool<ushort>.Shared.Return(buffer); }
    }

    private void DownloadBf16(Span<float> values, DeviceArray<ushort> src)
    {
        src.CheckRange(0, values.Length);
        const int chunk = 1 << 22;
        ushort[] buffer = ArrayPool<ushort>.Shared.Rent(chunk);
        try
        {
            for (long start = 0; start < values.Length; start += chunk)
            {
                int count = (int)Math.Min(chunk, values.Length - start);
                _device.Download(buffer.AsSpan(0, count), src, start);
                Bf16.ToFloat(buffer.AsSpan(0, count), values.Slice((int)start, count));
            }
        }
        finally { ArrayPool<ushort>.Shared.Return(buffer); }
    }

    private ulong Param(int tensor, int layer = 0) => _params.At(_layout.Offsets[tensor] + layer * _layout.PerLayerSize(tensor));
    private ulong Grad(int tensor, int layer = 0) => _grads.At(_layout.Offsets[tensor] + layer * _layout.PerLayerSize(tensor));

    // ---------------------------------------------------------------- forward

    public float Forward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen)
    {
        ForwardPass(inputs, targets, batchSize, seqLen);
        if (!_haveTargets)
        {
            _device.Synchronize();
            return float.NaN;
        }
        int bt = batchSize * seqLen;
        ClassifierForward(bt);
        return MeanLoss(bt);
    }

    /// <summary>Per-position losses and log-sum-exps of the logits, which it leaves as they are.</summary>
    private void ClassifierForward(int bt) =>
        _k.Launch("classifier_forward", (bt, 1), 512, 0, _losses.Ptr, _lse.Ptr, _logits.Ptr, _targets.Ptr, Config.VocabSize, Config.PaddedVocabSize);

    /// <summary>
    /// Stages the batch in pinned memory, queues its upload and the forward pass up to the logits; returns without
    /// waiting for the GPU. The caller queues the classifier.
    /// </summary>
    private void ForwardPass(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen)
    {
        _device.MakeCurrent();
        if (batchSize < 1 || batchSize > MaxBatchSize || seqLen < 1 || seqLen > MaxSeqLen)
            throw new ArgumentException($"batch {batchSize}x{seqLen} exceeds the allocated {MaxBatchSize}x{MaxSeqLen}");
        int bt = batchSize * seqLen;
        if (inputs.Length != bt) throw new ArgumentException($"expected {bt} inputs, got {inputs.Length}");
        if (!targets.IsEmpty && targets.Length != bt) throw new ArgumentException($"expected {bt} targets, got {targets.Length}");
        CheckTokens(inputs, "input");
        if (!targets.IsEmpty) CheckTokens(targets, "target");
        _b = batchSize; _t = seqLen;
        _haveTargets = !targets.IsEmpty;
        _logitsHoldGradient = false;
        var slot = _staging.Take(bt);
        inputs.CopyTo(slot.Inputs);
        _device.UploadAsync(_inputs.Ptr, slot.Memory, 0, (long)bt * 4);
        if (_haveTargets)
        {
            targets.CopyTo(slot.Targets);
            _device.UploadAsync(_targets.Ptr, slot.Memory, slot.TargetsByteOffset, (long)bt * 4);
        }
        slot.Fence.Record();

        int L = Config.NumLayers, C = Config.Channels, Vp = Config.PaddedVocabSize;
        _k.Launch("encoder_forward", (CeilDiv((long)bt * C / 8, 256), 1), 256, 0, _encoded.Ptr, _inputs.Ptr, Param(0), Param(1), bt, seqLen, C);
        LayerNorm(0, _encoded.Ptr, 0, Ln1(0), _ln1Mean.Ptr, _ln1Rstd.Ptr, Param(2), Param(3), bt);
        for (int l = 0; l < L; l++)
        {
            ulong residual = l == 0 ? _encoded.Ptr : Act(_residual3, l - 1, C);
            ulong qkv = Act(_qkv, l, 3 * C), atty = Act(_atty, l, C), lse = _attLse.Ptr + (ulong)((long)l * bt * Config.NumHeads * 4);
            Linear(qkv, Ln1(l), Param(4, l), Param(5, l), bt, C, 3 * C);
            Attention(atty, lse, qkv, batchSize, seqLen);
            Linear(_btc.Ptr, atty, Param(6, l), Param(7, l), bt, C, C);
            LayerNorm(Act(_residual2, l, C), residual, _btc.Ptr, Ln2(l), Stat(_ln2Mean, l), Stat(_ln2Rstd, l), Param(8, l), Param(9, l), bt);
            ulong fch = Act(_fch, l, 4 * C), gelu = FchGelu(l);
            if (_geluFusion >= 1)
                _mm.Run(gelu, Param(10, l), Ln2(l), 4 * C, bt, C, true, false, false, MatmulEpilogue.GeluAuxBias, Param(11, l), fch);
            else
            {
                Linear(fch, Ln2(l), Param(10, l), Param(11, l), bt, C, 4 * C);
                Gelu(gelu, fch, (long)bt * 4 * C);
            }
            Linear(_btc.Ptr, gelu, Param(12, l), Param(13, l), bt, 4 * C, C);
            bool last = l == L - 1;
            LayerNorm(Act(_residual3, l, C), Act(_residual2, l, C), _btc.Ptr, last ? _lnf.Ptr : Ln1(l + 1),
                last ? _lnfMean.Ptr : Stat(_ln1Mean, l + 1), last ? _lnfRstd.Ptr : Stat(_ln1Rstd, l + 1),
                last ? Param(14) : Param(2, l + 1), last ? Param(15) : Param(3, l + 1), bt);
        }
        _mm.Run(_logits.Ptr, Param(0), _lnf.Ptr, Vp, bt, C, true, false);
    }

    /// <summary>Downloads the per-position losses of the last forward pass and sums them on the host, in order.</summary>
    private float MeanLoss(int bt)
    {
        float[] losses = ArrayPool<float>.Shared.Rent(bt);
        try
        {
            _device.Download(losses.AsSpan(0, bt), _losses.Ptr);
            return MicroStepStaging.MeanLoss(losses.AsSpan(0, bt));
        }
        finally { ArrayPool<float>.Shared.Return(losses); }
    }

    private void CheckTokens(ReadOnlySpan<int> tokens, string what)
    {
        foreach (int t in tokens)
            if ((uint)t >= (uint)Config.VocabSize) throw new ArgumentException($"{what} token {t} is outside the vocabulary [0, {Config.VocabSize})");
    }

    public void GetLogits(int row, int position, Span<float> values)
    {
        _device.MakeCurrent();
        if (row < 0 || row >= _b || position < 0 || position >= _t) throw new ArgumentOutOfRangeException(nameof(row), $"({row},{position}) is outside the last batch {_b}x{_t}");
        int V = Config.VocabSize;
        if (values.Length < V) throw new ArgumentException($"need room for {V} logits");
        ushort[] raw = new ushort[V];
        _device.Download(raw.AsSpan(), _logits.Ptr + (ulong)(((long)row * _t + position) * Config.PaddedVocabSize) * 2);
        Bf16.ToFloat(raw, values[..V]);
    }

    public void GetLosses(Span<float> values)
    {
        _device.MakeCurrent();
        if (!_haveTargets) throw new InvalidOperationException("the last forward pass had no targets");
        _device.Download(values[..(_b * _t)], _losses.Ptr);
    }

    // ---------------------------------------------------------------- backward

    public void ZeroGradients()
    {
        RequireTraining(nameof(ZeroGradients));
        _device.MakeCurrent();
        _device.Zero(_grads);
        _gradientsPendingReduce = false;
    }

    public void Backward(float lossScale) => Backward(lossScale, lastMicroStep: false);

    /// <summary>
    /// One training micro-step, waited for: <see cref="QueueForwardBackward"/>, then its loss. Gradients and loss equal
    /// those of <see cref="Forward"/> + <see cref="Backward(float, bool)"/> bitwise when lossScale is a power of two.
    /// </summary>
    public float ForwardBackward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen, float lossScale, bool lastMicroStep)
    {
        if (_staging.QueuedCount > 0)
            throw new InvalidOperationException($"{_staging.QueuedCount} queued micro-step(s) still hold losses: call {nameof(TakeLosses)} before {nameof(ForwardBackward)}");
        QueueForwardBackward(inputs, targets, batchSize, seqLen, lossScale, lastMicroStep);
        return TakeLosses()[0];
    }

    /// <summary>
    /// Queues one training micro-step and returns without waiting for the GPU. When a logits row fits in shared memory
    /// the forward ends in one kernel that writes the losses and the unscaled logits gradient; otherwise the separate
    /// classifier kernels run. Either way the losses are copied into pinned memory behind the kernels and the whole
    /// backward is queued after them. The host waits only when the batch slot it needs is still being copied from
    /// (two micro-steps back), and on the last micro-step of several processes, for the gradient exchange.
    /// </summary>
    public void QueueForwardBackward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batchSize, int seqLen, float lossScale, bool lastMicroStep)
    {
        RequireTraining(nameof(QueueForwardBackward));
        if (targets.IsEmpty) throw new ArgumentException("a training micro-step needs targets", nameof(targets));
        ForwardPass(inputs, targets, batchSize, seqLen);
        int bt = batchSize * seqLen, Vp = Config.PaddedVocabSize;
        if (_classifierStaged)
        {
            _k.Launch("classifier_forward_backward", (bt, 1), 512, Vp * 2, _logits.Ptr, _losses.Ptr, _lse.Ptr, _targets.Ptr, Config.VocabSize, Vp);
            _logitsHoldGradient = true;
        }
        else ClassifierForward(bt);
        _device.DownloadAsync(_staging.QueueLossRow(bt), 0, _losses.Ptr, (long)bt * 4);
        QueueBackward(lossScale, lastMicroStep);
    }

    /// <summary>Waits for the GPU and returns the mean loss of every micro-step queued since the last call, in order.</summary>
    public float[] TakeLosses()
    {
        _device.MakeCurrent();
        _device.Synchronize();
        return _staging.TakeMeanLosses();
    }

    /// <summary>
    /// Backward, waited for; on the last micro-step of an accumulation window with several processes, also averages the
    /// gradients across them, each layer's as soon as its backward is queued. The averages are complete when this
    /// returns. (Called without it, the exchange happens after the whole pass, at the first of
    /// <see cref="GradientNormSquared"/> or <see cref="Update"/>.)
    /// </summary>
    public void Backward(float lossScale, bool lastMicroStep)
    {
        QueueBackward(lossScale, lastMicroStep);
        _device.Synchronize();
    }

    /// <summary>The backward of <see cref="Backward(float, bool)"/>, queued: the host waits only for a gradient exchange.</summary>
    private void QueueBackward(float lossScale, bool lastMicroStep)
    {
        RequireTraining(nameof(Backward));
        bool overlap = lastMicroStep && _sync is not null;
        if (overlap) BeginOverlappedExchange();
        try { BackwardPass(lossScale); }
        catch when (overlap) { _exchange!.Abandon(); throw; }
        if (_sync is null) return;
        _gradientsPendingReduce = !overlap;
        if (lastMicroStep && !overlap) ReduceGradients();
    }

    private void BackwardPass(float lossScale)
    {
        _device.MakeCurrent();
        if (!_haveTargets) throw new InvalidOperationException("Backward needs a forward pass with targets");
        int B = _b, T = _t, bt = B * T, L = Config.NumLayers, C = Config.Channels, V = Config.VocabSize, Vp = Config.PaddedVocabSize;

        // dlogits: written by the fused classifier of ForwardBackward (unscaled; the matmuls scale by lossScale),
        // or here from the logits and the forward's log-sum-exp (scaled). With lossScale a power of two both give
        // bitwise the same gradients: scaling by 2^k commutes with bf16 rounding and with fp32 accumulation.
        float alpha = 1.0f;
        if (_logitsHoldGradient) alpha = lossScale;
        else _k.Launch("classifier_backward", (bt, 1), 512, 0, _logits.Ptr, _lse.Ptr, _targets.Ptr, lossScale, V, Vp);
        _logitsHoldGradient = false;
        _mm.Run(Grad(0), _lnf.Ptr, _logits.Ptr, C, Vp, bt, false, true, accumulate: true, alpha: alpha);
        _mm.Run(_btc.Ptr, Param(0), _logits.Ptr, C, bt, Vp, false, false, alpha: alpha);
        _device.Zero(_dresidual.Ptr, (long)bt * C * 2);
        ulong lastResidual = Act(_residual3, L - 1, C);
        LayerNormBackward(_btc.Ptr, lastResidual, _lnfMean.Ptr, _lnfRstd.Ptr, Param(14), Grad(14), Grad(15), bt);

        for (int l = L - 1; l >= 0; l--)
        {
            ulong residual = l == 0 ? _encoded.Ptr : Act(_residual3, l - 1, C);
            ulong fch = Act(_fch, l, 4 * C), gelu = FchGelu(l), atty = Act(_atty, l, C), qkv = Act(_qkv, l, 3 * C);
            ulong lse = _attLse.Ptr + (ulong)((long)l * bt * Config.NumHeads * 4);

            // MLP: fcproj, GELU, fc
            if (_recompute >= 1) Gelu(gelu, fch, (long)bt * 4 * C);
            WeightAndBiasGradients(Grad(12, l), Grad(13, l), gelu, _dresidual.Ptr, bt, 4 * C, C);
            if (_geluFusion >= 2)
                _mm.Run(_bt4c.Ptr, Param(12, l), _dresidual.Ptr, 4 * C, bt, C, false, false, false, MatmulEpilogue.DGelu, 0, fch);
            else
            {
                _mm.Run(_bt4c.Ptr, Param(12, l), _dresidual.Ptr, 4 * C, bt, C, false, false);
                _k.Launch("gelu_backward_inplace", (CeilDiv((long)bt * 4 * C / 8, 256), 1), 256, 0, _bt4c.Ptr, fch, (long)bt * 4 * C);
            }
            if (_recompute >= 2)
                LayerNorm(0, Act(_residual2, l, C), 0, Ln2(l), 0, 0, Param(8, l), Param(9, l), bt);
            WeightAndBiasGradients(Grad(10, l), Grad(11, l), Ln2(l), _bt4c.Ptr, bt, C, 4 * C);
            _mm.Run(_btc.Ptr, Param(10, l), _bt4c.Ptr, C, bt, 4 * C, false, false);
            LayerNormBackward(_btc.Ptr, Act(_residual2, l, C), Stat(_ln2Mean, l), Stat(_ln2Rstd, l), Param(8, l), Grad(8, l), Grad(9, l), bt);

            // attention: attproj, attention, qkv
            WeightAndBiasGradients(Grad(6, l), Grad(7, l), atty, _dresidual.Ptr, bt, C, C);
            _mm.Run(_btc.Ptr, Param(6, l), _dresidual.Ptr, C, bt, C, false, false);
            AttentionBackward(_bt4c.Ptr, _btc.Ptr, qkv, atty, lse, B, T);
            if (_recompute >= 2)
                LayerNorm(0, residual, 0, Ln1(l), 0, 0, Param(2, l), Param(3, l), bt);
            WeightAndBiasGradients(Grad(4, l), Grad(5, l), Ln1(l), _bt4c.Ptr, bt, C, 3 * C);
            _mm.Run(_btc.Ptr, Param(4, l), _bt4c.Ptr, C, bt, 3 * C, false, false);
            LayerNormBackward(_btc.Ptr, residual, Stat(_ln1Mean, l), Stat(_ln1Rstd, l), Param(2, l), Grad(2, l), Grad(3, l), bt);
            // Layer l's 12 gradients are final here: nothing below writes them again in this pass.
            if (_exchange?.InProgress == true) QueueLayerExchange(l);
        }
        EncoderBackward(B, T);
        if (_exchange?.InProgress == true) FinishOverlappedExchange();
    }

    private void EncoderBackward(int B, int T)
    {
        int C = Config.Channels, bt = B * T;
        uint seed = NextRandom();
        _k.Launch("wpe_backward", (CeilDiv((long)T * C, 256), 1), 256, 0, Grad(1), _dresidual.Ptr, B, T, C, seed);

        // The buckets go through the forward's pinned slot. The fence wait returns once the GPU has taken this batch's
        // inputs, by when its bucket area is free even if this forward gets a second backward.
        var slot = _staging.Current;
        slot.Fence.Wait();
        var buckets = TokenBuckets.Build(slot.Inputs);
        buckets.Host.CopyTo(slot.Buckets(buckets.Host.Length));
        _device.UploadAsync(_buckets.Ptr, slot.Memory, slot.BucketsByteOffset, (long)buckets.Host.Length * 4);
        slot.Fence.Record();
        ulong At(int offset) => _buckets.Ptr + (ulong)offset * 4;
        (int, int) Grid(int rows) => (rows, CeilDiv(C / 8, 64));
        if (buckets.Chunks > 0)
            _k.Launch("wte_backward_chunks", Grid(buckets.Chunks), 64, 0, _wtePartials.Ptr, _dresidual.Ptr, At(buckets.ChunkRangesOffset),
                At(buckets.PositionsOffset), C);
        _k.Launch("wte_backward", Grid(buckets.Count), 64, 0, Grad(0), _dresidual.Ptr, _wtePartials.Ptr, At(buckets.TokensOffset),
            At(buckets.StartsOffset), At(buckets.PositionsOffset), At(buckets.ChunkStartsOffset), C, seed);
    }

    public double GradientNormSquared()
    {
        RequireTraining(nameof(GradientNormSquared));
        _device.MakeCurrent();
        if (_gradientsPendingReduce) ReduceGradients();
        if (_shard.Stage == 0) return NormSquared(_grads.Ptr, _layout.Count);
        // ZeRO-1: each process holds the averaged gradients of its own chunks only.
        double local = 0;
        foreach (var s in _shard.Slices()) local += NormSquared(_grads.At(s.ParameterOffset), s.Count);
        return _group.AllReduceSum(local);
    }

    private double NormSquared(ulong gradients, long count)
    {
        _k.Launch("norm_squared_partial", (NormBlocks, 1), NormThreads, 0, _normPartials.Ptr, gradients, count);
        float[] partial = new float[NormBlocks];
        _device.Download(partial.AsSpan(), _normPartials.Ptr);
        double sum = 0;
        foreach (float p in partial) sum += p;
        return sum;
    }

    /// <summary>
    /// Averages the gradients across processes in bf16 (ncclAvg), in llm.c's groups: one per layer (its 12
    /// tensors), then one for wte, wpe, lnfw and lnfb. ZeRO-0 all-reduces in place; ZeRO-1 reduce-scatters, leaving
    /// each process's averaged chunk at its own offset. This is the post-backward schedule: the collectives are
    /// queued on the compute stream after the whole pass, and the host waits under the watchdog so a dead peer is
    /// an error, not a hang. The overlapped schedule issues the same collectives (see <see cref="QueueLayerExchange"/>).
    /// </summary>
    private void ReduceGradients()
    {
        _gradientsPendingReduce = false;
        try
        {
            OverlappedGradientExchange.ReduceAfterBackward(_sync!, (nint)_grads.Ptr, Config.NumLayers, _device.Stream);
            using (_comm!.Watch("gradient averaging")) _device.Synchronize();
        }
        catch (Exception e) when (e is DistributedException or CudaException) { throw CollectiveFailed(e); }
    }

    private void BeginOverlappedExchange()
    {
        _device.MakeCurrent();
        if (_exchange is null)
        {
            _ncclStream = new CudaSideStream(_device);
            _exchange = new OverlappedGradientExchange(_sync!, _ncclStream, Config.NumLayers);
        }
        _exchange.Begin();
    }

    /// <summary>
    /// Layer l's backward is queued: its collectives go onto the NCCL stream behind an event on the compute stream,
    /// and run while the compute stream goes on with layer l−1. They only touch the gradients, which nothing in the
    /// rest of the pass reads or writes for this layer.
    /// </summary>
    private void QueueLayerExchange(int layer)
    {
        try { _exchange!.LayerDone((nint)_grads.Ptr, layer, _ncclStream!.Handle); }
        catch (Exception e) when (e is DistributedException or CudaException) { throw CollectiveFailed(e); }
    }

    /// <summary>
    /// After the encoder backward: queues wte, wpe, lnfw, lnfb, makes the compute stream wait for every collective
    /// of the pass (so the norm, AdamW, downloads and the next zeroing see the averages), and waits for both streams
    /// under the watchdog.
    /// </summary>
    private void FinishOverlappedExchange()
    {
        try
        {
            _exchange!.EncoderDone((nint)_grads.Ptr, _ncclStream!.Handle);
            using (_comm!.Watch("gradient averaging")) _device.Synchronize();
        }
        catch (Exception e) when (e is DistributedException or CudaException) { throw CollectiveFailed(e); }
    }

    /// <summary>ZeRO-0: every process takes rank 0's rounded parameters; ZeRO-1: every process gathers every chunk.</summary>
    private void ShareParameters()
    {
        try
        {
            if (_shard.Stage == 1) _sync!.GatherParameters((nint)_params.Ptr, _device.Stream);
            else _comm!.Broadcast((nint)_params.Ptr, (nint)_params.Ptr, _layout.Count, NcclDataType.BFloat16, 0, _device.Stream);
            using (_comm!.Watch("parameter exchange")) _device.Synchronize();
        }
        catch (Exception e) when (e is DistributedException or CudaException) { throw CollectiveFailed(e); }
    }

    private ToolException CollectiveFailed(Exception e) => new(_comm?.Failure ?? $"rank {_group.Rank}: {e.Message}", e);

    /// <summary>
    /// The ZeRO stage this run can use: <see cref="ZeroShardLayout.Create(ParameterLayout, int, int, int, out string?)"/>'s
    /// rules, plus ZeRO-1 only when every chunk starts and ends on 8 elements (the norm kernel reads 16 bytes at a time).
    /// </summary>
    internal static ZeroShardLayout ResolveShard(ParameterLayout layout, int processCount, int rank, int stage, out string? note)
    {
        ZeroShardLayout shard;
        try { shard = ZeroShardLayout.Create(layout, processCount, rank, stage, out note); }
        catch (DistributedException e) { throw new ArgumentException(e.Message, e); }
        if (shard.Stage == 1 && shard.Slices().Any(s => s.Count % 8 != 0 || s.ParameterOffset % 8 != 0))
        {
            note = $"ZeRO-1 disabled: a tensor's chunk for {processCount} processes is not a multiple of 8 elements; using stage 0";
            shard = ZeroShardLayout.Create(layout, processCount, rank, 0);
        }
        return shard;
    }

    public void Update(in AdamWStep step)
    {
        RequireTraining(nameof(Update));
        _device.MakeCurrent();
        if (_gradientsPendingReduce) ReduceGradients();
        if (_keepMaster && !_masterValid)
        {
            // Master weights start as the bf16 parameters widened to fp32 (llm.c copies them on the first update).
            float[] widened = new float[_layout.Count];
            DownloadBf16(widened, _params);
            UploadMaster(widened);
            _masterValid = true;
        }
        float c1 = 1.0f - MathF.Pow(step.Beta1, step.T), c2 = 1.0f - MathF.Pow(step.Beta2, step.T);
        if (_shard.Stage == 1)
        {
            UpdateShard(step, c1, c2);
            return;
        }
        for (int i = 0; i < ParameterLayout.TensorCount; i++)
        {
            long n = _layout.Sizes[i], off = _layout.Offsets[i];
            float wd = ParameterLayout.HasWeightDecay(i) ? step.WeightDecay : 0.0f;
            _k.Launch("adamw_update", (CeilDiv(n, 512), 1), 512, 0, _params.At(off), Master(off), _grads.At(off),
                _m.At(off), _v.At(off), n, step.LearningRate, step.Beta1, step.Beta2, c1, c2, step.Epsilon, wd, step.GradScale, NextRandom());
        }
        // Each process rounded with its own seeds; rank 0's parameters (those the model file records) become everyone's.
        if (_comm is not null) ShareParameters();
        _device.Synchronize();
    }

    /// <summary>
    /// ZeRO-1: AdamW on this process's chunk of every layer's copy of every tensor (m, v and master at the
    /// chunk's shard offset), then the all-gather that rebuilds the full parameters everywhere. One seed per
    /// tensor, as in the unsharded update, so the seed stream stays in step with the trainer's copy of it.
    /// </summary>
    private void UpdateShard(in AdamWStep step, float c1, float c2)
    {
        for (int i = 0; i < ParameterLayout.TensorCount; i++)
        {
            float wd = ParameterLayout.HasWeightDecay(i) ? step.WeightDecay : 0.0f;
            uint seed = NextRandom();
            for (int l = 0; l < _layout.LayersOf(i); l++)
            {
                var s = _shard.Slice(i, l);
                long p = s.ParameterOffset, q = s.ShardOffset;
                // Layers of one tensor get distinct seeds so their rounding noise is independent.
                uint layerSeed = seed ^ (uint)(l * 0x9E3779B1u);
                _k.Launch("adamw_update", (CeilDiv(s.Count, 512), 1), 512, 0, _params.At(p), Master(q), _grads.At(p),
                    _m.At(q), _v.At(q), s.Count, step.LearningRate, step.Beta1, step.Beta2, c1, c2, step.Epsilon, wd, step.GradScale, layerSeed);
            }
        }
        ShareParameters();
    }

    /// <summary>The master weights at a shard offset, or a null pointer with -w 0 (adamw_update then reads and rounds the bf16 parameters).</summary>
    private ulong Master(long shardOffset) => _keepMaster ? _master.At(shardOffset) : 0UL;

    /// <summary>
    /// llm.c's 13371337, or <c>LLMNET_SR_SEED</c> when set: a different stream of stochastic-rounding noise for
    /// studying how far bf16 rounding alone moves a run (tests/gpu/multi-gpu-check.sh uses it for its noise floor).
    /// </summary>
    internal static ulong StochasticRoundingSeedBase()
    {
        string? text = Environment.GetEnvironmentVariable("LLMNET_SR_SEED");
        if (string.IsNullOrWhiteSpace(text)) return 13371337UL;
        return ulong.TryParse(text, out ulong seed) ? seed
            : throw new ArgumentException($"LLMNET_SR_SEED must be an unsigned integer, not \"{text}\"");
    }

    private uint NextRandom()
    {
        _rng ^= _rng >> 12;
        _rng ^= _rng << 25;
        _rng ^= _rng >> 27;
        return (uint)((_rng * 0x2545F4914F6CDD1DUL) >> 32);
    }

    // ---------------------------------------------------------------- building blocks

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
            throw new InvalidOperationException($"{what}: this CUDA backend was created for inference only ({nameof(CudaBackendOptions)}.{nameof(CudaBackendOptions.Training)} = false) " +
                "and has no gradients or optimizer state; create it with Training = true to train");
    }

    private static int CeilDiv(long a, long b) => checked((int)((a + b - 1) / b));

    private long Bt => (long)_b * _t;
    private ulong Act(DeviceBuffer buffer, int layer, long width) => buffer.Ptr + (ulong)(layer * Bt * width * 2);
    private ulong Stat(DeviceBuffer buffer, int layer) => buffer.Ptr + (ulong)(layer * Bt * 4);
    private ulong Ln1(int l) => Act(_ln1, _recompute >= 2 ? 0 : l, Config.Channels);
    private ulong Ln2(int l) => Act(_ln2, _recompute >= 2 ? 0 : l, Config.Channels);
    private ulong FchGelu(int l) => Act(_fchGelu, _recompute >= 1 ? 0 : l, 4 * Config.Channels);

    private void Linear(ulong outp, ulong inp, ulong weight, ulong bias, int rows, int inFeatures, int outFeatures) =>
        _mm.Run(outp, weight, inp, outFeatures, rows, inFeatures, true, false, false, MatmulEpilogue.Bias, bias);

    private void Gelu(ulong outp, ulong inp, long n) =>
        _k.Launch("gelu_forward", (CeilDiv(n / 8, 256), 1), 256, 0, outp, inp, n);

    private void LayerNorm(ulong residualOut, ulong in1, ulong in2, ulong normed, ulong mean, ulong rstd, ulong weight, ulong bias, int rows) =>
        _k.Launch("layernorm_forward", (CeilDiv(rows, 8), 1), 256, 0, residualOut, normed, mean, rstd, in1, in2, weight, bias, rows, Config.Channels);

    /// <summary>
    /// dinp (the dresidual buffer) += the LN input gradient, and dweight/dbias += the column sums, in one pass over
    /// dout and inp (<c>layernorm_backward</c>) plus the ordered reduction of the blocks' partial sums.
    /// </summary>
    private void LayerNormBackward(ulong dout, ulong inp, ulong mean, ulong rstd, ulong weight, ulong dweight, ulong dbias, int rows)
    {
        int C = Config.Channels, blocks = LayerNormBackwardBlocks(rows);
        _k.Launch("layernorm_backward", (blocks, 1), 256, LayerNormBackwardSharedBytes, _dresidual.Ptr, _partials.Ptr, dout, inp, mean, rstd,
            weight, rows, C);
        _k.Launch("column_finish", (CeilDiv(C, 32), 1), (32, 8), 0, dweight, dbias, _partials.Ptr, blocks, C);
    }

    // Four blocks per multiprocessor (as many as shared memory allows for d12) keep enough rows in flight.
    private int LayerNormBackwardBlocks(long rows) => (int)Math.Min((rows + 7) / 8, 4L * _device.MultiprocessorCount);
    private int LayerNormBackwardSharedBytes => 16 * Config.Channels * 4;

    /// <summary>dweight += inp^T·dout and dbias += the column sums of dout, for a linear layer of (rows, inFeatures) → (rows, outFeatures).</summary>
    private void WeightAndBiasGradients(ulong dweight, ulong dbias, ulong inp, ulong dout, int rows, int inFeatures, int outFeatures)
    {
        _mm.Run(dweight, inp, dout, inFeatures, outFeatures, rows, false, true, accumulate: true);
        BiasGradient(dbias, dout, rows, outFeatures);
    }

    private void BiasGradient(ulong dbias, ulong dout, int rows, int columns)
    {
        int splits = Splits(rows, columns);
        int rowsPerSplit = (rows + splits - 1) / splits;
        _k.Launch("bias_partial_sums", (CeilDiv(columns, 256), splits), (32, 8), 0, _partials.Ptr, dout, rows, columns, rowsPerSplit);
        _k.Launch("column_finish", (CeilDiv(columns, 32), 1), (32, 8), 0, 0UL, dbias, _partials.Ptr, splits, columns);
    }

    /// <summary>Row slices of a bias reduction: about four blocks per multiprocessor over the column blocks.</summary>
    private int Splits(long rows, int columns)
    {
        int colBlocks = (columns + 255) / 256;
        int target = 4 * _device.MultiprocessorCount;
        return (int)Math.Clamp((target + colBlocks - 1) / colBlocks, 1, Math.Max(1, rows / 64));
    }

    private long PartialFloats(long maxRows, int maxColumns)
    {
        long most = 2L * LayerNormBackwardBlocks(maxRows) * Config.Channels;
        foreach (int cols in new[] { Config.Channels, 3 * Config.Channels, maxColumns })
            most = Math.Max(most, (long)Splits(maxRows, cols) * cols);
        return most;
    }

    internal static int AttentionKeysPerTile(int hs) => hs <= 64 ? 64 : 32;
    internal static int AttentionDqSharedBytes(int hs) => 4 * (2 * 64 * (hs + 1) + 2 * AttentionKeysPerTile(hs) * hs);
    internal static int AttentionDkvSharedBytes(int hs) => AttentionDqSharedBytes(hs) + 4 * 2 * AttentionKeysPerTile(hs);

    /// <summary>Head size 64 (every GPT-2 dN) runs the tensor-core flash kernels; other sizes the fp32 per-row kernels.</summary>
    private bool UseFlash => Config.HeadSize == 64;

    private void AllowLargeSharedMemory()
    {
        int hs = Config.HeadSize;
        if (_classifierStaged) _k.AllowSharedMemory("classifier_forward_backward", Config.PaddedVocabSize * 2);
        _k.AllowSharedMemory("layernorm_backward", LayerNormBackwardSharedBytes);
        if (UseFlash)
        {
            FlashKernels.Prepare(_k);
            return;
        }
        _k.AllowSharedMemory($"attention_backward_dq_{hs}", AttentionDqSharedBytes(hs));
        _k.AllowSharedMemory($"attention_backward_dkv_{hs}", AttentionDkvSharedBytes(hs));
    }

    private void Attention(ulong outp, ulong lse, ulong qkv, int B, int T)
    {
        int hs = Config.HeadSize, nh = Config.NumHeads;
        if (UseFlash)
        {
            _flash.LaunchForward(_k, outp, lse, qkv, B, T, nh);
            return;
        }
        _k.Launch($"attention_forward_{hs}", (CeilDiv(T, 64), B * nh), 64, 0, outp, lse, qkv, T, nh);
    }

    private void AttentionBackward(ulong dqkv, ulong dout, ulong qkv, ulong outp, ulong lse, int B, int T)
    {
        int hs = Config.HeadSize, nh = Config.NumHeads;
        if (UseFlash)
        {
            _flash.LaunchBackward(_k, dqkv, _attDelta.Ptr, dout, qkv, outp, lse, B, T, nh);
            return;
        }
        _k.Launch("attention_backward_delta", (CeilDiv((long)B * nh * T, 256), 1), 256, 0, _attDelta.Ptr, dout, outp, B, T, nh, hs);
        _k.Launch($"attention_backward_dq_{hs}", (CeilDiv(T, 64), B * nh), 64, AttentionDqSharedBytes(hs), dqkv, dout, qkv, lse, _attDelta.Ptr, T, nh);
        _k.Launch($"attention_backward_dkv_{hs}", (CeilDiv(T, 64), B * nh), 64, AttentionDkvSharedBytes(hs), dqkv, dout, qkv, lse, _attDelta.Ptr, T, nh);
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
