using System.CommandLine;
using System.Globalization;
using LlmNet.Common.Cli;
using LlmNet.Training;

namespace LlmNet.Tools.Train;

/// <summary>
/// llm-train's command line. It accepts llm.c's train_gpt2.cu flags (single dash, flag/value pairs, with llm.c's
/// matching quirks, train_gpt2.cu: main's argument loop and error_usage) and long names; the llm.c flags are first
/// rewritten to long names, so one System.CommandLine definition validates values and prints --help. Every option is
/// declared once, in <see cref="Flags"/>, which builds the options, the help and the <see cref="TrainOptions"/>.
/// </summary>
public static class TrainCommandLine
{
    /// <summary>One llm-train option: its llm.c flag (null: none), long name, help text and the <see cref="TrainOptions"/> value it sets.</summary>
    private abstract record Flag(string? Llmc, string Long, string Description)
    {
        /// <summary>Other long names accepted for it.</summary>
        public string[] Aliases { get; init; } = [];
        /// <summary>An llm.c flag accepted (and its value checked) for compatibility, with nothing to do here: hidden, read into nothing.</summary>
        public bool Ignored { get; init; }

        public abstract Option CreateOption(TrainOptions defaults);
        /// <summary><paramref name="options"/> with this flag's value from <paramref name="result"/>.</summary>
        public abstract TrainOptions Read(ParseResult result, Option option, TrainOptions options);
    }

    private sealed record Flag<T>(string? Llmc, string Long, string Description, Func<TrainOptions, T> Get, Func<TrainOptions, T, TrainOptions> Set)
        : Flag(Llmc, Long, Description)
    {
        /// <summary>The only values accepted, if limited.</summary>
        public string[]? Choices { get; init; }
        /// <summary>
        /// For a rate: what the value is, for the error when it is negative or not finite. llm.c's train_gpt2.cu takes
        /// -l, -q, -c, -sl and -sg through atof and trains on whatever comes out; a NaN or negative rate would run to the
        /// end with a useless model and exit 0, so such values are refused up front.
        /// </summary>
        public string? Rate { get; init; }

        public override Option CreateOption(TrainOptions defaults)
        {
            T value = Get(defaults);
            var option = new Option<T>(Long, Aliases)
            {
                Description = Llmc is null ? Description : $"[{Llmc}] {Description}",
                DefaultValueFactory = _ => value,
                Hidden = Ignored,
            };
            if (Choices is not null) option.AcceptOnlyFromAmong(Choices);
            return option;
        }

        public override TrainOptions Read(ParseResult result, Option option, TrainOptions options)
        {
            T value = result.GetValue((Option<T>)option)!;
            if (Rate is not null && value is float rate && (!float.IsFinite(rate) || rate < 0))
                throw new UsageException($"{Llmc} {rate.ToString(CultureInfo.InvariantCulture).ToLowerInvariant()} ({Long}): {Rate} must be a finite number ≥ 0");
            return Set(options, value);
        }
    }

    private static Flag<T> F<T>(string? llmc, string longName, string description, Func<TrainOptions, T> get, Func<TrainOptions, T, TrainOptions> set) =>
        new(llmc, longName, description, get, set);

    private static Flag<int> IgnoredFlag(string llmc, string longName, string description) =>
        new(llmc, longName, description, _ => 0, (o, _) => o) { Ignored = true };

