using LlmNet.Common.Cli;
using LlmNet.Eval.HellaSwag;
using LlmNet.Model;
using LlmNet.Training;

namespace LlmNet.Tools.Train;

/// <summary>-h 1: HellaSwag accuracy from LlmNet.Eval, scored with the training backend at the run's B and T.</summary>
public static class HellaSwagHook
{
    public static HellaSwagEvaluator Create(TrainOptions options, IProcessGroup group)
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
