using System.Text;
using FluentAssertions;
using Xunit;

namespace LlmNet.Fetch.Tests;

public sealed class HellaSwagTests : IDisposable
{
    private readonly FakeHub _server = new();
    private readonly string _out = FetchRun.TempDir();
    private readonly byte[] _jsonl = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, 200).Select(i =>
        $"{{\"ind\": {i}, \"ctx\": \"A man is sitting on a roof. he\", \"endings\": [\"a\", \"b\", \"c\", \"d\"], \"label\": {i % 4}}}\n")));

    public HellaSwagTests() => _server.Raw["data/hellaswag_val.jsonl"] = new FakeFile(_jsonl);

    public void Dispose()
    {
        _server.Dispose();
        try { Directory.Delete(_out, recursive: true); } catch (IOException) { }
    }

    private string BaseUrl => $"{_server.Endpoint}raw/data";

    [Fact]
    public void Downloads_from_the_url_in_the_environment_and_verifies_the_git_blob_id()
    {
        string blob = FakeHub.GitBlobId(_jsonl);
        _server.Raw["data/hellaswag_val.jsonl"].CutsLeft = 1;
        _server.Raw["data/hellaswag_val.jsonl"].CutAfter = 3000;

        var r = FetchRun.Run(_server, ["hellaswag", "--out", _out, "--blob-id", blob], hellaswagUrl: BaseUrl);

        r.ExitCode.Should().Be(0, r.Log);
        File.ReadAllBytes(Path.Combine(_out, "hellaswag_val.jsonl")).Should().Equal(_jsonl);
        _server.Seen("hub").Select(q => q.Range).Should().Equal(null, "bytes=3000-");

        var again = FetchRun.Run(_server, ["hellaswag", "--out", _out, "--blob-id", blob], hellaswagUrl: BaseUrl);
        again.ExitCode.Should().Be(0);
        _server.Seen("hub").Should().HaveCount(2, "the verified file is skipped");
    }

    [Fact]
    public void Content_that_is_not_the_official_file_is_rejected_and_not_kept()
    {
        var r = FetchRun.Run(_server, ["hellaswag", "--out", _out, "--url", BaseUrl]);

        r.ExitCode.Should().Be(1);
        r.Log.Should().Contain("hellaswag_val.jsonl").And.Contain("git blob id mismatch").And.Contain("0f5ee25d72216f12317d5d8a7b92deafa423d81e");
        FetchRun.ListFiles(_out).Should().BeEmpty();
    }

    [Fact]
    public void A_missing_file_is_a_404_error_that_does_not_mention_the_hub_token()
    {
        var r = FetchRun.Run(_server, ["hellaswag", "--out", _out, "--url", $"{_server.Endpoint}raw/elsewhere"]);

        r.ExitCode.Should().Be(1);
        r.Log.Should().Contain("hellaswag_val.jsonl: not found").And.Contain("HTTP 404").And.NotContain("HF_TOKEN");
    }
}
