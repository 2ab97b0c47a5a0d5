// The VQ-VAE's element-wise ops, losses and EMA quantizer on the GPU (kernels/vq_ops.h; the CPU
// kernels in kernels/cpu/vq_ops.c are the reference): the residual add, ReLU, nearest up-sampling,
// the masked regression losses, and the quantizer's distances (one cuBLAS GEMM), argmin, gather,
// per-code statistics, reset rows and EMA update.
//
// Everything is deterministic (no float atomics): the loss sums in two passes over a grid fixed by
// the sizes, the per-code statistics give each code to one block that walks the rows in order (the
// CPU's summation order, so equal inputs give equal bits), and the dead-code count is an integer
// atomic. The reset rows' random draws are made on the host by the op (kernels/vq_ops.c), for both
// backends alike; the kernel here only gathers the rows and adds the noise.
#include "kernels/cuda/blas.cuh"

namespace {

constexpr unsigned kThreads = 256;
constexpr unsigned kMaxBlocks = 1024;  // grid-stride (or block-stride) beyond this

cudaStream_t stream_of(const agir_ctx *ctx) { return static_cast<cudaStream_t>(ctx->stream); }

__global__ void __launch_bounds__(kThreads) add_into_kernel(const float *x, float *y, size_t n) {
    for (size_t i = grid_first(); i < n; i += grid_stride()) y[i] += x[i];
}

__global__ void __launch_bounds__(kThreads) relu_fwd_kernel(const float *x, float *y, size_t n) {
    for (size_t i = grid_first(); i < n; i += grid_stride()) y[i] = x[i] > 0 ? x[i] : 0.0f;
}

__global__ void __launch_bounds__(kThreads) relu_bwd_kernel(const float *y, const float *dy, float *dx, size_t n) {
    for (size_t i = grid_first(); i < n; i += grid_stride()) dx[i] += y[i] > 0 ? dy[i] : 0.0f;
}

// One thread per element of y (B, 2T, C): output row R copies input row R / 2.
__global__ void __launch_bounds__(kThreads) upsample2_fwd_kernel(const float *x, float *y, size_t rows2, int C) {
    size_t n = rows2 * C;
    for (size_t i = grid_first(); i < n; i += grid_stride()) y[i] = x[i / C / 2 * C + i % C];
}

// One thread per element of dx (B, T, C): the sum of its two copies' gradients.
__global__ void __launch_bounds__(kThreads) upsample2_bwd_kernel(const float *dy, float *dx, size_t rows, int C) {
    size_t n = rows * C;
    for (size_t i = grid_first(); i < n; i += grid_stride()) {
        size_t r = i / C, c = i % C;
        dx[i] += dy[2 * r * C + c] + dy[(2 * r + 1) * C + c];
    }
}

// --- losses ---

constexpr unsigned kLossBlocks = 128;  // partials of the first pass: fixed by the sizes, not the GPU

// Sum over the block in double through shared memory, in a tree fixed by the block size (a power of
// two); every thread must call it. The result is valid in thread 0.
__device__ double block_sum_d(double v) {
    double *s = dyn_smem<double>();
    s[threadIdx.x] = v;
    __syncthreads();
    for (unsigned o = blockDim.x / 2; o > 0; o /= 2) {
        if (threadIdx.x < o) s[threadIdx.x] += s[threadIdx.x + o];
        __syncthreads();
    }
    return s[0];
}

// Pass 1: each block sums the losses of its rows (grid-stride, one thread per row, channels in
// order as the CPU) and counts them: part[2b] = Σ loss, part[2b+1] = rows.
__global__ void __launch_bounds__(kThreads) loss_partial_kernel(agir_loss_spec s, const float *pred,
                                                                const float *target, const uint8_t *mask,
                                                                double *part) {
    double sum = 0, rows = 0;
    for (size_t n = grid_first(); n < (size_t)s.N; n += grid_stride()) {
        if (mask && !mask[n]) continue;
        const float *p = pred + n * s.C, *t = target + n * s.C;
        double row = 0, g;
        for (int ch = s.c0; ch < s.c1; ch++) row += agir_loss_elem(s.kind, (double)p[ch] - t[ch], &g);
        sum += row;
        rows += 1;
    }
    sum = block_sum_d(sum);
    __syncthreads();  // block_sum_d's buffer is reused
    rows = block_sum_d(rows);
    if (threadIdx.x == 0) {
        part[2 * blockIdx.x] = sum;
        part[2 * blockIdx.x + 1] = rows;
    }
}

// Pass 2: one thread adds the partials in block order into out[0..1].
__global__ void loss_final_kernel(const double *part, unsigned nblocks, double *out) {
    double sum = 0, rows = 0;
    for (unsigned b = 0; b < nblocks; b++) sum += part[2 * b], rows += part[2 * b + 1];
    out[0] = sum;
    out[1] = rows;
}

// dpred += scale·d(loss)/d(pred) over the unmasked rows, scale from the row count of pass 2 (on the
// device: no round trip). Computed in double like the CPU, so the added floats are the same bits.
__global__ void __launch_bounds__(kThreads) loss_grad_kernel(agir_loss_spec s, const float *pred,
                                                             const float *target, const uint8_t *mask,
                                                             const double *totals, float *dpred) {
    int width = s.c1 - s.c0;
    size_t n_el = (size_t)s.N * width;
    double rows = totals[1];
    if (rows == 0) return;  // no barrier in this kernel
    double scale = agir_loss_scale(&s, rows);
    for (size_t i = grid_first(); i < n_el; i += grid_stride()) {
        size_t n = i / width, j = n * s.C + s.c0 + i % width;
        if (mask && !mask[n]) continue;
        double g;
        agir_loss_elem(s.kind, (double)pred[j] - target[j], &g);
        dpred[j] += (float)(scale * g);
    }
}

// --- quantizer ---

// cnorm[k] = ||codebook[k]||², one thread per code, elements in order (as the CPU).
__global__ void __launch_bounds__(kThreads) code_norm_kernel(const float *cb, int K, int D, float *cnorm) {
    for (size_t k = grid_first(); k < (size_t)K; k += grid_stride()) {
        const float *c = cb + k * D;
        float acc = 0.0f;
        for (int i = 0; i < D; i++) acc += c[i] * c[i];
        cnorm[k] = acc;
    }
}

// idx[n] = argmin_k cnorm[k] - 2·dots[n, k], ties to the lower index. One warp per row (block
// (32, kArgRows)); lanes scan codes lane, lane + 32, ... and the warp merges their minima.
constexpr int kArgRows = 4;
__global__ void __launch_bounds__(kWarp * kArgRows)
    argmin_kernel(const float *dots, const float *cnorm, int N, int K, int32_t *idx) {
    // A warp is one threadIdx.y, so n (and the loop's trip count) is the same for all its lanes, and
    // every lane reaches the shuffles.
    for (int n = blockIdx.x * kArgRows + threadIdx.y; n < N; n += gridDim.x * kArgRows) {
        const float *dn = dots + (size_t)n * K;
        int best = K;  // K: no code seen (a lane with no codes when K < 32)
        float bd = 0.0f;
        for (int k = (int)threadIdx.x; k < K; k += kWarp) {
            float d = cnorm[k] - 2 * dn[k];
            if (best == K || d < bd) bd = d, best = k;
        }
        for (int o = kWarp / 2; o > 0; o /= 2) {
            float od = __shfl_xor_sync(kFullMask, bd, o);
            int ob = __shfl_xor_sync(kFullMask, best, o);
            if (ob != K && (best == K || od < bd || (od == bd && ob < best))) bd = od, best = ob;
        }
        if (threadIdx.x == 0) idx[n] = best;
    }
}

// *bad = 1 if any idx is outside [0, K) (the flag is zeroed by the launcher).
__global__ void __launch_bounds__(kThreads) check_idx_kernel(const int32_t *idx, int N, int K, unsigned *bad) {
    for (size_t n = grid_first(); n < (size_t)N; n += grid_stride())
        if (idx[n] < 0 || idx[n] >= K) atomicExch(bad, 1u);
}

__global__ void __launch_bounds__(kThreads) gather_kernel(const float *cb, const int32_t *idx, int N, int D, float *q) {
    size_t n_el = (size_t)N * D;
    for (size_t i = grid_first(); i < n_el; i += grid_stride()) q[i] = cb[(size_t)idx[i / D] * D + i % D];
}

// counts[k], sums[k, :] of the rows assigned to code k. Blocks own codes (block-stride); threads own
// columns and walk every row in order, so each sum is formed in the CPU kernel's order.
__global__ void __launch_bounds__(kThreads) stats_kernel(const float *x, const int32_t *idx, int N, int K, int D,
                                                         float *counts, float *sums) {
    for (int k = blockIdx.x; k < K; k += gridDim.x) {
        if (threadIdx.x == 0) {
            float cnt = 0.0f;
            for (int n = 0; n < N; n++) cnt += idx[n] == k ? 1.0f : 0.0f;
            counts[k] = cnt;
        }
        for (int i = (int)threadIdx.x; i < D; i += blockDim.x) {
            float acc = 0.0f;
            for (int n = 0; n < N; n++)
                if (idx[n] == k) acc += x[(size_t)n * D + i];
            sums[(size_t)k * D + i] = acc;
        }
    }
}

// rows[k] = x[pick[k]] (+ noise[k], added in double and rounded once, as the CPU op).
__global__ void __launch_bounds__(kThreads) reset_rows_kernel(const float *x, const int32_t *pick,
                                                              const double *noise, int K, int D, float *rows) {
    size_t n_el = (size_t)K * D;
    for (size_t i = grid_first(); i < n_el; i += grid_stride()) {
        float v = x[(size_t)pick[i / D] * D + i % D];
        rows[i] = noise ? (float)(v + noise[i]) : v;
    }
}

// The EMA update of each code (block-stride over codes, threads over its D elements); codes whose
// count falls under 1 take their reset row and are counted in *n_dead (integer atomics: exact).
__global__ void __launch_bounds__(kThreads) ema_kernel(float *ema_count, float *ema_sum, const float *counts,
                                                       const float *sums, const float *rows, float mu, int K, int D,
                                                       float *cb, unsigned *n_dead) {
    for (int k = blockIdx.x; k < K; k += gridDim.x) {
        float cnt = mu * ema_count[k] + (1 - mu) * counts[k];
        __syncthreads();  // every thread has read ema_count[k] before thread 0 writes it
        if (threadIdx.x == 0) {
            ema_count[k] = cnt;
            if (!(cnt >= 1)) atomicAdd(n_dead, 1u);
        }
        size_t base = (size_t)k * D;
        for (int i = (int)threadIdx.x; i < D; i += blockDim.x) {
            float s = mu * ema_sum[base + i] + (1 - mu) * sums[base + i];
            ema_sum[base + i] = s;
            cb[base + i] = cnt >= 1 ? s / cnt : rows[base + i];
        }
    }
}

// Zeroes a flag in the context's scratch, runs `launch`, and returns the flag's value in *out.
template <typename F>
int with_flag(const agir_ctx *ctx, unsigned *out, agir_err *e, F launch) {
    unsigned *flag = static_cast<unsigned *>(ctx->scratch);
    CUDA_CHECK(e, cudaMemsetAsync(flag, 0, sizeof *flag, stream_of(ctx)));
    AGIR_TRY(launch(flag));
    return agir_cuda_copy(ctx->stream, out, flag, sizeof *out, 0, e);
}

int check_idx(const agir_ctx *ctx, const int32_t *idx, int N, int K, agir_err *e) {
    unsigned bad = 0;
    AGIR_TRY(with_flag(ctx, &bad, e, [&](unsigned *flag) -> int {
        AGIR_LAUNCH(e, check_idx_kernel, grid_blocks((size_t)N, kThreads, kMaxBlocks), kThreads, 0, stream_of(ctx),
                    idx, N, K, flag);
        return AGIR_OK;
    }));
    return bad ? AGIR_BUG(e, "code index outside [0, %d) among %d rows", K, N) : AGIR_OK;
}

}  // namespace

