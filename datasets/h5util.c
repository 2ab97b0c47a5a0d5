// HDF5 helpers: safe opening (raw pre-checks, hard links only), checked reads, deterministic writes.
//
// Superblock layout used by the pre-check: HDF5 File Format Specification, version 3.0, section
// II.A (signature at 0, 512, 1024, 2048, ...; versions 0/1 and 2/3 place the base and
// end-of-file addresses at different offsets).
#include "datasets/h5util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

// Largest compression ratio deflate can reach (RFC 1951 caps it near 1032:1); a filtered
// dataset claiming more logical bytes than this times its stored bytes is lying.
enum { DEFLATE_MAX_RATIO = 1100 };

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

// ---- raw pre-checks -------------------------------------------------------------------------

// Reads n bytes at off of the file (fd) or image; 0 when they were all there.
static int raw_read(const agir_h5 *f, uint64_t off, void *dst, size_t n) {
    if (off > f->size || n > f->size - off) return 1;
    if (f->image) {
        memcpy(dst, f->image + off, n);
        return 0;
    }
    return pread(f->fd, dst, n, (off_t)off) == (ssize_t)n ? 0 : 1;
}

static uint64_t le_uint(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

// Also records the address/length sizes and base address for the heap checks.
static int precheck(agir_h5 *s, const char *name, agir_err *e) {
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (s->size == 0)
        return AGIR_BAD(e, "%s: file is empty (0 bytes) (hint: it was not written completely; regenerate it)", name);
    // The superblock sits at 0 or after a user block of 512, 1024, 2048, ... bytes.
    uint64_t at = 0;
    unsigned char sb[64];
    for (;;) {
        if (raw_read(s, at, sb, 8))
            return AGIR_BAD(e, "%s: not an HDF5 file (no HDF5 signature in its %llu bytes) (hint: pass an HDF5 file "
                               "written by agir or h5py)",
                            name, (unsigned long long)s->size);
        if (!memcmp(sb, sig, 8)) break;
        at = at ? at * 2 : 512;
    }
    size_t have = s->size - at < sizeof sb ? (size_t)(s->size - at) : sizeof sb;
    if (raw_read(s, at, sb, have)) return AGIR_BAD(e, "%s: cannot read the superblock", name);
    int version = have > 8 ? sb[8] : -1, off_size, len_size, addr_at;
    if (version == 0 || version == 1) {
        off_size = have > 13 ? sb[13] : 0;
        len_size = have > 14 ? sb[14] : 0;
        addr_at = version == 0 ? 24 : 28;
    } else if (version == 2 || version == 3) {
        off_size = have > 9 ? sb[9] : 0;
        len_size = have > 10 ? sb[10] : 0;
        addr_at = 12;
    } else if (version < 0) {
        return AGIR_BAD(e, "%s: file is truncated (%llu bytes, the superblock is cut off) (hint: re-copy or "
                           "regenerate it)",
                        name, (unsigned long long)s->size);
    } else {
        return AGIR_BAD(e, "%s: unsupported HDF5 superblock version %d (hint: write it with HDF5 1.10 or h5py)", name,
                        version);
    }
    if ((off_size != 2 && off_size != 4 && off_size != 8) || (len_size != 2 && len_size != 4 && len_size != 8))
        return AGIR_BAD(e, "%s: corrupt HDF5 superblock (address/length sizes %d/%d) (hint: re-copy or regenerate it)",
                        name, off_size, len_size);
    // Base address, then free-space (v0/1) or extension (v2/3) address, then end-of-file address.
    size_t need = (size_t)addr_at + 3 * (size_t)off_size;
    if (have < need)
        return AGIR_BAD(e, "%s: file is truncated (%llu bytes, the superblock is cut off) (hint: re-copy or "
                           "regenerate it)",
                        name, (unsigned long long)s->size);
    // The end-of-file address is absolute (it counts a user block too), so it is the length.
    uint64_t expect = le_uint(sb + addr_at + 2 * off_size, off_size);
    uint64_t undef = off_size == 8 ? UINT64_MAX : (UINT64_C(1) << (8 * off_size)) - 1;
    if (expect == undef)
        return AGIR_BAD(e, "%s: corrupt HDF5 superblock (end-of-file address undefined) (hint: re-copy or "
                           "regenerate it)",
                        name);
    if (expect > s->size)
        return AGIR_BAD(e, "%s: file is truncated (%llu bytes, expected %llu) (hint: re-copy or regenerate it)", name,
                        (unsigned long long)s->size, (unsigned long long)expect);
    s->off_size = off_size;
    s->len_size = len_size;
    s->base = le_uint(sb + addr_at, off_size);
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
    AGIR_TRY(precheck(f, path, e));
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
    AGIR_TRY(precheck(f, name, e));
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

// Refuses storage that would make libhdf5 read other files or run filters beyond the built-in,
// well-exercised ones. *deflated tells whether the stored bytes may be compressed.
static int check_storage(agir_h5 *f, const char *path, hid_t d, int *deflated, agir_err *e) {
    *deflated = 0;
    hid_t dcpl = H5Dget_create_plist(d);
    if (dcpl < 0) return agir_h5_bad(f, path, "cannot read the dataset's storage properties", e);
    int rc = AGIR_OK;
    H5D_layout_t layout = H5Pget_layout(dcpl);
    int next = H5Pget_external_count(dcpl);
    int nfilt = H5Pget_nfilters(dcpl);
    if (layout < 0 || next < 0 || nfilt < 0) {
        rc = agir_h5_bad(f, path, "cannot read the dataset's storage properties", e);
    } else if (layout == H5D_VIRTUAL) {
        rc = AGIR_BAD(e, "%s: %s: is a virtual dataset (it maps data from other files) (hint: AGIR reads "
                         "self-contained files only; copy the data in)",
                      f->name, path);
    } else if (next > 0) {
        rc = AGIR_BAD(e, "%s: %s: keeps its data in %d external file(s) (hint: AGIR reads self-contained files only; "
                         "copy the data in)",
                      f->name, path, next);
    }
    for (int i = 0; !rc && i < nfilt; i++) {
        unsigned flags;
        size_t nelm = 0;
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &nelm, NULL, 0, NULL, NULL);
        if (id == H5Z_FILTER_DEFLATE)
            *deflated = 1;
        else if (id != H5Z_FILTER_SHUFFLE && id != H5Z_FILTER_FLETCHER32)
            rc = AGIR_BAD(e, "%s: %s: uses HDF5 filter %d (hint: AGIR reads deflate (gzip), shuffle and fletcher32 "
                             "only; rewrite it with compression='gzip')",
                          f->name, path, (int)id);
    }
    H5Pclose(dcpl);
    return rc;
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
    int rc = check_storage(f, path, o, &deflated, e);
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

// ---- layout checks --------------------------------------------------------------------------
//
// H5Dread copies out of the file (or image) at the addresses and sizes of the layout message and
// chunk index as given: libhdf5 1.10.8 does not compare them with the dataspace or the file's end.
// A chunk dimension mutated to 4194307 made it treat a 408-byte inflated chunk as 570 MB and read
// past the buffer (found by tests/fuzz/fuzz_gait_h5.c). So before every read the storage must lie
// inside the file and hold exactly the dataset's bytes. HDF5 File Format Specification 3.0,
// section IV.A.2.i (data layout message) and III.A.2 (chunk index).

enum { MAX_CHUNK_BYTES = 0xffffffffu };  // HDF5's own limit on one chunk

static int layout_bad(const agir_h5 *f, const char *path, const char *what, agir_err *e) {
    return AGIR_BAD(e, "%s: %s: %s (hint: the file is corrupt or crafted; re-copy or regenerate it)", f->name, path,
                    what);
}

// Contiguous: [offset, offset + logical) inside the file, and the layout says logical bytes.
static int check_contiguous(agir_h5 *f, const char *path, hid_t d, size_t logical, agir_err *e) {
    haddr_t off = H5Dget_offset(d);  // absolute
    hsize_t stored = H5Dget_storage_size(d);
    if (stored != logical) return layout_bad(f, path, "its stored size does not match its shape and type", e);
    if (off == HADDR_UNDEF || off > f->size || stored > f->size - off)
        return layout_bad(f, path, "its data lies past the end of the file", e);
    return AGIR_OK;
}

// ---- inflated length of a zlib stream ----------------------------------------------------------
//
// libhdf5 1.10.8 takes whatever a deflated chunk inflates to as the whole chunk and copies from it
// with the chunk's shape, so a stream that ends early (trailing bytes are ignored) makes it read
// past its buffer. The stream is inflated here first (zlib, output discarded) to learn its length;
// a corrupt stream, a bad Adler-32 or output past cap is refused.

static uint64_t inflated_size(const unsigned char *in, size_t n, uint64_t cap) {
    if (n > UINT_MAX) return UINT64_MAX;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK) return UINT64_MAX;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    unsigned char scratch[16384];
    int rc;
    do {
        z.next_out = scratch;
        z.avail_out = sizeof scratch;
        rc = inflate(&z, Z_NO_FLUSH);
    } while (rc == Z_OK && z.total_out <= cap);
    uint64_t out = z.total_out;
    inflateEnd(&z);
    return rc == Z_STREAM_END && out <= cap ? out : UINT64_MAX;
}

// Bytes one chunk (stored at absolute `at`, `size` bytes) holds once its filters have run
// backwards, as libhdf5 reads it; mask: filters skipped for it. UINT64_MAX when that cannot be
// known: a corrupt stream, or shuffle or deflate before deflate in read order (no writer does).
static int chunk_content(agir_h5 *f, const char *path, hid_t dcpl, int nfilt, unsigned mask, uint64_t at,
                         uint64_t size, uint64_t cap, uint64_t *out, agir_err *e) {
    int shuffled = 0, inflated = 0;
    for (int i = nfilt - 1; i >= 0; i--) {
        if (mask & (1u << i)) continue;
        unsigned flags;
        size_t nelm = 0;
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &nelm, NULL, 0, NULL, NULL);
        if (id == H5Z_FILTER_SHUFFLE) shuffled = 1;
        if (id == H5Z_FILTER_FLETCHER32) {
            if (size < 4) return layout_bad(f, path, "a chunk is too short for its checksum", e);
            size -= 4;  // the checksum at its end
        }
        if (id != H5Z_FILTER_DEFLATE) continue;
        if (shuffled || inflated)
            return AGIR_BAD(e, "%s: %s: filters in an order AGIR cannot check (hint: write shuffle, then deflate, "
                               "then fletcher32, as h5py does)",
                            f->name, path);
        unsigned char *raw = malloc(size ? (size_t)size : 1);
        if (!raw) return AGIR_BUG(e, "out of memory checking a %llu-byte chunk", (unsigned long long)size);
        int rc = raw_read(f, at, raw, (size_t)size) ? layout_bad(f, path, "cannot read a chunk", e) : AGIR_OK;
        if (!rc && (size = inflated_size(raw, (size_t)size, cap)) == UINT64_MAX)
            rc = layout_bad(f, path, "a chunk's compressed stream is corrupt or longer than its chunk", e);
        free(raw);
        AGIR_TRY(rc);
        inflated = 1;
    }
    *out = size;
    return AGIR_OK;
}

