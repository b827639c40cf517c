using System.Text;
using System.Text.Json.Nodes;
using LlmNet.Common.Cli;
using LlmNet.Common.IO;
using LlmNet.Eval.HellaSwag;
using LlmNet.Model;

namespace LlmNet.Tools.Eval;

/// <summary>
/// The --per-example file: one JSON line per example. With several processes each rank writes its own rows to
/// FILE.rankR, and after a barrier rank 0 concatenates them in rank order (the ranks hold consecutive slices,
/// so the result is in example order) into FILE and deletes the pieces. That needs FILE's folder to be one
/// every rank sees (a shared file system when the ranks span nodes).
/// </summary>
internal static class PerExampleFile
{
    public static string RankPath(string path, int rank) => $"{path}.rank{rank}";

    /// <summary>Writes this process's rows; with a group, leaves FILE complete on rank 0 once every rank returns.</summary>
    public static void Write(string path, IReadOnlyList<HellaSwagPrediction> predictions, IProcessGroup group)
    {
        if (group.Size == 1)
        {
            WriteRows(path, predictions);
            return;
        }
        WriteRows(RankPath(path, group.Rank), predictions);
        group.Barrier();
        if (group.Rank == 0) Merge(path, group.Size);
    }

    private static void Merge(string path, int size)
    {
        for (int r = 0; r < size; r++)
            if (!File.Exists(RankPath(path, r)))
                throw new ToolException($"{RankPath(path, r)}: rank {r}'s per-example rows are not there. " +
                    "With several processes --per-example must name a folder every rank sees (a shared file system)");
        try
        {
            AtomicFile.Write(path, stream =>
            {
                for (int r = 0; r < size; r++)
                {
                    using var piece = File.OpenRead(RankPath(path, r));
                    piece.CopyTo(stream);
                }
            });
            for (int r = 0; r < size; r++) File.Delete(RankPath(path, r));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ToolException($"{path}: cannot merge the per-example files of {size} ranks ({e.Message}). Check the folder exists and is writable", e);
        }
    }

    private static void WriteRows(string path, IReadOnlyList<HellaSwagPrediction> predictions)
    {
        try
        {
            AtomicFile.Write(path, stream =>
            {
                using var writer = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true) { NewLine = "\n" };
                foreach (var p in predictions)
                {
                    var line = new JsonObject
                    {
                        ["index"] = p.Index,
                        ["label"] = p.Label,
                        ["prediction"] = p.Prediction,
                        ["correct"] = p.Correct,
                        ["losses"] = new JsonArray([.. p.MeanLosses.Select(l => JsonValue.Create(l))]),
                    };
                    writer.WriteLine(line.ToJsonString());
                }
            });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ToolException($"{path}: cannot write the per-example file ({e.Message}). Check the folder exists and is writable", e);
        }
    }
}
