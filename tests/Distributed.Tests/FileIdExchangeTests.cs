using System.Security.Cryptography;
using FluentAssertions;
using LlmNet.Distributed.Rendezvous;
using Xunit;

namespace LlmNet.Distributed.Tests;

public sealed class FileIdExchangeTests
{
    private static readonly RendezvousOptions Fast = new() { Timeout = TimeSpan.FromSeconds(20), PollInterval = TimeSpan.FromMilliseconds(20) };
    private static readonly RendezvousOptions Short = Fast with { Timeout = TimeSpan.FromMilliseconds(600) };
    private static readonly RendezvousOptions Medium = Fast with { Timeout = TimeSpan.FromSeconds(2) };

    private static Task<byte[][]> ExchangeAll(string dir, string? runId, byte[] id, int size, RendezvousOptions options) =>
        Ranks.RunAsync(size, r => FileIdExchange.Exchange(dir, runId, r, size, r == 0 ? id : [], options));

    [Fact]
    public async Task Every_rank_receives_rank_zeros_id()
    {
        using var tmp = new TempDirectory();
        var id = RandomNumberGenerator.GetBytes(128);
        var got = await ExchangeAll(tmp.Path, "job1", id, 4, Fast);
        got.Should().AllSatisfy(g => g.Should().Equal(id));
        // The join files are gone; only the id file remains.
        Directory.GetFiles(tmp.Path).Select(Path.GetFileName).Should().Equal("ncclUniqueId.job1.sync");
    }

    [Fact]
    public async Task A_stale_id_file_from_an_earlier_run_is_never_read()
    {
        using var tmp = new TempDirectory();
        var oldId = RandomNumberGenerator.GetBytes(128);
        await ExchangeAll(tmp.Path, null, oldId, 2, Fast); // the earlier run leaves ncclUniqueId.sync behind
        File.Exists(FileIdExchange.SyncPath(tmp.Path, null)).Should().BeTrue();

        // The new run: rank 1 starts first and sees the old file; rank 0 comes late with a new id.
        var newId = RandomNumberGenerator.GetBytes(128);
        var rank1 = Ranks.Thread(() => FileIdExchange.Exchange(tmp.Path, null, 1, 2, [], Fast));
        await Task.Delay(300, TestContext.Current.CancellationToken);
        rank1.IsCompleted.Should().BeFalse("the old id file does not carry rank 1's nonce");
        var rank0 = FileIdExchange.Exchange(tmp.Path, null, 0, 2, newId, Fast, TestContext.Current.CancellationToken);
        rank0.Should().Equal(newId);
        (await rank1).Should().Equal(newId);
    }

    [Fact]
    public async Task A_stale_join_file_does_not_count_as_an_arrived_rank()
    {
        using var tmp = new TempDirectory();
        // An earlier run's rank 1 died after announcing itself.
        var leftover = Ranks.Thread(() =>
            FluentActions.Invoking(() => FileIdExchange.Exchange(tmp.Path, null, 1, 2, [], Short)).Should().Throw<DistributedTimeoutException>());
        await Task.Delay(200, TestContext.Current.CancellationToken);
        File.Exists(FileIdExchange.JoinPath(tmp.Path, null, 1)).Should().BeTrue();
        await leftover;
        // Its join file is left behind; rank 0 of the new run must not take it for a live rank 1.
        File.Exists(FileIdExchange.JoinPath(tmp.Path, null, 1)).Should().BeTrue();
        var act = () => FileIdExchange.Exchange(tmp.Path, null, 0, 2, new byte[128], Short);
        act.Should().Throw<DistributedTimeoutException>().WithMessage("rank 0: rank(s) 1 of 2 never arrived*ncclUniqueId.rank00001.join*");
    }

    [Fact]
    public async Task Rank_zero_names_the_ranks_that_never_arrived()
    {
        using var tmp = new TempDirectory();
        var rank2 = Ranks.Thread(() =>
            FluentActions.Invoking(() => FileIdExchange.Exchange(tmp.Path, "r", 2, 4, [], Medium)).Should().Throw<DistributedTimeoutException>());
        var act = () => FileIdExchange.Exchange(tmp.Path, "r", 0, 4, new byte[128], Medium);
        act.Should().Throw<DistributedTimeoutException>().WithMessage("rank 0: rank(s) 1, 3 of 4 never arrived*within 2 s*");
        await rank2;
    }

    [Fact]
    public async Task A_waiting_rank_times_out_with_the_file_it_waited_for()
    {
        using var tmp = new TempDirectory();
        var act = () => FileIdExchange.Exchange(tmp.Path, null, 1, 2, [], Short);
        act.Should().Throw<DistributedTimeoutException>()
            .WithMessage($"rank 1: rank 0 did not publish the NCCL id in {Path.Combine(tmp.Path, "ncclUniqueId.sync")} within 0.6 s*");
    }

    [Fact]
    public async Task Different_world_sizes_are_an_error_on_rank_zero()
    {
        using var tmp = new TempDirectory();
        using var stop = new CancellationTokenSource();
        var rank1 = Ranks.Thread(() =>
            FluentActions.Invoking(() => FileIdExchange.Exchange(tmp.Path, null, 1, 3, [], Fast, stop.Token)).Should().Throw<OperationCanceledException>());
        var act = () => FileIdExchange.Exchange(tmp.Path, null, 0, 2, new byte[128], Fast, TestContext.Current.CancellationToken);
        act.Should().Throw<DistributedException>().WithMessage("rank 0: rank 1 was started with 3 processes but rank 0 with 2*same -pn");
        await stop.CancelAsync();
        await rank1;
    }

    [Fact]
    public async Task Concurrent_runs_with_different_run_ids_share_a_directory()
    {
        using var tmp = new TempDirectory();
        var idA = RandomNumberGenerator.GetBytes(128);
        var idB = RandomNumberGenerator.GetBytes(128);
        var a = ExchangeAll(tmp.Path, "slurm1", idA, 2, Fast);
        var b = ExchangeAll(tmp.Path, "slurm2", idB, 2, Fast);
        (await a).Should().AllSatisfy(g => g.Should().Equal(idA));
        (await b).Should().AllSatisfy(g => g.Should().Equal(idB));
    }

    [Fact]
    public async Task An_unusable_directory_is_named()
    {
        using var tmp = new TempDirectory();
        string file = Path.Combine(tmp.Path, "not-a-dir");
        File.WriteAllText(file, "x");
        var act = () => FileIdExchange.Exchange(Path.Combine(file, "sub"), null, 0, 2, new byte[128], Short);
        act.Should().Throw<DistributedException>().WithMessage($"{Path.Combine(file, "sub")}: cannot use it*-pf*");
    }
}
