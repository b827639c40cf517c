#:project ../../lib/Training/LlmNet.Training.csproj
// Cross-check against llm.c's CPU reference trainer (train_gpt2.c). Not part of CI.
//
//   dotnet run LlmcCrosscheck.cs -- prepare DIR SHAKESPEARE_TXT
//       writes, with this repository's code, everything train_gpt2.c reads from its working directory:
//       gpt2_124M.bin (fresh d12, v3 fp32), gpt2_tokenizer.bin (v2) and
//       dev/data/tinyshakespeare/tiny_shakespeare_{train,val}.bin.
//   dotnet run LlmcCrosscheck.cs -- train DIR [STEPS] [THREADS]
//       replays train_gpt2.c's main loop on the CPU backend over the same files: the same shuffled batches,
//       AdamW(lr 1e-4, 0.9, 0.999, 1e-8, wd 0), val loss over 5 batches every 10 steps, and at steps 20 and 40
//       its sampler (softmax over the first V logits of row 0, sample_mult, xorshift seeded 1337 once per run).
//       Prints the lines train_gpt2.c prints (same format) and writes DIR/ours_final.bin.
using LlmNet.Common.Formats;
using LlmNet.Common.Text;
using LlmNet.Model;
using LlmNet.Model.Checkpoints;
using LlmNet.Model.Cpu;
using LlmNet.Model.Random;
using LlmNet.Training.Data;

if (args.Length < 2) { Console.Error.WriteLine("usage: prepare DIR SHAKESPEARE_TXT | train DIR [STEPS] [THREADS]"); return 2; }
string dir = args[1];
return args[0] switch
{
    "prepare" => Prepare(dir, args.Length > 2 ? args[2] : throw new ArgumentException("prepare needs the tinyshakespeare.txt path")),
    "train" => Train(dir, args.Length > 2 ? int.Parse(args[2]) : 40, args.Length > 3 ? int.Parse(args[3]) : 0),
    _ => 2,
};

static int Prepare(string dir, string shakespeare)
{
    var config = GptConfig.FromDescriptor("d12");
    Directory.CreateDirectory(dir);
    ModelFile.Write(Path.Combine(dir, "gpt2_124M.bin"), config, ModelDtype.Fp32, GptModel.CreateFresh(config));

    // tinyshakespeare.py's layout: split on blank lines, each section is EOT + tokens of the section with its
    // "\n\n" put back (all but the last); the first 32,768 tokens are val, the rest train.
    var tok = Gpt2Tokenizer.Shared;
    string[] sections = File.ReadAllText(shakespeare).Split("\n\n");
    var tokens = new List<int>();
    for (int i = 0; i < sections.Length; i++)
    {
        tokens.Add(Gpt2Tokenizer.EndOfText);
        tok.EncodeTo(i != sections.Length - 1 ? sections[i] + "\n\n" : sections[i], tokens);
    }
    ushort[] all = [.. tokens.Select(t => checked((ushort)t))];
    string data = Path.Combine(dir, "dev", "data", "tinyshakespeare");
    Directory.CreateDirectory(data);
    TokenShard.Write(Path.Combine(data, "tiny_shakespeare_val.bin"), all.AsSpan(0, 32768));
    TokenShard.Write(Path.Combine(data, "tiny_shakespeare_train.bin"), all.AsSpan(32768));
    Console.WriteLine($"tokens: val 32768, train {all.Length - 32768}");

    // gpt2_tokenizer.bin v2, the same writer as `llm-convert tokenizer` (docs/convert.md).
    LlmcTokenizerFile.Write(Path.Combine(dir, "gpt2_tokenizer.bin"));
    Console.WriteLine($"wrote {dir}: gpt2_124M.bin, gpt2_tokenizer.bin, dev/data/tinyshakespeare/*.bin");
    return 0;
}

