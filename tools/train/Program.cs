using LlmNet.Common.Cli;
using LlmNet.Eval.HellaSwag;
using LlmNet.Model;
using LlmNet.Training;

namespace LlmNet.Tools.Train;

/// <summary>
/// llm-train: GPT-2 training with llm.c's command line (see docs/train.md). The whole path from the command line to
/// the backend: parse (<see cref="TrainCommandLine"/>), join the processes (<see cref="ProcessGroupFactory"/>), pick the
/// starting model (<see cref="TrainStart"/>), check the options against it, load HellaSwag for -h 1, create the backend
/// holding the model, and train (<see cref="Trainer"/>).
/// </summary>
public static class TrainProgram
{
    public const string ToolName = "llm-train";

    public static int Main(string[] args) => Run(args, Console.Out);

    /// <summary>In-process entry point (tests): same as running the executable with <paramref name="args"/>.</summary>
    public static int Run(IReadOnlyList<string> args, TextWriter output)
    {
        string[] rest = ToolRunner.TakeVerboseFlag(args, out bool verbose);
        return ToolRunner.Run(ToolName, ct =>
        {
            var options = TrainCommandLine.Parse(rest, output);
            if (options is null) return ToolRunner.Ok;
            Train(options, output, ct);
            return ToolRunner.Ok;
        }, Console.Error, rest, verbose);
    }

    /// <summary>Trains as the command line <paramref name="options"/> came from would.</summary>
    /// <param name="group">
    /// The processes to train with; null joins the launch the options and environment describe (-pn/-pr/-pi, or mpirun,
    /// srun or torchrun). A group passed in stays the caller's to dispose (tests run ranks as threads).
    /// </param>
    /// <param name="hellaSwag">The evaluator for -h 1; null loads llm-eval's from --hellaswag-data.</param>
    public static TrainResult Train(TrainOptions options, TextWriter output, CancellationToken ct = default,
        IProcessGroup? group = null, IHellaSwagEvaluator? hellaSwag = null)
    {
        // The launcher also recognises mpirun/srun/torchrun environments, so it is asked even without -pn.
        IProcessGroup joined = group ?? ProcessGroupFactory.Create(options);
        try
        {
            var start = TrainStart.Resolve(options, output);
            options.Validate(start.Model.Config, joined.Size);
            if (options.HellaSwag == 1) hellaSwag ??= LoadHellaSwag(options, joined);
            using var backend = start.Model.CreateBackend(options.Device, options.BatchSize, options.SeqLen, options.ToBackendOptions(joined));
            var verified = TrainStart.VerifyResumeState(options, start, backend, joined, output);
            if (!ReferenceEquals(verified, start)) backend.SetParameters(verified.Model.Parameters);
            if (verified.ResumeStep is int chosen && joined.Rank == 0) TrainStart.RetireSkipped(options, chosen, output);
            using var trainer = new Trainer(options, backend, joined, output, hellaSwag);
            return trainer.Run(verified.ResumeStep, verified.Model.Source, ct);
        }
        finally
        {
            if (group is null && !ReferenceEquals(joined, SingleProcess.Instance)) joined.Dispose();
        }
    }

    /// <summary>
    /// -h 1: llm-eval's HellaSwag evaluator, scored with the training backend at the run's B and T. Its data and the
    /// shapes are checked here, so a bad setup fails at start rather than at the first evaluation.
    /// </summary>
    private static HellaSwagEvaluator LoadHellaSwag(TrainOptions options, IProcessGroup group)
    {
        string path = options.HellaSwagData ?? HellaSwagData.FindDefault()
            ?? throw new ToolException($"HellaSwag data not found (looked for {string.Join(", ", HellaSwagData.DefaultPaths)}). " +
                "Fetch it with llm-fetch hellaswag, or pass --hellaswag-data FILE, or run without -h 1");
        var evaluator = new HellaSwagEvaluator(path, group.Rank, group.Size);
        if (evaluator.ProblemWith(options.BatchSize, options.SeqLen) is string problem)
            throw new ToolException($"{problem}. Raise -b/-t or run without -h 1");
        return evaluator;
    }
}
