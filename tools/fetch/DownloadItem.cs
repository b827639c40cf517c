namespace LlmNet.Tools.Fetch;

/// <summary>
/// One file to fetch. <paramref name="RelativePath"/> is where it lands under the output folder;
/// <paramref name="Source"/> names where it comes from in error messages (e.g. "dataset HuggingFaceFW/fineweb-edu@main").
/// <paramref name="Size"/> and <paramref name="Digest"/> are what the file must match before it gets its final name;
/// <paramref name="Check"/> is an extra content check run on the finished download (e.g. a token shard header);
/// <paramref name="FromHub"/> says whether access errors should point at HF_TOKEN.
/// </summary>
public sealed record DownloadItem(
    string RelativePath,
    Uri Url,
    long? Size,
    ExpectedDigest? Digest,
    string Source,
    Action<string>? Check = null,
    bool FromHub = true);
