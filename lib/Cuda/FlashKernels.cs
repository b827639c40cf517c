namespace LlmNet.Cuda;

/// <summary>
/// Which tensor-core attention kernels (head size 64, lib/Cuda/Kernels/flash.cu) run the forward pass and dQ, and
/// how they are launched. Both come in two shapes that compute the same attention: m1 gives each warp 16 rows (64
/// per block, fewer registers, more blocks per multiprocessor), m2 gives it 32 (128 per block, each shared-memory
/// fragment feeds two mma). The dK/dV kernel has one shape. The default is the fastest pair measured on an H200
/// (docs/performance.md); <c>LLMNET_FLASH</c> overrides it as "forward,dq", each m1 or m2.
/// </summary>
public sealed record FlashKernels(string Forward, int ForwardRows, string Dq, int DqRows)
{
    public const string EnvironmentVariable = "LLMNET_FLASH";
    public const string DefaultSpec = "m2,m2";
    public const string Dkv = "flash_backward_dkv_64";

    /// <summary>Shared buffers each tile stream cycles through (FA_STAGES in flash.cu).</summary>
    public const int Stages = 3;
    private const int TileBytes = 64 * 72 * 2; // a padded 64 x 64 bf16 tile

    /// <summary>Dynamic shared memory of the forward and dQ kernels: a (K, V) tile pair per stage.</summary>
    public const int SharedBytes = Stages * 2 * TileBytes;

    /// <summary>Dynamic shared memory of the dK/dV kernel: a (Q, dO) tile pair and 64 lse and delta values per stage, plus the block's K and V rows.</summary>
    public const int DkvSharedBytes = Stages * 2 * TileBytes + Stages * 2 * 64 * 4 + 2 * TileBytes;

    public static FlashKernels Default { get; } = Parse(DefaultSpec);

    /// <summary>The pair named by <c>LLMNET_FLASH</c>, or <see cref="Default"/> when it is unset or empty.</summary>
    public static FlashKernels FromEnvironment()
    {
        string? spec = Environment.GetEnvironmentVariable(EnvironmentVariable);
        return string.IsNullOrWhiteSpace(spec) ? Default : Parse(spec);
    }

    public static FlashKernels Parse(string spec)
    {
        string[] parts = spec.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != 2)
            throw new ArgumentException($"{EnvironmentVariable}: expected \"forward,dq\" (e.g. {DefaultSpec}), got \"{spec}\"");
        int forwardRows = Rows("forward", parts[0]), dqRows = Rows("dq", parts[1]);
        return new FlashKernels($"flash_forward_64_{parts[0]}", forwardRows, $"flash_backward_dq_64_{parts[1]}", dqRows);

        static int Rows(string stage, string value) => value switch
        {
            "m1" => 64,
            "m2" => 128,
            _ => throw new ArgumentException($"{EnvironmentVariable}: unknown {stage} kernel \"{value}\" (m1 or m2)"),
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
        kernels.AllowSharedMemory(Dkv, DkvSharedBytes);
    }

    /// <summary>out (B,T,C) and lse (B,NH,T) from qkv (B,T,3C).</summary>
    public void LaunchForward(KernelModule k, ulong outp, ulong lse, ulong qkv, int B, int T, int nh) =>
        k.Launch(Forward, (CeilDiv(T, ForwardRows), B * nh), 128, SharedBytes, outp, lse, qkv, T, nh);

    /// <summary>dQ (and delta (B,NH,T) = rowsum(dout o out)) into dqkv (B,T,3C), from dout, the forward's out and lse.</summary>
    public void LaunchDq(KernelModule k, ulong dqkv, ulong delta, ulong dout, ulong qkv, ulong outp, ulong lse, int B, int T, int nh) =>
        k.Launch(Dq, (CeilDiv(T, DqRows), B * nh), 128, SharedBytes, dqkv, delta, dout, outp, qkv, lse, T, nh);

    /// <summary>dK and dV into dqkv, reading the delta that <see cref="LaunchDq"/> wrote.</summary>
    public static void LaunchDkv(KernelModule k, ulong dqkv, ulong delta, ulong dout, ulong qkv, ulong lse, int B, int T, int nh) =>
        k.Launch(Dkv, (CeilDiv(T, 64), B * nh), 128, DkvSharedBytes, dqkv, dout, qkv, lse, delta, T, nh);

    /// <summary>dqkv (B,T,3C) from dout, qkv, the forward's out and lse; delta (B,NH,T) is scratch.</summary>
    public void LaunchBackward(KernelModule k, ulong dqkv, ulong delta, ulong dout, ulong qkv, ulong outp, ulong lse, int B, int T, int nh)
    {
        LaunchDq(k, dqkv, delta, dout, qkv, outp, lse, B, T, nh);
        LaunchDkv(k, dqkv, delta, dout, qkv, lse, B, T, nh);
    }

    public override string ToString() => $"{Forward} / {Dq} / {Dkv}";

    private static int CeilDiv(long a, long b) => checked((int)((a + b - 1) / b));
}
