using System.Diagnostics;
using LlmNet.Common.Cli;
using LlmNet.Common.Logs;
using LlmNet.Common.Text;
using LlmNet.Eval.HellaSwag;
using LlmNet.Model;
using LlmNet.Model.Checkpoints;
using LlmNet.Training.Data;
using LlmNet.Training.Evaluation;
using LlmNet.Training.Logging;
using LlmNet.Training.Optim;
using LlmNet.Training.Sampling;

namespace LlmNet.Training;

/// <summary>
/// llm.c's training loop (train_gpt2.cu: main) over any <see cref="IGptBackend"/>:
/// for step = start..N, at the top of each step validation, HellaSwag, sampling and checkpointing on
/// their schedules, then (unless it is the last step) one update of grad_accum micro-steps with global
/// norm clipping, outlier-based skipping and AdamW. Logs and checkpoints match llm.c's files.
/// </summary>
public sealed class Trainer : IDisposable
{
    private const float Beta1 = 0.9f, Beta2 = 0.95f, Epsilon = 1e-8f, GradClip = 1.0f;

    private readonly TrainOptions _o;
    private readonly IGptBackend _backend;
    private readonly IProcessGroup _group;
    private readonly TextWriter _out;
    private readonly IHellaSwagEvaluator? _hellaSwag;
    private readonly ModelDtype _checkpointDtype; // the backend's parameter precision: llm.c writes v3 from fp32 builds, v5 from bf16 builds
    private readonly DataLoader _train, _val;
    private readonly LearningRateScheduler _scheduler;
    private readonly CheckpointDirectory? _checkpoints;
    private readonly MainLogWriter? _log;

    /// <param name="options">The run's settings, as <see cref="TrainOptions.Validate"/> accepts them for this backend's model and this group's size.</param>
    public Trainer(TrainOptions options, IGptBackend backend, IProcessGroup group, TextWriter output, IHellaSwagEvaluator? hellaSwag = null)
    {
        _checkpointDtype = backend.ParameterDtype;
        _o = options;
        _backend = backend;
        _group = group;
        _out = output;
        _hellaSwag = hellaSwag;
        int B = options.BatchSize, T = options.SeqLen;
        // The options themselves were checked by TrainOptions.Validate; what is left is what they meet here.
        if (B > backend.MaxBatchSize || T > backend.MaxSeqLen) throw new ToolException($"the backend was sized for B={backend.MaxBatchSize}, T={backend.MaxSeqLen}, smaller than B={B}, T={T}");
        if (options.HellaSwag == 1 && hellaSwag is null) throw new ToolException("-h 1 needs a HellaSwag evaluator, and none was given to the trainer; run without -h 1");

        TokensPerFwdBwd = options.TokensPerMicroStep(group.Size);
        TotalBatchSize = options.TokensPerUpdate(group.Size);
        GradAccumSteps = TotalBatchSize / TokensPerFwdBwd;

        // -a 1 trains on the validation data, unshuffled, re-reading the first batch every step.
        string trainPattern = options.OverfitSingleBatch == 1 ? options.ValData : options.TrainData;
        int vocab = backend.Config.VocabSize;
        _train = new DataLoader(trainPattern, B, T, group.Rank, group.Size, shuffle: options.OverfitSingleBatch != 1, vocab);
        _val = new DataLoader(options.ValData, B, T, group.Rank, group.Size, shuffle: false, vocab);
        TrainNumBatches = options.MaxSteps == -1 ? (int)(_train.NumTokens / TotalBatchSize) : options.MaxSteps;
        ValNumBatches = ValidationLoss.Batches(_val, group.Size, options.ValMaxSteps);
        try { _scheduler = new LearningRateScheduler(options.LrScheduler, options.LearningRate, options.Warmup, TrainNumBatches, options.FinalLrFraction); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }

        if (options.OutputDir is not null)
        {
            _checkpoints = new CheckpointDirectory(options.OutputDir);
            if (group.Rank == 0)
            {
                try { Directory.CreateDirectory(options.OutputDir); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new ToolException($"{options.OutputDir}: cannot create the output folder ({e.Message}). Choose a writable -o");
                }
                _log = new MainLogWriter(Path.Combine(options.OutputDir, "main.log"), truncate: options.Resume == 0);
            }
            // A kill -9 during a checkpoint write leaves its temporary behind, and a crash-and-retry loop would pile
            // them up (22 GB per checkpoint at d48). No rank writes a checkpoint before the first update, which needs
            // every rank, so nothing of this run can be a live temporary yet.
            var (files, bytes) = _checkpoints.CleanStaleTemporaries(group.Rank);
            if (files > 0) Say($"removed {files} temporary file(s) of interrupted checkpoint writes ({bytes / (1024.0 * 1024.0):F1} MiB)");
        }
    }

