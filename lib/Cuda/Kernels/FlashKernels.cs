using static LlmNet.Cuda.KernelGrid;

namespace LlmNet.Cuda;

/// <summary>
/// Which tensor-core attention kernels (head size 64, lib/Cuda/Kernels/flash.cu and flash_wgmma.cu) run the forward
/// pass, dQ and dK/dV, and how they are launched. There are two sets, and each module runs the fastest it has
/// (docs/performance.md): <see cref="Wgmma"/> where it was compiled for sm_90a, <see cref="MmaSync"/> elsewhere.
/// The mma.sync forward and dQ kernels give each warp 32 rows (two m-tiles, 128 rows per block, so each shared-memory
/// fragment feeds two mma); the wgmma kernels give a block 64 rows, its four warps as one warpgroup on Hopper's
/// warpgroup MMA.
/// </summary>
public sealed record FlashKernels(string Forward, int ForwardRows, string Dq, int DqRows, string Dkv)
{
    // The sizes below mirror flash.cu's and flash_wgmma.cu's #defines; KernelDefinesTests checks that they agree.

    /// <summary>Head size of every kernel of both sets (FA_D in flash.cu).</summary>
    public const int HeadSize = 64;

    /// <summary>Shared buffers each tile stream cycles through (FA_STAGES in flash.cu).</summary>
    public const int Stages = 3;

    /// <summary>bf16 elements of a padded shared-memory tile row (FA_LD in flash.cu).</summary>
    public const int PaddedRow = 72;

    /// <summary>Bytes of a padded 64 x 64 bf16 tile (FA_TILE * 2 in flash.cu).</summary>
    private const int TileBytes = 64 * PaddedRow * 2;

    /// <summary>Bytes of a 128-byte-swizzled 64 x 64 bf16 tile of the wgmma kernels (FA_SW_TILE_BYTES in flash_wgmma.cu).</summary>
    public const int SwizzledTileBytes = 64 * 128;

    /// <summary>Dynamic shared memory of the mma.sync forward and dQ kernels: a (K, V) tile pair per stage.</summary>
    public const int SharedBytes = Stages * 2 * TileBytes;

    /// <summary>
    /// Dynamic shared memory of the wgmma forward and dQ kernels: a swizzled (K, V) tile pair per stage, aligned to
    /// 1 KiB (FLASH_W1_SMEM in flash_wgmma.cu).
    /// </summary>
    public const int WgmmaSharedBytes = Stages * 2 * SwizzledTileBytes + 1024;

    /// <summary>The wgmma kernels, present only in modules compiled for sm_90a.</summary>
    public const string WgmmaForward = "flash_forward_64_w1", WgmmaDq = "flash_backward_dq_64_w1", WgmmaDkv = "flash_backward_dkv_64_w1";

    /// <summary>The mma.sync kernels, present in every module.</summary>
    public const string MmaSyncForward = "flash_forward_64_m2", MmaSyncDq = "flash_backward_dq_64_m2", MmaSyncDkv = "flash_backward_dkv_64";

    private int ForwardSharedBytes => Forward == WgmmaForward ? WgmmaSharedBytes : SharedBytes;
    private int DqSharedBytes => Dq == WgmmaDq ? WgmmaSharedBytes : SharedBytes;

    /// <summary>
    /// Dynamic shared memory of the mma.sync dK/dV kernel: a (Q, dO) tile pair and 64 lse and delta values per stage,
    /// plus the block's K and V rows (FLASH_DKV_SMEM in flash.cu).
    /// </summary>
    public const int DkvSharedBytes = Stages * 2 * TileBytes + Stages * 2 * 64 * 4 + 2 * TileBytes;

    /// <summary>
    /// The same for the wgmma dK/dV kernel, whose swizzled tiles are unpadded and aligned to 1 KiB (FLASH_DKV_W1_SMEM
    /// in flash_wgmma.cu).
    /// </summary>
    public const int WgmmaDkvSharedBytes = Stages * 2 * SwizzledTileBytes + 2 * SwizzledTileBytes + Stages * 2 * 64 * 4 + 1024;

    private int DkvShared => Dkv == WgmmaDkv ? WgmmaDkvSharedBytes : DkvSharedBytes;

