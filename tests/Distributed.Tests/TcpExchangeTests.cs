using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using FluentAssertions;
using LlmNet.Distributed.Rendezvous;
using Xunit;

namespace LlmNet.Distributed.Tests;

public sealed class TcpExchangeTests
{
    private static readonly RendezvousOptions Fast = new() { Timeout = TimeSpan.FromSeconds(20), ConnectRetryInterval = TimeSpan.FromMilliseconds(50) };
    private static readonly RendezvousOptions Short = Fast with { Timeout = TimeSpan.FromMilliseconds(800) };
    private static readonly RendezvousOptions Medium = Fast with { Timeout = TimeSpan.FromSeconds(2) };
    private static readonly IPEndPoint AnyLoopbackPort = new(IPAddress.Loopback, 0);

    /// <summary>Starts rank 0 on an ephemeral loopback port and returns its task and the port.</summary>
    private static async Task<(Task<T> Root, int Port)> StartRoot<T>(Func<IPEndPoint, Action<IPEndPoint>, T> serve)
    {
        var port = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var root = Ranks.Thread(() =>
        {
            try { return serve(AnyLoopbackPort, ep => port.TrySetResult(ep.Port)); }
            catch (Exception e) { port.TrySetException(e); throw; }
        });
        return (root, await port.Task);
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    [Fact]
    public async Task Every_rank_receives_rank_zeros_id()
    {
        var id = RandomNumberGenerator.GetBytes(128);
        var (root, port) = await StartRoot((ep, ready) => TcpIdExchange.Exchange(0, 4, null, 0, id, Fast, ep, ready));
        var others = await Ranks.RunAsync(3, i => TcpIdExchange.Exchange(i + 1, 4, "127.0.0.1", port, [], Fast));
        (await root).Should().Equal(id);
        others.Should().AllSatisfy(g => g.Should().Equal(id));
    }

    [Fact]
    public async Task Clients_that_start_before_rank_zero_retry_until_it_listens()
    {
        int port = FreePort();
        var id = RandomNumberGenerator.GetBytes(128);
        var client = Ranks.Thread(() => TcpIdExchange.Exchange(1, 2, "127.0.0.1", port, [], Fast));
        await Task.Delay(300, TestContext.Current.CancellationToken);
        TcpIdExchange.Exchange(0, 2, null, port, id, Fast, new IPEndPoint(IPAddress.Loopback, port)).Should().Equal(id);
        (await client).Should().Equal(id);
    }

    [Fact]
    public async Task Rank_zero_names_the_ranks_that_never_connected()
    {
        var (root, port) = await StartRoot((ep, ready) => TcpIdExchange.Exchange(0, 3, null, 0, new byte[128], Medium, ep, ready));
        var rank2 = Ranks.Thread(() =>
            FluentActions.Invoking(() => TcpIdExchange.Exchange(2, 3, "127.0.0.1", port, [], Medium)).Should().Throw<DistributedException>());
        await FluentActions.Awaiting(() => root).Should().ThrowAsync<DistributedTimeoutException>()
            .WithMessage($"rank 0: rank(s) 1 of 3 never connected to port {port} within 2 s*");
        await rank2;
    }

    [Fact]
    public async Task A_client_with_no_server_times_out_naming_the_address()
    {
        int port = FreePort();
        var act = () => TcpIdExchange.Exchange(1, 2, "127.0.0.1", port, [], Short);
        act.Should().Throw<DistributedTimeoutException>()
            .WithMessage($"rank 1: could not connect to rank 0 at 127.0.0.1:{port} within 0.8 s (last error: *)*");
    }

    [Fact]
    public async Task A_world_size_mismatch_is_refused_on_both_sides()
    {
        var (root, port) = await StartRoot((ep, ready) => TcpIdExchange.Exchange(0, 2, null, 0, new byte[128], Fast, ep, ready));
        var act = () => TcpIdExchange.Exchange(1, 3, "127.0.0.1", port, [], Fast);
        act.Should().Throw<DistributedException>().WithMessage("rank 1: rank 0 refused the connection: rank 1 was started with 3 processes but rank 0 with 2*");
        await FluentActions.Awaiting(() => root).Should().ThrowAsync<DistributedException>()
            .WithMessage("rank 0: rank 1 was started with 3 processes*");
    }

    [Fact]
    public async Task Two_processes_claiming_one_rank_are_refused()
    {
        var (root, port) = await StartRoot((ep, ready) => TcpIdExchange.Exchange(0, 3, null, 0, new byte[128], Fast, ep, ready));
        var first = Ranks.Thread(() =>
            FluentActions.Invoking(() => TcpIdExchange.Exchange(1, 3, "127.0.0.1", port, [], Fast)).Should().Throw<DistributedException>());
        await Task.Delay(200, TestContext.Current.CancellationToken);
        var act = () => TcpIdExchange.Exchange(1, 3, "127.0.0.1", port, [], Fast);
        act.Should().Throw<DistributedException>().WithMessage("*two processes both claim rank 1*");
        await FluentActions.Awaiting(() => root).Should().ThrowAsync<DistributedException>().WithMessage("*two processes both claim rank 1*");
        await first;
    }

    [Fact]
    public async Task A_stray_connection_is_ignored()
    {
        var id = RandomNumberGenerator.GetBytes(128);
        var (root, port) = await StartRoot((ep, ready) => TcpIdExchange.Exchange(0, 2, null, 0, id, Fast, ep, ready));
        using (var probe = new TcpClient())
        {
            probe.Connect(IPAddress.Loopback, port);
            probe.GetStream().Write("GET / HTTP/1.0\r\n\r\n"u8);
        }
        TcpIdExchange.Exchange(1, 2, "127.0.0.1", port, [], Fast).Should().Equal(id);
        (await root).Should().Equal(id);
    }

    [Fact]
    public async Task Process_group_sums_in_rank_order_and_every_rank_gets_the_same_bits()
    {
        double[] values = [0.1, 0.2, 0.3, 1e-17];
        var (root, port) = await StartRoot((ep, ready) =>
        {
            using var g = TcpProcessGroup.Connect(0, 4, 0, null, 0, Fast, ep, ready);
            g.Barrier();
            return (g.AllReduceSum(values[0]), g.AllReduceSum(1));
        });
        var others = await Ranks.RunAsync(3, i =>
        {
            using var g = TcpProcessGroup.Connect(i + 1, 4, i + 1, "127.0.0.1", port, Fast);
            g.Rank.Should().Be(i + 1);
            g.Size.Should().Be(4);
            g.Barrier();
            return (g.AllReduceSum(values[i + 1]), g.AllReduceSum(1));
        });
        double expected = ((values[0] + values[1]) + values[2]) + values[3];
        (await root).Should().Be((expected, 4.0));
        others.Should().AllSatisfy(o => o.Should().Be((expected, 4.0)));
    }

    [Fact]
    public async Task Process_group_reports_a_peer_that_exited()
    {
        var (root, port) = await StartRoot((ep, ready) =>
        {
            using var g = TcpProcessGroup.Connect(0, 3, 0, null, 0, Fast, ep, ready);
            g.Barrier();
            return FluentActions.Invoking(() => g.AllReduceSum(1)).Should().Throw<DistributedException>().Which.Message;
        });
        await Ranks.RunAsync(2, i =>
        {
            using var g = TcpProcessGroup.Connect(i + 1, 3, 0, "127.0.0.1", port, Fast);
            g.Barrier();
            if (i + 1 == 2) return 0; // rank 2 "dies": its connection closes
            FluentActions.Invoking(() => g.AllReduceSum(1)).Should().Throw<DistributedException>()
                .WithMessage("rank 1: rank 0 closed the connection*");
            return 0;
        });
        (await root).Should().Match("rank 0: rank 2 closed the connection while this rank waited for its AllReduceSum value; it probably exited*");
    }

    [Fact]
    public async Task Process_group_times_out_on_a_silent_peer()
    {
        var (root, port) = await StartRoot((ep, ready) =>
        {
            using var g = TcpProcessGroup.Connect(0, 2, 0, null, 0, Medium, ep, ready);
            return FluentActions.Invoking(g.Barrier).Should().Throw<DistributedTimeoutException>().Which.Message;
        });
        using var silent = TcpProcessGroup.Connect(1, 2, 0, "127.0.0.1", port, Medium);
        (await root).Should().Match("rank 0: rank 1 did not send the barrier within 2 s*");
    }
}