// Chunk shape: rank of the dataspace, each extent >= 1 and within a fixed maximum (HDF5 refuses
// to create anything else); *bytes = bytes of one chunk, *room = chunks the extent spans.
static int check_chunk_shape(agir_h5 *f, const char *path, hid_t d, hid_t dcpl, size_t elem, uint64_t *bytes,
                             uint64_t *room, agir_err *e) {
    hsize_t cd[H5S_MAX_RANK], dims[H5S_MAX_RANK], maxd[H5S_MAX_RANK];
    int cr = H5Pget_chunk(dcpl, H5S_MAX_RANK, cd);
    hid_t space = H5Dget_space(d);
    int nd = space >= 0 ? H5Sget_simple_extent_dims(space, dims, maxd) : -1;
    agir_h5_close_id(space);
    if (cr < 0 || nd < 0) return agir_h5_bad(f, path, "cannot read the dataset's chunk shape", e);
    if (cr != nd) return layout_bad(f, path, "its chunks have another rank than its shape", e);
    uint64_t b = elem, r = 1;
    for (int i = 0; i < nd; i++) {
        if (cd[i] == 0 || (maxd[i] != H5S_UNLIMITED && cd[i] > maxd[i]))
            return layout_bad(f, path, "a chunk extent is 0 or larger than the dataset's fixed extent", e);
        if (cd[i] > MAX_CHUNK_BYTES / b || (b *= cd[i]) > MAX_CHUNK_BYTES)
            return layout_bad(f, path, "its chunks are larger than HDF5 allows (4 GiB)", e);
        uint64_t along = dims[i] / cd[i] + (dims[i] % cd[i] != 0);
        r = along && r > UINT64_MAX / along ? UINT64_MAX : r * along;
    }
    *bytes = b;
    *room = r;
    return AGIR_OK;
}

