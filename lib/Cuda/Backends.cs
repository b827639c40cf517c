using LlmNet.Common.Cli;
using LlmNet.Model;
using LlmNet.Model.Cpu;

namespace LlmNet.Cuda;

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
    public static IGptBackend Create(string device, GptConfig config, int maxBatch, int maxSeq, BackendOptions? options = null)
    {
        options ??= new BackendOptions();
        string resolved = Resolve(device);
        try
        {
            return resolved == "cuda"
                ? new CudaBackend(config, maxBatch, maxSeq, options)
                : new CpuBackend(config, maxBatch, maxSeq, options.CpuThreads, rank: options.ProcessGroup?.Rank ?? 0);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            // Shapes or settings this backend cannot run: one clear line, not a stack trace.
            throw new ToolException($"{resolved} backend: {e.Message}", e);
        }
    }
}
