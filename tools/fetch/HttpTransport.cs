using System.Net;
using System.Net.Http.Headers;

namespace LlmNet.Tools.Fetch;

/// <summary>
/// The HTTP side of every download: one pooled client, redirects followed by hand so the Hugging Face token
/// (Bearer) only ever goes to the Hub's own host and never to the CDN a resolve URL redirects to, and a stall
/// timeout instead of a whole-request timeout (multi-gigabyte bodies take as long as they take).
/// </summary>
public sealed class HttpTransport : IDisposable
{
    private const int MaxRedirects = 10;
    private readonly HttpClient _client;
    private readonly string? _token;
    private readonly Uri? _tokenOrigin;

    /// <param name="token">Bearer token, sent only to URLs on the same scheme, host and port as <paramref name="tokenOrigin"/>.</param>
    public HttpTransport(string? token, Uri? tokenOrigin, TimeSpan stallTimeout)
    {
        _token = string.IsNullOrWhiteSpace(token) ? null : token.Trim();
        _tokenOrigin = tokenOrigin;
        StallTimeout = stallTimeout;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None, // byte ranges and sizes refer to the stored bytes
            ConnectTimeout = TimeSpan.FromSeconds(30),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5), // CDN endpoints rotate; do not pin one forever
        };
        _client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _client.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("llm-fetch", "1.0"));
    }

    /// <summary>How long a request may wait for headers or for the next body bytes before it counts as dropped.</summary>
    public TimeSpan StallTimeout { get; }

    /// <summary>
    /// GETs <paramref name="url"/> (from byte <paramref name="rangeFrom"/> when given), following redirects.
    /// Connection failures and stalls become <see cref="TransientFailure"/>; the caller inspects the status.
    /// </summary>
    public async Task<HttpResponseMessage> GetAsync(Uri url, long? rangeFrom, CancellationToken ct)
    {
        Uri current = url;
        for (int hop = 0; ; hop++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, current);
            if (rangeFrom is > 0) request.Headers.Range = new RangeHeaderValue(rangeFrom, null);
            if (_token is not null && SendsTokenTo(current)) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);

            HttpResponseMessage response;
            using (var stall = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                stall.CancelAfter(StallTimeout);
                try
                {
                    response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stall.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    throw new TransientFailure($"no response from {current.Host} within {StallTimeout.TotalSeconds:0}s");
                }
                catch (HttpRequestException e) when (UnreachableReason(e, current) is { } reason)
                {
                    throw new TransientFailure(reason, null, e) { Unreachable = true };
                }
                catch (HttpRequestException e)
                {
                    throw new TransientFailure($"connection to {current.Host} failed: {e.Message}", null, e);
                }
            }

            if (!IsRedirect(response.StatusCode)) return response;
            Uri? location = response.Headers.Location;
            response.Dispose();
            if (location is null) throw new TransientFailure($"{current}: redirect without a Location header");
            if (hop >= MaxRedirects) throw new IOException($"{url}: more than {MaxRedirects} redirects");
            current = location.IsAbsoluteUri ? location : new Uri(current, location);
        }
    }

    /// <summary>Copies a response body stream while enforcing the stall timeout on every read.</summary>
    public async Task<int> ReadAsync(Stream body, Memory<byte> buffer, string what, CancellationToken ct)
    {
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stall.CancelAfter(StallTimeout);
        try
        {
            return await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TransientFailure($"{what}: no data for {StallTimeout.TotalSeconds:0}s");
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            throw new TransientFailure($"{what}: connection dropped ({e.Message})", null, e);
        }
    }

    /// <summary>
    /// Why <paramref name="url"/>'s host cannot be reached at all (its name does not resolve, the connection is refused,
    /// there is no route to it), or null for failures a retry can cure (resets, timeouts, TLS hiccups).
    /// </summary>
    private static string? UnreachableReason(HttpRequestException e, Uri url)
    {
        var socket = e.InnerException as System.Net.Sockets.SocketException;
        if (e.HttpRequestError == HttpRequestError.NameResolutionError ||
            socket?.SocketErrorCode is System.Net.Sockets.SocketError.HostNotFound or System.Net.Sockets.SocketError.TryAgain or System.Net.Sockets.SocketError.NoData)
            return $"the host name {url.Host} does not resolve ({socket?.Message ?? e.Message}): offline, or a mistyped address";
        return socket?.SocketErrorCode switch
        {
            System.Net.Sockets.SocketError.ConnectionRefused => $"{url.Host}:{url.Port} refused the connection: nothing is serving there",
            System.Net.Sockets.SocketError.NetworkUnreachable or System.Net.Sockets.SocketError.HostUnreachable =>
                $"{url.Host}:{url.Port} cannot be reached ({socket.Message}): offline, or no route to it",
            _ => null,
        };
    }

    private bool SendsTokenTo(Uri url) =>
        _tokenOrigin is not null
        && string.Equals(url.Scheme, _tokenOrigin.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(url.IdnHost, _tokenOrigin.IdnHost, StringComparison.OrdinalIgnoreCase)
        && url.Port == _tokenOrigin.Port;

    private static bool IsRedirect(HttpStatusCode status) =>
        status is HttpStatusCode.MovedPermanently or HttpStatusCode.Found or HttpStatusCode.SeeOther
            or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    public void Dispose() => _client.Dispose();
}
