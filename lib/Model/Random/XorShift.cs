namespace LlmNet.Model.Random;

/// <summary>
/// llm.c's xorshift64* generator (sampler.h): the sampler's coin and the per-tensor stochastic-rounding
/// seeds (model rng_state starts at 13371337 + rank). The state is a plain ulong so it can be saved and restored.
/// </summary>
public struct XorShift(ulong state)
{
    public ulong State = state;

    public uint NextUInt32()
    {
        State ^= State >> 12;
        State ^= State << 25;
        State ^= State >> 27;
        return (uint)((State * 0x2545F4914F6CDD1DUL) >> 32);
    }

    /// <summary>A float in [0,1): (u32 &gt;&gt; 8) / 2^24.</summary>
    public float NextFloat32() => (NextUInt32() >> 8) / 16777216.0f;
}
