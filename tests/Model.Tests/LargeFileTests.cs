using FluentAssertions;
using LlmNet.Model.Checkpoints;
using LlmNet.Model.Numerics;
using Xunit;

namespace LlmNet.Model.Tests;

/// <summary>
/// d48's files cross 2^31 bytes (model 6.2 GB fp32 / 3.1 GB bf16, state 18.7 GB): they are written and read whole,
/// every value in its place. Streams that only count (and keep a few bytes) stand in for the disk where a real file
/// would cost gigabytes; the read test uses a sparse file.
/// </summary>
public sealed class LargeFileTests : IDisposable
{
    private static readonly GptConfig D48 = GptConfig.FromDescriptor("d48");
    private static readonly long N = ParameterLayout.For(D48).Count;
    private readonly string _dir = Directory.CreateTempSubdirectory("llmnet-large-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A value that names its own position, so a misplaced chunk shows.</summary>
    private static float At(long i) => (i % 65_521) - 32_000f;

    [Theory]
    [InlineData(ModelDtype.Fp32, 4)]
    [InlineData(ModelDtype.Bf16, 2)]
    public void D48_model_body_is_written_whole(ModelDtype dtype, int width)
    {
        long last = (N - 1) * width;
        long past2GiB = (int.MaxValue / width + 7L) * width; // an element whose byte offset is past 2^31
        using var sink = new CountingStream(0, past2GiB, last);
        ModelFile.WriteBody(sink, N, dtype, (offset, destination) =>
        {
            for (int i = 0; i < destination.Length; i++) destination[i] = At(offset + i);
        });
        sink.Length.Should().Be(N * width).And.Be(ModelFile.FileSize(D48, dtype) - ModelFile.HeaderBytes);
        foreach (long at in new[] { 0L, past2GiB, last })
            sink.ValueAt(at, width).Should().Be(dtype == ModelDtype.Fp32 ? At(at / width) : Bf16.Round(At(at / width)), $"the element at byte {at}");
    }

    [Fact]
    public void D48_state_file_is_written_whole()
    {
        float[] values = new float[N];
        Parallel.For(0, 16, part => { for (long i = part; i < N; i += 16) values[i] = At(i); });
        long body = StateFile.HeaderBytes, lastOfMaster = body + 3 * N * 4 - 4;
        using var sink = new CountingStream(body + 4 * (N - 1), body + N * 4 + 4 * 600_000_000L, lastOfMaster);
        StateFile.WriteTo(sink, new TrainingState { Step = 5, M = values, V = values, Master = values });
        sink.Length.Should().Be(18_692_237_824L);
        sink.ValueAt(body + 4 * (N - 1), 4).Should().Be(At(N - 1));
        sink.ValueAt(body + N * 4 + 4 * 600_000_000L, 4).Should().Be(At(600_000_000));
        sink.ValueAt(lastOfMaster, 4).Should().Be(At(N - 1));
    }

    [Fact]
    public void D48_bf16_model_file_is_read_whole()
    {
        // A sparse 3.1 GB file: the header, zeros, and marked values at the first element, past 2^31 bytes, and at the end.
        string path = Path.Combine(_dir, "d48.bin");
        long past2GiB = int.MaxValue / 2 + 11L;
        using (var fs = File.Create(path))
        {
            fs.Write(ModelFile.Header(D48, ModelDtype.Bf16));
            fs.SetLength(ModelFile.FileSize(D48, ModelDtype.Bf16));
            foreach (long element in new[] { 0L, past2GiB, N - 1 })
            {
                fs.Position = ModelFile.HeaderBytes + element * 2;
                fs.Write(BitConverter.GetBytes(Bf16.FromFloat(At(element))));
            }
        }
        var seen = new Dictionary<long, float>();
        long count = 0;
        var (config, dtype) = ModelFile.ReadChunks(path, (offset, values) =>
        {
            offset.Should().Be(count, "chunks arrive in order");
            foreach (long element in new[] { 0L, past2GiB, N - 1 })
                if (element >= offset && element < offset + values.Length) seen[element] = values[(int)(element - offset)];
            count += values.Length;
        });
        (config, dtype).Should().Be((D48, ModelDtype.Bf16));
        count.Should().Be(N);
        foreach (long element in new[] { 0L, past2GiB, N - 1 }) seen[element].Should().Be(Bf16.Round(At(element)));
    }

    /// <summary>A write-only stream that counts bytes and keeps the four bytes at each of a few absolute positions.</summary>
    private sealed class CountingStream(params long[] keep) : Stream
    {
        private readonly Dictionary<long, byte[]> _kept = keep.ToDictionary(k => k, _ => new byte[4]);
        private long _length;

        public float ValueAt(long position, int width) => width == 4
            ? BitConverter.ToSingle(_kept[position])
            : Bf16.ToFloat(BitConverter.ToUInt16(_kept[position]));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            foreach (var (at, bytes) in _kept)
                for (int k = 0; k < 4; k++)
                    if (at + k >= _length && at + k < _length + buffer.Length) bytes[k] = buffer[(int)(at + k - _length)];
            _length += buffer.Length;
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _length;
        public override long Position { get => _length; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
