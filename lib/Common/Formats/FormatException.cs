namespace LlmNet.Common.Formats;

/// <summary>
/// A data file is not what it claims to be (wrong magic, truncated, wrong size). The message names
/// the file and says how to fix it; tools print it as one line and exit non-zero.
/// </summary>
public sealed class DataFormatException(string path, string problem, string? fix = null)
    : Exception(fix is null ? $"{path}: {problem}" : $"{path}: {problem}. {fix}")
{
    public string FilePath { get; } = path;
}
