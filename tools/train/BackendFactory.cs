using LlmNet.Common.Cli;
using LlmNet.Model;
using LlmNet.Model.Cpu;
using LlmNet.Training;

namespace LlmNet.Tools.Train;

/// <summary>The one place llm-train turns --device into a backend.</summary>
public static class BackendFactory
{
    public static IGptBackend Create(TrainOptions options, GptConfig config, IProcessGroup group) => options.Device switch
    {
        "cpu" => new CpuBackend(config, options.BatchSize, options.SeqLen),
        "cuda" => throw new ToolException("CUDA backend not built in; use --device cpu"),
        "auto" => new CpuBackend(config, options.BatchSize, options.SeqLen),
        _ => throw new UsageException($"unknown device '{options.Device}': use cpu, cuda or auto"),
    };
}
