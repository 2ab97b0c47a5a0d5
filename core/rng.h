// Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
// 1, 2, 3", SC'11); the block function is in core/philox.h, shared with CUDA kernels.
//
// A generator is a (seed, stream) key plus a 64-bit counter. Work is split by giving each item
// (subject, sequence, window) its own stream, never each thread, so results do not depend on the
// thread count. The whole state is two integers, so checkpoints save and restore it exactly.
#ifndef AGIR_RNG_H
#define AGIR_RNG_H

#include <stdint.h>

typedef struct agir_rng {
    uint64_t seed;
    uint64_t stream;
    uint64_t counter;  // index of the next 128-bit block
    uint32_t buf[4];
    int used;  // words of buf already handed out (4 = empty)
} agir_rng;

void agir_rng_init(agir_rng *r, uint64_t seed, uint64_t stream);

// One Philox block: out = Philox4x32-10(key = (k0, k1), counter = (c0, c1, c2, c3)).
void agir_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

uint32_t agir_rng_u32(agir_rng *r);
uint64_t agir_rng_u64(agir_rng *r);
double agir_rng_uniform(agir_rng *r);               // [0, 1)
double agir_rng_range(agir_rng *r, double lo, double hi);  // [lo, hi)
double agir_rng_normal(agir_rng *r);                // N(0, 1), Box-Muller
uint32_t agir_rng_below(agir_rng *r, uint32_t n);   // uniform in [0, n), unbiased; n > 0

// A child stream derived from a parent's key and a label, e.g. per subject: independent of how
// many numbers the parent has drawn.
void agir_rng_child(const agir_rng *parent, uint64_t label, agir_rng *child);

#endif
