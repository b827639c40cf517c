using System.Text;
using ICSharpCode.SharpZipLib.BZip2;
using LlmNet.Common.Formats;

namespace LlmNet.Eval.HellaSwag;

/// <summary>The three forms a HellaSwag validation set comes in.</summary>
public enum HellaSwagFormat
{
    /// <summary>llm.c's tokenized eval file (magic 20240522).</summary>
    EvalBin,
    /// <summary>The official hellaswag_val.jsonl (one JSON object per line).</summary>
    Jsonl,
    /// <summary>Six lines per item: context, label, four endings; plain or bzip2-compressed.</summary>
    Preprocessed,
}

/// <summary>Loads HellaSwag examples from any supported file, recognising the format by its contents.</summary>
public static class HellaSwagData
{
    /// <summary>Where llm-eval looks when no file is given: llm.c's own path first, then this project's data folder.</summary>
    public static readonly string[] DefaultPaths =
    [
        "dev/data/hellaswag/hellaswag_val.bin",
        "data/hellaswag/hellaswag_val.bin",
        "data/hellaswag/hellaswag_val.jsonl",
        "data/hellaswag_val.jsonl",
    ];

    /// <summary>The first of <see cref="DefaultPaths"/> that exists (relative to the current folder), or null.</summary>
    public static string? FindDefault() => DefaultPaths.FirstOrDefault(File.Exists);

    /// <summary>Reads <paramref name="path"/> (.bin, .jsonl, .txt or .txt.bz2) into tokenized examples; at most <paramref name="limit"/>.</summary>
    public static List<HellaSwagExample> Load(string path, int? limit = null)
    {
        if (limit is < 0) throw new ArgumentOutOfRangeException(nameof(limit), limit, "limit must be ≥ 0");
        if (!File.Exists(path))
            throw new DataFormatException(path, "file not found",
                "Pass --hellaswag-data with hellaswag_val.jsonl (llm-fetch hellaswag), an eval .bin (llm-tokenize hellaswag) or the preprocessed .txt.bz2");
        var (format, compressed) = Detect(path);
        var examples = Bzip2Guard(path, compressed, () => format switch
        {
            HellaSwagFormat.EvalBin => HellaSwagEvalFile.Read(path, limit),
            HellaSwagFormat.Jsonl => HellaSwagJsonl.Parse(path, OpenText(path, compressed), limit),
            _ => HellaSwagPreprocessed.Parse(path, OpenText(path, compressed), limit),
        });
        if (examples.Count == 0 && limit != 0) throw new DataFormatException(path, "holds no HellaSwag examples", "Check that this is the right file");
        return examples;
    }

    /// <summary>Recognises the format from the first bytes: eval magic, bzip2 "BZh", '{' for JSON lines, else the preprocessed text.</summary>
    public static (HellaSwagFormat Format, bool Bzip2) Detect(string path)
    {
        var head = new byte[4];
        int n;
        using (var fs = File.OpenRead(path)) n = fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (HellaSwagEvalFile.HasMagic(head.AsSpan(0, n))) return (HellaSwagFormat.EvalBin, false);
        bool bz2 = n >= 3 && head[0] == 'B' && head[1] == 'Z' && head[2] == 'h';
        int first = Bzip2Guard(path, bz2, () =>
        {
            using var reader = OpenText(path, bz2);
            int c;
            do c = reader.Read(); while (c >= 0 && char.IsWhiteSpace((char)c));
            return c;
        });
        return (first == '{' ? HellaSwagFormat.Jsonl : HellaSwagFormat.Preprocessed, bz2);
    }

    /// <summary>
    /// Runs <paramref name="read"/>; when the file is bzip2, any failure of the decompressor (a damaged stream throws
    /// whatever its decoder meets: bad CRCs, index errors, an early end) becomes one <see cref="DataFormatException"/>
    /// naming the file. Errors the parsers already phrased pass through unchanged.
    /// </summary>
    private static T Bzip2Guard<T>(string path, bool bzip2, Func<T> read)
    {
        try { return read(); }
        catch (Exception e) when (bzip2 && e is not (DataFormatException or OperationCanceledException or OutOfMemoryException or FileNotFoundException or UnauthorizedAccessException))
        {
            string what = e is EndOfStreamException || e.Message.Contains("end of stream", StringComparison.OrdinalIgnoreCase) ? "truncated" : "corrupt";
            throw new DataFormatException(path, $"the bzip2 data is {what} ({e.GetType().Name}: {e.Message})",
                "Delete it and download it again, or pass the .jsonl (llm-fetch hellaswag) or an eval .bin instead");
        }
    }

    private static TextReader OpenText(string path, bool bzip2)
    {
        Stream s = File.OpenRead(path);
        if (bzip2) s = new BZip2InputStream(s);
        return new StreamReader(s, new UTF8Encoding(false, throwOnInvalidBytes: false), detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
    }
}
