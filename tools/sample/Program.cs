// Entry point of llm-sample; the tool is being built (see the issue tracker).
Console.Error.WriteLine("llm-sample: not built yet"); return 2;
