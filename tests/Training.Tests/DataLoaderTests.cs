using FluentAssertions;
using LlmNet.Common.Formats;
using LlmNet.Model.Random;
using LlmNet.Training.Data;
using Xunit;

namespace LlmNet.Training.Tests;

public class DataLoaderTests
{
    // Shard k holds tokens 1000·k + i, so every token says where it came from.
    private static string[] WriteShards(TempDir dir, params int[] sizes)
    {
        var paths = new string[sizes.Length];
        for (int k = 0; k < sizes.Length; k++)
        {
            var tokens = new ushort[sizes[k]];
            for (int i = 0; i < tokens.Length; i++) tokens[i] = (ushort)(1000 * (k + 1) + i);
            paths[k] = dir.File($"data_train_{k:D6}.bin");
            TokenShard.Write(paths[k], tokens);
        }
        return paths;
    }

    private static ushort First(int shard, int offset) => (ushort)(1000 * (shard + 1) + offset);

    [Fact]
    public void Reads_BT_plus_one_windows_in_order_and_wraps_without_shuffle()
    {
        using var dir = new TempDir();
        WriteShards(dir, 30, 20);   // B·T = 8: shard 0 has floor(29/8) = 3 samples, shard 1 has floor(19/8) = 2
        using var loader = new DataLoader(dir.File("data_train_*.bin"), 2, 4, 0, 1, shuffle: false);
        loader.NumTokens.Should().Be(50);
        var expected = new[] { (0, 0), (0, 8), (0, 16), (1, 0), (1, 8), (0, 0), (0, 8) };
        foreach (var (shard, offset) in expected)
        {
            loader.NextBatch();
            for (int i = 0; i < 8; i++)
            {
                loader.Inputs[i].Should().Be(First(shard, offset + i));
                loader.Targets[i].Should().Be(First(shard, offset + i + 1), "the target is the next token, across row boundaries");
            }
        }
    }

    [Fact]
    public void Ranks_read_disjoint_slices_of_each_sample()
    {
        using var dir = new TempDir();
        WriteShards(dir, 200);
        const int ranks = 3, B = 2, T = 5;
        var loaders = Enumerable.Range(0, ranks).Select(r => new DataLoader(dir.File("*.bin"), B, T, r, ranks, shuffle: false)).ToArray();
        try
        {
            loaders[0].ShardNumSamples.Should().Be((200 - 1) / (ranks * B * T));
            for (int step = 0; step < loaders[0].ShardNumSamples; step++)
            {
                var seen = new HashSet<int>();
                for (int r = 0; r < ranks; r++)
                {
                    loaders[r].NextBatch();
                    loaders[r].Inputs[0].Should().Be(First(0, step * ranks * B * T + r * B * T), "rank r starts at its own B·T slice of the sample");
                    foreach (int tok in loaders[r].Inputs) seen.Add(tok).Should().BeTrue("ranks never read the same input token");
                }
                seen.Should().HaveCount(ranks * B * T);
            }
        }
        finally { foreach (var l in loaders) l.Dispose(); }
    }

