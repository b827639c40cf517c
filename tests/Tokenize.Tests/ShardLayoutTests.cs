using FluentAssertions;
using LlmNet.Common.Formats;
using LlmNet.Tools.Tokenize;
using LlmNet.Tools.Tokenize.Inputs;
using Xunit;

namespace LlmNet.Tokenize.Tests;

public sealed class ShardLayoutTests
{
    private const uint Eot = 50256;

    private static List<ShardWritten> Pack(string dir, int shardSize, IEnumerable<uint[]> documents)
    {
        var written = new List<ShardWritten>();
        using var packer = new ShardPacker(dir, "t", shardSize, 0, written.Add);
        int i = 0;
        foreach (var d in documents) packer.Add(d, new DocumentPosition(0, i++, 0));
        packer.Finish(new DocumentPosition(0, i, 0));
        return written;
    }

    [Fact]
    public void Documents_fill_shards_exactly_with_strict_less_than_and_split_at_the_boundary()
    {
        using var dir = new TempDir();
        uint[] a = [Eot, 1, 2], b = [Eot, 3, 4, 5, 6], c = [Eot, 7], d = [Eot, 8, 9, 10, 11, 12, 13, 14, 15, 16], e = [Eot, 17];
        var written = Pack(dir.Path, 8, [a, b, c, d, e]);

        // a (3) fits: 3 < 8. b: 3+5 = 8 is not < 8, so b fills shard 0 exactly and nothing of it is left.
        // c starts shard 1 (2 tokens); d (10): 2+10 >= 8, so 6 of d finish shard 1, the other 4 start shard 2;
        // e: 4+2 < 8 appends; the last shard holds the remainder.
        TokenShard.ReadIds(dir["t_val_000000.bin"]).Should().Equal(Eot, 1, 2, Eot, 3, 4, 5, 6);
        TokenShard.ReadIds(dir["t_train_000001.bin"]).Should().Equal(Eot, 7, Eot, 8, 9, 10, 11, 12);
        TokenShard.ReadIds(dir["t_train_000002.bin"]).Should().Equal(13, 14, 15, 16, Eot, 17);
        Directory.GetFiles(dir.Path).Should().HaveCount(3);
        written.Select(w => (w.Index, w.Tokens, w.NextDocument.Index, w.NextTokenOffset))
            .Should().Equal((0, 8L, 1L, 5L), (1, 8L, 3L, 6L), (2, 6L, 5L, 0L));
    }

    [Fact]
    public void A_document_ending_exactly_on_the_last_boundary_leaves_no_empty_shard()
    {
        using var dir = new TempDir();
        Pack(dir.Path, 4, [[Eot, 1], [Eot, 2]]);
        Directory.GetFiles(dir.Path).Select(Path.GetFileName).Should().Equal("t_val_000000.bin");
        TokenShard.ReadIds(dir["t_val_000000.bin"]).Should().Equal(Eot, 1, Eot, 2);
    }

    [Fact]
    public void A_document_longer_than_a_shard_keeps_filling_shards()
    {
        using var dir = new TempDir();
        uint[] big = [Eot, .. Enumerable.Range(1, 12).Select(i => (uint)i)];
        Pack(dir.Path, 5, [[Eot, 100], big]);
        TokenShard.ReadIds(dir["t_val_000000.bin"]).Should().Equal(Eot, 100, Eot, 1, 2);
        TokenShard.ReadIds(dir["t_train_000001.bin"]).Should().Equal(3, 4, 5, 6, 7);
        TokenShard.ReadIds(dir["t_train_000002.bin"]).Should().Equal(8, 9, 10, 11, 12);
        Directory.GetFiles(dir.Path).Should().HaveCount(3);
    }

    [Fact]
    public void Random_documents_match_the_reference_layout()
    {
        var rng = new Random(7);
        foreach (int shardSize in new[] { 1, 3, 16, 100 })
        {
            using var dir = new TempDir();
            // The reference (like fineweb.py) cannot carry more than one shard of leftover, so documents stay within a shard.
            var docs = Enumerable.Range(0, 120).Select(_ => (int[])[(int)Eot, .. Enumerable.Range(0, rng.Next(0, shardSize)).Select(_ => rng.Next(50256))]).ToList();
            Pack(dir.Path, shardSize, docs.Select(d => d.Select(t => (uint)t).ToArray()));
            ReferenceLayout.AssertShards(dir.Path, "t", ReferenceLayout.Shards(docs, shardSize));
        }
    }

    [Fact]
    public void An_abandoned_shard_leaves_no_file_behind()
    {
        using var dir = new TempDir();
        using (var packer = new ShardPacker(dir.Path, "t", 100, 0, _ => { }))
            packer.Add([Eot, 1, 2, 3], new DocumentPosition(0, 0, 0));
        Directory.GetFiles(dir.Path).Should().BeEmpty();
    }
}
