using System.Globalization;

namespace LlmNet.Common.Text;

/// <summary>printf-style number formatting (%f, %+.2f, %.2e, widths) as glibc prints it, so logs match llm.c's byte for byte.</summary>
public static class CFormat
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>%[+][width].{decimals}f</summary>
    public static string F(double value, int decimals, int width = 0, bool plus = false)
    {
        // .NET's NaN carries the sign bit, llm.c's nan("") does not; print every NaN as llm.c shows its z-scores.
        string s = double.IsNaN(value) ? "nan"
            : double.IsInfinity(value) ? (value < 0 ? "-inf" : "inf")
            : value.ToString("F" + decimals, Inv);
        if (plus && !s.StartsWith('-')) s = "+" + s;
        return s.PadLeft(width);
    }

    /// <summary>%.{decimals}e: mantissa, 'e', sign and at least two exponent digits.</summary>
    public static string E(double value, int decimals)
    {
        if (double.IsNaN(value) || double.IsInfinity(value)) return F(value, decimals);
        return value.ToString("0." + new string('0', decimals) + "e+00", Inv);
    }
}
