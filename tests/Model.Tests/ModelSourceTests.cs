using FluentAssertions;
using LlmNet.Common.Formats;
using LlmNet.Model.Checkpoints;
using Xunit;

namespace LlmNet.Model.Tests;

/// <summary>One test changes the working directory, so this class runs apart from the others.</summary>
[CollectionDefinition("working directory", DisableParallelization = true)]
public sealed class WorkingDirectoryCollection;

[Collection("working directory")]
public class ModelSourceTests
{
    [Fact]
    public void Descriptor_GivesTheFreshSeed42Init()
    {
        float[] p = ModelSource.Load("d6", out var config);
        config.Should().Be(GptConfig.FromDescriptor("d6"));
        p.Length.Should().Be((int)ParameterLayout.For(config).Count);
        p.AsSpan(0, 1000).ToArray().Should().Equal(GptModel.CreateFresh(config).AsSpan(0, 1000).ToArray());
        ModelSource.IsFile("d6").Should().BeFalse();
    }

    [Fact]
    public void ModelFile_IsReadWhetherOrNotItEndsInBin()
    {
        var config = TinyModel.Config;
        float[] expected = TinyModel.RandomParameters(config);
        string dir = Directory.CreateTempSubdirectory("llmnet-source-").FullName;
        try
        {
            foreach (string name in new[] { "model.bin", "checkpoint" })
            {
                string path = Path.Combine(dir, name);
                ModelFile.Write(path, config, ModelDtype.Fp32, expected);
                ModelSource.IsFile(path).Should().BeTrue();
                ModelSource.Load(path, out var read).Should().Equal(expected);
                read.Should().Be(config);
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void ADescriptorWinsOverAFileOfTheSameName()
    {
        string dir = Directory.CreateTempSubdirectory("llmnet-source-").FullName;
        string cwd = Environment.CurrentDirectory;
        try
        {
            File.WriteAllText(Path.Combine(dir, "d6"), "not a model");
            Environment.CurrentDirectory = dir;
            ModelSource.IsFile("d6").Should().BeFalse("llm.c reads -e d6 as a descriptor whatever lies in the folder");
        }
        finally
        {
            Environment.CurrentDirectory = cwd;
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void MissingBinFile_IsAFileErrorNamingThePath()
    {
        var act = () => ModelSource.Load("/nonexistent/model_00000010.bin", out _);
        act.Should().Throw<DataFormatException>().WithMessage("*model_00000010.bin*not found*");
    }

    [Fact]
    public void NeitherFileNorDescriptor_SaysBoth()
    {
        var act = () => ModelSource.Load("d13x", out _);
        act.Should().Throw<ArgumentException>().WithMessage("d13x: no such model file, and not a model descriptor (*");
    }
}
