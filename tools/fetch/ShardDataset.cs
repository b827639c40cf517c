using System.Globalization;
using LlmNet.Common.Cli;

namespace LlmNet.Tools.Fetch;

/// <summary>
/// A Hub repository of GPT-2 token shards in llm.c's layout (dev/data/fineweb.py): PREFIX_val_000000.bin and
/// PREFIX_train_000001.bin … PREFIX_train_{TrainShards}.bin, 100M tokens each. <paramref name="TrainShards"/> is how
/// many train shards the repository holds: the count llm.c's download script for it defaults to and caps at, so
/// "all" fetches what llm.c's own download (<paramref name="LlmcScript"/>) puts in <paramref name="Folder"/>, and a train
/// glob over it matches the same set.
/// </summary>
public sealed record ShardDataset(string Command, string Repo, string Prefix, string Folder, int TrainShards, string Contents, string LlmcScript)
{
    /// <summary>llm.c dev/data/edu_fineweb.sh: MAX_SHARDS defaults to 1001 and is capped there.</summary>
    public static readonly ShardDataset EduFineWeb100B = new("edu-fineweb-shards", "karpathy/fineweb-edu-100B-gpt2-token-shards",
        "edu_fineweb", "edu_fineweb100B", 1001, "FineWeb-EDU sample-100BT", "dev/data/edu_fineweb.sh");

    /// <summary>llm.c dev/data/fineweb.sh: MAX_SHARDS defaults to 1028 and is capped there.</summary>
    public static readonly ShardDataset FineWeb100B = new("fineweb-shards", "chrisdryden/FineWebTokenizedGPT2",
        "fineweb", "fineweb100B", 1028, "classic FineWeb sample-100BT", "dev/data/fineweb.sh");

    public static IReadOnlyList<ShardDataset> All { get; } = [EduFineWeb100B, FineWeb100B];

    public string ValName => $"{Prefix}_val_000000.bin";

    public string TrainName(int index) => $"{Prefix}_train_{index:D6}.bin";

    /// <summary>The val shard and train shards 1..<paramref name="trainShards"/>, as llm.c's download script names them.</summary>
    public List<string> Names(int trainShards)
    {
        var names = new List<string>(trainShards + 1) { ValName };
        for (int i = 1; i <= trainShards; i++) names.Add(TrainName(i));
        return names;
    }

    /// <summary>The train shard count a --shards value asks for: "all" (every train shard of the repository) or 1..<see cref="TrainShards"/>.</summary>
    public int ParseCount(string? text)
    {
        if (text is null || text.Equals("all", StringComparison.OrdinalIgnoreCase)) return TrainShards;
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= 1 && n <= TrainShards) return n;
        throw new UsageException($"--shards {text}: {Repo} holds {TrainShards} train shards ({LlmcScript} fetches the same {TrainShards}); choose 1..{TrainShards} or all");
    }
}
