using FluentAssertions;
using Xunit;
using LlmNet.Common.Logs;

namespace LlmNet.Plot.Tests;

public class MainLogReaderTests
{
    [Fact]
    public void Reads_train_val_and_hellaswag_records_as_llmc_writes_them()
    {
        const string text = "s:0 trl:10.9876 lr:0.000006 norm:12.34\ns:0 tel:10.9000\ns:0 eval:0.2500\ns:1 trl:9.5000 lr:0.000012 norm:3.21\n";
        var log = MainLogReader.Parse(text, "run/main.log");

        log.Issues.Should().BeEmpty();
        log.Train.Keys.Should().Equal(0, 1);
        log.Train[0].Should().Be(new TrainRecord(10.9876f, 0.000006f, 12.34f));
        log.Train[1].Loss.Should().Be(9.5f);
        log.Val.Should().ContainSingle().Which.Should().Be(KeyValuePair.Create(0, 10.9f));
        log.HellaSwag[0].Should().Be(0.25f);
        log.LastStep.Should().Be(1);
        log.RecordCount.Should().Be(4);
    }

    [Fact]
    public void Later_line_for_the_same_step_wins_as_after_a_resume()
    {
        // Steps 0..4 logged, crash, resume from the step-2 checkpoint re-logs 3 and 4 with new values.
        const string text =
            "s:0 trl:5.0 lr:0.1 norm:1.0\ns:1 trl:4.0 lr:0.1 norm:1.0\ns:2 trl:3.0 lr:0.1 norm:1.0\ns:2 tel:3.5\n" +
            "s:3 trl:9.0 lr:0.1 norm:1.0\ns:4 trl:9.0 lr:0.1 norm:1.0\ns:4 tel:9.9\n" +
            "s:3 trl:2.5 lr:0.2 norm:0.5\ns:4 trl:2.0 lr:0.2 norm:0.5\ns:4 tel:2.2\n";
        var log = MainLogReader.Parse(text, "main.log");

        log.Train.Keys.Should().Equal(0, 1, 2, 3, 4);
        log.Train[3].Should().Be(new TrainRecord(2.5f, 0.2f, 0.5f));
        log.Train[4].Loss.Should().Be(2.0f);
        log.Val.Should().Equal(new Dictionary<int, float> { [2] = 3.5f, [4] = 2.2f });
    }

    [Fact]
    public void Malformed_lines_are_reported_with_file_and_line_number_and_skipped()
    {
        string[] lines =
        [
            "s:0 trl:5.0 lr:0.1 norm:1.0", // 1 ok
            "hello world",                  // 2 no step
            "s:x trl:5.0",                  // 3 bad step
            "s:1 foo:1.0",                  // 4 unknown record
            "s:1 trl:abc lr:0.1 norm:1",    // 5 bad value
            "s:1",                          // 6 too short
            "s:-1 tel:2.0",                 // 7 negative step
            "s:2 trl:4.0 lr:zz norm:1.0",   // 8 bad lr
            "",                             // 9 blank: ignored silently
            "s:3 tel:4.5",                  // 10 ok
        ];
        var log = MainLogReader.Parse(string.Join("\n", lines) + "\n", "runs/a/main.log");

        log.Issues.Select(i => i.Line).Should().Equal(2, 3, 4, 5, 6, 7, 8);
        log.Issues.Should().OnlyContain(i => i.Path == "runs/a/main.log");
        log.Issues[0].ToString().Should().StartWith("runs/a/main.log:2: ").And.Contain("hello world");
        log.Issues[2].Problem.Should().Contain("unknown record 'foo'");
        log.Train.Keys.Should().Equal(0);
        log.Val.Keys.Should().Equal(3);
    }

    [Fact]
    public void Reads_the_pytorch_trainer_lines_without_lr_and_norm()
    {
        var log = MainLogReader.Parse("s:0 trl:10.987654\ns:0 tel:10.876543\n", "main.log");
        log.Issues.Should().BeEmpty();
        log.Train[0].Should().Be(new TrainRecord(10.987654f, null, null));
        log.Val[0].Should().Be(10.876543f);
    }

    [Fact]
    public void C_spellings_of_nan_and_inf_are_values_not_errors()
    {
        var log = MainLogReader.Parse("s:0 trl:nan lr:0.1 norm:-nan\ns:1 trl:inf lr:0.1 norm:1.0\ns:2 tel:-inf\n", "main.log");
        log.Issues.Should().BeEmpty();
        float.IsNaN(log.Train[0].Loss).Should().BeTrue();
        float.IsNaN(log.Train[0].GradNorm!.Value).Should().BeTrue();
        log.Train[1].Loss.Should().Be(float.PositiveInfinity);
        log.Val[2].Should().Be(float.NegativeInfinity);
    }

    [Fact]
    public void An_unterminated_last_line_is_held_back_only_when_asked()
    {
        const string text = "s:0 trl:5.0 lr:0.1 norm:1.0\ns:1 trl:4.";
        MainLogReader.Parse(text, "main.log", holdBackPartialLine: true).Train.Keys.Should().Equal(0);
        var all = MainLogReader.Parse(text, "main.log");
        all.Train.Keys.Should().Equal(0, 1);
        all.Train[1].Loss.Should().Be(4f);
        MainLogReader.Parse("s:0 tr", "main.log", holdBackPartialLine: true).Issues.Should().BeEmpty();
    }

    [Fact]
    public void Windows_line_ends_and_extra_spaces_are_accepted()
    {
        var log = MainLogReader.Parse("s:0  trl:5.0 lr:0.1 norm:1.0\r\n\r\ns:0 tel:4.0 \r\n", "main.log");
        log.Issues.Should().BeEmpty();
        log.Train[0].Loss.Should().Be(5f);
        log.Val[0].Should().Be(4f);
    }

    [Fact]
    public void Read_names_a_missing_file_and_reads_one_still_open_for_appending()
    {
        using var tmp = new TempDir();
        var missing = () => MainLogReader.Read(tmp.File("nope.log"));
        missing.Should().Throw<IOException>().WithMessage("*nope.log: no such file*");

        string path = tmp.File("main.log");
        using var writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite));
        writer.Write("s:0 trl:5.0 lr:0.1 norm:1.0\ns:1 trl:4.0");
        writer.Flush();
        MainLogReader.Read(path, holdBackPartialLine: true).Train.Keys.Should().Equal(0);
    }

    [Fact]
    public void A_binary_file_is_refused_before_it_is_read_whole()
    {
        using var tmp = new TempDir();
        string path = tmp.File("model_00000010.bin");
        File.WriteAllBytes(path, [0x4F, 0x63, 0x01, 0x00, 0x00, 0x00, 0x03, 0x00]);
        var read = () => MainLogReader.Read(path);
        read.Should().Throw<LlmNet.Common.Formats.DataFormatException>().WithMessage("*model_00000010.bin: holds binary data*not a main.log*");
    }
}
