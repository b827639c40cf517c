using System.CommandLine;
using System.Globalization;
using LlmNet.Common.Cli;

namespace LlmNet.Tools.Fetch;

/// <summary>
/// The llm-fetch command line: fineweb-edu (parquet from the Hub), edu-fineweb-shards (llm.c's token shards)
/// and hellaswag (the official validation jsonl). Callable in-process with its own environment and log writer.
/// </summary>
public static class FetchApp
{
    private const string Tool = "llm-fetch";

    /// <summary>The process entry point: real environment variables, log and errors on stderr, live progress on a terminal.</summary>
    public static int Run(string[] args) => Run(args, Environment.GetEnvironmentVariable, null);

    /// <param name="env">Environment lookup (HF_ENDPOINT, HF_TOKEN, LLMNET_HELLASWAG_URL).</param>
    /// <param name="log">Where progress lines and the error line go; null means stderr, with progress bars when stderr is a terminal.</param>
    public static int Run(string[] args, Func<string, string?> env, TextWriter? log)
    {
        args = ToolRunner.TakeVerboseFlag(args, out _);
        TextWriter err = log ?? Console.Error;
        var app = new Cli(env, err, liveDisplay: log is null && !Console.IsErrorRedirected);
        ParseResult parse = app.Root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            err.WriteLine($"{Tool}: error: {parse.Errors[0].Message} (see {Tool} --help)");
            return ToolRunner.Usage;
        }
        return parse.Invoke(new InvocationConfiguration { Output = Console.Out, Error = err });
    }

    private sealed class Cli
    {
        private readonly Func<string, string?> _env;
        private readonly TextWriter _err;
        private readonly bool _liveDisplay;

        // Options every subcommand has.
        private readonly Option<string> _out = new("--out", "-o") { Description = "Output folder (created if missing)", Required = true };
        private readonly Option<int> _jobs = new("--jobs", "-j") { Description = "Files downloaded in parallel", DefaultValueFactory = _ => 8 };
        private readonly Option<bool> _quiet = new("--quiet", "-q") { Description = "No progress output; only errors" };
        private readonly Option<int> _retries = new("--retries") { Description = "Attempts per request before giving up (an attempt that made progress resets the count). A host that does not resolve or refuses connections fails at once unless this is given", DefaultValueFactory = _ => 10 };
        private readonly Option<double> _backoff = new("--backoff") { Description = "First retry delay in seconds; doubles each retry up to 60 s (a server's Retry-After wins)", DefaultValueFactory = _ => 1.0 };
        private readonly Option<double> _stall = new("--stall-timeout") { Description = "Seconds without data before a connection counts as dropped and is retried", DefaultValueFactory = _ => 60.0 };
        private readonly Option<double> _interval = new("--log-interval") { Description = "Seconds between progress lines when stderr is not a terminal", DefaultValueFactory = _ => 10.0 };

        // Hub options.
        private readonly Option<string> _revision = new("--revision") { Description = "Branch, tag or commit of the dataset repository", DefaultValueFactory = _ => "main" };
        private readonly Option<string?> _endpoint = new("--endpoint") { Description = $"Hub base URL (default: $HF_ENDPOINT, else {HubClient.DefaultEndpoint})" };

        // fineweb-edu
        private readonly Option<string> _sample = new("--sample") { Description = "FineWeb-EDU sample: 10BT, 100BT or 350BT (the repository folder sample/<N>)", DefaultValueFactory = _ => "10BT" };
        private readonly Option<string?> _path = new("--path") { Description = "Folder in the repository to fetch instead of --sample, e.g. data/CC-MAIN-2024-10" };
        private readonly Option<int> _files = new("--files", "-n") { Description = "Fetch only the first N parquet files in sorted order (0 = all)", DefaultValueFactory = _ => 0 };
        private readonly Option<string> _fwRepo = new("--repo") { Description = "Dataset repository", DefaultValueFactory = _ => Sources.FineWebEduRepo };

        // edu-fineweb-shards
        private readonly Option<int> _shards = new("--shards") { Description = $"Number of train shards (1..{Sources.MaxEduTrainShards}, 100M tokens each); the val shard is always fetched", Required = true };
        private readonly Option<string> _shardRepo = new("--repo") { Description = "Dataset repository", DefaultValueFactory = _ => Sources.EduShardsRepo };

        // hellaswag
        private readonly Option<string?> _url = new("--url") { Description = $"Base URL holding {Sources.HellaSwagFile} (default: $LLMNET_HELLASWAG_URL, else {Sources.HellaSwagBaseUrl})" };
        private readonly Option<string> _blob = new("--blob-id") { Description = "Expected git blob id of the file", DefaultValueFactory = _ => Sources.HellaSwagBlobId, Hidden = true };

        public Cli(Func<string, string?> env, TextWriter err, bool liveDisplay)
        {
            _env = env;
            _err = err;
            _liveDisplay = liveDisplay;
            Root = new RootCommand("Downloads data for llm.net: FineWeb-EDU parquet files, llm.c's pre-tokenized FineWeb-EDU shards and the HellaSwag validation set.\n"
                + "Downloads resume (HTTP Range) after dropped connections and interrupted runs, retry with backoff, are verified (size and sha256\n"
                + "from the Hub, or git blob id) before they get their final name, and re-runs skip verified files.\n"
                + "Environment: HF_ENDPOINT (Hub base URL), HF_TOKEN (Bearer token, sent only to the Hub host), LLMNET_HELLASWAG_URL.");

            var fineweb = new Command("fineweb-edu", $"Parquet files (about 2 GB each) of {Sources.FineWebEduRepo}, in sorted order, into --out");
            AddCommon(fineweb, hub: true);
            fineweb.Options.Add(_fwRepo);
            fineweb.Options.Add(_sample);
            fineweb.Options.Add(_path);
            fineweb.Options.Add(_files);
            fineweb.SetAction(pr => Execute(pr, RunFineWeb));
            Root.Subcommands.Add(fineweb);

            var shards = new Command("edu-fineweb-shards", $"llm.c's GPT-2 token shards from {Sources.EduShardsRepo}: edu_fineweb_val_000000.bin and edu_fineweb_train_000001.bin.. (~200 MB each)");
            AddCommon(shards, hub: true);
            shards.Options.Add(_shardRepo);
            shards.Options.Add(_shards);
            shards.SetAction(pr => Execute(pr, RunShards));
            Root.Subcommands.Add(shards);

            var hellaswag = new Command("hellaswag", $"The official HellaSwag validation set ({Sources.HellaSwagFile}, 10,042 items), verified by its git blob id");
            AddCommon(hellaswag, hub: false);
            hellaswag.Options.Add(_url);
            hellaswag.Options.Add(_blob);
            hellaswag.SetAction(pr => Execute(pr, RunHellaSwag));
            Root.Subcommands.Add(hellaswag);
        }

        public RootCommand Root { get; }

        private void AddCommon(Command command, bool hub)
        {
            foreach (var o in new Option[] { _out, _jobs, _quiet, _retries, _backoff, _stall, _interval }) command.Options.Add(o);
            if (hub) { command.Options.Add(_revision); command.Options.Add(_endpoint); }
        }

        private int Execute(ParseResult pr, Func<ParseResult, Session, CancellationToken, Task<List<DownloadItem>>> plan) =>
            ToolRunner.Run(Tool, ct =>
            {
                int jobs = pr.GetValue(_jobs);
                if (jobs < 1) throw new UsageException($"--jobs {jobs}: must be at least 1");
                int retries = pr.GetValue(_retries);
                if (retries < 1) throw new UsageException($"--retries {retries}: must be at least 1");
                double backoff = pr.GetValue(_backoff), stall = pr.GetValue(_stall), interval = pr.GetValue(_interval);
                if (backoff < 0 || stall <= 0 || interval < 0) throw new UsageException("--backoff, --stall-timeout and --log-interval take non-negative seconds");
                string outDir = pr.GetRequiredValue(_out);
                // An explicit --retries also covers hosts that cannot be reached (a network expected to come back).
                var policy = new RetryPolicy
                {
                    MaxAttempts = retries, BaseDelay = TimeSpan.FromSeconds(backoff),
                    RetryUnreachable = pr.GetResult(_retries) is { Implicit: false },
                };
                bool quiet = pr.GetValue(_quiet);
                try
                {
                    if (_liveDisplay && !quiet)
                    {
                        SpectreProgress.RunAsync(p => Work(p)).GetAwaiter().GetResult();
                    }
                    else
                    {
                        var plain = new PlainProgress(_err, TimeSpan.FromSeconds(interval), quiet);
                        Work(plain).GetAwaiter().GetResult();
                    }
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    _err.WriteLine($"{Tool}: interrupted; verified files are kept and partial downloads stay as .part files that resume on the next run");
                    return ToolRunner.Interrupted;
                }
                return ToolRunner.Ok;

                async Task Work(IFetchProgress progress)
                {
                    Uri? endpoint = pr.CommandResult.Command.Options.Contains(_endpoint) ? Endpoint(pr.GetValue(_endpoint)) : null;
                    using var http = new HttpTransport(_env("HF_TOKEN"), endpoint, TimeSpan.FromSeconds(stall));
                    var session = new Session(http, policy, progress, endpoint);
                    List<DownloadItem> items = await plan(pr, session, ct).ConfigureAwait(false);
                    var downloader = new Downloader(http, policy, progress, outDir, jobs);
                    try { await downloader.FetchAllAsync(items, ct).ConfigureAwait(false); }
                    finally { progress.End(); }
                }
            }, _err);

        private Uri Endpoint(string? flag)
        {
            string raw = flag ?? (_env("HF_ENDPOINT") is { Length: > 0 } e ? e : HubClient.DefaultEndpoint);
            if (!Uri.TryCreate(raw.TrimEnd('/') + "/", UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                throw new UsageException($"Hub endpoint '{raw}' is not an http(s) URL (from --endpoint or HF_ENDPOINT)");
            return uri;
        }

        private Task<List<DownloadItem>> RunFineWeb(ParseResult pr, Session s, CancellationToken ct)
        {
            int files = pr.GetValue(_files);
            if (files < 0) throw new UsageException($"--files {files}: must be 0 (all) or more");
            string? path = pr.GetValue(_path);
            if (path is null)
            {
                string sample = pr.GetValue(_sample)!;
                if (sample is not ("10BT" or "100BT" or "350BT"))
                    throw new UsageException($"--sample {sample}: FineWeb-EDU has samples 10BT, 100BT and 350BT");
                path = $"sample/{sample}";
            }
            return Sources.FineWebEduAsync(s.Hub(), pr.GetValue(_fwRepo)!, pr.GetValue(_revision)!, path.Trim('/'), files, ct);
        }

        private Task<List<DownloadItem>> RunShards(ParseResult pr, Session s, CancellationToken ct)
        {
            int shards = pr.GetValue(_shards);
            if (shards is < 1 or > Sources.MaxEduTrainShards)
                throw new UsageException($"--shards {shards}: choose 1..{Sources.MaxEduTrainShards} train shards");
            return Sources.EduShardsAsync(s.Hub(), pr.GetValue(_shardRepo)!, pr.GetValue(_revision)!, shards, ct);
        }

        private Task<List<DownloadItem>> RunHellaSwag(ParseResult pr, Session s, CancellationToken ct)
        {
            string baseUrl = pr.GetValue(_url) ?? (_env("LLMNET_HELLASWAG_URL") is { Length: > 0 } e ? e : Sources.HellaSwagBaseUrl);
            string blob = pr.GetValue(_blob)!;
            if (blob.Length != 40 || !blob.All(Uri.IsHexDigit)) throw new UsageException($"--blob-id {blob}: expected 40 hex digits");
            return Task.FromResult(Sources.HellaSwag(baseUrl, blob));
        }
    }

    /// <summary>What a plan step needs to list files.</summary>
    private sealed record Session(HttpTransport Http, RetryPolicy Policy, IFetchProgress Progress, Uri? Endpoint)
    {
        public HubClient Hub() => new(Http, Endpoint ?? throw new InvalidOperationException("no Hub endpoint"), Policy, Progress);
    }
}
