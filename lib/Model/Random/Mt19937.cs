using System.Buffers.Binary;

namespace LlmNet.Model.Random;

/// <summary>
/// The Mersenne Twister as llm.c's rand.h (and torch.manual_seed) use it, bit for bit: same seeding, twist, tempering,
/// float draws and normal_ algorithm. It seeds the weight init (42) and the data loader's shuffles (42 + rank). Its raw
/// state is saved in llm.c's 2520-byte layout (llmc/rand.h mt19937_state, as train_gpt2.cu's save_state writes it).
/// </summary>
public sealed unsafe class Mt19937
{
    private const int N = 624, M = 397;
    private const uint MatrixA = 0x9908b0df, UpperMask = 0x80000000, LowerMask = 0x7fffffff;
    /// <summary>Size of the raw state as llm.c writes it: seed_ u64, left_ i32, next_ u32, state_[624] u32, MATRIX_A[2] u32.</summary>
    public const int RawStateBytes = 8 + 4 + 4 + N * 4 + 2 * 4;

    private readonly uint[] _state = new uint[N];
    private int _left = 1;
    private uint _next;
    private ulong _seedField; // llm.c never initialises this field; kept only to round-trip state files

    public Mt19937(uint seed)
    {
        _state[0] = seed;
        for (uint j = 1; j < N; j++)
            _state[j] = 1812433253u * (_state[j - 1] ^ (_state[j - 1] >> 30)) + j;
        _left = 1;
        _next = 0;
    }

    private void NextState()
    {
        _left = N;
        _next = 0;
        int k = 0;
        for (int j = N - M + 1; --j > 0; k++)
        {
            uint y = (_state[k] & UpperMask) | (_state[k + 1] & LowerMask);
            _state[k] = _state[k + M] ^ (y >> 1) ^ ((y & 1) != 0 ? MatrixA : 0);
        }
        for (int j = M; --j > 0; k++)
        {
            uint y = (_state[k] & UpperMask) | (_state[k + 1] & LowerMask);
            _state[k] = _state[k + (M - N)] ^ (y >> 1) ^ ((y & 1) != 0 ? MatrixA : 0);
        }
        uint last = (_state[N - 1] & UpperMask) | (_state[0] & LowerMask);
        _state[N - 1] = _state[M - 1] ^ (last >> 1) ^ ((last & 1) != 0 ? MatrixA : 0);
    }

    public uint NextUInt32()
    {
        if (--_left <= 0) NextState();
        uint y = _state[_next++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= y >> 18;
        return y;
    }

    public ulong NextUInt64()
    {
        ulong hi = NextUInt32();
        return (hi << 32) | NextUInt32();
    }

    /// <summary>(u32 &amp; 0xFFFFFF) / 2^24.</summary>
    public float NextFloat32() => (NextUInt32() & ((1u << 24) - 1)) * (1.0f / (1 << 24));

    /// <summary>(u64 &amp; (2^53−1)) / 2^53.</summary>
    public double NextFloat64() => (NextUInt64() & ((1UL << 53) - 1)) * (1.0 / (1UL << 53));

    /// <summary>
    /// Fills <paramref name="data"/> with N(mean, std) exactly as torch's normal_ does on CPU:
    /// for 16 or more values, uniform floats transformed 16 at a time by Box–Muller, with a fresh
    /// block of 16 for a ragged tail; for fewer than 16 values, the float64 path.
    /// </summary>
    public void FillNormal(Span<float> data, float mean, float std)
    {
        int n = data.Length;
        if (n >= 16)
        {
            for (int i = 0; i < n; i++) data[i] = NextFloat32();
            BoxMullerBlocks(data, n / 16, mean, std);
            if (n % 16 != 0)
            {
                var tail = data[(n - 16)..];
                for (int i = 0; i < 16; i++) tail[i] = NextFloat32();
                BoxMuller16(tail, mean, std);
            }
        }
        else
        {
            double? cached = null;
            for (int i = 0; i < n; i++)
            {
                if (cached is double c) { data[i] = (float)(c * std + mean); cached = null; continue; }
                float u1 = (float)NextFloat64(), u2 = (float)NextFloat64();
                float radius = MathF.Sqrt(-2 * MathF.Log(1 - u2 + 1e-12f));
                float theta = (float)(2.0 * Math.PI * u1);
                cached = radius * MathF.Sin(theta);
                data[i] = radius * MathF.Cos(theta) * std + mean;
            }
        }
    }

    /// <summary>
    /// Transforms the first <paramref name="blocks"/> blocks of 16 in place. Each block depends on its own 16 uniforms
    /// only, so large tensors (d48's fcw layers hold 10M values each, wte 80M) are split over the cores with bitwise
    /// the same result as one pass in order.
    /// </summary>
    private static void BoxMullerBlocks(Span<float> data, int blocks, float mean, float std)
    {
        const int blocksPerTask = 1 << 14;
        if (blocks < 4 * blocksPerTask)
        {
            for (int b = 0; b < blocks; b++) BoxMuller16(data.Slice(16 * b, 16), mean, std);
            return;
        }
        fixed (float* start = data)
        {
            nint address = (nint)start;
            Parallel.For(0, (blocks + blocksPerTask - 1) / blocksPerTask, task =>
            {
                int first = task * blocksPerTask, last = Math.Min(blocks, first + blocksPerTask);
                var part = new Span<float>((float*)address + 16L * first, 16 * (last - first));
                for (int b = 0; b < last - first; b++) BoxMuller16(part.Slice(16 * b, 16), mean, std);
            });
        }
    }

    internal static void BoxMuller16(Span<float> d, float mean, float std)
    {
        for (int t = 0; t < 8; t++)
        {
            float u1 = 1 - d[t];
            float u2 = d[t + 8];
            float radius = MathF.Sqrt(-2 * MathF.Log(u1 + 1e-12f));
            float theta = (float)(2.0 * Math.PI * u2);
            d[t] = radius * MathF.Cos(theta) * std + mean;
            d[t + 8] = radius * MathF.Sin(theta) * std + mean;
        }
    }

    /// <summary>Writes the raw state in llm.c's 2520-byte in-memory layout (little-endian).</summary>
    public void WriteRawState(Span<byte> destination)
    {
        if (destination.Length < RawStateBytes) throw new ArgumentException($"need {RawStateBytes} bytes", nameof(destination));
        BinaryPrimitives.WriteUInt64LittleEndian(destination, _seedField);
        BinaryPrimitives.WriteInt32LittleEndian(destination[8..], _left);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], _next);
        for (int i = 0; i < N; i++) BinaryPrimitives.WriteUInt32LittleEndian(destination[(16 + 4 * i)..], _state[i]);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[(16 + 4 * N)..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[(20 + 4 * N)..], MatrixA);
    }

    /// <summary>Restores a state written by <see cref="WriteRawState"/> or by llm.c.</summary>
    public static Mt19937 FromRawState(ReadOnlySpan<byte> source)
    {
        if (source.Length < RawStateBytes) throw new ArgumentException($"need {RawStateBytes} bytes", nameof(source));
        var rng = new Mt19937(0)
        {
            _seedField = BinaryPrimitives.ReadUInt64LittleEndian(source),
            _left = BinaryPrimitives.ReadInt32LittleEndian(source[8..]),
            _next = BinaryPrimitives.ReadUInt32LittleEndian(source[12..]),
        };
        for (int i = 0; i < N; i++) rng._state[i] = BinaryPrimitives.ReadUInt32LittleEndian(source[(16 + 4 * i)..]);
        return rng;
    }
}