// Chunked: every chunk inside the file, holding exactly one chunk's bytes once its filters have
// run backwards (deflated ones are inflated, without keeping the bytes, to learn that size).
static int check_chunks(agir_h5 *f, const char *path, hid_t d, hid_t dcpl, size_t elem, agir_err *e) {
    uint64_t bytes = 0, room = 0;
    AGIR_TRY(check_chunk_shape(f, path, d, dcpl, elem, &bytes, &room, e));
    int nfilt = H5Pget_nfilters(dcpl), rc = AGIR_OK;
    hsize_t n;
    // libhdf5 1.10 mishandles H5S_ALL here; its documented workaround is the dataset's own space.
    hid_t space = H5Dget_space(d);
    if (space < 0 || nfilt < 0 || H5Dget_num_chunks(d, space, &n) < 0) {
        agir_h5_close_id(space);
        return agir_h5_bad(f, path, "cannot list its chunks", e);
    }
    // libhdf5 drops chunks outside the extent when it shrinks; more would let one region of the
    // file be listed (and inflated here) over and over.
    if (n > room) rc = layout_bad(f, path, "its chunk index lists more chunks than its shape holds", e);
    for (hsize_t i = 0; !rc && i < n; i++) {
        hsize_t off[H5S_MAX_RANK], size = 0;
        haddr_t addr = HADDR_UNDEF;
        unsigned mask = 0;
        uint64_t at;
        if (H5Dget_chunk_info(d, space, i, off, &mask, &addr, &size) < 0) {
            rc = agir_h5_bad(f, path, "cannot read its chunk index", e);
        } else if (addr == HADDR_UNDEF || __builtin_add_overflow(f->base, addr, &at) || at > f->size ||
                   size > f->size - at) {
            rc = layout_bad(f, path, "a chunk lies past the end of the file", e);
        } else if (bytes / DEFLATE_MAX_RATIO > size || size > bytes + bytes / 1000 + 13 + 4 * (uint64_t)nfilt) {
            // Cheap bounds before inflating anything: libhdf5's deflate output buffer holds
            // ceil(1.001 n) + 12 bytes, and each checksum adds 4.
            rc = layout_bad(f, path, "a chunk's stored size does not match its chunk shape", e);
        } else {
            uint64_t out = 0;
            rc = chunk_content(f, path, dcpl, nfilt, mask, at, size, bytes + 4 * (uint64_t)nfilt, &out, e);
            if (!rc && out != bytes)
                rc = layout_bad(f, path, "a chunk's stored size does not match its chunk shape", e);
        }
    }
    agir_h5_close_id(space);
    return rc;
}

