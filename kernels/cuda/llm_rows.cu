// Row-wise and element-wise LLM kernels (kernels/llm_ops.h): embedding lookup and its scatter-add,
// RMSNorm forward/backward, RoPE, SwiGLU. bf16 in and out, fp32 inside.
//
// Column sums over tokens (embedding rows, RMSNorm's weight gradient) give each column to one thread,
// which adds the tokens in index order: no float atomics, so the result is reproducible and, for the
// embedding, the very sums the CPU forms.
#include "kernels/cuda/llm.cuh"
#include "kernels/cuda/reduce.cuh"

namespace {

constexpr unsigned kThreads = 256;
constexpr unsigned kMaxBlocks = 1024;
constexpr unsigned kRowsPerBlock = 4;  // RMSNorm: one warp per row, four warps per block
constexpr unsigned kColThreads = 128;

__global__ void __launch_bounds__(kThreads) embedding_fwd_kernel(bf16 *out, const int32_t *ids, const bf16 *base,
                                                                 const bf16 *extra, int V0, int V1, int N, int C) {
    size_t total = (size_t)N * C;
    for (size_t i = grid_first(); i < total; i += grid_stride()) {
        size_t n = i / C, col = i % C;
        int id = ids[n];
        float v = NAN;
        if (id >= 0 && id < V0)
            v = to_float(base[(size_t)id * C + col]);
        else if (id >= V0 && id - V0 < V1)
            v = to_float(extra[(size_t)(id - V0) * C + col]);
        out[i] = from_float<bf16>(v);
    }
}

__global__ void __launch_bounds__(kColThreads) embedding_bwd_kernel(float *dbase, float *dextra, const bf16 *dout,
                                                                    const int32_t *ids, int V0, int V1, int N, int C) {
    for (size_t col = grid_first(); col < (size_t)C; col += grid_stride())
        for (int n = 0; n < N; n++) {
            int id = ids[n];
            float *row = nullptr;
            if (id >= 0 && id < V0)
                row = dbase ? dbase + (size_t)id * C : nullptr;
            else if (id >= V0 && id - V0 < V1)
                row = dextra ? dextra + (size_t)(id - V0) * C : nullptr;
            if (row) row[col] += to_float(dout[(size_t)n * C + col]);
        }
}

__global__ void __launch_bounds__(kThreads) rows_gather_kernel(bf16 *out, const bf16 *x, const int32_t *rows, int n,
                                                              int C) {
    size_t total = (size_t)n * C;
    for (size_t i = grid_first(); i < total; i += grid_stride()) out[i] = x[(size_t)rows[i / C] * C + i % C];
}

// Rows are distinct, so every element has one writer.
__global__ void __launch_bounds__(kThreads) rows_scatter_add_kernel(bf16 *x, const bf16 *src, const int32_t *rows,
                                                                   int n, int C) {
    size_t total = (size_t)n * C;
    for (size_t i = grid_first(); i < total; i += grid_stride()) {
        bf16 *to = x + (size_t)rows[i / C] * C + i % C;
        *to = from_float<bf16>(to_float(*to) + to_float(src[i]));
    }
}

// Rows of a warp: lane-strided elements, a warp sum, no block barrier. The row index is the same for
// the whole warp, so a warp past the last row skips the loop as a unit.
__device__ __forceinline__ int warp_row() { return blockIdx.x * kRowsPerBlock + threadIdx.y; }
__device__ __forceinline__ int warp_row_stride() { return gridDim.x * kRowsPerBlock; }

__global__ void __launch_bounds__(kWarp * kRowsPerBlock)
    rmsnorm_fwd_kernel(bf16 *y, float *rstd, const bf16 *x, const bf16 *w, int N, int C, float eps) {
    for (int n = warp_row(); n < N; n += warp_row_stride()) {
        const bf16 *xr = x + (size_t)n * C;
        float ss = 0;
        for (int i = threadIdx.x; i < C; i += kWarp) {
            float v = to_float(xr[i]);
            ss += v * v;
        }
        float r = rsqrtf(warp_sum(ss) / C + eps);
        for (int i = threadIdx.x; i < C; i += kWarp)
            y[(size_t)n * C + i] = from_float<bf16>(to_float(xr[i]) * r * to_float(w[i]));
        if (threadIdx.x == 0) rstd[n] = r;
    }
}

// dx_i += r·w_i·dy_i − x_i·r³/C · Σ_j w_j·dy_j·x_j (the derivative of x_i·r·w_i).
__global__ void __launch_bounds__(kWarp * kRowsPerBlock)
    rmsnorm_dx_kernel(bf16 *dx, const bf16 *dy, const bf16 *x, const bf16 *w, const float *rstd, int N, int C) {
    for (int n = warp_row(); n < N; n += warp_row_stride()) {
        size_t o = (size_t)n * C;
        float dot = 0;
        for (int i = threadIdx.x; i < C; i += kWarp) dot += to_float(w[i]) * to_float(dy[o + i]) * to_float(x[o + i]);
        float r = rstd[n], c = warp_sum(dot) * r * r * r / C;
        for (int i = threadIdx.x; i < C; i += kWarp)
            dx[o + i] = from_float<bf16>(to_float(dx[o + i]) + r * to_float(w[i]) * to_float(dy[o + i]) -
                                         c * to_float(x[o + i]));
    }
}

__global__ void __launch_bounds__(kColThreads)
    rmsnorm_dw_kernel(float *dw, const bf16 *dy, const bf16 *x, const float *rstd, int N, int C) {
    for (size_t i = grid_first(); i < (size_t)C; i += grid_stride()) {
        float s = 0;
        for (int n = 0; n < N; n++) s += to_float(dy[(size_t)n * C + i]) * to_float(x[(size_t)n * C + i]) * rstd[n];
        dw[i] += s;
    }
}

// One thread per rotated pair (i, i + D/2), so the in-place update reads both before writing.
__global__ void __launch_bounds__(kThreads)
    rope_kernel(bf16 *x, const float *cos_t, const float *sin_t, int N, int nh, int D, float sgn) {
    int half = D / 2;
    size_t pairs = (size_t)N * nh * half;
    for (size_t p = grid_first(); p < pairs; p += grid_stride()) {
        size_t n = p / ((size_t)nh * half), rest = p % ((size_t)nh * half);
        size_t h = rest / half, i = rest % half;
        bf16 *v = x + (n * nh + h) * D;
        float a = to_float(v[i]), b = to_float(v[i + half]);
        float c = cos_t[n * half + i], s = sgn * sin_t[n * half + i];
        v[i] = from_float<bf16>(a * c - b * s);
        v[i + half] = from_float<bf16>(b * c + a * s);
    }
}

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

__global__ void __launch_bounds__(kThreads) swiglu_fwd_kernel(bf16 *out, const bf16 *gate, const bf16 *up, size_t n) {
    for (size_t i = grid_first(); i < n; i += grid_stride()) {
        float g = to_float(gate[i]);
        out[i] = from_float<bf16>(g * sigmoid(g) * to_float(up[i]));
    }
}

__global__ void __launch_bounds__(kThreads)
    swiglu_bwd_kernel(bf16 *dgate, bf16 *dup, const bf16 *dout, const bf16 *gate, const bf16 *up, size_t n) {
    for (size_t i = grid_first(); i < n; i += grid_stride()) {
        float g = to_float(gate[i]), s = sigmoid(g), d = to_float(dout[i]);
        dgate[i] = from_float<bf16>(to_float(dgate[i]) + d * to_float(up[i]) * s * (1 + g * (1 - s)));
        dup[i] = from_float<bf16>(to_float(dup[i]) + d * g * s);
    }
}

unsigned row_blocks(int N) { return grid_blocks((size_t)N, kRowsPerBlock, kMaxBlocks); }

}  // namespace

