// Entry point of llm-eval; the tool is being built (see the issue tracker).
Console.Error.WriteLine("llm-eval: not built yet"); return 2;
