// Entry point of llm-train; the tool is being built (see the issue tracker).
Console.Error.WriteLine("llm-train: not built yet"); return 2;
