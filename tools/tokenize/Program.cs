using LlmNet.Tools.Tokenize;

return CommandLine.Invoke(CommandLine.Build(), args);
