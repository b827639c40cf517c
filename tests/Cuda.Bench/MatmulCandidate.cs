using LlmNet.Cuda;
using LlmNet.Cuda.Interop;

/// <summary>
/// One algorithm from cuBLASLt's heuristic list for one matmul plan (see <see cref="MatmulCandidates.Candidates"/>), with
/// the configuration it reports, so that the benchmark can run it through <see cref="MatmulCandidates.RunWith"/> and say what it was.
/// Configuration values are the raw cuBLASLt enum ids (cublasLtMatmulTile_t, cublasLtMatmulStages_t,
/// cublasLtReductionScheme_t, cublasLtClusterShape_t, ...); -1 where the library does not report one.
/// </summary>
internal sealed unsafe class MatmulCandidate
{
    /// <summary>The attributes read for every candidate, in the order of <see cref="Config"/>.</summary>
    internal static readonly int[] ConfigAttributes =
    [
        CublasLt.AlgoConfigId, CublasLt.AlgoConfigTileId, CublasLt.AlgoConfigStagesId, CublasLt.AlgoConfigSplitKNum,
        CublasLt.AlgoConfigReductionScheme, CublasLt.AlgoConfigCtaSwizzling, CublasLt.AlgoConfigCustomOption,
        CublasLt.AlgoConfigInnerShapeId, CublasLt.AlgoConfigClusterShapeId,
    ];

    private readonly long[] _config;

    internal MatmulCandidate(int index, Matmul.PlanKey key, CublasLt.HeuristicResult result, bool isRunAlgorithm, long[] config)
    {
        if (config.Length != ConfigAttributes.Length) throw new ArgumentException("one value per configuration attribute", nameof(config));
        Index = index;
        Key = key;
        Result = result;
        IsRunAlgorithm = isRunAlgorithm;
        _config = config;
    }

    /// <summary>Rank in the heuristic's list (0 = its first choice).</summary>
    public int Index { get; }

    /// <summary>Whether this is the algorithm <see cref="Matmul.Run"/> uses for the same plan.</summary>
    public bool IsRunAlgorithm { get; }

    internal Matmul.PlanKey Key { get; }

    /// <summary>The heuristic's result as returned: the 64-byte algorithm, workspace size, state and waves count.</summary>
    internal CublasLt.HeuristicResult Result { get; }

    public long AlgoId => _config[0];
    public long Tile => _config[1];
    public long Stages => _config[2];
    public long SplitK => _config[3];
    public long ReductionScheme => _config[4];
    public long CtaSwizzling => _config[5];
    public long CustomOption => _config[6];
    public long InnerShape => _config[7];
    public long ClusterShape => _config[8];

    public IReadOnlyList<long> Config => _config;

    /// <summary>Workspace bytes the algorithm needs (at most the 32 MiB the preference allows).</summary>
    public ulong WorkspaceBytes => Result.WorkspaceSize;

    /// <summary>The heuristic's waves count: the work in units of one full wave of CTAs over the GPU's SMs.</summary>
    public float WavesCount => Result.WavesCount;

    /// <summary>The heuristic's status for this result (0 = CUBLAS_STATUS_SUCCESS).</summary>
    public int State => Result.State;

    /// <summary>
    /// A one-line description, e.g. "algo 66 tile 24=256x128 stages 35 splitK 1 red none swz 0 opt 0 inner 0 cluster 0
    /// ws 0.00MiB waves 1.52"; tile and stage ids are followed by their size where cublasLt.h's enum names one.
    /// </summary>
    public string Description =>
        $"algo {AlgoId} tile {Named(Tile, TileNames)} stages {Named(Stages, StageNames)} splitK {SplitK} red {ReductionName(ReductionScheme)} " +
        $"swz {CtaSwizzling} opt {CustomOption} inner {InnerShape} cluster {ClusterShape} ws {WorkspaceBytes / (1024.0 * 1024.0):F2}MiB waves {WavesCount:F2}" +
        (State != 0 ? $" state {State}" : "");

    // cublasLtMatmulTile_t ids 1..35 (CUBLASLT_MATMUL_TILE_<rows>x<cols>; 0 is UNDEFINED). Later ids are printed bare.
    private static readonly string[] TileNames =
    [
        "", "8x8", "8x16", "16x8", "8x32", "16x16", "32x8", "8x64", "16x32", "32x16", "64x8", "32x32", "32x64", "64x32",
        "32x128", "64x64", "128x32", "64x128", "128x64", "64x256", "128x128", "256x64", "64x512", "128x256", "256x128",
        "512x64", "64x96", "96x64", "96x128", "128x160", "160x128", "192x128", "128x192", "128x96", "32x256", "256x32",
    ];