    public int TokensPerFwdBwd { get; }
    public int TotalBatchSize { get; }
    public int GradAccumSteps { get; }
    public int TrainNumBatches { get; }
    public int ValNumBatches { get; }
    public DataLoader TrainLoader => _train;

    private bool IsRank0 => _group.Rank == 0;
    private void Say(string line) { if (IsRank0 && !_o.Quiet) _out.WriteLine(line); }
    private void SayAlways(string line) { if (IsRank0) _out.WriteLine(line); }

    /// <summary>
    /// Runs the loop. With <paramref name="resumeStep"/> (the checkpoint whose model the backend already
    /// holds), the optimizer, RNG and loader state are restored from its state file and the loop continues
    /// at that step, without rewriting that checkpoint.
    /// </summary>
    public TrainResult Run(int? resumeStep, string modelSource, CancellationToken ct = default)
    {
        var result = new TrainResult { TrainNumBatches = TrainNumBatches };
        PrintHeader(modelSource);
        int step = 0;
        bool resuming = false;
        if (resumeStep is int saved)
        {
            RestoreState(saved);
            step = saved;
            resuming = true;
            Say($"resuming from the checkpoint at step {saved}");
            if (_o.CheckpointEvery > 0)
            {
                var cleaned = _checkpoints!.FinishDeletions(saved, _o.CheckpointEvery, _o.CheckpointsKeep, _o.MajorCheckpointEvery, _group.Rank);
                if (cleaned.Count > 0) Say($"finished the interrupted deletion of checkpoint(s) at step {string.Join(", ", cleaned)} (-nk {_o.CheckpointsKeep})");
            }
        }
        result.StartStep = step;

        var lossDetector = new OutlierDetector();
        var normDetector = new OutlierDetector();
        double emaTokensPerSecond = 0;
        double totalIterationSeconds = 0;
        int B = _o.BatchSize, T = _o.SeqLen;
        float lossScale = 1.0f / (B * T * GradAccumSteps);
        double? peak = _backend.DeviceName.StartsWith("cpu", StringComparison.OrdinalIgnoreCase) ? null : PeakFlops.Bf16Tflops(_backend.DeviceName);
        bool showMfu = !_backend.DeviceName.StartsWith("cpu", StringComparison.OrdinalIgnoreCase);
        double flopsPerToken = _backend.Config.FlopsPerToken(T);

        for (; step <= TrainNumBatches; step++)
        {
            ct.ThrowIfCancellationRequested();
            bool lastStep = step == TrainNumBatches;

            if ((_o.ValEvery > 0 && step % _o.ValEvery == 0) || lastStep)
            {
                float valLoss = Validate(ct);
                SayAlways($"val loss {CFormat.F(valLoss, 6)}");
                _log?.LogVal(step, valLoss);
                result.ValLosses.Add((step, valLoss));
            }

            if (_o.HellaSwag == 1 && ((step > 0 && _o.ValEvery > 0 && step % _o.ValEvery == 0) || lastStep))
            {
                var score = _hellaSwag!.Evaluate(_backend, _o.BatchSize, _o.SeqLen, ct);
                int correct = (int)Math.Round(_group.AllReduceSum(score.Correct));
                int total = (int)Math.Round(_group.AllReduceSum(score.Total));
                float accuracy = total > 0 ? (float)correct / total : 0f;
                SayAlways($"HellaSwag: {correct}/{total} = {CFormat.F(accuracy, 6)}");
                _log?.LogEval(step, accuracy);
                result.HellaSwag.Add((step, accuracy));
            }

            if (IsRank0 && _o.SampleEvery > 0 && ((step > 0 && step % _o.SampleEvery == 0) || lastStep))
            {
                _out.Write("generating:\n---\n");
                var writer = new TokenTextWriter(_out);
                int[] sample = LlmcSampler.Generate(_backend, T, _o.GenT, writer.Write, ct);
                writer.Finish();
                _out.Write("\n---\n");
                result.Samples.Add((step, sample));
            }

            if (_o.CheckpointEvery > 0 && _checkpoints is not null && !resuming &&
                ((step > 0 && step % _o.CheckpointEvery == 0) || lastStep))
            {
                try { WriteCheckpoint(step); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new ToolException($"{_o.OutputDir}: writing the checkpoint of step {step} failed ({e.Message}). " +
                        "Free disk space or choose another -o; earlier complete checkpoints are intact, resume with -y 1", e);
                }
                if (CheckpointDirectory.StepToDelete(step, _o.CheckpointEvery, _o.CheckpointsKeep, _o.MajorCheckpointEvery) is int old)
                {
                    Say($"Deleting checkpoint at step {old}");
                    _checkpoints.DeleteOld(step, _o.CheckpointEvery, _o.CheckpointsKeep, _o.MajorCheckpointEvery, _group.Rank);
                }
            }
            resuming = false;

            if (lastStep) break;

            // ---- one update over total_batch_size tokens ----
            if (_o.OverfitSingleBatch == 1) _train.Reset();
            var clock = Stopwatch.StartNew();
            _backend.ZeroGradients();
            // Every micro-step is queued before the first loss is read, so a GPU never idles while the host reads a
            // batch; the per-micro-step mean losses are then summed in order, as llm.c does.
            for (int micro = 0; micro < GradAccumSteps; micro++)
            {
                _train.NextBatch();
                // The last micro-step's backward also averages the gradients across processes.
                _backend.QueueForwardBackward(_train.Inputs, _train.Targets, B, T, lossScale, lastMicroStep: micro == GradAccumSteps - 1);
            }
            float lossSum = 0f;
            foreach (float loss in _backend.TakeLosses()) lossSum += loss;
            float meanLoss = lossSum / GradAccumSteps;
            if (_group.Size > 1) meanLoss = (float)(_group.AllReduceSum(meanLoss) / _group.Size);
            float zloss = (float)lossDetector.Update(meanLoss);
            float lr = _scheduler.At(step);
            // llm.c reduces the squared norm into a float and takes sqrtf of it.
            float gradNorm = MathF.Sqrt((float)_backend.GradientNormSquared());
            float zgrad = (float)normDetector.Update(gradNorm);
            bool skipped = true;
            if (float.IsFinite(zloss) && _o.SkipUpdateLossZ != 0 && zloss > _o.SkipUpdateLossZ)
                Say($"skipping update due to loss z-score of {CFormat.F(zloss, 6)}");
            else if (float.IsFinite(zgrad) && _o.SkipUpdateGradZ != 0 && zgrad > _o.SkipUpdateGradZ)
                Say($"skipping update due to grad z-score of {CFormat.F(zgrad, 6)}");
            else
            {
                float gradScale = gradNorm > GradClip ? GradClip / gradNorm : 1.0f;
                _backend.Update(new AdamWStep(lr, Beta1, Beta2, Epsilon, _o.WeightDecay, gradScale, step + 1));
                skipped = false;
            }
            clock.Stop();

            double seconds = clock.Elapsed.TotalSeconds;
            long tokens = (long)_group.Size * B * T * GradAccumSteps;
            float tokensPerSecond = (float)(tokens / seconds);
            float shownTokensPerSecond = tokensPerSecond;
            if (step > 0)
            {
                totalIterationSeconds += seconds;
                emaTokensPerSecond = 0.95f * emaTokensPerSecond + 0.05f * tokensPerSecond;
                shownTokensPerSecond = (float)(emaTokensPerSecond / (1.0f - MathF.Pow(0.95f, step)));
            }
            string mfu = showMfu
                ? $" {CFormat.F(100 * PeakFlops.Mfu(flopsPerToken, (long)B * T * GradAccumSteps, seconds, peak), 1)}% bf16 MFU |"
                : "";
            Say($"step {step + 1,4}/{TrainNumBatches} | loss {CFormat.F(meanLoss, 6, 7)} ({CFormat.F(zloss, 2, plus: true)}z)| " +
                $"norm {CFormat.F(gradNorm, 4, 6)} ({CFormat.F(zgrad, 2, plus: true)}z)| lr {CFormat.E(lr, 2)} | " +
                $"{CFormat.F(seconds * 1000, 2)} ms |{mfu} {CFormat.F(shownTokensPerSecond, 0)} tok/s");
            _log?.LogTrain(step, meanLoss, lr, gradNorm);
            result.Steps.Add(new StepRecord(step, meanLoss, lr, gradNorm, skipped));
        }
        if (TrainNumBatches > 1 && result.Steps.Count > 1)
            Say($"total average iteration time: {CFormat.F(totalIterationSeconds / (TrainNumBatches - 1) * 1000, 6)} ms");
        return result;
    }

