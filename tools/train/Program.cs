using LlmNet.Training.Cli;

namespace LlmNet.Tools.Train;

/// <summary>llm-train: GPT-2 training with llm.c's command line. See docs/train.md.</summary>
public static class TrainProgram
{
    /// <summary>The pieces this executable wires into the trainer.</summary>
    public static TrainHost Host { get; } = new()
    {
        CreateBackend = BackendFactory.Create,
        CreateHellaSwag = HellaSwagHook.Create,
        CreateProcessGroup = ProcessGroupFactory.Create,
    };

    public static int Main(string[] args) => Run(args, Console.Out);

    /// <summary>In-process entry point (tests): same as running the executable with <paramref name="args"/>.</summary>
    public static int Run(string[] args, TextWriter output) => TrainCli.Run(args, Host, output);
}
