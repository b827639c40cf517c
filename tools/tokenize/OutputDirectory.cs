using System.Text.RegularExpressions;
using LlmNet.Common.Cli;

namespace LlmNet.Tools.Tokenize;

/// <summary>The shard directory: its lock, leftovers of killed runs, and the shards of a prefix.</summary>
public static partial class OutputDirectory
{
    [GeneratedRegex(@"_(val|train)_\d{6}\.bin$")]
    private static partial Regex ShardSuffix();

    /// <summary>
    /// Creates the directory and takes "{prefix}.lock" in it, so two runs never write the same shards.
    /// The lock is an OS file lock: it goes away with the process, even after a kill.
    /// </summary>
    public static FileStream Lock(string dir, string prefix)
    {
        string lockPath = Path.Combine(dir, $"{prefix}.lock");
        try
        {
            Directory.CreateDirectory(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ToolException($"{dir}: cannot create the output directory ({e.Message.TrimEnd('.')}). Choose a writable --out directory", e);
        }
        try
        {
            return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new ToolException($"{dir}: the output directory is not writable ({e.Message.TrimEnd('.')}). Choose a writable --out directory", e);
        }
        catch (IOException e) when (File.Exists(lockPath))
        {
            throw new ToolException($"{lockPath}: another llm-tokenize is writing {prefix}_* shards here ({e.Message.TrimEnd('.')}). Wait for it, or use another --out or --prefix", e);
        }
        catch (IOException e)
        {
            throw new ToolException($"{dir}: cannot write to the output directory ({e.Message.TrimEnd('.')}). Choose a writable --out directory", e);
        }
    }

    /// <summary>Deletes temporary files a killed run left behind (shards and manifest being written).</summary>
    public static void RemoveStaleTemporaries(string dir, string prefix)
    {
        foreach (var f in Directory.EnumerateFiles(dir, $"{prefix}_*.bin.tmp-*")) File.Delete(f);
        foreach (var f in Directory.EnumerateFiles(dir, $"{prefix}.progress.json.tmp-*")) File.Delete(f);
    }

    /// <summary>The shards named "{prefix}_val|train_NNNNNN.bin" in <paramref name="dir"/>, sorted.</summary>
    public static List<string> ExistingShards(string dir, string prefix) =>
        [.. Directory.EnumerateFiles(dir, $"{prefix}_*.bin")
            .Where(f => Path.GetFileName(f) is var name && name.StartsWith(prefix + "_", StringComparison.Ordinal)
                && ShardSuffix().IsMatch(name) && ShardSuffix().Match(name).Index == prefix.Length)
            .Order(StringComparer.Ordinal)];

    /// <summary>Deletes an earlier run's shards and manifest (for --restart).</summary>
    public static void RemoveRun(string dir, string prefix, string manifestPath)
    {
        File.Delete(manifestPath);
        foreach (var f in ExistingShards(dir, prefix)) File.Delete(f);
    }
}
