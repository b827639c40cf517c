using System.Globalization;

namespace LlmNet.Model.Checkpoints;

/// <summary>
/// llm.c's output directory (-o) of checkpoints (train_gpt2.cu: write_checkpoint, delete_checkpoint, main's resume):
/// model_%08d.bin (rank 0), state_%08d_%05d.bin (one per rank) and an empty DONE_%08d written last. A checkpoint counts
/// only once its DONE file exists, and every file is written to a temporary name and renamed, so a kill at any moment
/// leaves the previous complete checkpoint usable.
/// </summary>
public sealed class CheckpointDirectory(string path)
{
    public string Path { get; } = path;

    public string ModelPath(int step) => System.IO.Path.Combine(Path, $"model_{step:D8}.bin");
    public string StatePath(int step, int rank) => System.IO.Path.Combine(Path, $"state_{step:D8}_{rank:D5}.bin");
    public string DonePath(int step) => System.IO.Path.Combine(Path, $"DONE_{step:D8}");

    public void WriteModel(int step, GptConfig config, ModelDtype dtype, ParameterChunkSource source) =>
        ModelFile.Write(ModelPath(step), config, dtype, source);

    public void WriteModel(int step, GptConfig config, ModelDtype dtype, float[] parameters) =>
        ModelFile.Write(ModelPath(step), config, dtype, parameters);

    public void WriteState(int step, TrainingState state) => StateFile.Write(StatePath(step, state.ProcessRank), state);

    /// <summary>Marks checkpoint <paramref name="step"/> complete; call after every rank wrote its files.</summary>
    public void MarkDone(int step)
    {
        Directory.CreateDirectory(Path);
        using var fs = new FileStream(DonePath(step), FileMode.Create, FileAccess.Write);
        fs.Flush(flushToDisk: true);
    }

    /// <summary>
    /// The largest step with a DONE_ file, or null when there is none (then training starts fresh).
    /// Only names of the form DONE_ followed by digits count, so stray temporaries are ignored.
    /// </summary>
    public int? LatestDone() => DoneSteps() is [int newest, ..] ? newest : null;

    /// <summary>Every step with a DONE_ file, newest first (the checkpoints a resume may start from).</summary>
    public IReadOnlyList<int> DoneSteps() => StepsOf("DONE_*", name => name[5..]).OrderDescending().ToList();

    // Steps named by files matching pattern, where digits(name) must be all digits; other names are ignored.
    private IEnumerable<int> StepsOf(string pattern, Func<string, string> digits)
    {
        if (!Directory.Exists(Path)) yield break;
        foreach (string file in Directory.EnumerateFiles(Path, pattern))
        {
            string d = digits(System.IO.Path.GetFileName(file));
            if (d.Length > 0 && d.All(char.IsAsciiDigit) && int.TryParse(d, NumberStyles.None, CultureInfo.InvariantCulture, out int step))
                yield return step;
        }
    }

    /// <summary>
    /// Removes the temporaries that a killed checkpoint write left (<see cref="LlmNet.Common.IO.AtomicFile"/> writes
    /// NAME.tmp-PID-GUID, then renames it): only names this class writes, model_%08d.bin.tmp-* (rank 0) and
    /// state_%08d_%05d.bin.tmp-* (rank 0 removes every rank's; another rank only its own). Call at start, before
    /// any rank can be writing a checkpoint. Returns the number of files and bytes removed.
    /// </summary>
    public (int Files, long Bytes) CleanStaleTemporaries(int rank = 0)
    {
        if (!Directory.Exists(Path)) return (0, 0);
        int files = 0;
        long bytes = 0;
        foreach (string file in Directory.EnumerateFiles(Path, "*.bin.tmp-*"))
        {
            string name = System.IO.Path.GetFileName(file);
            string final = name[..name.IndexOf(".tmp-", StringComparison.Ordinal)];
            bool ours = rank == 0
                ? IsStepName(final, "model_", 8, ".bin") || IsStateName(final, null)
                : IsStateName(final, rank);
            if (!ours) continue;
            long length = 0;
            try { length = new FileInfo(file).Length; } catch (IOException) { }
            if (TryDelete(file)) { files++; bytes += length; }
        }
        return (files, bytes);
    }

