using FluentAssertions;
using LlmNet.Tools.Fetch;
using Xunit;

namespace LlmNet.Fetch.Tests;

public sealed class FineWebEduTests : IDisposable
{
    private const string Repo = "HuggingFaceFW/fineweb-edu";
    private readonly FakeHub _hub = new();
    private readonly string _out = FetchRun.TempDir();
    private readonly Dictionary<string, byte[]> _files = new();

    public FineWebEduTests()
    {
        // Listed out of order on purpose; sorted order is 000_00000 .. 000_00004.
        foreach (int i in new[] { 3, 0, 4, 1, 2 })
        {
            string name = $"000_0000{i}.parquet";
            _files[name] = FetchRun.Bytes(150_000 + 1000 * i, i);
            _hub.Add(Repo, $"sample/10BT/{name}", _files[name]);
        }
        _hub.Add(Repo, "sample/10BT/README.md", "not parquet\n"u8.ToArray(), lfs: false);
        _hub.Add(Repo, "sample/100BT/000_00000.parquet", FetchRun.Bytes(1000, 99));
        _hub.Add(Repo, "data/CC-MAIN-2024-10/small.parquet", "tiny parquet stand-in"u8.ToArray(), lfs: false);
    }

    public void Dispose()
    {
        _hub.Dispose();
        try { Directory.Delete(_out, recursive: true); } catch (IOException) { }
    }

    private FetchRun.Result Fetch(params string[] extra) =>
        FetchRun.Run(_hub, ["fineweb-edu", "--sample", "10BT", "--out", _out, .. extra], token: "hf_secret");

    [Fact]
    public void Downloads_the_first_N_files_in_sorted_order_through_paginated_listing_and_CDN_redirect()
    {
        var r = Fetch("--files", "3");

        r.ExitCode.Should().Be(0, r.Log);
        FetchRun.ListFiles(_out).Should().Equal("000_00000.parquet", "000_00001.parquet", "000_00002.parquet");
        foreach (string name in FetchRun.ListFiles(_out)) File.ReadAllBytes(Path.Combine(_out, name)).Should().Equal(_files[name]);
        _hub.Seen("hub").Count(q => q.Target.Contains("/tree/")).Should().Be(3, "6 entries at 2 per page take 3 pages");
        _hub.Seen("cdn").Should().HaveCount(3);
    }

    [Fact]
    public void Sends_the_token_to_the_hub_but_never_to_the_CDN()
    {
        Fetch("--files", "2").ExitCode.Should().Be(0);

        _hub.Seen("hub").Should().OnlyContain(q => q.Authorization == "Bearer hf_secret");
        _hub.Seen("cdn").Should().NotBeEmpty().And.OnlyContain(q => q.Authorization == null);
    }

    [Fact]
    public void A_rerun_skips_verified_files_and_rehashes_files_whose_record_no_longer_matches()
    {
        Fetch("--files", "2").ExitCode.Should().Be(0);
        int before = _hub.Seen("cdn").Count();

        var again = Fetch("--files", "2");
        again.ExitCode.Should().Be(0, again.Log);
        _hub.Seen("cdn").Count().Should().Be(before, "verified files are not downloaded again");
        again.Log.Should().Contain("already present and verified");

        // A touched file is hashed again and kept; a file changed in place is downloaded again.
        string first = Path.Combine(_out, "000_00000.parquet"), second = Path.Combine(_out, "000_00001.parquet");
        File.SetLastWriteTimeUtc(first, DateTime.UtcNow.AddHours(-1));
        using (var fs = new FileStream(second, FileMode.Open)) { fs.Position = 10; fs.WriteByte(0x42); }
        File.SetLastWriteTimeUtc(second, DateTime.UtcNow.AddHours(-2));

        var third = Fetch("--files", "2");
        third.ExitCode.Should().Be(0, third.Log);
        _hub.Seen("cdn").Count().Should().Be(before + 1, "only the changed file is fetched again");
        File.ReadAllBytes(first).Should().Equal(_files["000_00000.parquet"]);
        File.ReadAllBytes(second).Should().Equal(_files["000_00001.parquet"]);
    }

    [Fact]
    public void A_connection_cut_mid_file_resumes_with_a_range_request()
    {
        var file = _hub.Repos[Repo]["sample/10BT/000_00000.parquet"];
        file.CutsLeft = 2;
        file.CutAfter = 40_000;

        var r = Fetch("--files", "1");

        r.ExitCode.Should().Be(0, r.Log);
        File.ReadAllBytes(Path.Combine(_out, "000_00000.parquet")).Should().Equal(_files["000_00000.parquet"]);
        _hub.Seen("cdn").Select(q => q.Range).Should().Equal(null, "bytes=40000-", "bytes=80000-");
        FetchRun.ListFiles(_out).Should().Equal("000_00000.parquet");
    }

