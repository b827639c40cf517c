using static LlmNet.Model.ParameterTensor;

namespace LlmNet.Cuda;

// The classifier: logits, softmax cross-entropy and their gradients, a chunk of rows at a time. llm.c
// (train_gpt2.cu: gpt2_forward, gpt2_backward_and_reduce) keeps the bf16 logits of all B·T rows, 6.6 GB at d12 B=64;
// here only one chunk's logits exist at once (786 MiB for 8192 rows). The wte gradient of the chunks adds up in fp32
// and joins the bf16 gradient once, rounded once as before. What changes is the order of fp32 additions, and the
// shape of each matmul (cuBLASLt may choose another algorithm for a chunk, whose bf16 outputs can round differently).
public sealed partial class CudaBackend
{
    /// <summary>Rows of logits the public constructor computes at once: 8192 rows of 50,304 bf16 take 786 MiB.</summary>
    public const int DefaultLogitsChunkRows = 8192;

    /// <summary>How many rows of logits exist at a time (the logits buffer's rows).</summary>
    public int LogitsChunkRows => _chunkRows;

    /// <summary>The logits of rows [start, start + rows) of the last forward pass, into the logits buffer.</summary>
    private void Logits(int start, int rows)
    {
        int C = Config.Channels;
        _mm.Run(_logits.Ptr, Param(Wte), _lnf.At((long)start * C), Config.PaddedVocabSize, rows, C, true, false);
        _logitsStart = start;
    }

    /// <summary>Losses and log-sum-exps of every row; the buffer keeps the last chunk's logits.</summary>
    private void ClassifierLosses(int bt)
    {
        for (int start = 0; start < bt; start += _chunkRows)
        {
            int rows = Math.Min(_chunkRows, bt - start);
            Logits(start, rows);
            ClassifierKernels.Forward(_k, _losses.At(start), _lse.At(start), _logits.Ptr, _targets.At(start), Config.VocabSize,
                Config.PaddedVocabSize, rows);
        }
    }

    /// <summary>
    /// The classifier's backward, a chunk at a time: dlogits, then dwte += dlogits^T·lnf and dlnf = dlogits·wte (into
    /// the (B,T,C) scratch, where the final LayerNorm's backward reads it). With <paramref name="withLosses"/> (a training
    /// micro-step) the losses are computed on the way, in one kernel with the gradient when a logits row fits in shared
    /// memory: that kernel leaves the gradient unscaled and the two matmuls apply lossScale as alpha. Otherwise the
    /// forward's log-sum-exp gives the gradient scaled by lossScale. With lossScale a power of two both give bitwise the
    /// same gradients: scaling by 2^k commutes with bf16 rounding and with fp32 accumulation.
    /// </summary>
    private void ClassifierBackward(int bt, float lossScale, bool withLosses)
    {
        int C = Config.Channels, V = Config.VocabSize, Vp = Config.PaddedVocabSize;
        for (int start = 0; start < bt; start += _chunkRows)
        {
            int rows = Math.Min(_chunkRows, bt - start);
            ulong losses = _losses.At(start), lse = _lse.At(start), targets = _targets.At(start), lnf = _lnf.At((long)start * C);
            if (_logitsStart != start) Logits(start, rows); // after Forward the buffer may hold this chunk already
            float alpha = 1.0f;
            if (withLosses && _classifierStaged)
            {
                ClassifierKernels.ForwardBackward(_k, _logits.Ptr, losses, lse, targets, V, Vp, rows);
                alpha = lossScale;
            }
            else
            {
                if (withLosses) ClassifierKernels.Forward(_k, losses, lse, _logits.Ptr, targets, V, Vp, rows);
                ClassifierKernels.Backward(_k, _logits.Ptr, lse, targets, lossScale, V, Vp, rows);
            }
            _mm.Run(_dwte.Ptr, lnf, _logits.Ptr, C, Vp, rows, false, true, accumulate: start > 0, alpha: alpha, floatOutput: true);
            _mm.Run(_btc.At((long)start * C), Param(Wte), _logits.Ptr, C, rows, Vp, false, false, alpha: alpha);
        }
        ElementwiseKernels.AddFloatToBf16(_k, Grad(Wte), _dwte.Ptr, (long)Vp * C);
        _logitsStart = -1; // the buffer holds gradients now
    }
}
