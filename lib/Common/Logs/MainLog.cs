using LlmNet.Common.Text;

namespace LlmNet.Common.Logs;

/// <summary>One training-step record of main.log: <c>s:%d trl:%.4f lr:%.6f norm:%.2f</c>.
/// The PyTorch trainer writes only the loss, so lr and norm may be absent.</summary>
public readonly record struct TrainRecord(float Loss, float? LearningRate, float? GradNorm);

/// <summary>A line of main.log that could not be read; it is skipped, never fatal.</summary>
public readonly record struct LogIssue(string Path, int Line, string Problem)
{
    public override string ToString() => $"{Path}:{Line}: {Problem}";
}

/// <summary>
/// llm.c's main.log: its three kinds of line, and the curves of one log (<see cref="MainLogReader"/> fills them,
/// <see cref="MainLogWriter"/> appends the lines). Each curve is keyed by step. A step that appears twice keeps its
/// later value, which is what a resumed run (or a crash and re-run with -y 1) leaves behind in an append-only log.
/// </summary>
public sealed class MainLog(string path)
{
    /// <summary>A training step: <c>s:%d trl:%.4f lr:%.6f norm:%.2f</c>.</summary>
    public static string TrainLine(int step, float loss, float lr, float norm) =>
        $"s:{step} trl:{CFormat.F(loss, 4)} lr:{CFormat.F(lr, 6)} norm:{CFormat.F(norm, 2)}";

    /// <summary>A validation loss: <c>s:%d tel:%.4f</c>.</summary>
    public static string ValLine(int step, float loss) => $"s:{step} tel:{CFormat.F(loss, 4)}";

    /// <summary>A HellaSwag accuracy: <c>s:%d eval:%.4f</c>.</summary>
    public static string EvalLine(int step, float accuracy) => $"s:{step} eval:{CFormat.F(accuracy, 4)}";

    /// <summary>The file the records were read from (as given, for messages).</summary>
    public string Path { get; } = path;

    /// <summary>Training loss, learning rate and gradient norm per step (<c>trl</c> lines).</summary>
    public SortedDictionary<int, TrainRecord> Train { get; } = new();

    /// <summary>Validation loss per step (<c>tel</c> lines).</summary>
    public SortedDictionary<int, float> Val { get; } = new();

    /// <summary>HellaSwag accuracy in [0, 1] per step (<c>eval</c> lines).</summary>
    public SortedDictionary<int, float> HellaSwag { get; } = new();

    /// <summary>Lines that were skipped, with their line numbers.</summary>
    public List<LogIssue> Issues { get; } = new();

    /// <summary>How many well-formed records were read (after later-step-wins merging).</summary>
    public int RecordCount => Train.Count + Val.Count + HellaSwag.Count;

    /// <summary>The largest step of any record, or -1 for an empty log.</summary>
    public int LastStep => Math.Max(LastKey(Train.Keys), Math.Max(LastKey(Val.Keys), LastKey(HellaSwag.Keys)));

    private static int LastKey(IEnumerable<int> keys) => keys.DefaultIfEmpty(-1).Last();
}
