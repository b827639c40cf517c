using SkiaSharp;

namespace LlmNet.Tools.Plot;

/// <summary>
/// Picks the typeface for the figure's text. The SkiaSharp native build used here needs neither fontconfig
/// nor an X server: it reads font files from /usr/share/fonts itself. Where that folder holds none, a font
/// file given by --font or $LLMNET_PLOT_FONT, or one in the usual per-user folders, is loaded instead;
/// with no font at all the figure is still drawn, without text, and a warning says so.
/// </summary>
public static class FontSetup
{
    private static readonly string[] s_preferredSans = ["DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial", "Helvetica", "FreeSans"];
    private static readonly object s_lock = new();
    private static string? s_configured;

    /// <summary>Sets ScottPlot's default font once per process; returns a warning to print, or null.</summary>
    public static string? Configure(string? fontFile)
    {
        lock (s_lock)
        {
            fontFile ??= Environment.GetEnvironmentVariable("LLMNET_PLOT_FONT") is { Length: > 0 } env ? env : null;
            if (s_configured is not null && fontFile is null) return null;
            if (fontFile is not null)
            {
                if (!File.Exists(fontFile)) return $"{fontFile}: font file not found; using the system fonts";
                Register(fontFile);
                return null;
            }

            // Without font files the manager still lists one nameless family whose typeface has no glyphs.
            var families = SKFontManager.Default.GetFontFamilies().Where(HasGlyphs).ToArray();
            string? sans = s_preferredSans.FirstOrDefault(f => families.Contains(f, StringComparer.OrdinalIgnoreCase));
            if (sans is not null) { ScottPlot.Fonts.Default = sans; s_configured = sans; return null; }
            if (families.Length > 0) { s_configured = ScottPlot.Fonts.Default; return null; }

            string? found = FallbackFolders().Where(Directory.Exists)
                .SelectMany(d => SafeEnumerate(d))
                .FirstOrDefault(f => f.EndsWith(".ttf", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".otf", StringComparison.OrdinalIgnoreCase));
            if (found is not null) { Register(found); return null; }
            s_configured = "";
            return "no fonts found: the figure is drawn without text. install a TrueType font (e.g. apt-get install fonts-dejavu-core) or pass --font FILE.ttf";
        }
    }

    private static bool HasGlyphs(string family)
    {
        if (string.IsNullOrWhiteSpace(family)) return false;
        using var typeface = SKTypeface.FromFamilyName(family);
        return typeface is not null && typeface.GlyphCount > 0;
    }

    private static void Register(string file)
    {
        const string Name = "llm-plot-font";
        ScottPlot.Fonts.AddFontFile(Name, file, bold: false, italic: false);
        ScottPlot.Fonts.AddFontFile(Name, file, bold: true, italic: false);
        ScottPlot.Fonts.Default = Name;
        s_configured = Name;
    }

    private static IEnumerable<string> FallbackFolders()
    {
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        yield return "/usr/local/share/fonts";
        if (home.Length > 0)
        {
            yield return Path.Combine(home, ".local", "share", "fonts");
            yield return Path.Combine(home, ".fonts");
        }
    }

    private static IEnumerable<string> SafeEnumerate(string dir)
    {
        try { return Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).ToList(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }
}
