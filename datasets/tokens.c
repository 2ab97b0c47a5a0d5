// The HDF5 token store: building it in memory, writing (atomic, byte-deterministic) and validated
// reading. What it does like the gait store (root identity, atomic write, the read, the
// /sequences columns) is in datasets/seq_h5.c; shared slice and label checks are in
// datasets/seq_checks.c.
//
// Layout (docs/dataset_format.md, "Token store"):
//   / attrs format="agir-tokens", version=1, model_hash, codebook_size, downsample, model_fps
//   /codes (N,) int32
//   /sequences/{id,subject} (S,) str, /sequences/{offset,length} (S,) int64,
//   /sequences/{medication,updrs_gait} (S,) int8
#include "datasets/tokens.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/h5io.h"
#include "datasets/seq_checks.h"
#include "datasets/seq_h5.h"

// ---- validation (shared by init, the writer and the reader) ---------------------------------

static int hash_char_ok(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == ':' || c == '.' ||
           c == '_' || c == '-';
}

static int check_identity(const char *name, const char *hash, int64_t codebook, int64_t down, int64_t fps,
                          agir_err *e) {
    size_t n = strlen(hash);
    if (n == 0 || n > AGIR_TOKENS_HASH_MAX)
        return AGIR_BAD(e, "%s: model_hash is %zu bytes, not 1..%d (hint: record the tokenizer's weight hash)", name, n,
                        AGIR_TOKENS_HASH_MAX);
    for (size_t i = 0; i < n; i++)
        if (!hash_char_ok(hash[i]))
            return AGIR_BAD(e, "%s: model_hash has character 0x%02x at byte %zu (hint: hashes use letters, digits and "
                               ": . _ -)",
                            name, (unsigned char)hash[i], i);
    if (codebook < 1 || codebook > INT32_MAX)
        return AGIR_BAD(e, "%s: codebook_size %lld outside 1..%d (hint: codes are int32 indices into the codebook)",
                        name, (long long)codebook, INT32_MAX);
    if (down < 1 || down > AGIR_TOKENS_MAX_DOWNSAMPLE)
        return AGIR_BAD(e, "%s: downsample %lld outside 1..%d (hint: the tokenizer's frames per code, e.g. 4)", name,
                        (long long)down, AGIR_TOKENS_MAX_DOWNSAMPLE);
    if (fps < 1 || fps > AGIR_TOKENS_MAX_FPS)
        return AGIR_BAD(e, "%s: model_fps %lld outside 1..%d (hint: the tokenizer's frame rate, e.g. 20)", name,
                        (long long)fps, AGIR_TOKENS_MAX_FPS);
    return AGIR_OK;
}

// Every code of sequence q lies in the codebook.
static int check_codes(const char *name, const agir_tokens *t, const agir_token_seq *q, agir_err *e) {
    const int32_t *c = t->codes + q->offset;
    for (int64_t i = 0; i < q->length; i++)
        if (c[i] < 0 || c[i] >= t->codebook_size)
            return AGIR_BAD(e, "%s: sequence '%s': code %lld is %d, outside the codebook 0..%lld (hint: the codes were "
                               "made by another tokenizer, or the file is corrupt)",
                            name, q->id, (long long)i, c[i], (long long)(t->codebook_size - 1));
    return AGIR_OK;
}

// Every rule of docs/dataset_format.md; `name` prefixes messages.
static int validate(const void *store, const char *name, agir_err *e) {
    const agir_tokens *t = store;
    AGIR_TRY(check_identity(name, t->model_hash, t->codebook_size, t->downsample, t->model_fps, e));
    agir_seq_slice *sl = malloc(t->n_seq ? (size_t)t->n_seq * sizeof *sl : 1);
    if (!sl) return AGIR_BUG(e, "out of memory validating %lld sequences", (long long)t->n_seq);
    for (int64_t s = 0; s < t->n_seq; s++) sl[s] = (agir_seq_slice){t->seq[s].id, t->seq[s].offset, t->seq[s].length};
    int rc = agir_seq_check_slices(name, sl, t->n_seq, t->n_codes, "codes", e);
    free(sl);
    for (int64_t s = 0; !rc && s < t->n_seq; s++) {
        const agir_token_seq *q = &t->seq[s];
        rc = agir_seq_check_labels(name, q->id, q->medication, q->updrs_gait, e);
        if (!rc) rc = check_codes(name, t, q, e);
    }
    return rc;
}

