// The parts the gait and token stores share: identity, atomic write, validated read, and the
// /sequences columns (see seq_h5.h).
#include "datasets/seq_h5.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsio.h"
#include "datasets/h5verify.h"

enum { MAX_COLS = 16 };

// Bytes per entry of a column being written, and the stored type of the numeric kinds (strings
// go through agir_h5w_strings and agir_h5_read_strings instead).
static const struct {
    size_t bytes;
    agir_h5_type type;
} kinds[] = {
    [AGIR_SEQ_STR] = {.bytes = sizeof(char *)},
    [AGIR_SEQ_TEXT] = {.bytes = sizeof(char *)},
    [AGIR_SEQ_I64] = {.bytes = sizeof(int64_t), .type = AGIR_H5_I64},
    [AGIR_SEQ_I8] = {.bytes = sizeof(int8_t), .type = AGIR_H5_I8},
    [AGIR_SEQ_F32] = {.bytes = sizeof(float), .type = AGIR_H5_F32},
};

static int is_str(agir_seq_h5_kind k) { return k == AGIR_SEQ_STR || k == AGIR_SEQ_TEXT; }

// ---- writing --------------------------------------------------------------------------------

static int write_col(agir_h5w *w, const agir_seq_h5_col *c, const char *seq, size_t elem, int64_t n, agir_err *e) {
    void *col = malloc((n ? (size_t)n : 1) * kinds[c->kind].bytes);
    if (!col) return AGIR_BUG(e, "out of memory writing %lld sequences", (long long)n);
    for (int64_t s = 0; s < n; s++) {
        const char *p = seq + (size_t)s * elem + c->field;
        switch (c->kind) {
        case AGIR_SEQ_STR:
        case AGIR_SEQ_TEXT: ((const char **)col)[s] = *(char *const *)p; break;
        case AGIR_SEQ_I64: ((int64_t *)col)[s] = *(const int64_t *)p; break;
        case AGIR_SEQ_I8: ((int8_t *)col)[s] = (int8_t)*(const int *)p; break;
        case AGIR_SEQ_F32: ((float *)col)[s] = *(const float *)p; break;
        }
    }
    int rc = is_str(c->kind) ? agir_h5w_strings(w, c->path, n, col, e)
                             : agir_h5w_write(w, c->path, kinds[c->kind].type, 1, &n, col, e);
    free(col);
    return rc;
}

int agir_seq_h5_write_cols(agir_h5w *w, const agir_seq_h5_col *cols, int n_cols, const void *seq, size_t elem,
                           int64_t n, agir_err *e) {
    AGIR_TRY(agir_h5w_group(w, "/sequences", e));
    for (int i = 0; i < n_cols; i++) AGIR_TRY(write_col(w, &cols[i], seq, elem, n, e));
    return AGIR_OK;
}

// Root identity first, then the store's own objects.
static int write_all(agir_h5w *w, const agir_seq_h5_format *fmt, const void *store, agir_err *e) {
    AGIR_TRY(agir_h5w_attr_str(w, "/", "format", fmt->format, e));
    AGIR_TRY(agir_h5w_attr_i64(w, "/", "version", fmt->version, e));
    return fmt->write(w, store, e);
}

int agir_seq_h5_write(const agir_seq_h5_format *fmt, const void *store, const char *path, agir_err *e) {
    char label[4200], tmp[4096];
    snprintf(label, sizeof label, "%s (not written)", path);
    AGIR_TRY(fmt->validate(store, label, e));
    AGIR_TRY(agir_atomic_tmpname(path, tmp, sizeof tmp, e));
    agir_h5w w;
    int rc = agir_h5w_create(&w, tmp, path, e);
    if (!rc) rc = write_all(&w, fmt, store, e);
    int rc_close = agir_h5w_close(&w, e);
    if (!rc) rc = rc_close;
    if (rc) {
        agir_atomic_abort(tmp);
        return rc;
    }
    return agir_atomic_commit(tmp, path, e);
}

// ---- reading --------------------------------------------------------------------------------

static void free_cols(const agir_seq_h5_col *cols, int n_cols, void **tmp, int64_t n) {
    for (int i = 0; i < n_cols; i++) {
        if (is_str(cols[i].kind))
            agir_h5_free_strings(tmp[i], n);
        else
            free(tmp[i]);
    }
}

