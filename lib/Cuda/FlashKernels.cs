namespace LlmNet.Cuda;

/// <summary>
/// Which tensor-core attention kernels (head size 64) run the forward pass, dQ and dK/dV, and how they are
/// launched. Every combination computes the same attention (bf16 inputs, fp32 accumulation); they differ in rows per
/// warp, register use and where K/V live, which trades occupancy against instruction count. The default is the
/// fastest combination measured on an H200 (docs/performance.md); <c>LLMNET_FLASH</c> overrides it for benchmarks as
/// "forward,dq,dkv" with forward and dq each one of v1, m1, m2 and dkv one of v1, reg, kvs.
/// </summary>
public sealed record FlashKernels(string Forward, int ForwardRows, string Dq, int DqRows, bool DqWritesDelta, string Dkv, int DkvSharedBytes)
{
    public const string EnvironmentVariable = "LLMNET_FLASH";
    public const string DefaultSpec = "m2,m2,kvs";

    /// <summary>Dynamic shared memory of flash2_backward_dkv_64_kvs: Q, dO, lse, delta double buffers plus K and V rows.</summary>
    public const int DkvKvSharedBytes = 4 * 64 * 72 * 2 + 4 * 64 * 4 + 2 * 64 * 72 * 2;

    public static FlashKernels Default { get; } = Parse(DefaultSpec);

    /// <summary>The set named by <c>LLMNET_FLASH</c>, or <see cref="Default"/> when it is unset or empty.</summary>
    public static FlashKernels FromEnvironment()
    {
        string? spec = Environment.GetEnvironmentVariable(EnvironmentVariable);
        return string.IsNullOrWhiteSpace(spec) ? Default : Parse(spec);
    }

    public static FlashKernels Parse(string spec)
    {
        string[] parts = spec.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != 3)
            throw new ArgumentException($"{EnvironmentVariable}: expected \"forward,dq,dkv\" (e.g. {DefaultSpec}), got \"{spec}\"");
        (string forward, int forwardRows) = parts[0] switch
        {
            "v1" => ("flash_forward_64", 64),
            "m1" => ("flash2_forward_64_m1", 64),
            "m2" => ("flash2_forward_64_m2", 128),
            _ => throw Bad("forward", parts[0], "v1, m1, m2"),
        };
        (string dq, int dqRows, bool delta) = parts[1] switch
        {
            "v1" => ("flash_backward_dq_64", 64, false),
            "m1" => ("flash2_backward_dq_64_m1", 64, true),
            "m2" => ("flash2_backward_dq_64_m2", 128, true),
            _ => throw Bad("dq", parts[1], "v1, m1, m2"),
        };
        (string dkv, int shared) = parts[2] switch
        {
            "v1" => ("flash_backward_dkv_64", 0),
            "reg" => ("flash2_backward_dkv_64", 0),
            "kvs" => ("flash2_backward_dkv_64_kvs", DkvKvSharedBytes),
            _ => throw Bad("dkv", parts[2], "v1, reg, kvs"),
        };
        return new FlashKernels(forward, forwardRows, dq, dqRows, delta, dkv, shared);

        static ArgumentException Bad(string stage, string value, string allowed) =>
            new($"{EnvironmentVariable}: unknown {stage} kernel \"{value}\" (one of {allowed})");
    }

    /// <summary>Raises the dynamic shared memory limit of the kernels that need more than the default 48 KiB.</summary>
    public void Prepare(KernelModule kernels)
    {
        if (DkvSharedBytes > 0) kernels.AllowSharedMemory(Dkv, DkvSharedBytes);
    }

    /// <summary>out (B,T,C) and lse (B,NH,T) from qkv (B,T,3C).</summary>
    public void LaunchForward(KernelModule k, ulong outp, ulong lse, ulong qkv, int B, int T, int nh) =>
        k.Launch(Forward, (CeilDiv(T, ForwardRows), B * nh), 128, 0, outp, lse, qkv, T, nh);

    /// <summary>dqkv (B,T,3C) from dout, qkv, the forward's out and lse; delta (B,NH,T) is scratch.</summary>
    public void LaunchBackward(KernelModule k, ulong dqkv, ulong delta, ulong dout, ulong qkv, ulong outp, ulong lse, int B, int T, int nh)
    {
        if (DqWritesDelta)
            k.Launch(Dq, (CeilDiv(T, DqRows), B * nh), 128, 0, dqkv, delta, dout, outp, qkv, lse, T, nh);
        else
        {
            k.Launch("attention_backward_delta", (CeilDiv((long)B * nh * T, 256), 1), 256, 0, delta, dout, outp, B, T, nh, 64);
            k.Launch(Dq, (CeilDiv(T, DqRows), B * nh), 128, 0, dqkv, dout, qkv, lse, delta, T, nh);
        }
        k.Launch(Dkv, (CeilDiv(T, 64), B * nh), 128, DkvSharedBytes, dqkv, dout, qkv, lse, delta, T, nh);
    }

    public override string ToString() => $"{Forward} / {Dq} / {Dkv}";

    private static int CeilDiv(long a, long b) => checked((int)((a + b - 1) / b));
}
