using FluentAssertions;
using LlmNet.Common.Logs;
using Xunit;

namespace LlmNet.Common.Tests;

/// <summary>main.log as llm-train writes it and llm-plot reads it: one format, both directions.</summary>
public sealed class MainLogTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmnet-mainlog-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Written_lines_read_back_as_the_values_they_print()
    {
        string path = Path.Combine(_dir, "run", "main.log");
        var writer = new MainLogWriter(path, truncate: true);
        writer.LogVal(0, 10.98766f);
        writer.LogTrain(0, 10.9876f, 6e-4f, 1.23456f);
        writer.LogEval(0, 0.25f);
        writer.LogTrain(1, 9.5f, 5.5e-4f, 2.5f);

        File.ReadAllText(path).Should().Be("s:0 tel:10.9877\ns:0 trl:10.9876 lr:0.000600 norm:1.23\ns:0 eval:0.2500\ns:1 trl:9.5000 lr:0.000550 norm:2.50\n");
        var log = MainLogReader.Read(path);
        log.Issues.Should().BeEmpty();
        log.Val.Should().Equal(new Dictionary<int, float> { [0] = 10.9877f });
        log.HellaSwag.Should().Equal(new Dictionary<int, float> { [0] = 0.25f });
        log.Train.Keys.Should().Equal(0, 1);
        log.Train[0].Should().Be(new TrainRecord(10.9876f, 0.0006f, 1.23f));
    }

    [Fact]
    public void A_resumed_run_appends_and_a_fresh_one_truncates()
    {
        string path = Path.Combine(_dir, "main.log");
        new MainLogWriter(path, truncate: true).LogTrain(0, 5f, 1e-4f, 1f);
        new MainLogWriter(path, truncate: false).LogTrain(1, 4f, 1e-4f, 1f);
        MainLogReader.Read(path).Train.Keys.Should().Equal(0, 1);
        new MainLogWriter(path, truncate: true);
        File.ReadAllText(path).Should().BeEmpty();
    }
}
