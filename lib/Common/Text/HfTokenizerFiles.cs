using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using LlmNet.Common.IO;

namespace LlmNet.Common.Text;

/// <summary>
/// The GPT-2 tokenizer as a Hugging Face folder holds it, made from the ranks we already ship: vocab.json (token → id),
/// merges.txt (the merge that makes each token, in rank order) and tokenizer_config.json. HF spells token bytes as
/// text through GPT-2's byte-to-character table (<see cref="ByteToChar"/>).
/// </summary>
public static class HfTokenizerFiles
{
    public static readonly string[] FileNames = ["vocab.json", "merges.txt", "tokenizer_config.json"];

    /// <summary>
    /// GPT-2's byte-to-character table: the printable bytes '!'..'~', '¡'..'¬' and '®'..'ÿ' stand for themselves; the
    /// other 68 bytes, in increasing order, become U+0100, U+0101, ... so every token is printable text without spaces.
    /// </summary>
    public static char[] ByteToChar()
    {
        var table = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
            table[b] = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF ? (char)b : (char)next++;
        return table;
    }

    /// <summary>Writes vocab.json, merges.txt and tokenizer_config.json into <paramref name="dir"/>, each atomically.</summary>
    public static void Write(string dir, int modelMaxLength)
    {
        var tokenizer = Gpt2Tokenizer.Shared;
        char[] table = ByteToChar();
        string Spell(byte[] bytes) => new([.. bytes.Select(b => table[b])]);

        var options = new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        WriteJson(Path.Combine(dir, "vocab.json"), options, json =>
        {
            json.WriteStartObject();
            for (int id = 0; id < Gpt2Tokenizer.VocabSize; id++) json.WriteNumber(Spell(tokenizer.TokenBytes(id)), id);
            json.WriteEndObject();
        });

        var merges = new StringBuilder("#version: 0.2\n");
        foreach (var (left, right) in Merges(tokenizer)) merges.Append(Spell(left)).Append(' ').Append(Spell(right)).Append('\n');
        AtomicFile.Write(Path.Combine(dir, "merges.txt"), s => s.Write(Encoding.UTF8.GetBytes(merges.ToString())));

        WriteJson(Path.Combine(dir, "tokenizer_config.json"), options with { Indented = true }, json =>
        {
            json.WriteStartObject();
            json.WriteString("tokenizer_class", "GPT2Tokenizer");
            json.WriteNumber("model_max_length", modelMaxLength);
            json.WriteString("bos_token", Gpt2Tokenizer.EndOfTextText);
            json.WriteString("eos_token", Gpt2Tokenizer.EndOfTextText);
            json.WriteString("unk_token", Gpt2Tokenizer.EndOfTextText);
            json.WriteBoolean("add_prefix_space", false);
            json.WriteBoolean("add_bos_token", false);
            json.WriteEndObject();
        });
    }

    /// <summary>
    /// The merge that creates each token of rank 256..50255, in rank order: byte-pair merging the token's own bytes
    /// with only the lower ranks available stops at exactly two parts, and those are the pair merged at its rank.
    /// </summary>
    public static IEnumerable<(byte[] Left, byte[] Right)> Merges(Gpt2Tokenizer tokenizer)
    {
        // Keys are Latin-1 strings: one char per byte.
        var rank = new Dictionary<string, int>(Gpt2Tokenizer.EndOfText, StringComparer.Ordinal);
        for (int id = 0; id < Gpt2Tokenizer.EndOfText; id++) rank[Encoding.Latin1.GetString(tokenizer.TokenBytes(id))] = id;
        for (int id = 256; id < Gpt2Tokenizer.EndOfText; id++)
        {
            var parts = Encoding.Latin1.GetString(tokenizer.TokenBytes(id)).Select(c => c.ToString()).ToList();
            while (parts.Count > 2)
            {
                int best = -1, bestRank = id;
                for (int i = 0; i + 1 < parts.Count; i++)
                    if (rank.TryGetValue(parts[i] + parts[i + 1], out int r) && r < bestRank) { best = i; bestRank = r; }
                if (best < 0) break;
                parts[best] += parts[best + 1];
                parts.RemoveAt(best + 1);
            }
            if (parts.Count != 2) throw new InvalidOperationException($"GPT-2 token {id} does not reduce to one merge of lower ranks");
            yield return (Encoding.Latin1.GetBytes(parts[0]), Encoding.Latin1.GetBytes(parts[1]));
        }
    }

    private static void WriteJson(string path, JsonWriterOptions options, Action<Utf8JsonWriter> write) =>
        AtomicFile.Write(path, stream =>
        {
            using var json = new Utf8JsonWriter(stream, options);
            write(json);
            json.Flush();
            stream.WriteByte((byte)'\n');
        });
}
