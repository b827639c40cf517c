// Entry point of llm-fetch; the tool is being built (see the issue tracker).
Console.Error.WriteLine("llm-fetch: not built yet"); return 2;
