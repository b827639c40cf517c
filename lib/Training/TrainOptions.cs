using LlmNet.Common.Cli;
using LlmNet.Common.Text;
using LlmNet.Model;

namespace LlmNet.Training;

/// <summary>
/// Every setting of a training run, with llm.c's train_gpt2.cu defaults (main's argument loop, error_usage). The
/// command line (llm-train's, llm.c's single-dash flags or the long names) fills it; <see cref="Validate"/> checks it
/// against the model; the trainer only reads it.
/// </summary>
public sealed record TrainOptions
{
    public string TrainData { get; init; } = "dev/data/tinyshakespeare/tiny_shakespeare_train.bin";
    public string ValData { get; init; } = "dev/data/tinyshakespeare/tiny_shakespeare_val.bin";
    /// <summary>--model (-e): a model file (*.bin), a Hugging Face folder, or a descriptor (dN, gpt2:dN, gpt3:cN) for a fresh init.</summary>
    public string Init { get; init; } = "gpt2_124M_bf16.bin";
    public string? OutputDir { get; init; }
    public int CheckpointEvery { get; init; }
    public int CheckpointsKeep { get; init; }
    public int MajorCheckpointEvery { get; init; }
    public int Resume { get; init; }
    public int BatchSize { get; init; } = 4;
    public int SeqLen { get; init; } = 1024;
    /// <summary>Tokens per update; −1 means B·T·processes (no accumulation).</summary>
    public int TotalBatchSize { get; init; } = -1;
    /// <summary>−1 means one epoch of the training data.</summary>
    public int MaxSteps { get; init; } = -1;
    public string LrScheduler { get; init; } = "cosine";
    public float LearningRate { get; init; } = 3e-4f;
    public int Warmup { get; init; }
    public float FinalLrFraction { get; init; } = 1.0f;
    public float WeightDecay { get; init; }
    public float SkipUpdateLossZ { get; init; }
    public float SkipUpdateGradZ { get; init; }
    public int ValEvery { get; init; } = 20;
    /// <summary>−1 means the whole validation set.</summary>
    public int ValMaxSteps { get; init; } = 20;
    public int SampleEvery { get; init; } = 20;
    public int GenT { get; init; } = 64;
    public int HellaSwag { get; init; }
    /// <summary>HellaSwag data for -h 1; null = llm.c's dev/data/hellaswag/hellaswag_val.bin or the project's default locations.</summary>
    public string? HellaSwagData { get; init; }
    public int OverfitSingleBatch { get; init; }
    public int UseMasterWeights { get; init; } = 1;
    /// <summary>−1 is "auto": the CUDA backend uses 2 on sm_90 and newer, else 0 (llm.c resolves −1 to 0 everywhere; README.md lists the difference).</summary>
    public int GeluFusion { get; init; } = -1;
    public int ZeroStage { get; init; }
    public int Recompute { get; init; } = 1;
    public int NumProcesses { get; init; } = 1;
    public int ProcessRank { get; init; }
    public int GpusPerNode { get; init; } = 8;
    public string InitMethod { get; init; } = "mpi";
    public string ServerIp { get; init; } = "";
    public string FsPath { get; init; } = "";
    /// <summary>cpu, cuda or auto (cuda when a GPU backend is available, else cpu).</summary>
    public string Device { get; init; } = "auto";
    public bool Quiet { get; init; }

    /// <summary>
    /// The one check of a run's settings against its model and number of processes, made before anything is
    /// allocated; a bad value is a <see cref="UsageException"/> naming its flag.
    /// </summary>
    public void Validate(GptConfig model, int processes)
    {
        int B = BatchSize, T = SeqLen;
        if (T > model.MaxSeqLen) throw new UsageException($"sequence length {T} (-t) exceeds the model's maximum {model.MaxSeqLen}");
        if (B <= 0 || T <= 0) throw new UsageException($"batch size ({B}) and sequence length ({T}) must be positive");
        if (SampleEvery > 0 && GenT - 1 > T) throw new UsageException($"sample length {GenT} (-g) exceeds the sequence length {T} + 1");
        // llm.c's sampling session starts from EOT (50256): a smaller vocabulary would fail at the first sample.
        if (SampleEvery > 0 && model.VocabSize <= Gpt2Tokenizer.EndOfText)
            throw new UsageException($"sampling (-s {SampleEvery}) starts from EOT, id {Gpt2Tokenizer.EndOfText}, but the model's vocabulary has {model.VocabSize} ids; run with -s 0");
        int total = TokensPerUpdate(processes);
        if (total <= 0 || total % TokensPerMicroStep(processes) != 0)
            throw new UsageException($"total batch size {total} (-d) must be a positive multiple of B*T*processes = {TokensPerMicroStep(processes)}");
        // -x -1 is one epoch; below that no number of steps is meant.
        if (MaxSteps < -1) throw new UsageException($"max steps {MaxSteps} (-x) must be -1 (one epoch) or at least 0");
    }

    /// <summary>Tokens one micro-step takes over all <paramref name="processes"/>: B·T·processes.</summary>
    public int TokensPerMicroStep(int processes) => BatchSize * SeqLen * processes;

    /// <summary>Tokens per update (-d); −1 means one micro-step's, <see cref="TokensPerMicroStep"/> (no accumulation).</summary>
    public int TokensPerUpdate(int processes) => TotalBatchSize == -1 ? TokensPerMicroStep(processes) : TotalBatchSize;

    /// <summary>
    /// The backend settings of this run in <paramref name="group"/>: -r, -ge and -w (any non-zero value keeps master
    /// weights, as in llm.c). -z reaches the backend through the group, which was joined with it. The one place these
    /// options become <see cref="BackendOptions"/>.
    /// </summary>
    public BackendOptions ToBackendOptions(IProcessGroup group) => new()
    {
        Recompute = Recompute,
        GeluFusion = GeluFusion,
        ProcessGroup = group,
        MasterWeights = UseMasterWeights != 0,
    };
}
