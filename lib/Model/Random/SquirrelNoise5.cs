namespace LlmNet.Model.Random;

/// <summary>
/// Squirrel Eiserloh's SquirrelNoise5 position hash: a stateless 32-bit noise function of (position, seed).
/// llm.c seeds stochastic rounding with it, one value per GPU thread.
/// </summary>
public static class SquirrelNoise5
{
    private const uint Bits1 = 0xd2a80a3f;
    private const uint Bits2 = 0xa884f197;
    private const uint Bits3 = 0x6C736F4B;
    private const uint Bits4 = 0xB79F3ABB;
    private const uint Bits5 = 0x1b56c4f5;

    public static uint Get(int position, uint seed)
    {
        uint m = (uint)position;
        m *= Bits1;
        m += seed;
        m ^= m >> 9;
        m += Bits2;
        m ^= m >> 11;
        m *= Bits3;
        m ^= m >> 13;
        m += Bits4;
        m ^= m >> 15;
        m *= Bits5;
        m ^= m >> 17;
        return m;
    }

    /// <summary>
    /// The random value llm.c's stochastic-rounding kernels use for a CUDA thread:
    /// SquirrelNoise5(threadIdx.x + 198491317·(blockIdx.x·blockDim.x + blockIdx.y), seed), in 32-bit arithmetic.
    /// </summary>
    public static uint ForThread(int threadIdx, int blockIdx, int blockDim, int blockIdxY, uint seed) =>
        Get(unchecked(threadIdx + 198491317 * (blockIdx * blockDim + blockIdxY)), seed);
}
