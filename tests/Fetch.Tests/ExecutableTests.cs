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
    public async Task Ctrl_C_keeps_the_partial_download_which_the_next_run_resumes()
    {
        if (OperatingSystem.IsWindows()) Assert.Skip("sends SIGINT");
        const string Repo = "HuggingFaceFW/fineweb-edu";
        byte[] content = FetchRun.Bytes(200_000, 5);
        var file = _hub.Add(Repo, "sample/10BT/000_00000.parquet", content);
        file.StallsLeft = 1;
        file.CutAfter = 60_000;
        file.StallFor = TimeSpan.FromSeconds(60);

        var psi = new ProcessStartInfo(Executable) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string a in new[] { "fineweb-edu", "--out", _out, "--stall-timeout", "60" }) psi.ArgumentList.Add(a);
        psi.Environment["HF_ENDPOINT"] = _hub.Endpoint.ToString();
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        string part = Path.Combine(_out, "000_00000.parquet.part");
        var waited = Stopwatch.StartNew();
        while (!(_hub.Seen("cdn").Any() && File.Exists(part)) && waited.Elapsed < TimeSpan.FromSeconds(20))
            await Task.Delay(20, TestContext.Current.CancellationToken);
        File.Exists(part).Should().BeTrue("the download should be under way");
        await Task.Delay(500, TestContext.Current.CancellationToken); // let the first 60,000 bytes arrive

        Interrupt(p.Id);
        if (!p.WaitForExit(10_000))
        {
            p.Kill();
            Assert.Skip("SIGINT is ignored in this environment");
        }

        string log = await stderr;
        p.ExitCode.Should().Be(130, log);
        log.Should().Contain("interrupted");
        File.Exists(Path.Combine(_out, "000_00000.parquet")).Should().BeFalse();
        long kept = new FileInfo(part).Length; // 60,000 unless the machine is too busy to have received them all
        kept.Should().BeInRange(1, 60_000);

        var again = FetchRun.Run(_hub, ["fineweb-edu", "--out", _out]);
        again.ExitCode.Should().Be(0, again.Log);
        _hub.Seen("cdn").Last().Range.Should().Be($"bytes={kept}-");
        File.ReadAllBytes(Path.Combine(_out, "000_00000.parquet")).Should().Equal(content);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SysKill(int pid, int signal);

    private static void Interrupt(int pid) => SysKill(pid, 2).Should().Be(0, "SIGINT should be deliverable");

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