    /// <summary>llm.c's shuffled loader written out plainly: per epoch permute the shards, then per shard its samples.</summary>
    private static IEnumerable<(int File, int Sample)> ReferenceOrder(int[] samplesPerFile, int rank)
    {
        var rng = new Mt19937((uint)(42 + rank));
        void Shuffle(int[] a)
        {
            for (int i = a.Length - 1; i > 0; i--)
            {
                int j = (int)(rng.NextUInt32() % (uint)(i + 1));
                (a[i], a[j]) = (a[j], a[i]);
            }
        }
        int[] order = Enumerable.Range(0, samplesPerFile.Length).ToArray();
        while (true)
        {
            Shuffle(order);  // permutes the previous epoch's order, as llm.c does
            foreach (int file in order)
            {
                int[] samples = Enumerable.Range(0, samplesPerFile[file]).ToArray();
                Shuffle(samples);
                foreach (int s in samples) yield return (file, s);
            }
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void Shuffled_order_matches_a_straightforward_implementation_over_several_epochs(int rank)
    {
        using var dir = new TempDir();
        int[] sizes = [97, 161, 41, 130];
        WriteShards(dir, sizes);
        const int ranks = 2, B = 2, T = 5;
        int[] samples = sizes.Select(n => (n - 1) / (ranks * B * T)).ToArray();
        using var loader = new DataLoader(dir.File("data_train_??????.bin"), B, T, rank, ranks, shuffle: true);
        int total = samples.Sum() * 3;
        foreach (var (file, sample) in ReferenceOrder(samples, rank).Take(total))
        {
            loader.NextBatch();
            loader.Inputs[0].Should().Be(First(file, sample * ranks * B * T + rank * B * T));
        }
    }

    [Fact]
    public void Saved_state_continues_identically()
    {
        using var dir = new TempDir();
        WriteShards(dir, 97, 161, 41);
        using var a = new DataLoader(dir.File("*.bin"), 2, 4, 0, 1, shuffle: true);
        for (int i = 0; i < 23; i++) a.NextBatch();
        var state = a.SaveState();
        var expected = new List<int[]>();
        for (int i = 0; i < 60; i++) { a.NextBatch(); expected.Add([.. a.Inputs, .. a.Targets]); }

        using var b = new DataLoader(dir.File("*.bin"), 2, 4, 0, 1, shuffle: true);
        b.NextBatch(); // a different position and RNG before the restore
        b.RestoreState(state);
        for (int i = 0; i < 60; i++) { b.NextBatch(); ((int[])[.. b.Inputs, .. b.Targets]).Should().Equal(expected[i], $"batch {i} after the restore"); }
    }

    [Fact]
    public void Glob_sorts_matches_and_reports_a_pattern_that_matches_nothing()
    {
        using var dir = new TempDir();
        foreach (string n in new[] { "x_val_000002.bin", "x_train_000010.bin", "x_train_000002.bin", "x_train_000001.bin", "other.bin" })
            File.WriteAllText(dir.File(n), "");
        ShardGlob.Expand(dir.File("x_train_*.bin")).Select(Path.GetFileName).Should().Equal("x_train_000001.bin", "x_train_000002.bin", "x_train_000010.bin");
        ShardGlob.Expand(dir.File("x_?al_*")).Select(Path.GetFileName).Should().Equal("x_val_000002.bin");
        ShardGlob.Expand(dir.File("x_train_00000[12].bin")).Should().HaveCount(2);
        ShardGlob.Expand(dir.File("other.bin")).Should().HaveCount(1);

        var act = () => new DataLoader(dir.File("nothing_*.bin"), 1, 1, 0, 1, false);
        act.Should().Throw<DataFormatException>().WithMessage("*nothing_*.bin*no file matches*");
    }

    [Fact]
    public void Reads_uint32_shards_as_it_reads_uint16_ones()
    {
        using var dir = new TempDir();
        var tokens = Enumerable.Range(0, 30).Select(i => (uint)(70_000 + i)).ToArray();
        TokenShard.Write(dir.File("l_train_000000.bin"), tokens);
        using var loader = new DataLoader(dir.File("l_train_*.bin"), 2, 4, 0, 1, shuffle: false, vocabSize: 100_000);
        loader.NextBatch();
        loader.NextBatch();
        loader.Inputs.Should().Equal(Enumerable.Range(70_008, 8));
        loader.Targets.Should().Equal(Enumerable.Range(70_009, 8));
    }

    [Fact]
    public void A_shard_too_small_for_one_step_is_rejected_naming_the_file()
    {
        using var dir = new TempDir();
        WriteShards(dir, 100, 8);
        var act = () => new DataLoader(dir.File("*.bin"), 2, 4, 0, 1, false);
        act.Should().Throw<DataFormatException>().WithMessage("*data_train_000001.bin*8 tokens*");
    }
}
