using FluentAssertions;
using LlmNet.Training.Optim;
using Xunit;

namespace LlmNet.Training.Tests;

public class ScheduleTests
{
    // The 1558M run: cosine, lr 6e-4, warmup 700, q 0.1, 32000 steps.
    private static readonly LearningRateScheduler Gpt2Xl = new("cosine", 6e-4f, 700, 32000, 0.1f);

    [Fact]
    public void Cosine_warms_up_linearly_then_decays_towards_but_never_to_the_minimum()
    {
        Gpt2Xl.At(0).Should().Be(6e-4f * 1f / 700);
        Gpt2Xl.At(349).Should().Be(6e-4f * 350f / 700);
        Gpt2Xl.At(699).Should().Be(6e-4f);
        Gpt2Xl.At(700).Should().Be(6e-4f, "decay ratio 0 gives coefficient 1");
        float mid = Gpt2Xl.At(700 + (32000 - 700) / 2);
        mid.Should().BeApproximately(6e-5f + 0.5f * (6e-4f - 6e-5f), 1e-9f);
        float last = Gpt2Xl.At(31999);
        last.Should().BeGreaterThan(6e-5f).And.BeLessThan(6.0001e-5f);
        double r = (31999.0 - 700) / (32000 - 700);
        ((double)last).Should().BeApproximately(6e-5 + 0.5 * (1 + Math.Cos(Math.PI * r)) * (6e-4 - 6e-5), 1e-10);
    }

    [Fact]
    public void Linear_decays_in_a_straight_line()
    {
        var s = new LearningRateScheduler("linear", 1e-3f, 10, 110, 0.0f);
        s.At(4).Should().Be(1e-3f * 5f / 10);
        s.At(10).Should().Be(1e-3f);
        s.At(60).Should().BeApproximately(0.5e-3f, 1e-9f);
        s.At(109).Should().BeApproximately(1e-3f * (1 - 99f / 100), 1e-9f);
    }

    [Fact]
    public void Constant_ignores_warmup()
    {
        var s = new LearningRateScheduler("constant", 3e-4f, 100, 1000, 0.1f);
        foreach (int step in new[] { 0, 50, 500, 999 }) s.At(step).Should().Be(3e-4f);
    }

    [Fact]
    public void Wsd_holds_until_80_percent_then_decays_with_a_square_root()
    {
        var s = new LearningRateScheduler("wsd", 1e-3f, 10, 100, 0.0f);
        s.At(0).Should().Be(1e-3f / 10);
        s.At(10).Should().Be(1e-3f);
        s.At(79).Should().Be(1e-3f);
        s.At(80).Should().Be(1e-3f, "decay ratio 0 at the decay point");
        s.At(84).Should().BeApproximately(1e-3f * (1 - MathF.Sqrt(4f / 20)), 1e-9f);
        s.At(99).Should().BeApproximately(1e-3f * (1 - MathF.Sqrt(19f / 20)), 1e-9f);
    }

    [Fact]
    public void Unknown_scheduler_is_rejected()
    {
        var act = () => new LearningRateScheduler("step", 1e-3f, 0, 10, 1f);
        act.Should().Throw<ArgumentException>().WithMessage("*cosine, linear, constant or wsd*");
    }

    [Fact]
    public void Outlier_detector_is_nan_for_128_values_then_a_population_z_score()
    {
        var d = new OutlierDetector();
        var window = new List<double>();
        for (int i = 0; i < 128; i++)
        {
            double x = 3.0 + 0.01 * Math.Sin(i);
            window.Add(x);
            double.IsNaN(d.Update(x)).Should().BeTrue();
        }
        for (int i = 0; i < 40; i++)
        {
            double x = i == 30 ? 4.0 : 3.0 + 0.01 * Math.Cos(i);
            window.RemoveAt(0);
            window.Add(x);
            double mean = window.Average();
            double std = Math.Sqrt(window.Sum(v => v * v) / 128 - mean * mean);
            double z = d.Update(x);
            z.Should().BeApproximately((x - mean) / std, 1e-6);
            if (i == 30) z.Should().BeGreaterThan(10, "a jump far outside the window");
        }

        var flat = new OutlierDetector();
        for (int i = 0; i < 128; i++) flat.Update(2.5);
        flat.Update(2.5).Should().Be(0, "zero spread gives z = 0");
    }
}
