namespace LlmNet.Tools.Plot;

/// <summary>
/// The OpenAI checkpoints a run is compared against (llm.c's dev/vislog.ipynb): val loss of the
/// GPT-2 checkpoint on the same val data, and HellaSwag accuracy of GPT-2 and of GPT-3 at the same size.
/// GPT-3's weights were never released, so there is no GPT-3 loss baseline.
/// </summary>
public sealed record ModelSize(string Name, int Depth, double Gpt2ValLoss, double Gpt2HellaSwag, double Gpt3HellaSwag)
{
    public static readonly ModelSize Gpt2_124M = new("124M", 12, 3.424958, 0.294463, 0.337);
    public static readonly ModelSize Gpt2_350M = new("350M", 24, 3.083089, 0.375224, 0.436);
    public static readonly ModelSize Gpt2_774M = new("774M", 36, 3.000580, 0.431986, 0.510);
    public static readonly ModelSize Gpt2_1558M = new("1558M", 48, 2.831273, 0.488946, 0.547);

    public static IReadOnlyList<ModelSize> All { get; } = [Gpt2_124M, Gpt2_350M, Gpt2_774M, Gpt2_1558M];

    /// <summary>Accepts "124M", "350m", the depth descriptors "d12".."d48", or a bare "124".</summary>
    public static bool TryParse(string text, out ModelSize size)
    {
        string t = text.Trim();
        foreach (var s in All)
        {
            if (t.Equals(s.Name, StringComparison.OrdinalIgnoreCase) || t.Equals(s.Name[..^1], StringComparison.Ordinal)
                || t.Equals($"d{s.Depth}", StringComparison.OrdinalIgnoreCase))
            {
                size = s;
                return true;
            }
        }
        size = Gpt2_124M;
        return false;
    }

    /// <summary>
    /// The size named in a run's path, as in llm.c's output folders "log_gpt2_350M" or "log_d24"
    /// (the last match wins: the folder nearest the file); null when the path names none.
    /// </summary>
    public static ModelSize? FromPath(string path)
    {
        ModelSize? found = null;
        foreach (var part in Path.GetFullPath(path).Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
            foreach (var token in part.Split(['_', '-', '.'], StringSplitOptions.RemoveEmptyEntries))
                foreach (var s in All)
                    if (token.Equals(s.Name, StringComparison.OrdinalIgnoreCase) || token.Equals($"d{s.Depth}", StringComparison.OrdinalIgnoreCase))
                        found = s;
        return found;
    }

    public static string Choices => string.Join("|", All.Select(s => s.Name));
}
