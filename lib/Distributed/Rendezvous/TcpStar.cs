using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace LlmNet.Distributed.Rendezvous;

/// <summary>
/// Rank 0 and one TCP connection to each other rank: the transport under the tcp id exchange and
/// <see cref="TcpProcessGroup"/>. Rank 0 listens; each other rank connects (retrying until the timeout),
/// introduces itself with its rank and world size, and is welcomed once every rank has arrived, so a
/// successful <see cref="Connect"/> is also a barrier. Mismatched world sizes and duplicate ranks are refused
/// with a message the refused rank reports too.
/// </summary>
public sealed class TcpStar : IDisposable
{
    private const uint HelloMagic = 0x4C4E5452; // "RTNL" little-endian: llm.net rendezvous
    private const byte Welcome = 0, Refused = 1;

    private readonly Socket?[] _peers; // rank 0: index = peer rank; others: [0] = rank 0
    private bool _disposed;

    private TcpStar(int rank, int size, Socket?[] peers, RendezvousOptions options, string endpointText)
    {
        Rank = rank; Size = size; _peers = peers; Options = options; EndpointText = endpointText;
    }

    public int Rank { get; }
    public int Size { get; }
    public RendezvousOptions Options { get; }
    internal string EndpointText { get; }

    /// <summary>
    /// Rank 0: listens on <paramref name="listen"/> (port 0 picks a free one, reported through
    /// <paramref name="onListening"/>), accepts size−1 ranks and welcomes them all. Others: connects to
    /// <paramref name="host"/>:<paramref name="port"/>.
    /// </summary>
    public static TcpStar Connect(int rank, int size, string? host, int port, RendezvousOptions options,
        IPEndPoint? listen = null, Action<IPEndPoint>? onListening = null)
    {
        if (size < 1 || rank < 0 || rank >= size)
            throw new DistributedException($"rank {rank} is out of range for {size} processes");
        return rank == 0
            ? Serve(size, listen ?? new IPEndPoint(IPAddress.Any, port), options, onListening)
            : Join(rank, size, host ?? throw new DistributedException($"rank {rank}: no address for rank 0 (-ps)"), port, options);
    }

    private static TcpStar Serve(int size, IPEndPoint listen, RendezvousOptions options, Action<IPEndPoint>? onListening)
    {
        var peers = new Socket?[size];
        var deadline = DateTime.UtcNow + options.Timeout;
        using var listener = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        try
        {
            listener.Bind(listen);
            listener.Listen(Math.Max(16, size));
        }
        catch (SocketException e)
        {
            throw new DistributedException($"rank 0: cannot listen on {listen}: {e.Message}; pick a free port (MASTER_PORT) or stop the process using it", e);
        }
        var bound = (IPEndPoint)listener.LocalEndPoint!;
        onListening?.Invoke(bound);
        try
        {
            int arrived = 1;
            while (arrived < size)
            {
                var remaining = deadline - DateTime.UtcNow;
                Socket client;
                try
                {
                    using var cts = new CancellationTokenSource(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero);
                    client = listener.AcceptAsync(cts.Token).AsTask().GetAwaiter().GetResult();
                }
                catch (OperationCanceledException)
                {
                    var missing = Enumerable.Range(1, size - 1).Where(r => peers[r] is null);
                    throw new DistributedTimeoutException(
                        $"rank 0: rank(s) {string.Join(", ", missing)} of {size} never connected to port {bound.Port} within {options.TimeoutText}; " +
                        "check they were started with the same -pn and -ps pointing at this host, and that the port is reachable");
                }
                client.NoDelay = true;
                if (!TryReadHello(client, deadline, out int peerRank, out int peerSize))
                {
                    client.Dispose(); // not one of ours (a port probe, a stale client): keep waiting
                    continue;
                }
                string? problem = peerSize != size
                    ? $"rank {peerRank} was started with {peerSize} processes but rank 0 with {size}: start every rank with the same -pn"
                    : peerRank <= 0 || peerRank >= size ? $"a process claims rank {peerRank}, outside 1..{size - 1}"
                    : peers[peerRank] is not null ? $"two processes both claim rank {peerRank}: give every process its own -pr"
                    : null;
                if (problem is not null)
                {
                    TrySend(client, RefusalMessage(problem));
                    client.Dispose();
                    throw new DistributedException("rank 0: " + problem);
                }
                peers[peerRank] = client;
                arrived++;
            }
            for (int r = 1; r < size; r++) Wire.Send(peers[r]!, [Welcome], r, "welcome");
            return new TcpStar(0, size, peers, options, bound.ToString());
        }
        catch
        {
            foreach (var p in peers) p?.Dispose();
            throw;
        }
    }

