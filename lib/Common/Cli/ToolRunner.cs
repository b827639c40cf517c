using LlmNet.Common.Formats;

namespace LlmNet.Common.Cli;

/// <summary>
/// The one error convention of every llm-* tool: a failure prints a single line
/// "llm-NAME: error: FILE: problem. fix" on stderr and exits non-zero. Exit codes:
/// 0 success, 1 runtime or data error, 2 usage error, 130 interrupted (Ctrl+C).
/// </summary>
public static class ToolRunner
{
    public const int Ok = 0, Failure = 1, Usage = 2, Interrupted = 130;

    /// <summary>Runs <paramref name="body"/>, turning expected failures into one-line errors.</summary>
    public static int Run(string toolName, Func<CancellationToken, int> body) => Run(toolName, body, Console.Error);

    /// <summary>As <see cref="Run(string, Func{CancellationToken, int})"/>, writing the error line to <paramref name="error"/> (in-process callers, tests).</summary>
    public static int Run(string toolName, Func<CancellationToken, int> body, TextWriter error)
    {
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
        Console.CancelKeyPress += onCancel;
        try
        {
            return body(cts.Token);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            error.WriteLine($"{toolName}: interrupted; finished files are kept, unfinished ones were removed");
            return Interrupted;
        }
        catch (UsageException e)
        {
            error.WriteLine($"{toolName}: error: {e.Message} (see {toolName} --help)");
            return Usage;
        }
        catch (Exception e) when (e is DataFormatException or IOException or UnauthorizedAccessException or InvalidDataException or ToolException)
        {
            error.WriteLine($"{toolName}: error: {e.Message}");
            return Failure;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }
}

/// <summary>A bad command line: reported with a pointer to --help, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>An expected runtime failure whose message already says what happened and how to fix it; exit code 1.</summary>
public sealed class ToolException(string message, Exception? inner = null) : Exception(message, inner);
