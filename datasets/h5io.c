// HDF5 helpers over libhdf5: safe opening (hard links only), checked reads, deterministic writes,
// and the messages for failures of the file or of our own calls. The raw-byte checks they run
// before libhdf5 reads anything are in datasets/h5verify.c.
#include "datasets/h5io.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/h5verify.h"

// Target size of one chunk of a written dataset.
enum { CHUNK_BYTES = 256 * 1024 };

// ---- types ----------------------------------------------------------------------------------

typedef struct type_info {
    const char *name;
    H5T_class_t cls;
    size_t size;
    int is_signed;
} type_info;

static const type_info types[] = {
    [AGIR_H5_I8] = {"int8", H5T_INTEGER, 1, 1},     [AGIR_H5_U8] = {"uint8", H5T_INTEGER, 1, 0},
    [AGIR_H5_I16] = {"int16", H5T_INTEGER, 2, 1},   [AGIR_H5_U16] = {"uint16", H5T_INTEGER, 2, 0},
    [AGIR_H5_I32] = {"int32", H5T_INTEGER, 4, 1},   [AGIR_H5_U32] = {"uint32", H5T_INTEGER, 4, 0},
    [AGIR_H5_I64] = {"int64", H5T_INTEGER, 8, 1},   [AGIR_H5_F32] = {"float32", H5T_FLOAT, 4, 1},
    [AGIR_H5_F64] = {"float64", H5T_FLOAT, 8, 1},
};

// The HDF5 native ids are run-time values, hence a switch rather than a table.
static hid_t native_type(agir_h5_type t) {
    switch (t) {
    case AGIR_H5_I8: return H5T_NATIVE_INT8;
    case AGIR_H5_U8: return H5T_NATIVE_UINT8;
    case AGIR_H5_I16: return H5T_NATIVE_INT16;
    case AGIR_H5_U16: return H5T_NATIVE_UINT16;
    case AGIR_H5_I32: return H5T_NATIVE_INT32;
    case AGIR_H5_U32: return H5T_NATIVE_UINT32;
    case AGIR_H5_I64: return H5T_NATIVE_INT64;
    case AGIR_H5_F32: return H5T_NATIVE_FLOAT;
    case AGIR_H5_F64: return H5T_NATIVE_DOUBLE;
    }
    return H5I_INVALID_HID;
}

// Little-endian file types, so the bytes written do not depend on the host.
static hid_t file_type(agir_h5_type t) {
    switch (t) {
    case AGIR_H5_I8: return H5T_STD_I8LE;
    case AGIR_H5_U8: return H5T_STD_U8LE;
    case AGIR_H5_I16: return H5T_STD_I16LE;
    case AGIR_H5_U16: return H5T_STD_U16LE;
    case AGIR_H5_I32: return H5T_STD_I32LE;
    case AGIR_H5_U32: return H5T_STD_U32LE;
    case AGIR_H5_I64: return H5T_STD_I64LE;
    case AGIR_H5_F32: return H5T_IEEE_F32LE;
    case AGIR_H5_F64: return H5T_IEEE_F64LE;
    }
    return H5I_INVALID_HID;
}

