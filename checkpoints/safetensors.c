// safetensors reader (validation as the reference reader, zero-copy views) and atomic writer.
#include "checkpoints/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core/json.h"
#include "core/utf8.h"

// safetensors dtype names of the types AGIR computes with (element sizes: agir_dtype_bytes).
static const struct {
    const char *name;
    agir_dtype dt;
} st_types[] = {
    {"F64", AGIR_DT_F64}, {"F32", AGIR_DT_F32}, {"F16", AGIR_DT_F16}, {"BF16", AGIR_DT_BF16}, {"I64", AGIR_DT_I64},
    {"I32", AGIR_DT_I32}, {"I16", AGIR_DT_I16}, {"I8", AGIR_DT_I8},   {"U8", AGIR_DT_U8},     {"BOOL", AGIR_DT_BOOL},
};
enum { N_ST_TYPES = sizeof st_types / sizeof st_types[0] };

// Types the reference format knows but AGIR does not read (so the message can say so).
static const char *const st_foreign_types[] = {"F4", "F6_E2M3", "F6_E3M2", "F8_E5M2", "F8_E4M3", "F8_E8M0",
                                               "U16", "U32", "U64", "C64"};

#define ST_TYPE_LIST "F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL"

// Integers in the header are read through cJSON's doubles, exact below 2^53: larger values are
// refused rather than rounded (no real file has a petabyte buffer or such a dimension).
#define ST_INT_LIMIT 9007199254740992.0

static const char METADATA_KEY[] = "__metadata__";

const char *agir_st_dtype_name(agir_dtype t) {
    for (int i = 0; i < N_ST_TYPES; i++)
        if (st_types[i].dt == t) return st_types[i].name;
    return NULL;
}

