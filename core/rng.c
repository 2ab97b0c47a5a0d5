// Philox4x32-10 with the round constants of the Random123 reference.
#include "core/rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo) {
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void agir_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(PHILOX_M0, c0, &hi0, &lo0);
        mulhilo(PHILOX_M1, c2, &hi1, &lo1);
        uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

void agir_rng_init(agir_rng *r, uint64_t seed, uint64_t stream) {
    r->seed = seed;
    r->stream = stream;
    r->counter = 0;
    r->used = 4;
}

uint32_t agir_rng_u32(agir_rng *r) {
    if (r->used >= 4) {
        uint32_t ctr[4] = {(uint32_t)r->counter, (uint32_t)(r->counter >> 32), (uint32_t)r->stream,
                           (uint32_t)(r->stream >> 32)};
        uint32_t key[2] = {(uint32_t)r->seed, (uint32_t)(r->seed >> 32)};
        agir_philox4x32(ctr, key, r->buf);
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
    // Mix (stream, label) through one Philox block keyed by the parent's seed so that children of
    // different parents or labels land on unrelated streams.
    uint32_t ctr[4] = {(uint32_t)label, (uint32_t)(label >> 32), (uint32_t)parent->stream,
                       (uint32_t)(parent->stream >> 32) ^ 0x5eedu};
    uint32_t key[2] = {(uint32_t)parent->seed, (uint32_t)(parent->seed >> 32)};
    uint32_t out[4];
    agir_philox4x32(ctr, key, out);
    agir_rng_init(child, parent->seed, ((uint64_t)out[0] << 32) | out[1]);
}
