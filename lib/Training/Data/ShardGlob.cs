namespace LlmNet.Training.Data;

/// <summary>
/// Expands a shard pattern the way POSIX glob(3) does for llm.c's -i/-j flags: '*' and '?' (and [...] classes)
/// in the file-name part, matches sorted by byte order of the full path. A pattern without wildcards names
/// one file, which must exist.
/// </summary>
public static class ShardGlob
{
    public static IReadOnlyList<string> Expand(string pattern)
    {
        if (string.IsNullOrEmpty(pattern)) throw new ArgumentException("empty shard pattern");
        string dir = Path.GetDirectoryName(pattern) ?? "";
        string name = Path.GetFileName(pattern);
        if (dir.IndexOfAny(['*', '?', '[']) >= 0)
            throw new ArgumentException($"{pattern}: wildcards are supported in the file name only, not in directories");

        List<string> matches = [];
        if (name.IndexOfAny(['*', '?', '[']) < 0)
        {
            if (File.Exists(pattern)) matches.Add(pattern);
        }
        else
        {
            string searchDir = dir.Length == 0 ? "." : dir;
            if (Directory.Exists(searchDir))
            {
                foreach (string file in Directory.EnumerateFiles(searchDir))
                {
                    string fileName = Path.GetFileName(file);
                    // glob(3) does not let a wildcard match a leading dot.
                    if (fileName.StartsWith('.') && !name.StartsWith('.')) continue;
                    if (Matches(name, fileName)) matches.Add(dir.Length == 0 ? fileName : Path.Combine(dir, fileName));
                }
            }
        }
        matches.Sort(StringComparer.Ordinal);
        return matches;
    }

    /// <summary>fnmatch(3) without flags for one path component: '*', '?', '[abc]', '[a-z]', '[!x]'.</summary>
    public static bool Matches(ReadOnlySpan<char> pattern, ReadOnlySpan<char> name)
    {
        int p = 0, n = 0, starP = -1, starN = 0;
        while (n < name.Length)
        {
            if (p < pattern.Length && pattern[p] == '*') { starP = p++; starN = n; continue; }
            if (p < pattern.Length && MatchOne(pattern, ref p, name[n])) { n++; continue; }
            if (starP < 0) return false;
            p = starP + 1;
            n = ++starN;
        }
        while (p < pattern.Length && pattern[p] == '*') p++;
        return p == pattern.Length;
    }

    // Matches one pattern element at p against c; advances p past the element on success.
    private static bool MatchOne(ReadOnlySpan<char> pattern, ref int p, char c)
    {
        char pc = pattern[p];
        if (pc == '?') { p++; return true; }
        if (pc == '[')
        {
            int first = p + 1;
            bool negate = first < pattern.Length && pattern[first] is '!' or '^';
            if (negate) first++;
            // A ']' right after '[' (or '[!') is a literal member; the class ends at the next one.
            int rel = first + 1 <= pattern.Length ? pattern[Math.Min(first + 1, pattern.Length)..].IndexOf(']') : -1;
            if (first < pattern.Length && rel >= 0)
            {
                int end = first + 1 + rel;
                bool hit = false;
                for (int i = first; i < end; i++)
                {
                    if (i + 2 < end && pattern[i + 1] == '-') { hit |= c >= pattern[i] && c <= pattern[i + 2]; i += 2; }
                    else hit |= c == pattern[i];
                }
                if (hit == negate) return false;
                p = end + 1;
                return true;
            }
        }
        if (pc == '\\' && p + 1 < pattern.Length) { if (pattern[p + 1] != c) return false; p += 2; return true; }
        if (pc != c) return false;
        p++;
        return true;
    }
}
