using System.Diagnostics;
using FluentAssertions;
using LlmNet.TestSupport;
using Xunit;

namespace LlmNet.Cuda.Tests;

/// <summary>
/// tests/gpu/ab-bench.sh end to end on a machine without a GPU, with SpeedBenchScriptTests' stand-ins for nvidia-smi,
/// llm-train and llm-cuda-bench's GPU subcommand (report and compare are the real ones). Build "old" is a folder
/// holding the stand-in llm-train; build "new" is that folder with an overlay whose llm-train takes 10 ms less per
/// step, so the comparison shows whether the overlay was what ran. Linux only (bash, coreutils).
/// </summary>
public sealed class AbBenchScriptTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmnet-ab-bench-").FullName;
    private readonly string _old, _overlay, _tmp;

    public AbBenchScriptTests()
    {
        _old = Directory.CreateDirectory(Path.Combine(_dir, "old-build")).FullName;
        _overlay = Directory.CreateDirectory(Path.Combine(_dir, "overlay")).FullName;
        _tmp = Directory.CreateDirectory(Path.Combine(_dir, "tmp")).FullName;
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Out => Path.Combine(_dir, "out");

    private static string Script(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text.ReplaceLineEndings("\n") + "\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    private (int Code, string Out) RunScript(string builds, string stages, params string[] args)
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("ab-bench.sh is a bash script for Linux GPU nodes");
        string real = Path.Combine(AppContext.BaseDirectory, "llm-cuda-bench");
        if (!File.Exists(real)) Assert.Skip($"{real} missing (llm-cuda-bench's apphost, copied beside the tests)");
        string tools = Path.Combine(_dir, "tools");
        Script(Path.Combine(tools, "nvidia-smi"), SpeedBenchScriptTests.NvidiaSmi);
        string bench = Script(Path.Combine(tools, "bench"), SpeedBenchScriptTests.Bench(real));
        Script(Path.Combine(_old, "llm-train"), SpeedBenchScriptTests.Trainer);
        File.WriteAllText(Path.Combine(_old, "LlmNet.Cuda.dll"), "old");
        Script(Path.Combine(_overlay, "llm-train"), SpeedBenchScriptTests.Trainer.Replace("20 + n", "10 + n", StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(_overlay, "LlmNet.Cuda.dll"), "new");
        string data = Directory.CreateDirectory(Path.Combine(_dir, "zipf")).FullName;
        File.WriteAllText(Path.Combine(data, "synth_train_000002.bin"), "x"); // non-empty: the data stage then has nothing to do

        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(RepoPaths.Root, "tests", "gpu", "ab-bench.sh"));
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment["PATH"] = tools + ":" + Environment.GetEnvironmentVariable("PATH");
        psi.Environment["STUB_REF"] = Path.Combine(RepoPaths.Root, "tests", "gpu", "reference");
        psi.Environment["BUILDS"] = builds.Replace("OLD", _old, StringComparison.Ordinal).Replace("OVERLAY", _overlay, StringComparison.Ordinal);
        psi.Environment["STAGES"] = stages;
        psi.Environment["BENCH"] = bench;
        psi.Environment["LLMC"] = "/nonexistent/train_gpt2cu"; // ab-bench runs no llm.c, whatever the caller has set
        psi.Environment["DATA"] = data;
        psi.Environment["OUT"] = Out;
        psi.Environment["TMPDIR"] = _tmp;
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit(120_000).Should().BeTrue("the stand-in runs take a few seconds");
        return (p.ExitCode, stdout + stderr.Result);
    }

    private const string TwoBuilds = "old=OLD@1111111 new=OLD+OVERLAY@2222222";

    [Fact]
    public void TwoBuilds_OneAnOverlay_EachGetItsRuns_Interleaved_AndCompareMdHasARowPerBuild()
    {
        var r = RunScript(TwoBuilds, "d12 d48");
        r.Code.Should().Be(0, r.Out);
        r.Out.Should().NotContain("SKIP").And.NotContain("Zipf shards", "the data stage finds the shards there");
        // For each stage, each build in turn.
        string[] order = [.. r.Out.Split('\n').Where(l => l.Contains("] == ", StringComparison.Ordinal)).Select(l => l[(l.IndexOf("== ", StringComparison.Ordinal) + 3)..l.IndexOf(" (", StringComparison.Ordinal)])];
        order.Should().Equal("d12, build old", "d12, build new", "d48, build old", "d48, build new");
        foreach (string build in new[] { "old", "new" })
            foreach (string run in new[] { "d12", "d48" })
            {
                File.Exists(Path.Combine(Out, build, run + ".run")).Should().BeTrue($"{build}/{run}.run");
                File.Exists(Path.Combine(Out, build, run + ".log")).Should().BeTrue($"{build}/{run}.log");
            }
        File.ReadAllText(Path.Combine(Out, "new", "card.txt")).Should().Contain("commit=2222222");
        File.Exists(Path.Combine(Out, "old", "report.md")).Should().BeTrue();
        File.Exists(Path.Combine(Out, "new", "report.md")).Should().BeTrue();

        string compare = File.ReadAllText(Path.Combine(Out, "compare.md"));
        r.Out.Should().Contain(compare);
        string[] rows = [.. compare.Split('\n').Where(l => l.StartsWith("| d12 |", StringComparison.Ordinal))];
        // Steps 4-25 take 20 + N ms in the old build (median 34.5) and 10 + N ms with the overlay's llm-train (24.5).
        rows.Should().HaveCount(2);
        rows[0].Should().StartWith("| d12 | old (1111111) | 34.5 | base |").And.EndWith("| PASS 1.0e-4 over 20 steps | yes |");
        rows[1].Should().StartWith("| d12 | new (2222222) | 24.5 | -29.0% |").And.EndWith("| PASS 1.0e-4 over 20 steps | yes |");
        compare.Split('\n').Count(l => l.StartsWith("| d48 |", StringComparison.Ordinal)).Should().Be(2);

        // The overlay went over a copy: the build folder is as it was, and the copy is gone.
        File.ReadAllText(Path.Combine(_old, "LlmNet.Cuda.dll")).Should().Be("old");
        File.ReadAllText(Path.Combine(_old, "llm-train")).Should().Contain("20 + n");
        Directory.EnumerateFileSystemEntries(_tmp).Should().BeEmpty();
    }

    [Fact]
    public void DryRun_PrintsWhatWouldRun_AndWritesNothing()
    {
        var r = RunScript(TwoBuilds, "d12", "--dry-run");
        r.Code.Should().Be(0, r.Out);
        r.Out.Should().Contain($"would copy {_old} to a temporary folder and {_overlay}'s files over it (build new)");
        // 560 s less 20 s for the reports, split over the two runs (a second less where the clock ticked meanwhile);
        // speed-bench caps a d12 run at 240 s.
        r.Out.Should().MatchRegex(@"== d12, build old \(1/2; 2(69|70) s of 5(59|60) s left\)");
        r.Out.Should().MatchRegex(@"== d12, build new \(2/2; 2(6[89]|70) s of 2(8[89]|90) s left\)");
        r.Out.Should().Contain($"would run d12 (timeout 240 s): {_old}/llm-train ").And.Contain(" -e d12 -b 64 -d 524288 -r 0 -q 0.0 -x 25");
        r.Out.Should().Contain("would run d12 (timeout 240 s): TMP/new/llm-train ");
        r.Out.Should().Contain($"would run: {Path.Combine(_dir, "tools", "bench")} compare {Out}/old {Out}/new --out {Out}/compare.md");
        Directory.Exists(Out).Should().BeFalse();
        Directory.EnumerateFileSystemEntries(_tmp).Should().BeEmpty();
    }

    [Theory]
    [InlineData("old=OLD", "d12", "BUILDS needs two builds or more")]
    [InlineData("old=OLD new.1=OLD", "d12", "BUILDS entry 'new.1=OLD': name 'new.1' may hold only letters, digits, '-' and '_'")]
    [InlineData("old=OLD new=OLD/missing", "d12", "OLD/missing: no such folder (give the folder that holds llm-train)")]
    [InlineData("old=OLD new=OLD+OLD/missing", "d12", "overlay OLD/missing: no such folder")]
    [InlineData("old=OLD new=OVERLAY/..", "d12", "no executable llm-train in OVERLAY/..")]
    [InlineData("old=OLD old=OLD+OVERLAY", "d12", "the name 'old' is given twice")]
    [InlineData("old=OLD new=OLD+OVERLAY", "d12 d96", "STAGES: unknown stage 'd96' (d12 d48 d48-1m)")]
    public void BadBuildsOrStages_OneLine_ExitTwo_NothingRun(string builds, string stages, string message)
    {
        var r = RunScript(builds, stages);
        r.Code.Should().Be(2, r.Out);
        string expected = message.Replace("OLD", _old, StringComparison.Ordinal).Replace("OVERLAY", _overlay, StringComparison.Ordinal);
        r.Out.Trim().Split('\n').Should().ContainSingle().Which.Should().StartWith("ab-bench.sh: ").And.Contain(expected);
        Directory.Exists(Out).Should().BeFalse();
    }
}
