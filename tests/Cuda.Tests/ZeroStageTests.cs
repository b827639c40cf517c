using FluentAssertions;
using LlmNet.Model;
using Xunit;

namespace LlmNet.Cuda.Tests;

/// <summary>Which ZeRO stage the CUDA backend runs with several processes (no GPU needed).</summary>
public class ZeroStageTests
{
    [Fact]
    public void Zero1_on_two_processes_shards_the_optimizer_state_in_halves()
    {
        var layout = ParameterLayout.For(GptConfig.FromDescriptor("d6"));
        var shard = CudaBackend.ResolveShard(layout, 2, 1, 1, out string? note);
        note.Should().BeNull();
        shard.Stage.Should().Be(1);
        shard.ShardNumParameters.Should().Be(layout.Count / 2);
        shard.Slices().Should().OnlyContain(s => s.Count % 8 == 0 && s.ParameterOffset % 8 == 0, "the norm kernel reads 8 bf16 at a time");
    }

    [Fact]
    public void Chunks_the_norm_kernel_cannot_read_fall_back_to_zero0_with_a_note()
    {
        // 64 channels: with 16 processes every tensor divides, but lnfw's chunk is 4 elements.
        var layout = ParameterLayout.For(new GptConfig(MaxSeqLen: 64, VocabSize: 50257, PaddedVocabSize: 50304, NumLayers: 2, NumHeads: 1, Channels: 64));
        var shard = CudaBackend.ResolveShard(layout, 16, 3, 1, out string? note);
        shard.Stage.Should().Be(0);
        shard.ShardNumParameters.Should().Be(layout.Count);
        note.Should().Contain("multiple of 8").And.Contain("stage 0");
    }

    [Fact]
    public void Stages_above_one_fall_back_to_zero0()
    {
        var layout = ParameterLayout.For(GptConfig.FromDescriptor("d6"));
        CudaBackend.ResolveShard(layout, 2, 0, 2, out string? note).Stage.Should().Be(0);
        note.Should().Contain("not implemented");
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(8)]
    public void Zero1_shards_d48_whole_on_every_rank(int processes)
    {
        // d48's optimizer state is 18.7 GB: on 2 ranks each m, v and master shard is 3.1 GB, past 2^31 bytes.
        var layout = ParameterLayout.For(GptConfig.FromDescriptor("d48"));
        long covered = 0;
        for (int rank = 0; rank < processes; rank++)
        {
            var shard = CudaBackend.ResolveShard(layout, processes, rank, 1, out string? note);
            note.Should().BeNull();
            shard.Stage.Should().Be(1);
            shard.ShardNumParameters.Should().Be(layout.Count / processes);
            shard.Slices().Sum(s => s.Count).Should().Be(shard.ShardNumParameters);
            shard.Slices().Max(s => s.ShardOffset + s.Count).Should().Be(shard.ShardNumParameters);
            covered += shard.ShardNumParameters;
        }
        covered.Should().Be(layout.Count);
        if (processes == 2) DeviceSizes.Bytes<float>(layout.Count / processes).Should().BeGreaterThan(int.MaxValue);
    }
}
