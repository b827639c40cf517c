using LlmNet.Tools.Tokenize;

return CommandLine.Invoke(CommandLine.Build(), LlmNet.Common.Cli.ToolRunner.TakeVerboseFlag(args, out _));
