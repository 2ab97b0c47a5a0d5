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

// One thread per Philox block: 16 bits per element (kernels/llm_ops.h), so block k of row n's child
// stream decides elements 8k .. 8k + 7 (low half of each word first).
__global__ void __launch_bounds__(kThreads)
    dropout_kernel(bf16 *dst, const bf16 *src, int N, int in, uint32_t keep_min, float keep_scale, uint64_t seed,
                   uint64_t stream, int accumulate) {
    const size_t per_row = ((size_t)in + 7) / 8, total = (size_t)N * per_row;
    for (size_t t = grid_first(); t < total; t += grid_stride()) {
        const uint64_t n = t / per_row, blk = t % per_row;
        // row n draws from agir_rng_child(parent, n)
        uint32_t w[4];
        agir_philox_block(seed, agir_philox_child_stream(seed, stream, n), blk, w);
        for (int h = 0; h < 8; h++) {
            const size_t i = 8 * blk + h;
            if (i >= (size_t)in) break;
            const uint32_t u = (w[h / 2] >> (16 * (h % 2))) & 0xffffu;
            const size_t at = n * in + i;
            float v = u >= keep_min ? to_float(src[at]) * keep_scale : 0.0f;
            dst[at] = from_float<bf16>(accumulate ? to_float(dst[at]) + v : v);
        }
    }
}

}  // namespace

extern "C" int agir_cuda_dropout(const agir_ctx *c, agir_bf16 *dst, const agir_bf16 *src, int N, int in,
                                 uint64_t keep_min, float keep_scale, uint64_t seed, uint64_t stream, int accumulate,
                                 agir_err *e) {
    size_t blocks = (size_t)N * (((size_t)in + 7) / 8);
    AGIR_LAUNCH(e, dropout_kernel, grid_blocks(blocks, kThreads, kMaxBlocks), kThreads, 0, stream_of(c), as_bf16(dst),
                as_bf16(src), N, in, (uint32_t)keep_min, keep_scale, seed, stream, accumulate);
    return AGIR_OK;
}