void agir_st_shape_str(const agir_tensor_view *v, char *out, size_t outsz) {
    size_t k = (size_t)snprintf(out, outsz, "[");
    for (int d = 0; d < v->ndim && k < outsz; d++)
        k += (size_t)snprintf(out + k, outsz - k, "%s%lld", d ? ", " : "", (long long)v->shape[d]);
    if (k < outsz) snprintf(out + k, outsz - k, "]");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// Repeated names among n strings (tensor names or metadata keys), by sorting copies of the pointers.
static int check_unique(const char **s, int64_t n, const char *path, const char *what, agir_err *e) {
    if (n < 2) return AGIR_OK;
    const char **k = malloc((size_t)n * sizeof *k);
    if (!k) return AGIR_BUG(e, "out of memory checking %lld names", (long long)n);
    memcpy(k, s, (size_t)n * sizeof *k);
    qsort(k, (size_t)n, sizeof *k, cmp_str);
    int rc = AGIR_OK;
    for (int64_t i = 1; i < n && !rc; i++)
        if (!strcmp(k[i], k[i - 1])) rc = AGIR_BAD(e, "%s: %s '%s' appears more than once", path, what, agir_show(k[i]).s);
    free(k);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// Reader

// Rules cJSON does not enforce: raw control characters (JSON allows none, in strings or out,
// besides whitespace) and "\u0000" escapes, which would cut a C string short silently.
static int check_header_text(const char *h, size_t n, const char *name, agir_err *e) {
    long bad = agir_utf8_invalid_at(h, n);
    if (bad >= 0)
        return AGIR_BAD(e, "%s: header is not valid UTF-8 at header byte %ld (hint: the file is corrupt)", name, bad);
    int in_string = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return AGIR_BAD(e, "%s: header holds control byte 0x%02x at header byte %zu, which JSON does not allow "
                            "(hint: the file is corrupt)", name, c, i);
        if (!in_string) {
            in_string = c == '"';
            continue;
        }
        if (c == '"') in_string = 0;
        else if (c == '\\' && i + 1 < n) {
            if (h[i + 1] == 'u' && i + 5 < n && !memcmp(h + i + 2, "0000", 4))
                return AGIR_BAD(e, "%s: header string holds a \\u0000 escape at header byte %zu (hint: names and "
                                "metadata cannot contain NUL characters)", name, i);
            i++;
        }
    }
    return AGIR_OK;
}

// A non-negative integer below 2^53 from a JSON number; what: "dimension 2 of tensor 'x'".
static int json_uint(const cJSON *v, const char *name, const char *what, uint64_t *out, agir_err *e) {
    if (!cJSON_IsNumber(v))
        return AGIR_BAD(e, "%s: %s is %s, not an integer (hint: the header is corrupt)", name, what, agir_json_kind(v));
    double d = v->valuedouble;
    if (d < 0) return AGIR_BAD(e, "%s: %s is negative (%g) (hint: the header is corrupt)", name, what, d);
    if (d >= ST_INT_LIMIT) return AGIR_BAD(e, "%s: %s is %g, too large (hint: the header is corrupt)", name, what, d);
    if (d != (double)(uint64_t)d)
        return AGIR_BAD(e, "%s: %s is %g, not an integer (hint: the header is corrupt)", name, what, d);
    *out = (uint64_t)d;
    return AGIR_OK;
}

// One tensor entry as parsed, before the layout check.
typedef struct st_entry {
    const char *name;  // the cJSON key
    agir_dtype dt;
    int ndim;
    int64_t shape[AGIR_MAX_DIMS];
    uint64_t begin, end;
    int64_t order;  // position in the file's JSON, to keep sorting deterministic
} st_entry;

static int parse_dtype(const cJSON *v, const char *name, const char *tn, agir_dtype *dt, agir_err *e) {
    if (!cJSON_IsString(v))
        return AGIR_BAD(e, "%s: tensor '%s': dtype is %s, not a string (hint: the header is corrupt)", name, tn,
                        agir_json_kind(v));
    for (int i = 0; i < N_ST_TYPES; i++)
        if (!strcmp(v->valuestring, st_types[i].name)) {
            *dt = st_types[i].dt;
            return AGIR_OK;
        }
    for (size_t i = 0; i < sizeof st_foreign_types / sizeof *st_foreign_types; i++)
        if (!strcmp(v->valuestring, st_foreign_types[i]))
            return AGIR_BAD(e, "%s: tensor '%s': dtype %s is not supported by AGIR (hint: convert the file to one of "
                            ST_TYPE_LIST ")", name, tn, v->valuestring);
    return AGIR_BAD(e, "%s: tensor '%s': unknown dtype '%s' (hint: safetensors dtypes AGIR reads are " ST_TYPE_LIST ")",
                    name, tn, agir_show(v->valuestring).s);
}

static int parse_shape(const cJSON *v, const char *name, const char *tn, st_entry *t, agir_err *e) {
    if (!cJSON_IsArray(v))
        return AGIR_BAD(e, "%s: tensor '%s': shape is %s, not an array of integers (hint: the header is corrupt)",
                        name, tn, agir_json_kind(v));
    int nd = cJSON_GetArraySize(v);
    if (nd > AGIR_MAX_DIMS)
        return AGIR_BAD(e, "%s: tensor '%s': shape has %d dimensions, more than the %d AGIR supports", name, tn, nd,
                        AGIR_MAX_DIMS);
    t->ndim = 0;
    for (const cJSON *d = v->child; d; d = d->next) {
        char what[160];
        snprintf(what, sizeof what, "tensor '%s': dimension %d", tn, t->ndim);
        uint64_t x;
        AGIR_TRY(json_uint(d, name, what, &x, e));
        t->shape[t->ndim++] = (int64_t)x;
    }
    return AGIR_OK;
}

static int parse_offsets(const cJSON *v, const char *name, const char *tn, st_entry *t, agir_err *e) {
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2)
        return AGIR_BAD(e, "%s: tensor '%s': data_offsets must be an array of two integers [begin, end] "
                        "(hint: the header is corrupt)", name, tn);
    char what[160];
    snprintf(what, sizeof what, "tensor '%s': data_offsets begin", tn);
    AGIR_TRY(json_uint(v->child, name, what, &t->begin, e));
    snprintf(what, sizeof what, "tensor '%s': data_offsets end", tn);
    return json_uint(v->child->next, name, what, &t->end, e);
}

