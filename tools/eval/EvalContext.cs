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

    /// <summary>A backend on this process's device sized for (maxBatch, maxSeqLen) holding the model (<see cref="BackendFactory"/>).</summary>
    public IGptBackend CreateBackend(int maxBatch, int maxSeqLen, string? seqLenSource = null)
    {
        var backend = BackendFactory.Create(ResolvedDevice, Model, maxBatch, maxSeqLen, Threads, Group, seqLenSource);
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
