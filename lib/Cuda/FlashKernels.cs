namespace LlmNet.Cuda;

/// <summary>
/// Which tensor-core attention kernels (head size 64, lib/Cuda/Kernels/flash.cu and flash_wgmma.cu) run the forward pass and dQ, and
/// how they are launched. Both come in two shapes that compute the same attention: m1 gives each warp 16 rows (64
/// per block, fewer registers, more blocks per multiprocessor), m2 gives it 32 (128 per block, each shared-memory
/// fragment feeds two mma). The dK/dV kernel has one mma.sync shape (m1). All three also come as w1: 64 rows per
/// block, the block's four warps as one warpgroup on Hopper's warpgroup MMA (wgmma), in modules compiled for sm_90a
/// only. The defaults are the fastest sets measured on an H200 (docs/performance.md): <see cref="WgmmaSpec"/> where
/// the module has the w1 kernels, <see cref="DefaultSpec"/> elsewhere. <c>LLMNET_FLASH</c> overrides them as
/// "forward,dq[,dkv]" (each m1, m2 or w1; dkv m1 or w1, m1 when left out).
/// </summary>
public sealed record FlashKernels(string Forward, int ForwardRows, string Dq, int DqRows, string Dkv)
{
    public const string EnvironmentVariable = "LLMNET_FLASH";
    public const string DefaultSpec = "m2,m2";
    public const string WgmmaSpec = "w1,w1,w1";

    /// <summary>Shared buffers each tile stream cycles through (FA_STAGES in flash.cu).</summary>
    public const int Stages = 3;
    private const int TileBytes = 64 * 72 * 2; // a padded 64 x 64 bf16 tile

    /// <summary>Dynamic shared memory of the forward and dQ kernels: a (K, V) tile pair per stage.</summary>
    public const int SharedBytes = Stages * 2 * TileBytes;

    /// <summary>Dynamic shared memory of the w1 forward: a swizzled (K, V) tile pair per stage, aligned to 1 KiB.</summary>
    public const int WgmmaSharedBytes = Stages * 2 * 64 * 128 + 1024;

    /// <summary>The wgmma kernels, present only in modules compiled for sm_90a.</summary>
    public const string WgmmaForward = "flash_forward_64_w1", WgmmaDq = "flash_backward_dq_64_w1", WgmmaDkv = "flash_backward_dkv_64_w1";

    private int ForwardSharedBytes => Forward == WgmmaForward ? WgmmaSharedBytes : SharedBytes;
    private int DqSharedBytes => Dq == WgmmaDq ? WgmmaSharedBytes : SharedBytes;

    /// <summary>Dynamic shared memory of the dK/dV kernel: a (Q, dO) tile pair and 64 lse and delta values per stage, plus the block's K and V rows.</summary>
    public const int DkvSharedBytes = Stages * 2 * TileBytes + Stages * 2 * 64 * 4 + 2 * TileBytes;

    /// <summary>The same for the w1 dK/dV kernel, whose swizzled tiles are unpadded and aligned to 1 KiB.</summary>
    public const int WgmmaDkvSharedBytes = Stages * 2 * 64 * 128 + 2 * 64 * 128 + Stages * 2 * 64 * 4 + 1024;

    private int DkvShared => Dkv == WgmmaDkv ? WgmmaDkvSharedBytes : DkvSharedBytes;

    /// <summary>Whether every kernel of this set exists in the module (the w1 kernels need sm_90a).</summary>
    public bool AvailableIn(KernelModule kernels) => kernels.Has(Forward) && kernels.Has(Dq) && kernels.Has(Dkv);

    public static FlashKernels Default { get; } = Parse(DefaultSpec);
    public static FlashKernels Wgmma { get; } = Parse(WgmmaSpec);

    /// <summary>The fastest set this module has: <see cref="Wgmma"/> when it was compiled for sm_90a, else <see cref="Default"/>.</summary>
    public static FlashKernels DefaultFor(KernelModule kernels) => Wgmma.AvailableIn(kernels) ? Wgmma : Default;

