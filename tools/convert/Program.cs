using System.CommandLine;
using LlmNet.Common.Cli;
using LlmNet.Common.Text;
using LlmNet.Model.Checkpoints;
using LlmNet.Model.HuggingFace;

namespace LlmNet.Tools.Convert;

/// <summary>llm-convert: llm.c model files to and from Hugging Face GPT-2 folders, and llm.c's tokenizer file. See docs/convert.md.</summary>
public static class ConvertProgram
{
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>In-process entry point (tests): same as running the executable with <paramref name="args"/>.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error) => ToolRunner.Run("llm-convert", _ =>
    {
        var dtypeHelp = "element type of the output: fp32 or bf16 (default: the input's own precision)";
        var toModel = new Argument<string>("MODEL.bin") { Description = "llm.c model file (v3 fp32 or v5 bf16)" };
        var toOut = new Option<string>("--out", "-o") { Description = "folder to write (config.json, model.safetensors, vocab.json, merges.txt, tokenizer_config.json)", Required = true };
        var toDtype = new Option<string?>("--dtype") { Description = dtypeHelp };
        toDtype.AcceptOnlyFromAmong("fp32", "bf16");
        var toHf = new Command("to-hf", "Writes an llm.c model file as a Hugging Face GPT-2 folder that GPT2LMHeadModel and AutoTokenizer load offline.")
        {
            toModel, toOut, toDtype,
        };

        var fromDir = new Argument<string>("DIR") { Description = "Hugging Face GPT-2 folder (config.json + model.safetensors)" };
        var fromOut = new Option<string>("--out", "-o") { Description = "llm.c model file to write (v3 for fp32, v5 for bf16)", Required = true };
        var fromDtype = new Option<string?>("--dtype") { Description = dtypeHelp + "; fp16 weights default to fp32" };
        fromDtype.AcceptOnlyFromAmong("fp32", "bf16");
        var fromHf = new Command("from-hf", "Writes a Hugging Face GPT-2 folder (fp32, fp16 or bf16 safetensors, tied head) as an llm.c model file; padded vocabulary rows are zero.")
        {
            fromDir, fromOut, fromDtype,
        };

        var tokOut = new Option<string>("--out", "-o") { Description = "file to write", DefaultValueFactory = _ => "gpt2_tokenizer.bin" };
        var tokenizer = new Command("tokenizer", "Writes llm.c's tokenizer file (gpt2_tokenizer.bin, version 2), which llm.c's samplers decode with.")
        {
            tokOut,
        };

        var root = new RootCommand("llm-convert: llm.c model files to and from Hugging Face GPT-2 folders (safetensors), and llm.c's tokenizer file.")
        {
            toHf, fromHf, tokenizer,
        };
        var parsed = root.Parse(args);
        if (parsed.Action is System.CommandLine.Help.HelpAction)
        {
            parsed.Invoke(new InvocationConfiguration { Output = output });
            return ToolRunner.Ok;
        }
        if (parsed.Errors.Count > 0) throw new UsageException(parsed.Errors[0].Message);

        var command = parsed.CommandResult.Command;
        if (command == toHf)
        {
            string model = parsed.GetValue(toModel)!, dir = parsed.GetValue(toOut)!;
            if (!File.Exists(model)) throw new UsageException($"{model}: no such model file");
            TensorDtype? dtype = parsed.GetValue(toDtype) switch { "fp32" => TensorDtype.F32, "bf16" => TensorDtype.BF16, _ => null };
            HfModelFolder.Export(model, dir, dtype);
            output.WriteLine($"wrote {dir}: config.json, {HfModelFolder.WeightsFile}, {string.Join(", ", HfTokenizerFiles.FileNames)}");
        }
        else if (command == fromHf)
        {
            string dir = parsed.GetValue(fromDir)!, model = parsed.GetValue(fromOut)!;
            if (!Directory.Exists(dir)) throw new UsageException($"{dir}: no such folder");
            ModelDtype? dtype = parsed.GetValue(fromDtype) switch { "fp32" => ModelDtype.Fp32, "bf16" => ModelDtype.Bf16, _ => null };
            HfModelFolder.Import(dir, model, dtype);
            var (config, written) = ModelFile.ReadHeader(model);
            output.WriteLine($"wrote {model}: v{(int)written}, L={config.NumLayers} NH={config.NumHeads} C={config.Channels} maxT={config.MaxSeqLen} V={config.VocabSize} Vp={config.PaddedVocabSize}");
        }
        else if (command == tokenizer)
        {
            string path = parsed.GetValue(tokOut)!;
            LlmcTokenizerFile.Write(path);
            output.WriteLine($"wrote {path}: llm.c tokenizer v2, {Gpt2Tokenizer.VocabSize} tokens, EOT {Gpt2Tokenizer.EndOfText}");
        }
        else throw new UsageException("name a command: to-hf, from-hf or tokenizer");
        return ToolRunner.Ok;
    }, error);
}
