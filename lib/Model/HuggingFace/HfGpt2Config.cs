using System.Text.Json;
using System.Text.Json.Nodes;
using LlmNet.Common.Formats;
using LlmNet.Common.IO;

namespace LlmNet.Model.HuggingFace;

/// <summary>
/// config.json of a Hugging Face GPT-2 folder, mapped to and from llm.c's header fields (maxT = n_positions,
/// V = vocab_size, L = n_layer, NH = n_head, C = n_embd; Vp = V rounded up to a multiple of 128, as llm.c's
/// train_gpt2.py pads it). Only configurations that compute what llm.c computes are accepted: tanh GELU, a 4·C
/// MLP, layernorm epsilon 1e-5 and tied input/output embeddings.
/// </summary>
public static class HfGpt2Config
{
    public const string FileName = "config.json";

    public static GptConfig Read(string dir)
    {
        string path = Path.Combine(dir, FileName);
        const string fix = "Use a GPT-2 folder saved by transformers' save_pretrained or llm-convert to-hf";
        if (!File.Exists(path)) throw new DataFormatException(path, "not found; a Hugging Face model folder holds config.json and model.safetensors", fix);
        JsonObject json;
        try { json = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new JsonException("not a JSON object"); }
        catch (JsonException e) { throw new DataFormatException(path, $"not valid JSON ({e.Message.Split('\n')[0].TrimEnd('.')})", fix); }

        string modelType = Str(json, "model_type") ?? "(none)";
        if (modelType != "gpt2")
            throw new DataFormatException(path, $"model_type is '{modelType}', not 'gpt2'; llm.c's model is GPT-2 only", "Convert a GPT-2 architecture model");
        int Int(string key, string? fallback = null)
        {
            JsonNode? node = json[key] ?? (fallback is null ? null : json[fallback]);
            try { return node?.GetValue<int>() ?? throw new DataFormatException(path, $"has no {key}", fix); }
            catch (Exception e) when (e is FormatException or InvalidOperationException) { throw new DataFormatException(path, $"{key} is not an integer", fix); }
        }
        int layers = Int("n_layer"), heads = Int("n_head"), channels = Int("n_embd"), positions = Int("n_positions", "n_ctx"), vocab = Int("vocab_size");
        if (layers <= 0 || heads <= 0 || channels <= 0 || positions <= 0 || vocab <= 0 || channels % heads != 0)
            throw new DataFormatException(path, $"implausible shape (n_layer={layers} n_head={heads} n_embd={channels} n_positions={positions} vocab_size={vocab})", fix);

        string activation = Str(json, "activation_function") ?? "gelu_new";
        if (activation is not ("gelu_new" or "gelu_pytorch_tanh"))
            throw new DataFormatException(path, $"activation_function is '{activation}'; llm.c computes the tanh GELU (gelu_new)", "Convert a model trained with gelu_new");
        if (json["n_inner"] is { } inner && inner.GetValue<int>() != 4 * channels)
            throw new DataFormatException(path, $"n_inner is {inner}; llm.c's MLP is 4·n_embd = {4 * channels} wide", "Convert a model with n_inner null or 4·n_embd");
        if (json["layer_norm_epsilon"] is { } eps && Math.Abs(eps.GetValue<double>() - 1e-5) > 1e-12)
            throw new DataFormatException(path, $"layer_norm_epsilon is {eps}; llm.c's layernorm uses 1e-5", "Convert a model with layer_norm_epsilon 1e-5");
        if (json["tie_word_embeddings"] is { } tie && !tie.GetValue<bool>())
            throw new DataFormatException(path, "tie_word_embeddings is false; llm.c ties lm_head to wte and cannot hold a separate head", "Convert a model with tied embeddings");
        if (json["scale_attn_by_inverse_layer_idx"] is { } scaled && scaled.GetValue<bool>())
            throw new DataFormatException(path, "scale_attn_by_inverse_layer_idx is true; llm.c's attention scales by 1/√head_size only", "Convert a model without it");
        return new GptConfig(positions, vocab, (vocab + 127) / 128 * 128, layers, heads, channels);
    }

    /// <summary>Writes config.json for GPT2LMHeadModel, atomically.</summary>
    public static void Write(string dir, GptConfig config, TensorDtype dtype)
    {
        var json = new JsonObject
        {
            ["architectures"] = new JsonArray("GPT2LMHeadModel"),
            ["model_type"] = "gpt2",
            ["vocab_size"] = config.VocabSize,
            ["n_positions"] = config.MaxSeqLen,
            ["n_ctx"] = config.MaxSeqLen,
            ["n_embd"] = config.Channels,
            ["n_layer"] = config.NumLayers,
            ["n_head"] = config.NumHeads,
            ["n_inner"] = null,
            ["activation_function"] = "gelu_new",
            ["layer_norm_epsilon"] = 1e-5,
            ["initializer_range"] = 0.02,
            // llm.c trains without dropout.
            ["resid_pdrop"] = 0.0,
            ["embd_pdrop"] = 0.0,
            ["attn_pdrop"] = 0.0,
            ["scale_attn_weights"] = true,
            ["tie_word_embeddings"] = true,
            ["bos_token_id"] = 50256,
            ["eos_token_id"] = 50256,
            ["torch_dtype"] = dtype == TensorDtype.BF16 ? "bfloat16" : "float32",
            ["use_cache"] = true,
        };
        string text = json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
        AtomicFile.Write(Path.Combine(dir, FileName), s => s.Write(System.Text.Encoding.UTF8.GetBytes(text)));
    }

    private static string? Str(JsonObject json, string key)
    {
        try { return json[key]?.GetValue<string>(); }
        catch (InvalidOperationException) { return null; }
    }
}
