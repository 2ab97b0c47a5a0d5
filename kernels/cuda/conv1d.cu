// 1-D convolution on the GPU (kernels/vq_ops.h, agir_op_conv1d_fwd/bwd): the CPU kernel's
// im2col + one GEMM per product (kernels/cpu/conv1d.c), with the GEMMs in cuBLAS and the glue here:
// im2col, col2im, bias broadcast and the bias-gradient reduction.
//
// Every kernel here is deterministic: col2im gathers each input element's taps in a fixed order (no
// atomics), and the bias gradient sums rows in an order fixed by the block shape. col2im and the
// bias broadcast add in the CPU kernel's order, so on equal GEMM results they agree bit for bit.
#include "kernels/cuda/blas.cuh"

namespace {

constexpr unsigned kThreads = 256;
constexpr unsigned kMaxBlocks = 1024;  // grid-stride beyond this

// The geometry the kernels need, passed by value.
struct geom {
    int B, T_in, C_in, C_out, K, stride, dilation, pad, T_out;
};

geom make_geom(const agir_conv1d_shape *s) {
    return geom{s->B, s->T_in, s->C_in, s->C_out, s->K, s->stride, s->dilation, s->pad, agir_conv1d_t_out(s)};
}

bool is_direct(const geom &g) { return g.K == 1 && g.stride == 1 && g.pad == 0; }

// col[(b, t), k, c] = x[b, t·stride + k·dilation - pad, c], zero outside [0, T_in).
__global__ void __launch_bounds__(kThreads) im2col_kernel(geom g, const float *x, float *col) {
    size_t kc = (size_t)g.K * g.C_in, n = (size_t)g.B * g.T_out * kc;
    for (size_t i = grid_first(); i < n; i += grid_stride()) {
        size_t r = i / kc, j = i % kc;
        int k = (int)(j / g.C_in), c = (int)(j % g.C_in);
        int b = (int)(r / g.T_out), t = (int)(r % g.T_out);
        long ti = (long)t * g.stride + (long)k * g.dilation - g.pad;
        col[i] = ti < 0 || ti >= g.T_in ? 0.0f : x[((size_t)b * g.T_in + (size_t)ti) * g.C_in + c];
    }
}

// dx[b, ti, c] += Σ dcol[(b, t), k, c] over the taps (t, k) with t·stride + k·dilation - pad = ti. One
// thread per element of dx, taps in the CPU kernel's order (t ascending, so k descending).
__global__ void __launch_bounds__(kThreads) col2im_add_kernel(geom g, const float *dcol, float *dx) {
    size_t kc = (size_t)g.K * g.C_in, n = (size_t)g.B * g.T_in * g.C_in;
    for (size_t i = grid_first(); i < n; i += grid_stride()) {
        int c = (int)(i % g.C_in);
        size_t r = i / g.C_in;
        int b = (int)(r / g.T_in), ti = (int)(r % g.T_in);
        float acc = dx[i];
        for (int k = g.K - 1; k >= 0; k--) {
            long num = (long)ti + g.pad - (long)k * g.dilation;
            if (num < 0 || num % g.stride) continue;
            long t = num / g.stride;
            if (t < g.T_out) acc += dcol[((size_t)b * g.T_out + (size_t)t) * kc + (size_t)k * g.C_in + c];
        }
        dx[i] = acc;
    }
}

// y[r, o] = bias[o] for every row: the GEMM then adds onto it (beta = 1), as the CPU kernel does.
__global__ void __launch_bounds__(kThreads) bias_rows_kernel(const float *bias, size_t rows, int C, float *y) {
    size_t n = rows * C;
    for (size_t i = grid_first(); i < n; i += grid_stride()) y[i] = bias[i % C];
}

// dbias[o] += Σ_r dy[r, o]. Block (32, kRowLanes): x picks the channel (coalesced reads of a row),
// y a stripe of rows; the stripes' sums are then added in stripe order. Blocks own channel blocks.
constexpr int kRowLanes = 8;
__global__ void __launch_bounds__(kWarp * kRowLanes)
    bias_grad_kernel(const float *dy, size_t rows, int C, float *dbias) {
    __shared__ float part[kRowLanes][kWarp];
    for (int c0 = blockIdx.x * kWarp; c0 < C; c0 += gridDim.x * kWarp) {
        int o = c0 + (int)threadIdx.x;
        float acc = 0.0f;
        if (o < C)
            for (size_t r = threadIdx.y; r < rows; r += kRowLanes) acc += dy[r * C + o];
        part[threadIdx.y][threadIdx.x] = acc;
        __syncthreads();
        if (threadIdx.y == 0 && o < C) {
            float s = 0.0f;
            for (int j = 0; j < kRowLanes; j++) s += part[j][threadIdx.x];
            dbias[o] += s;
        }
        __syncthreads();  // part is rewritten by the next channel block
    }
}

}  // namespace

