// A read-only view of one named tensor inside a weights file (safetensors, GGUF), and the
// element types AGIR reads. Readers validate shapes, sizes and offsets before handing out views;
// agir_view_to_f32 converts (and dequantizes) any supported type to float32.
#ifndef AGIR_TENSOR_VIEW_H
#define AGIR_TENSOR_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef enum agir_dtype {
    AGIR_DT_F32,
    AGIR_DT_F16,
    AGIR_DT_BF16,
    AGIR_DT_F64,
    AGIR_DT_I8,
    AGIR_DT_U8,
    AGIR_DT_I16,
    AGIR_DT_I32,
    AGIR_DT_I64,
    AGIR_DT_BOOL,
    AGIR_DT_Q8_0,  // GGML block types: 32 weights per block
    AGIR_DT_Q4_0,
    AGIR_DT_Q4_1,
    AGIR_DT_COUNT,
} agir_dtype;

#define AGIR_MAX_DIMS 8

typedef struct agir_tensor_view {
    const char *name;
    agir_dtype dtype;
    int ndim;
    int64_t shape[AGIR_MAX_DIMS];  // outermost first (row-major, as in safetensors / PyTorch)
    const void *data;              // inside the mapped file
    size_t nbytes;
} agir_tensor_view;

// Name ("F32", "Q4_1", ...), or NULL for an out-of-range value.
const char *agir_dtype_name(agir_dtype t);

// Bytes for n elements of type t (block types need n % block == 0); 1 on overflow or a partial
// block, 0 on success.
int agir_dtype_bytes(agir_dtype t, uint64_t n, size_t *out);

// Elements per storage block: 32 for the GGML block types, 1 for the others, 0 if out of range.
// A GGML tensor's innermost dimension (its row) must be a multiple of it.
size_t agir_dtype_block_elems(agir_dtype t);

// IEEE-754 half to float, exact (subnormals, infinities and NaN included).
float agir_f16_to_f32(uint16_t h);

// Element count of a view (checked product of its shape); 1 on overflow.
int agir_view_numel(const agir_tensor_view *v, uint64_t *out);

// Converts/dequantizes all elements of v into out (numel floats), exactly as ggml's reference
// dequantization does. A view whose nbytes does not match its shape and dtype is a reader bug
// (AGIR_EINTERNAL); file contents cannot make this fail.
int agir_view_to_f32(const agir_tensor_view *v, float *out, agir_err *e);

#endif