    private static TcpStar Join(int rank, int size, string host, int port, RendezvousOptions options)
    {
        var deadline = DateTime.UtcNow + options.Timeout;
        string where = $"{host}:{port}";
        string lastError = "no attempt made";
        while (true)
        {
            var remaining = deadline - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero)
                throw new DistributedTimeoutException(
                    $"rank {rank}: could not connect to rank 0 at {where} within {options.TimeoutText} (last error: {lastError}); " +
                    "is rank 0 running, is -ps its address, and is the port reachable?");
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            try
            {
                using var cts = new CancellationTokenSource(remaining);
                socket.ConnectAsync(host, port, cts.Token).AsTask().GetAwaiter().GetResult();
                socket.NoDelay = true;
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                socket.Dispose();
                lastError = e is SocketException se ? se.Message : "timed out";
                Thread.Sleep(TimeSpan.FromTicks(Math.Min(options.ConnectRetryInterval.Ticks, Math.Max(0, (deadline - DateTime.UtcNow).Ticks))));
                continue;
            }
            try
            {
                Span<byte> hello = stackalloc byte[12];
                BinaryPrimitives.WriteUInt32LittleEndian(hello, HelloMagic);
                BinaryPrimitives.WriteInt32LittleEndian(hello[4..], rank);
                BinaryPrimitives.WriteInt32LittleEndian(hello[8..], size);
                Wire.Send(socket, hello, 0, "hello");
                Span<byte> status = stackalloc byte[1];
                Wire.Receive(socket, status, deadline, 0, "the welcome (waiting for every rank to connect)", rank, options);
                if (status[0] == Refused)
                {
                    Span<byte> len = stackalloc byte[2];
                    Wire.Receive(socket, len, deadline, 0, "the refusal", rank, options);
                    var text = new byte[BinaryPrimitives.ReadUInt16LittleEndian(len)];
                    Wire.Receive(socket, text, deadline, 0, "the refusal", rank, options);
                    throw new DistributedException($"rank {rank}: rank 0 refused the connection: {Encoding.UTF8.GetString(text)}");
                }
                return new TcpStar(rank, size, [socket], options, where);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
    }

    /// <summary>Rank 0 sends <paramref name="payload"/> to every rank; the others receive and return it.</summary>
    public byte[] Broadcast(ReadOnlySpan<byte> payload)
    {
        var deadline = DateTime.UtcNow + Options.Timeout;
        if (Rank == 0)
        {
            var framed = new byte[4 + payload.Length];
            BinaryPrimitives.WriteInt32LittleEndian(framed, payload.Length);
            payload.CopyTo(framed.AsSpan(4));
            for (int r = 1; r < Size; r++) Wire.Send(Peer(r), framed, r, "broadcast");
            return payload.ToArray();
        }
        Span<byte> len = stackalloc byte[4];
        Wire.Receive(Peer(0), len, deadline, 0, "the broadcast", Rank, Options);
        int n = BinaryPrimitives.ReadInt32LittleEndian(len);
        if (n is < 0 or > 1 << 20) throw new DistributedException($"rank {Rank}: rank 0 sent a malformed message ({n} bytes)");
        var result = new byte[n];
        Wire.Receive(Peer(0), result, deadline, 0, "the broadcast", Rank, Options);
        return result;
    }

    internal Socket Peer(int rank) => _peers[Rank == 0 ? rank : 0] ?? throw new ObjectDisposedException(nameof(TcpStar));

    private static bool TryReadHello(Socket client, DateTime deadline, out int rank, out int size)
    {
        rank = size = -1;
        Span<byte> hello = stackalloc byte[12];
        try
        {
            var wait = deadline - DateTime.UtcNow;
            client.ReceiveTimeout = (int)Math.Clamp(wait.TotalMilliseconds, 1, 30_000);
            int got = 0;
            while (got < hello.Length)
            {
                int n = client.Receive(hello[got..]);
                if (n == 0) return false;
                got += n;
            }
        }
        catch (SocketException) { return false; }
        if (BinaryPrimitives.ReadUInt32LittleEndian(hello) != HelloMagic) return false;
        rank = BinaryPrimitives.ReadInt32LittleEndian(hello[4..]);
        size = BinaryPrimitives.ReadInt32LittleEndian(hello[8..]);
        return true;
    }

    private static byte[] RefusalMessage(string problem)
    {
        var text = Encoding.UTF8.GetBytes(problem);
        var msg = new byte[3 + text.Length];
        msg[0] = Refused;
        BinaryPrimitives.WriteUInt16LittleEndian(msg.AsSpan(1), (ushort)text.Length);
        text.CopyTo(msg, 3);
        return msg;
    }

    private static void TrySend(Socket s, byte[] data)
    {
        try { s.Send(data); } catch (SocketException) { }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var p in _peers) p?.Dispose();
    }
}

/// <summary>Blocking socket reads and writes with deadlines and errors that name the peer rank.</summary>
internal static class Wire
{
    public static void Send(Socket s, ReadOnlySpan<byte> data, int peer, string what)
    {
        try
        {
            while (!data.IsEmpty) data = data[s.Send(data)..];
        }
        catch (SocketException e)
        {
            throw new DistributedException($"lost the connection to rank {peer} while sending {what} ({e.Message}); it probably exited — see its log", e);
        }
    }

    public static void Receive(Socket s, Span<byte> buffer, DateTime deadline, int peer, string what, int self, RendezvousOptions options)
    {
        int got = 0;
        while (got < buffer.Length)
        {
            var remaining = deadline - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero) Timeout();
            s.ReceiveTimeout = (int)Math.Clamp(remaining.TotalMilliseconds, 1, int.MaxValue);
            int n;
            try { n = s.Receive(buffer[got..]); }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut) { Timeout(); throw; }
            catch (SocketException e)
            {
                throw new DistributedException($"rank {self}: lost the connection to rank {peer} while waiting for {what} ({e.Message}); it probably exited — see its log", e);
            }
            if (n == 0)
                throw new DistributedException($"rank {self}: rank {peer} closed the connection while this rank waited for {what}; it probably exited — see its log");
            got += n;
        }

        void Timeout() => throw new DistributedTimeoutException(
            $"rank {self}: rank {peer} did not send {what} within {options.TimeoutText}; it is stuck or died without closing the connection");
    }
}
