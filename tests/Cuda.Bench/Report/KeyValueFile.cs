namespace LlmNet.Cuda.Bench.Report;

/// <summary>
/// "key=value" lines, as tests/gpu/speed-bench.sh writes its card.txt and NAME.run files; a later line wins, so the
/// script can append "exit=RC" after a run. Blank lines and lines without '=' are ignored.
/// </summary>
internal static class KeyValueFile
{
    public static Dictionary<string, string> Parse(IEnumerable<string> lines)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in lines)
        {
            int eq = line.IndexOf('=');
            if (eq > 0) d[line[..eq].Trim()] = line[(eq + 1)..].Trim();
        }
        return d;
    }

    public static Dictionary<string, string> Read(string path) =>
        File.Exists(path) ? Parse(File.ReadLines(path)) : new Dictionary<string, string>(StringComparer.Ordinal);
}
