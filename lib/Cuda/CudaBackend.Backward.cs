using static LlmNet.Model.ParameterTensor;

namespace LlmNet.Cuda;

// The backward pass, from the logits to the embeddings (llm.c train_gpt2.cu: gpt2_backward_and_reduce).
public sealed partial class CudaBackend
{
    public void ZeroGradients()
    {
        RequireTraining(nameof(ZeroGradients));
        _device.MakeCurrent();
        _device.Zero(_grads);
        _gradientsPendingReduce = false;
    }

    public void Backward(float lossScale) => Backward(lossScale, lastMicroStep: false);

    /// <summary>
    /// Backward, waited for; on the last micro-step of an accumulation window with several processes, also averages the
    /// gradients across them, each layer's as soon as its backward is queued. The averages are complete when this
    /// returns. (Called without it, the exchange happens after the whole pass, at the first of
    /// <see cref="GradientNormSquared"/> or <see cref="Update"/>.)
    /// </summary>
    public void Backward(float lossScale, bool lastMicroStep)
    {
        QueueBackward(lossScale, lastMicroStep);
        _device.Synchronize();
    }

    /// <summary>The backward of <see cref="Backward(float, bool)"/>, queued: the host waits only for a gradient exchange.</summary>
    private void QueueBackward(float lossScale, bool lastMicroStep)
    {
        RequireTraining(nameof(Backward));
        bool overlap = lastMicroStep && _sync is not null;
        if (overlap) BeginOverlappedExchange();
        try { BackwardPass(lossScale); }
        catch when (overlap) { _exchange!.Abandon(); throw; }
        if (_sync is null) return;
        _gradientsPendingReduce = !overlap;
        if (lastMicroStep && !overlap) ReduceGradients();
    }