    // Order is the --help order.
    private static readonly Flag[] Flags =
    [
        F("-i", "--train-data", "train shard glob pattern", o => o.TrainData, (o, v) => o with { TrainData = v }),
        F("-j", "--val-data", "validation shard glob pattern", o => o.ValData, (o, v) => o with { ValData = v }),
        F("-e", "--model", "model to start from: a model file (.bin), a Hugging Face GPT-2 folder, or a descriptor (d12, gpt2:d48, gpt3:c768) for a fresh init",
            o => o.Init, (o, v) => o with { Init = v }) with { Aliases = ["--init"] },
        F("-o", "--output-dir", "folder for main.log and checkpoints (none: no log, no checkpoints)", o => o.OutputDir, (o, v) => o with { OutputDir = v }),
        F("-n", "--checkpoint-every", "write a checkpoint every N steps (0 = never)", o => o.CheckpointEvery, (o, v) => o with { CheckpointEvery = v }),
        F("-nk", "--checkpoints-keep", "keep only the newest N non-major checkpoints (0 = keep all)", o => o.CheckpointsKeep, (o, v) => o with { CheckpointsKeep = v }),
        F("-nm", "--major-checkpoint-every", "checkpoints at multiples of N are never deleted (0 = none)",
            o => o.MajorCheckpointEvery, (o, v) => o with { MajorCheckpointEvery = v }),
        F("-y", "--resume", "1: resume from the newest complete checkpoint in --output-dir; 0: start fresh and truncate main.log",
            o => o.Resume, (o, v) => o with { Resume = v }),
        F("-b", "--batch-size", "micro-batch size B per process", o => o.BatchSize, (o, v) => o with { BatchSize = v }),
        F("-t", "--seq-len", "sequence length T", o => o.SeqLen, (o, v) => o with { SeqLen = v }),
        F("-d", "--total-batch-size", "tokens per update (-1 = B*T*processes); must be a multiple of B*T*processes",
            o => o.TotalBatchSize, (o, v) => o with { TotalBatchSize = v }),
        F("-x", "--max-steps", "number of updates (-1 = one epoch of the training data)", o => o.MaxSteps, (o, v) => o with { MaxSteps = v }),
        F("-k", "--lr-scheduler", "learning-rate schedule: cosine, linear, constant or wsd",
            o => o.LrScheduler, (o, v) => o with { LrScheduler = v }) with { Choices = ["cosine", "linear", "constant", "wsd"] },
        F("-l", "--lr", "peak learning rate", o => o.LearningRate, (o, v) => o with { LearningRate = v }) with { Rate = "the learning rate" },
        IgnoredFlag("-lg", "--log-gpu-every", "llm.c's NVML GPU-info line every N steps"),
        F("-u", "--warmup", "linear warmup steps", o => o.Warmup, (o, v) => o with { Warmup = v }),
        F("-q", "--final-lr-frac", "final learning rate as a fraction of the peak (1.0 = no decay)",
            o => o.FinalLrFraction, (o, v) => o with { FinalLrFraction = v }) with { Rate = "the final learning-rate fraction" },
        F("-c", "--weight-decay", "AdamW weight decay (2-D tensors only)",
            o => o.WeightDecay, (o, v) => o with { WeightDecay = v }) with { Rate = "the weight decay" },
        F("-sl", "--skip-loss-z", "skip an update whose loss z-score exceeds this (0 = off)",
            o => o.SkipUpdateLossZ, (o, v) => o with { SkipUpdateLossZ = v }) with { Rate = "the loss z-score threshold (0 = off)" },
        F("-sg", "--skip-grad-z", "skip an update whose grad-norm z-score exceeds this (0 = off)",
            o => o.SkipUpdateGradZ, (o, v) => o with { SkipUpdateGradZ = v }) with { Rate = "the grad-norm z-score threshold (0 = off)" },
        F("-v", "--val-every", "validation loss (and HellaSwag) every N steps", o => o.ValEvery, (o, v) => o with { ValEvery = v }),
        F("-m", "--val-max-steps", "validation batches per evaluation (-1 = the whole validation set)", o => o.ValMaxSteps, (o, v) => o with { ValMaxSteps = v }),
        F("-s", "--sample-every", "print a sample every N steps (0 = never)", o => o.SampleEvery, (o, v) => o with { SampleEvery = v }),
        F("-g", "--gen-tokens", "length of the printed sample in tokens (genT)", o => o.GenT, (o, v) => o with { GenT = v }),
        F("-h", "--hellaswag", "1: evaluate HellaSwag accuracy on the validation schedule", o => o.HellaSwag, (o, v) => o with { HellaSwag = v }),
        F(null, "--hellaswag-data", "HellaSwag data for --hellaswag 1 (.bin, .jsonl or preprocessed .txt[.bz2]); default: dev/data/hellaswag/hellaswag_val.bin as llm.c",
            o => o.HellaSwagData, (o, v) => o with { HellaSwagData = v }),
        F("-a", "--overfit-single-batch", "1: train on the first validation batch only (debugging)",
            o => o.OverfitSingleBatch, (o, v) => o with { OverfitSingleBatch = v }),
        IgnoredFlag("-f", "--tf32", "llm.c's TF32 switch for fp32 builds"),
        F("-w", "--master-weights", "1: keep fp32 master weights (GPU)", o => o.UseMasterWeights, (o, v) => o with { UseMasterWeights = v }),
        F("-ge", "--gelu-fusion", "GELU fusion into matmuls: 0, 1 or 2 (-1 = auto: 2 on sm_90 and newer, else 0; llm.c's -1 is always 0) (GPU)", o => o.GeluFusion, (o, v) => o with { GeluFusion = v }),
        F("-z", "--zero-stage", "ZeRO stage: 0 or 1 (multi-GPU)", o => o.ZeroStage, (o, v) => o with { ZeroStage = v }),
        F("-r", "--recompute", "activation recompute: 0 none, 1 GELU, 2 GELU+LayerNorm (GPU)", o => o.Recompute, (o, v) => o with { Recompute = v }),
        F("-pn", "--num-processes", "number of processes (tcp/fs init)", o => o.NumProcesses, (o, v) => o with { NumProcesses = v }),
        F("-pr", "--process-rank", "rank of this process (tcp/fs init)", o => o.ProcessRank, (o, v) => o with { ProcessRank = v }),
        F("-pg", "--gpus-per-node", "GPUs per node (tcp/fs init)", o => o.GpusPerNode, (o, v) => o with { GpusPerNode = v }),
        F("-pi", "--init-method", "multi-process init: mpi, tcp or fs", o => o.InitMethod, (o, v) => o with { InitMethod = v }),
        F("-ps", "--server-ip", "rank 0's address for tcp init", o => o.ServerIp, (o, v) => o with { ServerIp = v }),
        F("-pf", "--fs-path", "shared folder for fs init", o => o.FsPath, (o, v) => o with { FsPath = v }),
        F(null, "--device", "compute device: cpu, cuda or auto (cuda when available, else cpu)",
            o => o.Device, (o, v) => o with { Device = v }) with { Choices = ["cpu", "cuda", "auto"] },
        F(null, "--quiet", "print only validation, checkpoint and error lines", o => o.Quiet, (o, v) => o with { Quiet = v }),
    ];

