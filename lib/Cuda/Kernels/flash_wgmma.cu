// Flash attention on Hopper's warpgroup MMA (wgmma, sm_90a only): the w1 forward, dQ and dK/dV kernels. They run
// the algorithm of the mma.sync kernels in flash.cu (and share its helpers: this file follows it in the translation
// unit); only the tensor-core instruction and the shared-memory tile layout differ.
//
// A warpgroup (the block's 4 warps) multiplies its 64 rows at once: A from registers in the same fragment layout as
// mma.sync's (warp w holds rows 16w .. 16w + 15), B straight from shared memory through a matrix descriptor, and an
// accumulator laid out like eight m16n8 tiles per warp. Tiles sit in shared memory as 64 rows of 128 bytes with
// 128-byte swizzling (16-byte chunk c of row r at chunk c ^ (r % 8)), so both cp.async writes and the tensor cores'
// reads are conflict-free. The same tile serves as a K-major B (rows are n, e.g. K in S = Q K^T) and as an MN-major B
// (rows are k, e.g. V in O = P V); only the descriptor's step per k16 differs.
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define FA_SW_TILE_BYTES (64 * 128)

// 64 rows x 64 columns into a swizzled shared tile through cp.async (128 threads; rows at or past T zero-filled).
__device__ __forceinline__ void load_tile_async_sw(unsigned dst, const bf16* src, long rowStride, int row0, int T)
{
    int r = threadIdx.x >> 3, c = threadIdx.x & 7;
    unsigned d = dst + r * 128 + ((c ^ (r & 7)) << 4);
    const bf16* p = src + (long)(row0 + r) * rowStride + c * 8;
#pragma unroll
    for (int i = 0; i < 4; i++)
    {
        bool valid = row0 + r + 16 * i < T;
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
                     :: "r"(d + i * 16 * 128), "l"(valid ? p + 16L * i * rowStride : src), "r"(valid ? 16 : 0));
    }
}

// Descriptor of a 1024-byte-aligned swizzled tile: 128-byte swizzle, 1024 bytes between groups of 8 rows.
__device__ __forceinline__ unsigned long long sw_desc(unsigned addr)
{
    return (unsigned long long)((addr & 0x3FFFF) >> 4) | (1ull << 16) | ((unsigned long long)(1024 >> 4) << 32) | (1ull << 62);
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_wait0() { asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory"); }
// Makes this thread's shared-memory writes (cp.async included) visible to the tensor cores' async-proxy reads.
__device__ __forceinline__ void fence_async_shared() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// kv_ring_start / kv_ring_next for swizzled tiles: stage s of the ring at `ring` holds the K tile, then the V tile.
__device__ __forceinline__ void kv_ring_start_sw(unsigned ring, const bf16* base, int C, long rs, int tiles, int T)
{
#pragma unroll
    for (int p = 0; p < FA_STAGES - 1; p++)
    {
        if (p < tiles)
        {
            load_tile_async_sw(ring + p * 2 * FA_SW_TILE_BYTES, base + C, rs, p * 64, T);
            load_tile_async_sw(ring + p * 2 * FA_SW_TILE_BYTES + FA_SW_TILE_BYTES, base + 2 * C, rs, p * 64, T);
        }
        cp_async_commit();
    }
}

// Also makes the landed tile visible to the tensor cores (async proxy) before the block-wide barrier.
__device__ __forceinline__ void kv_ring_next_sw(unsigned ring, const bf16* base, int C, long rs, int t, int tiles, int T)
{
    int pre = t + FA_STAGES - 1;
    if (pre < tiles)
    {
        unsigned st = ring + (pre % FA_STAGES) * 2 * FA_SW_TILE_BYTES;
        load_tile_async_sw(st, base + C, rs, pre * 64, T);
        load_tile_async_sw(st + FA_SW_TILE_BYTES, base + 2 * C, rs, pre * 64, T);
    }
    cp_async_commit();
    cp_async_wait<FA_STAGES - 1>();
    fence_async_shared();
    __syncthreads();
}

// The 32 fp32 accumulator registers of an m64n64 wgmma (one lane's 8 x 4 block), as asm operands %0 .. %31.
#define WGMMA_ACC_REGISTERS "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
                            "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define WGMMA_ACC_OPERANDS(d) \
    "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]), \
    "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), \
    "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), \
    "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3])

// d (64 x 64 per warpgroup) = a (64 x 16) * B (16 x 64) (+ d when accumulate); TRANS_B: B's tile rows are k.
template <int TRANS_B>
__device__ __forceinline__ void wgmma_k16(float (&d)[8][4], const unsigned (&a)[4], unsigned long long desc, int accumulate)
{
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
        WGMMA_ACC_REGISTERS ", "
        "{%32, %33, %34, %35}, %36, p, 1, 1, %38;\n}\n"
        : WGMMA_ACC_OPERANDS(d)
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(accumulate), "n"(TRANS_B));
}

