namespace LlmNet.Cuda;

/// <summary>
/// Typed launches of classifier.cu's kernels: softmax cross-entropy over the first V of Vp logit columns, one 512-thread
/// block per (b,t) row (llm.c llmc/fused_classifier.cuh: fused_classifier_kernel5 does forward and backward in one).
/// </summary>
public static class ClassifierKernels
{
    /// <summary>classifier.cu classifier_forward: each row's loss and log-sum-exp; the logits stay as they are.</summary>
    public static void Forward(KernelModule k, ulong losses, ulong lse, ulong logits, ulong targets, int V, int Vp, int rows) =>
        k.Launch("classifier_forward", (rows, 1), 512, 0, losses, lse, logits, targets, V, Vp);

    /// <summary>classifier.cu classifier_backward: the logits become (softmax - onehot) * dloss in place, from the forward's lse.</summary>
    public static void Backward(KernelModule k, ulong logits, ulong lse, ulong targets, float dloss, int V, int Vp, int rows) =>
        k.Launch("classifier_backward", (rows, 1), 512, 0, logits, lse, targets, dloss, V, Vp);

    /// <summary>Dynamic shared memory of classifier_forward_backward: one logits row of Vp bf16.</summary>
    public static int ForwardBackwardSharedBytes(int Vp) => Vp * 2;

    /// <summary>Lets classifier_forward_backward stage a row of <paramref name="Vp"/> logits in shared memory.</summary>
    public static void AllowForwardBackwardSharedMemory(KernelModule k, int Vp) =>
        k.AllowSharedMemory("classifier_forward_backward", ForwardBackwardSharedBytes(Vp));

    /// <summary>
    /// classifier.cu classifier_forward_backward: loss, lse and the unscaled gradient in place of the logits in one
    /// launch, the row read once into shared memory (llm.c llmc/fused_classifier.cuh: fused_classifier_kernel5).
    /// </summary>
    public static void ForwardBackward(KernelModule k, ulong logits, ulong losses, ulong lse, ulong targets, int V, int Vp, int rows) =>
        k.Launch("classifier_forward_backward", (rows, 1), 512, ForwardBackwardSharedBytes(Vp), logits, losses, lse, targets, V, Vp);
}
