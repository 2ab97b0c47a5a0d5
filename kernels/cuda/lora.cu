// LoRA's dropout on the GPU (kernels/llm_ops.h, agir_op_dropout), the element-wise glue between the
// cuBLAS products of y += s · B A dropout(x) (linear.cu). The mask is regenerated, never stored: each
// thread recomputes the Philox4x32-10 blocks (Salmon et al., SC'11) of core/rng.c that models/lora.c
// draws on the CPU, with the same functions (core/philox.h), so forward, backward and the CPU
// reference see the same mask bit for bit.
#include "kernels/cuda/llm.cuh"

#include "core/philox.h"

namespace {

constexpr unsigned kThreads = 256;
constexpr unsigned kMaxBlocks = 1024;

// One thread per pair of elements (2k, 2k + 1) of a row: a Philox block holds four 32-bit words, and
// agir_rng_uniform takes two per draw (high word first), so block k of row n's child stream decides
// elements 2k and 2k + 1.
__global__ void __launch_bounds__(kThreads)
    dropout_kernel(bf16 *dst, const bf16 *src, int N, int in, uint64_t keep_min, float keep_scale, uint64_t seed,
                   uint64_t stream, int accumulate) {
    const size_t per_row = ((size_t)in + 1) / 2, total = (size_t)N * per_row;
    for (size_t t = grid_first(); t < total; t += grid_stride()) {
        const uint64_t n = t / per_row, blk = t % per_row;
        // row n draws from agir_rng_child(parent, n)
        uint32_t w[4];
        agir_philox_block(seed, agir_philox_child_stream(seed, stream, n), blk, w);
        for (int h = 0; h < 2; h++) {
            const size_t i = 2 * blk + h;
            if (i >= (size_t)in) break;
            const uint64_t draw = ((uint64_t)w[2 * h] << 32) | w[2 * h + 1];
            const size_t at = n * in + i;
            float v = (draw >> 11) >= keep_min ? to_float(src[at]) * keep_scale : 0.0f;
            dst[at] = from_float<bf16>(accumulate ? to_float(dst[at]) + v : v);
        }
    }
}

}  // namespace

extern "C" int agir_cuda_dropout(const agir_ctx *c, agir_bf16 *dst, const agir_bf16 *src, int N, int in,
                                 uint64_t keep_min, float keep_scale, uint64_t seed, uint64_t stream, int accumulate,
                                 agir_err *e) {
    size_t pairs = (size_t)N * (((size_t)in + 1) / 2);
    AGIR_LAUNCH(e, dropout_kernel, grid_blocks(pairs, kThreads, kMaxBlocks), kThreads, 0, stream_of(c), as_bf16(dst),
                as_bf16(src), N, in, keep_min, keep_scale, seed, stream, accumulate);
    return AGIR_OK;
}
