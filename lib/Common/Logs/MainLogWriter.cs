using LlmNet.Common.Formats;

namespace LlmNet.Common.Logs;

/// <summary>
/// Appends llm.c's main.log lines (<see cref="MainLog.TrainLine"/>, <see cref="MainLog.ValLine"/>,
/// <see cref="MainLog.EvalLine"/>) as llm.c's llmc/logger.h does (logger_log_train, logger_log_val, logger_log_eval):
/// one line per event, each appended by reopening the file, so the log is readable while training runs and survives a
/// kill. Written by rank 0 only.
/// </summary>
public sealed class MainLogWriter
{
    /// <summary>Creates the log's folder, and with <paramref name="truncate"/> empties the log (a fresh run, -y 0; llm.c's logger_init).</summary>
    public MainLogWriter(string path, bool truncate)
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

    public void LogTrain(int step, float loss, float lr, float norm) => Append(MainLog.TrainLine(step, loss, lr, norm));
    public void LogVal(int step, float loss) => Append(MainLog.ValLine(step, loss));
    public void LogEval(int step, float accuracy) => Append(MainLog.EvalLine(step, accuracy));

    private void Append(string line) => File.AppendAllText(Path, line + "\n");
}
