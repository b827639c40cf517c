namespace LlmNet.Cuda;

/// <summary>A failed CUDA driver, NVRTC or cuBLASLt call, or a missing CUDA library; the message names the call and the API's error name.</summary>
public sealed class CudaException(string message) : Exception(message);
