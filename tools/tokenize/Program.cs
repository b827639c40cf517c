// Entry point of llm-tokenize; the tool is being built (see the issue tracker).
Console.Error.WriteLine("llm-tokenize: not built yet"); return 2;
