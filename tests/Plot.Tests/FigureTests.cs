using System.Text.RegularExpressions;
using FluentAssertions;
using Xunit;
using LlmNet.Common.Logs;
using LlmNet.Tools.Plot;
using SkiaSharp;

namespace LlmNet.Plot.Tests;

public class FigureTests
{
    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    private static RunCurves Run(string label, int steps = 400, double floor = 3.0, bool hellaSwag = true)
    {
        string text = SyntheticLog.Run(steps, floor, evalEvery: hellaSwag ? 100 : int.MaxValue);
        if (!hellaSwag) text = string.Join("\n", text.Split('\n').Where(l => !l.Contains("eval:")));
        return new RunCurves(MainLogReader.Parse(text, $"{label}/main.log"), label);
    }

    private static byte[] Render(IReadOnlyList<RunCurves> runs, FigureOptions options, ImageKind kind)
    {
        FontSetup.Configure(null);
        using var ms = new MemoryStream();
        Figure.Write(runs, options, kind, ms);
        return ms.ToArray();
    }

    private static SKBitmap Decode(byte[] png) => SKBitmap.Decode(png) ?? throw new InvalidDataException("PNG did not decode");

    private static bool HasColor(SKBitmap bmp, ScottPlot.Color c, int tolerance = 12)
    {
        for (int y = 0; y < bmp.Height; y++)
            for (int x = 0; x < bmp.Width; x++)
            {
                var p = bmp.GetPixel(x, y);
                if (Math.Abs(p.Red - c.R) <= tolerance && Math.Abs(p.Green - c.G) <= tolerance && Math.Abs(p.Blue - c.B) <= tolerance) return true;
            }
        return false;
    }

    private static int DistinctColors(SKBitmap bmp)
    {
        var set = new HashSet<uint>();
        for (int y = 0; y < bmp.Height; y += 2)
            for (int x = 0; x < bmp.Width; x += 2) set.Add((uint)bmp.GetPixel(x, y));
        return set.Count;
    }

    [Fact]
    public void Png_is_a_decodable_image_of_the_default_size_with_the_run_and_reference_colours()
    {
        byte[] png = Render([Run("gpt2_124M")], new FigureOptions(), ImageKind.Png);

        png.AsSpan(0, 8).ToArray().Should().Equal(PngSignature);
        using var bmp = Decode(png);
        bmp.Width.Should().Be(2 * Figure.DefaultColumnWidth);
        bmp.Height.Should().Be(Figure.DefaultRowHeight);   // loss and HellaSwag side by side: one row
        DistinctColors(bmp).Should().BeGreaterThan(20, "a drawn figure has lines, text and anti-aliasing, not a flat fill");
        HasColor(bmp, Figure.RunColors[0]).Should().BeTrue("the run's train loss is drawn in its colour");
        HasColor(bmp, Figure.Gpt2Color).Should().BeTrue("the GPT-2 reference line is red");
        HasColor(bmp, Figure.Gpt3Color).Should().BeTrue("the GPT-3 HellaSwag reference line is green");
    }

    [Fact]
    public void Several_runs_are_overlaid_each_in_its_own_colour()
    {
        byte[] png = Render([Run("a"), Run("b", 300, 3.2)], new FigureOptions { Width = 800, Height = 400 }, ImageKind.Png);
        using var bmp = Decode(png);
        bmp.Width.Should().Be(800);
        bmp.Height.Should().Be(400);
        HasColor(bmp, Figure.RunColors[0]).Should().BeTrue();
        HasColor(bmp, Figure.RunColors[1]).Should().BeTrue();
    }

