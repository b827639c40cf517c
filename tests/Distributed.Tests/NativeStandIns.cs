using System.Diagnostics;
using FluentAssertions;
using LlmNet.Distributed.Nccl;
using LlmNet.TestSupport;
using Xunit;

namespace LlmNet.Distributed.Tests;

/// <summary>
/// Builds the C stand-ins for NCCL and MPI (tests/Distributed.Tests/StandIns) and runs one test of this
/// executable in a child process that loads them: a process binds a native library once, and the other tests
/// here check what happens when none is installed.
/// </summary>
internal static class NativeStandIns
{
    /// <summary>Marks the stand-in's folder; a scenario runs only when its override variable points into one.</summary>
    public const string Marker = "llmnet-stand-in";

    public static bool IsChild(string overrideVariable, out string library)
    {
        library = Environment.GetEnvironmentVariable(overrideVariable) ?? "";
        return library.Contains(Marker, StringComparison.Ordinal);
    }

    /// <summary>Compiles <paramref name="source"/> into <paramref name="dir"/>/llmnet-stand-in/<paramref name="libraryName"/>; skips the test without a C compiler.</summary>
    public static string Compile(TempDirectory dir, string source, string libraryName)
    {
        string? cc = new[] { "/usr/bin/cc", "/usr/bin/gcc", "/usr/local/bin/cc" }.FirstOrDefault(File.Exists);
        if (cc is null) Assert.Skip("no C compiler here to build the native stand-ins");
        string lib = Path.Combine(dir.Path, Marker, libraryName);
        Directory.CreateDirectory(Path.GetDirectoryName(lib)!);
        var (code, output) = Run(cc, ["-shared", "-fPIC", "-O1", "-o", lib, Path.Combine(RepoPaths.Root, "tests", "Distributed.Tests", "StandIns", source), "-lpthread"],
            new Dictionary<string, string>(), TimeSpan.FromSeconds(60));
        code.Should().Be(0, $"the stand-in {source} must compile: {output}");
        return lib;
    }

    /// <summary>Runs one test method of this executable in a child process with <paramref name="env"/> added, and checks it passed.</summary>
    public static void RunTestInChild(string fullyQualifiedMethod, Dictionary<string, string> env)
    {
        string exe = Path.Combine(AppContext.BaseDirectory, "LlmNet.Distributed.Tests");
        if (!File.Exists(exe)) Assert.Skip($"{exe} not found (the tests are not running from their apphost)");
        var (code, output) = Run(exe, ["-method", fullyQualifiedMethod, "-noColor"], env, TimeSpan.FromSeconds(120));
        code.Should().Be(0, output);
        output.Should().Contain("Total: 1, Errors: 0, Failed: 0, Skipped: 0", output);
    }

    private static (int ExitCode, string Output) Run(string file, string[] args, Dictionary<string, string> env, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        psi.Environment.Remove(NcclEnvironment.NvlsVariable); // the child must switch NVLS off by itself
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            return (-1, $"{file} timed out after {timeout}");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}
