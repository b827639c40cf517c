using LlmNet.Cuda;
using LlmNet.Model;
using LlmNet.Training;

namespace LlmNet.Tools.Train;

/// <summary>llm-train's options for the shared backend factory (<see cref="Backends"/>).</summary>
public static class BackendFactory
{
    public static IGptBackend Create(TrainOptions options, GptConfig config, IProcessGroup group) =>
        Backends.Create(options.Device, config, options.BatchSize, options.SeqLen, Settings(options, group));

    /// <summary>The device settings of a run: -r, -ge, -w (any non-zero value keeps master weights, as in llm.c) and its process group.</summary>
    public static BackendOptions Settings(TrainOptions options, IProcessGroup group) =>
        new() { Recompute = options.Recompute, GeluFusion = options.GeluFusion, ProcessGroup = group, MasterWeights = options.UseMasterWeights != 0 };
}