extern "C" int agir_cuda_add_into(const agir_ctx *ctx, const float *x, float *y, size_t n, agir_err *e) {
    AGIR_LAUNCH(e, add_into_kernel, grid_blocks(n, kThreads, kMaxBlocks), kThreads, 0, stream_of(ctx), x, y, n);
    return AGIR_OK;
}

extern "C" int agir_cuda_relu_fwd(const agir_ctx *ctx, const float *x, float *y, size_t n, agir_err *e) {
    AGIR_LAUNCH(e, relu_fwd_kernel, grid_blocks(n, kThreads, kMaxBlocks), kThreads, 0, stream_of(ctx), x, y, n);
    return AGIR_OK;
}

extern "C" int agir_cuda_relu_bwd(const agir_ctx *ctx, const float *y, const float *dy, float *dx, size_t n,
                                  agir_err *e) {
    AGIR_LAUNCH(e, relu_bwd_kernel, grid_blocks(n, kThreads, kMaxBlocks), kThreads, 0, stream_of(ctx), y, dy, dx, n);
    return AGIR_OK;
}

extern "C" int agir_cuda_upsample2_fwd(const agir_ctx *ctx, const float *x, float *y, int B, int T, int C,
                                       agir_err *e) {
    size_t rows2 = 2 * (size_t)B * T;
    AGIR_LAUNCH(e, upsample2_fwd_kernel, grid_blocks(rows2 * C, kThreads, kMaxBlocks), kThreads, 0, stream_of(ctx),
                x, y, rows2, C);
    return AGIR_OK;
}

