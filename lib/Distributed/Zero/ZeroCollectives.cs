using LlmNet.Distributed.Nccl;
using LlmNet.Model;

namespace LlmNet.Distributed.Zero;

/// <summary>The NCCL operations the gradient and parameter exchange uses; <see cref="NcclCommunicator"/> implements it.</summary>
public interface ICollectives
{
    void AllReduce(nint send, nint recv, long count, NcclDataType type, NcclRedOp op, nint stream);
    void ReduceScatter(nint send, nint recv, long recvCount, NcclDataType type, NcclRedOp op, nint stream);
    void AllGather(nint send, nint recv, long sendCount, NcclDataType type, nint stream);
    /// <summary>Starts an NCCL group; disposing the result ends it.</summary>
    IDisposable BeginGroup();
}

/// <summary>
/// The collectives of one training step in llm.c's pattern (llmc/zero.cuh: multi_gpu_async_reduce_gradient;
/// train_gpt2.cu: gpt2_backward_and_reduce, gpt2_update), on flat device buffers laid out like
/// <see cref="ParameterLayout"/> (element type <paramref name="type"/>, normally bf16). Gradients are averaged in place:
/// all-reduce with ZeRO-0; with ZeRO-1 a reduce-scatter that leaves this rank's averaged chunk at its own offset inside
/// each layer's copy. After AdamW has updated its chunks, ZeRO-1 all-gathers them back into the full parameters. Every
/// pointer is the start of a whole buffer; offsets are applied here.
/// </summary>
public sealed class ZeroCollectives(ICollectives nccl, ZeroShardLayout shard, NcclDataType type)
{
    private readonly long _elementSize = type switch
    {
        NcclDataType.BFloat16 or NcclDataType.Float16 => 2,
        NcclDataType.Float32 or NcclDataType.Int32 => 4,
        NcclDataType.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unsupported element type"),
    };

    public ZeroShardLayout Shard => shard;

    /// <summary>Averages layer <paramref name="layer"/>'s gradients across ranks, as one NCCL group.</summary>
    public void ReduceLayerGradients(nint gradients, int layer, nint stream) => Reduce(gradients, ParameterLayout.LayerTensors, layer, stream);

    /// <summary>Averages the gradients of wte, wpe, lnfw and lnfb across ranks, as one NCCL group.</summary>
    public void ReduceNonLayerGradients(nint gradients, nint stream) => Reduce(gradients, ParameterLayout.ModelTensors, 0, stream);

    /// <summary>ZeRO-1: rebuilds the full parameters from every rank's updated chunks (one group). No-op with ZeRO-0.</summary>
    public void GatherParameters(nint parameters, nint stream)
    {
        if (shard.Stage == 0 || shard.ProcessCount == 1) return;
        using var group = nccl.BeginGroup();
        foreach (var s in shard.Slices())
            nccl.AllGather(parameters + (nint)(s.ParameterOffset * _elementSize), parameters + (nint)(s.LayerOffset * _elementSize), s.Count, type, stream);
    }

    /// <summary>One NCCL group over <paramref name="tensors"/>: the 12 of one layer after its backward, or wte, wpe, lnfw
    /// and lnfb after the encoder backward.</summary>
    private void Reduce(nint gradients, IReadOnlyList<ParameterTensor> tensors, int layer, nint stream)
    {
        if (shard.ProcessCount == 1) return;
        using var group = nccl.BeginGroup();
        foreach (ParameterTensor t in tensors)
        {
            var s = shard.Slice(t, shard.Layout.LayersOf(t) == 1 ? 0 : layer);
            nint whole = gradients + (nint)(s.LayerOffset * _elementSize);
            if (shard.Stage == 1)
                nccl.ReduceScatter(whole, gradients + (nint)(s.ParameterOffset * _elementSize), s.Count, type, NcclRedOp.Avg, stream);
            else
                nccl.AllReduce(whole, whole, s.LayerSize, type, NcclRedOp.Avg, stream);
        }
    }
}
