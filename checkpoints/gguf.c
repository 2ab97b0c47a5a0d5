// GGUF reader: parses and validates the header, metadata and tensor infos of a mapped file.
//
// Format: ggml's docs/gguf.md (GGUF v3; v2 has the same layout). Limits follow ggml's own reader
// (ggml/src/gguf.cpp): at most 4 dimensions, tensor names shorter than 64 bytes, offsets that
// are multiples of general.alignment, a power of two. The checks against the known GGUF bug
// classes (huge counts and string lengths, size arithmetic that wraps, data past the end of the
// file, token ids outside the vocabulary) come before any allocation sized from the file.
#include "checkpoints/gguf.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"

#define HINT_CORRUPT "(hint: the file is truncated or corrupt; download or convert it again)"

enum {
    GGUF_DEFAULT_ALIGNMENT = 32,
    GGUF_MAX_DIMS = 4,     // GGML_MAX_DIMS
    GGUF_MAX_NAME = 63,    // GGML_MAX_NAME is 64 bytes including the terminating NUL
    GGUF_MAX_KEY = 65535,  // docs/gguf.md: keys are at most 2^16 - 1 bytes
    // Smallest possible encodings, to bound counts by the bytes left before allocating:
    // key/value = u64 length + 1-byte key + u32 type + 1-byte value; tensor info = u64 length +
    // 1-byte name + u32 n_dims + one u64 dim + u32 type + u64 offset.
    MIN_KV_BYTES = 8 + 1 + 4 + 1,
    MIN_TENSOR_BYTES = 8 + 1 + 4 + 8 + 4 + 8,
};

