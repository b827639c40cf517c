using FluentAssertions;
using LlmNet.Distributed.Nccl;
using LlmNet.Distributed.Zero;
using LlmNet.Model;
using Xunit;
using static LlmNet.Model.ParameterTensor;

namespace LlmNet.Distributed.Tests;

public sealed class OverlappedGradientExchangeTests
{
    private static readonly GptConfig D12 = GptConfig.FromDescriptor("d12");
    private const nint Base = RecordingCollectives.Base, ComputeStream = 7, NcclStream = 9;

    private static (RecordingCollectives Log, ZeroCollectives Sync) Setup(int processes, int rank, int stage)
    {
        var log = new RecordingCollectives();
        var shard = ZeroShardLayout.Create(ParameterLayout.For(D12), processes, rank, stage);
        return (log, new ZeroCollectives(log, shard, NcclDataType.BFloat16));
    }

    /// <summary>Drives the exchange the way the backward pass does: layers L−1 … 0, then the encoder.</summary>
    private static void RunPass(OverlappedGradientExchange exchange, int layers)
    {
        exchange.Begin();
        for (int l = layers - 1; l >= 0; l--) exchange.LayerDone(Base, l, NcclStream);
        exchange.EncoderDone(Base, NcclStream);
    }

    [Theory]
    [InlineData(2, 0, 0)]
    [InlineData(2, 1, 1)]
    [InlineData(4, 3, 1)]
    public void Overlapped_schedule_issues_the_post_backward_collectives_in_the_same_order(int processes, int rank, int stage)
    {
        var (after, afterSync) = Setup(processes, rank, stage);
        OverlappedGradientExchange.ReduceAfterBackward(afterSync, Base, D12.NumLayers, ComputeStream);

        var (overlapped, overlappedSync) = Setup(processes, rank, stage);
        RunPass(new OverlappedGradientExchange(overlappedSync, overlapped, D12.NumLayers), D12.NumLayers);

        // Same collectives on the same buffers in the same order: only the stream and the fences differ.
        overlapped.Calls.Where(c => !c.Contains("waits"))
            .Should().Equal(after.Calls.Select(c => c.Replace($"@{ComputeStream}", $"@{NcclStream}")));
        after.Calls.Should().HaveCount(D12.NumLayers * 14 + 6);
        after.Calls.Should().OnlyContain(c => !c.StartsWith("all") && !c.StartsWith("reduce") || c.EndsWith($"@{ComputeStream}"));
    }

    [Fact]
    public void Each_group_waits_for_the_compute_stream_and_compute_finally_waits_for_all_of_them()
    {
        var (log, sync) = Setup(2, 1, 1);
        var shard = sync.Shard;
        RunPass(new OverlappedGradientExchange(sync, log, D12.NumLayers), D12.NumLayers);

        var groups = new List<List<string>>();
        List<string>? current = null;
        var outside = new List<string>();
        foreach (string c in log.Calls)
        {
            if (c == "group") { current = []; groups.Add(current); }
            else if (c == "end") current = null;
            else if (current is not null) current.Add(c);
            else outside.Add(c);
        }
        groups.Should().HaveCount(D12.NumLayers + 1);
        outside.Should().Equal([.. Enumerable.Repeat("nccl waits for compute", D12.NumLayers + 1), "compute waits for nccl"]);
        log.Calls[0].Should().Be("nccl waits for compute");
        log.Calls[^1].Should().Be("compute waits for nccl");
        for (int i = 0; i < log.Calls.Count - 1; i++)
            if (log.Calls[i] == "group") log.Calls[i - 1].Should().Be("nccl waits for compute", "every group is fenced behind the backward that produced it");

        // Group k holds layer L−1−k: its first collective starts at that layer's ln1w copy; the last group is wte first.
        for (int k = 0; k < D12.NumLayers; k++)
        {
            var ln1w = shard.Slice(Ln1w, D12.NumLayers - 1 - k);
            groups[k].Should().HaveCount(12);
            groups[k][0].Should().StartWith($"reducescatter {2 * ln1w.LayerOffset} {2 * ln1w.ParameterOffset} ");
        }
        groups[^1].Should().HaveCount(4);
        groups[^1][0].Should().StartWith($"reducescatter 0 {2 * shard.Slice(Wte, 0).ParameterOffset} ");
    }

    [Fact]
    public void Layers_must_report_from_the_top_down_and_all_before_the_encoder()
    {
        var (log, sync) = Setup(2, 0, 0);
        var exchange = new OverlappedGradientExchange(sync, log, 3);
        exchange.InProgress.Should().BeFalse();
        exchange.Begin();
        exchange.InProgress.Should().BeTrue();
        exchange.Invoking(x => x.LayerDone(Base, 1, NcclStream)).Should().Throw<InvalidOperationException>().WithMessage("*expected layer 2*");
        exchange.LayerDone(Base, 2, NcclStream);
        exchange.Invoking(x => x.EncoderDone(Base, NcclStream)).Should().Throw<InvalidOperationException>().WithMessage("*layer 1 still outstanding*");
        exchange.Invoking(x => x.Begin()).Should().Throw<InvalidOperationException>();

        exchange.Abandon();
        exchange.InProgress.Should().BeFalse();
        log.Calls.Clear();
        RunPass(exchange, 3);
        exchange.InProgress.Should().BeFalse();
        log.Calls.Count(c => c == "group").Should().Be(4);
    }

    [Fact]
    public void One_process_only_fences()
    {
        var (log, sync) = Setup(1, 0, 1);
        RunPass(new OverlappedGradientExchange(sync, log, D12.NumLayers), D12.NumLayers);
        log.Calls.Should().OnlyContain(c => c.Contains("waits"));
    }
}