extern "C" int agir_cuda_embedding_fwd(const agir_ctx *c, agir_bf16 *out, const int32_t *ids, const agir_bf16 *base,
                                       const agir_bf16 *extra, int V0, int V1, int N, int C, agir_err *e) {
    AGIR_LAUNCH(e, embedding_fwd_kernel, grid_blocks((size_t)N * C, kThreads, kMaxBlocks), kThreads, 0, stream_of(c),
                as_bf16(out), ids, as_bf16(base), as_bf16(extra), V0, V1, N, C);
    return AGIR_OK;
}

extern "C" int agir_cuda_embedding_bwd(const agir_ctx *c, float *dbase, float *dextra, const agir_bf16 *dout,
                                       const int32_t *ids, int V0, int V1, int N, int C, agir_err *e) {
    AGIR_LAUNCH(e, embedding_bwd_kernel, grid_blocks((size_t)C, kColThreads, kMaxBlocks), kColThreads, 0, stream_of(c),
                dbase, dextra, as_bf16(dout), ids, V0, V1, N, C);
    return AGIR_OK;
}

extern "C" int agir_cuda_rows_gather(const agir_ctx *c, agir_bf16 *out, const agir_bf16 *x, const int32_t *rows, int n,
                                     int C, agir_err *e) {
    AGIR_LAUNCH(e, rows_gather_kernel, grid_blocks((size_t)n * C, kThreads, kMaxBlocks), kThreads, 0, stream_of(c),
                as_bf16(out), as_bf16(x), rows, n, C);
    return AGIR_OK;
}