// Moves entry s of each column into the struct at `dst` (strings change owner).
static void take_row(const agir_seq_h5_col *cols, int n_cols, void **tmp, int64_t s, char *dst) {
    for (int i = 0; i < n_cols; i++) {
        char *p = dst + cols[i].field;
        switch (cols[i].kind) {
        case AGIR_SEQ_STR:
        case AGIR_SEQ_TEXT: {
            char **str = tmp[i];
            *(char **)p = str[s];
            if (cols[i].kind == AGIR_SEQ_TEXT && !str[s][0]) free(str[s]), *(char **)p = NULL;
            str[s] = NULL;
            break;
        }
        case AGIR_SEQ_I64: *(int64_t *)p = ((const int64_t *)tmp[i])[s]; break;
        case AGIR_SEQ_I8: *(int *)p = ((const int8_t *)tmp[i])[s]; break;
        case AGIR_SEQ_F32: *(float *)p = ((const float *)tmp[i])[s]; break;
        }
    }
}

// Column by column; the id column (first) gives *n, the count every other column must have.
static int read_each(agir_h5 *f, const agir_seq_h5_col *cols, int n_cols, void **tmp, int64_t *n, agir_err *e) {
    static const char *per_seq = "one entry per /sequences/id";
    for (int i = 0; i < n_cols; i++) {
        const agir_seq_h5_col *c = &cols[i];
        const char *why = i ? per_seq : NULL;
        int64_t count = i ? *n : -1;
        char **str = NULL;
        if (is_str(c->kind)) {
            AGIR_TRY(agir_h5_read_strings(f, c->path, &count, why, c->max_len, &str, e));
            tmp[i] = str;
        } else {
            AGIR_TRY(agir_h5_read(f, c->path, kinds[c->kind].type, 1, &count, why, &tmp[i], e));
        }
        if (!i) *n = count;
    }
    return AGIR_OK;
}

int agir_seq_h5_read_cols(agir_h5 *f, const agir_seq_h5_col *cols, int n_cols, size_t elem, void **seq,
                          int64_t *n, agir_err *e) {
    *seq = NULL;
    if (n_cols < 1 || n_cols > MAX_COLS) return AGIR_BUG(e, "%d sequence columns, not 1..%d", n_cols, MAX_COLS);
    void *tmp[MAX_COLS] = {0};
    int64_t rows = -1;
    int rc = read_each(f, cols, n_cols, tmp, &rows, e);
    char *out = NULL;
    if (!rc) {
        out = calloc(rows ? (size_t)rows : 1, elem);
        if (!out) rc = AGIR_BUG(e, "out of memory for %lld sequences", (long long)rows);
    }
    for (int64_t s = 0; !rc && s < rows; s++) take_row(cols, n_cols, tmp, s, out + (size_t)s * elem);
    if (tmp[0]) free_cols(cols, n_cols, tmp, rows);
    if (rc) return rc;
    *seq = out;
    *n = rows;
    return AGIR_OK;
}

// The root identity: format, then version.
static int check_identity(agir_h5 *f, const agir_seq_h5_format *fmt, agir_err *e) {
    char found[64];
    int64_t version;
    // libhdf5 trusts the sizes inside attribute messages (found again by tests/fuzz/fuzz_gait_h5.c
    // and fuzz_tokens.c).
    AGIR_TRY(agir_h5_check_root_attrs(f, e));
    AGIR_TRY(agir_h5_attr_str(f, "/", "format", found, sizeof found, e));
    if (strcmp(found, fmt->format))
        return AGIR_BAD(e, "%s: format attribute is '%s', not '%s' (hint: %s)", f->name, found, fmt->format,
                        fmt->format_hint);
    AGIR_TRY(agir_h5_attr_i64(f, "/", "version", &version, e));
    if (version != fmt->version)
        return AGIR_BAD(e, "%s: format version %lld is not supported (hint: this agir reads version %d; upgrade agir "
                           "or %s)",
                        f->name, (long long)version, fmt->version, fmt->version_fix);
    return AGIR_OK;
}

// Takes over an open (or failed, rc != 0) handle and closes it.
static int finish(const agir_seq_h5_format *fmt, agir_h5 *f, void *store, int rc, agir_err *e) {
    if (!rc) rc = check_identity(f, fmt, e);
    if (!rc) rc = fmt->load(f, store, e);
    if (!rc) rc = fmt->validate(store, f->name, e);
    agir_h5_close(f);
    if (rc) fmt->clear(store);
    return rc;
}

int agir_seq_h5_read(const agir_seq_h5_format *fmt, void *store, const char *path, agir_err *e) {
    memset(store, 0, fmt->size);
    agir_h5 f;
    return finish(fmt, &f, store, agir_h5_open(&f, path, e), e);
}

int agir_seq_h5_read_image(const agir_seq_h5_format *fmt, void *store, const void *buf, size_t len,
                           const char *name, agir_err *e) {
    memset(store, 0, fmt->size);
    agir_h5 f;
    return finish(fmt, &f, store, agir_h5_open_image(&f, buf, len, name, e), e);
}
