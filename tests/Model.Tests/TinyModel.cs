using LlmNet.Model.Random;
using static LlmNet.Model.ParameterTensor;

namespace LlmNet.Model.Tests;

/// <summary>A tiny GPT-2 shape (Vp &gt; V, several heads) and data for fast, exact tests.</summary>
internal static class TinyModel
{
    public static readonly GptConfig Config = new(MaxSeqLen: 8, VocabSize: 61, PaddedVocabSize: 64, NumLayers: 2, NumHeads: 4, Channels: 32);
    public const int B = 2, T = 8;

    /// <summary>Parameters with every tensor random (LayerNorm weights around 1), so every path carries signal; wte pad rows 0.</summary>
    public static float[] RandomParameters(GptConfig config, uint seed = 7, float std = 0.2f)
    {
        var layout = ParameterLayout.For(config);
        var p = new float[layout.Count];
        var rng = new Mt19937(seed);
        rng.FillNormal(p, 0, std);
        foreach (ParameterTensor ln in new[] { Ln1w, Ln2w, Lnfw })
            for (long i = 0; i < layout.Size(ln); i++) p[layout.Offset(ln) + i] += 1.0f;
        Array.Clear(p, (int)layout.Offset(Wte) + config.VocabSize * config.Channels, (config.PaddedVocabSize - config.VocabSize) * config.Channels);
        return p;
    }

    public static (int[] Inputs, int[] Targets) Batch(GptConfig config, int b, int t, uint seed = 3)
    {
        var rng = new Mt19937(seed);
        var inputs = new int[b * t];
        var targets = new int[b * t];
        for (int i = 0; i < inputs.Length; i++)
        {
            inputs[i] = (int)(rng.NextUInt32() % (uint)config.VocabSize);
            targets[i] = (int)(rng.NextUInt32() % (uint)config.VocabSize);
        }
        inputs[1] = inputs[0]; // a repeated token exercises the embedding-gradient accumulation
        return (inputs, targets);
    }
}
