using System.CommandLine;
using LlmNet.Common.Cli;
using LlmNet.Common.Text;
using LlmNet.Cuda;
using LlmNet.Model;
using LlmNet.Training.Sampling;

namespace LlmNet.Tools.Sample;

/// <summary>llm-sample: generate text from a checkpoint, streaming tokens to stdout. See docs/train.md.</summary>
public static class SampleProgram
{
    public static int Main(string[] args) => Run(args, Console.Out);

    /// <summary>In-process entry point (tests): same as running the executable with <paramref name="args"/>.</summary>
    public static int Run(string[] args, TextWriter output)
    {
        args = ToolRunner.TakeVerboseFlag(args, out bool verbose);
        return ToolRunner.Run("llm-sample", ct => Sample(args, output, ct), Console.Error, args, verbose);
    }

    private static int Sample(string[] args, TextWriter output, CancellationToken ct)
    {
        var model = new Option<string>("--model", "--init", "-e") { Description = "model to sample from: an llm.c model file (.bin, fp32 v3 or bf16 v5) or a Hugging Face GPT-2 folder", Required = true };
        var prompt = new Option<string?>("--prompt", "-p") { Description = "text to continue (default: start a new document from EOT, as llm.c does)" };
        var count = new Option<int>("--gen-tokens", "-g") { Description = "number of tokens to generate", DefaultValueFactory = _ => 64 };
        var seed = new Option<ulong>("--seed") { Description = "xorshift seed of the sampler's coin", DefaultValueFactory = _ => LlmcSampler.SessionSeed };
        var temperature = new Option<float>("--temperature") { Description = "divide logits by this; 0 = greedy", DefaultValueFactory = _ => 1.0f };
        var topK = new Option<int>("--top-k") { Description = "sample only among the K most likely tokens (0 = all)", DefaultValueFactory = _ => 0 };
        var device = new Option<string>("--device") { Description = "cpu, cuda or auto", DefaultValueFactory = _ => "auto" };
        device.AcceptOnlyFromAmong("cpu", "cuda", "auto");
        var llmc = new Option<bool>("--llmc-sampler") { Description = "llm.c's exact sampler: coin state 1337, temperature 1, no top-k, full forward passes, no stop at EOT" };
        var keepGoing = new Option<bool>("--no-stop") { Description = "keep generating after an EOT token" };
        var command = new RootCommand("Generates text from a GPT-2 checkpoint, streaming it to stdout.")
        {
            model, prompt, count, seed, temperature, topK, device, llmc, keepGoing,
        };
        var parsed = command.Parse(args);
        if (parsed.Action is System.CommandLine.Help.HelpAction)
        {
            parsed.Invoke(new InvocationConfiguration { Output = output });
            return ToolRunner.Ok;
        }
        if (parsed.Errors.Count > 0) throw new UsageException(parsed.Errors[0].Message);

        string path = parsed.GetValue(model)!;
        int n = parsed.GetValue(count);
        if (n < 0) throw new UsageException($"--gen-tokens must be at least 0, got {n}");
        float temp = parsed.GetValue(temperature);
        if (!float.IsFinite(temp) || temp < 0)
            throw new UsageException($"--temperature {temp.ToString(System.Globalization.CultureInfo.InvariantCulture).ToLowerInvariant()}: must be a finite number ≥ 0 (0 = greedy)");
        if (parsed.GetValue(topK) < 0) throw new UsageException($"--top-k {parsed.GetValue(topK)}: must be at least 0 (0 = all tokens)");
        bool exact = parsed.GetValue(llmc);
        if (exact && (parsed.GetValue(temperature) != 1.0f || parsed.GetValue(topK) != 0))
            throw new UsageException("--llmc-sampler uses temperature 1 and no top-k; drop --temperature/--top-k");

        var loaded = LoadedModel.LoadSaved(path);
        var config = loaded.Config;
        var tokenizer = Gpt2Tokenizer.Shared;
        int[] context = [Gpt2Tokenizer.EndOfText, .. parsed.GetValue(prompt) is { } text ? tokenizer.Encode(text) : []];
        // The tokenizer's ids run to EOT (50256); a model with a smaller vocabulary cannot embed them and would
        // fail inside the forward pass, so say so before it starts.
        if (context.Max() is var highest && highest >= config.VocabSize)
            throw new ToolException($"{path}: the model's vocabulary has {config.VocabSize} ids, but GPT-2's tokenizer gives id {highest}" +
                (highest == Gpt2Tokenizer.EndOfText ? " (EOT, which starts every sample)" : " (in the prompt)") +
                ". Sample from a model with GPT-2's vocabulary of 50257 ids");
        if (context.Length >= config.MaxSeqLen)
            throw new UsageException($"the prompt is {context.Length - 1} tokens; the model's context holds {config.MaxSeqLen}");

        // Both samplers stop when the context is full; a longer -g is not an error but the user should know.
        int room = config.MaxSeqLen - context.Length;
        if (n > room)
            Console.Error.WriteLine($"llm-sample: note: -g {n} is capped at {room} new tokens: the model's context holds {config.MaxSeqLen} positions and the prompt (with EOT) takes {context.Length}");

        var writer = new TokenTextWriter(output);
        if (parsed.GetValue(prompt) is { } shown) output.Write(shown);
        if (exact)
        {
            // llm.c's sampling session: a genT-token buffer starting with EOT (+ the prompt), filled in place.
            int genT = Math.Min(context.Length + n, config.MaxSeqLen);
            using var backend = CreateBackend(loaded, parsed.GetValue(device)!, genT);
            LlmcSampler.Generate(backend, genT, genT, writer.Write, ct, context, parsed.GetValue(seed));
        }
        else
        {
            using var backend = CreateBackend(loaded, parsed.GetValue(device)!, config.MaxSeqLen, incremental: true);
            var options = new SampleOptions
            {
                MaxNewTokens = n,
                Temperature = parsed.GetValue(temperature),
                TopK = parsed.GetValue(topK),
                Seed = parsed.GetValue(seed),
                StopAtEndOfText = !parsed.GetValue(keepGoing),
            };
            TextSampler.Generate(backend, context, options, writer.Write, ct);
        }
        writer.Finish();
        output.WriteLine();
        return ToolRunner.Ok;
    }

    /// <summary>
    /// llm-sample's backend, for forward passes only, holding <paramref name="model"/>. With <paramref name="incremental"/>
    /// a backend that decodes through a key/value cache (the CPU's) needs full-sequence activations for one position only.
    /// </summary>
    private static IGptBackend CreateBackend(LoadedModel model, string device, int seqLen, bool incremental = false) =>
        model.CreateBackend(device, 1, incremental && Backends.Resolve(device) == "cpu" ? 1 : seqLen, new BackendOptions { Training = false });
}
