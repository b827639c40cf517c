using System.CommandLine;
using System.CommandLine.Invocation;

namespace LlmNet.Tools.Tokenize;

/// <summary>Parses and runs a command tree with the project's exit codes (usage errors exit 2).</summary>
public static class CommandLine
{
    public const string ToolName = "llm-tokenize";

    /// <summary>
    /// The command tree: the root command itself tokenizes INPUT...; other jobs are subcommands
    /// beside it (add one with <c>root.Add</c>).
    /// </summary>
    public static RootCommand Build()
    {
        var root = new RootCommand("Tokenize documents (parquet, JSON Lines, text) into llm.c token shards (GPT-2's BPE unless --tokenizer says otherwise); " +
            "encode and decode print ids and text.");
        TokenizeCommand.Configure(root);
        root.Add(EncodeCommand.Create());
        root.Add(DecodeCommand.Create());
        root.Add(BenchCommand.Create());
        root.Add(HellaSwagCommand.Create());
        return root;
    }

    public static int Invoke(RootCommand root, string[] args)
    {
        var parsed = root.Parse(args);
        if (parsed.Action is ParseErrorAction)
        {
            foreach (var error in parsed.Errors)
                Console.Error.WriteLine($"{ToolName}: error: {error.Message} (see {ToolName} --help)");
            return Common.Cli.ToolRunner.Usage;
        }
        return parsed.Invoke();
    }
}
