using System.Diagnostics;
using FluentAssertions;
using LlmNet.Common.Cli;
using LlmNet.Common.Formats;
using LlmNet.Tools.Tokenize;
using Xunit;

namespace LlmNet.Tokenize.Tests;

/// <summary>A full disk, made real with a 256 KiB tmpfs (needs root; skipped where mounting is not allowed).</summary>
public sealed class DiskFullTests
{
    private static bool Sh(string command)
    {
        var start = new ProcessStartInfo("sh") { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(command);
        try
        {
            using var p = Process.Start(start)!;
            p.WaitForExit();
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception) { return false; }
    }

    [Fact]
    public async Task A_full_disk_fails_cleanly_and_a_rerun_with_space_resumes()
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("needs Linux tmpfs");
        using var dir = new TempDir();
        string mount = dir["small"];
        Directory.CreateDirectory(mount);
        if (!Sh($"mount -t tmpfs -o size=256k tmpfs '{mount}'")) Assert.Skip("cannot mount a tmpfs here (not root?)");
        try
        {
            var docs = TokenizeRunTests.SampleDocuments(3000, seed: 2);
            FineWebParquet.Write(dir["a.parquet"], docs, rowGroupSize: 500);
            string outDir = Path.Combine(mount, "out");
            var settings = new TokenizeSettings([dir["a.parquet"]], outDir, "f", 50_000);
            var act = () => new TokenizeRun(settings).RunAsync(TestContext.Current.CancellationToken);
            (await act.Should().ThrowAsync<ToolException>()).Which.Message.Should().Contain("f_train_").And.Contain("re-run");
            Directory.GetFiles(outDir, "*.tmp-*").Should().BeEmpty();
            foreach (var shard in Directory.GetFiles(outDir, "*.bin")) TokenShard.ReadHeader(shard).Should().Be(50_000);
            var written = Directory.GetFiles(outDir, "*.bin").Select(f => Path.GetFileName(f)).ToList();
            written.Should().NotBeEmpty();

            // Make room elsewhere: move the finished shards out, then resume into a bigger place.
            string bigger = dir["bigger"];
            Directory.CreateDirectory(bigger);
            foreach (var f in Directory.GetFiles(outDir)) File.Copy(f, Path.Combine(bigger, Path.GetFileName(f)));
            var resumed = await new TokenizeRun(settings with { OutputDirectory = bigger }).RunAsync(TestContext.Current.CancellationToken);
            resumed.Resumed.Should().BeTrue();
            ReferenceLayout.AssertShards(bigger, "f", ReferenceLayout.Shards(docs, 50_000));
        }
        finally
        {
            Sh($"umount '{mount}'");
        }
    }
}