// ---- in memory ------------------------------------------------------------------------------

int agir_tokens_init(agir_tokens *t, const char *model_hash, int64_t codebook_size, int64_t downsample,
                     int64_t model_fps, agir_err *e) {
    memset(t, 0, sizeof *t);
    AGIR_TRY(check_identity("token store", model_hash, codebook_size, downsample, model_fps, e));
    snprintf(t->model_hash, sizeof t->model_hash, "%s", model_hash);
    t->codebook_size = codebook_size;
    t->downsample = downsample;
    t->model_fps = model_fps;
    return AGIR_OK;
}

void agir_tokens_free(agir_tokens *t) {
    for (int64_t s = 0; t->seq && s < t->n_seq; s++) free(t->seq[s].id), free(t->seq[s].subject);
    free(t->seq);
    free(t->codes);
    memset(t, 0, sizeof *t);
}

// Grows *p (elements of `size` bytes, capacity *cap) to hold `need`.
static int grow(void **p, int64_t *cap, int64_t need, size_t size, agir_err *e) {
    if (need <= *cap) return AGIR_OK;
    int64_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    size_t bytes;
    if (agir_mul_ok((size_t)c, size, &bytes)) return AGIR_BUG(e, "token store too large (%lld entries)", (long long)c);
    void *q = realloc(*p, bytes);
    if (!q) return AGIR_BUG(e, "out of memory growing the token store to %lld entries", (long long)c);
    *p = q;
    *cap = c;
    return AGIR_OK;
}

int agir_tokens_append(agir_tokens *t, const agir_seq *meta, const int32_t *codes, int64_t n, agir_err *e) {
    agir_token_seq q = {.medication = meta->medication, .updrs_gait = meta->updrs_gait, .offset = t->n_codes,
                        .length = n};
    if (n < 1)
        return AGIR_BAD(e, "sequence '%s': no codes (hint: the sequence is too short for the tokenizer)", meta->id);
    for (int64_t i = 0; i < n; i++)
        if (codes[i] < 0 || codes[i] >= t->codebook_size)
            return AGIR_BUG(e, "sequence '%s': code %lld is %d, outside the codebook of %lld", meta->id, (long long)i,
                            codes[i], (long long)t->codebook_size);
    AGIR_TRY(grow((void **)&t->codes, &t->cap_codes, t->n_codes + n, sizeof *t->codes, e));
    AGIR_TRY(grow((void **)&t->seq, &t->cap_seq, t->n_seq + 1, sizeof *t->seq, e));
    q.id = strdup(meta->id);
    q.subject = strdup(meta->subject ? meta->subject : "");
    if (!q.id || !q.subject) {
        free(q.id), free(q.subject);
        return AGIR_BUG(e, "out of memory appending sequence '%s'", meta->id);
    }
    memcpy(t->codes + t->n_codes, codes, (size_t)n * sizeof *codes);
    t->n_codes += n;
    t->seq[t->n_seq++] = q;
    return AGIR_OK;
}

int64_t agir_tokens_find(const agir_tokens *t, const char *id) {
    for (int64_t s = 0; s < t->n_seq; s++)
        if (!strcmp(t->seq[s].id, id)) return s;
    return -1;
}

int agir_tokens_check_model(const agir_tokens *t, const char *name, const char *model_hash, int64_t codebook_size,
                            int64_t downsample, int64_t model_fps, agir_err *e) {
    if (strcmp(t->model_hash, model_hash))
        return AGIR_BAD(e, "%s: codes made by tokenizer '%s', not by this one ('%s') (hint: tokenize the gait data "
                           "again with this model)",
                        name, t->model_hash, model_hash);
    if (t->codebook_size != codebook_size || t->downsample != downsample || t->model_fps != model_fps)
        return AGIR_BAD(e, "%s: tokenizer '%s' recorded with codebook %lld, downsample %lld, %lld fps; the model has "
                           "%lld, %lld, %lld (hint: the model file or the token store is inconsistent; tokenize again)",
                        name, model_hash, (long long)t->codebook_size, (long long)t->downsample,
                        (long long)t->model_fps, (long long)codebook_size, (long long)downsample, (long long)model_fps);
    return AGIR_OK;
}

