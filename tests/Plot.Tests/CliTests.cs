using System.Diagnostics;
using FluentAssertions;
using SkiaSharp;
using Xunit;

namespace LlmNet.Plot.Tests;

/// <summary>Runs the built llm-plot as a separate process, the way scripts and people use it.</summary>
public class CliTests
{
    private sealed record Result(int ExitCode, string Stdout, string Stderr);

    private static string ToolDll
    {
        get
        {
            string beside = Path.Combine(AppContext.BaseDirectory, "llm-plot.dll");
            return File.Exists(beside) ? beside : Path.Combine(LlmNet.TestSupport.RepoPaths.Root, "tools", "plot", "bin", "Release", "net10.0", "llm-plot.dll");
        }
    }

    private static ProcessStartInfo StartInfo(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(ToolDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        // Headless on purpose: no X display, and no usable fontconfig setup.
        psi.Environment.Remove("DISPLAY");
        psi.Environment.Remove("WAYLAND_DISPLAY");
        psi.Environment["FONTCONFIG_FILE"] = "/nonexistent/fonts.conf";
        return psi;
    }

    private static Result RunTool(params string[] args)
    {
        using var p = Process.Start(StartInfo(args))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(60_000)) { p.Kill(entireProcessTree: true); throw new TimeoutException("llm-plot did not finish in 60 s"); }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    public void Writes_a_png_prints_the_summary_and_reports_malformed_lines_headless()
    {
        using var tmp = new TempDir();
        string log = SyntheticLog.WriteRun(tmp.Path, "gpt2_124M", SyntheticLog.Run(300) + "this is not a record\n");
        int badLine = File.ReadAllLines(log).Length;
        string png = tmp.File("out/fig.png");

        var r = RunTool(Path.GetDirectoryName(log)!, "--out", png);

        r.ExitCode.Should().Be(0, r.Stderr);
        r.Stderr.Should().Contain($"{log}:{badLine}: does not start with a step").And.Contain("line skipped");
        r.Stdout.Should().Contain("gpt2_124M  (").And.Contain("train loss  min").And.Contain("HellaSwag   max 0.3100 at step 299");
        using var bmp = SKBitmap.Decode(png);
        bmp.Should().NotBeNull();
        bmp.Width.Should().Be(1600);
        Directory.GetFiles(tmp.File("out")).Should().Equal([png], "the image was written through a temp file and renamed");
    }

    [Fact]
    public void Overlays_runs_with_labels_into_an_svg()
    {
        using var tmp = new TempDir();
        string a = SyntheticLog.WriteRun(tmp.Path, "a", SyntheticLog.Run(200));
        string b = SyntheticLog.WriteRun(tmp.Path, "b", SyntheticLog.Run(150, floor: 3.3));
        string svg = tmp.File("fig.svg");

        // Both runs end above the 350M line (3.08): --show-reference stretches the axis so it is drawn.
        var r = RunTool(a, b, "--out", svg, "--label", "baseline", "--label", "wider", "--size", "350M", "--extra", "--show-reference", "-q");

        r.ExitCode.Should().Be(0, r.Stderr);
        r.Stdout.Should().BeEmpty("--quiet prints no summary");
        string text = File.ReadAllText(svg);
        text.Should().Contain("baseline val loss").And.Contain("wider val loss").And.Contain("OpenAI GPT-2 (350M) checkpoint val loss")
            .And.Contain("Learning rate");
    }

    [Fact]
    public void Summary_alone_without_out_and_errors_are_one_line_with_exit_codes()
    {
        using var tmp = new TempDir();
        string log = SyntheticLog.WriteRun(tmp.Path, "run", SyntheticLog.Run(100));

        var summary = RunTool(log);
        summary.ExitCode.Should().Be(0);
        summary.Stdout.Should().Contain("steps       0..99: 100 train");

        var missing = RunTool(tmp.File("nope/main.log"), "--out", tmp.File("x.png"));
        missing.ExitCode.Should().Be(1);
        missing.Stderr.Trim().Should().StartWith("llm-plot: error: ").And.Contain("nope/main.log: no such file").And.NotContain("\n");
        File.Exists(tmp.File("x.png")).Should().BeFalse();

        var badExt = RunTool(log, "--out", tmp.File("x.jpg"));
        badExt.ExitCode.Should().Be(2);
        badExt.Stderr.Should().Contain(".png or .svg");

        var badSize = RunTool(log, "--size", "13B");
        badSize.ExitCode.Should().Be(2);

        var noLog = RunTool();
        noLog.ExitCode.Should().Be(2);
        noLog.Stderr.Should().Contain("no LOG given");

        var typo = RunTool(log, "--wacth");
        typo.ExitCode.Should().Be(2);
        typo.Stderr.Should().Contain("unknown option '--wacth'");

        File.WriteAllText(tmp.File("empty.log"), "nothing useful\n");
        var empty = RunTool(tmp.File("empty.log"), "--out", tmp.File("e.png"));
        empty.ExitCode.Should().Be(1);
        empty.Stderr.Should().Contain("empty.log: no 's:STEP KEY:VALUE' records");
        File.Exists(tmp.File("e.png")).Should().BeFalse();
    }

    [Fact]
    public async Task Watch_redraws_as_the_log_grows_and_ctrl_c_ends_it_cleanly()
    {
        var ct = TestContext.Current.CancellationToken;
        using var tmp = new TempDir();
        string log = tmp.File("main.log");
        string png = tmp.File("live.png");
        using var p = Process.Start(StartInfo([log, "--out", png, "--watch", "--interval", "0.1"]))!;
        var stdoutTask = p.StandardOutput.ReadToEndAsync(ct);
        var stderrTask = p.StandardError.ReadToEndAsync(ct);
        try
        {
            File.WriteAllText(log, "s:0 trl:10.0000 lr:0.000100 norm:5.00\ns:0 tel:10.1000\n");
            WaitFor(() => File.Exists(png), "first image");
            var first = File.GetLastWriteTimeUtc(png);
            long firstSize = new FileInfo(png).Length;

            File.AppendAllText(log, SyntheticLog.Run(200)[..^1].Replace("s:0 ", "s:9999 "));
            WaitFor(() => new FileInfo(png).Length != firstSize || File.GetLastWriteTimeUtc(png) > first, "redraw after the log grew");

            await Process.Start("kill", ["-INT", p.Id.ToString()])!.WaitForExitAsync(ct);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(60)); // a loaded 2-core machine can take long to redraw and exit
            await p.WaitForExitAsync(timeout.Token);
        }
        finally
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
        }
        string stdout = await stdoutTask, stderr = await stderrTask;
        p.ExitCode.Should().Be(0, stderr);
        stderr.Should().Contain("wrote " + png);
        stdout.Should().Contain("train loss  min");
        Directory.GetFiles(tmp.Path).Select(Path.GetFileName).Should().BeEquivalentTo(["main.log", "live.png"]);
        using var bmp = SKBitmap.Decode(png);
        bmp.Should().NotBeNull();
    }

    [Fact]
    public void The_native_renderer_needs_no_fontconfig_and_no_x11()
    {
        string native = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libSkiaSharp.so");
        File.Exists(native).Should().BeTrue("SkiaSharp's Linux NoDependencies native build ships with the tool");
        byte[] bytes = File.ReadAllBytes(native);
        foreach (var lib in new[] { "libfontconfig.so", "libX11.so", "libfreetype.so" })
            bytes.AsSpan().IndexOf(System.Text.Encoding.ASCII.GetBytes(lib)).Should().Be(-1, $"the renderer must not load {lib}");
    }

    private static void WaitFor(Func<bool> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException($"timed out waiting for the {what}");
            Thread.Sleep(50);
        }
    }
}
