using System.Net;

namespace LlmNet.Distributed.Rendezvous;

/// <summary>
/// The tcp init method: rank 0 listens (default port 12345, on every interface), the other ranks connect to
/// -ps with retries, and once all have arrived rank 0 sends each the id and the connections close.
/// </summary>
public static class TcpIdExchange
{
    /// <summary>Returns rank 0's <paramref name="payload"/> on every rank (others pass an empty span).</summary>
    public static byte[] Exchange(int rank, int size, string? host, int port, ReadOnlySpan<byte> payload,
        RendezvousOptions options, IPEndPoint? listen = null, Action<IPEndPoint>? onListening = null)
    {
        using var star = TcpStar.Connect(rank, size, host, port, options, listen, onListening);
        return star.Broadcast(payload);
    }
}
