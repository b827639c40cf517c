// Embedding lookup, GELU, and the small elementwise helpers. All tensors are contiguous and their
// element counts are multiples of 8, so each thread moves 16 bytes at a time.

// out[b,t,:] = wte[inp[b,t],:] + wpe[t,:]
extern "C" __global__ void encoder_forward(bf16* out, const int* inp, const bf16* wte, const bf16* wpe, int BT, int T, int C)
{
    long idx = ((long)blockIdx.x * blockDim.x + threadIdx.x) * 8;
    if (idx >= (long)BT * C) return;
    int bt = (int)(idx / C), c = (int)(idx % C), t = bt % T;
    Vec8 a = load8(wte + (long)inp[bt] * C + c);
    Vec8 p = load8(wpe + (long)t * C + c);
    for (int k = 0; k < 8; k++) a.v[k] += p.v[k];
    store8(out + idx, a);
}

// dwpe[t,c] += sum over b of dout[b,t,c], summed in batch order, stochastically rounded.
extern "C" __global__ void wpe_backward(bf16* dwpe, const bf16* dout, int B, int T, int C, unsigned int seed)
{
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= T * C) return;
    float acc = 0.0f;
    for (int b = 0; b < B; b++) acc += bf2f(dout[(long)b * T * C + idx]);
    dwpe[idx] = stochastic_round(bf2f(dwpe[idx]) + acc, squirrel_noise5((unsigned int)idx, seed));
}

// The wte backward, deterministic: dwte[token,:] += the dout rows of every position holding the token, summed in a
// fixed order (see TokenBuckets.cs). Each thread owns 8 adjacent columns (blockIdx.y picks the column range).
// First, every chunk of a large bucket (up to 32 positions, ascending) is summed into an fp32 row of `partial`.
extern "C" __global__ void wte_backward_chunks(float* partial, const bf16* dout, const int* chunkRanges, const int* positions, int C)
{
    int chunk = blockIdx.x, c = (blockIdx.y * blockDim.x + threadIdx.x) * 8;
    if (c >= C) return;
    float acc[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
    for (int i = chunkRanges[2 * chunk], end = chunkRanges[2 * chunk + 1]; i < end; i++)
    {
        Vec8 v = load8(dout + (long)positions[i] * C + c);
#pragma unroll
        for (int k = 0; k < 8; k++) acc[k] += v.v[k];
    }
    float4* out = reinterpret_cast<float4*>(partial + (long)chunk * C + c);
    out[0] = make_float4(acc[0], acc[1], acc[2], acc[3]);
    out[1] = make_float4(acc[4], acc[5], acc[6], acc[7]);
}

// Then one block per bucket adds its chunk sums in chunk order (large buckets) or its dout rows in position order
// (small ones) to the token's row, with stochastic rounding.
extern "C" __global__ void wte_backward(bf16* dwte, const bf16* dout, const float* partial, const int* bucketToken, const int* bucketStart,
                                        const int* positions, const int* chunkStart, int C, unsigned int seed)
{
    int bucket = blockIdx.x, c = (blockIdx.y * blockDim.x + threadIdx.x) * 8;
    if (c >= C) return;
    float acc[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
    int c0 = chunkStart[bucket], c1 = chunkStart[bucket + 1];
    if (c1 > c0)
        for (int ch = c0; ch < c1; ch++)
        {
            const float4* p = reinterpret_cast<const float4*>(partial + (long)ch * C + c);
            float4 a = p[0], b = p[1];
            acc[0] += a.x; acc[1] += a.y; acc[2] += a.z; acc[3] += a.w;
            acc[4] += b.x; acc[5] += b.y; acc[6] += b.z; acc[7] += b.w;
        }
    else
        for (int i = bucketStart[bucket], end = bucketStart[bucket + 1]; i < end; i++)
        {
            Vec8 v = load8(dout + (long)positions[i] * C + c);
#pragma unroll
            for (int k = 0; k < 8; k++) acc[k] += v.v[k];
        }
    long o = (long)bucketToken[bucket] * C + c;
    Vec8 w = load8(dwte + o);
    unsigned int r[4];
#pragma unroll
    for (int k = 0; k < 8; k += 2)
        r[k / 2] = (unsigned int)stochastic_round(w.v[k] + acc[k], squirrel_noise5((unsigned int)(o + k), seed))
                 | ((unsigned int)stochastic_round(w.v[k + 1] + acc[k + 1], squirrel_noise5((unsigned int)(o + k + 1), seed)) << 16);
    *reinterpret_cast<uint4*>(dwte + o) = make_uint4(r[0], r[1], r[2], r[3]);
}

#define GELU_SCALE 0.7978845608028654f

__device__ __forceinline__ float gelu(float x)
{
    float cube = 0.044715f * x * x * x;
    return 0.5f * x * (1.0f + tanhf(GELU_SCALE * (x + cube)));
}

__device__ __forceinline__ float gelu_grad(float x)
{
    float cube = 0.044715f * x * x * x;
    float th = tanhf(GELU_SCALE * (x + cube));
    float sech2 = 1.0f - th * th;
    return 0.5f * (1.0f + th) + x * 0.5f * sech2 * GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
}

extern "C" __global__ void gelu_forward(bf16* out, const bf16* inp, long n)
{
    long idx = ((long)blockIdx.x * blockDim.x + threadIdx.x) * 8;
    if (idx >= n) return;
    Vec8 x = load8(inp + idx);
    for (int k = 0; k < 8; k++) x.v[k] = gelu(x.v[k]);
    store8(out + idx, x);
}

// d += s, rounded to the nearest bf16 once: the classifier's wte gradient, summed over its row chunks in fp32
// (CudaBackend.Classifier.cs), joins the bf16 gradient here.
extern "C" __global__ void add_float_to_bf16(bf16* d, const float* s, long n)
{
    long idx = ((long)blockIdx.x * blockDim.x + threadIdx.x) * 8;
    if (idx >= n) return;
    Vec8 x = load8(d + idx);
    for (int k = 0; k < 8; k++) x.v[k] += s[idx + k];
    store8(d + idx, x);
}