// {"dtype": ..., "shape": [...], "data_offsets": [b, e]}; other fields are ignored as the reference
// does, repeated ones refused.
static int parse_entry(const cJSON *it, const char *name, st_entry *t, agir_err *e) {
    agir_shown sn = agir_show(it->string);
    const char *tn = sn.s;
    if (!cJSON_IsObject(it))
        return AGIR_BAD(e, "%s: tensor '%s' is %s, not an object with dtype, shape and data_offsets", name, tn,
                        agir_json_kind(it));
    static const char *const fields[3] = {"dtype", "shape", "data_offsets"};
    const cJSON *f[3] = {NULL, NULL, NULL};
    for (const cJSON *c = it->child; c; c = c->next)
        for (int k = 0; k < 3; k++) {
            if (strcmp(c->string, fields[k])) continue;
            if (f[k]) return AGIR_BAD(e, "%s: tensor '%s': field %s appears twice", name, tn, fields[k]);
            f[k] = c;
        }
    for (int k = 0; k < 3; k++)
        if (!f[k]) return AGIR_BAD(e, "%s: tensor '%s' has no %s (hint: the header is corrupt)", name, tn, fields[k]);
    t->name = it->string;
    AGIR_TRY(parse_dtype(f[0], name, tn, &t->dt, e));
    AGIR_TRY(parse_shape(f[1], name, tn, t, e));
    return parse_offsets(f[2], name, tn, t, e);
}

static int parse_metadata(const cJSON *m, const char *name, agir_st_file *f, agir_err *e) {
    if (cJSON_IsNull(m)) return AGIR_OK;
    if (!cJSON_IsObject(m))
        return AGIR_BAD(e, "%s: __metadata__ is %s, not an object of strings", name, agir_json_kind(m));
    int64_t k = cJSON_GetArraySize(m);
    f->meta = calloc(k ? (size_t)k : 1, sizeof *f->meta);
    if (!f->meta) return AGIR_BUG(e, "out of memory for %lld metadata entries", (long long)k);
    for (const cJSON *c = m->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return AGIR_BAD(e, "%s: __metadata__ key '%s' is %s, not a string (hint: metadata is a flat "
                            "string-to-string map)", name, agir_show(c->string).s, agir_json_kind(c));
        agir_st_kv *kv = &f->meta[f->n_meta++];
        kv->key = strdup(c->string);
        kv->value = strdup(c->valuestring);
        if (!kv->key || !kv->value) return AGIR_BUG(e, "out of memory copying metadata");
    }
    const char **keys = malloc((size_t)(f->n_meta ? f->n_meta : 1) * sizeof *keys);
    if (!keys) return AGIR_BUG(e, "out of memory checking metadata keys");
    for (int64_t i = 0; i < f->n_meta; i++) keys[i] = f->meta[i].key;
    int rc = check_unique(keys, f->n_meta, name, "__metadata__ key", e);
    free(keys);
    return rc;
}

static int cmp_entry(const void *a, const void *b) {
    const st_entry *p = a, *q = b;
    if (p->begin != q->begin) return p->begin < q->begin ? -1 : 1;
    if (p->end != q->end) return p->end < q->end ? -1 : 1;
    return (p->order > q->order) - (p->order < q->order);
}