// "float32", "uint16", "string", "compound", ... for messages about a file's type.
static void describe_type(hid_t t, char *out, size_t sz) {
    size_t bits = H5Tget_size(t) * 8;
    switch (H5Tget_class(t)) {
    case H5T_INTEGER: snprintf(out, sz, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", bits); return;
    case H5T_FLOAT: snprintf(out, sz, "float%zu", bits); return;
    case H5T_STRING: snprintf(out, sz, "string"); return;
    case H5T_COMPOUND: snprintf(out, sz, "compound"); return;
    case H5T_ENUM: snprintf(out, sz, "enum (bool?)"); return;
    case H5T_ARRAY: snprintf(out, sz, "array"); return;
    case H5T_VLEN: snprintf(out, sz, "variable-length sequence"); return;
    case H5T_OPAQUE: snprintf(out, sz, "opaque"); return;
    case H5T_BITFIELD: snprintf(out, sz, "bitfield"); return;
    case H5T_REFERENCE: snprintf(out, sz, "reference"); return;
    case H5T_TIME: snprintf(out, sz, "time"); return;
    default: snprintf(out, sz, "an unknown type"); return;
    }
}

// ---- errors ---------------------------------------------------------------------------------

static herr_t first_error(unsigned n, const H5E_error2_t *err, void *ctx) {
    if (n == 0) snprintf((char *)ctx, 256, "%s", err->desc ? err->desc : "");
    return 0;
}

// HDF5's most specific message for the last failure; clears the stack. Must run right after the
// failing call, since every HDF5 API call resets the stack.
static void h5_message(char out[256]) {
    out[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_error, out);
    H5Eclear2(H5E_DEFAULT);
    if (!out[0]) snprintf(out, 256, "no details");
}

int agir_h5_bug(agir_err *e, const char *file, int line, const char *call) {
    char msg[256];
    h5_message(msg);
    return agir_errf_at(e, file, line, "%s failed (HDF5: %s)", call, msg);
}

int agir_h5_bad(const agir_h5 *f, const char *obj, const char *what, agir_err *e) {
    char msg[256];
    h5_message(msg);
    return AGIR_BAD(e, "%s%s%s: %s (HDF5: %s) (hint: the file is corrupt or not written by a compatible tool; "
                       "re-copy or regenerate it)",
                    f->name, obj ? ": " : "", obj ? obj : "", what, msg);
}

static int io_bad(const char *name, const char *what, agir_err *e) {
    char msg[256];
    h5_message(msg);
    return AGIR_BAD(e, "%s: %s (HDF5: %s) (hint: check that the folder exists, permissions and free space)", name,
                    what, msg);
}

void agir_h5_close_id(hid_t id) {
    if (id < 0) return;
    switch (H5Iget_type(id)) {
    case H5I_FILE: H5Fclose(id); break;
    case H5I_GROUP: H5Gclose(id); break;
    case H5I_DATATYPE: H5Tclose(id); break;
    case H5I_DATASPACE: H5Sclose(id); break;
    case H5I_DATASET: H5Dclose(id); break;
    case H5I_ATTR: H5Aclose(id); break;
    case H5I_GENPROP_LST: H5Pclose(id); break;
    default: break;
    }
}

int agir_h5_init(agir_err *e) {
    if (H5open() < 0) return AGIR_BUG(e, "cannot initialise the HDF5 library");
    // Our messages replace HDF5's multi-line stack dumps; plugins are code loaded on a file's say.
    if (AGIR_H5_FAIL(e, H5Eset_auto2(H5E_DEFAULT, NULL, NULL))) return e->code;
    if (AGIR_H5_FAIL(e, H5PLset_loading_state(0))) return e->code;
    return AGIR_OK;
}

static void handle_reset(agir_h5 *f, const char *name, uint64_t size) {
    memset(f, 0, sizeof *f);
    f->file = H5I_INVALID_HID;
    f->lapl = H5I_INVALID_HID;
    f->fd = -1;
    f->name = name;
    f->size = size;
}

// ---- opening --------------------------------------------------------------------------------

// External links would make libhdf5 open another file named by this one; never allow it.
static herr_t deny_external(const char *parent_file, const char *parent_group, const char *target_file,
                            const char *target_obj, unsigned *flags, hid_t fapl, void *ctx) {
    (void)parent_file, (void)parent_group, (void)target_file, (void)target_obj, (void)flags, (void)fapl, (void)ctx;
    return -1;
}

static int file_fapl(hid_t *fapl, agir_err *e) {
    *fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (AGIR_H5_FAIL(e, *fapl)) return e->code;
    // STRONG: closing the file closes every object still open in it, so no error path leaks ids.
    if (AGIR_H5_FAIL(e, H5Pset_fclose_degree(*fapl, H5F_CLOSE_STRONG))) return e->code;
    return AGIR_OK;
}

// Finishes agir_h5_open*: opens `fname` with fapl, sets up the link access list.
static int open_with(agir_h5 *f, const char *fname, hid_t fapl, agir_err *e) {
    f->file = H5Fopen(fname, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f->file < 0) return agir_h5_bad(f, NULL, "cannot open as an HDF5 file", e);
    f->lapl = H5Pcreate(H5P_LINK_ACCESS);
    if (AGIR_H5_FAIL(e, f->lapl) || AGIR_H5_FAIL(e, H5Pset_elink_cb(f->lapl, deny_external, NULL))) {
        agir_h5_close(f);
        return e->code;
    }
    return AGIR_OK;
}

int agir_h5_open(agir_h5 *f, const char *path, agir_err *e) {
    handle_reset(f, path, 0);
    AGIR_TRY(agir_h5_init(e));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return agir_err_io(e, path, "cannot open");
    struct stat st;
    int rc = fstat(fd, &st) != 0 ? agir_err_io(e, path, "cannot stat")
             : !S_ISREG(st.st_mode) ? AGIR_BAD(e, "%s: not a regular file (hint: pass the path of an HDF5 file)", path)
                                    : AGIR_OK;
    if (rc) {
        close(fd);
        return rc;
    }
    f->fd = fd;  // kept open for the heap checks; agir_h5_close closes it
    f->size = (uint64_t)st.st_size;
    AGIR_TRY(agir_h5_check_superblock(f, path, e));
    hid_t fapl;
    if (file_fapl(&fapl, e) ||
        AGIR_H5_FAIL(e, H5Pset_file_locking(fapl, 1, 1))) {  // locking where the file system supports it
        agir_h5_close_id(fapl);
        return e->code;
    }
    return open_with(f, path, fapl, e);
}

int agir_h5_open_image(agir_h5 *f, const void *buf, size_t len, const char *name, agir_err *e) {
    handle_reset(f, name, len);
    f->image = buf;
    AGIR_TRY(agir_h5_init(e));
    AGIR_TRY(agir_h5_check_superblock(f, name, e));
    hid_t fapl;
    // Core driver without backing store: libhdf5 works on its own copy and never touches the disk.
    if (file_fapl(&fapl, e) || AGIR_H5_FAIL(e, H5Pset_fapl_core(fapl, 64 * 1024, 0)) ||
        AGIR_H5_FAIL(e, H5Pset_file_image(fapl, (void *)buf, len))) {
        agir_h5_close_id(fapl);
        return e->code;
    }
    return open_with(f, name, fapl, e);
}

void agir_h5_close(agir_h5 *f) {
    agir_h5_close_id(f->lapl);
    agir_h5_close_id(f->file);
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    f->lapl = f->file = H5I_INVALID_HID;
    H5Eclear2(H5E_DEFAULT);
}

// ---- objects --------------------------------------------------------------------------------

int agir_h5_exists(agir_h5 *f, const char *path, int *exists, agir_err *e) {
    *exists = 0;
    char buf[512];
    size_t n = strlen(path);
    if (path[0] != '/' || n >= sizeof buf) return AGIR_BUG(e, "bad HDF5 object path '%s'", path);
    memcpy(buf, path, n + 1);
    *exists = 1;
    if (n == 1) return AGIR_OK;  // the root group
    // Check each component before anything resolves through it: H5Lexists and H5Lget_info do not
    // follow the final link, and every earlier one is known to be hard by then.
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = '\0';
        htri_t ex = H5Lexists(f->file, buf, f->lapl);
        if (ex < 0) return agir_h5_bad(f, buf, "cannot look up", e);
        if (ex == 0) {
            *exists = 0;
            return AGIR_OK;
        }
        H5L_info_t li;
        if (H5Lget_info(f->file, buf, &li, f->lapl) < 0) return agir_h5_bad(f, buf, "cannot look up", e);
        if (li.type == H5L_TYPE_EXTERNAL)
            return AGIR_BAD(e, "%s: %s: is an external link to another file (hint: AGIR reads self-contained files "
                               "only; copy the data in, e.g. with h5copy)",
                            f->name, buf);
        if (li.type != H5L_TYPE_HARD)
            return AGIR_BAD(e, "%s: %s: is a soft or user-defined link (hint: AGIR follows hard links only; store "
                               "the object itself there)",
                            f->name, buf);
        buf[i] = saved;
    }
    return AGIR_OK;
}

