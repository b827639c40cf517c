using System.Net;
using System.Net.Http.Headers;

namespace LlmNet.Tools.Fetch;

/// <summary>A failure worth retrying: a dropped connection, a stall, HTTP 408/429/5xx. Carries the server's Retry-After, if any.</summary>
public sealed class TransientFailure(string reason, TimeSpan? retryAfter = null, Exception? inner = null) : Exception(reason, inner)
{
    public TimeSpan? RetryAfter { get; } = retryAfter;
    /// <summary>
    /// The host's name does not resolve, or nothing accepts the connection (refused, no route): what an offline
    /// machine or a mistyped endpoint gives. Retried only under <see cref="RetryPolicy.RetryUnreachable"/>.
    /// </summary>
    public bool Unreachable { get; init; }
}

/// <summary>
/// Exponential backoff: attempt k waits BaseDelay·2^(k-1), capped at MaxDelay, with ±25% jitter so parallel
/// downloads hitting the same rate limit do not retry in lockstep. A server's Retry-After wins (up to MaxRetryAfter).
/// </summary>
public sealed class RetryPolicy
{
    public int MaxAttempts { get; init; } = 10;
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>
    /// Retry <see cref="TransientFailure.Unreachable"/> failures too. Off by default: offline, ten attempts with backoff
    /// took minutes to say what one attempt already showed; the user turns it on by passing --retries.
    /// </summary>
    public bool RetryUnreachable { get; init; }

    public TimeSpan DelayFor(int attempt, TimeSpan? retryAfter)
    {
        if (retryAfter is { } ra) return ra < TimeSpan.Zero ? TimeSpan.Zero : ra > MaxRetryAfter ? MaxRetryAfter : ra;
        double seconds = BaseDelay.TotalSeconds * Math.Pow(2, Math.Min(attempt - 1, 30));
        seconds = Math.Min(seconds, MaxDelay.TotalSeconds);
        seconds *= 0.75 + 0.5 * Random.Shared.NextDouble();
        return TimeSpan.FromSeconds(seconds);
    }

    /// <summary>Whether an HTTP status is worth retrying.</summary>
    public static bool IsTransient(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)status >= 500;

    /// <summary>The wait a response asks for through Retry-After (seconds or an HTTP date).</summary>
    public static TimeSpan? RetryAfterOf(HttpResponseMessage response)
    {
        RetryConditionHeaderValue? h = response.Headers.RetryAfter;
        if (h is null) return null;
        if (h.Delta is { } delta) return delta;
        if (h.Date is { } date) return date - DateTimeOffset.UtcNow;
        return null;
    }
}
