using FluentAssertions;
using LlmNet.Common.Cli;
using LlmNet.Common.Formats;
using Xunit;

namespace LlmNet.Common.Tests;

/// <summary>Issue #16: whatever a tool's body throws, the user sees one line naming the tool and its input, and a non-zero exit.</summary>
public class ToolRunnerTests
{
    private static (int Code, string Err) Run(Func<CancellationToken, int> body, IReadOnlyList<string>? args = null, bool verbose = false)
    {
        var err = new StringWriter();
        int code = ToolRunner.Run("llm-x", body, err, args ?? ["--data", "in.bin"], verbose);
        return (code, err.ToString());
    }

    [Fact]
    public void An_unexpected_exception_is_one_line_naming_the_input_without_a_stack_trace()
    {
        var (code, err) = Run(_ => throw new NullReferenceException("Object reference not set to an instance of an object."));
        code.Should().Be(ToolRunner.Failure);
        err.TrimEnd().Should().NotContain("\n").And.NotContain("   at ")
            .And.StartWith("llm-x: error: ").And.Contain("NullReferenceException").And.Contain("--data in.bin").And.Contain("LLMNET_VERBOSE");

        // A message spread over lines still prints as one.
        (code, err) = Run(_ => throw new InvalidOperationException("first\nsecond"));
        code.Should().Be(ToolRunner.Failure);
        err.TrimEnd().Should().NotContain("\n").And.Contain("first second");
    }

    [Fact]
    public void Verbose_adds_the_stack_trace_after_the_line()
    {
        var (code, err) = Run(_ => throw new IndexOutOfRangeException("boom"), verbose: true);
        code.Should().Be(ToolRunner.Failure);
        err.Should().StartWith("llm-x: error: ").And.Contain("   at ");
        ToolRunner.TakeVerboseFlag(["-e", "x", "--verbose"], out bool verbose).Should().Equal("-e", "x");
        verbose.Should().BeTrue();
        ToolRunner.TakeVerboseFlag(["-e", "x"], out verbose).Should().Equal("-e", "x");
        verbose.Should().Be(ToolRunner.VerboseFromEnvironment);
    }

    [Fact]
    public void Expected_failures_inside_an_aggregate_keep_their_own_message_and_code()
    {
        var (code, err) = Run(_ => throw new AggregateException(new DataFormatException("a.bin", "bad magic 7", "Re-create it")));
        code.Should().Be(ToolRunner.Failure);
        err.TrimEnd().Should().Be("llm-x: error: a.bin: bad magic 7. Re-create it");
        (code, err) = Run(_ => throw new AggregateException(new UsageException("-b 0: must be positive")));
        code.Should().Be(ToolRunner.Usage);
        err.TrimEnd().Should().Be("llm-x: error: -b 0: must be positive (see llm-x --help)");
    }
}
