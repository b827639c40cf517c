namespace LlmNet.Distributed.Tests;

/// <summary>A fresh directory under the system temp folder, deleted on Dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "llmnet-dist-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

internal static class Ranks
{
    /// <summary>Runs one function per rank on its own thread and returns their results in rank order.</summary>
    public static Task<T[]> RunAsync<T>(int size, Func<int, T> body) =>
        Task.WhenAll(Enumerable.Range(0, size).Select(r => Thread(() => body(r))));

    /// <summary>Runs a blocking body on a dedicated thread.</summary>
    public static Task<T> Thread<T>(Func<T> body) =>
        Task.Factory.StartNew(body, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
}
