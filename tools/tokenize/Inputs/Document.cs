namespace LlmNet.Tools.Tokenize.Inputs;

/// <summary>
/// Where a document sits in the list of inputs: the input's index, the document's index inside that
/// input, and a byte offset to seek to when reopening it (the line start in JSONL; unused elsewhere).
/// </summary>
public readonly record struct DocumentPosition(int Input, long Index, long ByteOffset);

/// <summary>One document's text, where it came from, and how many bytes of its input are read once it is taken.</summary>
public readonly record struct Document(string Text, DocumentPosition Position, long InputBytesDone);
