using LlmNet.Common.Formats;
using LlmNet.Common.IO;
using LlmNet.Common.Text;
using LlmNet.Model.Checkpoints;

namespace LlmNet.Model.HuggingFace;

/// <summary>
/// A Hugging Face GPT-2 folder (config.json + model.safetensors + tokenizer files), to and from llm.c's model file:
/// what llm.c's dev/eval/export_hf.py does, in both directions. Tensors stream through memory-mapped files in
/// chunks, so even a d48 model (6.2 GB in fp32) is never held twice.
/// </summary>
public static class HfModelFolder
{
    public const string WeightsFile = "model.safetensors";
    private static readonly Dictionary<string, string> s_metadata = new() { ["format"] = "pt" };

    /// <summary>Writes <paramref name="modelFile"/> as an HF folder; <paramref name="dtype"/> null keeps the file's precision.</summary>
    public static void Export(string modelFile, string outDir, TensorDtype? dtype = null)
    {
        var (config, fileDtype) = ModelFile.ReadHeader(modelFile);
        var stored = dtype ?? (fileDtype == ModelDtype.Bf16 ? TensorDtype.BF16 : TensorDtype.F32);
        var slices = HfGpt2Names.Slices(ParameterLayout.For(config));
        Directory.CreateDirectory(outDir);
        using (var map = MappedFile.Open(modelFile))
        {
            MappedTensor parameters;
            unsafe { parameters = new MappedTensor(map.Pointer + ModelFile.HeaderBytes, fileDtype == ModelDtype.Fp32 ? TensorDtype.F32 : TensorDtype.BF16); }
            SafeTensorsWriter.Write(Path.Combine(outDir, WeightsFile), [.. slices.Select(s => new TensorSpec(s.Name, stored, s.Shape))], s_metadata,
                (i, start, destination) =>
                {
                    var s = slices[i];
                    var tensor = parameters.Skip(s.Offset);
                    if (s.Transposed) tensor.ReadTransposed(s.LlmcShape[0], s.LlmcShape[1], start, destination);
                    else tensor.Read(start, destination);
                });
        }
        HfGpt2Config.Write(outDir, config, stored);
        HfTokenizerFiles.Write(outDir, config.MaxSeqLen);
    }

    /// <summary>Writes the HF folder <paramref name="dir"/> as an llm.c model file; <paramref name="dtype"/> null: v5 if the weights are bf16, else v3.</summary>
    public static void Import(string dir, string modelFile, ModelDtype? dtype = null)
    {
        var config = HfGpt2Config.Read(dir);
        using var weights = OpenWeights(dir);
        var source = Source(weights, config, out var stored);
        ModelFile.Write(modelFile, config, dtype ?? (stored == TensorDtype.BF16 ? ModelDtype.Bf16 : ModelDtype.Fp32), source);
    }

    /// <summary>The parameters of the HF folder <paramref name="dir"/> as fp32 in llm.c's order, padded wte rows zero.</summary>
    public static float[] Read(string dir, out GptConfig config)
    {
        config = HfGpt2Config.Read(dir);
        long n = ParameterLayout.For(config).Count;
        string path = Path.Combine(dir, WeightsFile);
        if (n > Array.MaxLength) throw new DataFormatException(path, $"{n} parameters do not fit one host array", "Convert it with llm-convert from-hf first");
        using var weights = OpenWeights(dir);
        var source = Source(weights, config, out _);
        var parameters = new float[n];
        const int chunk = 1 << 20;
        for (long offset = 0; offset < n; offset += chunk)
            source(offset, parameters.AsSpan((int)offset, (int)Math.Min(chunk, n - offset)));
        return parameters;
    }

    private static SafeTensorsFile OpenWeights(string dir)
    {
        string path = Path.Combine(dir, WeightsFile);
        if (!File.Exists(path))
        {
            string why = File.Exists(Path.Combine(dir, WeightsFile + ".index.json")) ? "the weights are sharded (model.safetensors.index.json), which is not read"
                : File.Exists(Path.Combine(dir, "pytorch_model.bin")) ? "only pytorch_model.bin is there, which is not read"
                : "not found";
            throw new DataFormatException(path, why, "Save the model with save_pretrained(dir, safe_serialization=True, max_shard_size=\"100GB\")");
        }
        return SafeTensorsFile.Open(path);
    }

