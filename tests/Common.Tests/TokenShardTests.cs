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
    public void Uint32_shard_has_data_common_py_llama3_header_and_reads_back_saying_which()
    {
        // dev/data/data_common.py write_datafile for "llama-3": magic 20240801, version 7, ids as uint32.
        string path = Path.Combine(_dir, "l_val_000000.bin");
        uint[] tokens = [100257, 0, 65535, 65536, 200_018, 42];
        TokenShard.Write(path, tokens);

        byte[] bytes = File.ReadAllBytes(path);
        bytes.Length.Should().Be(1024 + 4 * tokens.Length);
        BitConverter.ToInt32(bytes, 0).Should().Be(20240801);
        BitConverter.ToInt32(bytes, 4).Should().Be(7);
        BitConverter.ToInt32(bytes, 8).Should().Be(tokens.Length);
        bytes.AsSpan(12, 1012).ToArray().Should().OnlyContain(b => b == 0);
        BitConverter.ToUInt32(bytes, 1024 + 4 * 3).Should().Be(65536u);

        TokenShard.ReadInfo(path).Should().Be(new ShardInfo(ShardFormat.UInt32, tokens.Length));
        TokenShard.ReadHeader(path).Should().Be(tokens.Length);
        TokenShard.ReadIds(path).Should().Equal(tokens);
        var asUshort = () => TokenShard.ReadAll(path);
        asUshort.Should().Throw<DataFormatException>().WithMessage($"{path}: holds uint32 ids*");

        using var mapped = TokenShard.Open(path);
        mapped.Format.Should().Be(ShardFormat.UInt32);
        var window = new int[4];
        mapped.Read(2, window);
        window.Should().Equal(65535, 65536, 200_018, 42);
    }

    [Fact]
    public void Uint16_shard_reads_back_saying_which()
    {
        string path = Path.Combine(_dir, "g.bin");
        TokenShard.Write(path, new ushort[] { 50256, 7 });
        TokenShard.ReadInfo(path).Should().Be(new ShardInfo(ShardFormat.UInt16, 2));
        TokenShard.ReadIds(path).Should().Equal(50256u, 7u);
        using var mapped = TokenShard.Open(path);
        mapped.Format.Should().Be(ShardFormat.UInt16);
    }

    [Fact]
    public void Vocabulary_size_picks_the_width()
    {
        ShardFormat.ForVocabulary(50257).Should().Be(ShardFormat.UInt16);
        ShardFormat.ForVocabulary(65536).Should().Be(ShardFormat.UInt16, "ids 0..65535 all fit in uint16");
        ShardFormat.ForVocabulary(65537).Should().Be(ShardFormat.UInt32);
        ShardFormat.ForVocabulary(100277).Should().Be(ShardFormat.UInt32);
    }

    [Fact]
    public void Uint32_id_scan_finds_ids_beyond_uint16_and_names_the_byte_offset()
    {
        var tokens = Enumerable.Range(0, 10_001).Select(i => (uint)(i % 50257)).ToArray();
        tokens[9_999] = 100_000;
        string path = Path.Combine(_dir, "ids32.bin");
        TokenShard.Write(path, tokens);
        using var shard = TokenShard.Open(path);
        shard.IndexOfIdAtLeast(100_001).Should().Be(-1);
        shard.IndexOfIdAtLeast(70_000).Should().Be(9_999, "a uint32 shard can hold ids a uint16 one cannot");
        shard.CheckIds(100_277);
        var check = () => shard.CheckIds(50257);
        check.Should().Throw<DataFormatException>()
            .WithMessage($"{path}: token 9999 (byte offset {1024 + 4 * 9999}) is id 100000, but the model's vocabulary has 50257 ids*");
    }

    [Fact]
    public void Uint32_writer_streams_a_shard_with_the_uint32_header()
    {
        string path = Path.Combine(_dir, "w.bin");
        using (var w = new TokenShardWriter(path, ShardFormat.UInt32))
        {
            w.Write(new uint[] { 100257, 9906 });
            w.Write(new uint[] { 1917 });
            var wrongWidth = () => w.Write(new ushort[] { 1 });
            wrongWidth.Should().Throw<InvalidOperationException>();
            w.Commit();
        }
        TokenShard.ReadInfo(path).Format.Should().Be(ShardFormat.UInt32);
        TokenShard.ReadIds(path).Should().Equal(100257u, 9906u, 1917u);
    }

    [Fact]
    public void Uint32_shard_with_a_wrong_version_or_size_is_rejected_naming_the_file()
    {
        string path = Path.Combine(_dir, "v.bin");
        var header = TokenShard.Header(2, ShardFormat.UInt32);
        BitConverter.GetBytes(1).CopyTo(header, 4);
        File.WriteAllBytes(path, [.. header, .. new byte[8]]);
        var version = () => TokenShard.ReadHeader(path);
        version.Should().Throw<DataFormatException>().WithMessage($"{path}: unsupported uint32 shard version 1 (expected 7)*");

        // A uint32 header over a uint16-sized body: the size check uses the width.
        File.WriteAllBytes(path, [.. TokenShard.Header(2, ShardFormat.UInt32), .. new byte[4]]);
        var size = () => TokenShard.ReadHeader(path);
        size.Should().Throw<DataFormatException>().WithMessage($"{path}: file is 1028 bytes but its header promises 2 uint32 tokens (1032 bytes); the file is truncated*");
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
