using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace LlmNet.Tools.Fetch;

/// <summary>How a file's content hash is computed: plain sha256 (Hub LFS files) or git's blob id (small Hub files, GitHub raw files).</summary>
public enum DigestKind { Sha256, GitBlobSha1 }

/// <summary>The hash a downloaded file must have, as lowercase hex.</summary>
public sealed record ExpectedDigest(DigestKind Kind, string Hex)
{
    public string Label => Kind == DigestKind.Sha256 ? "sha256" : "git blob id";

    /// <summary>The form stored in verification sidecars, e.g. "sha256:ab12…".</summary>
    public string Tag => (Kind == DigestKind.Sha256 ? "sha256:" : "gitblob:") + Hex;

    public override string ToString() => $"{Label} {Hex}";
}

/// <summary>
/// Hashes a file incrementally as its bytes arrive. A git blob id is the sha1 of "blob SIZE\0" followed by
/// the bytes, so that kind needs the total size before the first byte.
/// </summary>
public sealed class DigestBuilder : IDisposable
{
    private readonly IncrementalHash _hash;

    public DigestBuilder(DigestKind kind, long totalSize)
    {
        Kind = kind;
        if (kind == DigestKind.Sha256)
        {
            _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        }
        else
        {
            _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
            _hash.AppendData(Encoding.ASCII.GetBytes($"blob {totalSize}\0"));
        }
    }

    public DigestKind Kind { get; }

    /// <summary>How many content bytes have been hashed so far.</summary>
    public long Length { get; private set; }

    public void Append(ReadOnlySpan<byte> bytes)
    {
        _hash.AppendData(bytes);
        Length += bytes.Length;
    }

    public string FinishHex() => Convert.ToHexStringLower(_hash.GetHashAndReset());

    public void Dispose() => _hash.Dispose();

    /// <summary>Hashes the first <paramref name="count"/> bytes of <paramref name="path"/> into <paramref name="builder"/>.</summary>
    public static void AppendFile(DigestBuilder builder, string path, long count, CancellationToken ct)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
            long left = count;
            while (left > 0)
            {
                ct.ThrowIfCancellationRequested();
                int n = fs.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
                if (n == 0) throw new IOException($"{path}: file ended after {count - left} of {count} bytes while hashing");
                builder.Append(buffer.AsSpan(0, n));
                left -= n;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(buffer); }
    }

    /// <summary>The digest of a whole file on disk.</summary>
    public static string ComputeFile(string path, DigestKind kind, CancellationToken ct)
    {
        long length = new FileInfo(path).Length;
        using var builder = new DigestBuilder(kind, length);
        AppendFile(builder, path, length, ct);
        return builder.FinishHex();
    }
}
