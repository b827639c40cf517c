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

// One block per distinct token: dwte[token,:] += the dout rows of every position holding it, summed in a
// fixed (ascending position) order, so the result never depends on scheduling.
extern "C" __global__ void wte_backward(bf16* dwte, const bf16* dout, const int* bucketToken, const int* bucketStart,
                                        const int* positions, int C, unsigned int seed)
{
    int bucket = blockIdx.x;
    int token = bucketToken[bucket], begin = bucketStart[bucket], end = bucketStart[bucket + 1];
    for (int c = threadIdx.x; c < C; c += blockDim.x)
    {
        float acc = 0.0f;
#pragma unroll 8
        for (int i = begin; i < end; i++) acc += bf2f(dout[(long)positions[i] * C + c]);
        long o = (long)token * C + c;
        dwte[o] = stochastic_round(bf2f(dwte[o]) + acc, squirrel_noise5((unsigned int)o, seed));
    }
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

// d = d * gelu'(inp), in place.
extern "C" __global__ void gelu_backward_inplace(bf16* d, const bf16* inp, long n)
{
    long idx = ((long)blockIdx.x * blockDim.x + threadIdx.x) * 8;
    if (idx >= n) return;
    Vec8 x = load8(inp + idx);
    Vec8 g = load8(d + idx);
    for (int k = 0; k < 8; k++) g.v[k] *= gelu_grad(x.v[k]);
    store8(d + idx, g);
}

// a += b elementwise (bf16, rounded to nearest).
extern "C" __global__ void add_inplace(bf16* a, const bf16* b, long n)
{
    long idx = ((long)blockIdx.x * blockDim.x + threadIdx.x) * 8;
    if (idx >= n) return;
    Vec8 x = load8(a + idx);
    Vec8 y = load8(b + idx);
    for (int k = 0; k < 8; k++) x.v[k] += y.v[k];
    store8(a + idx, x);
}
