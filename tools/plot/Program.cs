using System.CommandLine;
using System.CommandLine.Help;
using LlmNet.Common.Cli;
using LlmNet.Tools.Plot;

return PlotCommand.Run(args);

namespace LlmNet.Tools.Plot
{
    /// <summary>The command line of llm-plot.</summary>
    public static class PlotCommand
    {
        public static int Run(string[] args)
        {
            args = ToolRunner.TakeVerboseFlag(args, out _);
            var logs = new Argument<string[]>("LOG")
            {
                Arity = ArgumentArity.OneOrMore,
                Description = "main.log files written by llm-train (or llm.c's train_gpt2), or the -o folders holding them; several runs are overlaid",
            };
            logs.Validators.Add(r =>
            {
                // A string[] argument would swallow a mistyped option; a LOG never starts with '-' unless that file exists.
                foreach (var t in r.Tokens)
                    if (t.Value.StartsWith('-') && !File.Exists(t.Value) && !Directory.Exists(t.Value))
                        r.AddError($"unknown option '{t.Value}'");
            });
            var output = new Option<string?>("--out", "-o")
            {
                HelpName = "FILE",
                Description = "image to write, FILE.png or FILE.svg (written atomically). Without it only the text summary is printed",
            };
            var labels = new Option<string[]>("--label", "-l")
            {
                HelpName = "NAME",
                Description = "legend label of each LOG in order (repeat the option); default: the name of the folder holding the log",
                AllowMultipleArgumentsPerToken = false,
            };
            var size = new Option<string?>("--size", "-s")
            {
                HelpName = ModelSize.Choices,
                Description = "GPT-2 size whose OpenAI checkpoint values are drawn as reference lines (d12/d24/d36/d48 also work). " +
                              "Default: the size named in the logs' folder (log_gpt2_350M, d24), else 124M",
            };
            size.Validators.Add(r =>
            {
                if (r.GetValueOrDefault<string?>() is { } s && !ModelSize.TryParse(s, out _))
                    r.AddError($"--size '{s}' is not one of {ModelSize.Choices} (or d12, d24, d36, d48)");
            });
            var extra = new Option<bool>("--extra", "-x") { Description = "also draw the learning rate and the gradient norm panels" };
            var smooth = new Option<int?>("--smooth")
            {
                HelpName = "STEPS",
                Description = "span of the moving average drawn over the raw train loss; 0 or 1 draws only the raw curve. Default: about 1/50 of the steps, at most 250",
            };
            var lossTop = new Option<double?>("--loss-top")
            {
                HelpName = "LOSS",
                Description = "top of the loss axis. Default: 4.0 (as llm.c's notebook) once a run's loss ends below 3.75, else fit to the curves",
            };
            var showReference = new Option<bool>("--show-reference")
            {
                Description = "stretch the loss axis to include the OpenAI GPT-2 val loss line. Default: the axis fits the curves and the line is drawn only when it falls inside",
            };
            var width = new Option<int?>("--width") { HelpName = "PIXELS", Description = "image width [default: 800 per column; two panels side by side: 1600]" };
            var height = new Option<int?>("--height") { HelpName = "PIXELS", Description = "image height [default: 600 per row of two panels]" };
            var watch = new Option<bool>("--watch", "-w") { Description = "keep running: redraw whenever a log grows, until Ctrl+C" };
            var interval = new Option<double>("--interval")
            {
                HelpName = "SECONDS",
                Description = "how often --watch looks at the logs",
                DefaultValueFactory = _ => 2.0,
            };
            var font = new Option<string?>("--font")
            {
                HelpName = "FILE.ttf",
                Description = "font file for the figure's text (also $LLMNET_PLOT_FONT); default: a sans font from /usr/share/fonts",
            };
            var quiet = new Option<bool>("--quiet", "-q") { Description = "print no summary or progress lines, only warnings and errors" };
            foreach (var o in new Option[] { width, height })
                o.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is { } v && (v < 100 || v > 10000)) r.AddError($"{r.Option.Name} must be between 100 and 10000 pixels"); });
            interval.Validators.Add(r => { if (r.GetValueOrDefault<double>() is var v && !(v > 0)) r.AddError("--interval must be a positive number of seconds"); });

            var root = new RootCommand(
                "Draws llm.c training curves (train/val loss, HellaSwag accuracy) from main.log files as a PNG or SVG " +
                "image, with the OpenAI GPT-2/GPT-3 checkpoint values as reference lines, and prints a short summary.")
            {
                logs, output, labels, size, extra, smooth, lossTop, showReference, width, height, watch, interval, font, quiet,
            };
            root.SetAction(parse => ToolRunner.Run("llm-plot", ct =>
            {
                ModelSize? chosen = parse.GetValue(size) is { } s && ModelSize.TryParse(s, out var m) ? m : null;
                var request = new PlotRequest
                {
                    Logs = parse.GetValue(logs) ?? [],
                    Out = parse.GetValue(output),
                    Labels = parse.GetValue(labels) ?? [],
                    Size = chosen,
                    Figure = new FigureOptions
                    {
                        Extra = parse.GetValue(extra),
                        SmoothWindow = parse.GetValue(smooth),
                        LossTop = parse.GetValue(lossTop),
                        ShowReference = parse.GetValue(showReference),
                        Width = parse.GetValue(width),
                        Height = parse.GetValue(height),
                    },
                    Watch = parse.GetValue(watch),
                    Interval = TimeSpan.FromSeconds(parse.GetValue(interval)),
                    Quiet = parse.GetValue(quiet),
                    FontFile = parse.GetValue(font),
                };
                return new Plotter(request, Console.Out, Console.Error).Run(ct);
            }));

            var result = root.Parse(args);
            if (result.Errors.Count > 0 && result.Action is not HelpAction)
            {
                string problem = (result.GetResult(logs)?.Tokens.Count ?? 0) == 0
                    ? "no LOG given: pass one or more main.log files (or the folders holding them)"
                    : result.Errors[0].Message;
                Console.Error.WriteLine($"llm-plot: error: {problem} (see llm-plot --help)");
                return ToolRunner.Usage;
            }
            return result.Invoke();
        }
    }
}
