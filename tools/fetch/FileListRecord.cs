using System.Text;
using LlmNet.Common.Cli;
using LlmNet.Common.IO;

namespace LlmNet.Tools.Fetch;

/// <summary>
/// Which files a listed fetch (a parquet folder of the Hub) consisted of, so that --offline can tell later, without
/// the listing, whether all of them are here. For a command it is OUT/.llm-fetch/COMMAND.files: a first line naming
/// the request ("repo@revision/path files=N"), then one relative file name per line. Written only after every file
/// of the request was verified, so the record never names a fetch that did not finish.
/// </summary>
public static class FileListRecord
{
    public static string PathFor(string outDir, string command) =>
        Path.Combine(outDir, VerifiedMarker.FolderName, command + ".files");

    public static void Write(string outDir, string command, string request, IEnumerable<string> names)
    {
        var text = new StringBuilder().Append(request).Append('\n');
        foreach (string name in names) text.Append(name).Append('\n');
        AtomicFile.Write(PathFor(outDir, command), s => s.Write(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>The names the finished fetch of <paramref name="request"/> wrote, or a one-line error saying there was none.</summary>
    public static List<string> Read(string outDir, string command, string request)
    {
        string path = PathFor(outDir, command);
        string rerun = $"run the same llm-fetch {command} command once without --offline";
        if (!File.Exists(path))
            throw new ToolException($"{outDir}: no record of a finished {command} fetch here ({path} is missing); {rerun}");
        string[] lines = File.ReadAllLines(path);
        if (lines.Length == 0 || lines[0] != request)
            throw new ToolException($"{path}: records the fetch of {(lines.Length > 0 ? lines[0] : "nothing")}, not {request}; {rerun}");
        return lines.Skip(1).Where(l => l.Length > 0).ToList();
    }
}
