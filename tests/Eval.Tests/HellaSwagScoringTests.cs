using FluentAssertions;
using LlmNet.Eval.HellaSwag;
using LlmNet.Model;
using Xunit;

namespace LlmNet.Eval.Tests;

public sealed class HellaSwagScoringTests
{
    /// <summary>A causal loss that depends on every input so far and the target: any packing mistake changes it.</summary>
    private static float CausalLoss(ReadOnlyMemory<int> inputsSoFar, int target)
    {
        long h = target * 7919L;
        foreach (int t in inputsSoFar.Span) h = (h * 31 + t) % 1_000_003;
        return 0.5f + h % 997 / 100f;
    }

    [Fact]
    public void Packing_follows_llmc_rows_positions_targets_and_mask()
    {
        var a = new HellaSwagExample(0, 1, [5, 6, 7], [[8], [9, 10], [11, 12, 13], [14]]);
        var b = new HellaSwagExample(1, 0, [1], [[2, 3], [4], [5], [6]]);
        var batch = new HellaSwagBatch(batchSize: 12, maxSeqLen: 8);
        batch.Capacity.Should().Be(3);
        batch.Pack([a, b]);
        batch.Count.Should().Be(2);
        int[] Row(int[] buf, int r) => buf[(r * 8)..((r + 1) * 8)];
        byte[] MaskRow(int r) => batch.Mask[(r * 8)..((r + 1) * 8)];

        Row(batch.Inputs, 2).Should().Equal(5, 6, 7, 11, 12, 13, 0, 0);
        Row(batch.Targets, 2).Should().Equal(6, 7, 11, 12, 13, 0, 0, 0);
        MaskRow(2).Should().Equal(0, 0, 1, 1, 1, 0, 0, 0);
        Row(batch.Inputs, 0).Should().Equal(5, 6, 7, 8, 0, 0, 0, 0);
        MaskRow(0).Should().Equal(0, 0, 1, 0, 0, 0, 0, 0);
        // Example 1 takes rows 4..7.
        Row(batch.Inputs, 4).Should().Equal(1, 2, 3, 0, 0, 0, 0, 0);
        Row(batch.Targets, 4).Should().Equal(2, 3, 0, 0, 0, 0, 0, 0);
        MaskRow(4).Should().Equal(1, 1, 0, 0, 0, 0, 0, 0);
        Row(batch.Targets, 7).Should().Equal(6, 0, 0, 0, 0, 0, 0, 0);
        // Unused rows are empty and the mask is cleared when the batch is reused.
        batch.Mask.AsSpan(8 * 8).IndexOf((byte)1).Should().Be(-1);
        batch.Pack([b]);
        MaskRow(2).Should().Equal(1, 0, 0, 0, 0, 0, 0, 0);
        batch.Mask.AsSpan(4 * 8).IndexOf((byte)1).Should().Be(-1);
    }