    [Fact]
    public void A_connection_that_goes_silent_is_dropped_after_the_stall_timeout_and_resumed()
    {
        var file = _hub.Repos[Repo]["sample/10BT/000_00002.parquet"];
        file.StallsLeft = 1;
        file.CutAfter = 70_000;

        var r = FetchRun.Run(_hub, ["fineweb-edu", "--sample", "10BT", "--files", "3", "--out", _out], stallTimeout: 0.5);

        r.ExitCode.Should().Be(0, r.Log);
        r.Log.Should().Contain("no data for");
        File.ReadAllBytes(Path.Combine(_out, "000_00002.parquet")).Should().Equal(_files["000_00002.parquet"]);
        _hub.Seen("cdn").Where(q => q.Target.EndsWith("000_00002.parquet")).Select(q => q.Range).Should().Equal(null, "bytes=70000-");
    }

    [Fact]
    public void A_partial_file_left_by_an_interrupted_run_is_resumed_not_restarted()
    {
        byte[] content = _files["000_00000.parquet"];
        File.WriteAllBytes(Path.Combine(_out, "000_00000.parquet.part"), content[..100_000]);

        var r = Fetch("--files", "1");

        r.ExitCode.Should().Be(0, r.Log);
        _hub.Seen("cdn").Single().Range.Should().Be("bytes=100000-");
        File.ReadAllBytes(Path.Combine(_out, "000_00000.parquet")).Should().Equal(content);
        File.Exists(Path.Combine(_out, "000_00000.parquet.part")).Should().BeFalse();
    }

    [Fact]
    public void A_corrupt_partial_file_is_discarded_and_downloaded_again_from_the_start()
    {
        byte[] content = _files["000_00000.parquet"];
        byte[] damaged = content[..100_000];
        damaged[5] ^= 0xFF;
        File.WriteAllBytes(Path.Combine(_out, "000_00000.parquet.part"), damaged);

        var r = Fetch("--files", "1");

        r.ExitCode.Should().Be(0, r.Log);
        _hub.Seen("cdn").Select(q => q.Range).Should().Equal("bytes=100000-", null);
        File.ReadAllBytes(Path.Combine(_out, "000_00000.parquet")).Should().Equal(content);
    }

    [Fact]
    public void Service_unavailable_answers_are_retried_until_the_file_arrives()
    {
        _hub.TreeUnavailableLeft = 1;
        _hub.Repos[Repo]["sample/10BT/000_00001.parquet"].UnavailableLeft = 3;

        var r = Fetch("--files", "2", "--jobs", "2");

        r.ExitCode.Should().Be(0, r.Log);
        r.Log.Should().Contain("HTTP 503");
        File.ReadAllBytes(Path.Combine(_out, "000_00001.parquet")).Should().Equal(_files["000_00001.parquet"]);
        _hub.Seen("cdn").Count(q => q.Target.EndsWith("000_00001.parquet")).Should().Be(4);
    }

    [Fact]
    public void Too_many_requests_waits_as_long_as_Retry_After_says()
    {
        var file = _hub.Repos[Repo]["sample/10BT/000_00000.parquet"];
        file.UnavailableLeft = 1;
        file.UnavailableStatus = System.Net.HttpStatusCode.TooManyRequests;
        file.RetryAfter = "1";

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var r = Fetch("--files", "1");

        r.ExitCode.Should().Be(0, r.Log);
        r.Log.Should().Contain("HTTP 429").And.Contain("attempt 2/10 in 1.0s");
        clock.Elapsed.Should().BeGreaterThan(TimeSpan.FromSeconds(0.9));
    }

    [Fact]
    public void A_server_that_ignores_the_range_restarts_the_file_cleanly()
    {
        var file = _hub.Repos[Repo]["sample/10BT/000_00000.parquet"];
        file.IgnoresRange = true;
        File.WriteAllBytes(Path.Combine(_out, "000_00000.parquet.part"), _files["000_00000.parquet"][..50_000]);

        var r = Fetch("--files", "1");

        r.ExitCode.Should().Be(0, r.Log);
        _hub.Seen("cdn").Single().Range.Should().Be("bytes=50000-");
        File.ReadAllBytes(Path.Combine(_out, "000_00000.parquet")).Should().Equal(_files["000_00000.parquet"]);
    }

