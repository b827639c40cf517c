using System.Runtime.CompilerServices;
using System.Text.Json;
using LlmNet.Common.Formats;

namespace LlmNet.Tools.Tokenize.Inputs;

/// <summary>
/// JSON Lines (or its .gz/.zst): one JSON object per line, the document text in a string field ("text" by default).
/// Blank lines are skipped. Each document remembers the byte offset of its line, so a resumed run
/// seeks straight to it.
/// </summary>
public static class JsonLinesInput
{
    public static async IAsyncEnumerable<Document> ReadAsync(string path, int inputIndex, string field, long startIndex, long startOffset,
        [EnumeratorCancellation] CancellationToken ct)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: false);
        long length = file.Length;
        if (length == 0) throw new DataFormatException(path, "is empty: a JSON Lines input must hold at least one document", "Remove it from the inputs");
        bool compressed = InputStreams.CompressionOf(path).Length > 0;
        // Offsets count the JSON Lines bytes: a compressed input is decompressed from its start and read past them.
        await using var stream = InputStreams.Decompress(path, file);
        if (!compressed)
        {
            if (startOffset > length) throw new DataFormatException(path, $"is shorter ({length} bytes) than when tokenizing started", "The input changed; re-run with --restart");
            stream.Position = startOffset;
        }
        else if (startOffset > 0)
        {
            byte[] skip = new byte[1 << 16];
            for (long left = startOffset; left > 0;)
            {
                int read = InputStreams.Guard(path, () => stream.Read(skip, 0, (int)Math.Min(skip.Length, left)));
                if (read == 0) throw new DataFormatException(path, $"holds fewer than the {startOffset} bytes read when tokenizing started", "The input changed; re-run with --restart");
                left -= read;
            }
        }

        var lines = new LineReader(path, stream, startOffset);
        long index = startIndex;
        long lineNumber = 0;
        while (lines.Next(out var line, out long lineOffset))
        {
            ct.ThrowIfCancellationRequested();
            lineNumber++;
            // A byte-order mark may precede the first line (files saved by some Windows editors).
            if (lineOffset == 0 && line.Span.StartsWith("\uFEFF"u8)) line = line[3..];
            if (IsBlank(line.Span)) continue;
            string text = ParseText(path, line, field, startOffset == 0 ? lineNumber.ToString() : $"at byte {lineOffset}");
            // Progress counts bytes of the file as stored (compressed bytes read, for a compressed input).
            yield return new Document(text, new DocumentPosition(inputIndex, index++, lineOffset), compressed ? file.Position : lines.Offset);
        }
        if (index == 0) throw new DataFormatException(path, "holds no documents (only blank lines)", "Remove it from the inputs");
    }

    private static bool IsBlank(ReadOnlySpan<byte> line)
    {
        foreach (byte b in line) if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r')) return false;
        return true;
    }

    private static string ParseText(string path, ReadOnlyMemory<byte> line, string field, string where)
    {
        try
        {
            using var json = JsonDocument.Parse(line);
            if (json.RootElement.ValueKind != JsonValueKind.Object)
                throw new DataFormatException(path, $"line {where} is a JSON {json.RootElement.ValueKind}, not an object", "Each line must be an object with a \"" + field + "\" string");
            if (!json.RootElement.TryGetProperty(field, out var value))
            {
                var names = json.RootElement.EnumerateObject().Select(p => p.Name).ToList();
                throw new DataFormatException(path, $"line {where} has no field \"{field}\" (fields: {(names.Count == 0 ? "none" : string.Join(", ", names))})",
                    "Pick the text field with --column NAME");
            }
            return value.ValueKind switch
            {
                JsonValueKind.String => value.GetString()!,
                JsonValueKind.Null => "",
                _ => throw new DataFormatException(path, $"line {where}: field \"{field}\" is a JSON {value.ValueKind}, not a string", "Pick the text field with --column NAME"),
            };
        }
        catch (JsonException e)
        {
            throw new DataFormatException(path, $"line {where} is not valid JSON ({e.Message})", "Fix or remove the line (a truncated file? re-create it)");
        }
    }

    /// <summary>Splits a stream into lines of bytes (without the '\n'), tracking each line's byte offset.</summary>
    private sealed class LineReader(string path, Stream stream, long offset)
    {
        private byte[] _buffer = new byte[1 << 20];
        private int _start, _end;
        private bool _eof;

        /// <summary>Byte offset just past the last line returned.</summary>
        public long Offset { get; private set; } = offset;

        public bool Next(out ReadOnlyMemory<byte> line, out long lineOffset)
        {
            int searchFrom = _start;
            while (true)
            {
                int nl = Array.IndexOf(_buffer, (byte)'\n', searchFrom, _end - searchFrom);
                if (nl >= 0)
                {
                    line = _buffer.AsMemory(_start, nl - _start);
                    lineOffset = Offset;
                    Offset += nl + 1 - _start;
                    _start = nl + 1;
                    return true;
                }
                if (_eof)
                {
                    if (_start == _end) { line = default; lineOffset = Offset; return false; }
                    line = _buffer.AsMemory(_start, _end - _start);
                    lineOffset = Offset;
                    Offset += _end - _start;
                    _start = _end;
                    return true;
                }
                searchFrom = Fill() ;
            }
        }

        /// <summary>Reads more bytes; returns where the search for '\n' continues.</summary>
        private int Fill()
        {
            int pending = _end - _start;
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, pending);
                _start = 0;
                _end = pending;
            }
            if (_end == _buffer.Length) Array.Resize(ref _buffer, _buffer.Length * 2);
            int read = InputStreams.Guard(path, () => stream.Read(_buffer, _end, _buffer.Length - _end));
            if (read == 0) _eof = true;
            int searchFrom = _end;
            _end += read;
            return searchFrom;
        }
    }
}
