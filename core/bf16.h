// bfloat16 conversions on the host (the CUDA side uses cuda_bf16.h's, which round the same way).
//
// bf16 is the upper 16 bits of an IEEE-754 float32: same exponent range, 8 significant bits.
// Float to bf16 rounds to nearest, ties to even, like __float2bfloat16; NaN stays a quiet NaN (its
// payload may differ from CUDA's canonical 0x7fff).
#ifndef AGIR_CORE_BF16_H
#define AGIR_CORE_BF16_H

#include <stdint.h>
#include <string.h>

// bfloat16 as its bit pattern (the upper half of an IEEE float32).
typedef uint16_t agir_bf16;

static inline float agir_bf16_to_f32(agir_bf16 h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline agir_bf16 agir_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (agir_bf16)((u >> 16) | 0x0040u);  // quiet the NaN
    u += 0x7fffu + ((u >> 16) & 1u);  // ties go to the even neighbour; overflow rounds to inf
    return (agir_bf16)(u >> 16);
}

#endif