// Where d's data lies, for a read of `logical` bytes (elem bytes per element on disk).
static int check_layout(agir_h5 *f, const char *path, hid_t d, size_t logical, size_t elem, agir_err *e) {
    hid_t dcpl = H5Dget_create_plist(d);
    if (dcpl < 0) return agir_h5_bad(f, path, "cannot read the dataset's storage properties", e);
    int rc;
    switch (H5Pget_layout(dcpl)) {
    case H5D_CONTIGUOUS: rc = check_contiguous(f, path, d, logical, e); break;
    case H5D_COMPACT:
        rc = H5Dget_storage_size(d) == logical
                 ? AGIR_OK
                 : layout_bad(f, path, "its stored size does not match its shape and type", e);
        break;
    case H5D_CHUNKED: rc = check_chunks(f, path, d, dcpl, elem, e); break;
    default: rc = layout_bad(f, path, "has an unknown storage layout", e); break;
    }
    H5Pclose(dcpl);
    return rc;
}

// The logical size of d must be backed by stored bytes (at most DEFLATE_MAX_RATIO:1 when
// compressed) inside the file: a few bytes of header cannot make us allocate gigabytes. Then the
// layout must be sound (check_layout). elem: bytes per element on disk.
static int check_stored(agir_h5 *f, const char *path, hid_t d, size_t count, size_t elem, agir_err *e) {
    size_t logical;
    if (agir_mul_ok(count, elem, &logical))
        return AGIR_BAD(e, "%s: %s: size overflows (hint: the file is corrupt)", f->name, path);
    if (logical == 0) return AGIR_OK;
    int deflated;
    AGIR_TRY(check_storage(f, path, d, &deflated, e));
    hsize_t stored = H5Dget_storage_size(d);
    size_t bound;
    if (stored > f->size)
        return AGIR_BAD(e, "%s: %s: claims %llu stored bytes but the file has %llu (hint: the file is truncated or "
                           "corrupt; re-copy or regenerate it)",
                        f->name, path, (unsigned long long)stored, (unsigned long long)f->size);
    if (agir_mul_ok((size_t)stored, deflated ? DEFLATE_MAX_RATIO : 1, &bound) || logical > bound)
        return AGIR_BAD(e, "%s: %s: its shape needs %zu bytes but only %llu are stored%s (hint: the file is corrupt "
                           "or has unwritten data; regenerate it)",
                        f->name, path, logical, (unsigned long long)stored, deflated ? " (compressed)" : "");
    return check_layout(f, path, d, logical, elem, e);
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
    if ((rc = check_stored(f, path, d, count, ti->size, e))) goto done;
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

// ---- global heap checks ---------------------------------------------------------------------
//
// On disk a variable-length string is (length: 4 bytes, heap collection address, object index:
// 4 bytes), and its bytes are an object of a global heap collection: "GCOL", version 1, 3
// reserved bytes, collection size, then objects (index: 2, reference count: 2, reserved: 4,
// size, data padded to 8 bytes; index 0 is free space). HDF5 File Format Specification 3.0,
// sections III.E and IV.A.2.j (disk format of variable-length data).
//
// libhdf5 1.10 trusts all of it: an object index past the collection's table or an object size
// past its end makes H5HG_read read (and copy) out of bounds, and a free-space object of size 0
// makes the collection parser loop forever. So every reference is checked here first, walking
// each collection the way libhdf5's parser does.

enum { HEAP_MIN = 4096 };

typedef struct heap_ref {
    uint64_t addr;
    uint32_t idx, len;
} heap_ref;

// One object of a collection: its index and size.
typedef struct heap_obj {
    uint32_t idx;
    uint64_t size;
} heap_obj;

static int cmp_ref(const void *a, const void *b) {
    const heap_ref *p = a, *q = b;
    return (p->addr > q->addr) - (p->addr < q->addr);
}

static int cmp_obj(const void *a, const void *b) {
    const heap_obj *p = a, *q = b;
    return (p->idx > q->idx) - (p->idx < q->idx);
}

static int heap_bad(const agir_h5 *f, const char *path, const char *what, agir_err *e) {
    return AGIR_BAD(e, "%s: %s: %s (hint: the file is corrupt or crafted; re-copy or regenerate it)", f->name, path,
                    what);
}

// Walks the collection at `addr`, listing its objects (index > 0) sorted by index in *objs
// (malloc'ed). *budget (bytes of collections still allowed) keeps overlapping collections from
// costing more than one pass over the file.
static int walk_collection(agir_h5 *f, const char *path, uint64_t addr, uint64_t *budget, heap_obj **objs,
                           size_t *nobj, agir_err *e) {
    size_t L = (size_t)f->len_size, hdr = 8 + L, objhdr = 8 + L;
    unsigned char h[16];
    uint64_t at, size;
    *objs = NULL;
    *nobj = 0;
    if (__builtin_add_overflow(f->base, addr, &at) || raw_read(f, at, h, hdr))
        return heap_bad(f, path, "a string points past the end of the file", e);
    if (memcmp(h, "GCOL", 4) || h[4] != 1) return heap_bad(f, path, "a string points at something not a heap", e);
    size = le_uint(h + 8, (int)L);
    if (size < HEAP_MIN || size > f->size - at) return heap_bad(f, path, "a heap collection runs past the file", e);
    if (size > *budget) return heap_bad(f, path, "heap collections overlap", e);
    *budget -= size;
    unsigned char *c = malloc((size_t)size);
    heap_obj *o = malloc((size_t)(size / objhdr) * sizeof *o);  // each object takes >= objhdr bytes
    int rc = !c || !o ? AGIR_BUG(e, "out of memory checking a %llu-byte heap", (unsigned long long)size) : AGIR_OK;
    if (!rc && raw_read(f, at, c, (size_t)size)) rc = heap_bad(f, path, "cannot read a heap collection", e);
    size_t n = 0;
    for (uint64_t p = hdr; !rc && p + objhdr <= size;) {  // a shorter tail is free space
        unsigned idx = c[p] | (unsigned)c[p + 1] << 8;
        uint64_t osz = le_uint(c + p + 8, (int)L), need = osz;
        if (idx > 0) need = osz > size ? 0 : objhdr + ((osz + 7) & ~(uint64_t)7);  // size bound: no overflow
        if (need == 0 || need > size - p) {
            rc = heap_bad(f, path, "a heap object runs past its collection", e);
        } else if (idx > 0) {
            o[n].idx = idx;
            o[n++].size = osz;
        }
        p += need;
    }
    if (!rc && n) qsort(o, n, sizeof *o, cmp_obj);
    for (size_t i = 1; !rc && i < n; i++)
        if (o[i].idx == o[i - 1].idx) rc = heap_bad(f, path, "a heap collection holds an object twice", e);
    free(c);
    if (rc) {
        free(o);
        return rc;
    }
    *objs = o;
    *nobj = n;
    return AGIR_OK;
}

// Checks the n heap references of a contiguous variable-length string dataset d.
static int check_heap_refs(agir_h5 *f, const char *path, hid_t d, size_t n, size_t max_len, agir_err *e) {
    hid_t dcpl = H5Dget_create_plist(d);
    H5D_layout_t layout = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    agir_h5_close_id(dcpl);
    if (layout != H5D_CONTIGUOUS)
        return AGIR_BAD(e, "%s: %s: variable-length strings stored %s (hint: store them contiguously (h5py's default: "
                           "no chunks or compression) or as fixed-length strings)",
                        f->name, path, layout == H5D_CHUNKED ? "in chunks" : "compactly");
    size_t esz = 8 + (size_t)f->off_size, bytes;
    haddr_t off = H5Dget_offset(d);  // absolute, unlike the heap addresses inside the elements
    if (off == HADDR_UNDEF || agir_mul_ok(n, esz, &bytes) || off > f->size || bytes > f->size - off)
        return heap_bad(f, path, "the strings' storage is missing or past the end of the file", e);
    unsigned char *raw = malloc(bytes);
    heap_ref *refs = malloc(n * sizeof *refs);
    int rc = !raw || !refs ? AGIR_BUG(e, "out of memory checking %zu strings", n) : AGIR_OK;
    if (!rc && raw_read(f, off, raw, bytes)) rc = heap_bad(f, path, "cannot read the strings' storage", e);
    size_t m = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        const unsigned char *p = raw + i * esz;
        heap_ref r = {le_uint(p + 4, f->off_size), (uint32_t)le_uint(p + 4 + f->off_size, 4), (uint32_t)le_uint(p, 4)};
        if (r.addr == 0) continue;  // nil: libhdf5 returns NULL without reading a heap
        if (r.len > max_len)
            rc = AGIR_BAD(e, "%s: %s: string %zu is %u bytes, more than the %zu allowed (hint: shorten it)", f->name,
                          path, i, r.len, max_len);
        refs[m++] = r;
    }
    if (!rc && m) qsort(refs, m, sizeof *refs, cmp_ref);
    uint64_t budget = f->size;
    heap_obj *objs = NULL;
    size_t nobj = 0;
    for (size_t i = 0; !rc && i < m; i++) {
        if (i == 0 || refs[i].addr != refs[i - 1].addr) {
            free(objs);
            rc = walk_collection(f, path, refs[i].addr, &budget, &objs, &nobj, e);
        }
        heap_obj key = {refs[i].idx, 0};
        const heap_obj *hit = rc || !nobj ? NULL : bsearch(&key, objs, nobj, sizeof *objs, cmp_obj);
        if (!rc && (!hit || hit->size != refs[i].len))
            rc = heap_bad(f, path, "a string's heap reference does not match its heap", e);
    }
    free(objs);
    free(refs);
    free(raw);
    return rc;
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
    AGIR_TRY(check_heap_refs(f, path, d, n, max_len, e));
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
    AGIR_TRY(check_stored(f, path, d, n, w, e));
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
    // On disk a variable-length string is a heap reference (see check_heap_refs).
    if (vlen && (rc = check_stored(f, path, d, count, 8 + (size_t)f->off_size, e))) goto done;
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
        // Its heap reference sits in the object header, out of reach of check_heap_refs.
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

static int cmp_slice_id(const void *a, const void *b) {
    return strcmp((*(const agir_h5_slice *const *)a)->id, (*(const agir_h5_slice *const *)b)->id);
}

static int cmp_slice_offset(const void *a, const void *b) {
    int64_t x = (*(const agir_h5_slice *const *)a)->offset, y = (*(const agir_h5_slice *const *)b)->offset;
    return (x > y) - (x < y);
}

// Uniqueness and disjointness on `by`, n pointers into s (sorted here).
static int check_sorted_slices(const char *name, const agir_h5_slice *s, const agir_h5_slice **by, size_t n,
                               const char *rows, agir_err *e) {
    if (n) qsort(by, n, sizeof *by, cmp_slice_id);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(by[i - 1]->id, by[i]->id))
            return AGIR_BAD(e, "%s: sequence '%s': id used by sequences %lld and %lld (hint: ids must be unique)", name,
                            by[i]->id, (long long)(by[i - 1] - s), (long long)(by[i] - s));
    if (n) qsort(by, n, sizeof *by, cmp_slice_offset);
    for (size_t i = 1; i < n; i++) {
        const agir_h5_slice *a = by[i - 1], *b = by[i];
        if (a->offset + a->length > b->offset)
            return AGIR_BAD(e, "%s: sequence '%s': %s %lld..%lld overlap sequence '%s' (%s %lld..%lld) (hint: each "
                               "sequence needs its own %s)",
                            name, b->id, rows, (long long)b->offset, (long long)(b->offset + b->length - 1), a->id,
                            rows, (long long)a->offset, (long long)(a->offset + a->length - 1), rows);
    }
    return AGIR_OK;
}

