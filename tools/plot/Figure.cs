using ScottPlot;
using SkiaSharp;

namespace LlmNet.Tools.Plot;

using Plot = ScottPlot.Plot;  // inside the namespace, so it wins over the namespace LlmNet.Tools.Plot

/// <summary>How the figure looks; every field has a default chosen for llm.c runs.</summary>
public sealed record FigureOptions
{
    public ModelSize Size { get; init; } = ModelSize.Gpt2_124M;
    /// <summary>Also draw the learning rate and the gradient norm.</summary>
    public bool Extra { get; init; }
    /// <summary>EMA span of the smoothed train loss in steps; null picks one from the run length, 1 or less turns it off.</summary>
    public int? SmoothWindow { get; init; }
    /// <summary>Image size in pixels; null gives 800 per column and 600 per row of panels (two panels: 1600x600, as llm.c's 16x6 notebook figure).</summary>
    public int? Width { get; init; }
    public int? Height { get; init; }
    /// <summary>Top of the loss axis; null picks 4.0 once a run's loss ends below it (as llm.c's notebook does), else fits the curves.</summary>
    public double? LossTop { get; init; }
    /// <summary>Stretch the loss axis to include the GPT-2 reference line; by default the line is drawn only when the curves' range holds it.</summary>
    public bool ShowReference { get; init; }
}

public enum ImageKind { Png, Svg }

/// <summary>
/// Draws the runs as one image of panels side by side (two per row): loss, HellaSwag when any run has
/// eval records, and with <see cref="FigureOptions.Extra"/> the learning rate and the gradient norm.
/// </summary>
public static class Figure
{
    /// <summary>One colour per run, in order; red and green are left for the reference lines.</summary>
    public static IReadOnlyList<Color> RunColors { get; } =
    [
        Color.FromHex("#1f77b4"), Color.FromHex("#ff7f0e"), Color.FromHex("#9467bd"), Color.FromHex("#8c564b"),
        Color.FromHex("#e377c2"), Color.FromHex("#17becf"), Color.FromHex("#bcbd22"), Color.FromHex("#7f7f7f"),
    ];

    public static readonly Color Gpt2Color = Color.FromHex("#d62728");
    public static readonly Color Gpt3Color = Color.FromHex("#2ca02c");

    /// <summary>Loss ceiling of llm.c's notebook: the interesting part of a GPT-2 run lies below it.</summary>
    public const double NotebookLossTop = 4.0;

    public const int DefaultColumnWidth = 800, DefaultRowHeight = 600;

    public static ImageKind KindOf(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".png" => ImageKind.Png,
        ".svg" => ImageKind.Svg,
        _ => throw new ArgumentException($"{path}: the image type comes from the extension, which must be .png or .svg"),
    };

    /// <summary>Renders the figure and writes it as PNG or SVG to <paramref name="output"/>.</summary>
    public static void Write(IReadOnlyList<RunCurves> runs, FigureOptions options, ImageKind kind, Stream output)
    {
        var panels = BuildPanels(runs, options);
        try
        {
            int columns = panels.Count == 1 ? 1 : 2, rows = (panels.Count + columns - 1) / columns;
            int width = options.Width ?? DefaultColumnWidth * columns, height = options.Height ?? DefaultRowHeight * rows;
            if (kind == ImageKind.Png)
            {
                using var surface = SKSurface.Create(new SKImageInfo(width, height))
                    ?? throw new InvalidOperationException($"cannot allocate a {width}x{height} image");
                Draw(surface.Canvas, panels, columns, rows, width, height);
                using var image = surface.Snapshot();
                using var png = image.Encode(SKEncodedImageFormat.Png, 100);
                png.SaveTo(output);
            }
            else
            {
                using var wstream = new SKManagedWStream(output);
                using (var canvas = SKSvgCanvas.Create(SKRect.Create(width, height), wstream))
                    Draw(canvas, panels, columns, rows, width, height);
                wstream.Flush();
            }
        }
        finally
        {
            foreach (var p in panels) p.Dispose();
        }
    }

    private static void Draw(SKCanvas canvas, List<Plot> panels, int columns, int rows, int width, int height)
    {
        canvas.Clear(SKColors.White);
        float cellW = (float)width / columns, cellH = (float)height / rows;
        for (int i = 0; i < panels.Count; i++)
        {
            float left = i % columns * cellW, top = i / columns * cellH;
            canvas.Save();
            canvas.ClipRect(new SKRect(left, top, left + cellW, top + cellH));
            panels[i].Render(canvas, new PixelRect(left, left + cellW, top + cellH, top));
            canvas.Restore();
        }
    }

