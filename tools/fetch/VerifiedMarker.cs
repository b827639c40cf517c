namespace LlmNet.Tools.Fetch;

/// <summary>
/// Remembers which downloaded files were verified, so a re-run can skip them without re-hashing gigabytes.
/// For DIR/NAME the record is DIR/.llm-fetch/NAME.verified holding one line "DIGEST SIZE MTIME_TICKS"
/// (DIGEST is "sha256:HEX", "gitblob:HEX", or "size-only" for files listed without a hash).
/// The record only counts while the file still has that size and modification time; anything else
/// (a touched, truncated or replaced file) makes the next run hash the file again.
/// </summary>
public static class VerifiedMarker
{
    public const string FolderName = ".llm-fetch";

    public static string PathFor(string outDir, string relativePath) =>
        Path.Combine(outDir, FolderName, relativePath + ".verified");

    /// <summary>True when the marker says <paramref name="file"/> was verified against <paramref name="digest"/> as it is now.</summary>
    public static bool Matches(string outDir, string relativePath, string file, ExpectedDigest? digest) =>
        RecordedTag(outDir, relativePath, file) == TagOf(digest);

    /// <summary>
    /// The digest tag (or "size-only") the marker holds, when it still describes <paramref name="file"/> as it is now
    /// (same size and modification time); null when there is no marker or the file changed since it was verified.
    /// </summary>
    public static string? RecordedTag(string outDir, string relativePath, string file)
    {
        string marker = PathFor(outDir, relativePath);
        if (!File.Exists(marker) || !File.Exists(file)) return null;
        string[] fields;
        try { fields = File.ReadAllText(marker).Trim().Split(' '); }
        catch (IOException) { return null; }
        var info = new FileInfo(file);
        bool current = fields.Length == 3
            && fields[1] == info.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)
            && fields[2] == info.LastWriteTimeUtc.Ticks.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return current ? fields[0] : null;
    }

    /// <summary>Records that <paramref name="file"/> (as it is now) has <paramref name="digest"/>.</summary>
    public static void Record(string outDir, string relativePath, string file, ExpectedDigest? digest)
    {
        var info = new FileInfo(file);
        string line = FormattableString.Invariant($"{TagOf(digest)} {info.Length} {info.LastWriteTimeUtc.Ticks}\n");
        LlmNet.Common.IO.AtomicFile.Write(PathFor(outDir, relativePath), s => s.Write(System.Text.Encoding.ASCII.GetBytes(line)));
    }

    // Files the source lists without a hash are verified by size alone, and recorded as such.
    private static string TagOf(ExpectedDigest? digest) => digest?.Tag ?? "size-only";
}