// Bytes of one scalar value, 0 for strings and arrays (variable length).
static const size_t SCALAR_BYTES[AGIR_GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

static const char *const VTYPE_NAMES[AGIR_GGUF_VTYPE_COUNT] = {
    "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
    "BOOL",  "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
};

const char *agir_gguf_vtype_name(agir_gguf_vtype t) {
    return (int)t >= 0 && t < AGIR_GGUF_VTYPE_COUNT ? VTYPE_NAMES[t] : "?";
}

// ggml_type numbers (ggml.h) and the ones AGIR reads; the names make refusals readable.
typedef struct ggml_type_info {
    const char *name;
    int supported;
    agir_dtype dtype;
} ggml_type_info;

static const ggml_type_info GGML_TYPES[] = {
    [0] = {"F32", 1, AGIR_DT_F32},     [1] = {"F16", 1, AGIR_DT_F16},      [2] = {"Q4_0", 1, AGIR_DT_Q4_0},
    [3] = {"Q4_1", 1, AGIR_DT_Q4_1},   [6] = {"Q5_0", 0, 0},               [7] = {"Q5_1", 0, 0},
    [8] = {"Q8_0", 1, AGIR_DT_Q8_0},   [9] = {"Q8_1", 0, 0},               [10] = {"Q2_K", 0, 0},
    [11] = {"Q3_K", 0, 0},             [12] = {"Q4_K", 0, 0},              [13] = {"Q5_K", 0, 0},
    [14] = {"Q6_K", 0, 0},             [15] = {"Q8_K", 0, 0},              [16] = {"IQ2_XXS", 0, 0},
    [17] = {"IQ2_XS", 0, 0},           [18] = {"IQ3_XXS", 0, 0},           [19] = {"IQ1_S", 0, 0},
    [20] = {"IQ4_NL", 0, 0},           [21] = {"IQ3_S", 0, 0},             [22] = {"IQ2_S", 0, 0},
    [23] = {"IQ4_XS", 0, 0},           [24] = {"I8", 1, AGIR_DT_I8},       [25] = {"I16", 1, AGIR_DT_I16},
    [26] = {"I32", 1, AGIR_DT_I32},    [27] = {"I64", 1, AGIR_DT_I64},     [28] = {"F64", 1, AGIR_DT_F64},
    [29] = {"IQ1_M", 0, 0},            [30] = {"BF16", 1, AGIR_DT_BF16},   [34] = {"TQ1_0", 0, 0},
    [35] = {"TQ2_0", 0, 0},            [39] = {"MXFP4", 0, 0},
};

enum { N_GGML_TYPES = (int)(sizeof GGML_TYPES / sizeof GGML_TYPES[0]) };

// A bounds-checked reader over the file's bytes.
typedef struct cursor {
    const unsigned char *b;
    size_t size, off;
    const char *path;
    agir_err *e;
} cursor;

static int need(cursor *c, size_t n, const char *what) {
    if (n > c->size - c->off)
        return AGIR_BAD(c->e, "%s: %s at offset %zu needs %zu bytes, the file has %zu left %s", c->path, what,
                        c->off, n, c->size - c->off, HINT_CORRUPT);
    return AGIR_OK;
}

static int rd_u32(cursor *c, uint32_t *v, const char *what) {
    AGIR_TRY(need(c, 4, what));
    memcpy(v, c->b + c->off, 4);
    c->off += 4;
    return AGIR_OK;
}

static int rd_u64(cursor *c, uint64_t *v, const char *what) {
    AGIR_TRY(need(c, 8, what));
    memcpy(v, c->b + c->off, 8);
    c->off += 8;
    return AGIR_OK;
}

// A length-prefixed string; its length is compared with the bytes left before anything else.
static int rd_str(cursor *c, agir_gguf_str *s, const char *what) {
    uint64_t n;
    AGIR_TRY(rd_u64(c, &n, what));
    if (n > c->size - c->off)
        return AGIR_BAD(c->e, "%s: %s at offset %zu claims %llu bytes, the file has %zu left %s", c->path, what,
                        c->off - 8, (unsigned long long)n, c->size - c->off, HINT_CORRUPT);
    s->p = (const char *)c->b + c->off;
    s->n = (size_t)n;
    c->off += (size_t)n;
    return AGIR_OK;
}

// Keys and tensor names appear in messages and lookups: non-empty UTF-8 without control bytes.
static int name_ok(agir_gguf_str s, size_t max) {
    if (s.n == 0 || s.n > max || !agir_utf8_valid(s.p, s.n)) return 0;
    for (size_t i = 0; i < s.n; i++)
        if ((unsigned char)s.p[i] < 0x20 || s.p[i] == 0x7f) return 0;
    return 1;
}

// Checks that `count` values of the scalar type t fit in the file and skips them; bools must be
// 0 or 1.
static int skip_scalars(cursor *c, agir_gguf_vtype t, uint64_t count, const char *key) {
    size_t bytes;
    if (count > SIZE_MAX || agir_mul_ok((size_t)count, SCALAR_BYTES[t], &bytes) || bytes > c->size - c->off)
        return AGIR_BAD(c->e, "%s: key '%s': %llu %s values do not fit in the %zu bytes left %s", c->path, key,
                        (unsigned long long)count, VTYPE_NAMES[t], c->size - c->off, HINT_CORRUPT);
    if (t == AGIR_GGUF_BOOL)
        for (size_t i = 0; i < bytes; i++)
            if (c->b[c->off + i] > 1)
                return AGIR_BAD(c->e, "%s: key '%s': boolean value %u is neither 0 nor 1 %s", c->path, key,
                                c->b[c->off + i], HINT_CORRUPT);
    c->off += bytes;
    return AGIR_OK;
}

static int rd_vtype(cursor *c, agir_gguf_vtype *t, const char *key) {
    uint32_t v;
    AGIR_TRY(rd_u32(c, &v, "value type"));
    if (v >= AGIR_GGUF_VTYPE_COUNT)
        return AGIR_BAD(c->e, "%s: key '%s': unknown value type %u %s", c->path, key, v, HINT_CORRUPT);
    *t = (agir_gguf_vtype)v;
    return AGIR_OK;
}

// One metadata value (the key is already read); kv->val/nbytes cover its bytes.
static int parse_value(cursor *c, agir_gguf_kv *kv, const char *key) {
    AGIR_TRY(rd_vtype(c, &kv->type, key));
    kv->elem = kv->type;
    kv->n = 1;
    if (kv->type == AGIR_GGUF_ARRAY) {
        AGIR_TRY(rd_vtype(c, &kv->elem, key));
        if (kv->elem == AGIR_GGUF_ARRAY)
            return AGIR_BAD(c->e, "%s: key '%s': arrays of arrays are not supported (hint: no model file needs "
                            "them; the file is corrupt or not a model)", c->path, key);
        AGIR_TRY(rd_u64(c, &kv->n, "array length"));
    }
    size_t start = c->off;
    kv->val = c->b + start;
    if (kv->elem != AGIR_GGUF_STRING) {
        AGIR_TRY(skip_scalars(c, kv->elem, kv->n, key));
    } else {
        // Every string needs at least its 8-byte length: bound the count before walking.
        if (kv->n > (c->size - c->off) / 8)
            return AGIR_BAD(c->e, "%s: key '%s': %llu strings do not fit in the %zu bytes left %s", c->path, key,
                            (unsigned long long)kv->n, c->size - c->off, HINT_CORRUPT);
        agir_gguf_str s;
        for (uint64_t i = 0; i < kv->n; i++) AGIR_TRY(rd_str(c, &s, "string value"));
    }
    kv->nbytes = c->off - start;
    return AGIR_OK;
}

static int bound_count(cursor *c, uint64_t n, size_t min_bytes, const char *what) {
    if (n > (c->size - c->off) / min_bytes)
        return AGIR_BAD(c->e, "%s: %s %llu cannot fit in a file of %zu bytes %s", c->path, what,
                        (unsigned long long)n, c->size, HINT_CORRUPT);
    return AGIR_OK;
}

static int parse_header(cursor *c, agir_gguf *g, uint64_t *n_tensors, uint64_t *n_kv) {
    if (c->size < 4 || memcmp(c->b, "GGUF", 4) != 0)
        return AGIR_BAD(c->e, "%s: not a GGUF file: it does not start with 'GGUF' (hint: pass a llama.cpp .gguf "
                        "model file)", c->path);
    c->off = 4;
    AGIR_TRY(rd_u32(c, &g->version, "version"));
    if (g->version == 1)
        return AGIR_BAD(c->e, "%s: GGUF version 1 is not supported (hint: convert the model again with a current "
                        "llama.cpp)", c->path);
    if (g->version != 2 && g->version != 3)
        return AGIR_BAD(c->e, "%s: GGUF version %u is not supported: only versions 2 and 3 are (hint: big-endian "
                        "files are not supported either)", c->path, g->version);
    AGIR_TRY(rd_u64(c, n_tensors, "tensor count"));
    AGIR_TRY(rd_u64(c, n_kv, "key/value count"));
    AGIR_TRY(bound_count(c, *n_kv, MIN_KV_BYTES, "key/value count"));
    return bound_count(c, *n_tensors, MIN_TENSOR_BYTES, "tensor count");
}

static int parse_kvs(cursor *c, agir_gguf *g, agir_gguf_str *keys) {
    for (int64_t i = 0; i < g->n_kv; i++) {
        AGIR_TRY(rd_str(c, &keys[i], "key"));
        if (!name_ok(keys[i], GGUF_MAX_KEY))
            return AGIR_BAD(c->e, "%s: key #%lld at offset %zu is empty, too long or not printable UTF-8 %s",
                            c->path, (long long)i, c->off - keys[i].n, HINT_CORRUPT);
        char key[128];
        snprintf(key, sizeof key, "%.*s", keys[i].n < 100 ? (int)keys[i].n : 100, keys[i].p);
        AGIR_TRY(parse_value(c, &g->kv[i], key));
    }
    return AGIR_OK;
}

static int tensor_dtype(cursor *c, uint32_t t, const char *name, agir_dtype *out) {
    if (t < N_GGML_TYPES && GGML_TYPES[t].supported) {
        *out = GGML_TYPES[t].dtype;
        return AGIR_OK;
    }
    if (t < N_GGML_TYPES && GGML_TYPES[t].name)
        return AGIR_BAD(c->e, "%s: tensor '%s': type %s (%u) is not supported (hint: AGIR reads F32, F16, BF16, "
                        "F64, I8-I64, Q8_0, Q4_0 and Q4_1; requantize the model to one of them)",
                        c->path, name, GGML_TYPES[t].name, t);
    return AGIR_BAD(c->e, "%s: tensor '%s': unknown tensor type %u %s", c->path, name, t, HINT_CORRUPT);
}

// One tensor info: name, dims (innermost first in the file), type, offset. Sizes are checked
// here; positions against the file once the data section is known.
static int parse_tensor(cursor *c, agir_gguf *g, agir_gguf_tensor *t, agir_gguf_str *name) {
    AGIR_TRY(rd_str(c, name, "tensor name"));
    if (!name_ok(*name, GGUF_MAX_NAME))
        return AGIR_BAD(c->e, "%s: tensor name at offset %zu is empty, longer than %d bytes or not printable "
                        "UTF-8 %s", c->path, c->off - name->n, GGUF_MAX_NAME, HINT_CORRUPT);
    char nm[GGUF_MAX_NAME + 1];
    snprintf(nm, sizeof nm, "%.*s", (int)name->n, name->p);
    uint32_t nd;
    AGIR_TRY(rd_u32(c, &nd, "dimension count"));
    if (nd < 1 || nd > GGUF_MAX_DIMS)
        return AGIR_BAD(c->e, "%s: tensor '%s': %u dimensions, expected 1 to %d %s", c->path, nm, nd,
                        GGUF_MAX_DIMS, HINT_CORRUPT);
    t->view.ndim = (int)nd;
    uint64_t numel = 1;
    for (uint32_t k = 0; k < nd; k++) {
        uint64_t d;
        AGIR_TRY(rd_u64(c, &d, "dimension"));
        if (d == 0 || d > INT64_MAX || __builtin_mul_overflow(numel, d, &numel) || numel > INT64_MAX)
            return AGIR_BAD(c->e, "%s: tensor '%s': dimension %u (%llu) is zero or makes the element count "
                            "overflow %s", c->path, nm, k, (unsigned long long)d, HINT_CORRUPT);
        t->view.shape[nd - 1 - k] = (int64_t)d;  // outermost first
    }
    AGIR_TRY(rd_u32(c, &t->ggml_type, "tensor type"));
    AGIR_TRY(tensor_dtype(c, t->ggml_type, nm, &t->view.dtype));
    uint64_t row = (uint64_t)t->view.shape[nd - 1];
    if (row % agir_dtype_block_elems(t->view.dtype))
        return AGIR_BAD(c->e, "%s: tensor '%s': row length %llu is not a multiple of the %s block of %zu %s",
                        c->path, nm, (unsigned long long)row, agir_dtype_name(t->view.dtype),
                        agir_dtype_block_elems(t->view.dtype), HINT_CORRUPT);
    if (agir_dtype_bytes(t->view.dtype, numel, &t->view.nbytes))
        return AGIR_BAD(c->e, "%s: tensor '%s': its size overflows %s", c->path, nm, HINT_CORRUPT);
    AGIR_TRY(rd_u64(c, &t->offset, "tensor offset"));
    if (t->offset % g->alignment)
        return AGIR_BAD(c->e, "%s: tensor '%s': offset %llu is not a multiple of the alignment %u %s", c->path, nm,
                        (unsigned long long)t->offset, g->alignment, HINT_CORRUPT);
    return AGIR_OK;
}

// Names are stored only after every key is parsed, so this early lookup uses the file's strings.
static int64_t find_in(const agir_gguf_str *keys, int64_t n, const char *key) {
    size_t len = strlen(key);
    for (int64_t i = 0; i < n; i++)
        if (keys[i].n == len && !memcmp(keys[i].p, key, len)) return i;
    return -1;
}

static int parse_alignment(cursor *c, agir_gguf *g, const agir_gguf_str *keys) {
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t i = find_in(keys, g->n_kv, "general.alignment");
    if (i < 0) return AGIR_OK;
    const agir_gguf_kv *kv = &g->kv[i];
    if (kv->type != AGIR_GGUF_U32)
        return AGIR_BAD(c->e, "%s: key 'general.alignment': type %s, expected UINT32 %s", c->path,
                        VTYPE_NAMES[kv->type], HINT_CORRUPT);
    uint32_t a;
    memcpy(&a, kv->val, 4);
    if (a == 0 || (a & (a - 1)))
        return AGIR_BAD(c->e, "%s: key 'general.alignment': %u is not a power of two %s", c->path, a, HINT_CORRUPT);
    g->alignment = a;
    return AGIR_OK;
}

static int cmp_tensor_offset(const void *a, const void *b) {
    const agir_gguf_tensor *p = *(agir_gguf_tensor *const *)a, *q = *(agir_gguf_tensor *const *)b;
    return (p->offset > q->offset) - (p->offset < q->offset);
}

// Places every tensor in the data section: inside the file, and no two overlapping.
static int place_tensors(cursor *c, agir_gguf *g) {
    size_t pad = (g->alignment - c->off % g->alignment) % g->alignment;
    if (agir_add_ok(c->off, pad, &g->data_offset)) return AGIR_BUG(c->e, "data offset overflows");
    if (g->n_tensors == 0) return AGIR_OK;
    if (g->data_offset > c->size)
        return AGIR_BAD(c->e, "%s: the tensor data section would start at offset %zu, past the end of the file "
                        "(%zu bytes) %s", c->path, g->data_offset, c->size, HINT_CORRUPT);
    agir_gguf_tensor **order = malloc((size_t)g->n_tensors * sizeof *order);
    if (!order) return AGIR_BUG(c->e, "out of memory for %lld tensors", (long long)g->n_tensors);
    int rc = AGIR_OK;
    for (int64_t i = 0; i < g->n_tensors && !rc; i++) {
        agir_gguf_tensor *t = &g->tensors[i];
        order[i] = t;
        size_t room = c->size - g->data_offset;
        if (t->offset > room || t->view.nbytes > room - t->offset)
            rc = AGIR_BAD(c->e, "%s: tensor '%s': %zu bytes at data offset %llu run past the end of the file "
                          "(%zu data bytes) %s", c->path, t->view.name, t->view.nbytes,
                          (unsigned long long)t->offset, room, HINT_CORRUPT);
        else
            t->view.data = c->b + g->data_offset + t->offset;
    }
    if (!rc) qsort(order, (size_t)g->n_tensors, sizeof *order, cmp_tensor_offset);
    for (int64_t i = 1; i < g->n_tensors && !rc; i++)
        if (order[i - 1]->offset + order[i - 1]->view.nbytes > order[i]->offset)
            rc = AGIR_BAD(c->e, "%s: tensors '%s' and '%s' overlap in the data section %s", c->path,
                          order[i - 1]->view.name, order[i]->view.name, HINT_CORRUPT);
    free(order);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

// Refuses a name that appears twice among n NUL-terminated names.
static int no_duplicates(const agir_gguf *g, const char **names, int64_t n, const char *what, agir_err *e) {
    if (n < 2) return AGIR_OK;
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int64_t i = 1; i < n; i++)
        if (!strcmp(names[i - 1], names[i]))
            return AGIR_BAD(e, "%s: %s '%s' appears twice %s", g->path, what, names[i], HINT_CORRUPT);
    return AGIR_OK;
}

// Copies keys and tensor names into one NUL-terminated store and checks them for duplicates.
static int store_names(agir_gguf *g, const agir_gguf_str *strs, agir_err *e) {
    int64_t n = g->n_kv + g->n_tensors;
    size_t total = 0;
    for (int64_t i = 0; i < n; i++) total += strs[i].n + 1;  // bounded by the file size
    g->names = malloc(total ? total : 1);
    const char **sorted = malloc((size_t)(n ? n : 1) * sizeof *sorted);
    if (!g->names || !sorted) {
        free(sorted);
        return AGIR_BUG(e, "out of memory for %lld names", (long long)n);
    }
    char *p = g->names;
    for (int64_t i = 0; i < n; i++) {
        memcpy(p, strs[i].p, strs[i].n);
        p[strs[i].n] = '\0';
        if (i < g->n_kv)
            g->kv[i].key = p;
        else
            g->tensors[i - g->n_kv].view.name = p;
        sorted[i] = p;
        p += strs[i].n + 1;
    }
    int rc = no_duplicates(g, sorted, g->n_kv, "key", e);
    if (!rc) rc = no_duplicates(g, sorted + g->n_kv, g->n_tensors, "tensor", e);
    free(sorted);
    return rc;
}

// An integer scalar of any width as int64 (u64 values past INT64_MAX refused); 1 if not an integer.
static int int_value(const agir_gguf_vtype t, const unsigned char *p, int64_t *out) {
    switch (t) {
    case AGIR_GGUF_U8: *out = p[0]; return 0;
    case AGIR_GGUF_I8: *out = (int8_t)p[0]; return 0;
    case AGIR_GGUF_U16: { uint16_t v; memcpy(&v, p, 2); *out = v; return 0; }
    case AGIR_GGUF_I16: { int16_t v; memcpy(&v, p, 2); *out = v; return 0; }
    case AGIR_GGUF_U32: { uint32_t v; memcpy(&v, p, 4); *out = v; return 0; }
    case AGIR_GGUF_I32: { int32_t v; memcpy(&v, p, 4); *out = v; return 0; }
    case AGIR_GGUF_I64: memcpy(out, p, 8); return 0;
    case AGIR_GGUF_U64: {
        uint64_t v;
        memcpy(&v, p, 8);
        if (v > INT64_MAX) return 1;
        *out = (int64_t)v;
        return 0;
    }
    default: return 1;
    }
}

static int bad_type(const agir_gguf *g, const agir_gguf_kv *kv, const char *expected, agir_err *e) {
    const char *arr = kv->type == AGIR_GGUF_ARRAY ? "array of " : "";
    return AGIR_BAD(e, "%s: key '%s': %s%s value, expected %s (hint: the file does not follow the GGUF "
                    "conventions for this key)", g->path, kv->key, arr, VTYPE_NAMES[kv->elem], expected);
}

static const agir_gguf_kv *need_kv(const agir_gguf *g, const char *key, agir_err *e) {
    const agir_gguf_kv *kv = agir_gguf_find(g, key);
    if (!kv) AGIR_BAD(e, "%s: key '%s' is missing (hint: the file is not a complete model of the expected "
                      "architecture)", g->path, key);
    return kv;
}

// The tokenizer's arrays agree in length and every *_token_id lies inside the vocabulary.
static int check_vocab(const agir_gguf *g, agir_err *e) {
    const agir_gguf_kv *tokens = agir_gguf_find(g, "tokenizer.ggml.tokens");
    if (!tokens) return AGIR_OK;
    if (tokens->type != AGIR_GGUF_ARRAY || tokens->elem != AGIR_GGUF_STRING)
        return bad_type(g, tokens, "array of STRING", e);
    static const char *const parallel[] = {"tokenizer.ggml.scores", "tokenizer.ggml.token_type"};
    for (int i = 0; i < 2; i++) {
        const agir_gguf_kv *kv = agir_gguf_find(g, parallel[i]);
        if (kv && (kv->type != AGIR_GGUF_ARRAY || kv->n != tokens->n))
            return AGIR_BAD(e, "%s: key '%s': %llu entries for %llu tokens %s", g->path, parallel[i],
                            (unsigned long long)(kv->type == AGIR_GGUF_ARRAY ? kv->n : 1),
                            (unsigned long long)tokens->n, HINT_CORRUPT);
    }
    const char *prefix = "tokenizer.ggml.", *suffix = "_token_id";
    size_t np = strlen(prefix), ns = strlen(suffix);
    for (int64_t i = 0; i < g->n_kv; i++) {
        const agir_gguf_kv *kv = &g->kv[i];
        size_t n = strlen(kv->key);
        if (n < np + ns || strncmp(kv->key, prefix, np) || strcmp(kv->key + n - ns, suffix)) continue;
        int64_t id;
        if (kv->type == AGIR_GGUF_ARRAY || int_value(kv->type, kv->val, &id)) return bad_type(g, kv, "an integer", e);
        if (id < 0 || (uint64_t)id >= tokens->n)
            return AGIR_BAD(e, "%s: key '%s': token id %lld is outside the vocabulary of %llu tokens %s", g->path,
                            kv->key, (long long)id, (unsigned long long)tokens->n, HINT_CORRUPT);
    }
    return AGIR_OK;
}

static int parse(agir_gguf *g, agir_err *e) {
    cursor c = {.b = g->bytes, .size = g->size, .path = g->path, .e = e};
    uint64_t n_tensors, n_kv;
    AGIR_TRY(parse_header(&c, g, &n_tensors, &n_kv));
    // Both counts are bounded by the file size above, so these allocations are too.
    g->n_kv = (int64_t)n_kv;
    g->n_tensors = (int64_t)n_tensors;
    g->kv = calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    agir_gguf_str *strs = calloc(n_kv + n_tensors + 1, sizeof *strs);
    if (!g->kv || !g->tensors || !strs) {
        free(strs);
        return AGIR_BUG(e, "out of memory for %llu keys and %llu tensors", (unsigned long long)n_kv,
                        (unsigned long long)n_tensors);
    }
    int rc = parse_kvs(&c, g, strs);
    if (!rc) rc = parse_alignment(&c, g, strs);
    for (int64_t i = 0; i < g->n_tensors && !rc; i++) rc = parse_tensor(&c, g, &g->tensors[i], &strs[n_kv + i]);
    if (!rc) rc = store_names(g, strs, e);
    free(strs);
    if (!rc) rc = place_tensors(&c, g);
    if (!rc) rc = check_vocab(g, e);
    return rc;
}

static int open_bytes(agir_gguf *g, const char *label, agir_err *e) {
    snprintf(g->path, sizeof g->path, "%s", label);
    int rc = parse(g, e);
    if (rc) agir_gguf_close(g);
    return rc;
}

int agir_gguf_open_mem(const void *data, size_t size, const char *label, agir_gguf *g, agir_err *e) {
    memset(g, 0, sizeof *g);
    g->bytes = data;
    g->size = size;
    return open_bytes(g, label, e);
}

int agir_gguf_open(const char *path, agir_gguf *g, agir_err *e) {
    memset(g, 0, sizeof *g);
    AGIR_TRY(agir_map_file(path, &g->map, e));
    g->bytes = g->map.data;
    g->size = g->map.size;
    return open_bytes(g, path, e);
}

void agir_gguf_close(agir_gguf *g) {
    free(g->kv);
    free(g->tensors);
    free(g->names);
    agir_unmap(&g->map);
    memset(g, 0, sizeof *g);
}

const agir_gguf_kv *agir_gguf_find(const agir_gguf *g, const char *key) {
    for (int64_t i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

const agir_gguf_tensor *agir_gguf_tensor_by_name(const agir_gguf *g, const char *name) {
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (!strcmp(g->tensors[i].view.name, name)) return &g->tensors[i];
    return NULL;
}

int agir_gguf_get_i64(const agir_gguf *g, const char *key, int64_t *out, agir_err *e) {
    const agir_gguf_kv *kv = need_kv(g, key, e);
    if (!kv) return AGIR_EINPUT;
    if (kv->type == AGIR_GGUF_ARRAY || int_value(kv->type, kv->val, out)) return bad_type(g, kv, "an integer", e);
    return AGIR_OK;
}

int agir_gguf_get_u32(const agir_gguf *g, const char *key, uint32_t *out, agir_err *e) {
    int64_t v;
    AGIR_TRY(agir_gguf_get_i64(g, key, &v, e));
    if (v < 0 || v > UINT32_MAX)
        return AGIR_BAD(e, "%s: key '%s': %lld is outside 0..%u %s", g->path, key, (long long)v, UINT32_MAX,
                        HINT_CORRUPT);
    *out = (uint32_t)v;
    return AGIR_OK;
}

int agir_gguf_get_f32(const agir_gguf *g, const char *key, float *out, agir_err *e) {
    const agir_gguf_kv *kv = need_kv(g, key, e);
    if (!kv) return AGIR_EINPUT;
    if (kv->type == AGIR_GGUF_F32) {
        memcpy(out, kv->val, 4);
    } else if (kv->type == AGIR_GGUF_F64) {
        double d;
        memcpy(&d, kv->val, 8);
        *out = fabs(d) <= FLT_MAX ? (float)d : (float)NAN;
    } else {
        return bad_type(g, kv, "FLOAT32", e);
    }
    if (!isfinite(*out))
        return AGIR_BAD(e, "%s: key '%s': value is not a finite float32 %s", g->path, key, HINT_CORRUPT);
    return AGIR_OK;
}

int agir_gguf_get_bool(const agir_gguf *g, const char *key, int *out, agir_err *e) {
    const agir_gguf_kv *kv = need_kv(g, key, e);
    if (!kv) return AGIR_EINPUT;
    if (kv->type != AGIR_GGUF_BOOL) return bad_type(g, kv, "BOOL", e);
    *out = kv->val[0];
    return AGIR_OK;
}

// A string kv's bytes: u64 length then the bytes (already checked by the parser).
static agir_gguf_str str_at(const unsigned char *p) {
    uint64_t n;
    memcpy(&n, p, 8);
    return (agir_gguf_str){(const char *)p + 8, (size_t)n};
}

int agir_gguf_get_str(const agir_gguf *g, const char *key, char **out, agir_err *e) {
    const agir_gguf_kv *kv = need_kv(g, key, e);
    if (!kv) return AGIR_EINPUT;
    if (kv->type != AGIR_GGUF_STRING) return bad_type(g, kv, "STRING", e);
    agir_gguf_str s = str_at(kv->val);
    if (memchr(s.p, 0, s.n))
        return AGIR_BAD(e, "%s: key '%s': the string holds a NUL byte %s", g->path, key, HINT_CORRUPT);
    *out = malloc(s.n + 1);
    if (!*out) return AGIR_BUG(e, "out of memory for a %zu-byte string", s.n);
    memcpy(*out, s.p, s.n);
    (*out)[s.n] = '\0';
    return AGIR_OK;
}

static const agir_gguf_kv *need_array(const agir_gguf *g, const char *key, agir_gguf_vtype elem, agir_err *e) {
    const agir_gguf_kv *kv = need_kv(g, key, e);
    if (!kv) return NULL;
    int ok = kv->type == AGIR_GGUF_ARRAY &&
             (elem == AGIR_GGUF_I32 ? SCALAR_BYTES[kv->elem] && kv->elem != AGIR_GGUF_F32 &&
                                          kv->elem != AGIR_GGUF_F64 && kv->elem != AGIR_GGUF_BOOL
                                    : kv->elem == elem);
    if (!ok) {
        char want[32];
        snprintf(want, sizeof want, "array of %s", elem == AGIR_GGUF_I32 ? "integers" : VTYPE_NAMES[elem]);
        bad_type(g, kv, want, e);
        return NULL;
    }
    return kv;
}

int agir_gguf_get_strs(const agir_gguf *g, const char *key, agir_gguf_str **out, uint64_t *n, agir_err *e) {
    const agir_gguf_kv *kv = need_array(g, key, AGIR_GGUF_STRING, e);
    if (!kv) return AGIR_EINPUT;
    *out = malloc((size_t)(kv->n ? kv->n : 1) * sizeof **out);  // n * 8 <= file size (parser)
    if (!*out) return AGIR_BUG(e, "out of memory for %llu strings", (unsigned long long)kv->n);
    const unsigned char *p = kv->val;
    for (uint64_t i = 0; i < kv->n; i++) {
        (*out)[i] = str_at(p);
        p += 8 + (*out)[i].n;
    }
    *n = kv->n;
    return AGIR_OK;
}

int agir_gguf_get_i32s(const agir_gguf *g, const char *key, int32_t **out, uint64_t *n, agir_err *e) {
    const agir_gguf_kv *kv = need_array(g, key, AGIR_GGUF_I32, e);
    if (!kv) return AGIR_EINPUT;
    *out = malloc((size_t)(kv->n ? kv->n : 1) * sizeof **out);
    if (!*out) return AGIR_BUG(e, "out of memory for %llu integers", (unsigned long long)kv->n);
    for (uint64_t i = 0; i < kv->n; i++) {
        int64_t v;
        if (int_value(kv->elem, kv->val + i * SCALAR_BYTES[kv->elem], &v) || v < INT32_MIN || v > INT32_MAX) {
            free(*out);
            *out = NULL;
            return AGIR_BAD(e, "%s: key '%s': element %llu does not fit in int32 %s", g->path, key,
                            (unsigned long long)i, HINT_CORRUPT);
        }
        (*out)[i] = (int32_t)v;
    }
    *n = kv->n;
    return AGIR_OK;
}

int agir_gguf_get_f32s(const agir_gguf *g, const char *key, float **out, uint64_t *n, agir_err *e) {
    const agir_gguf_kv *kv = need_array(g, key, AGIR_GGUF_F32, e);
    if (!kv) return AGIR_EINPUT;
    *out = malloc((size_t)(kv->n ? kv->n : 1) * sizeof **out);
    if (!*out) return AGIR_BUG(e, "out of memory for %llu floats", (unsigned long long)kv->n);
    if (kv->n) memcpy(*out, kv->val, (size_t)kv->n * 4);
    *n = kv->n;
    return AGIR_OK;
}

int agir_gguf_check_values(const agir_gguf *g, size_t max_floats, agir_err *e) {
    float *buf = malloc((max_floats ? max_floats : 1) * sizeof *buf);
    if (!buf) return AGIR_BUG(e, "out of memory for a %zu-float scratch buffer", max_floats);
    int rc = AGIR_OK;
    for (int64_t i = 0; i < g->n_tensors && !rc; i++) {
        const agir_tensor_view *v = &g->tensors[i].view;
        size_t blk = agir_dtype_block_elems(v->dtype), bytes_per_blk, total;
        uint64_t numel;
        agir_view_numel(v, &numel);  // checked when the file was opened
        agir_dtype_bytes(v->dtype, blk, &bytes_per_blk);
        size_t chunk = max_floats / blk * blk;
        if (chunk == 0) {
            rc = AGIR_BUG(e, "scratch of %zu floats is smaller than one block", max_floats);
            break;
        }
        total = (size_t)numel;
        // Each chunk is a 1-D view over whole blocks of the tensor.
        for (size_t start = 0; start < total && !rc; start += chunk) {
            size_t n = total - start < chunk ? total - start : chunk;
            agir_tensor_view part = {.name = v->name, .dtype = v->dtype, .ndim = 1, .shape = {(int64_t)n}};
            part.data = (const unsigned char *)v->data + start / blk * bytes_per_blk;
            part.nbytes = n / blk * bytes_per_blk;
            rc = agir_view_to_f32(&part, buf, e);
            for (size_t k = 0; k < n && !rc; k++)
                if (!isfinite(buf[k]))
                    rc = AGIR_BAD(e, "%s: tensor '%s': element %zu is %s %s", g->path, v->name, start + k,
                                  isnan(buf[k]) ? "NaN" : "infinite", HINT_CORRUPT);
        }
    }
    free(buf);
    return rc;
}
