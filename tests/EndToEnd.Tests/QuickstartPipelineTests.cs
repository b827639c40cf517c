using System.Text;
using System.Text.Json;
using CliWrap;
using CliWrap.Buffered;
using FluentAssertions;
using LlmNet.Common.Formats;
using LlmNet.Common.Logs;
using LlmNet.Plot.Tests;
using LlmNet.TestSupport;
using LlmNet.Tools.Plot;
using SkiaSharp;
using Xunit;

namespace LlmNet.EndToEnd.Tests;

/// <summary>
/// Drives the real executables through pipelines/quickstart.sh at toy scale, as a newcomer would: from a bare
/// copy of the repository (what a clone holds: no bin/, no build outputs, nothing beside it such as ../shared),
/// so the tools are built there, the corpus is the offline default, training runs on the CPU and HellaSwag is
/// scored on the bundled sample (or the real file where the network reaches it). Then checks that a re-run
/// skips finished work and that one stage runs alone. Trains 40 steps (--steps) instead of the default 120 to
/// keep the suite short; the val loss still clearly falls.
/// </summary>
public sealed class QuickstartPipelineTests : IDisposable
{
    private const int Steps = 40;
    private const int DefaultHellaSwagLimit = 100;   // pipelines/quickstart.sh: HELLASWAG_LIMIT
    private readonly string _dir = Directory.CreateTempSubdirectory("llmnet-quickstart-").FullName;
    private string Clone => Path.Combine(_dir, "llm.net");
    private string Run => Path.Combine(Clone, "runs", "quickstart", "run");   // the default WORK of a newcomer

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>
    /// Copies what a clone of the current tree holds: the files git tracks plus untracked files it does not
    /// ignore (so work not yet committed is tested too), and nothing git ignores (bin/, obj/, runs/).
    /// </summary>
    private async Task CopyAsBareClone()
    {
        var listed = await Cli.Wrap("git").WithArguments(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
            .WithWorkingDirectory(RepoPaths.Root).WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(TestContext.Current.CancellationToken);
        if (listed.ExitCode != 0) Assert.Skip($"{RepoPaths.Root} is not a git work tree (git ls-files: {listed.StandardError.Trim()}); the bare-clone quickstart needs one");
        foreach (string file in listed.StandardOutput.Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            string from = Path.Combine(RepoPaths.Root, file), to = Path.Combine(Clone, file);
            if (!File.Exists(from)) continue;   // tracked but deleted in the work tree
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(from, to);
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(to, File.GetUnixFileMode(from));
        }
    }

    private Task<BufferedCommandResult> Quickstart(params string[] args) =>
        Cli.Wrap("bash")
            .WithArguments([Path.Combine(Clone, "pipelines", "quickstart.sh"), "--steps", Steps.ToString(), .. args])
            .WithWorkingDirectory(Clone)
            .WithEnvironmentVariables(env => env
                // Nothing from the developer's environment may stand in for the clone's own files.
                .Set("WORK", null).Set("BIN", null).Set("INPUT", null).Set("HELLASWAG", null).Set("HELLASWAG_LIMIT", null)
                .Set("STEPS", null).Set("MODEL", null).Set("DEVICE", "cpu"))
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(Encoding.UTF8, TestContext.Current.CancellationToken);

    [Fact]
    public async Task Quickstart_from_a_bare_clone_runs_every_stage_then_skips_finished_work()
    {
        await CopyAsBareClone();
        Directory.Exists(Path.Combine(Clone, "bin")).Should().BeFalse();
        Directory.GetFileSystemEntries(_dir).Should().Equal([Clone], "nothing lies beside the clone (no ../shared)");

        var first = await Quickstart();
        string output = first.StandardOutput + first.StandardError;
        first.ExitCode.Should().Be(0, $"quickstart failed:\n{output}");

        // Shards: val first, then train, all valid llm.c shards.
        string shards = Path.Combine(Clone, "runs", "quickstart", "shards");
        File.Exists(Path.Combine(shards, "quick_val_000000.bin")).Should().BeTrue();
        var trainShards = Directory.GetFiles(shards, "quick_train_*.bin");
        trainShards.Should().NotBeEmpty();
        foreach (var shard in trainShards) TokenShard.ReadHeader(shard).Should().BeGreaterThan(0);

        // Training: the log has every step, val loss fell clearly, the final checkpoint is complete.
        var log = File.ReadAllLines(Path.Combine(Run, "main.log"));
        log.Count(l => l.Contains(" trl:")).Should().Be(Steps);
        var val = log.Where(l => l.Contains(" tel:")).Select(l => double.Parse(l.Split("tel:")[1])).ToArray();
        val.Length.Should().BeGreaterThan(1);
        val[^1].Should().BeLessThan(val[0] - 1.0, "the val loss should clearly fall: {0}", string.Join(", ", val));
        File.Exists(Path.Combine(Run, $"DONE_{Steps:D8}")).Should().BeTrue();
        new FileInfo(Path.Combine(Run, $"model_{Steps:D8}.bin")).Length.Should().BeGreaterThan(1024);

        // HellaSwag: scored by default on the bundled sample (offline) or the downloaded file, as JSON beside the run.
        string hellaswag = Path.Combine(Run, "hellaswag.json");
        using (var json = JsonDocument.Parse(File.ReadAllText(hellaswag)))
        {
            var root = json.RootElement;
            int correct = root.GetProperty("correct").GetInt32(), total = root.GetProperty("total").GetInt32();
            total.Should().Be(DefaultHellaSwagLimit);
            correct.Should().BeInRange(0, total);
            root.GetProperty("accuracy").GetDouble().Should().BeApproximately((double)correct / total, 1e-9);
            root.GetProperty("data").GetString().Should().BeOneOf(
                Path.Combine(Clone, "data", "hellaswag_val_sample.txt.bz2"), Path.Combine(Clone, "runs", "quickstart", "hellaswag", "hellaswag_val.jsonl"));
        }
        output.Should().NotContain("HellaSwag is skipped").And.NotContain("no HellaSwag data");
        output.Should().Contain($"  hellaswag   {hellaswag}", "the closing list names the JSON that was written");

        File.ReadAllText(Path.Combine(Run, "sample.txt")).Should().NotBeNullOrWhiteSpace();
        File.ReadAllText(Path.Combine(Run, "curves.svg")).Should().Contain("<svg");
        ValCurveIsInsideThePlotArea(Path.Combine(Run, "curves.png"), Path.Combine(Run, "main.log"));

        // A re-run finds everything done and does not train again.
        var again = await Quickstart("--from", "corpus");
        again.ExitCode.Should().Be(0, again.StandardError);
        (again.StandardOutput + again.StandardError).Should().Contain("train: finished run");
        File.ReadAllLines(Path.Combine(Run, "main.log")).Count(l => l.Contains(" trl:")).Should().Be(Steps);

        // One stage alone; the closing list names only files that exist.
        File.Delete(Path.Combine(Run, "curves.png"));
        File.Delete(hellaswag);
        var plot = await Quickstart("--stage", "plot");
        plot.ExitCode.Should().Be(0, plot.StandardError);
        File.Exists(Path.Combine(Run, "curves.png")).Should().BeTrue();
        plot.StandardOutput.Should().Contain("  plots       ").And.NotContain("hellaswag.json");
    }

    /// <summary>
    /// Decodes the quickstart's PNG and finds every val point drawn, in the val colour, inside the plot area.
    /// The plot area and the points' pixels come from laying the same log out with llm-plot's own Figure at the
    /// same size (the rendering is deterministic), so this checks the image the quickstart wrote.
    /// </summary>
    private static void ValCurveIsInsideThePlotArea(string png, string mainLog)
    {
        using var image = SKBitmap.Decode(png) ?? throw new InvalidDataException($"{png} did not decode");
        var run = new RunCurves(MainLogReader.Read(mainLog), "run");
        run.HellaSwag.IsEmpty.Should().BeTrue("the quickstart trains without HellaSwag evals: one loss panel");
        image.Width.Should().Be(Figure.DefaultColumnWidth);
        image.Height.Should().Be(Figure.DefaultRowHeight);

        FontSetup.Configure(null);
        var panel = Figure.BuildPanels([run], new FigureOptions())[0];
        using (var surface = SKSurface.Create(new SKImageInfo(image.Width, image.Height)))
            panel.Render(surface.Canvas, new ScottPlot.PixelRect(0, image.Width, image.Height, 0));
        ValMarkers.AllInsidePlotArea(panel, run, image, png);
    }

    [Fact]
    public async Task Dry_run_prints_every_stage_command_and_runs_nothing()
    {
        string work = Path.Combine(_dir, "work"), bin = Path.Combine(_dir, "bin");
        var result = await Cli.Wrap("bash")
            .WithArguments([Path.Combine(RepoPaths.Root, "pipelines", "quickstart.sh"), "--dry-run", "--steps", "7"])
            .WithEnvironmentVariables(env => env.Set("WORK", work).Set("BIN", bin).Set("INPUT", null).Set("HELLASWAG", null)
                .Set("HELLASWAG_LIMIT", null).Set("STEPS", null).Set("MODEL", null).Set("DEVICE", "cpu").Set("FINEWEB", null))
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(Encoding.UTF8, TestContext.Current.CancellationToken);

        result.ExitCode.Should().Be(0, result.StandardError);
        string output = result.StandardOutput;
        foreach (var stage in new[] { "corpus", "tokenize", "hellaswag", "train", "eval", "sample", "plot" })
            output.Should().Contain($"# stage {stage}\n");
        output.Should().Contain($"{bin}/llm-tokenize {work}/corpus/*.txt --out {work}/shards --prefix quick")
            .And.Contain($"{bin}/llm-train -i '{work}/shards/quick_train_*.bin'").And.Contain(" -x 7 ")
            .And.Contain($"{bin}/llm-eval hellaswag -e {work}/run/model_00000007.bin --hellaswag-data {RepoPaths.HellaSwagSample} --limit 100 --device cpu --json")
            .And.Contain($"{bin}/llm-plot {work}/run/main.log --out {work}/run/curves.png");
        output.Should().NotContain("artefacts:", "a dry run writes nothing to list");
        Directory.Exists(work).Should().BeFalse();
        Directory.Exists(bin).Should().BeFalse("a dry run does not build the tools either");
    }

    [Fact]
    public async Task Unknown_stage_is_a_clear_error()
    {
        await CopyAsBareClone();
        var result = await Quickstart("--stage", "nope");
        result.ExitCode.Should().NotBe(0);
        result.StandardError.Should().Contain("unknown stage 'nope'");
    }
}
