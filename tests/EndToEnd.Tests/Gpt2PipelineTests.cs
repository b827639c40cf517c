using System.Text;
using CliWrap;
using CliWrap.Buffered;
using FluentAssertions;
using LlmNet.TestSupport;
using Xunit;

namespace LlmNet.EndToEnd.Tests;

/// <summary>
/// The GPT-2 reproduction pipelines' orchestration, with stand-in tools that record their command lines:
/// llm.c's exact training flags reach llm-train, a crashed run is resumed with -y 1 until the final DONE
/// marker exists, finished stages are skipped, and one stage can run alone. (The real tools are covered by
/// their own tests and the quickstart test; a real 1.5B run needs a GPU node.)
/// </summary>
public sealed class Gpt2PipelineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmnet-gpt2-pipeline-").FullName;
    private string Bin => Path.Combine(_dir, "bin");
    private string Calls => Path.Combine(_dir, "calls.txt");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public Gpt2PipelineTests()
    {
        Directory.CreateDirectory(Bin);
        // Every stand-in appends "tool args..." to calls.txt. llm-train fails on its first call (a crash) and
        // on the second writes the final checkpoint's DONE marker into -o, as the real trainer would.
        foreach (var tool in new[] { "fetch", "tokenize", "eval", "sample", "plot" })
            Script($"llm-{tool}", $"echo \"llm-{tool} $*\" >> '{Calls}'\n" +
                   (tool == "eval" ? "echo '{\"correct\":1,\"total\":4,\"accuracy\":0.25}'\n" : "") +
                   (tool == "tokenize" ? "[[ $1 == hellaswag ]] && mkdir -p \"$(dirname \"$4\")\" && touch \"$4\"\n" : "") +
                   (tool == "sample" ? "echo 'generated text'\n" : ""));
        Script("llm-train", $"""
            echo "llm-train $*" >> '{Calls}'
            n=$(grep -c '^llm-train' '{Calls}')
            (( n == 1 )) && exit 3
            while (($#)); do case $1 in -o) out=$2;; -x) steps=$2;; esac; shift; done
            mkdir -p "$out"; touch "$out/$(printf 'DONE_%08d' "$steps")"
            """);
    }

    private void Script(string name, string body)
    {
        string path = Path.Combine(Bin, name);
        File.WriteAllText(path, "#!/usr/bin/env bash\n" + body + "\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    private Task<BufferedCommandResult> Pipeline(string script, params string[] args) =>
        Cli.Wrap("bash")
            .WithArguments([Path.Combine(RepoPaths.Root, "pipelines", script), .. args])
            .WithEnvironmentVariables(env => env
                .Set("BIN", Bin).Set("DATA_DIR", Path.Combine(_dir, "data")).Set("OUT_DIR", Path.Combine(_dir, "run"))
                .Set("NGPU", "1").Set("STEPS", "40"))
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(Encoding.UTF8, TestContext.Current.CancellationToken);

    [Fact]
    public async Task The_1_5b_pipeline_passes_llmc_flags_and_resumes_a_crashed_run()
    {
        var result = await Pipeline("gpt2-1.5b.sh");
        result.ExitCode.Should().Be(0, result.StandardError);

        var calls = File.ReadAllLines(Calls);
        calls.Should().Contain(c => c.StartsWith("llm-fetch edu-fineweb-shards --shards 2 "));
        calls.Should().Contain(c => c.StartsWith("llm-fetch hellaswag "));
        calls.Should().Contain(c => c.StartsWith("llm-tokenize hellaswag "));
        var train = calls.Where(c => c.StartsWith("llm-train")).ToArray();
        train.Should().HaveCount(2, "the first run crashed and the loop resumed it");
        train[1].Should().Be(train[0]);
        foreach (var flag in new[] { "-b 16", "-t 1024", "-d 1048576", "-r 0", "-z 1", "-c 0.1", "-k cosine", "-l 0.0006",
                     "-q 0.1", "-u 700", "-n 2000", "-x 40", "-ge 1", "-y 1", "-e d48", "-v 250", "-s 300000", "-g 384", "-h 1" })
            (train[0] + " ").Should().Contain(" " + flag + " ", $"llm.c's run_gpt2_1558M.sh passes {flag}");
        (train[0] + " ").Should().Contain(" --device cuda ", "NGPU > 0 trains on the GPU");
        (result.StandardError + result.StandardOutput).Should().Contain("resuming (restart 1)");
        calls.Should().Contain(c => c.StartsWith("llm-eval hellaswag -e ") && c.Contains("model_00000040.bin"));
        calls.Should().Contain(c => c.StartsWith("llm-plot ") && c.Contains("--size 1558M"));

        // Everything done: a re-run trains nothing; one stage runs alone.
        var again = await Pipeline("gpt2-1.5b.sh", "--from", "train");
        again.ExitCode.Should().Be(0, again.StandardError);
        File.ReadAllLines(Calls).Count(c => c.StartsWith("llm-train")).Should().Be(2);
        var plot = await Pipeline("gpt2-1.5b.sh", "--stage", "plot");
        plot.ExitCode.Should().Be(0, plot.StandardError);
        // Plots are cheap and always redrawn (PNG + SVG per run): first run, --from train, --stage plot.
        File.ReadAllLines(Calls).Count(c => c.StartsWith("llm-plot")).Should().Be(6);
        File.ReadAllLines(Calls).Count(c => c.StartsWith("llm-eval")).Should().Be(1, "the final score is kept");
    }

    [Fact]
    public async Task The_124m_pipeline_uses_llmc_124m_settings()
    {
        var result = await Pipeline("gpt2-124m.sh", "--stage", "train");
        result.ExitCode.Should().Be(0, result.StandardError);
        var train = File.ReadAllLines(Calls).First(c => c.StartsWith("llm-train"));
        foreach (var flag in new[] { "-e d12", "-b 64", "-d 524288", "-l 0.0006", "-q 0.0", "-n 5000", "-g 144" })
            (train + " ").Should().Contain(" " + flag + " ");
        train.Should().NotContain("-ge");
    }
}
