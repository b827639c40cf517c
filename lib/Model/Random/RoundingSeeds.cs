namespace LlmNet.Model.Random;

/// <summary>
/// llm.c's stochastic-rounding seed stream (train_gpt2.cu: model->rng_state): <see cref="XorShift"/> from
/// 13371337 + rank, one draw per backward pass for the embedding gradients (gpt2_backward_and_reduce: the seed of
/// encoder_backward) and one per parameter tensor per update (gpt2_update), whose start it remembers
/// (rng_state_last_update). The state file records both values and a resumed run restores them, so it rounds as
/// the uninterrupted run would. Each backend owns one; the CPU backend (fp32, nothing to round) draws the same
/// seeds and drops them, so its state files carry the same stream.
/// </summary>
public sealed class RoundingSeeds
{
    /// <summary>llm.c's seed base (train_gpt2.cu: gpt2_init_common).</summary>
    public const ulong LlmcSeedBase = 13371337;
    /// <summary>Test hook: a different seed base, for the noise floor of stochastic rounding (docs/cuda.md).</summary>
    public const string SeedVariable = "LLMNET_SR_SEED";

    private XorShift _rng;

    private RoundingSeeds(ulong state) => _rng = new XorShift(state);

    /// <summary>The stream of process <paramref name="rank"/>: starts at <see cref="SeedBase"/> + rank.</summary>
    public static RoundingSeeds ForRank(int rank) => new(SeedBase() + (ulong)rank);

    /// <summary>
    /// llm.c's 13371337, or <c>LLMNET_SR_SEED</c> when set: a different stream of stochastic-rounding noise for
    /// studying how far bf16 rounding alone moves a run (tests/gpu/multi-gpu-check.sh uses it for its noise floor).
    /// Read only when a backend starts: a resumed run continues on the stream its state file recorded.
    /// </summary>
    public static ulong SeedBase()
    {
        string? text = Environment.GetEnvironmentVariable(SeedVariable);
        if (string.IsNullOrWhiteSpace(text)) return LlmcSeedBase;
        return ulong.TryParse(text, out ulong seed) ? seed
            : throw new ArgumentException($"{SeedVariable} must be an unsigned integer, not \"{text}\"");
    }

    /// <summary>The xorshift state now (the state file's rng_state).</summary>
    public ulong State => _rng.State;

    /// <summary>The state when the last update started (the state file's rng_state_last_update); 0 before the first.</summary>
    public ulong StateAtLastUpdate { get; private set; }

    /// <summary>The seed of one backward pass's embedding-gradient rounding (llm.c: encoder_backward's seed).</summary>
    public uint NextMicroStepSeed() => _rng.NextUInt32();

    /// <summary>Marks the start of an update; then <see cref="NextTensorSeed"/> once per parameter tensor, in llm.c's order.</summary>
    public void StartUpdate() => StateAtLastUpdate = _rng.State;

    /// <summary>The seed of one parameter tensor's AdamW rounding (llm.c gpt2_update: one per tensor).</summary>
    public uint NextTensorSeed() => _rng.NextUInt32();

    /// <summary>Continues the stream a state file recorded.</summary>
    public void Restore(ulong state, ulong stateAtLastUpdate)
    {
        _rng = new XorShift(state);
        StateAtLastUpdate = stateAtLastUpdate;
    }
}
