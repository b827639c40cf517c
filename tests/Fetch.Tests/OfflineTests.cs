using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using FluentAssertions;
using LlmNet.Tools.Fetch;
using Xunit;

namespace LlmNet.Fetch.Tests;

/// <summary>
/// Issue #16: offline, llm-fetch took ~230 s (10 attempts with backoff) to give up on a host that does not resolve
/// or refuses connections. Those fail at once with one line; what can recover (5xx, 429, resets, stalls) is still
/// retried, and so is an unreachable host when the user asks for retries.
/// </summary>
public sealed class OfflineTests : IDisposable
{
    private readonly string _out = FetchRun.TempDir();
    public void Dispose() { try { Directory.Delete(_out, recursive: true); } catch (IOException) { } }

    /// <summary>A local port nobody listens on: connecting to it is refused.</summary>
    private static int ClosedPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    // The default --backoff (1 s, doubling): the old behaviour would take minutes here.
    private (int Code, string Log, double Seconds) Fetch(string endpoint, params string[] more)
    {
        var env = new Dictionary<string, string?> { ["HF_ENDPOINT"] = endpoint };
        var log = new StringWriter();
        var clock = Stopwatch.StartNew();
        int code = FetchApp.Run(["fineweb-edu", "--files", "1", "--out", _out, .. more], name => env.GetValueOrDefault(name), TextWriter.Synchronized(log));
        return (code, log.ToString(), clock.Elapsed.TotalSeconds);
    }

    [Theory]
    [InlineData("refused")]
    [InlineData("unresolvable")]
    public void An_unreachable_host_fails_at_once_with_one_line(string kind)
    {
        string endpoint = kind == "refused" ? $"http://127.0.0.1:{ClosedPort()}/" : "http://hub.llmnet-test.invalid/";
        var (code, log, seconds) = Fetch(endpoint);
        code.Should().Be(1, log);
        seconds.Should().BeLessThan(10);
        log.Should().NotContain("attempt 2/", "a refused connection or a name that does not resolve is not retried by default");
        string error = log.Split('\n').Single(l => l.StartsWith("llm-fetch: error: "));
        error.Should().Contain(new Uri(endpoint).Host).And.Contain("--retries");
        log.Should().NotContain("   at ");
    }

    [Fact]
    public void Asking_for_retries_retries_an_unreachable_host()
    {
        var (code, log, _) = Fetch($"http://127.0.0.1:{ClosedPort()}/", "--retries", "3", "--backoff", "0.01");
        code.Should().Be(1, log);
        log.Should().Contain("attempt 2/3").And.Contain("attempt 3/3").And.Contain("giving up after 3 attempts");
    }
}
