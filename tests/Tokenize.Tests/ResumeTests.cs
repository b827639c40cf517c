using FluentAssertions;
using LlmNet.Common.Cli;
using LlmNet.Tools.Tokenize;
using Xunit;

namespace LlmNet.Tokenize.Tests;

public sealed class ResumeTests
{
    private static TokenizeResult Run(TokenizeSettings settings) =>
        new TokenizeRun(settings).RunAsync(TestContext.Current.CancellationToken).GetAwaiter().GetResult();

    private static Dictionary<string, byte[]> Shards(string dir) =>
        Directory.GetFiles(dir, "*.bin").ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes);

    private static (TempDir Dir, List<string> Inputs, Dictionary<string, byte[]> Clean) Setup()
    {
        var dir = new TempDir();
        try
        {
            var docs = TokenizeRunTests.SampleDocuments(400, seed: 21);
            FineWebParquet.Write(dir["a.parquet"], docs[..150], rowGroupSize: 40);
            File.WriteAllLines(dir["b.jsonl"], docs[150..].Select(d => System.Text.Json.JsonSerializer.Serialize(new { text = d })));
            List<string> inputs = [dir["a.parquet"], dir["b.jsonl"]];
            Run(new TokenizeSettings(inputs, dir["clean"], "r", 1500));
            return (dir, inputs, Shards(dir["clean"]));
        }
        catch
        {
            dir.Dispose();
            throw;
        }
    }

    [Fact]
    public void A_run_stopped_after_some_shards_continues_to_identical_output()
    {
        var (dir, inputs, clean) = Setup();
        using var _ = dir;
        clean.Should().HaveCountGreaterThan(8);
        foreach (int stopAfter in new[] { 1, 4, clean.Count - 1 })
        {
            string outDir = dir[$"out{stopAfter}"];
            using var cts = new CancellationTokenSource();
            var run = new TokenizeRun(new TokenizeSettings(inputs, outDir, "r", 1500));
            run.ShardWritten += s => { if (s.Index + 1 == stopAfter) cts.Cancel(); };
            var act = () => run.RunAsync(cts.Token).GetAwaiter().GetResult();
            act.Should().Throw<OperationCanceledException>();
            Directory.GetFiles(outDir, "*.tmp-*").Should().BeEmpty();
            Shards(outDir).Count.Should().BeLessThan(clean.Count);

            // The resumed run may use another thread count (here with inputs read ahead in parallel).
            var resumed = Run(new TokenizeSettings(inputs, outDir, "r", 1500, Threads: 8));
            resumed.Resumed.Should().BeTrue();
            Shards(outDir).Should().BeEquivalentTo(clean);
            resumed.Documents.Should().Be(400);
        }
    }

    [Fact]
    public async Task A_kill_between_shard_rename_and_manifest_update_and_stray_temporaries_are_recovered()
    {
        var (dir, inputs, clean) = Setup();
        using var _ = dir;
        string outDir = dir["out"];
        string manifestPath = ProgressManifest.PathFor(outDir, "r");
        byte[]? manifestAfter3 = null;
        var run = new TokenizeRun(new TokenizeSettings(inputs, outDir, "r", 1500));
        run.ShardWritten += s => { if (s.Index == 2) manifestAfter3 = File.ReadAllBytes(manifestPath); };
        await run.RunAsync(TestContext.Current.CancellationToken);

        // As if killed right after shard 5 was renamed into place, with shard 6 half-written:
        // the manifest still says 3 shards, later shards exist, and a temporary file lies around.
        File.WriteAllBytes(manifestPath, manifestAfter3!);
        foreach (var f in Directory.GetFiles(outDir, "r_train_*.bin").Where(f => int.Parse(Path.GetFileNameWithoutExtension(f)[^6..]) > 5)) File.Delete(f);
        File.WriteAllBytes(Path.Combine(outDir, "r_train_000006.bin.tmp-1234-abcd"), new byte[5000]);
        File.WriteAllBytes(Path.Combine(outDir, "r_train_000004.bin"), new byte[100]); // garbage under a final name is rewritten

        var resumed = Run(new TokenizeSettings(inputs, outDir, "r", 1500));
        resumed.Resumed.Should().BeTrue();
        Directory.GetFiles(outDir, "*.tmp-*").Should().BeEmpty();
        Shards(outDir).Should().BeEquivalentTo(clean);
    }

    [Fact]
    public void A_complete_run_is_not_redone_and_changed_settings_are_refused()
    {
        var (dir, inputs, clean) = Setup();
        using var _ = dir;
        var again = Run(new TokenizeSettings(inputs, dir["clean"], "r", 1500));
        again.AlreadyComplete.Should().BeTrue();
        Shards(dir["clean"]).Should().BeEquivalentTo(clean);

        var otherSize = () => Run(new TokenizeSettings(inputs, dir["clean"], "r", 1600));
        otherSize.Should().Throw<ToolException>().Which.Message.Should().Contain("shard size 1500 (now 1600)").And.Contain("--restart");

        File.AppendAllText(inputs[1], "{\"text\": \"one more\"}\n");
        var changed = () => Run(new TokenizeSettings(inputs, dir["clean"], "r", 1500));
        changed.Should().Throw<ToolException>().Which.Message.Should().Contain(inputs[1]).And.Contain("changed");

        var restarted = Run(new TokenizeSettings(inputs, dir["clean"], "r", 1600, Restart: true));
        restarted.Resumed.Should().BeFalse();
        restarted.Documents.Should().Be(401);
    }

    [Fact]
    public void Shards_without_a_manifest_are_not_overwritten_silently()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["in.txt"], "some text");
        Directory.CreateDirectory(dir["out"]);
        File.WriteAllBytes(Path.Combine(dir["out"], "p_val_000000.bin"), [1, 2, 3]);
        var act = () => Run(new TokenizeSettings([dir["in.txt"]], dir["out"], "p", 100));
        act.Should().Throw<ToolException>().Which.Message.Should().Contain("p_val_000000.bin").And.Contain("--restart");
        Run(new TokenizeSettings([dir["in.txt"]], dir["out"], "p", 100, Restart: true)).Shards.Should().Be(1);
    }
}
