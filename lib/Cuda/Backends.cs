using LlmNet.Common.Cli;
using LlmNet.Model;
using LlmNet.Model.Cpu;

namespace LlmNet.Cuda;

/// <summary>Settings shared by every backend a tool may create; each backend reads the ones it knows.</summary>
public sealed record BackendSettings(
    /// <summary>CPU worker threads; 0 uses every core.</summary>
    int CpuThreads = 0,
    /// <summary>llm.c's -r: 0 keep all activations, 1 recompute GELU, 2 also LayerNorm (CUDA).</summary>
    int Recompute = 1,
    /// <summary>llm.c's -ge: GELU fusion into cuBLASLt epilogues, -1 for the default (CUDA).</summary>
    int GeluFusion = -1,
    /// <summary>GPU ordinal; -1 uses the process group's local rank (CUDA).</summary>
    int DeviceIndex = -1,
    IProcessGroup? ProcessGroup = null,
    /// <summary>llm.c's -w: keep fp32 master weights (CUDA; the CPU backend's parameters are fp32 already).</summary>
    bool MasterWeights = true,
    /// <summary>False for tools that only run forward passes (evaluation, sampling): the CUDA backend then allocates
    /// no gradients, optimizer state or backward scratch. The CPU backend ignores it.</summary>
    bool Training = true);

/// <summary>
/// The one place a --device name becomes a compute backend, for every tool: "cpu" (the fp32 reference),
/// "cuda" (bf16 with fp32 master weights) or "auto" (CUDA when a usable GPU, driver, NVRTC and cuBLASLt
/// are present, else the CPU).
/// </summary>
public static class Backends
{
    public static readonly string[] DeviceNames = ["auto", "cpu", "cuda"];

    /// <summary>Turns "auto" into "cpu" or "cuda"; checks that "cuda" is usable here.</summary>
    public static string Resolve(string device)
    {
        switch (device)
        {
            case "cpu":
                return "cpu";
            case "auto":
                return CudaBackend.IsAvailable(out _) ? "cuda" : "cpu";
            case "cuda":
                if (!CudaBackend.IsAvailable(out string reason))
                    throw new ToolException($"--device cuda: no usable GPU: {reason}. Use --device cpu (or auto)");
                return "cuda";
            default:
                throw new UsageException($"unknown device '{device}': use {string.Join(", ", DeviceNames)}");
        }
    }

    /// <summary>Creates a backend sized for (maxBatch, maxSeq) activations on the resolved device.</summary>
    public static IGptBackend Create(string device, GptConfig config, int maxBatch, int maxSeq, BackendSettings? settings = null)
    {
        settings ??= new BackendSettings();
        string resolved = Resolve(device);
        try
        {
            return resolved == "cuda"
                ? new CudaBackend(config, maxBatch, maxSeq, new CudaBackendOptions(settings.Recompute, settings.GeluFusion, settings.DeviceIndex, settings.ProcessGroup,
                    MasterWeights: settings.MasterWeights, Training: settings.Training))
                : new CpuBackend(config, maxBatch, maxSeq, settings.CpuThreads);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            // Shapes or settings this backend cannot run: one clear line, not a stack trace.
            throw new ToolException($"{resolved} backend: {e.Message}", e);
        }
    }
}
