using LlmNet.Model;

namespace LlmNet.Cuda;

/// <summary>
/// Options of <see cref="CudaBackend"/>, with llm.c's meanings.
/// Recompute (-r): 0 keeps every activation, 1 (default) recomputes GELU in backward, 2 also recomputes the LayerNorms.
/// GeluFusion (-ge): 0 separate GELU kernels, 1 GELU in the fc matmul's epilogue, 2 also dGELU in the fcproj backward
/// matmul; -1 picks llm.c's default (2 on sm_90 and newer, else 0).
/// DeviceIndex: the GPU ordinal; -1 means the process group's local rank.
/// ProcessGroup: one process (null) or a <see cref="CudaProcessGroup"/> whose communicator averages the gradients.
/// ZeroStage (-z): 0 or 1 with several processes (others fall back to 0 with a note); -1 takes the stage the
/// <see cref="CudaProcessGroup"/> was joined with.
/// MasterWeights (-w): true (default) keeps an fp32 copy of the parameters (of this process's ZeRO shard) that AdamW
/// updates; false allocates none, and AdamW reads the bf16 parameters and rounds its result back into them.
/// Training: true (default) allocates gradients, AdamW state and backward scratch; false makes an inference-only
/// backend (evaluation, sampling) that allocates none of them, whose training calls throw InvalidOperationException.
/// </summary>
public sealed record CudaBackendOptions(int Recompute = 1, int GeluFusion = -1, int DeviceIndex = -1, IProcessGroup? ProcessGroup = null,
    int ZeroStage = -1, bool MasterWeights = true, bool Training = true);