    private float Validate(CancellationToken ct) => ValidationLoss.Compute(_backend, _val, ValNumBatches, _group, ct);

    private void WriteCheckpoint(int step)
    {
        var dir = _checkpoints!;
        Say($"Writing checkpoint at step {step}");
        long n = ParameterLayout.For(_backend.Config).Count;
        if (IsRank0)
        {
            var parameters = new float[n];
            _backend.GetParameters(parameters);
            Say($"Writing model to {dir.ModelPath(step)}");
            dir.WriteModel(step, _backend.Config, _checkpointDtype, parameters);
        }
        long shard = _backend.OptimizerStateCount; // N, or N / processes with ZeRO-1
        var m = new float[shard];
        var v = new float[shard];
        float[]? master = _backend.KeepsMasterWeights ? new float[shard] : null;
        _backend.GetOptimizerState(m, v, master);
        var loader = _train.SaveState();
        if (!_o.Quiet) _out.WriteLine($"Writing state to {dir.StatePath(step, _group.Rank)}"); // every rank, as llm.c
        dir.WriteState(step, new TrainingState
        {
            NumProcesses = _group.Size,
            ProcessRank = _group.Rank,
            Step = step,
            RngState = _backend.RngState,
            RngStateLastUpdate = _backend.RngStateLastUpdate,
            ShardIndex = (ulong)loader.ShardIndex,
            SampleIndex = (ulong)loader.SampleIndex,
            M = m,
            V = v,
            Master = master,
            ShouldShuffle = loader.Shuffle,
            ShardIndices = loader.Shuffle ? loader.ShardIndices : null,
            IntraShardIndices = loader.Shuffle ? loader.IntraShardIndices : null,
            LoaderRngState = loader.Shuffle ? loader.RngState : null,
        });
        _group.Barrier();
        if (IsRank0) dir.MarkDone(step);
    }

