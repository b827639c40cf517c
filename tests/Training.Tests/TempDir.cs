namespace LlmNet.Training.Tests;

/// <summary>A fresh folder under the system temp dir, removed on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "llmnet-training-" + Guid.NewGuid().ToString("N")[..12]);
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
}

/// <summary>Tests that redirect Console.Error run one at a time, so no redirect is undone under another test.</summary>
[Xunit.CollectionDefinition(Name)]
public sealed class ConsoleErrorCollection { public const string Name = "console-error"; }
