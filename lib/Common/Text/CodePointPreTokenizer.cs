using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace LlmNet.Common.Text;

/// <summary>
/// Splits text with a tokenizer's regex the way tiktoken's Rust core and Hugging Face's tokenizers do: over code
/// points. .NET's regex sees UTF-16 units, so a letter or digit beyond U+FFFF (𝐀, 𝟙, 𠀀) is two surrogates that
/// match neither \p{L} nor \p{N}, and pieces would break differently. Text with surrogates is therefore matched
/// through a stand-in string with one character per code point, each beyond-BMP code point replaced by a BMP
/// character of the same general category (none of them a letter any pattern names), and the matches are mapped
/// back to the text's offsets. Special-token text is never split off: documents are encoded ordinarily.
/// </summary>
public sealed class CodePointPreTokenizer(Regex pattern) : PreTokenizer
{
    public Regex Pattern { get; } = pattern;

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) => Split(text.AsSpan());

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => Split(text);

    private List<(int Offset, int Length)> Split(ReadOnlySpan<char> text)
    {
        var pieces = new List<(int, int)>(text.Length / 4 + 1);
        if (text.IndexOfAnyInRange('\uD800', '\uDFFF') < 0)
        {
            foreach (var m in Pattern.EnumerateMatches(text)) pieces.Add((m.Index, m.Length));
            return pieces;
        }
        var standIn = new char[text.Length];
        var start = new int[text.Length + 1];   // start[k]: offset in text of stand-in character k
        int n = 0;
        for (int i = 0; i < text.Length; n++)
        {
            start[n] = i;
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                standIn[n] = StandIn(char.ConvertToUtf32(text[i], text[i + 1]));
                i += 2;
            }
            else
            {
                // A lone surrogate is not text; tiktoken encodes it as U+FFFD, a symbol.
                standIn[n] = char.IsSurrogate(text[i]) ? '\uFFFD' : text[i];
                i++;
            }
        }
        start[n] = text.Length;
        foreach (var m in Pattern.EnumerateMatches(standIn.AsSpan(0, n)))
            pieces.Add((start[m.Index], start[m.Index + m.Length] - start[m.Index]));
        return pieces;
    }

    /// <summary>A BMP character of the same general category (the classes the tiktoken and HF patterns test).</summary>
    private static char StandIn(int codePoint) => CharUnicodeInfo.GetUnicodeCategory(codePoint) switch
    {
        UnicodeCategory.UppercaseLetter => 'Ж',
        UnicodeCategory.LowercaseLetter => 'ж',
        UnicodeCategory.TitlecaseLetter => 'ǅ',
        UnicodeCategory.ModifierLetter => 'ʰ',
        UnicodeCategory.OtherLetter => 'א',
        UnicodeCategory.NonSpacingMark => '\u0300',
        UnicodeCategory.SpacingCombiningMark => '\u0903',
        UnicodeCategory.EnclosingMark => '\u20DD',
        UnicodeCategory.DecimalDigitNumber => '0',
        UnicodeCategory.LetterNumber => 'Ⅰ',
        UnicodeCategory.OtherNumber => '²',
        // No code point beyond the BMP is white space, a line break, an apostrophe or a slash.
        _ => '\uFFFD',
    };
}