    private void BackwardPass(float lossScale)
    {
        _device.MakeCurrent();
        if (!_haveTargets) throw new InvalidOperationException("Backward needs a forward pass with targets");
        int B = _b, T = _t, bt = B * T, L = Config.NumLayers, C = Config.Channels;

        // The classifier's gradients (wte's share, and dlnf into the (B,T,C) scratch), unless the micro-step's
        // forward already ran them with its losses.
        _logitsReadable = false;
        if (!_classifierDone) ClassifierBackward(bt, lossScale, withLosses: false);
        _classifierDone = false;
        _device.Zero(_dresidual, (long)bt * C);
        ulong lastResidual = Layer(_residual3, L - 1, C);
        LayerNormBackward(_btc.Ptr, lastResidual, _lnfMean.Ptr, _lnfRstd.Ptr, Param(Lnfw), Grad(Lnfw), Grad(Lnfb), bt);

        for (int l = L - 1; l >= 0; l--)
        {
            ulong residual = l == 0 ? _encoded.Ptr : Layer(_residual3, l - 1, C);
            ulong fch = Layer(_fch, l, 4 * C), gelu = FchGelu(l), atty = Layer(_atty, l, C), qkv = Layer(_qkv, l, 3 * C);
            ulong lse = Layer(_attLse, l, Config.NumHeads);

            // MLP: fcproj, GELU, fc
            if (_geluFusion >= 2)
            {
                // dGELU in the input-gradient matmul's epilogue; GELU recomputed (-r 1/2) before fcproj's weight gradient.
                if (_recompute >= 1) Gelu(gelu, fch, (long)bt * 4 * C);
                WeightAndBiasGradients(Grad(Fcprojw, l), Grad(Fcprojb, l), gelu, _dresidual.Ptr, bt, 4 * C, C);
                _mm.Run(_bt4c.Ptr, Param(Fcprojw, l), _dresidual.Ptr, 4 * C, bt, C, false, false, false, MatmulEpilogue.DGelu, 0, fch);
                BiasGradient(Grad(Fcb, l), _bt4c.Ptr, bt, 4 * C);
            }
            else
            {
                // dGELU, fc's bias gradient and the recomputed GELU (-r 1/2) in one pass over the (B,T,4C) gradient;
                // fcproj's weight gradient follows, as it needs that GELU.
                _mm.Run(_bt4c.Ptr, Param(Fcprojw, l), _dresidual.Ptr, 4 * C, bt, C, false, false);
                int splits = Splits(bt, 4 * C);
                LayerNormKernels.GeluBackwardBiasPartials(_k, _partials.Ptr, _bt4c.Ptr, fch, _recompute >= 1 ? gelu : 0UL, bt, 4 * C, splits);
                LayerNormKernels.ColumnFinish(_k, 0UL, Grad(Fcb, l), _partials.Ptr, splits, 4 * C);
                WeightAndBiasGradients(Grad(Fcprojw, l), Grad(Fcprojb, l), gelu, _dresidual.Ptr, bt, 4 * C, C);
            }
            if (_recompute >= 2)
                LayerNorm(0, Layer(_residual2, l, C), 0, Ln2(l), 0, 0, Param(Ln2w, l), Param(Ln2b, l), bt);
            _mm.Run(Grad(Fcw, l), Ln2(l), _bt4c.Ptr, C, 4 * C, bt, false, true, accumulate: true);
            _mm.Run(_btc.Ptr, Param(Fcw, l), _bt4c.Ptr, C, bt, 4 * C, false, false);
            LayerNormBackward(_btc.Ptr, Layer(_residual2, l, C), Layer(_ln2Mean, l, 1), Layer(_ln2Rstd, l, 1), Param(Ln2w, l), Grad(Ln2w, l), Grad(Ln2b, l), bt);

            // attention: attproj, attention, qkv
            WeightAndBiasGradients(Grad(Attprojw, l), Grad(Attprojb, l), atty, _dresidual.Ptr, bt, C, C);
            _mm.Run(_btc.Ptr, Param(Attprojw, l), _dresidual.Ptr, C, bt, C, false, false);
            AttentionBackward(_bt4c.Ptr, _btc.Ptr, qkv, atty, lse, B, T);
            if (_recompute >= 2)
                LayerNorm(0, residual, 0, Ln1(l), 0, 0, Param(Ln1w, l), Param(Ln1b, l), bt);
            WeightAndBiasGradients(Grad(Qkvw, l), Grad(Qkvb, l), Ln1(l), _bt4c.Ptr, bt, C, 3 * C);
            _mm.Run(_btc.Ptr, Param(Qkvw, l), _bt4c.Ptr, C, bt, 3 * C, false, false);
            LayerNormBackward(_btc.Ptr, residual, Layer(_ln1Mean, l, 1), Layer(_ln1Rstd, l, 1), Param(Ln1w, l), Grad(Ln1w, l), Grad(Ln1b, l), bt);
            // Layer l's 12 gradients are final here: nothing below writes them again in this pass.
            if (_exchange?.InProgress == true) QueueLayerExchange(l);
        }
        EncoderBackward(B, T);
        if (_exchange?.InProgress == true) FinishOverlappedExchange();
    }

    private void EncoderBackward(int B, int T)
    {
        int C = Config.Channels, bt = B * T;
        uint seed = _rounding.NextMicroStepSeed();
        ElementwiseKernels.WpeBackward(_k, Grad(Wpe), _dresidual.Ptr, B, T, C, seed);

        // The buckets go through the forward's pinned slot. The fence wait returns once the GPU has taken this batch's
        // inputs, by when its bucket area is free even if this forward gets a second backward.
        var slot = _staging.Current;
        slot.Fence.Wait();
        var buckets = TokenBuckets.Build(slot.Inputs);
        buckets.Host.CopyTo(slot.Buckets(buckets.Host.Length));
        _device.UploadAsync(_buckets.Ptr, slot.Memory, slot.BucketsByteOffset, DeviceSizes.Bytes<int>(buckets.Host.Length));
        slot.Fence.Record();
        if (buckets.Chunks > 0)
            ElementwiseKernels.WteBackwardChunks(_k, _wtePartials.Ptr, _dresidual.Ptr, _buckets.At(buckets.ChunkRangesOffset),
                _buckets.At(buckets.PositionsOffset), C, buckets.Chunks);
        ElementwiseKernels.WteBackward(_k, Grad(Wte), _dresidual.Ptr, _wtePartials.Ptr, _buckets.At(buckets.TokensOffset),
            _buckets.At(buckets.StartsOffset), _buckets.At(buckets.PositionsOffset), _buckets.At(buckets.ChunkStartsOffset), C, seed, buckets.Count);
    }
}