int agir_h5_check_slices(const char *name, const agir_h5_slice *s, int64_t n, int64_t n_rows, const char *rows,
                         agir_err *e) {
    for (int64_t i = 0; i < n; i++) {
        int64_t end;
        if (!s[i].id[0])
            return AGIR_BAD(e, "%s: sequence %lld: empty id (hint: every sequence needs a unique id)", name,
                            (long long)i);
        if (s[i].length < 1)
            return AGIR_BAD(e, "%s: sequence '%s': length %lld (hint: every sequence needs at least one of its %s)",
                            name, s[i].id, (long long)s[i].length, rows);
        if (s[i].offset < 0 || __builtin_add_overflow(s[i].offset, s[i].length, &end) || end > n_rows)
            return AGIR_BAD(e, "%s: sequence '%s': offset %lld + length %lld runs past the %lld %s (hint: a "
                               "sequence's %s are [offset, offset + length))",
                            name, s[i].id, (long long)s[i].offset, (long long)s[i].length, (long long)n_rows, rows,
                            rows);
    }
    const agir_h5_slice **by = malloc(n ? (size_t)n * sizeof *by : 1);
    if (!by) return AGIR_BUG(e, "out of memory validating %lld sequences", (long long)n);
    for (int64_t i = 0; i < n; i++) by[i] = &s[i];
    int rc = check_sorted_slices(name, s, by, (size_t)n, rows, e);
    free(by);
    return rc;
}

