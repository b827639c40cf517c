// Entry point of llm-plot; the tool is being built (see the issue tracker).
Console.Error.WriteLine("llm-plot: not built yet"); return 2;