    /// <summary>Whether every kernel of this set exists in the module (the wgmma kernels need sm_90a).</summary>
    public bool AvailableIn(KernelModule kernels) => kernels.Has(Forward) && kernels.Has(Dq) && kernels.Has(Dkv);

    /// <summary>The mma.sync kernels (any sm_80+ GPU).</summary>
    public static FlashKernels MmaSync { get; } = new(MmaSyncForward, 128, MmaSyncDq, 128, MmaSyncDkv);

    /// <summary>The wgmma kernels (compute capability 9.0, modules compiled for sm_90a).</summary>
    public static FlashKernels Wgmma { get; } = new(WgmmaForward, 64, WgmmaDq, 64, WgmmaDkv);

    /// <summary>The fastest set this module has: <see cref="Wgmma"/> when it was compiled for sm_90a, else <see cref="MmaSync"/>.</summary>
    public static FlashKernels For(KernelModule kernels) => Wgmma.AvailableIn(kernels) ? Wgmma : MmaSync;

    /// <summary>Raises the dynamic shared memory limit of every attention kernel above the default 48 KiB.</summary>
    public static void Prepare(KernelModule kernels)
    {
        kernels.AllowSharedMemory(MmaSyncForward, SharedBytes);
        kernels.AllowSharedMemory(MmaSyncDq, SharedBytes);
        kernels.AllowSharedMemory(MmaSyncDkv, DkvSharedBytes);
        foreach ((string name, int bytes) in new[] { (WgmmaForward, WgmmaSharedBytes), (WgmmaDq, WgmmaSharedBytes), (WgmmaDkv, WgmmaDkvSharedBytes) })
            if (kernels.Has(name)) kernels.AllowSharedMemory(name, bytes);
    }

    /// <summary>
    /// flash.cu flash_forward_64_m2 or flash_wgmma.cu flash_forward_64_w1: out (B,T,C) and lse (B,NH,T) from qkv (B,T,3C)
    /// (llm.c llmc/cudnn_att.cpp: attention_forward_cudnn, whose cuDNN kernels do this job there).
    /// </summary>
    public void LaunchForward(KernelModule k, ulong outp, ulong lse, ulong qkv, int B, int T, int nh) =>
        k.Launch(Forward, (CeilDiv(T, ForwardRows), B * nh), 128, ForwardSharedBytes, outp, lse, qkv, T, nh);

    /// <summary>
    /// flash.cu flash_backward_dq_64_m2 or flash_wgmma.cu flash_backward_dq_64_w1: dQ (and delta (B,NH,T) =
    /// rowsum(dout o out)) into dqkv (B,T,3C), from dout, the forward's out and lse.
    /// </summary>
    public void LaunchDq(KernelModule k, ulong dqkv, ulong delta, ulong dout, ulong qkv, ulong outp, ulong lse, int B, int T, int nh) =>
        k.Launch(Dq, (CeilDiv(T, DqRows), B * nh), 128, DqSharedBytes, dqkv, delta, dout, outp, qkv, lse, T, nh);

    /// <summary>
    /// flash.cu flash_backward_dkv_64 or flash_wgmma.cu flash_backward_dkv_64_w1: dK and dV into dqkv, reading the delta
    /// that <see cref="LaunchDq"/> wrote.
    /// </summary>
    public void LaunchDkv(KernelModule k, ulong dqkv, ulong delta, ulong dout, ulong qkv, ulong lse, int B, int T, int nh) =>
        k.Launch(Dkv, (CeilDiv(T, 64), B * nh), 128, DkvShared, dqkv, dout, qkv, lse, delta, T, nh);

    /// <summary>
    /// dqkv (B,T,3C) from dout, qkv, the forward's out and lse; delta (B,NH,T) is scratch (llm.c llmc/cudnn_att.cpp:
    /// attention_backward_cudnn).
    /// </summary>
    public void LaunchBackward(KernelModule k, ulong dqkv, ulong delta, ulong dout, ulong qkv, ulong outp, ulong lse, int B, int T, int nh)
    {
        LaunchDq(k, dqkv, delta, dout, qkv, outp, lse, B, T, nh);
        LaunchDkv(k, dqkv, delta, dout, qkv, lse, B, T, nh);
    }

    public override string ToString() => $"{Forward} / {Dq} / {Dkv}";
}
