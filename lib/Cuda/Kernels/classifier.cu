// Softmax cross-entropy over the first V of Vp logit columns, one block per (b,t) row.
// The forward pass stores only the loss and the row's log-sum-exp; the backward pass overwrites the
// logits in place with (softmax - onehot) * dloss (pad columns get 0), so probabilities are never stored.
// classifier_forward_backward does both in one launch for a training micro-step and leaves the gradient unscaled;
// the two matmuls that consume it apply dloss as their alpha.

// One 8-column chunk (the first `valid` of them real) into a thread's running max m and sum s of exp(x - m). The
// explicit roundings keep the compiler from fusing these steps differently in different kernels, so every kernel
// using it gets bitwise the same loss and log-sum-exp.
__device__ __forceinline__ void softmax_chunk(float& m, float& s, const Vec8& v, int valid)
{
    float cm = m;
    for (int k = 0; k < 8; k++) if (k < valid) cm = fmaxf(cm, v.v[k]);
    s = __fmul_rn(s, __expf(m - cm));
    for (int k = 0; k < 8; k++) if (k < valid) s = __fadd_rn(s, __expf(v.v[k] - cm));
    m = cm;
}

extern "C" __global__ void classifier_forward(float* losses, float* lse, const bf16* logits, const int* targets, int V, int Vp)
{
    __shared__ float scratch[32];
    int row = blockIdx.x;
    const bf16* x = logits + (long)row * Vp;
    float m = -LLM_FLT_MAX, s = 0.0f;
    for (int c = threadIdx.x * 8; c < V; c += blockDim.x * 8) softmax_chunk(m, s, load8(x + c), V - c);
    float rowMax = block_max(m, scratch);
    float sum = block_sum(s * __expf(m - rowMax), scratch);
    if (threadIdx.x == 0)
    {
        float l = rowMax + __logf(sum);
        lse[row] = l;
        losses[row] = l - bf2f(x[targets[row]]);
    }
}

extern "C" __global__ void classifier_backward(bf16* logits, const float* lse, const int* targets, float dloss, int V, int Vp)
{
    int row = blockIdx.x;
    bf16* x = logits + (long)row * Vp;
    float l = lse[row];
    int target = targets[row];
    for (int c = threadIdx.x * 8; c < Vp; c += blockDim.x * 8)
    {
        Vec8 v = load8(x + c);
        for (int k = 0; k < 8; k++)
        {
            int col = c + k;
            v.v[k] = col < V ? (__expf(v.v[k] - l) - (col == target ? 1.0f : 0.0f)) * dloss : 0.0f;
        }
        store8(x + c, v);
    }
}

// Loss, log-sum-exp and the unscaled gradient (softmax - onehot) in place of the logits, pad columns 0.
// The row is read from global memory once: the first pass keeps a copy in shared memory (Vp bf16 values of
// dynamic shared memory, 100,608 bytes for GPT-2's 50,304 columns, so two blocks fit on an H100/H200
// multiprocessor) and the second pass computes the gradient from that copy. The first pass's arithmetic is
// classifier_forward's (softmax_chunk), so loss and lse are bitwise the same as that kernel's.
extern "C" __global__ void classifier_forward_backward(bf16* logits, float* losses, float* lse, const int* targets, int V, int Vp)
{
    __shared__ float scratch[32];
    extern __shared__ __align__(16) bf16 row_copy[];
    int row = blockIdx.x;
    bf16* x = logits + (long)row * Vp;
    int target = targets[row];
    float m = -LLM_FLT_MAX, s = 0.0f;
    // Four 16-byte loads in flight per thread before any is used (the row is read from HBM only here).
    const int stride = blockDim.x * 8;
    for (int c0 = threadIdx.x * 8; c0 < Vp; c0 += 4 * stride)
    {
        uint4 raw[4];
#pragma unroll
        for (int u = 0; u < 4; u++)
            if (c0 + u * stride < Vp) raw[u] = *reinterpret_cast<const uint4*>(x + c0 + u * stride);
#pragma unroll
        for (int u = 0; u < 4; u++)
        {
            int c = c0 + u * stride;
            if (c >= Vp) break;
            *reinterpret_cast<uint4*>(row_copy + c) = raw[u];
            if (c < V) softmax_chunk(m, s, load8(row_copy + c), V - c);
        }
    }
    float rowMax = block_max(m, scratch); // also makes the whole row copy visible to every thread
    float sum = block_sum(s * __expf(m - rowMax), scratch);
    float l = rowMax + __logf(sum);
    if (threadIdx.x == 0)
    {
        lse[row] = l;
        losses[row] = l - bf2f(row_copy[target]);
    }
    for (int c = threadIdx.x * 8; c < Vp; c += blockDim.x * 8)
    {
        Vec8 v = load8(row_copy + c);
        for (int k = 0; k < 8; k++)
        {
            int col = c + k;
            v.v[k] = col < V ? __expf(v.v[k] - l) - (col == target ? 1.0f : 0.0f) : 0.0f;
        }
        store8(x + c, v);
    }
}
