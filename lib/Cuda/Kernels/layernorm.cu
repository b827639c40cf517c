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

// LN backward, fused: dinp += the input gradient of each row (one warp per row) and, in the same pass over dout
// and inp, the block's column sums of dout * norm and dout (the weight and bias gradients). Warp w of block b takes
// rows b * 8 + w, then every gridDim.x * 8 rows after it; each warp accumulates its columns (8 per lane, as it
// reads them) in its own shared-memory slice, so nothing is shared and the order is fixed. At the end the block
// adds its 8 slices in warp order into partial[(b * 2 + plane) * C + c] for column_finish.
// Dynamic shared memory: 8 warps x 2 planes x C floats.
extern "C" __global__ void __launch_bounds__(256) layernorm_backward(bf16* dinp, float* partial, const bf16* dout, const bf16* inp,
                                                                     const float* mean, const float* rstd, const bf16* weight, int N, int C)
{
    extern __shared__ float sums[]; // [warp][plane][k][C / 8]: column c8 * 8 + k, so a warp's 32 lanes hit 32 banks
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, C8 = C >> 3;
    float* dw = sums + warp * 2 * C;
    float* db = dw + C;
    for (int i = threadIdx.x; i < 16 * C; i += blockDim.x) sums[i] = 0.0f;
    __syncthreads();
    for (int row = blockIdx.x * 8 + warp; row < N; row += gridDim.x * 8)
    {
        const bf16* x = inp + (long)row * C;
        const bf16* g = dout + (long)row * C;
        float m = mean[row], s = rstd[row];
        float dsum = 0.0f, dnsum = 0.0f;
        for (int c = lane * 8; c < C; c += 256)
        {
            Vec8 a = load8(x + c), d = load8(g + c), w = load8(weight + c);
#pragma unroll
            for (int k = 0; k < 8; k++)
            {
                float norm = (a.v[k] - m) * s, dn = w.v[k] * d.v[k];
                dsum += dn;
                dnsum += dn * norm;
                dw[k * C8 + (c >> 3)] += d.v[k] * norm;
                db[k * C8 + (c >> 3)] += d.v[k];
            }
        }
        dsum = warp_sum(dsum) / C;
        dnsum = warp_sum(dnsum) / C;
        bf16* di = dinp + (long)row * C;
        for (int c = lane * 8; c < C; c += 256)
        {
            Vec8 a = load8(x + c), d = load8(g + c), w = load8(weight + c), acc = load8(di + c);
#pragma unroll
            for (int k = 0; k < 8; k++)
            {
                float norm = (a.v[k] - m) * s;
                acc.v[k] += s * (w.v[k] * d.v[k] - dsum - norm * dnsum);
            }
            store8(di + c, acc);
        }
    }
    __syncthreads();
    for (int c = threadIdx.x; c < C; c += blockDim.x)
    {
        int at = (c & 7) * C8 + (c >> 3);
        float w = 0.0f, b = 0.0f;
        for (int k = 0; k < 8; k++)
        {
            w += sums[k * 2 * C + at];
            b += sums[k * 2 * C + C + at];
        }
        partial[((long)blockIdx.x * 2 + 0) * C + c] = w;
        partial[((long)blockIdx.x * 2 + 1) * C + c] = b;
    }
}