extern "C" int agir_cuda_upsample2_bwd(const agir_ctx *ctx, const float *dy, float *dx, int B, int T, int C,
                                       agir_err *e) {
    size_t rows = (size_t)B * T;
    AGIR_LAUNCH(e, upsample2_bwd_kernel, grid_blocks(rows * C, kThreads, kMaxBlocks), kThreads, 0, stream_of(ctx),
                dy, dx, rows, C);
    return AGIR_OK;
}

extern "C" int agir_cuda_loss(const agir_ctx *ctx, const agir_loss_spec *s, const float *pred, const float *target,
                              const uint8_t *mask, double *total, double *rows, float *dpred, agir_err *e) {
    static_assert((2 * kLossBlocks + 2) * sizeof(double) <= AGIR_CTX_SCRATCH_BYTES, "partials must fit the scratch");
    cudaStream_t st = stream_of(ctx);
    double *part = static_cast<double *>(ctx->scratch), *out = part + 2 * kLossBlocks;
    unsigned blocks = grid_blocks((size_t)s->N, kThreads, kLossBlocks);
    AGIR_LAUNCH(e, loss_partial_kernel, blocks, kThreads, kThreads * sizeof(double), st, *s, pred, target, mask, part);
    AGIR_LAUNCH(e, loss_final_kernel, 1, 1, 0, st, part, blocks, out);
    if (dpred) {
        size_t n_el = (size_t)s->N * (s->c1 - s->c0);
        AGIR_LAUNCH(e, loss_grad_kernel, grid_blocks(n_el, kThreads, kMaxBlocks), kThreads, 0, st, *s, pred, target,
                    mask, out, dpred);
    }
    double h[2];
    AGIR_TRY(agir_cuda_copy(ctx->stream, h, out, sizeof h, 0, e));
    *total = h[0];
    *rows = h[1];
    return AGIR_OK;
}

