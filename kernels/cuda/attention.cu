// Causal self-attention with GQA and packed-sequence masks on the GPU (kernels/llm_ops.h): a tiled
// forward with an online softmax and a backward that recomputes the probabilities, after
// FlashAttention (Dao et al., NeurIPS 2022) and FlashAttention-2 (Dao 2023).
//
// Forward: a block takes kRows query rows of one (batch, head), one row per thread, the query row
// and its output accumulator in registers. Keys and values stream through shared memory kTile at a
// time; each thread keeps its row's running max m and sum l, rescaling the accumulator when m grows
// (Milakov & Gimelshein 2018, "Online normalizer calculation for softmax"). It stores the output
// and lse = m + log l, so the backward pass gets p_ij = exp(s_ij − lse_i) back without the (T, T)
// matrix. Memory: lse (B, H, T) and, in the backward, delta (B, H, T), against B·H·T² for the
// probability tensor of the CPU op.
//
// Backward, in three kernels so that every gradient element has one owner (no atomics, so results
// are reproducible): delta_i = dout_i · out_i; dK/dV with one thread per key row, looping over the
// query rows of every query head of its group; dQ with one thread per query row, looping over keys.
// With ds_ij = p_ij (dout_i · v_j − delta_i) · scale: dv_j = Σ_i p_ij dout_i, dk_j = Σ_i ds_ij q_i,
// dq_i = Σ_j ds_ij k_j.
//
// All arithmetic is fp32 on scalar units (no tensor cores: this path stays inside the CPU test
// runtime's subset). Masked scores never enter a sum; the diagonal is always visible, so every real
// row has l ≥ 1.
#include "kernels/cuda/llm.cuh"