// Bias gradients in two deterministic stages. Stage 1: block (32, 8) covers 256 columns (8 adjacent bf16 per lane,
// so a warp reads 512 contiguous bytes of a row) of one slice of rows; partial[split * C + c]. C must be a multiple
// of 8.
extern "C" __global__ void __launch_bounds__(256) bias_partial_sums(float* partial, const bf16* dout, int N, int C, int rowsPerSplit)
{
    __shared__ float sb[8][256];
    int c = blockIdx.x * 256 + threadIdx.x * 8;
    int begin = blockIdx.y * rowsPerSplit, end = min(N, begin + rowsPerSplit);
    float b[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
    if (c < C)
    {
#pragma unroll 4
        for (int r = begin + threadIdx.y; r < end; r += 8)
        {
            Vec8 d = load8(dout + (long)r * C + c);
#pragma unroll
            for (int k = 0; k < 8; k++) b[k] += d.v[k];
        }
    }
#pragma unroll
    for (int k = 0; k < 8; k++) sb[threadIdx.y][threadIdx.x * 8 + k] = b[k];
    __syncthreads();
    int t = threadIdx.y * 32 + threadIdx.x, cc = blockIdx.x * 256 + t;
    if (cc < C)
    {
        float sum = 0.0f;
        for (int k = 0; k < 8; k++) sum += sb[k][t];
        partial[(long)blockIdx.y * C + cc] = sum;
    }
}

// The fc layer's backward with GELU unfused (-ge 0 or 1), in one pass over its (N,C) gradient d: d *= gelu'(inp) in
// place, the column sums of the stored (bf16-rounded) result as bias_partial_sums would take them, and, with -r 1 or 2
// (geluOut not null), gelu(inp) again for fcproj's weight gradient. Separately these are three kernels that read d or
// inp four times (llm.c llmc/gelu.cuh gelu_forward_kernel2 and gelu_backward_inplace_kernel, then llmc/matmul.cuh
// matmul_backward_bias_kernel9); here each is read once. Same block shape, row slices and summation order as bias_partial_sums.
extern "C" __global__ void __launch_bounds__(256) gelu_backward_bias_partials(float* partial, bf16* d, const bf16* inp, bf16* geluOut, int N, int C, int rowsPerSplit)
{
    __shared__ float sb[8][256];
    int c = blockIdx.x * 256 + threadIdx.x * 8;
    int begin = blockIdx.y * rowsPerSplit, end = min(N, begin + rowsPerSplit);
    float b[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
    if (c < C)
    {
#pragma unroll 4
        for (int r = begin + threadIdx.y; r < end; r += 8)
        {
            long at = (long)r * C + c;
            Vec8 x = load8(inp + at);
            Vec8 g = load8(d + at);
#pragma unroll
            for (int k = 0; k < 8; k++) g.v[k] *= gelu_grad(x.v[k]);
            store8(d + at, g);
#pragma unroll
            for (int k = 0; k < 8; k++) b[k] += bf2f(f2bf(g.v[k]));
            if (geluOut != nullptr)
            {
#pragma unroll
                for (int k = 0; k < 8; k++) x.v[k] = gelu(x.v[k]);
                store8(geluOut + at, x);
            }
        }
    }
#pragma unroll
    for (int k = 0; k < 8; k++) sb[threadIdx.y][threadIdx.x * 8 + k] = b[k];
    __syncthreads();
    int t = threadIdx.y * 32 + threadIdx.x, cc = blockIdx.x * 256 + t;
    if (cc < C)
    {
        float sum = 0.0f;
        for (int k = 0; k < 8; k++) sum += sb[k][t];
        partial[(long)blockIdx.y * C + cc] = sum;
    }
}

// Stage 2: sums the splits and accumulates into the bf16 gradients (dweight may be nullptr for a bias). Block (32, 8)
// finishes 32 columns: thread (x, y) adds splits y, y + 8, ... of column x (32 adjacent columns per load), then the
// 8 partial sums of a column are added in y order, so the result never depends on scheduling.
extern "C" __global__ void __launch_bounds__(256) column_finish(bf16* dweight, bf16* dbias, const float* partial, int splits, int C)
{
    __shared__ float sw[8][33], sb[8][33];
    int c = blockIdx.x * 32 + threadIdx.x;
    int planes = dweight != nullptr ? 2 : 1;
    float w = 0.0f, b = 0.0f;
    if (c < C)
        for (int s = threadIdx.y; s < splits; s += 8)
        {
            if (planes == 2) w += partial[((long)s * 2 + 0) * C + c];
            b += partial[((long)s * planes + planes - 1) * C + c];
        }
    sw[threadIdx.y][threadIdx.x] = w;
    sb[threadIdx.y][threadIdx.x] = b;
    __syncthreads();
    if (threadIdx.y == 0 && c < C)
    {
        w = 0.0f;
        b = 0.0f;
        for (int k = 0; k < 8; k++) { w += sw[k][threadIdx.x]; b += sb[k][threadIdx.x]; }
        if (dweight != nullptr) dweight[c] = f2bf(bf2f(dweight[c]) + w);
        dbias[c] = f2bf(bf2f(dbias[c]) + b);
    }
}