int agir_h5_check_labels(const char *name, const char *id, int medication, int updrs_gait, agir_err *e) {
    if (updrs_gait < -1 || updrs_gait > 4)
        return AGIR_BAD(e, "%s: sequence '%s': updrs_gait %d outside -1..4 (hint: MDS-UPDRS gait scores are 0..4, "
                           "-1 = unknown)",
                        name, id, updrs_gait);
    if (medication < -1 || medication > 1)
        return AGIR_BAD(e, "%s: sequence '%s': medication %d outside -1..1 (hint: 0 = off, 1 = on, -1 = unknown)",
                        name, id, medication);
    return AGIR_OK;
}

// ---- attribute messages of the root group ------------------------------------------------------
//
// libhdf5 1.10 decodes every attribute message of an object header when it looks one up by name
// (H5Aexists_by_name iterates them all) and copies the attribute's data with a size computed from
// its datatype and dataspace, never compared with the message's size: one corrupt size field
// makes it read past its buffer (found by tests/fuzz/fuzz_tokens.c). So the root group's header
// is walked here first, as libhdf5 walks it, and every attribute message must hold its parts.
// Layouts: HDF5 File Format Specification 3.0, sections II.A (root group address in the
// superblock), IV.A.1.a/b (object headers v1/v2), IV.A.2.d (dataspace), IV.A.2.m (attribute),
// IV.A.2.q (continuation).

