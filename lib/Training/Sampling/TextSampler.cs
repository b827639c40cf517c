using LlmNet.Common.Text;
using LlmNet.Model;
using LlmNet.Model.Random;

namespace LlmNet.Training.Sampling;

/// <summary>How llm-sample draws tokens.</summary>
public sealed record SampleOptions
{
    public int MaxNewTokens { get; init; } = 64;
    /// <summary>Logits are divided by this; 0 means greedy (always the most likely token).</summary>
    public float Temperature { get; init; } = 1.0f;
    /// <summary>Sample only among the K most likely tokens; 0 = all.</summary>
    public int TopK { get; init; }
    public ulong Seed { get; init; } = LlmcSampler.SessionSeed;
    /// <summary>Stop after the model emits EOT (end of document).</summary>
    public bool StopAtEndOfText { get; init; } = true;
}

/// <summary>
/// Generation for llm-sample: temperature and top-k sampling with an xorshift coin, through the backend's
/// key/value-cache decoder when it has one (one layer pass per token) and full forward passes otherwise.
/// </summary>
public static class TextSampler
{
    /// <summary>Generates after <paramref name="prompt"/> (non-empty, normally EOT + encoded text); returns the new tokens.</summary>
    public static List<int> Generate(IGptBackend backend, ReadOnlySpan<int> prompt, SampleOptions options, Action<int> onToken, CancellationToken ct = default)
    {
        if (prompt.IsEmpty) throw new ArgumentException("the prompt must hold at least one token (EOT)", nameof(prompt));
        int maxT = backend.Config.MaxSeqLen;
        if (prompt.Length > maxT) throw new ArgumentException($"the prompt has {prompt.Length} tokens, more than the model's context of {maxT}");
        var rng = new XorShift(options.Seed);
        var logits = new float[backend.Config.VocabSize];
        var produced = new List<int>();
        var decoder = backend as IIncrementalDecoder;
        var sequence = new List<int>(prompt.ToArray());
        if (decoder is not null)
        {
            decoder.Reset();
            foreach (int token in prompt) decoder.Step(token, logits);
        }
        while (produced.Count < options.MaxNewTokens)
        {
            ct.ThrowIfCancellationRequested();
            if (decoder is null)
            {
                int length = sequence.Count;
                backend.Forward(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(sequence), ReadOnlySpan<int>.Empty, 1, length);
                backend.GetLogits(0, length - 1, logits);
            }
            int next = Pick(logits, options.Temperature, options.TopK, rng.NextFloat32());
            produced.Add(next);
            sequence.Add(next);
            onToken(next);
            if (options.StopAtEndOfText && next == Gpt2Tokenizer.EndOfText) break;
            if (sequence.Count >= maxT) break; // the context is full
            decoder?.Step(next, logits);
        }
        return produced;
    }

    /// <summary>
    /// Draws a token: softmax of logits/temperature (max subtracted, in double) restricted to the top K,
    /// then the first index whose cumulative probability exceeds <paramref name="coin"/>.
    /// </summary>
    public static int Pick(ReadOnlySpan<float> logits, float temperature, int topK, float coin)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
        if (temperature <= 0) return best;
        // Threshold for top-k: the k-th largest logit (ties at the threshold are all kept).
        float threshold = float.NegativeInfinity;
        if (topK > 0 && topK < logits.Length)
        {
            float[] sorted = logits.ToArray();
            Array.Sort(sorted);
            threshold = sorted[^topK];
        }
        double max = logits[best], sum = 0;
        for (int i = 0; i < logits.Length; i++)
            if (logits[i] >= threshold) sum += Math.Exp((logits[i] - max) / temperature);
        double target = coin * sum, cdf = 0;
        int last = best;
        for (int i = 0; i < logits.Length; i++)
        {
            if (logits[i] < threshold) continue;
            cdf += Math.Exp((logits[i] - max) / temperature);
            last = i;
            if (target < cdf) return i;
        }
        return last;
    }
}
