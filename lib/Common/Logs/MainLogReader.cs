using System.Globalization;
using System.Text;
using LlmNet.Common.Formats;

namespace LlmNet.Common.Logs;

/// <summary>
/// Reads llm.c's main.log (written by llmc/logger.h, read by dev/vislog.ipynb): one record per line,
/// <c>s:STEP KEY:VALUE ...</c>, where the first KEY names the curve (<c>trl</c> train loss with <c>lr</c> and
/// <c>norm</c>, <c>tel</c> val loss, <c>eval</c> HellaSwag accuracy). Malformed lines become <see cref="LogIssue"/>s
/// and are skipped.
/// </summary>
public static class MainLogReader
{
    /// <summary>
    /// Reads <paramref name="path"/> while another process may still be appending to it.
    /// With <paramref name="holdBackPartialLine"/>, a last line without its newline is left out
    /// silently (it is still being written); otherwise it is read like any other line.
    /// </summary>
    public static MainLog Read(string path, bool holdBackPartialLine = false)
    {
        string text;
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            RejectBinary(fs, path);
            using var reader = new StreamReader(fs, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            text = reader.ReadToEnd();
        }
        catch (FileNotFoundException)
        {
            throw new IOException($"{path}: no such file. pass the main.log written by llm-train -o DIR (or DIR itself)");
        }
        catch (DirectoryNotFoundException)
        {
            throw new IOException($"{path}: no such file or folder. pass the main.log written by llm-train -o DIR (or DIR itself)");
        }
        catch (UnauthorizedAccessException)
        {
            throw new IOException($"{path}: permission denied. make the file readable");
        }
        return Parse(text, path, holdBackPartialLine);
    }

    /// <summary>
    /// A text log never holds NUL bytes; a model checkpoint or token shard passed by mistake does, and would
    /// otherwise be read whole into memory only to yield millions of malformed lines.
    /// </summary>
    private static void RejectBinary(FileStream fs, string path)
    {
        Span<byte> head = stackalloc byte[4096];
        int n = fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (head[..n].Contains((byte)0))
            throw new DataFormatException(path, "holds binary data (NUL bytes), so it is not a main.log", "pass the main.log in the run's -o folder");
        fs.Position = 0;
    }

    /// <summary>Parses the whole text of a main.log; <paramref name="path"/> only names it in issues.</summary>
    public static MainLog Parse(string text, string path, bool holdBackPartialLine = false)
    {
        var log = new MainLog(path);
        int lineNumber = 0, start = 0;
        while (start < text.Length)
        {
            int end = text.IndexOf('\n', start);
            bool terminated = end >= 0;
            if (!terminated)
            {
                if (holdBackPartialLine) break;
                end = text.Length;
            }
            lineNumber++;
            ParseLine(text.AsSpan(start, end - start), log, lineNumber);
            start = end + 1;
        }
        return log;
    }

    private static void ParseLine(ReadOnlySpan<char> line, MainLog log, int lineNumber)
    {
        line = line.TrimEnd('\r');
        if (line.IsWhiteSpace()) return;

        Span<Range> tokens = stackalloc Range[8];
        int count = line.Split(tokens, ' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (count < 2) { Report(log, lineNumber, line, "expected 's:STEP KEY:VALUE'"); return; }

        if (!TrySplitField(line[tokens[0]], out var key, out var value) || !key.SequenceEqual("s")
            || !int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int step))
        {
            Report(log, lineNumber, line, "does not start with a step 's:N'");
            return;
        }

        if (!TrySplitField(line[tokens[1]], out var kind, out var kindValue) || !TryParseValue(kindValue, out float v))
        {
            Report(log, lineNumber, line, "second field is not KEY:NUMBER");
            return;
        }

        switch (kind)
        {
            case "trl":
                float? lr = null, norm = null;
                for (int i = 2; i < count; i++)
                {
                    if (!TrySplitField(line[tokens[i]], out var k, out var fv)) continue;
                    if (!TryParseValue(fv, out float x)) { Report(log, lineNumber, line, $"'{k}' is not a number"); return; }
                    if (k.SequenceEqual("lr")) lr = x;
                    else if (k.SequenceEqual("norm")) norm = x;
                }
                log.Train[step] = new TrainRecord(v, lr, norm);
                break;
            case "tel":
                log.Val[step] = v;
                break;
            case "eval":
                log.HellaSwag[step] = v;
                break;
            default:
                Report(log, lineNumber, line, $"unknown record '{kind}' (expected trl, tel or eval)");
                break;
        }
    }

    private static bool TrySplitField(ReadOnlySpan<char> token, out ReadOnlySpan<char> key, out ReadOnlySpan<char> value)
    {
        int colon = token.IndexOf(':');
        key = colon > 0 ? token[..colon] : default;
        value = colon > 0 ? token[(colon + 1)..] : default;
        return colon > 0 && value.Length > 0;
    }

    /// <summary>Parses a printf %f value, including C's spellings of NaN and infinity ("nan", "-nan", "inf").</summary>
    private static bool TryParseValue(ReadOnlySpan<char> s, out float value)
    {
        if (float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out value)) return true;
        var body = s.TrimStart("+-");
        bool negative = s.Length > 0 && s[0] == '-';
        if (body.Equals("nan", StringComparison.OrdinalIgnoreCase)) { value = float.NaN; return true; }
        if (body.Equals("inf", StringComparison.OrdinalIgnoreCase) || body.Equals("infinity", StringComparison.OrdinalIgnoreCase))
        {
            value = negative ? float.NegativeInfinity : float.PositiveInfinity;
            return true;
        }
        return false;
    }

    private static void Report(MainLog log, int lineNumber, ReadOnlySpan<char> line, string problem)
    {
        const int MaxShown = 60;
        string shown = line.Length > MaxShown ? string.Concat(line[..MaxShown], "...") : line.ToString();
        log.Issues.Add(new LogIssue(log.Path, lineNumber, $"{problem}: \"{shown}\""));
    }
}