extern "C" int agir_cuda_conv1d_fwd(const agir_ctx *ctx, const agir_conv1d_shape *s, const float *x, const float *w,
                                    const float *bias, float *y, float *ws, agir_err *e) {
    cudaStream_t st = static_cast<cudaStream_t>(ctx->stream);
    geom g = make_geom(s);
    size_t rows = (size_t)g.B * g.T_out;
    int kc = g.K * g.C_in;
    const float *col = x;
    if (!is_direct(g)) {
        AGIR_LAUNCH(e, im2col_kernel, grid_blocks(rows * kc, kThreads, kMaxBlocks), kThreads, 0, st, g, x, ws);
        col = ws;
    }
    if (bias)
        AGIR_LAUNCH(e, bias_rows_kernel, grid_blocks(rows * g.C_out, kThreads, kMaxBlocks), kThreads, 0, st, bias,
                    rows, g.C_out, y);
    return gemm_rm(ctx, false, true, (int)rows, g.C_out, kc, col, kc, w, kc, bias ? 1.0f : 0.0f, y, g.C_out, e);
}

extern "C" int agir_cuda_conv1d_bwd(const agir_ctx *ctx, const agir_conv1d_shape *s, const float *x, const float *w,
                                    const float *dy, float *dx, float *dw, float *dbias, float *ws, agir_err *e) {
    cudaStream_t st = static_cast<cudaStream_t>(ctx->stream);
    geom g = make_geom(s);
    size_t rows = (size_t)g.B * g.T_out;
    int kc = g.K * g.C_in;
    bool direct = is_direct(g);
    const float *col = x;
    if (!direct) {
        AGIR_LAUNCH(e, im2col_kernel, grid_blocks(rows * kc, kThreads, kMaxBlocks), kThreads, 0, st, g, x, ws);
        col = ws;
    }
    // dW (C_out, K·C_in) += dyᵀ · col
    AGIR_TRY(gemm_rm(ctx, true, false, g.C_out, kc, (int)rows, dy, g.C_out, col, kc, 1.0f, dw, kc, e));
    if (dbias) {
        unsigned blocks = grid_blocks((size_t)g.C_out, kWarp, kMaxBlocks);
        AGIR_LAUNCH(e, bias_grad_kernel, blocks, dim3(kWarp, kRowLanes), 0, st, dy, rows, g.C_out, dbias);
    }
    if (!dx) return AGIR_OK;
    // dcol = dy · W, straight into dx for the direct case; otherwise into the columns' buffer.
    AGIR_TRY(gemm_rm(ctx, false, false, (int)rows, kc, g.C_out, dy, g.C_out, w, kc, direct ? 1.0f : 0.0f,
                     direct ? dx : ws, kc, e));
    if (!direct) {
        size_t n = (size_t)g.B * g.T_in * g.C_in;
        AGIR_LAUNCH(e, col2im_add_kernel, grid_blocks(n, kThreads, kMaxBlocks), kThreads, 0, st, g, ws, dx);
    }
    return AGIR_OK;
}
