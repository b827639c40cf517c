// Flash attention on the tensor cores for head size 64 (every GPT-2 dN model): bf16 mma.sync m16n8k16 with fp32
// accumulation, K/V (or Q/dO) tiles of 64 rows staged in padded shared memory through cp.async double buffers.
// The forward keeps an online softmax in registers and stores only the log-sum-exp; the backward recomputes P from
// it in two kernels (dQ per query block, then dK/dV per key block) so that no two blocks ever write the same
// element: deterministic without atomics. What keeps the instruction count per tile low:
//  - B fragments come from shared memory through ldmatrix (one instruction feeds four mma), at addresses that are a
//    per-lane base plus compile-time constants;
//  - the causal mask is applied only on tiles that cross the diagonal; every other tile skips the index arithmetic;
//  - the softmax scale is folded into the exponent (one FFMA + EX2 per score), bf16 packing is one cvt per pair;
//  - forward and dQ warps own 32 rows (two m-tiles, the _m2 kernels), so every B fragment loaded from shared
//    memory feeds two mma, at the price of registers;
//  - the dQ kernel also computes delta = rowsum(dO * O) for the dK/dV kernel that follows (no separate pass);
//  - the dK/dV kernel keeps its K and V rows in shared memory, so three blocks fit on a multiprocessor.
// On Hopper (modules compiled for sm_90a) the _w1 kernels of flash_wgmma.cu run the same algorithm on warpgroup MMA
// (wgmma): the four warps of a block multiply 64 rows together, B operands are read by the tensor cores straight from
// 128-byte-swizzled shared tiles, and each tile product is one instruction per k16 instead of sixteen mma.sync and
// their ldmatrix. They take about 30% less time than these kernels and are tested against fp64 the same way.

#define FA_D 64
#define FA_LD 72 // padded row (bf16 elements): 144-byte rows keep fragment loads and ldmatrix conflict-free
#define LOG2E 1.4426950408889634f
#define FA_NEG_INF __int_as_float(0xff800000)

