// Causal multi-head attention straight from the fused QKV activations (B, T, 3C): Q, K and V of head h
// sit at channel offsets h*HS, C + h*HS and 2C + h*HS of each row, so no permutation is needed.
// Flash-style: the forward keeps an online softmax per query and stores only the log-sum-exp (B, NH, T);
// the backward recomputes the probabilities from it. One thread owns one query (or key) row, so every
// reduction runs in a fixed order and results are bitwise reproducible. Math is fp32.

#define ATT_ROWS 64 // queries (or keys) per block = threads per block

template <int HS> struct AttTile { static const int Keys = HS <= 64 ? 64 : 32; };

template <int HS>
__device__ __forceinline__ void attention_forward_impl(bf16* out, float* lse, const bf16* qkv, int T, int NH)
{
    const int KT = AttTile<HS>::Keys;
    __shared__ float Ks[KT * HS];
    __shared__ float Vs[KT * HS];
    int C = NH * HS, bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int qBlock = gridDim.x - 1 - blockIdx.x; // longest rows first
    int i = qBlock * ATT_ROWS + threadIdx.x;
    bool active = i < T;
    const bf16* base = qkv + (long)b * T * 3 * C;
    float scale = rsqrtf((float)HS);
    float q[HS], o[HS];
#pragma unroll
    for (int d = 0; d < HS; d++) { q[d] = 0.0f; o[d] = 0.0f; }
    if (active)
    {
        const bf16* qp = base + (long)i * 3 * C + h * HS;
#pragma unroll
        for (int d = 0; d < HS; d += 8)
        {
            Vec8 v = load8(qp + d);
#pragma unroll
            for (int k = 0; k < 8; k++) q[d + k] = v.v[k] * scale;
        }
    }
    float m = -LLM_FLT_MAX, l = 0.0f;
    int lastKey = min(T - 1, qBlock * ATT_ROWS + ATT_ROWS - 1);
    for (int j0 = 0; j0 <= lastKey; j0 += KT)
    {
        __syncthreads();
        for (int e = threadIdx.x * 8; e < KT * HS; e += ATT_ROWS * 8)
        {
            int j = j0 + e / HS, d = e % HS;
            if (j < T)
            {
                const bf16* kp = base + (long)j * 3 * C + C + h * HS + d;
                Vec8 kv = load8(kp), vv = load8(kp + C);
                for (int k = 0; k < 8; k++) { Ks[e + k] = kv.v[k]; Vs[e + k] = vv.v[k]; }
            }
        }
        __syncthreads();
        if (active)
        {
            int count = min(KT, i - j0 + 1);
            for (int jj = 0; jj < count; jj++)
            {
                const float* kr = Ks + jj * HS;
                float s = 0.0f;
#pragma unroll
                for (int d = 0; d < HS; d++) s += q[d] * kr[d];
                if (s > m)
                {
                    float corr = __expf(m - s);
                    l *= corr;
#pragma unroll
                    for (int d = 0; d < HS; d++) o[d] *= corr;
                    m = s;
                }
                float p = __expf(s - m);
                l += p;
                const float* vr = Vs + jj * HS;
#pragma unroll
                for (int d = 0; d < HS; d++) o[d] += p * vr[d];
            }
        }
    }
    if (!active) return;
    float inv = 1.0f / l;
    bf16* op = out + ((long)b * T + i) * C + h * HS;
#pragma unroll
    for (int d = 0; d < HS; d += 8)
    {
        Vec8 v;
#pragma unroll
        for (int k = 0; k < 8; k++) v.v[k] = o[d + k] * inv;
        store8(op + d, v);
    }
    lse[(long)bh * T + i] = m + __logf(l);
}

// delta[b,h,i] = sum_d dout[b,i,h,d] * out[b,i,h,d], the softmax-backward correction term per query.
extern "C" __global__ void attention_backward_delta(float* delta, const bf16* dout, const bf16* out, int B, int T, int NH, int HS)
{
    long idx = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long)B * NH * T) return;
    int i = (int)(idx % T);
    int bh = (int)(idx / T), b = bh / NH, h = bh % NH, C = NH * HS;
    long off = ((long)b * T + i) * C + h * HS;
    float s = 0.0f;
    for (int d = 0; d < HS; d += 8)
    {
        Vec8 g = load8(dout + off + d), o = load8(out + off + d);
        for (int k = 0; k < 8; k++) s += g.v[k] * o.v[k];
    }
    delta[idx] = s;
}

