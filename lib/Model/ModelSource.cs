using LlmNet.Model.Checkpoints;
using LlmNet.Model.HuggingFace;

namespace LlmNet.Model;

/// <summary>
/// What the tools accept as "the model" (llm-train's -e, llm-eval's --model): a path ending in .bin is a model file
/// (llm.c v3 fp32 or v5 bf16), llm.c's rule; otherwise a descriptor such as d12 (<see cref="GptConfig.FromDescriptor"/>)
/// means a fresh seed-42 init, anything else that names an existing file is read as a model file too, and a folder is
/// read as a Hugging Face GPT-2 folder (config.json + model.safetensors; docs/convert.md).
/// </summary>
public static class ModelSource
{
    public static bool IsFile(string model) =>
        model.EndsWith(".bin", StringComparison.Ordinal) || (!IsDescriptor(model) && File.Exists(model));

    /// <summary>The parameters (fp32, llm.c order) and shape of <paramref name="model"/>.</summary>
    /// <exception cref="ArgumentException">neither a model file nor a descriptor; the message says both.</exception>
    /// <exception cref="LlmNet.Common.Formats.DataFormatException">a model file that is missing, truncated or of an unknown version.</exception>
    public static float[] Load(string model, out GptConfig config)
    {
        if (IsFile(model) || (!IsDescriptor(model) && Directory.Exists(model))) return LoadSaved(model, out config);
        try { config = GptConfig.FromDescriptor(model); }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{model}: no such model file, and not a model descriptor ({e.Message})", e);
        }
        return GptModel.CreateFresh(config);
    }

    /// <summary>A saved model only (no descriptor): an llm.c model file, or a Hugging Face GPT-2 folder.</summary>
    public static float[] LoadSaved(string path, out GptConfig config) =>
        Directory.Exists(path) ? HfModelFolder.Read(path, out config) : ModelFile.Read(path, out config);

    private static bool IsDescriptor(string model)
    {
        try
        {
            GptConfig.FromDescriptor(model);
            return true;
        }
        catch (ArgumentException) { return false; }
    }
}
