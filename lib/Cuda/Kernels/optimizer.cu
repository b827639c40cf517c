// AdamW with fp32 moments and fp32 master weights, bf16 parameters written with stochastic rounding,
// and the deterministic squared-norm reduction used for gradient clipping.

extern "C" __global__ void adamw_update(bf16* params, float* master, const bf16* grads, float* m, float* v, long n,
                                        float lr, float beta1, float beta2, float beta1Correction, float beta2Correction,
                                        float eps, float weightDecay, float gradScale, unsigned int seed)
{
    long idx = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= n) return;
    float g = gradScale * bf2f(grads[idx]);
    float mm = beta1 * m[idx] + (1.0f - beta1) * g;
    float vv = beta2 * v[idx] + (1.0f - beta2) * g * g;
    m[idx] = mm;
    v[idx] = vv;
    float mh = mm / beta1Correction, vh = vv / beta2Correction;
    float old = master != nullptr ? master[idx] : bf2f(params[idx]);
    float p = old - lr * (mh / (sqrtf(vh) + eps) + weightDecay * old);
    unsigned int r = squirrel_noise5(threadIdx.x + 198491317u * (blockIdx.x * blockDim.x + blockIdx.y), seed);
    params[idx] = stochastic_round(p, r);
    if (master != nullptr) master[idx] = p;
}

// partial[block] = sum of squares of a fixed, grid-strided share of g; the host adds the partials in order.
extern "C" __global__ void norm_squared_partial(float* partial, const bf16* g, long n)
{
    __shared__ float scratch[32];
    float s = 0.0f;
    long stride = (long)gridDim.x * blockDim.x * 8;
    for (long i = ((long)blockIdx.x * blockDim.x + threadIdx.x) * 8; i < n; i += stride)
    {
        Vec8 v = load8(g + i);
        for (int k = 0; k < 8; k++) s += v.v[k] * v.v[k];
    }
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}
