// Checks of an HDF5 file's raw bytes, made before libhdf5 reads what they describe: libhdf5 1.10
// is not hardened against crafted files (docs/architecture.md, "Robustness") and trusts sizes,
// addresses and indices it finds there. The readers of datasets/h5io.h call these; each one:
//   - the superblock: signature, version, address/length sizes, and its end-of-file address
//     against the real length (a truncated file gets its own message);
//   - the storage: no external storage, no virtual dataset, no filter but deflate/shuffle/
//     fletcher32; the logical size bounded by what the file stores, before allocating anything;
//   - the layout, before every H5Dread: it holds exactly the dataset's bytes inside the file
//     (contiguous and compact sizes, chunk shape, every chunk's address and size, and the length
//     each deflated chunk inflates to, found with zlib): libhdf5 1.10 copies out of bounds
//     otherwise;
//   - every global-heap reference of a variable-length string, and the heap collection it points
//     into, before libhdf5 follows it: libhdf5 1.10 trusts both and crashes or loops on crafted
//     ones (found by tests/fuzz/fuzz_gait_h5.c). Such strings must therefore be stored
//     contiguously (h5py's default), and string attributes must be fixed-length;
//   - the attribute messages of the root group's object header.
// Failures are AGIR_EINPUT, one line naming the file and the object, as in datasets/h5io.h.
#ifndef AGIR_H5VERIFY_H
#define AGIR_H5VERIFY_H

#include <stddef.h>

#include "core/error.h"
#include "datasets/h5io.h"

// Signature (at 0 or after a user block of 512, 1024, ... bytes), superblock version, sizes and
// end-of-file address of the file or image behind s (s->size bytes); `name` starts messages.
// Records the address/length sizes and base address in s for the checks below.
int agir_h5_check_superblock(agir_h5 *s, const char *name, agir_err *e);

// Refuses storage of dataset d that would make libhdf5 read other files or run filters beyond
// the built-in ones. *deflated tells whether the stored bytes may be compressed.
int agir_h5_check_storage(agir_h5 *f, const char *path, hid_t d, int *deflated, agir_err *e);

// Before reading `count` elements of `elem` bytes on disk from d: its storage (as above), its
// logical size backed by stored bytes inside the file, and its layout holding exactly those bytes.
int agir_h5_check_stored(agir_h5 *f, const char *path, hid_t d, size_t count, size_t elem, agir_err *e);

// The n heap references of the contiguous variable-length string dataset d, each string at most
// max_len bytes, and the heap collections they point into.
int agir_h5_check_heap_refs(agir_h5 *f, const char *path, hid_t d, size_t n, size_t max_len, agir_err *e);

// Walks the root group's object header and checks that every attribute message holds its name,
// datatype, dataspace and data: libhdf5 1.10 trusts those sizes when it looks up any attribute
// and reads past its buffer on a corrupt one. Call before reading root attributes of an
// untrusted file (agir_h5_peek_format does).
int agir_h5_check_root_attrs(agir_h5 *f, agir_err *e);

#endif
