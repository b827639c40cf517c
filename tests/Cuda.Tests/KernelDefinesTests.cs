using System.Text.RegularExpressions;
using FluentAssertions;
using Xunit;

namespace LlmNet.Cuda.Tests;

/// <summary>
/// The launchers' constants that mirror a kernel file's #defines (grid tiles, shared-memory sizes) agree with the
/// embedded .cu text, so neither side can change alone (no GPU needed).
/// </summary>
public partial class KernelDefinesTests
{
    [Fact]
    public void FlashKernels_SharedMemoryAndTilesMatchFlashCu()
    {
        var flash = Defines("flash.cu");
        flash["FA_D"].Should().Be(FlashKernels.HeadSize);
        flash["FA_STAGES"].Should().Be(FlashKernels.Stages);
        flash["FA_LD"].Should().Be(FlashKernels.PaddedRow);
        flash["FLASH_DKV_SMEM"].Should().Be(FlashKernels.DkvSharedBytes);
        // The forward and dQ kernels have no #define of their own: FA_STAGES x (K tile, V tile) of FA_TILE bf16.
        (flash["FA_STAGES"] * 2 * flash["FA_TILE"] * 2).Should().Be(FlashKernels.SharedBytes);
    }

    [Fact]
    public void FlashKernels_WgmmaSharedMemoryMatchesFlashWgmmaCu()
    {
        // flash_wgmma.cu follows flash.cu in the translation unit and uses its FA_STAGES.
        var wgmma = Defines("flash.cu", "flash_wgmma.cu");
        wgmma["FA_SW_TILE_BYTES"].Should().Be(FlashKernels.SwizzledTileBytes);
        wgmma["FLASH_W1_SMEM"].Should().Be(FlashKernels.WgmmaSharedBytes);
        wgmma["FLASH_DKV_W1_SMEM"].Should().Be(FlashKernels.WgmmaDkvSharedBytes);
    }

    [Fact]
    public void AttentionKernels_RowsAndKeyTilesMatchAttentionCu()
    {
        Defines("attention.cu")["ATT_ROWS"].Should().Be(AttentionKernels.Rows);
        Match tile = AttTileKeys().Match(Source("attention.cu"));
        tile.Success.Should().BeTrue("attention.cu declares AttTile<HS>::Keys as HS <= a ? b : c");
        int limit = int.Parse(tile.Groups[1].Value), small = int.Parse(tile.Groups[2].Value), large = int.Parse(tile.Groups[3].Value);
        foreach (int hs in new[] { 64, 80, 96, 128 })
            AttentionKernels.KeysPerTile(hs).Should().Be(hs <= limit ? small : large, $"head size {hs}");
    }

    [Fact]
    public void Evaluate_ExpandsNestedDefines()
    {
        var defines = new Dictionary<string, string> { ["A"] = "3", ["B"] = "(2 * A + 1)" };
        Evaluate("A * B - 4 / 2", defines).Should().Be(19);
    }

    [GeneratedRegex(@"struct AttTile\s*\{\s*static const int Keys = HS <= (\d+) \? (\d+) : (\d+);")]
    private static partial Regex AttTileKeys();

    [GeneratedRegex(@"^#define (\w+) (.+?)\s*(?://.*)?$", RegexOptions.Multiline)]
    private static partial Regex Define();

    /// <summary>The object-like #defines of the files, in translation-unit order; each is evaluated when read.</summary>
    private static CuDefines Defines(params string[] files)
    {
        var text = new Dictionary<string, string>();
        foreach (string file in files)
            foreach (Match m in Define().Matches(Source(file)))
                text[m.Groups[1].Value] = m.Groups[2].Value;
        return new CuDefines(text);
    }

    private sealed class CuDefines(Dictionary<string, string> text)
    {
        public long this[string name] => text.ContainsKey(name) ? Evaluate(name, text) : throw new KeyNotFoundException($"no #define {name}");
    }

    private static string Source(string file)
    {
        var assembly = typeof(KernelModule).Assembly;
        using Stream s = assembly.GetManifestResourceStream($"LlmNet.Cuda.Kernels.{file}")
            ?? throw new InvalidOperationException($"{file} is not embedded in {assembly.GetName().Name}");
        using var reader = new StreamReader(s);
        return reader.ReadToEnd();
    }

    /// <summary>An integer expression of + - * / and parentheses over literals and other defines, as the preprocessor would.</summary>
    private static long Evaluate(string expression, IReadOnlyDictionary<string, string> defines)
    {
        var tokens = Token().Matches(expression).Select(m => m.Value).ToList();
        int pos = 0;
        long value = Sum();
        if (pos != tokens.Count) throw new FormatException($"unexpected '{tokens[pos]}' in {expression}");
        return value;

        long Sum()
        {
            long v = Product();
            while (pos < tokens.Count && tokens[pos] is "+" or "-")
                v = tokens[pos++] == "+" ? v + Product() : v - Product();
            return v;
        }

        long Product()
        {
            long v = Atom();
            while (pos < tokens.Count && tokens[pos] is "*" or "/")
                v = tokens[pos++] == "*" ? v * Atom() : v / Atom();
            return v;
        }

        long Atom()
        {
            string t = tokens[pos++];
            if (t == "(")
            {
                long v = Sum();
                if (tokens[pos++] != ")") throw new FormatException($"unbalanced parentheses in {expression}");
                return v;
            }
            if (long.TryParse(t, out long literal)) return literal;
            if (defines.TryGetValue(t, out string? body)) return Evaluate(body, defines);
            throw new FormatException($"'{t}' in {expression} is neither a number nor a #define");
        }
    }

    [GeneratedRegex(@"\d+|\w+|[()*+\-/]")]
    private static partial Regex Token();
}
