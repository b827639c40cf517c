using System.Diagnostics;
using FluentAssertions;
using Xunit;

namespace LlmNet.Fetch.Tests;

/// <summary>The built llm-fetch executable, as pipeline scripts call it: environment variables, exit codes, stderr.</summary>
public sealed class ExecutableTests : IDisposable
{
    private readonly FakeHub _hub = new();
    private readonly string _out = FetchRun.TempDir();

    public void Dispose()
    {
        _hub.Dispose();
        try { Directory.Delete(_out, recursive: true); } catch (IOException) { }
    }

    private static string Executable => Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "llm-fetch.exe" : "llm-fetch");

    private static (int Code, string Stderr) Exec(Dictionary<string, string> env, params string[] args)
    {
        var psi = new ProcessStartInfo(Executable) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment.Remove("HF_TOKEN");
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        p.StandardOutput.ReadToEnd();
        p.WaitForExit(60_000).Should().BeTrue("llm-fetch should finish quickly against a local server");
        return (p.ExitCode, stderr.Result);
    }

    [Fact]
    public void Fetches_through_HF_ENDPOINT_and_reports_progress_lines_on_a_redirected_stderr()
    {
        _hub.Add("HuggingFaceFW/fineweb-edu", "sample/10BT/000_00000.parquet", FetchRun.Bytes(50_000, 1));
        _hub.Add("HuggingFaceFW/fineweb-edu", "sample/10BT/000_00001.parquet", FetchRun.Bytes(50_000, 2));

        var (code, stderr) = Exec(new() { ["HF_ENDPOINT"] = _hub.Endpoint.ToString() }, "fineweb-edu", "--sample", "10BT", "--files", "1", "--out", _out);

        code.Should().Be(0, stderr);
        stderr.Should().Contain("000_00000.parquet: done, verified").And.Contain("1/1 files ready");
        FetchRun.ListFiles(_out).Should().Equal("000_00000.parquet");
    }

    [Fact]
    public void Errors_are_one_line_with_exit_code_1()
    {
        var (code, stderr) = Exec(new() { ["HF_ENDPOINT"] = _hub.Endpoint.ToString() }, "edu-fineweb-shards", "--shards", "1", "--out", _out, "--quiet");

        code.Should().Be(1);
        stderr.Trim().Split('\n').Should().ContainSingle().Which.Should().StartWith("llm-fetch: error: karpathy/fineweb-edu-100B-gpt2-token-shards: not found");
    }

    [Fact]
    public void Help_lists_the_commands()
    {
        var psi = new ProcessStartInfo(Executable, "--help") { RedirectStandardOutput = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        string help = p.StandardOutput.ReadToEnd();
        p.WaitForExit(60_000);
        p.ExitCode.Should().Be(0);
        help.Should().Contain("fineweb-edu").And.Contain("edu-fineweb-shards").And.Contain("hellaswag").And.Contain("HF_TOKEN");
    }
}
