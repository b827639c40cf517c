using FluentAssertions;
using LlmNet.Model.Numerics;
using LlmNet.Model.Random;
using Xunit;

namespace LlmNet.Model.Tests;

public sealed class NumericsTests
{
    [Theory]
    [InlineData(0x3F800000u, (ushort)0x3F80)] // 1.0 exact
    [InlineData(0x3F808000u, (ushort)0x3F80)] // tie, even below: stays
    [InlineData(0x3F818000u, (ushort)0x3F82)] // tie, odd below: rounds up to even
    [InlineData(0x3F808001u, (ushort)0x3F81)] // above the tie: up
    [InlineData(0x3F807FFFu, (ushort)0x3F80)] // below the tie: down
    [InlineData(0xBF818000u, (ushort)0xBF82)] // negative tie
    [InlineData(0x7F7FFFFFu, (ushort)0x7F80)] // max float rounds to +inf
    [InlineData(0x7F800000u, (ushort)0x7F80)] // +inf
    public void Bf16_rounds_to_nearest_even(uint floatBits, ushort expected) =>
        Bf16.FromFloat(BitConverter.UInt32BitsToSingle(floatBits)).Should().Be(expected);

    [Fact]
    public void Bf16_keeps_nan_and_widens_exactly()
    {
        float.IsNaN(Bf16.ToFloat(Bf16.FromFloat(float.NaN))).Should().BeTrue();
        float.IsNaN(Bf16.ToFloat(Bf16.FromFloat(BitConverter.UInt32BitsToSingle(0x7F800001)))).Should().BeTrue();
        Bf16.ToFloat(0x4049).Should().Be(3.140625f);
    }

    [Fact]
    public void Stochastic_rounding_rounds_up_with_probability_of_the_low_bits()
    {
        float value = BitConverter.UInt32BitsToSingle(0x3F80_4000); // a quarter of the way to the next bf16
        Bf16.StochasticRound(value, 0x3FFF).Should().Be(0x3F81);
        Bf16.StochasticRound(value, 0x4000).Should().Be(0x3F80);
        int up = 0;
        for (int i = 0; i < 4096; i++) if (Bf16.StochasticRound(value, SquirrelNoise5.Get(i, 1234)) == 0x3F81) up++;
        (up / 4096.0).Should().BeApproximately(0.25, 0.03);
        Bf16.StochasticRound(1.0f, 0).Should().Be(0x3F80); // exact values never move
    }

    [Fact]
    public void SquirrelNoise5_known_values()
    {
        // Hand-evaluated from the published constants and shifts.
        SquirrelNoise5.Get(0, 0).Should().Be(Reference(0, 0));
        SquirrelNoise5.Get(12345, 42).Should().Be(Reference(12345, 42));
        SquirrelNoise5.ForThread(3, 2, 512, 1, 7).Should().Be(Reference(unchecked(3u + 198491317u * (2u * 512u + 1u)), 7));
        SquirrelNoise5.Get(1, 0).Should().NotBe(SquirrelNoise5.Get(2, 0));

        static uint Reference(uint x, uint seed)
        {
            ulong m = x;
            m = (m * 0xd2a80a3f) & 0xFFFFFFFF; m = (m + seed) & 0xFFFFFFFF; m ^= m >> 9;
            m = (m + 0xa884f197) & 0xFFFFFFFF; m ^= m >> 11;
            m = (m * 0x6C736F4B) & 0xFFFFFFFF; m ^= m >> 13;
            m = (m + 0xB79F3ABB) & 0xFFFFFFFF; m ^= m >> 15;
            m = (m * 0x1b56c4f5) & 0xFFFFFFFF; m ^= m >> 17;
            return (uint)m;
        }
    }

    [Fact]
    public void XorShift_follows_the_xorshift64star_recurrence()
    {
        var rng = new XorShift(13371337);
        ulong s = 13371337;
        for (int i = 0; i < 5; i++)
        {
            s ^= s >> 12; s ^= s << 25; s ^= s >> 27;
            uint expected = (uint)((s * 0x2545F4914F6CDD1DUL) >> 32);
            rng.NextUInt32().Should().Be(expected);
        }
        rng.State.Should().Be(s);
        float f = new XorShift(1).NextFloat32();
        f.Should().BeInRange(0f, 1f);
    }
}
