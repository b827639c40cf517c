using LlmNet.Common.Cli;
using LlmNet.Common.Formats;
using LlmNet.Eval.HellaSwag;
using LlmNet.Model;
using LlmNet.Model.Checkpoints;

namespace LlmNet.Training.Cli;

/// <summary>What the llm-train executable plugs into the trainer: how to make a backend and the optional evaluators.</summary>
public sealed class TrainHost
{
    /// <summary>
    /// Creates the backend for the run's --device (cpu, cuda or auto), sized for its B×T micro-batches, with
    /// its device settings (-w, -r, -ge, -z, -f) and the process group it shares gradients with.
    /// </summary>
    public required Func<TrainOptions, GptConfig, IProcessGroup, IGptBackend> CreateBackend { get; init; }
    /// <summary>
    /// Prepares HellaSwag evaluation for -h 1 (loads the data and checks B and T, so a bad setup fails at
    /// start rather than at the first evaluation); null when this build has none.
    /// </summary>
    public Func<TrainOptions, IProcessGroup, IHellaSwagEvaluator>? CreateHellaSwag { get; init; }
    /// <summary>
    /// The element type of the backend's parameters, used for model checkpoints (fp32 → v3, bf16 → v5);
    /// null: the backend's <see cref="IGptBackend.ParameterDtype"/>.
    /// </summary>
    public Func<IGptBackend, ModelDtype>? CheckpointDtype { get; init; }
    /// <summary>
    /// Works out this process's place in a multi-process launch (-pn/-pr/-pi or mpirun/srun/torchrun variables) and
    /// joins the group, or returns <see cref="SingleProcess.Instance"/> for a one-process run; null when this build
    /// runs single-process only. Called before the backend is created.
    /// </summary>
    public Func<TrainOptions, IProcessGroup>? CreateProcessGroup { get; init; }
}

/// <summary>The body of llm-train: parse, pick the starting model (fresh, file, or latest checkpoint), train.</summary>
public static class TrainCli
{
    public const string ToolName = "llm-train";

    public static int Run(IReadOnlyList<string> args, TrainHost host, TextWriter output)
    {
        string[] rest = ToolRunner.TakeVerboseFlag(args, out bool verbose);
        return ToolRunner.Run(ToolName, ct =>
        {
            var options = TrainCommandLine.Parse(rest, output);
            if (options is null) return ToolRunner.Ok;
            Run(options, host, output, ct);
            return ToolRunner.Ok;
        }, Console.Error, rest, verbose);
    }

    public static TrainResult Run(TrainOptions options, TrainHost host, TextWriter output, CancellationToken ct = default)
    {
        // The host's launcher also recognises mpirun/srun/torchrun environments, so it is asked even without -pn.
        IProcessGroup group = host.CreateProcessGroup?.Invoke(options)
            ?? (options.NumProcesses > 1
                ? throw new ToolException($"{options.NumProcesses} processes (-pn) need the multi-process launcher, which this build lacks; run with -pn 1")
                : SingleProcess.Instance);
        try
        {
            var start = ResolveStart(options, output);
            if (options.SeqLen > start.Config.MaxSeqLen)
                throw new UsageException($"sequence length {options.SeqLen} (-t) exceeds the model's maximum {start.Config.MaxSeqLen}");
            if (options.BatchSize <= 0 || options.SeqLen <= 0)
                throw new UsageException($"batch size ({options.BatchSize}) and sequence length ({options.SeqLen}) must be positive");
            IHellaSwagEvaluator? hellaSwag = options.HellaSwag == 1 ? host.CreateHellaSwag?.Invoke(options, group) : null;
            using var backend = host.CreateBackend(options, start.Config, group);
            start = VerifyResumeState(options, start, backend, group, output);
            if (start.ResumeStep is int chosen && group.Rank == 0) RetireSkipped(options, chosen, output);
            backend.SetParameters(start.Parameters);
            using var trainer = new Trainer(options, backend, group, output, hellaSwag, host.CheckpointDtype?.Invoke(backend));
            return trainer.Run(start.ResumeStep, start.Source, ct);
        }
        finally
        {
            if (!ReferenceEquals(group, SingleProcess.Instance)) group.Dispose();
        }
    }

