namespace LlmNet.Model;

/// <summary>
/// The shape of a GPT-2 model, exactly as llm.c's model-file header records it (slots 2..7).
/// </summary>
public sealed record GptConfig(int MaxSeqLen, int VocabSize, int PaddedVocabSize, int NumLayers, int NumHeads, int Channels)
{
    public const int Gpt2VocabSize = 50257;
    public const int Gpt2PaddedVocabSize = 50304;

    public int HeadSize => Channels / NumHeads;

    /// <summary>
    /// Parses llm.c's model descriptors: "dN" or "gpt2:dN" (N in 6,12,24,36,48,60,72,84; maxT 1024)
    /// and "gpt3:cN" (maxT 2048). Throws <see cref="ArgumentException"/> with the accepted forms otherwise.
    /// </summary>
    public static GptConfig FromDescriptor(string descriptor)
    {
        string d = descriptor.StartsWith("gpt2:", StringComparison.Ordinal) ? descriptor[5..] : descriptor;
        if (d.StartsWith('d') && int.TryParse(d.AsSpan(1), out int depth))
        {
            (int c, int nh) = depth switch
            {
                6 => (384, 6),
                12 => (768, 12),
                24 => (1024, 16),
                36 => (1280, 20),
                48 => (1600, 25),
                60 => (1920, 30),
                72 => (2880, 30),
                84 => (3456, 36),
                _ => throw new ArgumentException($"unsupported GPT-2 depth d{depth}: use d6, d12, d24, d36, d48, d60, d72 or d84"),
            };
            return new GptConfig(1024, Gpt2VocabSize, Gpt2PaddedVocabSize, depth, nh, c);
        }
        if (descriptor.StartsWith("gpt3:c", StringComparison.Ordinal) && int.TryParse(descriptor.AsSpan(6), out int channels))
        {
            (int layers, int headSize) = channels switch
            {
                384 => (6, 64),
                768 => (12, 64),
                1024 => (24, 64),
                1536 => (24, 96),
                2048 => (24, 128),
                2560 => (32, 80),
                4096 => (32, 128),
                12288 => (96, 128),
                _ => throw new ArgumentException($"unsupported GPT-3 width c{channels}: use c384, c768, c1024, c1536, c2048, c2560, c4096 or c12288"),
            };
            return new GptConfig(2048, Gpt2VocabSize, Gpt2PaddedVocabSize, layers, channels / headSize, channels);
        }
        throw new ArgumentException($"unknown model descriptor '{descriptor}': expected a .bin checkpoint path, dN (e.g. d12, d48) or gpt3:cN (e.g. gpt3:c768)");
    }

    /// <summary>FLOPs per token for MFU: 6·N + 6·L·C·T, as llm.c counts them.</summary>
    public double FlopsPerToken(int seqLen) => 6.0 * ParameterLayout.For(this).Count + 6.0 * NumLayers * Channels * seqLen;
}
