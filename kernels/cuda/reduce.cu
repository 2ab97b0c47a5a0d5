// Sum and sum of squares of a float array (kernels/ops.h, agir_op_sum_sumsq): the building block
// of the global gradient norm.
//
// Two passes, no float atomics, so the result is bit-for-bit reproducible: pass 1 has each block of a
// grid whose size depends on n only write one partial (sum, sum of squares); pass 2, one block, adds
// the partials in a fixed tree. Accumulation is fp32, as the CPU reference's double result shows
// to be ample for gradient norms (see the parity test's tolerances).
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/reduce.cuh"

namespace {

constexpr unsigned kThreads = 256;
// Gradient norms are a sliver of a training step; a modest grid keeps the partials few (and the CPU
// runtime's parity test quick). Changing it changes the rounding of results, not their accuracy.
constexpr unsigned kMaxBlocks = 256;
static_assert(kMaxBlocks * sizeof(float2) <= AGIR_CTX_SCRATCH_BYTES, "partials must fit the context scratch");

__global__ void __launch_bounds__(kThreads) sum_sumsq_partial(const float *x, size_t n, float2 *part) {
    float2 acc = make_float2(0.0f, 0.0f);
    for (size_t i = grid_first(); i < n; i += grid_stride()) {
        float v = x[i];
        acc.x += v;
        acc.y += v * v;
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) part[blockIdx.x] = acc;
}

__global__ void __launch_bounds__(kThreads) sum_sumsq_final(const float2 *part, unsigned npart, float *out) {
    float2 acc = make_float2(0.0f, 0.0f);
    for (unsigned i = threadIdx.x; i < npart; i += blockDim.x) {
        acc.x += part[i].x;
        acc.y += part[i].y;
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) {
        out[0] = acc.x;
        out[1] = acc.y;
    }
}

}  // namespace

extern "C" int agir_cuda_sum_sumsq(const agir_ctx *ctx, const float *x, size_t n, float *out, agir_err *e) {
    cudaStream_t stream = static_cast<cudaStream_t>(ctx->stream);
    float2 *part = static_cast<float2 *>(ctx->scratch);
    unsigned blocks = grid_blocks(n, kThreads, kMaxBlocks);
    AGIR_LAUNCH(e, sum_sumsq_partial, blocks, kThreads, 0, stream, x, n, part);
    AGIR_LAUNCH(e, sum_sumsq_final, 1, kThreads, 0, stream, part, blocks, out);
    return AGIR_OK;
}
