using LlmNet.Model;

namespace LlmNet.Cuda;

// The global gradient norm and AdamW with stochastic rounding (llm.c train_gpt2.cu: gpt2_calculate_grad_norm, gpt2_update).
public sealed partial class CudaBackend
{
    public double GradientNormSquared()
    {
        RequireTraining(nameof(GradientNormSquared));
        _device.MakeCurrent();
        if (_gradientsPendingReduce) ReduceGradients();
        if (_shard.Stage == 0) return NormSquared(_grads.Ptr, _layout.Count);
        // ZeRO-1: each process holds the averaged gradients of its own chunks only.
        double local = 0;
        foreach (var s in _shard.Slices()) local += NormSquared(_grads.At(s.ParameterOffset), s.Count);
        return _group.AllReduceSum(local);
    }

    private double NormSquared(ulong gradients, long count)
    {
        OptimizerKernels.NormSquaredPartial(_k, _normPartials.Ptr, gradients, count);
        float[] partial = new float[OptimizerKernels.NormBlocks];
        _device.Download(partial.AsSpan(), _normPartials);
        double sum = 0;
        foreach (float p in partial) sum += p;
        return sum;
    }

    public void Update(in AdamWStep step)
    {
        RequireTraining(nameof(Update));
        _device.MakeCurrent();
        _logitsReadable = false; // the kept lnf no longer gives the last forward's logits with the new wte
        if (_gradientsPendingReduce) ReduceGradients();
        if (_keepMaster && !_masterValid)
        {
            // Master weights start as the bf16 parameters widened to fp32 (llm.c copies them on the first update).
            float[] widened = new float[_layout.Count];
            DownloadBf16(widened, _params);
            UploadMaster(widened);
            _masterValid = true;
        }
        float c1 = 1.0f - MathF.Pow(step.Beta1, step.T), c2 = 1.0f - MathF.Pow(step.Beta2, step.T);
        _rounding.StartUpdate();
        if (_shard.Stage == 1)
        {
            UpdateShard(step, c1, c2);
            return;
        }
        foreach (ParameterTensor tensor in ParameterLayout.Tensors)
        {
            long n = _layout.Size(tensor), off = _layout.Offset(tensor);
            float wd = ParameterLayout.HasWeightDecay(tensor) ? step.WeightDecay : 0.0f;
            OptimizerKernels.AdamWUpdate(_k, _params.At(off), Master(off), _grads.At(off),
                _m.At(off), _v.At(off), n, step.LearningRate, step.Beta1, step.Beta2, c1, c2, step.Epsilon, wd, step.GradScale, _rounding.NextTensorSeed());
        }
        // Each process rounded with its own seeds; rank 0's parameters (those the model file records) become everyone's.
        if (_comm is not null) ShareParameters();
        _device.Synchronize();
    }

    /// <summary>
    /// ZeRO-1: AdamW on this process's chunk of every layer's copy of every tensor (m, v and master at the
    /// chunk's shard offset), then the all-gather that rebuilds the full parameters everywhere. One seed per
    /// tensor, as in the unsharded update, so the seed stream (and the state file's rng_state) does not depend on sharding.
    /// </summary>
    private void UpdateShard(in AdamWStep step, float c1, float c2)
    {
        foreach (ParameterTensor tensor in ParameterLayout.Tensors)
        {
            float wd = ParameterLayout.HasWeightDecay(tensor) ? step.WeightDecay : 0.0f;
            uint seed = _rounding.NextTensorSeed();
            for (int l = 0; l < _layout.LayersOf(tensor); l++)
            {
                var s = _shard.Slice(tensor, l);
                long p = s.ParameterOffset, q = s.ShardOffset;
                // Layers of one tensor get distinct seeds so their rounding noise is independent.
                uint layerSeed = seed ^ (uint)(l * 0x9E3779B1u);
                OptimizerKernels.AdamWUpdate(_k, _params.At(p), Master(q), _grads.At(p),
                    _m.At(q), _v.At(q), s.Count, step.LearningRate, step.Beta1, step.Beta2, c1, c2, step.Epsilon, wd, step.GradScale, layerSeed);
            }
        }
        ShareParameters();
    }

    /// <summary>The master weights at a shard offset, or a null pointer with -w 0 (adamw_update then reads and rounds the bf16 parameters).</summary>
    private ulong Master(long shardOffset) => _keepMaster ? _master.At(shardOffset) : 0UL;
}