    private void RestoreState(int step)
    {
        var dir = _checkpoints!;
        string path = dir.StatePath(step, _group.Rank);
        var state = StateFile.Read(path, _backend.OptimizerStateCount);
        if (state.NumProcesses != _group.Size || state.ProcessRank != _group.Rank)
            throw new ToolException($"{path}: written by rank {state.ProcessRank} of {state.NumProcesses} processes, but this is rank {_group.Rank} of {_group.Size}. Resume with the same number of processes");
        if (state.Step != step)
            throw new ToolException($"{path}: holds step {state.Step}, not {step}. The checkpoint folder is inconsistent; delete DONE_{step:D8} to resume from an earlier checkpoint");
        if (state.Master is not null && !_backend.KeepsMasterWeights)
            SayAlways("warning: the state file has master weights but this run does not use them; they are ignored");
        if (state.Master is null && _backend.KeepsMasterWeights)
            throw new ToolException($"{path}: has no master weights but this run keeps them. Resume with -w 0");
        _backend.SetOptimizerState(state.M, state.V, _backend.KeepsMasterWeights ? state.Master : ReadOnlySpan<float>.Empty);
        _backend.RestoreRngState(state.RngState, state.RngStateLastUpdate);
        try
        {
            _train.RestoreState(new DataLoaderState(state.ShouldShuffle, checked((int)state.ShardIndex), checked((int)state.SampleIndex),
                state.ShardIndices ?? [], state.IntraShardIndices ?? [], state.LoaderRngState ?? []));
        }
        catch (InvalidDataException e)
        {
            throw new ToolException($"{path}: {e.Message}. Resume with the same data and -a setting, or start fresh (-y 0)");
        }
    }

