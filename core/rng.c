// Random numbers from Philox4x32-10 blocks (core/philox.h, shared with the CUDA dropout kernel).
#include "core/rng.h"

#include <math.h>

#include "core/philox.h"

void agir_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    for (int i = 0; i < 4; i++) out[i] = ctr[i];
    agir_philox_rounds(out, key[0], key[1]);
}

void agir_rng_init(agir_rng *r, uint64_t seed, uint64_t stream) {
    r->seed = seed;
    r->stream = stream;
    r->counter = 0;
    r->used = 4;
}

uint32_t agir_rng_u32(agir_rng *r) {
    if (r->used >= 4) {
        agir_philox_block(r->seed, r->stream, r->counter, r->buf);
        r->counter++;
        r->used = 0;
    }
    return r->buf[r->used++];
}

uint64_t agir_rng_u64(agir_rng *r) {
    uint64_t hi = agir_rng_u32(r);
    return (hi << 32) | agir_rng_u32(r);
}

double agir_rng_uniform(agir_rng *r) { return (double)(agir_rng_u64(r) >> 11) * 0x1.0p-53; }

double agir_rng_range(agir_rng *r, double lo, double hi) { return lo + (hi - lo) * agir_rng_uniform(r); }

double agir_rng_normal(agir_rng *r) {
    double u1 = agir_rng_uniform(r), u2 = agir_rng_uniform(r);
    return sqrt(-2.0 * log1p(-u1)) * cos(2.0 * M_PI * u2);
}

uint32_t agir_rng_below(agir_rng *r, uint32_t n) {
    // Lemire's multiply-shift with rejection: unbiased without a division in the common case.
    uint64_t m = (uint64_t)agir_rng_u32(r) * n;
    uint32_t lo = (uint32_t)m;
    if (lo < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (lo < t) {
            m = (uint64_t)agir_rng_u32(r) * n;
            lo = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void agir_rng_child(const agir_rng *parent, uint64_t label, agir_rng *child) {
    agir_rng_init(child, parent->seed, agir_philox_child_stream(parent->seed, parent->stream, label));
}
