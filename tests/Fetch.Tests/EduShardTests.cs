using FluentAssertions;
using LlmNet.Common.Formats;
using LlmNet.Tools.Fetch;
using Xunit;

namespace LlmNet.Fetch.Tests;

public sealed class EduShardTests : IDisposable
{
    private const string Repo = "karpathy/fineweb-edu-100B-gpt2-token-shards";
    private readonly FakeHub _hub = new();
    private readonly string _out = FetchRun.TempDir();

    public EduShardTests()
    {
        _hub.PageSize = 3;
        _hub.Add(Repo, "edu_fineweb_val_000000.bin", Shard(5000, 0));
        for (int i = 1; i <= 3; i++) _hub.Add(Repo, $"edu_fineweb_train_{i:D6}.bin", Shard(4000 + i, i));
        _hub.Add(Repo, ".gitattributes", "*.bin filter=lfs\n"u8.ToArray(), lfs: false);
    }

    public void Dispose()
    {
        _hub.Dispose();
        try { Directory.Delete(_out, recursive: true); } catch (IOException) { }
    }

    private static byte[] Shard(int tokens, int seed)
    {
        var rng = new Random(seed);
        var bytes = new List<byte>(TokenShard.Header(tokens));
        for (int i = 0; i < tokens; i++) { ushort t = (ushort)rng.Next(50257); bytes.Add((byte)t); bytes.Add((byte)(t >> 8)); }
        return [.. bytes];
    }

    [Fact]
    public void Fetches_the_val_shard_and_the_first_N_train_shards_with_valid_headers()
    {
        var r = FetchRun.Run(_hub, ["edu-fineweb-shards", "--shards", "2", "--out", _out]);

        r.ExitCode.Should().Be(0, r.Log);
        FetchRun.ListFiles(_out).Should().Equal("edu_fineweb_train_000001.bin", "edu_fineweb_train_000002.bin", "edu_fineweb_val_000000.bin");
        TokenShard.ReadHeader(Path.Combine(_out, "edu_fineweb_val_000000.bin")).Should().Be(5000);
        TokenShard.ReadHeader(Path.Combine(_out, "edu_fineweb_train_000002.bin")).Should().Be(4002);
    }

    [Fact]
    public void Asking_for_more_shards_than_the_repository_has_names_the_missing_one()
    {
        var r = FetchRun.Run(_hub, ["edu-fineweb-shards", "--shards", "5", "--out", _out]);

        r.ExitCode.Should().Be(1);
        r.Log.Should().Contain("edu_fineweb_train_000004.bin: not found in dataset karpathy/fineweb-edu-100B-gpt2-token-shards@main");
    }

    [Fact]
    public void A_shard_with_a_bad_header_is_rejected_even_when_its_checksum_matches_the_listing()
    {
        byte[] bad = Shard(4001, 1);
        bad[0] = 0x00; // wrong magic; the fake listing describes these very bytes
        _hub.Add(Repo, "edu_fineweb_train_000001.bin", bad);

        var r = FetchRun.Run(_hub, ["edu-fineweb-shards", "--shards", "1", "--out", _out]);

        r.ExitCode.Should().Be(1);
        r.Log.Should().Contain("edu_fineweb_train_000001.bin").And.Contain("bad magic");
        File.Exists(Path.Combine(_out, "edu_fineweb_train_000001.bin")).Should().BeFalse();
    }

    [Fact]
    public void The_shard_count_is_capped_at_1001()
    {
        FetchRun.Run(_hub, ["edu-fineweb-shards", "--shards", "1002", "--out", _out]).ExitCode.Should().Be(2);
        FetchRun.Run(_hub, ["edu-fineweb-shards", "--shards", "0", "--out", _out]).ExitCode.Should().Be(2);
        ShardDataset.EduFineWeb100B.Names(1001).Should().HaveCount(1002).And.EndWith("edu_fineweb_train_001001.bin");
    }
}