    [Fact]
    public void Sequence_length_must_exceed_context_plus_ending()
    {
        var ex = new HellaSwagExample(0, 0, [1, 2, 3], [[1], [1, 2, 3, 4], [1], [1]]);
        ex.RequiredSeqLen.Should().Be(8);
        new HellaSwagBatch(4, 8).Pack([ex]);
        ((Action)(() => new HellaSwagBatch(4, 7).Pack([ex]))).Should().Throw<ArgumentException>().WithMessage("*at least 8*");
        ((Action)(() => new HellaSwagBatch(3, 8))).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Mean_loss_is_over_ending_tokens_and_lowest_index_wins_ties()
    {
        // Loss is the target token's value / 10: ending means are 0.5, 0.3 (=(0.2+0.4)/2), 0.3, 0.9.
        var backend = new FakeBackend((_, target) => target / 10f);
        var ex = new HellaSwagExample(0, 2, [99, 98], [[5], [2, 4], [3, 3], [9]]);
        var p = HellaSwagScorer.ScoreExample(backend, ex);
        p.MeanLosses.Should().Equal(0.5f, 0.3f, 0.3f, 0.9f);
        p.Prediction.Should().Be(1, "the lower index wins a tie");
        p.Correct.Should().BeFalse();

        HellaSwagBatch.ArgMin([1f, 1f, 1f, 1f]).Should().Be(0);
        HellaSwagBatch.ArgMin([2f, 1f, 0.5f, 0.5f]).Should().Be(2);
        HellaSwagBatch.ArgMin([float.NaN, 1f, 2f, 0f]).Should().Be(0, "NaN is never strictly smaller, as in llm.c's comparison");
    }

    [Fact]
    public void Context_tokens_do_not_count_towards_the_score()
    {
        // A huge loss on the context targets must not change anything.
        var backend = new FakeBackend((inp, target) => inp.Length < 3 ? 1000f : target);
        var ex = new HellaSwagExample(0, 3, [1, 2, 3], [[9], [8], [7], [6]]);
        var p = HellaSwagScorer.ScoreExample(backend, ex);
        p.MeanLosses.Should().Equal(9f, 8f, 7f, 6f);
        p.Prediction.Should().Be(3);
        p.Correct.Should().BeTrue();
    }

    [Fact]
    public void Batch_size_does_not_change_predictions_or_losses()
    {
        var examples = TestExamples.Make(23, seed: 5);
        var evaluator = new HellaSwagEvaluator(examples);
        int T = evaluator.RequiredSeqLen;
        HellaSwagScore? first = null;
        foreach (int b in new[] { 4, 8, 12, 16, 40 })
        {
            var backend = new FakeBackend(CausalLoss);
            var score = evaluator.Evaluate(backend, b, T + (b % 3), TestContext.Current.CancellationToken, keepPredictions: true);
            backend.Calls.Should().HaveCount((23 + b / 4 - 1) / (b / 4));
            backend.Calls.Should().OnlyContain(c => c.B == b);
            score.Total.Should().Be(23);
            if (first is null) { first = score; continue; }
            score.Correct.Should().Be(first.Correct);
            for (int i = 0; i < 23; i++)
            {
                score.Predictions![i].Prediction.Should().Be(first.Predictions![i].Prediction);
                score.Predictions[i].MeanLosses.Should().Equal(first.Predictions[i].MeanLosses);
            }
        }
        first!.Predictions!.Select(p => p.Prediction).Distinct().Count().Should().BeGreaterThan(1, "the fake loss should discriminate");
    }

    [Fact]
    public void Ranks_split_the_examples_as_llmc_does_and_reduce_to_the_whole()
    {
        var examples = TestExamples.Make(10, seed: 9);
        var whole = new HellaSwagEvaluator(examples).Evaluate(new FakeBackend(CausalLoss), 8, 64, TestContext.Current.CancellationToken, keepPredictions: true);
        // per_proc = ceil(10/4) = 3: ranks take [0,3) [3,6) [6,9) [9,10).
        var parts = Enumerable.Range(0, 4).Select(r => new HellaSwagEvaluator(examples, r, 4)).ToArray();
        parts.Select(p => (p.FirstExample, p.Count)).Should().Equal((0, 3), (3, 3), (6, 3), (9, 1));
        parts.Should().OnlyContain(p => p.DatasetSize == 10 && p.RequiredSeqLen == parts[0].RequiredSeqLen);
        var scores = parts.Select(p => p.Evaluate(new FakeBackend(CausalLoss), 8, 64, keepPredictions: true)).ToArray();
        scores.SelectMany(s => s.Predictions!).Select(p => (p.Index, p.Prediction))
            .Should().Equal(whole.Predictions!.Select(p => (p.Index, p.Prediction)));

        var group = new SumGroup(scores.Select(s => s.Correct).ToArray(), scores.Select(s => s.Total).ToArray());
        var reduced = scores[0].Reduce(group);
        reduced.Correct.Should().Be(whole.Correct);
        reduced.Total.Should().Be(10);

        // More ranks than examples: the extra ranks get nothing.
        var empty = new HellaSwagEvaluator(examples.Take(2).ToList(), 3, 4);
        empty.Count.Should().Be(0);
        empty.Evaluate(new FakeBackend(CausalLoss), 4, 64, TestContext.Current.CancellationToken).Total.Should().Be(0);
    }

    [Fact]
    public void Evaluate_checks_sizes_against_the_backend_and_the_data()
    {
        var examples = TestExamples.Make(3);
        var evaluator = new HellaSwagEvaluator(examples);
        var backend = new FakeBackend(CausalLoss, maxBatch: 8, maxSeqLen: 64);
        evaluator.ProblemWith(4, evaluator.RequiredSeqLen).Should().BeNull();
        evaluator.ProblemWith(3, 64).Should().Contain("at least 4 rows");
        evaluator.ProblemWith(8, evaluator.RequiredSeqLen - 1).Should().Contain($"needs T ≥ {evaluator.RequiredSeqLen}");
        ((Action)(() => evaluator.Evaluate(backend, 16, 64))).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*at most 8 rows*");
        ((Action)(() => evaluator.Evaluate(backend, 8, evaluator.RequiredSeqLen - 1))).Should().Throw<ArgumentOutOfRangeException>()
            .WithMessage($"*T ≥ {evaluator.RequiredSeqLen}*");
        ((Action)(() => evaluator.Evaluate(backend, 8, 65))).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*at most T = 64*");
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        ((Action)(() => evaluator.Evaluate(backend, 4, 64, cts.Token))).Should().Throw<OperationCanceledException>();
    }

    /// <summary>A process group of several simulated ranks: AllReduceSum returns the known total of the values asked about in order.</summary>
    private sealed class SumGroup(int[] correct, int[] total) : IProcessGroup
    {
        private int _calls;
        public int Rank => 0;
        public int Size => correct.Length;
        public int LocalRank => 0;
        public double AllReduceSum(double value) => _calls++ == 0 ? correct.Sum() : total.Sum();
        public void Barrier() { }
        public void Dispose() { }
    }
}
