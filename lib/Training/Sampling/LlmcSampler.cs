using System.Text;
using LlmNet.Common.Text;
using LlmNet.Model;
using LlmNet.Model.Random;

namespace LlmNet.Training.Sampling;

/// <summary>
/// llm.c's sampler (train_gpt2.cu main's generation block, llmc/sampler.h: sample_softmax), reproduced exactly: a fresh
/// xorshift state of 1337 per session, a buffer of EOT tokens, a full forward pass per new token (batch 1, length
/// rounded up to a multiple of min(T, 256)), and sample_softmax over the first V logits at temperature 1.
/// </summary>
public static class LlmcSampler
{
    public const ulong SessionSeed = 1337;

    /// <summary>
    /// sample_softmax: the normaliser is a double sum of expf(logit) without subtracting the max, the coin
    /// is scaled by it, and the first index whose running float sum exceeds the coin wins (else the last).
    /// </summary>
    public static int SampleSoftmax(ReadOnlySpan<float> logits, float coin)
    {
        double norm = 0;
        for (int i = 0; i < logits.Length; i++) norm += MathF.Exp(logits[i]);
        coin = (float)(coin * norm);
        float cdf = 0f;
        for (int i = 0; i < logits.Length; i++)
        {
            cdf += MathF.Exp(logits[i]);
            if (coin < cdf) return i;
        }
        return logits.Length - 1;
    }

    /// <summary>
    /// Fills the sequence up to genT tokens after an initial EOT (llm.c), or after <paramref name="prefix"/>
    /// (which should itself start with EOT), calling <paramref name="onToken"/> for each new token.
    /// <paramref name="seqLen"/> is the training T (the forward length is derived from it as llm.c does).
    /// Returns the whole sequence, prefix included.
    /// </summary>
    public static int[] Generate(IGptBackend backend, int seqLen, int genT, Action<int> onToken, CancellationToken ct = default,
        ReadOnlySpan<int> prefix = default, ulong seed = SessionSeed)
    {
        if (genT - 1 > seqLen) throw new ArgumentOutOfRangeException(nameof(genT), $"genT {genT} exceeds the sequence length {seqLen} + 1");
        if (prefix.Length > seqLen) throw new ArgumentOutOfRangeException(nameof(prefix), $"the prompt of {prefix.Length} tokens exceeds the sequence length {seqLen}");
        var rng = new XorShift(seed);
        var tokens = new int[Math.Max(seqLen, genT)]; // llm.c's buffer is B·T long, so genT may reach T + 1
        Array.Fill(tokens, Gpt2Tokenizer.EndOfText);
        prefix.CopyTo(tokens);
        var logits = new float[backend.Config.VocabSize];
        int chunk = Math.Min(seqLen, 256);
        for (int t = Math.Max(prefix.Length, 1); t < genT; t++)
        {
            ct.ThrowIfCancellationRequested();
            // llm.c rounds the length up to a multiple of min(T, 256); causality makes the logits at t−1
            // independent of that length, so capping it at T changes nothing but avoids overrunning T.
            int length = Math.Min((t + chunk - 1) / chunk * chunk, seqLen);
            backend.Forward(tokens.AsSpan(0, length), ReadOnlySpan<int>.Empty, 1, length);
            backend.GetLogits(0, t - 1, logits);
            float coin = rng.NextFloat32();
            int next = SampleSoftmax(logits, coin);
            tokens[t] = next;
            onToken(next);
        }
        return tokens[..Math.Max(genT, Math.Max(prefix.Length, 1))];
    }
}

/// <summary>
/// Streams tokens as text: bytes are decoded incrementally, so a character split across tokens comes
/// out whole. Like llm.c's safe_printf, a lone non-printable control byte is skipped.
/// </summary>
public sealed class TokenTextWriter(TextWriter output)
{
    private readonly Decoder _decoder = new UTF8Encoding(false).GetDecoder();
    private readonly char[] _chars = new char[1024];

    public void Write(int token)
    {
        byte[] bytes = Gpt2Tokenizer.Shared.TokenBytes(token);
        if (bytes.Length == 1 && IsUnprintableControl(bytes[0])) return;
        int n = _decoder.GetChars(bytes, 0, bytes.Length, _chars, 0, flush: false);
        output.Write(_chars, 0, n);
        output.Flush();
    }

    /// <summary>Emits any incomplete character left at the end.</summary>
    public void Finish()
    {
        int n = _decoder.GetChars([], 0, 0, _chars, 0, flush: true);
        output.Write(_chars, 0, n);
        output.Flush();
    }

    // isprint || isspace in the C locale: 0x20..0x7e and \t \n \v \f \r; bytes ≥ 0x80 are parts of UTF-8.
    private static bool IsUnprintableControl(byte b) => b < 0x80 && !(b is >= 0x20 and <= 0x7e) && !(b is >= 0x09 and <= 0x0d);
}
