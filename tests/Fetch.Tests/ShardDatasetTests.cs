using FluentAssertions;
using LlmNet.Common.Formats;
using LlmNet.Tools.Fetch;
using Xunit;

namespace LlmNet.Fetch.Tests;

/// <summary>
/// The two pre-tokenized shard repositories llm.c's download scripts use, each with its own shard count:
/// dev/data/edu_fineweb.sh fetches 1001 FineWeb-EDU train shards, dev/data/fineweb.sh 1028 classic FineWeb ones.
/// </summary>
public sealed class ShardDatasetTests : IDisposable
{
    private const string Repo = "chrisdryden/FineWebTokenizedGPT2";
    private readonly FakeHub _hub = new();
    private readonly string _out = FetchRun.TempDir();

    public ShardDatasetTests()
    {
        _hub.Add(Repo, "fineweb_val_000000.bin", Shard(3000, 0));
        for (int i = 1; i <= 2; i++) _hub.Add(Repo, $"fineweb_train_{i:D6}.bin", Shard(2000 + i, i));
    }

    public void Dispose()
    {
        _hub.Dispose();
        try { Directory.Delete(_out, recursive: true); } catch (IOException) { }
    }

    private static byte[] Shard(int tokens, int seed) => [.. TokenShard.Header(tokens), .. FetchRun.Bytes(2 * tokens, seed)];

    [Theory]
    [InlineData("edu-fineweb-shards", "karpathy/fineweb-edu-100B-gpt2-token-shards", "edu_fineweb", "edu_fineweb100B", 1001)]
    [InlineData("fineweb-shards", "chrisdryden/FineWebTokenizedGPT2", "fineweb", "fineweb100B", 1028)]
    public void Each_dataset_holds_as_many_train_shards_as_llmc_download_script_fetches(string command, string repo, string prefix, string folder, int trainShards)
    {
        var dataset = ShardDataset.All.Single(d => d.Command == command);
        dataset.Repo.Should().Be(repo);
        dataset.Folder.Should().Be(folder, "llm.c's run scripts read dev/data/" + folder);
        dataset.TrainShards.Should().Be(trainShards);
        dataset.ParseCount("all").Should().Be(trainShards);
        dataset.ParseCount(null).Should().Be(trainShards, "llm.c's download script fetches every shard by default");
        dataset.ParseCount(trainShards.ToString()).Should().Be(trainShards);
        dataset.Names(trainShards).Should().HaveCount(trainShards + 1)
            .And.StartWith($"{prefix}_val_000000.bin").And.EndWith($"{prefix}_train_{trainShards:D6}.bin");

        FetchRun.Run(_hub, [command, "--shards", (trainShards + 1).ToString(), "--out", _out]).ExitCode.Should().Be(2);
        var r = FetchRun.Run(_hub, [command, "--shards", "1517", "--out", _out]);
        r.ExitCode.Should().Be(2);
        r.Log.Should().Contain($"{repo} holds {trainShards} train shards").And.Contain($"choose 1..{trainShards} or all");
        _hub.Requests.Should().BeEmpty("a count the dataset cannot hold is refused before any request");
    }

    [Fact]
    public void Fetches_classic_fineweb_shards_under_llmc_names()
    {
        var r = FetchRun.Run(_hub, ["fineweb-shards", "--shards", "2", "--out", _out]);

        r.ExitCode.Should().Be(0, r.Log);
        FetchRun.ListFiles(_out).Should().Equal("fineweb_train_000001.bin", "fineweb_train_000002.bin", "fineweb_val_000000.bin");
        TokenShard.ReadHeader(Path.Combine(_out, "fineweb_train_000002.bin")).Should().Be(2002);
    }

    [Fact]
    public void All_asks_for_every_shard_of_the_dataset()
    {
        var r = FetchRun.Run(_hub, ["fineweb-shards", "--out", _out]);

        r.ExitCode.Should().Be(1, "the fake repository holds 2 of the 1028 shards");
        r.Log.Should().Contain("fineweb_train_000003.bin: not found in dataset chrisdryden/FineWebTokenizedGPT2@main");
    }
}