// The reference's Metadata::validate: in offset order, each tensor begins where the previous one
// ended, and holds exactly numel * size bytes. Returns the end of the data buffer in *end.
static int check_layout(st_entry *t, int64_t n, const char *name, uint64_t *end, agir_err *e) {
    if (n) qsort(t, (size_t)n, sizeof *t, cmp_entry);
    uint64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        agir_shown sn = agir_show(t[i].name);
        const char *tn = sn.s;
        if (t[i].end < t[i].begin)
            return AGIR_BAD(e, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin", name, tn,
                            (unsigned long long)t[i].begin, (unsigned long long)t[i].end);
        if (t[i].begin > at)
            return AGIR_BAD(e, "%s: tensor '%s': a gap of %llu bytes before its data at offset %llu (hint: tensors "
                            "must be packed from offset 0 without gaps)", name, tn,
                            (unsigned long long)(t[i].begin - at), (unsigned long long)t[i].begin);
        if (t[i].begin < at)
            return AGIR_BAD(e, "%s: tensor '%s': data_offsets [%llu, %llu] overlap the previous tensor, which ends at "
                            "%llu (hint: the header is corrupt)", name, tn, (unsigned long long)t[i].begin,
                            (unsigned long long)t[i].end, (unsigned long long)at);
        uint64_t numel = 1;
        size_t bytes;
        for (int d = 0; d < t[i].ndim; d++)
            if (__builtin_mul_overflow(numel, (uint64_t)t[i].shape[d], &numel))
                return AGIR_BAD(e, "%s: tensor '%s': the element count of its shape overflows 64 bits", name, tn);
        if (agir_dtype_bytes(t[i].dt, numel, &bytes))
            return AGIR_BAD(e, "%s: tensor '%s': its byte size overflows 64 bits", name, tn);
        if (bytes != t[i].end - t[i].begin)
            return AGIR_BAD(e, "%s: tensor '%s': %llu elements of %s need %llu bytes but data_offsets [%llu, %llu] "
                            "hold %llu (hint: shape, dtype and offsets disagree)", name, tn,
                            (unsigned long long)numel, agir_st_dtype_name(t[i].dt), (unsigned long long)bytes,
                            (unsigned long long)t[i].begin, (unsigned long long)t[i].end,
                            (unsigned long long)(t[i].end - t[i].begin));
        at = t[i].end;
    }
    *end = at;
    return AGIR_OK;
}

static int cmp_name(const void *a, const void *b, void *ctx) {
    const agir_tensor_view *t = ctx;
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    int c = strcmp(t[i].name, t[j].name);
    return c ? c : (i > j) - (i < j);
}

// Copies the checked entries into views over `buf` (the data buffer) and indexes them by name;
// cJSON keeps repeated keys, so duplicates show up here as equal neighbours.
static int build_views(const st_entry *t, int64_t n, const unsigned char *buf, const char *name, agir_st_file *f,
                       agir_err *e) {
    f->t = calloc(n ? (size_t)n : 1, sizeof *f->t);
    f->by_name = calloc(n ? (size_t)n : 1, sizeof *f->by_name);
    if (!f->t || !f->by_name) return AGIR_BUG(e, "out of memory for %lld tensors", (long long)n);
    for (int64_t i = 0; i < n; i++, f->n++) {
        agir_tensor_view *v = &f->t[i];
        v->name = strdup(t[i].name);
        if (!v->name) return AGIR_BUG(e, "out of memory copying tensor names");
        v->dtype = t[i].dt;
        v->ndim = t[i].ndim;
        memcpy(v->shape, t[i].shape, sizeof v->shape);
        v->data = buf + t[i].begin;
        v->nbytes = (size_t)(t[i].end - t[i].begin);
        f->by_name[i] = i;
    }
    if (n) qsort_r(f->by_name, (size_t)n, sizeof *f->by_name, cmp_name, f->t);
    for (int64_t i = 1; i < n; i++)
        if (!strcmp(f->t[f->by_name[i]].name, f->t[f->by_name[i - 1]].name))
            return AGIR_BAD(e, "%s: tensor name '%s' appears more than once in the header (hint: the file is corrupt "
                            "or was not written by a safetensors writer)", name, agir_show(f->t[f->by_name[i]].name).s);
    return AGIR_OK;
}

