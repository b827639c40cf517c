using LlmNet.Distributed.Nccl;
using LlmNet.Distributed.Zero;

namespace LlmNet.Distributed.Tests;

/// <summary>
/// Records collectives, group brackets and stream fences in the order they are issued, as text: byte addresses
/// relative to a gradient buffer at <see cref="Base"/>, the stream after '@'.
/// </summary>
internal sealed class RecordingCollectives : ICollectives, IStreamOrder
{
    public const nint Base = 0x10000;
    public readonly List<string> Calls = [];

    public void AllReduce(nint send, nint recv, long count, NcclDataType type, NcclRedOp op, nint stream) =>
        Calls.Add($"allreduce {send - Base} {recv - Base} {count} {type} {op} @{stream}");
    public void ReduceScatter(nint send, nint recv, long recvCount, NcclDataType type, NcclRedOp op, nint stream) =>
        Calls.Add($"reducescatter {send - Base} {recv - Base} {recvCount} {type} {op} @{stream}");
    public void AllGather(nint send, nint recv, long sendCount, NcclDataType type, nint stream) =>
        Calls.Add($"allgather {send - Base} {recv - Base} {sendCount} {type} @{stream}");

    public IDisposable BeginGroup()
    {
        Calls.Add("group");
        return new End(Calls);
    }

    public void CommunicationWaitsForCompute() => Calls.Add("nccl waits for compute");
    public void ComputeWaitsForCommunication() => Calls.Add("compute waits for nccl");

    private sealed class End(List<string> calls) : IDisposable { public void Dispose() => calls.Add("end"); }
}
