using System.Buffers.Binary;
using FluentAssertions;
using LlmNet.Common.Formats;
using LlmNet.Model.Checkpoints;
using LlmNet.Model.Numerics;
using LlmNet.Model.Random;
using Xunit;

namespace LlmNet.Model.Tests;

public sealed class CheckpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmnet-model-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    [Fact]
    public void Fp32_model_file_round_trips_exactly_with_llmc_header()
    {
        var p = TinyModel.RandomParameters(TinyModel.Config);
        string path = PathOf("tiny.bin");
        ModelFile.Write(path, TinyModel.Config, ModelDtype.Fp32, p);
        new FileInfo(path).Length.Should().Be(1024 + p.Length * 4L);
        var bytes = File.ReadAllBytes(path);
        int[] expectedHeader = [20240326, 3, 8, 61, 2, 4, 32, 64];
        for (int i = 0; i < expectedHeader.Length; i++) BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4 * i)).Should().Be(expectedHeader[i]);
        bytes.AsSpan(32, 1024 - 32).ToArray().Should().OnlyContain(b => b == 0);
        var back = ModelFile.Read(path, out var config);
        config.Should().Be(TinyModel.Config);
        back.Should().Equal(p);
    }

    [Fact]
    public void Bf16_model_file_stores_round_to_nearest_even_values()
    {
        var p = TinyModel.RandomParameters(TinyModel.Config);
        string path = PathOf("tiny_bf16.bin");
        ModelFile.Write(path, TinyModel.Config, ModelDtype.Bf16, p);
        new FileInfo(path).Length.Should().Be(1024 + p.Length * 2L);
        ModelFile.ReadHeader(path).Dtype.Should().Be(ModelDtype.Bf16);
        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(1024)).Should().Be(Bf16.FromFloat(p[0]));
        var back = ModelFile.Read(path, out _);
        for (int i = 0; i < p.Length; i++) back[i].Should().Be(Bf16.Round(p[i]));
    }

    [Fact]
    public void D12_fresh_model_files_have_llmc_sizes()
    {
        var config = GptConfig.FromDescriptor("d12");
        var p = GptModel.CreateFresh(config);
        string fp32 = PathOf("gpt2_124M.bin"), bf16 = PathOf("gpt2_124M_bf16.bin");
        ModelFile.Write(fp32, config, ModelDtype.Fp32, p);
        new FileInfo(fp32).Length.Should().Be(497_904_640);
        ModelFile.ReadHeader(fp32).Config.Should().Be(config);
        File.Delete(fp32);
        ModelFile.Write(bf16, config, ModelDtype.Bf16, p);
        new FileInfo(bf16).Length.Should().Be(248_952_832);
        File.Delete(bf16);
        ModelFile.FileSize(config, ModelDtype.Fp32).Should().Be(497_904_640);
    }

    [Fact]
    public void Damaged_model_files_are_reported_with_the_file_name()
    {
        var p = TinyModel.RandomParameters(TinyModel.Config);
        string path = PathOf("m.bin");
        ModelFile.Write(path, TinyModel.Config, ModelDtype.Fp32, p);
        var bytes = File.ReadAllBytes(path);

        string truncated = PathOf("truncated.bin");
        File.WriteAllBytes(truncated, bytes[..^4]);
        var read = () => ModelFile.Read(truncated, out _);
        read.Should().Throw<DataFormatException>().Where(e => e.Message.Contains(truncated) && e.Message.Contains("truncated"));

        string magic = PathOf("magic.bin");
        var bad = (byte[])bytes.Clone();
        bad[0] ^= 0xFF;
        File.WriteAllBytes(magic, bad);
        read = () => ModelFile.Read(magic, out _);
        read.Should().Throw<DataFormatException>().Where(e => e.Message.Contains("magic"));

        string version = PathOf("version.bin");
        bad = (byte[])bytes.Clone();
        bad[4] = 4;
        File.WriteAllBytes(version, bad);
        read = () => ModelFile.Read(version, out _);
        read.Should().Throw<DataFormatException>().Where(e => e.Message.Contains("version 4"));

        read = () => ModelFile.Read(PathOf("missing.bin"), out _);
        read.Should().Throw<DataFormatException>().Where(e => e.Message.Contains("not found"));
    }

    [Fact]
    public void A_failing_writer_leaves_the_previous_file_complete_and_no_temporaries()
    {
        var p = TinyModel.RandomParameters(TinyModel.Config);
        var dir = new CheckpointDirectory(_dir);
        dir.WriteModel(10, TinyModel.Config, ModelDtype.Fp32, p);
        var before = File.ReadAllBytes(dir.ModelPath(10));
        var act = () => dir.WriteModel(10, TinyModel.Config, ModelDtype.Fp32, (offset, chunk) => throw new IOException("disk full"));
        act.Should().Throw<IOException>();
        File.ReadAllBytes(dir.ModelPath(10)).Should().Equal(before);
        Directory.GetFiles(_dir).Should().ContainSingle();

        // A state write that fails part-way (bad loader section) leaves nothing behind either.
        var state = SampleState(p.Length, shuffle: false) with { ProcessRank = 0 };
        dir.WriteState(10, state);
        var broken = state with { ShouldShuffle = true };
        var write = () => dir.WriteState(10, broken);
        write.Should().Throw<ArgumentException>();
        StateFile.Read(dir.StatePath(10, 0), p.Length).Step.Should().Be(state.Step);
        Directory.GetFiles(_dir).Should().HaveCount(2);
    }

    private static TrainingState SampleState(int n, bool shuffle, bool master = false)
    {
        var rng = new Mt19937(5);
        float[] Fill() { var a = new float[n]; rng.FillNormal(a, 0, 1); return a; }
        var loaderRng = new Mt19937(42 + 1);
        for (int i = 0; i < 17; i++) loaderRng.NextUInt32();
        var raw = new byte[Mt19937.RawStateBytes];
        loaderRng.WriteRawState(raw);
        return new TrainingState
        {
            NumProcesses = 2,
            ProcessRank = 1,
            Step = 1234,
            RngState = 0x0123_4567_89AB_CDEFUL,
            RngStateLastUpdate = 13371338,
            ShardIndex = 3,
            SampleIndex = 77,
            M = Fill(),
            V = Fill(),
            Master = master ? Fill() : null,
            ShouldShuffle = shuffle,
            ShardIndices = shuffle ? [2, 0, 1, 3] : null,
            IntraShardIndices = shuffle ? [5, 3, 1, 0, 2, 4] : null,
            LoaderRngState = shuffle ? raw : null,
        };
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void State_file_round_trips_with_llmc_layout(bool shuffle, bool master)
    {
        const int n = 1000;
        var state = SampleState(n, shuffle, master);
        string path = PathOf("state.bin");
        StateFile.Write(path, state);
        long expected = 1024 + n * 4L * (master ? 3 : 2) + (shuffle ? 8 + 4 * 4 + 8 + 6 * 4 + 2520 : 0);
        new FileInfo(path).Length.Should().Be(expected);
        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(0)).Should().Be(20240527);
        BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4)).Should().Be(1);
        BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8)).Should().Be(2);
        BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(12)).Should().Be(1);
        BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(16)).Should().Be(master ? 1 : 0);
        BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(20)).Should().Be(shuffle ? 1 : 0);
        BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(40)).Should().Be(1234);
        BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(80)).Should().Be(0x0123_4567_89AB_CDEFUL);
        BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(120)).Should().Be(3);
        BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(128)).Should().Be(77);

        var back = StateFile.Read(path, n);
        back.Step.Should().Be(1234);
        back.NumProcesses.Should().Be(2);
        back.ProcessRank.Should().Be(1);
        back.RngState.Should().Be(state.RngState);
        back.RngStateLastUpdate.Should().Be(13371338);
        back.ShardIndex.Should().Be(3);
        back.SampleIndex.Should().Be(77);
        back.M.Should().Equal(state.M);
        back.V.Should().Equal(state.V);
        back.UseMasterWeights.Should().Be(master);
        if (master) back.Master.Should().Equal(state.Master!);
        back.ShouldShuffle.Should().Be(shuffle);
        if (shuffle)
        {
            back.ShardIndices.Should().Equal(state.ShardIndices!);
            back.IntraShardIndices.Should().Equal(state.IntraShardIndices!);
            back.LoaderRngState.Should().Equal(state.LoaderRngState!);
            var resumed = Mt19937.FromRawState(back.LoaderRngState!);
            var original = Mt19937.FromRawState(state.LoaderRngState!);
            resumed.NextUInt32().Should().Be(original.NextUInt32());
        }

        var wrongSize = () => StateFile.Read(path, n + 1);
        wrongSize.Should().Throw<DataFormatException>().Where(e => e.Message.Contains(path));
        File.WriteAllBytes(path, bytes[..^3]);
        var truncated = () => StateFile.Read(path, n);
        truncated.Should().Throw<DataFormatException>();
    }

    [Theory]
    // step, n, nk, nm -> the step llm.c deletes (-1: none)
    [InlineData(40, 10, 2, 0, 20)]
    [InlineData(20, 10, 2, 0, -1)]  // step − nk·n = 0 is never deleted
    [InlineData(40, 10, 0, 0, -1)]  // nk = 0 keeps everything
    [InlineData(50, 10, 2, 30, -1)] // 30 is a major checkpoint (multiple of nm)
    [InlineData(60, 10, 2, 30, 40)]
    [InlineData(45, 10, 1, 0, 35)]  // a last step off the grid targets a step that need not exist
    public void Rolling_deletion_follows_llmc_rule(int step, int n, int nk, int nm, int expected) =>
        CheckpointDirectory.StepToDelete(step, n, nk, nm).Should().Be(expected < 0 ? null : expected);

    [Fact]
    public void Stale_temporaries_and_interrupted_rotations_are_cleaned_and_nothing_else()
    {
        // What kill -9 leaves in a -n 10 -nk 1 folder (#16): temporaries of killed writes; checkpoint 30 whose deletion
        // never ran (killed after DONE_40); checkpoint 20 with its DONE_ gone but model and state still there.
        string path = Path.Combine(_dir, "killed");
        Directory.CreateDirectory(path);
        var dir = new CheckpointDirectory(path);
        void Touch(string name, int bytes = 10) => File.WriteAllBytes(Path.Combine(path, name), new byte[bytes]);
        string[] ours = ["model_00000050.bin.tmp-77-ab", "state_00000050_00000.bin.tmp-77-cd", "state_00000050_00001.bin.tmp-78-ef"];
        string[] others = ["notes.bin.tmp-1-x", "model_5.bin.tmp-1-x", "main.log", "model_00000050.bin.tmp"];
        foreach (string name in ours.Concat(others)) Touch(name, 1000);
        foreach (int step in new[] { 20, 30, 40 })
        {
            Touch($"model_{step:D8}.bin");
            Touch($"state_{step:D8}_00000.bin");
            if (step != 20) Touch($"DONE_{step:D8}");
        }

        dir.CleanStaleTemporaries(rank: 1).Should().Be((1, 1000L), "another rank removes only its own state temporaries");
        dir.CleanStaleTemporaries().Should().Be((2, 2000L));
        dir.FinishDeletions(40, every: 10, keep: 1, majorEvery: 0).Should().Equal(20, 30);
        Directory.GetFiles(path).Select(Path.GetFileName).Order().Should().Equal(
            new[] { "DONE_00000040", "model_00000040.bin", "state_00000040_00000.bin" }.Concat(others).Order());

        // Without rotation nothing is deleted.
        Touch("model_00000030.bin");
        dir.FinishDeletions(40, every: 10, keep: 0, majorEvery: 0).Should().BeEmpty();
        File.Exists(Path.Combine(path, "model_00000030.bin")).Should().BeTrue();
    }

    [Fact]
    public void Checkpoint_directory_writes_finds_latest_done_and_deletes_old()
    {
        var p = TinyModel.RandomParameters(TinyModel.Config);
        var dir = new CheckpointDirectory(Path.Combine(_dir, "log"));
        dir.LatestDone().Should().BeNull();
        foreach (int step in new[] { 10, 20, 30, 40 })
        {
            dir.WriteModel(step, TinyModel.Config, ModelDtype.Fp32, p);
            dir.WriteState(step, SampleState(p.Length, shuffle: true) with { NumProcesses = 1, ProcessRank = 0, Step = step });
            dir.MarkDone(step);
            dir.DeleteOld(step, every: 10, keep: 2, majorEvery: 20);
        }
        // An unfinished checkpoint (no DONE) and a stray temporary are ignored.
        dir.WriteModel(50, TinyModel.Config, ModelDtype.Fp32, p);
        File.WriteAllText(dir.DonePath(60) + ".tmp-1-abc", "");
        dir.LatestDone().Should().Be(40);
        Path.GetFileName(dir.ModelPath(40)).Should().Be("model_00000040.bin");
        Path.GetFileName(dir.StatePath(40, 0)).Should().Be("state_00000040_00000.bin");
        Path.GetFileName(dir.DonePath(40)).Should().Be("DONE_00000040");
        // 10 deleted at step 30; 20 is major (multiple of 20) and kept; 30 and 40 are the two newest.
        File.Exists(dir.ModelPath(10)).Should().BeFalse();
        File.Exists(dir.StatePath(10, 0)).Should().BeFalse();
        File.Exists(dir.DonePath(10)).Should().BeFalse();
        foreach (int kept in new[] { 20, 30, 40 })
        {
            File.Exists(dir.ModelPath(kept)).Should().BeTrue();
            File.Exists(dir.DonePath(kept)).Should().BeTrue();
        }
        var state = StateFile.Read(dir.StatePath(dir.LatestDone()!.Value, 0), p.Length);
        state.Step.Should().Be(40);
        ModelFile.Read(dir.ModelPath(40), out _).Should().Equal(p);
    }
}
