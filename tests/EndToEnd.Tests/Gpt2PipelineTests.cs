using System.Text;
using System.Text.RegularExpressions;
using CliWrap;
using CliWrap.Buffered;
using FluentAssertions;
using LlmNet.TestSupport;
using Xunit;

namespace LlmNet.EndToEnd.Tests;

/// <summary>
/// The GPT-2 reproduction pipelines' orchestration, with stand-in tools that record their command lines and keep
/// the real tools' contracts (llm-fetch's --offline answer, llm-tokenize's manifest, llm-train's DONE markers and
/// exit codes), and a stand-in nvidia-smi listing FAKE_GPUS GPUs: llm.c's exact flags reach llm-train, --dry-run
/// prints them and runs nothing, the preflight stops a run that cannot work in one line, and the resume loop retries
/// crashes but not configuration errors. (The real tools are covered by their own tests and the quickstart test;
/// a real run needs a GPU node.)
/// </summary>
public sealed class Gpt2PipelineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmnet-gpt2-pipeline-").FullName;
    private string Bin => Path.Combine(_dir, "bin");
    private string Calls => Path.Combine(_dir, "calls.txt");
    private string Data => Path.Combine(_dir, "data");
    private string Out => Path.Combine(_dir, "run");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public Gpt2PipelineTests()
    {
        Directory.CreateDirectory(Bin);
        // llm-fetch: a real fetch creates the files (a shard data set of 3 train shards for "all") and its
        // verification record; --offline succeeds, as the real tool does, only when that record is there.
        Script("llm-fetch", $$"""
            echo "llm-fetch $*" >> '{{Calls}}'
            cmd=$1; shift; offline=0; shards=all; out=
            while (($#)); do case $1 in --offline) offline=1;; --shards) shards=$2; shift;; --out) out=$2; shift;; esac; shift; done
            if (( offline )); then
              if [[ -f $out/.verified ]]; then n=$(cat "$out/.verified"); echo "llm-fetch: $n/$n files present and verified in $out (offline check; nothing downloaded)" >&2; exit 0; fi
              echo "llm-fetch: error: $out/first-file: missing (N files expected in $out); run the same llm-fetch $cmd command without --offline to fetch it" >&2; exit 1
            fi
            mkdir -p "$out"
            case $cmd in
              *-shards)
                prefix=${cmd%-shards}; prefix=${prefix//-/_}
                [[ $shards == all ]] && shards=3
                echo x > "$out/${prefix}_val_000000.bin"
                for ((i = 1; i <= shards; i++)); do echo x > "$out/$(printf '%s_train_%06d.bin' "$prefix" "$i")"; done
                echo $((shards + 1)) > "$out/.verified" ;;
              hellaswag) echo '{}' > "$out/hellaswag_val.jsonl"; echo 1 > "$out/.verified" ;;
              *) echo x > "$out/000_00000.parquet"; echo 1 > "$out/.verified" ;;
            esac
            """);
        // llm-tokenize: the HellaSwag .bin, or a val shard and two train shards of 786,432 tokens each (one epoch at
        // 524,288 tokens per step is 3 steps) with the manifest of a finished run.
        Script("llm-tokenize", $$"""
            echo "llm-tokenize $*" >> '{{Calls}}'
            if [[ $1 == hellaswag ]]; then mkdir -p "$(dirname "$4")"; echo x > "$4"; exit 0; fi
            while (($#)); do case $1 in --out) out=$2; shift;; --prefix) prefix=$2; shift;; esac; shift; done
            mkdir -p "$out"
            truncate -s 2048 "$out/${prefix}_val_000000.bin"
            for i in 1 2; do truncate -s $((1024 + 2 * 786432)) "$out/$(printf '%s_train_%06d.bin' "$prefix" "$i")"; done
            printf '{\n  "prefix": "%s",\n  "shardsWritten": 3,\n  "complete": true\n}\n' "$prefix" > "$out/$prefix.progress.json"
            """);
        // llm-train: call k exits with the k-th code of FAKE_TRAIN_EXITS (then 0); exiting 0 it writes the DONE
        // marker of its last step (-x, or FAKE_EPOCH_STEPS without it) into -o, as the real trainer does.
        Script("llm-train", $$"""
            echo "llm-train $*" >> '{{Calls}}'
            n=$(grep -c '^llm-train' '{{Calls}}')
            read -r -a codes <<<"${FAKE_TRAIN_EXITS:-}"
            code=${codes[n - 1]:-0}
            (( code == 0 )) || exit "$code"
            steps=${FAKE_EPOCH_STEPS:-}
            while (($#)); do case $1 in -o) out=$2;; -x) steps=$2;; esac; shift; done
            mkdir -p "$out"; touch "$out/$(printf 'DONE_%08d' "$steps")"
            """);
        foreach (var tool in new[] { "eval", "sample", "plot" })
            Script($"llm-{tool}", $"echo \"llm-{tool} $*\" >> '{Calls}'\n" +
                   (tool == "eval" ? "echo '{\"correct\":1,\"total\":4,\"accuracy\":0.25}'\n" : "") +
                   (tool == "sample" ? "echo 'generated text'\n" : ""));
        Script("nvidia-smi", "for ((i = 0; i < ${FAKE_GPUS:-0}; i++)); do echo \"GPU $i: Stand-in (UUID: GPU-$i)\"; done");
        Script("mpirun", $"echo \"mpirun $*\" >> '{Calls}'\nwhile [[ $1 == -* ]]; do [[ $1 == -np || $1 == --bind-to ]] && shift; shift; done\nexec \"$@\"");
    }

    private void Script(string name, string body)
    {
        string path = Path.Combine(Bin, name);
        File.WriteAllText(path, "#!/usr/bin/env bash\n" + body + "\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    private string[] CallLines => File.Exists(Calls) ? File.ReadAllLines(Calls) : [];

    /// <summary>Runs a pipeline with nothing of the caller's environment standing in for a setting; <paramref name="env"/> adds settings.</summary>
    private Task<BufferedCommandResult> Pipeline(string script, (string Name, string Value)[] env, params string[] args) =>
        Cli.Wrap("bash")
            .WithArguments([Path.Combine(RepoPaths.Root, "pipelines", script), .. args])
            .WithEnvironmentVariables(e =>
            {
                e.Set("PATH", Bin + ":" + Environment.GetEnvironmentVariable("PATH"))
                 .Set("BIN", Bin).Set("DATA_DIR", Data).Set("OUT_DIR", Out).Set("FAKE_GPUS", "1");
                foreach (var name in new[] { "NGPU", "DEVICE", "DATASET", "SOURCE", "SHARDS", "STEPS", "EXTRA_FLAGS", "MPIRUN", "MAX_RESTARTS", "HF_ENDPOINT" })
                    e.Set(name, null);
                foreach (var (name, value) in env) e.Set(name, value);
            })
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(Encoding.UTF8, TestContext.Current.CancellationToken);

    private static string TrainLine(string dryRunOutput) =>
        dryRunOutput.Split('\n').Single(l => l.Contains("/llm-train ") && !l.StartsWith('#'));

    private static string[] ErrorLines(BufferedCommandResult r) =>
        r.StandardError.Split('\n').Where(l => l.Contains(": error: ")).ToArray();

    // llm.c (karpathy/llm.c, scripts/run_gpt2_*.sh): the data glob and the train_gpt2cu flags after -o, in order.
    public static TheoryData<string, string, string, string, string> LlmcScripts => new()
    {
        { "gpt2-124m.sh", "fineweb10B", "fineweb", "DONE_00018865",
          "-v 250 -s 20000 -g 144 -h 1 -b 64 -t 1024 -d 524288 -r 0 -z 1 -c 0.1 -l 0.0006 -q 0.0 -u 700 -n 5000 -y 1 -e d12" },
        { "gpt2-350m.sh", "fineweb100B", "fineweb", "DONE_00060000",
          "-v 250 -s 100000 -g 144 -h 1 -b 64 -t 1024 -d 524288 -r 0 -z 1 -c 0.1 -l 0.0003 -q 0.0 -u 700 -n 2000 -x 60000 -y 1 -e d24" },
        { "gpt2-774m.sh", "fineweb100B", "fineweb", "DONE_00286102",
          "-v 250 -s 300000 -g 144 -h 1 -b 32 -t 1024 -d 524288 -r 0 -z 1 -c 0.1 -l 0.00025 -q 0.0 -u 700 -n 4000 -x 286102 -y 1 -e d36" },
        { "gpt2-1.5b.sh", "edu_fineweb100B", "edu_fineweb", "DONE_00032000",
          "-v 250 -s 300000 -g 384 -h 1 -b 16 -t 1024 -d 1048576 -r 0 -z 1 -c 0.1 -k cosine -l 0.0006 -q 0.1 -u 700 -n 2000 -x 32000 -ge 1 -y 1 -e d48" },
    };

    [Theory]
    [MemberData(nameof(LlmcScripts))]
    public async Task Dry_run_prints_llmc_command_line_and_runs_nothing(string script, string dataset, string prefix, string done, string llmcFlags)
    {
        // No GPU here, no data, no tools built: a dry run needs none of them.
        File.Delete(Path.Combine(Bin, "llm-plot"));
        var result = await Pipeline(script, [("FAKE_GPUS", "0")], "--dry-run");

        result.ExitCode.Should().Be(0, result.StandardError);
        string train = TrainLine(result.StandardOutput);
        string glob = Path.Combine(Data, dataset, prefix);
        train.Should().StartWith($"mpirun -np 8 --bind-to none ").And.Contain($" {Bin}/llm-train -i '{glob}_train_*.bin' -j '{glob}_val_*.bin' -o {Out} {llmcFlags} ",
            "llm.c's {0} launches mpirun -np 8 ./train_gpt2cu with these flags, in this order", script);
        train.Should().EndWith(" --device cuda");
        result.StandardOutput.Should().Contain($"until {Path.Combine(Out, done)} exists");
        foreach (var stage in new[] { "fetch", "hellaswag", "train", "eval", "sample", "plot" })
            result.StandardOutput.Should().Contain($"# stage {stage}\n");
        result.StandardOutput.Should().Contain($"{Bin}/llm-eval hellaswag -e {Out}/model_{done[5..]}.bin");
        result.StandardOutput.Should().Contain("build.sh", "the tools would be built first");
        CallLines.Should().BeEmpty("a dry run runs nothing");
        Directory.Exists(Data).Should().BeFalse();
        Directory.Exists(Out).Should().BeFalse();
    }

    [Fact]
    public async Task Each_pipeline_fetches_the_whole_data_set_llmc_trains_on()
    {
        var r774 = await Pipeline("gpt2-774m.sh", [], "--dry-run", "--stage", "fetch");
        r774.ExitCode.Should().Be(0, r774.StandardError);
        r774.StandardOutput.Should().Contain($"{Bin}/llm-fetch fineweb-shards --shards all --out {Data}/fineweb100B --offline --quiet || {Bin}/llm-fetch fineweb-shards --shards all --out {Data}/fineweb100B\n");

        var r15 = await Pipeline("gpt2-1.5b.sh", [], "--dry-run", "--stage", "fetch");
        r15.StandardOutput.Should().Contain($"{Bin}/llm-fetch edu-fineweb-shards --shards all --out {Data}/edu_fineweb100B\n");

        // llm.c tokenizes fineweb10B itself (dev/data/fineweb.py --version 10B): parquet, then llm-tokenize.
        var r124 = await Pipeline("gpt2-124m.sh", [], "--dry-run", "--stage", "fetch");
        r124.StandardOutput.Should().Contain($"{Bin}/llm-fetch fineweb --sample 10BT --out {Data}/fineweb10B-parquet\n")
            .And.Contain($"{Bin}/llm-tokenize {Data}/fineweb10B-parquet/*.parquet --out {Data}/fineweb10B --prefix fineweb\n");

        // The other source on request; a setting that departs from llm.c says so.
        var edu = await Pipeline("gpt2-774m.sh", [("DATASET", "edu_fineweb100B"), ("SHARDS", "40")], "--dry-run", "--stage", "fetch");
        edu.StandardOutput.Should().Contain("llm-fetch edu-fineweb-shards --shards 40 --out")
            .And.Contain("differs from llm.c: DATASET=edu_fineweb100B, but run_gpt2_774M.sh trains on fineweb100B")
            .And.Contain("differs from llm.c: SHARDS=40");
        var none = await Pipeline("gpt2-124m.sh", [("SOURCE", "shards")], "--dry-run");
        none.ExitCode.Should().NotBe(0);
        ErrorLines(none).Should().ContainSingle().Which.Should().Contain("DATASET=fineweb10B has no pre-tokenized shards").And.Contain("SOURCE=parquet");
    }

    [Fact]
    public async Task Extra_flags_from_the_environment_reach_the_train_command_last()
    {
        var dry = await Pipeline("gpt2-1.5b.sh", [("EXTRA_FLAGS", "-nk 2 -nm 10000"), ("NGPU", "1")], "--dry-run", "--stage", "train");
        dry.ExitCode.Should().Be(0, dry.StandardError);
        string train = TrainLine(dry.StandardOutput);
        train.Should().StartWith($"{Bin}/llm-train ", "one GPU needs no mpirun").And.EndWith(" --device cuda -nk 2 -nm 10000");
        dry.StandardOutput.Should().Contain("differs from llm.c: 1 process(es), llm.c 8");

        var steps = await Pipeline("gpt2-1.5b.sh", [("STEPS", "40"), ("NGPU", "1")], "--dry-run", "--stage", "train");
        TrainLine(steps.StandardOutput).Should().Contain(" -n 2000 -x 40 -ge 1 ", "STEPS replaces llm.c's -x in place");
    }

    [Fact]
    public async Task The_1_5b_pipeline_passes_llmc_flags_and_resumes_a_crashed_run()
    {
        (string, string)[] env = [("SHARDS", "2"), ("STEPS", "40"), ("EXTRA_FLAGS", "-nk 2"), ("FAKE_TRAIN_EXITS", "134")];
        var result = await Pipeline("gpt2-1.5b.sh", env);
        result.ExitCode.Should().Be(0, result.StandardError);

        var calls = CallLines;
        calls.Should().ContainInOrder(
            $"llm-fetch edu-fineweb-shards --shards 2 --out {Data}/edu_fineweb100B --offline --quiet",
            $"llm-fetch edu-fineweb-shards --shards 2 --out {Data}/edu_fineweb100B",
            $"llm-fetch hellaswag --out {Data}/hellaswag --offline --quiet",
            $"llm-fetch hellaswag --out {Data}/hellaswag",
            $"llm-tokenize hellaswag {Data}/hellaswag/hellaswag_val.jsonl --out {Data}/hellaswag/hellaswag_val.bin",
            $"llm-fetch edu-fineweb-shards --shards 2 --out {Data}/edu_fineweb100B --offline");
        var train = calls.Where(c => c.StartsWith("llm-train")).ToArray();
        train.Should().HaveCount(2, "the first run crashed (exit 134) and the loop resumed it");
        train[1].Should().Be(train[0]);
        (train[0] + " ").Should().Contain(" -h 1 -b 16 -t 1024 -d 1048576 -r 0 -z 1 -c 0.1 -k cosine -l 0.0006 -q 0.1 -u 700 -n 2000 -x 40 -ge 1 -y 1 -e d48 ")
            .And.EndWith(" --device cuda -nk 2 ");
        (result.StandardError + result.StandardOutput).Should().Contain("exited with code 134 before step 40; resuming (restart 1)");
        calls.Should().Contain(c => c.StartsWith("llm-eval hellaswag -e ") && c.Contains("model_00000040.bin") && c.Contains("--device cuda"));
        calls.Should().Contain(c => c.StartsWith("llm-sample ") && c.Contains(" -g 384 "));
        calls.Should().Contain(c => c.StartsWith("llm-plot ") && c.Contains("--size 1558M"));

        // Everything done: a re-run (offline or not) downloads nothing and trains nothing; one stage runs alone.
        File.Delete(Calls);
        var again = await Pipeline("gpt2-1.5b.sh", env, "--from", "fetch");
        again.ExitCode.Should().Be(0, again.StandardError);
        CallLines.Where(c => c.StartsWith("llm-fetch")).Should().OnlyContain(c => c.Contains(" --offline"), "verified files are not fetched again");
        CallLines.Should().NotContain(c => c.StartsWith("llm-train") || c.StartsWith("llm-eval"), "the final checkpoint and score are kept");
        var plot = await Pipeline("gpt2-1.5b.sh", env, "--stage", "plot");
        plot.ExitCode.Should().Be(0, plot.StandardError);
        CallLines.Count(c => c.StartsWith("llm-plot")).Should().Be(4, "plots are redrawn: PNG and SVG, twice");
    }

    [Fact]
    public async Task Several_gpus_train_through_mpirun()
    {
        var result = await Pipeline("gpt2-350m.sh", [("SHARDS", "1"), ("STEPS", "5"), ("FAKE_GPUS", "2")]);
        result.ExitCode.Should().Be(0, result.StandardError);
        CallLines.Should().Contain(c => c.StartsWith("mpirun -np 2 --bind-to none ") && c.Contains($" {Bin}/llm-train -i {Data}/fineweb100B/fineweb_train_*.bin "));
    }

    [Fact]
    public async Task One_epoch_runs_end_at_the_step_the_shards_tokens_give()
    {
        // gpt2-124m.sh passes no -x, as llm.c's run_gpt2_124M.sh: llm-train trains one epoch, train tokens / -d.
        var result = await Pipeline("gpt2-124m.sh", [("FAKE_EPOCH_STEPS", "3")]);
        result.ExitCode.Should().Be(0, result.StandardError);
        var calls = CallLines;
        calls.Should().Contain($"llm-fetch fineweb --sample 10BT --out {Data}/fineweb10B-parquet");
        calls.Should().Contain($"llm-tokenize {Data}/fineweb10B-parquet/000_00000.parquet --out {Data}/fineweb10B --prefix fineweb");
        calls.Single(c => c.StartsWith("llm-train")).Should().NotContain(" -x ");
        File.Exists(Path.Combine(Out, "DONE_00000003")).Should().BeTrue();
        calls.Should().Contain(c => c.StartsWith("llm-eval ") && c.Contains("model_00000003.bin"));

        // A run that ends elsewhere is an error, not a loop.
        File.Delete(Path.Combine(Out, "DONE_00000003"));
        var other = await Pipeline("gpt2-124m.sh", [("FAKE_EPOCH_STEPS", "5")], "--stage", "train");
        other.ExitCode.Should().NotBe(0);
        ErrorLines(other).Should().ContainSingle().Which.Should().Contain("finished without writing").And.Contain("DONE_00000003");
    }

    [Fact]
    public async Task No_gpu_stops_before_anything_is_fetched()
    {
        var result = await Pipeline("gpt2-1.5b.sh", [("FAKE_GPUS", "0")]);
        result.ExitCode.Should().NotBe(0);
        ErrorLines(result).Should().ContainSingle().Which.Should()
            .Contain("no GPU visible").And.Contain("d48").And.Contain("DEVICE=cpu");
        CallLines.Should().BeEmpty("a run that cannot train does not download its data first");

        var tooMany = await Pipeline("gpt2-1.5b.sh", [("NGPU", "4")], "--stage", "train");
        ErrorLines(tooMany).Should().ContainSingle().Which.Should().Contain("NGPU=4 but nvidia-smi lists 1 GPU(s); set NGPU=1 or fewer");

        var noMpi = await Pipeline("gpt2-1.5b.sh", [("FAKE_GPUS", "2"), ("MPIRUN", "no-such-mpirun")], "--stage", "train");
        ErrorLines(noMpi).Should().ContainSingle().Which.Should().Contain("'no-such-mpirun', which is not on PATH");
        CallLines.Should().BeEmpty();
    }

    [Fact]
    public async Task Missing_data_stops_training_in_one_line_without_retrying()
    {
        (string, string)[] env = [("SHARDS", "2"), ("STEPS", "40")];
        var noShards = await Pipeline("gpt2-1.5b.sh", env, "--stage", "train");
        noShards.ExitCode.Should().NotBe(0);
        ErrorLines(noShards).Should().ContainSingle().Which.Should()
            .Contain("train data not ready").And.Contain("missing").And.Contain("gpt2-1.5b.sh --stage fetch");
        CallLines.Should().NotContain(c => c.StartsWith("llm-train"));

        (await Pipeline("gpt2-1.5b.sh", env, "--stage", "fetch")).ExitCode.Should().Be(0);
        var noHellaSwag = await Pipeline("gpt2-1.5b.sh", env, "--stage", "train");
        noHellaSwag.ExitCode.Should().NotBe(0);
        ErrorLines(noHellaSwag).Should().ContainSingle().Which.Should()
            .Contain($"-h 1 scores HellaSwag during training but {Data}/hellaswag/hellaswag_val.bin is missing").And.Contain("--stage hellaswag");

        // Shards beyond the fetched set would change the stream llm-train reads: named, not trained on.
        (await Pipeline("gpt2-1.5b.sh", env, "--stage", "hellaswag")).ExitCode.Should().Be(0);
        File.WriteAllText(Path.Combine(Data, "edu_fineweb100B", "edu_fineweb_train_000003.bin"), "x");
        var extra = await Pipeline("gpt2-1.5b.sh", env, "--stage", "train");
        ErrorLines(extra).Should().ContainSingle().Which.Should().Contain("holds 3 files matching edu_fineweb_train_*.bin but the fetched set is 2");
        CallLines.Should().NotContain(c => c.StartsWith("llm-train"));
    }

    [Fact]
    public async Task A_configuration_error_is_not_retried_and_a_repeating_crash_stops()
    {
        (string, string)[] env = [("SHARDS", "1"), ("STEPS", "40")];
        (await Pipeline("gpt2-1.5b.sh", env, "--stage", "fetch")).ExitCode.Should().Be(0);
        (await Pipeline("gpt2-1.5b.sh", env, "--stage", "hellaswag")).ExitCode.Should().Be(0);

        var usage = await Pipeline("gpt2-1.5b.sh", [.. env, ("FAKE_TRAIN_EXITS", "2")], "--stage", "train");
        usage.ExitCode.Should().NotBe(0);
        CallLines.Count(c => c.StartsWith("llm-train")).Should().Be(1, "exit 2 is a configuration error: retrying cannot fix it");
        ErrorLines(usage).Should().ContainSingle().Which.Should().Contain("refused its configuration (exit 2").And.Contain("not retrying");

        File.Delete(Calls);
        var crashes = await Pipeline("gpt2-1.5b.sh", [.. env, ("FAKE_TRAIN_EXITS", "1 1 1 1 1 1")], "--stage", "train");
        crashes.ExitCode.Should().NotBe(0);
        CallLines.Count(c => c.StartsWith("llm-train")).Should().Be(3, "three failures in a row without a new checkpoint stop the loop");
        ErrorLines(crashes).Should().ContainSingle().Which.Should().Contain("failed 3 times in a row (last exit 1) without a new checkpoint");
    }

    /// <summary>Every setting a pipeline reads from the environment (NAME=${NAME:-...}) is listed in its --help.</summary>
    [Theory]
    [InlineData("gpt2-124m.sh")]
    [InlineData("gpt2-350m.sh")]
    [InlineData("gpt2-774m.sh")]
    [InlineData("gpt2-1.5b.sh")]
    [InlineData("quickstart.sh")]
    public async Task Help_lists_every_setting(string script)
    {
        string pipelines = Path.Combine(RepoPaths.Root, "pipelines");
        var sources = new List<string> { Path.Combine(pipelines, script), Path.Combine(pipelines, "lib", "stages.sh") };
        if (script.StartsWith("gpt2-")) sources.Add(Path.Combine(pipelines, "lib", "gpt2.sh"));
        var settings = sources.SelectMany(f => Regex.Matches(File.ReadAllText(f), @"^\s*([A-Z][A-Z0-9_]*)=\$\{\1:-", RegexOptions.Multiline))
            .Select(m => m.Groups[1].Value).Distinct().ToList();
        settings.Should().Contain(["BIN", "STEPS"]);

        var help = await Pipeline(script, [], "--help");
        help.ExitCode.Should().Be(0);
        foreach (string name in settings)
            help.StandardOutput.Should().MatchRegex($@"\b{name}\b", $"{script} reads {name} from the environment");
        help.StandardOutput.Should().Contain("--dry-run").And.Contain("--stage").And.Contain("--from").And.Contain("--list");
    }
}
