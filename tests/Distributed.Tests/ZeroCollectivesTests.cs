using FluentAssertions;
using LlmNet.Distributed.Nccl;
using LlmNet.Distributed.Zero;
using LlmNet.Model;
using Xunit;
using static LlmNet.Model.ParameterTensor;

namespace LlmNet.Distributed.Tests;

public sealed class ZeroCollectivesTests
{
    private static readonly ParameterLayout D12 = ParameterLayout.For(GptConfig.FromDescriptor("d12"));

    private const nint Base = RecordingCollectives.Base, Stream = 7;

    [Fact]
    public void Zero_one_reduce_scatters_each_layer_tensor_into_this_ranks_chunk_in_place()
    {
        var rec = new RecordingCollectives();
        var z = new ZeroCollectives(rec, ZeroShardLayout.Create(D12, 4, 1, 1), NcclDataType.BFloat16);
        z.ReduceLayerGradients(Base, 3, Stream);
        rec.Calls.Should().HaveCount(14);
        rec.Calls[0].Should().Be("group");
        rec.Calls[^1].Should().Be("end");
        // qkvw of layer 3: elements 39,438,336 + 3·1,769,472 onward; rank 1's chunk starts 442,368 further; 2 bytes each.
        rec.Calls[3].Should().Be($"reducescatter {2L * 44_746_752} {2L * 45_189_120} 442368 BFloat16 Avg @7");
        // ln1w of layer 3 is the first: 38,633,472 + 786,432 + 3·768, chunk 192.
        rec.Calls[1].Should().Be($"reducescatter {2L * (39_419_904 + 2_304)} {2L * (39_419_904 + 2_304 + 192)} 192 BFloat16 Avg @7");
    }

    [Fact]
    public void Encoder_gradients_and_zero_zero_all_reduce_whole_tensors()
    {
        var rec = new RecordingCollectives();
        var z = new ZeroCollectives(rec, ZeroShardLayout.Create(D12, 2, 0, 0), NcclDataType.BFloat16);
        z.ReduceNonLayerGradients(Base, Stream);
        long lnfw = D12.Offset(Lnfw);
        rec.Calls.Should().Equal(
            "group",
            $"allreduce 0 0 {50304L * 768} BFloat16 Avg @7",
            $"allreduce {2L * 50304 * 768} {2L * 50304 * 768} {1024L * 768} BFloat16 Avg @7",
            $"allreduce {2 * lnfw} {2 * lnfw} 768 BFloat16 Avg @7",
            $"allreduce {2 * (lnfw + 768)} {2 * (lnfw + 768)} 768 BFloat16 Avg @7",
            "end");
        z.GatherParameters(Base, Stream);
        rec.Calls.Should().HaveCount(6, "ZeRO-0 keeps full parameters on every rank");
    }

    [Fact]
    public void Zero_one_gathers_every_slice_back_in_one_group()
    {
        var rec = new RecordingCollectives();
        var shard = ZeroShardLayout.Create(D12, 8, 5, 1);
        new ZeroCollectives(rec, shard, NcclDataType.BFloat16).GatherParameters(Base, Stream);
        rec.Calls.Should().HaveCount(2 + 4 + 12 * 12);
        var wpe = shard.Slice(Wpe, 0);
        rec.Calls[2].Should().Be($"allgather {2 * wpe.ParameterOffset} {2 * wpe.LayerOffset} 98304 BFloat16 @7");
        (wpe.ParameterOffset - wpe.LayerOffset).Should().Be(5 * 98_304, "NCCL's in-place all-gather expects the chunk at rank·count");
    }

    [Fact]
    public void One_process_communicates_nothing()
    {
        var rec = new RecordingCollectives();
        var z = new ZeroCollectives(rec, ZeroShardLayout.Create(D12, 1, 0, 1), NcclDataType.BFloat16);
        z.ReduceLayerGradients(Base, 0, Stream);
        z.ReduceNonLayerGradients(Base, Stream);
        z.GatherParameters(Base, Stream);
        rec.Calls.Should().BeEmpty();
    }
}
