using System.CommandLine;
using System.Globalization;
using LlmNet.Common.Cli;

namespace LlmNet.Training.Cli;

/// <summary>
/// llm-train's command line. It accepts llm.c's train_gpt2.cu flags (single dash, flag/value pairs, with llm.c's
/// matching quirks, train_gpt2.cu: main's argument loop and error_usage) and long names; the llm.c flags are first
/// rewritten to long names, so one System.CommandLine definition validates values and prints --help.
/// </summary>
public static class TrainCommandLine
{
    /// <param name="Ignored">llm.c flags accepted (and their values checked) for compatibility, with nothing to do here.</param>
    private sealed record Flag(string Llmc, string Long, string Description, bool Ignored = false);

    // llm.c flag → long option. Order is the --help order.
    private static readonly Flag[] Flags =
    [
        new("-i", "--train-data", "train shard glob pattern"),
        new("-j", "--val-data", "validation shard glob pattern"),
        new("-e", "--init", "model to start from: a .bin checkpoint, or a descriptor (d12, gpt2:d48, gpt3:c768) for a fresh init"),
        new("-o", "--output-dir", "folder for main.log and checkpoints (none: no log, no checkpoints)"),
        new("-n", "--checkpoint-every", "write a checkpoint every N steps (0 = never)"),
        new("-nk", "--checkpoints-keep", "keep only the newest N non-major checkpoints (0 = keep all)"),
        new("-nm", "--major-checkpoint-every", "checkpoints at multiples of N are never deleted (0 = none)"),
        new("-y", "--resume", "1: resume from the newest complete checkpoint in --output-dir; 0: start fresh and truncate main.log"),
        new("-b", "--batch-size", "micro-batch size B per process"),
        new("-t", "--seq-len", "sequence length T"),
        new("-d", "--total-batch-size", "tokens per update (-1 = B*T*processes); must be a multiple of B*T*processes"),
        new("-x", "--max-steps", "number of updates (-1 = one epoch of the training data)"),
        new("-k", "--lr-scheduler", "learning-rate schedule: cosine, linear, constant or wsd"),
        new("-l", "--lr", "peak learning rate"),
        new("-lg", "--log-gpu-every", "llm.c's NVML GPU-info line every N steps", Ignored: true),
        new("-u", "--warmup", "linear warmup steps"),
        new("-q", "--final-lr-frac", "final learning rate as a fraction of the peak (1.0 = no decay)"),
        new("-c", "--weight-decay", "AdamW weight decay (2-D tensors only)"),
        new("-sl", "--skip-loss-z", "skip an update whose loss z-score exceeds this (0 = off)"),
        new("-sg", "--skip-grad-z", "skip an update whose grad-norm z-score exceeds this (0 = off)"),
        new("-v", "--val-every", "validation loss (and HellaSwag) every N steps"),
        new("-m", "--val-max-steps", "validation batches per evaluation (-1 = the whole validation set)"),
        new("-s", "--sample-every", "print a sample every N steps (0 = never)"),
        new("-g", "--gen-tokens", "length of the printed sample in tokens (genT)"),
        new("-h", "--hellaswag", "1: evaluate HellaSwag accuracy on the validation schedule"),
        new("-a", "--overfit-single-batch", "1: train on the first validation batch only (debugging)"),
        new("-f", "--tf32", "llm.c's TF32 switch for fp32 builds", Ignored: true),
        new("-w", "--master-weights", "1: keep fp32 master weights (GPU)"),
        new("-ge", "--gelu-fusion", "GELU fusion into matmuls: 0, 1 or 2 (-1 = auto, which means 0) (GPU)"),
        new("-z", "--zero-stage", "ZeRO stage: 0 or 1 (multi-GPU)"),
        new("-r", "--recompute", "activation recompute: 0 none, 1 GELU, 2 GELU+LayerNorm (GPU)"),
        new("-pn", "--num-processes", "number of processes (tcp/fs init)"),
        new("-pr", "--process-rank", "rank of this process (tcp/fs init)"),
        new("-pg", "--gpus-per-node", "GPUs per node (tcp/fs init)"),
        new("-pi", "--init-method", "multi-process init: mpi, tcp or fs"),
        new("-ps", "--server-ip", "rank 0's address for tcp init"),
        new("-pf", "--fs-path", "shared folder for fs init"),
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
        var d = new TrainOptions();
        var command = new RootCommand(
            "Trains a GPT-2 from scratch or from a checkpoint, as llm.c's train_gpt2 does. llm.c's single-dash flags " +
            "(-i -j -e -o -n -nk -nm -y -b -t -d -x -k -l -u -q -c -sl -sg -v -m -s -g -h -a -w -ge -z -r -p?) are accepted " +
            "with the same meanings and defaults, e.g. `llm-train -e d12 -b 16 -t 1024 -x 1000 -o out -n 100`. " +
            $"{string.Join(" and ", Flags.Where(f => f.Ignored).Select(f => $"{f.Llmc} N ({f.Description})"))} are accepted for compatibility and ignored.");
        var opts = new Dictionary<string, Option>();
        Option<T> Add<T>(string longName, T defaultValue, string? extra = null)
        {
            var flag = Flags.FirstOrDefault(f => f.Long == longName);
            string description = flag is null ? extra! : $"[{flag.Llmc}] {flag.Description}";
            var option = new Option<T>(longName) { Description = description, DefaultValueFactory = _ => defaultValue };
            command.Options.Add(option);
            opts[longName] = option;
            return option;
        }

        var trainData = Add("--train-data", d.TrainData);
        var valData = Add("--val-data", d.ValData);
        var init = Add("--init", d.Init);
        var outputDir = Add<string?>("--output-dir", d.OutputDir);
        var ckEvery = Add("--checkpoint-every", d.CheckpointEvery);
        var ckKeep = Add("--checkpoints-keep", d.CheckpointsKeep);
        var ckMajor = Add("--major-checkpoint-every", d.MajorCheckpointEvery);
        var resume = Add("--resume", d.Resume);
        var batch = Add("--batch-size", d.BatchSize);
        var seq = Add("--seq-len", d.SeqLen);
        var total = Add("--total-batch-size", d.TotalBatchSize);
        var maxSteps = Add("--max-steps", d.MaxSteps);
        var sched = Add("--lr-scheduler", d.LrScheduler);
        var lr = Add("--lr", d.LearningRate);
        var warmup = Add("--warmup", d.Warmup);
        var finalFrac = Add("--final-lr-frac", d.FinalLrFraction);
        var wd = Add("--weight-decay", d.WeightDecay);
        var skipLoss = Add("--skip-loss-z", d.SkipUpdateLossZ);
        var skipGrad = Add("--skip-grad-z", d.SkipUpdateGradZ);
        var valEvery = Add("--val-every", d.ValEvery);
        var valMax = Add("--val-max-steps", d.ValMaxSteps);
        var sampleEvery = Add("--sample-every", d.SampleEvery);
        var genT = Add("--gen-tokens", d.GenT);
        var hella = Add("--hellaswag", d.HellaSwag);
        var hellaData = Add<string?>("--hellaswag-data", d.HellaSwagData, "HellaSwag data for --hellaswag 1 (.bin, .jsonl or preprocessed .txt[.bz2]); default: dev/data/hellaswag/hellaswag_val.bin as llm.c");
        var overfit = Add("--overfit-single-batch", d.OverfitSingleBatch);
        var master = Add("--master-weights", d.UseMasterWeights);
        var gelu = Add("--gelu-fusion", d.GeluFusion);
        var zero = Add("--zero-stage", d.ZeroStage);
        var recompute = Add("--recompute", d.Recompute);
        var pn = Add("--num-processes", d.NumProcesses);
        var pr = Add("--process-rank", d.ProcessRank);
        var pg = Add("--gpus-per-node", d.GpusPerNode);
        var pi = Add("--init-method", d.InitMethod);
        var ps = Add("--server-ip", d.ServerIp);
        var pf = Add("--fs-path", d.FsPath);
        var device = Add("--device", d.Device, "compute device: cpu, cuda or auto (cuda when available, else cpu)");
        device.AcceptOnlyFromAmong("cpu", "cuda", "auto");
        sched.AcceptOnlyFromAmong("cosine", "linear", "constant", "wsd");
        var quiet = Add("--quiet", false, "print only validation, checkpoint and error lines");
        foreach (Flag ignored in Flags.Where(f => f.Ignored)) Add(ignored.Long, 0).Hidden = true;

        var result = command.Parse(Translate(args));
        if (result.Action is System.CommandLine.Help.HelpAction)
        {
            result.Invoke(new InvocationConfiguration { Output = output ?? Console.Out });
            return null;
        }
        if (result.Errors.Count > 0) throw new UsageException(result.Errors[0].Message);

        var options = new TrainOptions
        {
            TrainData = result.GetValue(trainData)!,
            ValData = result.GetValue(valData)!,
            Init = result.GetValue(init)!,
            OutputDir = result.GetValue(outputDir),
            CheckpointEvery = result.GetValue(ckEvery),
            CheckpointsKeep = result.GetValue(ckKeep),
            MajorCheckpointEvery = result.GetValue(ckMajor),
            Resume = result.GetValue(resume),
            BatchSize = result.GetValue(batch),
            SeqLen = result.GetValue(seq),
            TotalBatchSize = result.GetValue(total),
            MaxSteps = result.GetValue(maxSteps),
            LrScheduler = result.GetValue(sched)!,
            LearningRate = result.GetValue(lr),
            Warmup = result.GetValue(warmup),
            FinalLrFraction = result.GetValue(finalFrac),
            WeightDecay = result.GetValue(wd),
            SkipUpdateLossZ = result.GetValue(skipLoss),
            SkipUpdateGradZ = result.GetValue(skipGrad),
            ValEvery = result.GetValue(valEvery),
            ValMaxSteps = result.GetValue(valMax),
            SampleEvery = result.GetValue(sampleEvery),
            GenT = result.GetValue(genT),
            HellaSwag = result.GetValue(hella),
            HellaSwagData = result.GetValue(hellaData),
            OverfitSingleBatch = result.GetValue(overfit),
            UseMasterWeights = result.GetValue(master),
            GeluFusion = result.GetValue(gelu),
            ZeroStage = result.GetValue(zero),
            Recompute = result.GetValue(recompute),
            NumProcesses = result.GetValue(pn),
            ProcessRank = result.GetValue(pr),
            GpusPerNode = result.GetValue(pg),
            InitMethod = result.GetValue(pi)!,
            ServerIp = result.GetValue(ps)!,
            FsPath = result.GetValue(pf)!,
            Device = result.GetValue(device)!,
            Quiet = result.GetValue(quiet),
        };
        CheckRates(options);
        return options;
    }

    /// <summary>
    /// llm.c's train_gpt2.cu takes -l, -q, -c, -sl and -sg through atof and trains on whatever comes out; a NaN or
    /// negative rate would run to the end with a useless model and exit 0, so such values are refused up front.
    /// </summary>
    private static void CheckRates(TrainOptions o)
    {
        static void Check(string flag, string longName, float value, string meaning)
        {
            if (!float.IsFinite(value) || value < 0)
                throw new UsageException($"{flag} {value.ToString(CultureInfo.InvariantCulture).ToLowerInvariant()} ({longName}): {meaning} must be a finite number ≥ 0");
        }
        Check("-l", "--lr", o.LearningRate, "the learning rate");
        Check("-q", "--final-lr-frac", o.FinalLrFraction, "the final learning-rate fraction");
        Check("-c", "--weight-decay", o.WeightDecay, "the weight decay");
        Check("-sl", "--skip-loss-z", o.SkipUpdateLossZ, "the loss z-score threshold (0 = off)");
        Check("-sg", "--skip-grad-z", o.SkipUpdateGradZ, "the grad-norm z-score threshold (0 = off)");
    }
}