enum { MSG_DTYPE_VLEN = 9, MSG_ATTR = 0x0C, MSG_CONT = 0x10, MAX_CHUNKS = 64, SPACE_MAX_RANK = 32 };

typedef struct ohdr_walk {
    agir_h5 *f;
    int version;        // 1 or 2
    int creation_order; // v2: messages carry a 2-byte creation index
    int chunks;         // visited, bounded
} ohdr_walk;

static int attr_bad(const agir_h5 *f, const char *what, agir_err *e) {
    return AGIR_BAD(e, "%s: /: %s (hint: the file is corrupt or crafted; re-copy or regenerate it)", f->name, what);
}

// Elements of a dataspace message (p, n bytes), or -1 when it does not hold its own fields.
static int64_t space_points(const agir_h5 *f, const unsigned char *p, size_t n) {
    if (n < 4) return -1;
    int version = p[0], rank = p[1], flags = p[2];
    size_t at = version == 1 ? 8 : 4, L = (size_t)f->len_size;
    if ((version != 1 && version != 2) || rank > SPACE_MAX_RANK) return -1;
    size_t need = at + (size_t)rank * L * ((flags & 1) ? 2 : 1);
    if (need > n) return -1;
    if (version == 2 && p[3] == 2) return 0;  // null dataspace
    uint64_t points = 1;
    for (int i = 0; i < rank; i++) {
        uint64_t d = le_uint(p + at + (size_t)i * L, (int)L);
        if (d && points > UINT64_MAX / d) return -1;
        points *= d;
    }
    return points > (uint64_t)INT64_MAX ? -1 : (int64_t)points;
}

// One attribute message body (p, n bytes): name, datatype, dataspace and data inside it.
static int check_attr_msg(const agir_h5 *f, const unsigned char *p, size_t n, agir_err *e) {
    if (n < 8) return attr_bad(f, "an attribute message is cut off", e);
    int version = p[0], flags = p[1];
    size_t name = p[2] | (size_t)p[3] << 8, dt = p[4] | (size_t)p[5] << 8, ds = p[6] | (size_t)p[7] << 8;
    if (version < 1 || version > 3) return attr_bad(f, "an attribute message has an unknown version", e);
    if (version > 1 && (flags & 3))
        return AGIR_BAD(e, "%s: /: an attribute uses a shared datatype or dataspace (hint: write attributes with "
                           "plain types, as h5py and agir do)",
                        f->name);
    size_t pad = version == 1 ? 7 : 0, at = version == 3 ? 9 : 8;
    size_t pn = (name + pad) & ~pad, pt = (dt + pad) & ~pad, ps = (ds + pad) & ~pad;
    if (n < at || dt < 8 || pn > n - at || pt > n - at - pn || ps > n - at - pn - pt)
        return attr_bad(f, "an attribute message's parts run past it", e);
    const unsigned char *tp = p + at + pn, *sp = tp + pt;
    int64_t points = space_points(f, sp, ds);
    if (points < 0) return attr_bad(f, "an attribute's dataspace is corrupt", e);
    // On disk a variable-length element is a heap reference: length, collection address, index.
    uint64_t elem = (tp[0] & 0x0f) == MSG_DTYPE_VLEN ? 8 + (uint64_t)f->off_size : le_uint(tp + 4, 4);
    uint64_t room = n - at - pn - pt - ps;
    if (points && elem > room / (uint64_t)points)
        return attr_bad(f, "an attribute's data runs past its message", e);
    return AGIR_OK;
}

static int walk_chunk(ohdr_walk *w, uint64_t addr, uint64_t len, int first, agir_err *e);

