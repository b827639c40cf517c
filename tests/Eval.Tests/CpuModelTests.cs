using System.Text.Json;
using FluentAssertions;
using LlmNet.Eval.HellaSwag;
using LlmNet.Model;
using LlmNet.Model.Checkpoints;
using LlmNet.Model.Cpu;
using LlmNet.TestSupport;
using Xunit;

namespace LlmNet.Eval.Tests;

/// <summary>A tiny randomly initialised GPT-2 (real vocabulary, 2 layers, 32 channels) on the CPU backend, written as an llm.c model file.</summary>
public sealed class TinyModelFixture : IDisposable
{
    public static readonly GptConfig Config = new(MaxSeqLen: 128, VocabSize: 50257, PaddedVocabSize: 50304, NumLayers: 2, NumHeads: 4, Channels: 32);
    public string Dir { get; } = Directory.CreateTempSubdirectory("llmnet-eval-model-").FullName;
    public string ModelPath => Path.Combine(Dir, "tiny.bin");
    public float[] Parameters { get; } = GptModel.CreateFresh(Config);
    public List<HellaSwagExample> Examples { get; }
    public string DataPath => Path.Combine(Dir, "hellaswag_val.bin");

    public TinyModelFixture()
    {
        ModelFile.Write(ModelPath, Config, ModelDtype.Fp32, Parameters);
        Examples = HellaSwagData.Load(RepoPaths.HellaSwagSample, limit: 24);
        HellaSwagEvalFile.Write(DataPath, Examples);
    }

    public CpuBackend Backend(int maxBatch, int maxSeqLen)
    {
        var backend = new CpuBackend(Config, maxBatch, maxSeqLen);
        backend.SetParameters(Parameters);
        return backend;
    }

    public void Dispose() => Directory.Delete(Dir, recursive: true);
}