static int parse_root(const cJSON *root, const unsigned char *data, size_t size, const char *name, agir_st_file *f,
                      agir_err *e) {
    if (!cJSON_IsObject(root))
        return AGIR_BAD(e, "%s: header is %s, not a JSON object of tensors (hint: not a safetensors file)", name,
                        agir_json_kind(root));
    int64_t k = cJSON_GetArraySize(root);
    st_entry *t = calloc(k ? (size_t)k : 1, sizeof *t);
    if (!t) return AGIR_BUG(e, "out of memory for %lld header entries", (long long)k);
    int64_t n = 0;
    int rc = AGIR_OK, seen_meta = 0;
    for (const cJSON *it = root->child; it && !rc; it = it->next) {
        if (!strcmp(it->string, METADATA_KEY)) {
            rc = seen_meta++ ? AGIR_BAD(e, "%s: __metadata__ appears more than once in the header", name)
                             : parse_metadata(it, name, f, e);
            continue;
        }
        t[n].order = n;
        rc = parse_entry(it, name, &t[n], e);
        n++;
    }
    uint64_t end = 0, total;
    if (!rc) rc = check_layout(t, n, name, &end, e);
    if (!rc) {
        size_t start = 8 + f->header_len;  // both already checked against size
        if (agir_add_ok(start, end, &total) || total > size)
            rc = AGIR_BAD(e, "%s: tensor data needs %llu bytes after the header but the file holds only %zu (hint: the "
                          "file is cut)", name, (unsigned long long)end, size - start);
        else if (total < size)
            rc = AGIR_BAD(e, "%s: %zu trailing bytes after the last tensor (hint: the file is corrupt; the reference "
                          "reader refuses it too)", name, size - (size_t)total);
        else rc = build_views(t, n, data + start, name, f, e);
    }
    free(t);
    return rc;
}

// Where cJSON stopped, for the message.
static int syntax_error(const char *z, const char *stop, size_t n, const char *name, agir_err *e) {
    size_t at = stop && stop >= z ? (size_t)(stop - z) : 0;
    if (at >= n)
        return AGIR_BAD(e, "%s: header JSON ends too early (hint: the header is cut or its length field is wrong)",
                        name);
    return AGIR_BAD(e, "%s: header is not valid JSON near header byte %zu (hint: not a safetensors file, or a corrupt "
                    "one)", name, at);
}

static int parse(const unsigned char *data, size_t size, const char *name, agir_st_file *f, agir_err *e) {
    if (size < 8)
        return AGIR_BAD(e, "%s: %zu bytes, too short for the 8-byte header length (hint: empty or cut file)", name,
                        size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | data[i];
    if (n > AGIR_ST_MAX_HEADER)
        return AGIR_BAD(e, "%s: header length %llu is over the %llu-byte limit (hint: not a safetensors file, or a "
                        "corrupt one)", name, (unsigned long long)n, AGIR_ST_MAX_HEADER);
    if (n > size - 8)
        return AGIR_BAD(e, "%s: header length %llu runs past the end of the %zu-byte file (hint: the file is cut)",
                        name, (unsigned long long)n, size);
    f->header_len = (size_t)n;
    const char *h = (const char *)data + 8;
    AGIR_TRY(check_header_text(h, f->header_len, name, e));
    // cJSON wants the terminating NUL inside the length it is given.
    char *z = malloc(f->header_len + 1);
    if (!z) return AGIR_BUG(e, "out of memory for a %zu-byte header", f->header_len);
    memcpy(z, h, f->header_len);
    z[f->header_len] = '\0';
    const char *stop = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(z, f->header_len + 1, &stop, 1);
    int rc = root ? parse_root(root, data, size, name, f, e) : syntax_error(z, stop, f->header_len, name, e);
    cJSON_Delete(root);
    free(z);
    return rc;
}

int agir_st_open_mem(const void *data, size_t size, const char *name, agir_st_file *f, agir_err *e) {
    memset(f, 0, sizeof *f);
    int rc = parse(data, size, name, f, e);
    if (rc) agir_st_close(f);
    return rc;
}

int agir_st_open(const char *path, agir_st_file *f, agir_err *e) {
    agir_map m;
    memset(f, 0, sizeof *f);
    AGIR_TRY(agir_map_file(path, &m, e));
    int rc = agir_st_open_mem(m.data, m.size, path, f, e);
    if (rc) {
        agir_unmap(&m);
        return rc;
    }
    f->map = m;
    return AGIR_OK;
}

const agir_tensor_view *agir_st_find(const agir_st_file *f, const char *name) {
    int64_t lo = 0, hi = f->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->t[f->by_name[mid]].name, name);
        if (c == 0) return &f->t[f->by_name[mid]];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *agir_st_meta(const agir_st_file *f, const char *key) {
    for (int64_t i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta[i].key, key)) return f->meta[i].value;
    return NULL;
}

