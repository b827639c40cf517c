namespace LlmNet.Cuda;

/// <summary>Grid arithmetic shared by the kernel launchers beside the .cu files.</summary>
internal static class KernelGrid
{
    /// <summary>Blocks of <paramref name="perBlock"/> that cover <paramref name="items"/> (a grid dimension is an int).</summary>
    public static int CeilDiv(long items, long perBlock) => checked((int)((items + perBlock - 1) / perBlock));
}