    /// <summary>The panels of the figure, in drawing order (exposed for tests).</summary>
    public static List<Plot> BuildPanels(IReadOnlyList<RunCurves> runs, FigureOptions options)
    {
        var panels = new List<Plot> { LossPanel(runs, options) };
        if (runs.Any(r => !r.HellaSwag.IsEmpty)) panels.Add(HellaSwagPanel(runs, options.Size));
        if (options.Extra)
        {
            panels.Add(SimplePanel(runs, "Learning rate", "lr", r => r.LearningRate, clipSpikes: false));
            panels.Add(SimplePanel(runs, "Gradient norm (before clipping)", "norm", r => r.GradNorm, clipSpikes: true));
        }
        return panels;
    }

    private static Plot NewPanel(string title, string yLabel)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel("step");
        plot.YLabel(yLabel);
        return plot;
    }

    private static string Prefix(IReadOnlyList<RunCurves> runs, RunCurves run) => runs.Count > 1 ? run.Label + " " : "";

    private static Plot LossPanel(IReadOnlyList<RunCurves> runs, FigureOptions options)
    {
        var plot = NewPanel("Loss", "loss");
        var drawn = new List<double>();   // every loss value drawn: the axis fits them
        bool converged = false;           // some run's loss ends below the notebook's ceiling
        for (int i = 0; i < runs.Count; i++)
        {
            var run = runs[i];
            var color = RunColors[i % RunColors.Count];
            string prefix = Prefix(runs, run);
            double? last = null;
            if (!run.Train.IsEmpty)
            {
                int window = options.SmoothWindow ?? Smoothing.AutoWindow(run.Train.Count);
                bool smooth = window > 1;
                var raw = plot.Add.ScatterLine(run.Train.Steps, run.Train.Values, smooth ? Lighter(color) : color);
                raw.LineWidth = 1;
                raw.LegendText = $"{prefix}train loss";
                drawn.AddRange(run.Train.Values);
                last = run.Train.Values[^1];
                if (smooth)
                {
                    double[] shown = Smoothing.Ema(run.Train.Values, window);
                    var s = plot.Add.ScatterLine(run.Train.Steps, shown, color);
                    s.LineWidth = 2;
                    s.LegendText = $"{prefix}train loss ({window}-step EMA)";
                    last = shown[^1];
                }
            }
            if (!run.Val.IsEmpty)
            {
                var v = plot.Add.ScatterLine(run.Val.Steps, run.Val.Values, Darker(color));
                v.LineWidth = 2.5f;
                v.MarkerShape = MarkerShape.FilledCircle;
                v.MarkerSize = 6;
                v.LegendText = $"{prefix}val loss";
                drawn.AddRange(run.Val.Values);
                last = run.Val.Values[^1];
            }
            // Where the run ended (val, else the smoothed train loss), not its lowest raw batch: a toy run's
            // train loss dips far below its trend on repetitive batches, and must not switch on the clip.
            converged |= last < NotebookLossTop - 0.25;
        }
        if (drawn.Count == 0) plot.Add.Annotation("no loss records yet", Alignment.MiddleCenter);

        // The axis fits the curves. Only a run that has come down below llm.c's notebook ceiling (dev/vislog.ipynb:
        // ylim top 4.0) is clipped there, so that the fall from ~11 does not flatten the part that matters.
        double reference = options.Size.Gpt2ValLoss;
        double low = drawn.Count > 0 ? drawn.Min() : reference, high = drawn.Count > 0 ? drawn.Max() : reference;
        if (converged) high = Math.Min(high, NotebookLossTop);
        if (options.LossTop is { } top) high = top;
        if (options.ShowReference) { low = Math.Min(low, reference); high = Math.Max(high, reference); }
        if (high <= low) { low -= 0.5; high += 0.5; }
        double pad = (high - low) * 0.05;
        low -= pad;
        high += pad * 0.2;
        // The reference line is drawn (and named in the legend) only where it is in view.
        if (reference >= low && reference <= high)
        {
            var line = plot.Add.HorizontalLine(reference, 1.5f, Gpt2Color, LinePattern.Dashed);
            line.LegendText = $"OpenAI GPT-2 ({options.Size.Name}) checkpoint val loss";
        }
        plot.Axes.SetLimitsY(low, high);
        SetStepLimits(plot, runs);
        plot.ShowLegend(Alignment.UpperRight);
        return plot;
    }

    private static Plot HellaSwagPanel(IReadOnlyList<RunCurves> runs, ModelSize size)
    {
        var plot = NewPanel("HellaSwag eval", "accuracy");
        double low = 0.25, high = size.Gpt3HellaSwag;  // 0.25 is chance level: four endings
        for (int i = 0; i < runs.Count; i++)
        {
            var run = runs[i];
            if (run.HellaSwag.IsEmpty) continue;
            var s = plot.Add.ScatterLine(run.HellaSwag.Steps, run.HellaSwag.Values, RunColors[i % RunColors.Count]);
            s.LineWidth = 2;
            s.MarkerShape = MarkerShape.FilledCircle;
            s.MarkerSize = 5;
            s.LegendText = $"{Prefix(runs, run)}HellaSwag";
            low = Math.Min(low, run.HellaSwag.Values.Min());
            high = Math.Max(high, run.HellaSwag.Values.Max());
        }
        var gpt2 = plot.Add.HorizontalLine(size.Gpt2HellaSwag, 1.5f, Gpt2Color, LinePattern.Dashed);
        gpt2.LegendText = $"OpenAI GPT-2 ({size.Name}) checkpoint";
        var gpt3 = plot.Add.HorizontalLine(size.Gpt3HellaSwag, 1.5f, Gpt3Color, LinePattern.Dashed);
        gpt3.LegendText = $"OpenAI GPT-3 ({size.Name}) checkpoint";
        double pad = (high - low) * 0.05;
        plot.Axes.SetLimitsY(low - pad, high + pad);
        SetStepLimits(plot, runs);
        plot.ShowLegend(Alignment.LowerRight);
        return plot;
    }

    private static Plot SimplePanel(IReadOnlyList<RunCurves> runs, string title, string yLabel, Func<RunCurves, Curve> pick, bool clipSpikes)
    {
        var plot = NewPanel(title, yLabel);
        var all = new List<double>();
        for (int i = 0; i < runs.Count; i++)
        {
            var curve = pick(runs[i]);
            if (curve.IsEmpty) continue;
            var s = plot.Add.ScatterLine(curve.Steps, curve.Values, RunColors[i % RunColors.Count]);
            s.LineWidth = 1.5f;
            s.LegendText = $"{Prefix(runs, runs[i])}{yLabel}";
            all.AddRange(curve.Values);
        }
        if (all.Count == 0)
        {
            plot.Add.Annotation($"no {yLabel} values in the log", Alignment.MiddleCenter);
            return plot;
        }
        double low = Math.Min(0, all.Min()), high = all.Max();
        if (clipSpikes)
        {
            // Early steps and instabilities produce norms orders of magnitude above the rest; clip them so the trend stays visible.
            all.Sort();
            double p99 = all[(int)Math.Floor(0.99 * (all.Count - 1))];
            if (high > 2 * p99 && p99 > 0) { high = 2 * p99; plot.Title($"{title}, spikes above {high:G3} clipped"); }
        }
        if (high <= low) high = low + 1;
        plot.Axes.SetLimitsY(low, high * 1.05);
        SetStepLimits(plot, runs);
        plot.ShowLegend(Alignment.UpperRight);
        return plot;
    }

    private static void SetStepLimits(Plot plot, IReadOnlyList<RunCurves> runs)
    {
        int last = Math.Max(1, runs.Max(r => r.Log.LastStep));
        plot.Axes.SetLimitsX(-0.01 * last, last * 1.01);
    }

    // The raw curve is a pale opaque tint, not a transparent one: thousands of overlapping translucent
    // segments add up to the full colour and would hide the smoothed curve drawn on top.
    private static Color Lighter(Color c) => new((byte)(c.R + (255 - c.R) * 0.6), (byte)(c.G + (255 - c.G) * 0.6), (byte)(c.B + (255 - c.B) * 0.6), c.A);

    /// <summary>The val loss colour of a run drawn in <paramref name="c"/>.</summary>
    public static Color Darker(Color c) => new((byte)(c.R * 0.65), (byte)(c.G * 0.65), (byte)(c.B * 0.65), c.A);
}
