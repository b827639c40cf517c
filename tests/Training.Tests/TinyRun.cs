using LlmNet.Common.Formats;
using LlmNet.Common.Text;
using LlmNet.Model;
using LlmNet.Model.Checkpoints;
using LlmNet.TestSupport;
using LlmNet.Training;

namespace LlmNet.Training.Tests;

/// <summary>
/// Tiny Shakespeare tokenized once per test process into a train and a val shard, and a tiny GPT-2
/// (GPT-2 vocabulary, 2 layers, 32 channels) saved as a model file, so CPU training runs take seconds.
/// </summary>
public static class TinyRun
{
    public static readonly GptConfig Config = new(MaxSeqLen: 64, VocabSize: 50257, PaddedVocabSize: 50304, NumLayers: 2, NumHeads: 2, Channels: 32);

    private static readonly Lazy<string> s_dir = new(() =>
    {
        string dir = Path.Combine(Path.GetTempPath(), $"llmnet-training-data-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        string text = File.ReadAllText(RepoPaths.TinyShakespeare);
        // As the llm.c preprocessing does: each document starts with EOT; here the play is one document.
        int[] ids = [Gpt2Tokenizer.EndOfText, .. Gpt2Tokenizer.Shared.Encode(text[..200_000])];
        int valCount = 8192;
        TokenShard.Write(Path.Combine(dir, "tiny_shakespeare_val.bin"), ids[..valCount].Select(i => (ushort)i).ToArray());
        TokenShard.Write(Path.Combine(dir, "tiny_shakespeare_train_000001.bin"), ids[valCount..(valCount + 20000)].Select(i => (ushort)i).ToArray());
        TokenShard.Write(Path.Combine(dir, "tiny_shakespeare_train_000002.bin"), ids[(valCount + 20000)..].Select(i => (ushort)i).ToArray());
        ModelFile.Write(Path.Combine(dir, "tiny.bin"), Config, ModelDtype.Fp32, GptModel.CreateFresh(Config));
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(dir, true); } catch (IOException) { } };
        return dir;
    });

    public static string DataDir => s_dir.Value;
    public static string TrainPattern => Path.Combine(DataDir, "tiny_shakespeare_train_*.bin");
    public static string ValPattern => Path.Combine(DataDir, "tiny_shakespeare_val.bin");
    public static string ModelPath => Path.Combine(DataDir, "tiny.bin");

    /// <summary>A CPU run on these files with B=1, T=8, no sampling; change the rest with <c>with</c>.</summary>
    public static TrainOptions CpuOptions(int maxSteps, int totalBatchSize = -1, int valEvery = 0, int valMaxSteps = 1) => new()
    {
        TrainData = TrainPattern, ValData = ValPattern, Init = ModelPath, BatchSize = 1, SeqLen = 8,
        TotalBatchSize = totalBatchSize, MaxSteps = maxSteps, ValEvery = valEvery, ValMaxSteps = valMaxSteps, SampleEvery = 0, Device = "cpu",
    };
}

/// <summary>A TextWriter that keeps every line and can cancel a run when a line appears (a "kill" at a known point).</summary>
public sealed class WatchingWriter(string? trigger = null, CancellationTokenSource? cancel = null) : StringWriter
{
    public override void WriteLine(string? value)
    {
        base.WriteLine(value);
        if (trigger is not null && value is not null && value.Contains(trigger, StringComparison.Ordinal)) cancel?.Cancel();
    }
}
