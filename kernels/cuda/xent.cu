// Fused softmax + cross-entropy on the GPU (kernels/llm_ops.h, agir_op_softmax_xent): one block
// per token row. One pass over the logits gathers the row's max and Σ exp(x − max) in fp32 with the
// online rule (each thread folds its elements, then partial (max, sum) pairs merge across the block);
// a second pass writes the gradient, possibly over the logits themselves. Per-token losses are
// summed by a one-block kernel in a fixed order, so the loss is reproducible.
#include "kernels/cuda/llm.cuh"
#include "kernels/cuda/reduce.cuh"

namespace {

constexpr unsigned kThreads = 256;

// Running softmax statistics: max m and Σ exp(x − m).
struct stats {
    float m, s;
};

__device__ __forceinline__ stats merge(stats a, stats b) {
    if (a.m < b.m) {  // make a the larger max (an empty side has m = -inf, s = 0)
        stats t = a;
        a = b;
        b = t;
    }
    if (b.m == -INFINITY) return a;
    return {a.m, a.s + b.s * expf(b.m - a.m)};
}

__device__ __forceinline__ stats warp_merge(stats v) {
    for (int o = kWarp / 2; o > 0; o /= 2) {
        unsigned long long bits;  // one 64-bit shuffle for the pair (see warp_sum in reduce.cuh)
        memcpy(&bits, &v, sizeof bits);
        bits = __shfl_xor_sync(kFullMask, bits, o);
        stats w;
        memcpy(&w, &bits, sizeof w);
        v = merge(v, w);
    }
    return v;
}

struct warp_merge_op {
    __device__ stats operator()(stats v) const { return warp_merge(v); }
};

// Block-wide merge, returned to every thread (block_reduce's rules).
__device__ stats block_merge(stats v) { return block_reduce(v, stats{-INFINITY, 0.0f}, warp_merge_op{}); }

__global__ void __launch_bounds__(kThreads)
    xent_kernel(bf16 *dlogits, float *losses, const bf16 *logits, const int32_t *labels, int V, float scale) {
    const size_t n = blockIdx.x;
    const bf16 *x = logits + n * V;
    const int y = labels[n];
    // Read x[y] before the barriers inside block_merge: in place, its owner overwrites it afterwards.
    const float xy = y >= 0 && y < V ? to_float(x[y]) : NAN;
    stats st = {-INFINITY, 0.0f};
    if (y >= 0)
        for (int i = threadIdx.x; i < V; i += blockDim.x) {
            float v = to_float(x[i]);
            if (v > st.m) {
                st.s = st.s * expf(st.m - v) + 1.0f;
                st.m = v;
            } else {
                st.s += expf(v - st.m);
            }
        }
    st = block_merge(st);
    if (threadIdx.x == 0) losses[n] = y >= 0 ? (logf(st.s) + st.m - xy) * scale : 0.0f;
    if (!dlogits) return;
    bf16 *dx = dlogits + n * V;
    float inv = 1.0f / st.s;
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        float g = 0.0f;
        if (y >= 0) g = expf(to_float(x[i]) - st.m) * inv * scale - (i == y ? scale : 0.0f);
        dx[i] = from_float<bf16>(g);
    }
}

__global__ void __launch_bounds__(kThreads) sum_kernel(float *out, const float *x, int n) {
    float s = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += x[i];
    s = block_sum(s);
    if (threadIdx.x == 0) *out = s;
}

}  // namespace

extern "C" int agir_cuda_softmax_xent(const agir_ctx *c, agir_bf16 *dlogits, float *losses, float *loss,
                                      const agir_bf16 *logits, const int32_t *labels, int N, int V, float scale,
                                      agir_err *e) {
    AGIR_LAUNCH(e, xent_kernel, (unsigned)N, kThreads, 0, stream_of(c), as_bf16(dlogits), losses, as_bf16(logits),
                labels, V, scale);
    AGIR_LAUNCH(e, sum_kernel, 1, kThreads, 0, stream_of(c), loss, losses, N);
    return AGIR_OK;
}
