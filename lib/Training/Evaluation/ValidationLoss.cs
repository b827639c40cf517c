using LlmNet.Model;
using LlmNet.Training.Data;

namespace LlmNet.Training.Evaluation;

/// <summary>
/// The validation loss as llm.c's train_gpt2.cu computes it: the val loader (unshuffled; each rank reads its own B·T
/// slice of every nproc·B·T sample) is reset, val_num_batches batches are forwarded, the mean of their mean losses is
/// summed in float and divided by the batch count, and the processes' means are averaged. llm-train prints it as
/// "val loss"; llm-eval loss runs the same code, so the two agree to the last bit for the same model and data.
/// </summary>
public static class ValidationLoss
{
    /// <summary>
    /// val_num_batches: <paramref name="maxBatches"/>, or for −1 every whole nproc·B·T sample of the data
    /// (llm.c: val_max_steps == -1 ? val_loader.num_tokens / (B·T·nproc) : val_max_steps).
    /// </summary>
    public static int Batches(DataLoader loader, int processes, int maxBatches = -1) =>
        maxBatches == -1 ? (int)(loader.NumTokens / ((long)loader.B * loader.T * processes)) : maxBatches;

    /// <summary>
    /// The mean loss over <paramref name="batches"/> batches of <paramref name="loader"/>, averaged over
    /// <paramref name="group"/>; NaN for no batches. <paramref name="progress"/> gets (done, total) after each batch.
    /// </summary>
    public static float Compute(IGptBackend backend, DataLoader loader, int batches, IProcessGroup group, CancellationToken ct,
        Action<int, int>? progress = null)
    {
        loader.Reset();
        float sum = 0f;
        for (int i = 0; i < batches; i++)
        {
            ct.ThrowIfCancellationRequested();
            loader.NextBatch();
            sum += backend.Forward(loader.Inputs, loader.Targets, loader.B, loader.T);
            progress?.Invoke(i + 1, batches);
        }
        float loss = batches > 0 ? sum / batches : float.NaN;
        return group.Size > 1 ? (float)(group.AllReduceSum(loss) / group.Size) : loss;
    }
}
