using FluentAssertions;
using LlmNet.Common.Formats;
using Xunit;

namespace LlmNet.Common.Tests;

public sealed class TokenShardTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmnet-shard-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Write_then_read_round_trips_with_llmc_header_layout()
    {
        string path = Path.Combine(_dir, "x_val_000000.bin");
        ushort[] tokens = [50256, 1, 2, 65535, 42];
        TokenShard.Write(path, tokens);

        byte[] bytes = File.ReadAllBytes(path);
        bytes.Length.Should().Be(1024 + 2 * tokens.Length);
        BitConverter.ToInt32(bytes, 0).Should().Be(20240520);
        BitConverter.ToInt32(bytes, 4).Should().Be(1);
        BitConverter.ToInt32(bytes, 8).Should().Be(tokens.Length);
        bytes.AsSpan(12, 1012).ToArray().Should().OnlyContain(b => b == 0);
        TokenShard.ReadAll(path).Should().Equal(tokens);

        using var mapped = TokenShard.Open(path);
        var window = new int[3];
        mapped.Read(2, window);
        window.Should().Equal(2, 65535, 42);
    }

    [Fact]
    public void Id_scan_finds_the_first_id_at_or_above_the_vocabulary_anywhere_in_the_shard()
    {
        // Long enough for the vectorised path and a scalar tail (an odd count).
        var tokens = Enumerable.Range(0, 10_001).Select(i => (ushort)(i % 50257)).ToArray();
        string path = Path.Combine(_dir, "ids.bin");
        TokenShard.Write(path, tokens);
        using (var shard = TokenShard.Open(path))
        {
            shard.IndexOfIdAtLeast(50257).Should().Be(-1);
            shard.IndexOfIdAtLeast(10_000).Should().Be(10_000, "the last token, in the tail");
            shard.IndexOfIdAtLeast(70_000).Should().Be(-1, "no uint16 id reaches a vocabulary above 65535");
            shard.CheckIds(50257);
            var check = () => shard.CheckIds(9_000);
            check.Should().Throw<DataFormatException>().WithMessage($"{path}: token 9000 (byte offset {1024 + 2 * 9000}) is id 9000, but the model's vocabulary has 9000 ids*");
        }
        tokens[17] = 65535;
        TokenShard.Write(path, tokens);
        using (var shard = TokenShard.Open(path)) shard.IndexOfIdAtLeast(50257).Should().Be(17);
    }

    [Fact]
    public void Truncated_shard_is_rejected_naming_the_file()
    {
        string path = Path.Combine(_dir, "t.bin");
        TokenShard.Write(path, new ushort[100]);
        using (var fs = new FileStream(path, FileMode.Open)) fs.SetLength(1024 + 150);
        var act = () => TokenShard.ReadHeader(path);
        act.Should().Throw<DataFormatException>().WithMessage($"*{path}*truncated*");
    }

    [Fact]
    public void Wrong_magic_is_rejected_naming_the_file()
    {
        string path = Path.Combine(_dir, "m.bin");
        var header = TokenShard.Header(1);
        BitConverter.GetBytes(12345).CopyTo(header, 0);
        File.WriteAllBytes(path, [.. header, 0, 0]);
        var act = () => TokenShard.ReadHeader(path);
        act.Should().Throw<DataFormatException>().WithMessage($"*{path}*bad magic 12345*");
    }

    [Fact]
    public void Failed_write_leaves_no_file_behind()
    {
        string path = Path.Combine(_dir, "f.bin");
        var act = () => LlmNet.Common.IO.AtomicFile.Write(path, s => { s.WriteByte(1); throw new IOException("disk full"); });
        act.Should().Throw<IOException>();
        Directory.GetFiles(_dir).Should().BeEmpty();
    }
}
