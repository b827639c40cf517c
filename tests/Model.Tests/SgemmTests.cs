using FluentAssertions;
using LlmNet.Model.Cpu;
using LlmNet.Model.Random;
using Xunit;

namespace LlmNet.Model.Tests;

public sealed unsafe class SgemmTests
{
    [Theory]
    [InlineData(false, false, false)]
    [InlineData(false, true, false)]
    [InlineData(true, false, true)]
    [InlineData(true, true, true)]
    [InlineData(false, true, true)]
    public void Matches_naive_product_across_block_edges(bool transA, bool transB, bool accumulate)
    {
        // Sizes straddle every blocking boundary: K > one 256-deep slab, N > one 3072-wide panel block,
        // M not a multiple of the micro-tile height, N not a multiple of its width.
        const int m = 29, n = 3081, k = 300;
        using var arena = new NativeArena();
        float* a = arena.Floats((long)m * k), b = arena.Floats((long)k * n), c = arena.Floats((long)m * n);
        var rng = new Mt19937(9);
        for (long i = 0; i < (long)m * k; i++) a[i] = rng.NextFloat32() - 0.5f;
        for (long i = 0; i < (long)k * n; i++) b[i] = rng.NextFloat32() - 0.5f;
        for (long i = 0; i < (long)m * n; i++) c[i] = accumulate ? rng.NextFloat32() : float.NaN;
        var initial = new float[m * n];
        for (int i = 0; i < initial.Length; i++) initial[i] = c[i];
        int lda = transA ? m : k, ldb = transB ? k : n;

        new Sgemm(arena, 2).Multiply(m, n, k, a, lda, transA, b, ldb, transB, c, n, accumulate);

        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j += 7)
            {
                double expected = accumulate ? initial[i * n + j] : 0;
                for (int p = 0; p < k; p++)
                    expected += (double)(transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
                ((double)c[i * n + j]).Should().BeApproximately(expected, 1e-4, $"C[{i},{j}]");
            }
    }
}
