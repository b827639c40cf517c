using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace LlmNet.Fetch.Tests;

/// <summary>One file of a fake repository, with the faults to inject when it is downloaded.</summary>
public sealed class FakeFile(byte[] content, bool lfs = true)
{
    public byte[] Content { get; } = content;
    public bool Lfs { get; } = lfs;
    /// <summary>Bytes actually served instead of <see cref="Content"/> (a corrupt mirror); the listing still describes Content.</summary>
    public byte[]? Served { get; set; }
    /// <summary>How many responses are cut after <see cref="CutAfter"/> bytes of body (counted from the response's start).</summary>
    public int CutsLeft { get; set; }
    public int CutAfter { get; set; }
    /// <summary>How many responses stop sending (without closing) after <see cref="CutAfter"/> bytes.</summary>
    public int StallsLeft { get; set; }
    public TimeSpan StallFor { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>How many requests get 503 (with Retry-After: 0) before the file is served.</summary>
    public int UnavailableLeft { get; set; }
    /// <summary>The status of the "unavailable" answers (503 or 429) and their Retry-After value.</summary>
    public HttpStatusCode UnavailableStatus { get; set; } = HttpStatusCode.ServiceUnavailable;
    public string RetryAfter { get; set; } = "0";
    /// <summary>Answer range requests with the whole file (200), as some servers do.</summary>
    public bool IgnoresRange { get; set; }
    /// <summary>A fixed status for every download request (e.g. 404: listed but gone).</summary>
    public HttpStatusCode? Status { get; set; }
}

/// <summary>One request as the fake servers saw it.</summary>
public sealed record SeenRequest(string Server, string Target, string? Range, string? Authorization);

/// <summary>
/// Imitates the Hugging Face Hub on 127.0.0.1 with raw sockets: the tree API (paginated with Link: rel="next"),
/// resolve URLs that redirect LFS files to a CDN on a second port, plain files under /raw/, and injected faults.
/// Every response closes its connection, so cutting one mid-body is just closing the socket early.
/// </summary>
public sealed class FakeHub : IDisposable
{
    private readonly TcpListener _hub = new(IPAddress.Loopback, 0);
    private readonly TcpListener _cdn = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();

    public FakeHub()
    {
        _hub.Start();
        _cdn.Start();
        _ = AcceptLoop(_hub, "hub");
        _ = AcceptLoop(_cdn, "cdn");
    }

    public Uri Endpoint => new($"http://127.0.0.1:{((IPEndPoint)_hub.LocalEndpoint).Port}/");
    private string CdnBase => $"http://127.0.0.1:{((IPEndPoint)_cdn.LocalEndpoint).Port}";

    /// <summary>repo ("owner/name") → path → file.</summary>
    public ConcurrentDictionary<string, ConcurrentDictionary<string, FakeFile>> Repos { get; } = new();
    /// <summary>Files served by the hub at /raw/NAME (non-Hub downloads such as HellaSwag).</summary>
    public ConcurrentDictionary<string, FakeFile> Raw { get; } = new();
    public ConcurrentQueue<SeenRequest> Requests { get; } = new();
    public int PageSize { get; set; } = 2;
    /// <summary>How many tree-API requests get 503 before answering.</summary>
    public int TreeUnavailableLeft { get; set; }
    /// <summary>List entries as sparsely as the API description allows: path and size, lfs {oid, size} for LFS files, no type or oid.</summary>
    public bool MinimalEntries { get; set; }
    /// <summary>When set, the hub answers 401 to requests without "Bearer {token}".</summary>
    public string? RequiredToken { get; set; }

    public FakeFile Add(string repo, string path, byte[] content, bool lfs = true)
    {
        var file = new FakeFile(content, lfs);
        Repos.GetOrAdd(repo, _ => new())[path] = file;
        return file;
    }

    public IEnumerable<SeenRequest> Seen(string server) => Requests.Where(r => r.Server == server);

