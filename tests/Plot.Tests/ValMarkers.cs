using FluentAssertions;
using LlmNet.Tools.Plot;
using SkiaSharp;

namespace LlmNet.Plot.Tests;

/// <summary>
/// Finds every val point of a run drawn in the val colour inside a loss panel's plot area, in an image rendered from
/// that panel. Shared by the plot tests and the quickstart test (tests/EndToEnd.Tests links this file).
/// </summary>
internal static class ValMarkers
{
    public static void AllInsidePlotArea(ScottPlot.Plot panel, RunCurves run, SKBitmap image, string what)
    {
        var area = panel.LastRender.DataRect;
        var valColor = Figure.Darker(Figure.RunColors[0]);
        for (int i = 0; i < run.Val.Count; i++)
        {
            var p = panel.GetPixel(new ScottPlot.Coordinates(run.Val.Steps[i], run.Val.Values[i]));
            area.Contains(p).Should().BeTrue($"val loss {run.Val.Values[i]} at step {run.Val.Steps[i]} lies inside the plot area {area}");
            // The marker (6 px) is drawn in the val colour around the point.
            bool found = false;
            for (int dy = -2; dy <= 2 && !found; dy++)
                for (int dx = -2; dx <= 2 && !found; dx++)
                {
                    var c = image.GetPixel((int)Math.Round(p.X) + dx, (int)Math.Round(p.Y) + dy);
                    found = Math.Abs(c.Red - valColor.R) <= 12 && Math.Abs(c.Green - valColor.G) <= 12 && Math.Abs(c.Blue - valColor.B) <= 12;
                }
            found.Should().BeTrue($"{what} shows the val point of step {run.Val.Steps[i]} at {p}");
        }
    }
}
