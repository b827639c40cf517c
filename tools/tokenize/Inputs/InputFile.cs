using LlmNet.Common.Cli;

namespace LlmNet.Tools.Tokenize.Inputs;

/// <summary>The kinds of input the tokenizer reads, chosen by file extension.</summary>
public enum InputKind { Parquet, JsonLines, PlainText }

/// <summary>Opens an input file as a stream of documents, in file order.</summary>
public static class InputFile
{
    public const string AcceptedExtensions = ".parquet, .jsonl (.ndjson, .json) or .txt, the last two also as .gz or .zst";

    public static InputKind KindOf(string path)
    {
        if (InputStreams.IsStdin(path))
            throw new UsageException("INPUT -: shards are written from files only (a resumed run re-reads them); save standard input to a file, or use llm-tokenize encode");
        string ext = Path.GetExtension(InputStreams.ContentName(path)).ToLowerInvariant();
        var kind = ext switch
        {
            ".parquet" => InputKind.Parquet,
            ".jsonl" or ".ndjson" or ".json" => InputKind.JsonLines,
            ".txt" or ".text" => InputKind.PlainText,
            _ => throw new UsageException($"{path}: unknown input type '{ext}'; expected {AcceptedExtensions}"),
        };
        if (kind == InputKind.Parquet && InputStreams.CompressionOf(path).Length > 0)
            throw new UsageException($"{path}: parquet compresses inside the file; give the .parquet itself");
        return kind;
    }

    /// <summary>
    /// The documents of <paramref name="path"/> from <paramref name="start"/> on (index and byte
    /// offset of the first document wanted; default: the beginning).
    /// </summary>
    public static IAsyncEnumerable<Document> ReadAsync(string path, int inputIndex, string column, DocumentPosition start, CancellationToken ct)
    {
        if (!File.Exists(path))
            throw new Common.Formats.DataFormatException(path, Directory.Exists(path) ? "is a directory, not an input file" : "no such file", "Check the path");
        return KindOf(path) switch
        {
            InputKind.Parquet => ParquetInput.ReadAsync(path, inputIndex, column, start.Index, ct),
            InputKind.JsonLines => JsonLinesInput.ReadAsync(path, inputIndex, column, start.Index, start.ByteOffset, ct),
            _ => PlainTextInput.ReadAsync(path, inputIndex, start.Index, ct),
        };
    }
}