    private static bool IsStepName(string name, string prefix, int digits, string suffix) =>
        name.Length == prefix.Length + digits + suffix.Length && name.StartsWith(prefix, StringComparison.Ordinal) &&
        name.EndsWith(suffix, StringComparison.Ordinal) && name.AsSpan(prefix.Length, digits).IndexOfAnyExceptInRange('0', '9') < 0;

    // state_%08d_%05d.bin, of any rank when rank is null.
    private static bool IsStateName(string name, int? rank) =>
        name.Length == 24 && name.StartsWith("state_", StringComparison.Ordinal) && name.EndsWith(".bin", StringComparison.Ordinal) && name[14] == '_' &&
        name.AsSpan(6, 8).IndexOfAnyExceptInRange('0', '9') < 0 && name.AsSpan(15, 5).IndexOfAnyExceptInRange('0', '9') < 0 &&
        (rank is null || name.AsSpan(15, 5).SequenceEqual(rank.Value.ToString("D5", CultureInfo.InvariantCulture)));

    /// <summary>
    /// What is wrong with checkpoint <paramref name="step"/>'s state files (one per rank of <paramref name="processes"/>,
    /// <paramref name="shardParameterCount"/> optimizer values each), checked by size; null when every one is complete.
    /// </summary>
    public string? StateProblem(int step, int processes, long shardParameterCount)
    {
        for (int r = 0; r < processes; r++)
            if (StateFile.Verify(StatePath(step, r), shardParameterCount) is { } problem) return problem;
        return null;
    }

    /// <summary>
    /// Completes the rotation (-nk) that a kill interrupted, when resuming from <paramref name="latest"/>: the checkpoint
    /// that writing <paramref name="latest"/> deletes (a kill between its DONE_ and the deletion keeps it), and, with
    /// rotation on, model and state files below <paramref name="latest"/> that have no DONE_ (a deletion removes DONE_
    /// first, so these are half-deleted checkpoints, which no resume can use). Rank 0 removes DONE_ and models, every
    /// rank its own state files. Returns the steps cleaned.
    /// </summary>
    public IReadOnlyList<int> FinishDeletions(int latest, int every, int keep, int majorEvery, int rank = 0)
    {
        var cleaned = new SortedSet<int>();
        if (keep <= 0 || every <= 0) return [.. cleaned];
        if (DeleteOld(latest, every, keep, majorEvery, rank) is int old) cleaned.Add(old);
        var done = new HashSet<int>(DoneSteps());
        IEnumerable<int> models = rank == 0 ? StepsOf("model_*.bin", n => IsStepName(n, "model_", 8, ".bin") ? n[6..14] : "") : [];
        var states = StepsOf($"state_*_{rank:D5}.bin", n => IsStateName(n, rank) ? n[6..14] : "");
        foreach (int step in models.Concat(states).Where(s => s < latest && !done.Contains(s)).Distinct().ToList())
        {
            if (rank == 0) TryDelete(ModelPath(step));
            TryDelete(StatePath(step, rank));
            cleaned.Add(step);
        }
        return [.. cleaned];
    }

    /// <summary>
    /// The step whose checkpoint llm.c deletes after writing checkpoint <paramref name="step"/>, or null:
    /// step − keep·every when keep &gt; 0, it is positive, and it is not a major checkpoint (a multiple of
    /// <paramref name="majorEvery"/> when that is non-zero).
    /// </summary>
    public static int? StepToDelete(int step, int every, int keep, int majorEvery)
    {
        int stepDelete = step - keep * every;
        if (keep > 0 && stepDelete > 0 && (majorEvery == 0 || stepDelete % majorEvery != 0)) return stepDelete;
        return null;
    }

    /// <summary>
    /// Applies the rolling deletion rule after checkpoint <paramref name="step"/>. Rank 0 removes DONE_ first
    /// (so a half-deleted checkpoint is never taken as complete) and then the model; every rank removes its own
    /// state file. Missing files are ignored, as llm.c does. Returns the deleted step, if any.
    /// </summary>
    public int? DeleteOld(int step, int every, int keep, int majorEvery, int rank = 0)
    {
        if (StepToDelete(step, every, keep, majorEvery) is not int old) return null;
        if (rank == 0)
        {
            TryDelete(DonePath(old));
            TryDelete(ModelPath(old));
        }
        TryDelete(StatePath(old, rank));
        return old;
    }

    private static bool TryDelete(string file)
    {
        try { File.Delete(file); return true; } catch (IOException) { } catch (UnauthorizedAccessException) { }
        return false;
    }
}