    // Single letters whose second letter llm.c never looks at ("-ze" is read as "-z").
    private const string LooseLetters = "ijeoybtduqcxvmafwzrhk";

    /// <summary>
    /// Maps one llm.c flag to its long name as train_gpt2.cu's parser matches it, or null when llm.c
    /// would reject it. Flags are 2 or 3 characters: loose letters ignore the second letter; l, s, n and
    /// p accept only the listed two-letter forms; -g? other than -ge means -g.
    /// </summary>
    public static string? LongNameOf(string flag)
    {
        if (flag.Length is not (2 or 3) || flag[0] != '-') return null;
        char first = flag[1];
        string rest = flag[2..];
        if (LooseLetters.Contains(first)) return Flags.First(f => f.Llmc == "-" + first).Long;
        string key = first switch
        {
            'l' or 's' or 'n' when rest is "" => "-" + first,
            'l' when rest is "g" => "-lg",
            's' when rest is "l" or "g" => "-s" + rest,
            'n' when rest is "k" or "m" => "-n" + rest,
            'g' => rest == "e" ? "-ge" : "-g",
            'p' when rest is "i" or "f" or "s" or "n" or "r" or "g" => "-p" + rest,
            _ => "",
        };
        return Flags.FirstOrDefault(f => f.Llmc == key)?.Long;
    }

    /// <summary>Rewrites llm.c flag/value pairs to --long=value; long options pass through untouched.</summary>
    public static string[] Translate(IReadOnlyList<string> args)
    {
        var result = new List<string>(args.Count);
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            if (a.StartsWith("--", StringComparison.Ordinal) || !a.StartsWith('-') || IsNumber(a))
            {
                result.Add(a);
                continue;
            }
            if (a is "-h" or "-?" && i == args.Count - 1) { result.Add("--help"); continue; }
            string longName = LongNameOf(a) ?? throw new UsageException($"unknown flag {a}");
            if (i + 1 >= args.Count) throw new UsageException($"flag {a} needs a value");
            // llm.c lets a later flag override an earlier one; keep only the last.
            result.RemoveAll(r => r.StartsWith(longName + "=", StringComparison.Ordinal));
            result.Add($"{longName}={args[++i]}");
        }
        return [.. result];
    }

    private static bool IsNumber(string s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    /// <summary>
    /// Parses a full command line. Returns null when --help was asked for (the help text is written to
    /// <paramref name="output"/>); throws <see cref="UsageException"/> for anything malformed.
    /// </summary>
    public static TrainOptions? Parse(IReadOnlyList<string> args, TextWriter? output = null)
    {
        var defaults = new TrainOptions();
        var command = new RootCommand(
            "Trains a GPT-2 from scratch or from a checkpoint, as llm.c's train_gpt2 does. llm.c's single-dash flags " +
            "(-i -j -e -o -n -nk -nm -y -b -t -d -x -k -l -u -q -c -sl -sg -v -m -s -g -h -a -w -ge -z -r -p?) are accepted " +
            "with the same meanings and defaults, e.g. `llm-train -e d12 -b 16 -t 1024 -x 1000 -o out -n 100`. " +
            $"{string.Join(" and ", Flags.Where(f => f.Ignored).Select(f => $"{f.Llmc} N ({f.Description})"))} are accepted for compatibility and ignored.");
        var options = Flags.Select(f => f.CreateOption(defaults)).ToArray();
        foreach (var option in options) command.Options.Add(option);

        var result = command.Parse(Translate(args));
        if (result.Action is System.CommandLine.Help.HelpAction)
        {
            result.Invoke(new InvocationConfiguration { Output = output ?? Console.Out });
            return null;
        }
        if (result.Errors.Count > 0) throw new UsageException(result.Errors[0].Message);

        var parsed = defaults;
        for (int i = 0; i < Flags.Length; i++) parsed = Flags[i].Read(result, options[i], parsed);
        return parsed;
    }
}
