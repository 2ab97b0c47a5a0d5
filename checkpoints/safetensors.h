// safetensors files: a validating zero-copy reader over a memory map, and an atomic writer.
//
// Format (https://github.com/huggingface/safetensors, README "Format"): 8 bytes little-endian
// header length N, N bytes of UTF-8 JSON {name: {dtype, shape, data_offsets: [begin, end]},
// "__metadata__": {string: string}}, then the data buffer; offsets are relative to the buffer.
// The reader applies the reference reader's rules (safetensors/src/tensor.rs, read_metadata and
// Metadata::validate): header at most 100,000,000 bytes and inside the file, valid UTF-8, a JSON
// object, offsets contiguous from 0 without gaps or overlaps, each tensor's byte count equal to
// numel * element size (checked arithmetic), and the last offset ending exactly at the end of
// the file. It is stricter in a few places, each refused with one clear line: duplicate names,
// more than AGIR_MAX_DIMS dimensions, integers of 2^53 or more, "\u0000" in strings, dtypes AGIR
// does not compute with (F8_*, U16, U32, U64, C64, ...).
#ifndef AGIR_SAFETENSORS_H
#define AGIR_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoints/tensor_view.h"
#include "core/error.h"
#include "core/fsio.h"

// The reference reader's limit on the JSON header (bytes, decimal as in tensor.rs).
#define AGIR_ST_MAX_HEADER 100000000ull

typedef struct agir_st_kv {
    const char *key;
    const char *value;
} agir_st_kv;

typedef struct agir_st_file {
    agir_map map;               // the mapped file (unused when opened from memory)
    int64_t n;                  // tensors, in data-offset order
    agir_tensor_view *t;        // t[i].data points into the file; names are owned here
    int64_t *by_name;           // indices into t sorted by name (for lookup)
    int64_t n_meta;             // "__metadata__" entries, in file order
    agir_st_kv *meta;           // owned copies
    size_t header_len;          // N
} agir_st_file;

// Opens and fully validates `path`. On failure nothing is left open.
int agir_st_open(const char *path, agir_st_file *f, agir_err *e);

// The same over bytes in memory (fuzzing, tests); `name` is used in messages. The views point into
// `data`, which must outlive f.
int agir_st_open_mem(const void *data, size_t size, const char *name, agir_st_file *f, agir_err *e);

// The tensor called `name`, or NULL.
const agir_tensor_view *agir_st_find(const agir_st_file *f, const char *name);

// The metadata value of `key`, or NULL.
const char *agir_st_meta(const agir_st_file *f, const char *key);

void agir_st_close(agir_st_file *f);

// "[2, 3]" (or "[]" for a scalar) into out, for messages and listings.
void agir_st_shape_str(const agir_tensor_view *v, char *out, size_t outsz);

// safetensors dtype string of t ("F32", ...), or NULL when safetensors cannot hold it (Q4_1, ...).
const char *agir_st_dtype_name(agir_dtype t);

// Writes tensors t[0..n) in that order, with their shapes and dtypes, plus the metadata map, to
// `path` atomically (temporary file, fsync, rename, folder fsync). The header is padded with
// spaces to a multiple of 8 bytes as the reference writer does, so every tensor's data starts at
// an 8-byte aligned file offset when sizes are multiples of 8. Refuses (AGIR_EINPUT) duplicate or
// reserved names, shapes that do not match nbytes, types safetensors cannot hold, non-UTF-8 text.
int agir_st_write(const char *path, const agir_tensor_view *t, int64_t n, const agir_st_kv *meta, int64_t n_meta,
                  agir_err *e);

#endif