    [Fact]
    public void Svg_names_every_series_and_the_reference_lines_for_the_chosen_size()
    {
        string svg = System.Text.Encoding.UTF8.GetString(Render([Run("alpha"), Run("beta")],
            new FigureOptions { Size = ModelSize.Gpt2_350M, SmoothWindow = 10 }, ImageKind.Svg));

        svg.Should().StartWith("<?xml");
        var root = System.Xml.Linq.XDocument.Parse(svg).Root!;   // well-formed XML
        root.Name.LocalName.Should().Be("svg");
        root.Attribute("width")!.Value.Should().Be("1600");
        var texts = Regex.Matches(svg, @"<text[^>]*>\s*([^<]*?)\s*</text>").Select(m => m.Groups[1].Value).ToHashSet();
        texts.Should().Contain(["Loss", "HellaSwag eval", "step",
            "alpha train loss", "alpha train loss (10-step EMA)", "alpha val loss", "alpha HellaSwag",
            "beta train loss", "beta val loss", "beta HellaSwag",
            "OpenAI GPT-2 (350M) checkpoint val loss", "OpenAI GPT-2 (350M) checkpoint", "OpenAI GPT-3 (350M) checkpoint"]);
        svg.Should().Contain("#1F77B4", because: "the first run's colour").And.Subject.ToUpperInvariant().Should().Contain("#FF7F0E");
    }

    [Fact]
    public void Extra_adds_learning_rate_and_grad_norm_panels_on_a_second_row()
    {
        var runs = new[] { Run("r") };
        Figure.BuildPanels(runs, new FigureOptions { Extra = true }).Should().HaveCount(4);
        using var bmp = Decode(Render(runs, new FigureOptions { Extra = true }, ImageKind.Png));
        bmp.Height.Should().Be(2 * Figure.DefaultRowHeight);
        string svg = System.Text.Encoding.UTF8.GetString(Render(runs, new FigureOptions { Extra = true }, ImageKind.Svg));
        svg.Should().Contain("Learning rate").And.Contain("Gradient norm");
    }

    [Fact]
    public void Without_eval_records_only_the_loss_panel_is_drawn()
    {
        var runs = new[] { Run("r", hellaSwag: false) };
        runs[0].HellaSwag.IsEmpty.Should().BeTrue();
        Figure.BuildPanels(runs, new FigureOptions()).Should().HaveCount(1);
        using (var bmp = Decode(Render(runs, new FigureOptions(), ImageKind.Png)))
            bmp.Width.Should().Be(Figure.DefaultColumnWidth, "one panel gets one column");
        string svg = System.Text.Encoding.UTF8.GetString(Render(runs, new FigureOptions(), ImageKind.Svg));
        svg.Should().NotContain("HellaSwag");
    }

    [Fact]
    public void Loss_axis_is_clipped_at_four_once_a_run_ends_below_it_and_fits_the_curves_otherwise()
    {
        var low = Figure.BuildPanels([Run("low", floor: 3.0)], new FigureOptions())[0].Axes.GetLimits();
        low.Top.Should().BeInRange(4.0, 4.1);
        low.Bottom.Should().BeLessThan(3.0);

        // A toy run whose loss never gets near 4: the whole curve is shown, from its top to its floor, and the
        // GPT-2 line (3.42) is outside that range, so it is neither drawn nor named in the legend.
        var high = Figure.BuildPanels([Run("high", floor: 6.0)], new FigureOptions())[0].Axes.GetLimits();
        high.Top.Should().BeGreaterThan(10.0);
        high.Bottom.Should().BeInRange(5.0, 6.0);
        Svg([Run("high", floor: 6.0)], new FigureOptions()).Should().NotContain("checkpoint val loss");

        // Asked for, the axis stretches to the reference line and the line is drawn.
        var stretched = Figure.BuildPanels([Run("high", floor: 6.0)], new FigureOptions { ShowReference = true })[0].Axes.GetLimits();
        stretched.Bottom.Should().BeLessThan(ModelSize.Gpt2_124M.Gpt2ValLoss);
        stretched.Top.Should().BeGreaterThan(10.0);
        Svg([Run("high", floor: 6.0)], new FigureOptions { ShowReference = true }).Should().Contain("OpenAI GPT-2 (124M) checkpoint val loss");

        var forced = Figure.BuildPanels([Run("x")], new FigureOptions { LossTop = 5.5 })[0].Axes.GetLimits();
        forced.Top.Should().BeInRange(5.5, 5.6);
    }