__device__ __forceinline__ void mma16816(float* c, const unsigned* a, unsigned b0, unsigned b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ unsigned smem_addr(const void* p)
{
    unsigned a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    return a;
}

// A fragments of 16 rows x 64 columns straight from global memory; rows at or past T read as zeros.
__device__ __forceinline__ void load_a_rows(unsigned (*a)[4], const bf16* base, long rowStride, int r0, int T, int g, int tig)
{
    const bf16* p0 = base + (long)(r0 + g) * rowStride + tig * 2;
    const bf16* p1 = p0 + 8 * rowStride;
    bool ok0 = r0 + g < T, ok1 = r0 + g + 8 < T;
#pragma unroll
    for (int kc = 0; kc < 4; kc++)
    {
        a[kc][0] = ok0 ? *reinterpret_cast<const unsigned*>(p0 + kc * 16) : 0u;
        a[kc][1] = ok1 ? *reinterpret_cast<const unsigned*>(p1 + kc * 16) : 0u;
        a[kc][2] = ok0 ? *reinterpret_cast<const unsigned*>(p0 + kc * 16 + 8) : 0u;
        a[kc][3] = ok1 ? *reinterpret_cast<const unsigned*>(p1 + kc * 16 + 8) : 0u;
    }
}

// 64 rows x 64 columns into a padded shared tile through cp.async (128 threads, 16-byte copies that bypass
// registers; rows at or past T are zero-filled), so the next tile streams in while the current one is being
// multiplied. The caller commits and waits. Thread x copies column chunk x % 8 of rows x / 8 + 16 i, i = 0..3.
__device__ __forceinline__ void load_tile_async(bf16* dst, const bf16* src, long rowStride, int row0, int T)
{
    int r = threadIdx.x >> 3, c = (threadIdx.x & 7) * 8;
    unsigned d = smem_addr(dst + r * FA_LD + c);
    const bf16* p = src + (long)(row0 + r) * rowStride + c;
#pragma unroll
    for (int i = 0; i < 4; i++)
    {
        bool valid = row0 + r + 16 * i < T;
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
                     :: "r"(d + i * 16 * FA_LD * 2), "l"(valid ? p + 16L * i * rowStride : src), "r"(valid ? 16 : 0));
    }
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_1() { asm volatile("cp.async.wait_group 1;\n" ::); }
__device__ __forceinline__ void cp_async_wait_0() { asm volatile("cp.async.wait_group 0;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" :: "n"(N)); }

// Tiles stream through a ring of FA_STAGES shared buffers: while tile t is multiplied, tiles t+1 .. t+FA_STAGES-1
// are in flight, which hides the L2/HBM latency behind more than one tile's work (a 64 x 64 tile is short).
#define FA_STAGES 3
#define FA_TILE (64 * FA_LD) // bf16 elements of one padded 64 x 64 tile

// The K and V tiles of keys tile * 64 .. tile * 64 + 63 (from a (B, T, 3C) qkv row block at `base`) into ring stage
// `stage`, which holds one (K, V) pair.
__device__ __forceinline__ void load_kv_async(bf16* ring, int stage, const bf16* base, int C, long rs, int tile, int T)
{
    load_tile_async(ring + stage * 2 * FA_TILE, base + C, rs, tile * 64, T);
    load_tile_async(ring + stage * 2 * FA_TILE + FA_TILE, base + 2 * C, rs, tile * 64, T);
}

// Starts a K/V ring: tiles 0 .. FA_STAGES - 2 in flight, one commit group each (empty past the last tile), so that
// kv_ring_next can count groups the same way on every iteration.
__device__ __forceinline__ void kv_ring_start(bf16* ring, const bf16* base, int C, long rs, int tiles, int T)
{
#pragma unroll
    for (int p = 0; p < FA_STAGES - 1; p++)
    {
        if (p < tiles) load_kv_async(ring, p, base, C, rs, p, T);
        cp_async_commit();
    }
}

// Before tile t: queue tile t + FA_STAGES - 1 into the stage that tile t - 1 used (every warp left it at the
// previous iteration's closing barrier), then wait until tile t has landed and the whole block sees it.
__device__ __forceinline__ void kv_ring_next(bf16* ring, const bf16* base, int C, long rs, int t, int tiles, int T)
{
    int pre = t + FA_STAGES - 1;
    if (pre < tiles) load_kv_async(ring, pre % FA_STAGES, base, C, rs, pre, T);
    cp_async_commit();
    cp_async_wait<FA_STAGES - 1>(); // tile t's group is complete
    __syncthreads();
}

__device__ __forceinline__ float group_max(float v)
{
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}

__device__ __forceinline__ float group_sum(float v)
{
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// Shared tiles are addressed as 32-bit shared-window byte addresses with each lane's ldmatrix row already added,
// so that every fragment load below is that base plus a compile-time constant (one LDSM, no address arithmetic).
// ROWS: lane l points at row (l / 16) * 8 + l % 8, column (l / 8 % 2) * 8 (non-transposed B: n-tiles nt, nt+1).
// TRANS: lane l points at row (l / 8 % 2) * 8 + l % 8, column (l / 16) * 8 (transposed B, and A fragments).
__device__ __forceinline__ unsigned lane_rows(int lane) { return (((lane >> 4) * 8 + (lane & 7)) * FA_LD + ((lane >> 3) & 1) * 8) * 2; }
__device__ __forceinline__ unsigned lane_trans(int lane) { return ((((lane >> 3) & 1) * 8 + (lane & 7)) * FA_LD + (lane >> 4) * 8) * 2; }

__device__ __forceinline__ void ldsm_x4(unsigned* r, unsigned addr)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}

__device__ __forceinline__ void ldsm_x4_trans(unsigned* r, unsigned addr)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}

// acc[mt][16 x 64] += A[mt][16 x 64] * B over a 64-wide k for mt = 0..MT-1, A as packed bf16 fragments, B from a
// shared tile: TRANS = false for B[k][n] = tile[n][k] (the tile's rows are n: S = Q K^T; `base` ROWS-based),
// TRANS = true for B[k][n] = tile[k][n] (rows are k: P V, dS K; `base` TRANS-based). Each B fragment feeds MT m-tiles.
template <int MT, bool TRANS>
__device__ __forceinline__ void mma_tile(float (*acc)[8][4], unsigned (*a)[4][4], unsigned base)
{
#pragma unroll
    for (int kc = 0; kc < 4; kc++)
#pragma unroll
        for (int nt = 0; nt < 8; nt += 2)
        {
            unsigned b[4];
            if (TRANS) ldsm_x4_trans(b, base + (kc * 16 * FA_LD + nt * 8) * 2);
            else ldsm_x4(b, base + (nt * 8 * FA_LD + kc * 16) * 2);
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
            {
                mma16816(acc[mt][nt], a[mt][kc], b[0], b[1]);
                mma16816(acc[mt][nt + 1], a[mt][kc], b[2], b[3]);
            }
        }
}