// dQ: one thread per query; its q and dout rows live in padded shared rows (conflict-free), K/V tiles are broadcast.
template <int HS>
__device__ __forceinline__ void attention_backward_dq_impl(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse, const float* delta,
                                                           int T, int NH)
{
    const int KT = AttTile<HS>::Keys, P = HS + 1;
    extern __shared__ float smem[];
    float* Qs = smem;
    float* Gs = Qs + ATT_ROWS * P;
    float* Ks = Gs + ATT_ROWS * P;
    float* Vs = Ks + KT * HS;
    int C = NH * HS, bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int qBlock = gridDim.x - 1 - blockIdx.x;
    int i = qBlock * ATT_ROWS + threadIdx.x;
    bool active = i < T;
    const bf16* base = qkv + (long)b * T * 3 * C;
    float scale = rsqrtf((float)HS);
    float* myQ = Qs + threadIdx.x * P;
    float* myG = Gs + threadIdx.x * P;
    float L = 0.0f, D = 0.0f;
    float dq[HS];
#pragma unroll
    for (int d = 0; d < HS; d++) dq[d] = 0.0f;
    if (active)
    {
        const bf16* qp = base + (long)i * 3 * C + h * HS;
        const bf16* gp = dout + ((long)b * T + i) * C + h * HS;
        for (int d = 0; d < HS; d += 8)
        {
            Vec8 v = load8(qp + d), g = load8(gp + d);
            for (int k = 0; k < 8; k++) { myQ[d + k] = v.v[k]; myG[d + k] = g.v[k]; }
        }
        L = lse[(long)bh * T + i];
        D = delta[(long)bh * T + i];
    }
    int lastKey = min(T - 1, qBlock * ATT_ROWS + ATT_ROWS - 1);
    for (int j0 = 0; j0 <= lastKey; j0 += KT)
    {
        __syncthreads();
        for (int e = threadIdx.x * 8; e < KT * HS; e += ATT_ROWS * 8)
        {
            int j = j0 + e / HS, d = e % HS;
            if (j < T)
            {
                const bf16* kp = base + (long)j * 3 * C + C + h * HS + d;
                Vec8 kv = load8(kp), vv = load8(kp + C);
                for (int k = 0; k < 8; k++) { Ks[e + k] = kv.v[k]; Vs[e + k] = vv.v[k]; }
            }
        }
        __syncthreads();
        if (active)
        {
            int count = min(KT, i - j0 + 1);
            for (int jj = 0; jj < count; jj++)
            {
                const float* kr = Ks + jj * HS;
                const float* vr = Vs + jj * HS;
                float s = 0.0f, dp = 0.0f;
#pragma unroll
                for (int d = 0; d < HS; d++) { s += myQ[d] * kr[d]; dp += myG[d] * vr[d]; }
                float p = __expf(s * scale - L);
                float ds = p * (dp - D);
#pragma unroll
                for (int d = 0; d < HS; d++) dq[d] += ds * kr[d];
            }
        }
    }
    if (!active) return;
    bf16* op = dqkv + ((long)b * T + i) * 3 * C + h * HS;
#pragma unroll
    for (int d = 0; d < HS; d += 8)
    {
        Vec8 v;
#pragma unroll
        for (int k = 0; k < 8; k++) v.v[k] = dq[d + k] * scale;
        store8(op + d, v);
    }
}

