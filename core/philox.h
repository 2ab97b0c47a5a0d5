// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11) with the round
// constants of the Random123 reference, as static inline functions that compile as C, C++ and CUDA:
// core/rng.c draws its numbers with them and kernels/cuda/lora.cu regenerates LoRA dropout masks with
// them, so the CPU generator and the GPU kernel share one definition of every block.
#ifndef AGIR_CORE_PHILOX_H
#define AGIR_CORE_PHILOX_H

#include <stdint.h>

// Callable from host and device code under nvcc; plain functions elsewhere.
#ifdef __CUDACC__
#define AGIR_HD __host__ __device__
#else
#define AGIR_HD
#endif

#define AGIR_PHILOX_M0 0xD2511F53u
#define AGIR_PHILOX_M1 0xCD9E8D57u
#define AGIR_PHILOX_W0 0x9E3779B9u  // key schedule (Weyl sequence) increments
#define AGIR_PHILOX_W1 0xBB67AE85u

// c = Philox4x32-10(key = (k0, k1), counter = c), in place.
static inline AGIR_HD void agir_philox_rounds(uint32_t c[4], uint32_t k0, uint32_t k1) {
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)AGIR_PHILOX_M0 * c[0], p1 = (uint64_t)AGIR_PHILOX_M1 * c[2];
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k1;
        c[1] = (uint32_t)p1;
        c[3] = (uint32_t)p0;
        c[0] = n0;
        c[2] = n2;
        k0 += AGIR_PHILOX_W0;
        k1 += AGIR_PHILOX_W1;
    }
}

// Block `counter` of the stream (seed, stream): the counter and the stream fill the four counter
// words (low word first), the seed the key.
static inline AGIR_HD void agir_philox_block(uint64_t seed, uint64_t stream, uint64_t counter, uint32_t out[4]) {
    out[0] = (uint32_t)counter;
    out[1] = (uint32_t)(counter >> 32);
    out[2] = (uint32_t)stream;
    out[3] = (uint32_t)(stream >> 32);
    agir_philox_rounds(out, (uint32_t)seed, (uint32_t)(seed >> 32));
}

// The stream of child `label` of (seed, stream) (agir_rng_child): one block over (label, stream) keyed
// by the seed, with a tweak that keeps it apart from the parent's own blocks, so children of different
// parents or labels land on unrelated streams.
static inline AGIR_HD uint64_t agir_philox_child_stream(uint64_t seed, uint64_t stream, uint64_t label) {
    uint32_t c[4];
    agir_philox_block(seed, stream ^ ((uint64_t)0x5eedu << 32), label, c);
    return ((uint64_t)c[0] << 32) | c[1];
}

#endif
