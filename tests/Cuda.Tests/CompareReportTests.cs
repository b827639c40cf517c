using System.Globalization;
using System.Text.RegularExpressions;
using FluentAssertions;
using LlmNet.Cuda.Bench.Report;
using Xunit;

namespace LlmNet.Cuda.Tests;

/// <summary>
/// <c>llm-cuda-bench compare</c> (tests/Cuda.Bench/Report/CompareCommand.cs) on two speed-bench OUT folders made from
/// SpeedReportTests' fixture: "old" as recorded, "new" edited per test (step times, memory samples, losses,
/// card.txt). CPU only.
/// </summary>
public sealed partial class CompareReportTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("llmnet-compare-").FullName;
    private readonly string _old, _new;

    public CompareReportTests()
    {
        _old = Directory.CreateDirectory(Path.Combine(_root, "old")).FullName;
        _new = Directory.CreateDirectory(Path.Combine(_root, "new")).FullName;
        SpeedReportTests.CopyFixture(_old);
        SpeedReportTests.CopyFixture(_new);
        Edit(_new, "card.txt", s => s.Replace("commit=abc1234", "commit=def5678", StringComparison.Ordinal));
        // d48-1m has no reference in the fixture, so its figures never count; the tests that want every comparison
        // to count leave it out (DropRun).
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static void Edit(string dir, string file, Func<string, string> change) =>
        File.WriteAllText(Path.Combine(dir, file), change(File.ReadAllText(Path.Combine(dir, file))));

    private static void DropRun(string dir, string run)
    {
        foreach (string f in Directory.EnumerateFiles(dir, run + ".*")) File.Delete(f);
    }

    /// <summary>
    /// The candidate's d12 steps 10% faster and its peak memory 235 MiB lower (the samples' flat top, 28,035, lowered to
    /// 27,800: still above the ramp below it), its losses untouched.
    /// </summary>
    private void MakeNewFaster()
    {
        Edit(_new, "d12.log", s => StepTime().Replace(s, m =>
            $"| {(0.9 * double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToString("F2", CultureInfo.InvariantCulture)} ms |"));
        Edit(_new, "d12.smi.csv", s => s.Replace(", 28035,", ", 27800,", StringComparison.Ordinal));
    }

    private (int Code, string Out, string Err) Compare(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CompareCommand.Run(["compare", .. args], o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static string[] Rows(string markdown, string run) =>
        [.. markdown.Split('\n').Where(l => l.StartsWith($"| {run} |", StringComparison.Ordinal))];

    [Fact]
    public void AFasterCandidate_ShowsANegativeDelta_AndCounts()
    {
        DropRun(_old, "d48-1m");
        DropRun(_new, "d48-1m");
        MakeNewFaster();
        string outFile = Path.Combine(_root, "compare.md");
        var r = Compare(_old, _new, "--out", outFile);
        r.Code.Should().Be(0, r.Out + r.Err);
        r.Err.Should().BeEmpty();
        r.Out.Should().StartWith("### `old` (base) against `new`\n");
        r.Out.Should().Contain($"- old (base): `{_old}`, commit abc1234, NVIDIA H100 80GB HBM3, power limit 700 W, 2026-12-07");
        r.Out.Should().Contain($"- new: `{_new}`, commit def5678, NVIDIA H100 80GB HBM3, power limit 700 W, 2026-12-07");
        Rows(r.Out, "d12").Should().Equal(
            "| d12 | old (abc1234) | 933.6 | base | 561,577 | 28,035 | base | PASS 3.1e-4 over 20 steps | yes |",
            "| d12 | new (def5678) | 840.2 | -10.0% | 623,974 | 27,800 | -235 | PASS 3.1e-4 over 20 steps | yes |");
        File.ReadAllText(outFile).Should().Be(r.Out);
    }

    [Fact]
    public void WithoutOut_TheTableIsOnlyPrinted()
    {
        string[] Files() => [.. Directory.EnumerateFiles(_root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)];
        string[] before = Files();
        var r = Compare(_old, _new);
        r.Out.Should().Contain("| d12 | new (def5678) | 933.6 | 0.0% |");
        Files().Should().Equal(before);
    }

    [Fact]
    public void ACandidateWhoseLossCheckFailed_DoesNotCount_AndExitsOne()
    {
        DropRun(_old, "d48-1m");
        DropRun(_new, "d48-1m");
        MakeNewFaster();
        Edit(_new, "d12.log", s => s.Replace("loss 10.371961", "loss 10.391961", StringComparison.Ordinal));
        var r = Compare(_old, _new);
        r.Code.Should().Be(1);
        Rows(r.Out, "d12")[1].Should().Be(
            "| d12 | new (def5678) | 840.2 | -10.0% | 623,974 | 27,800 | -235 | FAIL 2.0e-2 over 20 steps | no: new: loss check failed |");
        r.Err.Trim().Split('\n').Should().ContainSingle().Which.Should().StartWith("llm-cuda-bench: compare: a comparison does not count");
    }

    [Fact]
    public void AFailedBase_MakesEveryComparisonOfThatRunNotCount()
    {
        DropRun(_old, "d48-1m");
        DropRun(_new, "d48-1m");
        File.AppendAllText(Path.Combine(_old, "d12.run"), "exit=124\n");
        var r = Compare(_old, _new);
        r.Code.Should().Be(1);
        Rows(r.Out, "d12")[0].Should().EndWith("| base | PASS 3.1e-4 over 20 steps | no: exit 124 |");
        Rows(r.Out, "d12")[1].Should().EndWith("| no: base: exit 124 |");
    }

    [Theory]
    [InlineData("card=NVIDIA H100 80GB HBM3", "card=NVIDIA H200", "no: different cards (NVIDIA H100 80GB HBM3 / NVIDIA H200)")]
    [InlineData("power_limit_w=700.00", "power_limit_w=500.00", "no: different power limits (700.00 / 500.00 W)")]
    [InlineData(null, null, "no: card unknown (new: no card.txt)")]
    public void DifferentCards_DoNotCount(string? from, string? to, string counts)
    {
        DropRun(_old, "d48-1m");
        DropRun(_new, "d48-1m");
        if (from is null) File.Delete(Path.Combine(_new, "card.txt"));
        else Edit(_new, "card.txt", s => s.Replace(from, to!, StringComparison.Ordinal));
        var r = Compare(_old, _new);
        r.Code.Should().Be(1);
        Rows(r.Out, "d12")[1].Should().EndWith($"| PASS 3.1e-4 over 20 steps | {counts} |");
    }

    [Fact]
    public void ARunOnlyInTheBase_IsListedAsMissing_AndOneOnlyInTheCandidateToo()
    {
        DropRun(_new, "d48-1m");
        foreach (string ext in new[] { ".run", ".log", ".smi.csv" }) File.Copy(Path.Combine(_new, "d12" + ext), Path.Combine(_new, "d48" + ext));
        Edit(_new, "d48.run", s => s.Replace("name=d12", "name=d48", StringComparison.Ordinal));
        File.WriteAllLines(Path.Combine(_old, "llmc_d48-1m.run"), ["name=llmc_d48-1m", "role=reference", "program=train_gpt2cu", "warmup=1", "exit=0"]);
        var r = Compare(_old, _new);
        r.Code.Should().Be(1);
        string[] lines = r.Out.Split('\n');
        // The base's runs in its order, then the candidate's extra run; llm.c's reference run is no build's figure.
        lines.Where(l => Regex.IsMatch(l, @"^\| [a-z]")).Select(l => l.Split(" | ")[0] + " | " + l.Split(" | ")[1])
            .Should().Equal("| run | build", "| d12 | old (abc1234)", "| d12 | new (def5678)", "| d48-1m | old (abc1234)",
                            "| d48-1m | new (def5678)", "| d48 | old (abc1234)", "| d48 | new (def5678)");
        Rows(r.Out, "d48-1m")[0].Should().EndWith("| base | no reference | no: no reference |");
        Rows(r.Out, "d48-1m")[1].Should().Be("| d48-1m | new (def5678) | — | — | — | — | — | — | no: base: no reference; no d48-1m run in new |");
        Rows(r.Out, "d48")[0].Should().Be("| d48 | old (abc1234) | — | base | — | — | base | — | no: no d48 run in old |");
        Rows(r.Out, "d48")[1].Should().Be("| d48 | new (def5678) | 933.6 | — | 561,577 | 28,035 | — | PASS 3.1e-4 over 20 steps | no: no d48 run in the base (old) |");
        r.Out.Should().Contain("Left out: llmc_d48-1m (llm.c's reference runs");
        Rows(r.Out, "llmc_d48-1m").Should().BeEmpty();
    }

    [Fact]
    public void SeveralCandidates_EachBesideTheBase_AndFoldersOfOneName_AreNamedByPath()
    {
        string other = Directory.CreateDirectory(Path.Combine(_root, "elsewhere", "old")).FullName;
        SpeedReportTests.CopyFixture(other);
        var r = Compare(_old, _new, other);
        Rows(r.Out, "d12").Select(l => l.Split(" | ")[1]).Should().Equal($"{_old} (abc1234)", "new (def5678)", $"{other} (abc1234)");
    }

    [Theory]
    [InlineData(new string[0], "usage: llm-cuda-bench compare BASE_DIR CAND_DIR")]
    [InlineData(new[] { "ROOT/old" }, "ROOT/old: no candidate to compare it with. usage:")]
    [InlineData(new[] { "ROOT/old", "ROOT/nothere" }, "ROOT/nothere: no such folder; give speed-bench.sh's OUT folders, the base first")]
    [InlineData(new[] { "ROOT/old", "ROOT/new", "--out" }, "--out needs a value")]
    [InlineData(new[] { "ROOT/old", "ROOT/new", "--out", "ROOT/nothere/compare.md" }, "--out ROOT/nothere/compare.md: folder ROOT/nothere does not exist")]
    [InlineData(new[] { "ROOT/old", "ROOT/new", "--steps", "0" }, "--steps 0: expected a positive step count")]
    [InlineData(new[] { "--base", "ROOT/old", "ROOT/new" }, "unknown option '--base'")]
    public void BadCommandLine_OneLine_ExitTwo(string[] args, string message)
    {
        var r = Compare([.. args.Select(a => a.Replace("ROOT", _root, StringComparison.Ordinal))]);
        r.Code.Should().Be(2);
        r.Out.Should().BeEmpty();
        r.Err.Trim().Split('\n').Should().ContainSingle().Which.Should()
            .StartWith("llm-cuda-bench: compare: ").And.Contain(message.Replace("ROOT", _root, StringComparison.Ordinal));
    }

    [Fact]
    public void FoldersWithoutRuns_SayWhatToRunFirst()
    {
        string a = Directory.CreateDirectory(Path.Combine(_root, "a")).FullName, b = Directory.CreateDirectory(Path.Combine(_root, "b")).FullName;
        var r = Compare(a, b);
        r.Code.Should().Be(1);
        r.Err.Trim().Should().StartWith($"llm-cuda-bench: compare: no *.run files in {a}, {b}; run tests/gpu/ab-bench.sh");
    }

    [GeneratedRegex(@"\| ([0-9.]+) ms \|")]
    private static partial Regex StepTime();
}