// dK and dV: one thread per key; its k and v rows in padded shared rows, query tiles (q, dout, lse, delta) broadcast.
template <int HS>
__device__ __forceinline__ void attention_backward_dkv_impl(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse, const float* delta,
                                                            int T, int NH)
{
    const int QT = AttTile<HS>::Keys, P = HS + 1;
    extern __shared__ float smem[];
    float* Ko = smem;
    float* Vo = Ko + ATT_ROWS * P;
    float* Qt = Vo + ATT_ROWS * P;
    float* Gt = Qt + QT * HS;
    float* Lt = Gt + QT * HS;
    float* Dt = Lt + QT;
    int C = NH * HS, bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int kBlock = blockIdx.x; // longest columns (small j) first
    int j = kBlock * ATT_ROWS + threadIdx.x;
    bool active = j < T;
    const bf16* base = qkv + (long)b * T * 3 * C;
    float scale = rsqrtf((float)HS);
    float* myK = Ko + threadIdx.x * P;
    float* myV = Vo + threadIdx.x * P;
    float dk[HS], dv[HS];
#pragma unroll
    for (int d = 0; d < HS; d++) { dk[d] = 0.0f; dv[d] = 0.0f; }
    if (active)
    {
        const bf16* kp = base + (long)j * 3 * C + C + h * HS;
        for (int d = 0; d < HS; d += 8)
        {
            Vec8 kv = load8(kp + d), vv = load8(kp + C + d);
            for (int k = 0; k < 8; k++) { myK[d + k] = kv.v[k]; myV[d + k] = vv.v[k]; }
        }
    }
    for (int i0 = kBlock * ATT_ROWS; i0 < T; i0 += QT)
    {
        __syncthreads();
        for (int e = threadIdx.x * 8; e < QT * HS; e += ATT_ROWS * 8)
        {
            int i = i0 + e / HS, d = e % HS;
            if (i < T)
            {
                Vec8 qv = load8(base + (long)i * 3 * C + h * HS + d);
                Vec8 gv = load8(dout + ((long)b * T + i) * C + h * HS + d);
                for (int k = 0; k < 8; k++) { Qt[e + k] = qv.v[k]; Gt[e + k] = gv.v[k]; }
            }
        }
        for (int e = threadIdx.x; e < QT; e += ATT_ROWS)
        {
            int i = i0 + e;
            Lt[e] = i < T ? lse[(long)bh * T + i] : 0.0f;
            Dt[e] = i < T ? delta[(long)bh * T + i] : 0.0f;
        }
        __syncthreads();
        if (active)
        {
            int first = max(0, j - i0), count = min(QT, T - i0);
            for (int ii = first; ii < count; ii++)
            {
                const float* qr = Qt + ii * HS;
                const float* gr = Gt + ii * HS;
                float s = 0.0f, dp = 0.0f;
#pragma unroll
                for (int d = 0; d < HS; d++) { s += qr[d] * myK[d]; dp += gr[d] * myV[d]; }
                float p = __expf(s * scale - Lt[ii]);
                float ds = p * (dp - Dt[ii]);
#pragma unroll
                for (int d = 0; d < HS; d++) { dv[d] += p * gr[d]; dk[d] += ds * qr[d]; }
            }
        }
    }
    if (!active) return;
    bf16* op = dqkv + ((long)b * T + j) * 3 * C + C + h * HS;
#pragma unroll
    for (int d = 0; d < HS; d += 8)
    {
        Vec8 kv, vv;
#pragma unroll
        for (int k = 0; k < 8; k++) { kv.v[k] = dk[d + k] * scale; vv.v[k] = dv[d + k]; }
        store8(op + d, kv);
        store8(op + C + d, vv);
    }
}

#define ATTENTION_KERNELS(HS)                                                                                                     \
    extern "C" __global__ void __launch_bounds__(ATT_ROWS) attention_forward_##HS(bf16* out, float* lse, const bf16* qkv, int T, int NH) \
    { attention_forward_impl<HS>(out, lse, qkv, T, NH); }                                                                         \
    extern "C" __global__ void __launch_bounds__(ATT_ROWS) attention_backward_dq_##HS(bf16* dqkv, const bf16* dout, const bf16* qkv,      \
        const float* lse, const float* delta, int T, int NH)                                                                       \
    { attention_backward_dq_impl<HS>(dqkv, dout, qkv, lse, delta, T, NH); }                                                       \
    extern "C" __global__ void __launch_bounds__(ATT_ROWS) attention_backward_dkv_##HS(bf16* dqkv, const bf16* dout, const bf16* qkv,     \
        const float* lse, const float* delta, int T, int NH)                                                                       \
    { attention_backward_dkv_impl<HS>(dqkv, dout, qkv, lse, delta, T, NH); }

ATTENTION_KERNELS(64)
ATTENTION_KERNELS(80)
ATTENTION_KERNELS(96)
ATTENTION_KERNELS(128)
