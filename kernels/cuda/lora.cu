// LoRA's dropout on the GPU (kernels/llm_cuda.h, agir_llm_dropout), the element-wise glue between the
// cuBLAS products of y += s · B A dropout(x) (linear.cu). The mask is regenerated, never stored: each
// thread recomputes the Philox4x32-10 blocks (Salmon et al., SC'11) of core/rng.c that models/lora.c
// draws on the CPU, so forward, backward and the CPU reference see the same mask bit for bit.
#include "kernels/cuda/llm.cuh"

namespace {

constexpr unsigned kThreads = 256;
constexpr unsigned kMaxBlocks = 1024;

// Philox4x32-10 with the Random123 round constants, as agir_philox4x32 in core/rng.c.
__device__ __forceinline__ void philox4x32(uint32_t c[4], uint32_t k0, uint32_t k1) {
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c[0], p1 = (uint64_t)0xCD9E8D57u * c[2];
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k1;
        c[1] = (uint32_t)p1;
        c[3] = (uint32_t)p0;
        c[0] = n0;
        c[2] = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}

// One thread per pair of elements (2k, 2k + 1) of a row: a Philox block holds four 32-bit words, and
// agir_rng_uniform takes two per draw (high word first), so block k of row n's child stream decides
// elements 2k and 2k + 1.
__global__ void __launch_bounds__(kThreads)
    dropout_kernel(bf16 *dst, const bf16 *src, int N, int in, uint64_t keep_min, float keep_scale, uint64_t seed,
                   uint64_t stream, int accumulate) {
    const uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    const size_t per_row = ((size_t)in + 1) / 2, total = (size_t)N * per_row;
    for (size_t t = grid_first(); t < total; t += grid_stride()) {
        const uint64_t n = t / per_row, blk = t % per_row;
        // agir_rng_child(parent, n): one block over (label, parent stream ^ 0x5eed << 32) names the child.
        uint32_t c[4] = {(uint32_t)n, (uint32_t)(n >> 32), (uint32_t)stream, (uint32_t)(stream >> 32) ^ 0x5eedu};
        philox4x32(c, k0, k1);
        const uint64_t child = ((uint64_t)c[0] << 32) | c[1];
        uint32_t w[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), (uint32_t)child, (uint32_t)(child >> 32)};
        philox4x32(w, k0, k1);
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
