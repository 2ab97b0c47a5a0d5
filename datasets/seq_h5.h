// What the ragged sequence stores have in common: the gait store (datasets/gait_h5.c) and the
// token store (datasets/tokens.c) each keep one row array (frames, codes) sliced into sequences
// that a /sequences table of (S,) columns describes, name themselves by root attributes "format"
// and "version", are written atomically and read through the hardened readers of
// datasets/h5io.h.
//
// A store describes itself once (agir_seq_h5_format: identity plus callbacks for the parts that
// differ); this module does the rest alike for both: root identity checks with one message per
// rule, the atomic write, open/load/validate/close of a read (from a path or a file image), and
// the /sequences columns, read into and written from the caller's array of sequence structs.
#ifndef AGIR_SEQ_H5_H
#define AGIR_SEQ_H5_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "datasets/h5io.h"

// How a /sequences column is held in the caller's sequence struct, and stored.
typedef enum agir_seq_h5_kind {
    AGIR_SEQ_STR,   // char *, never NULL once read; stored as strings
    AGIR_SEQ_TEXT,  // char *, NULL = none: written as "", and "" reads back as NULL
    AGIR_SEQ_I64,   // int64_t, stored int64
    AGIR_SEQ_I8,    // int, stored int8 (labels such as medication, updrs_gait)
    AGIR_SEQ_F32,   // float, stored float32
} agir_seq_h5_kind;

// One column: (S,) entries, one per sequence, at `path` ("/sequences/id").
typedef struct agir_seq_h5_col {
    const char *path;
    agir_seq_h5_kind kind;
    size_t field;    // offsetof the member in the caller's sequence struct
    size_t max_len;  // strings: longest accepted, in bytes
} agir_seq_h5_col;

// Longest id or subject accepted, in bytes.
enum { AGIR_SEQ_H5_MAX_NAME = 256 };

// The columns both stores have, for a sequence struct `type` with members of these names: id and
// subject (first in the file), then the slice and the labels (written after any store-specific
// strings). Column-table entries: use inside an agir_seq_h5_col array.
#define AGIR_SEQ_H5_NAMES(type)                                                    \
    {"/sequences/id", AGIR_SEQ_STR, offsetof(type, id), AGIR_SEQ_H5_MAX_NAME}, \
    {"/sequences/subject", AGIR_SEQ_STR, offsetof(type, subject), AGIR_SEQ_H5_MAX_NAME}
#define AGIR_SEQ_H5_SLICE_LABELS(type)                                     \
    {"/sequences/offset", AGIR_SEQ_I64, offsetof(type, offset), 0},         \
    {"/sequences/length", AGIR_SEQ_I64, offsetof(type, length), 0},         \
    {"/sequences/medication", AGIR_SEQ_I8, offsetof(type, medication), 0}, \
    {"/sequences/updrs_gait", AGIR_SEQ_I8, offsetof(type, updrs_gait), 0}

// A store's identity and its own parts. `store` is the caller's (an agir_gait *, agir_tokens *).
typedef struct agir_seq_h5_format {
    const char *format;       // root attribute "format", e.g. "agir-gait"
    int version;              // root attribute "version", the one this agir reads and writes
    const char *format_hint;  // hint for another format, e.g. "this is not an AGIR gait file"
    const char *version_fix;  // ends the hint for another version: "upgrade agir or <version_fix>"
    size_t size;              // sizeof the store, zeroed before reading
    // The objects after "format" and "version", in a fixed order (equal stores give equal bytes).
    int (*write)(agir_h5w *w, const void *store, agir_err *e);
    // The objects after "format" and "version"; the reader validates afterwards.
    int (*load)(agir_h5 *f, void *store, agir_err *e);
    // Every rule of the format; `name` starts each message.
    int (*validate)(const void *store, const char *name, agir_err *e);
    void (*clear)(void *store);  // frees all a (partly) loaded store holds and zeroes it
} agir_seq_h5_format;

// Validates (messages name "path (not written)"), then writes atomically: the identity, then
// fmt->write.
int agir_seq_h5_write(const agir_seq_h5_format *fmt, const void *store, const char *path, agir_err *e);

// Zeroes *store, opens the file (or the image buf: (len,) bytes, `name` in messages), checks the
// identity, loads and validates; on failure the store is left zeroed.
int agir_seq_h5_read(const agir_seq_h5_format *fmt, void *store, const char *path, agir_err *e);
int agir_seq_h5_read_image(const agir_seq_h5_format *fmt, void *store, const void *buf, size_t len,
                           const char *name, agir_err *e);

// The /sequences group and its columns, in the order of cols; cols[0] is the id column, which
// gives S. seq: (n,) structs of `elem` bytes each.
int agir_seq_h5_write_cols(agir_h5w *w, const agir_seq_h5_col *cols, int n_cols, const void *seq, size_t elem,
                           int64_t n, agir_err *e);
// Reads every column (each must have S entries), then moves them into *seq, a new calloc'ed
// (S,) array of `elem`-byte structs (fields not in cols are zero); *n = S. On failure nothing
// stays allocated and *seq is NULL.
int agir_seq_h5_read_cols(agir_h5 *f, const agir_seq_h5_col *cols, int n_cols, size_t elem, void **seq,
                          int64_t *n, agir_err *e);

#endif
