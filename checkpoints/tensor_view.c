// Element types of weights files: names, byte sizes, and conversion of any view to float32,
// including the dequantization of GGML's block types.
//
// Block layouts and dequantization follow ggml's reference code (ggml/src/ggml-common.h for the
// structs, ggml/src/ggml-quants.c dequantize_row_q8_0 / _q4_0 / _q4_1): each block of 32 weights
// starts with a float16 scale d (Q4_1 adds a float16 minimum m), then the quants. Q8_0 stores 32
// int8 values, x = d*q. Q4_0/Q4_1 store 16 bytes whose low nibbles are weights 0..15 and high
// nibbles weights 16..31, x = d*(q-8) and x = d*q + m respectively.
#include "checkpoints/tensor_view.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "core/bf16.h"

enum { GGML_QK = 32 };  // weights per block of the Q8_0/Q4_0/Q4_1 types

typedef struct dtype_info {
    const char *name;
    size_t block_elems;  // 1 for plain types
    size_t block_bytes;
} dtype_info;

static const dtype_info DTYPES[AGIR_DT_COUNT] = {
    [AGIR_DT_F32] = {"F32", 1, 4},
    [AGIR_DT_F16] = {"F16", 1, 2},
    [AGIR_DT_BF16] = {"BF16", 1, 2},
    [AGIR_DT_F64] = {"F64", 1, 8},
    [AGIR_DT_I8] = {"I8", 1, 1},
    [AGIR_DT_U8] = {"U8", 1, 1},
    [AGIR_DT_I16] = {"I16", 1, 2},
    [AGIR_DT_I32] = {"I32", 1, 4},
    [AGIR_DT_I64] = {"I64", 1, 8},
    [AGIR_DT_BOOL] = {"BOOL", 1, 1},
    [AGIR_DT_Q8_0] = {"Q8_0", GGML_QK, 2 + GGML_QK},
    [AGIR_DT_Q4_0] = {"Q4_0", GGML_QK, 2 + GGML_QK / 2},
    [AGIR_DT_Q4_1] = {"Q4_1", GGML_QK, 4 + GGML_QK / 2},
};

static int dtype_valid(agir_dtype t) { return (int)t >= 0 && t < AGIR_DT_COUNT; }

const char *agir_dtype_name(agir_dtype t) { return dtype_valid(t) ? DTYPES[t].name : NULL; }

size_t agir_dtype_block_elems(agir_dtype t) { return dtype_valid(t) ? DTYPES[t].block_elems : 0; }

int agir_dtype_bytes(agir_dtype t, uint64_t n, size_t *out) {
    if (!dtype_valid(t) || n > SIZE_MAX) return 1;
    const dtype_info *d = &DTYPES[t];
    if (n % d->block_elems) return 1;
    return agir_mul_ok((size_t)(n / d->block_elems), d->block_bytes, out);
}

int agir_view_numel(const agir_tensor_view *v, uint64_t *out) {
    if (v->ndim < 0 || v->ndim > AGIR_MAX_DIMS) return 1;
    uint64_t n = 1;
    for (int i = 0; i < v->ndim; i++) {
        if (v->shape[i] < 0 || __builtin_mul_overflow(n, (uint64_t)v->shape[i], &n)) return 1;
    }
    *out = n;
    return 0;
}

