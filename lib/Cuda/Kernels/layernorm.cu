// LayerNorm over rows of C channels (C a multiple of 8), one warp per row, fp32 statistics.

// With in2 == nullptr: normed = LN(in1). Otherwise residual = in1 + in2 (rounded to bf16) is written and
// normed = LN(residual), the fused residual-add that joins one block's output to the next LayerNorm.
// mean/rstd may be nullptr (recompute in backward needs only the normed output).
extern "C" __global__ void layernorm_forward(bf16* residual, bf16* normed, float* mean, float* rstd,
                                             const bf16* in1, const bf16* in2, const bf16* weight, const bf16* bias, int N, int C)
{
    int warpsPerBlock = blockDim.x >> 5, lane = threadIdx.x & 31;
    int row = blockIdx.x * warpsPerBlock + (threadIdx.x >> 5);
    if (row >= N) return;
    const bf16* x = in1 + (long)row * C;
    const bf16* src = x;
    float sum = 0.0f;
    if (in2 != nullptr)
    {
        const bf16* y = in2 + (long)row * C;
        bf16* r = residual + (long)row * C;
        for (int c = lane * 8; c < C; c += 256)
        {
            Vec8 a = load8(x + c), b = load8(y + c);
            for (int k = 0; k < 8; k++) a.v[k] = bf2f(f2bf(a.v[k] + b.v[k]));
            store8(r + c, a);
            for (int k = 0; k < 8; k++) sum += a.v[k];
        }
        src = r; // each lane re-reads only the chunks it wrote itself
    }
    else
    {
        for (int c = lane * 8; c < C; c += 256)
        {
            Vec8 a = load8(x + c);
            for (int k = 0; k < 8; k++) sum += a.v[k];
        }
    }
    float m = warp_sum(sum) / C;
    float var = 0.0f;
    for (int c = lane * 8; c < C; c += 256)
    {
        Vec8 a = load8(src + c);
        for (int k = 0; k < 8; k++) { float d = a.v[k] - m; var += d * d; }
    }
    float s = rsqrtf(warp_sum(var) / C + 1e-5f);
    bf16* o = normed + (long)row * C;
    for (int c = lane * 8; c < C; c += 256)
    {
        Vec8 a = load8(src + c), w = load8(weight + c), b = load8(bias + c);
        for (int k = 0; k < 8; k++) a.v[k] = (a.v[k] - m) * s * w.v[k] + b.v[k];
        store8(o + c, a);
    }
    if (lane == 0 && mean != nullptr) { mean[row] = m; rstd[row] = s; }
}

// dinp += the input gradient of LN for each row (one warp per row).
extern "C" __global__ void layernorm_backward_dinp(bf16* dinp, const bf16* dout, const bf16* inp, const float* mean, const float* rstd,
                                                   const bf16* weight, int N, int C)
{
    int warpsPerBlock = blockDim.x >> 5, lane = threadIdx.x & 31;
    int row = blockIdx.x * warpsPerBlock + (threadIdx.x >> 5);
    if (row >= N) return;
    const bf16* x = inp + (long)row * C;
    const bf16* g = dout + (long)row * C;
    float m = mean[row], s = rstd[row];
    float dsum = 0.0f, dnsum = 0.0f;
    for (int c = lane * 8; c < C; c += 256)
    {
        Vec8 a = load8(x + c), d = load8(g + c), w = load8(weight + c);
        for (int k = 0; k < 8; k++)
        {
            float dn = w.v[k] * d.v[k];
            dsum += dn;
            dnsum += dn * (a.v[k] - m) * s;
        }
    }
    dsum = warp_sum(dsum) / C;
    dnsum = warp_sum(dnsum) / C;
    bf16* di = dinp + (long)row * C;
    for (int c = lane * 8; c < C; c += 256)
    {
        Vec8 a = load8(x + c), d = load8(g + c), w = load8(weight + c), acc = load8(di + c);
        for (int k = 0; k < 8; k++)
        {
            float norm = (a.v[k] - m) * s;
            acc.v[k] += s * (w.v[k] * d.v[k] - dsum - norm * dnsum);
        }
        store8(di + c, acc);
    }
}

// Column reductions over N rows in two deterministic stages. Stage 1: block (32, 8) covers 64 columns (two
// adjacent bf16 per thread, so a warp reads 128 contiguous bytes of a row) and one slice of rows;
// partial[(split*planes + p)*C + c]. With inp == nullptr it sums dout (a bias gradient, 1 plane);
// otherwise it sums dout*norm and dout (LN weight and bias gradients, 2 planes). C must be even.
extern "C" __global__ void column_partial_sums(float* partial, const bf16* dout, const bf16* inp, const float* mean, const float* rstd,
                                               int N, int C, int rowsPerSplit)
{
    __shared__ float sw[8][65];
    __shared__ float sb[8][65];
    int c = blockIdx.x * 64 + threadIdx.x * 2;
    int split = blockIdx.y;
    int begin = split * rowsPerSplit;
    int end = min(N, begin + rowsPerSplit);
    float w0 = 0.0f, w1 = 0.0f, b0 = 0.0f, b1 = 0.0f;
    if (c < C)
    {
#pragma unroll 4
        for (int r = begin + threadIdx.y; r < end; r += 8)
        {
            unsigned int d = *reinterpret_cast<const unsigned int*>(dout + (long)r * C + c);
            float d0 = lo2f(d), d1 = hi2f(d);
            b0 += d0;
            b1 += d1;
            if (inp != nullptr)
            {
                unsigned int x = *reinterpret_cast<const unsigned int*>(inp + (long)r * C + c);
                float m = mean[r], s = rstd[r];
                w0 += d0 * (lo2f(x) - m) * s;
                w1 += d1 * (hi2f(x) - m) * s;
            }
        }
    }
    sw[threadIdx.y][threadIdx.x * 2] = w0;
    sw[threadIdx.y][threadIdx.x * 2 + 1] = w1;
    sb[threadIdx.y][threadIdx.x * 2] = b0;
    sb[threadIdx.y][threadIdx.x * 2 + 1] = b1;
    __syncthreads();
    // 256 threads finish 64 columns x 2 planes: thread (x, y) with y < 2 sums its column over the 8 row groups
    int col = threadIdx.x + (threadIdx.y & 1) * 32, cc = blockIdx.x * 64 + col;
    if (threadIdx.y < 2 && cc < C)
    {
        float w = 0.0f, b = 0.0f;
        for (int k = 0; k < 8; k++) { w += sw[k][col]; b += sb[k][col]; }
        if (inp != nullptr)
        {
            partial[((long)split * 2 + 0) * C + cc] = w;
            partial[((long)split * 2 + 1) * C + cc] = b;
        }
        else partial[(long)split * C + cc] = b;
    }
}

// Stage 2: sums the splits in order and accumulates into the bf16 gradients (dweight may be nullptr for a bias).
extern "C" __global__ void column_finish(bf16* dweight, bf16* dbias, const float* partial, int splits, int C)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    int planes = dweight != nullptr ? 2 : 1;
    float w = 0.0f, b = 0.0f;
    for (int s = 0; s < splits; s++)
    {
        if (planes == 2) w += partial[((long)s * 2 + 0) * C + c];
        b += partial[((long)s * planes + planes - 1) * C + c];
    }
    if (dweight != nullptr) dweight[c] = f2bf(bf2f(dweight[c]) + w);
    dbias[c] = f2bf(bf2f(dbias[c]) + b);
}
