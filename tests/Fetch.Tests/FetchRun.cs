using LlmNet.Tools.Fetch;

namespace LlmNet.Fetch.Tests;

/// <summary>Runs llm-fetch in-process against a fake hub, with its own environment and a captured log.</summary>
public static class FetchRun
{
    public sealed record Result(int ExitCode, string Log);

    public static Result Run(FakeHub hub, string[] args, string? token = null, string? hellaswagUrl = null, double stallTimeout = 10)
    {
        var env = new Dictionary<string, string?>
        {
            ["HF_ENDPOINT"] = hub.Endpoint.ToString(),
            ["HF_TOKEN"] = token,
            ["LLMNET_HELLASWAG_URL"] = hellaswagUrl,
        };
        var log = new StringWriter();
        var synced = TextWriter.Synchronized(log);
        // Fast retries: tests inject faults on purpose.
        string[] all = [.. args, "--backoff", "0.01", "--stall-timeout", stallTimeout.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        int code = FetchApp.Run(all, name => env.GetValueOrDefault(name), synced);
        synced.Flush();
        return new Result(code, log.ToString());
    }

    /// <summary>Deterministic pseudo-random bytes.</summary>
    public static byte[] Bytes(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static string TempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "llm-fetch-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Files under <paramref name="dir"/> other than the verification records, relative, sorted.</summary>
    public static List<string> ListFiles(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(dir, f))
            .Where(f => !f.StartsWith(VerifiedMarker.FolderName + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            .OrderBy(f => f, StringComparer.Ordinal).ToList();
}
