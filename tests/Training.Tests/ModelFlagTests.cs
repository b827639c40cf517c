using FluentAssertions;
using LlmNet.Tools.Train;
using Xunit;

namespace LlmNet.Training.Tests;

/// <summary>The model is --model in every tool; llm-train also takes llm.c's -e and the old long name --init.</summary>
public class ModelFlagTests
{
    [Theory]
    [InlineData("--model")]
    [InlineData("--init")]
    [InlineData("-e")]
    public void Llm_train_reads_the_model_from_every_spelling(string flag) =>
        TrainCommandLine.Parse([flag, "d12"])!.Init.Should().Be("d12");
}
