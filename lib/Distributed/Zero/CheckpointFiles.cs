using System.Globalization;
using System.Text.RegularExpressions;

namespace LlmNet.Distributed.Zero;

/// <summary>
/// llm.c's checkpoint file names in the output directory (spec §2.2, §2.3) and the multi-process resume
/// rule: every rank reads its own state file, so a run resumes only with the process count that wrote it.
/// </summary>
public static partial class CheckpointFiles
{
    public static string ModelFile(string dir, int step) => Path.Combine(dir, $"model_{step:D8}.bin");
    public static string StateFile(string dir, int step, int rank) => Path.Combine(dir, $"state_{step:D8}_{rank:D5}.bin");
    public static string DoneFile(string dir, int step) => Path.Combine(dir, $"DONE_{step:D8}");

    /// <summary>The ranks that have a state file for <paramref name="step"/> in <paramref name="dir"/>, ascending.</summary>
    public static int[] StateRanks(string dir, int step)
    {
        var ranks = new List<int>();
        foreach (var path in Directory.EnumerateFiles(dir, $"state_{step:D8}_*.bin"))
        {
            var m = StateName().Match(Path.GetFileName(path));
            if (m.Success) ranks.Add(int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
        }
        ranks.Sort();
        return [.. ranks];
    }

    /// <summary>
    /// Checks, before anything is loaded, that the checkpoint at <paramref name="step"/> was written by
    /// exactly <paramref name="processCount"/> processes and that this rank's state file exists.
    /// </summary>
    public static void CheckResumable(string dir, int step, int processCount, int rank)
    {
        var ranks = StateRanks(dir, step);
        string mine = StateFile(dir, step, rank);
        // The highest rank present tells how many processes wrote the checkpoint; a gap below it is a missing file.
        int writers = ranks.Length == 0 ? 0 : ranks[^1] + 1;
        if (writers > 0 && writers != processCount)
            throw new DistributedException(
                $"{mine}: the checkpoint at step {step} was written by {writers} process(es) (state files for rank(s) {Describe(ranks)}) " +
                $"but this run has {processCount}; resume with {writers} processes (-pn / mpirun -np {writers}) or start a fresh run");
        if (!File.Exists(mine))
            throw new DistributedException($"{mine}: missing; every rank needs its own state file to resume, so the checkpoint at step {step} is incomplete");
    }

    /// <summary>
    /// Checks header slots 2 and 3 of a state file against this run (llm.c asserts both).
    /// </summary>
    public static void CheckStateHeader(string path, int fileProcessCount, int fileRank, int processCount, int rank)
    {
        if (fileProcessCount != processCount)
            throw new DistributedException(
                $"{path}: written by a run with {fileProcessCount} process(es) but this run has {processCount}; " +
                $"resume with {fileProcessCount} processes or start a fresh run");
        if (fileRank != rank)
            throw new DistributedException($"{path}: holds the state of rank {fileRank}, not rank {rank}; the file was renamed or copied from another rank");
    }

    private static string Describe(int[] ranks) =>
        ranks.Length <= 8 ? string.Join(", ", ranks) : $"{ranks[0]}..{ranks[^1]}";

    [GeneratedRegex(@"^state_\d{8}_(\d{5})\.bin$")]
    private static partial Regex StateName();
}