void agir_st_close(agir_st_file *f) {
    for (int64_t i = 0; i < f->n; i++) free((char *)f->t[i].name);
    for (int64_t i = 0; i < f->n_meta; i++) {
        free((char *)f->meta[i].key);
        free((char *)f->meta[i].value);
    }
    free(f->t);
    free(f->by_name);
    free(f->meta);
    agir_unmap(&f->map);
    memset(f, 0, sizeof *f);
}

// ---------------------------------------------------------------------------------------------
// Writer

static int check_text_arg(const char *s, const char *path, const char *what, agir_err *e) {
    if (!s) return AGIR_BUG(e, "%s: %s is NULL", path, what);
    if (!agir_utf8_valid(s, strlen(s)))
        return AGIR_BAD(e, "%s: %s '%s' is not valid UTF-8 (hint: names and metadata must be UTF-8)", path, what,
                        agir_show(s).s);
    return AGIR_OK;
}

static int check_tensor_arg(const agir_tensor_view *v, const char *path, agir_err *e) {
    AGIR_TRY(check_text_arg(v->name, path, "tensor name", e));
    if (!strcmp(v->name, METADATA_KEY))
        return AGIR_BAD(e, "%s: a tensor cannot be called __metadata__ (the name is reserved)", path);
    const char *dn = agir_st_dtype_name(v->dtype);
    if (!dn)
        return AGIR_BAD(e, "%s: tensor '%s': type %s cannot be stored in safetensors (hint: convert to one of "
                        ST_TYPE_LIST ")", path, agir_show(v->name).s,
                        agir_dtype_name(v->dtype) ? agir_dtype_name(v->dtype) : "?");
    if (v->ndim < 0 || v->ndim > AGIR_MAX_DIMS)
        return AGIR_BUG(e, "%s: tensor '%s' has %d dimensions", path, v->name, v->ndim);
    uint64_t numel = 1;
    size_t bytes = 0;
    for (int d = 0; d < v->ndim; d++)
        if (v->shape[d] < 0 || (double)v->shape[d] >= ST_INT_LIMIT ||
            __builtin_mul_overflow(numel, (uint64_t)v->shape[d], &numel))
            return AGIR_BUG(e, "%s: tensor '%s': dimension %d is %lld", path, v->name, d, (long long)v->shape[d]);
    if (agir_dtype_bytes(v->dtype, numel, &bytes) || bytes != v->nbytes)
        return AGIR_BUG(e, "%s: tensor '%s': shape and type need %llu bytes but the view holds %zu", path, v->name,
                        (unsigned long long)bytes, v->nbytes);
    if (v->nbytes && !v->data) return AGIR_BUG(e, "%s: tensor '%s' has no data", path, v->name);
    return AGIR_OK;
}

static cJSON *raw_uint(uint64_t x) {
    char buf[32];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)x);
    return cJSON_CreateRaw(buf);
}

static int check_args(const agir_tensor_view *t, int64_t n, const agir_st_kv *meta, int64_t n_meta, const char *path,
                      agir_err *e) {
    if (n < 0 || n_meta < 0 || (n && !t) || (n_meta && !meta))
        return AGIR_BUG(e, "%s: %lld tensors and %lld metadata entries requested", path, (long long)n, (long long)n_meta);
    for (int64_t i = 0; i < n; i++) AGIR_TRY(check_tensor_arg(&t[i], path, e));
    for (int64_t i = 0; i < n_meta; i++) {
        AGIR_TRY(check_text_arg(meta[i].key, path, "metadata key", e));
        AGIR_TRY(check_text_arg(meta[i].value, path, "metadata value", e));
    }
    int64_t m = n > n_meta ? n : n_meta;
    const char **names = malloc((m ? (size_t)m : 1) * sizeof *names);
    if (!names) return AGIR_BUG(e, "out of memory checking names");
    for (int64_t i = 0; i < n; i++) names[i] = t[i].name;
    int rc = check_unique(names, n, path, "tensor name", e);
    for (int64_t i = 0; i < n_meta; i++) names[i] = meta[i].key;
    if (!rc) rc = check_unique(names, n_meta, path, "metadata key", e);
    free(names);
    return rc;
}

