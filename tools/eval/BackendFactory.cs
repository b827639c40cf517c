using LlmNet.Common.Cli;
using LlmNet.Model;
using LlmNet.Model.Checkpoints;
using LlmNet.Cuda;

namespace LlmNet.Tools.Eval;

/// <summary>The one place llm-eval creates a compute backend and loads the model into it.</summary>
internal static class BackendFactory
{
    public static readonly string[] Devices = Backends.DeviceNames;

    /// <summary>
    /// Creates a backend on <paramref name="device"/> sized for (maxBatch, maxSeqLen) holding
    /// <paramref name="model"/>: an llm.c model file (v3 or v5), or a descriptor (d12, gpt3:c768) for
    /// llm.c's fresh seed-42 initialisation. <paramref name="threads"/> ≤ 0 uses every CPU core;
    /// on CUDA, <paramref name="group"/>'s local rank picks the GPU, and the backend is inference-only (no gradients
    /// or optimizer state are allocated).
    /// </summary>
    /// <param name="seqLenSource">
    /// Where T came from when the user did not set it (e.g. "the longest example of FILE needs"), so a model too short
    /// for it is not answered with advice about a flag nobody passed; null: T is the user's --seq-len.
    /// </param>
    public static IGptBackend Create(string device, string model, int maxBatch, int maxSeqLen, int threads = 0, IProcessGroup? group = null,
        string? seqLenSource = null)
    {
        var (config, parameters) = LoadModel(model);
        if (maxSeqLen > config.MaxSeqLen)
            throw new ToolException(seqLenSource is null
                ? $"{model}: the model's context is {config.MaxSeqLen} positions but T = {maxSeqLen} was asked for. Lower --seq-len"
                : $"{model}: the model's context is {config.MaxSeqLen} positions, but {seqLenSource} {maxSeqLen}. Score it with a model whose context is at least that long");
        var backend = Backends.Create(device, config, maxBatch, maxSeqLen, new BackendOptions { CpuThreads = threads, ProcessGroup = group, Training = false });
        backend.SetParameters(parameters);
        return backend;
    }

    private static (GptConfig Config, float[] Parameters) LoadModel(string model)
    {
        try
        {
            float[] parameters = ModelSource.Load(model, out var config);
            return (config, parameters);
        }
        catch (ArgumentException e) { throw new ToolException(e.Message); }
    }
}