static int need_object(agir_h5 *f, const char *path, agir_err *e) {
    int ex;
    AGIR_TRY(agir_h5_exists(f, path, &ex, e));
    if (!ex)
        return AGIR_BAD(e, "%s: %s: missing (hint: see docs/dataset_format.md for the objects an AGIR file holds)",
                        f->name, path);
    return AGIR_OK;
}

int agir_h5_open_dataset(agir_h5 *f, const char *path, hid_t *out, agir_err *e) {
    *out = H5I_INVALID_HID;
    AGIR_TRY(need_object(f, path, e));
    hid_t o = H5Oopen(f->file, path, f->lapl);
    if (o < 0) return agir_h5_bad(f, path, "cannot open", e);
    if (H5Iget_type(o) != H5I_DATASET) {
        agir_h5_close_id(o);
        return AGIR_BAD(e, "%s: %s: is a group, not a dataset (hint: see docs/dataset_format.md)", f->name, path);
    }
    int deflated;
    int rc = agir_h5_check_storage(f, path, o, &deflated, e);
    if (rc) {
        agir_h5_close_id(o);
        return rc;
    }
    *out = o;
    return AGIR_OK;
}

// "(12, 17, 3)" or "(*, 17, 3)" for messages.
static void shape_str(int rank, const int64_t *dims, char *out, size_t sz) {
    size_t n = (size_t)snprintf(out, sz, "(");
    for (int i = 0; i < rank && n < sz; i++) {
        if (dims[i] < 0)
            n += (size_t)snprintf(out + n, sz - n, "%s*", i ? ", " : "");
        else
            n += (size_t)snprintf(out + n, sz - n, "%s%lld", i ? ", " : "", (long long)dims[i]);
    }
    if (n < sz) snprintf(out + n, sz - n, ")");
}

