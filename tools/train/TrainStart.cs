using LlmNet.Common.Cli;
using LlmNet.Common.Formats;
using LlmNet.Cuda;
using LlmNet.Model;
using LlmNet.Model.Checkpoints;
using LlmNet.Training;

namespace LlmNet.Tools.Train;

/// <summary>
/// Where a run starts: the model (fresh, a file, or the newest complete checkpoint when resuming) and the step being
/// resumed, if any.
/// </summary>
public sealed record TrainStart(LoadedModel Model, int? ResumeStep)
{
    /// <summary>
    /// -y 1 with a complete checkpoint in -o: that checkpoint's model. Otherwise --model (-e) as <see cref="LoadedModel"/>
    /// reads it: a model file (v3 fp32 or v5 bf16), a Hugging Face folder, or a descriptor for a fresh seed-42 init.
    /// </summary>
    /// <remarks>
    /// A DONE_ checkpoint whose model file does not verify (truncated, replaced) is skipped for the next older one,
    /// with a warning on <paramref name="output"/>; when none verifies the run fails with the command that gets it going
    /// again, so a crash-and-retry loop does not spin on it forever. <paramref name="below"/> limits the search to older
    /// checkpoints (after a state file failed <see cref="VerifyResumeState"/>); <paramref name="skipped"/> carries that
    /// problem into the warning.
    /// </remarks>
    public static TrainStart Resolve(TrainOptions options, TextWriter? output = null, int? below = null, string? skipped = null)
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
                try
                {
                    var start = new TrainStart(LoadedModel.LoadSaved(dir.ModelPath(step)), step);
                    foreach (var (bad, problem) in problems)
                        output?.WriteLine($"warning: the checkpoint at step {bad} is unusable ({problem}); resuming from step {step} instead");
                    return start;
                }
                catch (DataFormatException e) { problems.Add((step, e.Message)); }
            }
            if (problems.Count > 0)
                throw new ToolException($"{dir.Path}: no complete checkpoint verifies (newest, step {problems[0].Step}: {problems[0].Problem}), so -y 1 cannot resume. " +
                    $"To start this run over, remove the checkpoint markers (rm {Path.Combine(dir.Path, "DONE_")}*) or run once with -y 0");
        }
        try { return new TrainStart(LoadedModel.Load(options.Init), null); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
    }

    /// <summary>
    /// Resuming: checks, by size, the state files of <paramref name="start"/>'s checkpoint for every rank (whose
    /// optimizer buffers only the backend can size); while they do not verify, falls back to the next older checkpoint.
    /// Every rank sees the same files and so picks the same step.
    /// </summary>
    public static TrainStart VerifyResumeState(TrainOptions options, TrainStart start, IGptBackend backend, IProcessGroup group, TextWriter? output)
    {
        while (start.ResumeStep is int step && options.OutputDir is not null &&
               new CheckpointDirectory(options.OutputDir).StateProblem(step, group.Size, backend.OptimizerStateCount) is { } problem)
        {
            var earlier = Resolve(options, group.Rank == 0 ? output : null, below: step, skipped: problem);
            if (earlier.Model.Config != start.Model.Config)
                throw new ToolException($"{earlier.Model.Source}: the fallback checkpoint has a different model shape than {start.Model.Source}; resume from a consistent folder or start fresh (-y 0)");
            start = earlier;
        }
        return start;
    }

    /// <summary>
    /// Removes the DONE_ markers above the checkpoint being resumed (the ones that did not verify). Their files stay
    /// until the run rewrites them, but without the marker a kill in the middle of that rewrite cannot leave a DONE_ over
    /// a new model and the old, damaged or stale, state.
    /// </summary>
    public static void RetireSkipped(TrainOptions options, int chosen, TextWriter output)
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
}
