namespace LlmNet.Distributed;

/// <summary>
/// A multi-process setup problem (inconsistent launch variables, a rank that never arrived, a missing
/// native library, a failed collective). The message is one line that names what went wrong and the fix,
/// ready for the tool's "llm-x: error: ..." convention.
/// </summary>
public class DistributedException : Exception
{
    public DistributedException(string message) : base(message) { }
    public DistributedException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A rendezvous or collective that did not complete within its timeout.</summary>
public sealed class DistributedTimeoutException : DistributedException
{
    public DistributedTimeoutException(string message) : base(message) { }
}

/// <summary>A native library (libnccl.so.2, libmpi.so.40) that could not be loaded.</summary>
public sealed class NativeLibraryMissingException : DistributedException
{
    public NativeLibraryMissingException(string library, string message) : base(message) { Library = library; }
    public string Library { get; }
}