// Same with A also from shared memory (a K-major tile: its rows are the 64 rows of A).
__device__ __forceinline__ void wgmma_k16_ss(float (&d)[8][4], unsigned long long descA, unsigned long long descB, int accumulate)
{
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
        WGMMA_ACC_REGISTERS ", "
        "%32, %33, p, 1, 1, 0, 0;\n}\n"
        : WGMMA_ACC_OPERANDS(d)
        : "l"(descA), "l"(descB), "r"(accumulate));
}

// Issues acc (+)= A (64 x 64 from registers) * B (the tile at `tile`) as four k16 steps; the caller fences before,
// and commits and waits after. A K-major B (TRANS_B = 0) steps 32 bytes along its rows per k16, an MN-major B
// (TRANS_B = 1) 16 rows (2048 bytes).
template <int TRANS_B>
__device__ __forceinline__ void wgmma_issue(float (&acc)[8][4], const unsigned (&a)[4][4], unsigned tile, bool accumulate)
{
    unsigned long long desc = sw_desc(tile);
#pragma unroll
    for (int kc = 0; kc < 4; kc++)
        wgmma_k16<TRANS_B>(acc, a[kc], desc + ((TRANS_B ? kc * 2048 : kc * 32) >> 4), (accumulate || kc > 0) ? 1 : 0);
}

// Issues acc = A (K-major tile at `a`) * B (K-major tile at `b`): C = A B^T of two row-major 64 x 64 tiles.
__device__ __forceinline__ void wgmma_issue_abt(float (&acc)[8][4], unsigned a, unsigned b)
{
    unsigned long long da = sw_desc(a), db = sw_desc(b);
#pragma unroll
    for (int kc = 0; kc < 4; kc++) wgmma_k16_ss(acc, da + ((kc * 32) >> 4), db + ((kc * 32) >> 4), kc > 0 ? 1 : 0);
}

// Forward on wgmma: a block (one warpgroup) owns 64 query rows; otherwise flash_forward<1>. Every warp takes part in
// every tile (a warpgroup instruction needs all four), which costs nothing here: with 64-row blocks each row has a
// key in every tile the block visits. Needs FLASH_W1_SMEM bytes of dynamic shared memory.
#define FLASH_W1_SMEM (FA_STAGES * 2 * FA_SW_TILE_BYTES + 1024)
extern "C" __global__ void __launch_bounds__(128) flash_forward_64_w1(bf16* out, float* lse, const bf16* qkv, int T, int NH)
{
    extern __shared__ __align__(16) unsigned char w1_smem[];
    unsigned ring = (smem_addr(w1_smem) + 1023) & ~1023u; // the swizzle pattern repeats every 1024 bytes
    int C = NH * FA_D, bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int q0 = (gridDim.x - 1 - blockIdx.x) * 64;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tig = lane & 3;
    long rs = 3L * C;
    const bf16* base = qkv + (long)b * T * rs + h * FA_D;
    int r0 = q0 + warp * 16;
    unsigned qa[4][4];
    float o[8][4], m0 = -LLM_FLT_MAX, m1 = -LLM_FLT_MAX, l0 = 0.0f, l1 = 0.0f;
    load_a_rows(qa, base, rs, r0, T, g, tig);
    zero_acc(o);
    const float sl2 = rsqrtf((float)FA_D) * LOG2E;
    const unsigned stageBytes = 2 * FA_SW_TILE_BYTES;
    int tiles = min(T - 1, q0 + 63) / 64 + 1;
    kv_ring_start_sw(ring, base, C, rs, tiles, T);
    for (int t = 0; t < tiles; t++)
    {
        int buf = t % FA_STAGES, j0 = t * 64;
        kv_ring_next_sw(ring, base, C, rs, t, tiles, T);
        unsigned kt = ring + buf * stageBytes;
        float s[8][4];
        zero_acc(s); // overwritten (the first k16 does not accumulate); zeroed so that no register is read undefined
        wgmma_fence();
        wgmma_issue<0>(s, qa, kt, false);
        wgmma_commit();
        wgmma_wait0();
        if (j0 + 63 > r0) mask_after_diagonal(s, j0, r0, g, tig);
        online_softmax(s, o, m0, m1, l0, l1, sl2);
        unsigned pa[4][4];
        to_a_fragments(pa, s);
        wgmma_fence();
        wgmma_issue<1>(o, pa, kt + FA_SW_TILE_BYTES, true);
        wgmma_commit();
        wgmma_wait0();
        __syncthreads(); // all warps are done with this buffer before it is refilled
    }
    const float ln2 = 0.6931471805599453f;
    int i0 = r0 + g, i1 = i0 + 8;
    l0 = group_sum(l0);
    l1 = group_sum(l1);
    store_rows(out + ((long)b * T + i0) * C + h * FA_D + tig * 2, C, o, 1.0f / l0, 1.0f / l1, i0 < T, i1 < T);
    if (tig == 0)
    {
        if (i0 < T) lse[(long)bh * T + i0] = m0 * ln2 + __logf(l0);
        if (i1 < T) lse[(long)bh * T + i1] = m1 * ln2 + __logf(l1);
    }
}

