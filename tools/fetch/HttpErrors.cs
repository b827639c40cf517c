using System.Net;
using LlmNet.Common.Cli;

namespace LlmNet.Tools.Fetch;

/// <summary>Turns a final (non-retryable) HTTP answer into a one-line error that says what to do.</summary>
public static class HttpErrors
{
    public static ToolException For(HttpStatusCode status, string what, string source, Uri url, bool fromHub = true) => status switch
    {
        HttpStatusCode.NotFound =>
            new ToolException($"{what}: not found in {source} (HTTP 404 from {url.GetLeftPart(UriPartial.Path)}). Check the repository, revision and file names"),
        HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden when !fromHub =>
            new ToolException($"{what}: access refused by {url.GetLeftPart(UriPartial.Authority)} (HTTP {(int)status}). Check the URL"),
        HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden =>
            new ToolException($"{what}: access to {source} refused (HTTP {(int)status}). Set HF_TOKEN to a Hugging Face token that can read it (https://huggingface.co/settings/tokens), and accept the dataset's terms on its page if it is gated"),
        _ =>
            new ToolException($"{what}: HTTP {(int)status} {status} from {url.GetLeftPart(UriPartial.Path)} ({source}). Try again later"),
    };
}

/// <summary>Runs an operation under a <see cref="RetryPolicy"/>, retrying <see cref="TransientFailure"/>s with backoff.</summary>
public static class Retrier
{
    /// <param name="progressMark">
    /// Optional measure of progress (e.g. bytes on disk): an attempt that moved it forward resets the attempt count,
    /// so a long download over a flaky link keeps going as long as each connection gets somewhere.
    /// </param>
    public static async Task<T> RunAsync<T>(RetryPolicy policy, string what, IFetchProgress progress, Func<Task<T>> operation, CancellationToken ct,
        Func<long>? progressMark = null)
    {
        for (int attempt = 1; ; attempt++)
        {
            long mark = progressMark?.Invoke() ?? 0;
            try
            {
                return await operation().ConfigureAwait(false);
            }
            catch (TransientFailure e) when (e.Unreachable && !policy.RetryUnreachable)
            {
                throw new ToolException($"{what}: {e.Message}. Check the network connection and the address (HF_ENDPOINT, --endpoint or --url); " +
                    "pass --retries N to keep retrying a host that cannot be reached", e);
            }
            catch (TransientFailure e) when (attempt < policy.MaxAttempts || (progressMark is not null && progressMark() > mark))
            {
                if (progressMark is not null && progressMark() > mark) attempt = 1;
                TimeSpan delay = policy.DelayFor(attempt, e.RetryAfter);
                progress.Retrying(what, e.Message, delay, attempt + 1, policy.MaxAttempts);
                await Task.Delay(delay, ct).ConfigureAwait(false);
            }
            catch (TransientFailure e)
            {
                throw new ToolException($"{what}: giving up after {policy.MaxAttempts} attempts; last failure: {e.Message}. Check the network and re-run (finished files are kept and partial ones resume)", e);
            }
        }
    }
}