// Checks the dataspace of d against rank/dims (filling the -1 entries) and returns the element count.
static int check_shape(agir_h5 *f, const char *path, hid_t d, int rank, int64_t *dims, const char *why,
                       size_t *count, agir_err *e) {
    hid_t space = H5Dget_space(d);
    if (space < 0) return agir_h5_bad(f, path, "cannot read the dataset's shape", e);
    H5S_class_t cls = H5Sget_simple_extent_type(space);
    int nd = H5Sget_simple_extent_ndims(space);
    hsize_t got[H5S_MAX_RANK];
    int ok = cls >= 0 && nd >= 0 && H5Sget_simple_extent_dims(space, got, NULL) >= 0;
    H5Sclose(space);
    if (!ok) return agir_h5_bad(f, path, "cannot read the dataset's shape", e);
    int64_t want[AGIR_H5_MAX_RANK], have[H5S_MAX_RANK];
    memcpy(want, dims, (size_t)rank * sizeof *want);
    for (int i = 0; i < nd; i++) have[i] = got[i] > INT64_MAX ? -1 : (int64_t)got[i];
    char ws[128], hs[128];
    shape_str(rank, want, ws, sizeof ws);
    if (cls != H5S_SIMPLE || nd != rank) {
        const char *found = cls == H5S_NULL ? "an empty (null) dataspace" : cls == H5S_SCALAR ? "a scalar" : NULL;
        if (!found) {
            shape_str(nd, have, hs, sizeof hs);
            found = hs;
        }
        return AGIR_BAD(e, "%s: %s: expected shape %s, found %s (hint: see docs/dataset_format.md)", f->name, path, ws,
                        found);
    }
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (have[i] < 0 || (want[i] >= 0 && have[i] != want[i])) {
            shape_str(nd, have, hs, sizeof hs);
            return AGIR_BAD(e, "%s: %s: expected shape %s%s%s%s, found %s (hint: see docs/dataset_format.md)", f->name,
                            path, ws, why ? " (" : "", why ? why : "", why ? ")" : "", hs);
        }
        if (agir_mul_ok(n, (size_t)have[i], &n))
            return AGIR_BAD(e, "%s: %s: shape overflows (hint: the file is corrupt)", f->name, path);
        dims[i] = have[i];
    }
    *count = n;
    return AGIR_OK;
}