extern "C" int agir_cuda_vq_assign(const agir_ctx *ctx, const float *x, const float *codebook, int N, int K, int D,
                                   int32_t *idx, float *ws, agir_err *e) {
    cudaStream_t st = stream_of(ctx);
    float *dots = ws, *cnorm = ws + (size_t)N * K;
    AGIR_LAUNCH(e, code_norm_kernel, grid_blocks((size_t)K, kThreads, kMaxBlocks), kThreads, 0, st, codebook, K, D,
                cnorm);
    // dots (N, K) = x · codebookᵀ; ||x||² is the same for every code of a row, so the argmin skips it.
    AGIR_TRY(gemm_rm(ctx, false, true, N, K, D, x, D, codebook, D, 0.0f, dots, K, e));
    unsigned blocks = grid_blocks((size_t)N, kArgRows, kMaxBlocks);
    AGIR_LAUNCH(e, argmin_kernel, blocks, dim3(kWarp, kArgRows), 0, st, dots, cnorm, N, K, idx);
    return AGIR_OK;
}

extern "C" int agir_cuda_vq_gather(const agir_ctx *ctx, const float *codebook, const int32_t *idx, int N, int K, int D,
                                   float *q, agir_err *e) {
    AGIR_TRY(check_idx(ctx, idx, N, K, e));
    AGIR_LAUNCH(e, gather_kernel, grid_blocks((size_t)N * D, kThreads, kMaxBlocks), kThreads, 0, stream_of(ctx),
                codebook, idx, N, D, q);
    return AGIR_OK;
}

