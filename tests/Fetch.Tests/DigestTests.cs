using System.Net.Http.Headers;
using System.Text;
using FluentAssertions;
using LlmNet.Tools.Fetch;
using Xunit;

namespace LlmNet.Fetch.Tests;

public sealed class DigestTests
{
    [Theory]
    [InlineData("", "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")]
    [InlineData("hello world\n", "3b18e512dba79e4c8300dd08aeb37f8e728b8dad")]
    public void Git_blob_ids_match_git(string content, string expected)
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, Encoding.ASCII.GetBytes(content));
            DigestBuilder.ComputeFile(path, DigestKind.GitBlobSha1, TestContext.Current.CancellationToken).Should().Be(expected);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Sha256_of_a_file_matches_the_known_value()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, "abc"u8.ToArray());
            DigestBuilder.ComputeFile(path, DigestKind.Sha256, TestContext.Current.CancellationToken).Should().Be("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void The_next_page_comes_from_the_rel_next_link()
    {
        using var response = new HttpResponseMessage();
        response.Headers.TryAddWithoutValidation("Link", "<https://example.org/api/x?cursor=a,b>; rel=\"prev\", </api/datasets/r/tree/main?cursor=Z2V0>; rel=\"next\"");
        HubClient.NextLink(response, new Uri("https://huggingface.co/api/datasets/r/tree/main"))
            .Should().Be(new Uri("https://huggingface.co/api/datasets/r/tree/main?cursor=Z2V0"));

        using var last = new HttpResponseMessage();
        HubClient.NextLink(last, new Uri("https://huggingface.co/")).Should().BeNull();
    }

    [Fact]
    public void Backoff_doubles_up_to_the_cap_and_retry_after_wins()
    {
        var policy = new RetryPolicy { BaseDelay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(8) };
        policy.DelayFor(1, null).TotalSeconds.Should().BeInRange(0.75, 1.25);
        policy.DelayFor(3, null).TotalSeconds.Should().BeInRange(3, 5);
        policy.DelayFor(10, null).TotalSeconds.Should().BeInRange(6, 10);
        policy.DelayFor(1, TimeSpan.FromSeconds(42)).Should().Be(TimeSpan.FromSeconds(42));
        policy.DelayFor(1, TimeSpan.FromHours(2)).Should().Be(policy.MaxRetryAfter);

        using var response = new HttpResponseMessage(System.Net.HttpStatusCode.TooManyRequests);
        response.Headers.RetryAfter = new RetryConditionHeaderValue(TimeSpan.FromSeconds(7));
        RetryPolicy.RetryAfterOf(response).Should().Be(TimeSpan.FromSeconds(7));
    }
}
