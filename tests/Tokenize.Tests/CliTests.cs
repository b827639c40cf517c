using System.Diagnostics;
using FluentAssertions;
using LlmNet.Common.Formats;
using Xunit;

namespace LlmNet.Tokenize.Tests;

/// <summary>The tool as a user runs it: arguments, exit codes, one-line errors.</summary>
public sealed class CliTests
{
    private static (int Code, string Out, string Err) Tool(params string[] args)
    {
        using var process = Process.Start(StartInfo(args))!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr);
    }

    private static ProcessStartInfo StartInfo(string[] args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add("exec");
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "llm-tokenize.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        return start;
    }

    [Theory]
    [InlineData("KILL")]
    [InlineData("INT")]
    public void A_killed_or_interrupted_run_leaves_only_whole_shards_and_resumes_to_identical_output(string signal)
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("sends POSIX signals");
        using var dir = new TempDir();
        var docs = TokenizeRunTests.SampleDocuments(6000, seed: 4);
        FineWebParquet.Write(dir["a.parquet"], docs, rowGroupSize: 200);
        string[] args = [dir["a.parquet"], "--out", dir["out"], "--shard-size", "3000", "--threads", "1"];

        using (var process = Process.Start(StartInfo(args))!)
        {
            _ = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            _ = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            var clock = Stopwatch.StartNew();
            while (!process.HasExited && clock.Elapsed < TimeSpan.FromSeconds(30)
                   && (!Directory.Exists(dir["out"]) || Directory.GetFiles(dir["out"], "*.bin").Length < 3))
                Thread.Sleep(5);
            bool running = !process.HasExited;
            using (var kill = Process.Start("kill", ["-" + signal, process.Id.ToString()])) kill.WaitForExit();
            process.WaitForExit();
            TestContext.Current.SendDiagnosticMessage($"{signal}: running={running} exit={process.ExitCode} shards={Directory.GetFiles(dir["out"], "*.bin").Length} tmp={Directory.GetFiles(dir["out"], "*.tmp-*").Length}");
            if (signal == "INT" && process.ExitCode != 0) process.ExitCode.Should().Be(130);
        }
        // Every shard is whole, except the data's own shorter last shard (as llm.c's fineweb.py writes it) when the run
        // had tokenized everything before the signal stopped it.
        var expected = ReferenceLayout.Shards(docs, 3000);
        foreach (var shard in Directory.GetFiles(dir["out"], "*.bin"))
        {
            long count = TokenShard.ReadHeader(shard);
            if (count == 3000) continue;
            int.Parse(Path.GetFileNameWithoutExtension(shard)[^6..]).Should().Be(expected.Count - 1, $"{shard} holds {count} tokens");
            count.Should().Be(expected[^1].Length);
        }
        if (signal == "INT") Directory.GetFiles(dir["out"], "*.tmp-*").Should().BeEmpty();

        var resumed = Tool([.. args, "-q"]);
        resumed.Code.Should().Be(0, resumed.Err);
        Directory.GetFiles(dir["out"], "*.tmp-*").Should().BeEmpty();
        ReferenceLayout.AssertShards(dir["out"], "edu_fineweb", ReferenceLayout.Shards(docs, 3000));
    }

    [Fact]
    public void Writes_named_shards_and_reports_on_stderr()
    {
        using var dir = new TempDir();
        var docs = TokenizeRunTests.SampleDocuments(120);
        FineWebParquet.Write(dir["part-0.parquet"], docs, rowGroupSize: 50);
        var (code, _, err) = Tool(dir["part-0.parquet"], "--out", dir["shards"], "--shard-size", "2000");
        code.Should().Be(0, err);
        err.Should().Contain("wrote").And.Contain("tokens/s");
        ReferenceLayout.AssertShards(dir["shards"], "edu_fineweb", ReferenceLayout.Shards(docs, 2000));

        var again = Tool(dir["part-0.parquet"], "--out", dir["shards"], "--shard-size", "2000", "--quiet");
        again.Code.Should().Be(0);
        again.Err.Should().BeEmpty();
    }

    [Fact]
    public void Errors_are_one_line_with_the_file_and_a_non_zero_exit()
    {
        using var dir = new TempDir();
        FineWebParquet.Write(dir["a.parquet"], ["some text"]);
        var (code, _, err) = Tool(dir["a.parquet"], "--out", dir["out"], "--column", "body");
        code.Should().Be(1);
        err.TrimEnd().Split('\n').Should().ContainSingle()
            .Which.Should().StartWith($"llm-tokenize: error: {dir["a.parquet"]}: has no column \"body\" (columns: text, id, dump");
        Directory.GetFiles(dir["out"], "*.bin").Should().BeEmpty();
    }

    [Fact]
    public void Usage_errors_exit_2_and_help_lists_the_defaults()
    {
        Tool().Code.Should().Be(2);
        var bad = Tool("x.txt", "--out", "o", "--shard-size", "0");
        bad.Code.Should().Be(2);
        bad.Err.Should().Contain("--shard-size");
        var help = Tool("--help");
        help.Code.Should().Be(0);
        help.Out.Should().Contain("--shard-size").And.Contain("100000000").And.Contain("edu_fineweb").And.Contain("--column").And.Contain("bench");
    }

    [Fact]
    public void A_shard_reads_back_through_the_shared_reader()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["a.txt"], "Hello world");
        Tool(dir["a.txt"], "--out", dir["o"], "--prefix", "hw", "-q").Code.Should().Be(0);
        TokenShard.ReadAll(dir["o/hw_val_000000.bin"]).Should().Equal(50256, 15496, 995);
    }

    [Fact]
    public void Cl100k_base_writes_llmc_uint32_shards_with_eot_then_the_ordinary_encoding()
    {
        using var dir = new TempDir();
        string text = TiktokenEncodingTests.Corpus + " and a literal <|endoftext|> inside.";
        File.WriteAllText(dir["a.txt"], text);
        var run = Tool(dir["a.txt"], "--out", dir["o"], "--prefix", "cl", "--shard-size", "40", "--tokenizer", "cl100k_base", "-q");
        run.Code.Should().Be(0, run.Err);

        var reference = Microsoft.ML.Tokenizers.TiktokenTokenizer.CreateForEncoding("cl100k_base");
        const string literal = " and a literal <|endoftext|> inside.";
        // The library encodes the literal as the special id; the shard must hold it as text, piece by piece.
        uint[] expected = [100257, .. reference.EncodeToIds(TiktokenEncodingTests.Corpus).Select(i => (uint)i),
            .. new[] { " and", " a", " literal", " <|", "endoftext", "|>", " inside", "." }.SelectMany(p => reference.EncodeToIds(p)).Select(i => (uint)i)];
        string.Concat(new[] { " and", " a", " literal", " <|", "endoftext", "|>", " inside", "." }).Should().Be(literal);

        var shards = Directory.GetFiles(dir["o"], "cl_*.bin").OrderBy(p => p[^10..], StringComparer.Ordinal).ToArray(); // by shard number
        Path.GetFileName(shards[0]).Should().Be("cl_val_000000.bin");
        foreach (var shard in shards) TokenShard.ReadInfo(shard).Format.Should().Be(ShardFormat.UInt32);
        BitConverter.ToInt32(File.ReadAllBytes(shards[0]), 0).Should().Be(20240801);
        shards.SelectMany(TokenShard.ReadIds).Should().Equal(expected);
        TokenShard.ReadIds(shards[0]).Should().HaveCount(40);
    }

    [Fact]
    public void An_unknown_tokenizer_fails_with_one_line_and_exit_2()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["a.txt"], "x");
        var run = Tool(dir["a.txt"], "--out", dir["o"], "--tokenizer", "nope");
        run.Code.Should().Be(2);
        run.Err.Trim().Should().NotContain("\n").And.Contain("--tokenizer nope").And.Contain("cl100k_base");
    }
}