extern "C" int agir_cuda_rows_scatter_add(const agir_ctx *c, agir_bf16 *x, const agir_bf16 *src, const int32_t *rows,
                                          int n, int C, agir_err *e) {
    AGIR_LAUNCH(e, rows_scatter_add_kernel, grid_blocks((size_t)n * C, kThreads, kMaxBlocks), kThreads, 0,
                stream_of(c), as_bf16(x), as_bf16(src), rows, n, C);
    return AGIR_OK;
}

extern "C" int agir_cuda_rmsnorm_fwd(const agir_ctx *c, agir_bf16 *y, float *rstd, const agir_bf16 *x,
                                     const agir_bf16 *w, int N, int C, float eps, agir_err *e) {
    AGIR_LAUNCH(e, rmsnorm_fwd_kernel, row_blocks(N), dim3(kWarp, kRowsPerBlock), 0, stream_of(c), as_bf16(y), rstd,
                as_bf16(x), as_bf16(w), N, C, eps);
    return AGIR_OK;
}

extern "C" int agir_cuda_rmsnorm_bwd(const agir_ctx *c, agir_bf16 *dx, float *dw, const agir_bf16 *dy,
                                     const agir_bf16 *x, const agir_bf16 *w, const float *rstd, int N, int C,
                                     agir_err *e) {
    if (dx)
        AGIR_LAUNCH(e, rmsnorm_dx_kernel, row_blocks(N), dim3(kWarp, kRowsPerBlock), 0, stream_of(c), as_bf16(dx),
                    as_bf16(dy), as_bf16(x), as_bf16(w), rstd, N, C);
    if (dw)
        AGIR_LAUNCH(e, rmsnorm_dw_kernel, grid_blocks((size_t)C, kColThreads, kMaxBlocks), kColThreads, 0,
                    stream_of(c), dw, as_bf16(dy), as_bf16(x), rstd, N, C);
    return AGIR_OK;
}

extern "C" int agir_cuda_rope(const agir_ctx *c, agir_bf16 *x, const float *cos_t, const float *sin_t, int N, int nh,
                              int D, int inverse, agir_err *e) {
    AGIR_LAUNCH(e, rope_kernel, grid_blocks((size_t)N * nh * (D / 2), kThreads, kMaxBlocks), kThreads, 0,
                stream_of(c), as_bf16(x), cos_t, sin_t, N, nh, D, inverse ? -1.0f : 1.0f);
    return AGIR_OK;
}

extern "C" int agir_cuda_swiglu_fwd(const agir_ctx *c, agir_bf16 *out, const agir_bf16 *gate, const agir_bf16 *up,
                                    size_t n, agir_err *e) {
    AGIR_LAUNCH(e, swiglu_fwd_kernel, grid_blocks(n, kThreads, kMaxBlocks), kThreads, 0, stream_of(c), as_bf16(out),
                as_bf16(gate), as_bf16(up), n);
    return AGIR_OK;
}

extern "C" int agir_cuda_swiglu_bwd(const agir_ctx *c, agir_bf16 *dgate, agir_bf16 *dup, const agir_bf16 *dout,
                                    const agir_bf16 *gate, const agir_bf16 *up, size_t n, agir_err *e) {
    AGIR_LAUNCH(e, swiglu_bwd_kernel, grid_blocks(n, kThreads, kMaxBlocks), kThreads, 0, stream_of(c), as_bf16(dgate),
                as_bf16(dup), as_bf16(dout), as_bf16(gate), as_bf16(up), n);
    return AGIR_OK;
}