template <int MT>
__device__ __forceinline__ void mma_abt_x(float (*acc)[8][4], unsigned (*a)[4][4], unsigned rows) { mma_tile<MT, false>(acc, a, rows); }

template <int MT>
__device__ __forceinline__ void mma_pv_x(float (*acc)[8][4], unsigned (*p)[4][4], unsigned trans) { mma_tile<MT, true>(acc, p, trans); }

// acc[16 x 64] += A[16 x 64] * B with A = the 16 tile rows at `arows` (TRANS-based) and B[k][n] = tile[n][k] at `rows`.
__device__ __forceinline__ void mma_abt_shared(float (*acc)[4], unsigned arows, unsigned rows)
{
#pragma unroll
    for (int kc = 0; kc < 4; kc++)
    {
        unsigned a[4];
        ldsm_x4(a, arows + kc * 16 * 2);
#pragma unroll
        for (int nt = 0; nt < 8; nt += 2)
        {
            unsigned b[4];
            ldsm_x4(b, rows + (nt * 8 * FA_LD + kc * 16) * 2);
            mma16816(acc[nt], a, b[0], b[1]);
            mma16816(acc[nt + 1], a, b[2], b[3]);
        }
    }
}

// Accumulator-layout fp32 values of a 16 x 64 block to the bf16 A fragments of the next product (k = the 64 columns).
__device__ __forceinline__ void to_a_fragments(unsigned (*a)[4], const float (*c)[4])
{
#pragma unroll
    for (int kc = 0; kc < 4; kc++)
    {
        a[kc][0] = pack2(c[2 * kc][0], c[2 * kc][1]);
        a[kc][1] = pack2(c[2 * kc][2], c[2 * kc][3]);
        a[kc][2] = pack2(c[2 * kc + 1][0], c[2 * kc + 1][1]);
        a[kc][3] = pack2(c[2 * kc + 1][2], c[2 * kc + 1][3]);
    }
}

__device__ __forceinline__ void zero_acc(float (*c)[4])
{
#pragma unroll
    for (int nt = 0; nt < 8; nt++) c[nt][0] = c[nt][1] = c[nt][2] = c[nt][3] = 0.0f;
}

// Pieces the mma.sync kernels and their wgmma (w1) counterparts share. Accumulators are 16 x 64 per warp in the
// m16n8 layout: lane (g, tig) holds columns nt * 8 + tig * 2 (+1) of rows g (elements 0, 1) and g + 8 (2, 3).

// Keys after the row get -inf: s covers rows r0 + g (+8) and keys j0 + nt * 8 + tig * 2 (+1).
__device__ __forceinline__ void mask_after_diagonal(float (&s)[8][4], int j0, int r0, int g, int tig)
{
#pragma unroll
    for (int nt = 0; nt < 8; nt++)
#pragma unroll
        for (int e = 0; e < 4; e++)
            if (j0 + nt * 8 + tig * 2 + (e & 1) > r0 + g + (e >> 1) * 8) s[nt][e] = FA_NEG_INF;
}

// One online-softmax step for the rows of a 16 x 64 score block: updates the running maxima m (log2 units, scaled) and
// thread-partial sums l, rescales the output accumulator o, and leaves P = exp2(s * sl2 - m) in s. Every row must
// have an unmasked key in the block, so the maxima are finite.
__device__ __forceinline__ void online_softmax(float (&s)[8][4], float (&o)[8][4], float& m0, float& m1, float& l0, float& l1, float sl2)
{
    float mx0 = FA_NEG_INF, mx1 = FA_NEG_INF;
#pragma unroll
    for (int nt = 0; nt < 8; nt++)
    {
        mx0 = fmaxf(mx0, fmaxf(s[nt][0], s[nt][1]));
        mx1 = fmaxf(mx1, fmaxf(s[nt][2], s[nt][3]));
    }
    float n0 = fmaxf(m0, group_max(mx0) * sl2), n1 = fmaxf(m1, group_max(mx1) * sl2);
    float c0 = exp2f(m0 - n0), c1 = exp2f(m1 - n1);
    m0 = n0; m1 = n1;
    l0 *= c0; l1 *= c1;
#pragma unroll
    for (int nt = 0; nt < 8; nt++)
    {
        o[nt][0] *= c0; o[nt][1] *= c0; o[nt][2] *= c1; o[nt][3] *= c1;
        s[nt][0] = exp2f(fmaf(s[nt][0], sl2, -n0));
        s[nt][1] = exp2f(fmaf(s[nt][1], sl2, -n0));
        s[nt][2] = exp2f(fmaf(s[nt][2], sl2, -n1));
        s[nt][3] = exp2f(fmaf(s[nt][3], sl2, -n1));
        l0 += s[nt][0] + s[nt][1];
        l1 += s[nt][2] + s[nt][3];
    }
}

