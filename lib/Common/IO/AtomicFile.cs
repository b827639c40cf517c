namespace LlmNet.Common.IO;

/// <summary>
/// Writes a file so that it either exists complete or not at all: the bytes go to a temporary
/// sibling ("name.tmp-XXXX") which is flushed to disk and then renamed over the final name.
/// A crash or a full disk leaves at most a stray temporary file, never a truncated final file.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>, atomically.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? ".";
        Directory.CreateDirectory(dir);
        string tmp = TempPathFor(full);
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    /// <summary>The temporary name used while <paramref name="finalPath"/> is being written.</summary>
    public static string TempPathFor(string finalPath) =>
        $"{finalPath}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";

    /// <summary>Removes temporary files left by an earlier killed writer of <paramref name="finalPath"/>.</summary>
    public static void CleanStaleTemps(string finalPath)
    {
        string full = Path.GetFullPath(finalPath);
        string dir = Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(dir)) return;
        foreach (var f in Directory.EnumerateFiles(dir, Path.GetFileName(full) + ".tmp-*")) TryDelete(f);
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
