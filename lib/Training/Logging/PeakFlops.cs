namespace LlmNet.Training.Logging;

/// <summary>
/// Promised dense bf16 tensor-core TFLOPs of known GPUs, for MFU (llm.c llmc/mfu.h: get_flops_promised). llm.c scales
/// an architecture's base figure by cores and clock; the same figures are tabulated here, plus the H200 (same compute
/// as the H100 SXM), which llm.c's table lacks.
/// </summary>
public static class PeakFlops
{
    // (name, architecture bf16 base TFLOPs, base tensor cores, base MHz, this GPU's cores, MHz)
    private static readonly (string Name, double Base, int BaseCores, int BaseMhz, int Cores, int Mhz)[] Gpus =
    [
        ("NVIDIA A100-PCIE-40GB", 312, 432, 1410, 432, 1410),
        ("NVIDIA A100-PCIE-80GB", 312, 432, 1410, 432, 1410),
        ("NVIDIA A100-SXM4-40GB", 312, 432, 1410, 432, 1410),
        ("NVIDIA A100-SXM4-80GB", 312, 432, 1410, 432, 1410),
        ("NVIDIA RTX A2000", 80, 336, 1860, 104, 1200),
        ("NVIDIA RTX A4000", 80, 336, 1860, 192, 1560),
        ("NVIDIA RTX A4500", 80, 336, 1860, 224, 1650),
        ("NVIDIA RTX A5000", 80, 336, 1860, 256, 1695),
        ("NVIDIA RTX A5500", 80, 336, 1860, 320, 1770),
        ("NVIDIA RTX A6000", 80, 336, 1860, 336, 1800),
        ("NVIDIA GeForce RTX 3090 Ti", 80, 336, 1860, 336, 1860),
        ("NVIDIA GeForce RTX 3090", 80, 336, 1860, 328, 1695),
        ("NVIDIA GeForce RTX 3080 Ti", 80, 336, 1860, 320, 1665),
        ("NVIDIA GeForce RTX 3080", 80, 336, 1860, 272, 1710),
        ("NVIDIA GeForce RTX 3070 Ti", 80, 336, 1860, 192, 1770),
        ("NVIDIA GeForce RTX 3070", 80, 336, 1860, 184, 1725),
        ("NVIDIA GeForce RTX 3060 Ti", 80, 336, 1860, 152, 1665),
        ("NVIDIA GeForce RTX 3060", 80, 336, 1860, 112, 1777),
        ("NVIDIA RTX A2000 ADA", 165.2, 512, 2520, 88, 2130),
        ("NVIDIA RTX A4000 ADA", 165.2, 512, 2520, 192, 2175),
        ("NVIDIA RTX A4500 ADA", 165.2, 512, 2520, 224, 2580),
        ("NVIDIA RTX A5000 ADA", 165.2, 512, 2520, 400, 2550),
        ("NVIDIA RTX A5880 ADA", 165.2, 512, 2520, 440, 2460),
        ("NVIDIA RTX A6000 ADA", 165.2, 512, 2520, 568, 2505),
        ("NVIDIA GeForce RTX 4090", 165.2, 512, 2520, 512, 2520),
        ("NVIDIA GeForce RTX 4080 SUPER", 165.2, 512, 2520, 320, 2550),
        ("NVIDIA GeForce RTX 4080", 165.2, 512, 2520, 304, 2505),
        ("NVIDIA GeForce RTX 4070 Ti SUPER", 165.2, 512, 2520, 264, 2610),
        ("NVIDIA GeForce RTX 4070 Ti", 165.2, 512, 2520, 240, 2610),
        ("NVIDIA GeForce RTX 4070 SUPER", 165.2, 512, 2520, 224, 2475),
        ("NVIDIA GeForce RTX 4070", 165.2, 512, 2520, 184, 2475),
        ("NVIDIA GeForce RTX 4060 Ti", 165.2, 512, 2520, 136, 2535),
        ("NVIDIA GeForce RTX 4060", 165.2, 512, 2520, 96, 2460),
        ("NVIDIA H100 PCIe", 756, 456, 1620, 456, 1620),
        ("NVIDIA H100 80GB HBM3", 756, 456, 1620, 528, 1830),
        // Not in llm.c's table: same SMs and clocks as the H100 SXM.
        ("NVIDIA H200", 756, 456, 1620, 528, 1830),
        ("NVIDIA H200 NVL", 756, 456, 1620, 528, 1830),
    ];

    /// <summary>bf16 TFLOPs for a CUDA device name, or null when the GPU is unknown (or not a GPU).</summary>
    public static double? Bf16Tflops(string deviceName)
    {
        foreach (var g in Gpus)
            if (g.Name == deviceName) return g.Base * g.Cores / g.BaseCores * g.Mhz / g.BaseMhz;
        return null;
    }

    /// <summary>
    /// Model FLOPs utilisation: flops/token · tokens / seconds over the peak, or −1 when the peak is unknown
    /// (llm.c then prints −100.0%).
    /// </summary>
    public static double Mfu(double flopsPerToken, long tokens, double seconds, double? peakTflops) =>
        peakTflops is double peak ? flopsPerToken * tokens / seconds / (peak * 1e12) : -1;
}