static int Train(string dir, int steps, int threads)
{
    const int B = 4, T = 64, ValBatches = 5, GenT = 64;
    float[] init = ModelFile.Read(Path.Combine(dir, "gpt2_124M.bin"), out var config);
    using var backend = new CpuBackend(config, B, T, threads);
    backend.SetParameters(init);
    string data = Path.Combine(dir, "dev", "data", "tinyshakespeare");
    using var train = new DataLoader(Path.Combine(data, "tiny_shakespeare_train.bin"), B, T, 0, 1, shuffle: true);
    using var val = new DataLoader(Path.Combine(data, "tiny_shakespeare_val.bin"), B, T, 0, 1, shuffle: false);
    Console.WriteLine($"train dataset num_batches: {train.NumTokens / (B * T)}");
    Console.WriteLine($"val dataset num_batches: {val.NumTokens / (B * T)}");

    var tok = Gpt2Tokenizer.Shared;
    var rng = new XorShift(1337);
    var losses = new float[B * T];
    var logits = new float[config.VocabSize];
    var stdout = Console.OpenStandardOutput();
    for (int step = 0; step <= steps; step++)
    {
        if (step % 10 == 0)
        {
            float valLoss = 0f;
            val.Reset();
            for (int i = 0; i < ValBatches; i++)
            {
                val.NextBatch();
                valLoss += ForwardMeanLoss(backend, val.Inputs, val.Targets, losses, B, T);
            }
            valLoss /= ValBatches;
            Console.WriteLine($"val loss {valLoss:F6}");
        }
        if (step > 0 && step % 20 == 0)
        {
            var gen = new int[B * T];
            Array.Fill(gen, Gpt2Tokenizer.EndOfText);
            Console.Write("generating:\n---\n");
            Console.Out.Flush();
            var ids = new List<int>();
            var nearTies = new List<string>();
            for (int t = 1; t < GenT; t++)
            {
                backend.Forward(gen, ReadOnlySpan<int>.Empty, B, T);
                backend.GetLogits(0, t - 1, logits);
                (int next, float margin) = SampleMult(Softmax(logits), rng.NextFloat32());
                if (margin < 1e-6f) nearTies.Add($"{t}:{margin:E1}");
                gen[t] = next;
                ids.Add(next);
                SafeWrite(stdout, tok.TokenBytes(next));
            }
            Console.Write("\n---\n");
            Console.WriteLine($"generated ids: {string.Join(' ', ids)}");
            // With near-uniform probabilities a rounding-level change of the running sum moves the pick to a
            // neighbouring id; list the tokens whose coin lay within 1e-6 of an edge of the chosen id's cdf interval.
            Console.WriteLine($"near-tie sampling calls (token:distance): {(nearTies.Count == 0 ? "none" : string.Join(' ', nearTies))}");
        }
        if (step == steps) break; // the last iteration only evaluates
        var started = System.Diagnostics.Stopwatch.StartNew();
        train.NextBatch();
        float loss = ForwardMeanLoss(backend, train.Inputs, train.Targets, losses, B, T);
        backend.ZeroGradients();
        backend.Backward(1.0f / (B * T));
        backend.Update(new AdamWStep(1e-4f, 0.9f, 0.999f, 1e-8f, 0.0f, 1.0f, step + 1));
        Console.WriteLine($"step {step}: train loss {loss:F6} (took {started.Elapsed.TotalMilliseconds:F6} ms)");
    }
    var final = new float[ParameterLayout.For(config).Count];
    backend.GetParameters(final);
    ModelFile.Write(Path.Combine(dir, "ours_final.bin"), config, ModelDtype.Fp32, final);
    return 0;
}

// The forward pass with targets; the mean is taken as train_gpt2.c does, a float sum over B·T losses.
static float ForwardMeanLoss(CpuBackend backend, int[] inputs, int[] targets, float[] losses, int b, int t)
{
    backend.Forward(inputs, targets, b, t);
    backend.GetLosses(losses);
    float sum = 0f;
    foreach (float l in losses) sum += l;
    return sum / (b * t);
}

// train_gpt2.c's softmax_forward for one position: max over V, float exp-sum, then divide.
static float[] Softmax(float[] logits)
{
    float max = -10000.0f;
    foreach (float l in logits) if (l > max) max = l;
    var probs = new float[logits.Length];
    float sum = 0f;
    for (int i = 0; i < logits.Length; i++) { probs[i] = MathF.Exp(logits[i] - max); sum += probs[i]; }
    for (int i = 0; i < probs.Length; i++) probs[i] /= sum;
    return probs;
}

// sample_mult, also returning how far the coin lay from the nearer edge of the chosen id's cdf interval.
static (int Index, float Margin) SampleMult(float[] probs, float coin)
{
    float cdf = 0f;
    for (int i = 0; i < probs.Length; i++)
    {
        float before = cdf;
        cdf += probs[i];
        if (coin < cdf) return (i, MathF.Min(coin - before, cdf - coin));
    }
    return (probs.Length - 1, 0f);
}

// safe_printf: a single-byte token that is neither printable nor whitespace is skipped.
static void SafeWrite(Stream stdout, byte[] piece)
{
    if (piece.Length == 1 && !(piece[0] is >= 0x20 and < 0x7f || piece[0] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\v' or (byte)'\f' or (byte)'\r'))
        return;
    Console.Out.Flush();
    stdout.Write(piece);
    stdout.Flush();
}
