using System.Buffers;
using LlmNet.Model.Numerics;

namespace LlmNet.Cuda;

// Parameters, gradients and optimizer state to and from the host (fp32 there, in llm.c's parameter order).
public sealed partial class CudaBackend
{
    public void SetParameters(ReadOnlySpan<float> values)
    {
        _device.MakeCurrent();
        CheckLength(values.Length, "parameters");
        _logitsReadable = false;
        UploadAsBf16(_params, values);
        if (_keepMaster) UploadMaster(values);
        _masterValid = true;
    }

    public void GetParameters(Span<float> values)
    {
        _device.MakeCurrent();
        CheckLength(values.Length, "parameters");
        DownloadBf16(values, _params);
    }

    public void GetGradients(Span<float> values)
    {
        RequireTraining(nameof(GetGradients));
        _device.MakeCurrent();
        CheckLength(values.Length, "gradients");
        DownloadBf16(values, _grads);
    }

    public void GetOptimizerState(Span<float> m, Span<float> v, Span<float> master)
    {
        RequireTraining(nameof(GetOptimizerState));
        _device.MakeCurrent();
        CheckShardLength(m.Length, "m"); CheckShardLength(v.Length, "v");
        if (_keepMaster) CheckShardLength(master.Length, "master");
        else if (!master.IsEmpty) throw new ArgumentException("this backend keeps no master weights (-w 0): pass an empty master span");
        _device.Download(m, _m);
        _device.Download(v, _v);
        if (_keepMaster) _device.Download(master, _master);
    }

    public void SetOptimizerState(ReadOnlySpan<float> m, ReadOnlySpan<float> v, ReadOnlySpan<float> master)
    {
        RequireTraining(nameof(SetOptimizerState));
        _device.MakeCurrent();
        CheckShardLength(m.Length, "m"); CheckShardLength(v.Length, "v");
        _device.Upload(_m, 0, m);
        _device.Upload(_v, 0, v);
        if (!_keepMaster)
        {
            // -w 0: AdamW reads the bf16 parameters; a saved master copy has nothing to go to.
        }
        else if (master.IsEmpty)
        {
            // No master copy saved: rebuild it from the bf16 parameters on the next update.
            _masterValid = false;
        }
        else
        {
            CheckShardLength(master.Length, "master");
            _device.Upload(_master, 0, master);
            _masterValid = true;
        }
    }

    /// <summary>The xorshift state used for stochastic-rounding seeds (saved in llm.c's state file).</summary>
    public ulong RngState => _rounding.State;
    public ulong RngStateLastUpdate => _rounding.StateAtLastUpdate;
    public void RestoreRngState(ulong state, ulong stateLastUpdate) => _rounding.Restore(state, stateLastUpdate);

    private void CheckLength(int length, string what)
    {
        if (length != _layout.Count) throw new ArgumentException($"{what}: expected {_layout.Count} values, got {length}");
    }

    private void CheckShardLength(int length, string what)
    {
        if (length != _shard.ShardNumParameters)
            throw new ArgumentException($"{what}: expected {_shard.ShardNumParameters} values (this process's optimizer shard), got {length}");
    }

    /// <summary>The master weights from full-model fp32 values: all of them, or this process's ZeRO-1 chunks at their shard offsets.</summary>
    private void UploadMaster(ReadOnlySpan<float> values)
    {
        if (_shard.Stage == 0) _device.Upload(_master, 0, values);
        else
            foreach (var s in _shard.Slices())
                _device.Upload(_master, s.ShardOffset, values.Slice(checked((int)s.ParameterOffset), checked((int)s.Count)));
    }

    private void UploadAsBf16(DeviceArray<ushort> dst, ReadOnlySpan<float> values)
    {
        dst.CheckRange(0, values.Length);
        const int chunk = 1 << 22;
        ushort[] buffer = ArrayPool<ushort>.Shared.Rent(chunk);
        try
        {
            for (long start = 0; start < values.Length; start += chunk)
            {
                int count = (int)Math.Min(chunk, values.Length - start);
                Bf16.FromFloat(values.Slice((int)start, count), buffer.AsSpan(0, count));
                _device.Upload(dst, start, (ReadOnlySpan<ushort>)buffer.AsSpan(0, count));
            }
        }
        finally { ArrayPool<ushort>.Shared.Return(buffer); }
    }

    private void DownloadBf16(Span<float> values, DeviceArray<ushort> src)
    {
        src.CheckRange(0, values.Length);
        const int chunk = 1 << 22;
        ushort[] buffer = ArrayPool<ushort>.Shared.Rent(chunk);
        try
        {
            for (long start = 0; start < values.Length; start += chunk)
            {
                int count = (int)Math.Min(chunk, values.Length - start);
                _device.Download(buffer.AsSpan(0, count), src, start);
                Bf16.ToFloat(buffer.AsSpan(0, count), values.Slice((int)start, count));
            }
        }
        finally { ArrayPool<ushort>.Shared.Return(buffer); }
    }
}