    /// <summary>
    /// Checks that <paramref name="weights"/> holds every GPT-2 tensor of <paramref name="config"/> with the right shape
    /// (names with or without the transformer. prefix) and a head tied to wte, and returns a reader of llm.c's buffer.
    /// </summary>
    private static ParameterChunkSource Source(SafeTensorsFile weights, GptConfig config, out TensorDtype stored)
    {
        var layout = ParameterLayout.For(config);
        var slices = HfGpt2Names.Slices(layout);
        var tensors = new MappedTensor[slices.Count];
        bool allBf16 = true;
        for (int i = 0; i < slices.Count; i++)
        {
            var s = slices[i];
            var entry = Find(weights, s.Name)
                ?? throw new DataFormatException(weights.Path, $"has no tensor {s.Name} (nor {s.Name[HfGpt2Names.Prefix.Length..]})", "Use a complete GPT-2 model saved by save_pretrained");
            if (!entry.Shape.SequenceEqual(s.Shape))
                throw new DataFormatException(weights.Path, $"tensor {entry.Name} has shape [{string.Join(", ", entry.Shape)}] but config.json's GPT-2 (L={config.NumLayers} C={config.Channels} V={config.VocabSize} maxT={config.MaxSeqLen}) needs [{string.Join(", ", s.Shape)}]", "Use the config.json saved with these weights");
            tensors[i] = weights.Tensor(entry);
            allBf16 &= tensors[i].Dtype == TensorDtype.BF16;
        }
        stored = allBf16 ? TensorDtype.BF16 : TensorDtype.F32;
        if (weights.Tensors.TryGetValue(HfGpt2Names.LmHead, out var head)) CheckTied(weights, head, tensors[0], slices[0]);

        long[] ends = [.. slices.Select((s, i) => i + 1 < slices.Count ? slices[i + 1].Offset : layout.Count)];
        return (offset, destination) =>
        {
            int i = slices.Count - 1;
            while (slices[i].Offset > offset) i--;
            while (destination.Length > 0)
            {
                var s = slices[i];
                long within = offset - s.Offset;
                int n;
                if (within < s.Count)
                {
                    n = (int)Math.Min(destination.Length, s.Count - within);
                    if (s.Transposed) tensors[i].ReadTransposed(s.Shape[0], s.Shape[1], within, destination[..n]);
                    else tensors[i].Read(within, destination[..n]);
                }
                else
                {
                    n = (int)Math.Min(destination.Length, ends[i] - offset); // wte's padded rows: zero, as llm.c's train_gpt2.py pad_vocab writes them
                    destination[..n].Clear();
                }
                offset += n;
                destination = destination[n..];
                if (offset == ends[i] && i + 1 < slices.Count) i++;
            }
        };
    }

    private static SafeTensorsFile.Entry? Find(SafeTensorsFile weights, string name) =>
        weights.Tensors.TryGetValue(name, out var e) ? e
        : weights.Tensors.TryGetValue(name[HfGpt2Names.Prefix.Length..], out e) ? e : null;

    /// <summary>llm.c computes logits with wte itself, so a separate head is only accepted when it equals wte bit for bit.</summary>
    private static void CheckTied(SafeTensorsFile weights, SafeTensorsFile.Entry head, MappedTensor wte, HfTensorSlice wteSlice)
    {
        const string fix = "llm.c ties the output head to wte; convert a model with tie_word_embeddings true";
        if (!head.Shape.SequenceEqual(wteSlice.Shape))
            throw new DataFormatException(weights.Path, $"lm_head.weight has shape [{string.Join(", ", head.Shape)}], unlike wte [{string.Join(", ", wteSlice.Shape)}]: an untied head", fix);
        var lm = weights.Tensor(head);
        var a = new float[1 << 16];
        var b = new float[1 << 16];
        for (long start = 0; start < wteSlice.Count; start += a.Length)
        {
            int n = (int)Math.Min(a.Length, wteSlice.Count - start);
            wte.Read(start, a.AsSpan(0, n));
            lm.Read(start, b.AsSpan(0, n));
            if (!a.AsSpan(0, n).SequenceEqual(b.AsSpan(0, n)))
                throw new DataFormatException(weights.Path, "lm_head.weight differs from wte: the head is untied", fix);
        }
    }
}
