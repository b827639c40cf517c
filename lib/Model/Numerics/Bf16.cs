namespace LlmNet.Model.Numerics;

/// <summary>
/// bfloat16 as raw ushort bits: the top half of an IEEE fp32. Conversion from fp32 rounds to nearest,
/// ties to even (what torch's .to(torch.bfloat16) and CUDA's __float2bfloat16_rn do); NaN stays NaN.
/// </summary>
public static class Bf16
{
    public static ushort FromFloat(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFF_FFFF) > 0x7F80_0000) return (ushort)((bits >> 16) | 0x0040); // quiet NaN, sign kept
        uint roundingBias = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }

    public static float ToFloat(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    public static void FromFloat(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("destination too short", nameof(destination));
        for (int i = 0; i < source.Length; i++) destination[i] = FromFloat(source[i]);
    }

    public static void ToFloat(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("destination too short", nameof(destination));
        for (int i = 0; i < source.Length; i++) destination[i] = ToFloat(source[i]);
    }

    /// <summary>The value rounded to bf16 precision, kept as fp32.</summary>
    public static float Round(float value) => ToFloat(FromFloat(value));

    /// <summary>
    /// Stochastic rounding to bf16 as llm.c's adamw kernel does it: the low 16 bits are compared with the
    /// low 16 bits of <paramref name="random"/>; if larger, they are set to all ones (so the RNE step that
    /// follows rounds up), otherwise cleared (rounds down). Net effect: round up with probability low16/65536.
    /// </summary>
    public static ushort StochasticRound(float value, uint random)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        bits = (bits & 0xFFFF) > (random & 0xFFFF) ? bits | 0xFFFF : bits & 0xFFFF_0000;
        return FromFloat(BitConverter.UInt32BitsToSingle(bits));
    }
}