// The JSON header, padded with spaces to a multiple of 8 bytes (malloc'd into *out).
static int build_header(const agir_tensor_view *t, int64_t n, const agir_st_kv *meta, int64_t n_meta,
                        const char *path, char **out, size_t *len, agir_err *e) {
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && n_meta) {
        cJSON *m = cJSON_AddObjectToObject(root, METADATA_KEY);
        ok = m != NULL;
        for (int64_t i = 0; ok && i < n_meta; i++) ok = cJSON_AddStringToObject(m, meta[i].key, meta[i].value) != NULL;
    }
    uint64_t at = 0;
    for (int64_t i = 0; ok && i < n; i++) {
        cJSON *o = cJSON_AddObjectToObject(root, t[i].name);
        cJSON *shape = o ? cJSON_AddArrayToObject(o, "shape") : NULL;
        cJSON *offs = o ? cJSON_CreateArray() : NULL;
        ok = o && shape && offs && cJSON_AddStringToObject(o, "dtype", agir_st_dtype_name(t[i].dtype));
        for (int d = 0; ok && d < t[i].ndim; d++) ok = cJSON_AddItemToArray(shape, raw_uint((uint64_t)t[i].shape[d]));
        ok = ok && cJSON_AddItemToArray(offs, raw_uint(at));
        at += t[i].nbytes;
        ok = ok && cJSON_AddItemToArray(offs, raw_uint(at)) && cJSON_AddItemToObject(o, "data_offsets", offs);
        if (!ok) cJSON_Delete(offs);
    }
    char *s = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!s) return AGIR_BUG(e, "%s: out of memory building the safetensors header", path);
    size_t k = strlen(s), padded = (k + 7) / 8 * 8;
    if (padded > AGIR_ST_MAX_HEADER) {
        free(s);
        return AGIR_BAD(e, "%s: the header would be %zu bytes, over the %llu-byte limit (hint: fewer tensors or "
                        "shorter metadata)", path, padded, AGIR_ST_MAX_HEADER);
    }
    char *p = realloc(s, padded);
    if (!p) {
        free(s);
        return AGIR_BUG(e, "%s: out of memory padding the header", path);
    }
    memset(p + k, ' ', padded - k);
    *out = p;
    *len = padded;
    return AGIR_OK;
}

int agir_st_write(const char *path, const agir_tensor_view *t, int64_t n, const agir_st_kv *meta, int64_t n_meta,
                  agir_err *e) {
    AGIR_TRY(check_args(t, n, meta, n_meta, path, e));
    char *hdr = NULL;
    size_t hlen = 0;
    AGIR_TRY(build_header(t, n, meta, n_meta, path, &hdr, &hlen, e));
    agir_afile a;
    int rc = agir_atomic_fopen(&a, path, e);
    if (rc) {
        free(hdr);
        return rc;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    int ok = fwrite(len8, 1, 8, a.f) == 8 && fwrite(hdr, 1, hlen, a.f) == hlen;
    for (int64_t i = 0; ok && i < n; i++) ok = !t[i].nbytes || fwrite(t[i].data, 1, t[i].nbytes, a.f) == t[i].nbytes;
    free(hdr);
    if (!ok) {
        rc = agir_err_io(e, path, "write failed");
        agir_atomic_fclose(&a, 0, e);
        return rc;
    }
    return agir_atomic_fclose(&a, 1, e);
}