// IEEE-754 binary16 to float32, exact for every input: subnormal halves become normal floats,
// inf and NaN keep their class (and the NaN payload's top bits).
float agir_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0x1f) {
        u = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    } else if (man == 0) {
        u = sign;
    } else {
        // Subnormal: value = man * 2^-24; shift the leading one up to bit 10 to normalise it.
        int e = -14;
        while (!(man & 0x400u)) {
            man <<= 1;
            e--;
        }
        u = sign | ((uint32_t)(e + 127) << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

// Loads go through memcpy: views point into mapped files at any byte offset.
static uint16_t ld16(const unsigned char *p) {
    uint16_t x;
    memcpy(&x, p, sizeof x);
    return x;
}

// Out-of-range doubles become infinities explicitly rather than by an undefined conversion.
static float f64_to_f32(double d) {
    if (d > FLT_MAX) return INFINITY;
    if (d < -FLT_MAX) return -INFINITY;
    return (float)d;
}

static void plain_to_f32(agir_dtype t, const unsigned char *p, size_t n, float *out) {
    for (size_t i = 0; i < n; i++) {
        switch (t) {
        case AGIR_DT_F32: memcpy(&out[i], p + 4 * i, 4); break;
        case AGIR_DT_F16: out[i] = agir_f16_to_f32(ld16(p + 2 * i)); break;
        case AGIR_DT_BF16: out[i] = agir_bf16_to_f32(ld16(p + 2 * i)); break;
        case AGIR_DT_F64: {
            double d;
            memcpy(&d, p + 8 * i, 8);
            out[i] = f64_to_f32(d);
            break;
        }
        case AGIR_DT_I8: out[i] = (float)(int8_t)p[i]; break;
        case AGIR_DT_U8: out[i] = (float)p[i]; break;
        case AGIR_DT_I16: out[i] = (float)(int16_t)ld16(p + 2 * i); break;
        case AGIR_DT_I32: {
            int32_t x;
            memcpy(&x, p + 4 * i, 4);
            out[i] = (float)x;
            break;
        }
        case AGIR_DT_I64: {
            int64_t x;
            memcpy(&x, p + 8 * i, 8);
            out[i] = (float)x;
            break;
        }
        case AGIR_DT_BOOL: out[i] = p[i] ? 1.0f : 0.0f; break;
        default: return;  // block types are handled by block_to_f32
        }
    }
}

// One 32-weight block of a GGML type (ggml-quants.c, dequantize_row_*).
static void block_to_f32(agir_dtype t, const unsigned char *b, float *y) {
    float d = agir_f16_to_f32(ld16(b));
    if (t == AGIR_DT_Q8_0) {
        for (int j = 0; j < GGML_QK; j++) y[j] = d * (float)(int8_t)b[2 + j];
        return;
    }
    if (t == AGIR_DT_Q4_0) {
        // No "+ 0": like ggml, a zero quant under a negative scale gives -0.
        for (int j = 0; j < GGML_QK / 2; j++) {
            y[j] = d * (float)((b[2 + j] & 0x0f) - 8);
            y[j + GGML_QK / 2] = d * (float)((b[2 + j] >> 4) - 8);
        }
        return;
    }
    float m = agir_f16_to_f32(ld16(b + 2));
    for (int j = 0; j < GGML_QK / 2; j++) {
        y[j] = d * (float)(b[4 + j] & 0x0f) + m;
        y[j + GGML_QK / 2] = d * (float)(b[4 + j] >> 4) + m;
    }
}

int agir_view_to_f32(const agir_tensor_view *v, float *out, agir_err *e) {
    uint64_t n;
    size_t bytes;
    // Readers validate views against their files, so an inconsistent view is a bug in a reader.
    if (agir_view_numel(v, &n) || agir_dtype_bytes(v->dtype, n, &bytes))
        return AGIR_BUG(e, "tensor '%s': invalid shape or dtype in view", v->name ? v->name : "?");
    if (bytes != v->nbytes || (bytes && !v->data))
        return AGIR_BUG(e, "tensor '%s': view holds %zu bytes, its shape needs %zu",
                        v->name ? v->name : "?", v->nbytes, bytes);
    const unsigned char *p = v->data;
    const dtype_info *d = &DTYPES[v->dtype];
    if (d->block_elems == 1) {
        plain_to_f32(v->dtype, p, (size_t)n, out);
        return 0;
    }
    for (size_t b = 0; b < (size_t)n / d->block_elems; b++)
        block_to_f32(v->dtype, p + b * d->block_bytes, out + b * d->block_elems);
    return 0;
}
