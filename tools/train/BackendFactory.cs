using LlmNet.Common.Cli;
using LlmNet.Model;
using LlmNet.Model.Cpu;

namespace LlmNet.Tools.Train;

/// <summary>The one place llm-train turns --device into a backend.</summary>
public static class BackendFactory
{
    public static IGptBackend Create(string device, GptConfig config, int batchSize, int seqLen) => device switch
    {
        "cpu" => new CpuBackend(config, batchSize, seqLen),
        "cuda" => throw new ToolException("CUDA backend not built in; use --device cpu"),
        "auto" => new CpuBackend(config, batchSize, seqLen),
        _ => throw new UsageException($"unknown device '{device}': use cpu, cuda or auto"),
    };
}