    private void PrintHeader(string modelSource)
    {
        if (!IsRank0 || _o.Quiet) return;
        var c = _backend.Config;
        long n = ParameterLayout.For(c).Count;
        string sep = "+-----------------------+----------------------------------------------------+";
        void Row(string k, object v) => _out.WriteLine($"| {k,-21} | {v,-50} |");
        _out.WriteLine(sep);
        Row("Parameter", "Value");
        _out.WriteLine(sep);
        Row("train data pattern", _o.OverfitSingleBatch == 1 ? _o.ValData : _o.TrainData);
        Row("val data pattern", _o.ValData);
        Row("output log dir", _o.OutputDir ?? "NULL");
        Row("checkpoint_every", _o.CheckpointEvery);
        Row("resume", _o.Resume);
        Row("micro batch size B", _o.BatchSize);
        Row("sequence length T", _o.SeqLen);
        Row("total batch size", TotalBatchSize);
        Row("LR scheduler", _o.LrScheduler);
        Row("learning rate (LR)", CFormat.E(_o.LearningRate, 6));
        Row("warmup iterations", _o.Warmup);
        Row("final LR fraction", CFormat.E(_o.FinalLrFraction, 6));
        Row("weight decay", CFormat.E(_o.WeightDecay, 6));
        Row("skip update lossz", CFormat.F(_o.SkipUpdateLossZ, 6));
        Row("skip update gradz", CFormat.F(_o.SkipUpdateGradZ, 6));
        Row("max_steps", _o.MaxSteps);
        Row("val_loss_every", _o.ValEvery);
        Row("val_max_steps", _o.ValMaxSteps);
        Row("sample_every", _o.SampleEvery);
        Row("genT", _o.GenT);
        Row("overfit_single_batch", _o.OverfitSingleBatch);
        Row("use_master_weights", _backend.KeepsMasterWeights ? "enabled" : "disabled");
        Row("gelu_fusion", _backend.ActiveGeluFusion ?? Math.Max(_o.GeluFusion, 0));
        Row("recompute", _o.Recompute);
        _out.WriteLine(sep);
        Row("device", _backend.DeviceName);
        double? peak = PeakFlops.Bf16Tflops(_backend.DeviceName);
        Row("peak TFlops", CFormat.F(peak ?? -1.0, 1));
        Row("precision", _checkpointDtype == ModelDtype.Bf16 ? "BF16" : "FP32");
        _out.WriteLine(sep);
        Row("load_filename", modelSource);
        Row("max_sequence_length T", c.MaxSeqLen);
        Row("vocab_size V", c.VocabSize);
        Row("padded_vocab_size Vp", c.PaddedVocabSize);
        Row("num_layers L", c.NumLayers);
        Row("num_heads NH", c.NumHeads);
        Row("channels C", c.Channels);
        Row("num_parameters", n);
        _out.WriteLine(sep);
        Row("train_num_batches", TrainNumBatches);
        Row("val_num_batches", ValNumBatches);
        _out.WriteLine(sep);
        Row("run hellaswag", _o.HellaSwag == 1 ? "yes" : "no");
        _out.WriteLine(sep);
        Row("num_processes", _group.Size);
        Row("zero_stage", _o.ZeroStage);
        _out.WriteLine(sep);

        int paramBytes = _checkpointDtype == ModelDtype.Bf16 ? 2 : 4;
        const long MiB = 1024 * 1024;
        _out.WriteLine($"num_parameters: {n} => bytes: {n * paramBytes}");
        _out.WriteLine($"allocated {n * paramBytes / MiB} MiB for model parameters");
        _out.WriteLine($"batch_size B={_o.BatchSize} * seq_len T={_o.SeqLen} * num_processes={_group.Size} and total_batch_size={TotalBatchSize}");
        _out.WriteLine($"=> setting grad_accum_steps={GradAccumSteps}");
        _out.WriteLine($"allocating {n * paramBytes / MiB} MiB for parameter gradients");
        _out.WriteLine($"allocating {n * 4 / MiB} MiB for AdamW optimizer state m");
        _out.WriteLine($"allocating {n * 4 / MiB} MiB for AdamW optimizer state v");
        if (_backend.KeepsMasterWeights) _out.WriteLine($"allocating {n * 4 / MiB} MiB for master copy of params");
    }

    public void Dispose()
    {
        _train.Dispose();
        _val.Dispose();
    }
}