// The messages of one chunk's bytes c[0..n): attributes checked, continuations followed.
static int walk_messages(ohdr_walk *w, const unsigned char *c, size_t n, agir_err *e) {
    size_t hdr = w->version == 1 ? 8 : 4u + (w->creation_order ? 2u : 0u), A = (size_t)w->f->off_size;
    for (size_t p = 0; p + hdr <= n;) {
        unsigned type = w->version == 1 ? (unsigned)(c[p] | c[p + 1] << 8) : c[p];
        size_t size = w->version == 1 ? (size_t)(c[p + 2] | c[p + 3] << 8) : (size_t)(c[p + 1] | c[p + 2] << 8);
        if (size > n - p - hdr) return attr_bad(w->f, "an object header message runs past its chunk", e);
        const unsigned char *body = c + p + hdr;
        if (type == MSG_ATTR) AGIR_TRY(check_attr_msg(w->f, body, size, e));
        if (type == MSG_CONT) {
            if (size < A + (size_t)w->f->len_size) return attr_bad(w->f, "a continuation message is cut off", e);
            AGIR_TRY(walk_chunk(w, le_uint(body, (int)A), le_uint(body + A, w->f->len_size), 0, e));
        }
        p += hdr + size;
    }
    return AGIR_OK;
}

// A chunk at file address addr (relative to the base) of len bytes; `first`: the header's own.
static int walk_chunk(ohdr_walk *w, uint64_t addr, uint64_t len, int first, agir_err *e) {
    uint64_t at;
    if (++w->chunks > MAX_CHUNKS) return attr_bad(w->f, "the root group's header has too many chunks", e);
    if (__builtin_add_overflow(w->f->base, addr, &at) || len > w->f->size || at > w->f->size - len)
        return attr_bad(w->f, "the root group's header runs past the end of the file", e);
    unsigned char *c = malloc(len ? (size_t)len : 1);
    if (!c) return AGIR_BUG(e, "out of memory checking a %llu-byte object header", (unsigned long long)len);
    int rc = raw_read(w->f, at, c, (size_t)len) ? attr_bad(w->f, "cannot read the root group's header", e) : AGIR_OK;
    size_t skip = 0, n = (size_t)len;
    if (!rc && w->version == 2) {  // "OCHK" + messages + checksum; the first chunk is handled by the caller
        if (!first && (len < 8 || memcmp(c, "OCHK", 4)))
            rc = attr_bad(w->f, "a continuation chunk of the root group's header is corrupt", e);
        skip = first ? 0 : 4;
        n = len >= 4 ? (size_t)len - 4 : 0;
    }
    if (!rc && n > skip) rc = walk_messages(w, c + skip, n - skip, e);
    free(c);
    return rc;
}

// Absolute offset of the superblock (after a user block of 0, 512, 1024, ... bytes).
static uint64_t superblock_at(const agir_h5 *f) {
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char b[8];
    for (uint64_t at = 0;; at = at ? at * 2 : 512)
        if (raw_read(f, at, b, 8) || !memcmp(b, sig, 8)) return at;
}

int agir_h5_check_root_attrs(agir_h5 *f, agir_err *e) {
    uint64_t sb = superblock_at(f);
    unsigned char s[64], h[32];
    int version, A = f->off_size;
    if (raw_read(f, sb + 8, s, 1)) return attr_bad(f, "cannot read the superblock", e);
    version = s[0];
    // Root group object header address: in the root symbol table entry (v0/1) or directly (v2/3).
    size_t at = version == 0 ? 24 + 5 * (size_t)A : version == 1 ? 28 + 5 * (size_t)A : 12 + 3 * (size_t)A;
    if (raw_read(f, sb + at, s, (size_t)A)) return attr_bad(f, "the superblock is cut off", e);
    uint64_t oh = le_uint(s, A), abs;
    if (__builtin_add_overflow(f->base, oh, &abs) || raw_read(f, abs, h, 16))
        return attr_bad(f, "the root group's header is past the end of the file", e);
    ohdr_walk w = {f, 1, 0, 0};
    if (h[0] == 1) return walk_chunk(&w, oh + 16, le_uint(h + 8, 4), 1, e);  // 16-byte prefix, then messages
    if (memcmp(h, "OHDR", 4) || h[4] != 2) return attr_bad(f, "the root group's header has an unknown version", e);
    int flags = h[5];
    size_t p = 6 + ((flags & 0x20) ? 16 : 0) + ((flags & 0x10) ? 4 : 0), width = (size_t)1 << (flags & 3);
    if (raw_read(f, abs + p, s, width)) return attr_bad(f, "the root group's header is cut off", e);
    w.version = 2;
    w.creation_order = (flags & 0x04) != 0;
    // Chunk 0 starts after its size field and ends with a 4-byte checksum (counted by walk_chunk).
    return walk_chunk(&w, oh + p + width, le_uint(s, (int)width) + 4, 1, e);
}
