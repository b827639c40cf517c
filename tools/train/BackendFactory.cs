using LlmNet.Cuda;
using LlmNet.Model;
using LlmNet.Training;

namespace LlmNet.Tools.Train;

/// <summary>llm-train's options for the shared backend factory (<see cref="Backends"/>).</summary>
public static class BackendFactory
{
    public static IGptBackend Create(TrainOptions options, GptConfig config, IProcessGroup group) =>
        Backends.Create(options.Device, config, options.BatchSize, options.SeqLen,
            new BackendSettings(Recompute: options.Recompute, GeluFusion: options.GeluFusion, ProcessGroup: group));
}
