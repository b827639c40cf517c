using LlmNet.Common.Cli;
using LlmNet.Distributed;
using LlmNet.Distributed.Nccl;
using LlmNet.Distributed.Zero;
using LlmNet.Model;

namespace LlmNet.Cuda;

// Averaging gradients and sharing parameters across processes over NCCL, ZeRO-0 or ZeRO-1 (docs/multi-gpu.md).
public sealed partial class CudaBackend
{
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
}
