using System.Globalization;

namespace LlmNet.Model.Checkpoints;

/// <summary>
/// llm.c's output directory (-o) of checkpoints (spec §2.3): model_%08d.bin (rank 0), state_%08d_%05d.bin
/// (one per rank) and an empty DONE_%08d written last. A checkpoint counts only once its DONE file exists,
/// and every file is written to a temporary name and renamed, so a kill at any moment leaves the previous
/// complete checkpoint usable.
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
    public int? LatestDone()
    {
        if (!Directory.Exists(Path)) return null;
        int? best = null;
        foreach (string file in Directory.EnumerateFiles(Path, "DONE_*"))
        {
            string digits = System.IO.Path.GetFileName(file)[5..];
            if (digits.Length == 0 || !digits.All(char.IsAsciiDigit)) continue;
            if (!int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int step)) continue;
            if (best is null || step > best) best = step;
        }
        return best;
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

    private static void TryDelete(string file)
    {
        try { File.Delete(file); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
