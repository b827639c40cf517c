using System.Diagnostics;
using FluentAssertions;
using LlmNet.TestSupport;
using Xunit;

namespace LlmNet.Cuda.Tests;

/// <summary>
/// tests/gpu/speed-bench.sh end to end on a machine without a GPU: nvidia-smi, llm-train, train_gpt2cu and
/// llm-cuda-bench's GPU subcommand are stand-in scripts that print what the real ones print (llm-train: llm.c's
/// reference losses plus 1e-4), so the script's files and the report that reads them are checked together.
/// Linux only (bash, coreutils' timeout and stdbuf).
/// </summary>
public sealed class SpeedBenchScriptTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmnet-speed-bench-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    internal const string NvidiaSmi = """
        #!/usr/bin/env bash
        # stand-in for nvidia-smi: the queries speed-bench.sh makes, an 80 GB card
        q=""
        for a in "$@"; do case $a in --query-gpu=*) q=${a#--query-gpu=} ;; esac; done
        case $q in
          "") echo "| NVIDIA-SMI 580.159.04   Driver Version: 580.159.04   CUDA Version: 13.0 |" ;;
          name,*) echo "NVIDIA H100 80GB HBM3, 580.159.04, 700.00, 81559, 1980" ;;
          memory.total) echo 81559 ;;
          timestamp,*) i=0; while :; do
                         printf '%s, %d, 650.00, 1755, 2619, 55\n' "$(date +'%Y/%m/%d %H:%M:%S.%3N')" $((20000 + i)); i=$((i + 1)); sleep 0.1
                       done ;;
        esac
        """;

    // llm-train and train_gpt2cu: the header rows the report reads, then the reference's step losses + 1e-4, step N
    // taking 20 + N ms. AbBenchScriptTests reuses these stand-ins.
    internal const string Trainer = """
        #!/usr/bin/env bash
        e=""; d=""; x=""
        while (( $# )); do case $1 in -e) e=$2; shift ;; -d) d=$2; shift ;; -x) x=$2; shift ;; esac; shift; done
        ref=$STUB_REF/llmc-zipf-$e.txt
        L=12; C=768; NH=12; [[ $e == d48 ]] && { L=48; C=1600; NH=25; }
        row() { printf '| %-21s | %-50s |\n' "$1" "$2"; }
        row "total batch size" "$d"; row "sequence length T" 1024; row device "NVIDIA H100 80GB HBM3"
        row "max_sequence_length T" 1024; row "vocab_size V" 50257; row "padded_vocab_size Vp" 50304
        row "num_layers L" $L; row "num_heads NH" $NH; row "channels C" $C
        awk '/^val loss/ { print; exit }' "$ref"
        grep '^step' "$ref" | head -n "$x" | while read -r _ n _ _ loss _; do
          sleep 0.02
          awk -v n="${n%%/*}" -v x="$x" -v l="${loss%|}" 'BEGIN { printf "step %4d/%d | loss %.6f (+0.00z)| norm 1.0000 (+0.00z)| lr 1.00e-05 | %.2f ms | 40.0%% bf16 MFU | 1 tok/s\n", n, x, l + 0.0001, 20 + n }'
        done
        echo "val loss 9.0"
        """;

    // llm-cuda-bench: the GPU "train" subcommand prints a profile; "report" is the real one.
    internal static string Bench(string real) => $"""
        #!/usr/bin/env bash
        if [[ $1 == train ]]; then
          echo "PROFILE step 2: 340.1 ms wall, 330.0 ms in kernels and matmuls (serialized)"
          echo "PROFILE    100.00 ms  30.3%     48x  matmul 16384x4800x1600 tA"
          exit 0
        fi
        exec "{real}" "$@"
        """;

    private string Script(string name, string text)
    {
        string path = Path.Combine(_dir, "bin", name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text.ReplaceLineEndings("\n") + "\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    private (int Code, string Out) RunScript(params string[] args) => RunScript(withLlmc: true, args);

    private (int Code, string Out) RunScript(bool withLlmc, params string[] args) => RunScriptWith(new Dictionary<string, string>(), withLlmc, args);

    /// <summary>The script with <paramref name="environment"/>'s variables set besides the stand-ins'.</summary>
    private (int Code, string Out) RunScriptWith(IReadOnlyDictionary<string, string> environment, bool withLlmc, params string[] args)
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("speed-bench.sh is a bash script for Linux GPU nodes");
        string real = Path.Combine(AppContext.BaseDirectory, "llm-cuda-bench");
        if (!File.Exists(real)) Assert.Skip($"{real} missing (llm-cuda-bench's apphost, copied beside the tests)");
        Script("nvidia-smi", NvidiaSmi);
        string trainer = Script("llm-train", Trainer);
        string bench = Script("bench", Bench(real));
        string data = Directory.CreateDirectory(Path.Combine(_dir, "zipf")).FullName;
        File.WriteAllText(Path.Combine(data, "synth_train_000002.bin"), "x"); // non-empty: the data stage then has nothing to do

        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(RepoPaths.Root, "tests", "gpu", "speed-bench.sh"));
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment["PATH"] = Path.Combine(_dir, "bin") + ":" + Environment.GetEnvironmentVariable("PATH");
        psi.Environment["STUB_REF"] = Path.Combine(RepoPaths.Root, "tests", "gpu", "reference");
        psi.Environment["BIN"] = Path.Combine(_dir, "bin");
        psi.Environment["BENCH"] = bench;
        psi.Environment["LLMC"] = withLlmc ? trainer : "";
        psi.Environment["DATA"] = data;
        psi.Environment["OUT"] = Path.Combine(_dir, "out");
        psi.Environment["COMMIT"] = "test123";
        foreach ((string key, string value) in environment) psi.Environment[key] = value;
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit(120_000).Should().BeTrue("the stand-in runs take a few seconds");
        return (p.ExitCode, stdout + stderr.Result);
    }

    [Fact]
    public void EveryStage_LeavesWhatTheReportReads_AndTheReportCountsTheRunsThatMatched()
    {
        var r = RunScript();
        r.Code.Should().Be(0, r.Out);
        r.Out.Should().NotContain("SKIP");
        string report = File.ReadAllText(Path.Combine(_dir, "out", "report.md"));
        r.Out.Should().Contain(report.Split('\n')[0]);
        report.Should().StartWith("### NVIDIA H100 80GB HBM3, ").And.Contain(", commit test123");
        string[] rows = [.. report.Split('\n').Where(l => l.StartsWith("| d", StringComparison.Ordinal) || l.StartsWith("| llmc", StringComparison.Ordinal))];
        rows.Should().Contain(l => l.StartsWith("| d12 | `llm-train -e d12 -b 64 -d 524288 -r 0 -q 0.0 -x 25` | 22 (after 3) |") &&
                                   l.Contains("| 650 | 1,755 | PASS 1.0e-4 over 20 steps | yes |"));
        rows.Should().Contain(l => l.StartsWith("| d48 | `llm-train -e d48 -b 16 -d 16384 -r 0 -k cosine -q 0.1 -ge 1 -x 40` | 37 (after 3) |") &&
                                   l.EndsWith("| PASS 1.0e-4 over 20 steps | yes |"));
        // No stored reference at 1M tokens per step: llm.c's run in the same call is d48-1m's, here with -r 2 (an 80 GB card).
        rows.Should().Contain(l => l.StartsWith("| d48-1m | `llm-train -e d48 -b 16 -d 1048576 -r 0 -k cosine -q 0.1 -ge 1 -x 4` | 3 (after 1) |") &&
                                   l.EndsWith("| PASS 0.0e+0 over 4 steps | yes |"));
        rows.Should().Contain(l => l.StartsWith("| llmc_d48-1m | `train_gpt2cu -e d48 -b 16 -d 1048576 -r 2 -k cosine") && l.EndsWith("| — | reference run |"));
        report.Should().Contain("| 100.00 | 30.3% | 48 | `matmul 16384x4800x1600 tA` |");
        File.ReadAllLines(Path.Combine(_dir, "out", "d12.log")).Should().AllSatisfy(l => l.Should().MatchRegex(@"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6}\t"));

        // A report-only call (as on the machine the files were fetched to) keeps the card of the runs it reports.
        string card = Path.Combine(_dir, "out", "card.txt");
        File.WriteAllText(card, File.ReadAllText(card).Replace("commit=test123", "commit=fetched"));
        var again = RunScript("report");
        again.Code.Should().Be(0, again.Out);
        again.Out.Should().Contain(", commit fetched");
    }

    [Fact]
    public void WithoutLlmc_TheMillionTokenRunHasNoReference_AndDoesNotCount()
    {
        var r = RunScript(withLlmc: false, "d48-1m", "llmc", "report");
        r.Code.Should().Be(0, r.Out);
        r.Out.Should().Contain("SKIP llmc: no train_gpt2cu (set LLMC, or LLMC_SRC to build one)");
        r.Out.Should().NotContain("| yes |");
        r.Out.Should().Contain("| no reference | no: no reference |");
    }

    [Fact]
    public void DryRun_PrintsTheCommands_AndRunsNothing()
    {
        var r = RunScript("--dry-run");
        r.Code.Should().Be(0, r.Out);
        r.Out.Should().Contain("would run d12 (timeout 240 s): ").And.Contain(" -e d12 -b 64 -d 524288 -r 0 -q 0.0 -x 25");
        r.Out.Should().Contain("would run llmc_d48-1m").And.Contain("would run: LLMNET_CUDA_PROFILE=1").And.Contain(" report ");
        Directory.Exists(Path.Combine(_dir, "out")).Should().BeFalse();
    }

    [Fact]
    public void RecomputeAndGeluFusion_SetLlmTrainsFlags_AndLeaveLlmcs()
    {
        var r = RunScriptWith(new Dictionary<string, string> { ["RECOMPUTE"] = "1" }, withLlmc: true, "--dry-run");
        r.Code.Should().Be(0, r.Out);
        r.Out.Should().Contain(" -e d12 -b 64 -d 524288 -r 1 -q 0.0 -x 25").And.Contain(" -e d48 -b 16 -d 16384 -r 1 -k cosine -q 0.1 -ge 1 -x 40")
            .And.Contain(" -e d48 -b 16 -d 1048576 -r 1 -k cosine");
        r.Out.Should().MatchRegex(@"would run llmc_d48-1m .* -e d48 -b 16 -d 1048576 -r 2 -k cosine -q 0\.1 -ge 1 -x 4"); // 80 GB card
        var fused = RunScriptWith(new Dictionary<string, string> { ["GELU_FUSION"] = "2" }, withLlmc: true, "--dry-run", "d12", "d48", "llmc");
        fused.Out.Should().Contain(" -e d12 -b 64 -d 524288 -r 0 -q 0.0 -x 25 -ge 2").And.Contain(" -e d48 -b 16 -d 16384 -r 0 -k cosine -q 0.1 -ge 2 -x 40")
            .And.MatchRegex(@"would run llmc_d48-1m .* -r 2 -k cosine -q 0\.1 -ge 1 -x 4");
        var bad = RunScriptWith(new Dictionary<string, string> { ["RECOMPUTE"] = "3" }, withLlmc: true, "--dry-run");
        bad.Code.Should().Be(2);
        bad.Out.Trim().Should().Be("speed-bench.sh: RECOMPUTE must be 0, 1 or 2, not '3'");
        var badFusion = RunScriptWith(new Dictionary<string, string> { ["GELU_FUSION"] = "x" }, withLlmc: true, "--dry-run");
        badFusion.Code.Should().Be(2);
        badFusion.Out.Trim().Should().Be("speed-bench.sh: GELU_FUSION must be -1, 0, 1 or 2, not 'x'");
    }

    [Fact]
    public void AnUnknownStage_StopsBeforeAnythingRuns()
    {
        var r = RunScript("d12", "d96");
        r.Code.Should().Be(2);
        r.Out.Trim().Should().Be("speed-bench.sh: unknown stage 'd96' (data d12 d48 d48-1m llmc profile report)");
    }
}