extern "C" int agir_cuda_vq_stats(const agir_ctx *ctx, const float *x, const int32_t *idx, int N, int K, int D,
                                  float *counts, float *sums, agir_err *e) {
    AGIR_TRY(check_idx(ctx, idx, N, K, e));
    unsigned threads = D < (int)kThreads ? (D + kWarp - 1) / kWarp * kWarp : kThreads;
    AGIR_LAUNCH(e, stats_kernel, grid_blocks((size_t)K, 1, kMaxBlocks), threads, 0, stream_of(ctx), x, idx, N, K, D,
                counts, sums);
    return AGIR_OK;
}

extern "C" int agir_cuda_vq_reset_rows(const agir_ctx *ctx, const float *x, const int32_t *pick, const double *noise,
                                       int K, int D, float *rows, int32_t *ws, agir_err *e) {
    AGIR_TRY(agir_cuda_copy(ctx->stream, ws, pick, sizeof *pick * K, 1, e));
    size_t n_el = (size_t)K * D;
    double *dnoise = nullptr;
    if (noise) {  // only when the batch has fewer rows than codes: a rare, small allocation
        CUDA_CHECK(e, cudaMalloc(&dnoise, n_el * sizeof *dnoise));
        int rc = agir_cuda_copy(ctx->stream, dnoise, noise, n_el * sizeof *dnoise, 1, e);
        if (rc) {
            agir_cuda_free(dnoise);
            return rc;
        }
    }
    int rc = [&]() -> int {
        AGIR_LAUNCH(e, reset_rows_kernel, grid_blocks(n_el, kThreads, kMaxBlocks), kThreads, 0, stream_of(ctx), x, ws,
                    dnoise, K, D, rows);
        return AGIR_OK;
    }();
    if (dnoise) {
        int rs = agir_cuda_sync(ctx->stream, e);  // the kernel reads dnoise until it is done
        rc = rc ? rc : rs;
        agir_cuda_free(dnoise);
    }
    return rc;
}

extern "C" int agir_cuda_vq_ema_update(const agir_ctx *ctx, float *ema_count, float *ema_sum, const float *counts,
                                       const float *sums, const float *rows, float mu, int K, int D, float *codebook,
                                       int *n_reset, agir_err *e) {
    unsigned dead = 0;
    unsigned threads = D < (int)kThreads ? (D + kWarp - 1) / kWarp * kWarp : kThreads;
    AGIR_TRY(with_flag(ctx, &dead, e, [&](unsigned *flag) -> int {
        AGIR_LAUNCH(e, ema_kernel, grid_blocks((size_t)K, 1, kMaxBlocks), threads, 0, stream_of(ctx), ema_count,
                    ema_sum, counts, sums, rows, mu, K, D, codebook, flag);
        return AGIR_OK;
    }));
    *n_reset = (int)dead;
    return AGIR_OK;
}
