using System.Globalization;

namespace LlmNet.Distributed.Rendezvous;

/// <summary>Timeouts shared by every way the ranks meet. Nothing waits forever: a rank that never arrives is named in the error.</summary>
public sealed record RendezvousOptions
{
    public const double DefaultTimeoutSeconds = 300;

    /// <summary>How long any rank waits for the others (connect, file, collective) before giving up.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(DefaultTimeoutSeconds);
    /// <summary>How often the fs method looks at the shared directory.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(200);
    /// <summary>Pause between TCP connection attempts to rank 0.</summary>
    public TimeSpan ConnectRetryInterval { get; init; } = TimeSpan.FromSeconds(1);

    public static RendezvousOptions Default { get; } = new();

    /// <summary>Defaults, with the timeout taken from LLMNET_DIST_TIMEOUT (seconds) when it is set.</summary>
    public static RendezvousOptions FromEnvironment()
    {
        string? text = Environment.GetEnvironmentVariable("LLMNET_DIST_TIMEOUT");
        if (string.IsNullOrWhiteSpace(text)) return Default;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) || !(s > 0))
            throw new DistributedException($"LLMNET_DIST_TIMEOUT='{text}' is not a positive number of seconds");
        return new RendezvousOptions { Timeout = TimeSpan.FromSeconds(s) };
    }

    internal string TimeoutText => $"{Timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s";
}
