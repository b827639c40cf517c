using System.Runtime.CompilerServices;

// The tokenizer tests drive both merge strategies directly to prove they agree.
[assembly: InternalsVisibleTo("LlmNet.Tokenize.Tests")]
