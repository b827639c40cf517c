using LlmNet.Common.Cli;
using LlmNet.Model;

namespace LlmNet.Tools.Eval;

/// <summary>The one place llm-eval creates a compute backend and loads the model into it.</summary>
internal static class BackendFactory
{
    public static readonly string[] Devices = ["auto", "cpu", "cuda"];

    /// <summary>
    /// Creates a backend on <paramref name="device"/> sized for (maxBatch, maxSeqLen) holding the model
    /// <paramref name="model"/>: an llm.c model file, or a descriptor (d12, gpt3:c768) for a fresh init.
    /// </summary>
    public static IGptBackend Create(string device, string model, int maxBatch, int maxSeqLen)
    {
        string chosen = device == "auto" ? "cpu" : device;
        if (chosen == "cuda")
            throw new ToolException("cuda: the CUDA backend is not available in this build of llm-eval. Use --device cpu");
        throw new ToolException($"{model}: the CPU backend is not available in this build. Rebuild llm-eval with the model library");
    }
}