    /// <summary>The set named by <c>LLMNET_FLASH</c>, or <see cref="DefaultFor"/> the module when it is unset or empty.</summary>
    public static FlashKernels FromEnvironment(KernelModule kernels)
    {
        string? spec = Environment.GetEnvironmentVariable(EnvironmentVariable);
        return string.IsNullOrWhiteSpace(spec) ? DefaultFor(kernels) : Parse(spec);
    }

    public static FlashKernels Parse(string spec)
    {
        string[] parts = spec.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length is not (2 or 3))
            throw new ArgumentException($"{EnvironmentVariable}: expected \"forward,dq[,dkv]\" (e.g. {DefaultSpec}), got \"{spec}\"");
        int forwardRows = Rows("forward", parts[0]), dqRows = Rows("dq", parts[1]);
        string dkv = parts.Length == 3 ? parts[2] : "m1";
        if (dkv is not ("m1" or "w1"))
            throw new ArgumentException($"{EnvironmentVariable}: unknown dkv kernel \"{dkv}\" (m1 or w1)");
        return new FlashKernels($"flash_forward_64_{parts[0]}", forwardRows, $"flash_backward_dq_64_{parts[1]}", dqRows,
            dkv == "w1" ? WgmmaDkv : "flash_backward_dkv_64");

        static int Rows(string stage, string value) => value switch
        {
            "m1" or "w1" => 64,
            "m2" => 128,
            _ => throw new ArgumentException($"{EnvironmentVariable}: unknown {stage} kernel \"{value}\" (m1, m2 or w1)"),
        };
    }

    /// <summary>Raises the dynamic shared memory limit of every attention kernel above the default 48 KiB.</summary>
    public static void Prepare(KernelModule kernels)
    {
        foreach (string shape in new[] { "m1", "m2" })
        {
            kernels.AllowSharedMemory($"flash_forward_64_{shape}", SharedBytes);
            kernels.AllowSharedMemory($"flash_backward_dq_64_{shape}", SharedBytes);
        }
        kernels.AllowSharedMemory("flash_backward_dkv_64", DkvSharedBytes);
        foreach ((string name, int bytes) in new[] { (WgmmaForward, WgmmaSharedBytes), (WgmmaDq, WgmmaSharedBytes), (WgmmaDkv, WgmmaDkvSharedBytes) })
            if (kernels.Has(name)) kernels.AllowSharedMemory(name, bytes);
    }

    /// <summary>out (B,T,C) and lse (B,NH,T) from qkv (B,T,3C).</summary>
    public void LaunchForward(KernelModule k, ulong outp, ulong lse, ulong qkv, int B, int T, int nh) =>
        k.Launch(Forward, (CeilDiv(T, ForwardRows), B * nh), 128, ForwardSharedBytes, outp, lse, qkv, T, nh);

    /// <summary>dQ (and delta (B,NH,T) = rowsum(dout o out)) into dqkv (B,T,3C), from dout, the forward's out and lse.</summary>
    public void LaunchDq(KernelModule k, ulong dqkv, ulong delta, ulong dout, ulong qkv, ulong outp, ulong lse, int B, int T, int nh) =>
        k.Launch(Dq, (CeilDiv(T, DqRows), B * nh), 128, DqSharedBytes, dqkv, delta, dout, outp, qkv, lse, T, nh);

    /// <summary>dK and dV into dqkv, reading the delta that <see cref="LaunchDq"/> wrote.</summary>
    public void LaunchDkv(KernelModule k, ulong dqkv, ulong delta, ulong dout, ulong qkv, ulong lse, int B, int T, int nh) =>
        k.Launch(Dkv, (CeilDiv(T, 64), B * nh), 128, DkvShared, dqkv, dout, qkv, lse, delta, T, nh);

    /// <summary>dqkv (B,T,3C) from dout, qkv, the forward's out and lse; delta (B,NH,T) is scratch.</summary>
    public void LaunchBackward(KernelModule k, ulong dqkv, ulong delta, ulong dout, ulong qkv, ulong outp, ulong lse, int B, int T, int nh)
    {
        LaunchDq(k, dqkv, delta, dout, qkv, outp, lse, B, T, nh);
        LaunchDkv(k, dqkv, delta, dout, qkv, lse, B, T, nh);
    }

    public override string ToString() => $"{Forward} / {Dq} / {Dkv}";

    private static int CeilDiv(long a, long b) => checked((int)((a + b - 1) / b));
}
