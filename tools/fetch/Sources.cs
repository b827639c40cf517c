using LlmNet.Common.Cli;
using LlmNet.Common.Formats;

namespace LlmNet.Tools.Fetch;

/// <summary>Turns each data set the tool knows into the list of files to download.</summary>
public static class Sources
{
    public const string FineWebEduRepo = "HuggingFaceFW/fineweb-edu";
    public const string FineWebRepo = "HuggingFaceFW/fineweb";
    public const string HellaSwagBaseUrl = "https://raw.githubusercontent.com/rowanz/hellaswag/master/data";
    public const string HellaSwagFile = "hellaswag_val.jsonl";
    /// <summary>Git blob id of the official hellaswag_val.jsonl (10,042 lines).</summary>
    public const string HellaSwagBlobId = "0f5ee25d72216f12317d5d8a7b92deafa423d81e";

    /// <summary>
    /// FineWeb or FineWeb-EDU parquet files under <paramref name="path"/>, in sorted order, the first <paramref name="count"/>
    /// of them (0 = all). Output names are relative to <paramref name="path"/>.
    /// </summary>
    public static async Task<List<DownloadItem>> FineWebAsync(HubClient hub, string repo, string revision, string path, int count, CancellationToken ct)
    {
        var listed = await hub.ListFilesAsync(repo, revision, path, ct).ConfigureAwait(false);
        var parquet = listed.Where(f => f.Path.EndsWith(".parquet", StringComparison.Ordinal)).ToList();
        string where = path.Length > 0 ? $"{repo}/{path}" : repo;
        if (parquet.Count == 0)
            throw new ToolException($"{where}: no parquet files at revision {revision} on {hub.Endpoint.GetLeftPart(UriPartial.Authority)}. Check --sample/--path/--revision");
        if (count > 0 && count < parquet.Count) parquet = parquet.Take(count).ToList();
        string prefix = path.Length > 0 ? path.TrimEnd('/') + "/" : "";
        return parquet.Select(f => new DownloadItem(
            f.Path.StartsWith(prefix, StringComparison.Ordinal) ? f.Path[prefix.Length..] : f.Path,
            hub.ResolveUrl(repo, revision, f.Path), f.Size, f.Digest, HubClient.Describe(repo, revision))).ToList();
    }

    /// <summary>Token shards of <paramref name="dataset"/> (val + train 1..<paramref name="trainShards"/>), checked against the Hub listing and by their shard header.</summary>
    public static async Task<List<DownloadItem>> ShardsAsync(HubClient hub, ShardDataset dataset, string repo, string revision, int trainShards, CancellationToken ct)
    {
        var listed = (await hub.ListFilesAsync(repo, revision, "", ct).ConfigureAwait(false)).ToDictionary(f => f.Path, StringComparer.Ordinal);
        var items = new List<DownloadItem>();
        foreach (string name in dataset.Names(trainShards))
        {
            if (!listed.TryGetValue(name, out var file))
                throw new ToolException($"{name}: not found in {HubClient.Describe(repo, revision)} (the listing has {listed.Count} files). Choose fewer --shards or check --revision");
            items.Add(new DownloadItem(name, hub.ResolveUrl(repo, revision, name), file.Size, file.Digest,
                HubClient.Describe(repo, revision), path => TokenShard.ReadHeader(path)));
        }
        return items;
    }

    /// <summary>HellaSwag validation set, verified by its git blob id.</summary>
    public static List<DownloadItem> HellaSwag(string baseUrl, string blobId)
    {
        if (!Uri.TryCreate(baseUrl.TrimEnd('/') + "/" + HellaSwagFile, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
            throw new UsageException($"--url {baseUrl}: not an http(s) URL");
        return [new DownloadItem(HellaSwagFile, url, null, new ExpectedDigest(DigestKind.GitBlobSha1, blobId.ToLowerInvariant()), url.GetLeftPart(UriPartial.Authority), FromHub: false)];
    }
}