int agir_h5_read(agir_h5 *f, const char *path, agir_h5_type t, int rank, int64_t *dims, const char *why,
                 void **out, agir_err *e) {
    *out = NULL;
    if (rank < 0 || rank > AGIR_H5_MAX_RANK) return AGIR_BUG(e, "agir_h5_read: rank %d", rank);
    hid_t d, ft = H5I_INVALID_HID;
    AGIR_TRY(agir_h5_open_dataset(f, path, &d, e));
    const type_info *ti = &types[t];
    size_t count = 0;
    int rc = AGIR_OK;
    ft = H5Dget_type(d);
    if (ft < 0) {
        rc = agir_h5_bad(f, path, "cannot read the element type", e);
        goto done;
    }
    H5T_class_t cls = H5Tget_class(ft);
    if (cls != ti->cls || H5Tget_size(ft) != ti->size ||
        (cls == H5T_INTEGER && (H5Tget_sign(ft) == H5T_SGN_NONE) == ti->is_signed)) {
        char found[64];
        describe_type(ft, found, sizeof found);
        rc = AGIR_BAD(e, "%s: %s: expected %s, found %s (hint: store it as %s, e.g. numpy.%s)", f->name, path,
                      ti->name, found, ti->name, ti->name);
        goto done;
    }
    if ((rc = check_shape(f, path, d, rank, dims, why, &count, e))) goto done;
    if ((rc = agir_h5_check_stored(f, path, d, count, ti->size, e))) goto done;
    void *buf = malloc(count ? count * ti->size : 1);
    if (!buf) {
        rc = AGIR_BUG(e, "out of memory reading %s %s (%zu elements)", f->name, path, count);
        goto done;
    }
    if (count && H5Dread(d, native_type(t), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        rc = agir_h5_bad(f, path, "cannot read the data", e);
        free(buf);
        goto done;
    }
    *out = buf;
done:
    agir_h5_close_id(ft);
    agir_h5_close_id(d);
    return rc;
}

// ---- strings --------------------------------------------------------------------------------

void agir_h5_free_strings(char **s, int64_t n) {
    if (!s) return;
    for (int64_t i = 0; i < n; i++) free(s[i]);
    free(s);
}

// libhdf5 allocates the strings through these, so they are ours to free() whatever its build.
static void *vlen_alloc(size_t n, void *ctx) {
    (void)ctx;
    return malloc(n ? n : 1);
}

static void vlen_free(void *p, void *ctx) {
    (void)ctx;
    free(p);
}

static int read_vlen(agir_h5 *f, const char *path, hid_t d, hid_t ft, size_t n, size_t max_len, char **s,
                     agir_err *e) {
    AGIR_TRY(agir_h5_check_heap_refs(f, path, d, n, max_len, e));
    hid_t mt = H5Tcopy(H5T_C_S1), dxpl = H5Pcreate(H5P_DATASET_XFER);
    int rc = AGIR_OK;
    if (AGIR_H5_FAIL(e, mt) || AGIR_H5_FAIL(e, dxpl) || AGIR_H5_FAIL(e, H5Tset_size(mt, H5T_VARIABLE)) ||
        AGIR_H5_FAIL(e, H5Tset_cset(mt, H5Tget_cset(ft))) ||
        AGIR_H5_FAIL(e, H5Pset_vlen_mem_manager(dxpl, vlen_alloc, NULL, vlen_free, NULL))) {
        rc = e->code;
    } else if (H5Dread(d, mt, H5S_ALL, H5S_ALL, dxpl, s) < 0) {
        rc = agir_h5_bad(f, path, "cannot read the strings", e);
        for (size_t i = 0; i < n; i++) free(s[i]), s[i] = NULL;  // what libhdf5 allocated before failing
    }
    agir_h5_close_id(dxpl);
    agir_h5_close_id(mt);
    return rc;
}

static int read_fixed(agir_h5 *f, const char *path, hid_t d, hid_t ft, size_t n, size_t max_len, char **s,
                      agir_err *e) {
    size_t w = H5Tget_size(ft), bytes;
    if (w == 0 || w > max_len)
        return AGIR_BAD(e, "%s: %s: fixed-length strings of %zu bytes, more than the %zu allowed (hint: shorten them)",
                        f->name, path, w, max_len);
    AGIR_TRY(agir_h5_check_stored(f, path, d, n, w, e));
    if (agir_mul_ok(n, w, &bytes)) return AGIR_BAD(e, "%s: %s: size overflows", f->name, path);
    char *raw = malloc(bytes ? bytes : 1);
    if (!raw) return AGIR_BUG(e, "out of memory reading %s %s", f->name, path);
    int rc = AGIR_OK;
    hid_t mt = H5Tcopy(ft);
    if (AGIR_H5_FAIL(e, mt)) {
        rc = e->code;
    } else if (n && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0) {
        rc = agir_h5_bad(f, path, "cannot read the strings", e);
    }
    for (size_t i = 0; !rc && i < n; i++) {
        const char *p = raw + i * w;
        s[i] = strndup(p, w);  // stops at the NUL padding, or at w bytes for space/unterminated padding
        if (!s[i]) rc = AGIR_BUG(e, "out of memory reading %s %s", f->name, path);
    }
    agir_h5_close_id(mt);
    free(raw);
    return rc;
}

int agir_h5_read_strings(agir_h5 *f, const char *path, int64_t *n, const char *why, size_t max_len, char ***out,
                         agir_err *e) {
    *out = NULL;
    hid_t d, ft = H5I_INVALID_HID;
    AGIR_TRY(agir_h5_open_dataset(f, path, &d, e));
    size_t count = 0;
    int rc = AGIR_OK;
    char **s = NULL;
    ft = H5Dget_type(d);
    if (ft < 0) {
        rc = agir_h5_bad(f, path, "cannot read the element type", e);
        goto done;
    }
    if (H5Tget_class(ft) != H5T_STRING) {
        char found[64];
        describe_type(ft, found, sizeof found);
        rc = AGIR_BAD(e, "%s: %s: expected strings, found %s (hint: store UTF-8 strings, e.g. h5py.string_dtype())",
                      f->name, path, found);
        goto done;
    }
    htri_t vlen = H5Tis_variable_str(ft);
    if (vlen < 0) {
        rc = agir_h5_bad(f, path, "cannot read the element type", e);
        goto done;
    }
    if ((rc = check_shape(f, path, d, 1, n, why, &count, e))) goto done;
    // On disk a variable-length string is a heap reference (see agir_h5_check_heap_refs).
    if (vlen && (rc = agir_h5_check_stored(f, path, d, count, 8 + (size_t)f->off_size, e))) goto done;
    s = calloc(count ? count : 1, sizeof *s);
    if (!s) {
        rc = AGIR_BUG(e, "out of memory reading %s %s (%zu strings)", f->name, path, count);
        goto done;
    }
    if (count) rc = vlen ? read_vlen(f, path, d, ft, count, max_len, s, e) : read_fixed(f, path, d, ft, count, max_len, s, e);
    for (size_t i = 0; !rc && i < count; i++) {
        if (!s[i]) s[i] = strdup("");  // libhdf5 returns NULL for a never-written vlen string
        if (!s[i]) {
            rc = AGIR_BUG(e, "out of memory reading %s %s", f->name, path);
        } else if (strlen(s[i]) > max_len) {
            rc = AGIR_BAD(e, "%s: %s: string %zu is %zu bytes, more than the %zu allowed (hint: shorten it)", f->name,
                          path, i, strlen(s[i]), max_len);
        } else if (!agir_utf8_valid(s[i], strlen(s[i]))) {
            rc = AGIR_BAD(e, "%s: %s: string %zu is not valid UTF-8 (hint: store text as UTF-8)", f->name, path, i);
        }
    }
done:
    if (rc)
        agir_h5_free_strings(s, (int64_t)count);
    else
        *out = s;
    agir_h5_close_id(ft);
    agir_h5_close_id(d);
    return rc;
}

// ---- attributes -----------------------------------------------------------------------------

// Opens attribute `attr` of `obj` (hard links only) and checks it holds one value of class cls.
static int open_attr(agir_h5 *f, const char *obj, const char *attr, H5T_class_t cls, hid_t *a, hid_t *ft,
                     agir_err *e) {
    *a = *ft = H5I_INVALID_HID;
    AGIR_TRY(need_object(f, obj, e));
    htri_t ex = H5Aexists_by_name(f->file, obj, attr, f->lapl);
    if (ex < 0) return agir_h5_bad(f, obj, "cannot read attributes", e);
    if (!ex)
        return AGIR_BAD(e, "%s: attribute '%s' of %s: missing (hint: is this a file written by agir? see "
                           "docs/dataset_format.md)",
                        f->name, attr, obj);
    *a = H5Aopen_by_name(f->file, obj, attr, H5P_DEFAULT, f->lapl);
    if (*a < 0) return agir_h5_bad(f, obj, "cannot open an attribute", e);
    *ft = H5Aget_type(*a);
    hid_t space = H5Aget_space(*a);
    hssize_t npts = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    agir_h5_close_id(space);
    if (*ft < 0 || npts < 0) return agir_h5_bad(f, obj, "cannot read an attribute", e);
    if (H5Tget_class(*ft) != cls || npts != 1) {
        char found[64];
        describe_type(*ft, found, sizeof found);
        return AGIR_BAD(e, "%s: attribute '%s' of %s: expected one %s, found %lld of %s (hint: see "
                           "docs/dataset_format.md)",
                        f->name, attr, obj, cls == H5T_STRING ? "string" : "integer", (long long)npts, found);
    }
    return AGIR_OK;
}

int agir_h5_attr_str(agir_h5 *f, const char *obj, const char *attr, char *out, size_t outsz, agir_err *e) {
    out[0] = '\0';
    hid_t a, ft, mt = H5I_INVALID_HID;
    int rc = open_attr(f, obj, attr, H5T_STRING, &a, &ft, e);
    if (rc) goto done;
    htri_t vlen = H5Tis_variable_str(ft);
    size_t w = H5Tget_size(ft);
    char buf[1024] = {0};
    if (vlen < 0) {
        rc = agir_h5_bad(f, obj, "cannot read an attribute's type", e);
    } else if (vlen) {
        // Its heap reference sits in the object header, out of reach of agir_h5_check_heap_refs.
        rc = AGIR_BAD(e, "%s: attribute '%s' of %s: variable-length string (hint: store it fixed-length, e.g. "
                         "f.attrs['%s'] = numpy.bytes_(value) in h5py)",
                      f->name, attr, obj, attr);
    } else if (w == 0 || w >= outsz || w > sizeof buf) {
        rc = AGIR_BAD(e, "%s: attribute '%s' of %s: longer than %zu bytes (hint: see docs/dataset_format.md)", f->name,
                      attr, obj, outsz - 1);
    } else if (AGIR_H5_FAIL(e, mt = H5Tcopy(ft))) {
        rc = e->code;
    } else if (H5Aread(a, mt, buf) < 0) {
        rc = agir_h5_bad(f, obj, "cannot read an attribute", e);
    } else {
        snprintf(out, outsz, "%.*s", (int)w, buf);
    }
    if (!rc && !agir_utf8_valid(out, strlen(out)))
        rc = AGIR_BAD(e, "%s: attribute '%s' of %s: not valid UTF-8 (hint: store text as UTF-8)", f->name, attr, obj);
done:
    agir_h5_close_id(mt);
    agir_h5_close_id(ft);
    agir_h5_close_id(a);
    return rc;
}

int agir_h5_attr_i64(agir_h5 *f, const char *obj, const char *attr, int64_t *out, agir_err *e) {
    *out = 0;
    hid_t a, ft;
    int rc = open_attr(f, obj, attr, H5T_INTEGER, &a, &ft, e);
    if (!rc && H5Aread(a, H5T_NATIVE_INT64, out) < 0) rc = agir_h5_bad(f, obj, "cannot read an attribute", e);
    agir_h5_close_id(ft);
    agir_h5_close_id(a);
    return rc;
}

// ---- writing --------------------------------------------------------------------------------

static int create_with(agir_h5w *w, const char *path, hid_t fapl, agir_err *e) {
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    // Time stamps in object headers would make two writes of the same data differ.
    if (AGIR_H5_FAIL(e, fcpl) || AGIR_H5_FAIL(e, H5Pset_obj_track_times(fcpl, 0))) {
        agir_h5_close_id(fcpl);
        agir_h5_close_id(fapl);
        return e->code;
    }
    w->file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
    agir_h5_close_id(fcpl);
    agir_h5_close_id(fapl);
    if (w->file < 0) return io_bad(w->name, "cannot create", e);
    return AGIR_OK;
}

int agir_h5w_create(agir_h5w *w, const char *path, const char *name, agir_err *e) {
    w->file = H5I_INVALID_HID;
    w->name = name;
    AGIR_TRY(agir_h5_init(e));
    hid_t fapl;
    if (file_fapl(&fapl, e)) {
        agir_h5_close_id(fapl);
        return e->code;
    }
    return create_with(w, path, fapl, e);
}

int agir_h5w_create_mem(agir_h5w *w, const char *name, agir_err *e) {
    w->file = H5I_INVALID_HID;
    w->name = name;
    AGIR_TRY(agir_h5_init(e));
    hid_t fapl;
    if (file_fapl(&fapl, e) || AGIR_H5_FAIL(e, H5Pset_fapl_core(fapl, 64 * 1024, 0))) {
        agir_h5_close_id(fapl);
        return e->code;
    }
    return create_with(w, name, fapl, e);
}

int agir_h5w_image(agir_h5w *w, void **buf, size_t *len, agir_err *e) {
    *buf = NULL;
    *len = 0;
    if (AGIR_H5_FAIL(e, H5Fflush(w->file, H5F_SCOPE_GLOBAL))) return e->code;
    ssize_t n = H5Fget_file_image(w->file, NULL, 0);
    if (AGIR_H5_FAIL(e, n)) return e->code;
    *buf = malloc(n ? (size_t)n : 1);
    if (!*buf) return AGIR_BUG(e, "out of memory for a %zd-byte file image", n);
    if (AGIR_H5_FAIL(e, H5Fget_file_image(w->file, *buf, (size_t)n))) {
        free(*buf);
        *buf = NULL;
        return e->code;
    }
    *len = (size_t)n;
    return AGIR_OK;
}

int agir_h5w_close(agir_h5w *w, agir_err *e) {
    if (w->file < 0) return AGIR_OK;
    herr_t st = H5Fclose(w->file);
    w->file = H5I_INVALID_HID;
    if (st < 0) return io_bad(w->name, "cannot finish writing", e);
    return AGIR_OK;
}

// An object creation list without time stamps (see create_with).
static hid_t untimed(hid_t cls) {
    hid_t p = H5Pcreate(cls);
    if (p >= 0 && H5Pset_obj_track_times(p, 0) < 0) {
        H5Pclose(p);
        return H5I_INVALID_HID;
    }
    return p;
}

int agir_h5w_group(agir_h5w *w, const char *path, agir_err *e) {
    hid_t gcpl = untimed(H5P_GROUP_CREATE), g = H5I_INVALID_HID;
    int rc = AGIR_OK;
    if (AGIR_H5_FAIL(e, gcpl) || AGIR_H5_FAIL(e, g = H5Gcreate2(w->file, path, H5P_DEFAULT, gcpl, H5P_DEFAULT)))
        rc = e->code;
    agir_h5_close_id(g);
    agir_h5_close_id(gcpl);
    return rc;
}

// Chunked along axis 0 (unlimited, so stores can grow), shuffle + deflate; empty datasets are
// contiguous, since a chunk may not exceed a fixed zero extent.
static int numeric_dcpl(int rank, const hsize_t *dims, hsize_t *maxdims, size_t elem, hid_t *dcpl, agir_err *e) {
    *dcpl = untimed(H5P_DATASET_CREATE);
    if (AGIR_H5_FAIL(e, *dcpl)) return e->code;
    size_t row = elem;
    hsize_t chunk[AGIR_H5_MAX_RANK];
    for (int i = 0; i < rank; i++) maxdims[i] = dims[i];
    for (int i = 0; i < rank; i++) {
        if (dims[i] == 0) return AGIR_OK;
        if (i > 0) row *= (size_t)dims[i], chunk[i] = dims[i];
    }
    hsize_t rows = row < CHUNK_BYTES ? CHUNK_BYTES / row : 1;
    chunk[0] = rows < dims[0] ? rows : dims[0];
    maxdims[0] = H5S_UNLIMITED;
    if (AGIR_H5_FAIL(e, H5Pset_chunk(*dcpl, rank, chunk)) || AGIR_H5_FAIL(e, H5Pset_shuffle(*dcpl)) ||
        AGIR_H5_FAIL(e, H5Pset_deflate(*dcpl, 4)))
        return e->code;
    return AGIR_OK;
}

int agir_h5w_write(agir_h5w *w, const char *path, agir_h5_type t, int rank, const int64_t *dims, const void *data,
                   agir_err *e) {
    if (rank < 1 || rank > AGIR_H5_MAX_RANK) return AGIR_BUG(e, "agir_h5w_write: rank %d", rank);
    hsize_t hd[AGIR_H5_MAX_RANK], maxd[AGIR_H5_MAX_RANK];
    size_t count = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0) return AGIR_BUG(e, "agir_h5w_write: negative extent for %s", path);
        hd[i] = (hsize_t)dims[i];
        count *= (size_t)dims[i];
    }
    hid_t dcpl, space = H5I_INVALID_HID, d = H5I_INVALID_HID;
    int rc = numeric_dcpl(rank, hd, maxd, types[t].size, &dcpl, e);
    if (!rc && (AGIR_H5_FAIL(e, space = H5Screate_simple(rank, hd, maxd)) ||
                AGIR_H5_FAIL(e, d = H5Dcreate2(w->file, path, file_type(t), space, H5P_DEFAULT, dcpl, H5P_DEFAULT))))
        rc = e->code;
    if (!rc && count && H5Dwrite(d, native_type(t), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = io_bad(w->name, "cannot write data", e);
    agir_h5_close_id(d);
    agir_h5_close_id(space);
    agir_h5_close_id(dcpl);
    return rc;
}

static hid_t utf8_vlen_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0)) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

