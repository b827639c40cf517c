using LlmNet.Model;

namespace LlmNet.Distributed.Zero;

/// <summary>One layer's copy of one parameter tensor, as far as this rank's optimizer shard is concerned.</summary>
/// <param name="Tensor">The parameter tensor.</param>
/// <param name="Layer">Layer index (0 for the tensors that are not per layer).</param>
/// <param name="LayerOffset">Element offset of this layer's whole copy in the full parameter (and gradient) buffer.</param>
/// <param name="LayerSize">Elements in this layer's copy.</param>
/// <param name="ParameterOffset">Element offset of this rank's chunk in the full parameter buffer.</param>
/// <param name="ShardOffset">Element offset of the chunk in the sharded m/v/master buffers.</param>
/// <param name="Count">Elements in this rank's chunk.</param>
public readonly record struct ShardSlice(ParameterTensor Tensor, int Layer, long LayerOffset, long LayerSize, long ParameterOffset, long ShardOffset, long Count);

/// <summary>
/// Where this rank's part of the optimizer state lives (llm.c llmc/zero.cuh: multi_gpu_get_shard_offset, as
/// train_gpt2.cu's gpt2_update and save_state use it). With ZeRO-1 every layer's copy of every tensor is cut into nproc
/// equal contiguous chunks and rank r owns chunk r: reduce-scatter leaves the averaged chunk in place at
/// <see cref="ShardSlice.ParameterOffset"/>, AdamW updates it with m/v/master at <see cref="ShardSlice.ShardOffset"/>, and
/// an all-gather of each slice rebuilds the full parameters. Tensor i's region of the sharded buffers starts at
/// offset_i / nproc. With ZeRO-0 the shard is the whole buffer and slices are the full per-layer tensors at identical
/// offsets.
/// </summary>
public sealed class ZeroShardLayout
{
    private readonly ShardSlice[][] _slices; // [(int)tensor][layer]

    private ZeroShardLayout(ParameterLayout layout, int processCount, int rank, int stage)
    {
        Layout = layout; ProcessCount = processCount; Rank = rank; Stage = stage;
        int nproc = stage == 1 ? processCount : 1, r = stage == 1 ? rank : 0;
        ShardNumParameters = layout.Count / nproc;
        _slices = new ShardSlice[ParameterLayout.TensorCount][];
        foreach (ParameterTensor t in ParameterLayout.Tensors)
        {
            int layers = layout.LayersOf(t);
            long perLayer = layout.PerLayerSize(t), chunk = perLayer / nproc, regionStart = layout.Offset(t) / nproc;
            var slices = _slices[(int)t] = new ShardSlice[layers];
            for (int l = 0; l < layers; l++)
            {
                long layerOffset = layout.LayerOffset(t, l);
                slices[l] = new ShardSlice(t, l, layerOffset, perLayer, layerOffset + r * chunk, regionStart + l * chunk, chunk);
            }
        }
    }

    public ParameterLayout Layout { get; }
    public int ProcessCount { get; }
    public int Rank { get; }
    /// <summary>The ZeRO stage actually in effect: 0 or 1.</summary>
    public int Stage { get; }
    /// <summary>Elements in m, v and master on this rank: N with ZeRO-0, N / nproc with ZeRO-1.</summary>
    public long ShardNumParameters { get; }

    /// <summary>This rank's slice of layer <paramref name="layer"/> of tensor <paramref name="tensor"/>.</summary>
    public ShardSlice Slice(ParameterTensor tensor, int layer) => _slices[(int)tensor][layer];

    /// <summary>Every slice in tensor-major, then layer order: the order of the sharded buffers.</summary>
    public IEnumerable<ShardSlice> Slices() => _slices.SelectMany(s => s);

    /// <summary>
    /// Resolves the requested stage as llm.c does: 2 and 3 are not implemented and fall back to 0; 1 falls
    /// back to 0 when N is not divisible by nproc; a single process always runs 0. With ZeRO-1 in effect, a
    /// per-layer tensor size not divisible by nproc is an error (llm.c exits there too). <paramref name="note"/>
    /// says why a fallback happened, for the console, or is null.
    /// </summary>
    public static ZeroShardLayout Create(ParameterLayout layout, int processCount, int rank, int requestedStage, out string? note)
    {
        if (processCount < 1 || rank < 0 || rank >= processCount)
            throw new DistributedException($"rank {rank} is out of range for {processCount} processes");
        if (requestedStage < 0)
            throw new DistributedException($"-z {requestedStage}: the ZeRO stage must be 0 or 1");
        note = null;
        int stage = requestedStage;
        if (stage > 1)
        {
            note = $"ZeRO stage {stage} is not implemented; using stage 0";
            stage = 0;
        }
        if (stage == 1 && processCount == 1) stage = 0;
        if (stage == 1 && layout.Count % processCount != 0)
        {
            note = $"ZeRO-1 disabled: {layout.Count} parameters are not divisible by {processCount} processes; using stage 0";
            stage = 0;
        }
        if (stage == 1)
        {
            foreach (ParameterTensor t in ParameterLayout.Tensors)
            {
                long perLayer = layout.PerLayerSize(t);
                if (perLayer % processCount != 0)
                    throw new DistributedException(
                        $"ZeRO-1 needs every per-layer tensor size divisible by the process count, but {ParameterLayout.Name(t)} has " +
                        $"{perLayer} elements per layer and there are {processCount} processes: use -z 0 or a process count dividing {perLayer}");
            }
        }
        return new ZeroShardLayout(layout, processCount, rank, stage);
    }

    public static ZeroShardLayout Create(ParameterLayout layout, int processCount, int rank, int requestedStage) =>
        Create(layout, processCount, rank, requestedStage, out _);
}
