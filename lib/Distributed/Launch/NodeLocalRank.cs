namespace LlmNet.Distributed.Launch;

/// <summary>
/// llm.c's way of finding the local GPU under MPI when the launcher does not say: hash the host name (up to
/// the first '.') and count the lower ranks with the same hash.
/// </summary>
public static class NodeLocalRank
{
    /// <summary>djb2 with xor, as llm.c computes it: h = 5381; h = (h·33) ^ c for each byte, in 64 bits.</summary>
    public static ulong HostHash(string hostName)
    {
        int dot = hostName.IndexOf('.');
        string shortName = dot >= 0 ? hostName[..dot] : hostName;
        ulong h = 5381;
        foreach (byte c in System.Text.Encoding.UTF8.GetBytes(shortName)) h = ((h << 5) + h) ^ c;
        return h;
    }

    /// <summary>The number of ranks below <paramref name="rank"/> whose host hash equals this rank's.</summary>
    public static int FromHashes(ReadOnlySpan<ulong> hashes, int rank)
    {
        int local = 0;
        for (int r = 0; r < rank; r++) if (hashes[r] == hashes[rank]) local++;
        return local;
    }
}
