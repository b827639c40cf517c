using FluentAssertions;
using LlmNet.Model.Random;
using Xunit;

namespace LlmNet.Model.Tests;

public sealed class Mt19937Tests
{
    [Fact]
    public void Matches_torch_manual_seed_integers()
    {
        var rng = new Mt19937(137);
        rng.NextUInt32().Should().Be(4053805790u);
        rng.NextUInt32().Should().Be(2173880614u);
        rng.NextUInt32().Should().Be(380293709u);
    }

    [Fact]
    public void Normal_matches_torch_values()
    {
        // The reference self-test prints five integers before drawing normal_(8).
        var rng = new Mt19937(137);
        for (int i = 0; i < 5; i++) rng.NextUInt32();
        var d = new float[8];
        rng.FillNormal(d, 0, 1);
        d[0].Should().BeApproximately(0.7947664260864258f, 1e-6f);
        d[1].Should().BeApproximately(1.4369317293167114f, 1e-6f);
    }

    [Fact]
    public void Raw_state_round_trips_and_continues_the_same_stream()
    {
        var a = new Mt19937(42);
        for (int i = 0; i < 1000; i++) a.NextUInt32();
        var raw = new byte[Mt19937.RawStateBytes];
        a.WriteRawState(raw);
        raw.Length.Should().Be(2520);
        var b = Mt19937.FromRawState(raw);
        for (int i = 0; i < 2000; i++) b.NextUInt32().Should().Be(a.NextUInt32());
    }

    [Fact]
    public void Large_normal_fills_split_over_cores_equal_the_sequential_transform()
    {
        // 4M + 5 values: many parallel tasks of blocks of 16, and a ragged tail drawn after them.
        const int n = (1 << 22) + 5;
        float[] parallel = new float[n], sequential = new float[n];
        new Mt19937(42).FillNormal(parallel, 0.1f, 0.02f);
        var rng = new Mt19937(42);
        for (int i = 0; i < n; i++) sequential[i] = rng.NextFloat32();
        for (int i = 0; i + 16 <= n; i += 16) Mt19937.BoxMuller16(sequential.AsSpan(i, 16), 0.1f, 0.02f);
        for (int i = n - 16; i < n; i++) sequential[i] = rng.NextFloat32();
        Mt19937.BoxMuller16(sequential.AsSpan(n - 16), 0.1f, 0.02f);
        parallel.AsSpan().SequenceEqual(sequential).Should().BeTrue();
    }
}
