using LlmNet.Common.Cli;
using LlmNet.Cuda;
using LlmNet.Distributed.Launch;
using LlmNet.Model;

namespace LlmNet.Tools.Eval;

/// <summary>
/// What every task shares: the model, the device, this process's place in the launch, the process group (joined on
/// first use, over NCCL on CUDA and TCP on the CPU, as llm-train does) and progress on stderr.
/// </summary>
internal sealed class EvalContext(string model, string device, int threads, LaunchInfo launch, bool quiet, string groupPurpose) : IDisposable
{
    private IProcessGroup? _group;

    public string Model { get; } = model;
    /// <summary>auto, cpu or cuda as asked; <see cref="ResolvedDevice"/> is what auto became.</summary>
    public string Device { get; } = device;
    public string ResolvedDevice { get; } = Backends.Resolve(device);
    public int Threads { get; } = threads;
    public LaunchInfo Launch { get; } = launch;
    public bool Quiet { get; } = quiet;
    /// <summary>The device name of the backend the task created (for the result), or the resolved device.</summary>
    public string DeviceName { get; private set; } = Backends.Resolve(device);

    /// <summary>The group this process sums its share over (one process or a manual split: nobody else).</summary>
    public IProcessGroup Group => _group ??= LaunchOptions.Join(Launch, ResolvedDevice, groupPurpose);

    /// <summary>Only a group's rank 0 reports; a manual split reports every process's own share.</summary>
    public bool Reports => Group.Rank == 0;

    /// <summary>
    /// A backend on this process's device sized for (maxBatch, maxSeqLen) holding the model (<see cref="LoadedModel"/>:
    /// an llm.c model file, a Hugging Face folder, or a descriptor such as d12 for llm.c's fresh seed-42 init). It is
    /// inference-only on CUDA (no gradients or optimizer state), uses <see cref="Threads"/> on the CPU (≤ 0: every core),
    /// and the group's local rank picks the GPU.
    /// </summary>
    /// <param name="seqLenSource">
    /// Where T came from when the user did not set it (e.g. "the longest example of FILE needs"), so a model too short
    /// for it is not answered with advice about a flag nobody passed; null: T is the user's --seq-len.
    /// </param>
    public IGptBackend CreateBackend(int maxBatch, int maxSeqLen, string? seqLenSource = null)
    {
        var group = Group; // on first use this joins the group, before the model is read
        LoadedModel model;
        try { model = LoadedModel.Load(Model); }
        catch (ArgumentException e) { throw new ToolException(e.Message); }
        if (maxSeqLen > model.Config.MaxSeqLen)
            throw new ToolException(seqLenSource is null
                ? $"{Model}: the model's context is {model.Config.MaxSeqLen} positions but T = {maxSeqLen} was asked for. Lower --seq-len"
                : $"{Model}: the model's context is {model.Config.MaxSeqLen} positions, but {seqLenSource} {maxSeqLen}. Score it with a model whose context is at least that long");
        var backend = model.CreateBackend(ResolvedDevice, maxBatch, maxSeqLen, new BackendOptions { CpuThreads = Threads, ProcessGroup = group, Training = false });
        DeviceName = backend.DeviceName;
        return backend;
    }

    /// <summary>Runs <paramref name="work"/> with progress on stderr (a bar on a terminal, a line every 10 s otherwise).</summary>
    public T Progress<T>(string label, string unit, Func<Action<int, int>, T> work) => ConsoleProgress.Run(label, unit, Quiet, work);

    /// <summary>A line for stderr, unless --quiet.</summary>
    public void Say(string line)
    {
        if (!Quiet) Console.Error.WriteLine(line);
    }

    public void Dispose() => _group?.Dispose();
}