int agir_h5w_strings(agir_h5w *w, const char *path, int64_t n, const char *const *s, agir_err *e) {
    const char **v = malloc(n > 0 ? (size_t)n * sizeof *v : 1);
    if (!v) return AGIR_BUG(e, "out of memory writing %s", path);
    for (int64_t i = 0; i < n; i++) v[i] = s[i] ? s[i] : "";
    hsize_t hn = (hsize_t)n;
    hid_t t = utf8_vlen_type(), space = H5I_INVALID_HID, dcpl = untimed(H5P_DATASET_CREATE), d = H5I_INVALID_HID;
    int rc = AGIR_OK;
    if (AGIR_H5_FAIL(e, t) || AGIR_H5_FAIL(e, dcpl) || AGIR_H5_FAIL(e, space = H5Screate_simple(1, &hn, NULL)) ||
        AGIR_H5_FAIL(e, d = H5Dcreate2(w->file, path, t, space, H5P_DEFAULT, dcpl, H5P_DEFAULT)))
        rc = e->code;
    else if (n && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
        rc = io_bad(w->name, "cannot write strings", e);
    agir_h5_close_id(d);
    agir_h5_close_id(dcpl);
    agir_h5_close_id(space);
    agir_h5_close_id(t);
    free(v);
    return rc;
}

// Writes a scalar attribute of type t (file and memory) holding *value.
static int put_attr(agir_h5w *w, const char *obj, const char *attr, hid_t ftype, hid_t mtype, const void *value,
                    agir_err *e) {
    hid_t space = H5Screate(H5S_SCALAR), a = H5I_INVALID_HID;
    int rc = AGIR_OK;
    if (AGIR_H5_FAIL(e, space) ||
        AGIR_H5_FAIL(e, a = H5Acreate_by_name(w->file, obj, attr, ftype, space, H5P_DEFAULT, H5P_DEFAULT,
                                              H5P_DEFAULT)) ||
        AGIR_H5_FAIL(e, H5Awrite(a, mtype, value)))
        rc = e->code;
    agir_h5_close_id(a);
    agir_h5_close_id(space);
    return rc;
}

int agir_h5w_attr_str(agir_h5w *w, const char *obj, const char *attr, const char *value, agir_err *e) {
    size_t n = strlen(value);
    hid_t t = H5Tcopy(H5T_C_S1);
    int rc = AGIR_OK;
    if (AGIR_H5_FAIL(e, t) || AGIR_H5_FAIL(e, H5Tset_size(t, n ? n : 1)) ||
        AGIR_H5_FAIL(e, H5Tset_strpad(t, H5T_STR_NULLPAD)) || AGIR_H5_FAIL(e, H5Tset_cset(t, H5T_CSET_UTF8)))
        rc = e->code;
    else
        rc = put_attr(w, obj, attr, t, t, n ? value : "", e);
    agir_h5_close_id(t);
    return rc;
}

int agir_h5w_attr_i64(agir_h5w *w, const char *obj, const char *attr, int64_t value, agir_err *e) {
    return put_attr(w, obj, attr, H5T_STD_I64LE, H5T_NATIVE_INT64, &value, e);
}

// ---- shared by the ragged columnar stores -----------------------------------------------------

int agir_h5_peek_format(const char *path, char *out, size_t outsz, agir_err *e) {
    agir_h5 f;
    int rc = agir_h5_open(&f, path, e);
    if (!rc) rc = agir_h5_check_root_attrs(&f, e);
    if (!rc) rc = agir_h5_attr_str(&f, "/", "format", out, outsz, e);
    agir_h5_close(&f);
    return rc;
}