// dQ (and delta) on wgmma: flash_backward_dq<1> with the block's four warps as one warpgroup (64 queries per block;
// as in the w1 forward, every warp has a key in every tile the block visits). S = Q K^T and dP = dO V^T take Q and dO
// from registers and K, V as K-major tiles; dQ += dS K takes K as an MN-major tile. Needs FLASH_W1_SMEM bytes.
extern "C" __global__ void __launch_bounds__(128) flash_backward_dq_64_w1(bf16* dqkv, float* delta, const bf16* dout, const bf16* out,
                                                                         const bf16* qkv, const float* lse, int T, int NH)
{
    extern __shared__ __align__(16) unsigned char w1_dq_smem[];
    unsigned ring = (smem_addr(w1_dq_smem) + 1023) & ~1023u;
    int C = NH * FA_D, bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int q0 = (gridDim.x - 1 - blockIdx.x) * 64;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tig = lane & 3;
    long rs = 3L * C;
    const bf16* base = qkv + (long)b * T * rs + h * FA_D;
    const bf16* gbase = dout + (long)b * T * C + h * FA_D;
    int r0 = q0 + warp * 16, i0 = r0 + g, i1 = i0 + 8;
    unsigned qa[4][4], ga[4][4];
    load_a_rows(qa, base, rs, r0, T, g, tig);
    load_a_rows(ga, gbase, C, r0, T, g, tig);
    float D0, D1;
    {
        unsigned oa[4][4];
        load_a_rows(oa, out + (long)b * T * C + h * FA_D, C, r0, T, g, tig);
        float2 parts = delta_parts(ga, oa);
        D0 = group_sum(parts.x);
        D1 = group_sum(parts.y);
    }
    if (tig == 0)
    {
        if (i0 < T) delta[(long)bh * T + i0] = D0;
        if (i1 < T) delta[(long)bh * T + i1] = D1;
    }
    // Rows past T have zero q, dO and delta and L = 0: their P is finite and their dS is zero.
    float L0 = i0 < T ? lse[(long)bh * T + i0] * LOG2E : 0.0f, L1 = i1 < T ? lse[(long)bh * T + i1] * LOG2E : 0.0f;
    const float sl2 = rsqrtf((float)FA_D) * LOG2E;
    float dq[8][4];
    zero_acc(dq);
    const unsigned stageBytes = 2 * FA_SW_TILE_BYTES;
    int tiles = min(T - 1, q0 + 63) / 64 + 1;
    kv_ring_start_sw(ring, base, C, rs, tiles, T);
    for (int t = 0; t < tiles; t++)
    {
        int buf = t % FA_STAGES, j0 = t * 64;
        kv_ring_next_sw(ring, base, C, rs, t, tiles, T);
        unsigned kt = ring + buf * stageBytes;
        float s[8][4], dp[8][4];
        zero_acc(s);
        zero_acc(dp);
        wgmma_fence();
        wgmma_issue<0>(s, qa, kt, false);
        wgmma_issue<0>(dp, ga, kt + FA_SW_TILE_BYTES, false);
        wgmma_commit();
        wgmma_wait0();
        bool diag = j0 + 63 > r0;
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++)
            {
                float p = exp2f(fmaf(s[nt][e], sl2, -((e >> 1) ? L1 : L0)));
                if (diag && j0 + nt * 8 + tig * 2 + (e & 1) > r0 + g + (e >> 1) * 8) p = 0.0f;
                s[nt][e] = p * (dp[nt][e] - ((e >> 1) ? D1 : D0));
            }
        unsigned da[4][4];
        to_a_fragments(da, s);
        wgmma_fence();
        wgmma_issue<1>(dq, da, kt, true);
        wgmma_commit();
        wgmma_wait0();
        __syncthreads(); // all warps are done with this buffer before it is refilled
    }
    const float scale = rsqrtf((float)FA_D);
    store_rows(dqkv + ((long)b * T + i0) * rs + h * FA_D + tig * 2, rs, dq, scale, scale, i0 < T, i1 < T);
}

