using System.Diagnostics;
using FluentAssertions;
using LlmNet.Tools.Train;
using Xunit;

namespace LlmNet.Training.Tests;

/// <summary>
/// Issue #16: a crash-and-retry loop (`until [ -f DONE_… ]; do llm-train … -y 1; done`, docs/train.md) must neither
/// fill the disk with the temporaries of killed checkpoint writes nor spin forever on a damaged newest checkpoint.
/// </summary>
[Collection(ConsoleErrorCollection.Name)]
public class CheckpointRecoveryTests(ITestOutputHelper log)
{
    private const int Steps = 12;

    private static string[] Args(string outDir) =>
    [
        "-i", TinyRun.TrainPattern, "-j", TinyRun.ValPattern, "-e", TinyRun.ModelPath, "-o", outDir,
        "-b", "1", "-t", "8", "-x", Steps.ToString(), "-n", "1", "-nk", "1", "-v", "0", "-s", "0",
        "-l", "1e-3", "-u", "2", "-y", "1", "--device", "cpu", "--quiet",
    ];

    private static Process Start(string outDir)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "llm-train.dll"));
        foreach (string a in Args(outDir)) psi.ArgumentList.Add(a);
        var process = Process.Start(psi)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static string[] Temps(string dir) => Directory.GetFiles(dir, "*.tmp-*");

    [Fact]
    public void Kill_9_during_checkpoint_writes_leaves_no_temporaries_and_resume_stays_exact()
    {
        using var reference = new TempDir();
        using var killed = new TempDir();
        using (var p = Start(reference.Path))
        {
            p.WaitForExit(120_000).Should().BeTrue();
            p.ExitCode.Should().Be(0);
        }

        // Several SIGKILLs, each a random moment after the n-th temporary checkpoint file appeared (n random too),
        // so kills land inside model writes, state writes, between DONE and the rotation, and in between.
        int seed = Environment.TickCount;
        log.WriteLine($"seed {seed}");
        var random = new Random(seed);
        int kills = 0, leaked = 0;
        for (int attempt = 0; attempt < 8 && kills < 4; attempt++)
        {
            using var p = Start(killed.Path);
            int wanted = random.Next(1, 9), seen = 0;
            string? last = null;
            while (!p.HasExited)
            {
                string? temp = Temps(killed.Path).FirstOrDefault();
                if (temp is not null && temp != last) { seen++; last = temp; }
                if (seen >= wanted)
                {
                    Thread.Sleep(random.Next(0, 15));
                    p.Kill(); // SIGKILL on Linux: no handler runs, exactly like kill -9
                    kills++;
                    break;
                }
                Thread.Sleep(1);
            }
            p.WaitForExit();
            leaked += Temps(killed.Path).Length;
            log.WriteLine($"attempt {attempt}: killed={p.ExitCode != 0} after {seen} temporaries; now {string.Join(" ", Directory.GetFiles(killed.Path).Select(Path.GetFileName).Order())}");
            if (p.ExitCode == 0) break; // finished before the kill
        }
        log.WriteLine($"{kills} kills, {leaked} temporaries seen after them");

        using (var p = Start(killed.Path))
        {
            p.WaitForExit(120_000).Should().BeTrue();
            p.ExitCode.Should().Be(0);
        }
        Temps(killed.Path).Should().BeEmpty("stale temporaries of the output folder are removed at start");
        string final = $"{Steps:D8}";
        Directory.GetFiles(killed.Path).Select(Path.GetFileName).Order().Should().Equal(
            [$"DONE_{final}", "main.log", $"model_{final}.bin", $"state_{final}_00000.bin"], "with -nk 1 one checkpoint set remains");
        File.ReadAllBytes(Path.Combine(killed.Path, $"model_{final}.bin")).Should().Equal(File.ReadAllBytes(Path.Combine(reference.Path, $"model_{final}.bin")));
        File.ReadAllBytes(Path.Combine(killed.Path, $"state_{final}_00000.bin")).Should().Equal(File.ReadAllBytes(Path.Combine(reference.Path, $"state_{final}_00000.bin")));
    }

    private static TrainOptions Options(string outDir, int maxSteps) => TinyRun.CpuOptions(maxSteps) with
    {
        OutputDir = outDir, CheckpointEvery = 2, LearningRate = 1e-3f, Resume = 1, Quiet = true,
    };

    private static void Truncate(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Write);
        fs.SetLength(fs.Length / 2);
    }

    [Theory]
    [InlineData("model_00000006.bin")]
    [InlineData("state_00000006_00000.bin")]
    public void A_truncated_newest_checkpoint_falls_back_to_the_newest_that_verifies(string damaged)
    {
        using var whole = new TempDir();
        using var dir = new TempDir();
        TrainProgram.Train(Options(whole.Path, 8), new WatchingWriter(), TestContext.Current.CancellationToken);
        TrainProgram.Train(Options(dir.Path, 6), new WatchingWriter(), TestContext.Current.CancellationToken);
        Truncate(Path.Combine(dir.Path, damaged));

        var output = new WatchingWriter();
        var resumed = TrainProgram.Train(Options(dir.Path, 8), output, TestContext.Current.CancellationToken);
        log.WriteLine(output.ToString());
        resumed.StartStep.Should().Be(4);
        output.ToString().Should().Contain($"checkpoint at step 6 is unusable ({Path.Combine(dir.Path, damaged)}: ").And.Contain("resuming from step 4 instead")
            .And.Contain($"removed {Path.Combine(dir.Path, "DONE_00000006")}");
        File.ReadAllBytes(Path.Combine(dir.Path, "model_00000008.bin")).Should().Equal(File.ReadAllBytes(Path.Combine(whole.Path, "model_00000008.bin")));
    }

    [Fact]
    public void When_no_checkpoint_verifies_resume_fails_with_the_command_that_fixes_it()
    {
        using var dir = new TempDir();
        TrainProgram.Train(Options(dir.Path, 4), new WatchingWriter(), TestContext.Current.CancellationToken);
        Truncate(Path.Combine(dir.Path, "model_00000004.bin"));
        Truncate(Path.Combine(dir.Path, "state_00000002_00000.bin"));

        var err = new StringWriter();
        var saved = Console.Error;
        Console.SetError(err);
        try
        {
            TrainProgram.Run(["-i", TinyRun.TrainPattern, "-j", TinyRun.ValPattern, "-e", TinyRun.ModelPath, "-o", dir.Path, "-b", "1", "-t", "8",
                "-x", "6", "-n", "2", "-s", "0", "-y", "1", "--device", "cpu"], new StringWriter()).Should().Be(1);
        }
        finally { Console.SetError(saved); }
        err.ToString().Trim().Should().NotContain("\n").And.Contain(dir.Path).And.Contain("no complete checkpoint verifies")
            .And.Contain($"rm {Path.Combine(dir.Path, "DONE_")}*").And.Contain("-y 0");
    }
}
