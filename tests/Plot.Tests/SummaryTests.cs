using FluentAssertions;
using Xunit;
using LlmNet.Common.Logs;
using LlmNet.Tools.Plot;

namespace LlmNet.Plot.Tests;

public class SummaryTests
{
    private const string Log =
        "s:0 trl:10.0000 lr:0.000100 norm:9.00\ns:0 tel:9.9000\ns:0 eval:0.2500\n" +
        "s:1 trl:3.5000 lr:0.000200 norm:1.00\n" +
        "s:2 trl:3.1000 lr:0.000300 norm:1.00\ns:2 tel:3.4000\ns:2 eval:0.2950\n" +
        "s:3 trl:3.2000 lr:0.000300 norm:1.00\ns:3 tel:3.3000\ns:3 eval:0.3100\n" +
        "s:4 trl:3.3000 lr:0.000300 norm:1.00\ns:4 tel:3.3500\ns:4 eval:0.3000\n";

    [Fact]
    public void Summary_finds_the_best_values_and_the_steps_where_the_baselines_were_reached()
    {
        var run = new RunCurves(MainLogReader.Parse(Log, "runs/x/main.log"), "x");
        var s = RunSummary.Of(run, ModelSize.Gpt2_124M);

        s.LastStep.Should().Be(4);
        s.MinTrain.Should().Be(new StepValue(2, 3.1f));
        s.LastTrain.Should().Be(new StepValue(4, 3.3f));
        s.MinVal.Should().Be(new StepValue(3, 3.3f));
        s.MaxHellaSwag.Should().Be(new StepValue(3, 0.31f));
        s.Gpt2ValLossBeatenAt.Should().Be(2);       // 3.40 <= 3.424958
        s.Gpt2HellaSwagCrossedAt.Should().Be(2);    // 0.295 >= 0.294463
        s.Gpt3HellaSwagCrossedAt.Should().BeNull(); // 0.337 never reached

        string text = s.Format(ModelSize.Gpt2_124M);
        text.Should().Contain("x  (runs/x/main.log)")
            .And.Contain("0..4: 5 train, 4 val, 4 HellaSwag records")
            .And.Contain("train loss  min 3.1000 at step 2, last 3.3000 at step 4")
            .And.Contain("val loss    min 3.3000 at step 3, last 3.3500; GPT-2 124M 3.4250 beaten at step 2")
            .And.Contain("HellaSwag   max 0.3100 at step 3, last 0.3000; GPT-2 124M 0.2945 crossed at step 2; GPT-3 124M 0.3370 not reached");
    }

    [Fact]
    public void Larger_sizes_compare_against_their_own_baselines()
    {
        var run = new RunCurves(MainLogReader.Parse(Log, "main.log"), "x");
        var s = RunSummary.Of(run, ModelSize.Gpt2_1558M);
        s.Gpt2ValLossBeatenAt.Should().BeNull();     // 2.831273
        s.Gpt2HellaSwagCrossedAt.Should().BeNull();  // 0.488946
        s.Format(ModelSize.Gpt2_1558M).Should().Contain("GPT-2 1558M 2.8313 not reached");
    }

    [Fact]
    public void Reference_values_are_the_notebook_ones_and_sizes_parse_from_names_and_paths()
    {
        ModelSize.All.Select(s => (s.Name, s.Gpt2ValLoss, s.Gpt2HellaSwag, s.Gpt3HellaSwag)).Should().Equal(
            ("124M", 3.424958, 0.294463, 0.337), ("350M", 3.083089, 0.375224, 0.436),
            ("774M", 3.000580, 0.431986, 0.510), ("1558M", 2.831273, 0.488946, 0.547));
        ModelSize.TryParse("350m", out var a).Should().BeTrue(); a.Should().Be(ModelSize.Gpt2_350M);
        ModelSize.TryParse("d48", out var b).Should().BeTrue(); b.Should().Be(ModelSize.Gpt2_1558M);
        ModelSize.TryParse("7B", out _).Should().BeFalse();
        ModelSize.FromPath("/data/log_gpt2_774M/main.log").Should().Be(ModelSize.Gpt2_774M);
        ModelSize.FromPath("/runs/d24-fineweb/main.log").Should().Be(ModelSize.Gpt2_350M);
        ModelSize.FromPath("/runs/shakespeare/main.log").Should().BeNull();
    }
}
