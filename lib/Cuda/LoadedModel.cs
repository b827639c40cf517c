using LlmNet.Model;

namespace LlmNet.Cuda;

/// <summary>
/// A model read into memory as llm-train, llm-eval and llm-sample name it (--model, see <see cref="ModelSource"/>): its
/// parameters (fp32, llm.c's order), their shape and where they came from. The one way these tools load a model and
/// put it into a backend (<see cref="CreateBackend"/>); each tool words its own errors about the name.
/// </summary>
public sealed record LoadedModel(string Source, GptConfig Config, float[] Parameters)
{
    /// <summary>A model file, a Hugging Face GPT-2 folder, or a descriptor (d12, gpt3:c768) for llm.c's fresh seed-42 init.</summary>
    /// <exception cref="ArgumentException">neither a model file nor a descriptor; the message says both.</exception>
    /// <exception cref="LlmNet.Common.Formats.DataFormatException">a model file that is missing, truncated or of an unknown version.</exception>
    public static LoadedModel Load(string model)
    {
        float[] parameters = ModelSource.Load(model, out var config);
        return new(model, config, parameters);
    }

    /// <summary>A saved model only, no descriptor: an llm.c model file or a Hugging Face GPT-2 folder.</summary>
    public static LoadedModel LoadSaved(string path)
    {
        float[] parameters = ModelSource.LoadSaved(path, out var config);
        return new(path, config, parameters);
    }

    /// <summary>A backend on <paramref name="device"/> (<see cref="Backends.Create"/>) sized for (maxBatch, maxSeq) activations, holding these parameters.</summary>
    public IGptBackend CreateBackend(string device, int maxBatch, int maxSeq, BackendOptions? options = null)
    {
        var backend = Backends.Create(device, Config, maxBatch, maxSeq, options);
        try { backend.SetParameters(Parameters); }
        catch
        {
            backend.Dispose();
            throw;
        }
        return backend;
    }
}
