using System.Security.Cryptography;
using System.Text.Json;
using FluentAssertions;
using LlmNet.Common.Text;
using LlmNet.Model;
using LlmNet.Model.Checkpoints;
using LlmNet.Model.HuggingFace;
using LlmNet.Tools.Convert;
using Xunit;
using static LlmNet.Model.ParameterTensor;

namespace LlmNet.Convert.Tests;

public sealed class ConvertTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmnet-convert-").FullName;
    private static readonly GptConfig D6 = GptConfig.FromDescriptor("d6");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Random d6 parameters with llm.c's zero pad rows in wte.</summary>
    private static float[] RandomD6()
    {
        var layout = ParameterLayout.For(D6);
        var p = new float[layout.Count];
        var rng = new Random(17);
        for (int i = 0; i < p.Length; i++) p[i] = (float)(rng.NextDouble() * 2 - 1);
        p.AsSpan((int)((long)D6.VocabSize * D6.Channels), (int)((long)(D6.PaddedVocabSize - D6.VocabSize) * D6.Channels)).Clear();
        return p;
    }

    private (int Code, string Out, string Err) Convert(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = ConvertProgram.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private string ExportD6(float[] p)
    {
        string bin = Path.Combine(_dir, "model.bin"), hf = Path.Combine(_dir, "hf");
        ModelFile.Write(bin, D6, ModelDtype.Fp32, p);
        Convert("to-hf", bin, "--out", hf).Code.Should().Be(0);
        return hf;
    }

    [Fact]
    public void V3_ToHf_AndBack_IsBitIdentical()
    {
        float[] p = RandomD6();
        string hf = ExportD6(p);
        string back = Path.Combine(_dir, "back.bin");
        var r = Convert("from-hf", hf, "--out", back);
        r.Code.Should().Be(0, r.Err);
        ModelFile.ReadHeader(back).Should().Be((D6, ModelDtype.Fp32));
        float[] q = ModelFile.Read(back, out _);
        q.Select(BitConverter.SingleToInt32Bits).SequenceEqual(p.Select(BitConverter.SingleToInt32Bits)).Should().BeTrue();
        File.ReadAllBytes(back).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(_dir, "model.bin"))).Should().BeTrue();
        // The tools' -e/--model read the folder directly.
        ModelSource.Load(hf, out var config).Should().Equal(p);
        config.Should().Be(D6);
    }

    [Fact]
    public void Export_HasHfNamesConv1DShapesAndGpt2Config()
    {
        float[] p = RandomD6();
        string hf = ExportD6(p);
        using (var st = SafeTensorsFile.Open(Path.Combine(hf, "model.safetensors")))
        {
            st.Metadata["format"].Should().Be("pt");
            st.Tensors.Should().HaveCount(4 + 12 * 6);
            st.Tensors.Should().NotContainKey("lm_head.weight");
            st.Tensors["transformer.wte.weight"].Shape.Should().Equal(50257, 384);
            st.Tensors["transformer.wpe.weight"].Shape.Should().Equal(1024, 384);
            st.Tensors["transformer.h.0.attn.c_attn.weight"].Shape.Should().Equal(384, 1152);
            st.Tensors["transformer.h.5.mlp.c_proj.weight"].Shape.Should().Equal(1536, 384);
            st.Tensors["transformer.h.5.mlp.c_fc.bias"].Shape.Should().Equal(1536);
            st.Tensors["transformer.ln_f.bias"].Dtype.Should().Be("F32");
            // Conv1D is [in, out]: HF c_attn.weight[i, o] is llm.c qkvw[o, i] (layer 0).
            var layout = ParameterLayout.For(D6);
            var entry = st.Tensors["transformer.h.0.attn.c_attn.weight"];
            var t = st.Tensor(entry);
            t[3 * 1152 + 700].Should().Be(p[layout.Offset(Qkvw) + 700 * 384 + 3]);
        }
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(hf, "config.json")));
        var root = config.RootElement;
        root.GetProperty("model_type").GetString().Should().Be("gpt2");
        root.GetProperty("n_layer").GetInt32().Should().Be(6);
        root.GetProperty("n_head").GetInt32().Should().Be(6);
        root.GetProperty("n_embd").GetInt32().Should().Be(384);
        root.GetProperty("n_positions").GetInt32().Should().Be(1024);
        root.GetProperty("vocab_size").GetInt32().Should().Be(50257);
        root.GetProperty("activation_function").GetString().Should().Be("gelu_new");
        root.GetProperty("tie_word_embeddings").GetBoolean().Should().BeTrue();
    }

    [Fact]
    public void Bf16Export_RoundsToNearestEven_AndImportsAsV5()
    {
        float[] p = RandomD6();
        string bin = Path.Combine(_dir, "model.bin"), hf = Path.Combine(_dir, "hf"), back = Path.Combine(_dir, "back.bin");
        ModelFile.Write(bin, D6, ModelDtype.Fp32, p);
        Convert("to-hf", bin, "--out", hf, "--dtype", "bf16").Code.Should().Be(0);
        Convert("from-hf", hf, "--out", back).Code.Should().Be(0);
        ModelFile.ReadHeader(back).Dtype.Should().Be(ModelDtype.Bf16);
        ModelFile.Read(back, out _).Should().Equal(p.Select(LlmNet.Model.Numerics.Bf16.Round));
    }

    [Fact]
    public void Import_AcceptsNamesWithoutPrefix_Fp16_AndATiedHead()
    {
        float[] p = RandomD6();
        string hf = ExportD6(p);
        string weights = Path.Combine(hf, "model.safetensors");
        var slices = HfGpt2Names.Slices(ParameterLayout.For(D6));
        // Rewrite as transformers' hub files look: no prefix, fp16, with lm_head.weight equal to wte.
        using (var st = SafeTensorsFile.Open(weights))
        {
            var names = slices.Select(s => s.Name[HfGpt2Names.Prefix.Length..]).Append(HfGpt2Names.LmHead).ToList();
            var specs = names.Select((n, i) => new TensorSpec(n, TensorDtype.F16, i < slices.Count ? slices[i].Shape : slices[0].Shape)).ToList();
            var tensors = slices.Select(s => st.Tensor(st.Tensors[s.Name])).Append(st.Tensor(st.Tensors[slices[0].Name])).ToList();
            SafeTensorsWriter.Write(weights + ".new", specs, new Dictionary<string, string>(), (i, start, d) => tensors[i].Read(start, d));
        }
        File.Move(weights + ".new", weights, overwrite: true);
        string back = Path.Combine(_dir, "back.bin");
        var r = Convert("from-hf", hf, "--out", back);
        r.Code.Should().Be(0, r.Err);
        ModelFile.Read(back, out _).Should().Equal(p.Select(x => (float)(Half)x));
    }

    [Fact]
    public void BadFolders_GiveOneLineNamingTheFile()
    {
        string hf = ExportD6(RandomD6());
        string weights = Path.Combine(hf, "model.safetensors"), config = Path.Combine(hf, "config.json");
        byte[] good = File.ReadAllBytes(weights);
        string goodConfig = File.ReadAllText(config);

        void ExpectError(string fragment, string file)
        {
            var r = Convert("from-hf", hf, "--out", Path.Combine(_dir, "x.bin"));
            r.Code.Should().Be(1);
            r.Err.TrimEnd('\n').Should().NotContain("\n").And.Contain(file).And.Contain(fragment);
            File.Exists(Path.Combine(_dir, "x.bin")).Should().BeFalse();
        }

        File.WriteAllBytes(weights, good[..(good.Length / 2)]);
        ExpectError("truncated", weights);

        File.WriteAllBytes(weights, good);
        File.WriteAllText(config, goodConfig.Replace("\"n_layer\": 6", "\"n_layer\": 7"));
        ExpectError("has no tensor transformer.h.6.ln_1.weight", weights);

        File.WriteAllText(config, goodConfig.Replace("\"n_positions\": 1024", "\"n_positions\": 512"));
        ExpectError("has shape [1024, 384]", weights);

        File.WriteAllText(config, goodConfig.Replace("\"model_type\": \"gpt2\"", "\"model_type\": \"llama\""));
        ExpectError("model_type is 'llama'", config);
    }

    [Fact]
    public void TokenizerFile_IsLlmcsV2File()
    {
        string path = Path.Combine(_dir, "gpt2_tokenizer.bin");
        Convert("tokenizer", "--out", path).Code.Should().Be(0);
        byte[] bytes = File.ReadAllBytes(path);
        bytes.Length.Should().Be(372_108); // docs/interop.md
        System.Convert.ToHexStringLower(SHA256.HashData(bytes)).Should().Be("6f3abc21e444e4e8300e225f4e03da48ea121cf17e30f67009b8dad7a66c2f13");
    }

    [Fact]
    public void HfTokenizerFiles_HoldGpt2sVocabularyAndMerges()
    {
        string hf = ExportD6(RandomD6());
        string[] merges = File.ReadAllLines(Path.Combine(hf, "merges.txt"));
        merges[0].Should().Be("#version: 0.2");
        merges.Length.Should().Be(1 + 50000);
        merges[1].Should().Be("Ġ t"); // rank 256 is " t"
        using var vocab = JsonDocument.Parse(File.ReadAllText(Path.Combine(hf, "vocab.json")));
        vocab.RootElement.EnumerateObject().Count().Should().Be(50257);
        vocab.RootElement.GetProperty("<|endoftext|>").GetInt32().Should().Be(50256);
        vocab.RootElement.GetProperty("!").GetInt32().Should().Be(0);
        vocab.RootElement.GetProperty("Ġthe").GetInt32().Should().Be(Gpt2Tokenizer.Shared.Encode(" the").Single());
    }

    [Fact]
    public void Help_NamesTheThreeCommands()
    {
        var r = Convert("--help");
        r.Code.Should().Be(0);
        r.Out.Should().Contain("to-hf").And.Contain("from-hf").And.Contain("tokenizer");
    }
}