    [Fact]
    public void Gives_up_after_the_retry_limit_and_keeps_nothing_that_looks_complete()
    {
        _hub.Repos[Repo]["sample/10BT/000_00000.parquet"].UnavailableLeft = 100;

        var r = Fetch("--files", "1", "--retries", "3");

        r.ExitCode.Should().Be(1);
        r.Log.Should().Contain("llm-fetch: error: 000_00000.parquet: giving up after 3 attempts");
        FetchRun.ListFiles(_out).Should().BeEmpty();
    }

    [Fact]
    public void A_checksum_mismatch_fails_naming_the_file_and_leaves_no_file_while_other_files_complete()
    {
        byte[] wrong = (byte[])_files["000_00001.parquet"].Clone();
        wrong[^1] ^= 0x01;
        _hub.Repos[Repo]["sample/10BT/000_00001.parquet"].Served = wrong;

        var r = Fetch("--files", "3");

        r.ExitCode.Should().Be(1);
        string error = r.Log.Split('\n').Single(l => l.StartsWith("llm-fetch: error:"));
        error.Should().Contain("000_00001.parquet").And.Contain("sha256 mismatch");
        FetchRun.ListFiles(_out).Should().Equal("000_00000.parquet", "000_00002.parquet");
    }

    [Fact]
    public void A_listed_file_missing_on_the_server_is_a_clear_404_error()
    {
        _hub.Repos[Repo]["sample/10BT/000_00000.parquet"].Status = System.Net.HttpStatusCode.NotFound;

        var r = Fetch("--files", "1");

        r.ExitCode.Should().Be(1);
        r.Log.Should().Contain("llm-fetch: error: 000_00000.parquet: not found in dataset HuggingFaceFW/fineweb-edu@main (HTTP 404");
        FetchRun.ListFiles(_out).Should().BeEmpty();
        _hub.Seen("cdn").Should().HaveCount(1, "a 404 is not retried");
    }

    [Fact]
    public void A_wrong_path_or_repository_is_a_clear_error()
    {
        var r = FetchRun.Run(_hub, ["fineweb-edu", "--path", "sample/7BT", "--out", _out]);
        r.ExitCode.Should().Be(1);
        r.Log.Should().Contain("HuggingFaceFW/fineweb-edu/sample/7BT: not found").And.Contain("HTTP 404");

        var other = FetchRun.Run(_hub, ["fineweb-edu", "--repo", "nobody/nothing", "--out", _out]);
        other.ExitCode.Should().Be(1);
        other.Log.Should().Contain("nobody/nothing");
    }

    [Fact]
    public void Refused_access_points_at_HF_TOKEN()
    {
        _hub.RequiredToken = "hf_right";

        var r = Fetch("--files", "1");

        r.ExitCode.Should().Be(1);
        r.Log.Should().Contain("HTTP 401").And.Contain("HF_TOKEN");
    }

    [Fact]
    public void A_custom_path_fetches_its_parquet_files_and_verifies_small_git_files_by_blob_id()
    {
        var r = FetchRun.Run(_hub, ["fineweb-edu", "--path", "data/CC-MAIN-2024-10", "--out", _out, "--quiet"]);

        r.ExitCode.Should().Be(0, r.Log);
        r.Log.Should().BeEmpty("--quiet prints nothing on success");
        File.ReadAllText(Path.Combine(_out, "small.parquet")).Should().Be("tiny parquet stand-in");
    }

    [Fact]
    public void A_sparse_listing_without_git_oids_still_downloads_verifies_by_size_and_skips_on_rerun()
    {
        _hub.MinimalEntries = true;
        string[] args = ["fineweb-edu", "--path", "data/CC-MAIN-2024-10", "--out", _out];

        FetchRun.Run(_hub, args).ExitCode.Should().Be(0);
        File.ReadAllText(Path.Combine(_out, "small.parquet")).Should().Be("tiny parquet stand-in");
        int served = _hub.Seen("hub").Count(q => q.Target.Contains("/resolve/"));

        var again = FetchRun.Run(_hub, args);
        again.ExitCode.Should().Be(0, again.Log);
        _hub.Seen("hub").Count(q => q.Target.Contains("/resolve/")).Should().Be(served);
    }

    [Fact]
    public void Usage_errors_exit_with_code_2()
    {
        FetchRun.Run(_hub, ["fineweb-edu", "--sample", "5BT", "--out", _out]).ExitCode.Should().Be(2);
        FetchRun.Run(_hub, ["fineweb-edu", "--files", "-1", "--out", _out]).ExitCode.Should().Be(2);
        FetchRun.Run(_hub, ["fineweb-edu"]).ExitCode.Should().Be(2, "--out is required");
        FetchRun.Run(_hub, ["fineweb-edu", "--out", _out, "--jobs", "0"]).ExitCode.Should().Be(2);
    }
}
