using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using FluentAssertions;
using Xunit;

namespace LlmNet.Eval.Tests;

/// <summary>
/// Two real llm-eval processes on 127.0.0.1 meeting over TCP (--device cpu), launched torchrun-style through
/// RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT or with llm.c's -pn/-pr/-ps flags.
/// </summary>
public sealed class MultiProcessCliTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    private const int Limit = 10;

    [Theory]
    [InlineData("env")]
    [InlineData("flags")]
    public async Task Two_processes_sum_their_counts_and_rank_0_alone_reports(string launch)
    {
        string single = Path.Combine(tiny.Dir, $"single-{launch}.jsonl"), split = Path.Combine(tiny.Dir, $"split-{launch}.jsonl");
        var whole = await RunAsync(Args(single), new Dictionary<string, string>());
        whole.ExitCode.Should().Be(0, whole.Stderr);

        int port = FreePort();
        var ranks = Enumerable.Range(0, 2).Select(rank =>
        {
            var env = new Dictionary<string, string> { ["LLMNET_DIST_TIMEOUT"] = "60" };
            var args = Args(split).ToList();
            if (launch == "env")
            {
                env["RANK"] = rank.ToString();
                env["WORLD_SIZE"] = "2";
                env["MASTER_ADDR"] = "127.0.0.1";
                env["MASTER_PORT"] = port.ToString();
            }
            else
            {
                env["MASTER_PORT"] = port.ToString();
                args.AddRange(["-pn", "2", "-pr", rank.ToString(), "-ps", "127.0.0.1"]);
            }
            return RunAsync(args, env);
        }).ToArray();
        var results = await Task.WhenAll(ranks);
        results[0].ExitCode.Should().Be(0, results[0].Stderr);
        results[1].ExitCode.Should().Be(0, results[1].Stderr);

        using var expected = LastJson(whole.Stdout);
        using var actual = LastJson(results[0].Stdout);
        actual.RootElement.GetProperty("correct").GetInt32().Should().Be(expected.RootElement.GetProperty("correct").GetInt32());
        actual.RootElement.GetProperty("total").GetInt32().Should().Be(Limit);
        actual.RootElement.GetProperty("world_size").GetInt32().Should().Be(2);
        actual.RootElement.GetProperty("processes").GetInt32().Should().Be(2);
        // --json: rank 0's stdout is the JSON object alone; its readable lines go to stderr.
        results[0].Stdout.TrimEnd().Should().NotContain("\n");
        results[0].Stderr.Should().Contain($"HellaSwag: {expected.RootElement.GetProperty("correct").GetInt32()}/{Limit} = ");
        results[1].Stdout.Should().BeEmpty("only rank 0 prints the summary and the JSON line");

        // The merged per-example file is the single-process one, row for row, and the rank pieces are gone.
        string[] mergedRows = File.ReadAllLines(split), wholeRows = File.ReadAllLines(single);
        mergedRows.Should().HaveCount(Limit);
        for (int i = 0; i < Limit; i++)
        {
            using var row = JsonDocument.Parse(mergedRows[i]);
            using var reference = JsonDocument.Parse(wholeRows[i]);
            row.RootElement.GetProperty("index").GetInt32().Should().Be(i);
            row.RootElement.GetProperty("prediction").GetInt32().Should().Be(reference.RootElement.GetProperty("prediction").GetInt32());
            var losses = row.RootElement.GetProperty("losses").EnumerateArray().Select(l => l.GetSingle()).ToArray();
            var referenceLosses = reference.RootElement.GetProperty("losses").EnumerateArray().Select(l => l.GetSingle()).ToArray();
            losses.Should().Equal(referenceLosses, (a, b) => Math.Abs(a - b) <= 1e-4f);
        }
        Directory.GetFiles(tiny.Dir, Path.GetFileName(split) + ".rank*").Should().BeEmpty();
    }

    [Theory]
    [InlineData(0, "rank(s) 1 of 2 never connected")]
    [InlineData(1, "could not connect to rank 0 at 127.0.0.1")]
    public async Task A_missing_peer_is_one_clear_error_within_the_timeout(int rank, string problem)
    {
        var env = new Dictionary<string, string>
        {
            ["RANK"] = rank.ToString(), ["WORLD_SIZE"] = "2", ["MASTER_ADDR"] = "127.0.0.1",
            ["MASTER_PORT"] = FreePort().ToString(), ["LLMNET_DIST_TIMEOUT"] = "2",
        };
        var clock = Stopwatch.StartNew();
        var result = await RunAsync(Args(null), env);
        clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(30));
        result.ExitCode.Should().Be(1);
        result.Stdout.Should().BeEmpty();
        result.Stderr.Trim().Should().StartWith($"llm-eval: error: rank {rank} of 2").And.Contain(problem).And.Contain("2 s").And.NotContain("\n");
    }

    [Fact]
    public async Task A_manual_split_cannot_be_mixed_with_llmc_flags()
    {
        var result = await RunAsync([.. Args(null), "--rank", "1", "--world-size", "2", "-pn", "2"], new Dictionary<string, string>());
        result.ExitCode.Should().Be(2);
        result.Stderr.Should().Contain("--rank/--world-size").And.Contain("-pn");
    }

    private string[] Args(string? perExample) =>
    [
        "hellaswag", "-e", tiny.ModelPath, "--data", tiny.DataPath, "--limit", Limit.ToString(), "--device", "cpu",
        "--threads", "1", "--json", "--quiet", .. perExample is null ? Array.Empty<string>() : ["--per-example", perExample],
    ];

    private static JsonDocument LastJson(string stdout) => JsonDocument.Parse(stdout.TrimEnd().Split('\n')[^1]);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string> env)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "llm-eval.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        // Launcher variables of the machine running the tests must not leak into the ranks.
        foreach (var name in new[] { "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "OMPI_COMM_WORLD_RANK",
                     "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMI_SIZE", "SLURM_PROCID", "SLURM_NTASKS", "LLMNET_DIST_TIMEOUT" })
            psi.Environment.Remove(name);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var process = Process.Start(psi)!;
        var ct = TestContext.Current.CancellationToken;
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromMinutes(2));
        try { await process.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return (process.ExitCode, await stdout, await stderr);
    }
}
