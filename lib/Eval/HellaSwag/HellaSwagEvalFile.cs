using System.Buffers.Binary;
using LlmNet.Common.Formats;
using LlmNet.Common.IO;

namespace LlmNet.Eval.HellaSwag;

/// <summary>
/// llm.c's HellaSwag eval file (dev/data/hellaswag.py write_evalfile): a 256 × int32 header
/// [magic 20240522, version 1, num_examples, longest_example_bytes] followed by one uint16 record
/// per example: 65535, example_bytes, index, label, 4, ctx_len, ctx…, then 4 × (end_len, end…).
/// </summary>
public static class HellaSwagEvalFile
{
    public const int Magic = 20240522;
    public const int Version = 1;
    public const int HeaderInts = 256;
    public const int HeaderBytes = HeaderInts * sizeof(int);
    public const ushort StartExample = 65535;
    /// <summary>Fixed uint16 fields of a record before the context tokens: start, bytes, index, label, num_completions, ctx_len.</summary>
    private const int RecordFixedFields = 6;

    /// <summary>Bytes of one example's record, the value stored in its example_bytes field.</summary>
    public static int RecordBytes(HellaSwagExample example) =>
        2 * (RecordFixedFields + example.Context.Length + example.Endings.Sum(e => 1 + e.Length));

    /// <summary>Writes <paramref name="examples"/> to <paramref name="path"/> atomically; record indexes are their positions.</summary>
    public static void Write(string path, IReadOnlyList<HellaSwagExample> examples)
    {
        if (examples.Count == 0) throw new ArgumentException("no examples to write", nameof(examples));
        if (examples.Count >= 65536) throw new ArgumentException($"{examples.Count} examples do not fit: the index field is uint16 (at most 65,535)", nameof(examples));
        byte[] data = Encode(examples);
        AtomicFile.Write(path, s => s.Write(data));
    }

    /// <summary>The complete file contents for <paramref name="examples"/>.</summary>
    public static byte[] Encode(IReadOnlyList<HellaSwagExample> examples)
    {
        int longest = 0, streamBytes = 0;
        for (int i = 0; i < examples.Count; i++)
        {
            var ex = examples[i];
            ex.Validate();
            int bytes = RecordBytes(ex);
            if (bytes >= 65536) throw new ArgumentException($"example {i} takes {bytes} bytes; a record must be under 65,536 bytes");
            foreach (int t in ex.Context.Concat(ex.Endings.SelectMany(e => e)))
                if ((uint)t >= StartExample) throw new ArgumentException($"example {i} holds token {t}; tokens must be 0..65534");
            longest = Math.Max(longest, bytes);
            streamBytes += bytes;
        }

        var data = new byte[HeaderBytes + streamBytes];
        var header = data.AsSpan(0, HeaderBytes);
        BinaryPrimitives.WriteInt32LittleEndian(header, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(header[4..], Version);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], examples.Count);
        BinaryPrimitives.WriteInt32LittleEndian(header[12..], longest);