    /// <summary>
    /// Resuming: checks, by size, the state files of <paramref name="start"/>'s checkpoint for every rank (whose
    /// optimizer buffers only the backend can size); while they do not verify, falls back to the next older checkpoint.
    /// Every rank sees the same files and so picks the same step.
    /// </summary>
    public static Start VerifyResumeState(TrainOptions options, Start start, IGptBackend backend, IProcessGroup group, TextWriter? output)
    {
        while (start.ResumeStep is int step && options.OutputDir is not null &&
               new CheckpointDirectory(options.OutputDir).StateProblem(step, group.Size, backend.OptimizerStateCount) is { } problem)
        {
            var earlier = ResolveStart(options, group.Rank == 0 ? output : null, below: step, skipped: problem);
            if (earlier.Config != start.Config)
                throw new ToolException($"{earlier.Source}: the fallback checkpoint has a different model shape than {start.Source}; resume from a consistent folder or start fresh (-y 0)");
            start = earlier;
        }
        return start;
    }

    /// <summary>
    /// Removes the DONE_ markers above the checkpoint being resumed (the ones that did not verify). Their files stay
    /// until the run rewrites them, but without the marker a kill in the middle of that rewrite cannot leave a DONE_ over
    /// a new model and the old, damaged or stale, state.
    /// </summary>
    private static void RetireSkipped(TrainOptions options, int chosen, TextWriter output)
    {
        var dir = new CheckpointDirectory(options.OutputDir!);
        foreach (int step in dir.DoneSteps().Where(s => s > chosen))
        {
            try
            {
                File.Delete(dir.DonePath(step));
                output.WriteLine($"removed {dir.DonePath(step)}: the run rewrites that checkpoint when it gets there");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ToolException($"{dir.DonePath(step)}: cannot remove the marker of a checkpoint that does not verify ({e.Message}). Check the permissions of -o", e);
            }
        }
    }

    /// <summary>Where a run starts: its parameters, their shape, where they came from, and the step being resumed (if any).</summary>
    public sealed record Start(float[] Parameters, GptConfig Config, string Source, int? ResumeStep);

    /// <summary>
    /// -y 1 with a complete checkpoint in -o: that checkpoint's model. Otherwise -e as <see cref="ModelSource"/> reads
    /// it: a model file (v3 fp32 or v5 bf16) or a descriptor for a fresh seed-42 init.
    /// </summary>
    /// <remarks>
    /// A DONE_ checkpoint whose model file does not verify (truncated, replaced) is skipped for the next older one,
    /// with a warning on <paramref name="output"/>; when none verifies the run fails with the command that gets it going
    /// again, so a crash-and-retry loop does not spin on it forever. <paramref name="below"/> limits the search to older
    /// checkpoints (after a state file failed <see cref="VerifyResumeState"/>); <paramref name="skipped"/> carries that
    /// problem into the warning.
    /// </remarks>
    public static Start ResolveStart(TrainOptions options, TextWriter? output = null, int? below = null, string? skipped = null)
    {
        if (options.Resume == 1)
        {
            if (options.OutputDir is null) throw new UsageException("resuming (-y 1) needs an output folder (-o)");
            var dir = new CheckpointDirectory(options.OutputDir);
            var steps = dir.DoneSteps().Where(s => below is null || s < below).ToList();
            var problems = new List<(int Step, string Problem)>();
            if (below is int failed && skipped is not null) problems.Add((failed, skipped));
            foreach (int step in steps)
            {
                string path = dir.ModelPath(step);
                try
                {
                    var start = new Start(ModelFile.Read(path, out var config), config, path, step);
                    foreach (var (bad, problem) in problems)
                        output?.WriteLine($"warning: the checkpoint at step {bad} is unusable ({problem}); resuming from step {step} instead");
                    return start;
                }
                catch (DataFormatException e) { problems.Add((step, e.Message)); }
            }
            if (problems.Count > 0)
                throw new ToolException($"{dir.Path}: no complete checkpoint verifies (newest, step {problems[0].Step}: {problems[0].Problem}), so -y 1 cannot resume. " +
                    $"To start this run over, remove the checkpoint markers (rm {System.IO.Path.Combine(dir.Path, "DONE_")}*) or run once with -y 0");
        }
        try { return new Start(ModelSource.Load(options.Init, out var config), config, options.Init, null); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
    }
}
