using System.Text.Json;
using System.Text.Json.Serialization;
using LlmNet.Common.Formats;
using LlmNet.Common.IO;
using LlmNet.Common.Text;
using LlmNet.Tools.Tokenize.Inputs;

namespace LlmNet.Tools.Tokenize;

/// <summary>An input as it was when tokenizing began; a resumed run refuses inputs that changed since.</summary>
public sealed record InputFingerprint(string Path, long Bytes, DateTime ModifiedUtc)
{
    public static InputFingerprint Of(string path)
    {
        var info = new FileInfo(path);
        return new InputFingerprint(info.FullName, info.Length, info.LastWriteTimeUtc);
    }
}

/// <summary>
/// The resume record "{prefix}.progress.json", rewritten atomically after every committed shard: the
/// run's settings, how many shards are complete, and where the token stream continues (the document
/// that follows the last shard, and how many of its tokens that shard already holds).
/// </summary>
public sealed record ProgressManifest
{
    public const int CurrentFormat = 1;

    public int Format { get; init; } = CurrentFormat;
    public required string Prefix { get; init; }
    public required long ShardSize { get; init; }
    public required string Column { get; init; }
    /// <summary>The --tokenizer of the run; manifests written before it existed were gpt2.</summary>
    public string Tokenizer { get; init; } = TokenizerCatalog.Default;
    public required List<InputFingerprint> Inputs { get; init; }
    public int ShardsWritten { get; init; }
    public long TokensWritten { get; init; }
    public long DocumentsStarted { get; init; }
    public DocumentPosition Next { get; init; }
    public long NextTokenOffset { get; init; }
    public bool Complete { get; init; }

    public static string PathFor(string directory, string prefix) => System.IO.Path.Combine(directory, $"{prefix}.progress.json");

    /// <summary>The manifest in <paramref name="path"/>, or null when there is none.</summary>
    public static ProgressManifest? Load(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), ManifestJson.Default.ProgressManifest)
                ?? throw new JsonException("null manifest");
        }
        catch (JsonException e)
        {
            throw new DataFormatException(path, $"is not a valid progress manifest ({e.Message})", "Delete it or re-run with --restart to start over");
        }
    }

    public void Save(string path) =>
        AtomicFile.Write(path, s => JsonSerializer.Serialize(s, this, ManifestJson.Default.ProgressManifest));

    /// <summary>Why this manifest cannot be continued with the given settings, or null when it can.</summary>
    public string? Mismatch(string prefix, long shardSize, string column, string tokenizer, IReadOnlyList<InputFingerprint> inputs)
    {
        if (Format != CurrentFormat) return $"format {Format} (this tool writes {CurrentFormat})";
        if (Prefix != prefix) return $"prefix \"{Prefix}\" (now \"{prefix}\")";
        if (ShardSize != shardSize) return $"shard size {ShardSize} (now {shardSize})";
        if (Column != column) return $"column \"{Column}\" (now \"{column}\")";
        if (Tokenizer != tokenizer) return $"tokenizer {Tokenizer} (now {tokenizer})";
        if (Inputs.Count != inputs.Count) return $"{Inputs.Count} inputs (now {inputs.Count})";
        for (int i = 0; i < inputs.Count; i++)
        {
            if (Inputs[i].Path != inputs[i].Path) return $"input {i + 1} {Inputs[i].Path} (now {inputs[i].Path})";
            if (Inputs[i] != inputs[i]) return $"{inputs[i].Path} at {Inputs[i].Bytes} bytes, modified {Inputs[i].ModifiedUtc:u} (it changed since)";
        }
        return null;
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ProgressManifest))]
internal sealed partial class ManifestJson : JsonSerializerContext;