namespace {

constexpr int kRows = 64;  // query (forward, dQ) or key (dK/dV) rows per block, one per thread
constexpr int kTile = 32;  // rows of the streamed operand per shared-memory tile
static_assert(kRows % kTile == 0, "a block's first row starts a tile");

// T query rows at positions q0 .. q0 + T - 1 against Tk = q0 + T keys (q0 > 0: new rows against a
// KV cache, forward only; the backward pass has q0 = 0 and Tk = T).
struct attn_dims {
    int T, Tk, q0, H, KVH;
    float scale;  // 1 / sqrt(D)
};

// Token t of batch b, head h of a (B, T, nh, D) tensor.
template <int D>
__device__ __forceinline__ size_t row_at(int b, int t, int h, int T, int nh) {
    return (((size_t)b * T + t) * nh + h) * D;
}

template <int D>
__device__ __forceinline__ void load_row(float *dst, const bf16 *src) {
    for (int d = 0; d < D; d++) dst[d] = to_float(src[d]);
}

// Copies rows [t0, t0 + kTile) of head h of a (B, T, nh, D) bf16 tensor into a float tile, zeros past
// T. All threads of the block take part.
template <int D>
__device__ void load_tile(float (*dst)[D], const bf16 *src, int b, int t0, int h, int T, int nh) {
    for (int idx = threadIdx.x; idx < kTile * D; idx += blockDim.x) {
        int r = idx / D, d = idx % D, t = t0 + r;
        dst[r][d] = t < T ? to_float(src[row_at<D>(b, t, h, T, nh) + d]) : 0.0f;
    }
}

__device__ void load_seg_tile(int *dst, const int32_t *seg_b, int t0, int T) {
    for (int r = threadIdx.x; r < kTile; r += blockDim.x) dst[r] = t0 + r < T ? seg_b[t0 + r] : 0;
}

// What a thread of a query-row block (grid (ceil(T / kRows), H, B), block kRows) works on: batch b,
// head h and its KV head kh, the block's first row i0 and the thread's row i (live when i < T: the
// rest still help load tiles), the sequence's segment ids, and the keys the block needs (causal: no
// row of the block sees a key past its last row).
struct query_rows {
    int b, h, kh, i0, i, j_end;
    bool live;
    const int32_t *seg_b;
};

__device__ query_rows query_rows_of(const int32_t *seg, attn_dims a) {
    query_rows w;
    w.b = blockIdx.z;
    w.h = blockIdx.y;
    w.kh = w.h / (a.H / a.KVH);
    w.i0 = blockIdx.x * kRows;
    w.i = w.i0 + threadIdx.x;
    w.j_end = a.q0 + w.i0 + kRows < a.Tk ? a.q0 + w.i0 + kRows : a.Tk;
    w.live = w.i < a.T;
    w.seg_b = seg + (size_t)w.b * a.Tk;
    return w;
}

// Keys, values and segment ids [j0, j0 + kTile) of w's sequence and KV head into shared memory, then
// a barrier.
template <int D>
__device__ void load_kv_tile(float (*ks)[D], float (*vs)[D], int *segs, const bf16 *k, const bf16 *v,
                             const query_rows &w, int j0, attn_dims a) {
    load_tile<D>(ks, k, w.b, j0, w.kh, a.Tk, a.KVH);
    load_tile<D>(vs, v, w.b, j0, w.kh, a.Tk, a.KVH);
    load_seg_tile(segs, w.seg_b, j0, a.Tk);
    __syncthreads();
}

template <int D>
__device__ __forceinline__ float dot(const float *a, const float *b) {
    float s = 0;
    for (int d = 0; d < D; d++) s += a[d] * b[d];
    return s;
}

// grid (ceil(T / kRows), H, B), block kRows.
template <int D>
__global__ void __launch_bounds__(kRows) attention_fwd_kernel(bf16 *out, float *lse, const bf16 *q, const bf16 *k,
                                                              const bf16 *v, const int32_t *seg, attn_dims a) {
    __shared__ float ks[kTile][D];
    __shared__ float vs[kTile][D];
    __shared__ int segs[kTile];
    const query_rows w = query_rows_of(seg, a);
    float qr[D], o[D];
    for (int d = 0; d < D; d++) o[d] = 0;
    int my_seg = 0;
    if (w.live) {
        load_row<D>(qr, q + row_at<D>(w.b, w.i, w.h, a.T, a.H));
        my_seg = w.seg_b[a.q0 + w.i];
    }
    float m = -INFINITY, l = 0;
    for (int j0 = 0; j0 < w.j_end; j0 += kTile) {
        load_kv_tile<D>(ks, vs, segs, k, v, w, j0, a);
        if (w.live) {
            float s[kTile], mt = -INFINITY;
            for (int r = 0; r < kTile; r++) {
                int j = j0 + r;
                s[r] = j <= a.q0 + w.i && segs[r] == my_seg ? dot<D>(qr, ks[r]) * a.scale : -INFINITY;
                mt = fmaxf(mt, s[r]);
            }
            if (mt > -INFINITY) {  // else nothing of this tile is visible: keep m, l, o as they are
                float mn = fmaxf(m, mt), corr = expf(m - mn);  // m = -inf at first: corr = 0
                l *= corr;
                for (int d = 0; d < D; d++) o[d] *= corr;
                for (int r = 0; r < kTile; r++) {
                    if (s[r] == -INFINITY) continue;
                    float p = expf(s[r] - mn);
                    l += p;
                    for (int d = 0; d < D; d++) o[d] += p * vs[r][d];
                }
                m = mn;
            }
        }
        __syncthreads();  // the next tile overwrites ks, vs, segs
    }
    if (w.live) {
        float inv = 1.0f / l;
        bf16 *orow = out + row_at<D>(w.b, w.i, w.h, a.T, a.H);
        for (int d = 0; d < D; d++) orow[d] = from_float<bf16>(o[d] * inv);
        lse[((size_t)w.b * a.H + w.h) * a.T + w.i] = m + logf(l);
    }
}

// delta (B, H, T) = Σ_d dout·out per row; one thread per row.
template <int D>
__global__ void __launch_bounds__(kRows)
    attention_delta_kernel(float *delta, const bf16 *dout, const bf16 *out, int B, attn_dims a) {
    size_t rows = (size_t)B * a.H * a.T;
    for (size_t r = grid_first(); r < rows; r += grid_stride()) {
        int i = (int)(r % a.T), h = (int)(r / a.T % a.H), b = (int)(r / a.T / a.H);
        size_t o = row_at<D>(b, i, h, a.T, a.H);
        float s = 0;
        for (int d = 0; d < D; d++) s += to_float(dout[o + d]) * to_float(out[o + d]);
        delta[r] = s;
    }
}

// grid (ceil(T / kRows), KVH, B), block kRows: thread j owns dk_j and dv_j over all query heads of
// its kv head's group.
template <int D>
__global__ void __launch_bounds__(kRows)
    attention_dkv_kernel(bf16 *dk, bf16 *dv, const bf16 *dout, const float *lse, const float *delta, const bf16 *q,
                         const bf16 *k, const bf16 *v, const int32_t *seg, attn_dims a) {
    __shared__ float qs[kTile][D];
    __shared__ float dos[kTile][D];
    __shared__ float lses[kTile], deltas[kTile];
    __shared__ int segs[kTile];
    const int b = blockIdx.z, kh = blockIdx.y, group = a.H / a.KVH;
    const int j0 = blockIdx.x * kRows, j = j0 + threadIdx.x;
    const bool live = j < a.T;
    const int32_t *seg_b = seg + (size_t)b * a.T;
    float kr[D], vr[D], dkr[D], dvr[D];
    for (int d = 0; d < D; d++) dkr[d] = dvr[d] = 0;
    int my_seg = 0;
    if (live) {
        load_row<D>(kr, k + row_at<D>(b, j, kh, a.T, a.KVH));
        load_row<D>(vr, v + row_at<D>(b, j, kh, a.T, a.KVH));
        my_seg = seg_b[j];
    }
    for (int h = kh * group; h < (kh + 1) * group; h++) {
        const float *lse_bh = lse + ((size_t)b * a.H + h) * a.T, *delta_bh = delta + ((size_t)b * a.H + h) * a.T;
        for (int i0 = j0; i0 < a.T; i0 += kTile) {  // causal: rows before j0 see none of these keys
            load_tile<D>(qs, q, b, i0, h, a.T, a.H);
            load_tile<D>(dos, dout, b, i0, h, a.T, a.H);
            load_seg_tile(segs, seg_b, i0, a.T);
            for (int r = threadIdx.x; r < kTile; r += blockDim.x) {
                bool in = i0 + r < a.T;
                lses[r] = in ? lse_bh[i0 + r] : 0.0f;
                deltas[r] = in ? delta_bh[i0 + r] : 0.0f;
            }
            __syncthreads();
            if (live)
                for (int r = 0; r < kTile; r++) {
                    int i = i0 + r;
                    if (i < j || i >= a.T || segs[r] != my_seg) continue;
                    float p = expf(dot<D>(qs[r], kr) * a.scale - lses[r]);
                    float ds = p * (dot<D>(dos[r], vr) - deltas[r]) * a.scale;
                    for (int d = 0; d < D; d++) {
                        dvr[d] += p * dos[r][d];
                        dkr[d] += ds * qs[r][d];
                    }
                }
            __syncthreads();
        }
    }
    if (live) {
        size_t o = row_at<D>(b, j, kh, a.T, a.KVH);
        for (int d = 0; d < D; d++) {
            dk[o + d] = from_float<bf16>(to_float(dk[o + d]) + dkr[d]);
            dv[o + d] = from_float<bf16>(to_float(dv[o + d]) + dvr[d]);
        }
    }
}

// grid (ceil(T / kRows), H, B), block kRows: thread i owns dq_i.
template <int D>
__global__ void __launch_bounds__(kRows)
    attention_dq_kernel(bf16 *dq, const bf16 *dout, const float *lse, const float *delta, const bf16 *q,
                        const bf16 *k, const bf16 *v, const int32_t *seg, attn_dims a) {
    __shared__ float ks[kTile][D];
    __shared__ float vs[kTile][D];
    __shared__ int segs[kTile];
    const query_rows w = query_rows_of(seg, a);
    float qr[D], dor[D], dqr[D];
    for (int d = 0; d < D; d++) dqr[d] = 0;
    int my_seg = 0;
    float lse_i = 0, delta_i = 0;
    if (w.live) {
        size_t o = row_at<D>(w.b, w.i, w.h, a.T, a.H), r = ((size_t)w.b * a.H + w.h) * a.T + w.i;
        load_row<D>(qr, q + o);
        load_row<D>(dor, dout + o);
        my_seg = w.seg_b[w.i];
        lse_i = lse[r];
        delta_i = delta[r];
    }
    for (int j0 = 0; j0 < w.j_end; j0 += kTile) {
        load_kv_tile<D>(ks, vs, segs, k, v, w, j0, a);
        if (w.live)
            for (int r = 0; r < kTile; r++) {
                if (j0 + r > w.i || segs[r] != my_seg) continue;
                float p = expf(dot<D>(qr, ks[r]) * a.scale - lse_i);
                float ds = p * (dot<D>(dor, vs[r]) - delta_i) * a.scale;
                for (int d = 0; d < D; d++) dqr[d] += ds * ks[r][d];
            }
        __syncthreads();
    }
    if (w.live) {
        bf16 *dqrow = dq + row_at<D>(w.b, w.i, w.h, a.T, a.H);
        for (int d = 0; d < D; d++) dqrow[d] = from_float<bf16>(to_float(dqrow[d]) + dqr[d]);
    }
}

constexpr unsigned kMaxDeltaBlocks = 1024;

dim3 row_grid(int T, int heads, int B) {
    return dim3((unsigned)((T + kRows - 1) / kRows), (unsigned)heads, (unsigned)B);
}

template <int D>
int attention_fwd(const agir_ctx *c, bf16 *out, float *lse, const bf16 *q, const bf16 *k, const bf16 *v,
                  const int32_t *seg, int B, attn_dims a, agir_err *e) {
    AGIR_LAUNCH(e, (attention_fwd_kernel<D>), row_grid(a.T, a.H, B), kRows, 0, stream_of(c), out, lse, q, k, v, seg, a);
    return AGIR_OK;
}

template <int D>
int attention_bwd(const agir_ctx *c, bf16 *dq, bf16 *dk, bf16 *dv, float *delta, const bf16 *dout, const bf16 *out,
                  const float *lse, const bf16 *q, const bf16 *k, const bf16 *v, const int32_t *seg, int B,
                  attn_dims a, agir_err *e) {
    cudaStream_t s = stream_of(c);
    AGIR_LAUNCH(e, (attention_delta_kernel<D>), grid_blocks((size_t)B * a.H * a.T, kRows, kMaxDeltaBlocks), kRows, 0,
                s, delta, dout, out, B, a);
    AGIR_LAUNCH(e, (attention_dkv_kernel<D>), row_grid(a.T, a.KVH, B), kRows, 0, s, dk, dv, dout, lse, delta, q, k, v,
                seg, a);
    AGIR_LAUNCH(e, (attention_dq_kernel<D>), row_grid(a.T, a.H, B), kRows, 0, s, dq, dout, lse, delta, q, k, v, seg,
                a);
    return AGIR_OK;
}

}  // namespace

