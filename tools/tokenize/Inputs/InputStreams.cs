using System.Text;
using ICSharpCode.SharpZipLib.GZip;
using LlmNet.Common.Formats;

namespace LlmNet.Tools.Tokenize.Inputs;

/// <summary>
/// Opens an input as the bytes it holds: "-" is standard input, and a ".gz" or ".zst" file is decompressed as it is
/// read (gzip by SharpZipLib, which checks the trailer's CRC and length, so a truncated download is an error rather
/// than a silently shorter text; Zstandard by ZstdSharp), so the rest of the tool sees plain text either way.
/// </summary>
public static class InputStreams
{
    public const string Stdin = "-";

    public static bool IsStdin(string path) => path == Stdin;

    /// <summary>".gz", ".zst" or "" by the file name's last extension.</summary>
    public static string CompressionOf(string path)
    {
        string ext = Path.GetExtension(path).ToLowerInvariant();
        return ext is ".gz" or ".zst" ? ext : "";
    }

    /// <summary>The file name without its compression extension (what says what the content is).</summary>
    public static string ContentName(string path) => CompressionOf(path) is { Length: > 0 } c ? path[..^c.Length] : path;

    /// <summary>A decompressing reader over <paramref name="file"/> (which it owns), or the file itself.</summary>
    public static Stream Decompress(string path, Stream file) => CompressionOf(path) switch
    {
        ".gz" => new GZipInputStream(file),
        ".zst" => new ZstdSharp.DecompressionStream(file),
        _ => file,
    };

    /// <summary>Opens <paramref name="path"/> (or standard input for "-") decompressed.</summary>
    public static Stream Open(string path)
    {
        if (IsStdin(path)) return Console.OpenStandardInput();
        if (Directory.Exists(path)) throw new DataFormatException(path, "is a directory, not an input file", "Give the input files themselves");
        if (!File.Exists(path)) throw new DataFormatException(path, "no such file", "Check the path");
        return Decompress(path, new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16));
    }

    /// <summary>Reads the whole input as UTF-8 text (a byte-order mark is dropped); a damaged archive is one error naming it.</summary>
    public static string ReadAllText(string path)
    {
        using var reader = new StreamReader(Open(path), new UTF8Encoding(false), detectEncodingFromByteOrderMarks: true);
        return Guard(path, reader.ReadToEnd);
    }

    /// <summary>Runs a read, turning a decompressor's failure on a damaged or truncated file into one clear error.</summary>
    public static T Guard<T>(string path, Func<T> read)
    {
        try { return read(); }
        catch (Exception e) when (e is InvalidDataException or ZstdSharp.ZstdException or EndOfStreamException or ICSharpCode.SharpZipLib.SharpZipBaseException)
        {
            throw new DataFormatException(path, $"cannot be decompressed ({e.Message.TrimEnd('.')})", "It may be truncated or not really " + CompressionOf(path) + "; re-create it");
        }
    }
}