// acc's rows as bf16, row g at p0 and row g + 8 at p0 + 8 rowStride (p0 already offset by tig * 2), each scaled.
__device__ __forceinline__ void store_rows(bf16* p0, long rowStride, const float (&acc)[8][4], float scale0, float scale1, bool ok0, bool ok1)
{
    bf16* p1 = p0 + 8 * rowStride;
#pragma unroll
    for (int nt = 0; nt < 8; nt++)
    {
        if (ok0) *reinterpret_cast<unsigned*>(p0 + nt * 8) = pack2(acc[nt][0] * scale0, acc[nt][1] * scale0);
        if (ok1) *reinterpret_cast<unsigned*>(p1 + nt * 8) = pack2(acc[nt][2] * scale1, acc[nt][3] * scale1);
    }
}

// This lane's parts of delta = rowsum(dO o O) for rows g and g + 8, from the two rows' A fragments (sum them with
// group_sum).
__device__ __forceinline__ float2 delta_parts(const unsigned (&ga)[4][4], const unsigned (&oa)[4][4])
{
    float d0 = 0.0f, d1 = 0.0f;
#pragma unroll
    for (int kc = 0; kc < 4; kc++)
    {
        d0 += lo2f(ga[kc][0]) * lo2f(oa[kc][0]) + hi2f(ga[kc][0]) * hi2f(oa[kc][0])
            + lo2f(ga[kc][2]) * lo2f(oa[kc][2]) + hi2f(ga[kc][2]) * hi2f(oa[kc][2]);
        d1 += lo2f(ga[kc][1]) * lo2f(oa[kc][1]) + hi2f(ga[kc][1]) * hi2f(oa[kc][1])
            + lo2f(ga[kc][3]) * lo2f(oa[kc][3]) + hi2f(ga[kc][3]) * hi2f(oa[kc][3]);
    }
    return make_float2(d0, d1);
}

// The dK/dV kernels' P^T (into st) and dS^T = P^T o (dP^T - delta) (into dpt) for keys j0k, j1k (rows g, g + 8)
// and the 64 queries from q0, with the queries' lse and delta in shared memory; queries before a key get P = 0.
__device__ __forceinline__ void dkv_probabilities(float (&st)[8][4], float (&dpt)[8][4], const float* Ls, const float* Ds, float sl2,
                                                  bool diag, int q0, int j0k, int j1k, int tig)
{
#pragma unroll
    for (int nt = 0; nt < 8; nt++)
    {
        int qi = nt * 8 + tig * 2;
        float2 lq = *reinterpret_cast<const float2*>(&Ls[qi]);
        float2 dq = *reinterpret_cast<const float2*>(&Ds[qi]);
        lq.x *= LOG2E;
        lq.y *= LOG2E;
#pragma unroll
        for (int e = 0; e < 4; e++)
        {
            float p = exp2f(fmaf(st[nt][e], sl2, -((e & 1) ? lq.y : lq.x)));
            if (diag && q0 + qi + (e & 1) < (e < 2 ? j0k : j1k)) p = 0.0f;
            st[nt][e] = p;
            dpt[nt][e] = p * (dpt[nt][e] - ((e & 1) ? dq.y : dq.x));
        }
    }
}