extern "C" int agir_cuda_attention_fwd(const agir_ctx *c, agir_bf16 *out, float *lse, const agir_bf16 *q,
                                       const agir_bf16 *k, const agir_bf16 *v, const int32_t *seg, int B, int T, int q0,
                                       int H, int KVH, int D, agir_err *e) {
    attn_dims a = {T, q0 + T, q0, H, KVH, 1.0f / sqrtf((float)D)};
    switch (D) {
        case 32: return attention_fwd<32>(c, as_bf16(out), lse, as_bf16(q), as_bf16(k), as_bf16(v), seg, B, a, e);
        case 64: return attention_fwd<64>(c, as_bf16(out), lse, as_bf16(q), as_bf16(k), as_bf16(v), seg, B, a, e);
        case 128: return attention_fwd<128>(c, as_bf16(out), lse, as_bf16(q), as_bf16(k), as_bf16(v), seg, B, a, e);
    }
    return AGIR_BUG(e, "attention: head size %d not compiled (32, 64, 128)", D);
}

extern "C" int agir_cuda_attention_bwd(const agir_ctx *c, agir_bf16 *dq, agir_bf16 *dk, agir_bf16 *dv, float *delta,
                                       const agir_bf16 *dout, const agir_bf16 *out, const float *lse,
                                       const agir_bf16 *q, const agir_bf16 *k, const agir_bf16 *v, const int32_t *seg,
                                       int B, int T, int H, int KVH, int D, agir_err *e) {
    attn_dims a = {T, T, 0, H, KVH, 1.0f / sqrtf((float)D)};
#define AGIR_ATTN_BWD(DD)                                                                                         \
    attention_bwd<DD>(c, as_bf16(dq), as_bf16(dk), as_bf16(dv), delta, as_bf16(dout), as_bf16(out), lse, as_bf16(q), \
                      as_bf16(k), as_bf16(v), seg, B, a, e)
    switch (D) {
        case 32: return AGIR_ATTN_BWD(32);
        case 64: return AGIR_ATTN_BWD(64);
        case 128: return AGIR_ATTN_BWD(128);
    }
#undef AGIR_ATTN_BWD
    return AGIR_BUG(e, "attention: head size %d not compiled (32, 64, 128)", D);
}
