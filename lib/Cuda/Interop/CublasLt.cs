using System.Runtime.InteropServices;

namespace LlmNet.Cuda.Interop;

/// <summary>The cuBLASLt entry points and enum values used for the bf16 matmuls (values from cublasLt.h / library_types.h).</summary>
internal static unsafe partial class CublasLt
{
    private const string Lib = NativeLibraries.CublasLt;

    public const int OpN = 0, OpT = 1;
    public const int Compute32F = 68;          // CUBLAS_COMPUTE_32F
    public const int R32F = 0, R16BF = 14;     // cudaDataType
    public const int DescTransA = 3, DescTransB = 4, DescEpilogue = 7, DescBiasPointer = 8;
    public const int DescAuxPointer = 11, DescAuxLd = 12;
    public const int PrefMaxWorkspaceBytes = 1;

    public const int EpilogueDefault = 1, EpilogueBias = 4, EpilogueGeluAuxBias = 164, EpilogueDGelu = 192;

    // cublasLtMatmulAlgoConfigAttributes_t (cublasLt.h; the same numbering is listed by the cuBLASLt docs and by
    // nvmath-python's MatmulAlgoConfigAttribute): ID int32, TILE_ID uint32 (cublasLtMatmulTile_t), SPLITK_NUM int32,
    // REDUCTION_SCHEME uint32, CTA_SWIZZLING uint32, CUSTOM_OPTION uint32, STAGES_ID uint32 (cublasLtMatmulStages_t),
    // INNER_SHAPE_ID uint16, CLUSTER_SHAPE_ID uint16 (cublasLtClusterShape_t). The widths differ and the library
    // rejects a read of the wrong size, so readers ask for the size first (see Matmul.ReadAlgoConfig).
    public const int AlgoConfigId = 0, AlgoConfigTileId = 1, AlgoConfigSplitKNum = 2, AlgoConfigReductionScheme = 3;
    public const int AlgoConfigCtaSwizzling = 4, AlgoConfigCustomOption = 5, AlgoConfigStagesId = 6;
    public const int AlgoConfigInnerShapeId = 7, AlgoConfigClusterShapeId = 8;

    /// <summary>cublasLtMatmulHeuristicResult_t: a 64-byte algo, workspace size, state, waves, 4 reserved ints.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 96)]
    public struct HeuristicResult
    {
        public fixed ulong Algo[8];
        public nuint WorkspaceSize;
        public int State;
        public float WavesCount;
        public fixed int Reserved[4];
    }

    [LibraryImport(Lib)] public static partial int cublasLtCreate(out IntPtr handle);
    [LibraryImport(Lib)] public static partial int cublasLtDestroy(IntPtr handle);
    [LibraryImport(Lib)] public static partial nuint cublasLtGetVersion();
    [LibraryImport(Lib)] public static partial int cublasLtMatmulDescCreate(out IntPtr desc, int computeType, int scaleType);
    [LibraryImport(Lib)] public static partial int cublasLtMatmulDescDestroy(IntPtr desc);
    [LibraryImport(Lib)] public static partial int cublasLtMatmulDescSetAttribute(IntPtr desc, int attribute, void* value, nuint size);
    [LibraryImport(Lib)] public static partial int cublasLtMatrixLayoutCreate(out IntPtr layout, int type, ulong rows, ulong cols, long ld);
    [LibraryImport(Lib)] public static partial int cublasLtMatrixLayoutDestroy(IntPtr layout);
    [LibraryImport(Lib)] public static partial int cublasLtMatmulPreferenceCreate(out IntPtr pref);
    [LibraryImport(Lib)] public static partial int cublasLtMatmulPreferenceDestroy(IntPtr pref);
    [LibraryImport(Lib)] public static partial int cublasLtMatmulPreferenceSetAttribute(IntPtr pref, int attribute, void* value, nuint size);
    [LibraryImport(Lib)]
    public static partial int cublasLtMatmulAlgoGetHeuristic(IntPtr handle, IntPtr desc, IntPtr a, IntPtr b, IntPtr c, IntPtr d,
        IntPtr pref, int requested, HeuristicResult* results, out int returned);
    /// <summary>Reads one configuration attribute of a 64-byte cublasLtMatmulAlgo_t; with size 0 it reports the size in written.</summary>
    [LibraryImport(Lib)]
    public static partial int cublasLtMatmulAlgoConfigGetAttribute(void* algo, int attribute, void* value, nuint size, nuint* written);
    [LibraryImport(Lib)]
    public static partial int cublasLtMatmul(IntPtr handle, IntPtr desc, void* alpha, ulong a, IntPtr aDesc, ulong b, IntPtr bDesc,
        void* beta, ulong c, IntPtr cDesc, ulong d, IntPtr dDesc, void* algo, ulong workspace, nuint workspaceBytes, IntPtr stream);

    private static readonly string[] s_status =
    [
        "CUBLAS_STATUS_SUCCESS", "CUBLAS_STATUS_NOT_INITIALIZED", "", "CUBLAS_STATUS_ALLOC_FAILED", "", "", "",
        "CUBLAS_STATUS_INVALID_VALUE", "CUBLAS_STATUS_ARCH_MISMATCH", "", "", "CUBLAS_STATUS_MAPPING_ERROR", "", "CUBLAS_STATUS_EXECUTION_FAILED",
        "CUBLAS_STATUS_INTERNAL_ERROR", "CUBLAS_STATUS_NOT_SUPPORTED", "CUBLAS_STATUS_LICENSE_ERROR",
    ];

    public static void Check(int status, string call)
    {
        if (status == 0) return;
        string name = status < s_status.Length && s_status[status].Length > 0 ? s_status[status] : $"cublasStatus {status}";
        throw new CudaException($"{call} failed: {name}");
    }
}