    // cublasLtMatmulStages_t ids 1..26 (CUBLASLT_MATMUL_STAGES_<k-block>x<stages>; 0 is UNDEFINED).
    private static readonly string[] StageNames =
    [
        "", "16x1", "16x2", "16x3", "16x4", "16x5", "16x6", "32x1", "32x2", "32x3", "32x4", "32x5", "32x6",
        "64x1", "64x2", "64x3", "64x4", "64x5", "64x6", "128x1", "128x2", "128x3", "128x4", "128x5", "128x6", "32x10", "8x4",
    ];

    private static string Named(long id, string[] names) => id > 0 && id < names.Length ? $"{id}={names[id]}" : id.ToString();

    // cublasLtReductionScheme_t: 0 NONE, 1 INPLACE, 2 COMPUTE_TYPE, 4 OUTPUT_TYPE.
    private static string ReductionName(long scheme) => scheme switch
    {
        0 => "none",
        1 => "inplace",
        2 => "compute-type",
        4 => "output-type",
        _ => scheme.ToString(),
    };

    public override string ToString() => $"#{Index} {Description}";
}

/// <summary>The heuristic's algorithms of a <see cref="Matmul"/> plan as <see cref="MatmulCandidate"/>s, and runs of one of them.</summary>
internal static unsafe class MatmulCandidates
{
    private const int AlgoBytes = 64; // cublasLtMatmulAlgo_t: the first 8 ulongs of HeuristicResult

    /// <summary>
    /// Up to <paramref name="max"/> algorithms from cuBLASLt's heuristic for the plan <see cref="Matmul.Run"/> uses with
    /// these arguments, in the heuristic's order, each with its configuration.
    /// </summary>
    public static IReadOnlyList<MatmulCandidate> Candidates(this Matmul mm, ulong d, ulong a, ulong b, int m, int n, int k, bool transA, bool transB,
        bool accumulate, MatmulEpilogue epilogue, ulong bias, ulong aux, int max)
    {
        CublasLt.HeuristicResult[] results = mm.HeuristicAlgorithms(d, a, b, m, n, k, transA, transB, accumulate, epilogue, bias, aux, max,
            out Matmul.PlanKey key, out CublasLt.HeuristicResult chosen);
        var list = new List<MatmulCandidate>(results.Length);
        for (int i = 0; i < results.Length; i++)
        {
            CublasLt.HeuristicResult r = results[i];
            bool isRunAlgo = new ReadOnlySpan<byte>(r.Algo, AlgoBytes).SequenceEqual(new ReadOnlySpan<byte>(chosen.Algo, AlgoBytes));
            var config = new long[MatmulCandidate.ConfigAttributes.Length];
            for (int j = 0; j < config.Length; j++) config[j] = ReadAlgoConfig(r.Algo, MatmulCandidate.ConfigAttributes[j]);
            list.Add(new MatmulCandidate(i, key, r, isRunAlgo, config));
        }
        return list;
    }

    /// <summary><see cref="Matmul.Run"/> with the candidate's algorithm instead of the plan's.</summary>
    public static void RunWith(this Matmul mm, MatmulCandidate candidate, ulong d, ulong a, ulong b, int m, int n, int k, bool transA, bool transB,
        bool accumulate = false, MatmulEpilogue epilogue = MatmulEpilogue.None, ulong bias = 0, ulong aux = 0, float alpha = 1.0f) =>
        mm.RunWith(candidate.Result, candidate.Key, d, a, b, m, n, k, transA, transB, accumulate, epilogue, bias, aux, alpha);

    /// <summary>
    /// One configuration attribute of an algorithm, or -1 when the library does not report it. The attributes are
    /// 2 or 4 bytes wide and a read of the wrong width is rejected, so the width is asked for first (size 0).
    /// </summary>
    private static long ReadAlgoConfig(void* algo, int attribute)
    {
        nuint size = 0;
        if (CublasLt.cublasLtMatmulAlgoConfigGetAttribute(algo, attribute, null, 0, &size) == 0 && size > 0 && size <= sizeof(ulong))
            return ReadAlgoConfig(algo, attribute, size);
        // A library that does not answer the size query: try the documented widths.
        long value = ReadAlgoConfig(algo, attribute, sizeof(int));
        return value != -1 ? value : ReadAlgoConfig(algo, attribute, sizeof(ushort));
    }

    private static long ReadAlgoConfig(void* algo, int attribute, nuint size)
    {
        ulong value = 0; // little-endian: a narrower attribute lands in the low bytes
        nuint written = 0;
        if (CublasLt.cublasLtMatmulAlgoConfigGetAttribute(algo, attribute, &value, size, &written) != 0 || written != size)
            return -1;
        // SPLITK_NUM is the one signed attribute.
        return attribute == CublasLt.AlgoConfigSplitKNum && size == sizeof(int) ? (int)(uint)value : (long)value;
    }
}