        int pos = HeaderBytes;
        void Put(int value) { BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(pos), (ushort)value); pos += 2; }
        for (int i = 0; i < examples.Count; i++)
        {
            var ex = examples[i];
            Put(StartExample);
            Put(RecordBytes(ex));
            Put(i);
            Put(ex.Label);
            Put(ex.Endings.Length);
            Put(ex.Context.Length);
            foreach (int t in ex.Context) Put(t);
            foreach (var ending in ex.Endings)
            {
                Put(ending.Length);
                foreach (int t in ending) Put(t);
            }
        }
        return data;
    }

    /// <summary>True when the file starts with the eval-file magic number.</summary>
    public static bool HasMagic(ReadOnlySpan<byte> start) =>
        start.Length >= 4 && BinaryPrimitives.ReadInt32LittleEndian(start) == Magic;

    /// <summary>Reads and checks the whole file; at most <paramref name="limit"/> examples are returned.</summary>
    public static List<HellaSwagExample> Read(string path, int? limit = null)
    {
        byte[] data;
        try { data = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { throw new DataFormatException(path, "file not found", "Create it with: llm-tokenize hellaswag hellaswag_val.jsonl --out FILE.bin"); }
        return Decode(path, data, limit);
    }

    /// <summary>Parses file contents (<paramref name="path"/> names the file in errors).</summary>
    public static List<HellaSwagExample> Decode(string path, byte[] data, int? limit = null)
    {
        const string Rebuild = "Rebuild it with: llm-tokenize hellaswag hellaswag_val.jsonl --out FILE.bin";
        if (data.Length < HeaderBytes)
            throw new DataFormatException(path, $"file is {data.Length} bytes, shorter than the {HeaderBytes}-byte header (truncated or not a HellaSwag eval file)", Rebuild);
        int magic = BinaryPrimitives.ReadInt32LittleEndian(data);
        if (magic != Magic)
            throw new DataFormatException(path, $"bad magic {magic}, expected {Magic} (not a HellaSwag eval .bin; token shards and model files have other magics)", Rebuild);
        int version = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(4));
        if (version != Version)
            throw new DataFormatException(path, $"unsupported version {version}, expected {Version}", Rebuild);
        int count = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(8));
        if (count <= 0 || count >= 65536)
            throw new DataFormatException(path, $"header says {count} examples, expected 1..65535", Rebuild);
        int longestHeader = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(12));
        if (longestHeader <= 0 || longestHeader >= 65536)
            throw new DataFormatException(path, $"header says the longest example is {longestHeader} bytes, expected 1..65535", Rebuild);

        int take = limit is { } l ? Math.Min(l, count) : count;
        var examples = new List<HellaSwagExample>(take);
        int streamLength = data.Length - HeaderBytes;
        if (streamLength % 2 != 0)
            throw new DataFormatException(path, $"the record stream has an odd length ({streamLength} bytes); the file is truncated or damaged", Rebuild);
        int pos = 0, longest = 0;
        for (int i = 0; i < count; i++)
        {
            int start = pos;
            string where = $"example {i} (byte offset {HeaderBytes + start})";
            ushort Next(string field)
            {
                if (pos + 2 > streamLength)
                    throw new DataFormatException(path, $"{where}: file ends inside the {field} field (header promised {count} examples)", Rebuild);
                ushort v = BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(HeaderBytes + pos));
                pos += 2;
                return v;
            }
            if (Next("START_EXAMPLE") != StartExample)
                throw new DataFormatException(path, $"{where}: missing the START_EXAMPLE marker 65535; records are misaligned", Rebuild);
            int exampleBytes = Next("example_bytes");
            int index = Next("example_index");
            if (index != i) throw new DataFormatException(path, $"{where}: record says index {index}, expected {i}", Rebuild);
            int label = Next("label");
            int completions = Next("num_completions");
            if (completions != HellaSwagExample.NumEndings)
                throw new DataFormatException(path, $"{where}: {completions} completions, expected {HellaSwagExample.NumEndings}", Rebuild);
            if (label >= completions) throw new DataFormatException(path, $"{where}: label {label}, expected 0..{completions - 1}", Rebuild);
            int ctxLen = Next("ctx_len");
            if (ctxLen == 0) throw new DataFormatException(path, $"{where}: empty context", Rebuild);
            var ctx = new int[ctxLen];
            for (int k = 0; k < ctxLen; k++) ctx[k] = Next("context token");
            var endings = new int[completions][];
            for (int c = 0; c < completions; c++)
            {
                int len = Next($"ending {c} length");
                endings[c] = new int[len];
                for (int k = 0; k < len; k++) endings[c][k] = Next($"ending {c} token");
            }
            if (pos - start != exampleBytes)
                throw new DataFormatException(path, $"{where}: example_bytes says {exampleBytes} but the record holds {pos - start} bytes", Rebuild);
            longest = Math.Max(longest, exampleBytes);
            if (i < take) examples.Add(new HellaSwagExample(i, label, ctx, endings));
        }
        if (pos != streamLength)
            throw new DataFormatException(path, $"{streamLength - pos} bytes follow the last of the {count} examples the header promises", Rebuild);
        if (longest != longestHeader)
            throw new DataFormatException(path, $"header says the longest example is {longestHeader} bytes but the longest record is {longest} bytes", Rebuild);
        return examples;
    }

    /// <summary>
    /// Converts any HellaSwag source (official .jsonl, preprocessed .txt/.txt.bz2, or an eval .bin)
    /// to llm.c's eval .bin at <paramref name="outputPath"/>; returns the number of examples written.
    /// </summary>
    public static int Convert(string inputPath, string outputPath, int? limit = null)
    {
        var examples = HellaSwagData.Load(inputPath, limit);
        try { Write(outputPath, examples); }
        catch (ArgumentException e) { throw new DataFormatException(inputPath, e.Message, "llm.c's eval format cannot hold this example"); }
        return examples.Count;
    }
}
