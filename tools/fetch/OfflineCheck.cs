using LlmNet.Common.Cli;

namespace LlmNet.Tools.Fetch;

/// <summary>
/// --offline: decides without the network whether a fetch has nothing left to do. Every file must be in the output
/// folder with a verification record that still matches it (<see cref="VerifiedMarker"/>): the record was written
/// only after the file matched its source's size and hash, so a node without internet can trust what an earlier
/// online run verified. Where the expected digest is known without the source (HellaSwag's blob id), a file that
/// lost its record is hashed again instead.
/// </summary>
public static class OfflineCheck
{
    /// <summary>One file the fetch consists of; <paramref name="Digest"/> is null where only the source's listing knows it.</summary>
    public sealed record Expected(string RelativePath, ExpectedDigest? Digest);

    /// <summary>Throws a one-line <see cref="ToolException"/> naming the first file that is missing or unverified.</summary>
    public static void Verify(string outDir, string command, IReadOnlyList<Expected> files, CancellationToken ct)
    {
        string rerun = $"run the same llm-fetch {command} command without --offline";
        foreach (var file in files)
        {
            ct.ThrowIfCancellationRequested();
            string path = Path.Combine(outDir, file.RelativePath);
            if (!File.Exists(path))
                throw new ToolException($"{path}: missing ({files.Count} files expected in {outDir}); {rerun} to fetch it");
            string? tag = VerifiedMarker.RecordedTag(outDir, file.RelativePath, path);
            if (tag is not null && (file.Digest is null || tag == file.Digest.Tag)) continue;
            if (file.Digest is { } digest && DigestBuilder.ComputeFile(path, digest.Kind, ct) == digest.Hex)
            {
                VerifiedMarker.Record(outDir, file.RelativePath, path, digest);
                continue;
            }
            throw new ToolException($"{path}: present but not verified (no llm-fetch record, or the file changed since it was checked); {rerun} to check it against the source");
        }
    }
}