// dK/dV on wgmma: flash_backward_dkv_64 with the block's four warps as one warpgroup. S^T = K Q^T and dP^T = V dO^T
// read both operands from shared memory; dV += P^T dO and dK += dS^T Q take P^T and dS^T from registers. Needs
// FLASH_DKV_W1_SMEM bytes of dynamic shared memory.
#define FLASH_DKV_W1_SMEM (FA_STAGES * 2 * FA_SW_TILE_BYTES + 2 * FA_SW_TILE_BYTES + FA_STAGES * 2 * 64 * 4 + 1024)
extern "C" __global__ void __launch_bounds__(128, 3) flash_backward_dkv_64_w1(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse,
                                                                              const float* delta, int T, int NH)
{
    extern __shared__ __align__(16) unsigned char w1_dkv_smem[];
    unsigned raw = smem_addr(w1_dkv_smem), ring = (raw + 1023) & ~1023u; // FA_STAGES x (Q tile, dO tile)
    unsigned kTile = ring + FA_STAGES * 2 * FA_SW_TILE_BYTES, vTile = kTile + FA_SW_TILE_BYTES;
    float* stats = reinterpret_cast<float*>(w1_dkv_smem + (vTile + FA_SW_TILE_BYTES - raw)); // [stage][lse 64 | delta 64]
    int C = NH * FA_D, bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int k0 = blockIdx.x * 64;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tig = lane & 3;
    long rs = 3L * C;
    const bf16* base = qkv + (long)b * T * rs + h * FA_D;
    const bf16* gbase = dout + (long)b * T * C + h * FA_D;
    const float* lrow = lse + (long)bh * T;
    const float* drow = delta + (long)bh * T;
    int r0 = k0 + warp * 16, j0k = r0 + g, j1k = r0 + g + 8;
    const float sl2 = rsqrtf((float)FA_D) * LOG2E;
    const unsigned stageBytes = 2 * FA_SW_TILE_BYTES;
    float dk[8][4], dv[8][4];
    zero_acc(dk);
    zero_acc(dv);
    int tiles = k0 < T ? (T - 1 - k0) / 64 + 1 : 0;
    load_tile_async_sw(kTile, base + C, rs, k0, T);
    load_tile_async_sw(vTile, base + 2 * C, rs, k0, T);
#pragma unroll
    for (int p = 0; p < FA_STAGES - 1; p++)
    {
        if (p < tiles)
        {
            load_tile_async_sw(ring + p * stageBytes, base, rs, k0 + p * 64, T);
            load_tile_async_sw(ring + p * stageBytes + FA_SW_TILE_BYTES, gbase, C, k0 + p * 64, T);
            load_rows_stats_async(stats + p * 128, stats + p * 128 + 64, lrow, drow, k0 + p * 64, T);
        }
        cp_async_commit();
    }
    for (int t = 0; t < tiles; t++)
    {
        int buf = t % FA_STAGES, q0 = k0 + t * 64, pre = t + FA_STAGES - 1;
        if (pre < tiles)
        {
            int ps = pre % FA_STAGES;
            load_tile_async_sw(ring + ps * stageBytes, base, rs, k0 + pre * 64, T);
            load_tile_async_sw(ring + ps * stageBytes + FA_SW_TILE_BYTES, gbase, C, k0 + pre * 64, T);
            load_rows_stats_async(stats + ps * 128, stats + ps * 128 + 64, lrow, drow, k0 + pre * 64, T);
        }
        cp_async_commit();
        cp_async_wait<FA_STAGES - 1>();
        fence_async_shared();
        __syncthreads();
        const unsigned qt = ring + buf * stageBytes, gt = qt + FA_SW_TILE_BYTES;
        const float* Ls = stats + buf * 128;
        const float* Ds = Ls + 64;
        float st[8][4], dpt[8][4];
        zero_acc(st);
        zero_acc(dpt);
        wgmma_fence();
        wgmma_issue_abt(st, kTile, qt);
        wgmma_issue_abt(dpt, vTile, gt);
        wgmma_commit();
        wgmma_wait0();
        bool diag = q0 < r0 + 16; // some query of the tile precedes some key of this warp
        dkv_probabilities(st, dpt, Ls, Ds, sl2, diag, q0, j0k, j1k, tig);
        unsigned pa[4][4], da[4][4];
        to_a_fragments(pa, st);
        to_a_fragments(da, dpt);
        wgmma_fence();
        wgmma_issue<1>(dv, pa, gt, true);
        wgmma_issue<1>(dk, da, qt, true);
        wgmma_commit();
        wgmma_wait0();
        __syncthreads();
    }
    store_dkv(dqkv, dk, dv, b, T, C, h, j0k, tig);
}
#endif
