using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LlmNet.Model.Cpu;

/// <summary>
/// A cache-blocked single-precision matrix multiply, C (+)= op(A)·op(B), in the manner of BLIS: the K
/// dimension is cut into KC-deep slabs, a KC×NC slab of B is packed into NR-wide column panels shared by
/// all workers, each worker packs MC×KC blocks of A into MR-high row panels, and a register-tiled FMA
/// micro-kernel (12×32 with AVX-512, 6×16 otherwise) does the work. Every element of C is summed by one
/// worker in a fixed order (slab by slab, k ascending within a slab), so the result does not depend on
/// thread count or scheduling.
/// </summary>
internal sealed unsafe class Sgemm
{
    private const int KC = 256, MC = 96, NC = 3072, NSub = 256;
    // Micro-tile: 12×32 with 512-bit vectors (24 accumulators of the 32 zmm registers), else 6×16 with 256-bit (12 of 16 ymm).
    private static readonly bool Wide = Vector512.IsHardwareAccelerated;
    private static readonly int MR = Wide ? 12 : 6, NR = Wide ? 32 : 16;

    private readonly int _workers;
    private readonly ParallelOptions _options;
    private readonly float* _packedB;
    private readonly float*[] _packedA;

    public Sgemm(NativeArena arena, int workers)
    {
        _workers = workers;
        _options = new ParallelOptions { MaxDegreeOfParallelism = workers };
        _packedB = arena.Floats((long)KC * NC);
        _packedA = new float*[workers];
        for (int w = 0; w < workers; w++) _packedA[w] = arena.Floats((long)KC * MC);
    }

    /// <summary>
    /// C[m,n] = (accumulate ? C : 0) + op(A)[m,k]·op(B)[k,n], all row-major. op(A)[i,p] is A[i·lda+p], or
    /// A[p·lda+i] when <paramref name="transA"/>; op(B)[p,j] is B[p·ldb+j], or B[j·ldb+p] when <paramref name="transB"/>.
    /// </summary>
    public void Multiply(int m, int n, int k, float* a, int lda, bool transA, float* b, int ldb, bool transB,
        float* c, int ldc, bool accumulate)
    {
        if (m <= 0 || n <= 0) return;
        if (k <= 0)
        {
            if (!accumulate) for (int i = 0; i < m; i++) new Span<float>(c + (long)i * ldc, n).Clear();
            return;
        }
        var job = new Job { A = a, Lda = lda, TransA = transA, B = b, Ldb = ldb, TransB = transB, C = c, Ldc = ldc, M = m };
        for (int pc = 0; pc < k; pc += KC)
        {
            job.Pc = pc;
            job.Kc = Math.Min(KC, k - pc);
            job.Accumulate = accumulate || pc > 0;
            for (int jc = 0; jc < n; jc += NC)
            {
                job.Jc = jc;
                job.Nc = Math.Min(NC, n - jc);
                int panels = (job.Nc + NR - 1) / NR;
                Run(panels, p => PackB(job, p));
                job.MBlocks = (m + MC - 1) / MC;
                job.NBlocks = (job.Nc + NSub - 1) / NSub;
                int tasks = job.MBlocks * job.NBlocks;
                if (tasks == 1 || _workers == 1)
                {
                    for (int t = 0; t < tasks; t++) Block(job, t, _packedA[0]);
                }
                else
                {
                    int workers = Math.Min(_workers, tasks);
                    Parallel.For(0, workers, _options, w =>
                    {
                        for (int t = w; t < tasks; t += workers) Block(job, t, _packedA[w]);
                    });
                }
            }
        }
    }

    private sealed class Job
    {
        public float* A, B, C;
        public int Lda, Ldb, Ldc, M;
        public bool TransA, TransB, Accumulate;
        public int Pc, Kc, Jc, Nc, MBlocks, NBlocks;
    }

    private void Run(int count, Action<int> body)
    {
        if (count == 1 || _workers == 1) { for (int i = 0; i < count; i++) body(i); return; }
        Parallel.For(0, count, _options, body);
    }

