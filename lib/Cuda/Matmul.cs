using LlmNet.Cuda.Interop;

namespace LlmNet.Cuda;

/// <summary>What cuBLASLt applies to the product before writing D.</summary>
public enum MatmulEpilogue
{
    /// <summary>D = alpha·A·B + beta·C.</summary>
    None,
    /// <summary>D = A·B + bias (one bias value per output row of the column-major D, i.e. per output feature).</summary>
    Bias,
    /// <summary>aux = A·B + bias, D = GELU(aux).</summary>
    GeluAuxBias,
    /// <summary>D = (A·B) · GELU'(aux).</summary>
    DGelu,
}

/// <summary>
/// bf16 matrix products through cuBLASLt with fp32 accumulation, in cuBLAS's column-major terms:
/// D (m×n) = op(A) (m×k) · op(B) (k×n). Descriptors and the heuristic's algorithm are built once per shape,
/// epilogue and operand alignment and reused, so a training step issues no heuristic queries after the first.
/// Every plan runs the algorithm the heuristic ranks first.
/// </summary>
public sealed unsafe class Matmul : IDisposable
{
    private const long WorkspaceBytes = 32L << 20;

    private readonly CudaDevice _device;
    private readonly IntPtr _handle;
    private readonly IntPtr _preference;
    private readonly DeviceBuffer _workspace;
    private readonly Dictionary<PlanKey, Plan> _plans = new();

    internal readonly record struct PlanKey(int M, int N, int K, bool TransA, bool TransB, bool Accumulate, MatmulEpilogue Epilogue, int Alignment,
        bool FloatOutput = false);

    private sealed class Plan
    {
        public IntPtr Desc, A, B, D;
        public CublasLt.HeuristicResult Algo;
    }

    public Matmul(CudaDevice device)
    {
        NativeLibraries.Require(NativeLibraries.CublasLt);
        _device = device;
        CublasLt.Check(CublasLt.cublasLtCreate(out _handle), "cublasLtCreate");
        CublasLt.Check(CublasLt.cublasLtMatmulPreferenceCreate(out _preference), "cublasLtMatmulPreferenceCreate");
        ulong ws = WorkspaceBytes;
        CublasLt.Check(CublasLt.cublasLtMatmulPreferenceSetAttribute(_preference, CublasLt.PrefMaxWorkspaceBytes, &ws, sizeof(ulong)),
            "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)");
        _workspace = device.Allocate(WorkspaceBytes, "cuBLASLt workspace");
    }

    public long WorkspaceSize => WorkspaceBytes;

    /// <summary>
    /// D = alpha·op(A)·op(B) (+ D when accumulate) with the given epilogue. A is m×k (k×m stored when transA), B is k×n
    /// (n×k stored when transB), D is m×n; all bf16 (D fp32 with <paramref name="floatOutput"/>, for sums that go on
    /// accumulating before they are rounded), contiguous, column-major with minimal leading dimensions.
    /// alpha scales the fp32 product before the epilogue and the accumulation; it is a per-call value, so the
    /// plan (and with it the algorithm) is the same for every alpha.
    /// </summary>
    public void Run(ulong d, ulong a, ulong b, int m, int n, int k, bool transA, bool transB, bool accumulate = false,
                    MatmulEpilogue epilogue = MatmulEpilogue.None, ulong bias = 0, ulong aux = 0, float alpha = 1.0f, bool floatOutput = false)
    {
        if (floatOutput && epilogue != MatmulEpilogue.None) throw new ArgumentException("an fp32 output takes no epilogue", nameof(epilogue));
        Plan plan = GetPlan(d, a, b, m, n, k, transA, transB, accumulate, epilogue, bias, aux, out _, floatOutput);
        CublasLt.HeuristicResult algo = plan.Algo;
        bool profile = KernelProfiler.Enabled;
        if (profile) KernelProfiler.Begin(_device.Stream);
        Launch(plan, algo.Algo, d, a, b, m, n, k, accumulate, epilogue, alpha);
        if (profile) KernelProfiler.End(_device.Stream, $"matmul {m}x{n}x{k}{(transA ? " tA" : "")}{(transB ? " tB" : "")}{(accumulate ? " acc" : "")}{(floatOutput ? " fp32" : "")} {epilogue}");
    }

