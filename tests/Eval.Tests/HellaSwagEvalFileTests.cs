using System.Buffers.Binary;
using FluentAssertions;
using LlmNet.Common.Formats;
using LlmNet.Eval.HellaSwag;
using Xunit;

namespace LlmNet.Eval.Tests;

public sealed class HellaSwagEvalFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmnet-eval-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly HellaSwagExample Small = new(0, 2, [10, 11, 12], [[20], [30, 31], [40, 41, 42], [50]]);

    [Fact]
    public void Write_then_read_round_trips()
    {
        var examples = TestExamples.Make(50);
        string path = Path.Combine(_dir, "hs.bin");
        HellaSwagEvalFile.Write(path, examples);
        var back = HellaSwagEvalFile.Read(path);
        back.Should().HaveCount(50);
        for (int i = 0; i < examples.Count; i++)
        {
            back[i].Index.Should().Be(i);
            back[i].Label.Should().Be(examples[i].Label);
            back[i].Context.Should().Equal(examples[i].Context);
            for (int c = 0; c < 4; c++) back[i].Endings[c].Should().Equal(examples[i].Endings[c]);
        }
        HellaSwagEvalFile.Read(path, limit: 7).Should().HaveCount(7);
        Directory.GetFiles(_dir).Should().ContainSingle("the temporary file is renamed, not left behind");
    }

    [Fact]
    public void Byte_layout_matches_llmc()
    {
        var second = Small with { Index = 1, Label = 0, Context = [7] };
        byte[] data = HellaSwagEvalFile.Encode([Small, second]);
        int Header(int i) => BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(4 * i));
        Header(0).Should().Be(20240522);
        Header(1).Should().Be(1);
        Header(2).Should().Be(2);
        // Record 0: 6 fixed fields + 3 context + 4 lengths + 7 ending tokens = 20 uint16 = 40 bytes.
        Header(3).Should().Be(40);
        for (int i = 4; i < 256; i++) Header(i).Should().Be(0);
        var stream = Enumerable.Range(0, (data.Length - 1024) / 2)
            .Select(k => (int)BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(1024 + 2 * k))).ToArray();
        stream.Should().Equal(
            65535, 40, 0, 2, 4, 3, 10, 11, 12, 1, 20, 2, 30, 31, 3, 40, 41, 42, 1, 50,
            65535, 36, 1, 0, 4, 1, 7, 1, 20, 2, 30, 31, 3, 40, 41, 42, 1, 50);
    }

    private string WriteRaw(byte[] data)
    {
        string path = Path.Combine(_dir, $"bad-{Guid.NewGuid():N}.bin");
        File.WriteAllBytes(path, data);
        return path;
    }

    private static byte[] Valid() => HellaSwagEvalFile.Encode([Small, Small with { Index = 1 }]);

    private static void Poke16(byte[] data, int field, int value) =>
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(1024 + 2 * field), (ushort)value);

    public static TheoryData<string, string> Corruptions() => new()
    {
        { "magic", "bad magic 20240520" },
        { "version", "unsupported version 2" },
        { "count", "header says 0 examples" },
        { "longest", "longest example is 38 bytes but the longest record is 40" },
        { "start", "example 1 (byte offset 1064): missing the START_EXAMPLE" },
        { "bytes", "example 0 (byte offset 1024): example_bytes says 42" },
        { "index", "example 1 (byte offset 1064): record says index 0, expected 1" },
        { "label", "example 0 (byte offset 1024): label 4, expected 0..3" },
        { "completions", "example 0 (byte offset 1024): 3 completions, expected 4" },
        { "truncated", "example 1 (byte offset 1064): file ends inside" },
        { "trailing", "2 bytes follow the last of the 2 examples" },
        { "short", "shorter than the 1024-byte header" },
    };

    [Theory]
    [MemberData(nameof(Corruptions))]
    public void Damaged_files_are_rejected_naming_file_and_example(string damage, string message)
    {
        byte[] data = Valid();
        switch (damage)
        {
            case "magic": BinaryPrimitives.WriteInt32LittleEndian(data, 20240520); break;
            case "version": BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(4), 2); break;
            case "count": BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(8), 0); break;
            case "longest": BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(12), 38); break;
            case "start": Poke16(data, 20, 65534); break;
            case "bytes": Poke16(data, 1, 42); break;
            case "index": Poke16(data, 22, 0); break;
            case "label": Poke16(data, 3, 4); break;
            case "completions": Poke16(data, 4, 3); break;
            case "truncated": data = data[..^4]; break;
            case "trailing": data = [.. data, 0, 0]; break;
            case "short": data = data[..100]; break;
        }
        string path = WriteRaw(data);
        var act = () => HellaSwagEvalFile.Read(path);
        act.Should().Throw<DataFormatException>()
            .Where(e => e.Message.StartsWith(path) && e.Message.Contains(message) && e.Message.Contains("llm-tokenize hellaswag"),
                $"the message should name the file and say '{message}'");
    }

    [Fact]
    public void Writer_refuses_what_the_format_cannot_hold()
    {
        string path = Path.Combine(_dir, "x.bin");
        ((Action)(() => HellaSwagEvalFile.Write(path, [Small with { Endings = [[1], [2], [3]] }]))).Should().Throw<ArgumentException>().WithMessage("*3 endings*");
        ((Action)(() => HellaSwagEvalFile.Write(path, [Small with { Context = [65535] }]))).Should().Throw<ArgumentException>().WithMessage("*token 65535*");
        ((Action)(() => HellaSwagEvalFile.Write(path, [Small with { Context = new int[33000] }]))).Should().Throw<ArgumentException>().WithMessage("*65,536 bytes*");
        File.Exists(path).Should().BeFalse();
    }

    [Fact]
    public void Load_recognises_the_bin_by_its_magic_whatever_the_name()
    {
        string path = Path.Combine(_dir, "eval.data");
        HellaSwagEvalFile.Write(path, [Small]);
        HellaSwagData.Detect(path).Format.Should().Be(HellaSwagFormat.EvalBin);
        HellaSwagData.Load(path).Single().Endings[2].Should().Equal(40, 41, 42);
    }
}
