using LlmNet.Common.Formats;

namespace LlmNet.Training.Logging;

/// <summary>
/// llm.c's main.log (spec §7.1): one line per event, each appended by reopening the file, so the log is
/// readable while training runs and survives a kill. Written by rank 0 only.
/// </summary>
public sealed class MainLog
{
    public MainLog(string path, bool truncate)
    {
        Path = path;
        try
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
            if (truncate) File.WriteAllText(path, "");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataFormatException(path, $"cannot create the log: {e.Message}", "Choose a writable --output-dir");
        }
    }

    public string Path { get; }

    public static string TrainLine(int step, float loss, float lr, float norm) =>
        $"s:{step} trl:{CFormat.F(loss, 4)} lr:{CFormat.F(lr, 6)} norm:{CFormat.F(norm, 2)}";
    public static string ValLine(int step, float loss) => $"s:{step} tel:{CFormat.F(loss, 4)}";
    public static string EvalLine(int step, float accuracy) => $"s:{step} eval:{CFormat.F(accuracy, 4)}";

    public void LogTrain(int step, float loss, float lr, float norm) => Append(TrainLine(step, loss, lr, norm));
    public void LogVal(int step, float loss) => Append(ValLine(step, loss));
    public void LogEval(int step, float accuracy) => Append(EvalLine(step, accuracy));

    private void Append(string line) => File.AppendAllText(Path, line + "\n");
}
