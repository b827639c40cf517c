namespace LlmNet.Eval.HellaSwag;

/// <summary>
/// How the model scored one example: the mean loss over each ending's tokens, the ending with the
/// lowest mean (lowest index on ties) and whether that is the labelled one.
/// </summary>
public sealed record HellaSwagPrediction(int Index, int Label, int Prediction, float[] MeanLosses)
{
    public bool Correct => Prediction == Label;
}
