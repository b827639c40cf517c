using LlmNet.Common.Formats;
using LlmNet.Common.Text;
using Parquet;
using Parquet.Schema;

namespace LlmNet.Tokenize.Tests;

/// <summary>A temporary directory removed after the test.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "llmnet-tokenize-" + Guid.NewGuid().ToString("N"));

    public string this[string name] => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Writes small parquet files with FineWeb-EDU's schema.</summary>
public static class FineWebParquet
{
    private static readonly DataField<string> Text = new("text"), Id = new("id"), Dump = new("dump"), Url = new("url"),
        Date = new("date"), FilePath = new("file_path"), Language = new("language");
    private static readonly DataField<double> LanguageScore = new("language_score"), Score = new("score");
    private static readonly DataField<long> TokenCount = new("token_count"), IntScore = new("int_score");

    public static readonly string[] Columns =
        ["text", "id", "dump", "url", "date", "file_path", "language", "language_score", "token_count", "score", "int_score"];

    /// <summary>Writes <paramref name="texts"/> as rows, <paramref name="rowGroupSize"/> rows per row group.</summary>
    public static void Write(string path, IReadOnlyList<string> texts, int rowGroupSize = 1000, bool withText = true)
    {
        var fields = new List<DataField> { Id, Dump, Url, Date, FilePath, Language, LanguageScore, TokenCount, Score, IntScore };
        if (withText) fields.Insert(0, Text);
        using var stream = File.Create(path);
        var writer = ParquetWriter.CreateAsync(new ParquetSchema(fields.ToArray()), stream).GetAwaiter().GetResult();
        for (int start = 0; start < texts.Count; start += rowGroupSize)
        {
            var rows = texts.Skip(start).Take(rowGroupSize).ToArray();
            int n = rows.Length;
            using var group = writer.CreateRowGroup();
            string[] Strings(Func<int, string> f) => Enumerable.Range(start, n).Select(f).ToArray();
            if (withText) group.WriteAsync(Text, rows).GetAwaiter().GetResult();
            group.WriteAsync(Id, Strings(i => $"<urn:uuid:{i:D8}-0000-0000-0000-000000000000>")).GetAwaiter().GetResult();
            group.WriteAsync(Dump, Strings(_ => "CC-MAIN-2024-10")).GetAwaiter().GetResult();
            group.WriteAsync(Url, Strings(i => $"http://example.com/{i}")).GetAwaiter().GetResult();
            group.WriteAsync(Date, Strings(_ => "2024-02-21T00:00:00Z")).GetAwaiter().GetResult();
            group.WriteAsync(FilePath, Strings(_ => "s3://commoncrawl/crawl-data/x.warc.gz")).GetAwaiter().GetResult();
            group.WriteAsync(Language, Strings(_ => "en")).GetAwaiter().GetResult();
            group.WriteAsync(LanguageScore, (ReadOnlyMemory<double>)Enumerable.Repeat(0.97, n).ToArray()).GetAwaiter().GetResult();
            group.WriteAsync(TokenCount, (ReadOnlyMemory<long>)rows.Select(r => (long)r.Length / 4).ToArray()).GetAwaiter().GetResult();
            group.WriteAsync(Score, (ReadOnlyMemory<double>)Enumerable.Repeat(3.2, n).ToArray()).GetAwaiter().GetResult();
            group.WriteAsync(IntScore, (ReadOnlyMemory<long>)Enumerable.Repeat(3L, n).ToArray()).GetAwaiter().GetResult();
        }
        writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}

/// <summary>
/// The shard layout of llm.c's dev/data/fineweb.py, written the plain way: one shard-sized buffer,
/// each document EOT + tokens, appended whole only while count + len &lt; shard size, else the buffer
/// is filled exactly, written, and the rest of the document starts the next buffer.
/// </summary>
public static class ReferenceLayout
{
    public static List<ushort[]> Shards(IEnumerable<string> documents, int shardSize) =>
        Shards(documents.Select(d => (int[])[Gpt2Tokenizer.EndOfText, .. Gpt2Tokenizer.Shared.Encode(d)]), shardSize);

    public static List<ushort[]> Shards(IEnumerable<int[]> documents, int shardSize)
    {
        var shards = new List<ushort[]>();
        var buffer = new ushort[shardSize];
        int count = 0;
        foreach (var tokens in documents)
        {
            if (count + tokens.Length < shardSize)
            {
                for (int i = 0; i < tokens.Length; i++) buffer[count + i] = checked((ushort)tokens[i]);
                count += tokens.Length;
            }
            else
            {
                int remainder = shardSize - count;
                for (int i = 0; i < remainder; i++) buffer[count + i] = checked((ushort)tokens[i]);
                shards.Add((ushort[])buffer.Clone());
                for (int i = remainder; i < tokens.Length; i++) buffer[i - remainder] = checked((ushort)tokens[i]);
                count = tokens.Length - remainder;
            }
        }
        if (count != 0) shards.Add(buffer[..count]);
        return shards;
    }

    public static string Name(string prefix, int index) => $"{prefix}_{(index == 0 ? "val" : "train")}_{index:D6}.bin";

    /// <summary>Asserts that <paramref name="dir"/> holds exactly these shards under these names, byte for byte.</summary>
    public static void AssertShards(string dir, string prefix, IReadOnlyList<ushort[]> expected)
    {
        var files = Directory.GetFiles(dir, "*.bin").Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToList();
        var names = Enumerable.Range(0, expected.Count).Select(i => Name(prefix, i)).Order(StringComparer.Ordinal).ToList();
        Xunit.Assert.Equal(names, files);
        for (int i = 0; i < expected.Count; i++)
        {
            string path = Path.Combine(dir, Name(prefix, i));
            var bytes = File.ReadAllBytes(path);
            var header = TokenShard.Header(expected[i].Length);
            Xunit.Assert.Equal(header, bytes[..TokenShard.HeaderBytes]);
            Xunit.Assert.Equal(expected[i], TokenShard.ReadAll(path));
        }
    }
}
