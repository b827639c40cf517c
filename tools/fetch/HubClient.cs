using System.Net;
using System.Text.Json;
using LlmNet.Common.Cli;

namespace LlmNet.Tools.Fetch;

/// <summary>
/// One file of a Hub repository as the tree API lists it: its size and hash, which is the sha256 of the content
/// for LFS files and the git blob id for files stored in git (null if the listing gives neither).
/// </summary>
public sealed record HubFile(string Path, long Size, ExpectedDigest? Digest);

/// <summary>
/// The parts of the Hugging Face Hub HTTP API a download needs: the tree listing
/// (GET {endpoint}/api/datasets/{repo}/tree/{revision}/{path}, paginated through Link: rel="next")
/// and resolve URLs ({endpoint}/datasets/{repo}/resolve/{revision}/{path}), which redirect to a CDN.
/// </summary>
public sealed class HubClient(HttpTransport http, Uri endpoint, RetryPolicy retry, IFetchProgress progress)
{
    public const string DefaultEndpoint = "https://huggingface.co";

    public Uri Endpoint { get; } = endpoint;

    public static string Describe(string repo, string revision) => $"dataset {repo}@{revision}";

    public Uri ResolveUrl(string repo, string revision, string path) =>
        new(Endpoint, $"datasets/{repo}/resolve/{Uri.EscapeDataString(revision)}/{EscapePath(path)}");

    public Uri TreeUrl(string repo, string revision, string path) =>
        new(Endpoint, $"api/datasets/{repo}/tree/{Uri.EscapeDataString(revision)}" + (path.Length > 0 ? "/" + EscapePath(path) : "") + "?recursive=true");

    /// <summary>Lists every file under <paramref name="path"/> (recursively), following pagination.</summary>
    public async Task<List<HubFile>> ListFilesAsync(string repo, string revision, string path, CancellationToken ct)
    {
        var files = new List<HubFile>();
        string source = Describe(repo, revision);
        string what = path.Length > 0 ? $"{repo}/{path}" : repo;
        Uri? page = TreeUrl(repo, revision, path);
        for (int pages = 0; page is not null; pages++)
        {
            if (pages > 100_000) throw new ToolException($"{what}: the Hub's file listing does not end (pagination loop). Try again later");
            Uri url = page;
            (string json, Uri? next) = await Retrier.RunAsync(retry, $"listing {what}", progress, () => GetPageAsync(url, what, source, ct), ct).ConfigureAwait(false);
            ParsePage(json, what, files);
            page = next;
        }
        files.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return files;
    }

    private async Task<(string, Uri?)> GetPageAsync(Uri url, string what, string source, CancellationToken ct)
    {
        using var response = await http.GetAsync(url, null, ct).ConfigureAwait(false);
        if (RetryPolicy.IsTransient(response.StatusCode))
            throw new TransientFailure($"listing {what}: HTTP {(int)response.StatusCode}", RetryPolicy.RetryAfterOf(response));
        if (response.StatusCode == HttpStatusCode.NotFound)
            throw new ToolException($"{what}: not found in {source} on {Endpoint.GetLeftPart(UriPartial.Authority)} (HTTP 404). Check the repository name, --revision and --path/--sample");
        if (!response.IsSuccessStatusCode) throw HttpErrors.For(response.StatusCode, $"listing {what}", source, url);
        string json;
        try { json = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false); }
        catch (HttpRequestException e) { throw new TransientFailure($"listing {what}: connection dropped ({e.Message})", null, e); }
        catch (IOException e) { throw new TransientFailure($"listing {what}: connection dropped ({e.Message})", null, e); }
        return (json, NextLink(response, url));
    }

    /// <summary>The rel="next" target of an RFC 8288 Link header, if there is one.</summary>
    public static Uri? NextLink(HttpResponseMessage response, Uri current)
    {
        if (!response.Headers.TryGetValues("Link", out var values)) return null;
        foreach (string header in values)
        {
            foreach (string part in SplitLinks(header))
            {
                int open = part.IndexOf('<'), close = part.IndexOf('>');
                if (open < 0 || close < open) continue;
                string parameters = part[(close + 1)..];
                bool isNext = parameters.Split(';').Any(p =>
                {
                    string t = p.Trim().Replace(" ", "");
                    return t.Equals("rel=\"next\"", StringComparison.OrdinalIgnoreCase) || t.Equals("rel=next", StringComparison.OrdinalIgnoreCase);
                });
                if (isNext) return new Uri(current, part[(open + 1)..close]);
            }
        }
        return null;
    }

    // Links are separated by commas outside the <...> targets (cursors may contain commas only escaped, but be careful anyway).
    private static IEnumerable<string> SplitLinks(string header)
    {
        int start = 0;
        bool inTarget = false;
        for (int i = 0; i < header.Length; i++)
        {
            if (header[i] == '<') inTarget = true;
            else if (header[i] == '>') inTarget = false;
            else if (header[i] == ',' && !inTarget) { yield return header[start..i]; start = i + 1; }
        }
        yield return header[start..];
    }

    private static void ParsePage(string json, string what, List<HubFile> files)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new ToolException($"listing {what}: the Hub answered something other than a file list. Check HF_ENDPOINT");
            foreach (var entry in doc.RootElement.EnumerateArray())
            {
                if (entry.TryGetProperty("type", out var type) && type.GetString() != "file") continue;
                string path = entry.GetProperty("path").GetString() ?? throw new JsonException("entry without path");
                if (entry.TryGetProperty("lfs", out var lfs) && lfs.ValueKind == JsonValueKind.Object)
                {
                    string oid = lfs.GetProperty("oid").GetString() ?? throw new JsonException($"{path}: lfs entry without oid");
                    if (oid.StartsWith("sha256:", StringComparison.Ordinal)) oid = oid["sha256:".Length..];
                    if (oid.Length != 64 || !oid.All(Uri.IsHexDigit)) throw new JsonException($"{path}: lfs oid '{oid}' is not a sha256");
                    long size = lfs.TryGetProperty("size", out var ls) ? ls.GetInt64() : entry.GetProperty("size").GetInt64();
                    files.Add(new HubFile(path, size, new ExpectedDigest(DigestKind.Sha256, oid.ToLowerInvariant())));
                }
                else
                {
                    // Small files live in git itself; their oid is the git blob id.
                    string? oid = entry.TryGetProperty("oid", out var o) ? o.GetString() : null;
                    var digest = oid is { Length: 40 } && oid.All(Uri.IsHexDigit) ? new ExpectedDigest(DigestKind.GitBlobSha1, oid.ToLowerInvariant()) : null;
                    files.Add(new HubFile(path, entry.GetProperty("size").GetInt64(), digest));
                }
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new ToolException($"listing {what}: unexpected answer from the Hub ({e.Message}). Check HF_ENDPOINT", e);
        }
    }

    private static string EscapePath(string path) => string.Join('/', path.Split('/').Select(Uri.EscapeDataString));
}