    /// <summary>
    /// The quickstart's shape (pipelines/quickstart.sh, 40 steps): val falls 10.9 → 6.5 while single train batches
    /// of repetitive text dip to ~2.4. Such dips once switched on the notebook's 2–4 window and hid the val curve.
    /// </summary>
    private static RunCurves QuickstartLikeRun()
    {
        var sb = new System.Text.StringBuilder();
        var ic = System.Globalization.CultureInfo.InvariantCulture;
        for (int s = 0; s < 40; s++)
        {
            double loss = s is 12 or 25 or 33 ? 2.4 + 0.01 * s : 6.4 + 4.5 * Math.Exp(-s / 12.0);
            sb.Append(ic, $"s:{s} trl:{loss:F4} lr:0.001 norm:1.0\n");
        }
        foreach (var (s, v) in new[] { (0, 10.9), (20, 7.6), (39, 6.5) }) sb.Append(ic, $"s:{s} tel:{v:F4}\n");
        return new RunCurves(MainLogReader.Parse(sb.ToString(), "quickstart/run/main.log"), "run");
    }

    [Fact]
    public void A_toy_run_whose_batches_dip_low_shows_its_whole_val_curve_inside_the_plot_area()
    {
        var run = QuickstartLikeRun();
        var panel = Figure.BuildPanels([run], new FigureOptions())[0];
        var limits = panel.Axes.GetLimits();
        limits.Top.Should().BeGreaterThanOrEqualTo(10.9);
        limits.Bottom.Should().BeLessThanOrEqualTo(2.4, "the dips are drawn too: the axis fits every curve");

        FontSetup.Configure(null);
        using var surface = SKSurface.Create(new SKImageInfo(Figure.DefaultColumnWidth, Figure.DefaultRowHeight));
        surface.Canvas.Clear(SKColors.White);
        panel.Render(surface.Canvas, new ScottPlot.PixelRect(0, Figure.DefaultColumnWidth, Figure.DefaultRowHeight, 0));
        using var image = surface.Snapshot();
        using var bmp = SKBitmap.FromImage(image);
        ValMarkers.AllInsidePlotArea(panel, run, bmp, "the rendered panel");
    }

    private static string Svg(IReadOnlyList<RunCurves> runs, FigureOptions options) =>
        System.Text.Encoding.UTF8.GetString(Render(runs, options, ImageKind.Svg));

    [Fact]
    public void Nan_losses_are_left_out_of_the_curves()
    {
        var log = MainLogReader.Parse("s:0 trl:5.0 lr:0.1 norm:1\ns:1 trl:nan lr:0.1 norm:1\ns:2 trl:4.0 lr:0.1 norm:1\n", "main.log");
        var run = new RunCurves(log, "r");
        run.Train.Steps.Should().Equal(0, 2);
        run.Train.NonFinite.Should().Be(1);
        Render([run], new FigureOptions(), ImageKind.Png).Length.Should().BeGreaterThan(1000);
    }

    [Fact]
    public void Smoothing_is_a_debiased_moving_average()
    {
        Smoothing.Ema([5, 5, 5], 10).Should().Equal(5, 5, 5);
        var s = Smoothing.Ema([10, 0, 0, 0], 3);   // decay 0.5
        s[0].Should().Be(10);
        s[1].Should().BeApproximately(10 * 0.25 / 0.75, 1e-12);
        Smoothing.Ema([1, double.NaN, 3], 3)[1].Should().Be(double.NaN);
        Smoothing.AutoWindow(100).Should().Be(2);
        Smoothing.AutoWindow(1_000_000).Should().Be(250);
        Smoothing.AutoWindow(10).Should().Be(1);
    }

    [Fact]
    public void A_missing_font_file_is_a_warning_not_a_failure()
    {
        FontSetup.Configure("/nonexistent/font.ttf").Should().Contain("/nonexistent/font.ttf: font file not found");
    }
}
