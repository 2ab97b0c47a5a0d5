// GGUF reader (versions 2 and 3): a memory-mapped, fully validated view of a llama.cpp model
// file's metadata and tensors.
//
// Layout (ggml docs/gguf.md): "GGUF", u32 version, u64 tensor count, u64 key/value count, the
// key/values, the tensor infos, padding to general.alignment (default 32), the tensor data.
// Everything is little-endian. agir_gguf_open checks every count, length, type, shape and offset
// against the file's size before anything is allocated from it, refuses duplicates, nested
// arrays, unsupported tensor types and overlapping tensors, and checks that tokenizer token ids
// lie inside the vocabulary; a file that opens can be read without further checks.
//
// Shapes: GGUF lists a tensor's dimensions innermost first (ggml's ne[0] is the row length).
// Views here use agir_tensor_view's outermost-first order, the PyTorch/safetensors one: GGUF
// dims [576, 49152] of token_embd.weight become shape (49152, 576), i.e. (vocab, d_model).
#ifndef AGIR_GGUF_H
#define AGIR_GGUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "checkpoints/tensor_view.h"
#include "core/error.h"
#include "core/fsio.h"

// Metadata value types, numbered as in the file.
typedef enum agir_gguf_vtype {
    AGIR_GGUF_U8 = 0,
    AGIR_GGUF_I8 = 1,
    AGIR_GGUF_U16 = 2,
    AGIR_GGUF_I16 = 3,
    AGIR_GGUF_U32 = 4,
    AGIR_GGUF_I32 = 5,
    AGIR_GGUF_F32 = 6,
    AGIR_GGUF_BOOL = 7,
    AGIR_GGUF_STRING = 8,
    AGIR_GGUF_ARRAY = 9,
    AGIR_GGUF_U64 = 10,
    AGIR_GGUF_I64 = 11,
    AGIR_GGUF_F64 = 12,
    AGIR_GGUF_VTYPE_COUNT,
} agir_gguf_vtype;

// A string inside the file: not NUL-terminated.
typedef struct agir_gguf_str {
    const char *p;
    size_t n;
} agir_gguf_str;

typedef struct agir_gguf_kv {
    const char *key;           // NUL-terminated copy
    agir_gguf_vtype type;      // AGIR_GGUF_ARRAY for arrays
    agir_gguf_vtype elem;      // arrays: element type (never an array); scalars: == type
    uint64_t n;                // arrays: element count; scalars: 1
    const unsigned char *val;  // the value's bytes in the file (arrays: the first element)
    size_t nbytes;             // bytes of the value (arrays: all elements)
} agir_gguf_kv;

typedef struct agir_gguf_tensor {
    agir_tensor_view view;  // name (NUL-terminated copy), dtype, shape outermost-first, data
    uint32_t ggml_type;     // the type number in the file (ggml_type)
    uint64_t offset;        // from the start of the data section
} agir_gguf_tensor;

typedef struct agir_gguf {
    char path[1024];  // for messages
    agir_map map;     // the file (empty when opened from memory)
    const unsigned char *bytes;
    size_t size;
    uint32_t version;
    uint32_t alignment;
    size_t data_offset;  // start of the tensor data section
    int64_t n_kv;
    agir_gguf_kv *kv;
    int64_t n_tensors;
    agir_gguf_tensor *tensors;  // in file order
    char *names;                // storage of every key and tensor name
} agir_gguf;

// Opens and validates a GGUF file (mapped, not read). On failure *g holds nothing to close.
int agir_gguf_open(const char *path, agir_gguf *g, agir_err *e);
// Same over bytes in memory, which must outlive g; `label` names them in messages.
int agir_gguf_open_mem(const void *data, size_t size, const char *label, agir_gguf *g, agir_err *e);
void agir_gguf_close(agir_gguf *g);

// The entry for key, or NULL when absent.
const agir_gguf_kv *agir_gguf_find(const agir_gguf *g, const char *key);

// Typed getters: a missing key or a value of another kind is an input error naming the key.
// Integer getters accept any integer type whose value fits; f32 accepts F32 and F64.
int agir_gguf_get_u32(const agir_gguf *g, const char *key, uint32_t *out, agir_err *e);
int agir_gguf_get_i64(const agir_gguf *g, const char *key, int64_t *out, agir_err *e);
int agir_gguf_get_f32(const agir_gguf *g, const char *key, float *out, agir_err *e);
int agir_gguf_get_bool(const agir_gguf *g, const char *key, int *out, agir_err *e);
// A fresh NUL-terminated copy (caller frees); strings holding NUL bytes are refused.
int agir_gguf_get_str(const agir_gguf *g, const char *key, char **out, agir_err *e);
// Arrays, as fresh arrays of n elements (caller frees; strings point into the file).
int agir_gguf_get_strs(const agir_gguf *g, const char *key, agir_gguf_str **out, uint64_t *n, agir_err *e);
int agir_gguf_get_i32s(const agir_gguf *g, const char *key, int32_t **out, uint64_t *n, agir_err *e);
int agir_gguf_get_f32s(const agir_gguf *g, const char *key, float **out, uint64_t *n, agir_err *e);

// The tensor called name, or NULL.
const agir_gguf_tensor *agir_gguf_tensor_by_name(const agir_gguf *g, const char *name);

// "UINT32", "ARRAY", ... or "?".
const char *agir_gguf_vtype_name(agir_gguf_vtype t);

// Human-readable summary for `agir inspect` / `agir gguf-info`: header, every key (arrays
// abbreviated to their first elements, long strings cut) and every tensor with its type,
// outermost-first shape and offset.
void agir_gguf_print_summary(const agir_gguf *g, FILE *out);

// Converts (dequantizes) every tensor once, in chunks of at most max_floats, and requires finite
// values: a file whose scales are NaN/inf is refused naming the tensor.
int agir_gguf_check_values(const agir_gguf *g, size_t max_floats, agir_err *e);

#endif
