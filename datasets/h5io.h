// Thin wrappers over libhdf5 shared by every AGIR store (gait data, tokens, checkpoints): opening,
// checked reads, deterministic writes, and the messages that go with them.
//
// libhdf5 is not hardened against crafted files (docs/architecture.md, "Robustness"), so readers
// go through these helpers, which:
//   - silence HDF5's own error printing and disable filter plugins (agir_h5_init);
//   - have the raw bytes checked before libhdf5 sees them (superblock, storage layout, chunk
//     streams, global heaps: datasets/h5verify.h);
//   - follow hard links only (external and soft links are refused, never traversed);
//   - check class, element size, sign, rank and every extent against the caller's expectation
//     before allocating anything;
//   - cap string lengths (a budgeted allocator for variable-length strings) and require UTF-8.
//     Variable-length strings must be stored contiguously (h5py's default), and string
//     attributes must be fixed-length (see datasets/h5verify.h).
// Failures caused by the file are AGIR_EINPUT, one line naming the file and the object:
//   "data.h5: /sequences/offset: expected int64, found float32 (hint: ...)".
// Failures of our own HDF5 calls (property lists, writes) are internal errors with file:line.
#ifndef AGIR_H5IO_H
#define AGIR_H5IO_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/utf8.h"

enum { AGIR_H5_MAX_RANK = 4 };

// Element types AGIR stores; each maps to one HDF5 class, size and sign.
typedef enum agir_h5_type {
    AGIR_H5_I8,
    AGIR_H5_U8,
    AGIR_H5_I16,
    AGIR_H5_U16,
    AGIR_H5_I32,
    AGIR_H5_U32,
    AGIR_H5_I64,
    AGIR_H5_F32,
    AGIR_H5_F64,
} agir_h5_type;

// An open file being read. `name` is what messages show (the path, or an image's name).
typedef struct agir_h5 {
    hid_t file;
    hid_t lapl;  // link access list that refuses external-link traversal (defence in depth)
    const char *name;
    uint64_t size;  // real length in bytes: bounds every size read from the file
    // Raw access for checks libhdf5 does not make (global heaps): the file, or the caller's image.
    int fd;
    const unsigned char *image;
    int off_size, len_size;  // from the superblock: bytes per address / per length
    uint64_t base;           // base address: file addresses are relative to it
} agir_h5;

// Idempotent; call at the start of every public entry point that touches HDF5.
int agir_h5_init(agir_err *e);

// Evaluates an HDF5 call made by our own code; on a negative result records an internal error
// (source file:line, the call, HDF5's innermost message) and evaluates to non-zero.
#define AGIR_H5_FAIL(e, expr) ((expr) < 0 ? agir_h5_bug((e), __FILE__, __LINE__, #expr) : 0)
int agir_h5_bug(agir_err *e, const char *file, int line, const char *call);

// A failure caused by the file: "name: obj: what (HDF5: innermost message) (hint: ...)".
int agir_h5_bad(const agir_h5 *f, const char *obj, const char *what, agir_err *e);

// Closes any HDF5 id (dataset, group, type, space, plist, attribute, file); ignores invalid ids.
void agir_h5_close_id(hid_t id);

// Opening (pre-checks included). agir_h5_close is safe on a zeroed or failed handle.
int agir_h5_open(agir_h5 *f, const char *path, agir_err *e);
int agir_h5_open_image(agir_h5 *f, const void *buf, size_t len, const char *name, agir_err *e);
void agir_h5_close(agir_h5 *f);

// *exists = whether `path` names an object; every component must be a hard link.
int agir_h5_exists(agir_h5 *f, const char *path, int *exists, agir_err *e);

// Opens a dataset that is safe to read: hard links only, not virtual, no external storage,
// built-in filters only. Caller closes it.
int agir_h5_open_dataset(agir_h5 *f, const char *path, hid_t *out, agir_err *e);

// Reads a numeric dataset. dims[0..rank): in: expected extents, -1 for any; out: actual extents.
// `why` (optional) explains an expected extent in messages, e.g. "one entry per sequence".
// *out is malloc'ed (never NULL on success, even for 0 elements); caller frees.
int agir_h5_read(agir_h5 *f, const char *path, agir_h5_type t, int rank, int64_t *dims, const char *why,
                 void **out, agir_err *e);

// Reads a 1-D string dataset (variable or fixed length). *n: in: expected count or -1; out: count.
// Each string is NUL-terminated valid UTF-8 of at most max_len bytes. Free with agir_h5_free_strings.
int agir_h5_read_strings(agir_h5 *f, const char *path, int64_t *n, const char *why, size_t max_len, char ***out,
                         agir_err *e);
void agir_h5_free_strings(char **s, int64_t n);

// Scalar attributes of object `obj`. String attributes must be fixed-length (see above).
int agir_h5_attr_str(agir_h5 *f, const char *obj, const char *attr, char *out, size_t outsz, agir_err *e);
int agir_h5_attr_i64(agir_h5 *f, const char *obj, const char *attr, int64_t *out, agir_err *e);

// Writing. Output is byte-deterministic: no object time stamps, objects and attributes are
// created in the caller's fixed order. Errors writing data are I/O errors naming `name`.
typedef struct agir_h5w {
    hid_t file;
    const char *name;  // for messages: the final path the user asked for
} agir_h5w;

// Creates (truncates) `path`; for atomic writes pass the temporary name and the final one as name.
int agir_h5w_create(agir_h5w *w, const char *path, const char *name, agir_err *e);
// Creates an in-memory file (core driver, nothing touches the disk); agir_h5w_image copies it out.
int agir_h5w_create_mem(agir_h5w *w, const char *name, agir_err *e);
int agir_h5w_image(agir_h5w *w, void **buf, size_t *len, agir_err *e);
// Flushes and closes; returns the first error (e.g. a full disk). Safe on a failed handle.
int agir_h5w_close(agir_h5w *w, agir_err *e);

int agir_h5w_group(agir_h5w *w, const char *path, agir_err *e);
// Numeric dataset, chunked along axis 0 (unlimited), shuffle + deflate. data: dims[0]*...*dims[rank-1].
int agir_h5w_write(agir_h5w *w, const char *path, agir_h5_type t, int rank, const int64_t *dims, const void *data,
                   agir_err *e);
// 1-D variable-length UTF-8 strings, contiguous; NULL entries are written as "".
int agir_h5w_strings(agir_h5w *w, const char *path, int64_t n, const char *const *s, agir_err *e);
// Fixed-length UTF-8 string attribute (h5py reads it as bytes).
int agir_h5w_attr_str(agir_h5w *w, const char *obj, const char *attr, const char *value, agir_err *e);
int agir_h5w_attr_i64(agir_h5w *w, const char *obj, const char *attr, int64_t value, agir_err *e);

// ---- shared by the ragged columnar stores (gait frames, token codes) ---------------------------

// The "format" attribute of the root group of the file at `path` ("agir-gait", "agir-tokens"),
// after the same checks as agir_h5_open and agir_h5_check_root_attrs; for commands that accept
// several kinds of store.
int agir_h5_peek_format(const char *path, char *out, size_t outsz, agir_err *e);

#endif
