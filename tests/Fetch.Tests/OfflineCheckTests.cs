using System.Text;
using FluentAssertions;
using LlmNet.Common.Formats;
using Xunit;

namespace LlmNet.Fetch.Tests;

/// <summary>
/// --offline: a node without internet (or a pipeline's preflight) learns from the verification records alone whether
/// a fetch has anything left to do, without one request.
/// </summary>
public sealed class OfflineCheckTests : IDisposable
{
    private const string ShardRepo = "karpathy/fineweb-edu-100B-gpt2-token-shards";
    private const string ParquetRepo = "HuggingFaceFW/fineweb";
    private readonly FakeHub _hub = new();
    private readonly string _out = FetchRun.TempDir();

    public OfflineCheckTests()
    {
        _hub.Add(ShardRepo, "edu_fineweb_val_000000.bin", [.. TokenShard.Header(1000), .. FetchRun.Bytes(2000, 0)]);
        for (int i = 1; i <= 2; i++) _hub.Add(ShardRepo, $"edu_fineweb_train_{i:D6}.bin", [.. TokenShard.Header(900), .. FetchRun.Bytes(1800, i)]);
        for (int i = 0; i < 3; i++) _hub.Add(ParquetRepo, $"sample/10BT/000_0000{i}.parquet", FetchRun.Bytes(5000 + i, 10 + i));
    }

    public void Dispose()
    {
        _hub.Dispose();
        try { Directory.Delete(_out, recursive: true); } catch (IOException) { }
    }

    private FetchRun.Result Run(params string[] args) => FetchRun.Run(_hub, args);

    [Fact]
    public void Verified_shards_pass_without_a_request_and_a_missing_or_changed_one_fails_in_one_line()
    {
        string[] shards = ["edu-fineweb-shards", "--shards", "2", "--out", _out];
        var before = Run([.. shards, "--offline"]);
        before.ExitCode.Should().Be(1);
        before.Log.Trim().Should().Be($"llm-fetch: error: {Path.Combine(_out, "edu_fineweb_val_000000.bin")}: missing (3 files expected in {_out}); "
            + "run the same llm-fetch edu-fineweb-shards command without --offline to fetch it");

        Run(shards).ExitCode.Should().Be(0);
        int requests = _hub.Requests.Count;

        var offline = Run([.. shards, "--offline"]);
        offline.ExitCode.Should().Be(0, offline.Log);
        offline.Log.Should().Contain("3/3 files present and verified");
        _hub.Requests.Count.Should().Be(requests, "--offline sends nothing");

        Run("edu-fineweb-shards", "--shards", "3", "--out", _out, "--offline").Log.Should().Contain("edu_fineweb_train_000003.bin: missing");

        string shard = Path.Combine(_out, "edu_fineweb_train_000002.bin");
        File.SetLastWriteTimeUtc(shard, DateTime.UtcNow.AddHours(-1));
        var changed = Run([.. shards, "--offline"]);
        changed.ExitCode.Should().Be(1);
        changed.Log.Should().Contain($"{shard}: present but not verified").And.Contain("without --offline");
        changed.Log.Trim().Split('\n').Should().ContainSingle();
    }

    [Fact]
    public void A_parquet_fetch_is_checked_offline_against_the_file_list_of_the_same_request()
    {
        string[] fetch = ["fineweb", "--sample", "10BT", "--out", _out];
        var before = Run([.. fetch, "--offline"]);
        before.ExitCode.Should().Be(1);
        before.Log.Should().Contain("no record of a finished fineweb fetch");

        Run(fetch).ExitCode.Should().Be(0);
        int requests = _hub.Requests.Count;
        var offline = Run([.. fetch, "--offline"]);
        offline.ExitCode.Should().Be(0, offline.Log);
        offline.Log.Should().Contain("3/3 files present and verified");
        _hub.Requests.Count.Should().Be(requests);

        var other = Run("fineweb", "--sample", "10BT", "--files", "2", "--out", _out, "--offline");
        other.ExitCode.Should().Be(1, "the record is of another request (all files, not the first 2)");
        other.Log.Should().Contain($"not {ParquetRepo}@main/sample/10BT files=2");

        File.Delete(Path.Combine(_out, "000_00001.parquet"));
        Run([.. fetch, "--offline"]).Log.Should().Contain("000_00001.parquet: missing");
    }

    [Fact]
    public void A_hellaswag_file_without_its_record_is_hashed_against_the_known_blob_id()
    {
        byte[] jsonl = Encoding.UTF8.GetBytes("{\"ind\": 0}\n");
        Directory.CreateDirectory(_out);
        File.WriteAllBytes(Path.Combine(_out, "hellaswag_val.jsonl"), jsonl);

        var r = Run("hellaswag", "--out", _out, "--blob-id", FakeHub.GitBlobId(jsonl), "--offline");
        r.ExitCode.Should().Be(0, r.Log);
        Run("hellaswag", "--out", _out, "--offline").Log.Should().Contain("present but not verified", "the default blob id is the official file's");
        _hub.Requests.Should().BeEmpty();
    }
}
