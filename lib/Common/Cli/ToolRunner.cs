using LlmNet.Common.Formats;

namespace LlmNet.Common.Cli;

/// <summary>
/// The one error convention of every llm-* tool: a failure prints a single line
/// "llm-NAME: error: FILE: problem. fix" on stderr and exits non-zero. Exit codes:
/// 0 success, 1 runtime or data error, 2 usage error, 130 interrupted (Ctrl+C).
/// Anything else a tool throws (a bug) is still one line, naming the exception and the command line it
/// ran with; the stack trace follows only with --verbose or LLMNET_VERBOSE=1, so no user meets one by accident.
/// </summary>
public static class ToolRunner
{
    public const int Ok = 0, Failure = 1, Usage = 2, Interrupted = 130;

    /// <summary>The environment variable that turns on stack traces for unexpected errors (any value but "" and "0").</summary>
    public const string VerboseVariable = "LLMNET_VERBOSE";

    /// <summary>Whether <see cref="VerboseVariable"/> asks for stack traces.</summary>
    public static bool VerboseFromEnvironment =>
        Environment.GetEnvironmentVariable(VerboseVariable) is { Length: > 0 } v && v != "0";

    /// <summary>
    /// Removes every "--verbose" from <paramref name="args"/> (each tool accepts it before its own parser sees the
    /// line); <paramref name="verbose"/> is true when it was there or <see cref="VerboseVariable"/> is set.
    /// </summary>
    public static string[] TakeVerboseFlag(IReadOnlyList<string> args, out bool verbose)
    {
        var rest = args.Where(a => a != "--verbose").ToArray();
        verbose = rest.Length != args.Count || VerboseFromEnvironment;
        s_verbose = verbose;
        s_args = rest;
        return rest;
    }

    // What the entry point's TakeVerboseFlag found, for the tools whose parser runs before ToolRunner.Run.
    private static bool s_verbose;
    private static string[]? s_args;

    /// <summary>Whether unexpected errors print their stack trace: --verbose was taken at the entry point, or <see cref="VerboseVariable"/> is set.</summary>
    public static bool Verbose => s_verbose || VerboseFromEnvironment;

    /// <summary>Runs <paramref name="body"/>, turning expected failures into one-line errors.</summary>
    public static int Run(string toolName, Func<CancellationToken, int> body) => Run(toolName, body, Console.Error);

    /// <summary>As <see cref="Run(string, Func{CancellationToken, int})"/>, writing the error line to <paramref name="error"/> (in-process callers, tests).</summary>
    public static int Run(string toolName, Func<CancellationToken, int> body, TextWriter error) =>
        Run(toolName, body, error, null, Verbose);

    /// <param name="args">The tool's command line, named in the line about an unexpected error; null: what the entry point gave <see cref="TakeVerboseFlag"/>, else this process's arguments.</param>
    /// <param name="verbose">Print the stack trace of an unexpected error after its line.</param>
    public static int Run(string toolName, Func<CancellationToken, int> body, TextWriter error, IReadOnlyList<string>? args, bool verbose)
    {
        CatchUnhandled(toolName);
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
        Console.CancelKeyPress += onCancel;
        try
        {
            return body(cts.Token);
        }
        catch (Exception e)
        {
            return Report(toolName, e, error, args, verbose, cts.IsCancellationRequested);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static int s_unhandledHooked;

    /// <summary>
    /// An exception escaping a background thread (a reader task, a watchdog) never reaches <see cref="Run(string, Func{CancellationToken, int}, TextWriter, IReadOnlyList{string}?, bool)"/>'s
    /// catch, and the runtime would print its stack trace and abort. This process-wide hook reports it as the same one line
    /// and exits with <see cref="Failure"/> before the runtime gets to it.
    /// </summary>
    private static void CatchUnhandled(string toolName)
    {
        if (Interlocked.Exchange(ref s_unhandledHooked, 1) != 0) return;
        AppDomain.CurrentDomain.UnhandledException += (_, e) =>
        {
            var error = Console.Error;
            Report(toolName, e.ExceptionObject as Exception ?? new Exception(e.ExceptionObject?.ToString()), error, null, Verbose, cancelled: false);
            error.Flush();
            Environment.Exit(Failure);
        };
    }

    private static int Report(string toolName, Exception e, TextWriter error, IReadOnlyList<string>? args, bool verbose, bool cancelled)
    {
        // Parallel loops and tasks wrap what their bodies threw; one inner exception is reported as itself.
        while (e is AggregateException { InnerExceptions.Count: 1 } aggregate) e = aggregate.InnerExceptions[0];
        switch (e)
        {
            case OperationCanceledException when cancelled:
                error.WriteLine($"{toolName}: interrupted; finished files are kept, unfinished ones were removed");
                return Interrupted;
            case UsageException:
                error.WriteLine($"{toolName}: error: {OneLine(e.Message)} (see {toolName} --help)");
                return Usage;
            case DataFormatException or IOException or UnauthorizedAccessException or InvalidDataException or ToolException:
                error.WriteLine($"{toolName}: error: {OneLine(e.Message)}");
                return Failure;
            default:
                string input = string.Join(' ', (args ?? s_args ?? Environment.GetCommandLineArgs().Skip(1).ToArray()).Select(Quote));
                error.WriteLine($"{toolName}: error: unexpected {e.GetType().Name}: {OneLine(e.Message)} (command line: {toolName} {input}). " +
                    $"This is a bug; please report this line, with the stack trace that --verbose or {VerboseVariable}=1 prints");
                if (verbose) error.WriteLine(e.ToString());
                return Failure;
        }
    }

    private static string OneLine(string message) =>
        string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    private static string Quote(string arg) => arg.Length == 0 || arg.Any(char.IsWhiteSpace) ? $"'{arg}'" : arg;
}

/// <summary>A bad command line: reported with a pointer to --help, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>An expected runtime failure whose message already says what happened and how to fix it; exit code 1.</summary>
public sealed class ToolException(string message, Exception? inner = null) : Exception(message, inner);
