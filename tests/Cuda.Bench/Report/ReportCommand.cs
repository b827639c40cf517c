using System.Globalization;

namespace LlmNet.Cuda.Bench.Report;

/// <summary>
/// <c>llm-cuda-bench report DIR [--steps 20] [--tol 0.01]</c>: the Markdown table of a tests/gpu/speed-bench.sh call
/// (its OUT folder), printed and written to DIR/report.md. Runs anywhere: no GPU is touched. Exit 0 when every run
/// finished and every loss check passed, 1 otherwise (the table is printed either way), 2 on a bad command line.
/// </summary>
internal static class ReportCommand
{
    public const string Usage = "usage: llm-cuda-bench report DIR [--steps N] [--tol X]  (DIR: speed-bench.sh's OUT folder)";

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        string? dir = null;
        int steps = 20;
        double tol = 0.01;
        for (int i = 1; i < args.Length; i++)
        {
            string a = args[i];
            if ((a is "--steps" or "--tol") && i + 1 >= args.Length) return Fail(error, $"{a} needs a value. {Usage}");
            if (TryLossCheckOption(args, ref i, ref steps, ref tol, out string? bad))
            {
                if (bad is not null) return Fail(error, bad);
            }
            else if (a.StartsWith('-') || dir is not null) return Fail(error, $"unexpected argument '{a}'. {Usage}");
            else dir = a;
        }
        if (dir is null) return Fail(error, Usage);
        if (!Directory.Exists(dir)) return Fail(error, $"{dir}: no such folder; give speed-bench.sh's OUT folder", code: 1);

        string markdown;
        bool allPassed;
        try { (markdown, allPassed) = SpeedReport.Build(dir, steps, tol); }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            return Fail(error, e.Message, code: 1);
        }
        output.Write(markdown);
        File.WriteAllText(Path.Combine(dir, "report.md"), markdown);
        if (!allPassed) error.WriteLine("llm-cuda-bench: report: a run failed or its loss check did not pass; its figures do not count (see the table)");
        return allPassed ? 0 : 1;
    }

    /// <summary>
    /// The loss check's options, which report and compare both take: --steps N (steps compared) and --tol X (largest
    /// loss difference). False when args[i] is neither; otherwise i moves past the value, and <paramref name="bad"/>
    /// says what is wrong with a value that is not a positive number (the caller has checked that a value follows).
    /// </summary>
    internal static bool TryLossCheckOption(string[] args, ref int i, ref int steps, ref double tol, out string? bad)
    {
        bad = null;
        if (args[i] == "--steps")
        {
            if (!int.TryParse(args[++i], CultureInfo.InvariantCulture, out steps) || steps < 1)
                bad = $"--steps {args[i]}: expected a positive step count, e.g. --steps 20";
            return true;
        }
        if (args[i] == "--tol")
        {
            if (!double.TryParse(args[++i], NumberStyles.Float, CultureInfo.InvariantCulture, out tol) || !(tol > 0))
                bad = $"--tol {args[i]}: expected a positive loss difference, e.g. --tol 0.01";
            return true;
        }
        return false;
    }

    private static int Fail(TextWriter error, string message, int code = 2)
    {
        error.WriteLine($"llm-cuda-bench: report: {message}");
        return code;
    }
}
