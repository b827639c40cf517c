namespace LlmNet.Cuda;

/// <summary>A failed CUDA driver, NVRTC or cuBLASLt call, or a missing CUDA library; the message names the call and the API's error name.</summary>
public sealed class CudaException(string message, string? error = null) : Exception(message)
{
    /// <summary>The API's error name (e.g. CUDA_ERROR_OUT_OF_MEMORY) when a call failed, else null.</summary>
    public string? Error => error;
}
