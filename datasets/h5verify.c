// Checks of an HDF5 file's raw bytes, made before libhdf5 reads what they describe: the
// superblock, a dataset's storage and layout (chunk index, deflated chunk streams inflated with
// zlib), global heap references of variable-length strings, and the root group's attribute
// messages. What each check guards against is in datasets/h5verify.h.
//
// Superblock layout used by the pre-check: HDF5 File Format Specification, version 3.0, section
// II.A (signature at 0, 512, 1024, 2048, ...; versions 0/1 and 2/3 place the base and
// end-of-file addresses at different offsets).
#include "datasets/h5verify.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

// Largest compression ratio deflate can reach (RFC 1951 caps it near 1032:1); a filtered
// dataset claiming more logical bytes than this times its stored bytes is lying.
enum { DEFLATE_MAX_RATIO = 1100 };

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
int agir_h5_check_superblock(agir_h5 *s, const char *name, agir_err *e) {
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

// ---- storage --------------------------------------------------------------------------------

// Refuses storage that would make libhdf5 read other files or run filters beyond the built-in,
// well-exercised ones. *deflated tells whether the stored bytes may be compressed.
int agir_h5_check_storage(agir_h5 *f, const char *path, hid_t d, int *deflated, agir_err *e) {
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
int agir_h5_check_stored(agir_h5 *f, const char *path, hid_t d, size_t count, size_t elem, agir_err *e) {
    size_t logical;
    if (agir_mul_ok(count, elem, &logical))
        return AGIR_BAD(e, "%s: %s: size overflows (hint: the file is corrupt)", f->name, path);
    if (logical == 0) return AGIR_OK;
    int deflated;
    AGIR_TRY(agir_h5_check_storage(f, path, d, &deflated, e));
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
int agir_h5_check_heap_refs(agir_h5 *f, const char *path, hid_t d, size_t n, size_t max_len, agir_err *e) {
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
