using FluentAssertions;
using ICSharpCode.SharpZipLib.BZip2;
using LlmNet.Common.Formats;
using LlmNet.Eval.HellaSwag;
using LlmNet.Model;
using LlmNet.Model.Checkpoints;
using LlmNet.TestSupport;
using Xunit;

namespace LlmNet.Eval.Tests;

/// <summary>
/// Issue #16: a damaged HellaSwag file or a model too short for the data fails with one line that names the file
/// and the fix, exit code 1 and no stack trace.
/// </summary>
public sealed class BadInputTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmnet-eval-bad-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A small preprocessed HellaSwag file (six lines per item), bzip2-compressed.</summary>
    private byte[] CompressedItems(int items)
    {
        var text = new System.Text.StringBuilder();
        for (int i = 0; i < items; i++)
        {
            text.Append($"Item {i}: a person walks into the kitchen and opens the fridge, then\n{i % 4}\n");
            for (int e = 0; e < 4; e++) text.Append($"takes out ending {e} number {i * 31 % 97}.\n");
        }
        using var buffer = new MemoryStream();
        using (var bz = new BZip2OutputStream(buffer)) bz.Write(System.Text.Encoding.UTF8.GetBytes(text.ToString()));
        return buffer.ToArray();
    }

    [Fact]
    public void A_corrupt_or_truncated_bz2_file_is_reported_by_name()
    {
        byte[] good = CompressedItems(200);
        string goodPath = Path.Combine(_dir, "good.txt.bz2");
        File.WriteAllBytes(goodPath, good);
        HellaSwagData.Load(goodPath).Should().HaveCount(200, "the undamaged file loads");

        byte[] corrupt = good.ToArray();
        for (int i = good.Length / 3; i < good.Length / 3 + 16; i++) corrupt[i] ^= 0x5A;
        string corruptPath = Path.Combine(_dir, "corrupt.txt.bz2");
        File.WriteAllBytes(corruptPath, corrupt);
        string truncatedPath = Path.Combine(_dir, "truncated.txt.bz2");
        File.WriteAllBytes(truncatedPath, good[..(good.Length / 2)]);

        foreach (string path in new[] { corruptPath, truncatedPath })
        {
            var load = () => HellaSwagData.Load(path);
            load.Should().Throw<DataFormatException>().Which.Message.Should().StartWith(path).And.Contain("bzip2");

            var (rc, _, stderr) = EvalCli.Run("hellaswag", "-e", tiny.ModelPath, "--data", path);
            rc.Should().Be(1, stderr);
            stderr.Trim().Should().StartWith($"llm-eval: error: {path}: ").And.NotContain("\n").And.NotContain("   at ");
        }
    }

    [Fact]
    public void A_model_too_short_for_the_data_is_not_told_to_lower_a_seq_len_nobody_set()
    {
        var shortConfig = TinyModelFixture.Config with { MaxSeqLen = 16 };
        string shortModel = Path.Combine(_dir, "short.bin");
        ModelFile.Write(shortModel, shortConfig, ModelDtype.Fp32, GptModel.CreateFresh(shortConfig));

        var (rc, _, stderr) = EvalCli.Run("hellaswag", "-e", shortModel, "--data", tiny.DataPath, "--device", "cpu");
        rc.Should().Be(1, stderr);
        stderr.Trim().Should().NotContain("\n").And.NotContain("Lower --seq-len").And.Contain(shortModel).And.Contain("16 positions")
            .And.Contain(tiny.DataPath);

        (rc, _, stderr) = EvalCli.Run("hellaswag", "-e", shortModel, "--data", tiny.DataPath, "--device", "cpu", "-t", "200");
        rc.Should().Be(1, stderr);
        stderr.Should().Contain("Lower --seq-len", "here the user did set it");
    }
}
