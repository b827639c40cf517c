namespace LlmNet.TestSupport;

/// <summary>Locates the repository and its bundled data (data/, see data/README.md), from any test's output folder.</summary>
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

    /// <summary>The data bundled with the repository: tests read nothing outside the clone, so a bare clone runs them all.</summary>
    public static string Data => Path.Combine(Root, "data");

    /// <summary>Tiny Shakespeare, whole (public domain).</summary>
    public static string TinyShakespeare => DataFile("tinyshakespeare.txt");

    /// <summary>The first 500 HellaSwag validation items in the preprocessed text form, bzip2 (MIT).</summary>
    public static string HellaSwagSample => DataFile("hellaswag_val_sample.txt.bz2");

    /// <summary>Number of items in <see cref="HellaSwagSample"/>.</summary>
    public const int HellaSwagSampleCount = 500;

    public static string DataFile(string name)
    {
        string path = Path.Combine(Data, name);
        if (!File.Exists(path)) throw new FileNotFoundException($"bundled test data {path} is missing from the repository (see data/README.md)", path);
        return path;
    }
}
