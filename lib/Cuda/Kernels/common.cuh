// Shared helpers for every kernel. bf16 values are handled as raw 16-bit patterns so that the source
// needs no toolkit headers: widening is a shift, narrowing is round-to-nearest-even (or stochastic).
typedef unsigned short bf16;

#define LLM_FLT_MAX 3.402823466e+38f

__device__ __forceinline__ float bf2f(bf16 h) { return __uint_as_float(((unsigned int)h) << 16); }
__device__ __forceinline__ float lo2f(unsigned int w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float hi2f(unsigned int w) { return __uint_as_float(w & 0xffff0000u); }

__device__ __forceinline__ bf16 f2bf(float f)
{
    unsigned int b = __float_as_uint(f);
    if ((b & 0x7fffffffu) > 0x7f800000u) return (bf16)((b >> 16) | 0x40u); // NaN stays NaN
    b += 0x7fffu + ((b >> 16) & 1u);
    return (bf16)(b >> 16);
}

// Two floats to a packed bf16 pair (lo in the low half), round-to-nearest-even. sm_80+ does it in one instruction
// (the same rounding as f2bf for every non-NaN value); the integer version costs about six per value, which
// dominated the attention kernels' instruction count.
__device__ __forceinline__ unsigned int pack2(float lo, float hi)
{
#if __CUDA_ARCH__ >= 800
    unsigned int r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
#else
    return (unsigned int)f2bf(lo) | ((unsigned int)f2bf(hi) << 16);
#endif
}

// Eight bf16 values loaded or stored with one 16-byte access.
struct Vec8 { float v[8]; };

__device__ __forceinline__ Vec8 load8(const bf16* p)
{
    uint4 r = *reinterpret_cast<const uint4*>(p);
    Vec8 o;
    o.v[0] = lo2f(r.x); o.v[1] = hi2f(r.x); o.v[2] = lo2f(r.y); o.v[3] = hi2f(r.y);
    o.v[4] = lo2f(r.z); o.v[5] = hi2f(r.z); o.v[6] = lo2f(r.w); o.v[7] = hi2f(r.w);
    return o;
}

__device__ __forceinline__ void store8(bf16* p, const Vec8& o)
{
    uint4 r;
    r.x = pack2(o.v[0], o.v[1]); r.y = pack2(o.v[2], o.v[3]);
    r.z = pack2(o.v[4], o.v[5]); r.w = pack2(o.v[6], o.v[7]);
    *reinterpret_cast<uint4*>(p) = r;
}

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024), in a fixed order, returned to every thread.
__device__ __forceinline__ float block_sum(float v, float* scratch32)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch32[warp] = v;
    __syncthreads();
    float r = lane < warps ? scratch32[lane] : 0.0f;
    return warp_sum(r);
}

__device__ __forceinline__ float block_max(float v, float* scratch32)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch32[warp] = v;
    __syncthreads();
    float r = lane < warps ? scratch32[lane] : -LLM_FLT_MAX;
    return warp_max(r);
}

// SquirrelNoise5 hash: a position and a seed to 32 well-mixed bits.
__device__ __forceinline__ unsigned int squirrel_noise5(unsigned int position, unsigned int seed)
{
    unsigned int bits = position;
    bits *= 0xd2a80a3fu;
    bits += seed;
    bits ^= (bits >> 9);
    bits += 0xa884f197u;
    bits ^= (bits >> 11);
    bits *= 0x6C736F4Bu;
    bits ^= (bits >> 13);
    bits += 0xB79F3ABBu;
    bits ^= (bits >> 15);
    bits *= 0x1b56c4f5u;
    bits ^= (bits >> 17);
    return bits;
}

// Rounds up with probability (low 16 bits)/65536: set the dropped bits to all ones or all zeros, then round to nearest.
__device__ __forceinline__ bf16 stochastic_round(float x, unsigned int random)
{
    unsigned int bits = __float_as_uint(x);
    bits = ((bits & 0xffffu) > (random & 0xffffu)) ? (bits | 0xffffu) : (bits & ~0xffffu);
    return f2bf(__uint_as_float(bits));
}
