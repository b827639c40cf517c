using System.CommandLine;
using System.Globalization;
using LlmNet.Common.Cli;

namespace LlmNet.Tools.Fetch;

/// <summary>
/// The llm-fetch command line: fineweb-edu and fineweb (parquet from the Hub), edu-fineweb-shards and fineweb-shards
/// (the pre-tokenized shards llm.c's download scripts fetch) and hellaswag (the official validation jsonl).
/// Callable in-process with its own environment and log writer.
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
        private readonly Option<bool> _offline = new("--offline") { Description = "Use no network: succeed when every file of this request is already in --out and was verified by an earlier run (its .llm-fetch record still matches the file), else fail naming the first one that is not" };

        // Hub options.
        private readonly Option<string> _revision = new("--revision") { Description = "Branch, tag or commit of the dataset repository", DefaultValueFactory = _ => "main" };
        private readonly Option<string?> _endpoint = new("--endpoint") { Description = $"Hub base URL (default: $HF_ENDPOINT, else {HubClient.DefaultEndpoint})" };

        // fineweb-edu, fineweb
        private readonly Option<string> _sample = new("--sample") { Description = "Sample: 10BT, 100BT or 350BT (the repository folder sample/<N>)", DefaultValueFactory = _ => "10BT" };
        private readonly Option<string?> _path = new("--path") { Description = "Folder in the repository to fetch instead of --sample, e.g. data/CC-MAIN-2024-10" };
        private readonly Option<int> _files = new("--files", "-n") { Description = "Fetch only the first N parquet files in sorted order (0 = all)", DefaultValueFactory = _ => 0 };
        private readonly Option<string> _eduRepo = new("--repo") { Description = "Dataset repository", DefaultValueFactory = _ => Sources.FineWebEduRepo };
        private readonly Option<string> _classicRepo = new("--repo") { Description = "Dataset repository", DefaultValueFactory = _ => Sources.FineWebRepo };

        // hellaswag
        private readonly Option<string?> _url = new("--url") { Description = $"Base URL holding {Sources.HellaSwagFile} (default: $LLMNET_HELLASWAG_URL, else {Sources.HellaSwagBaseUrl})" };
        private readonly Option<string> _blob = new("--blob-id") { Description = "Expected git blob id of the file", DefaultValueFactory = _ => Sources.HellaSwagBlobId, Hidden = true };

        public Cli(Func<string, string?> env, TextWriter err, bool liveDisplay)
        {
            _env = env;
            _err = err;
            _liveDisplay = liveDisplay;
            Root = new RootCommand("Downloads data for llm.net: FineWeb and FineWeb-EDU parquet files, the pre-tokenized FineWeb and FineWeb-EDU shards\n"
                + "llm.c's download scripts fetch, and the HellaSwag validation set.\n"
                + "Downloads resume (HTTP Range) after dropped connections and interrupted runs, retry with backoff, are verified (size and sha256\n"
                + "from the Hub, or git blob id) before they get their final name, and re-runs skip verified files (--offline: check them without the network).\n"
                + "Environment: HF_ENDPOINT (Hub base URL), HF_TOKEN (Bearer token, sent only to the Hub host), LLMNET_HELLASWAG_URL.");

            AddParquet("fineweb-edu", Sources.FineWebEduRepo, "FineWeb-EDU: what llm.c's fineweb.py -t edu reads", _eduRepo);
            AddParquet("fineweb", Sources.FineWebRepo, "classic FineWeb: what llm.c's fineweb.py -t classic reads", _classicRepo);
            foreach (var dataset in ShardDataset.All) AddShards(dataset);

            var hellaswag = new Command("hellaswag", $"The official HellaSwag validation set ({Sources.HellaSwagFile}, 10,042 items), verified by its git blob id");
            AddCommon(hellaswag, hub: false);
            hellaswag.Options.Add(_url);
            hellaswag.Options.Add(_blob);
            hellaswag.SetAction(pr => Execute(pr, hellaswag.Name, RunHellaSwag, OfflineHellaSwag));
            Root.Subcommands.Add(hellaswag);
        }

        public RootCommand Root { get; }

        private void AddCommon(Command command, bool hub)
        {
            foreach (var o in new Option[] { _out, _jobs, _quiet, _retries, _backoff, _stall, _interval, _offline }) command.Options.Add(o);
            if (hub) { command.Options.Add(_revision); command.Options.Add(_endpoint); }
        }

        private void AddParquet(string name, string defaultRepo, string what, Option<string> repo)
        {
            var command = new Command(name, $"Parquet files (about 2 GB each) of {defaultRepo} ({what}), in sorted order, into --out");
            AddCommon(command, hub: true);
            command.Options.Add(repo);
            command.Options.Add(_sample);
            command.Options.Add(_path);
            command.Options.Add(_files);
            command.SetAction(pr => Execute(pr, name, (p, s, ct) => RunParquet(p, s, repo, ct), (p, o) => OfflineParquet(p, repo, name, o)));
            Root.Subcommands.Add(command);
        }

        private void AddShards(ShardDataset dataset)
        {
            var shards = new Option<string>("--shards")
            {
                Description = $"Train shards to fetch: all (the {dataset.TrainShards} that {dataset.LlmcScript} fetches, and llm.c's scripts glob) or 1..{dataset.TrainShards}, 100M tokens each; the val shard is always fetched",
                DefaultValueFactory = _ => "all",
            };
            var repo = new Option<string>("--repo") { Description = "Dataset repository (same file names)", DefaultValueFactory = _ => dataset.Repo };
            var command = new Command(dataset.Command, $"The GPT-2 token shards of {dataset.Contents} that llm.c's {dataset.LlmcScript} downloads from {dataset.Repo}: "
                + $"{dataset.ValName} and {dataset.TrainName(1)} .. {dataset.TrainName(dataset.TrainShards)} (~200 MB each); llm.c keeps them in dev/data/{dataset.Folder}/");
            AddCommon(command, hub: true);
            command.Options.Add(repo);
            command.Options.Add(shards);
            command.SetAction(pr => Execute(pr, dataset.Command,
                (p, s, ct) => RunShards(dataset, p.GetValue(shards), p.GetValue(repo)!, p.GetValue(_revision)!, s, ct),
                (p, _) => dataset.Names(dataset.ParseCount(p.GetValue(shards))).Select(n => new OfflineCheck.Expected(n, null)).ToList()));
            Root.Subcommands.Add(command);
        }

        /// <summary>What a command fetches: the files, and for a listed request the line its <see cref="FileListRecord"/> is kept under.</summary>
        private sealed record Plan(List<DownloadItem> Items, string? ListedRequest = null);

        private int Execute(ParseResult pr, string command, Func<ParseResult, Session, CancellationToken, Task<Plan>> plan,
            Func<ParseResult, string, List<OfflineCheck.Expected>> offline) =>
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
                if (pr.GetValue(_offline))
                {
                    var expected = offline(pr, outDir);
                    OfflineCheck.Verify(outDir, command, expected, ct);
                    if (!quiet) _err.WriteLine($"{Tool}: {expected.Count}/{expected.Count} files present and verified in {outDir} (offline check; nothing downloaded)");
                    return ToolRunner.Ok;
                }
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
                    Plan planned = await plan(pr, session, ct).ConfigureAwait(false);
                    var downloader = new Downloader(http, policy, progress, outDir, jobs);
                    try { await downloader.FetchAllAsync(planned.Items, ct).ConfigureAwait(false); }
                    finally { progress.End(); }
                    if (planned.ListedRequest is { } request)
                        FileListRecord.Write(outDir, command, request, planned.Items.Select(i => i.RelativePath));
                }
            }, _err);

        private Uri Endpoint(string? flag)
        {
            string raw = flag ?? (_env("HF_ENDPOINT") is { Length: > 0 } e ? e : HubClient.DefaultEndpoint);
            if (!Uri.TryCreate(raw.TrimEnd('/') + "/", UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                throw new UsageException($"Hub endpoint '{raw}' is not an http(s) URL (from --endpoint or HF_ENDPOINT)");
            return uri;
        }

        /// <summary>The repository folder a parquet command fetches (--path, else sample/--sample), and how many files (0 = all).</summary>
        private (string Path, int Files) ParquetRequest(ParseResult pr)
        {
            int files = pr.GetValue(_files);
            if (files < 0) throw new UsageException($"--files {files}: must be 0 (all) or more");
            string? path = pr.GetValue(_path);
            if (path is null)
            {
                string sample = pr.GetValue(_sample)!;
                if (sample is not ("10BT" or "100BT" or "350BT"))
                    throw new UsageException($"--sample {sample}: FineWeb and FineWeb-EDU have samples 10BT, 100BT and 350BT");
                path = $"sample/{sample}";
            }
            return (path.Trim('/'), files);
        }

        private string ListedRequest(ParseResult pr, Option<string> repo, (string Path, int Files) request) =>
            $"{pr.GetValue(repo)}@{pr.GetValue(_revision)}/{request.Path} files={(request.Files == 0 ? "all" : request.Files.ToString(CultureInfo.InvariantCulture))}";

        private async Task<Plan> RunParquet(ParseResult pr, Session s, Option<string> repo, CancellationToken ct)
        {
            var request = ParquetRequest(pr);
            var items = await Sources.FineWebAsync(s.Hub(), pr.GetValue(repo)!, pr.GetValue(_revision)!, request.Path, request.Files, ct).ConfigureAwait(false);
            return new Plan(items, ListedRequest(pr, repo, request));
        }

        private List<OfflineCheck.Expected> OfflineParquet(ParseResult pr, Option<string> repo, string command, string outDir) =>
            FileListRecord.Read(outDir, command, ListedRequest(pr, repo, ParquetRequest(pr))).Select(n => new OfflineCheck.Expected(n, null)).ToList();

        private static async Task<Plan> RunShards(ShardDataset dataset, string? count, string repo, string revision, Session s, CancellationToken ct)
        {
            int shards = dataset.ParseCount(count);
            return new Plan(await Sources.ShardsAsync(s.Hub(), dataset, repo, revision, shards, ct).ConfigureAwait(false));
        }

        private List<DownloadItem> HellaSwagItems(ParseResult pr)
        {
            string baseUrl = pr.GetValue(_url) ?? (_env("LLMNET_HELLASWAG_URL") is { Length: > 0 } e ? e : Sources.HellaSwagBaseUrl);
            string blob = pr.GetValue(_blob)!;
            if (blob.Length != 40 || !blob.All(Uri.IsHexDigit)) throw new UsageException($"--blob-id {blob}: expected 40 hex digits");
            return Sources.HellaSwag(baseUrl, blob);
        }

        private Task<Plan> RunHellaSwag(ParseResult pr, Session s, CancellationToken ct) => Task.FromResult(new Plan(HellaSwagItems(pr)));

        private List<OfflineCheck.Expected> OfflineHellaSwag(ParseResult pr, string outDir) =>
            HellaSwagItems(pr).Select(i => new OfflineCheck.Expected(i.RelativePath, i.Digest)).ToList();
    }

    /// <summary>What a plan step needs to list files.</summary>
    private sealed record Session(HttpTransport Http, RetryPolicy Policy, IFetchProgress Progress, Uri? Endpoint)
    {
        public HubClient Hub() => new(Http, Endpoint ?? throw new InvalidOperationException("no Hub endpoint"), Policy, Progress);
    }
}
