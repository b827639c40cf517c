using System.Runtime.CompilerServices;
using LlmNet.Common.Formats;

namespace LlmNet.Tools.Tokenize.Inputs;

/// <summary>A plain UTF-8 text file (or its .gz/.zst) is one document (as llm.c's tinyshakespeare.py treats its input).</summary>
public static class PlainTextInput
{
    public static async IAsyncEnumerable<Document> ReadAsync(string path, int inputIndex, long startIndex, [EnumeratorCancellation] CancellationToken ct)
    {
        if (startIndex > 0) yield break;
        ct.ThrowIfCancellationRequested();
        string text = await Task.Run(() => InputStreams.ReadAllText(path), ct);
        if (text.Length == 0) throw new DataFormatException(path, "is empty: a text input must hold a document", "Remove it from the inputs");
        yield return new Document(text, new DocumentPosition(inputIndex, 0, 0), new FileInfo(path).Length);
    }
}