// dK (scaled) and dV of keys j0k = r0 + g and j0k + 8 into their dqkv rows.
__device__ __forceinline__ void store_dkv(bf16* dqkv, const float (&dk)[8][4], const float (&dv)[8][4], int b, int T, int C, int h, int j0k, int tig)
{
    long rs = 3L * C;
    const float scale = rsqrtf((float)FA_D);
    bf16* k0p = dqkv + ((long)b * T + j0k) * rs + C + h * FA_D + tig * 2;
    bf16* k1p = k0p + 8 * rs;
#pragma unroll
    for (int nt = 0; nt < 8; nt++)
    {
        if (j0k < T)
        {
            *reinterpret_cast<unsigned*>(k0p + nt * 8) = pack2(dk[nt][0] * scale, dk[nt][1] * scale);
            *reinterpret_cast<unsigned*>(k0p + C + nt * 8) = pack2(dv[nt][0], dv[nt][1]);
        }
        if (j0k + 8 < T)
        {
            *reinterpret_cast<unsigned*>(k1p + nt * 8) = pack2(dk[nt][2] * scale, dk[nt][3] * scale);
            *reinterpret_cast<unsigned*>(k1p + C + nt * 8) = pack2(dv[nt][2], dv[nt][3]);
        }
    }
}

// Forward: a block owns 64 * MT query rows (4 warps x 16 MT); out = softmax(Q K^T / 8) V, lse = log-sum-exp of each row.
template <int MT>
__device__ __forceinline__ void flash_forward(bf16* out, float* lse, const bf16* qkv, int T, int NH)
{
    extern __shared__ __align__(16) bf16 fwd_smem[]; // FA_STAGES x (K tile, V tile)
    int C = NH * FA_D, bh = blockIdx.y, b = bh / NH, h = bh % NH;
    const int RW = 16 * MT; // rows per warp
    int q0 = (gridDim.x - 1 - blockIdx.x) * 4 * RW; // longest rows first
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tig = lane & 3;
    long rs = 3L * C;
    const bf16* base = qkv + (long)b * T * rs + h * FA_D;
    int r0 = q0 + warp * RW; // m-tile mt holds rows r0 + 16 mt + g (half 0) and r0 + 16 mt + g + 8 (half 1)
    unsigned qa[MT][4][4];
    float o[MT][8][4];
    float m[MT][2], l[MT][2]; // running max (log2 units, scaled) and thread-partial sum, per [m-tile][half]
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
    {
        load_a_rows(qa[mt], base, rs, r0 + 16 * mt, T, g, tig);
        zero_acc(o[mt]);
        m[mt][0] = m[mt][1] = -LLM_FLT_MAX;
        l[mt][0] = l[mt][1] = 0.0f;
    }
    const float sl2 = rsqrtf((float)FA_D) * LOG2E;
    const unsigned kRows = smem_addr(fwd_smem) + lane_rows(lane), vTrans = smem_addr(fwd_smem + FA_TILE) + lane_trans(lane);
    const unsigned stageBytes = 2 * FA_TILE * 2;
    int tiles = min(T - 1, q0 + 4 * RW - 1) / 64 + 1;
    kv_ring_start(fwd_smem, base, C, rs, tiles, T);
    for (int t = 0; t < tiles; t++)
    {
        int buf = t % FA_STAGES, j0 = t * 64;
        kv_ring_next(fwd_smem, base, C, rs, t, tiles, T);
        if (j0 <= r0 + RW - 1) // else every key of the tile lies after this warp's rows
        {
            float s[MT][8][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) zero_acc(s[mt]);
            mma_abt_x<MT>(s, qa, kRows + buf * stageBytes);
            if (j0 + 63 > r0) // the tile crosses this warp's diagonal: mask keys after the row
            {
#pragma unroll
                for (int mt = 0; mt < MT; mt++) mask_after_diagonal(s[mt], j0, r0 + mt * 16, g, tig);
            }
            unsigned pa[MT][4][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
            {
                // Every processed row has at least one unmasked key in the tile (key j0 <= r0).
                online_softmax(s[mt], o[mt], m[mt][0], m[mt][1], l[mt][0], l[mt][1], sl2);
                to_a_fragments(pa[mt], s[mt]);
            }
            mma_pv_x<MT>(o, pa, vTrans + buf * stageBytes);
        }
        __syncthreads(); // all warps are done with this buffer before it is refilled
    }
    const float ln2 = 0.6931471805599453f;
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
    {
        int i0 = r0 + mt * 16 + g, i1 = i0 + 8;
        float l0 = group_sum(l[mt][0]), l1 = group_sum(l[mt][1]);
        store_rows(out + ((long)b * T + i0) * C + h * FA_D + tig * 2, C, o[mt], 1.0f / l0, 1.0f / l1, i0 < T, i1 < T);
        if (tig == 0)
        {
            if (i0 < T) lse[(long)bh * T + i0] = m[mt][0] * ln2 + __logf(l0);
            if (i1 < T) lse[(long)bh * T + i1] = m[mt][1] * ln2 + __logf(l1);
        }
    }
}

// dQ for 64 * MT queries per block (4 warps x 16 MT): dS = P o (dO V^T - delta), dQ = dS K / 8. Also writes
// delta = rowsum(dO o O) for the dK/dV kernel, which must run after this one.
template <int MT>
__device__ __forceinline__ void flash_backward_dq(bf16* dqkv, float* delta, const bf16* dout, const bf16* out,
                                                   const bf16* qkv, const float* lse, int T, int NH)
{
    extern __shared__ __align__(16) bf16 dq_smem[]; // FA_STAGES x (K tile, V tile)
    int C = NH * FA_D, bh = blockIdx.y, b = bh / NH, h = bh % NH;
    const int RW = 16 * MT;
    int q0 = (gridDim.x - 1 - blockIdx.x) * 4 * RW;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tig = lane & 3;
    long rs = 3L * C;
    const bf16* base = qkv + (long)b * T * rs + h * FA_D;
    const bf16* gbase = dout + (long)b * T * C + h * FA_D;
    int r0 = q0 + warp * RW;
    unsigned qa[MT][4][4], ga[MT][4][4];
    float L[MT][2], D[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
    {
        int rm = r0 + mt * 16;
        load_a_rows(qa[mt], base, rs, rm, T, g, tig);
        load_a_rows(ga[mt], gbase, C, rm, T, g, tig);
        // delta from the same fragments: this lane holds columns tig*2, tig*2+1 (+8) of rows g and g+8 of each 16-chunk.
        unsigned oa[4][4];
        load_a_rows(oa, out + (long)b * T * C + h * FA_D, C, rm, T, g, tig);
        float2 parts = delta_parts(ga[mt], oa);
        D[mt][0] = group_sum(parts.x);
        D[mt][1] = group_sum(parts.y);
        int i0 = rm + g, i1 = i0 + 8;
        if (tig == 0)
        {
            if (i0 < T) delta[(long)bh * T + i0] = D[mt][0];
            if (i1 < T) delta[(long)bh * T + i1] = D[mt][1];
        }
        // Rows past T have zero q, dO and delta and L = 0: their P is finite and their dS is zero.
        L[mt][0] = i0 < T ? lse[(long)bh * T + i0] * LOG2E : 0.0f;
        L[mt][1] = i1 < T ? lse[(long)bh * T + i1] * LOG2E : 0.0f;
    }
    const float sl2 = rsqrtf((float)FA_D) * LOG2E;
    float dq[MT][8][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) zero_acc(dq[mt]);
    const unsigned kRows = smem_addr(dq_smem) + lane_rows(lane), kTrans = smem_addr(dq_smem) + lane_trans(lane);
    const unsigned vRows = smem_addr(dq_smem + FA_TILE) + lane_rows(lane), stageBytes = 2 * FA_TILE * 2;
    int tiles = min(T - 1, q0 + 4 * RW - 1) / 64 + 1;
    kv_ring_start(dq_smem, base, C, rs, tiles, T);
    for (int t = 0; t < tiles; t++)
    {
        int buf = t % FA_STAGES, j0 = t * 64;
        kv_ring_next(dq_smem, base, C, rs, t, tiles, T);
        if (j0 <= r0 + RW - 1)
        {
            float s[MT][8][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) zero_acc(s[mt]);
            mma_abt_x<MT>(s, qa, kRows + buf * stageBytes);
            bool diag = j0 + 63 > r0;
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int nt = 0; nt < 8; nt++)
#pragma unroll
                    for (int e = 0; e < 4; e++)
                    {
                        float p = exp2f(fmaf(s[mt][nt][e], sl2, -L[mt][e >> 1]));
                        if (diag && j0 + nt * 8 + tig * 2 + (e & 1) > r0 + mt * 16 + g + (e >> 1) * 8) p = 0.0f;
                        s[mt][nt][e] = p;
                    }
            // dP = dO V^T one pair of n-tiles at a time (keeps registers low), folded into dS = P o (dP - delta) in place.
#pragma unroll
            for (int nt = 0; nt < 8; nt += 2)
            {
                float dp[MT][2][4];
#pragma unroll
                for (int mt = 0; mt < MT; mt++)
#pragma unroll
                    for (int u = 0; u < 2; u++) dp[mt][u][0] = dp[mt][u][1] = dp[mt][u][2] = dp[mt][u][3] = 0.0f;
#pragma unroll
                for (int kc = 0; kc < 4; kc++)
                {
                    unsigned bb[4];
                    ldsm_x4(bb, vRows + buf * stageBytes + (nt * 8 * FA_LD + kc * 16) * 2);
#pragma unroll
                    for (int mt = 0; mt < MT; mt++)
                    {
                        mma16816(dp[mt][0], ga[mt][kc], bb[0], bb[1]);
                        mma16816(dp[mt][1], ga[mt][kc], bb[2], bb[3]);
                    }
                }
#pragma unroll
                for (int mt = 0; mt < MT; mt++)
#pragma unroll
                    for (int u = 0; u < 2; u++)
#pragma unroll
                        for (int e = 0; e < 4; e++) s[mt][nt + u][e] *= dp[mt][u][e] - D[mt][e >> 1];
            }
            unsigned da[MT][4][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) to_a_fragments(da[mt], s[mt]);
            mma_pv_x<MT>(dq, da, kTrans + buf * stageBytes);
        }
        __syncthreads();
    }
    const float scale = rsqrtf((float)FA_D);
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
    {
        int i0 = r0 + mt * 16 + g;
        store_rows(dqkv + ((long)b * T + i0) * rs + h * FA_D + tig * 2, rs, dq[mt], scale, scale, i0 < T, i0 + 8 < T);
    }
}


// Entry points: the _m2 kernels give each warp two m-tiles (128 rows per block).
extern "C" __global__ void __launch_bounds__(128) flash_forward_64_m2(bf16* out, float* lse, const bf16* qkv, int T, int NH)
{
    flash_forward<2>(out, lse, qkv, T, NH);
}

extern "C" __global__ void __launch_bounds__(128) flash_backward_dq_64_m2(bf16* dqkv, float* delta, const bf16* dout, const bf16* out,
                                                                           const bf16* qkv, const float* lse, int T, int NH)
{
    flash_backward_dq<2>(dqkv, delta, dout, out, qkv, lse, T, NH);
}

// lse and delta of 64 queries from row0 into shared memory through cp.async (4 bytes per thread, threads 0-63 take
// lse and 64-127 delta); queries at or past T read as zeros.
__device__ __forceinline__ void load_rows_stats_async(float* ls, float* ds, const float* lse, const float* delta, int row0, int T)
{
    int i = threadIdx.x & 63, row = row0 + i;
    bool valid = row < T;
    const float* src = threadIdx.x < 64 ? lse : delta;
    float* dst = threadIdx.x < 64 ? ls : ds;
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" :: "r"(smem_addr(dst + i)), "l"(src + (valid ? row : 0)), "r"(valid ? 4 : 0));
}

// Shared memory of the dK/dV kernel: FA_STAGES x (Q tile, dO tile), FA_STAGES x (lse, delta) rows, K and V rows.
#define FLASH_DKV_SMEM (FA_STAGES * 2 * FA_TILE * 2 + FA_STAGES * 2 * 64 * 4 + 2 * FA_TILE * 2)

// dK and dV for 64 keys per block (4 warps x 16): with P^T = exp(K Q^T / 8 - lse), dV = P^T dO and
// dK = (P^T o (V dO^T - delta)) Q / 8, over the query tiles at or after the keys. Reads the delta written by
// flash_backward_dq_64_*. The block's K and V rows stay in shared memory (read back through ldmatrix every tile)
// rather than registers, to fit three blocks per multiprocessor. Needs FLASH_DKV_SMEM (75,264) bytes of dynamic
// shared memory.
extern "C" __global__ void __launch_bounds__(128, 3) flash_backward_dkv_64(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse,
                                                                           const float* delta, int T, int NH)
{
    extern __shared__ __align__(16) bf16 dkv_smem[];
    float* stats = reinterpret_cast<float*>(dkv_smem + FA_STAGES * 2 * FA_TILE); // [stage][lse 64 | delta 64]
    bf16* KVs = reinterpret_cast<bf16*>(stats + FA_STAGES * 2 * 64);             // K rows, then V rows
    int C = NH * FA_D, bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int k0 = blockIdx.x * 64; // longest columns (small keys) first
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tig = lane & 3;
    long rs = 3L * C;
    const bf16* base = qkv + (long)b * T * rs + h * FA_D;
    const bf16* gbase = dout + (long)b * T * C + h * FA_D;
    const float* lrow = lse + (long)bh * T;
    const float* drow = delta + (long)bh * T;
    int r0 = k0 + warp * 16, j0k = r0 + g, j1k = r0 + g + 8;
    const float sl2 = rsqrtf((float)FA_D) * LOG2E;
    float dk[1][8][4], dv[1][8][4];
    zero_acc(dk[0]);
    zero_acc(dv[0]);
    int tiles = k0 < T ? (T - 1 - k0) / 64 + 1 : 0;
    // K and V rows join the first group; queries past T get lse 0 and delta 0 (zero-filled): with their zero q and
    // dO rows they add nothing to dK or dV.
    load_tile_async(KVs, base + C, rs, k0, T);
    load_tile_async(KVs + FA_TILE, base + 2 * C, rs, k0, T);
#pragma unroll
    for (int p = 0; p < FA_STAGES - 1; p++)
    {
        if (p < tiles)
        {
            load_tile_async(dkv_smem + p * 2 * FA_TILE, base, rs, k0 + p * 64, T);
            load_tile_async(dkv_smem + p * 2 * FA_TILE + FA_TILE, gbase, C, k0 + p * 64, T);
            load_rows_stats_async(stats + p * 128, stats + p * 128 + 64, lrow, drow, k0 + p * 64, T);
        }
        cp_async_commit();
    }
    const unsigned kA = smem_addr(KVs + warp * 16 * FA_LD) + lane_trans(lane), vA = smem_addr(KVs + (64 + warp * 16) * FA_LD) + lane_trans(lane);
    for (int t = 0; t < tiles; t++)
    {
        int buf = t % FA_STAGES, q0 = k0 + t * 64, pre = t + FA_STAGES - 1;
        if (pre < tiles) // into the buffer that tile t - 1 used: every warp left it at the last barrier
        {
            int ps = pre % FA_STAGES;
            load_tile_async(dkv_smem + ps * 2 * FA_TILE, base, rs, k0 + pre * 64, T);
            load_tile_async(dkv_smem + ps * 2 * FA_TILE + FA_TILE, gbase, C, k0 + pre * 64, T);
            load_rows_stats_async(stats + ps * 128, stats + ps * 128 + 64, lrow, drow, k0 + pre * 64, T);
        }
        cp_async_commit();
        cp_async_wait<FA_STAGES - 1>(); // tile t's group (and K, V with the first) is complete
        __syncthreads();
        const unsigned qt = smem_addr(dkv_smem + buf * 2 * FA_TILE), gt = qt + FA_TILE * 2;
        const float* Ls = stats + buf * 128;
        const float* Ds = Ls + 64;
        if (q0 + 63 >= r0) // else every query of the tile precedes this warp's keys
        {
            float st[1][8][4], dpt[1][8][4];
            zero_acc(st[0]);
            zero_acc(dpt[0]);
            mma_abt_shared(st[0], kA, qt + lane_rows(lane));
            mma_abt_shared(dpt[0], vA, gt + lane_rows(lane));
            bool diag = q0 < r0 + 16; // some query of the tile precedes some key of this warp
            dkv_probabilities(st[0], dpt[0], Ls, Ds, sl2, diag, q0, j0k, j1k, tig);
            unsigned pa[1][4][4], da[1][4][4];
            to_a_fragments(pa[0], st[0]);
            to_a_fragments(da[0], dpt[0]);
            mma_pv_x<1>(dv, pa, gt + lane_trans(lane));
            mma_pv_x<1>(dk, da, qt + lane_trans(lane));
        }
        __syncthreads();
    }
    store_dkv(dqkv, dk[0], dv[0], b, T, C, h, j0k, tig);
}