    private async Task AcceptLoop(TcpListener listener, string name)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try { socket = await listener.AcceptSocketAsync(_stop.Token); }
            catch (Exception) { return; }
            _ = Task.Run(async () =>
            {
                using (socket)
                {
                    try { await Handle(new NetworkStream(socket, ownsSocket: false), name); }
                    catch (IOException) { } catch (SocketException) { }
                }
            });
        }
    }

    private async Task Handle(NetworkStream stream, string server)
    {
        var (target, headers) = await ReadRequest(stream);
        headers.TryGetValue("range", out string? range);
        headers.TryGetValue("authorization", out string? auth);
        Requests.Enqueue(new SeenRequest(server, target, range, auth));
        string path = Uri.UnescapeDataString(target.Split('?')[0]);
        string query = target.Contains('?') ? target[(target.IndexOf('?') + 1)..] : "";

        if (server == "hub" && RequiredToken is not null && auth != $"Bearer {RequiredToken}" && !path.StartsWith("/raw/"))
        {
            await Respond(stream, HttpStatusCode.Unauthorized, "{\"error\":\"Invalid credentials\"}"u8.ToArray());
            return;
        }
        if (server == "cdn" && path.StartsWith("/cdn/"))
        {
            var (repo, file) = Split(path["/cdn/".Length..]);
            if (Repos.TryGetValue(repo, out var files) && files.TryGetValue(file, out var f)) await Serve(stream, f, range);
            else await Respond(stream, HttpStatusCode.NotFound, "no such object"u8.ToArray());
            return;
        }
        if (server == "hub" && path.StartsWith("/raw/"))
        {
            if (Raw.TryGetValue(path["/raw/".Length..], out var f)) await Serve(stream, f, range);
            else await Respond(stream, HttpStatusCode.NotFound, "404: Not Found"u8.ToArray());
            return;
        }
        if (server == "hub" && path.StartsWith("/api/datasets/"))
        {
            await Tree(stream, path["/api/datasets/".Length..], query);
            return;
        }
        if (server == "hub" && path.StartsWith("/datasets/"))
        {
            // owner/name/resolve/rev/path...
            string[] parts = path["/datasets/".Length..].Split('/', 5);
            if (parts.Length == 5 && parts[2] == "resolve" && Repos.TryGetValue($"{parts[0]}/{parts[1]}", out var files) && files.TryGetValue(parts[4], out var f))
            {
                if (f.Lfs) await Respond(stream, HttpStatusCode.Found, [], ("Location", $"{CdnBase}/cdn/{parts[0]}/{parts[1]}/{parts[4]}"));
                else await Serve(stream, f, range);
                return;
            }
            await Respond(stream, HttpStatusCode.NotFound, "{\"error\":\"Entry not found\"}"u8.ToArray());
            return;
        }
        await Respond(stream, HttpStatusCode.NotFound, []);
    }

    private static (string Repo, string Path) Split(string rest)
    {
        string[] p = rest.Split('/', 3);
        return ($"{p[0]}/{p[1]}", p[2]);
    }

    private async Task Tree(NetworkStream stream, string rest, string query)
    {
        // owner/name/tree/rev[/path]
        string[] parts = rest.Split('/', 5);
        if (parts.Length < 4 || parts[2] != "tree" || !Repos.TryGetValue($"{parts[0]}/{parts[1]}", out var files))
        {
            await Respond(stream, HttpStatusCode.NotFound, "{\"error\":\"Repository not found\"}"u8.ToArray());
            return;
        }
        if (TreeUnavailableLeft > 0)
        {
            TreeUnavailableLeft--;
            await Respond(stream, HttpStatusCode.ServiceUnavailable, [], ("Retry-After", "0"));
            return;
        }
        string prefix = parts.Length == 5 ? parts[4].TrimEnd('/') + "/" : "";
        var entries = files.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        if (entries.Count == 0)
        {
            await Respond(stream, HttpStatusCode.NotFound, "{\"error\":\"Entry not found\"}"u8.ToArray());
            return;
        }
        int cursor = 0;
        foreach (string kv in query.Split('&'))
            if (kv.StartsWith("cursor=")) cursor = int.Parse(kv["cursor=".Length..]);
        var page = entries.Skip(cursor).Take(PageSize).Select(kv => Entry(kv.Key, kv.Value, MinimalEntries)).ToList();
        var extra = new List<(string, string)>();
        if (cursor + PageSize < entries.Count)
            extra.Add(("Link", $"<{Endpoint}api/datasets/{rest}?recursive=true&cursor={cursor + PageSize}>; rel=\"next\""));
        await Respond(stream, HttpStatusCode.OK, JsonSerializer.SerializeToUtf8Bytes(page), [.. extra]);
    }

    private static Dictionary<string, object> Entry(string path, FakeFile f, bool minimal)
    {
        var e = minimal
            ? new Dictionary<string, object> { ["path"] = path, ["size"] = f.Content.Length }
            : new Dictionary<string, object> { ["type"] = "file", ["oid"] = GitBlobId(f.Content), ["size"] = f.Content.Length, ["path"] = path };
        if (f.Lfs) e["lfs"] = new Dictionary<string, object> { ["oid"] = Convert.ToHexStringLower(SHA256.HashData(f.Content)), ["size"] = f.Content.Length, ["pointerSize"] = 134 };
        return e;
    }

    public static string GitBlobId(byte[] content) =>
        Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {content.Length}\0"), .. content]));

    private async Task Serve(NetworkStream stream, FakeFile f, string? range)
    {
        if (f.Status is { } status) { await Respond(stream, status, "gone"u8.ToArray()); return; }
        if (f.UnavailableLeft > 0)
        {
            f.UnavailableLeft--;
            await Respond(stream, f.UnavailableStatus, "try later"u8.ToArray(), ("Retry-After", f.RetryAfter));
            return;
        }
        byte[] body = f.Served ?? f.Content;
        int start = 0;
        if (range is not null && !f.IgnoresRange && range.StartsWith("bytes=") && range.EndsWith('-')) start = int.Parse(range["bytes=".Length..^1]);
        if (start >= body.Length && start > 0)
        {
            await Respond(stream, HttpStatusCode.RequestedRangeNotSatisfiable, [], ("Content-Range", $"bytes */{body.Length}"));
            return;
        }
        var slice = body.AsMemory(start);
        var head = start > 0 ? new[] { ("Content-Range", $"bytes {start}-{body.Length - 1}/{body.Length}") } : [];
        await WriteHead(stream, start > 0 ? HttpStatusCode.PartialContent : HttpStatusCode.OK, slice.Length, head);
        if (f.CutsLeft > 0 && f.CutAfter < slice.Length)
        {
            f.CutsLeft--;
            await stream.WriteAsync(slice[..f.CutAfter]);
            await stream.FlushAsync();
            return; // closing the socket now cuts the body short
        }
        if (f.StallsLeft > 0 && f.CutAfter < slice.Length)
        {
            f.StallsLeft--;
            await stream.WriteAsync(slice[..f.CutAfter]);
            await stream.FlushAsync();
            try { await Task.Delay(f.StallFor, _stop.Token); } // silent but open: only a stall timeout notices
            catch (OperationCanceledException) { }
            return;
        }
        await stream.WriteAsync(slice);
    }

    private static async Task Respond(NetworkStream stream, HttpStatusCode status, byte[] body, params (string, string)[] headers)
    {
        await WriteHead(stream, status, body.Length, headers);
        await stream.WriteAsync(body);
    }

    private static async Task WriteHead(NetworkStream stream, HttpStatusCode status, long length, (string, string)[] headers)
    {
        var sb = new StringBuilder($"HTTP/1.1 {(int)status} {status}\r\nContent-Length: {length}\r\nConnection: close\r\n");
        foreach (var (k, v) in headers) sb.Append($"{k}: {v}\r\n");
        sb.Append("\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(sb.ToString()));
    }

    private static async Task<(string Target, Dictionary<string, string> Headers)> ReadRequest(NetworkStream stream)
    {
        var buffer = new List<byte>();
        var one = new byte[1];
        while (buffer.Count < 4 || !(buffer[^4] == '\r' && buffer[^3] == '\n' && buffer[^2] == '\r' && buffer[^1] == '\n'))
        {
            if (await stream.ReadAsync(one) == 0) throw new IOException("client closed");
            buffer.Add(one[0]);
        }
        string[] lines = Encoding.ASCII.GetString(buffer.ToArray()).Split("\r\n");
        string target = lines[0].Split(' ')[1];
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (string line in lines.Skip(1))
        {
            int colon = line.IndexOf(':');
            if (colon > 0) headers[line[..colon].Trim().ToLowerInvariant()] = line[(colon + 1)..].Trim();
        }
        return (target, headers);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _hub.Stop();
        _cdn.Stop();
    }
}
