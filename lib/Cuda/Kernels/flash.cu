// Flash attention on the tensor cores for head size 64 (every GPT-2 dN model): bf16 mma.sync m16n8k16 with
// fp32 accumulation. A block owns 64 rows (4 warps x 16) of one (batch, head); K/V (or Q/dO) tiles of 64 rows
// are staged in padded shared memory. The forward keeps an online softmax in registers and stores only the
// log-sum-exp; the backward recomputes P from it, in two kernels (dK/dV per key block, dQ per query block)
// so that no two blocks ever write the same element: deterministic without atomics.

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

// B fragments (b0, b1 of n-tiles nt and nt+1, k-chunk kc) of a product whose B[k][n] is stored row-major by k.
__device__ __forceinline__ void load_b_trans(unsigned* b, const bf16* tile, int kc, int nt, int lane)
{
    int mi = lane >> 3, r = lane & 7;
    const bf16* p = tile + (kc * 16 + (mi & 1) * 8 + r) * FA_LD + (nt + (mi >> 1)) * 8;
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(b[0]), "=r"(b[1]), "=r"(b[2]), "=r"(b[3]) : "r"(smem_addr(p)));
}

// acc[16 x 64] += A[16 x 64] * B where B[k][n] = tile[n][k] (the tile's rows are the n index): S = Q K^T and kin.
__device__ __forceinline__ void mma_abt(float (*acc)[4], unsigned (*a)[4], const bf16* tile, int g, int tig)
{
    const unsigned* t32 = reinterpret_cast<const unsigned*>(tile);
#pragma unroll
    for (int kc = 0; kc < 4; kc++)
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
        {
            int w = (nt * 8 + g) * (FA_LD / 2) + kc * 8 + tig;
            mma16816(acc[nt], a[kc], t32[w], t32[w + 4]);
        }
}

