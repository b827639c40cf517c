using LlmNet.Model.Random;
using static LlmNet.Model.ParameterTensor;

namespace LlmNet.Model;

/// <summary>
/// Fresh GPT-2 parameters, initialised exactly as llm.c does for a model descriptor (train_gpt2.cu:
/// gpt_build_from_descriptor).
/// </summary>
public static class GptModel
{
    public const uint InitSeed = 42;
    public const float InitStd = 0.02f;

    /// <summary>A new fp32 parameter buffer (llm.c order) holding the seed-42 initialisation.</summary>
    public static float[] CreateFresh(GptConfig config)
    {
        var layout = ParameterLayout.For(config);
        if (layout.Count > Array.MaxLength) throw new ArgumentException($"{layout.Count} parameters do not fit one host array", nameof(config));
        var parameters = new float[layout.Count];
        InitializeFresh(config, parameters);
        return parameters;
    }

    /// <summary>
    /// Writes the fresh initialisation into <paramref name="parameters"/> (length N). One mt19937(42) stream,
    /// one normal_ call per tensor in torch's module order: wte's first V rows, wpe, then for each layer
    /// qkvw, attprojw, fcw, fcprojw. The two residual projections use std 0.02/√(2L); LayerNorm weights are 1;
    /// biases and wte's pad rows are 0.
    /// </summary>
    public static void InitializeFresh(GptConfig config, Span<float> parameters)
    {
        var layout = ParameterLayout.For(config);
        if (parameters.Length != layout.Count) throw new ArgumentException($"expected {layout.Count} parameters, got {parameters.Length}", nameof(parameters));
        parameters.Clear();
        Span<float> Tensor(Span<float> all, ParameterTensor t) => all.Slice((int)layout.Offset(t), (int)layout.Size(t));
        Span<float> LayerSlice(Span<float> all, ParameterTensor t, int l) => all.Slice((int)layout.LayerOffset(t, l), (int)layout.PerLayerSize(t));

        var rng = new Mt19937(InitSeed);
        int c = config.Channels;
        // llm.c forms the scale as 0.02f * (1/sqrtf(2L)); the same fp32 steps keep the std bit-identical.
        float residualScale = 1.0f / MathF.Sqrt(2.0f * config.NumLayers);
        float residualStd = InitStd * residualScale;
        rng.FillNormal(Tensor(parameters, Wte)[..(config.VocabSize * c)], 0, InitStd);
        rng.FillNormal(Tensor(parameters, Wpe), 0, InitStd);
        for (int l = 0; l < config.NumLayers; l++)
        {
            rng.FillNormal(LayerSlice(parameters, Qkvw, l), 0, InitStd);
            rng.FillNormal(LayerSlice(parameters, Attprojw, l), 0, residualStd);
            rng.FillNormal(LayerSlice(parameters, Fcw, l), 0, InitStd);
            rng.FillNormal(LayerSlice(parameters, Fcprojw, l), 0, residualStd);
        }
        Tensor(parameters, Ln1w).Fill(1);
        Tensor(parameters, Ln2w).Fill(1);
        Tensor(parameters, Lnfw).Fill(1);
    }
}