// ---- the /sequences table --------------------------------------------------------------------

// In file order: reading and writing both follow it.
static const agir_seq_h5_col seq_cols[] = {
    AGIR_SEQ_H5_NAMES(agir_token_seq),
    AGIR_SEQ_H5_SLICE_LABELS(agir_token_seq),
};
enum { N_SEQ_COLS = sizeof seq_cols / sizeof *seq_cols };

// ---- writing --------------------------------------------------------------------------------

// Everything after the root format and version, in a fixed order.
static int write_rest(agir_h5w *w, const void *store, agir_err *e) {
    const agir_tokens *t = store;
    AGIR_TRY(agir_h5w_attr_str(w, "/", "model_hash", t->model_hash, e));
    AGIR_TRY(agir_h5w_attr_i64(w, "/", "codebook_size", t->codebook_size, e));
    AGIR_TRY(agir_h5w_attr_i64(w, "/", "downsample", t->downsample, e));
    AGIR_TRY(agir_h5w_attr_i64(w, "/", "model_fps", t->model_fps, e));
    AGIR_TRY(agir_h5w_write(w, "/codes", AGIR_H5_I32, 1, &t->n_codes, t->codes, e));
    return agir_seq_h5_write_cols(w, seq_cols, N_SEQ_COLS, t->seq, sizeof *t->seq, t->n_seq, e);
}

// ---- reading --------------------------------------------------------------------------------

// Everything after the root format and version (the model identity, checked first); the caller
// validates.
static int load(agir_h5 *f, void *store, agir_err *e) {
    agir_tokens *t = store;
    AGIR_TRY(agir_h5_attr_str(f, "/", "model_hash", t->model_hash, sizeof t->model_hash, e));
    AGIR_TRY(agir_h5_attr_i64(f, "/", "codebook_size", &t->codebook_size, e));
    AGIR_TRY(agir_h5_attr_i64(f, "/", "downsample", &t->downsample, e));
    AGIR_TRY(agir_h5_attr_i64(f, "/", "model_fps", &t->model_fps, e));
    AGIR_TRY(check_identity(f->name, t->model_hash, t->codebook_size, t->downsample, t->model_fps, e));
    int64_t n = -1;
    AGIR_TRY(agir_h5_read(f, "/codes", AGIR_H5_I32, 1, &n, NULL, (void **)&t->codes, e));
    t->n_codes = t->cap_codes = n;
    void *seq = NULL;
    AGIR_TRY(agir_seq_h5_read_cols(f, seq_cols, N_SEQ_COLS, sizeof *t->seq, &seq, &t->n_seq, e));
    t->seq = seq;
    t->cap_seq = t->n_seq;
    return AGIR_OK;
}

// ---- the store ------------------------------------------------------------------------------

static void clear(void *store) { agir_tokens_free(store); }

static const agir_seq_h5_format tokens_format = {
    .format = AGIR_TOKENS_FORMAT, .version = 1, .size = sizeof(agir_tokens),
    .format_hint = "this is not an AGIR token file; make one with 'agir tokenize'", .version_fix = "tokenize again",
    .write = write_rest, .load = load, .validate = validate, .clear = clear,
};

int agir_tokens_read(agir_tokens *t, const char *path, agir_err *e) {
    return agir_seq_h5_read(&tokens_format, t, path, e);
}

int agir_tokens_read_image(agir_tokens *t, const void *buf, size_t len, const char *name, agir_err *e) {
    return agir_seq_h5_read_image(&tokens_format, t, buf, len, name, e);
}

int agir_tokens_write(const agir_tokens *t, const char *path, agir_err *e) {
    return agir_seq_h5_write(&tokens_format, t, path, e);
}