    /// <summary>Packs columns [jc + p·NR, +NR) of B's current slab as kc rows of NR floats, zero-padded.</summary>
    private void PackB(Job job, int p)
    {
        int kc = job.Kc, j0 = job.Jc + p * NR, nr = Math.Min(NR, job.Jc + job.Nc - j0);
        float* dst = _packedB + (long)p * kc * NR;
        if (!job.TransB)
        {
            float* src = job.B + (long)job.Pc * job.Ldb + j0;
            for (int kk = 0; kk < kc; kk++, src += job.Ldb, dst += NR)
            {
                if (nr == NR)
                {
                    new ReadOnlySpan<float>(src, NR).CopyTo(new Span<float>(dst, NR));
                }
                else
                {
                    for (int j = 0; j < NR; j++) dst[j] = j < nr ? src[j] : 0f;
                }
            }
        }
        else
        {
            // Transposed B: walk k outermost so the packed panel is written contiguously while the NR source
            // rows are read as NR parallel streams.
            float** rows = stackalloc float*[32];
            for (int j = 0; j < NR; j++) rows[j] = job.B + (long)(j0 + Math.Min(j, nr - 1)) * job.Ldb + job.Pc;
            for (int kk = 0; kk < kc; kk++, dst += NR)
            {
                for (int j = 0; j < nr; j++) dst[j] = rows[j][kk];
                for (int j = nr; j < NR; j++) dst[j] = 0f;
            }
        }
    }

    /// <summary>Packs rows [i0, i0+mc) of A's current slab as MR-high panels, each kc columns of MR floats.</summary>
    private static void PackA(Job job, int i0, int mc, float* dst)
    {
        int kc = job.Kc;
        float** rows = stackalloc float*[16];
        for (int ir = 0; ir < mc; ir += MR, dst += kc * MR)
        {
            int mr = Math.Min(MR, mc - ir);
            if (!job.TransA)
            {
                for (int i = 0; i < MR; i++) rows[i] = job.A + (long)(i0 + ir + Math.Min(i, mr - 1)) * job.Lda + job.Pc;
                float* d = dst;
                for (int kk = 0; kk < kc; kk++, d += MR)
                {
                    for (int i = 0; i < mr; i++) d[i] = rows[i][kk];
                    for (int i = mr; i < MR; i++) d[i] = 0f;
                }
            }
            else
            {
                float* src = job.A + (long)job.Pc * job.Lda + i0 + ir;
                for (int kk = 0; kk < kc; kk++, src += job.Lda)
                    for (int i = 0; i < MR; i++) dst[kk * MR + i] = i < mr ? src[i] : 0f;
            }
        }
    }

    private void Block(Job job, int task, float* packedA)
    {
        int ib = task / job.NBlocks, jb = task % job.NBlocks;
        int i0 = ib * MC, mc = Math.Min(MC, job.M - i0);
        int j0 = jb * NSub, nsub = Math.Min(NSub, job.Nc - j0);
        PackA(job, i0, mc, packedA);
        int kc = job.Kc;
        float* tile = stackalloc float[12 * 32];
        for (int jr = 0; jr < nsub; jr += NR)
        {
            int nr = Math.Min(NR, nsub - jr);
            float* bp = _packedB + (long)((j0 + jr) / NR) * kc * NR;
            for (int ir = 0; ir < mc; ir += MR)
            {
                int mr = Math.Min(MR, mc - ir);
                float* ap = packedA + (long)(ir / MR) * kc * MR;
                float* c = job.C + (long)(i0 + ir) * job.Ldc + job.Jc + j0 + jr;
                if (mr == MR && nr == NR)
                {
                    Kernel(kc, ap, bp, c, job.Ldc, job.Accumulate);
                }
                else
                {
                    Kernel(kc, ap, bp, tile, NR, false);
                    for (int i = 0; i < mr; i++)
                        for (int j = 0; j < nr; j++)
                            c[(long)i * job.Ldc + j] = job.Accumulate ? c[(long)i * job.Ldc + j] + tile[i * NR + j] : tile[i * NR + j];
                }
            }
        }
    }

