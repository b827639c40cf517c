using System.Globalization;
using System.Text;

namespace LlmNet.Common.Text;

/// <summary>
/// GPT-2's pre-tokenization pattern, written out by hand:
/// <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c>.
/// </summary>
/// <remarks>
/// tiktoken runs this pattern over code points, so a letter outside the Basic Multilingual Plane
/// (e.g. U+1D400) is a letter; .NET's regex engine sees it as two surrogates and would split text
/// differently. Classifying by <see cref="Rune"/> keeps the pieces identical to tiktoken's, and the
/// hand-written scanner is several times faster than a regex.
/// </remarks>
public static class Gpt2PreTokenizer
{
    private enum CharClass : byte { Other, Letter, Number, Space }

    private static readonly CharClass[] s_ascii = BuildAsciiTable();

    /// <summary>Splits <paramref name="text"/> into GPT-2 pieces (for tests and inspection).</summary>
    public static List<string> Split(string text)
    {
        var pieces = new List<string>();
        for (int pos = 0; pos < text.Length;)
        {
            int end = PieceEnd(text, pos);
            pieces.Add(text[pos..end]);
            pos = end;
        }
        return pieces;
    }

    /// <summary>The end (exclusive) of the piece that starts at <paramref name="start"/>.</summary>
    public static int PieceEnd(ReadOnlySpan<char> s, int start)
    {
        int n = s.Length;
        char c = s[start];
        // Alternatives are tried in the pattern's order; the contractions come first.
        if (c == '\'' && start + 1 < n)
        {
            char d = s[start + 1];
            if (d is 's' or 't' or 'm' or 'd') return start + 2;
            if (start + 2 < n)
            {
                char e = s[start + 2];
                if ((d == 'r' && e == 'e') || (d == 'v' && e == 'e') || (d == 'l' && e == 'l')) return start + 3;
            }
        }

        int pos = start;
        CharClass cls = ClassAt(s, pos, out int width);
        // " ?X+": one leading space joins a following run of letters, digits or other symbols.
        if (c == ' ' && pos + 1 < n)
        {
            CharClass next = ClassAt(s, pos + 1, out int nextWidth);
            if (next != CharClass.Space) { pos++; cls = next; width = nextWidth; }
        }

        if (cls != CharClass.Space)
        {
            pos += width;
            while (pos < n && ClassAt(s, pos, out width) == cls) pos += width;
            return pos;
        }

        // Whitespace. "\s+(?!\S)" takes the run but leaves its last character when a non-space
        // follows (that character then leads the next piece); a lone one falls to "\s+".
        // Every whitespace character is in the BMP, so each is one UTF-16 unit.
        pos++;
        while (pos < n && ClassAt(s, pos, out _) == CharClass.Space) pos++;
        if (pos < n && pos - start >= 2) pos--;
        return pos;
    }

    private static CharClass ClassAt(ReadOnlySpan<char> s, int i, out int width)
    {
        char c = s[i];
        width = 1;
        if (c < 128) return s_ascii[c];
        Rune rune;
        if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
        {
            rune = new Rune(c, s[i + 1]);
            width = 2;
        }
        else if (char.IsSurrogate(c))
        {
            // A lone surrogate is encoded as U+FFFD, a symbol.
            return CharClass.Other;
        }
        else
        {
            rune = new Rune(c);
        }
        return Classify(rune);
    }

    private static CharClass Classify(Rune rune)
    {
        if (Rune.IsWhiteSpace(rune)) return CharClass.Space;
        return Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CharClass.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CharClass.Number,
            _ => CharClass.Other,
        };
    }

    private static CharClass[] BuildAsciiTable()
    {
        var table = new CharClass[128];
        for (int c = 0; c < 128; c++) table[c] = Classify(new Rune(c));
        return table;
    }
}
