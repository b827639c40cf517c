using System.Runtime.CompilerServices;
using LlmNet.Common.Formats;
using Parquet;
using Parquet.Schema;

namespace LlmNet.Tools.Tokenize.Inputs;

/// <summary>
/// Parquet files such as FineWeb-EDU's: the document text is a string column ("text" by default).
/// Row groups are read one at a time, and only the text column of each, so memory stays at one
/// row group's text however large the file.
/// </summary>
public static class ParquetInput
{
    public static async IAsyncEnumerable<Document> ReadAsync(string path, int inputIndex, string column, long startIndex,
        [EnumeratorCancellation] CancellationToken ct)
    {
        long fileBytes = new FileInfo(path).Length;
        if (fileBytes == 0) throw new DataFormatException(path, "is empty (0 bytes), not a parquet file", "Re-download or re-create it");
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: false);
        await using var reader = await Guard(path, () => ParquetReader.CreateAsync(stream, cancellationToken: ct));
        var field = FindColumn(path, reader, column);

        long[] rowCounts = await Guard(path, () => Task.FromResult(Enumerable.Range(0, reader.RowGroupCount)
            .Select(g => { using var rg = reader.OpenRowGroupReader(g); return rg.RowCount; }).ToArray()));
        long totalRows = rowCounts.Sum();
        if (totalRows == 0) throw new DataFormatException(path, "holds no rows", "Remove it from the inputs");

        long firstRow = 0;
        for (int g = 0; g < rowCounts.Length; g++)
        {
            long groupEnd = firstRow + rowCounts[g];
            if (groupEnd > startIndex)
            {
                string?[] texts = await Guard(path, () => ReadColumnAsync(reader, g, field, (int)rowCounts[g], ct));
                for (long row = Math.Max(startIndex, firstRow); row < groupEnd; row++)
                {
                    ct.ThrowIfCancellationRequested();
                    // A missing (null) text is an empty document: just its EOT.
                    yield return new Document(texts[row - firstRow] ?? "", new DocumentPosition(inputIndex, row, 0),
                        (long)(fileBytes * ((double)(row + 1) / totalRows)));
                }
            }
            firstRow = groupEnd;
        }
    }

    private static DataField FindColumn(string path, ParquetReader reader, string column)
    {
        var field = reader.Schema.Fields.OfType<DataField>().FirstOrDefault(f => f.Name == column);
        if (field is null)
            throw new DataFormatException(path, $"has no column \"{column}\" (columns: {string.Join(", ", reader.Schema.Fields.Select(f => f.Name))})",
                "Pick the text column with --column NAME");
        // Parquet.Net reports UTF-8 string columns as string or as ReadOnlyMemory<char>; both read as strings.
        if (field.ClrType != typeof(string) && field.ClrType != typeof(ReadOnlyMemory<char>))
            throw new DataFormatException(path, $"column \"{column}\" holds {field.ClrType} values, not text", "Pick the text column with --column NAME");
        return field;
    }

    private static async Task<string?[]> ReadColumnAsync(ParquetReader reader, int group, DataField field, int rows, CancellationToken ct)
    {
        using var rg = reader.OpenRowGroupReader(group);
        var values = new string?[rows];
        await rg.ReadAsync(field, values.AsMemory(), null, ct);
        return values;
    }

    /// <summary>Runs a parquet read, turning the library's failures on a damaged file into one clear error naming it.</summary>
    private static async Task<T> Guard<T>(string path, Func<Task<T>> read)
    {
        try { return await read(); }
        catch (Exception e) when (e is not OperationCanceledException and not DataFormatException)
        {
            throw new DataFormatException(path, $"is not a readable parquet file ({e.GetType().Name}: {e.Message.Trim().TrimEnd('.')})",
                "It may be truncated or corrupt; re-download or re-create it");
        }
    }
}