    private static void Kernel(int kc, float* a, float* b, float* c, int ldc, bool accumulate)
    {
        if (Wide) Kernel12x32(kc, a, b, c, ldc, accumulate);
        else Kernel6x16(kc, a, b, c, ldc, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel12x32(int kc, float* a, float* b, float* c, int ldc, bool accumulate)
    {
        Vector512<float> c00 = default, c01 = default;
        Vector512<float> c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default;
        Vector512<float> c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default;
        Vector512<float> c70 = default, c71 = default;
        Vector512<float> c80 = default, c81 = default;
        Vector512<float> c90 = default, c91 = default;
        Vector512<float> c100 = default, c101 = default;
        Vector512<float> c110 = default, c111 = default;
        for (int p = 0; p < kc; p++, a += 12, b += 32)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            Vector512<float> av;
            av = Vector512.Create(a[0]);
            c00 = Vector512.MultiplyAddEstimate(av, b0, c00); c01 = Vector512.MultiplyAddEstimate(av, b1, c01);
            av = Vector512.Create(a[1]);
            c10 = Vector512.MultiplyAddEstimate(av, b0, c10); c11 = Vector512.MultiplyAddEstimate(av, b1, c11);
            av = Vector512.Create(a[2]);
            c20 = Vector512.MultiplyAddEstimate(av, b0, c20); c21 = Vector512.MultiplyAddEstimate(av, b1, c21);
            av = Vector512.Create(a[3]);
            c30 = Vector512.MultiplyAddEstimate(av, b0, c30); c31 = Vector512.MultiplyAddEstimate(av, b1, c31);
            av = Vector512.Create(a[4]);
            c40 = Vector512.MultiplyAddEstimate(av, b0, c40); c41 = Vector512.MultiplyAddEstimate(av, b1, c41);
            av = Vector512.Create(a[5]);
            c50 = Vector512.MultiplyAddEstimate(av, b0, c50); c51 = Vector512.MultiplyAddEstimate(av, b1, c51);
            av = Vector512.Create(a[6]);
            c60 = Vector512.MultiplyAddEstimate(av, b0, c60); c61 = Vector512.MultiplyAddEstimate(av, b1, c61);
            av = Vector512.Create(a[7]);
            c70 = Vector512.MultiplyAddEstimate(av, b0, c70); c71 = Vector512.MultiplyAddEstimate(av, b1, c71);
            av = Vector512.Create(a[8]);
            c80 = Vector512.MultiplyAddEstimate(av, b0, c80); c81 = Vector512.MultiplyAddEstimate(av, b1, c81);
            av = Vector512.Create(a[9]);
            c90 = Vector512.MultiplyAddEstimate(av, b0, c90); c91 = Vector512.MultiplyAddEstimate(av, b1, c91);
            av = Vector512.Create(a[10]);
            c100 = Vector512.MultiplyAddEstimate(av, b0, c100); c101 = Vector512.MultiplyAddEstimate(av, b1, c101);
            av = Vector512.Create(a[11]);
            c110 = Vector512.MultiplyAddEstimate(av, b0, c110); c111 = Vector512.MultiplyAddEstimate(av, b1, c111);
        }
        Store(c, c00, c01, accumulate);
        Store(c + ldc, c10, c11, accumulate);
        Store(c + 2 * ldc, c20, c21, accumulate);
        Store(c + 3 * ldc, c30, c31, accumulate);
        Store(c + 4 * ldc, c40, c41, accumulate);
        Store(c + 5 * ldc, c50, c51, accumulate);
        Store(c + 6 * ldc, c60, c61, accumulate);
        Store(c + 7 * ldc, c70, c71, accumulate);
        Store(c + 8 * ldc, c80, c81, accumulate);
        Store(c + 9 * ldc, c90, c91, accumulate);
        Store(c + 10 * ldc, c100, c101, accumulate);
        Store(c + 11 * ldc, c110, c111, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, Vector512<float> lo, Vector512<float> hi, bool accumulate)
    {
        if (accumulate)
        {
            lo = Vector512.Load(c) + lo;
            hi = Vector512.Load(c + 16) + hi;
        }
        Vector512.Store(lo, c);
        Vector512.Store(hi, c + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16(int kc, float* a, float* b, float* c, int ldc, bool accumulate)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++, a += 6, b += 16)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var av = Vector256.Create(a[0]);
            c00 = Vector256.MultiplyAddEstimate(av, b0, c00); c01 = Vector256.MultiplyAddEstimate(av, b1, c01);
            av = Vector256.Create(a[1]);
            c10 = Vector256.MultiplyAddEstimate(av, b0, c10); c11 = Vector256.MultiplyAddEstimate(av, b1, c11);
            av = Vector256.Create(a[2]);
            c20 = Vector256.MultiplyAddEstimate(av, b0, c20); c21 = Vector256.MultiplyAddEstimate(av, b1, c21);
            av = Vector256.Create(a[3]);
            c30 = Vector256.MultiplyAddEstimate(av, b0, c30); c31 = Vector256.MultiplyAddEstimate(av, b1, c31);
            av = Vector256.Create(a[4]);
            c40 = Vector256.MultiplyAddEstimate(av, b0, c40); c41 = Vector256.MultiplyAddEstimate(av, b1, c41);
            av = Vector256.Create(a[5]);
            c50 = Vector256.MultiplyAddEstimate(av, b0, c50); c51 = Vector256.MultiplyAddEstimate(av, b1, c51);
        }
        Store(c, c00, c01, accumulate);
        Store(c + ldc, c10, c11, accumulate);
        Store(c + 2 * ldc, c20, c21, accumulate);
        Store(c + 3 * ldc, c30, c31, accumulate);
        Store(c + 4 * ldc, c40, c41, accumulate);
        Store(c + 5 * ldc, c50, c51, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, Vector256<float> lo, Vector256<float> hi, bool accumulate)
    {
        if (accumulate)
        {
            lo = Vector256.Load(c) + lo;
            hi = Vector256.Load(c + 8) + hi;
        }
        Vector256.Store(lo, c);
        Vector256.Store(hi, c + 8);
    }
}