// acc[16 x 64] += P[16 x 64] * tile, P given as fp32 accumulator-layout values (rounded to bf16 here).
__device__ __forceinline__ void mma_pv(float (*acc)[4], float (*p)[4], const bf16* tile, int lane)
{
#pragma unroll
    for (int kc = 0; kc < 4; kc++)
    {
        unsigned a[4] = { pack2(p[2 * kc][0], p[2 * kc][1]), pack2(p[2 * kc][2], p[2 * kc][3]),
                          pack2(p[2 * kc + 1][0], p[2 * kc + 1][1]), pack2(p[2 * kc + 1][2], p[2 * kc + 1][3]) };
#pragma unroll
        for (int nt = 0; nt < 8; nt += 2)
        {
            unsigned b[4];
            load_b_trans(b, tile, kc, nt, lane);
            mma16816(acc[nt], a, b[0], b[1]);
            mma16816(acc[nt + 1], a, b[2], b[3]);
        }
    }
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

extern "C" __global__ void __launch_bounds__(128) flash_forward_64(bf16* out, float* lse, const bf16* qkv, int T, int NH)
{
    __shared__ __align__(16) bf16 Ks[2][64 * FA_LD];
    __shared__ __align__(16) bf16 Vs[2][64 * FA_LD];
    int C = NH * FA_D, bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int q0 = (gridDim.x - 1 - blockIdx.x) * 64; // longest rows first
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tig = lane & 3;
    long rs = 3L * C;
    const bf16* base = qkv + (long)b * T * rs + h * FA_D;
    int r0 = q0 + warp * 16, i0 = r0 + g, i1 = r0 + g + 8;
    unsigned qa[4][4];
    load_a_rows(qa, base, rs, r0, T, g, tig);
    float o[8][4];
#pragma unroll
    for (int nt = 0; nt < 8; nt++) o[nt][0] = o[nt][1] = o[nt][2] = o[nt][3] = 0.0f;
    float m0 = -LLM_FLT_MAX, m1 = -LLM_FLT_MAX, l0 = 0.0f, l1 = 0.0f;
    const float sl2 = rsqrtf((float)FA_D) * LOG2E;
    int tiles = min(T - 1, q0 + 63) / 64 + 1;
    load_tile_async(Ks[0], base + C, rs, 0, T);
    load_tile_async(Vs[0], base + 2 * C, rs, 0, T);
    cp_async_commit();
    for (int t = 0; t < tiles; t++)
    {
        int buf = t & 1, j0 = t * 64;
        if (t + 1 < tiles)
        {
            load_tile_async(Ks[buf ^ 1], base + C, rs, j0 + 64, T);
            load_tile_async(Vs[buf ^ 1], base + 2 * C, rs, j0 + 64, T);
            cp_async_commit();
            cp_async_wait_1();
        }
        else cp_async_wait_0();
        __syncthreads();
        if (j0 <= r0 + 15) // else the tile lies entirely above this warp's diagonal
        {
            float s[8][4];
#pragma unroll
            for (int nt = 0; nt < 8; nt++) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
            mma_abt(s, qa, Ks[buf], g, tig);
            float mx0 = FA_NEG_INF, mx1 = FA_NEG_INF;
#pragma unroll
            for (int nt = 0; nt < 8; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++)
                {
                    int j = j0 + nt * 8 + tig * 2 + (e & 1);
                    int i = e < 2 ? i0 : i1;
                    float v = j <= i ? s[nt][e] * sl2 : FA_NEG_INF;
                    s[nt][e] = v;
                    if (e < 2) mx0 = fmaxf(mx0, v); else mx1 = fmaxf(mx1, v);
                }
            float n0 = fmaxf(m0, group_max(mx0)), n1 = fmaxf(m1, group_max(mx1));
            float c0 = exp2f(m0 - n0), c1 = exp2f(m1 - n1);
            m0 = n0; m1 = n1; l0 *= c0; l1 *= c1;
#pragma unroll
            for (int nt = 0; nt < 8; nt++)
            {
                o[nt][0] *= c0; o[nt][1] *= c0; o[nt][2] *= c1; o[nt][3] *= c1;
                s[nt][0] = exp2f(s[nt][0] - n0); s[nt][1] = exp2f(s[nt][1] - n0);
                s[nt][2] = exp2f(s[nt][2] - n1); s[nt][3] = exp2f(s[nt][3] - n1);
                l0 += s[nt][0] + s[nt][1];
                l1 += s[nt][2] + s[nt][3];
            }
            mma_pv(o, s, Vs[buf], lane);
        }
        __syncthreads(); // all warps are done with this buffer before it is refilled
    }
    l0 = group_sum(l0);
    l1 = group_sum(l1);
    float inv0 = 1.0f / l0, inv1 = 1.0f / l1;
    bf16* out0 = out + ((long)b * T + i0) * C + h * FA_D + tig * 2;
    bf16* out1 = out0 + 8L * C;
#pragma unroll
    for (int nt = 0; nt < 8; nt++)
    {
        if (i0 < T) *reinterpret_cast<unsigned*>(out0 + nt * 8) = pack2(o[nt][0] * inv0, o[nt][1] * inv0);
        if (i1 < T) *reinterpret_cast<unsigned*>(out1 + nt * 8) = pack2(o[nt][2] * inv1, o[nt][3] * inv1);
    }
    if (tig == 0)
    {
        const float ln2 = 0.6931471805599453f;
        if (i0 < T) lse[(long)bh * T + i0] = m0 * ln2 + __logf(l0);
        if (i1 < T) lse[(long)bh * T + i1] = m1 * ln2 + __logf(l1);
    }
}

// dQ for 64 queries per block: dS = P o (dO V^T - delta), dQ = scale * dS K.
extern "C" __global__ void __launch_bounds__(128) flash_backward_dq_64(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse,
                                                                       const float* delta, int T, int NH)
{
    __shared__ __align__(16) bf16 Ks[2][64 * FA_LD];
    __shared__ __align__(16) bf16 Vs[2][64 * FA_LD];
    int C = NH * FA_D, bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int q0 = (gridDim.x - 1 - blockIdx.x) * 64;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tig = lane & 3;
    long rs = 3L * C;
    const bf16* base = qkv + (long)b * T * rs + h * FA_D;
    const bf16* gbase = dout + (long)b * T * C + h * FA_D;
    int r0 = q0 + warp * 16, i0 = r0 + g, i1 = r0 + g + 8;
    unsigned qa[4][4], ga[4][4];
    load_a_rows(qa, base, rs, r0, T, g, tig);
    load_a_rows(ga, gbase, C, r0, T, g, tig);
    float L0 = i0 < T ? lse[(long)bh * T + i0] * LOG2E : 0.0f, L1 = i1 < T ? lse[(long)bh * T + i1] * LOG2E : 0.0f;
    float D0 = i0 < T ? delta[(long)bh * T + i0] : 0.0f, D1 = i1 < T ? delta[(long)bh * T + i1] : 0.0f;
    const float sl2 = rsqrtf((float)FA_D) * LOG2E;
    float dq[8][4];
#pragma unroll
    for (int nt = 0; nt < 8; nt++) dq[nt][0] = dq[nt][1] = dq[nt][2] = dq[nt][3] = 0.0f;
    int tiles = min(T - 1, q0 + 63) / 64 + 1;
    load_tile_async(Ks[0], base + C, rs, 0, T);
    load_tile_async(Vs[0], base + 2 * C, rs, 0, T);
    cp_async_commit();
    for (int t = 0; t < tiles; t++)
    {
        int buf = t & 1, j0 = t * 64;
        if (t + 1 < tiles)
        {
            load_tile_async(Ks[buf ^ 1], base + C, rs, j0 + 64, T);
            load_tile_async(Vs[buf ^ 1], base + 2 * C, rs, j0 + 64, T);
            cp_async_commit();
            cp_async_wait_1();
        }
        else cp_async_wait_0();
        __syncthreads();
        if (j0 <= r0 + 15)
        {
            float s[8][4], dp[8][4];
#pragma unroll
            for (int nt = 0; nt < 8; nt++)
            {
                s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
                dp[nt][0] = dp[nt][1] = dp[nt][2] = dp[nt][3] = 0.0f;
            }
            mma_abt(s, qa, Ks[buf], g, tig);
            mma_abt(dp, ga, Vs[buf], g, tig);
#pragma unroll
            for (int nt = 0; nt < 8; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++)
                {
                    int j = j0 + nt * 8 + tig * 2 + (e & 1);
                    int i = e < 2 ? i0 : i1;
                    float p = (j <= i && i < T) ? exp2f(s[nt][e] * sl2 - (e < 2 ? L0 : L1)) : 0.0f;
                    s[nt][e] = p * (dp[nt][e] - (e < 2 ? D0 : D1));
                }
            mma_pv(dq, s, Ks[buf], lane);
        }
        __syncthreads();
    }
    const float scale = rsqrtf((float)FA_D);
    bf16* out0 = dqkv + ((long)b * T + i0) * rs + h * FA_D + tig * 2;
    bf16* out1 = out0 + 8 * rs;
#pragma unroll
    for (int nt = 0; nt < 8; nt++)
    {
        if (i0 < T) *reinterpret_cast<unsigned*>(out0 + nt * 8) = pack2(dq[nt][0] * scale, dq[nt][1] * scale);
        if (i1 < T) *reinterpret_cast<unsigned*>(out1 + nt * 8) = pack2(dq[nt][2] * scale, dq[nt][3] * scale);
    }
}

// dK and dV for 64 keys per block: with P^T = exp(K Q^T * scale - lse), dV = P^T dO and
// dK = scale * (P^T o (V dO^T - delta)) Q, over the query tiles at or after the keys.
extern "C" __global__ void __launch_bounds__(128) flash_backward_dkv_64(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse,
                                                                        const float* delta, int T, int NH)
{
    __shared__ __align__(16) bf16 Qs[2][64 * FA_LD];
    __shared__ __align__(16) bf16 Gs[2][64 * FA_LD];
    __shared__ float Ls[2][64], Ds[2][64];
    int C = NH * FA_D, bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int k0 = blockIdx.x * 64; // longest columns (small keys) first
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tig = lane & 3;
    long rs = 3L * C;
    const bf16* base = qkv + (long)b * T * rs + h * FA_D;
    const bf16* gbase = dout + (long)b * T * C + h * FA_D;
    int r0 = k0 + warp * 16, j0k = r0 + g, j1k = r0 + g + 8;
    unsigned ka[4][4], va[4][4];
    load_a_rows(ka, base + C, rs, r0, T, g, tig);
    load_a_rows(va, base + 2 * C, rs, r0, T, g, tig);
    const float sl2 = rsqrtf((float)FA_D) * LOG2E;
    float dk[8][4], dv[8][4];
#pragma unroll
    for (int nt = 0; nt < 8; nt++)
    {
        dk[nt][0] = dk[nt][1] = dk[nt][2] = dk[nt][3] = 0.0f;
        dv[nt][0] = dv[nt][1] = dv[nt][2] = dv[nt][3] = 0.0f;
    }
    int tiles = k0 < T ? (T - 1 - k0) / 64 + 1 : 0;
    load_tile_async(Qs[0], base, rs, k0, T);
    load_tile_async(Gs[0], gbase, C, k0, T);
    cp_async_commit();
    if (threadIdx.x < 64)
    {
        int i = k0 + threadIdx.x;
        Ls[0][threadIdx.x] = i < T ? lse[(long)bh * T + i] * LOG2E : 0.0f;
        Ds[0][threadIdx.x] = i < T ? delta[(long)bh * T + i] : 0.0f;
    }
    for (int t = 0; t < tiles; t++)
    {
        int buf = t & 1, q0 = k0 + t * 64;
        if (t + 1 < tiles)
        {
            load_tile_async(Qs[buf ^ 1], base, rs, q0 + 64, T);
            load_tile_async(Gs[buf ^ 1], gbase, C, q0 + 64, T);
            cp_async_commit();
            if (threadIdx.x < 64)
            {
                int i = q0 + 64 + threadIdx.x;
                Ls[buf ^ 1][threadIdx.x] = i < T ? lse[(long)bh * T + i] * LOG2E : 0.0f;
                Ds[buf ^ 1][threadIdx.x] = i < T ? delta[(long)bh * T + i] : 0.0f;
            }
            cp_async_wait_1();
        }
        else cp_async_wait_0();
        __syncthreads();
        if (q0 + 63 >= r0) // else every query of the tile precedes this warp's keys
        {
            float st[8][4], dpt[8][4];
#pragma unroll
            for (int nt = 0; nt < 8; nt++)
            {
                st[nt][0] = st[nt][1] = st[nt][2] = st[nt][3] = 0.0f;
                dpt[nt][0] = dpt[nt][1] = dpt[nt][2] = dpt[nt][3] = 0.0f;
            }
            mma_abt(st, ka, Qs[buf], g, tig);
            mma_abt(dpt, va, Gs[buf], g, tig);
#pragma unroll
            for (int nt = 0; nt < 8; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++)
                {
                    int qi = nt * 8 + tig * 2 + (e & 1), i = q0 + qi;
                    int j = e < 2 ? j0k : j1k;
                    float p = (i >= j && i < T) ? exp2f(st[nt][e] * sl2 - Ls[buf][qi]) : 0.0f;
                    st[nt][e] = p;
                    dpt[nt][e] = p * (dpt[nt][e] - Ds[buf][qi]);
                }
            mma_pv(dv, st, Gs[buf], lane);
            mma_pv(dk, dpt, Qs[buf], lane);
        }
        __syncthreads();
    }
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
        if (j1k < T)
        {
            *reinterpret_cast<unsigned*>(k1p + nt * 8) = pack2(dk[nt][2] * scale, dk[nt][3] * scale);
            *reinterpret_cast<unsigned*>(k1p + C + nt * 8) = pack2(dv[nt][2], dv[nt][3]);
        }
    }
}
