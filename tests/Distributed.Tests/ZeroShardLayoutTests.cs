using FluentAssertions;
using LlmNet.Distributed.Zero;
using LlmNet.Model;
using Xunit;
using static LlmNet.Model.ParameterTensor;

namespace LlmNet.Distributed.Tests;

public sealed class ZeroShardLayoutTests
{
    private static readonly ParameterLayout D12 = ParameterLayout.For(GptConfig.FromDescriptor("d12"));

    /// <summary>d12 per-layer sizes and layer counts written out from the architecture, independent of ParameterLayout.</summary>
    private static (long PerLayer, int Layers)[] D12Tensors()
    {
        const long V = 50304, C = 768, T = 1024;
        const int L = 12;
        return
        [
            (V * C, 1), (T * C, 1), (C, L), (C, L), (3 * C * C, L), (3 * C, L), (C * C, L), (C, L),
            (C, L), (C, L), (4 * C * C, L), (4 * C, L), (4 * C * C, L), (C, L), (C, 1), (C, 1),
        ];
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(8)]
    public void D12_slices_match_an_independent_walk_of_the_buffer(int nproc)
    {
        var tensors = D12Tensors();
        long total = tensors.Sum(t => t.PerLayer * t.Layers);
        total.Should().Be(124_475_904);
        var owner = new List<(long Start, long Count, int Rank)>();
        for (int rank = 0; rank < nproc; rank++)
        {
            var shard = ZeroShardLayout.Create(D12, nproc, rank, requestedStage: 1, out string? note);
            note.Should().BeNull();
            shard.Stage.Should().Be(1);
            shard.ShardNumParameters.Should().Be(total / nproc);

            // Walk: the sharded buffers hold this rank's chunks back to back, tensor by tensor, layer by layer.
            long paramOffset = 0, shardOffset = 0;
            var slices = shard.Slices().ToList();
            int k = 0;
            for (int t = 0; t < tensors.Length; t++)
            {
                var (perLayer, layers) = tensors[t];
                long chunk = perLayer / nproc;
                for (int l = 0; l < layers; l++, k++)
                {
                    var expected = new ShardSlice((ParameterTensor)t, l, paramOffset, perLayer, paramOffset + rank * chunk, shardOffset, chunk);
                    shard.Slice((ParameterTensor)t, l).Should().Be(expected);
                    slices[k].Should().Be(expected);
                    owner.Add((expected.ParameterOffset, chunk, rank));
                    paramOffset += perLayer;
                    shardOffset += chunk;
                }
            }
            k.Should().Be(slices.Count);
            shardOffset.Should().Be(shard.ShardNumParameters);
        }

        // Together the ranks own every parameter exactly once.
        long next = 0;
        foreach (var (start, count, _) in owner.OrderBy(o => o.Start))
        {
            start.Should().Be(next);
            next += count;
        }
        next.Should().Be(total);
    }

    [Fact]
    public void Hand_checked_offsets_for_d12_on_four_ranks()
    {
        // qkvw starts after wte (50304·768), wpe (1024·768), ln1w and ln1b (12·768 each): 39,438,336.
        // Layer 3, rank 1: 39,438,336 + 3·1,769,472 + 442,368 in the parameters; 39,438,336/4 + 3·442,368 in the shard.
        var s = ZeroShardLayout.Create(D12, 4, 1, 1).Slice(Qkvw, 3);
        s.ParameterOffset.Should().Be(45_189_120);
        s.ShardOffset.Should().Be(11_186_688);
        s.Count.Should().Be(442_368);
        // wpe is sharded over maxT·C.
        ZeroShardLayout.Create(D12, 8, 7, 1).Slice(Wpe, 0).Should().Be(new ShardSlice(Wpe, 0, 38_633_472, 786_432, 38_633_472 + 7 * 98_304, 38_633_472 / 8, 98_304));
    }

    [Fact]
    public void Zero_stage_zero_is_the_whole_buffer_on_every_rank()
    {
        var s = ZeroShardLayout.Create(D12, 4, 2, 0);
        s.Stage.Should().Be(0);
        s.ShardNumParameters.Should().Be(D12.Count);
        s.Slices().Should().AllSatisfy(x =>
        {
            x.ParameterOffset.Should().Be(x.LayerOffset);
            x.ShardOffset.Should().Be(x.LayerOffset);
            x.Count.Should().Be(x.LayerSize);
        });
    }

    [Fact]
    public void Zero_one_falls_back_to_zero_when_parameters_do_not_divide()
    {
        // 124,475,904 mod 5 = 4.
        var s = ZeroShardLayout.Create(D12, 5, 0, 1, out string? note);
        s.Stage.Should().Be(0);
        note.Should().Match("ZeRO-1 disabled: 124475904 parameters are not divisible by 5 processes*");
    }

    [Fact]
    public void Per_layer_sizes_that_do_not_divide_are_an_error()
    {
        // 124,475,904 = 7 · 17,782,272, but wte (50304·768 = 38,633,472) is not a multiple of 7.
        var act = () => ZeroShardLayout.Create(D12, 7, 0, 1);
        act.Should().Throw<DistributedException>()
            .WithMessage("ZeRO-1 needs every per-layer tensor size divisible by the process count, but wte has 38633472 elements per layer and there are 7 processes*-z 0*");
    }

    [Fact]
    public void Unimplemented_stages_and_one_process_run_stage_zero()
    {
        ZeroShardLayout.Create(D12, 8, 0, 2, out string? note).Stage.Should().Be(0);
        note.Should().Be("ZeRO stage 2 is not implemented; using stage 0");
        ZeroShardLayout.Create(D12, 1, 0, 1).Stage.Should().Be(0);
        FluentActions.Invoking(() => ZeroShardLayout.Create(D12, 2, 2, 1)).Should().Throw<DistributedException>().WithMessage("rank 2 is out of range*");
        FluentActions.Invoking(() => ZeroShardLayout.Create(D12, 2, 0, -1)).Should().Throw<DistributedException>().WithMessage("-z -1*");
    }

    [Fact]
    public void Three_ranks_shard_d12_because_every_size_is_a_multiple_of_three()
    {
        var s = ZeroShardLayout.Create(D12, 3, 2, 1);
        s.Stage.Should().Be(1);
        s.ShardNumParameters.Should().Be(41_491_968);
    }
}
