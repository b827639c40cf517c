namespace LlmNet.TestSupport;

/// <summary>Locates the repository and the shared data folder beside it (../shared/data), from any test's output folder.</summary>
public static class RepoPaths
{
    private static readonly Lazy<string> s_root = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "llm.net.slnx"))) return dir.FullName;
        throw new InvalidOperationException($"no llm.net.slnx above {AppContext.BaseDirectory}");
    });

    /// <summary>The repository root (the folder holding llm.net.slnx).</summary>
    public static string Root => s_root.Value;

    /// <summary>The shared test data: $LLMNET_SHARED_DATA, else ../shared/data beside the repository.</summary>
    public static string SharedData =>
        Environment.GetEnvironmentVariable("LLMNET_SHARED_DATA") is { Length: > 0 } env ? env : Path.GetFullPath(Path.Combine(Root, "..", "shared", "data"));

    public static string SharedFile(string name)
    {
        string path = Path.Combine(SharedData, name);
        if (!File.Exists(path)) throw new FileNotFoundException($"shared test data {path} is missing (set LLMNET_SHARED_DATA to the folder that holds it)", path);
        return path;
    }
}
