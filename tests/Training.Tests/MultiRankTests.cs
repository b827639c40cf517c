using FluentAssertions;
using LlmNet.Model;
using LlmNet.Model.Checkpoints;
using LlmNet.Tools.Train;
using Xunit;

namespace LlmNet.Training.Tests;

/// <summary>Ranks as threads of one process: scalar all-reduce and barrier over shared slots.</summary>
internal sealed class ThreadGroup(int rank, int size, double[] slots, Barrier barrier) : IProcessGroup
{
    public int Rank => rank;
    public int Size => size;
    public int LocalRank => rank;

    public double AllReduceSum(double value)
    {
        slots[rank] = value;
        barrier.SignalAndWait();
        double sum = 0;
        for (int r = 0; r < size; r++) sum += slots[r];
        barrier.SignalAndWait(); // nobody overwrites a slot before everyone has read it
        return sum;
    }

    public void Barrier() => barrier.SignalAndWait();
    public void Dispose() { }
}

public class MultiRankTests
{
    [Fact]
    public void Two_ranks_share_reduced_losses_and_write_one_model_two_states_one_log()
    {
        using var dir = new TempDir();
        const int size = 2;
        var slots = new double[size];
        using var barrier = new Barrier(size);
        var results = new TrainResult[size];
        var options = TinyRun.CpuOptions(maxSteps: 3, valEvery: 3, valMaxSteps: 2) with
        {
            OutputDir = dir.Path, CheckpointEvery = 3, NumProcesses = size,
        };
        var threads = Enumerable.Range(0, size).Select(rank => new Thread(() =>
        {
            // The CPU backend trains in one process in llm-train; here each thread is a rank of the group its backend is
            // created with (BackendOptions.ProcessGroup), so each gets its own seed stream.
            results[rank] = TrainProgram.Train(options with { ProcessRank = rank }, new WatchingWriter(), TestContext.Current.CancellationToken,
                group: new ThreadGroup(rank, size, slots, barrier));
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();

        results[1].Steps.Select(s => s.Loss).Should().Equal(results[0].Steps.Select(s => s.Loss), "the reported loss is the mean over ranks");
        results[1].ValLosses.Should().Equal(results[0].ValLosses);
        Directory.GetFiles(dir.Path).Select(Path.GetFileName).Order().Should().Equal(
            "DONE_00000003", "main.log", "model_00000003.bin", "state_00000003_00000.bin", "state_00000003_00001.bin");
        File.ReadAllLines(Path.Combine(dir.Path, "main.log")).Count(l => l.Contains("trl:")).Should().Be(3, "only rank 0 logs");

        long n = ParameterLayout.For(TinyRun.Config).Count;
        var s0 = StateFile.Read(Path.Combine(dir.Path, "state_00000003_00000.bin"), n);
        var s1 = StateFile.Read(Path.Combine(dir.Path, "state_00000003_00001.bin"), n);
        (s0.NumProcesses, s0.ProcessRank, s1.NumProcesses, s1.ProcessRank).Should().Be((2, 0, 2, 1));
        s1.RngState.Should().NotBe(s0.RngState, "the stochastic-rounding seed is 13371337 + rank");
        s1.LoaderRngState.Should().NotEqual(s0.LoaderRngState!, "the loader shuffles with seed 42 + rank");
    }
}