public sealed class CpuModelTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    [Fact]
    public void Batch_size_and_padding_do_not_change_scores()
    {
        var evaluator = new HellaSwagEvaluator(tiny.Examples);
        int T = evaluator.RequiredSeqLen;
        var runs = new List<HellaSwagScore>();
        foreach (var (b, t, trim) in new[] { (4, T, false), (12, T, false), (32, T + 9, false), (20, T + 9, true) })
        {
            using var backend = tiny.Backend(b, t);
            runs.Add(evaluator.Evaluate(backend, b, t, TestContext.Current.CancellationToken, keepPredictions: true, trimSeqLen: trim));
        }
        var first = runs[0];
        first.Total.Should().Be(24);
        foreach (var run in runs.Skip(1))
        {
            run.Correct.Should().Be(first.Correct);
            for (int i = 0; i < first.Total; i++)
            {
                run.Predictions![i].Prediction.Should().Be(first.Predictions![i].Prediction);
                for (int c = 0; c < 4; c++)
                    run.Predictions[i].MeanLosses[c].Should().BeApproximately(first.Predictions[i].MeanLosses[c], 1e-4f);
            }
        }
        // Random init: every mean loss is near ln(50257) ≈ 10.8, and they do differ between endings.
        first.Predictions!.SelectMany(p => p.MeanLosses).Should().OnlyContain(l => l > 9 && l < 13);
        first.Predictions!.Select(p => p.Prediction).Distinct().Count().Should().BeGreaterThan(1);
    }

    [Fact]
    public void One_example_alone_scores_as_in_a_batch()
    {
        using var backend = tiny.Backend(16, 128);
        var batch = new HellaSwagScorer(backend, 16, 128).ScoreBatch(tiny.Examples.Take(4).ToArray());
        var alone = HellaSwagScorer.ScoreExample(backend, tiny.Examples[2]);
        alone.Prediction.Should().Be(batch[2].Prediction);
        for (int c = 0; c < 4; c++) alone.MeanLosses[c].Should().BeApproximately(batch[2].MeanLosses[c], 1e-4f);
    }

    [Fact]
    public void Mean_loss_equals_the_log_probability_from_logits()
    {
        // The per-position losses the scorer averages are -log softmax(logits)[target] over the first V logits.
        var ex = tiny.Examples[0];
        using var backend = tiny.Backend(4, ex.RequiredSeqLen);
        var p = HellaSwagScorer.ScoreExample(backend, ex);
        var logits = new float[TinyModelFixture.Config.PaddedVocabSize];
        for (int c = 0; c < 4; c++)
        {
            double sum = 0;
            var ending = ex.Endings[c];
            for (int j = 0; j < ending.Length; j++)
            {
                backend.GetLogits(c, ex.Context.Length - 1 + j, logits);
                var v = logits.AsSpan(0, TinyModelFixture.Config.VocabSize);
                double max = double.NegativeInfinity;
                foreach (float x in v) max = Math.Max(max, x);
                double z = 0;
                foreach (float x in v) z += Math.Exp(x - max);
                sum += Math.Log(z) + max - v[ending[j]];
            }
            p.MeanLosses[c].Should().BeApproximately((float)(sum / ending.Length), 1e-4f);
        }
    }

    [Fact]
    public void Cli_prints_the_same_result_as_the_library()
    {
        var evaluator = new HellaSwagEvaluator(tiny.DataPath, limit: 20);
        HellaSwagScore expected;
        using (var backend = tiny.Backend(8, evaluator.RequiredSeqLen))
            expected = evaluator.Evaluate(backend, 8, evaluator.RequiredSeqLen, TestContext.Current.CancellationToken, keepPredictions: true);

        string perExample = Path.Combine(tiny.Dir, "per-example.jsonl");
        var (rc, stdout, stderr) = EvalCli.Run("hellaswag", "--model", tiny.ModelPath, "--hellaswag-data", tiny.DataPath, "--limit", "20",
            "-b", "12", "--json", "--per-example", perExample, "--quiet");
        rc.Should().Be(0, stderr);
        // --json: stdout is the JSON object alone (`llm-eval ... --json | jq` works); the readable lines go to stderr.
        stdout.TrimEnd().Should().NotContain("\n");
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        root.GetProperty("task").GetString().Should().Be("hellaswag");
        root.GetProperty("correct").GetInt32().Should().Be(expected.Correct);
        root.GetProperty("total").GetInt32().Should().Be(20);
        root.GetProperty("accuracy").GetDouble().Should().BeApproximately(expected.Accuracy, 1e-12);
        root.GetProperty("model").GetString().Should().Be(tiny.ModelPath);
        root.GetProperty("data").GetString().Should().Be(tiny.DataPath);
        root.GetProperty("examples_per_second").GetDouble().Should().BePositive();
        stderr.Should().Contain($"HellaSwag: {expected.Correct}/20 = ");

        var lines = File.ReadAllLines(perExample);
        lines.Should().HaveCount(20);
        for (int i = 0; i < 20; i++)
        {
            using var line = JsonDocument.Parse(lines[i]);
            var e = line.RootElement;
            e.GetProperty("index").GetInt32().Should().Be(i);
            e.GetProperty("label").GetInt32().Should().Be(expected.Predictions![i].Label);
            e.GetProperty("prediction").GetInt32().Should().Be(expected.Predictions[i].Prediction);
            var losses = e.GetProperty("losses").EnumerateArray().Select(x => x.GetSingle()).ToArray();
            losses.Should().HaveCount(4);
            for (int c = 0; c < 4; c++) losses[c].Should().BeApproximately(expected.Predictions[i].MeanLosses[c], 1e-4f);
        }
    }

    [Fact]
    public void Cli_rank_split_covers_the_data_set()
    {
        int correct = 0, total = 0;
        for (int rank = 0; rank < 3; rank++)
        {
            // -e and --data: the short and the old spelling of --model and --hellaswag-data.
            var (rc, stdout, stderr) = EvalCli.Run("hellaswag", "-e", tiny.ModelPath, "--data", tiny.DataPath, "--limit", "10",
                "--rank", rank.ToString(), "--world-size", "3", "--json", "--quiet");
            rc.Should().Be(0, stderr);
            using var json = JsonDocument.Parse(stdout.TrimEnd().Split('\n')[^1]);
            json.RootElement.GetProperty("total").GetInt32().Should().Be(rank < 2 ? 4 : 2, "per_proc = ceil(10/3) = 4");
            correct += json.RootElement.GetProperty("correct").GetInt32();
            total += json.RootElement.GetProperty("total").GetInt32();
        }
        using var backend = tiny.Backend(16, 128);
        var whole = new HellaSwagEvaluator(tiny.DataPath, limit: 10).Evaluate(backend, 16, 128, TestContext.Current.CancellationToken);
        total.Should().Be(10);
        correct.Should().Be(whole.Correct);
    }

    [Fact]
    public void Cli_errors_are_one_line_with_exit_codes()
    {
        var (rc, _, stderr) = EvalCli.Run("hellaswag", "-e", tiny.ModelPath, "--hellaswag-data", Path.Combine(tiny.Dir, "missing.jsonl"));
        rc.Should().Be(1);
        stderr.Trim().Should().StartWith("llm-eval: error: ").And.Contain("missing.jsonl: file not found").And.NotContain("\n");

        (rc, _, stderr) = EvalCli.Run("hellaswag", "-e", tiny.ModelPath, "--data", tiny.DataPath, "-b", "2");
        rc.Should().Be(2);
        stderr.Should().Contain("at least 4 rows");

        (rc, _, stderr) = EvalCli.Run("hellaswag", "-e", tiny.ModelPath, "--data", tiny.DataPath, "-t", "8");
        rc.Should().Be(2);
        stderr.Should().Contain("needs T ≥");

        (rc, _, stderr) = EvalCli.Run("hellaswag", "-e", "d13", "--data", tiny.DataPath);
        rc.Should().Be(1);
        stderr.Should().Contain("d13: no such model file, and not a model descriptor");

        string notModel = Path.Combine(tiny.Dir, "not-a-model.bin");
        File.WriteAllBytes(notModel, new byte[2048]);
        (rc, _, stderr) = EvalCli.Run("hellaswag", "-e", notModel, "--data", tiny.DataPath);
        rc.Should().Be(1);
        stderr.Should().Contain("not-a-model.bin: bad magic 0");

        (rc, _, stderr) = EvalCli.Run("hellaswag", "-e", tiny.ModelPath, "--data", tiny.DataPath, "--device", "cuda");
        rc.Should().Be(1);
        stderr.Should().Contain("--device cuda: no usable GPU");
    }
}