    /// <summary>
    /// For llm-cuda-bench: up to <paramref name="max"/> algorithms from cuBLASLt's heuristic for the plan <see cref="Run"/>
    /// uses with these arguments, in the heuristic's order, with that plan's key and the algorithm Run uses. Run itself
    /// never looks at this list.
    /// </summary>
    internal CublasLt.HeuristicResult[] HeuristicAlgorithms(ulong d, ulong a, ulong b, int m, int n, int k, bool transA, bool transB,
        bool accumulate, MatmulEpilogue epilogue, ulong bias, ulong aux, int max, out PlanKey key, out CublasLt.HeuristicResult runAlgorithm)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(max, 128);
        Plan plan = GetPlan(d, a, b, m, n, k, transA, transB, accumulate, epilogue, bias, aux, out key);
        CublasLt.HeuristicResult* results = stackalloc CublasLt.HeuristicResult[max];
        CublasLt.Check(CublasLt.cublasLtMatmulAlgoGetHeuristic(_handle, plan.Desc, plan.A, plan.B, plan.D, plan.D, _preference, max, results, out int found),
            "cublasLtMatmulAlgoGetHeuristic");
        runAlgorithm = plan.Algo;
        return new ReadOnlySpan<CublasLt.HeuristicResult>(results, found).ToArray();
    }

    /// <summary>
    /// For llm-cuda-bench: <see cref="Run"/> with another algorithm of <see cref="HeuristicAlgorithms"/> instead of the
    /// plan's (same descriptors, workspace and stream). The arguments must describe the matmul it was listed for.
    /// </summary>
    internal void RunWith(in CublasLt.HeuristicResult algorithm, PlanKey listedFor, ulong d, ulong a, ulong b, int m, int n, int k, bool transA, bool transB,
        bool accumulate = false, MatmulEpilogue epilogue = MatmulEpilogue.None, ulong bias = 0, ulong aux = 0, float alpha = 1.0f)
    {
        Plan plan = GetPlan(d, a, b, m, n, k, transA, transB, accumulate, epilogue, bias, aux, out PlanKey key);
        if (key != listedFor) throw new ArgumentException($"the algorithm was listed for {listedFor}, not for {key}", nameof(listedFor));
        CublasLt.HeuristicResult copy = algorithm;
        Launch(plan, copy.Algo, d, a, b, m, n, k, accumulate, epilogue, alpha);
    }

    /// <summary>The cached plan for these arguments (created on first use), with this call's bias and aux pointers set.</summary>
    private Plan GetPlan(ulong d, ulong a, ulong b, int m, int n, int k, bool transA, bool transB, bool accumulate,
                         MatmulEpilogue epilogue, ulong bias, ulong aux, out PlanKey key, bool floatOutput = false)
    {
        int alignment = AlignmentClass(a) | AlignmentClass(b) << 4 | AlignmentClass(d) << 8 | AlignmentClass(bias) << 12 | AlignmentClass(aux) << 16;
        key = new PlanKey(m, n, k, transA, transB, accumulate, epilogue, alignment, floatOutput);
        if (!_plans.TryGetValue(key, out Plan? plan))
        {
            plan = Create(key, bias, aux);
            _plans[key] = plan;
        }
        SetPointers(plan.Desc, epilogue, bias, aux, m);
        return plan;
    }

    private void Launch(Plan plan, void* algo, ulong d, ulong a, ulong b, int m, int n, int k, bool accumulate, MatmulEpilogue epilogue, float alpha)
    {
        float beta = accumulate ? 1.0f : 0.0f;
        CublasLt.Check(CublasLt.cublasLtMatmul(_handle, plan.Desc, &alpha, a, plan.A, b, plan.B, &beta, d, plan.D, d, plan.D,
            algo, _workspace.Ptr, (nuint)WorkspaceBytes, _device.Stream), $"cublasLtMatmul(m={m}, n={n}, k={k}, {epilogue})");
    }

    private Plan Create(PlanKey key, ulong bias, ulong aux)
    {
        Plan plan = CreateDescriptors(key, bias, aux);
        CublasLt.HeuristicResult result;
        CublasLt.Check(CublasLt.cublasLtMatmulAlgoGetHeuristic(_handle, plan.Desc, plan.A, plan.B, plan.D, plan.D, _preference, 1, &result, out int found),
            "cublasLtMatmulAlgoGetHeuristic");
        if (found == 0)
            throw new CudaException($"cuBLASLt has no algorithm for m={key.M} n={key.N} k={key.K} transA={key.TransA} transB={key.TransB} epilogue={key.Epilogue}");
        plan.Algo = result;
        return plan;
    }

    /// <summary>The operation and layout descriptors of a plan (everything but its algorithm).</summary>
    private static Plan CreateDescriptors(PlanKey key, ulong bias, ulong aux)
    {
        var plan = new Plan();
        CublasLt.Check(CublasLt.cublasLtMatmulDescCreate(out plan.Desc, CublasLt.Compute32F, CublasLt.R32F), "cublasLtMatmulDescCreate");
        int ta = key.TransA ? CublasLt.OpT : CublasLt.OpN, tb = key.TransB ? CublasLt.OpT : CublasLt.OpN;
        CublasLt.Check(CublasLt.cublasLtMatmulDescSetAttribute(plan.Desc, CublasLt.DescTransA, &ta, sizeof(int)), "cublasLtMatmulDescSetAttribute(TRANSA)");
        CublasLt.Check(CublasLt.cublasLtMatmulDescSetAttribute(plan.Desc, CublasLt.DescTransB, &tb, sizeof(int)), "cublasLtMatmulDescSetAttribute(TRANSB)");
        uint epi = key.Epilogue switch
        {
            MatmulEpilogue.Bias => CublasLt.EpilogueBias,
            MatmulEpilogue.GeluAuxBias => CublasLt.EpilogueGeluAuxBias,
            MatmulEpilogue.DGelu => CublasLt.EpilogueDGelu,
            _ => CublasLt.EpilogueDefault,
        };
        CublasLt.Check(CublasLt.cublasLtMatmulDescSetAttribute(plan.Desc, CublasLt.DescEpilogue, &epi, sizeof(uint)), "cublasLtMatmulDescSetAttribute(EPILOGUE)");
        SetPointers(plan.Desc, key.Epilogue, bias, aux, key.M);
        (ulong rows, ulong cols) aShape = key.TransA ? ((ulong)key.K, (ulong)key.M) : ((ulong)key.M, (ulong)key.K);
        (ulong rows, ulong cols) bShape = key.TransB ? ((ulong)key.N, (ulong)key.K) : ((ulong)key.K, (ulong)key.N);
        CublasLt.Check(CublasLt.cublasLtMatrixLayoutCreate(out plan.A, CublasLt.R16BF, aShape.rows, aShape.cols, (long)aShape.rows), "cublasLtMatrixLayoutCreate(A)");
        CublasLt.Check(CublasLt.cublasLtMatrixLayoutCreate(out plan.B, CublasLt.R16BF, bShape.rows, bShape.cols, (long)bShape.rows), "cublasLtMatrixLayoutCreate(B)");
        CublasLt.Check(CublasLt.cublasLtMatrixLayoutCreate(out plan.D, key.FloatOutput ? CublasLt.R32F : CublasLt.R16BF, (ulong)key.M, (ulong)key.N, key.M),
            "cublasLtMatrixLayoutCreate(D)");
        return plan;
    }

    private static void SetPointers(IntPtr desc, MatmulEpilogue epilogue, ulong bias, ulong aux, int m)
    {
        if (epilogue is MatmulEpilogue.Bias or MatmulEpilogue.GeluAuxBias)
            CublasLt.Check(CublasLt.cublasLtMatmulDescSetAttribute(desc, CublasLt.DescBiasPointer, &bias, sizeof(ulong)), "cublasLtMatmulDescSetAttribute(BIAS_POINTER)");
        if (epilogue is MatmulEpilogue.GeluAuxBias or MatmulEpilogue.DGelu)
        {
            long ld = m;
            CublasLt.Check(CublasLt.cublasLtMatmulDescSetAttribute(desc, CublasLt.DescAuxPointer, &aux, sizeof(ulong)), "cublasLtMatmulDescSetAttribute(EPILOGUE_AUX_POINTER)");
            CublasLt.Check(CublasLt.cublasLtMatmulDescSetAttribute(desc, CublasLt.DescAuxLd, &ld, sizeof(long)), "cublasLtMatmulDescSetAttribute(EPILOGUE_AUX_LD)");
        }
    }

    // Pointer alignment in powers of two up to 256 bytes: algorithms chosen for one alignment may need it.
    private static int AlignmentClass(ulong p)
    {
        if (p == 0) return 0;
        int c = 1;
        for (ulong a = 2; a <= 256 && p % a == 0; a <<= 1) c++;
        return c;
    }

    public void Dispose()
    {
        foreach (Plan p in _plans.Values)
        {
            CublasLt.cublasLtMatrixLayoutDestroy(p.A);
            CublasLt.cublasLtMatrixLayoutDestroy(p.B);
            CublasLt.cublasLtMatrixLayoutDestroy(p.D);
            CublasLt.cublasLtMatmulDescDestroy(p.Desc);
        }
        _plans.Clear();
        CublasLt.cublasLtMatmulPreferenceDestroy(_preference);
        CublasLt.cublasLtDestroy(_handle);
        _workspace.Dispose();
    }
}
