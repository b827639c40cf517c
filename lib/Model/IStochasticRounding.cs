namespace LlmNet.Model;

/// <summary>
/// A backend that rounds to a low-precision type stochastically, seeded from llm.c's xorshift stream
/// (13371337 + rank; one draw per micro-step for the embedding gradients, one per tensor per update).
/// The trainer saves this state in the state file and hands it back on resume, so a resumed bf16 run
/// rounds exactly as the uninterrupted one would.
/// </summary>
public interface IStochasticRounding
{
    ulong RngState { get; set; }
}
